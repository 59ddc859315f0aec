//! Remote commands end to end: the real `remotegpu-agent` binary (fake GPU collector) on
//! this machine receives commands over its WebSocket subscription, runs them and reports;
//! the server stores the outcome and streams output and status to operators.

use std::path::PathBuf;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fixtures::create_host_with_token;
use crate::helpers::{on_both_backends, spawn_app, Backend, TestApp};
use crate::wsclient::WsClient;

/// The agent binary `cargo test --workspace` builds next to this test binary.
pub fn agent_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let path = dir.join(format!("remotegpu-agent{}", std::env::consts::EXE_SUFFIX));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    eprintln!(
        "skipping: {} is not built (cargo build -p remotegpu-agent)",
        path.display()
    );
    None
}

/// A running agent process; stopped (SIGTERM, then kill) when dropped.
pub struct Agent {
    child: Child,
}

impl Agent {
    pub fn start(app: &TestApp, binary: &PathBuf, token: &str, data_dir: &std::path::Path) -> Self {
        Self::start_with(app, binary, token, data_dir, &[])
    }

    /// Like [`Agent::start`], with extra flags.
    pub fn start_with(
        app: &TestApp,
        binary: &PathBuf,
        token: &str,
        data_dir: &std::path::Path,
        extra: &[&str],
    ) -> Self {
        let fake = concat!(env!("CARGO_MANIFEST_DIR"), "/agent/examples/fake-gpus.json");
        let child = Process::new(binary)
            .args([
                "--server-url",
                &app.address,
                "--collector",
                "fake",
                "--fake-gpus",
                fake,
            ])
            .args(["--interval", "1", "--output-cap-bytes", "1000"])
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir)
            .env("REMOTEGPU_AGENT_TOKEN", token)
            .env(
                "RUST_LOG",
                std::env::var("REMOTEGPU_TEST_AGENT_LOG_LEVEL").unwrap_or("warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(match std::env::var_os("REMOTEGPU_TEST_AGENT_LOG") {
                Some(path) => std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_or(Stdio::null(), Stdio::from),
                None => Stdio::null(),
            })
            .spawn()
            .expect("agent starts");
        Self { child }
    }

    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Process::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

const RUN: &str = "mutation($input: RunCommandInput!) { runCommand(input: $input) { batchId commands { commandId status } } }";
const COMMAND: &str = "query($c: String!) { commands(filter: { commandId: { eq: $c } }) { nodes { status startedAt completedAt result { stdout stderr exitCode executionTimeMs stdoutTruncated stderrTruncated } } } }";

async fn run(app: &TestApp, host: &str, text: &str, timeout: i32) -> String {
    let data = app
        .gql_ok(RUN, json!({ "input": { "commandText": text, "hostIds": [host], "timeoutSeconds": timeout } }))
        .await;
    assert_eq!(data["runCommand"]["commands"][0]["status"], "PENDING");
    data["runCommand"]["commands"][0]["commandId"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn command(app: &TestApp, id: &str) -> Value {
    app.gql_ok(COMMAND, json!({ "c": id })).await["commands"]["nodes"][0].clone()
}

/// Polls until the command has one of `statuses` (30 s at most).
async fn wait_for(app: &TestApp, id: &str, statuses: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = command(app, id).await;
        if statuses.iter().any(|s| c["status"] == *s) {
            return c;
        }
        assert!(Instant::now() < deadline, "command {id} stuck: {c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn alive(pid: &str) -> bool {
    Process::new("kill")
        .args(["-0", pid])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

async fn commands_run_on_the_agent(backend: Backend) {
    let Some(binary) = agent_binary() else { return };
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "cmd-host").await;
    let work = tempfile::tempdir().unwrap();
    let agent = Agent::start(&app, &binary, &token, &work.path().join("agent"));

    // echo: success, exact stdout, exit 0.
    let id = run(&app, &host, "echo hello", 60).await;
    let c = wait_for(&app, &id, &["SUCCESS", "FAILED", "TIMEOUT"]).await;
    assert_eq!(c["status"], "SUCCESS", "{c}");
    assert_eq!(c["result"]["stdout"], "hello\n");
    assert_eq!(c["result"]["exitCode"], 0);
    assert!(c["startedAt"].is_string() && c["completedAt"].is_string());
    assert_eq!(
        app.count_rows("command_results", &format!("command_id = '{id}'"))
            .await,
        1
    );

    // A non-zero exit fails; stderr is kept apart from stdout.
    let id = run(&app, &host, "echo out; echo err >&2; exit 3", 60).await;
    let c = wait_for(&app, &id, &["SUCCESS", "FAILED"]).await;
    assert_eq!(c["status"], "FAILED");
    assert_eq!(c["result"]["exitCode"], 3);
    assert_eq!(c["result"]["stdout"], "out\n");
    assert_eq!(c["result"]["stderr"], "err\n");

    // Output over the cap (1000 bytes for this agent) is cut and flagged.
    let id = run(&app, &host, "head -c 5000 /dev/zero | tr '\\0' x", 60).await;
    let c = wait_for(&app, &id, &["SUCCESS", "FAILED"]).await;
    assert_eq!(c["result"]["stdoutTruncated"], true);
    assert_eq!(c["result"]["stdout"].as_str().unwrap().len(), 1000);
    assert_eq!(c["result"]["stderrTruncated"], false);

    // A time limit kills the command and everything it started.
    let pids = work.path().join("pids");
    let text = format!(
        "sleep 60 & echo $! > {p}; echo $$ >> {p}; sleep 60",
        p = pids.display()
    );
    let id = run(&app, &host, &text, 1).await;
    let c = wait_for(&app, &id, &["TIMEOUT", "SUCCESS", "FAILED"]).await;
    assert_eq!(c["status"], "TIMEOUT", "{c}");
    let pids = std::fs::read_to_string(&pids).unwrap();
    for pid in pids.split_whitespace() {
        assert!(!alive(pid), "process {pid} survived the timeout");
    }

    // Live output arrives while the command runs; status updates follow the batch.
    let admin = app.admin_token.clone();
    let mut ws = WsClient::connect(&app, &admin).await;
    let data = app
        .gql_ok(RUN, json!({ "input": { "commandText": "echo first; sleep 2; echo second; sleep 1", "hostIds": [host] } }))
        .await;
    let batch = data["runCommand"]["batchId"].as_str().unwrap().to_owned();
    let id = data["runCommand"]["commands"][0]["commandId"]
        .as_str()
        .unwrap()
        .to_owned();
    ws.subscribe(
        "out",
        "subscription($c: String!) { commandOutput(commandId: $c) { stream seq data } }",
        json!({ "c": id }),
    )
    .await;
    ws.subscribe(
        "up",
        "subscription($b: String!) { commandUpdates(batchId: $b) { commandId status } }",
        json!({ "b": batch }),
    )
    .await;
    // The agent's own subscriptions (commands, environment orders) are the third and fourth.
    app.wait_for_subscriptions(4).await;
    let mut saw_output_before_end = false;
    loop {
        let m = ws.next().await;
        if m["id"] == "out"
            && m["payload"]["data"]["commandOutput"]["data"]
                .as_str()
                .is_some_and(|d| d.contains("second"))
        {
            saw_output_before_end = true;
        }
        if m["id"] == "up" && m["payload"]["data"]["commandUpdates"]["status"] == "SUCCESS" {
            break;
        }
    }
    assert!(
        saw_output_before_end,
        "output streamed before the command ended"
    );

    // Cancel a running command: it is killed on its host.
    let pidfile = work.path().join("sleep.pid");
    let id = run(
        &app,
        &host,
        &format!("echo $$ > {}; sleep 60", pidfile.display()),
        600,
    )
    .await;
    wait_for(&app, &id, &["RUNNING"]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pidfile.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    app.gql_ok(
        "mutation($c: String!) { cancelCommand(commandId: $c) { status } }",
        json!({ "c": id }),
    )
    .await;
    let c = wait_for(&app, &id, &["CANCELLED", "FAILED", "SUCCESS"]).await;
    assert_eq!(c["status"], "CANCELLED");
    assert!(!alive(&pid), "cancelled command still running");

    // A command sent while the agent is down runs once when it is back, and a restart
    // (which redelivers nothing finished) does not run it again.
    agent.stop();
    let marker = work.path().join("marker");
    let id = run(&app, &host, &format!("echo x >> {}", marker.display()), 60).await;
    assert_eq!(command(&app, &id).await["status"], "PENDING");
    let agent = Agent::start(&app, &binary, &token, &work.path().join("agent"));
    wait_for(&app, &id, &["SUCCESS"]).await;
    agent.stop();
    let agent = Agent::start(&app, &binary, &token, &work.path().join("agent"));
    // The restarted agent runs commands in order: once a later command has finished, a
    // redelivered earlier one would have run.
    let later = run(&app, &host, "echo later", 60).await;
    wait_for(&app, &later, &["SUCCESS"]).await;
    agent.stop();
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "x\n",
        "ran exactly once"
    );
}

async fn agents_see_only_their_hosts_commands(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host_a, token_a) = create_host_with_token(&app, "a").await;
    let (host_b, token_b) = create_host_with_token(&app, "b").await;
    let pending_a = run(&app, &host_a, "echo a", 60).await;
    let mut agent_b = WsClient::connect(&app, &token_b).await;
    agent_b
        .subscribe(
            "commands",
            "subscription { agentCommands { kind commandId commandText } }",
            json!({}),
        )
        .await;
    app.wait_for_subscriptions(1).await;
    run(&app, &host_a, "echo a again", 60).await;
    let for_b = run(&app, &host_b, "echo b", 60).await;
    let got = agent_b.next_data("commands").await;
    assert_eq!(
        got["agentCommands"]["commandId"],
        json!(for_b),
        "only host B's command"
    );
    assert_eq!(got["agentCommands"]["kind"], "RUN");
    // Host A's pending command is delivered to A's agent on connect, in creation order.
    let mut agent_a = WsClient::connect(&app, &token_a).await;
    agent_a
        .subscribe(
            "commands",
            "subscription { agentCommands { kind commandId } }",
            json!({}),
        )
        .await;
    assert_eq!(
        agent_a.next_data("commands").await["agentCommands"]["commandId"],
        json!(pending_a)
    );
    // B's agent cannot report on A's commands.
    app.gql_err_as(
        Some(&token_b),
        "mutation($c: String!) { commandStarted(commandId: $c) }",
        json!({ "c": pending_a }),
        "NOT_FOUND",
    )
    .await;
    assert_eq!(command(&app, &pending_a).await["status"], "PENDING");
}

async fn command_rules(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, _) = create_host_with_token(&app, "rules").await;
    // Bad targets and limits.
    app.gql_err(
        RUN,
        json!({ "input": { "commandText": "true", "hostIds": ["host-nope"] } }),
        "BAD_USER_INPUT",
    )
    .await;
    app.gql_err(
        RUN,
        json!({ "input": { "commandText": "true", "hostIds": [host], "timeoutSeconds": 172801 } }),
        "BAD_USER_INPUT",
    )
    .await;
    app.gql_err(
        RUN,
        json!({ "input": { "commandText": "true", "labelSelector": { "zone": "nowhere" } } }),
        "BAD_USER_INPUT",
    )
    .await;
    assert_eq!(app.count_rows("commands", "1 = 1").await, 0);
    // A label selector picks hosts.
    let data = app
        .gql_ok(RUN, json!({ "input": { "commandText": "uptime", "labelSelector": { "region": "us-west" } } }))
        .await;
    assert_eq!(data["runCommand"]["commands"].as_array().unwrap().len(), 1);

    // Customers get FORBIDDEN for every command operation.
    let (customer, _) = app.register("curious").await;
    let c = Some(customer.as_str());
    let id = run(&app, &host, "true", 60).await;
    app.gql_err_as(
        c,
        RUN,
        json!({ "input": { "commandText": "true", "hostIds": [host] } }),
        "FORBIDDEN",
    )
    .await;
    app.gql_err_as(
        c,
        "mutation($c: String!) { cancelCommand(commandId: $c) { status } }",
        json!({ "c": id }),
        "FORBIDDEN",
    )
    .await;
    app.gql_err_as(c, "{ commands { totalCount } }", json!({}), "FORBIDDEN")
        .await;
    app.gql_err_as(
        c,
        "{ commandResults { totalCount } }",
        json!({}),
        "FORBIDDEN",
    )
    .await;
    let mut ws = WsClient::connect(&app, &customer).await;
    ws.subscribe(
        "o",
        "subscription($c: String!) { commandOutput(commandId: $c) { data } }",
        json!({ "c": id }),
    )
    .await;
    assert_eq!(ws.expect_error("o").await, "FORBIDDEN");
    ws.subscribe("u", "subscription { commandUpdates { status } }", json!({}))
        .await;
    assert_eq!(ws.expect_error("u").await, "FORBIDDEN");

    // Cancelling a pending command ends it at once; cancelling it again is a CONFLICT.
    let cancelled = app
        .gql_ok(
            "mutation($c: String!) { cancelCommand(commandId: $c) { status } }",
            json!({ "c": id }),
        )
        .await;
    assert_eq!(cancelled["cancelCommand"]["status"], "CANCELLED");
    app.gql_err(
        "mutation($c: String!) { cancelCommand(commandId: $c) { status } }",
        json!({ "c": id }),
        "CONFLICT",
    )
    .await;

    // Never delivered within the delivery timeout: TIMEOUT, saying it never started.
    let stale = run(&app, &host, "true", 60).await;
    let later = chrono::Utc::now()
        + chrono::Duration::seconds(app.settings.commands.delivery_timeout_secs + 1);
    let ended = remotegpu::jobs::commands::run_once(&app.state, later)
        .await
        .unwrap();
    // The stale command, and the `uptime` above: no agent ever connected.
    assert_eq!(ended.len(), 2);
    assert!(ended.iter().any(|c| c.command_id == stale));
    let c = command(&app, &stale).await;
    assert_eq!(c["status"], "TIMEOUT");
    assert!(
        c["result"]["stderr"]
            .as_str()
            .unwrap()
            .contains("never started"),
        "{c}"
    );
    assert!(
        remotegpu::jobs::commands::run_once(&app.state, later)
            .await
            .unwrap()
            .is_empty(),
        "once"
    );
}

on_both_backends!(
    commands_run_on_the_agent,
    agents_see_only_their_hosts_commands,
    command_rules
);
