//! HTTP routes: `POST /graphql` (queries and mutations), `GET /graphql` (GraphiQL when
//! enabled), `/graphql/ws` (subscriptions, `graphql-transport-ws` and legacy `graphql-ws`),
//! `/healthz` (the process is up), `/readyz` (the database answers) and `/metrics`
//! (Prometheus text).

use async_graphql::http::GraphiQLSource;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{self, Principal};
use crate::error::AppError;
use crate::graphql::schema::{request_data, AppSchema};
use crate::services::db;
use crate::state::AppState;

#[derive(Clone)]
struct HttpState {
    app: AppState,
    schema: AppSchema,
}

pub fn router(app: AppState, schema: AppSchema) -> Router {
    let max_body = app.settings.server.max_body_bytes;
    let state = HttpState {
        app,
        schema: schema.clone(),
    };
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn graphql(
    State(state): State<HttpState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = match auth::authenticate(&state.app.db, &state.app.jwt, header).await {
        Ok(p) => p,
        Err(err) => {
            return async_graphql::Response::from_errors(vec![err
                .into_graphql()
                .into_server_error(Default::default())])
            .into();
        }
    };
    let mut request = request.into_inner();
    request.data = request_data(&state.app, principal);
    state.schema.execute(request).await.into()
}

/// `/graphql/ws`: both subprotocols; the token comes in `connection_init`'s payload as
/// `{"authorization": "Bearer <token>"}` (or `{"token": "<token>"}`).
async fn graphql_ws(
    State(state): State<HttpState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let app = state.app.clone();
            GraphQLWebSocket::new(socket, state.schema.clone(), protocol)
                .on_connection_init(move |payload| async move {
                    let token = payload
                        .get("authorization")
                        .or_else(|| payload.get("Authorization"))
                        .and_then(|v| v.as_str())
                        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).to_owned())
                        .or_else(|| {
                            payload
                                .get("token")
                                .and_then(|v| v.as_str())
                                .map(str::to_owned)
                        });
                    let principal = match token {
                        Some(t) => auth::authenticate_token(&app.db, &app.jwt, &t)
                            .await
                            .map_err(AppError::into_graphql)?,
                        None => Principal::Anonymous,
                    };
                    Ok(request_data(&app, principal))
                })
                .serve()
        })
}

async fn graphiql(State(state): State<HttpState>) -> Response {
    if !state.app.settings.graphql.graphiql {
        return (
            StatusCode::NOT_FOUND,
            "GraphiQL is disabled; POST GraphQL requests here",
        )
            .into_response();
    }
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .title("RemoteGPU GraphiQL")
            .finish(),
    )
    .into_response()
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
