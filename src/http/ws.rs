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
//! or `{"token": "<token>"}`); no payload is anonymous. A customer's token is checked
//! against the account then (it must be active and hold the token's role), and the socket
//! keeps checking: it closes with 4403 when the access token expires, and when the
//! principal's credentials are revoked (`events::Event::PrincipalRevoked`: suspended,
//! deleted, password or role changed, agent token rotated or host deleted), on whichever
//! replica the change was made; its operations, subscriptions included, end with it.
//!
//! Operations go the one execution path of [`super::exec`]: each `subscribe` / `start`
//! takes a rate-limit token of the principal (refused with an `error` carrying RATE_LIMITED,
//! the socket stays open), queries and mutations end at the request time limit. Each
//! connection may run at most `max_subscriptions` operations at once (more are refused the
//! same way); messages larger than `max_message_bytes` close the socket (1009); a client
//! address holds at most `max_connections_per_address` sockets ([`AddressSlots`]). Every
//! operation forwards into one bounded queue per connection (`queue_len`), so a slow client
//! holds back only its own operations; live operations shared with other subscribers
//! (`graphql::fanout`) skip the events that find the queue full rather than wait. Each
//! response arrives serialized once; the connection writes its id and message type around
//! it, and writes what is queued in one flush.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::{Data, Request};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::exec::{refusal, Executor, Operation};
use crate::auth::{self, Principal};
use crate::config::WebSocketSettings;
use crate::error::AppError;
use crate::events::{Key, Kind, Subscription, Topic};
use crate::graphql::fanout::{Delivery, Frame};
use crate::graphql::schema::request_data;

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
const EXPIRED: Close = Close(4403, "Token expired");
const REVOKED: Close = Close(4403, "Credentials revoked");

/// Queued messages written before one flush, at most.
const FLUSH_EVERY: usize = 64;

/// Sockets open at once per client address, at most `max` each.
pub struct AddressSlots {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One socket's place among its address's; dropping it frees the place.
pub struct Slot {
    slots: Arc<AddressSlots>,
    addr: IpAddr,
}

impl AddressSlots {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Every change is one insert or remove: a poisoned map is still consistent.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place for one more socket from `addr`, or `None` when it has `max` already.
    pub fn take(self: &Arc<Self>, addr: IpAddr) -> Option<Slot> {
        let mut open = self.open();
        let n = open.entry(addr).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: self.clone(),
            addr,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open();
        if let Some(n) = open.get_mut(&self.addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.addr);
            }
        }
    }
}

struct Connection {
    protocol: Protocol,
    exec: Arc<Executor>,
    peer: IpAddr,
    settings: WebSocketSettings,
    /// Set once `connection_init` is accepted.
    session: Option<Arc<Data>>,
    principal: Principal,
    /// When the access token expires.
    expires_at: Option<tokio::time::Instant>,
    /// Revocations of the principal (none for anonymous sockets).
    revocations: Option<Subscription>,
    /// Running operations by the client's id, with their serial numbers.
    operations: HashMap<String, (u64, Operation)>,
    next_serial: u64,
    out: mpsc::Sender<Frame>,
    /// The legacy protocol's `connection_error`, sent before closing on bad credentials.
    rejected: Option<Value>,
}

/// The next revocation of the socket's principal; never, when it has none to listen to (or
/// the bus closed: the server is shutting down and closes the socket anyway).
async fn revoked(revocations: &mut Option<Subscription>) {
    if let Some(sub) = revocations {
        if sub.recv().await.is_some() {
            return;
        }
        *revocations = None;
    }
    std::future::pending::<()>().await;
}

async fn expired(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending::<()>().await,
    }
}

pub async fn serve(socket: WebSocket, protocol: Protocol, exec: Arc<Executor>, peer: IpAddr) {
    let settings = exec.app.settings.websocket.clone();
    let (out, mut outgoing) = mpsc::channel::<Frame>(settings.queue_len);
    let mut conn = Connection {
        protocol,
        exec,
        peer,
        settings,
        session: None,
        principal: Principal::Anonymous,
        expires_at: None,
        revocations: None,
        operations: HashMap::new(),
        next_serial: 0,
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
            () = expired(conn.expires_at) => break Some(EXPIRED),
            () = revoked(&mut conn.revocations) => break Some(REVOKED),
            _ = keepalive.tick(), if conn.session.is_some() => {
                let ping = match conn.protocol {
                    Protocol::TransportWs => json!({ "type": "ping" }),
                    Protocol::Legacy => json!({ "type": "ka" }),
                };
                if sink.send(Message::Text(ping.to_string().into())).await.is_err() {
                    break None;
                }
            }
            Some(frame) = outgoing.recv() => {
                // What else is queued goes in the same flush.
                let mut next = Some(frame);
                let mut written = 0;
                let mut failed = false;
                while let Some(frame) = next.take() {
                    if let Some(text) = conn.render(&frame) {
                        if sink.feed(Message::Text(text.into())).await.is_err() {
                            failed = true;
                            break;
                        }
                        written += 1;
                    }
                    if written < FLUSH_EVERY {
                        next = outgoing.try_recv().ok();
                    }
                }
                if failed || sink.flush().await.is_err() {
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
    conn.operations.clear();
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
    serde_json::to_value(refusal(err)).unwrap_or(Value::Null)
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
                if self.operations.remove(&id).is_some() && self.protocol == Protocol::Legacy {
                    return Ok(vec![json!({ "type": "complete", "id": id })]);
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
        let exec = self.exec.clone();
        let app = &exec.app;
        let reject = |this: &mut Self, err: AppError| {
            this.rejected = Some(
                json!({ "type": "connection_error", "payload": { "message": err.to_string() } }),
            );
            Err(Some(FORBIDDEN))
        };
        let verified = match &token {
            None => auth::Verified::anonymous(),
            Some(token) => match auth::verify_token(&app.db, &app.jwt, &app.revoked, token).await {
                Ok(v) => v,
                Err(err) => return reject(self, err),
            },
        };
        let principal = verified.principal.clone();
        // Listen before the standing is checked, so a revocation from now on is not missed.
        self.revocations = principal.rate_key().map(|key| {
            app.events
                .subscribe(Topic::new(Kind::PrincipalRevoked, Key::Principal(key)))
        });
        if let Some(token) = &token {
            if let Err(err) = auth::check_standing(&app.db, &verified, token).await {
                return reject(self, err);
            }
        }
        self.expires_at = verified.expires_at.map(|exp| {
            let left = exp.saturating_sub(chrono::Utc::now().timestamp());
            tokio::time::Instant::now() + Duration::from_secs(u64::try_from(left).unwrap_or(0))
        });
        self.session = Some(Arc::new(request_data(app, principal.clone())));
        self.principal = principal;
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
        if self.operations.contains_key(&id) {
            return Err(Some(Close(4409, "Subscriber for this id already exists")));
        }
        let Some(request) = payload.and_then(|p| serde_json::from_value::<Request>(p).ok()) else {
            return Err(Some(BAD_MESSAGE));
        };
        let refuse = |err| {
            Ok(vec![
                json!({ "type": "error", "id": id, "payload": error_payload(err) }),
            ])
        };
        if self.operations.len() >= self.settings.max_subscriptions {
            return refuse(AppError::RateLimited);
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        let operation = match self.exec.start(
            &self.principal,
            self.peer,
            request,
            session,
            (serial, id.as_str().into()),
            self.out.clone(),
        ) {
            Ok(operation) => operation,
            Err(err) => return refuse(err),
        };
        self.operations.insert(id, (serial, operation));
        Ok(vec![])
    }

    /// The message of `frame` in this connection's protocol; `None` when its operation
    /// ended or was stopped. A frame that ends the operation removes it.
    fn render(&mut self, frame: &Frame) -> Option<String> {
        let live = self
            .operations
            .get(&*frame.id)
            .is_some_and(|(serial, _)| *serial == frame.serial);
        if !live {
            return None;
        }
        let id = serde_json::to_string(&*frame.id).ok()?;
        // A request that failed before execution (syntax, validation) is an `error` message
        // in graphql-transport-ws, and ends the operation; results, with or without field
        // errors, are `next`.
        let (text, ends) = match (&*frame.delivery, self.protocol) {
            (Delivery::Failed { errors, .. }, Protocol::TransportWs) => (
                format!(r#"{{"type":"error","id":{id},"payload":{errors}}}"#),
                true,
            ),
            (Delivery::Next(json) | Delivery::Failed { response: json, .. }, protocol) => (
                format!(
                    r#"{{"type":"{}","id":{id},"payload":{json}}}"#,
                    protocol.data_type()
                ),
                false,
            ),
            (Delivery::Complete, _) => (format!(r#"{{"type":"complete","id":{id}}}"#), true),
        };
        if ends {
            self.operations.remove(&*frame.id);
        }
        Some(text)
    }
}
