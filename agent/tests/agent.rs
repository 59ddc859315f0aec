//! End-to-end tests of the real `remotegpu-agent` binary against a mock GraphQL server.
#![cfg(unix)]
// Test helpers outside `#[test]` functions panic on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

const TOKEN: &str = "agent-test-token-0123456789";

const FAKE_GPUS: &str = r#"{ "gpus": [
  { "uuid": "GPU-test-0000", "name": "Test GPU A", "brand": "Tesla", "architecture": "Hopper",
    "memoryTotal": 85899345920, "cudaCores": 16896, "computeCapability": "9.0",
    "powerLimit": 700, "temperatureLimit": 87,
    "readings": [ { "utilizationPercent": 75, "memoryUsed": 42949672960, "temperature": 61,
                    "powerDraw": 512.5, "fanSpeedPercent": null, "smClock": 1980,
                    "memoryClock": 2619, "processCount": 3 } ] },
  { "uuid": "GPU-test-0001", "index": 1,
    "readings": [ { "utilizationPercent": 25, "memoryUsed": 8589934592, "temperature": 41,
                    "powerDraw": 100.5 } ] }
] }"#;

/// One request the mock received.
#[derive(Debug, Clone)]
struct Seen {
    op: &'static str,
    authorization: Option<String>,
    body: Value,
    status: u16,
    /// `reportMetrics` only: the batch was stored (not failed, not rejected, not a replay).
    stored: bool,
    at: Instant,
}

impl Seen {
    /// The command a command report is about.
    fn command_id(&self) -> Option<&str> {
        let vars = &self.body["variables"];
        vars["commandId"]
            .as_str()
            .or_else(|| vars["input"]["commandId"].as_str())
    }
}

#[derive(Debug, Default)]
struct Mock {
    seen: Vec<Seen>,
    /// Answer this many `reportMetrics` calls with HTTP 503.
    fail_metrics: usize,
    /// Answer this many `reportMetrics` calls with a BAD_USER_INPUT error.
    reject_metrics: usize,
    /// Batch ids stored, and the batches themselves (each stored once).
    stored_ids: HashSet<String>,
    stored: Vec<Value>,
    duplicates: usize,
    /// Host samples in the batches answered with BAD_USER_INPUT.
    rejected_rounds: usize,

    /// `agentCommands` values: every subscription gets all of them, in order, then the ones
    /// added while it lasts (so every reconnection redelivers everything: at-least-once at
    /// its most insistent).
    commands: Vec<Value>,
    /// WebSocket connections opened, `connection_init` payloads, subscription queries.
    ws_connections: usize,
    inits: Vec<Value>,
    subscriptions: Vec<String>,
    /// Bumping it closes the open connections (1012).
    kick: usize,
    /// Reports about these commands are answered NOT_FOUND.
    unknown_commands: HashSet<String>,
    /// Answer `commandFinished` with HTTP 503.
    fail_finished: bool,
}

type Shared = Arc<Mutex<Mock>>;

impl Mock {
    fn metrics(&self) -> Vec<&Seen> {
        self.seen
            .iter()
            .filter(|s| s.op == "reportMetrics")
            .collect()
    }

    /// Reports about one command, in arrival order.
    fn reports(&self, command: &str) -> Vec<&Seen> {
        self.seen
            .iter()
            .filter(|s| s.op.starts_with("command") && s.command_id() == Some(command))
            .collect()
    }

    fn count(&self, op: &str, command: &str) -> usize {
        self.reports(command).iter().filter(|s| s.op == op).count()
    }

    /// The accepted `commandFinished` input of a command.
    fn finished(&self, command: &str) -> Option<Value> {
        self.reports(command)
            .iter()
            .find(|s| s.op == "commandFinished" && s.status == 200)
            .map(|s| s.body["variables"]["input"].clone())
    }
}

async fn graphql(
    State(mock): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let query = body["query"].as_str().unwrap_or_default().to_string();
    let op = if query.contains("agentReport(") {
        "agentReport"
    } else if query.contains("reportMetrics(") {
        "reportMetrics"
    } else if query.contains("agentHeartbeat") {
        "agentHeartbeat"
    } else if query.contains("commandStarted(") {
        "commandStarted"
    } else if query.contains("commandOutput(") {
        "commandOutput"
    } else if query.contains("commandFinished(") {
        "commandFinished"
    } else {
        "unknown"
    };
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut m = mock.lock().unwrap();
    let mut stored = false;
    let (status, answer) = match op {
        "agentReport" => (200, json!({"data": {"agentReport": {"hostId": "42"}}})),
        "agentHeartbeat" => (
            200,
            json!({"data": {"agentHeartbeat": "2025-01-01T00:00:00Z"}}),
        ),
        "reportMetrics" if m.fail_metrics > 0 => {
            m.fail_metrics -= 1;
            (503, json!("unavailable"))
        }
        "reportMetrics" if m.reject_metrics > 0 => {
            m.reject_metrics -= 1;
            m.rejected_rounds += body["variables"]["batch"]["hostSamples"]
                .as_array()
                .map_or(0, Vec::len);
            (
                200,
                json!({"data": null, "errors": [{"message": "bad sample",
                        "extensions": {"code": "BAD_USER_INPUT"}}]}),
            )
        }
        "reportMetrics" => {
            let batch = &body["variables"]["batch"];
            let id = batch["batchId"].as_str().unwrap_or_default().to_string();
            let duplicate = !m.stored_ids.insert(id);
            if duplicate {
                m.duplicates += 1;
            } else {
                m.stored.push(batch.clone());
                stored = true;
            }
            let accepted = batch["hostSamples"].as_array().map_or(0, Vec::len);
            (
                200,
                json!({"data": {"reportMetrics": {"accepted": accepted, "duplicate": duplicate}}}),
            )
        }
        "commandStarted" | "commandOutput" | "commandFinished" => {
            let vars = &body["variables"];
            let id = vars["commandId"]
                .as_str()
                .or_else(|| vars["input"]["commandId"].as_str())
                .unwrap_or_default();
            if m.unknown_commands.contains(id) {
                (
                    200,
                    json!({"data": null, "errors": [{"message": "no such command",
                            "extensions": {"code": "NOT_FOUND"}}]}),
                )
            } else if op == "commandFinished" && m.fail_finished {
                (503, json!("unavailable"))
            } else {
                (200, json!({"data": {op: true}}))
            }
        }
        _ => (400, json!({"errors": [{"message": "unknown operation"}]})),
    };
    m.seen.push(Seen {
        op,
        authorization,
        body,
        status,
        stored,
        at: Instant::now(),
    });
    let text = match answer {
        Value::String(s) => s,
        v => v.to_string(),
    };
    (StatusCode::from_u16(status).unwrap(), text)
}

async fn graphql_ws(State(mock): State<Shared>, ws: WebSocketUpgrade) -> Response {
    ws.protocols(["graphql-transport-ws"])
        .on_upgrade(move |socket| ws_session(socket, mock))
}

async fn recv_json(socket: &mut WebSocket) -> Option<Value> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(text)) => return serde_json::from_str(text.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn send_json(socket: &mut WebSocket, value: Value) -> bool {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .is_ok()
}

async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// Minimal graphql-transport-ws: `connection_init` (token checked, else 4403) →
/// `connection_ack`; `subscribe` to `agentCommands` → a `next` per command; `ping` → `pong`.
async fn ws_session(mut socket: WebSocket, mock: Shared) {
    let generation = {
        let mut m = mock.lock().unwrap();
        m.ws_connections += 1;
        m.kick
    };
    let Some(init) = recv_json(&mut socket).await else {
        return;
    };
    if init["type"] != "connection_init" {
        return close(socket, 4400, "Invalid message").await;
    }
    mock.lock().unwrap().inits.push(init["payload"].clone());
    if init["payload"]["authorization"] != json!(format!("Bearer {TOKEN}")) {
        return close(socket, 4403, "Forbidden").await;
    }
    if !send_json(&mut socket, json!({"type": "connection_ack"})).await {
        return;
    }
    loop {
        let Some(message) = recv_json(&mut socket).await else {
            return;
        };
        match message["type"].as_str() {
            Some("ping") => {
                send_json(&mut socket, json!({"type": "pong"})).await;
            }
            Some("subscribe") => {
                assert_eq!(message["id"], json!("commands"));
                let query = message["payload"]["query"].as_str().unwrap_or_default();
                mock.lock().unwrap().subscriptions.push(query.to_string());
                break;
            }
            _ => return close(socket, 4400, "Invalid message").await,
        }
    }
    let mut sent = 0;
    loop {
        let (new, kicked) = {
            let m = mock.lock().unwrap();
            (m.commands[sent..].to_vec(), m.kick != generation)
        };
        if kicked {
            return close(socket, 1012, "Service Restart").await;
        }
        for command in new {
            let next = json!({"id": "commands", "type": "next",
                              "payload": {"data": {"agentCommands": command}}});
            if !send_json(&mut socket, next).await {
                return;
            }
            sent += 1;
        }
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    if v["type"] == "ping" {
                        send_json(&mut socket, json!({"type": "pong"})).await;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}

async fn start_mock() -> (SocketAddr, Shared) {
    let mock: Shared = Arc::default();
    let app = Router::new()
        .route("/graphql", post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, mock)
}

/// The agent process; killed on drop, its log printed when a test fails.
struct AgentProcess {
    child: Child,
    log: PathBuf,
    /// Where this run's lines start in the (shared) log file.
    log_from: usize,
}

impl AgentProcess {
    fn start(server: &str, dir: &Path) -> Self {
        Self::start_with(server, dir, &[], TOKEN)
    }

    fn start_with(server: &str, dir: &Path, extra: &[&str], token: &str) -> Self {
        let fake = dir.join("gpus.json");
        std::fs::write(&fake, FAKE_GPUS).unwrap();
        let log = dir.join(format!("agent-{}.log", std::process::id()));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let log_from = log_file.metadata().unwrap().len() as usize;
        let child = Command::new(env!("CARGO_BIN_EXE_remotegpu-agent"))
            .args([
                "--server-url",
                server,
                "--interval",
                "1",
                "--collector",
                "fake",
            ])
            .arg("--fake-gpus")
            .arg(&fake)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--retry-initial-ms", "100", "--retry-max-ms", "400"])
            .args(["--request-timeout", "5"])
            .args(extra)
            .env("REMOTEGPU_AGENT_TOKEN", token)
            .env("RUST_LOG", "remotegpu_agent=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap();
        Self {
            child,
            log,
            log_from,
        }
    }

    fn log(&self) -> String {
        let all = std::fs::read_to_string(&self.log).unwrap_or_default();
        all.get(self.log_from..).unwrap_or_default().to_string()
    }

    /// SIGTERM, then waits for a clean exit.
    async fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "agent exit {status:?}\n{}", self.log());
                return;
            }
            assert!(
                Instant::now() < deadline,
                "agent did not stop\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- agent log ---\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every 25 ms; after 20 s fails, naming `what` and adding `context()`.
async fn eventually(what: &str, cond: impl Fn() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_for(mock: &Shared, agent: &AgentProcess, what: &str, cond: impl Fn(&Mock) -> bool) {
    let _ = agent;
    eventually(
        what,
        || cond(&mock.lock().unwrap()),
        || {
            let m = mock.lock().unwrap();
            let seen: Vec<_> = m.seen.iter().map(|s| (s.op, s.status)).collect();
            format!("mock saw {seen:#?}")
        },
    )
    .await;
}

/// `collectedAt` of every host sample stored by the mock, in storage order.
fn stored_times(m: &Mock) -> Vec<String> {
    m.stored
        .iter()
        .flat_map(|b| b["hostSamples"].as_array().unwrap().iter())
        .map(|s| s["collectedAt"].as_str().unwrap().to_string())
        .collect()
}

fn parse_time(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn is_digits(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_pushes_retries_with_the_same_batch_id_and_drops_poison() {
    let (addr, mock) = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = AgentProcess::start(&format!("http://{addr}"), dir.path());

    // 1. agentReport first, then metrics, with the token and the fake GPUs.
    wait_for(&mock, &agent, "a stored batch", |m| !m.stored.is_empty()).await;
    {
        let m = mock.lock().unwrap();
        let first = &m.seen[0];
        assert_eq!(first.op, "agentReport");
        for s in &m.seen {
            assert_eq!(
                s.authorization.as_deref(),
                Some(&*format!("Bearer {TOKEN}"))
            );
        }
        let input = &first.body["variables"]["input"];
        let uuids: Vec<&str> = input["gpus"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["uuid"].as_str().unwrap())
            .collect();
        assert_eq!(uuids, ["GPU-test-0000", "GPU-test-0001"]);
        assert_eq!(input["gpus"][0]["memoryTotal"], json!("85899345920"));
        assert_eq!(input["gpus"][0]["computeCapability"], json!("9.0"));
        assert_eq!(input["gpus"][1]["index"], json!(1));
        assert_eq!(input["osType"], json!("LINUX"));
        assert!(is_digits(&input["totalMemory"]));
        assert!(input["totalCpu"].as_i64().unwrap() > 0);

        let batch = &m.stored[0];
        assert_eq!(batch["droppedSamples"], json!(0));
        let gpu = &batch["gpuSamples"][0];
        assert_eq!(gpu["gpuUuid"], json!("GPU-test-0000"));
        assert_eq!(gpu["utilizationPercent"], json!(75.0));
        assert_eq!(gpu["memoryUsed"], json!("42949672960"));
        assert_eq!(gpu["memoryUsagePercent"], json!(50.0));
        assert_eq!(gpu["fanSpeedPercent"], Value::Null);
        assert_eq!(gpu["processCount"], json!(3));
        assert_eq!(batch["gpuSamples"][1]["gpuUuid"], json!("GPU-test-0001"));
        let host = &batch["hostSamples"][0];
        assert_eq!(host["collectedAt"], gpu["collectedAt"]);
        assert!(is_digits(&host["memoryUsed"]));
        assert_eq!(host["gpuAvgUtilization"], json!(50.0));
        assert_eq!(host["gpuAvgMemoryUsed"], json!("25769803776"));
        assert_eq!(host["gpuAvgPower"], json!(306.5));
    }

    // 2. The server fails three pushes: the same batch id comes back until it is stored.
    let before = {
        let mut m = mock.lock().unwrap();
        m.fail_metrics = 3;
        m.metrics().len()
    };
    wait_for(&mock, &agent, "recovery after 503s", |m| {
        m.fail_metrics == 0 && m.metrics()[before..].iter().any(|s| s.stored)
    })
    .await;
    {
        let m = mock.lock().unwrap();
        let tail = &m.metrics()[before..];
        let failed: Vec<&Seen> = tail.iter().copied().filter(|s| s.status == 503).collect();
        assert_eq!(failed.len(), 3);
        let id = failed[0].body["variables"]["batch"]["batchId"].clone();
        for f in &failed {
            assert_eq!(f.body["variables"]["batch"]["batchId"], id);
            // Same content on every retry.
            assert_eq!(
                f.body["variables"]["batch"],
                failed[0].body["variables"]["batch"]
            );
        }
        let delivered = tail.iter().find(|s| s.status != 503).unwrap();
        assert!(delivered.stored);
        assert_eq!(delivered.body["variables"]["batch"]["batchId"], id);
        assert_eq!(m.duplicates, 0);
        // The host was reported again after the failures.
        assert!(m.seen.iter().filter(|s| s.op == "agentReport").count() >= 2);
    }

    // 3. A poison batch is dropped, and the next one goes through with a new id.
    let before = {
        let mut m = mock.lock().unwrap();
        m.reject_metrics = 1;
        m.metrics().len()
    };
    wait_for(&mock, &agent, "a batch after the poison one", |m| {
        m.reject_metrics == 0 && m.metrics()[before..].iter().any(|s| s.stored)
    })
    .await;
    let last_before_stop = {
        let m = mock.lock().unwrap();
        let tail = &m.metrics()[before..];
        let poison = tail[0].body["variables"]["batch"]["batchId"].clone();
        let stored_ids: Vec<&Value> = m.stored.iter().map(|b| &b["batchId"]).collect();
        assert!(!stored_ids.contains(&&poison));
        assert!(!tail[0].stored);
        let next = tail.iter().find(|s| s.stored).unwrap();
        assert_ne!(next.body["variables"]["batch"]["batchId"], poison);
        stored_times(&m).len()
    };

    // 4. No sample stored twice, none lost: every round the agent collected was stored once,
    //    rejected (the poison batch) or saved on SIGTERM, and none was dropped.
    agent.terminate().await;
    let m = mock.lock().unwrap();
    let times: Vec<_> = stored_times(&m).iter().map(|t| parse_time(t)).collect();
    assert!(times.len() >= last_before_stop);
    for pair in times.windows(2) {
        assert!(pair[1] > pair[0], "duplicate or out of order: {pair:?}");
    }
    let log = agent.log();
    let stopped = log
        .lines()
        .find(|l| l.contains("agent stopped"))
        .expect("final log line");
    let field = |name: &str| -> usize {
        let start = stopped.find(&format!(" {name}=")).expect(name) + name.len() + 2;
        stopped[start..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(field("dropped"), 0);
    assert_eq!(field("rejected"), m.rejected_rounds);
    // Every collected round is accounted for by the agent...
    assert_eq!(
        field("collected"),
        field("delivered") + m.rejected_rounds + field("unsent"),
        "{stopped}"
    );
    // ...and the server has every confirmed round. A push in flight when SIGTERM came may be
    // stored without the agent seeing the answer: the agent keeps it as unsent and replays
    // it under the same batch id, which the server stores once.
    assert!(field("delivered") <= times.len(), "{stopped}");
    assert!(
        times.len() <= field("delivered") + field("unsent"),
        "{stopped}"
    );
    assert!(log.contains("server rejected the batch as bad input"));
    assert!(
        !agent.log().contains(TOKEN),
        "the token must never be logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_samples_across_an_outage_and_an_agent_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    // 1. No server: the agent buffers; SIGTERM saves the buffer.
    let mut agent = AgentProcess::start(&format!("http://{dead}"), dir.path());
    wait_until(&agent, "two buffered sampling rounds", |log| {
        most_buffered(log) >= 2
    })
    .await;
    agent.terminate().await;
    let saved_path = dir.path().join("data/buffer.json");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&saved_path).unwrap()).unwrap();
    let mut saved_times: Vec<String> = saved["queue"]
        .as_array()
        .unwrap()
        .iter()
        .chain(saved["pending"]["rounds"].as_array().into_iter().flatten())
        .map(|r| r["host"]["collectedAt"].as_str().unwrap().to_string())
        .collect();
    saved_times.sort();
    assert!(saved_times.len() >= 2, "saved {saved}");
    assert!(agent.log().contains("saved unsent samples"));
    drop(agent);

    // 2. Server up, agent restarted: the saved samples are delivered once, then new ones.
    let (addr, mock) = start_mock().await;
    let agent = AgentProcess::start(&format!("http://{addr}"), dir.path());
    wait_for(&mock, &agent, "saved and new samples", |m| {
        let times = stored_times(m);
        saved_times.iter().all(|t| times.contains(t)) && times.len() > saved_times.len()
    })
    .await;
    assert!(!saved_path.exists(), "the buffer file is consumed on start");
    let m = mock.lock().unwrap();
    let times = stored_times(&m);
    let unique: HashSet<&String> = times.iter().collect();
    assert_eq!(unique.len(), times.len(), "a sample was stored twice");
    assert!(agent.log().contains("restored unsent samples"));
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

fn run_command(id: &str, text: &str, timeout_s: i64, dir: Option<&Path>, env: Value) -> Value {
    json!({"kind": "RUN", "commandId": id, "commandText": text, "timeoutSeconds": timeout_s,
           "workingDirectory": dir.map(|d| d.to_string_lossy().into_owned()),
           "environment": env})
}

fn cancel_command(id: &str) -> Value {
    json!({"kind": "CANCEL", "commandId": id, "commandText": "", "timeoutSeconds": 0,
           "workingDirectory": null, "environment": null})
}

async fn wait_log(agent: &AgentProcess, what: &str, count: usize) {
    eventually(
        &format!("{count} log lines with {what:?}"),
        || agent.log().matches(what).count() >= count,
        String::new,
    )
    .await;
}

/// Waits until the agent has recorded command `id` as reported (`D <id>` in its started log
/// under `dir/data`): the command's reporting task has ended.
async fn wait_reported(agent: &AgentProcess, dir: &Path, id: &str) {
    let log = dir.join("data").join("commands-started.log");
    let line = format!("D {id}");
    eventually(
        &format!("{id} to be recorded as reported"),
        || std::fs::read_to_string(&log).is_ok_and(|t| t.lines().any(|l| l == line)),
        || agent.log(),
    )
    .await;
}

/// Waits until the agent's log so far satisfies `cond`.
async fn wait_until(agent: &AgentProcess, what: &str, cond: impl Fn(&str) -> bool) {
    eventually(what, || cond(&agent.log()), || agent.log()).await;
}

/// The most sampling rounds the agent's log says it held unsent (`buffered=N`).
fn most_buffered(log: &str) -> usize {
    log.split("buffered=")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Whether a pid is gone (or a zombie, which runs nothing).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_each_command_once_with_live_output_cancel_and_timeout() {
    let (addr, mock) = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let mark = dir.path().join("mark");
    let server = format!("http://{addr}");
    let mut agent = AgentProcess::start(&server, dir.path());

    // 1. The agent subscribes with its token.
    wait_for(&mock, &agent, "a subscription", |m| {
        !m.subscriptions.is_empty()
    })
    .await;
    {
        let m = mock.lock().unwrap();
        assert_eq!(
            m.inits[0],
            json!({"authorization": format!("Bearer {TOKEN}")})
        );
        assert!(m.subscriptions[0].contains(
            "agentCommands { kind commandId commandText timeoutSeconds workingDirectory environment }"
        ));
    }

    // 2. A RUN is executed in its directory with its environment; its output arrives while it
    //    runs, then the result.
    mock.lock().unwrap().commands.push(run_command(
        "c1",
        "echo x >> \"$MARK\"; pwd; echo one; sleep 0.8; echo two >&2",
        30,
        Some(&work),
        json!({"MARK": mark.to_string_lossy()}),
    ));
    wait_for(&mock, &agent, "c1 finished", |m| m.finished("c1").is_some()).await;
    {
        let m = mock.lock().unwrap();
        let reports = m.reports("c1");
        let ops: Vec<&str> = reports.iter().map(|s| s.op).collect();
        assert_eq!(ops.first(), Some(&"commandStarted"), "{ops:?}");
        assert_eq!(ops.last(), Some(&"commandFinished"), "{ops:?}");
        let outputs: Vec<&&Seen> = reports.iter().filter(|s| s.op == "commandOutput").collect();
        for (i, o) in outputs.iter().enumerate() {
            assert_eq!(o.body["variables"]["seq"], json!(i));
        }
        let text = |stream: &str| -> String {
            outputs
                .iter()
                .filter(|o| o.body["variables"]["stream"] == stream)
                .map(|o| o.body["variables"]["data"].as_str().unwrap())
                .collect()
        };
        let pwd = work.canonicalize().unwrap().display().to_string();
        assert_eq!(text("STDOUT"), format!("{pwd}\none\n"));
        assert_eq!(text("STDERR"), "two\n");
        // Live: the first chunk came while the command still had most of a second to run.
        let finished_at = reports.last().unwrap().at;
        assert!(finished_at.duration_since(outputs[0].at) >= Duration::from_millis(500));
        let f = m.finished("c1").unwrap();
        assert_eq!(f["status"], json!("SUCCESS"));
        assert_eq!(f["exitCode"], json!(0));
        assert_eq!(f["stdout"], json!(format!("{pwd}\none\n")));
        assert_eq!(f["stderr"], json!("two\n"));
        assert_eq!(f["stdoutTruncated"], json!(false));
        assert_eq!(f["stderrTruncated"], json!(false));
        assert!(f["durationMs"].as_i64().unwrap() >= 800);
        for s in &reports {
            assert_eq!(
                s.authorization.as_deref(),
                Some(&*format!("Bearer {TOKEN}"))
            );
        }
    }
    assert_eq!(lines(&mark), 1);

    // 3. The connection drops; the server delivers c1 again: it does not run again.
    mock.lock().unwrap().kick += 1;
    wait_for(&mock, &agent, "a second subscription", |m| {
        m.subscriptions.len() >= 2
    })
    .await;
    wait_log(&agent, "command delivered again", 1).await;
    assert_eq!(lines(&mark), 1);

    // 4. Cancel and timeout, side by side; and a command the server forgot (NOT_FOUND):
    //    its reports are dropped, not retried, and its output is not sent.
    {
        let mut m = mock.lock().unwrap();
        m.unknown_commands.insert("forgotten".into());
        m.commands
            .push(run_command("c2", "sleep 30", 30, None, Value::Null));
        m.commands
            .push(run_command("c3", "sleep 30", 1, None, Value::Null));
        m.commands
            .push(run_command("forgotten", "echo hi", 30, None, Value::Null));
    }
    wait_for(&mock, &agent, "c2 started", |m| {
        m.count("commandStarted", "c2") == 1
    })
    .await;
    mock.lock().unwrap().commands.push(cancel_command("c2"));
    wait_for(&mock, &agent, "c2, c3 and forgotten finished", |m| {
        m.finished("c2").is_some()
            && m.finished("c3").is_some()
            && m.count("commandFinished", "forgotten") == 1
    })
    .await;
    {
        let m = mock.lock().unwrap();
        let c2 = m.finished("c2").unwrap();
        assert_eq!(c2["status"], json!("CANCELLED"));
        assert_eq!(c2["exitCode"], Value::Null);
        let c3 = m.finished("c3").unwrap();
        assert_eq!(c3["status"], json!("TIMEOUT"));
        assert_eq!(c3["exitCode"], Value::Null);
        assert!(c3["durationMs"].as_i64().unwrap() >= 1000);
    }
    // Its reporting task has ended once the agent records it as reported: no later call about
    // it can follow.
    wait_reported(&agent, dir.path(), "forgotten").await;
    {
        let m = mock.lock().unwrap();
        assert_eq!(m.count("commandStarted", "forgotten"), 1);
        assert_eq!(m.count("commandOutput", "forgotten"), 0);
        assert_eq!(m.count("commandFinished", "forgotten"), 1);
    }

    // 5. The agent restarts: everything is delivered again, nothing runs again.
    agent.terminate().await;
    let started_before = mock
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|s| s.op == "commandStarted")
        .count();
    let subscriptions_before = mock.lock().unwrap().subscriptions.len();
    let agent = AgentProcess::start(&server, dir.path());
    wait_for(&mock, &agent, "a subscription after the restart", |m| {
        m.subscriptions.len() > subscriptions_before
    })
    .await;
    wait_log(&agent, "command delivered again", 4).await;
    // A command delivered after them runs and reports: the ones before it were decided first.
    mock.lock()
        .unwrap()
        .commands
        .push(run_command("after", "true", 30, None, Value::Null));
    wait_for(&mock, &agent, "the later command finished", |m| {
        m.finished("after").is_some()
    })
    .await;
    assert_eq!(lines(&mark), 1);
    let m = mock.lock().unwrap();
    assert_eq!(
        m.seen
            .iter()
            .filter(|s| s.op == "commandStarted" && s.command_id() != Some("after"))
            .count(),
        started_before
    );
    assert!(!dir.path().join("data/commands-outbox.json").exists());
    let log = agent.log();
    assert!(!log.contains("result is lost"), "{log}");
    assert!(!log.contains(TOKEN), "the token must never be logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_agent_kills_its_commands_and_reports_them_after_a_restart() {
    let (addr, mock) = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = format!("http://{addr}");
    let mut agent = AgentProcess::start(&server, dir.path());
    wait_for(&mock, &agent, "a subscription", |m| {
        !m.subscriptions.is_empty()
    })
    .await;
    {
        let mut m = mock.lock().unwrap();
        m.fail_finished = true;
        m.commands.push(run_command(
            "long",
            "sleep 60 & echo $!; sleep 60",
            600,
            None,
            Value::Null,
        ));
    }
    wait_for(&mock, &agent, "output of the long command", |m| {
        m.count("commandOutput", "long") == 1
    })
    .await;
    let grandchild: u32 = {
        let m = mock.lock().unwrap();
        let chunk = m
            .reports("long")
            .into_iter()
            .find(|s| s.op == "commandOutput")
            .unwrap()
            .body["variables"]["data"]
            .as_str()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        chunk
    };

    // SIGTERM: the command is killed; its result cannot be delivered, so it is saved.
    agent.terminate().await;
    assert!(
        gone(grandchild),
        "the command's background process survived"
    );
    assert!(dir.path().join("data/commands-outbox.json").exists());
    assert!(agent.log().contains("saved undelivered command results"));

    // After a restart it is delivered, and the command is not run again.
    mock.lock().unwrap().fail_finished = false;
    let mut agent = AgentProcess::start(&server, dir.path());
    wait_for(&mock, &agent, "the saved result", |m| {
        m.finished("long").is_some()
    })
    .await;
    let f = mock.lock().unwrap().finished("long").unwrap();
    assert_eq!(f["status"], json!("FAILED"));
    assert_eq!(f["exitCode"], Value::Null);
    assert!(f["stderr"].as_str().unwrap().contains("agent stopped"));
    assert_eq!(f["stdout"], json!(format!("{grandchild}\n")));
    wait_log(&agent, "command delivered again", 1).await;
    assert_eq!(mock.lock().unwrap().count("commandOutput", "long"), 1);
    // Delivered: the next clean stop leaves no saved result behind.
    agent.terminate().await;
    assert!(!dir.path().join("data/commands-outbox.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_commands_runs_nothing() {
    let (addr, mock) = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("mark");
    mock.lock().unwrap().commands.push(run_command(
        "r1",
        "echo x >> \"$MARK\"",
        30,
        None,
        json!({"MARK": mark.to_string_lossy()}),
    ));
    let agent = AgentProcess::start_with(
        &format!("http://{addr}"),
        dir.path(),
        &["--refuse-commands"],
        TOKEN,
    );
    wait_for(&mock, &agent, "a stored batch", |m| !m.stored.is_empty()).await;
    // Two more sampling rounds later, still no command channel.
    let stored = mock.lock().unwrap().stored.len();
    wait_for(&mock, &agent, "two more batches", |m| {
        m.stored.len() >= stored + 2
    })
    .await;
    let m = mock.lock().unwrap();
    assert_eq!(m.ws_connections, 0);
    assert!(m.seen.iter().all(|s| !s.op.starts_with("command")));
    assert!(!mark.exists());
    assert!(agent.log().contains("refusing commands"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_on_the_command_channel_backs_off_long_while_metrics_go_on() {
    let (addr, mock) = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentProcess::start_with(&format!("http://{addr}"), dir.path(), &[], "wrong-token");
    wait_log(
        &agent,
        "server refused the agent token on the command channel",
        1,
    )
    .await;
    // The mock takes metrics whatever the token: they keep flowing.
    let stored = mock.lock().unwrap().stored.len();
    wait_for(&mock, &agent, "more batches", |m| m.stored.len() > stored).await;
    // Two more sampling rounds later, the refused channel has not been tried again.
    let stored = mock.lock().unwrap().stored.len();
    wait_for(&mock, &agent, "two more batches", |m| {
        m.stored.len() >= stored + 2
    })
    .await;
    assert_eq!(mock.lock().unwrap().ws_connections, 1);
    assert!(!agent.log().contains("wrong-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_beyond_the_limit_wait_their_turn_and_a_queued_one_can_be_cancelled() {
    let (addr, mock) = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let order = dir.path().join("order");
    let env = json!({"ORDER": order.to_string_lossy()});
    {
        let mut m = mock.lock().unwrap();
        m.commands.push(run_command(
            "q1",
            "sleep 0.7; echo q1 >> \"$ORDER\"",
            30,
            None,
            env.clone(),
        ));
        m.commands.push(run_command(
            "q2",
            "echo q2 >> \"$ORDER\"",
            30,
            None,
            env.clone(),
        ));
        m.commands.push(run_command(
            "q3",
            "echo q3 >> \"$ORDER\"",
            30,
            None,
            env.clone(),
        ));
        m.commands.push(cancel_command("q3"));
        // Queued behind q3: it runs only after q3 would have.
        m.commands
            .push(run_command("q4", "true", 30, None, Value::Null));
    }
    let agent = AgentProcess::start_with(
        &format!("http://{addr}"),
        dir.path(),
        &["--max-concurrent-commands", "1"],
        TOKEN,
    );
    wait_for(&mock, &agent, "q1, q2 and q4 finished", |m| {
        m.finished("q1").is_some() && m.finished("q2").is_some() && m.finished("q4").is_some()
    })
    .await;
    assert_eq!(std::fs::read_to_string(&order).unwrap(), "q1\nq2\n");
    assert!(mock.lock().unwrap().reports("q3").is_empty());
    assert!(agent.log().contains("all command slots busy; queued"));
    assert!(agent.log().contains("dropped from the queue"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_a_started_command_is_reported_failed_and_not_run_again() {
    let (addr, mock) = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = format!("http://{addr}");
    let agent = AgentProcess::start(&server, dir.path());
    mock.lock().unwrap().commands.push(run_command(
        "crash",
        "echo $$; sleep 30",
        600,
        None,
        Value::Null,
    ));
    wait_for(&mock, &agent, "output of the command", |m| {
        m.count("commandOutput", "crash") == 1
    })
    .await;
    let group: u32 = {
        let m = mock.lock().unwrap();
        let reports = m.reports("crash");
        let output = reports.iter().find(|s| s.op == "commandOutput").unwrap();
        output.body["variables"]["data"]
            .as_str()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    // SIGKILL: no chance to report. The command itself lives on in its own group.
    drop(agent);
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .status();

    let agent = AgentProcess::start(&server, dir.path());
    wait_for(&mock, &agent, "the lost result", |m| {
        m.finished("crash").is_some()
    })
    .await;
    let f = mock.lock().unwrap().finished("crash").unwrap();
    assert_eq!(f["status"], json!("FAILED"));
    assert_eq!(f["exitCode"], Value::Null);
    assert!(f["stderr"].as_str().unwrap().contains("result is unknown"));
    wait_log(&agent, "command delivered again", 1).await;
    assert_eq!(mock.lock().unwrap().count("commandOutput", "crash"), 1);
}
