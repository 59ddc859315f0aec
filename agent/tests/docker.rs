//! The Docker runtime against a real Docker Engine (`scripts/docker-test-env.sh` sets one up,
//! with the local test image `remotegpu-test/busybox:latest`).
//!
//! What the runtime did is checked through the Engine's own inspect answer. Connections from
//! the tests go only to ports published on 127.0.0.1; the network isolation test connects
//! from inside its own containers to the addresses of its own containers (from the Engine's
//! inspect answer), never elsewhere. Every test uses environment ids, tenant networks and a
//! storage root unique to the run, and removes its containers, networks and firewall rules,
//! also when it fails.
//!
//! Without a Docker socket (or without the test image) each test prints a visible skip line
//! and passes, except under `CI` (set, and not `0`/`false`), where it fails.
//! `REMOTEGPU_TEST_DOCKER_SOCKET` and `REMOTEGPU_TEST_IMAGE` override the defaults.
#![cfg(unix)]
// Test helpers outside `#[test]` functions panic on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, ContainerInspectResponse};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StatsOptionsBuilder,
};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::StreamExt;
use remotegpu_agent::runtime::docker::{DockerRuntime, DockerSettings, Hardening, DEFAULT_SOCKET};
use remotegpu_agent::runtime::{
    ContainerRuntime, ContainerSpec, ContainerState, GpuMode, Mount, PortBinding, RuntimeErrorKind,
};
use remotegpu_agent::storage::StorageRoot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEFAULT_IMAGE: &str = "remotegpu-test/busybox:latest";
const GRACE: Duration = Duration::from_secs(1);
const DEADLINE: Duration = Duration::from_secs(30);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

fn socket() -> PathBuf {
    std::env::var_os("REMOTEGPU_TEST_DOCKER_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

fn image() -> String {
    std::env::var("REMOTEGPU_TEST_IMAGE").unwrap_or_else(|_| DEFAULT_IMAGE.to_string())
}

/// Open files per process in the tests' containers. The default profile's 65536 needs an
/// Engine whose own hard limit is at least that, or that may raise it (`CAP_SYS_RESOURCE`);
/// a test `dockerd` started by hand in a sandbox may have neither (20000 on one such
/// machine), and then every start fails with "error setting rlimit type 7".
const TEST_NOFILE: i64 = 8192;

/// The default container profile, with [`TEST_NOFILE`].
fn test_hardening() -> Hardening {
    Hardening {
        nofile_limit: TEST_NOFILE,
        ..Hardening::default()
    }
}

/// Tenant networks made by this test process, for unique names.
static NETWORKS: AtomicU32 = AtomicU32::new(0);

/// One test at a time on the Engine, as on a host, where one agent (one runtime, whose lock
/// orders its network changes) drives the Engine. Several runtimes creating and removing
/// networks at once are several agents on one Engine, which no deployment has: there, a new
/// bridge was once seen reachable from another tenant's while the Engine rewrote its
/// isolation rules.
static ENGINE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A test's view of Docker: the runtime under test, a raw Engine client to check what it did,
/// a storage root of its own, and the containers and networks to remove at the end.
struct Env {
    runtime: DockerRuntime,
    engine: Docker,
    image: String,
    prefix: String,
    counter: AtomicU32,
    created: std::sync::Mutex<Vec<String>>,
    networks: std::sync::Mutex<Vec<String>>,
    /// The tenant network of [`spec`](Self::spec).
    network: String,
    storage: StorageRoot,
    _storage_dir: tempfile::TempDir,
    /// Held for the whole test; released after `Drop` cleaned up.
    _engine: tokio::sync::MutexGuard<'static, ()>,
}

impl Env {
    /// Connects, or explains why not: a skip outside CI, a failure in it.
    async fn get(test: &str) -> Option<Env> {
        Self::with_hardening(test, test_hardening()).await
    }

    /// As [`get`](Self::get), with the runtime given this container profile.
    async fn with_hardening(test: &str, hardening: Hardening) -> Option<Env> {
        match Self::connect(hardening).await {
            Ok(env) => Some(env),
            Err(problem) => {
                let advice = "run scripts/docker-test-env.sh as root to set Docker up";
                if in_ci() {
                    panic!("Docker is required under CI: {problem}; {advice}");
                }
                // Written to stderr directly, so the test harness does not swallow it.
                let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {problem} ({advice})");
                None
            }
        }
    }

    async fn connect(hardening: Hardening) -> Result<Env, String> {
        let engine_turn = ENGINE.lock().await;
        let socket = socket();
        if !socket.exists() {
            return Err(format!("no Docker socket at {}", socket.display()));
        }
        let engine = Docker::connect_with_unix(&socket.to_string_lossy(), 60, API_DEFAULT_VERSION)
            .map_err(|e| e.to_string())?
            .negotiate_version()
            .await
            .map_err(|e| format!("Docker at {} does not answer: {e}", socket.display()))?;
        let image = image();
        engine
            .inspect_image(&image)
            .await
            .map_err(|e| format!("the test image {image} is missing: {e}"))?;
        let storage_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let storage = StorageRoot::new(storage_dir.path());
        let runtime = DockerRuntime::new(DockerSettings {
            socket,
            publish_address: IpAddr::from([127, 0, 0, 1]),
            storage: storage.clone(),
            hardening,
            isolate_host: true,
            ..Default::default()
        });
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let env = Env {
            runtime,
            engine,
            image,
            prefix: format!("t{}-{nanos}", std::process::id()),
            counter: AtomicU32::new(0),
            created: std::sync::Mutex::new(Vec::new()),
            networks: std::sync::Mutex::new(Vec::new()),
            network: String::new(),
            storage,
            _storage_dir: storage_dir,
            _engine: engine_turn,
        };
        let mut env = env;
        env.network = env.new_network();
        Ok(env)
    }

    /// A tenant network name unique to this run (`rgpu-c9` then 8 digits from the process id
    /// and a counter: 15 characters), removed when the test ends.
    fn new_network(&self) -> String {
        let n = NETWORKS.fetch_add(1, Ordering::Relaxed);
        let name = format!("rgpu-c9{:05}{:03}", std::process::id() % 100_000, n % 1000);
        self.networks.lock().unwrap().push(name.clone());
        name
    }

    /// A fresh environment id, removed when the test ends.
    fn id(&self, what: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{what}-{n}", self.prefix);
        self.created.lock().unwrap().push(format!("rgpu-{id}"));
        id
    }

    /// A container name to remove when the test ends (for containers made without the runtime).
    fn track(&self, name: &str) {
        self.created.lock().unwrap().push(name.to_string());
    }

    fn spec(&self, id: &str) -> ContainerSpec {
        ContainerSpec {
            environment_id: id.to_string(),
            image: self.image.clone(),
            cpu_cores: 1,
            memory_bytes: 64 << 20,
            shm_size_bytes: 0,
            network: self.network.clone(),
            gpus: Vec::new(),
            gpu_mode: GpuMode::EnvOnly,
            ports: Vec::new(),
            env: Vec::new(),
            mounts: Vec::new(),
            command: None,
        }
    }

    async fn engine_inspect(&self, id: &str) -> ContainerInspectResponse {
        self.engine
            .inspect_container(&format!("rgpu-{id}"), None)
            .await
            .unwrap()
    }

    /// Runs `command` in the environment's running container; its exit code and output.
    async fn exec(&self, id: &str, command: &[impl AsRef<str>]) -> (i64, String) {
        let exec = self
            .engine
            .create_exec(
                &format!("rgpu-{id}"),
                CreateExecOptions {
                    cmd: Some(command.iter().map(|c| c.as_ref().to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut text = String::new();
        if let StartExecResults::Attached { mut output, .. } =
            self.engine.start_exec(&exec.id, None).await.unwrap()
        {
            while let Some(Ok(chunk)) = output.next().await {
                text.push_str(&chunk.to_string());
            }
        }
        let code = self
            .engine
            .inspect_exec(&exec.id)
            .await
            .unwrap()
            .exit_code
            .unwrap_or(-1);
        (code, text)
    }

    /// The container's address on a network, from the Engine's inspect answer.
    async fn address(&self, id: &str, network: &str) -> String {
        let inspected = self.engine_inspect(id).await;
        let networks = inspected.network_settings.unwrap().networks.unwrap();
        let address = networks[network].ip_address.clone().unwrap();
        assert!(!address.is_empty(), "{id} has no address on {network}");
        address
    }

    /// Whether the Engine has a network of this name.
    async fn network_exists(&self, name: &str) -> bool {
        match self.engine.inspect_network(name, None).await {
            Ok(n) => n.name.as_deref() == Some(name),
            Err(_) => false,
        }
    }

    /// Polls `inspect` until the container is in `state`, up to the deadline.
    async fn wait_for(&self, id: &str, state: ContainerState) {
        let start = Instant::now();
        loop {
            let info = self.runtime.inspect(id).await.unwrap();
            if info.state == state {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{id} is still {:?}, not {state:?}: {info:?}",
                info.state
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Whether the host's firewall holds the rule that shields it from `bridge` (`iptables -C`).
fn host_shielded_from(bridge: &str) -> bool {
    std::process::Command::new("iptables")
        .args(firewall_rule("-C", bridge))
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the Engine isolates its bridges from each other (its `DOCKER-ISOLATION` chains).
fn docker_isolates_bridges() -> bool {
    std::process::Command::new("iptables")
        .args(["-w", "-S", "DOCKER-ISOLATION-STAGE-1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn firewall_rule(operation: &str, bridge: &str) -> Vec<String> {
    [
        "-w",
        operation,
        "INPUT",
        "-i",
        bridge,
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-j",
        "DROP",
    ]
    .map(str::to_string)
    .to_vec()
}

impl Drop for Env {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        let networks =
            std::mem::take(&mut *self.networks.lock().unwrap_or_else(|e| e.into_inner()));
        let socket = socket();
        // Drop cannot await: clean up on a thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let Ok(docker) =
                    Docker::connect_with_unix(&socket.to_string_lossy(), 60, API_DEFAULT_VERSION)
                else {
                    return;
                };
                let Ok(docker) = docker.negotiate_version().await else {
                    return;
                };
                for name in names {
                    let options = RemoveContainerOptionsBuilder::new()
                        .force(true)
                        .v(true)
                        .build();
                    let _ = docker.remove_container(&name, Some(options)).await;
                }
                for network in &networks {
                    let _ = docker.remove_network(network).await;
                }
            });
            // Firewall rules the runtime did not take out (a test that failed midway).
            for network in &networks {
                for program in ["iptables", "ip6tables"] {
                    for _ in 0..8 {
                        let deleted = std::process::Command::new(program)
                            .args(firewall_rule("-D", network))
                            .stderr(std::process::Stdio::null())
                            .status()
                            .is_ok_and(|s| s.success());
                        if !deleted {
                            break;
                        }
                    }
                }
            }
        });
        let _ = cleanup.join();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:port, retried until an answer contains `expected` or the deadline.
async fn http_get_until(port: u16, path: &str, expected: &str) -> String {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < DEADLINE {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
            if stream.write_all(request.as_bytes()).await.is_ok() {
                let mut answer = Vec::new();
                let read =
                    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
                        .await;
                last = String::from_utf8_lossy(&answer).into_owned();
                if read.is_ok() && last.contains(expected) {
                    return last;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("127.0.0.1:{port}{path} never answered with {expected:?}; last answer: {last:?}");
}

#[tokio::test]
async fn lifecycle_with_limits_ports_env_and_a_read_only_mount() {
    let Some(env) = Env::get("lifecycle_with_limits_ports_env_and_a_read_only_mount").await else {
        return;
    };
    // A dataset already in the storage: the key's directory holds a file.
    let key = format!("datasets/c9/{}/v1", env.prefix);
    let dataset_path = env.storage.resolve(&key).unwrap();
    std::fs::write(dataset_path.join("hello.txt"), "dataset content\n").unwrap();
    let port = free_port();
    let id = env.id("life");
    let spec = ContainerSpec {
        gpus: vec!["GPU-test-a".to_string(), "GPU-test-b".to_string()],
        ports: vec![PortBinding {
            internal: 8080,
            external: port,
        }],
        env: vec![("GREETING".to_string(), "hello world".to_string())],
        mounts: vec![Mount {
            key: key.clone(),
            target: "/data".to_string(),
            read_only: true,
        }],
        // Serve the mounted dataset on the published port.
        command: Some(
            ["busybox", "httpd", "-f", "-p", "8080", "-h", "/data"]
                .map(String::from)
                .to_vec(),
        ),
        ..env.spec(&id)
    };

    let created = env.runtime.create(&spec).await.unwrap();
    assert_eq!(created.state, ContainerState::Stopped);
    assert_eq!(created.environment_id, id);
    assert_eq!(created.gpus, ["GPU-test-a", "GPU-test-b"]);
    assert_eq!(created.image.as_deref(), Some(env.image.as_str()));
    let container_id = created.container_id.clone().unwrap();
    // Creating again finds the same container.
    let again = env.runtime.create(&spec).await.unwrap();
    assert_eq!(again.container_id.as_deref(), Some(container_id.as_str()));

    // What the Engine holds.
    let inspected = env.engine_inspect(&id).await;
    assert_eq!(inspected.id.as_deref(), Some(container_id.as_str()));
    assert_eq!(
        inspected.name.as_deref(),
        Some(format!("/rgpu-{id}").as_str())
    );
    let host = inspected.host_config.as_ref().unwrap();
    assert_eq!(host.nano_cpus, Some(1_000_000_000));
    assert_eq!(host.memory, Some(64 << 20));
    assert!(host.device_requests.as_ref().is_none_or(|d| d.is_empty()));
    let bindings = host.port_bindings.as_ref().unwrap()["8080/tcp"]
        .as_ref()
        .unwrap();
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(bindings[0].host_port, Some(port.to_string()));
    let config = inspected.config.as_ref().unwrap();
    let vars = config.env.as_ref().unwrap();
    assert!(
        vars.contains(&"GREETING=hello world".to_string()),
        "{vars:?}"
    );
    assert!(
        vars.contains(&"NVIDIA_VISIBLE_DEVICES=GPU-test-a,GPU-test-b".to_string()),
        "{vars:?}"
    );
    let labels = config.labels.as_ref().unwrap();
    assert_eq!(labels["remotegpu.environment"], id);
    assert_eq!(labels["remotegpu.gpus"], "GPU-test-a,GPU-test-b");
    let mounts = inspected.mounts.as_ref().unwrap();
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    assert_eq!(
        mounts[0].source.as_deref(),
        Some(dataset_path.to_string_lossy().as_ref())
    );
    assert_eq!(mounts[0].destination.as_deref(), Some("/data"));
    assert_eq!(mounts[0].rw, Some(false));

    // Start: running, reachable through the published port on 127.0.0.1.
    env.runtime.start(&id).await.unwrap();
    env.runtime.start(&id).await.unwrap();
    env.wait_for(&id, ContainerState::Running).await;
    let answer = http_get_until(port, "/hello.txt", "dataset content").await;
    assert!(answer.starts_with("HTTP/1."), "{answer}");

    // Usage: numbers for a running container, twice (the second against the first).
    for _ in 0..2 {
        let usage = env.runtime.usage(&id).await.unwrap().expect("usage");
        assert!(
            usage.cpu_percent.is_finite() && usage.cpu_percent >= 0.0,
            "{usage:?}"
        );
        assert!(usage.memory_used_bytes > 0, "{usage:?}");
        assert_eq!(usage.memory_limit_bytes, 64 << 20);
        assert!(usage.network_rx_bytes >= 0 && usage.network_tx_bytes >= 0);
    }
    let listed = env.runtime.list().await.unwrap();
    let mine = listed.iter().find(|i| i.environment_id == id).unwrap();
    assert_eq!(mine.state, ContainerState::Running);
    assert_eq!(mine.container_id.as_deref(), Some(container_id.as_str()));

    // Stop, twice.
    env.runtime.stop(&id, GRACE).await.unwrap();
    env.runtime.stop(&id, GRACE).await.unwrap();
    let stopped = env.runtime.inspect(&id).await.unwrap();
    assert_eq!(stopped.state, ContainerState::Stopped);
    assert!(stopped.exit_code.is_some(), "{stopped:?}");
    assert!(stopped.exit_message.is_some(), "{stopped:?}");
    assert_eq!(env.runtime.usage(&id).await.unwrap(), None);

    // Restart starts a stopped container; the port serves again.
    env.runtime.restart(&id, GRACE).await.unwrap();
    env.wait_for(&id, ContainerState::Running).await;
    http_get_until(port, "/hello.txt", "dataset content").await;

    // Remove, twice; then it is missing everywhere.
    env.runtime.remove(&id).await.unwrap();
    env.runtime.remove(&id).await.unwrap();
    let gone = env.runtime.inspect(&id).await.unwrap();
    assert_eq!(gone.state, ContainerState::Missing);
    assert_eq!(gone.container_id, None);
    assert_eq!(env.runtime.usage(&id).await.unwrap(), None);
    assert!(env
        .runtime
        .list()
        .await
        .unwrap()
        .iter()
        .all(|i| i.environment_id != id));
    let err = env.runtime.start(&id).await.unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::NotFound);
    assert!(err.message().contains(&format!("rgpu-{id}")), "{err}");
    let err = env.runtime.stop(&id, GRACE).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn device_requests_name_the_gpus_and_no_gpu_means_void() {
    let Some(env) = Env::get("device_requests_name_the_gpus_and_no_gpu_means_void").await else {
        return;
    };
    let id = env.id("gpus");
    let spec = ContainerSpec {
        gpus: vec!["GPU-test-1".to_string()],
        gpu_mode: GpuMode::DeviceRequests,
        ..env.spec(&id)
    };
    env.runtime.create(&spec).await.unwrap();
    let inspected = env.engine_inspect(&id).await;
    let requests = inspected
        .host_config
        .as_ref()
        .unwrap()
        .device_requests
        .clone()
        .unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].driver.as_deref(), Some("nvidia"));
    assert_eq!(
        requests[0].device_ids.as_deref(),
        Some(&["GPU-test-1".to_string()][..])
    );
    assert_eq!(
        requests[0].capabilities.as_deref(),
        Some(&[vec!["gpu".to_string()]][..])
    );
    let vars = inspected.config.unwrap().env.unwrap();
    assert!(vars.contains(&"NVIDIA_VISIBLE_DEVICES=GPU-test-1".to_string()));

    let cpu_only = env.id("cpuonly");
    env.runtime
        .create(&ContainerSpec {
            gpu_mode: GpuMode::DeviceRequests,
            ..env.spec(&cpu_only)
        })
        .await
        .unwrap();
    let inspected = env.engine_inspect(&cpu_only).await;
    assert!(inspected
        .host_config
        .unwrap()
        .device_requests
        .is_none_or(|d| d.is_empty()));
    let vars = inspected.config.unwrap().env.unwrap();
    assert!(
        vars.contains(&"NVIDIA_VISIBLE_DEVICES=void".to_string()),
        "{vars:?}"
    );
}

#[tokio::test]
async fn a_missing_image_fails_with_dockers_message() {
    let Some(env) = Env::get("a_missing_image_fails_with_dockers_message").await else {
        return;
    };
    let id = env.id("noimage");
    let image = format!("remotegpu-test/absent-{}:1", env.prefix);
    let err = env
        .runtime
        .create(&ContainerSpec {
            image: image.clone(),
            ..env.spec(&id)
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::Image, "{err:?}");
    assert!(err.is_image_error());
    // Docker's words: the image is unknown here, and the pull that was tried failed.
    assert!(
        err.message()
            .starts_with(&format!("No such image: {image}")),
        "{err}"
    );
    assert!(err.message().contains("pulling it failed: "), "{err}");
    assert_eq!(
        env.runtime.inspect(&id).await.unwrap().state,
        ContainerState::Missing
    );
    // The network made for it is not left behind.
    assert!(!env.network_exists(&env.network).await);
}

#[tokio::test]
async fn start_failures_and_exits_carry_dockers_words() {
    let Some(env) = Env::get("start_failures_and_exits_carry_dockers_words").await else {
        return;
    };
    // An executable that is not in the image: start fails, and the container says why.
    let id = env.id("badcmd");
    env.runtime
        .create(&ContainerSpec {
            command: Some(vec!["/no/such/program".to_string()]),
            ..env.spec(&id)
        })
        .await
        .unwrap();
    let err = env.runtime.start(&id).await.unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::Engine, "{err:?}");
    assert!(err.message().contains("/no/such/program"), "{err}");
    let info = env.runtime.inspect(&id).await.unwrap();
    assert_eq!(info.state, ContainerState::Stopped);
    assert!(
        info.exit_message
            .as_deref()
            .is_some_and(|m| m.contains("/no/such/program")),
        "{info:?}"
    );

    // A command that exits by itself.
    let id = env.id("exit3");
    env.runtime
        .create(&ContainerSpec {
            command: Some(["sh", "-c", "exit 3"].map(String::from).to_vec()),
            ..env.spec(&id)
        })
        .await
        .unwrap();
    env.runtime.start(&id).await.unwrap();
    env.wait_for(&id, ContainerState::Stopped).await;
    let info = env.runtime.inspect(&id).await.unwrap();
    assert_eq!(info.exit_code, Some(3));
    assert_eq!(info.exit_message.as_deref(), Some("exited with code 3"));
}

#[tokio::test]
async fn list_finds_only_labelled_containers() {
    let Some(env) = Env::get("list_finds_only_labelled_containers").await else {
        return;
    };
    let stopped = env.id("listed-stopped");
    let running = env.id("listed-running");
    env.runtime.create(&env.spec(&stopped)).await.unwrap();
    env.runtime.create(&env.spec(&running)).await.unwrap();
    env.runtime.start(&running).await.unwrap();
    env.wait_for(&running, ContainerState::Running).await;

    // A container with the runtime's naming but without its label is not the agent's.
    let stranger = format!("rgpu-{}-stranger", env.prefix);
    env.track(&stranger);
    env.engine
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&stranger).build()),
            ContainerCreateBody {
                image: Some(env.image.clone()),
                labels: Some(HashMap::from([(
                    "something.else".to_string(),
                    "x".to_string(),
                )])),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let listed = env.runtime.list().await.unwrap();
    let mine: Vec<_> = listed
        .iter()
        .filter(|i| i.environment_id.starts_with(&env.prefix))
        .map(|i| (i.environment_id.as_str(), i.state))
        .collect();
    assert_eq!(
        mine,
        [
            (running.as_str(), ContainerState::Running),
            (stopped.as_str(), ContainerState::Stopped)
        ]
    );
    assert!(listed
        .iter()
        .all(|i| i.environment_id != format!("{}-stranger", env.prefix)));
}

#[tokio::test]
async fn concurrent_creates_make_one_container() {
    let Some(env) = Env::get("concurrent_creates_make_one_container").await else {
        return;
    };
    let id = env.id("race");
    let spec = env.spec(&id);
    let (a, b) = tokio::join!(env.runtime.create(&spec), env.runtime.create(&spec));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.container_id.is_some());
    assert_eq!(a.container_id, b.container_id);
    let listed = env.runtime.list().await.unwrap();
    assert_eq!(listed.iter().filter(|i| i.environment_id == id).count(), 1);
}

/// The capabilities the profile keeps, as the kernel's bit mask (`CapEff` in
/// `/proc/<pid>/status`): CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4, KILL 5, SETGID 6,
/// SETUID 7, SETPCAP 8, NET_BIND_SERVICE 10, SYS_CHROOT 18, AUDIT_WRITE 29.
const PROFILE_CAPABILITIES: u64 = 0x2004_05fb;

#[tokio::test]
async fn a_mounted_key_and_the_container_profile() {
    let Some(env) = Env::get("a_mounted_key_and_the_container_profile").await else {
        return;
    };
    let id = env.id("profile");
    let dataset = format!("datasets/c9/{}/d1", env.prefix);
    let home = format!("home/c9/{}/u1", env.prefix);
    let spec = ContainerSpec {
        shm_size_bytes: 32 << 20,
        mounts: vec![
            Mount {
                key: dataset.clone(),
                target: "/data".to_string(),
                read_only: true,
            },
            Mount {
                key: home.clone(),
                target: "/root".to_string(),
                read_only: false,
            },
        ],
        command: Some(["sleep", "600"].map(String::from).to_vec()),
        ..env.spec(&id)
    };
    env.runtime.create(&spec).await.unwrap();

    let root = std::fs::canonicalize(env.storage.path()).unwrap();
    let inspected = env.engine_inspect(&id).await;
    let mut mounts = inspected.mounts.clone().unwrap();
    mounts.sort_by(|a, b| a.destination.cmp(&b.destination));
    assert_eq!(mounts.len(), 2, "{mounts:?}");
    let expected = [("/data", &dataset, false), ("/root", &home, true)];
    for (mount, (target, key, rw)) in mounts.iter().zip(expected) {
        let source = PathBuf::from(mount.source.as_deref().unwrap());
        assert!(
            source.starts_with(&root),
            "{source:?} is not beneath {root:?}"
        );
        assert_eq!(source, root.join(key));
        assert!(source.is_dir());
        assert_eq!(mount.destination.as_deref(), Some(target));
        assert_eq!(mount.rw, Some(rw), "{target}");
    }
    let host = inspected.host_config.as_ref().unwrap();
    assert!(
        host.security_opt
            .as_ref()
            .unwrap()
            .contains(&"no-new-privileges:true".to_string()),
        "{:?}",
        host.security_opt
    );
    assert_eq!(host.cap_drop.as_deref(), Some(&["ALL".to_string()][..]));
    let added = host.cap_add.clone().unwrap();
    for never in ["NET_RAW", "CAP_NET_RAW", "SYS_ADMIN", "MKNOD"] {
        assert!(!added.contains(&never.to_string()), "{never} in {added:?}");
    }
    assert!(added.contains(&"SETUID".to_string()), "{added:?}");
    assert_eq!(host.pids_limit, Some(4096));
    assert_eq!(host.shm_size, Some(32 << 20));
    let ulimits = host.ulimits.clone().unwrap();
    assert_eq!(ulimits.len(), 1, "{ulimits:?}");
    assert_eq!(ulimits[0].name.as_deref(), Some("nofile"));
    assert_eq!(
        (ulimits[0].soft, ulimits[0].hard),
        (Some(TEST_NOFILE), Some(TEST_NOFILE))
    );
    assert_eq!(host.network_mode.as_deref(), Some(env.network.as_str()));
    assert!(host.storage_opt.as_ref().is_none_or(|o| o.is_empty()));
    assert!(!host.privileged.unwrap_or(false));
    let labels = inspected.config.as_ref().unwrap().labels.clone().unwrap();
    assert_eq!(labels["remotegpu.network"], env.network);

    // And inside: no new privileges, exactly the profile's capabilities, the limits.
    env.runtime.start(&id).await.unwrap();
    env.wait_for(&id, ContainerState::Running).await;
    let (code, status) = env.exec(&id, &["cat", "/proc/self/status"]).await;
    assert_eq!(code, 0, "{status}");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    };
    assert_eq!(field("NoNewPrivs"), "1");
    assert_eq!(
        u64::from_str_radix(&field("CapEff"), 16).unwrap(),
        PROFILE_CAPABILITIES
    );
    assert_eq!(
        u64::from_str_radix(&field("CapBnd"), 16).unwrap(),
        PROFILE_CAPABILITIES
    );
    let (_, limits) = env.exec(&id, &["sh", "-c", "ulimit -n; ulimit -Hn"]).await;
    assert_eq!(
        limits.split_whitespace().collect::<Vec<_>>(),
        ["8192", "8192"]
    );
    // The read-write mount takes the customer's files onto the storage root.
    let (code, out) = env
        .exec(&id, &["sh", "-c", "echo kept > /root/notes && cat /data/x"])
        .await;
    assert_ne!(code, 0, "{out}");
    assert_eq!(
        std::fs::read_to_string(root.join(&home).join("notes")).unwrap(),
        "kept\n"
    );
    let (code, out) = env.exec(&id, &["sh", "-c", "echo no > /data/x"]).await;
    assert_ne!(code, 0, "a read-only mount took a write: {out}");
}

#[tokio::test]
async fn keys_that_leave_the_storage_root_are_refused() {
    let Some(env) = Env::get("keys_that_leave_the_storage_root_are_refused").await else {
        return;
    };
    // A symlink planted in the root, pointing at /.
    std::os::unix::fs::symlink("/", env.storage.path().join("planted")).unwrap();
    for key in [
        "../x",
        "datasets/../../x",
        "/var/run/docker.sock",
        "/",
        "planted",
        "planted/var/run",
    ] {
        let id = env.id("escape");
        let spec = ContainerSpec {
            mounts: vec![Mount {
                key: key.to_string(),
                target: "/host".to_string(),
                read_only: false,
            }],
            ..env.spec(&id)
        };
        let err = env.runtime.create(&spec).await.unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::InvalidSpec, "{key}: {err:?}");
        assert!(
            err.message()
                .starts_with(&format!("mount refused: storage key {key:?} refused: ")),
            "{err}"
        );
        assert_eq!(
            env.runtime.inspect(&id).await.unwrap().state,
            ContainerState::Missing,
            "{key}"
        );
        let filters = HashMap::from([("name", vec![format!("rgpu-{id}")])]);
        let filters: HashMap<&str, Vec<&str>> = filters
            .iter()
            .map(|(k, v)| (*k, v.iter().map(String::as_str).collect()))
            .collect();
        let found = env
            .engine
            .list_containers(Some(
                ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .unwrap();
        assert!(found.is_empty(), "{key}: {found:?}");
    }
    assert!(err_mentions_symlink(&env).await);
    // Refused before anything else: not even the tenant network was made.
    assert!(!env.network_exists(&env.network).await);
    // Nothing was created outside the root.
    assert!(!std::path::Path::new("/var/run/docker.sock/x").exists());
}

/// The refusal of a key through the planted symlink names it.
async fn err_mentions_symlink(env: &Env) -> bool {
    let id = env.id("escape");
    let spec = ContainerSpec {
        mounts: vec![Mount {
            key: "planted/etc".to_string(),
            target: "/host".to_string(),
            read_only: true,
        }],
        ..env.spec(&id)
    };
    let err = env.runtime.create(&spec).await.unwrap_err();
    err.message().contains("is a symbolic link")
}

/// `wget` of `url` inside a container, given up after 3 s. (`busybox wget -T` crashes in the
/// Debian 12 build of the test image, so the time limit is busybox's `timeout`.)
fn fetch(url: &str) -> [String; 3] {
    [
        "sh".to_string(),
        "-c".to_string(),
        format!("timeout 3 wget -qO- {url}"),
    ]
}

#[tokio::test]
async fn tenants_reach_their_own_containers_and_no_one_else() {
    let Some(env) = Env::get("tenants_reach_their_own_containers_and_no_one_else").await else {
        return;
    };
    let tenant_a = env.network.clone();
    let tenant_b = env.new_network();
    // The image's own command serves HTTP on 8888.
    let a1 = env.id("a1");
    let a2 = env.id("a2");
    let b1 = env.id("b1");
    for (id, network) in [(&a1, &tenant_a), (&a2, &tenant_a), (&b1, &tenant_b)] {
        let spec = ContainerSpec {
            network: network.clone(),
            ..env.spec(id)
        };
        env.runtime.create(&spec).await.unwrap();
        env.runtime.start(id).await.unwrap();
    }
    for id in [&a1, &a2, &b1] {
        env.wait_for(id, ContainerState::Running).await;
    }
    assert!(env.network_exists(&tenant_a).await);
    assert!(env.network_exists(&tenant_b).await);
    let network = env.engine.inspect_network(&tenant_a, None).await.unwrap();
    let options = network.options.unwrap();
    assert_eq!(options["com.docker.network.bridge.name"], tenant_a);
    assert_eq!(options["com.docker.network.bridge.enable_icc"], "true");
    assert_eq!(network.labels.unwrap()["remotegpu.network"], "tenant");
    // The host is shielded from both bridges.
    assert!(
        host_shielded_from(&tenant_a),
        "no INPUT rule for {tenant_a}"
    );
    assert!(
        host_shielded_from(&tenant_b),
        "no INPUT rule for {tenant_b}"
    );

    let a2_address = env.address(&a2, &tenant_a).await;
    let b1_address = env.address(&b1, &tenant_b).await;
    // The same tenant: reachable (retried while the server in a2 comes up).
    let start = Instant::now();
    loop {
        let url = format!("http://{a2_address}:8888/");
        let (code, out) = env.exec(&a1, &fetch(&url)).await;
        if code == 0 {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{a1} cannot reach {a2} at {url}: {out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Another tenant: not. (b1 answers from its own network, so it is up.)
    let (code, out) = env.exec(&b1, &fetch("http://127.0.0.1:8888/")).await;
    assert_eq!(code, 0, "b1 does not serve: {out}");
    let url = format!("http://{b1_address}:8888/");
    let (code, out) = env.exec(&a1, &fetch(&url)).await;
    if docker_isolates_bridges() {
        assert_ne!(
            code, 0,
            "{a1} of {tenant_a} reached {b1} of {tenant_b}: {out}"
        );
    } else {
        // Isolation between bridges is the Engine's; one run with --iptables=false (the last
        // fallback of scripts/docker-test-env.sh) has none to test.
        let _ = writeln!(
            std::io::stderr(),
            "NOTE tenants_reach_their_own_containers_and_no_one_else: the Engine does not \
             manage iptables (no DOCKER-ISOLATION-STAGE-1 chain); isolation between tenants \
             not checked (the cross-tenant fetch exited {code})"
        );
    }

    // The network lives while a container of its tenant does, stopped ones included.
    env.runtime.stop(&a2, GRACE).await.unwrap();
    env.runtime.remove(&a1).await.unwrap();
    assert!(env.network_exists(&tenant_a).await);
    env.runtime.start(&a2).await.unwrap();
    env.wait_for(&a2, ContainerState::Running).await;
    env.runtime.remove(&a2).await.unwrap();
    assert!(
        !env.network_exists(&tenant_a).await,
        "{tenant_a} outlived its containers"
    );
    assert!(
        !host_shielded_from(&tenant_a),
        "the rule for {tenant_a} outlived it"
    );
    assert!(env.network_exists(&tenant_b).await);
    env.runtime.remove(&b1).await.unwrap();
    assert!(!env.network_exists(&tenant_b).await);
    assert!(!host_shielded_from(&tenant_b));
}

#[tokio::test]
async fn a_fork_bomb_is_bounded_by_the_pids_limit() {
    let hardening = Hardening {
        pids_limit: 64,
        ..test_hardening()
    };
    let Some(env) =
        Env::with_hardening("a_fork_bomb_is_bounded_by_the_pids_limit", hardening).await
    else {
        return;
    };
    let id = env.id("forkbomb");
    let spec = ContainerSpec {
        command: Some(["sleep", "600"].map(String::from).to_vec()),
        ..env.spec(&id)
    };
    env.runtime.create(&spec).await.unwrap();
    assert_eq!(
        env.engine_inspect(&id)
            .await
            .host_config
            .unwrap()
            .pids_limit,
        Some(64)
    );
    env.runtime.start(&id).await.unwrap();
    env.wait_for(&id, ContainerState::Running).await;
    // The shell gives up at the first fork that fails ("can't fork"); the sleeps it started
    // stay (their output elsewhere, so the exec ends with the shell).
    let (code, out) = env
        .exec(
            &id,
            &[
                "sh",
                "-c",
                "for i in $(seq 200); do sleep 30 >/dev/null 2>&1 & done; wait",
            ],
        )
        .await;
    assert_ne!(code, 0, "200 processes fitted under a limit of 64: {out}");
    assert!(out.contains("can't fork"), "{out}");
    // Counted from outside (an exec would need a pid of its own): the Engine's stats.
    let options = StatsOptionsBuilder::new()
        .stream(false)
        .one_shot(true)
        .build();
    let stats = env
        .engine
        .stats(&format!("rgpu-{id}"), Some(options))
        .next()
        .await
        .unwrap()
        .unwrap();
    let current = stats.pids_stats.and_then(|p| p.current).unwrap_or(0);
    assert!(
        current <= 64,
        "{current} processes in a container limited to 64"
    );
    assert!(
        current >= 60,
        "the bomb never got near the limit: {current}"
    );
    // The container itself survived it.
    assert_eq!(
        env.runtime.inspect(&id).await.unwrap().state,
        ContainerState::Running
    );
    env.runtime.remove(&id).await.unwrap();
}

#[tokio::test]
async fn two_runtimes_make_one_network_at_once() {
    let Some(env) = Env::get("two_runtimes_make_one_network_at_once").await else {
        return;
    };
    // Another runtime (as another agent process would be): no lock in common.
    let other = DockerRuntime::new(env.runtime.settings().clone());
    let (a, b) = (env.id("net-a"), env.id("net-b"));
    let (spec_a, spec_b) = (env.spec(&a), env.spec(&b));
    let (first, second) = tokio::join!(env.runtime.create(&spec_a), other.create(&spec_b));
    first.unwrap();
    second.unwrap();
    let filters = HashMap::from([("name", vec![env.network.as_str()])]);
    let networks = env
        .engine
        .list_networks(Some(
            bollard::query_parameters::ListNetworksOptionsBuilder::new()
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap();
    let named: Vec<_> = networks
        .iter()
        .filter(|n| n.name.as_deref() == Some(env.network.as_str()))
        .collect();
    assert_eq!(named.len(), 1, "{networks:?}");
    env.runtime.start(&a).await.unwrap();
    other.start(&b).await.unwrap();
    env.runtime.remove(&a).await.unwrap();
    assert!(env.network_exists(&env.network).await);
    other.remove(&b).await.unwrap();
    assert!(!env.network_exists(&env.network).await);
}

#[tokio::test]
async fn an_unreachable_engine_is_unavailable() {
    // Needs no Docker: the socket does not exist.
    let runtime = DockerRuntime::new(DockerSettings {
        socket: PathBuf::from("/nonexistent/docker.sock"),
        ..Default::default()
    });
    let err = runtime.inspect("env-1").await.unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::Unavailable, "{err:?}");
    assert!(err.message().contains("/nonexistent/docker.sock"), "{err}");
    let bad = ContainerSpec {
        environment_id: "bad/id".to_string(),
        image: "x".to_string(),
        cpu_cores: 0,
        memory_bytes: 0,
        shm_size_bytes: 0,
        network: "rgpu-c1".to_string(),
        gpus: Vec::new(),
        gpu_mode: GpuMode::EnvOnly,
        ports: Vec::new(),
        env: Vec::new(),
        mounts: Vec::new(),
        command: None,
    };
    let err = runtime.create(&bad).await.unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::InvalidSpec);
}
