//! [`ContainerRuntime`] on the Docker Engine: its HTTP API over the unix socket (`bollard`),
//! never the `docker` command.
//!
//! The connection is made lazily, on the first call, and the API version is negotiated with
//! the daemon then (the older of the client's and the daemon's), so the agent starts while
//! Docker is still down and works with older and newer engines alike. A call that cannot
//! reach the socket fails with [`RuntimeErrorKind::Unavailable`] and the next call tries again.
//!
//! What a [`ContainerSpec`] becomes:
//!
//! | Spec | Docker |
//! |---|---|
//! | `environment_id` | name `rgpu-<id>`, label `remotegpu.environment=<id>` |
//! | `gpus` | label `remotegpu.gpus=<uuids>`, `NVIDIA_VISIBLE_DEVICES` (see [`gpu_env`](super::gpu_env)) and, with [`GpuMode::DeviceRequests`], `HostConfig.DeviceRequests = [{Driver: "nvidia", DeviceIDs: uuids, Capabilities: [["gpu"]]}]` |
//! | `cpu_cores` | `HostConfig.NanoCpus` = cores × 10⁹ |
//! | `memory_bytes` | `HostConfig.Memory`, and `MemorySwap` the same (no swap beyond it) |
//! | `ports` | `ExposedPorts` `<internal>/tcp` and `HostConfig.PortBindings` `<internal>/tcp` → `<publish address>:<external>` |
//! | `env` | `Env` |
//! | `mounts` | `HostConfig.Mounts`, type `bind` |
//! | `command` | `Cmd` (the image's `Entrypoint` is kept) |
//!
//! No restart policy is set: whether an environment runs is the server's decision, which the
//! agent applies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum,
    ContainerStatsResponse, DeviceRequest, HostConfig, Mount as DockerMount, MountType,
    PortBinding as DockerPortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder, StatsOptionsBuilder,
    StopContainerOptionsBuilder,
};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::StreamExt;

use super::{
    container_env, container_name, parse_gpus_label, validate_environment_id, validate_spec,
    ContainerInfo, ContainerRuntime, ContainerSpec, ContainerState, ContainerUsage, GpuMode,
    RuntimeError, RuntimeErrorKind, LABEL_ENVIRONMENT, LABEL_GPUS,
};

/// The default Docker socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// How to reach Docker and where to publish ports.
#[derive(Debug, Clone)]
pub struct DockerSettings {
    /// Path of the Docker Engine's unix socket (`--docker-socket`).
    pub socket: PathBuf,
    /// Host address published ports are bound on (`--publish-address`; `0.0.0.0` = all).
    pub publish_address: IpAddr,
    /// Longest wait for one Engine call; a stop or restart may take its grace period longer.
    /// An image pull is bounded only in how long the Engine takes to start answering.
    pub request_timeout: Duration,
}

impl Default for DockerSettings {
    fn default() -> Self {
        Self {
            socket: PathBuf::from(DEFAULT_SOCKET),
            publish_address: IpAddr::from([0, 0, 0, 0]),
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// A container's cumulative CPU counters at one reading.
#[derive(Debug, Clone)]
struct CpuReading {
    container_id: Option<String>,
    /// Container CPU time, nanoseconds.
    total: u64,
    /// Host CPU time over all CPUs, nanoseconds.
    system: u64,
}

/// The Docker Engine runtime.
pub struct DockerRuntime {
    settings: DockerSettings,
    client: tokio::sync::OnceCell<Docker>,
    /// The last CPU reading per environment, for [`ContainerUsage::cpu_percent`].
    cpu: Mutex<HashMap<String, CpuReading>>,
}

impl std::fmt::Debug for DockerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRuntime")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl DockerRuntime {
    /// A runtime for the Docker Engine at `settings.socket`. Nothing is contacted yet.
    pub fn new(settings: DockerSettings) -> Self {
        Self {
            settings,
            client: tokio::sync::OnceCell::new(),
            cpu: Mutex::new(HashMap::new()),
        }
    }

    /// The settings this runtime was made with.
    pub fn settings(&self) -> &DockerSettings {
        &self.settings
    }

    /// Contacts the Engine and describes it, e.g. `Docker 20.10.24 (API 1.41)`, for the log.
    pub async fn describe(&self) -> Result<String, RuntimeError> {
        let docker = self.client().await?;
        let version = docker.version().await.map_err(|e| self.error(e))?;
        Ok(format!(
            "Docker {} (API {})",
            version.version.as_deref().unwrap_or("unknown"),
            docker.client_version()
        ))
    }

    /// The connected client, connecting and negotiating the API version on first use.
    async fn client(&self) -> Result<&Docker, RuntimeError> {
        self.client
            .get_or_try_init(|| async {
                let socket = self.settings.socket.to_string_lossy();
                let docker = Docker::connect_with_unix(
                    &socket,
                    self.settings.request_timeout.as_secs().max(1),
                    API_DEFAULT_VERSION,
                )
                .map_err(|e| self.error(e))?;
                docker.negotiate_version().await.map_err(|e| self.error(e))
            })
            .await
    }

    /// A Docker error as a [`RuntimeError`], keeping Docker's message.
    fn error(&self, error: DockerError) -> RuntimeError {
        let socket = self.settings.socket.display();
        match error {
            DockerError::DockerResponseServerError {
                status_code,
                message,
            } => RuntimeError {
                kind: match status_code {
                    404 => RuntimeErrorKind::NotFound,
                    409 => RuntimeErrorKind::Conflict,
                    _ => RuntimeErrorKind::Engine,
                },
                status: Some(status_code),
                message,
            },
            DockerError::DockerStreamError { error } => {
                RuntimeError::new(RuntimeErrorKind::Engine, error)
            }
            DockerError::SocketNotFoundError(path) => RuntimeError::new(
                RuntimeErrorKind::Unavailable,
                format!("cannot reach Docker: no socket at {path}"),
            ),
            DockerError::RequestTimeoutError => RuntimeError::new(
                RuntimeErrorKind::Unavailable,
                format!("Docker at {socket} did not answer in time"),
            ),
            e @ (DockerError::IOError { .. }
            | DockerError::HyperResponseError { .. }
            | DockerError::HyperLegacyError { .. }) => RuntimeError::new(
                RuntimeErrorKind::Unavailable,
                format!("cannot reach Docker at {socket}: {e}"),
            ),
            e => RuntimeError::new(RuntimeErrorKind::Engine, e.to_string()),
        }
    }

    /// The client with a timeout long enough for a stop of `grace`.
    async fn client_for_stop(&self, grace: Duration) -> Result<Docker, RuntimeError> {
        let docker = self.client().await?.clone();
        Ok(docker.with_timeout(self.settings.request_timeout + grace))
    }

    /// Inspects the environment's container; `None` when there is none.
    async fn inspect_raw(
        &self,
        environment_id: &str,
    ) -> Result<Option<ContainerInspectResponse>, RuntimeError> {
        validate_environment_id(environment_id)?;
        let docker = self.client().await?;
        match docker
            .inspect_container(&container_name(environment_id), None)
            .await
        {
            Ok(response) => Ok(Some(response)),
            Err(e) => match self.error(e) {
                e if e.is_not_found() => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Pulls `image`. `missing` is the Engine's answer to the create that found no image; a
    /// failed pull is an [`RuntimeErrorKind::Image`] error carrying both messages.
    async fn pull(&self, image: &str, missing: &RuntimeError) -> Result<(), RuntimeError> {
        let docker = self.client().await?;
        let reference = with_default_tag(image);
        tracing::info!(image = %reference, "pulling image");
        let options = CreateImageOptionsBuilder::new()
            .from_image(&reference)
            .build();
        let mut progress = docker.create_image(Some(options), None, None);
        while let Some(item) = progress.next().await {
            if let Err(e) = item {
                let pull = self.error(e);
                if pull.kind == RuntimeErrorKind::Unavailable {
                    return Err(pull);
                }
                return Err(RuntimeError {
                    kind: RuntimeErrorKind::Image,
                    status: pull.status,
                    message: format!("{} (pulling it failed: {})", missing.message, pull.message),
                });
            }
        }
        tracing::info!(image = %reference, "pulled image");
        Ok(())
    }

    /// Sends the create request; `NotFound` means the image is not present.
    async fn create_container(&self, spec: &ContainerSpec) -> Result<(), RuntimeError> {
        let docker = self.client().await?;
        let name = container_name(&spec.environment_id);
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        match docker
            .create_container(Some(options), self.create_body(spec))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Waits (bounded) for a container that a concurrent create is still registering: the
    /// Engine reserves the name before the container can be inspected.
    async fn wait_for_existing(
        &self,
        environment_id: &str,
    ) -> Result<ContainerInspectResponse, RuntimeError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(existing) = self.inspect_raw(environment_id).await? {
                return Ok(existing);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RuntimeError::new(
                    RuntimeErrorKind::Conflict,
                    format!(
                        "the name {} is taken but no such container appeared",
                        container_name(environment_id)
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The Engine's create request for a spec.
    fn create_body(&self, spec: &ContainerSpec) -> ContainerCreateBody {
        let mut port_bindings: HashMap<String, Option<Vec<DockerPortBinding>>> = HashMap::new();
        for port in &spec.ports {
            port_bindings
                .entry(format!("{}/tcp", port.internal))
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(DockerPortBinding {
                    host_ip: Some(self.settings.publish_address.to_string()),
                    host_port: Some(port.external.to_string()),
                });
        }
        let mut exposed: Vec<String> = port_bindings.keys().cloned().collect();
        exposed.sort();
        let device_requests = (spec.gpu_mode == GpuMode::DeviceRequests && !spec.gpus.is_empty())
            .then(|| {
                vec![DeviceRequest {
                    driver: Some("nvidia".to_string()),
                    device_ids: Some(spec.gpus.clone()),
                    capabilities: Some(vec![vec!["gpu".to_string()]]),
                    ..Default::default()
                }]
            });
        let mounts = spec
            .mounts
            .iter()
            .map(|m| DockerMount {
                typ: Some(MountType::BIND),
                source: Some(m.source.clone()),
                target: Some(m.target.clone()),
                read_only: Some(m.read_only),
                ..Default::default()
            })
            .collect();
        let limit = |value: i64| (value > 0).then_some(value);
        let host_config = HostConfig {
            nano_cpus: (spec.cpu_cores > 0).then(|| i64::from(spec.cpu_cores) * 1_000_000_000),
            memory: limit(spec.memory_bytes),
            memory_swap: limit(spec.memory_bytes),
            port_bindings: Some(port_bindings),
            mounts: Some(mounts),
            device_requests,
            ..Default::default()
        };
        let labels = HashMap::from([
            (LABEL_ENVIRONMENT.to_string(), spec.environment_id.clone()),
            (LABEL_GPUS.to_string(), spec.gpus.join(",")),
        ]);
        ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(container_env(spec)),
            cmd: spec.command.clone(),
            labels: Some(labels),
            exposed_ports: Some(exposed),
            host_config: Some(host_config),
            ..Default::default()
        }
    }

    /// Forgets the CPU reading of an environment.
    fn forget_cpu(&self, environment_id: &str) {
        self.cpu
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(environment_id);
    }
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerInfo, RuntimeError> {
        validate_spec(spec)?;
        let id = &spec.environment_id;
        if let Some(existing) = self.inspect_raw(id).await? {
            return Ok(info_from_inspect(id, &existing));
        }
        // Create first; only a 404 (no such image) leads to a pull and a second try.
        let mut result = self.create_container(spec).await;
        if let Err(missing) = &result {
            if missing.is_not_found() {
                self.pull(&spec.image, missing).await?;
                result = self.create_container(spec).await.map_err(|e| {
                    if e.is_not_found() {
                        RuntimeError {
                            kind: RuntimeErrorKind::Image,
                            ..e
                        }
                    } else {
                        e
                    }
                });
            }
        }
        match result {
            Ok(()) => {}
            // Created meanwhile by a concurrent call: that container is the answer.
            Err(e) if e.kind == RuntimeErrorKind::Conflict => {}
            Err(e) => return Err(e),
        }
        let created = self.wait_for_existing(id).await?;
        Ok(info_from_inspect(id, &created))
    }

    async fn start(&self, environment_id: &str) -> Result<(), RuntimeError> {
        validate_environment_id(environment_id)?;
        let docker = self.client().await?;
        // 304 (already running) counts as success.
        docker
            .start_container(&container_name(environment_id), None)
            .await
            .map_err(|e| self.error(e))
    }

    async fn stop(&self, environment_id: &str, grace: Duration) -> Result<(), RuntimeError> {
        validate_environment_id(environment_id)?;
        let docker = self.client_for_stop(grace).await?;
        let options = StopContainerOptionsBuilder::new()
            .t(grace_seconds(grace))
            .build();
        // 304 (already stopped) counts as success.
        docker
            .stop_container(&container_name(environment_id), Some(options))
            .await
            .map_err(|e| self.error(e))
    }

    async fn restart(&self, environment_id: &str, grace: Duration) -> Result<(), RuntimeError> {
        validate_environment_id(environment_id)?;
        let docker = self.client_for_stop(grace).await?;
        let options = RestartContainerOptionsBuilder::new()
            .t(grace_seconds(grace))
            .build();
        docker
            .restart_container(&container_name(environment_id), Some(options))
            .await
            .map_err(|e| self.error(e))
    }

    async fn remove(&self, environment_id: &str) -> Result<(), RuntimeError> {
        validate_environment_id(environment_id)?;
        self.forget_cpu(environment_id);
        let docker = self.client().await?;
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match docker
            .remove_container(&container_name(environment_id), Some(options))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => match self.error(e) {
                e if e.is_not_found() => Ok(()),
                // "removal of container ... is already in progress"
                e if e.kind == RuntimeErrorKind::Conflict && e.message.contains("in progress") => {
                    Ok(())
                }
                e => Err(e),
            },
        }
    }

    async fn inspect(&self, environment_id: &str) -> Result<ContainerInfo, RuntimeError> {
        Ok(match self.inspect_raw(environment_id).await? {
            Some(response) => info_from_inspect(environment_id, &response),
            None => ContainerInfo::missing(environment_id),
        })
    }

    async fn list(&self) -> Result<Vec<ContainerInfo>, RuntimeError> {
        let docker = self.client().await?;
        let filters = HashMap::from([("label", vec![LABEL_ENVIRONMENT])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.error(e))?;
        let mut infos = Vec::with_capacity(summaries.len());
        for summary in summaries {
            let (Some(id), Some(environment_id)) = (
                summary.id.as_deref(),
                summary
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_ENVIRONMENT)),
            ) else {
                continue;
            };
            match docker.inspect_container(id, None).await {
                Ok(response) => infos.push(info_from_inspect(environment_id, &response)),
                Err(e) => match self.error(e) {
                    // Removed since it was listed.
                    e if e.is_not_found() => {}
                    e => return Err(e),
                },
            }
        }
        infos.sort_by(|a, b| a.environment_id.cmp(&b.environment_id));
        Ok(infos)
    }

    async fn usage(&self, environment_id: &str) -> Result<Option<ContainerUsage>, RuntimeError> {
        let Some(response) = self.inspect_raw(environment_id).await? else {
            self.forget_cpu(environment_id);
            return Ok(None);
        };
        if info_from_inspect(environment_id, &response).state != ContainerState::Running {
            self.forget_cpu(environment_id);
            return Ok(None);
        }
        let previous = self
            .cpu
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(environment_id)
            .cloned()
            .filter(|reading| reading.container_id == response.id);
        // With a previous reading one snapshot is enough; without one the Engine takes two
        // samples about a second apart and returns both.
        let options = StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(previous.is_some())
            .build();
        let docker = self.client().await?;
        let mut stream = docker.stats(&container_name(environment_id), Some(options));
        let stats = match stream.next().await {
            Some(Ok(stats)) => stats,
            Some(Err(e)) => match self.error(e) {
                e if e.is_not_found() => return Ok(None),
                e => return Err(e),
            },
            None => return Ok(None),
        };
        let (usage, current) = usage_from_stats(&stats, previous);
        if let Some(current) = current {
            self.cpu.lock().unwrap_or_else(|e| e.into_inner()).insert(
                environment_id.to_string(),
                CpuReading {
                    container_id: response.id.clone(),
                    ..current
                },
            );
        }
        Ok(Some(usage))
    }
}

/// `image` with `:latest` added when it names neither a tag nor a digest (a pull without a
/// tag would fetch every tag).
fn with_default_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// A grace period in whole seconds, rounded up, as the Engine takes it.
fn grace_seconds(grace: Duration) -> i32 {
    let seconds = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
    i32::try_from(seconds).unwrap_or(i32::MAX)
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A [`ContainerInfo`] from the Engine's inspect answer.
fn info_from_inspect(environment_id: &str, response: &ContainerInspectResponse) -> ContainerInfo {
    let labels = response.config.as_ref().and_then(|c| c.labels.as_ref());
    let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
    let state = response.state.as_ref();
    let status = state.and_then(|s| s.status);
    let error = state
        .and_then(|s| s.error.as_deref())
        .filter(|e| !e.is_empty())
        .map(str::to_string);
    let code = state.and_then(|s| s.exit_code);
    let oom = state.and_then(|s| s.oom_killed).unwrap_or(false);
    use ContainerStateStatusEnum as S;
    let (state, exit_code, exit_message) = match status {
        Some(S::RUNNING | S::RESTARTING | S::PAUSED | S::STOPPING) => {
            (ContainerState::Running, None, None)
        }
        // Being removed, or dead (a failed removal): it is going away, as good as missing,
        // so nothing starts it again.
        Some(S::REMOVING | S::DEAD) => (ContainerState::Missing, code, error),
        Some(S::EXITED) => {
            let message = error.or_else(|| {
                code.map(|c| {
                    if oom {
                        format!("exited with code {c}: killed for exceeding its memory limit")
                    } else {
                        format!("exited with code {c}")
                    }
                })
            });
            (ContainerState::Stopped, code, message)
        }
        // Created (never started, or its start failed), being removed, or unknown.
        _ => {
            let code = error.as_ref().and(code);
            (ContainerState::Stopped, code, error)
        }
    };
    ContainerInfo {
        environment_id: label(LABEL_ENVIRONMENT)
            .unwrap_or(environment_id)
            .to_string(),
        container_id: response.id.clone(),
        state,
        gpus: label(LABEL_GPUS).map(parse_gpus_label).unwrap_or_default(),
        image: response.config.as_ref().and_then(|c| c.image.clone()),
        exit_code,
        exit_message,
    }
}

/// The usage in one stats answer, and its CPU counters for the next call. CPU use is measured
/// against `previous` when given, else against the answer's own earlier sample.
fn usage_from_stats(
    stats: &ContainerStatsResponse,
    previous: Option<CpuReading>,
) -> (ContainerUsage, Option<CpuReading>) {
    let counters = |cpu: Option<&bollard::models::ContainerCpuStats>| {
        let cpu = cpu?;
        Some((cpu.cpu_usage.as_ref()?.total_usage?, cpu.system_cpu_usage?))
    };
    let current = counters(stats.cpu_stats.as_ref()).map(|(total, system)| CpuReading {
        container_id: stats.id.clone(),
        total,
        system,
    });
    let earlier = previous
        .map(|p| (p.total, p.system))
        .or_else(|| counters(stats.precpu_stats.as_ref()));
    let online = stats
        .cpu_stats
        .as_ref()
        .and_then(|c| {
            c.online_cpus.filter(|n| *n > 0).or_else(|| {
                c.cpu_usage
                    .as_ref()
                    .and_then(|u| u.percpu_usage.as_ref())
                    .and_then(|p| u32::try_from(p.len()).ok())
            })
        })
        .unwrap_or(1);
    let cpu_percent = match (earlier, current.as_ref()) {
        (Some((total0, system0)), Some(now)) => {
            match (
                now.total.checked_sub(total0),
                now.system.checked_sub(system0),
            ) {
                (Some(used), Some(elapsed)) if elapsed > 0 => {
                    used as f64 / elapsed as f64 * f64::from(online) * 100.0
                }
                _ => 0.0,
            }
        }
        _ => 0.0,
    };
    let memory = stats.memory_stats.as_ref();
    let usage = memory.and_then(|m| m.usage).unwrap_or(0);
    // Reclaimable page cache is not counted: cgroup v1 calls it total_inactive_file, v2
    // inactive_file.
    let inactive = memory
        .and_then(|m| m.stats.as_ref())
        .and_then(|s| {
            s.get("total_inactive_file")
                .or_else(|| s.get("inactive_file"))
        })
        .copied()
        .unwrap_or(0);
    let (rx, tx) =
        stats
            .networks
            .iter()
            .flat_map(|n| n.values())
            .fold((0u64, 0u64), |(rx, tx), n| {
                (
                    rx.saturating_add(n.rx_bytes.unwrap_or(0)),
                    tx.saturating_add(n.tx_bytes.unwrap_or(0)),
                )
            });
    (
        ContainerUsage {
            cpu_percent,
            memory_used_bytes: saturating_i64(usage.saturating_sub(inactive)),
            memory_limit_bytes: saturating_i64(memory.and_then(|m| m.limit).unwrap_or(0)),
            network_rx_bytes: saturating_i64(rx),
            network_tx_bytes: saturating_i64(tx),
        },
        current,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Mount, PortBinding};
    use bollard::models::{
        ContainerConfig, ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats,
        ContainerNetworkStats, ContainerState as DockerState,
    };

    fn spec() -> ContainerSpec {
        ContainerSpec {
            environment_id: "env-1".to_string(),
            image: "img:1".to_string(),
            cpu_cores: 2,
            memory_bytes: 1 << 30,
            gpus: vec!["GPU-a".to_string(), "GPU-b".to_string()],
            gpu_mode: GpuMode::DeviceRequests,
            ports: vec![
                PortBinding {
                    internal: 22,
                    external: 30001,
                },
                PortBinding {
                    internal: 8888,
                    external: 30002,
                },
            ],
            env: vec![("A".to_string(), "1".to_string())],
            mounts: vec![Mount {
                source: "/data/set".to_string(),
                target: "/datasets/set".to_string(),
                read_only: true,
            }],
            command: Some(vec!["sleep".to_string(), "1000".to_string()]),
        }
    }

    fn runtime() -> DockerRuntime {
        DockerRuntime::new(DockerSettings {
            publish_address: IpAddr::from([127, 0, 0, 1]),
            ..Default::default()
        })
    }

    #[test]
    fn create_body_carries_the_spec() {
        let body = runtime().create_body(&spec());
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["Image"], "img:1");
        assert_eq!(json["Cmd"], serde_json::json!(["sleep", "1000"]));
        assert_eq!(
            json["Env"],
            serde_json::json!(["A=1", "NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b"])
        );
        assert_eq!(json["Labels"]["remotegpu.environment"], "env-1");
        assert_eq!(json["Labels"]["remotegpu.gpus"], "GPU-a,GPU-b");
        assert_eq!(
            json["ExposedPorts"],
            serde_json::json!({"22/tcp": {}, "8888/tcp": {}})
        );
        let host = &json["HostConfig"];
        assert_eq!(host["NanoCpus"], 2_000_000_000i64);
        assert_eq!(host["Memory"], 1i64 << 30);
        assert_eq!(host["MemorySwap"], 1i64 << 30);
        assert_eq!(
            host["PortBindings"]["22/tcp"],
            serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": "30001"}])
        );
        assert_eq!(
            host["Mounts"],
            serde_json::json!([{"Type": "bind", "Source": "/data/set",
                                "Target": "/datasets/set", "ReadOnly": true}])
        );
        assert_eq!(
            host["DeviceRequests"],
            serde_json::json!([{"Driver": "nvidia", "DeviceIDs": ["GPU-a", "GPU-b"],
                                "Capabilities": [["gpu"]]}])
        );
        assert!(json.get("RestartPolicy").is_none());
    }

    #[test]
    fn env_only_and_cpu_only_bodies() {
        let mut s = spec();
        s.gpu_mode = GpuMode::EnvOnly;
        s.cpu_cores = 0;
        s.memory_bytes = 0;
        s.command = None;
        let json = serde_json::to_value(runtime().create_body(&s)).unwrap();
        assert!(json["HostConfig"].get("DeviceRequests").is_none());
        assert!(json["HostConfig"].get("NanoCpus").is_none());
        assert!(json["HostConfig"].get("Memory").is_none());
        assert!(json.get("Cmd").is_none());
        assert_eq!(json["Env"][1], "NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b");

        s.gpu_mode = GpuMode::DeviceRequests;
        s.gpus.clear();
        let json = serde_json::to_value(runtime().create_body(&s)).unwrap();
        assert!(json["HostConfig"].get("DeviceRequests").is_none());
        assert_eq!(json["Labels"]["remotegpu.gpus"], "");
        assert_eq!(json["Env"][1], "NVIDIA_VISIBLE_DEVICES=void");
    }

    #[test]
    fn tags_and_grace() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(with_default_tag("a/b:1"), "a/b:1");
        assert_eq!(with_default_tag("reg:5000/a/b"), "reg:5000/a/b:latest");
        assert_eq!(with_default_tag("a/b@sha256:00"), "a/b@sha256:00");
        assert_eq!(grace_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(grace_seconds(Duration::ZERO), 0);
        assert_eq!(grace_seconds(Duration::from_secs(u64::MAX)), i32::MAX);
    }

    #[test]
    fn docker_errors_keep_their_message() {
        let rt = runtime();
        let e = rt.error(DockerError::DockerResponseServerError {
            status_code: 404,
            message: "No such container: rgpu-x".to_string(),
        });
        assert!(e.is_not_found());
        assert_eq!(e.status, Some(404));
        assert_eq!(e.to_string(), "No such container: rgpu-x");
        let e = rt.error(DockerError::SocketNotFoundError("/nope.sock".to_string()));
        assert_eq!(e.kind, RuntimeErrorKind::Unavailable);
        assert!(e.message.contains("/nope.sock"));
    }

    fn inspected(status: ContainerStateStatusEnum, code: i64, error: &str) -> ContainerInfo {
        let response = ContainerInspectResponse {
            id: Some("abc".to_string()),
            state: Some(DockerState {
                status: Some(status),
                exit_code: Some(code),
                error: Some(error.to_string()),
                oom_killed: Some(false),
                ..Default::default()
            }),
            config: Some(ContainerConfig {
                image: Some("img:1".to_string()),
                labels: Some(HashMap::from([
                    (LABEL_ENVIRONMENT.to_string(), "env-9".to_string()),
                    (LABEL_GPUS.to_string(), "GPU-a".to_string()),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        };
        info_from_inspect("fallback", &response)
    }

    #[test]
    fn inspect_states_and_messages() {
        use ContainerStateStatusEnum as S;
        let running = inspected(S::RUNNING, 0, "");
        assert_eq!(running.state, ContainerState::Running);
        assert_eq!(running.environment_id, "env-9");
        assert_eq!(running.gpus, ["GPU-a"]);
        assert_eq!(running.container_id.as_deref(), Some("abc"));
        assert_eq!(running.image.as_deref(), Some("img:1"));
        assert_eq!(running.exit_message, None);

        let exited = inspected(S::EXITED, 3, "");
        assert_eq!(exited.state, ContainerState::Stopped);
        assert_eq!(exited.exit_code, Some(3));
        assert_eq!(exited.exit_message.as_deref(), Some("exited with code 3"));

        let failed = inspected(S::CREATED, 127, "exec: \"nope\": not found");
        assert_eq!(failed.state, ContainerState::Stopped);
        assert_eq!(failed.exit_code, Some(127));
        assert_eq!(
            failed.exit_message.as_deref(),
            Some("exec: \"nope\": not found")
        );

        let created = inspected(S::CREATED, 0, "");
        assert_eq!((created.exit_code, created.exit_message), (None, None));
    }

    fn stats(total: u64, system: u64, pre: Option<(u64, u64)>) -> ContainerStatsResponse {
        let cpu = |total, system| ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(total),
                ..Default::default()
            }),
            system_cpu_usage: Some(system),
            online_cpus: Some(4),
            ..Default::default()
        };
        ContainerStatsResponse {
            id: Some("abc".to_string()),
            cpu_stats: Some(cpu(total, system)),
            precpu_stats: pre.map(|(t, s)| cpu(t, s)),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(500),
                limit: Some(1000),
                stats: Some(HashMap::from([("total_inactive_file".to_string(), 100)])),
                ..Default::default()
            }),
            networks: Some(HashMap::from([
                (
                    "eth0".to_string(),
                    ContainerNetworkStats {
                        rx_bytes: Some(10),
                        tx_bytes: Some(20),
                        ..Default::default()
                    },
                ),
                (
                    "eth1".to_string(),
                    ContainerNetworkStats {
                        rx_bytes: Some(1),
                        tx_bytes: Some(2),
                        ..Default::default()
                    },
                ),
            ])),
            ..Default::default()
        }
    }

    #[test]
    fn usage_numbers() {
        // Half of the host's 4 CPUs' time went to the container: 200 % of one core.
        let (usage, current) = usage_from_stats(&stats(1500, 3000, Some((1000, 2000))), None);
        assert!((usage.cpu_percent - 200.0).abs() < 1e-9);
        assert_eq!(usage.memory_used_bytes, 400);
        assert_eq!(usage.memory_limit_bytes, 1000);
        assert_eq!((usage.network_rx_bytes, usage.network_tx_bytes), (11, 22));
        let current = current.unwrap();
        assert_eq!((current.total, current.system), (1500, 3000));

        // Against the previous call's reading, not the answer's own earlier sample.
        let previous = CpuReading {
            container_id: Some("abc".to_string()),
            total: 1400,
            system: 2000,
        };
        let (usage, _) = usage_from_stats(&stats(1500, 3000, None), Some(previous));
        assert!((usage.cpu_percent - 40.0).abs() < 1e-9);

        // Counters that went backwards (a new container) give 0, not nonsense.
        let previous = CpuReading {
            container_id: None,
            total: 9999,
            system: 2000,
        };
        let (usage, _) = usage_from_stats(&stats(1500, 3000, None), Some(previous));
        assert_eq!(usage.cpu_percent, 0.0);
    }
}
