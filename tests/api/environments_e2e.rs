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
    let data = work.path().join("dataset");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("labels.txt"), "cat\ndog\n").unwrap();
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
    let (customer, _) = app.register("docker-user").await;
    let dataset = app
        .gql_ok_as(
            Some(&customer),
            "mutation($p: String!) { createDataset(input: { name: \"labels\", storagePath: $p }) { id } }",
            json!({ "p": data.display().to_string() }),
        )
        .await["createDataset"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
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
    agent.stop();
}

on_both_backends!(environments_run_as_real_containers);
