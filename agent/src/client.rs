//! The control plane's agent API: GraphQL over HTTP POST `{server}/graphql`,
//! `Authorization: Bearer <token>`.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::Serialize;
use serde_json::Value;

use crate::config::Secret;
use crate::model::{AgentReport, MetricBatchInput};

pub const AGENT_REPORT: &str =
    "mutation AgentReport($input: AgentReportInput!) { agentReport(input: $input) { hostId } }";
pub const REPORT_METRICS: &str = "mutation ReportMetrics($batch: MetricBatchInput!) { reportMetrics(batch: $batch) { accepted duplicate } }";
pub const AGENT_HEARTBEAT: &str = "mutation AgentHeartbeat { agentHeartbeat }";

/// A GraphQL request body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Request<'a, V: Serialize> {
    pub query: &'a str,
    pub operation_name: &'a str,
    pub variables: V,
}

#[derive(Serialize)]
struct ReportVars<'a> {
    input: &'a AgentReport,
}

#[derive(Serialize)]
struct BatchVars<'a> {
    batch: MetricBatchInput<'a>,
}

#[derive(Serialize)]
struct NoVars {}

/// Serialised `agentReport` request body.
pub fn agent_report_body(report: &AgentReport) -> Vec<u8> {
    encode(&Request {
        query: AGENT_REPORT,
        operation_name: "AgentReport",
        variables: ReportVars { input: report },
    })
}

/// Serialised `reportMetrics` request body.
pub fn report_metrics_body(batch: MetricBatchInput<'_>) -> Vec<u8> {
    encode(&Request {
        query: REPORT_METRICS,
        operation_name: "ReportMetrics",
        variables: BatchVars { batch },
    })
}

/// Serialised `agentHeartbeat` request body.
pub fn heartbeat_body() -> Vec<u8> {
    encode(&Request {
        query: AGENT_HEARTBEAT,
        operation_name: "AgentHeartbeat",
        variables: NoVars {},
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these types cannot fail (string keys, no non-finite floats are produced by
    // the collectors; serde_json writes NaN as null).
    serde_json::to_vec(value).unwrap_or_default()
}

/// How the agent reacts to a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Keep the data, reconnect (report the host again) and retry with backoff: network
    /// errors, timeouts, 5xx, `INTERNAL`, anything unexpected.
    Retry,
    /// The token was refused (`UNAUTHENTICATED`, `FORBIDDEN`, HTTP 401/403): keep the data,
    /// retry with backoff.
    Auth,
    /// `BAD_USER_INPUT`: the server will never take this request; drop the batch.
    Reject,
    /// HTTP 413: the body is over the server's limit; send smaller batches.
    TooLarge,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("cannot reach the server: {0}")]
    Transport(String),
    #[error("HTTP status {status}: {body}")]
    Http { status: u16, body: String },
    #[error("{}: {message}", code.as_deref().unwrap_or("no code"))]
    Graphql {
        code: Option<String>,
        message: String,
    },
    #[error("unexpected response: {0}")]
    Decode(String),
}

impl CallError {
    pub fn class(&self) -> Class {
        match self {
            CallError::Transport(_) | CallError::Decode(_) => Class::Retry,
            CallError::Http { status, .. } => match status {
                401 | 403 => Class::Auth,
                413 => Class::TooLarge,
                _ => Class::Retry,
            },
            CallError::Graphql { code, .. } => match code.as_deref() {
                Some("UNAUTHENTICATED" | "FORBIDDEN") => Class::Auth,
                Some("BAD_USER_INPUT") => Class::Reject,
                _ => Class::Retry,
            },
        }
    }
}

/// HTTP client for the agent API. Cheap to clone. Its `Debug` never shows the token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the token contains characters not allowed in an HTTP header")]
    BadToken,
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

impl Client {
    pub fn new(server_url: &str, token: &Secret, timeout: Duration) -> Result<Self, ClientError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| ClientError::BadToken)?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("remotegpu-agent/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .pool_max_idle_per_host(1)
            .build()
            .map_err(|e| ClientError::Build(e.to_string()))?;
        Ok(Self {
            http,
            endpoint: format!("{}/graphql", server_url.trim_end_matches('/')),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Posts a GraphQL request body; returns `data`.
    pub async fn post(&self, body: Vec<u8>) -> Result<Value, CallError> {
        let response = self
            .http
            .post(&self.endpoint)
            .body(body)
            .send()
            .await
            .map_err(|e| CallError::Transport(error_chain(&e)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| CallError::Transport(error_chain(&e)))?;
        parse_response(status, &text)
    }

    /// `agentReport`; returns the host id.
    pub async fn agent_report(&self, body: Vec<u8>) -> Result<String, CallError> {
        let data = self.post(body).await?;
        match &data["agentReport"]["hostId"] {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(CallError::Decode(format!("agentReport.hostId is {other}"))),
        }
    }
}

/// Interprets an HTTP answer to a GraphQL request.
pub fn parse_response(status: u16, text: &str) -> Result<Value, CallError> {
    if status == 413 {
        return Err(CallError::Http {
            status,
            body: excerpt(text),
        });
    }
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    if let Some(errors) = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
    {
        // The first error with a code decides; messages are joined for the log.
        let code = errors
            .iter()
            .find_map(|e| e["extensions"]["code"].as_str())
            .map(str::to_string);
        let message = errors
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(CallError::Graphql { code, message });
    }
    if !(200..300).contains(&status) {
        return Err(CallError::Http {
            status,
            body: excerpt(text),
        });
    }
    match parsed {
        Some(mut v) => match v.get_mut("data").map(Value::take) {
            Some(data) if !data.is_null() => Ok(data),
            _ => Err(CallError::Decode("no data and no errors".into())),
        },
        None => Err(CallError::Decode(format!("not JSON: {}", excerpt(text)))),
    }
}

fn excerpt(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_errors() {
        let gql = |code: &str| {
            parse_response(
                200,
                &json!({"data": null, "errors": [{"message": "m", "extensions": {"code": code}}]})
                    .to_string(),
            )
            .unwrap_err()
        };
        assert_eq!(gql("UNAUTHENTICATED").class(), Class::Auth);
        assert_eq!(gql("FORBIDDEN").class(), Class::Auth);
        assert_eq!(gql("BAD_USER_INPUT").class(), Class::Reject);
        assert_eq!(gql("INTERNAL").class(), Class::Retry);
        assert_eq!(gql("RATE_LIMITED").class(), Class::Retry);
        assert_eq!(
            parse_response(503, "busy").unwrap_err().class(),
            Class::Retry
        );
        assert_eq!(parse_response(500, "").unwrap_err().class(), Class::Retry);
        assert_eq!(parse_response(401, "no").unwrap_err().class(), Class::Auth);
        assert_eq!(
            parse_response(413, "big").unwrap_err().class(),
            Class::TooLarge
        );
        assert_eq!(
            parse_response(200, "<html>").unwrap_err().class(),
            Class::Retry
        );
        assert_eq!(CallError::Transport("refused".into()).class(), Class::Retry);
        // A GraphQL error body on a 4xx status still classifies by code.
        let e = parse_response(
            400,
            r#"{"errors":[{"message":"bad","extensions":{"code":"BAD_USER_INPUT"}}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.class(), Class::Reject);
    }

    #[test]
    fn returns_data() {
        let data =
            parse_response(200, r#"{"data":{"agentHeartbeat":"2025-01-01T00:00:00Z"}}"#).unwrap();
        assert_eq!(data["agentHeartbeat"], json!("2025-01-01T00:00:00Z"));
    }

    #[test]
    fn request_bodies_name_the_contract_operations() {
        let v: Value = serde_json::from_slice(&heartbeat_body()).unwrap();
        assert_eq!(
            v["query"],
            json!("mutation AgentHeartbeat { agentHeartbeat }")
        );
        assert_eq!(v["variables"], json!({}));

        let batch = MetricBatchInput {
            batch_id: "id".into(),
            dropped_samples: 0,
            host_samples: vec![],
            gpu_samples: vec![],
        };
        let v: Value = serde_json::from_slice(&report_metrics_body(batch)).unwrap();
        assert!(v["query"]
            .as_str()
            .unwrap()
            .contains("reportMetrics(batch: $batch) { accepted duplicate }"));
        assert_eq!(v["variables"]["batch"]["batchId"], json!("id"));
        assert_eq!(v["operationName"], json!("ReportMetrics"));
    }

    #[test]
    fn debug_hides_the_token() {
        let c = Client::new(
            "http://127.0.0.1:1/",
            &Secret::new("s3cret-token".into()),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(c.endpoint(), "http://127.0.0.1:1/graphql");
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
