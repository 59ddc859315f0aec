//! One tracing span per GraphQL query or mutation, on every transport: `graphql` with the
//! operation's name, the principal's kind (`anonymous`, `customer`, `admin`, `agent`) and a
//! fresh operation id, so that every log line an operation causes (an internal error with
//! its cause, a timeout, a slow statement) can be told apart and grouped. When the operation
//! ends, one `debug` event gives its duration and error codes.
//!
//! Registered first in `graphql::schema`, so the other extensions (time limit, codes) run
//! inside the span. Subscriptions are not spanned here: they live as long as their socket.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::Response;
use tracing::Instrument;

use crate::auth::Principal;

pub struct OperationSpans;

impl ExtensionFactory for OperationSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationSpansExtension)
    }
}

struct OperationSpansExtension;

#[async_trait::async_trait]
impl Extension for OperationSpansExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let principal = ctx
            .data_opt::<Principal>()
            .map_or("anonymous", Principal::kind);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let span = tracing::info_span!(
            "graphql",
            operation = operation_name.unwrap_or("-"),
            principal,
            operation_id = %id,
        );
        let started = std::time::Instant::now();
        async move {
            let response = next.run(ctx, operation_name).await;
            let codes: Vec<String> = response
                .errors
                .iter()
                .filter_map(|e| e.extensions.as_ref()?.get("code").map(ToString::to_string))
                .collect();
            tracing::debug!(
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                errors = ?codes,
                "operation finished"
            );
            response
        }
        .instrument(span)
        .await
    }
}
