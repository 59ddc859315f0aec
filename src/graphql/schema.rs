//! Builds the schema: the per-domain query, mutation and subscription objects merged into one, the
//! limits, the extension that gives every error an `extensions.code`, and the one that ends a
//! query or mutation at the request time limit. Extensions run on every transport (HTTP and
//! WebSocket alike); what the transports add around them is in `http::exec`.

use std::sync::Arc;

use std::time::Duration;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextSubscribe,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::Value as ConstValue;
use async_graphql::{MergedObject, MergedSubscription, Response, Schema, SchemaBuilder};
use async_graphql::{ServerError, ServerResult, Variables};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use super::batch::Batcher;
use super::loaders::DbLoader;
use super::{
    accounts, agent, agent_commands, agent_environments, auth, billing, commands, datasets,
    environments, gpus, history, hosts, images, lifecycle, live, memberships, metrics, models,
    storage, system,
};
use crate::auth::Principal;
use crate::config::{GraphqlSettings, LimitSettings};
use crate::error::{set_code, AppError, ErrorCode};
use crate::state::AppState;

#[derive(MergedObject, Default)]
pub struct QueryRoot(
    auth::AuthQuery,
    system::SystemConfigQuery,
    hosts::HostQuery,
    gpus::GpuQuery,
    gpus::GpuAvailabilityQuery,
    metrics::HostMetricQuery,
    metrics::GpuMetricQuery,
    metrics::EnvironmentMetricQuery,
    history::MetricHistoryQuery,
    accounts::CustomerQuery,
    accounts::WorkspaceQuery,
    accounts::WorkspaceMemberQuery,
    memberships::WorkspaceInvitationQuery,
    memberships::InvitationQuery,
    environments::EnvironmentQuery,
    environments::PortMappingQuery,
    datasets::DatasetQuery,
    datasets::DatasetVersionQuery,
    datasets::DatasetUsageQuery,
    models::ModelQuery,
    models::ModelVersionQuery,
    images::ImageQuery,
    billing::BillingRecordQuery,
    billing::InvoiceQuery,
    billing::PriceQuery,
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
    commands::CommandMutation,
    agent_commands::AgentCommandMutation,
    agent_environments::AgentEnvironmentMutation,
    gpus::GpuMutation,
    accounts::CustomerMutation,
    accounts::CustomerAdminMutation,
    accounts::WorkspaceMutation,
    memberships::WorkspaceMemberMutation,
    lifecycle::EnvironmentMutation,
    environments::PortMappingMutation,
    datasets::DatasetMutation,
    datasets::DatasetVersionMutation,
    models::ModelMutation,
    models::ModelVersionMutation,
    storage::StorageMutation,
    images::ImageMutation,
    billing::BillingMutation,
);

#[derive(MergedSubscription, Default)]
pub struct SubscriptionRoot(
    live::LiveSubscription,
    commands::CommandSubscription,
    agent_commands::AgentCommandSubscription,
    agent_environments::AgentEnvironmentSubscription,
    billing::BillingSubscription,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

fn builder(
    settings: &GraphqlSettings,
    limits: &LimitSettings,
) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .limit_depth(settings.max_depth)
    .limit_complexity(settings.max_complexity)
    .limit_directives(limits.max_directives)
    .limit_recursive_depth(64)
    .extension(super::spans::OperationSpans)
    .extension(ErrorCodes)
    .extension(OperationTimeout(Duration::from_millis(
        limits.request_timeout_ms,
    )))
    .extension(DocumentLimits {
        max_query_chars: limits.max_query_chars,
        max_aliases: limits.max_aliases,
    });
    if !settings.introspection {
        builder = builder.disable_introspection();
    }
    if !settings.suggestions {
        builder = builder.disable_suggestions();
    }
    builder
}

/// The schema with its runtime data (database, loaders).
pub fn build_schema(state: AppState) -> AppSchema {
    builder(&state.settings.graphql, &state.settings.limits)
        .data(state)
        .finish()
}

/// What one request (or one WebSocket connection) carries: its principal and a relation
/// loader that loads only what that principal may read. Execute it under
/// [`super::batch::drive`] so that relation levels are batched.
pub fn request_data(state: &AppState, principal: Principal) -> async_graphql::Data {
    let user = principal.user().ok();
    let loader = Batcher::new(DbLoader::new(state.db.clone(), user));
    let mut data = async_graphql::Data::default();
    data.insert(principal);
    data.insert(loader);
    data
}

/// Marks an operation that arrived in a batch: sign-in operations refuse to run there, so a
/// batch cannot multiply password guesses.
#[derive(Debug, Clone, Copy)]
pub struct InBatch;

/// The schema without data, for printing the SDL.
pub fn build_schema_bare() -> AppSchema {
    let settings = crate::config::Settings::default();
    builder(&settings.graphql, &settings.limits).finish()
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

fn add_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            set_code(extensions, ErrorCode::BadUserInput);
        }
    }
    response
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        add_codes(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(add_codes).boxed()
    }
}

/// A query or mutation still running after `limits.request_timeout_ms` is abandoned: its
/// response is the one error [`AppError::TimedOut`] (TIMEOUT). Subscriptions are not
/// timed: they run until the client stops them or the socket closes.
struct OperationTimeout(Duration);

impl ExtensionFactory for OperationTimeout {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationTimeoutExtension(self.0))
    }
}

struct OperationTimeoutExtension(Duration);

#[async_trait::async_trait]
impl Extension for OperationTimeoutExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        match tokio::time::timeout(self.0, next.run(ctx, operation_name)).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(
                    timeout_ms = self.0.as_millis() as u64,
                    "operation timed out"
                );
                Response::from_errors(vec![AppError::TimedOut.into_server_error()])
            }
        }
    }
}

/// Whether `response` is an operation abandoned at the time limit.
pub fn timed_out(response: &Response) -> bool {
    let message = AppError::TimedOut.to_string();
    response.errors.iter().any(|e| e.message == message)
}

/// Size limits checked before a query is parsed (characters) and right after (aliases).
struct DocumentLimits {
    max_query_chars: usize,
    max_aliases: usize,
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentLimitsExtension {
            max_query_chars: self.max_query_chars,
            max_aliases: self.max_aliases,
        })
    }
}

struct DocumentLimitsExtension {
    max_query_chars: usize,
    max_aliases: usize,
}

fn limit_error(message: String) -> ServerError {
    let mut err = ServerError::new(message, None);
    set_code(
        err.extensions.get_or_insert_with(Default::default),
        ErrorCode::BadUserInput,
    );
    err
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => {
                usize::from(f.node.alias.is_some()) + count_aliases(&f.node.selection_set.node)
            }
            Selection::InlineFragment(f) => count_aliases(&f.node.selection_set.node),
            // Fragment definitions are counted once, below.
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Fields that check a password or a refresh token: one per operation, so aliases cannot
/// turn one request into many guesses.
const SIGN_IN_FIELDS: [&str; 4] = ["login", "register", "refreshToken", "changePassword"];

fn count_sign_ins(set: &SelectionSet, doc: &ExecutableDocument, depth: usize) -> usize {
    if depth > 8 {
        return 0;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => usize::from(SIGN_IN_FIELDS.contains(&f.node.name.node.as_str())),
            Selection::InlineFragment(f) => {
                count_sign_ins(&f.node.selection_set.node, doc, depth + 1)
            }
            Selection::FragmentSpread(spread) => doc
                .fragments
                .get(&spread.node.fragment_name.node)
                .map_or(0, |f| {
                    count_sign_ins(&f.node.selection_set.node, doc, depth + 1)
                }),
        })
        .sum()
}

/// Mutations whose text is content kept byte for byte (command output, stored escaped, see
/// `domain::encode_output`): the one place a NUL is accepted.
const CONTENT_MUTATIONS: [&str; 2] = ["commandOutput", "commandFinished"];

fn const_has_nul(v: &ConstValue) -> bool {
    match v {
        ConstValue::String(s) => s.contains('\0'),
        ConstValue::List(items) => items.iter().any(const_has_nul),
        ConstValue::Object(map) => map
            .iter()
            .any(|(k, v)| k.as_str().contains('\0') || const_has_nul(v)),
        _ => false,
    }
}

fn selection_has_nul(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(f) => {
            f.node.arguments.iter().any(|(_, v)| {
                // Variables are checked on their own; here they stand for nothing.
                v.node
                    .clone()
                    .into_const_with(|_| Ok::<_, ()>(ConstValue::Null))
                    .is_ok_and(|v| const_has_nul(&v))
            }) || selection_has_nul(&f.node.selection_set.node)
        }
        Selection::InlineFragment(f) => selection_has_nul(&f.node.selection_set.node),
        Selection::FragmentSpread(_) => false,
    })
}

/// NUL is never text: PostgreSQL cannot store it, and no name, filter or id holds one. Every
/// input (variables, literals, defaults) is checked before anything runs, except the
/// agent's command output.
fn refuses_nul(doc: &ExecutableDocument, variables: &Variables) -> bool {
    let carries_output = doc.operations.iter().any(|(_, op)| {
        op.node.ty == OperationType::Mutation
            && op.node.selection_set.node.items.iter().any(|item| {
                matches!(&item.node, Selection::Field(f)
                    if CONTENT_MUTATIONS.contains(&f.node.name.node.as_str()))
            })
    });
    if carries_output {
        return false;
    }
    variables.iter().any(|(_, v)| const_has_nul(v))
        || doc.operations.iter().any(|(_, op)| {
            selection_has_nul(&op.node.selection_set.node)
                || op.node.variable_definitions.iter().any(|d| {
                    d.node
                        .default_value
                        .as_ref()
                        .is_some_and(|v| const_has_nul(&v.node))
                })
        })
        || doc
            .fragments
            .values()
            .any(|f| selection_has_nul(&f.node.selection_set.node))
}

#[async_trait::async_trait]
impl Extension for DocumentLimitsExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        let chars = request.query.chars().count();
        if chars > self.max_query_chars {
            return Err(limit_error(format!(
                "the query is {chars} characters; at most {} are accepted",
                self.max_query_chars
            )));
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let in_operations: usize = doc
            .operations
            .iter()
            .map(|(_, op)| count_aliases(&op.node.selection_set.node))
            .sum();
        let in_fragments: usize = doc
            .fragments
            .values()
            .map(|f| count_aliases(&f.node.selection_set.node))
            .sum();
        let aliases = in_operations + in_fragments;
        if aliases > self.max_aliases {
            return Err(limit_error(format!(
                "the query uses {aliases} aliases; at most {} are accepted",
                self.max_aliases
            )));
        }
        let sign_ins = doc
            .operations
            .iter()
            .filter(|(_, op)| op.node.ty == OperationType::Mutation)
            .map(|(_, op)| count_sign_ins(&op.node.selection_set.node, &doc, 0))
            .max()
            .unwrap_or(0);
        if sign_ins > 1 {
            return Err(limit_error(format!(
                "an operation may sign in once (and check a password once); this one has {sign_ins} login, register, refreshToken or changePassword fields"
            )));
        }
        if refuses_nul(&doc, variables) {
            return Err(limit_error(
                "inputs must not contain NUL (U+0000): it is not text".to_owned(),
            ));
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod agent_contract {
    //! Every GraphQL operation the node agent sends (the string literals in `agent/src`)
    //! validates against this schema, so the two cannot drift apart unnoticed; the agent
    //! need not be built for it.

    use std::path::Path;

    use async_graphql::extensions::{ExtensionContext, NextExecute};

    use super::*;

    /// Stops every operation after parsing and validation: nothing is resolved.
    struct ValidateOnly;

    impl ExtensionFactory for ValidateOnly {
        fn create(&self) -> Arc<dyn Extension> {
            Arc::new(ValidateOnlyExtension)
        }
    }

    struct ValidateOnlyExtension;

    #[async_trait::async_trait]
    impl Extension for ValidateOnlyExtension {
        async fn execute(
            &self,
            _ctx: &ExtensionContext<'_>,
            _operation: Option<&str>,
            _next: NextExecute<'_>,
        ) -> Response {
            Response::new(async_graphql::Value::Null)
        }
    }

    /// The string literals of `dir`'s Rust files that start a GraphQL operation.
    fn operations(dir: &Path, found: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                operations(&path, found);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (start, _) in text.match_indices('"') {
                let rest = &text[start + 1..];
                let opens = ["mutation", "subscription", "query "]
                    .iter()
                    .any(|k| rest.starts_with(k));
                if !opens {
                    continue;
                }
                let end = rest.find('"').unwrap_or(rest.len());
                found.push((path.display().to_string(), rest[..end].to_owned()));
            }
        }
    }

    #[tokio::test]
    async fn every_agent_operation_validates_against_the_schema() {
        let mut found = Vec::new();
        operations(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("agent/src"),
            &mut found,
        );
        assert!(
            found.len() >= 10,
            "expected the agent's operations, found {found:?}"
        );
        let settings = crate::config::Settings::default();
        let schema = builder(&settings.graphql, &settings.limits)
            .extension(ValidateOnly)
            .finish();
        for (file, operation) in &found {
            // A subscription is validated when its stream starts; with no principal its
            // resolver then refuses (UNAUTHENTICATED), which is not a validation error.
            let errors = if operation.starts_with("subscription") {
                schema_subscription_check(&schema, operation).await
            } else {
                schema.execute(operation.as_str()).await.errors
            };
            let invalid: Vec<String> = errors
                .into_iter()
                .filter(|e| {
                    e.extensions
                        .as_ref()
                        .and_then(|x| x.get("code"))
                        .is_none_or(|c| *c == async_graphql::Value::from("BAD_USER_INPUT"))
                })
                .map(|e| e.message)
                // The variables' values are the agent's business at run time.
                .filter(|m| !m.contains("not provided"))
                .collect();
            assert!(
                invalid.is_empty(),
                "{file}: `{operation}` does not validate: {invalid:?}"
            );
        }
    }

    async fn schema_subscription_check(
        schema: &AppSchema,
        operation: &str,
    ) -> Vec<async_graphql::ServerError> {
        let mut stream = schema.execute_stream(operation);
        match stream.next().await {
            Some(response) => response.errors,
            None => Vec::new(),
        }
    }
}
