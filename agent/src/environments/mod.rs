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
//! Each time the channel (re)connects, and every `--reconcile-interval` seconds, the agent
//! sends the containers it has (`reconcileEnvironments`): the server fails environments
//! whose container vanished and tells the agent which containers to stop; containers it
//! does not know are only logged, never removed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use crate::client::{CallError, Client};
use crate::commands::{is_not_found, stopped};
use crate::runtime::{
    ContainerRuntime, ContainerSpec, ContainerState, GpuMode, Mount, PortBinding,
};

/// Operation id of the order subscription on the command WebSocket.
pub const OPERATION_ID: &str = "environments";
/// What the agent subscribes to.
pub const SUBSCRIPTION: &str = "subscription { agentEnvironmentOrders { environmentId generation action image cpu memory gpuUuids ports { service internalPort externalPort } envVars { name value } mounts { source target readOnly } } }";
const REPORT: &str = "mutation($e: ID!, $s: EnvironmentStatus!, $r: String) { reportEnvironmentStatus(environmentId: $e, status: $s, reason: $r) { status } }";
const SAMPLES: &str = "mutation($b: MetricBatchInput!) { reportMetrics(batch: $b) { accepted } }";
const RECONCILE: &str = "mutation($c: [ContainerStateInput!]!) { reconcileEnvironments(containers: $c) { unknown failed ordered stop } }";
/// The newest finished generation per environment.
pub const APPLIED: &str = "environments.json";

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
}

/// What to do with the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Start,
    Restart,
    Stop,
    Delete,
}

/// One order, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub generation: i64,
    pub action: Action,
    pub spec: ContainerSpec,
}

fn text<'a>(v: &'a Value, field: &str) -> Result<&'a str, String> {
    v[field]
        .as_str()
        .ok_or_else(|| format!("order field {field} is missing"))
}

fn big(v: &Value, field: &str) -> Result<i64, String> {
    match &v[field] {
        Value::String(s) => s.parse().map_err(|_| format!("order field {field}: '{s}'")),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("order field {field}: {n}")),
        _ => Err(format!("order field {field} is missing")),
    }
}

/// Reads an order; an unknown action is an error, never some other action.
pub fn parse_order(v: &Value, gpu_mode: GpuMode) -> Result<Order, String> {
    let action = match text(v, "action")? {
        "CREATE" => Action::Create,
        "START" => Action::Start,
        "RESTART" => Action::Restart,
        "STOP" => Action::Stop,
        "DELETE" => Action::Delete,
        other => return Err(format!("unknown order action {other}")),
    };
    let port = |p: &Value, field: &str| -> Result<u16, String> {
        p[field]
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| format!("order port {field}"))
    };
    let ports = v["ports"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            Ok(PortBinding {
                internal: port(p, "internalPort")?,
                external: port(p, "externalPort")?,
            })
        })
        .collect::<Result<_, String>>()?;
    let env = v["envVars"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| Ok((text(e, "name")?.to_owned(), text(e, "value")?.to_owned())))
        .collect::<Result<_, String>>()?;
    let mounts = v["mounts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|m| {
            Ok(Mount {
                source: text(m, "source")?.to_owned(),
                target: text(m, "target")?.to_owned(),
                read_only: m["readOnly"].as_bool().unwrap_or(true),
            })
        })
        .collect::<Result<_, String>>()?;
    let gpus = v["gpuUuids"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|g| g.as_str().map(str::to_owned))
        .collect();
    Ok(Order {
        generation: big(v, "generation")?,
        action,
        spec: ContainerSpec {
            environment_id: text(v, "environmentId")?.to_owned(),
            image: text(v, "image")?.to_owned(),
            cpu_cores: u32::try_from(v["cpu"].as_u64().unwrap_or(1)).unwrap_or(1),
            memory_bytes: big(v, "memory")?,
            gpus,
            gpu_mode,
            ports,
            env,
            mounts,
            command: None,
        },
    })
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

struct Service {
    runtime: Arc<dyn ContainerRuntime>,
    client: Client,
    settings: Settings,
    applied: Applied,
    stop: watch::Receiver<bool>,
    gpus: GpuUtilization,
    /// Cores given to each environment, from its orders.
    cores: HashMap<String, u32>,
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
    let mut service = Service {
        runtime,
        client,
        settings,
        applied,
        stop: stop.clone(),
        gpus,
        cores: HashMap::new(),
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
            Action::Delete => rt.remove(&env).await.map(|()| "DELETED"),
        };
        let (status, reason) = match outcome {
            Ok(status) => (status, None),
            Err(e) => {
                tracing::warn!(environment = env, error = %e, "environment order failed");
                ("FAILED", Some(e.message))
            }
        };
        if self.report(&env, status, reason).await {
            self.applied.record(&env, order.generation);
        }
    }

    /// Reports until the server takes it; false when the agent is stopping first.
    async fn report(&mut self, env: &str, status: &str, reason: Option<String>) -> bool {
        let body = json!({ "query": REPORT, "variables": { "e": env, "s": status, "r": reason } });
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

    /// Sends one batch with the use of every running container.
    async fn sample(&mut self) {
        let Ok(containers) = self.runtime.list().await else {
            return;
        };
        let mut samples = Vec::new();
        for c in containers
            .iter()
            .filter(|c| c.state == ContainerState::Running)
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
        for unknown in ids("unknown") {
            tracing::warn!(
                environment = unknown,
                "a container of an environment this host does not have; left alone"
            );
        }
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
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn order(action: &str, generation: &str) -> Value {
        json!({
            "environmentId": "env-1", "generation": generation, "action": action,
            "image": "busybox", "cpu": 2, "memory": "1073741824",
            "gpuUuids": ["GPU-a"], "ports": [{ "service": "SSH", "internalPort": 22, "externalPort": 30001 }],
            "envVars": [{ "name": "A", "value": "1" }],
            "mounts": [{ "source": "/srv/d", "target": "/data", "readOnly": true }]
        })
    }

    #[test]
    fn orders_parse_and_unknown_actions_are_errors() {
        let o = parse_order(&order("CREATE", "3"), GpuMode::EnvOnly).unwrap();
        assert_eq!(o.generation, 3);
        assert_eq!(o.action, Action::Create);
        assert_eq!(o.spec.cpu_cores, 2);
        assert_eq!(o.spec.memory_bytes, 1 << 30);
        assert_eq!(
            o.spec.ports,
            vec![PortBinding {
                internal: 22,
                external: 30001
            }]
        );
        assert_eq!(o.spec.env, vec![("A".into(), "1".into())]);
        assert!(o.spec.mounts[0].read_only);
        assert!(parse_order(&order("EXPLODE", "1"), GpuMode::EnvOnly).is_err());
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
