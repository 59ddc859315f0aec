//! HTTP routes: `POST /graphql` (queries and mutations, single or batched), `GET /graphql`
//! (GraphiQL when enabled), `/graphql/ws` (see [`ws`]), `/healthz` (the process is up),
//! `/readyz` (the database answers), `/metrics` (Prometheus text), and every other path the
//! web console (see [`console`]: its files, or its index page for its history-mode routes).
//!
//! Every GraphQL request is authenticated first (a bad token is UNAUTHENTICATED, never
//! anonymous), then rate-limited per principal (429 with `Retry-After`), then executed with
//! a time limit.

pub mod console;
pub mod rate_limit;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{BatchRequest, BatchResponse, ServerError};
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::auth;
use crate::error::AppError;
use crate::graphql::batch;
use crate::graphql::schema::{request_data, AppSchema, InBatch};
use crate::services::db;
use crate::state::AppState;
use console::Console;
use rate_limit::RateLimiter;

#[derive(Clone)]
struct HttpState {
    app: AppState,
    schema: AppSchema,
    limiter: Arc<RateLimiter>,
    console: Arc<Console>,
}

pub fn router(app: AppState, schema: AppSchema) -> Router {
    let max_body = app.settings.server.max_body_bytes;
    let limits = &app.settings.limits;
    let limiter = Arc::new(RateLimiter::new(limits.rate_per_second, limits.rate_burst));
    let console = Arc::new(Console::new(app.settings.console.dir.clone()));
    let state = HttpState {
        app,
        schema,
        limiter,
        console,
    };
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(console_page)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A GraphQL-shaped error response with an HTTP status.
fn error_response(status: StatusCode, err: AppError) -> Response {
    let body = async_graphql::Response::from_errors(vec![err
        .into_graphql()
        .into_server_error(Default::default())]);
    let mut response = GraphQLResponse::from(body).into_response();
    *response.status_mut() = status;
    response
}

async fn graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: GraphQLBatchRequest,
) -> Response {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = match auth::authenticate(&state.app.db, &state.app.jwt, header).await {
        Ok(p) => p,
        Err(err) => return error_response(StatusCode::OK, err),
    };
    let key = principal
        .rate_key()
        .unwrap_or_else(|| format!("addr:{}", peer.ip()));
    if let Err(wait) = state.limiter.check(&key) {
        let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, AppError::RateLimited);
        let secs = wait.as_secs_f64().ceil().max(1.0).to_string();
        if let Ok(value) = HeaderValue::from_str(&secs) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let limits = &state.app.settings.limits;
    let batch = request.into_inner();
    let batch = match batch {
        BatchRequest::Single(mut request) => {
            request.data = request_data(&state.app, principal);
            BatchRequest::Single(request)
        }
        BatchRequest::Batch(requests) => {
            if requests.len() > limits.max_batch {
                let err = AppError::bad_input(format!(
                    "a batch may hold at most {} operations, got {}",
                    limits.max_batch,
                    requests.len()
                ));
                return error_response(StatusCode::OK, err);
            }
            let requests = requests
                .into_iter()
                .map(|mut request| {
                    request.data = request_data(&state.app, principal.clone());
                    request.data.insert(InBatch);
                    request
                })
                .collect();
            BatchRequest::Batch(requests)
        }
    };
    let timeout = Duration::from_millis(limits.request_timeout_ms);
    match tokio::time::timeout(timeout, batch::drive(state.schema.execute_batch(batch))).await {
        Ok(response) => GraphQLResponse::from(response).into_response(),
        Err(_) => {
            tracing::warn!(timeout_ms = limits.request_timeout_ms, "request timed out");
            let err = ServerError::new("the request took too long and was abandoned", None);
            let mut body = async_graphql::Response::from_errors(vec![err]);
            for e in &mut body.errors {
                e.extensions
                    .get_or_insert_with(Default::default)
                    .set("code", crate::error::ErrorCode::Internal.as_str());
            }
            let mut response = GraphQLResponse::from(BatchResponse::Single(body)).into_response();
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            response
        }
    }
}

async fn graphql_ws(State(state): State<HttpState>, upgrade: WebSocketUpgrade) -> Response {
    // The transport refuses frames far above the limit; `ws::serve` closes with 1009 above it.
    let max = state
        .app
        .settings
        .websocket
        .max_message_bytes
        .saturating_mul(2);
    let upgrade = upgrade
        .protocols([ws::TRANSPORT_WS, ws::LEGACY_WS])
        .max_message_size(max)
        .max_frame_size(max);
    let protocol =
        ws::Protocol::from_header(upgrade.selected_protocol().and_then(|v| v.to_str().ok()));
    upgrade.on_upgrade(move |socket| ws::serve(socket, protocol, state.app, state.schema))
}

async fn graphiql(State(state): State<HttpState>, request: Request) -> Response {
    if !state.app.settings.graphql.graphiql {
        return (
            StatusCode::NOT_FOUND,
            "GraphiQL is disabled; POST GraphQL requests here",
        )
            .into_response();
    }
    state.console.graphiql(request).await
}

async fn console_page(State(state): State<HttpState>, request: Request) -> Response {
    state.console.fallback(request).await
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<HttpState>) -> Response {
    match db::ping(&state.app.db).await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

async fn metrics(State(state): State<HttpState>) -> Response {
    let m = &state.app.db_metrics;
    let mut body = format!(
        "# HELP remotegpu_db_statements_total SQL statements sent to the database.\n\
         # TYPE remotegpu_db_statements_total counter\n\
         remotegpu_db_statements_total {}\n\
         # HELP remotegpu_db_statement_errors_total SQL statements that failed.\n\
         # TYPE remotegpu_db_statement_errors_total counter\n\
         remotegpu_db_statement_errors_total {}\n\
         # HELP remotegpu_db_statement_seconds_total Time spent in SQL statements.\n\
         # TYPE remotegpu_db_statement_seconds_total counter\n\
         remotegpu_db_statement_seconds_total {}\n",
        m.statements(),
        m.failed(),
        m.seconds()
    );
    body.push_str(&crate::events::prometheus(state.app.events.as_ref()));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
