//! The HTTP surface: health and readiness, GraphiQL, metrics, the body limit, and the
//! WebSocket endpoint speaking both subscription protocols.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::fixtures::create_host;
use crate::helpers::{on_both_backends, spawn_app, spawn_app_with, Backend, TestApp};

async fn health_readiness_graphiql_metrics(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();

    let r = get("/healthz").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok");

    let r = get("/readyz").await.unwrap();
    assert_eq!(r.status(), 200);

    let r = get("/graphql").await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("graphiql"), "GraphiQL page");
    assert!(
        html.contains("/graphql/ws"),
        "subscriptions endpoint configured"
    );

    app.gql_ok("{ hosts { totalCount } }", json!({})).await;
    let r = get("/metrics").await.unwrap();
    let text = r.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("remotegpu_db_statements_total "))
        .expect("statement counter");
    let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n > 0);
}

async fn graphiql_and_introspection_can_be_disabled(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.graphql.graphiql = false;
        s.graphql.introspection = false;
        s.graphql.suggestions = false;
    })
    .await
    else {
        return;
    };
    let r = app
        .client
        .get(format!("{}/graphql", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let response = app
        .gql("{ __schema { queryType { name } } }", json!({}))
        .await;
    assert!(
        response["data"]["__schema"].is_null(),
        "introspection refused: {response}"
    );
    // No "did you mean" hints that would map the schema for a stranger.
    let typo = app
        .gql_err("{ hostz { totalCount } }", json!({}), "BAD_USER_INPUT")
        .await;
    assert!(!typo.contains("Did you mean"), "{typo}");
}

async fn suggestions_help_in_development(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let typo = app
        .gql_err("{ hostz { totalCount } }", json!({}), "BAD_USER_INPUT")
        .await;
    assert!(typo.contains("Did you mean"), "{typo}");
}

async fn oversized_bodies_are_refused(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.server.max_body_bytes = 4096).await else {
        return;
    };
    let padding = " ".repeat(8192);
    let r = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"query\": \"{{ hosts {{ totalCount }} }}{padding}\"}}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

async fn websocket(
    app: &TestApp,
    protocol: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("ws://127.0.0.1:{}/graphql/ws", app.port)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    ws
}

/// The next JSON message that is not a keep-alive.
async fn next_json<S>(ws: &mut S) -> Value
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("valid frame");
        if let Message::Text(text) = msg {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] != "ka" && v["type"] != "ping" {
                return v;
            }
        }
    }
}

async fn websocket_speaks_both_protocols(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    create_host(&app, "ws-host").await;
    let query = "{ hosts { totalCount nodes { name } } }";

    let mut ws = websocket(&app, "graphql-transport-ws").await;
    ws.send(Message::text(
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", app.admin_token) } }).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    ws.send(Message::text(
        json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }).to_string(),
    ))
    .await
    .unwrap();
    let next = next_json(&mut ws).await;
    assert_eq!(next["type"], "next");
    assert_eq!(next["id"], "1");
    assert_eq!(
        next["payload"]["data"]["hosts"]["nodes"][0]["name"],
        "ws-host"
    );
    assert_eq!(next_json(&mut ws).await["type"], "complete");

    let mut ws = websocket(&app, "graphql-ws").await;
    ws.send(Message::text(
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", app.admin_token) } }).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    ws.send(Message::text(
        json!({ "id": "a", "type": "start", "payload": { "query": query } }).to_string(),
    ))
    .await
    .unwrap();
    let data = next_json(&mut ws).await;
    assert_eq!(data["type"], "data");
    assert_eq!(data["payload"]["data"]["hosts"]["totalCount"], 1);
    assert_eq!(next_json(&mut ws).await["type"], "complete");
}

on_both_backends!(
    health_readiness_graphiql_metrics,
    graphiql_and_introspection_can_be_disabled,
    suggestions_help_in_development,
    oversized_bodies_are_refused,
    websocket_speaks_both_protocols
);
