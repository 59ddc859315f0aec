//! [`ContainerRuntime`] on the Docker Engine: its HTTP API over the unix socket (`bollard`),
//! never the `docker` command.
//!
//! The connection is made lazily, on the first call, and the API version is negotiated with
//! the daemon then (the older of the client's and the daemon's), so the agent starts while
//! Docker is still down and works with older and newer engines alike. A call that cannot
//! reach the socket fails with [`RuntimeErrorKind::Unavailable`] and the next call tries again.
//!
//! What a [`ContainerSpec`] becomes ([`body`]):
//!
//! | Spec | Docker |
//! |---|---|
//! | `environment_id` | name `rgpu-<id>`, label `remotegpu.environment=<id>` |
//! | `gpus` | label `remotegpu.gpus=<uuids>`, `NVIDIA_VISIBLE_DEVICES` (see [`gpu_env`](super::gpu_env)) and, with [`GpuMode`](super::GpuMode)`::DeviceRequests`, `HostConfig.DeviceRequests = [{Driver: "nvidia", DeviceIDs: uuids, Capabilities: [["gpu"]]}]` |
//! | `cpu_cores` | `HostConfig.NanoCpus` = cores × 10⁹ |
//! | `memory_bytes` | `HostConfig.Memory`, and `MemorySwap` the same (no swap beyond it) |
//! | `shm_size_bytes` | `HostConfig.ShmSize` (see [`shm_size`](super::shm_size)) |
//! | `network` | `HostConfig.NetworkMode` = the tenant network, made on demand ([`network`]); label `remotegpu.network=<name>` |
//! | `ports` | `ExposedPorts` `<internal>/tcp` and `HostConfig.PortBindings` `<internal>/tcp` → `<publish address>:<external>` |
//! | `env` | `Env` |
//! | `mounts` | `HostConfig.Mounts`, type `bind`, source the key's directory beneath the storage root ([`crate::storage`]) |
//! | `command` | `Cmd` (the image's `Entrypoint` is kept) |
//!
//! and every container gets the host's profile: no new privileges, a small capability set,
//! pid and open-file limits, optionally a root file system quota and another OCI runtime
//! ([`body`], [`Hardening`]).
//!
//! The mounts are resolved before anything else: a key that is refused fails the create with
//! [`RuntimeErrorKind::InvalidSpec`] and nothing is created. No restart policy is set:
//! whether an environment runs is the server's decision, which the agent applies.
//!
//! - [`body`]: the create request and the container profile;
//! - [`network`]: tenant networks and the host firewall;
//! - `inspect`, `stats`: reading the Engine's answers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bollard::errors::Error as DockerError;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    RestartContainerOptionsBuilder, StatsOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::StreamExt;

use super::{
    container_name, validate_environment_id, validate_spec, ContainerInfo, ContainerRuntime,
    ContainerSpec, ContainerState, ContainerUsage, RuntimeError, RuntimeErrorKind,
    LABEL_ENVIRONMENT,
};
use crate::storage::StorageRoot;

pub mod body;
mod image;
mod inspect;
pub mod network;
mod stats;

use body::{create_body, BindMount};
pub use body::{Hardening, CAPABILITIES};
use inspect::{info_from_inspect, network_of};
use network::Firewall;
use stats::{usage_from_stats, CpuReading};

/// The default Docker socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// How to reach Docker, where the storage is, and what every container gets.
#[derive(Debug, Clone)]
pub struct DockerSettings {
    /// Path of the Docker Engine's unix socket (`--docker-socket`).
    pub socket: PathBuf,
    /// Host address published ports are bound on (`--publish-address`; `0.0.0.0` = all).
    pub publish_address: IpAddr,
    /// Longest wait for one Engine call; a stop or restart may take its grace period longer.
    /// An image pull is bounded only in how long the Engine takes to start answering.
    pub request_timeout: Duration,
    /// Where mounts' storage keys are resolved (`--storage-root`).
    pub storage: StorageRoot,
    /// The host-wide container profile (`--pids-limit`, `--nofile-limit`,
    /// `--rootfs-size-bytes`, `--oci-runtime`).
    pub hardening: Hardening,
    /// Drop new connections from tenant networks to the host (`--isolate-host`); see
    /// [`network`].
    pub isolate_host: bool,
}

impl Default for DockerSettings {
    fn default() -> Self {
        Self {
            socket: PathBuf::from(DEFAULT_SOCKET),
            publish_address: IpAddr::from([0, 0, 0, 0]),
            request_timeout: Duration::from_secs(120),
            storage: StorageRoot::new("agent-data/storage"),
            hardening: Hardening::default(),
            isolate_host: true,
        }
    }
}

/// The Docker Engine runtime.
pub struct DockerRuntime {
    settings: DockerSettings,
    client: tokio::sync::OnceCell<Docker>,
    /// The last CPU reading per environment, for [`ContainerUsage::cpu_percent`].
    cpu: Mutex<HashMap<String, CpuReading>>,
    /// Held while tenant networks are made or removed together with containers, so a
    /// network is never removed between its creation and its container's.
    networks: tokio::sync::Mutex<()>,
    firewall: Firewall,
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
            networks: tokio::sync::Mutex::new(()),
            firewall: Firewall::default(),
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

    /// The host directories of the spec's mounts, each key resolved beneath the storage root
    /// (directories created as needed). A refused key is an [`RuntimeErrorKind::InvalidSpec`]
    /// error; a storage root that is missing or failing an [`RuntimeErrorKind::Engine`] one.
    async fn resolve_mounts(&self, spec: &ContainerSpec) -> Result<Vec<BindMount>, RuntimeError> {
        let storage = self.settings.storage.clone();
        let mounts = spec.mounts.clone();
        let resolved = tokio::task::spawn_blocking(move || {
            mounts
                .into_iter()
                .map(|m| {
                    let path = storage.resolve(&m.key).map_err(|e| {
                        let kind = if e.is_refusal() {
                            RuntimeErrorKind::InvalidSpec
                        } else {
                            RuntimeErrorKind::Engine
                        };
                        RuntimeError::new(kind, format!("mount refused: {e}"))
                    })?;
                    let source = path.to_str().map(str::to_string).ok_or_else(|| {
                        RuntimeError::new(
                            RuntimeErrorKind::Engine,
                            format!("mount refused: {} is not UTF-8", path.display()),
                        )
                    })?;
                    Ok(BindMount {
                        source,
                        target: m.target,
                        read_only: m.read_only,
                    })
                })
                .collect::<Result<Vec<_>, RuntimeError>>()
        })
        .await;
        resolved.map_err(|e| {
            RuntimeError::new(
                RuntimeErrorKind::Engine,
                format!("resolving the mounts failed: {e}"),
            )
        })?
    }

    /// Makes the tenant network (when missing) and sends the create request, under the
    /// network lock; `NotFound` means the image is not present.
    async fn create_container(
        &self,
        spec: &ContainerSpec,
        mounts: &[BindMount],
    ) -> Result<(), RuntimeError> {
        let _networks = self.networks.lock().await;
        self.ensure_network(&spec.network).await?;
        let docker = self.client().await?;
        let name = container_name(&spec.environment_id);
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        docker
            .create_container(Some(options), create_body(&self.settings, spec, mounts))
            .await
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// Runs `action` on the environment's container with its tenant network present (made
    /// again if it went missing), under the network lock; `NotFound` when there is no
    /// container.
    async fn with_network<F, Fut>(
        &self,
        environment_id: &str,
        action: F,
    ) -> Result<(), RuntimeError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), RuntimeError>>,
    {
        let Some(existing) = self.inspect_raw(environment_id).await? else {
            return Err(RuntimeError {
                kind: RuntimeErrorKind::NotFound,
                status: Some(404),
                message: format!("No such container: {}", container_name(environment_id)),
            });
        };
        let _networks = self.networks.lock().await;
        if let Some(network) = network_of(&existing) {
            self.ensure_network(&network).await?;
        }
        action().await
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
        let mounts = self.resolve_mounts(spec).await?;
        let id = &spec.environment_id;
        if let Some(existing) = self.inspect_raw(id).await? {
            return Ok(info_from_inspect(id, &existing));
        }
        match self.create_or_pull(spec, &mounts).await {
            Ok(()) => {}
            // Created meanwhile by a concurrent call: that container is the answer.
            Err(e) if e.kind == RuntimeErrorKind::Conflict && e.status == Some(409) => {}
            Err(e) => {
                // A network made for nothing is not left behind.
                let _networks = self.networks.lock().await;
                self.release_network(&spec.network).await;
                return Err(e);
            }
        }
        let created = self.wait_for_existing(id).await?;
        Ok(info_from_inspect(id, &created))
    }

    async fn start(&self, environment_id: &str) -> Result<(), RuntimeError> {
        validate_environment_id(environment_id)?;
        let docker = self.client().await?;
        // 304 (already running) counts as success.
        self.with_network(environment_id, || async {
            docker
                .start_container(&container_name(environment_id), None)
                .await
                .map_err(|e| self.error(e))
        })
        .await
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
        self.with_network(environment_id, || async {
            docker
                .restart_container(&container_name(environment_id), Some(options))
                .await
                .map_err(|e| self.error(e))
        })
        .await
    }

    async fn remove(&self, environment_id: &str) -> Result<(), RuntimeError> {
        validate_environment_id(environment_id)?;
        self.forget_cpu(environment_id);
        let network = self
            .inspect_raw(environment_id)
            .await?
            .as_ref()
            .and_then(network_of);
        let docker = self.client().await?;
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        let _networks = self.networks.lock().await;
        match docker
            .remove_container(&container_name(environment_id), Some(options))
            .await
        {
            Ok(()) => {}
            Err(e) => match self.error(e) {
                e if e.is_not_found() => {}
                // "removal of container ... is already in progress"
                e if e.kind == RuntimeErrorKind::Conflict && e.message.contains("in progress") => {}
                e => return Err(e),
            },
        }
        if let Some(network) = network {
            self.release_network(&network).await;
        }
        Ok(())
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

/// A grace period in whole seconds, rounded up, as the Engine takes it.
fn grace_seconds(grace: Duration) -> i32 {
    let seconds = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
    i32::try_from(seconds).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> DockerRuntime {
        DockerRuntime::new(DockerSettings {
            publish_address: IpAddr::from([127, 0, 0, 1]),
            ..Default::default()
        })
    }

    #[test]
    fn grace() {
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
}
