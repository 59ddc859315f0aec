//! HTTP routes: `POST /graphql` (queries and mutations), `GET /graphql` (GraphiQL when
//! enabled), `/graphql/ws` (subscriptions, `graphql-transport-ws` and legacy `graphql-ws`),
//! `/healthz` (the process is up), `/readyz` (the database answers) and `/metrics`
//! (Prometheus text).

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse, GraphQLSubscription};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::graphql::schema::AppSchema;
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
        .route_service("/graphql/ws", GraphQLSubscription::new(schema))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn graphql(State(state): State<HttpState>, request: GraphQLRequest) -> GraphQLResponse {
    state.schema.execute(request.into_inner()).await.into()
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
    let body = format!(
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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
