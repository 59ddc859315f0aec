//! A `graphql-transport-ws` client for subscription tests: only the standard messages
//! (`connection_init` → `connection_ack`, `subscribe`, `next` / `error` / `complete`), and
//! how the server ends a connection (an upgrade refused, a close code).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::TestApp;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct WsClient {
    socket: Socket,
}

/// How a connection attempt ended when it did not reach `connection_ack`.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The upgrade was answered with this HTTP status, and this body.
    Http(u16, String),
    /// The server closed the socket with this code.
    Closed(u16),
}

impl WsClient {
    /// Connects to `app`'s `/graphql/ws` and initialises the connection with `token`.
    pub async fn connect(app: &TestApp, token: &str) -> Self {
        match Self::try_connect(app, Some(token)).await {
            Ok(client) => client,
            Err(refusal) => panic!("connection refused: {refusal:?}"),
        }
    }

    /// Connects and initialises with `token` (none: anonymous); how it was refused if it was.
    pub async fn try_connect(app: &TestApp, token: Option<&str>) -> Result<Self, Refusal> {
        let mut request = format!("ws://127.0.0.1:{}/graphql/ws", app.port)
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let socket = match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => socket,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                return Err(Refusal::Http(response.status().as_u16(), body));
            }
            Err(err) => panic!("upgrade failed: {err}"),
        };
        let mut client = Self { socket };
        let payload = match token {
            Some(token) => json!({ "authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        client
            .send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        match client.next_or_close(Duration::from_secs(10)).await {
            Ok(ack) => {
                assert_eq!(ack["type"], "connection_ack", "{ack}");
                Ok(client)
            }
            Err(code) => Err(Refusal::Closed(code)),
        }
    }

    /// The next message that is not a ping or pong, or the close code when the server
    /// closes the connection first (within `wait`).
    pub async fn next_or_close(&mut self, wait: Duration) -> Result<Value, u16> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("a message or a close in time");
            let frame = match frame {
                None | Some(Err(_)) => return Err(1006),
                Some(Ok(frame)) => frame,
            };
            match frame {
                Message::Text(text) => {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    if v["type"] == "ping" {
                        let _ = self
                            .socket
                            .send(Message::text(json!({ "type": "pong" }).to_string()))
                            .await;
                    } else if v["type"] != "pong" {
                        return Ok(v);
                    }
                }
                Message::Close(frame) => {
                    return Err(frame.map(|f| u16::from(f.code)).unwrap_or(1005))
                }
                _ => {}
            }
        }
    }

    /// Waits (10 s at most) for the server to close the connection, skipping whatever
    /// arrives before; its close code.
    pub async fn closed(&mut self) -> u16 {
        loop {
            if let Err(code) = self.next_or_close(Duration::from_secs(10)).await {
                return code;
            }
        }
    }

    /// Runs a query or mutation on the socket and returns its answer: the `next` payload, or
    /// an `error` message's payload as `{ "errors": [...] }`.
    pub async fn execute(&mut self, id: &str, query: &str, variables: Value) -> Value {
        self.subscribe(id, query, variables).await;
        let message = self.next().await;
        assert_eq!(message["id"], id, "{message}");
        match message["type"].as_str() {
            Some("next") => {
                let complete = self.next().await;
                assert_eq!(complete["type"], "complete", "{complete}");
                message["payload"].clone()
            }
            Some("error") => json!({ "errors": message["payload"] }),
            _ => panic!("unexpected answer for {id}: {message}"),
        }
    }

    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("sent");
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({
            "id": id, "type": "subscribe",
            "payload": { "query": query, "variables": variables }
        }))
        .await;
    }

    /// The next protocol message that is not a ping or pong, within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()?
                .expect("connection open")
                .expect("valid frame");
            match frame {
                Message::Text(text) => {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    if v["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                    } else if v["type"] != "pong" {
                        return Some(v);
                    }
                }
                Message::Close(frame) => panic!("server closed the connection: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The next protocol message (10 s at most).
    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("a message in time")
    }

    /// The payload of the next `next` message of subscription `id`.
    pub async fn next_data(&mut self, id: &str) -> Value {
        let message = self.next().await;
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], id, "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"].clone()
    }

    /// Subscription `id` failed: its error code. Accepts the failure as an `error` message,
    /// or as a `next` carrying errors followed by `complete`.
    pub async fn expect_error(&mut self, id: &str) -> String {
        let message = self.next().await;
        assert_eq!(message["id"], id, "{message}");
        let code = match message["type"].as_str() {
            Some("error") => &message["payload"][0]["extensions"]["code"],
            Some("next") => {
                let code = message["payload"]["errors"][0]["extensions"]["code"].clone();
                let complete = self.next().await;
                assert_eq!(complete["type"], "complete", "{complete}");
                assert_eq!(complete["id"], id, "{complete}");
                return code.as_str().unwrap_or_default().to_owned();
            }
            _ => panic!("expected an error for {id}: {message}"),
        };
        code.as_str().unwrap_or_default().to_owned()
    }

    /// Asserts nothing arrives for a while.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(message) = self.next_within(wait).await {
            panic!("expected nothing, got {message}");
        }
    }
}
