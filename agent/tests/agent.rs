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

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
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
}

type Shared = Arc<Mutex<Mock>>;

impl Mock {
    fn metrics(&self) -> Vec<&Seen> {
        self.seen
            .iter()
            .filter(|s| s.op == "reportMetrics")
            .collect()
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
        _ => (400, json!({"errors": [{"message": "unknown operation"}]})),
    };
    m.seen.push(Seen {
        op,
        authorization,
        body,
        status,
        stored,
    });
    let text = match answer {
        Value::String(s) => s,
        v => v.to_string(),
    };
    (StatusCode::from_u16(status).unwrap(), text)
}

async fn start_mock() -> (SocketAddr, Shared) {
    let mock: Shared = Arc::default();
    let app = Router::new()
        .route("/graphql", post(graphql))
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
}

impl AgentProcess {
    fn start(server: &str, dir: &Path) -> Self {
        let fake = dir.join("gpus.json");
        std::fs::write(&fake, FAKE_GPUS).unwrap();
        let log = dir.join(format!("agent-{}.log", std::process::id()));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
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
            .env("REMOTEGPU_AGENT_TOKEN", TOKEN)
            .env("RUST_LOG", "remotegpu_agent=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap();
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits for a clean exit.
    fn terminate(&mut self) {
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
            std::thread::sleep(Duration::from_millis(20));
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

async fn wait_for(mock: &Shared, agent: &AgentProcess, what: &str, cond: impl Fn(&Mock) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if cond(&mock.lock().unwrap()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; mock saw {:#?}",
            mock.lock()
                .unwrap()
                .seen
                .iter()
                .map(|s| (s.op, s.status))
                .collect::<Vec<_>>()
        );
        let _ = agent;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
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
    agent.terminate();
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
    assert_eq!(field("delivered"), times.len());
    assert_eq!(field("rejected"), m.rejected_rounds);
    assert_eq!(
        field("collected"),
        times.len() + m.rejected_rounds + field("unsent"),
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
    std::thread::sleep(Duration::from_millis(3300));
    agent.terminate();
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
