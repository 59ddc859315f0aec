//! Benchmarks for DESIGN §8's server budgets, against a real server over HTTP and WebSocket.
//! One line per measurement, each with its budget; a missed budget says `MISSED` and by how
//! much.
//!
//! - **fleet**: the console's fleet query — 50 hosts × 8 GPUs, each GPU with its latest
//!   sample — with 8 concurrent clients, at 60 and at 6,000 samples per GPU (history seeded
//!   with plain SQL), the throughput ratio of the two, and its SQL statements per request at
//!   two page sizes and both history sizes;
//! - **lookup**: one host by id with its GPUs, one client at a time (latency);
//! - **ingest**: GPU samples per second stored through `reportMetrics`, 50 agents pushing
//!   400-sample batches back to back;
//! - **fanout**: `gpuMetrics(hostId)` subscribers spread over 125 hosts × 8 GPUs, 20 per
//!   socket, while the hosts' agents push 1,000 samples/s in all: deliveries received,
//!   push-to-delivery latency, pushes' own latency, and the server's idle memory per
//!   subscription (the RSS the second half of the subscriptions adds). This part runs the release server binary (`target/release/remotegpu`,
//!   built by `cargo build --release`) as a child process on a fresh database, so that its
//!   RSS is the server's alone.
//!
//! ```sh
//! cargo build --release && cargo run --release --example bench                        # embedded SQLite
//! cargo run --release --example bench -- postgres://postgres@127.0.0.1:5432/postgres  # fresh databases there
//! cargo run --release --example bench -- --subscribers 2000 --seconds 2               # a quick run
//! ```
//!
//! Options: `--subscribers N` (10000), `--per-socket N` (20), `--rate N` (GPU samples/s
//! pushed during fan-out, 1000), `--history N` (samples per GPU for the second fleet line,
//! 6000), `--seconds N` (length of each timed phase, 5; ingestion and fan-out run twice as
//! long), `--batch N` (ingest batch size, 400), `--only fleet,lookup,ingest,fanout`,
//! `--server PATH` (the server binary for fan-out). The databases it creates are dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use remotegpu::config::{BootstrapAdmin, Secret, Settings};
use remotegpu::startup::Application;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend};

/// The server binary's allocator, for the server this bench runs in-process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const HOSTS: usize = 50;
const GPUS: usize = 8;
const FANOUT_HOSTS: usize = 125;
const FLEET: &str = "query($n: Int!) { hosts(first: $n) { nodes { id name gpus { gpuIndex name latestMetric { utilizationPercent temperature memoryUsed } } } } }";
const LOOKUP: &str = "query($id: ID!) { host(id: $id) { id name gpus { uuid } } }";
const REPORT: &str =
    "mutation($input: AgentReportInput!) { agentReport(input: $input) { hostId } }";
const PUSH: &str =
    "mutation($batch: MetricBatchInput!) { reportMetrics(batch: $batch) { accepted } }";
const SUBSCRIBE: &str =
    "subscription($h: ID!) { gpuMetrics(hostId: $h) { gpuId utilizationPercent temperature memoryUsed collectedAt } }";
const ADMIN: &str = "bench";
const ADMIN_PASSWORD: &str = "bench password";
const JWT_SECRET: &str = "bench-secret-that-is-at-least-32-bytes";

struct Options {
    postgres: Option<String>,
    subscribers: usize,
    per_socket: usize,
    rate: usize,
    history: usize,
    seconds: u64,
    batch: usize,
    only: Option<Vec<String>>,
    server: Option<std::path::PathBuf>,
}

impl Options {
    fn parse() -> Self {
        let mut o = Options {
            postgres: None,
            subscribers: 10_000,
            per_socket: 20,
            rate: 1000,
            history: 6000,
            seconds: 5,
            batch: 400,
            only: None,
            server: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
            let number = |v: String| -> usize { v.parse().unwrap_or_else(|_| panic!("{v}")) };
            match arg.as_str() {
                "--subscribers" => o.subscribers = number(value()),
                "--per-socket" => o.per_socket = number(value()).max(1),
                "--rate" => o.rate = number(value()).max(1),
                "--history" => o.history = number(value()).max(61),
                "--seconds" => o.seconds = number(value()).max(1) as u64,
                "--batch" => o.batch = number(value()).clamp(GPUS, 5000),
                "--only" => o.only = Some(value().split(',').map(str::to_owned).collect()),
                "--server" => o.server = Some(value().into()),
                url if url.starts_with("postgres") => o.postgres = Some(url.to_owned()),
                other => panic!("unknown argument {other}"),
            }
        }
        o
    }

    fn runs(&self, part: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|p| p == part))
    }
}

/// A fresh database: a new PostgreSQL database (dropped by `drop_all`) or a SQLite file.
struct Databases {
    admin: Option<(DatabaseConnection, String)>,
    created: Vec<String>,
    dir: tempfile::TempDir,
}

impl Databases {
    async fn new(postgres: Option<&str>) -> Self {
        let admin = match postgres {
            Some(url) => Some((Database::connect(url).await.unwrap(), url.to_owned())),
            None => None,
        };
        Databases {
            admin,
            created: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn create(&mut self, label: &str) -> String {
        match &self.admin {
            Some((admin, url)) => {
                let name = format!("remotegpu_bench_{label}_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap();
                self.created.push(name.clone());
                let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(url);
                format!("{base}/{name}")
            }
            None => format!(
                "sqlite://{}?mode=rwc",
                self.dir.path().join(format!("{label}.db")).display()
            ),
        }
    }

    async fn drop_all(&self) {
        if let Some((admin, _)) = &self.admin {
            for name in &self.created {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            }
        }
    }
}

/// A GraphQL client of one server.
#[derive(Clone)]
struct Client {
    url: String,
    http: reqwest::Client,
}

impl Client {
    fn new(url: String) -> Self {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(256)
            .build()
            .unwrap();
        Client { url, http }
    }

    async fn post(&self, token: &str, body: String) -> String {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.url))
            .header("content-type", "application/json")
            .body(body);
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let text = response.text().await.expect("body");
        assert!(!text.contains("\"errors\""), "{text}");
        text
    }

    async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let data: Value = serde_json::from_str(&self.post(token, body).await).unwrap();
        data["data"].clone()
    }

    async fn login(&self) -> String {
        let data = self
            .gql(
                "",
                "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { accessToken } }",
                json!({ "l": ADMIN, "p": ADMIN_PASSWORD }),
            )
            .await;
        data["login"]["accessToken"].as_str().unwrap().to_owned()
    }

    /// Creates `n` hosts whose agents describe 8 GPUs each; their ids and agent tokens.
    async fn hosts(&self, admin: &str, n: usize) -> Vec<(String, String)> {
        let mut hosts = Vec::with_capacity(n);
        for h in 0..n {
            let data = self
                .gql(
                    admin,
                    "mutation($i: CreateHostInput!) { createHost(input: $i) { host { id } agentToken } }",
                    json!({ "i": { "name": format!("bench-{h:03}"), "ipAddress": "10.1.0.1", "osType": "LINUX",
                                   "deploymentMode": "TRADITIONAL", "totalCpu": 64, "totalMemory": "549755813888" } }),
                )
                .await;
            let id = data["createHost"]["host"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let token = data["createHost"]["agentToken"]
                .as_str()
                .unwrap()
                .to_owned();
            let gpus: Vec<Value> = (0..GPUS)
                .map(|g| json!({ "index": g, "uuid": uuid_of(h, g), "name": "NVIDIA H100 80GB HBM3", "memoryTotal": "85520809984" }))
                .collect();
            self.gql(&token, REPORT, json!({ "input": { "ipAddress": "10.1.0.1", "osType": "LINUX", "totalCpu": 64, "totalMemory": "549755813888", "gpus": gpus } }))
                .await;
            hosts.push((id, token));
        }
        hosts
    }
}

fn uuid_of(host: usize, gpu: usize) -> String {
    format!("GPU-bench-{host}-{gpu}")
}

/// A `reportMetrics` request body: `rounds` samples of each of the host's 8 GPUs, stamped
/// from `start` on, 1 ms apart (written directly: the bench shares the machine's CPUs).
fn push_body(host: usize, rounds: usize, start: chrono::DateTime<chrono::Utc>) -> String {
    let mut samples = String::with_capacity(rounds * GPUS * 160);
    for r in 0..rounds {
        let at = (start + chrono::Duration::milliseconds(r as i64))
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        for g in 0..GPUS {
            if !samples.is_empty() {
                samples.push(',');
            }
            let _ = write!(
                samples,
                r#"{{"gpuUuid":"{}","collectedAt":"{at}","utilizationPercent":{}.5,"memoryUsed":"1073741824","temperature":60.0,"powerDraw":300.0}}"#,
                uuid_of(host, g),
                (r + g) % 100
            );
        }
    }
    format!(
        r#"{{"query":{},"variables":{{"batch":{{"batchId":"{}","droppedSamples":0,"hostSamples":[],"gpuSamples":[{samples}]}}}}}}"#,
        Value::from(PUSH),
        uuid::Uuid::new_v4()
    )
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// `ok` or `MISSED (...)`.
fn verdict(ok: bool, how: impl FnOnce() -> String) -> String {
    if ok {
        "ok".to_owned()
    } else {
        format!("MISSED ({})", how())
    }
}

/// Sends `query` from `clients` concurrent clients for `run_for`: requests/s and latencies.
async fn load(
    client: &Client,
    token: &str,
    body: String,
    clients: usize,
    run_for: Duration,
) -> (f64, Vec<Duration>) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, token, body) = (client.clone(), token.to_owned(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < run_for {
                let t = Instant::now();
                client.post(&token, body.clone()).await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    latencies.sort();
    (
        latencies.len() as f64 / started.elapsed().as_secs_f64(),
        latencies,
    )
}

/// Adds history so that every GPU has `per_gpu` samples, older than the ones it has, with
/// one statement of plain SQL (not the API: millions of rows).
async fn seed_history(db: &DatabaseConnection, from: usize, per_gpu: usize) {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => format!(
            "INSERT INTO gpu_metrics (gpu_id, host_id, utilization_percent, memory_used, temperature, power_draw, collected_at) \
             SELECT g.id, g.host_id, 40 + n % 50, 1073741824, 60, 300, \
                    (now() AT TIME ZONE 'utc') - make_interval(secs => 600 + n * 10) \
             FROM gpus g, generate_series({from}, {}) AS n",
            per_gpu - 1
        ),
        _ => format!(
            "WITH RECURSIVE s(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM s WHERE n < {}) \
             INSERT INTO gpu_metrics (gpu_id, host_id, utilization_percent, memory_used, temperature, power_draw, collected_at) \
             SELECT g.id, g.host_id, 40 + n % 50, 1073741824, 60, 300, \
                    strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (600 + n * 10) || ' seconds') \
             FROM gpus g, s",
            per_gpu - 1
        ),
    };
    db.execute_unprepared(&sql).await.unwrap();
    let analyze = match db.get_database_backend() {
        DbBackend::Postgres => "ANALYZE gpu_metrics",
        _ => "ANALYZE",
    };
    db.execute_unprepared(analyze).await.unwrap();
}

struct Fleet {
    rps: f64,
    p99: f64,
}

#[tokio::main]
async fn main() {
    let options = Options::parse();
    let backend = if options.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let mut databases = Databases::new(options.postgres.as_deref()).await;
    let secs = Duration::from_secs(options.seconds);

    if options.runs("fleet") || options.runs("lookup") || options.runs("ingest") {
        let url = databases.create("main").await;
        let mut settings = Settings::load(None).expect("settings");
        settings.server.port = 0;
        settings.database.url = Some(Secret::new(url));
        settings.database.max_connections = 16;
        settings.data_dir = databases.dir.path().to_path_buf();
        settings.jobs.enabled = false;
        settings.auth.jwt_secret = Some(Secret::new(JWT_SECRET));
        settings.auth.bootstrap_admin = Some(BootstrapAdmin {
            username: ADMIN.into(),
            email: "bench@example.com".into(),
            password: Secret::new(ADMIN_PASSWORD),
        });
        settings.limits.rate_per_second = 1e9;
        settings.limits.rate_burst = 1e9;
        settings.log.filter = "warn".into();
        let app = Application::build(settings).await.expect("server starts");
        let statements = app.state().db_metrics.clone();
        let db = app.state().db.clone();
        let client = Client::new(format!("http://127.0.0.1:{}", app.port()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let admin = client.login().await;
        let hosts = client.hosts(&admin, HOSTS).await;
        seed_history(&db, 0, 60).await;
        let fleet_body = json!({ "query": FLEET, "variables": { "n": HOSTS } }).to_string();

        let fleet_statements = |label: &'static str| {
            let (client, admin, statements) = (client.clone(), admin.clone(), statements.clone());
            async move {
                let mut per = Vec::new();
                for n in [10, HOSTS] {
                    let before = statements.statements();
                    client.gql(&admin, FLEET, json!({ "n": n })).await;
                    per.push(statements.statements() - before);
                }
                println!(
                    "fleet: statements per request at {label}: {} (first: 10), {} (first: {HOSTS})   [budget: independent of page size] {}",
                    per[0],
                    per[1],
                    verdict(per[0] == per[1], || format!("{} more at first: {HOSTS}", per[1] as i64 - per[0] as i64))
                );
                per[1]
            }
        };
        let mut fleets = Vec::new();
        if options.runs("fleet") {
            let short = fleet_statements("60 samples per GPU").await;
            let (rps, latencies) = load(&client, &admin, fleet_body.clone(), 8, secs).await;
            println!(
                "fleet: 60 samples per GPU: {rps:.0} requests/s, p50 {:.1} ms, p99 {:.1} ms ({HOSTS} hosts x {GPUS} GPUs, 8 clients, {} s)",
                percentile(&latencies, 0.5),
                percentile(&latencies, 0.99),
                options.seconds
            );
            fleets.push((
                short,
                Fleet {
                    rps,
                    p99: percentile(&latencies, 0.99),
                },
            ));
        }

        if options.runs("lookup") {
            let body = json!({ "query": LOOKUP, "variables": { "id": hosts[0].0 } }).to_string();
            let (rps, latencies) = load(&client, &admin, body, 1, secs).await;
            let p50 = percentile(&latencies, 0.5);
            println!(
                "lookup: one host with its GPUs, 1 client: p50 {p50:.2} ms, p99 {:.2} ms, {rps:.0} requests/s   [budget: p50 about 1 ms] {}",
                percentile(&latencies, 0.99),
                verdict(p50 <= 1.5, || format!("{:.1}x", p50 / 1.0))
            );
        }

        if options.runs("fleet") {
            let started = Instant::now();
            seed_history(&db, 60, options.history).await;
            let seeded = started.elapsed().as_secs_f64();
            let label = format!("{} samples per GPU", options.history);
            let long = fleet_statements("the longer history").await;
            let (rps, latencies) = load(&client, &admin, fleet_body.clone(), 8, secs).await;
            let p99 = percentile(&latencies, 0.99);
            println!(
                "fleet: {label}: {rps:.0} requests/s, p50 {:.1} ms, p99 {p99:.1} ms (history seeded in {seeded:.0} s)",
                percentile(&latencies, 0.5),
            );
            let (short_statements, short) = &fleets[0];
            let ratio = rps / short.rps;
            println!(
                "fleet: throughput at {} / at 60 samples per GPU: {ratio:.2} (p99 {:.1} vs {:.1} ms), statements {long} vs {short_statements}   [budget: within 20%, same statements] {}",
                options.history,
                p99,
                short.p99,
                verdict((0.8..=1.25).contains(&ratio) && long == *short_statements, || format!(
                    "{:.0}% {}",
                    (ratio - 1.0).abs() * 100.0,
                    if ratio < 1.0 { "slower" } else { "faster" }
                ))
            );
        }

        if options.runs("ingest") {
            let run_for = secs * 2;
            let rounds = options.batch / GPUS;
            let started = Instant::now();
            let mut pushers = Vec::new();
            for (h, (_, token)) in hosts.into_iter().enumerate() {
                let client = client.clone();
                pushers.push(tokio::spawn(async move {
                    let mut stored = 0u64;
                    let mut latencies = Vec::new();
                    let mut clock = chrono::Utc::now() - chrono::Duration::minutes(5);
                    while started.elapsed() < run_for {
                        let body = push_body(h, rounds, clock);
                        let t = Instant::now();
                        let answer = client.post(&token, body).await;
                        latencies.push(t.elapsed());
                        let data: Value = serde_json::from_str(&answer).unwrap();
                        stored += data["data"]["reportMetrics"]["accepted"]
                            .as_u64()
                            .unwrap_or(0);
                        clock += chrono::Duration::milliseconds(rounds as i64);
                    }
                    (stored, latencies)
                }));
            }
            let mut stored = 0;
            let mut latencies = Vec::new();
            for p in pushers {
                let (s, l) = p.await.unwrap();
                stored += s;
                latencies.extend(l);
            }
            latencies.sort();
            let rate = stored as f64 / started.elapsed().as_secs_f64();
            let budget = if options.postgres.is_some() {
                verdict(rate >= 50_000.0, || {
                    format!("{:.0}% of 50000", rate / 50_000.0 * 100.0)
                })
            } else {
                "(the budget is PostgreSQL's)".to_owned()
            };
            println!(
                "ingest: {rate:.0} GPU samples/s on {backend}, push p50 {:.0} ms, p99 {:.0} ms ({HOSTS} agents, {} samples per batch, {} s)   [budget: >= 50000 on PostgreSQL] {budget}",
                percentile(&latencies, 0.5),
                percentile(&latencies, 0.99),
                rounds * GPUS,
                run_for.as_secs()
            );
        }
        let _ = stop.send(());
        let _ = server.await;
    }

    if options.runs("fanout") {
        let url = databases.create("fanout").await;
        fanout(&options, &url, databases.dir.path()).await;
    }
    databases.drop_all().await;
}

/// A child process running the release server binary.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Child {
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

fn server_binary(options: &Options) -> std::path::PathBuf {
    if let Some(path) = &options.server {
        return path.clone();
    }
    // target/release/examples/bench -> target/release/remotegpu
    let exe = std::env::current_exe().unwrap();
    let release = exe.parent().and_then(|p| p.parent()).unwrap();
    release.join("remotegpu")
}

/// Subscriptions open as the clients count them: the bus's, plus the subscribers that
/// joined a shared stream beyond its first (`/metrics`).
/// Waits until the server counts `expected` open subscriptions, then a second more for
/// the memory they took to settle.
async fn wait_for_open(client: &Client, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while open_subscriptions(client).await < expected {
        assert!(
            Instant::now() < deadline,
            "subscriptions did not open ({} of {expected})",
            open_subscriptions(client).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn open_subscriptions(client: &Client) -> u64 {
    let text = client
        .http
        .get(format!("{}/metrics", client.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauge = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (gauge("remotegpu_subscriptions") + gauge("remotegpu_shared_subscribers"))
        .saturating_sub(gauge("remotegpu_shared_streams"))
}

/// What the subscribers received: deliveries and their push-to-delivery latencies (µs).
#[derive(Default)]
struct Received {
    count: AtomicU64,
    latencies: Mutex<Vec<u32>>,
    /// Only deliveries of samples stamped after this (µs since the epoch) are timed.
    since_micros: AtomicU64,
}

async fn fanout(options: &Options, url: &str, dir: &std::path::Path) {
    let binary = server_binary(options);
    if !binary.exists() {
        println!(
            "fanout: skipped: no server binary at {} (cargo build --release)",
            binary.display()
        );
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data_dir = dir.join("fanout-data");
    let sockets = options.subscribers.div_ceil(options.per_socket);
    let child = Child(
        std::process::Command::new(&binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("REMOTEGPU_DATABASE__URL", url)
            .env("REMOTEGPU_DATABASE__MAX_CONNECTIONS", "16")
            .env("REMOTEGPU_SERVER__PORT", port.to_string())
            .env("REMOTEGPU_DATA_DIR", &data_dir)
            .env("REMOTEGPU_AUTH__JWT_SECRET", JWT_SECRET)
            .env("REMOTEGPU_AUTH__BOOTSTRAP_ADMIN__USERNAME", ADMIN)
            .env(
                "REMOTEGPU_AUTH__BOOTSTRAP_ADMIN__EMAIL",
                "bench@example.com",
            )
            .env("REMOTEGPU_AUTH__BOOTSTRAP_ADMIN__PASSWORD", ADMIN_PASSWORD)
            .env("REMOTEGPU_LIMITS__RATE_PER_SECOND", "1000000000")
            .env("REMOTEGPU_LIMITS__RATE_BURST", "1000000000")
            .env(
                "REMOTEGPU_WEBSOCKET__MAX_CONNECTIONS_PER_ADDRESS",
                (sockets + 16).to_string(),
            )
            .env(
                "REMOTEGPU_WEBSOCKET__MAX_SUBSCRIPTIONS",
                options.per_socket.max(100).to_string(),
            )
            .env("REMOTEGPU_JOBS__ENABLED", "false")
            .env("REMOTEGPU_LOG__FILTER", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("server binary starts"),
    );
    let client = Client::new(format!("http://127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let up = client
            .http
            .get(format!("{}/healthz", client.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admin = client.login().await;
    let hosts = client.hosts(&admin, FANOUT_HOSTS).await;

    // Subscribers: subscriber i follows host i % 125; `per_socket` of them per socket.
    let received = Arc::new(Received::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut per_host = vec![0u64; FANOUT_HOSTS];
    let mut readers = Vec::new();
    let mut next = 0usize;
    // Memory is measured at the margin: the RSS with the first half of the sockets and
    // their subscriptions open, then with all. What start-up, sign-in (Argon2's 19 MiB) and
    // the allocator's caches left behind is in both readings, and cancels out.
    let mut half = (0, 0);
    for s in 0..sockets {
        if s == sockets / 2 {
            wait_for_open(&client, next as u64).await;
            half = (next, child.rss_kib());
        }
        let mut request = format!("ws://127.0.0.1:{port}/graphql/ws")
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(0);
        let (mut socket, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                .await
                .expect("websocket");
        let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {admin}") } });
        socket.send(Message::text(init.to_string())).await.unwrap();
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(t))) if t.contains("connection_ack") => break,
                Some(Ok(_)) => {}
                other => panic!("no connection_ack: {other:?}"),
            }
        }
        for _ in 0..options.per_socket {
            if next == options.subscribers {
                break;
            }
            let host = next % FANOUT_HOSTS;
            per_host[host] += 1;
            let message = json!({ "id": format!("s{next}"), "type": "subscribe",
                "payload": { "query": SUBSCRIBE, "variables": { "h": hosts[host].0 } } });
            socket
                .send(Message::text(message.to_string()))
                .await
                .unwrap();
            next += 1;
        }
        let received = received.clone();
        let mut stop = stop_rx.clone();
        readers.push(tokio::spawn(async move {
            let mut local = Vec::new();
            loop {
                let message = tokio::select! {
                    m = socket.next() => m,
                    _ = stop.changed() => break,
                };
                let Some(Ok(message)) = message else { break };
                let Message::Text(text) = message else {
                    continue;
                };
                if text.contains("\"ping\"") {
                    let _ = socket.send(Message::text(r#"{"type":"pong"}"#)).await;
                    continue;
                }
                let Some(at) = text.split("\"collectedAt\":\"").nth(1) else {
                    continue;
                };
                let now = chrono::Utc::now();
                received.count.fetch_add(1, Ordering::Relaxed);
                let Ok(at) = chrono::DateTime::parse_from_rfc3339(&at[..at.find('"').unwrap_or(0)])
                else {
                    continue;
                };
                let at_micros = at.timestamp_micros() as u64;
                if at_micros >= received.since_micros.load(Ordering::Relaxed) {
                    let micros = (now.timestamp_micros() - at.timestamp_micros()).max(0);
                    local.push(u32::try_from(micros).unwrap_or(u32::MAX));
                    if local.len() >= 4096 {
                        received.latencies.lock().unwrap().append(&mut local);
                    }
                }
            }
            received.latencies.lock().unwrap().append(&mut local);
        }));
    }
    wait_for_open(&client, options.subscribers as u64).await;
    let (half_subscriptions, idle_before) = half;
    let idle_after = child.rss_kib();
    let measured = options.subscribers - half_subscriptions;
    let per_subscription = (idle_after.saturating_sub(idle_before)) as f64 / measured.max(1) as f64;

    // Pushers: every host's agent pushes one sample per GPU per round, the rounds of all
    // hosts spread evenly so that `rate` samples/s arrive in all.
    let run_for = Duration::from_secs(options.seconds * 2);
    let period = Duration::from_secs_f64((FANOUT_HOSTS * GPUS) as f64 / options.rate as f64);
    let started = Instant::now();
    received.since_micros.store(
        chrono::Utc::now().timestamp_micros() as u64,
        Ordering::Relaxed,
    );
    let mut pushers = Vec::new();
    for (h, (_, token)) in hosts.iter().cloned().enumerate() {
        let client = client.clone();
        let offset = period.mul_f64(h as f64 / FANOUT_HOSTS as f64);
        pushers.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut pushed, mut latencies) = (0u64, Vec::new());
            while started.elapsed() < run_for {
                ticks.tick().await;
                let body = push_body(h, 1, chrono::Utc::now());
                let t = Instant::now();
                client.post(&token, body).await;
                latencies.push(t.elapsed());
                pushed += GPUS as u64;
            }
            (h, pushed, latencies)
        }));
    }
    let mut expected = 0u64;
    let mut pushed_total = 0u64;
    let mut push_latencies = Vec::new();
    for p in pushers {
        let (h, pushed, latencies) = p.await.unwrap();
        expected += pushed * per_host[h];
        pushed_total += pushed;
        push_latencies.extend(latencies);
    }
    let pushing = started.elapsed().as_secs_f64();
    let drain = Instant::now() + Duration::from_secs(10);
    while received.count.load(Ordering::Relaxed) < expected && Instant::now() < drain {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered = received.count.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);
    for r in readers {
        let _ = r.await;
    }
    let mut latencies = std::mem::take(&mut *received.latencies.lock().unwrap());
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        latencies[((latencies.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
    };
    push_latencies.sort();
    let delivered_pct = delivered as f64 / expected.max(1) as f64 * 100.0;
    let (p50, p99) = (pct(0.5), pct(0.99));
    println!(
        "fanout: {} subscribers ({} per socket, {FANOUT_HOSTS} hosts x {GPUS} GPUs), {:.0} samples/s pushed for {pushing:.0} s: delivered {delivered_pct:.1}% of {expected}, push-to-delivery p50 {p50:.1} ms, p99 {p99:.1} ms; pushes p99 {:.1} ms   [budget: 100% delivered, p99 < 100 ms] {}",
        options.subscribers,
        options.per_socket,
        pushed_total as f64 / pushing,
        percentile(&push_latencies, 0.99),
        verdict(delivered >= expected && p99 < 100.0, || {
            let mut why = Vec::new();
            if delivered < expected {
                why.push(format!("{} deliveries missing", expected - delivered));
            }
            if p99 >= 100.0 {
                why.push(format!("p99 {:.1}x the budget", p99 / 100.0));
            }
            why.join(", ")
        })
    );
    println!(
        "fanout: idle server memory per subscription: {per_subscription:.1} KiB (RSS {idle_before} -> {idle_after} KiB from {half_subscriptions} to {} subscriptions, {sockets} sockets in all)   [budget: < 20 KiB] {}",
        options.subscribers,
        verdict(per_subscription < 20.0, || format!("{:.1}x", per_subscription / 20.0))
    );
    drop(child);
}
