//! The command API on the wire: what the `agentCommands` subscription delivers and the
//! reporting mutations (`commandStarted`, `commandOutput`, `commandFinished`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::exec::{Outcome, Status, Stream};
use crate::client::Request;

pub const SUBSCRIPTION: &str = "subscription { agentCommands { kind commandId commandText timeoutSeconds workingDirectory environment } }";
pub const COMMAND_STARTED: &str =
    "mutation CommandStarted($commandId: String!) { commandStarted(commandId: $commandId) }";
pub const COMMAND_OUTPUT: &str = "mutation CommandOutput($commandId: String!, $stream: OutputStream!, $seq: Int!, $data: String!) { commandOutput(commandId: $commandId, stream: $stream, seq: $seq, data: $data) }";
pub const COMMAND_FINISHED: &str =
    "mutation CommandFinished($input: CommandFinishedInput!) { commandFinished(input: $input) }";

/// Longest timeout honoured (a larger `timeoutSeconds` is clamped to it).
const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);

/// One message of the `agentCommands` subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Run(RunCommand),
    Cancel(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCommand {
    pub id: String,
    pub text: String,
    pub timeout: Duration,
    pub working_directory: Option<String>,
    pub environment: Vec<(String, String)>,
}

fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses one `agentCommands` value.
pub fn parse_command(v: &Value) -> Result<Delivery, String> {
    let id = id_of(&v["commandId"]).ok_or("no commandId")?;
    match v["kind"].as_str() {
        Some("CANCEL") => Ok(Delivery::Cancel(id)),
        Some("RUN") => {
            let text = v["commandText"]
                .as_str()
                .ok_or_else(|| format!("RUN {id} without commandText"))?
                .to_string();
            let seconds = v["timeoutSeconds"]
                .as_i64()
                .ok_or_else(|| format!("RUN {id} without timeoutSeconds"))?;
            let timeout = Duration::from_secs(u64::try_from(seconds.max(1)).unwrap_or(1));
            let working_directory = v["workingDirectory"]
                .as_str()
                .filter(|d| !d.is_empty())
                .map(str::to_string);
            let environment = parse_environment(&v["environment"])
                .map_err(|e| format!("RUN {id}: environment {e}"))?;
            Ok(Delivery::Run(RunCommand {
                id,
                text,
                timeout: timeout.min(MAX_TIMEOUT),
                working_directory,
                environment,
            }))
        }
        other => Err(format!("unknown kind {other:?} for command {id}")),
    }
}

/// `null`, or an object of names to values (strings as they are; numbers and booleans as
/// their JSON text; `null` values skipped). A JSON string holding such an object is accepted.
fn parse_environment(v: &Value) -> Result<Vec<(String, String)>, String> {
    let parsed;
    let v = match v {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).map_err(|_| "is not an object")?;
            &parsed
        }
        v => v,
    };
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Object(map) => Ok(map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                let value = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), value)
            })
            .collect()),
        _ => Err("is not an object".into()),
    }
}

/// Lossy UTF-8, without a copy when the bytes are valid.
fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `CommandFinishedInput`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinishedInput {
    pub command_id: String,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub duration_ms: i32,
}

impl FinishedInput {
    pub fn from_outcome(command_id: &str, o: Outcome) -> Self {
        Self {
            command_id: command_id.to_string(),
            status: o.status,
            exit_code: o.exit_code,
            stdout: into_text(o.stdout),
            stderr: into_text(o.stderr),
            stdout_truncated: o.stdout_truncated,
            stderr_truncated: o.stderr_truncated,
            duration_ms: i32::try_from(o.duration.as_millis()).unwrap_or(i32::MAX),
        }
    }

    /// A command the agent started (its id is in the started log) but whose result it lost:
    /// the agent died (crash, SIGKILL, power loss) while it ran.
    pub fn lost(command_id: &str) -> Self {
        Self {
            command_id: command_id.to_string(),
            status: Status::Failed,
            exit_code: None,
            stdout: String::new(),
            stderr: "remotegpu-agent: the agent stopped unexpectedly while this command was \
                     running (or just before it started); its result is unknown\n"
                .to_string(),
            stdout_truncated: false,
            stderr_truncated: false,
            duration_ms: 0,
        }
    }

    /// Halves the longer output (the server refused the report as too large). Returns false
    /// when there is nothing left to cut.
    pub fn shrink(&mut self) -> bool {
        let (text, flag) = if self.stdout.len() >= self.stderr.len() {
            (&mut self.stdout, &mut self.stdout_truncated)
        } else {
            (&mut self.stderr, &mut self.stderr_truncated)
        };
        if text.is_empty() {
            return false;
        }
        let mut cut = text.len() / 2;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        *flag = true;
        true
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StartedVars<'a> {
    command_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutputVars<'a> {
    command_id: &'a str,
    stream: Stream,
    seq: i32,
    data: &'a str,
}

#[derive(Serialize)]
struct FinishedVars<'a> {
    input: &'a FinishedInput,
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

pub fn started_body(command_id: &str) -> Vec<u8> {
    encode(&Request {
        query: COMMAND_STARTED,
        operation_name: "CommandStarted",
        variables: StartedVars { command_id },
    })
}

pub fn output_body(command_id: &str, stream: Stream, seq: i32, data: &str) -> Vec<u8> {
    encode(&Request {
        query: COMMAND_OUTPUT,
        operation_name: "CommandOutput",
        variables: OutputVars {
            command_id,
            stream,
            seq,
            data,
        },
    })
}

pub fn finished_body(input: &FinishedInput) -> Vec<u8> {
    encode(&Request {
        query: COMMAND_FINISHED,
        operation_name: "CommandFinished",
        variables: FinishedVars { input },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_run_and_cancel() {
        let run = json!({"kind": "RUN", "commandId": "c1", "commandText": "echo hi",
            "timeoutSeconds": 30, "workingDirectory": "/tmp",
            "environment": {"A": "1", "B": 2, "C": null}});
        assert_eq!(
            parse_command(&run).unwrap(),
            Delivery::Run(RunCommand {
                id: "c1".into(),
                text: "echo hi".into(),
                timeout: Duration::from_secs(30),
                working_directory: Some("/tmp".into()),
                environment: vec![("A".into(), "1".into()), ("B".into(), "2".into())],
            })
        );
        let minimal = json!({"kind": "RUN", "commandId": 7, "commandText": "true",
            "timeoutSeconds": 0, "workingDirectory": null, "environment": null});
        let Delivery::Run(r) = parse_command(&minimal).unwrap() else {
            panic!("not a run")
        };
        assert_eq!(r.id, "7");
        assert_eq!(r.timeout, Duration::from_secs(1));
        assert!(r.environment.is_empty() && r.working_directory.is_none());
        let as_string = json!({"kind": "RUN", "commandId": "x", "commandText": "true",
            "timeoutSeconds": 5, "environment": "{\"K\":\"v\"}"});
        let Delivery::Run(r) = parse_command(&as_string).unwrap() else {
            panic!("not a run")
        };
        assert_eq!(r.environment, vec![("K".into(), "v".into())]);

        let cancel = json!({"kind": "CANCEL", "commandId": "c1", "commandText": null,
            "timeoutSeconds": 0});
        assert_eq!(
            parse_command(&cancel).unwrap(),
            Delivery::Cancel("c1".into())
        );
        assert!(parse_command(&json!({"kind": "EXPLODE", "commandId": "1"})).is_err());
        assert!(parse_command(&json!({"kind": "RUN", "commandId": "1"})).is_err());
        assert!(
            parse_command(&json!({"kind": "RUN", "commandId": "1", "commandText": "x",
            "timeoutSeconds": 1, "environment": [1]}))
            .is_err()
        );
    }

    #[test]
    fn mutation_bodies_match_the_contract() {
        let v: Value = serde_json::from_slice(&started_body("c1")).unwrap();
        assert_eq!(v["operationName"], json!("CommandStarted"));
        assert!(v["query"]
            .as_str()
            .unwrap()
            .contains("commandStarted(commandId: $commandId)"));
        assert_eq!(v["variables"], json!({"commandId": "c1"}));

        let v: Value =
            serde_json::from_slice(&output_body("c1", Stream::Stderr, 3, "oops\n")).unwrap();
        assert_eq!(
            v["variables"],
            json!({"commandId": "c1", "stream": "STDERR", "seq": 3, "data": "oops\n"})
        );

        let input = FinishedInput {
            command_id: "c1".into(),
            status: Status::Cancelled,
            exit_code: None,
            stdout: "x".into(),
            stderr: String::new(),
            stdout_truncated: false,
            stderr_truncated: true,
            duration_ms: 12,
        };
        let v: Value = serde_json::from_slice(&finished_body(&input)).unwrap();
        assert!(v["query"]
            .as_str()
            .unwrap()
            .contains("commandFinished(input: $input)"));
        assert_eq!(
            v["variables"]["input"],
            json!({"commandId": "c1", "status": "CANCELLED", "exitCode": null, "stdout": "x",
                   "stderr": "", "stdoutTruncated": false, "stderrTruncated": true,
                   "durationMs": 12})
        );
        for (status, text) in [
            (Status::Success, "SUCCESS"),
            (Status::Failed, "FAILED"),
            (Status::Timeout, "TIMEOUT"),
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), json!(text));
        }
    }

    #[test]
    fn shrinking_halves_the_longer_output() {
        let mut f = FinishedInput::lost("1");
        f.stdout = "é".repeat(10);
        f.stderr = "12345".into();
        let err_len = f.stderr.len();
        assert!(f.shrink());
        assert_eq!(f.stdout, "é".repeat(5));
        assert!(f.stdout_truncated && !f.stderr_truncated);
        while f.shrink() {}
        assert!(f.stdout.is_empty() && f.stderr.is_empty());
        assert!(f.stderr_truncated && err_len > 0);
    }
}
