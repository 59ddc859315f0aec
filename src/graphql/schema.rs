//! Builds the schema: the per-domain query, mutation and subscription objects merged into one, the
//! limits, and the extension that gives every error an `extensions.code`.

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest};
use async_graphql::{MergedObject, MergedSubscription, Response, Schema, SchemaBuilder};

use super::loaders::DbLoader;
use super::{
    accounts, agent, auth, billing, commands, data, environments, history, hosts, live, metrics,
    system,
};
use crate::auth::Principal;
use crate::config::GraphqlSettings;
use crate::error::ErrorCode;
use crate::state::AppState;

#[derive(MergedObject, Default)]
pub struct QueryRoot(
    auth::AuthQuery,
    system::SystemConfigQuery,
    hosts::HostQuery,
    hosts::GpuQuery,
    hosts::GpuAvailabilityQuery,
    metrics::HostMetricQuery,
    metrics::GpuMetricQuery,
    metrics::EnvironmentMetricQuery,
    history::MetricHistoryQuery,
    accounts::CustomerQuery,
    accounts::WorkspaceQuery,
    accounts::WorkspaceMemberQuery,
    environments::EnvironmentQuery,
    environments::PortMappingQuery,
    data::DatasetQuery,
    data::DatasetVersionQuery,
    data::DatasetUsageQuery,
    data::ModelQuery,
    data::ModelVersionQuery,
    data::ImageQuery,
    billing::BillingRecordQuery,
    billing::InvoiceQuery,
    commands::CommandQuery,
    commands::CommandResultQuery,
);

#[derive(MergedObject, Default)]
pub struct MutationRoot(
    auth::AuthMutation,
    system::SystemConfigMutation,
    hosts::HostAdminMutation,
    hosts::HostMutation,
    agent::AgentMutation,
    hosts::GpuMutation,
    accounts::CustomerMutation,
    accounts::WorkspaceMutation,
    accounts::WorkspaceMemberMutation,
    environments::PortMappingMutation,
    data::DatasetMutation,
    data::DatasetVersionMutation,
    data::ModelMutation,
    data::ModelVersionMutation,
    data::ImageMutation,
);

#[derive(MergedSubscription, Default)]
pub struct SubscriptionRoot(live::LiveSubscription);

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

fn builder(settings: &GraphqlSettings) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .limit_depth(settings.max_depth)
    .limit_complexity(settings.max_complexity)
    .extension(ErrorCodes);
    if !settings.introspection {
        builder = builder.disable_introspection();
    }
    builder
}

/// The schema with its runtime data (database, loaders).
pub fn build_schema(state: AppState) -> AppSchema {
    builder(&state.settings.graphql).data(state).finish()
}

/// What one request (or one WebSocket connection) carries: its principal and a DataLoader
/// that loads only what that principal may read.
pub fn request_data(state: &AppState, principal: Principal) -> async_graphql::Data {
    let delay = std::time::Duration::from_millis(state.settings.graphql.loader_delay_ms);
    let user = principal.user().ok();
    let loader = DataLoader::new(DbLoader::new(state.db.clone(), user), tokio::spawn).delay(delay);
    let mut data = async_graphql::Data::default();
    data.insert(principal);
    data.insert(loader);
    data
}

/// The schema without data, for printing the SDL.
pub fn build_schema_bare() -> AppSchema {
    let settings = crate::config::Settings::default();
    builder(&settings.graphql).finish()
}

/// The SDL as checked in at `schema.graphql`.
pub fn sdl() -> String {
    build_schema_bare().sdl()
}

/// Errors raised by our resolvers carry a code already. Those raised by the GraphQL engine
/// itself (syntax, validation, a value that does not coerce to its type, an unknown enum
/// value) are the client's to fix: they get BAD_USER_INPUT.
struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        for error in &mut response.errors {
            let extensions = error.extensions.get_or_insert_with(Default::default);
            if extensions.get("code").is_none() {
                extensions.set("code", ErrorCode::BadUserInput.as_str());
            }
        }
        response
    }
}
