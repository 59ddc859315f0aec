//! Benchmarks for DESIGN §8's server budgets, against a real server over HTTP:
//!
//! - **nested**: the console's fleet query — 50 hosts × 8 GPUs, each GPU with its latest
//!   sample — its SQL statements per request (must not grow with the page size) and its
//!   throughput with 8 concurrent clients;
//! - **ingest**: GPU samples per second stored through `reportMetrics`, 50 agents pushing
//!   batches of 400 samples (8 GPUs × 50 rounds) concurrently.
//!
//! ```sh
//! cargo run --release --example bench                                     # embedded SQLite
//! cargo run --release --example bench -- postgres://postgres@127.0.0.1/postgres  # a fresh database there
//! ```
//!
//! Output (one line per measurement, then the budget it is held to):
//!
//! ```text
//! nested: statements per request: 10 (first: 10) and 10 (first: 50)
//! nested: 412 requests/s, p50 18.9 ms, p99 31.0 ms (8 clients, 5 s)
//! ingest: 61234 GPU samples/s (50 agents, 400 samples per batch, 10 s)   [budget: >= 50000 on PostgreSQL]
//! ```
//!
//! It runs for about 20 seconds plus seeding, and drops the database it created.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use remotegpu::config::{BootstrapAdmin, Secret, Settings};
use remotegpu::startup::Application;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

const HOSTS: usize = 50;
const GPUS: usize = 8;
const NESTED: &str = "query($n: Int!) { hosts(first: $n) { nodes { id name gpus { gpuIndex name latestMetric { utilizationPercent temperature memoryUsed } } } } }";
const REPORT: &str =
    "mutation($input: AgentReportInput!) { agentReport(input: $input) { hostId } }";
const PUSH: &str =
    "mutation($batch: MetricBatchInput!) { reportMetrics(batch: $batch) { accepted } }";

struct Server {
    url: String,
    client: reqwest::Client,
    admin: String,
    statements: Arc<remotegpu::services::db::DbMetrics>,
}

impl Server {
    async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        let response: Value = self
            .client
            .post(format!("{}/graphql", self.url))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert!(response.get("errors").is_none(), "{response}");
        response["data"].clone()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let postgres = std::env::args().nth(1);
    let dir = tempfile::tempdir().unwrap();
    let (url, cleanup) = match &postgres {
        Some(admin_url) => {
            let name = format!("remotegpu_bench_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(admin_url).await.unwrap();
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .unwrap();
            let base = admin_url
                .rsplit_once('/')
                .map(|(b, _)| b)
                .unwrap_or(admin_url);
            (format!("{base}/{name}"), Some((admin, name)))
        }
        None => (
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            ),
            None,
        ),
    };
    // REMOTEGPU_* variables apply (e.g. REMOTEGPU_GRAPHQL__LOADER_DELAY_MS).
    let mut settings = Settings::load(None).expect("settings");
    settings.server.port = 0;
    settings.database.url = Some(Secret::new(url));
    settings.database.max_connections = 16;
    settings.data_dir = dir.path().to_path_buf();
    settings.auth.jwt_secret = Some(Secret::new("bench-secret-that-is-at-least-32-bytes"));
    settings.auth.bootstrap_admin = Some(BootstrapAdmin {
        username: "bench".into(),
        email: "bench@example.com".into(),
        password: Secret::new("bench password"),
    });
    settings.limits.rate_per_second = 1e9;
    settings.limits.rate_burst = 1e9;
    settings.log.filter = "warn".into();
    let app = Application::build(settings).await.expect("server starts");
    let statements = app.state().db_metrics.clone();
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{url}/graphql"))
        .json(&json!({ "query": "mutation { login(login: \"bench\", password: \"bench password\") { accessToken } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = Arc::new(Server {
        url,
        client,
        admin,
        statements,
    });

    // Seed: hosts with agents that describe 8 GPUs each and push one sample per GPU.
    let mut agents = Vec::new();
    for h in 0..HOSTS {
        let data = server
            .gql(
                &server.admin,
                "mutation($i: CreateHostInput!) { createHost(input: $i) { agentToken } }",
                json!({ "i": { "name": format!("bench-{h:03}"), "ipAddress": "10.1.0.1", "osType": "LINUX",
                               "deploymentMode": "TRADITIONAL", "totalCpu": 64, "totalMemory": "549755813888" } }),
            )
            .await;
        let token = data["createHost"]["agentToken"]
            .as_str()
            .unwrap()
            .to_owned();
        let gpus: Vec<Value> = (0..GPUS)
            .map(|g| json!({ "index": g, "uuid": format!("GPU-bench-{h}-{g}"), "name": "NVIDIA H100 80GB HBM3", "memoryTotal": "85520809984" }))
            .collect();
        server
            .gql(&token, REPORT, json!({ "input": { "ipAddress": "10.1.0.1", "osType": "LINUX", "totalCpu": 64, "totalMemory": "549755813888", "gpus": gpus } }))
            .await;
        agents.push((h, token));
    }
    let batch = |h: usize, rounds: usize, start: chrono::DateTime<chrono::Utc>| {
        let mut samples = Vec::with_capacity(rounds * GPUS);
        for r in 0..rounds {
            let at = (start + chrono::Duration::milliseconds(r as i64)).to_rfc3339();
            for g in 0..GPUS {
                samples.push(json!({ "gpuUuid": format!("GPU-bench-{h}-{g}"), "collectedAt": at,
                    "utilizationPercent": 50.0, "memoryUsed": "1073741824", "temperature": 60.0, "powerDraw": 300.0 }));
            }
        }
        json!({ "batch": { "batchId": uuid::Uuid::new_v4().to_string(), "droppedSamples": 0, "hostSamples": [], "gpuSamples": samples } })
    };
    for (h, token) in &agents {
        server
            .gql(token, PUSH, batch(*h, 1, chrono::Utc::now()))
            .await;
    }

    // Nested query: statements per request at two page sizes, then throughput.
    let mut per_request = Vec::new();
    for n in [10, 50] {
        let before = server.statements.statements();
        server.gql(&server.admin, NESTED, json!({ "n": n })).await;
        per_request.push(server.statements.statements() - before);
    }
    println!(
        "nested: statements per request: {} (first: 10) and {} (first: 50)",
        per_request[0], per_request[1]
    );
    let run_for = Duration::from_secs(5);
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..8 {
        let server = server.clone();
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < run_for {
                let t = Instant::now();
                server
                    .gql(&server.admin, NESTED, json!({ "n": HOSTS }))
                    .await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for c in clients {
        latencies.extend(c.await.unwrap());
    }
    latencies.sort();
    println!(
        "nested: {:.0} requests/s, p50 {:.1} ms, p99 {:.1} ms (8 clients, 5 s)",
        latencies.len() as f64 / started.elapsed().as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );

    // Ingestion: every agent pushes 400-sample batches back to back.
    let run_for = Duration::from_secs(10);
    let rounds = 50;
    let started = Instant::now();
    let mut pushers = Vec::new();
    for (h, token) in agents {
        let server = server.clone();
        pushers.push(tokio::spawn(async move {
            let mut stored = 0u64;
            let mut clock = chrono::Utc::now() - chrono::Duration::hours(1);
            while started.elapsed() < run_for {
                let data = server.gql(&token, PUSH, batch(h, rounds, clock)).await;
                stored += data["reportMetrics"]["accepted"].as_u64().unwrap_or(0);
                clock += chrono::Duration::milliseconds(rounds as i64);
            }
            stored
        }));
    }
    let mut stored = 0;
    for p in pushers {
        stored += p.await.unwrap();
    }
    println!(
        "ingest: {:.0} GPU samples/s ({HOSTS} agents, {} samples per batch, 10 s)   [budget: >= 50000 on PostgreSQL]",
        stored as f64 / started.elapsed().as_secs_f64(),
        rounds * GPUS
    );

    if let Some((admin, name)) = cleanup {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
}
