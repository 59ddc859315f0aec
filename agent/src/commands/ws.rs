//! The `agentCommands` subscription: one WebSocket to `{server}/graphql/ws` speaking
//! `graphql-transport-ws`, reconnected with capped exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::Connector;

use super::stopped;
use super::wire::{self, Delivery};
use crate::backoff::Backoff;
use crate::config::Secret;

pub const SUBPROTOCOL: &str = "graphql-transport-ws";
/// Operation id of the subscription.
pub const OPERATION_ID: &str = "commands";
/// Close code of rejected credentials.
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// Wait after the server refused the token (it will not change its mind soon).
pub const REFUSED_DELAY: Duration = Duration::from_secs(300);
/// A client `ping` after this long without any message from the server.
const KEEPALIVE: Duration = Duration::from_secs(30);
/// The connection is considered dead after this long without any message.
const DEAD_AFTER: Duration = Duration::from_secs(75);
/// A connection that lasted this long resets the backoff when it ends.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// Largest message accepted from the server.
const MAX_MESSAGE: usize = 8 * 1024 * 1024;

/// `http(s)://host/prefix` → `ws(s)://host/prefix/graphql/ws`.
pub fn ws_url(server: &reqwest::Url) -> String {
    let scheme = if server.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    let host = server.host_str().unwrap_or_default();
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let port = server.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{scheme}://{host}{port}{}/graphql/ws",
        server.path().trim_end_matches('/')
    )
}

/// TLS for `wss://`: rustls with ring and the webpki roots, as reqwest uses for HTTPS.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The agent is stopping.
    Stopped,
    /// The server refused the token (close 4403, or HTTP 401/403 on the upgrade).
    Refused(String),
    /// The server took the connection but refused the subscription (`error` or `complete`):
    /// most likely a server without `agentCommands`.
    Refusal(String),
    /// Anything else: reconnect with backoff.
    Lost(String),
}

/// Close codes: 4403 is a refused token, everything else a lost connection.
pub fn classify_close(frame: Option<&CloseFrame>) -> End {
    match frame {
        Some(f) if u16::from(f.code) == CLOSE_FORBIDDEN => End::Refused(format!(
            "closed with {} {}",
            CLOSE_FORBIDDEN,
            f.reason.as_str()
        )),
        Some(f) => End::Lost(format!(
            "closed with {} {}",
            u16::from(f.code),
            f.reason.as_str()
        )),
        None => End::Lost("closed without a code".into()),
    }
}

pub struct Subscription {
    pub url: String,
    pub token: Secret,
    pub timeout: Duration,
    pub backoff: Backoff,
    /// Where environment orders go; `None`: not subscribed to them.
    pub environments: Option<mpsc::Sender<crate::environments::Feed>>,
}

impl Subscription {
    /// Holds the subscription until `stop` turns true, sending every delivered command to
    /// `tx`.
    pub async fn run(mut self, tx: mpsc::Sender<Delivery>, mut stop: watch::Receiver<bool>) {
        let tls = if self.url.starts_with("wss:") {
            match tls_config() {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "cannot set up TLS for the command channel; commands disabled");
                    return;
                }
            }
        } else {
            None
        };
        // What to say on the next `connection_ack`: nothing new after a refused subscription.
        let mut announce = Some("command channel connected; subscribing to commands");
        loop {
            if *stop.borrow() {
                return;
            }
            let began = Instant::now();
            let mut acked = false;
            let end = self
                .session(tls.clone(), &tx, &mut stop, &mut acked, announce)
                .await;
            announce = match &end {
                End::Refusal(_) => None,
                _ => Some("command channel reconnected; subscribing to commands"),
            };
            if acked && began.elapsed() >= STABLE_AFTER {
                self.backoff.reset();
            }
            let delay = match end {
                End::Stopped => return,
                End::Refused(reason) => {
                    let delay = self.backoff.fail().max(jittered(REFUSED_DELAY));
                    tracing::error!(
                        reason,
                        retry_in_s = delay.as_secs(),
                        "server refused the agent token on the command channel; no commands until it is accepted"
                    );
                    delay
                }
                End::Refusal(reason) => {
                    let delay = self.backoff.fail();
                    tracing::error!(
                        reason,
                        retry_in_ms = delay.as_millis() as u64,
                        "server refused the command subscription; retrying"
                    );
                    delay
                }
                End::Lost(reason) => {
                    let delay = self.backoff.fail();
                    tracing::warn!(
                        reason,
                        url = %self.url,
                        attempt = self.backoff.failures(),
                        retry_in_ms = delay.as_millis() as u64,
                        "command channel unavailable; reconnecting"
                    );
                    delay
                }
            };
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stopped(&mut stop) => return,
            }
        }
    }

    async fn session(
        &mut self,
        tls: Option<Arc<rustls::ClientConfig>>,
        tx: &mpsc::Sender<Delivery>,
        stop: &mut watch::Receiver<bool>,
        acked: &mut bool,
        announce: Option<&str>,
    ) -> End {
        let mut request = match self.url.as_str().into_client_request() {
            Ok(r) => r,
            Err(e) => return End::Lost(format!("bad URL {}: {e}", self.url)),
        };
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        let config = WebSocketConfig::default()
            .read_buffer_size(16 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            true,
            tls.map(Connector::Rustls),
        );
        let connected = tokio::select! {
            r = tokio::time::timeout(self.timeout, connect) => r,
            () = stopped(stop) => return End::Stopped,
        };
        let mut ws = match connected {
            Err(_) => return End::Lost("connection timed out".into()),
            Ok(Err(WsError::Http(response)))
                if matches!(
                    response.status(),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ) =>
            {
                return End::Refused(format!("HTTP {}", response.status()))
            }
            Ok(Err(e)) => return End::Lost(e.to_string()),
            Ok(Ok((ws, _response))) => ws,
        };

        let init = json!({
            "type": "connection_init",
            "payload": { "authorization": format!("Bearer {}", self.token.expose()) },
        });
        if let Err(e) = ws.send(Message::text(init.to_string())).await {
            return End::Lost(e.to_string());
        }
        let mut last_seen = Instant::now();
        // A `ping` was sent and nothing came since.
        let mut pinged = false;
        let ack_deadline = last_seen + self.timeout;
        loop {
            let tick = if !*acked {
                ack_deadline
            } else if pinged {
                last_seen + DEAD_AFTER
            } else {
                last_seen + KEEPALIVE
            };
            let message = tokio::select! {
                m = ws.next() => m,
                () = tokio::time::sleep_until(tick) => {
                    if !*acked {
                        return End::Lost("no connection_ack".into());
                    }
                    if last_seen.elapsed() >= DEAD_AFTER {
                        return End::Lost(format!("nothing from the server for {} s", DEAD_AFTER.as_secs()));
                    }
                    if let Err(e) = ws.send(Message::text(r#"{"type":"ping"}"#)).await {
                        return End::Lost(e.to_string());
                    }
                    pinged = true;
                    continue;
                }
                () = stopped(stop) => {
                    let _ = ws
                        .close(Some(CloseFrame { code: CloseCode::Normal, reason: "agent stopping".into() }))
                        .await;
                    return End::Stopped;
                }
            };
            let text = match message {
                None => return End::Lost("connection closed".into()),
                Some(Err(e)) => return End::Lost(e.to_string()),
                Some(Ok(Message::Close(frame))) => return classify_close(frame.as_ref()),
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => {
                    last_seen = Instant::now();
                    pinged = false;
                    continue;
                }
            };
            last_seen = Instant::now();
            pinged = false;
            let message: Value = match serde_json::from_str(text.as_str()) {
                Ok(v) => v,
                Err(e) => return End::Lost(format!("not JSON from the server: {e}")),
            };
            match message["type"].as_str().unwrap_or_default() {
                "connection_ack" => {
                    *acked = true;
                    let subscribe = json!({
                        "id": OPERATION_ID,
                        "type": "subscribe",
                        "payload": { "query": wire::SUBSCRIPTION },
                    });
                    if let Err(e) = ws.send(Message::text(subscribe.to_string())).await {
                        return End::Lost(e.to_string());
                    }
                    if let Some(envs) = &self.environments {
                        let subscribe = json!({
                            "id": crate::environments::OPERATION_ID,
                            "type": "subscribe",
                            "payload": { "query": crate::environments::SUBSCRIPTION },
                        });
                        if let Err(e) = ws.send(Message::text(subscribe.to_string())).await {
                            return End::Lost(e.to_string());
                        }
                        if envs
                            .send(crate::environments::Feed::Connected)
                            .await
                            .is_err()
                        {
                            return End::Stopped;
                        }
                    }
                    match announce {
                        Some(what) => tracing::info!(url = %self.url, "{what}"),
                        None => tracing::debug!(url = %self.url, "command channel connected"),
                    }
                }
                "ping" => {
                    if let Err(e) = ws.send(Message::text(r#"{"type":"pong"}"#)).await {
                        return End::Lost(e.to_string());
                    }
                }
                "next" if message["id"] == OPERATION_ID => {
                    let payload = &message["payload"];
                    if let Some(errors) = payload.get("errors").filter(|e| !e.is_null()) {
                        tracing::warn!(%errors, "errors on the command subscription");
                    }
                    let command = &payload["data"]["agentCommands"];
                    if command.is_null() {
                        continue;
                    }
                    match wire::parse_command(command) {
                        Ok(delivery) => {
                            if tx.send(delivery).await.is_err() {
                                return End::Stopped;
                            }
                        }
                        Err(e) => tracing::error!(
                            error = e,
                            "cannot understand a delivered command; ignored"
                        ),
                    }
                }
                "next" if message["id"] == crate::environments::OPERATION_ID => {
                    let order = &message["payload"]["data"]["agentEnvironmentOrders"];
                    if let Some(envs) = &self.environments {
                        if !order.is_null()
                            && envs
                                .send(crate::environments::Feed::Order(order.clone()))
                                .await
                                .is_err()
                        {
                            return End::Stopped;
                        }
                    }
                }
                "error" | "complete" if message["id"] == crate::environments::OPERATION_ID => {
                    tracing::error!(payload = %message["payload"], "the server refused the environment order subscription");
                }
                "error" if message["id"] == OPERATION_ID => {
                    return End::Refusal(message["payload"].to_string());
                }
                "complete" if message["id"] == OPERATION_ID => {
                    return End::Refusal("the server ended the subscription".into());
                }
                other => tracing::debug!(kind = other, "ignored message on the command channel"),
            }
        }
    }
}

fn jittered(d: Duration) -> Duration {
    d.mul_f64(0.5 + fastrand::f64() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = |s: &str| ws_url(&reqwest::Url::parse(s).unwrap());
        assert_eq!(u("http://127.0.0.1:8080"), "ws://127.0.0.1:8080/graphql/ws");
        assert_eq!(u("https://gpu.example/"), "wss://gpu.example/graphql/ws");
        assert_eq!(
            u("https://gpu.example/api/"),
            "wss://gpu.example/api/graphql/ws"
        );
        assert_eq!(u("http://[::1]:9/"), "ws://[::1]:9/graphql/ws");
    }

    #[test]
    fn close_codes() {
        let frame = |code: u16| CloseFrame {
            code: CloseCode::from(code),
            reason: "r".into(),
        };
        assert!(matches!(
            classify_close(Some(&frame(4403))),
            End::Refused(_)
        ));
        assert!(matches!(classify_close(Some(&frame(4400))), End::Lost(_)));
        assert!(matches!(classify_close(Some(&frame(1012))), End::Lost(_)));
        assert!(matches!(classify_close(None), End::Lost(_)));
    }

    #[test]
    fn tls_is_available() {
        assert!(tls_config().is_ok());
    }
}
