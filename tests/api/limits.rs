//! Every abuse limit answers with its code: query depth, complexity, aliases, directives,
//! query size, batch size and sign-in batching, rate limit, request timeout, and the
//! WebSocket protocol's close codes, subscription cap, message size and keep-alive.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{
    on_both_backends, spawn_app_with, Backend, TestApp, ADMIN_PASSWORD, ADMIN_USERNAME,
};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn query_shape_limits(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.graphql.max_depth = 5;
        s.graphql.max_complexity = 300;
        s.limits.max_aliases = 3;
        s.limits.max_directives = 2;
        s.limits.max_query_chars = 400;
    })
    .await
    else {
        return;
    };
    // Within every limit.
    app.gql_ok("{ hosts(first: 5) { nodes { gpus { name } } } }", json!({}))
        .await;

    let deep = "{ hosts { nodes { gpus { host { gpus { host { name } } } } } } }";
    app.gql_err(deep, json!({}), "BAD_USER_INPUT").await;

    // Lists cost their page size: 100 rows of a nested list exceed the budget, 5 do not.
    let costly = "{ hosts(first: 100) { nodes { id name status gpus { id name } } } }";
    let message = app.gql_err(costly, json!({}), "BAD_USER_INPUT").await;
    assert!(message.to_lowercase().contains("complex"), "{message}");
    app.gql_ok(&costly.replace("first: 100", "first: 5"), json!({}))
        .await;

    let aliases = "{ a: images { totalCount } b: images { totalCount } c: images { totalCount } d: images { totalCount } }";
    let message = app.gql_err(aliases, json!({}), "BAD_USER_INPUT").await;
    assert!(message.contains("aliases"), "{message}");

    let directives =
        "{ images @include(if: true) @skip(if: false) @include(if: true) { totalCount } }";
    app.gql_err(directives, json!({}), "BAD_USER_INPUT").await;

    let long = format!("{{ images {{ totalCount }} }} # {}", "x".repeat(500));
    let message = app.gql_err(&long, json!({}), "BAD_USER_INPUT").await;
    assert!(message.contains("characters"), "{message}");
}

async fn post_raw(app: &TestApp, body: Value, token: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&body);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    request.send().await.unwrap()
}

async fn batches(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.limits.max_batch = 3).await else {
        return;
    };
    let op = json!({ "query": "{ images { totalCount } }" });
    let ok: Value = post_raw(&app, json!([op, op]), Some(&app.admin_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ok.as_array().unwrap().len(), 2, "{ok}");
    assert_eq!(ok[1]["data"]["images"]["totalCount"], 0);

    let too_many: Value = post_raw(&app, json!([op, op, op, op]), Some(&app.admin_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        too_many["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{too_many}"
    );

    // Sign-in cannot be batched (no multiplying password guesses), but works alone.
    let login = json!({ "query": "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { accessToken } }",
                        "variables": { "l": ADMIN_USERNAME, "p": ADMIN_PASSWORD } });
    let batched: Value = post_raw(&app, json!([login, login]), None)
        .await
        .json()
        .await
        .unwrap();
    for r in batched.as_array().unwrap() {
        assert_eq!(
            r["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{batched}"
        );
    }
    let single: Value = post_raw(&app, login, None).await.json().await.unwrap();
    assert!(single["data"]["login"]["accessToken"].is_string());
}

async fn rate_limit(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.limits.rate_per_second = 0.5;
        s.limits.rate_burst = 3.0;
    })
    .await
    else {
        return;
    };
    // spawn_app signed in once (anonymous bucket); the admin has its own bucket of 3.
    let query = json!({ "query": "{ images { totalCount } }" });
    for _ in 0..3 {
        assert_eq!(
            post_raw(&app, query.clone(), Some(&app.admin_token))
                .await
                .status(),
            200
        );
    }
    let limited = post_raw(&app, query.clone(), Some(&app.admin_token)).await;
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    // Another principal is not held back by the admin's bucket.
    let (token, _) = app.register("unrelated").await;
    assert_eq!(post_raw(&app, query, Some(&token)).await.status(), 200);
}

async fn request_timeout(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.limits.request_timeout_ms = 1).await else {
        return;
    };
    // Signing in needs the database and a password hash: never done within a millisecond.
    let login = json!({ "query": "mutation { login(login: \"someone\", password: \"password 123\") { accessToken } }" });
    let response = post_raw(&app, login, None).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "TIMEOUT");
}

async fn connect(app: &TestApp, protocol: &str) -> Socket {
    let mut request = format!("ws://127.0.0.1:{}/graphql/ws", app.port)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade")
        .0
}

async fn send(ws: &mut Socket, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// The next message that is not a keep-alive; `Err(code)` when the server closed.
async fn next(ws: &mut Socket) -> Result<Value, u16> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .expect("stream open")
            .expect("frame");
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] != "ka" && v["type"] != "ping" {
                    return Ok(v);
                }
            }
            Message::Close(frame) => return Err(frame.map(|f| u16::from(f.code)).unwrap_or(1005)),
            _ => {}
        }
    }
}

async fn closed_with(ws: &mut Socket) -> u16 {
    loop {
        match next(ws).await {
            Err(code) => return code,
            Ok(v) => assert!(
                v["type"] == "connection_error",
                "unexpected message before close: {v}"
            ),
        }
    }
}

fn init(token: &str) -> Value {
    json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })
}

async fn websocket_close_codes(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.websocket.init_timeout_ms = 300;
        s.websocket.max_message_bytes = 2048;
        s.websocket.max_subscriptions = 1;
    })
    .await
    else {
        return;
    };
    let query = json!({ "query": "{ images { totalCount } }" });
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let start = if protocol == "graphql-ws" {
            "start"
        } else {
            "subscribe"
        };

        // No connection_init in time: 4408.
        let mut ws = connect(&app, protocol).await;
        assert_eq!(closed_with(&mut ws).await, 4408, "{protocol}");

        // Bad credentials: 4403.
        let mut ws = connect(&app, protocol).await;
        send(&mut ws, init("rgpu_agent_not-a-real-token")).await;
        assert_eq!(closed_with(&mut ws).await, 4403, "{protocol}");

        // An operation before connection_ack: 4401.
        let mut ws = connect(&app, protocol).await;
        send(
            &mut ws,
            json!({ "id": "1", "type": start, "payload": query }),
        )
        .await;
        assert_eq!(closed_with(&mut ws).await, 4401, "{protocol}");

        // A second connection_init: 4429.
        let mut ws = connect(&app, protocol).await;
        send(&mut ws, init(&app.admin_token)).await;
        assert_eq!(next(&mut ws).await.unwrap()["type"], "connection_ack");
        send(&mut ws, init(&app.admin_token)).await;
        assert_eq!(closed_with(&mut ws).await, 4429, "{protocol}");

        // A message that is not JSON: 4400.
        let mut ws = connect(&app, protocol).await;
        ws.send(Message::text("{ nope")).await.unwrap();
        assert_eq!(closed_with(&mut ws).await, 4400, "{protocol}");

        // An oversized message: 1009.
        let mut ws = connect(&app, protocol).await;
        send(&mut ws, init(&app.admin_token)).await;
        assert_eq!(next(&mut ws).await.unwrap()["type"], "connection_ack");
        let big = json!({ "id": "big", "type": start, "payload": { "query": format!("{{ images {{ totalCount }} }} #{}", "x".repeat(3000)) } });
        send(&mut ws, big).await;
        assert_eq!(
            closed_with(&mut ws).await,
            u16::from(CloseCode::Size),
            "{protocol}"
        );
    }
}

async fn websocket_keepalive(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.websocket.keepalive_ms = 150).await else {
        return;
    };
    for (protocol, ping) in [("graphql-transport-ws", "ping"), ("graphql-ws", "ka")] {
        let mut ws = connect(&app, protocol).await;
        send(&mut ws, init(&app.admin_token)).await;
        let mut seen = false;
        for _ in 0..5 {
            let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == ping {
                    seen = true;
                    break;
                }
            }
        }
        assert!(seen, "{protocol}: keep-alive {ping}");
        if protocol == "graphql-transport-ws" {
            send(&mut ws, json!({ "type": "ping" })).await;
            assert_eq!(next(&mut ws).await.unwrap()["type"], "pong");
        }
    }
}

async fn websocket_operation_ids_and_cap(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.websocket.max_subscriptions = 1).await else {
        return;
    };
    let live = json!({ "query": "subscription { hostStatus { status } }" });
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let start = if protocol == "graphql-ws" {
            "start"
        } else {
            "subscribe"
        };
        let mut ws = connect(&app, protocol).await;
        send(&mut ws, init(&app.admin_token)).await;
        assert_eq!(next(&mut ws).await.unwrap()["type"], "connection_ack");
        send(
            &mut ws,
            json!({ "id": "a", "type": start, "payload": live }),
        )
        .await;
        // Over the cap: refused with RATE_LIMITED, the connection stays.
        send(
            &mut ws,
            json!({ "id": "b", "type": start, "payload": live }),
        )
        .await;
        let refused = next(&mut ws).await.unwrap();
        assert_eq!(refused["type"], "error", "{protocol}: {refused}");
        assert_eq!(refused["id"], "b");
        assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
        // The running operation's id again: 4409.
        send(
            &mut ws,
            json!({ "id": "a", "type": start, "payload": live }),
        )
        .await;
        assert_eq!(closed_with(&mut ws).await, 4409, "{protocol}");
    }
}

on_both_backends!(
    websocket_operation_ids_and_cap,
    query_shape_limits,
    batches,
    rate_limit,
    request_timeout,
    websocket_close_codes,
    websocket_keepalive
);
