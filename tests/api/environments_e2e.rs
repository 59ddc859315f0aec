//! Environments end to end: the real `remotegpu-agent` binary (fake GPUs) with a real Docker
//! Engine and the local test image `remotegpu-test/busybox:latest` (`scripts/docker-test-env.sh`
//! makes both). The test reads containers through `docker inspect` and connects only to
//! published ports on 127.0.0.1, never to container addresses.

use std::process::Command as Process;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::commands::{agent_binary, Agent};
use crate::environments::{catalogue_image, create_env, request, CREATE};
use crate::fixtures::create_host_with_token;
use crate::helpers::{on_both_backends, spawn_app, Backend, TestApp};
use crate::wsclient::WsClient;

const IMAGE: &str = "remotegpu-test/busybox:latest";

/// One test at a time on the Engine: each test's agent removes the platform-labelled
/// containers its own server does not know (another test's, here), as it would a stray
/// container on a real host.
static ENGINE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether a Docker Engine with the test image is here; under CI its absence fails.
fn docker_ready() -> bool {
    let ok = Process::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs a Docker Engine with {IMAGE}: run scripts/docker-test-env.sh"
        );
        eprintln!("SKIPPED: no Docker Engine with {IMAGE} (scripts/docker-test-env.sh)");
    }
    ok
}

fn inspect(env: &str) -> Option<Value> {
    let out = Process::new("docker")
        .args(["inspect", &format!("rgpu-{env}")])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice::<Value>(&out.stdout)
        .ok()?
        .get(0)
        .cloned()
}

/// Removes the test's containers whatever happens.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for env in &self.0 {
            let _ = Process::new("docker")
                .args(["rm", "-f", &format!("rgpu-{env}")])
                .output();
        }
    }
}

async fn status(app: &TestApp, env: &str) -> String {
    app.column_text("environments", "status", &format!("id = '{env}'"))
        .await
        .unwrap_or_default()
}

/// Polls the environment's status until it is `want` (60 s at most).
async fn wait_status(app: &TestApp, env: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = status(app, env).await;
        if now == want {
            return;
        }
        assert!(Instant::now() < deadline, "{env} is {now}, not {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn http_get(port: u16) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("published port accepts");
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn environments_run_as_real_containers(backend: Backend) {
    if !docker_ready() {
        return;
    }
    let _engine = ENGINE.lock().await;
    let Some(binary) = agent_binary() else { return };
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Each backend's run has its own Jupyter ports: both may run at once on one Engine.
    let (first, last) = match backend {
        Backend::Sqlite => ("31100", "31199"),
        Backend::Postgres => ("31200", "31299"),
    };
    for (k, v) in [
        ("jupyter_port_range_start", first),
        ("jupyter_port_range_end", last),
    ] {
        app.gql_ok(
            "mutation($k: String!, $v: String!) { createSystemConfig(input: { configKey: $k, configValue: $v, configType: INTEGER }) { id } }",
            json!({ "k": k, "v": v }),
        )
        .await;
    }
    let image = catalogue_image(&app, IMAGE).await;
    let (host, token) = create_host_with_token(&app, "docker-host").await;
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("storage");
    std::fs::create_dir_all(&root).unwrap();
    let root_arg = root.display().to_string();
    let start_agent = |dir: &str| {
        let agent = Agent::start_with(
            &app,
            &binary,
            &token,
            &work.path().join(dir),
            &[
                "--publish-address",
                "127.0.0.1",
                "--reconcile-interval",
                "1",
                "--storage-root",
                &root_arg,
                "--orphan-grace-secs",
                "0",
                // This machine's Engine cannot raise the open-files limit past 20000.
                "--nofile-limit",
                "8192",
            ],
        );
        agent
    };
    let agent = start_agent("agent");
    // The agent registers its fake GPUs and brings the host online.
    let deadline = Instant::now() + Duration::from_secs(60);
    while app
        .count_rows(
            "gpus",
            &format!("host_id = '{host}' AND status = 'available'"),
        )
        .await
        == 0
        || app
            .count_rows("hosts", &format!("id = '{host}' AND status = 'online'"))
            .await
            == 0
    {
        assert!(Instant::now() < deadline, "the agent never registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (customer, customer_id) = app.register("docker-user").await;
    let created = app
        .gql_ok_as(
            Some(&customer),
            "mutation { createDataset(input: { name: \"labels\" }) { id storagePath } }",
            json!({}),
        )
        .await["createDataset"]
        .clone();
    let dataset = created["id"].as_str().unwrap().to_owned();
    // The platform's key, beneath the host's storage root (shared storage in production).
    let data = root.join(created["storagePath"].as_str().unwrap());
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("labels.txt"), "cat\ndog\n").unwrap();
    let mut watch = WsClient::connect(&app, &customer).await;
    watch
        .subscribe(
            "s",
            "subscription { environmentStatus { environmentId status } }",
            json!({}),
        )
        .await;
    app.wait_for_subscriptions(3).await;

    let mut input = request(&image, 1);
    // The agent reports this machine's cores: ask for one.
    input["cpu"] = json!(1);
    input["memory"] = json!((1i64 << 30).to_string());
    input["services"] = json!(["JUPYTER"]);
    input["envVars"] = json!([{ "name": "PROJECT", "value": "cats" }]);
    input["datasets"] = json!([{ "datasetId": dataset, "mountPath": "/data/labels" }]);
    let created = app
        .gql_ok_as(Some(&customer), CREATE, json!({ "i": input }))
        .await["createEnvironment"]
        .clone();
    let env = created["id"].as_str().unwrap().to_owned();
    let _cleanup = Cleanup(vec![env.clone()]);
    let port = created["portMappings"][0]["externalPort"].as_u64().unwrap() as u16;

    // RUNNING arrives over the WebSocket.
    loop {
        let event = watch.next_data("s").await["environmentStatus"].clone();
        if event["environmentId"] == env.as_str() && event["status"] == "RUNNING" {
            break;
        }
        assert_ne!(event["status"], "FAILED", "{event}");
    }
    let c = inspect(&env).expect("the container exists");
    assert_eq!(c["State"]["Running"], true);
    assert_eq!(c["HostConfig"]["NanoCpus"], 1_000_000_000i64);
    assert_eq!(c["HostConfig"]["Memory"], 1i64 << 30);
    assert_eq!(c["Config"]["Labels"]["remotegpu.environment"], env.as_str());
    let gpu = app
        .column_text("gpus", "uuid", &format!("allocated_to = '{env}'"))
        .await
        .expect("a GPU is allocated");
    let vars: Vec<&str> = c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(vars.contains(&"PROJECT=cats"), "{vars:?}");
    assert!(
        vars.contains(&format!("NVIDIA_VISIBLE_DEVICES={gpu}").as_str()),
        "{vars:?}"
    );
    let mount = &c["Mounts"][0];
    assert_eq!(mount["Destination"], "/data/labels");
    assert_eq!(mount["RW"], false);
    // Confined beneath the storage root, whatever the row says.
    let source = std::path::PathBuf::from(mount["Source"].as_str().unwrap());
    assert!(
        source.starts_with(root.canonicalize().unwrap()),
        "{source:?} is not beneath {root:?}"
    );
    // The hardened profile and the tenant's own network.
    let hc = &c["HostConfig"];
    assert!(
        hc["SecurityOpt"].to_string().contains("no-new-privileges"),
        "{hc}"
    );
    assert_eq!(hc["CapDrop"], json!(["ALL"]));
    assert!(!hc["CapAdd"].to_string().contains("NET_RAW"), "{hc}");
    assert!(!hc["CapAdd"].to_string().contains("SYS_ADMIN"), "{hc}");
    assert!(hc["PidsLimit"].as_i64().unwrap() > 0, "{hc}");
    assert_eq!(hc["ShmSize"], (1i64 << 30) / 4);
    assert_eq!(hc["NetworkMode"], format!("rgpu-c{customer_id}"));
    assert_eq!(
        Process::new("docker")
            .args([
                "exec",
                &format!("rgpu-{env}"),
                "cat",
                "/data/labels/labels.txt"
            ])
            .output()
            .unwrap()
            .stdout,
        b"cat\ndog\n"
    );
    assert_eq!(
        c["HostConfig"]["PortBindings"]["8888/tcp"][0],
        json!({ "HostIp": "127.0.0.1", "HostPort": port.to_string() })
    );
    assert!(
        http_get(port).await.starts_with("HTTP/"),
        "busybox httpd answers"
    );

    // Stop: the container stops, its GPU is free.
    app.gql_ok_as(
        Some(&customer),
        "mutation($id: ID!) { stopEnvironment(id: $id) { status } }",
        json!({ "id": env }),
    )
    .await;
    wait_status(&app, &env, "stopped").await;
    assert_eq!(inspect(&env).unwrap()["State"]["Running"], false);
    assert_eq!(app.count_rows("gpus", "status = 'allocated'").await, 0);

    // Start with the agent down: the order waits, and is applied once it is back.
    agent.stop();
    app.gql_ok_as(
        Some(&customer),
        "mutation($id: ID!) { startEnvironment(id: $id) { status } }",
        json!({ "id": env }),
    )
    .await;
    assert_eq!(status(&app, &env).await, "starting");
    let agent = start_agent("agent");
    wait_status(&app, &env, "running").await;
    assert_eq!(inspect(&env).unwrap()["State"]["Running"], true);

    // Delete: the container goes, its ports are released.
    app.gql_ok_as(
        Some(&customer),
        "mutation($id: ID!) { deleteEnvironment(id: $id) { status } }",
        json!({ "id": env }),
    )
    .await;
    wait_status(&app, &env, "deleted").await;
    assert!(inspect(&env).is_none(), "the container is gone");
    assert_eq!(
        app.count_rows(
            "port_mappings",
            &format!("env_id = '{env}' AND status = 'active'")
        )
        .await,
        0
    );

    // A container removed behind the agent's back fails its environment.
    let mut input = request(&image, 0);
    input["cpu"] = json!(1);
    input["memory"] = json!((1i64 << 30).to_string());
    input["services"] = json!([]);
    let other = create_env(&app, &customer, input).await;
    let _cleanup_other = Cleanup(vec![other.clone()]);
    wait_status(&app, &other, "running").await;
    let removed = Process::new("docker")
        .args(["rm", "-f", &format!("rgpu-{other}")])
        .output()
        .unwrap();
    assert!(removed.status.success());
    wait_status(&app, &other, "failed").await;
    assert!(app
        .column_text("environments", "failure_reason", &format!("id = '{other}'"))
        .await
        .unwrap_or_default()
        .contains("disappeared"));

    // A labelled container the server does not know is removed (the grace is 0 here).
    let stranger = format!("rgpu-env-stranger-{}", std::process::id());
    let _cleanup_stranger = Cleanup(vec![stranger.trim_start_matches("rgpu-").to_owned()]);
    let made = Process::new("docker")
        .args([
            "create",
            "--name",
            &stranger,
            "--label",
            &format!(
                "remotegpu.environment={}",
                stranger.trim_start_matches("rgpu-")
            ),
            IMAGE,
        ])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while inspect(stranger.trim_start_matches("rgpu-")).is_some() {
        assert!(
            Instant::now() < deadline,
            "the agent never removed an unknown labelled container"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    agent.stop();
}

/// Data in the way a user expects: a writer fills an UPLOADING version through a read-write
/// mount, deletes the environment (its agent measures what was written), finalizes it, and
/// it is mounted read-only from then on.
async fn a_version_is_filled_then_read_only(backend: Backend) {
    if !docker_ready() {
        return;
    }
    let _engine = ENGINE.lock().await;
    let Some(binary) = agent_binary() else { return };
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let image = catalogue_image(&app, IMAGE).await;
    let (host, token) = create_host_with_token(&app, "docker-host").await;
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("storage");
    std::fs::create_dir_all(&root).unwrap();
    let agent = Agent::start_with(
        &app,
        &binary,
        &token,
        &work.path().join("agent"),
        &[
            "--publish-address",
            "127.0.0.1",
            "--reconcile-interval",
            "1",
            "--storage-root",
            &root.display().to_string(),
            "--nofile-limit",
            "8192",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while app
        .count_rows("hosts", &format!("id = '{host}' AND status = 'online'"))
        .await
        == 0
    {
        assert!(Instant::now() < deadline, "the agent never registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (customer, _) = app.register("filler").await;
    let c = Some(customer.as_str());
    let dataset = app
        .gql_ok_as(
            c,
            "mutation { createDataset(input: { name: \"corpus\" }) { id } }",
            json!({}),
        )
        .await["createDataset"]["id"]
        .clone();
    let version = app
        .gql_ok_as(
            c,
            "mutation($d: ID!) { createDatasetVersion(input: { datasetId: $d, version: \"v1\" }) { id storagePath } }",
            json!({ "d": dataset }),
        )
        .await["createDatasetVersion"]
        .clone();
    let with_mount = |read_write: bool| {
        let mut input = request(&image, 0);
        input["cpu"] = json!(1);
        input["memory"] = json!((1i64 << 30).to_string());
        input["services"] = json!([]);
        input["datasets"] = json!([{ "datasetId": dataset, "versionId": version["id"], "mountPath": "/fill", "readWrite": read_write }]);
        input
    };
    let filler = create_env(&app, &customer, with_mount(true)).await;
    let _cleanup = Cleanup(vec![filler.clone()]);
    wait_status(&app, &filler, "running").await;
    let wrote = Process::new("docker")
        .args([
            "exec",
            &format!("rgpu-{filler}"),
            "sh",
            "-c",
            "echo hello > /fill/a.txt && mkdir /fill/sub && echo 12345 > /fill/sub/b.txt",
        ])
        .output()
        .unwrap();
    assert!(wrote.status.success(), "{wrote:?}");
    app.gql_ok_as(
        c,
        "mutation($id: ID!) { deleteEnvironment(id: $id) { status } }",
        json!({ "id": filler }),
    )
    .await;
    wait_status(&app, &filler, "deleted").await;
    let done = app
        .gql_ok_as(
            c,
            "mutation($id: ID!) { finalizeDatasetVersion(id: $id) { status size fileCount } }",
            json!({ "id": version["id"] }),
        )
        .await;
    assert_eq!(
        done["finalizeDatasetVersion"],
        json!({ "status": "READY", "size": "12", "fileCount": 2 })
    );
    // Mounted read-only now: writing fails inside.
    let reader = create_env(&app, &customer, with_mount(false)).await;
    let _cleanup_reader = Cleanup(vec![reader.clone()]);
    wait_status(&app, &reader, "running").await;
    let read = Process::new("docker")
        .args(["exec", &format!("rgpu-{reader}"), "cat", "/fill/sub/b.txt"])
        .output()
        .unwrap();
    assert_eq!(read.stdout, b"12345\n");
    let write = Process::new("docker")
        .args([
            "exec",
            &format!("rgpu-{reader}"),
            "sh",
            "-c",
            "echo x > /fill/c.txt",
        ])
        .output()
        .unwrap();
    assert!(!write.status.success(), "a READY version is read-only");
    agent.stop();
}

on_both_backends!(
    environments_run_as_real_containers,
    a_version_is_filled_then_read_only
);
