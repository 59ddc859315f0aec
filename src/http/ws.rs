//! GraphQL over WebSocket at `/graphql/ws`, in both subprotocols:
//!
//! - `graphql-transport-ws` (the graphql-ws library, Apollo Client): `connection_init` →
//!   `connection_ack`, `subscribe` → `next`* → `complete`, `ping`/`pong`, `complete` from the
//!   client to stop. Violations close the socket with the protocol's codes: 4400 bad
//!   message, 4401 subscribe before `connection_ack`, 4403 rejected credentials, 4408 no
//!   `connection_init` in time, 4409 duplicate operation id, 4429 a second
//!   `connection_init`.
//! - legacy `graphql-ws` (subscriptions-transport-ws): `connection_init` → `connection_ack`
//!   (or `connection_error`), `start` → `data`* → `complete`, `stop`, `connection_terminate`,
//!   and `ka` keep-alives. The same close codes are used for the same violations.
//!
//! Credentials travel in `connection_init`'s payload (`{"authorization": "Bearer <token>"}`
//! or `{"token": "<token>"}`); no payload is anonymous. Each connection may run at most
//! `max_subscriptions` operations at once (more are refused with an `error` carrying
//! RATE_LIMITED); messages larger than `max_message_bytes` close the socket (1009). Every
//! operation forwards into one bounded queue per connection, so a slow client holds back only
//! its own operations.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Data, Request, Response};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::auth::{self, Principal};
use crate::config::WebSocketSettings;
use crate::error::AppError;
use crate::graphql::schema::{request_data, AppSchema};
use crate::state::AppState;

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
pub const LEGACY_WS: &str = "graphql-ws";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    TransportWs,
    Legacy,
}

impl Protocol {
    pub fn from_header(value: Option<&str>) -> Self {
        match value {
            Some(LEGACY_WS) => Protocol::Legacy,
            _ => Protocol::TransportWs,
        }
    }

    fn data_type(self) -> &'static str {
        match self {
            Protocol::TransportWs => "next",
            Protocol::Legacy => "data",
        }
    }
}

#[derive(Deserialize)]
struct ClientMessage {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    payload: Option<Value>,
}

/// Why the server closes a connection.
struct Close(u16, &'static str);

const BAD_MESSAGE: Close = Close(4400, "Invalid message");
const UNAUTHORIZED: Close = Close(4401, "Unauthorized");
const FORBIDDEN: Close = Close(4403, "Forbidden");
const INIT_TIMEOUT: Close = Close(4408, "Connection initialisation timeout");
const TOO_MANY_INITS: Close = Close(4429, "Too many initialisation requests");
const TOO_BIG: Close = Close(1009, "Message too big");

struct Connection {
    protocol: Protocol,
    state: AppState,
    schema: AppSchema,
    settings: WebSocketSettings,
    /// Set once `connection_init` is accepted.
    session: Option<Arc<Data>>,
    operations: HashMap<String, JoinHandle<()>>,
    out: mpsc::Sender<Value>,
    /// The legacy protocol's `connection_error`, sent before closing on bad credentials.
    rejected: Option<Value>,
}

pub async fn serve(socket: WebSocket, protocol: Protocol, state: AppState, schema: AppSchema) {
    let settings = state.settings.websocket.clone();
    let (out, mut outgoing) = mpsc::channel::<Value>(settings.queue_len);
    let mut conn = Connection {
        protocol,
        state,
        schema,
        settings,
        session: None,
        operations: HashMap::new(),
        out,
        rejected: None,
    };
    let (mut sink, mut stream) = socket.split();
    use futures_util::SinkExt;

    let init_deadline = tokio::time::sleep(Duration::from_millis(conn.settings.init_timeout_ms));
    tokio::pin!(init_deadline);
    let mut keepalive =
        tokio::time::interval(Duration::from_millis(conn.settings.keepalive_ms.max(100)));
    keepalive.tick().await;

    let close = loop {
        tokio::select! {
            () = &mut init_deadline, if conn.session.is_none() => break Some(INIT_TIMEOUT),
            _ = keepalive.tick(), if conn.session.is_some() => {
                let ping = match conn.protocol {
                    Protocol::TransportWs => json!({ "type": "ping" }),
                    Protocol::Legacy => json!({ "type": "ka" }),
                };
                if sink.send(Message::Text(ping.to_string().into())).await.is_err() {
                    break None;
                }
            }
            Some(message) = outgoing.recv() => {
                if sink.send(Message::Text(message.to_string().into())).await.is_err() {
                    break None;
                }
            }
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => break Some(BAD_MESSAGE),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Err(err)) => {
                        tracing::debug!(error = %err, "websocket receive failed");
                        break Some(Close(1002, "Protocol error"));
                    }
                };
                if text.len() > conn.settings.max_message_bytes {
                    break Some(TOO_BIG);
                }
                match conn.handle(&text).await {
                    Ok(replies) => {
                        for reply in replies {
                            if sink.send(Message::Text(reply.to_string().into())).await.is_err() {
                                break;
                            }
                        }
                    }
                    Err(Some(close)) => break Some(close),
                    Err(None) => break None,
                }
            }
        }
    };
    for (_, task) in conn.operations.drain() {
        task.abort();
    }
    if let (Some(message), Protocol::Legacy) = (conn.rejected.take(), conn.protocol) {
        let _ = sink.send(Message::Text(message.to_string().into())).await;
    }
    if let Some(Close(code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
    let _ = sink.close().await;
}

fn error_payload(err: AppError) -> Value {
    let code = err.code();
    json!([{ "message": err.to_string(), "extensions": { "code": code.as_str() } }])
}

impl Connection {
    /// Handles one client message: replies to send, or why to close (`None`: just close).
    async fn handle(&mut self, text: &str) -> Result<Vec<Value>, Option<Close>> {
        let Ok(message) = serde_json::from_str::<ClientMessage>(text) else {
            return Err(Some(BAD_MESSAGE));
        };
        match (self.protocol, message.kind.as_str()) {
            (_, "connection_init") => self.init(message.payload).await,
            (Protocol::TransportWs, "ping") => Ok(vec![json!({ "type": "pong" })]),
            (Protocol::TransportWs, "pong") => Ok(vec![]),
            (Protocol::TransportWs, "subscribe") | (Protocol::Legacy, "start") => {
                let id = message.id.ok_or(Some(BAD_MESSAGE))?;
                self.start(id, message.payload)
            }
            (Protocol::TransportWs, "complete") | (Protocol::Legacy, "stop") => {
                let id = message.id.ok_or(Some(BAD_MESSAGE))?;
                if let Some(task) = self.operations.remove(&id) {
                    task.abort();
                    if self.protocol == Protocol::Legacy {
                        return Ok(vec![json!({ "type": "complete", "id": id })]);
                    }
                }
                Ok(vec![])
            }
            (Protocol::Legacy, "connection_terminate") => Err(None),
            _ => Err(Some(BAD_MESSAGE)),
        }
    }

    async fn init(&mut self, payload: Option<Value>) -> Result<Vec<Value>, Option<Close>> {
        if self.session.is_some() {
            return Err(Some(TOO_MANY_INITS));
        }
        let token = payload.as_ref().and_then(|p| {
            p.get("authorization")
                .or_else(|| p.get("Authorization"))
                .and_then(Value::as_str)
                .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).to_owned())
                .or_else(|| p.get("token").and_then(Value::as_str).map(str::to_owned))
        });
        let principal = match token {
            None => Principal::Anonymous,
            Some(token) => {
                match auth::authenticate_token(&self.state.db, &self.state.jwt, &token).await {
                    Ok(p) => p,
                    Err(err) => {
                        self.rejected = Some(
                            json!({ "type": "connection_error", "payload": { "message": err.to_string() } }),
                        );
                        return Err(Some(FORBIDDEN));
                    }
                }
            }
        };
        self.session = Some(Arc::new(request_data(&self.state, principal)));
        let mut replies = vec![json!({ "type": "connection_ack" })];
        if self.protocol == Protocol::Legacy {
            replies.push(json!({ "type": "ka" }));
        }
        Ok(replies)
    }

    fn start(&mut self, id: String, payload: Option<Value>) -> Result<Vec<Value>, Option<Close>> {
        let Some(session) = self.session.clone() else {
            return Err(Some(UNAUTHORIZED));
        };
        self.operations.retain(|_, task| !task.is_finished());
        if self.operations.contains_key(&id) {
            return Err(Some(Close(4409, "Subscriber for this id already exists")));
        }
        let Some(request) = payload.and_then(|p| serde_json::from_value::<Request>(p).ok()) else {
            return Err(Some(BAD_MESSAGE));
        };
        if self.operations.len() >= self.settings.max_subscriptions {
            return Ok(vec![
                json!({ "type": "error", "id": id, "payload": error_payload(AppError::RateLimited) }),
            ]);
        }
        let mut stream = self
            .schema
            .execute_stream_with_session_data(request, session);
        let out = self.out.clone();
        let protocol = self.protocol;
        let task_id = id.clone();
        let task = tokio::spawn(crate::graphql::batch::drive(async move {
            while let Some(response) = stream.next().await {
                let message = response_message(protocol, &task_id, response);
                // graphql-transport-ws: `error` ends the operation; no `complete` follows it.
                let ended = message["type"] == "error";
                if out.send(message).await.is_err() || ended {
                    return;
                }
            }
            let _ = out.send(json!({ "type": "complete", "id": task_id })).await;
        }));
        self.operations.insert(id, task);
        Ok(vec![])
    }
}

fn response_message(protocol: Protocol, id: &str, response: Response) -> Value {
    // A request that failed before execution (syntax, validation) is an `error` message in
    // graphql-transport-ws; results, with or without field errors, are `next`.
    if protocol == Protocol::TransportWs
        && response.data == async_graphql::Value::Null
        && response.is_err()
    {
        let errors = serde_json::to_value(&response.errors).unwrap_or(Value::Null);
        return json!({ "type": "error", "id": id, "payload": errors });
    }
    let payload = serde_json::to_value(&response).unwrap_or(Value::Null);
    json!({ "type": protocol.data_type(), "id": id, "payload": payload })
}
