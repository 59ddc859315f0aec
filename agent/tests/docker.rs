//! The Docker runtime against a real Docker Engine (`scripts/docker-test-env.sh` sets one up,
//! with the local test image `remotegpu-test/busybox:latest`).
//!
//! What the runtime did is checked through the Engine's own inspect answer, and connections go
//! only to ports published on 127.0.0.1, never to container addresses. Every test uses
//! environment ids unique to the run and removes its containers, also when it fails.
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

use bollard::models::{ContainerCreateBody, ContainerInspectResponse};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use bollard::{Docker, API_DEFAULT_VERSION};
use remotegpu_agent::runtime::docker::{DockerRuntime, DockerSettings, DEFAULT_SOCKET};
use remotegpu_agent::runtime::{
    ContainerRuntime, ContainerSpec, ContainerState, GpuMode, Mount, PortBinding, RuntimeErrorKind,
};
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

/// A test's view of Docker: the runtime under test, a raw Engine client to check what it did,
/// and the containers to remove at the end.
struct Env {
    runtime: DockerRuntime,
    engine: Docker,
    image: String,
    prefix: String,
    counter: AtomicU32,
    created: std::sync::Mutex<Vec<String>>,
}

impl Env {
    /// Connects, or explains why not: a skip outside CI, a failure in it.
    async fn get(test: &str) -> Option<Env> {
        match Self::connect().await {
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

    async fn connect() -> Result<Env, String> {
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
        let runtime = DockerRuntime::new(DockerSettings {
            socket,
            publish_address: IpAddr::from([127, 0, 0, 1]),
            ..Default::default()
        });
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Ok(Env {
            runtime,
            engine,
            image,
            prefix: format!("t{}-{nanos}", std::process::id()),
            counter: AtomicU32::new(0),
            created: std::sync::Mutex::new(Vec::new()),
        })
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

impl Drop for Env {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        if names.is_empty() {
            return;
        }
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
            });
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
    let dataset = tempfile::tempdir().unwrap();
    std::fs::write(dataset.path().join("hello.txt"), "dataset content\n").unwrap();
    let dataset_path = std::fs::canonicalize(dataset.path()).unwrap();
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
            source: dataset_path.to_string_lossy().into_owned(),
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
