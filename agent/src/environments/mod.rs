//! Environments on this host: the server's orders carried out through the container runtime
//! ([`crate::runtime`]), and the reconcile on every connect.
//!
//! Orders arrive on the command WebSocket (operation `environments`, the server's
//! `agentEnvironmentOrders`), at least once. Each carries the environment's whole container
//! and a `generation` that grows with every order of that environment; the agent applies a
//! generation once, never one older than the newest it finished, one order at a time. The
//! newest finished generation per environment is kept in `<data-dir>/environments.json`,
//! written after the server took the report, so an agent killed mid-order carries that order
//! out again on restart: every runtime step is idempotent (creating an existing container,
//! starting a running one), so the container ends as the order says, once.
//!
//! Every sampling interval the running containers' use (cpu as a percent of the cores given,
//! memory as a percent of the limit, the average utilization of their GPUs from the GPU
//! collector, network counters) goes to the server as a `reportMetrics` batch of
//! `environmentSamples`; a batch the server cannot take is dropped (host and GPU samples are
//! the buffered ones).
//!
//! Only containers of environments this agent has received an order for are sampled: a
//! container that merely carries the platform's label (left by an earlier installation, or
//! made by hand) is never measured or reported as an environment's use.
//!
//! Each time the channel (re)connects, and every `--reconcile-interval` seconds, the agent
//! sends every platform-labelled container it has (`reconcileEnvironments`): the server
//! fails environments whose container vanished, tells the agent which containers to stop,
//! and which must go (`remove`: environments it knows as failed or deleted; `unknown`: ones
//! it does not know at all). A container listed for removal is removed once it has been
//! listed, reconcile after reconcile, for `--orphan-grace-secs` (default 300; a listing
//! that stops resets the clock), each removal logged with the environment id. The next
//! reconcile no longer lists it, which is how the server learns it is gone and frees its
//! GPUs.
//!
//! **Mounts** name storage keys, resolved beneath the storage root by the runtime
//! ([`crate::storage`]); a refused key fails the environment and nothing is mounted. When a
//! `DELETE` order has removed the container, every read-write mount of the order is measured
//! (bytes and number of regular files beneath its directory, symlinks not followed) and sent
//! with the `DELETED` report as `storage`, so the platform can account for what stays.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::client::{CallError, Client};
use crate::commands::{is_not_found, stopped};
use crate::runtime::{ContainerRuntime, ContainerSpec, ContainerState, GpuMode};
use crate::storage::StorageRoot;

/// Operation id of the order subscription on the command WebSocket.
pub const OPERATION_ID: &str = "environments";
/// What the agent subscribes to.
pub const SUBSCRIPTION: &str = "subscription { agentEnvironmentOrders { environmentId generation action image cpu memory shmSize network gpuUuids ports { service internalPort externalPort } envVars { name value } mounts { key target readOnly } } }";
const REPORT: &str = "mutation($e: ID!, $s: EnvironmentStatus!, $r: String, $st: [StorageUsageInput!]) { reportEnvironmentStatus(environmentId: $e, status: $s, reason: $r, storage: $st) { status } }";
const SAMPLES: &str = "mutation($b: MetricBatchInput!) { reportMetrics(batch: $b) { accepted } }";
const RECONCILE: &str = "mutation($c: [ContainerStateInput!]!) { reconcileEnvironments(containers: $c) { unknown failed ordered stop remove } }";
/// The newest finished generation per environment.
pub const APPLIED: &str = "environments.json";

mod order;
mod orphans;

pub use order::{parse_order, Action, Order};
use orphans::Orphans;

/// What the WebSocket hands to this side.
#[derive(Debug)]
pub enum Feed {
    /// The channel (re)connected: time to reconcile.
    Connected,
    /// An order, as the server sent it.
    Order(Value),
}

/// The newest utilization of each GPU (by uuid), written by the metrics loop.
pub type GpuUtilization = Arc<std::sync::Mutex<HashMap<String, f64>>>;

#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// How often the containers' use is sampled.
    pub sample_interval: Duration,
    pub gpu_mode: GpuMode,
    pub reconcile_interval: Duration,
    pub stop_grace: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Where mounts' storage keys live, for measuring them after a `DELETE`.
    pub storage: StorageRoot,
    /// How long the server must list a container for removal before it is removed.
    pub orphan_grace: Duration,
}

/// The `reportEnvironmentStatus` request.
fn report_body(env: &str, status: &str, reason: Option<String>, storage: Vec<Value>) -> Value {
    let storage = (!storage.is_empty()).then_some(storage);
    json!({ "query": REPORT, "variables": { "e": env, "s": status, "r": reason, "st": storage } })
}

fn vanished() -> crate::runtime::RuntimeError {
    crate::runtime::RuntimeError::new(
        crate::runtime::RuntimeErrorKind::NotFound,
        "the environment's container disappeared from its host",
    )
}

/// The newest finished generation per environment, on disk.
struct Applied {
    path: PathBuf,
    done: HashMap<String, i64>,
}

impl Applied {
    fn load(path: PathBuf) -> Self {
        let done = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self { path, done }
    }

    fn is_new(&self, env: &str, generation: i64) -> bool {
        self.done.get(env).is_none_or(|g| generation > *g)
    }

    fn record(&mut self, env: &str, generation: i64) {
        self.done.insert(env.to_owned(), generation);
        let tmp = self.path.with_extension("json.tmp");
        let written = serde_json::to_vec(&self.done)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            tracing::error!(error = %e, file = %self.path.display(), "cannot record an applied order");
        }
    }
}

/// What one `DELETE` left in a read-write mount, as `StorageUsageInput`.
fn storage_usage(key: &str, usage: crate::storage::Usage) -> Value {
    json!({
        "key": key,
        "bytes": usage.bytes.to_string(),
        "files": i32::try_from(usage.files).unwrap_or(i32::MAX),
    })
}

/// Measures the order's read-write mounts (each key once); a key that cannot be measured is
/// logged and left out.
async fn measure_mounts(storage: &StorageRoot, spec: &ContainerSpec) -> Vec<Value> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for mount in spec.mounts.iter().filter(|m| !m.read_only) {
        if !seen.insert(mount.key.clone()) {
            continue;
        }
        let (root, key) = (storage.clone(), mount.key.clone());
        match tokio::task::spawn_blocking(move || root.measure_key(&key)).await {
            Ok(Ok(usage)) => out.push(storage_usage(&mount.key, usage)),
            Ok(Err(e)) => {
                tracing::warn!(environment = spec.environment_id, error = %e, "cannot measure a mount's storage; not reported")
            }
            Err(e) => {
                tracing::warn!(environment = spec.environment_id, error = %e, "measuring a mount's storage failed; not reported")
            }
        }
    }
    out
}

struct Service {
    runtime: Arc<dyn ContainerRuntime>,
    client: Client,
    settings: Settings,
    applied: Applied,
    stop: watch::Receiver<bool>,
    gpus: GpuUtilization,
    /// Cores given to each environment, from its orders.
    cores: HashMap<String, u32>,
    orphans: Orphans,
}

/// Runs the environment side until `stop` turns true.
pub async fn serve(
    runtime: Arc<dyn ContainerRuntime>,
    client: Client,
    settings: Settings,
    mut feed: mpsc::Receiver<Feed>,
    gpus: GpuUtilization,
    stop: watch::Receiver<bool>,
) {
    let applied = Applied::load(settings.data_dir.join(APPLIED));
    let orphan_grace = settings.orphan_grace;
    let mut service = Service {
        runtime,
        client,
        settings,
        applied,
        stop: stop.clone(),
        gpus,
        cores: HashMap::new(),
        orphans: Orphans::new(orphan_grace),
    };
    let mut tick = tokio::time::interval(service.settings.reconcile_interval);
    tick.tick().await;
    let mut sample = tokio::time::interval(service.settings.sample_interval);
    sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sample.tick().await;
    let mut stop = stop;
    loop {
        tokio::select! {
            item = feed.recv() => match item {
                None => return,
                Some(Feed::Connected) => service.reconcile().await,
                Some(Feed::Order(v)) => match parse_order(&v, service.settings.gpu_mode) {
                    Ok(order) => service.apply(order).await,
                    Err(e) => tracing::error!(error = e, "cannot understand an environment order; ignored"),
                },
            },
            _ = tick.tick() => service.reconcile().await,
            _ = sample.tick() => service.sample().await,
            () = stopped(&mut stop) => return,
        }
    }
}

impl Service {
    async fn apply(&mut self, order: Order) {
        let env = order.spec.environment_id.clone();
        if !self.applied.is_new(&env, order.generation) {
            tracing::debug!(
                environment = env,
                generation = order.generation,
                "order already applied"
            );
            return;
        }
        tracing::info!(environment = env, generation = order.generation, action = ?order.action, "applying environment order");
        self.cores.insert(env.clone(), order.spec.cpu_cores.max(1));
        let grace = self.settings.stop_grace;
        let rt = &self.runtime;
        let mut storage = Vec::new();
        // Only CREATE makes a container: a START or RESTART that finds none fails the
        // environment (its container, with its disk, is gone), never makes a new one.
        let outcome = match order.action {
            Action::Create => match rt.create(&order.spec).await {
                Ok(_) => rt.start(&env).await.map(|()| "RUNNING"),
                Err(e) => Err(e),
            },
            Action::Start => match rt.inspect(&env).await {
                Ok(info) if info.state == ContainerState::Missing => Err(vanished()),
                Ok(_) => rt.start(&env).await.map(|()| "RUNNING"),
                Err(e) => Err(e),
            },
            Action::Restart => match rt.inspect(&env).await {
                Ok(info) if info.state == ContainerState::Missing => Err(vanished()),
                Ok(_) => rt.restart(&env, grace).await.map(|()| "RUNNING"),
                Err(e) => Err(e),
            },
            Action::Stop => match rt.stop(&env, grace).await {
                Err(e) if e.kind == crate::runtime::RuntimeErrorKind::NotFound => Ok("STOPPED"),
                other => other.map(|()| "STOPPED"),
            },
            Action::Delete => match rt.remove(&env).await {
                Ok(()) => {
                    storage = measure_mounts(&self.settings.storage, &order.spec).await;
                    Ok("DELETED")
                }
                Err(e) => Err(e),
            },
        };
        let (status, reason) = match outcome {
            Ok(status) => (status, None),
            Err(e) => {
                tracing::warn!(environment = env, error = %e, "environment order failed");
                ("FAILED", Some(e.message))
            }
        };
        if self.report(&env, status, reason, storage).await {
            self.applied.record(&env, order.generation);
        }
    }

    /// Reports until the server takes it; false when the agent is stopping first. `storage`
    /// goes out as `null` when empty.
    async fn report(
        &mut self,
        env: &str,
        status: &str,
        reason: Option<String>,
        storage: Vec<Value>,
    ) -> bool {
        let body = report_body(env, status, reason, storage);
        let mut delay = self.settings.retry_initial;
        loop {
            match self.client.post(body.to_string().into_bytes()).await {
                Ok(_) => return true,
                Err(e) if is_not_found(&e) => return true,
                Err(CallError::Graphql { message, .. }) => {
                    tracing::error!(
                        environment = env,
                        message,
                        "the server refused an environment report"
                    );
                    return true;
                }
                Err(e) => {
                    tracing::warn!(environment = env, error = %e, "cannot report an environment; retrying")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stopped(&mut self.stop) => return false,
            }
            delay = (delay * 2).min(self.settings.retry_max);
        }
    }

    /// Whether this agent received an order for the environment (this run or an earlier
    /// one).
    fn ordered(&self, env: &str) -> bool {
        self.cores.contains_key(env) || self.applied.done.contains_key(env)
    }

    /// Sends one batch with the use of every running container of an environment this agent
    /// received an order for.
    async fn sample(&mut self) {
        let Ok(containers) = self.runtime.list().await else {
            return;
        };
        let mut samples = Vec::new();
        for c in containers
            .iter()
            .filter(|c| c.state == ContainerState::Running && self.ordered(&c.environment_id))
        {
            let Ok(Some(usage)) = self.runtime.usage(&c.environment_id).await else {
                continue;
            };
            let cores = f64::from(self.cores.get(&c.environment_id).copied().unwrap_or(1));
            let gpu = {
                let seen = self
                    .gpus
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let values: Vec<f64> = c.gpus.iter().filter_map(|g| seen.get(g).copied()).collect();
                (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
            };
            let memory = (usage.memory_limit_bytes > 0).then(|| {
                (usage.memory_used_bytes as f64 * 100.0 / usage.memory_limit_bytes as f64)
                    .min(100.0)
            });
            samples.push(json!({
                "environmentId": c.environment_id,
                "collectedAt": crate::model::now_millis().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "cpuUsagePercent": (usage.cpu_percent / cores).clamp(0.0, 100.0),
                "memoryUsagePercent": memory,
                "gpuUsagePercent": gpu,
                "networkRxBytes": usage.network_rx_bytes.max(0).to_string(),
                "networkTxBytes": usage.network_tx_bytes.max(0).to_string(),
            }));
        }
        if samples.is_empty() {
            return;
        }
        let batch = json!({
            "batchId": uuid::Uuid::new_v4().to_string(),
            "droppedSamples": 0,
            "hostSamples": [],
            "gpuSamples": [],
            "environmentSamples": samples,
        });
        let body = json!({ "query": SAMPLES, "variables": { "b": batch } });
        if let Err(e) = self.client.post(body.to_string().into_bytes()).await {
            tracing::warn!(error = %e, "environment samples not delivered; dropped");
        }
    }

    async fn reconcile(&mut self) {
        let containers = match self.runtime.list().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list containers; reconcile skipped");
                return;
            }
        };
        let observed: Vec<Value> = containers
            .iter()
            .filter(|c| c.state != ContainerState::Missing)
            .map(|c| json!({ "environmentId": c.environment_id, "running": c.state == ContainerState::Running }))
            .collect();
        let body = json!({ "query": RECONCILE, "variables": { "c": observed } });
        let data = match self.client.post(body.to_string().into_bytes()).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "reconcile failed; trying again later");
                return;
            }
        };
        let result = &data["reconcileEnvironments"];
        let ids = |field: &str| -> Vec<String> {
            result[field]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        for failed in ids("failed") {
            tracing::warn!(
                environment = failed,
                "environment failed: its container is gone"
            );
        }
        for env in ids("stop") {
            if let Err(e) = self.runtime.stop(&env, self.settings.stop_grace).await {
                tracing::warn!(environment = env, error = %e, "cannot stop a stopped environment's container");
            }
        }
        // Only containers that exist (the server answers about what it was sent).
        let present: HashSet<&str> = containers
            .iter()
            .filter(|c| c.state != ContainerState::Missing)
            .map(|c| c.environment_id.as_str())
            .collect();
        let listed: HashSet<String> = ids("remove")
            .into_iter()
            .chain(ids("unknown"))
            .filter(|env| present.contains(env.as_str()))
            .collect();
        let removed = self
            .orphans
            .remove_due(self.runtime.as_ref(), &listed, Instant::now())
            .await;
        for env in removed {
            self.cores.remove(&env);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::runtime::fake::{example_spec, Call, FakeRuntime, Op};
    use crate::runtime::{ContainerUsage, Mount};
    use std::sync::Mutex;

    /// A GraphQL server that records every request and answers `reconcileEnvironments` with
    /// `reconcile`.
    #[derive(Clone)]
    struct Mock {
        seen: Arc<Mutex<Vec<Value>>>,
        reconcile: Arc<Mutex<Value>>,
    }

    impl Mock {
        async fn start() -> (Self, String) {
            let mock = Mock {
                seen: Arc::default(),
                reconcile: Arc::new(Mutex::new(json!({
                    "unknown": [], "failed": [], "ordered": [], "stop": [], "remove": []
                }))),
            };
            let app = axum::Router::new()
                .route("/graphql", axum::routing::post(answer))
                .with_state(mock.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await });
            (mock, url)
        }

        /// The requests whose query contains `what`.
        fn requests(&self, what: &str) -> Vec<Value> {
            self.seen
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r["query"].as_str().unwrap_or_default().contains(what))
                .cloned()
                .collect()
        }
    }

    async fn answer(
        axum::extract::State(mock): axum::extract::State<Mock>,
        axum::Json(request): axum::Json<Value>,
    ) -> axum::Json<Value> {
        let query = request["query"].as_str().unwrap_or_default().to_string();
        mock.seen.lock().unwrap().push(request);
        axum::Json(if query.contains("reconcileEnvironments") {
            json!({ "data": { "reconcileEnvironments": mock.reconcile.lock().unwrap().clone() } })
        } else if query.contains("reportMetrics") {
            json!({ "data": { "reportMetrics": { "accepted": 1 } } })
        } else {
            json!({ "data": { "reportEnvironmentStatus": { "status": "RUNNING" } } })
        })
    }

    struct Setup {
        service: Service,
        fake: Arc<FakeRuntime>,
        mock: Mock,
        storage: StorageRoot,
        _dir: tempfile::TempDir,
    }

    async fn setup(orphan_grace: Duration) -> Setup {
        let (mock, url) = Mock::start().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("storage")).unwrap();
        let storage = StorageRoot::new(dir.path().join("storage"));
        let settings = Settings {
            data_dir: dir.path().to_path_buf(),
            sample_interval: Duration::from_secs(10),
            gpu_mode: GpuMode::EnvOnly,
            reconcile_interval: Duration::from_secs(60),
            stop_grace: Duration::from_secs(1),
            retry_initial: Duration::from_millis(10),
            retry_max: Duration::from_millis(10),
            storage: storage.clone(),
            orphan_grace,
        };
        let fake = Arc::new(FakeRuntime::new());
        let token = crate::config::Secret::new("t".to_string());
        let client = Client::new(&url, &token, Duration::from_secs(5)).unwrap();
        let (_, stop) = watch::channel(false);
        let service = Service {
            runtime: fake.clone(),
            client,
            applied: Applied::load(dir.path().join(APPLIED)),
            stop,
            gpus: GpuUtilization::default(),
            cores: HashMap::new(),
            orphans: Orphans::new(orphan_grace),
            settings,
        };
        Setup {
            service,
            fake,
            mock,
            storage,
            _dir: dir,
        }
    }

    fn order(id: &str, generation: i64, action: Action) -> Order {
        let mut spec = example_spec(id);
        spec.network = "rgpu-c12".to_string();
        spec.mounts = vec![
            Mount {
                key: "datasets/c12/d1/v1".to_string(),
                target: "/data".to_string(),
                read_only: true,
            },
            Mount {
                key: "home/c12/u1".to_string(),
                target: "/root".to_string(),
                read_only: false,
            },
            // The same directory twice is measured once.
            Mount {
                key: "home/c12/u1".to_string(),
                target: "/home/u1".to_string(),
                read_only: false,
            },
        ];
        Order {
            generation,
            action,
            spec,
        }
    }

    #[test]
    fn the_wire_contract() {
        for field in ["shmSize", "network", "mounts { key target readOnly }"] {
            assert!(SUBSCRIPTION.contains(field), "{field}");
        }
        assert!(RECONCILE.ends_with("{ unknown failed ordered stop remove } }"));
        assert!(REPORT.contains("$st: [StorageUsageInput!]"));
        assert!(REPORT.contains("storage: $st"));
        let body = report_body("e1", "RUNNING", None, Vec::new());
        assert_eq!(
            body["variables"],
            json!({ "e": "e1", "s": "RUNNING", "r": null, "st": null })
        );
        let usage = storage_usage(
            "home/c12/u1",
            crate::storage::Usage {
                bytes: 1 << 40,
                files: 3,
            },
        );
        assert_eq!(
            usage,
            json!({ "key": "home/c12/u1", "bytes": "1099511627776", "files": 3 })
        );
        let body = report_body("e1", "DELETED", None, vec![usage.clone()]);
        assert_eq!(body["variables"]["st"], json!([usage]));
    }

    #[tokio::test]
    async fn a_delete_reports_what_its_read_write_mounts_hold() {
        let mut t = setup(Duration::ZERO).await;
        t.service.apply(order("e1", 1, Action::Create)).await;
        assert_eq!(t.fake.networks(), ["rgpu-c12"]);
        // The customer's files, in the read-write directory and the read-only one.
        let home = t.storage.resolve("home/c12/u1").unwrap();
        std::fs::write(home.join("model.bin"), vec![1u8; 3000]).unwrap();
        std::fs::create_dir(home.join("sub")).unwrap();
        std::fs::write(home.join("sub/notes"), b"12345").unwrap();
        std::os::unix::fs::symlink("/", home.join("root")).unwrap();
        let data = t.storage.resolve("datasets/c12/d1/v1").unwrap();
        std::fs::write(data.join("set"), vec![0u8; 999]).unwrap();

        t.service.apply(order("e1", 2, Action::Delete)).await;
        assert!(t.fake.environment_ids().is_empty());
        assert!(t.fake.networks().is_empty());
        let reports = t.mock.requests("reportEnvironmentStatus");
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0]["variables"]["s"], "RUNNING");
        assert_eq!(reports[0]["variables"]["st"], Value::Null);
        assert_eq!(reports[1]["variables"]["s"], "DELETED");
        assert_eq!(
            reports[1]["variables"]["st"],
            json!([{ "key": "home/c12/u1", "bytes": "3005", "files": 2 }])
        );
        // The data stays where it is.
        assert!(home.join("model.bin").exists());
    }

    #[tokio::test]
    async fn a_refused_mount_or_network_fails_the_environment_with_the_reason() {
        let mut t = setup(Duration::ZERO).await;
        let mut bad_key = order("e1", 1, Action::Create);
        bad_key.spec.mounts[0].key = "../../etc".to_string();
        t.service.apply(bad_key).await;
        let mut bad_network = order("e2", 1, Action::Create);
        bad_network.spec.network = "bridge".to_string();
        t.service.apply(bad_network).await;
        assert!(t.fake.environment_ids().is_empty());
        assert!(t.fake.networks().is_empty());
        let reports = t.mock.requests("reportEnvironmentStatus");
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0]["variables"]["s"], "FAILED");
        assert!(reports[0]["variables"]["r"]
            .as_str()
            .unwrap()
            .starts_with("mount refused: storage key \"../../etc\" refused"));
        assert_eq!(reports[1]["variables"]["s"], "FAILED");
        assert!(reports[1]["variables"]["r"]
            .as_str()
            .unwrap()
            .contains("invalid tenant network \"bridge\""));
    }

    #[tokio::test]
    async fn reconcile_reports_every_container_and_removes_after_the_grace() {
        for (grace, removed) in [(Duration::from_secs(300), false), (Duration::ZERO, true)] {
            let mut t = setup(grace).await;
            t.service.apply(order("mine", 1, Action::Create)).await;
            t.fake.insert(example_spec("deleted"), true);
            t.fake.insert(example_spec("stranger"), false);
            *t.mock.reconcile.lock().unwrap() = json!({
                "unknown": ["stranger"], "failed": [], "ordered": [], "stop": [],
                "remove": ["deleted", "not-here"]
            });
            t.service.reconcile().await;
            let sent = t.mock.requests("reconcileEnvironments");
            assert_eq!(
                sent[0]["variables"]["c"],
                json!([
                    { "environmentId": "deleted", "running": true },
                    { "environmentId": "mine", "running": true },
                    { "environmentId": "stranger", "running": false }
                ])
            );
            let left = t.fake.environment_ids();
            if removed {
                assert_eq!(left, ["mine"]);
                assert_eq!(t.fake.count(Op::Remove), 2);
            } else {
                assert_eq!(left, ["deleted", "mine", "stranger"]);
                assert_eq!(t.fake.count(Op::Remove), 0);
            }
        }
    }

    #[tokio::test]
    async fn only_containers_this_agent_was_ordered_to_run_are_sampled() {
        let mut t = setup(Duration::ZERO).await;
        t.service.apply(order("mine", 1, Action::Create)).await;
        t.fake.insert(example_spec("foreign"), true);
        let usage = ContainerUsage {
            cpu_percent: 50.0,
            memory_used_bytes: 1,
            memory_limit_bytes: 2,
            ..Default::default()
        };
        t.fake.set_usage("mine", usage);
        t.fake.set_usage("foreign", usage);
        t.fake.take_calls();
        t.service.sample().await;
        let sampled: Vec<Call> = t
            .fake
            .calls()
            .into_iter()
            .filter(|c| c.op() == Op::Usage)
            .collect();
        assert_eq!(sampled, [Call::Usage("mine".to_string())]);
        let batches = t.mock.requests("reportMetrics");
        let samples = &batches[0]["variables"]["b"]["environmentSamples"];
        assert_eq!(samples.as_array().unwrap().len(), 1);
        assert_eq!(samples[0]["environmentId"], "mine");
    }

    #[test]
    fn a_generation_is_applied_once_and_never_an_older_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut applied = Applied::load(dir.path().join(APPLIED));
        assert!(applied.is_new("env-1", 1));
        applied.record("env-1", 2);
        assert!(!applied.is_new("env-1", 2));
        assert!(!applied.is_new("env-1", 1));
        assert!(applied.is_new("env-1", 3));
        let reloaded = Applied::load(dir.path().join(APPLIED));
        assert!(!reloaded.is_new("env-1", 2), "kept across restarts");
    }
}
