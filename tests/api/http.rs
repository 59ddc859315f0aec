//! The HTTP surface: health and readiness, the console and GraphiQL pages, metrics, the body
//! limit, and the WebSocket endpoint speaking both subscription protocols.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::fixtures::create_host;
use crate::helpers::{on_both_backends, spawn_app, spawn_app_with, Backend, TestApp};

async fn health_readiness_metrics(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();

    let r = get("/healthz").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok");

    let r = get("/readyz").await.unwrap();
    assert_eq!(r.status(), 200);

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

/// With the database gone, `/readyz` answers 503 and a query INTERNAL, saying nothing of
/// the cause (no driver message, no SQL, no table name).
async fn database_gone_is_503_and_opaque(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.state.db.clone().close().await.unwrap();

    let r = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.text().await.unwrap(), "database unavailable");

    let body = app.gql("{ hosts { totalCount } }", json!({})).await;
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "INTERNAL", "{body}");
    assert_eq!(error["message"], "internal error", "{body}");
    let text = body.to_string().to_lowercase();
    for leak in [
        "pool",
        "sqlx",
        "select ",
        "closed",
        "postgres",
        "sqlite",
        "connection",
    ] {
        assert!(!text.contains(leak), "the response leaks {leak:?}: {body}");
    }
}

/// A console build as Vite writes it: two pages and hashed assets.
fn console_build() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<div id=\"app\">console</div>",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("graphiql.html"),
        "<div id=\"graphiql\"></div>",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/console-abc123.js"), "export {}").unwrap();
    dir
}

async fn console_and_graphiql_are_served_from_the_build(backend: Backend) {
    let build = console_build();
    let dir = build.path().to_owned();
    let Some(app) = spawn_app_with(backend, |s| s.console.dir = dir).await else {
        return;
    };
    let get = |path: &str| app.client.get(format!("{}{path}", app.address)).send();

    for path in ["/", "/fleet", "/hosts/host-1", "/index.html"] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-cache", "{path}");
        assert!(r.text().await.unwrap().contains("console"), "{path}");
    }
    let r = get("/assets/console-abc123.js").await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    // A missing asset is a 404, not the console page; so are unknown API paths.
    for path in ["/assets/gone-000.js", "/graphql/nothing", "/metrics/x"] {
        assert_eq!(get(path).await.unwrap().status(), 404, "{path}");
    }
    let r = app
        .client
        .post(format!("{}/fleet", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let r = get("/graphql").await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text().await.unwrap().contains("graphiql"),
        "GraphiQL page"
    );
    assert_eq!(get("/healthz").await.unwrap().text().await.unwrap(), "ok");
    app.gql_ok("{ hosts { totalCount } }", json!({})).await;
}

async fn without_a_build_the_console_says_how_to_build_it(backend: Backend) {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().join("dist");
    let Some(app) = spawn_app_with(backend, |s| s.console.dir = dir).await else {
        return;
    };
    for path in ["/", "/fleet", "/graphql"] {
        let r = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "{path}");
        assert!(r.text().await.unwrap().contains("npm run build"), "{path}");
    }
    app.gql_ok("{ hosts { totalCount } }", json!({})).await;
}

async fn graphiql_and_introspection_can_be_disabled(backend: Backend) {
    let build = console_build();
    let dir = build.path().to_owned();
    let Some(app) = spawn_app_with(backend, |s| {
        s.console.dir = dir;
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
    health_readiness_metrics,
    database_gone_is_503_and_opaque,
    console_and_graphiql_are_served_from_the_build,
    without_a_build_the_console_says_how_to_build_it,
    graphiql_and_introspection_can_be_disabled,
    suggestions_help_in_development,
    oversized_bodies_are_refused,
    websocket_speaks_both_protocols
);
