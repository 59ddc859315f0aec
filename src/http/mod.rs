//! HTTP routes: `POST /graphql` (queries and mutations, single or batched), `GET /graphql`
//! (GraphiQL when enabled), `/graphql/ws` (see [`ws`]), `/healthz` (the process is up),
//! `/readyz` (the database answers), `/metrics` (Prometheus text; with
//! `server.metrics_token`, for that bearer token only), and every other path the
//! web console (see [`console`]: its files, or its index page for its history-mode routes).
//!
//! Every GraphQL request is authenticated first (a bad token is UNAUTHENTICATED, never
//! anonymous), then goes the one execution path of [`exec`]: rate-limited per principal and
//! operation (429 with `Retry-After`), then executed with a time limit (503 when every
//! operation of the request ran out of time). WebSocket operations go the same path; a client
//! address holds at most `websocket.max_connections_per_address` sockets at once (429).

pub mod body;
pub mod console;
pub mod exec;
pub mod rate_limit;
pub mod ws;

use async_graphql::BatchResponse;
use async_graphql_axum::GraphQLResponse;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::auth;
use crate::db;
use crate::error::AppError;
use crate::graphql::schema::{timed_out, AppSchema};
use crate::state::AppState;
use body::GraphQlBody;
use console::Console;
use exec::{Executor, Refused};

#[derive(Clone)]
struct HttpState {
    app: AppState,
    exec: Arc<Executor>,
    sockets: Arc<ws::AddressSlots>,
    console: Arc<Console>,
}

pub fn router(app: AppState, schema: AppSchema) -> Router {
    let max_body = app.settings.server.max_body_bytes;
    let console = Arc::new(Console::new(app.settings.console.dir.clone()));
    let sockets = Arc::new(ws::AddressSlots::new(
        app.settings.websocket.max_connections_per_address,
    ));
    let state = HttpState {
        exec: Arc::new(Executor::new(app.clone(), schema)),
        app,
        sockets,
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
    let body = async_graphql::Response::from_errors(exec::refusal(err));
    let mut response = GraphQLResponse::from(body).into_response();
    *response.status_mut() = status;
    response
}

async fn graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    GraphQlBody(request): GraphQlBody,
) -> Response {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal =
        match auth::authenticate(&state.app.db, &state.app.jwt, &state.app.revoked, header).await {
            Ok(p) => p,
            Err(err) => return error_response(StatusCode::OK, err),
        };
    let exec = &state.exec;
    match exec.execute_batch(principal, peer.ip(), request).await {
        Ok(response) => {
            let timed_out = match &response {
                BatchResponse::Single(r) => timed_out(r),
                BatchResponse::Batch(rs) => !rs.is_empty() && rs.iter().all(timed_out),
            };
            let mut response = GraphQLResponse::from(response).into_response();
            if timed_out {
                *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            }
            response
        }
        Err(Refused::Invalid(err)) => error_response(StatusCode::OK, err),
        Err(Refused::RateLimited(wait)) => {
            let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, AppError::RateLimited);
            let secs = wait.as_secs_f64().ceil().max(1.0).to_string();
            if let Ok(value) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

/// A WebSocket's read buffer: a few client messages (`subscribe`, `ping`, `complete`).
const WS_READ_BUFFER: usize = 4 * 1024;
/// Outgoing frames below this are gathered until the flush that follows every send.
const WS_WRITE_BUFFER: usize = 8 * 1024;

async fn graphql_ws(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Sockets open at once per client address; the slot is freed when the socket ends.
    let Some(slot) = state.sockets.take(peer.ip()) else {
        return error_response(StatusCode::TOO_MANY_REQUESTS, AppError::RateLimited);
    };
    // The transport refuses frames far above the limit; `ws::serve` closes with 1009 above it.
    let max = state
        .app
        .settings
        .websocket
        .max_message_bytes
        .saturating_mul(2);
    // Buffers sized for GraphQL messages, not the transport's 128 KiB defaults: a socket
    // carries small client messages (a larger one grows the buffer while it is read), and
    // each answer is flushed as it is sent.
    let upgrade = upgrade
        .protocols([ws::TRANSPORT_WS, ws::LEGACY_WS])
        .max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER);
    let protocol =
        ws::Protocol::from_header(upgrade.selected_protocol().and_then(|v| v.to_str().ok()));
    let exec = state.exec.clone();
    upgrade.on_upgrade(move |socket| async move {
        ws::serve(socket, protocol, exec, peer.ip()).await;
        drop(slot);
    })
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

/// Whether the request may read `/metrics`: always without `server.metrics_token`, else
/// only with that bearer token (compared as SHA-256 digests, so the comparison's time says
/// nothing about the token).
fn may_read_metrics(state: &HttpState, headers: &HeaderMap) -> bool {
    let Some(expected) = state
        .app
        .settings
        .server
        .metrics_token
        .as_ref()
        .filter(|t| !t.expose().is_empty())
    else {
        return true;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    presented
        .is_some_and(|p| auth::tokens::sha256_hex(p) == auth::tokens::sha256_hex(expected.expose()))
}

async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if !may_read_metrics(&state, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required",
        )
            .into_response();
    }
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
    body.push_str(&crate::graphql::fanout::prometheus(&state.app.fanout));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
