//! The container runtime: how the agent runs an environment (DESIGN §9).
//!
//! The rest of the agent sees one trait, [`ContainerRuntime`], used as
//! `Arc<dyn ContainerRuntime>`. Every method is keyed by the environment id and idempotent, so
//! an order that is delivered again, or replayed after a restart, converges instead of failing:
//! creating an existing container, starting a running one, stopping a stopped one and removing
//! a missing one all succeed.
//!
//! - [`docker::DockerRuntime`]: the Docker Engine API over its unix socket (`bollard`).
//! - [`fake::FakeRuntime`]: an in-memory runtime that records every call, for tests of the
//!   code that drives a runtime.
//!
//! A Kubernetes backend (Pods bound to the host's node) is a third implementation of the same
//! trait.
//!
//! **Naming.** The container of environment `<id>` is named `rgpu-<id>` and carries the labels
//! `remotegpu.environment=<id>` and `remotegpu.gpus=<uuid,uuid,...>` (empty without GPUs).
//! [`ContainerRuntime::list`] finds containers by the first label, so containers the agent did
//! not create are never reported or touched. An environment id is 1 to 128 characters of
//! `[A-Za-z0-9_.-]`, starting with a letter or digit (what a container name allows).

use std::time::Duration;

use async_trait::async_trait;

pub mod docker;
pub mod fake;

/// Prefix of every environment container's name: `rgpu-<environment id>`.
pub const CONTAINER_NAME_PREFIX: &str = "rgpu-";
/// Label holding the environment id.
pub const LABEL_ENVIRONMENT: &str = "remotegpu.environment";
/// Label holding the GPU uuids assigned to the container, comma-separated.
pub const LABEL_GPUS: &str = "remotegpu.gpus";
/// The variable the NVIDIA container runtime reads to choose the GPUs a container sees.
pub const NVIDIA_VISIBLE_DEVICES: &str = "NVIDIA_VISIBLE_DEVICES";

/// How a container is given its GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuMode {
    /// Real NVIDIA GPUs (the NVML collector): a Docker device request with driver `nvidia`,
    /// the GPU uuids as device ids and capabilities `[["gpu"]]`. The NVIDIA container toolkit
    /// must be installed on the host.
    DeviceRequests,
    /// Fake GPUs (the fake collector): no device request at all; the assignment is only
    /// visible inside the container as `NVIDIA_VISIBLE_DEVICES`.
    EnvOnly,
}

/// A host port published to a container port (TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortBinding {
    /// The port inside the container (22 for SSH, 8888 for Jupyter, ...).
    pub internal: u16,
    /// The port on the host's publish address (see `--publish-address`).
    pub external: u16,
}

/// A host directory mounted into the container (a bind mount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path on the host; it must exist.
    pub source: String,
    /// Absolute path inside the container.
    pub target: String,
    /// Mounted read-only (datasets always are).
    pub read_only: bool,
}

/// Everything needed to create an environment's container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// The environment id; names (`rgpu-<id>`) and labels the container.
    pub environment_id: String,
    /// Image reference (`repo/name:tag`, `name` alone means `name:latest`). Pulled only when
    /// it is not present locally, without registry credentials.
    pub image: String,
    /// CPU cores the container may use (Docker `NanoCpus` = cores × 10⁹); 0 = no limit.
    pub cpu_cores: u32,
    /// Memory limit in bytes (Docker `Memory`; swap is not allowed beyond it); 0 = no limit.
    pub memory_bytes: i64,
    /// Uuids of the GPUs assigned to the container (empty: a CPU-only environment).
    pub gpus: Vec<String>,
    /// How the GPUs are handed to the container.
    pub gpu_mode: GpuMode,
    /// Published TCP ports, bound on the runtime's publish address.
    pub ports: Vec<PortBinding>,
    /// Environment variables, in order. A name must be non-empty and hold no `=`. An entry
    /// named `NVIDIA_VISIBLE_DEVICES` is replaced by the GPU assignment (see [`gpu_env`]).
    pub env: Vec<(String, String)>,
    /// Bind mounts.
    pub mounts: Vec<Mount>,
    /// The command to run instead of the image's `CMD` (the image's `ENTRYPOINT`, if any, is
    /// kept); `None` runs the image's own `CMD`.
    pub command: Option<Vec<String>>,
}

/// What became of an environment's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    /// Its processes exist (Docker states `running`, `restarting` and `paused`).
    Running,
    /// It exists but does not run: never started, exited, or failed to start (`created`,
    /// `exited`, `dead`, `removing`).
    Stopped,
    /// There is no container for the environment.
    Missing,
}

/// An environment's container as the runtime sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerInfo {
    /// The environment id (from the `remotegpu.environment` label).
    pub environment_id: String,
    /// The runtime's id of the container; `None` when [`ContainerState::Missing`].
    pub container_id: Option<String>,
    /// Running, stopped or missing.
    pub state: ContainerState,
    /// The GPU uuids the container was created with (from the `remotegpu.gpus` label).
    pub gpus: Vec<String>,
    /// The image the container was created from; `None` when missing.
    pub image: Option<String>,
    /// The exit code of a container that ran and stopped; `None` otherwise.
    pub exit_code: Option<i64>,
    /// Why a stopped container stopped, in the runtime's words: the start error (for example
    /// an executable that does not exist in the image), `exited with code N`, or an
    /// out-of-memory kill. `None` for a running container or one that was never started.
    pub exit_message: Option<String>,
}

impl ContainerInfo {
    /// The answer for an environment that has no container.
    pub fn missing(environment_id: &str) -> Self {
        Self {
            environment_id: environment_id.to_string(),
            container_id: None,
            state: ContainerState::Missing,
            gpus: Vec::new(),
            image: None,
            exit_code: None,
            exit_message: None,
        }
    }
}

/// One reading of a running container's resource use.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ContainerUsage {
    /// CPU use in percent of one core (200 = two cores busy), averaged since the previous
    /// [`ContainerRuntime::usage`] call for the same environment (over about a second for the
    /// first call).
    pub cpu_percent: f64,
    /// Memory in use, page cache that can be reclaimed excluded (what `docker stats` shows).
    pub memory_used_bytes: i64,
    /// The container's memory limit (the host's memory when it has none).
    pub memory_limit_bytes: i64,
    /// Bytes received over all of the container's networks since it started.
    pub network_rx_bytes: i64,
    /// Bytes sent over all of the container's networks since it started.
    pub network_tx_bytes: i64,
}

/// What kind of failure a [`RuntimeError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeErrorKind {
    /// The image is not present and could not be pulled (unknown image, no registry access,
    /// ...): the environment fails with the message.
    Image,
    /// The environment has no container (start, stop or restart of a missing one).
    NotFound,
    /// The runtime refused because of the container's current state (a name or port already
    /// taken, a removal in progress).
    Conflict,
    /// The spec cannot be run as given (a bad environment id or variable name, a port 0).
    InvalidSpec,
    /// The runtime could not be reached (socket missing, connection refused, timeout); worth
    /// retrying later.
    Unavailable,
    /// Any other error reported by the runtime (a bind source that does not exist, a start
    /// failure, ...).
    Engine,
}

/// A failed runtime call. [`message`](Self::message) is the runtime's own words (Docker's
/// error message, e.g. `No such image: foo:latest`), fit to show the customer as the reason an
/// environment failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuntimeError {
    /// The kind of failure.
    pub kind: RuntimeErrorKind,
    /// The HTTP status the runtime answered with, when it answered at all.
    pub status: Option<u16>,
    /// The runtime's message.
    pub message: String,
}

impl RuntimeError {
    /// An error of the given kind without an HTTP status.
    pub fn new(kind: RuntimeErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            message: message.into(),
        }
    }

    /// The runtime's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The image is missing and could not be pulled.
    pub fn is_image_error(&self) -> bool {
        self.kind == RuntimeErrorKind::Image
    }

    /// The environment has no container.
    pub fn is_not_found(&self) -> bool {
        self.kind == RuntimeErrorKind::NotFound
    }
}

/// Runs environments' containers. All methods are idempotent and keyed by environment id; see
/// the module documentation.
#[async_trait]
pub trait ContainerRuntime: Send + Sync {
    /// Creates the environment's container (not started), pulling the image first only when
    /// it is not present locally. When a container for the environment already exists it is
    /// left as it is (not compared with `spec`) and described; remove it first to change it.
    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerInfo, RuntimeError>;

    /// Starts the container; Ok when it already runs. `NotFound` when there is none.
    async fn start(&self, environment_id: &str) -> Result<(), RuntimeError>;

    /// Stops the container: SIGTERM, then SIGKILL after `grace` (whole seconds, rounded up).
    /// Ok when it is already stopped. `NotFound` when there is none. Its disk is kept.
    async fn stop(&self, environment_id: &str, grace: Duration) -> Result<(), RuntimeError>;

    /// Stops the container (as [`stop`](Self::stop)) and starts it again; starts a stopped
    /// one. `NotFound` when there is none.
    async fn restart(&self, environment_id: &str, grace: Duration) -> Result<(), RuntimeError>;

    /// Removes the container, killing it if it runs, with its disk; Ok when there is none.
    async fn remove(&self, environment_id: &str) -> Result<(), RuntimeError>;

    /// Describes the environment's container; [`ContainerState::Missing`] when there is none.
    async fn inspect(&self, environment_id: &str) -> Result<ContainerInfo, RuntimeError>;

    /// Every container carrying the `remotegpu.environment` label, running or not.
    async fn list(&self) -> Result<Vec<ContainerInfo>, RuntimeError>;

    /// One reading of the container's resource use; `None` when it is not running or missing.
    async fn usage(&self, environment_id: &str) -> Result<Option<ContainerUsage>, RuntimeError>;
}

/// The container name of an environment: `rgpu-<environment id>`.
pub fn container_name(environment_id: &str) -> String {
    format!("{CONTAINER_NAME_PREFIX}{environment_id}")
}

/// Checks that an environment id can name a container: 1 to 128 characters of
/// `[A-Za-z0-9_.-]`, the first a letter or digit.
pub fn validate_environment_id(environment_id: &str) -> Result<(), RuntimeError> {
    let mut chars = environment_id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && environment_id.len() <= 128 {
        Ok(())
    } else {
        Err(RuntimeError::new(
            RuntimeErrorKind::InvalidSpec,
            format!(
                "invalid environment id {environment_id:?}: 1 to 128 characters of \
                 [A-Za-z0-9_.-], starting with a letter or digit"
            ),
        ))
    }
}

/// Checks a spec before it reaches the runtime: the environment id, variable names, ports.
pub fn validate_spec(spec: &ContainerSpec) -> Result<(), RuntimeError> {
    validate_environment_id(&spec.environment_id)?;
    let invalid = |message: String| Err(RuntimeError::new(RuntimeErrorKind::InvalidSpec, message));
    if spec.image.trim().is_empty() {
        return invalid("no image given".to_string());
    }
    if spec.memory_bytes < 0 {
        return invalid(format!("negative memory limit {}", spec.memory_bytes));
    }
    for (name, _) in &spec.env {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return invalid(format!("invalid environment variable name {name:?}"));
        }
    }
    for port in &spec.ports {
        if port.internal == 0 || port.external == 0 {
            return invalid(format!(
                "invalid port binding {} -> {}: ports must not be 0",
                port.external, port.internal
            ));
        }
    }
    if spec.gpus.iter().any(|g| g.is_empty() || g.contains(',')) {
        return invalid("a GPU uuid is empty or contains a comma".to_string());
    }
    Ok(())
}

/// The value of `NVIDIA_VISIBLE_DEVICES` for a container: its GPU uuids comma-joined, or
/// `void` when it has none.
///
/// It is set in both [`GpuMode`]s. With [`GpuMode::EnvOnly`] it is the whole assignment. With
/// [`GpuMode::DeviceRequests`] it repeats the device request, so an image whose own
/// environment says `NVIDIA_VISIBLE_DEVICES=all` (the CUDA images do) cannot see more GPUs
/// than it was given where the NVIDIA runtime reads the variable; `void` is the NVIDIA
/// toolkit's value for "no GPU", so a CPU-only environment sees none.
pub fn gpu_env(gpus: &[String]) -> String {
    if gpus.is_empty() {
        "void".to_string()
    } else {
        gpus.join(",")
    }
}

/// The container's environment: `spec.env` in order without any `NVIDIA_VISIBLE_DEVICES`
/// entry, then `NVIDIA_VISIBLE_DEVICES=`[`gpu_env`].
pub fn container_env(spec: &ContainerSpec) -> Vec<String> {
    spec.env
        .iter()
        .filter(|(name, _)| name != NVIDIA_VISIBLE_DEVICES)
        .map(|(name, value)| format!("{name}={value}"))
        .chain(std::iter::once(format!(
            "{NVIDIA_VISIBLE_DEVICES}={}",
            gpu_env(&spec.gpus)
        )))
        .collect()
}

/// The GPU uuids stored in a `remotegpu.gpus` label value.
pub fn parse_gpus_label(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec(id: &str) -> ContainerSpec {
        ContainerSpec {
            environment_id: id.to_string(),
            image: "img:1".to_string(),
            cpu_cores: 2,
            memory_bytes: 1 << 30,
            gpus: vec!["GPU-a".to_string(), "GPU-b".to_string()],
            gpu_mode: GpuMode::EnvOnly,
            ports: vec![PortBinding {
                internal: 22,
                external: 30001,
            }],
            env: vec![("A".to_string(), "1".to_string())],
            mounts: Vec::new(),
            command: None,
        }
    }

    #[test]
    fn environment_ids() {
        for ok in ["1", "abc", "env-12_x.y", &"a".repeat(128)] {
            assert!(validate_environment_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "a/b", "a b", "é", &"a".repeat(129)] {
            let err = validate_environment_id(bad).unwrap_err();
            assert_eq!(err.kind, RuntimeErrorKind::InvalidSpec, "{bad}");
        }
        assert_eq!(container_name("42"), "rgpu-42");
    }

    #[test]
    fn specs_are_checked() {
        assert!(validate_spec(&spec("e1")).is_ok());
        let mut s = spec("e1");
        s.env.push(("A=B".to_string(), "x".to_string()));
        assert!(validate_spec(&s).is_err());
        let mut s = spec("e1");
        s.ports[0].external = 0;
        assert!(validate_spec(&s).is_err());
        let mut s = spec("e1");
        s.image = " ".to_string();
        assert!(validate_spec(&s).is_err());
        let mut s = spec("e1");
        s.gpus.push("a,b".to_string());
        assert!(validate_spec(&s).is_err());
    }

    #[test]
    fn gpu_environment() {
        let mut s = spec("e1");
        s.env
            .push((NVIDIA_VISIBLE_DEVICES.to_string(), "all".to_string()));
        assert_eq!(
            container_env(&s),
            ["A=1", "NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b"]
        );
        s.gpus.clear();
        assert_eq!(container_env(&s), ["A=1", "NVIDIA_VISIBLE_DEVICES=void"]);
        assert_eq!(parse_gpus_label("GPU-a,GPU-b"), ["GPU-a", "GPU-b"]);
        assert!(parse_gpus_label("").is_empty());
    }

    #[test]
    fn errors_show_the_runtime_message() {
        let e = RuntimeError::new(RuntimeErrorKind::Image, "No such image: foo:latest");
        assert_eq!(e.to_string(), "No such image: foo:latest");
        assert!(e.is_image_error());
        assert!(!e.is_not_found());
    }
}
