//! The abuse section: one `async fn` per attack, each run on both backends. Every attack
//! asserts the answer the attacker gets (`extensions.code`) and that the database holds
//! nothing it should not. To add one: write `async fn the_attack(backend: Backend)` and list
//! it in `on_both_backends!` at the end.

mod isolation;

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::{json, Value};

use crate::agent::{batch, METRICS};
use crate::fixtures::*;
use crate::helpers::{on_both_backends, spawn_app, spawn_app_with, Backend, TestApp};
use crate::wsclient::{Refusal, WsClient};

const WORKSPACE: &str =
    "mutation($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id description } }";

/// A forged cursor naming a position past 2^63 used to panic in the SQL binder and drop the
/// connection; it is BAD_USER_INPUT, and the server keeps answering.
async fn forged_cursors(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let forged = "cG9zOjkyMjMzNzIwMzY4NTQ3NzU4MDc"; // "pos:9223372036854775807"
    for query in [
        format!("{{ images(after: \"{forged}\") {{ totalCount nodes {{ id }} }} }}"),
        format!("{{ images(before: \"{forged}\", last: 5) {{ nodes {{ id }} }} }}"),
        format!("{{ hosts(first: 100, after: \"{forged}\") {{ nodes {{ id }} }} }}"),
    ] {
        let message = app.gql_err(&query, json!({}), "BAD_USER_INPUT").await;
        assert!(message.contains("cursor"), "{message}");
    }
    app.gql_ok("{ images { totalCount } }", json!({})).await;
}

/// NUL is refused in every input (it is an INTERNAL error on PostgreSQL otherwise), and
/// other control characters in every parsed text; descriptions keep newlines and tabs.
async fn control_characters_in_text(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("mallory").await;
    let t = Some(token.as_str());
    for input in [
        json!({ "name": "team\u{0}" }),
        json!({ "name": "team\u{1b}[2J" }),
        json!({ "name": "two\nlines" }),
        json!({ "name": "team", "description": "bell\u{7}" }),
        json!({ "name": "team", "description": "nul\u{0}" }),
        json!({ "name": "team", "description": "x".repeat(4001) }),
    ] {
        app.gql_err_as(t, WORKSPACE, json!({ "input": input }), "BAD_USER_INPUT")
            .await;
    }
    assert_eq!(app.count_rows("workspaces", "1 = 1").await, 0);

    // NUL in a filter, an id, a sign-in name, a JSON input, a literal: refused up front.
    app.gql_err_as(
        t,
        "query($n: String!) { images(filter: { name: { eq: $n } }) { totalCount } }",
        json!({ "n": "a\u{0}" }),
        "BAD_USER_INPUT",
    )
    .await;
    app.gql_err_as(
        t,
        r#"{ workspace(id: "1\u0000") { id } }"#,
        json!({}),
        "BAD_USER_INPUT",
    )
    .await;
    app.gql_err_as(
        None,
        "mutation($l: String!) { login(login: $l, password: \"whatever pw\") { accessToken } }",
        json!({ "l": "mallory\u{0}" }),
        "BAD_USER_INPUT",
    )
    .await;
    let host = create_host(&app, "nul-target").await;
    app.gql_err(
        "mutation($input: RunCommandInput!) { runCommand(input: $input) { batchId } }",
        json!({ "input": { "commandText": "env", "hostIds": [host], "environment": { "A": "x\u{0}" } } }),
        "BAD_USER_INPUT",
    )
    .await;
    app.gql_err(
        "mutation($input: RunCommandInput!) { runCommand(input: $input) { batchId } }",
        json!({ "input": { "commandText": "echo \u{0}", "hostIds": [host] } }),
        "BAD_USER_INPUT",
    )
    .await;
    assert_eq!(app.count_rows("commands", "1 = 1").await, 0);

    // Multi-line text is content.
    let data = app
        .gql_ok_as(
            t,
            WORKSPACE,
            json!({ "input": { "name": "team", "description": "line 1\nline 2\tend" } }),
        )
        .await;
    assert_eq!(
        data["createWorkspace"]["description"],
        "line 1\nline 2\tend"
    );
    assert_eq!(app.count_rows("workspaces", "1 = 1").await, 1);
}

/// `in:` lists, `orderBy`, `hostIds`, tags and JSON inputs are bounded.
async fn unbounded_lists_and_json(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let names = |n: usize| (0..n).map(|i| format!("image-{i}")).collect::<Vec<_>>();
    let query = "query($n: [String!]!) { images(filter: { name: { in: $n } }) { totalCount } }";
    app.gql_err(query, json!({ "n": names(101) }), "BAD_USER_INPUT")
        .await;
    app.gql_ok(query, json!({ "n": names(100) })).await;
    let order: Vec<Value> = (0..11).map(|_| json!({ "field": "ID" })).collect();
    app.gql_err(
        "query($o: [ImageOrder!]) { images(orderBy: $o) { totalCount } }",
        json!({ "o": order }),
        "BAD_USER_INPUT",
    )
    .await;

    let host_input = |labels: Value, tags: Vec<String>| {
        json!({ "input": {
            "name": "big", "ipAddress": "10.0.0.9", "osType": "LINUX",
            "deploymentMode": "TRADITIONAL", "totalCpu": 8, "totalMemory": "1073741824",
            "labels": labels, "tags": tags
        }})
    };
    let create = "mutation($input: CreateHostInput!) { createHost(input: $input) { host { id } } }";
    let many: serde_json::Map<String, Value> = (0..400)
        .map(|i| (format!("key-{i}"), json!("v".repeat(50))))
        .collect();
    for input in [
        host_input(Value::Object(many), vec![]),
        host_input(json!({ "zone": "z".repeat(300) }), vec![]),
        host_input(json!({ "zone": "a" }), names(65)),
    ] {
        app.gql_err(create, input, "BAD_USER_INPUT").await;
    }
    assert_eq!(app.count_rows("hosts", "1 = 1").await, 0);

    let ids: Vec<String> = (0..1001).map(|i| format!("host-{i}")).collect();
    let message = app
        .gql_err(
            "mutation($input: RunCommandInput!) { runCommand(input: $input) { batchId } }",
            json!({ "input": { "commandText": "true", "hostIds": ids } }),
            "BAD_USER_INPUT",
        )
        .await;
    assert!(message.contains("hostIds"), "{message}");
}

/// Samples must be finite and physical; one bad sample refuses the whole batch, and
/// nothing of it is stored.
async fn unphysical_agent_samples(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, token) = create_host_with_token(&app, "liar").await;
    let t = Some(token.as_str());
    crate::agent::agent_report(&app, &token, &[(0, "GPU-liar-0")]).await;
    let with_host = |field: &str, value: Value| {
        let mut b = batch("b-host", &[10.0, 20.0], &[("GPU-liar-0", 50.0)]);
        b["hostSamples"][1][field] = value;
        b
    };
    let with_gpu = |field: &str, value: Value| {
        let mut b = batch("b-gpu", &[10.0], &[("GPU-liar-0", 50.0)]);
        b["gpuSamples"][0][field] = value;
        b
    };
    for bad in [
        with_host("cpuUsagePercent", json!(1e200)),
        with_host("cpuUsagePercent", json!(-1.0)),
        with_host("memoryUsagePercent", json!(100.5)),
        with_host("cpuLoad1m", json!(-0.5)),
        with_host("gpuAvgTemperature", json!(151.0)),
        with_host("networkRxBytes", json!("-5")),
        with_gpu("utilizationPercent", json!(1e200)),
        with_gpu("temperature", json!(-51.0)),
        with_gpu("powerDraw", json!(-1.0)),
        with_gpu("fanSpeedPercent", json!(250.0)),
        with_gpu("smClock", json!(-1)),
    ] {
        app.gql_err_as(t, METRICS, json!({ "batch": bad }), "BAD_USER_INPUT")
            .await;
    }
    assert_eq!(app.count_rows("host_metrics", "1 = 1").await, 0);
    assert_eq!(app.count_rows("gpu_metrics", "1 = 1").await, 0);
    assert_eq!(app.count_rows("metric_batches", "1 = 1").await, 0);
    // The edges of each range are physical.
    let mut edge = batch("b-edge", &[100.0], &[("GPU-liar-0", 0.0)]);
    edge["gpuSamples"][0]["temperature"] = json!(-50.0);
    edge["gpuSamples"][0]["powerDraw"] = json!(0.0);
    app.gql_ok_as(t, METRICS, json!({ "batch": edge })).await;
    assert_eq!(app.count_rows("host_metrics", "1 = 1").await, 1);
}

/// Command output holding NUL (binary output, `printf '\0'`) used to be unstorable on
/// PostgreSQL, so the real result was lost and the command later ended TIMEOUT. It is kept
/// exactly, on both backends.
async fn command_output_with_nul(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "binary").await;
    let t = Some(token.as_str());
    let data = app
        .gql_ok(
            "mutation($input: RunCommandInput!) { runCommand(input: $input) { commands { commandId } } }",
            json!({ "input": { "commandText": "printf 'a\\0b'", "hostIds": [host] } }),
        )
        .await;
    let id = data["runCommand"]["commands"][0]["commandId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql_ok_as(
        t,
        "mutation($c: String!) { commandStarted(commandId: $c) }",
        json!({ "c": id }),
    )
    .await;
    let stdout = "a\u{0}b \\0 literal \\\\ back\\slash\u{0}";
    let stderr = "warn\u{0}";
    app.gql_ok_as(
        t,
        "mutation($c: String!, $d: String!) { commandOutput(commandId: $c, stream: STDOUT, seq: 0, data: $d) }",
        json!({ "c": id, "d": stdout }),
    )
    .await;
    app.gql_ok_as(
        t,
        "mutation($input: CommandFinishedInput!) { commandFinished(input: $input) }",
        json!({ "input": {
            "commandId": id, "status": "SUCCESS", "exitCode": 0, "stdout": stdout,
            "stderr": stderr, "stdoutTruncated": false, "stderrTruncated": false, "durationMs": 5
        }}),
    )
    .await;
    let data = app
        .gql_ok(
            "query($c: String!) { commands(filter: { commandId: { eq: $c } }) { nodes { status result { stdout stderr } } } }",
            json!({ "c": id }),
        )
        .await;
    let c = &data["commands"]["nodes"][0];
    assert_eq!(c["status"], "SUCCESS");
    assert_eq!(c["result"]["stdout"], stdout);
    assert_eq!(c["result"]["stderr"], stderr);
    let stored = app
        .column_text("command_results", "stdout", &format!("command_id = '{id}'"))
        .await
        .unwrap();
    assert!(!stored.contains('\u{0}'), "{stored:?}");
}

async fn insert_sample(app: &TestApp, host: &str, cpu: f64, at: chrono::NaiveDateTime) {
    entity::host_metrics::ActiveModel {
        host_id: Set(host.to_owned()),
        cpu_usage_percent: Set(Some(cpu)),
        collected_at: Set(Some(at)),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
}

/// A host whose stored samples cannot be aggregated (rows written before samples were
/// bounded: on PostgreSQL, AVG over 1e200 overflows) no longer stops the other hosts'
/// rollups or retention.
async fn one_hosts_rollup_failure_is_contained(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let bad = create_host(&app, "overflow").await;
    let good = create_host(&app, "healthy").await;
    let now = chrono::Utc::now();
    let hour_ago = (now - chrono::Duration::minutes(90)).naive_utc();
    insert_sample(&app, &bad, 1e200, hour_ago).await;
    insert_sample(&app, &bad, 1.0, hour_ago).await;
    insert_sample(&app, &good, 40.0, hour_ago).await;
    insert_sample(&app, &good, 60.0, hour_ago).await;
    // Past raw retention (7 days): the pass must delete it whatever the rollups did.
    let expired = (now - chrono::Duration::days(30)).naive_utc();
    insert_sample(&app, &good, 50.0, expired).await;

    let report = remotegpu::jobs::rollups::run_once(&app.state, now)
        .await
        .unwrap();
    assert_eq!(report.failed_steps, 0, "{report:?}");
    match backend {
        Backend::Postgres => assert_eq!(report.failed_hosts, vec![bad.clone()], "{report:?}"),
        Backend::Sqlite => assert!(report.failed_hosts.is_empty(), "{report:?}"),
    }
    let avg = app
        .column_text(
            "host_metrics_hourly",
            "cpu_usage_percent_avg",
            &format!(
                "host_id = '{good}' AND bucket_start >= '{}'",
                (now - chrono::Duration::days(1)).format("%Y-%m-%d")
            ),
        )
        .await
        .expect("the healthy host is rolled up");
    assert_eq!(avg.parse::<f64>().unwrap(), 50.0);
    assert_eq!(report.deleted_raw, 1, "{report:?}");
    assert_eq!(
        app.count_rows("host_metrics", &format!("host_id = '{good}'"))
            .await,
        2
    );
}

const RUN: &str =
    "mutation($input: RunCommandInput!) { runCommand(input: $input) { commands { commandId } } }";
const CANCEL: &str = "mutation($c: String!) { cancelCommand(commandId: $c) { status } }";
const STARTED: &str = "mutation($c: String!) { commandStarted(commandId: $c) }";

async fn run_on(app: &TestApp, host: &str, text: &str, timeout: i32) -> String {
    let data = app
        .gql_ok(
            RUN,
            json!({ "input": { "commandText": text, "hostIds": [host], "timeoutSeconds": timeout } }),
        )
        .await;
    data["runCommand"]["commands"][0]["commandId"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn status_of(app: &TestApp, id: &str) -> String {
    app.column_text("commands", "status", &format!("command_id = '{id}'"))
        .await
        .unwrap()
}

async fn results_of(app: &TestApp, id: &str) -> i64 {
    app.count_rows("command_results", &format!("command_id = '{id}'"))
        .await
}

/// `cancelCommand` racing the agent's `commandStarted`: exactly one wins. Either the command
/// is cancelled and the agent is told not to run it, or it runs and the cancel finds it
/// running (and has it killed). Never "cancelled, yet running", and the timeout job never
/// trips over a second result.
async fn cancel_racing_start(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "racer").await;
    for round in 0..12 {
        let id = run_on(&app, &host, &format!("echo {round}"), 60).await;
        let (cancel, started) = tokio::join!(
            app.gql(CANCEL, json!({ "c": id })),
            app.gql_as(Some(&token), STARTED, json!({ "c": id })),
        );
        let runs = started["data"]["commandStarted"].as_bool();
        let cancel_status = cancel["data"]["cancelCommand"]["status"].as_str();
        let status = status_of(&app, &id).await;
        match (runs, cancel_status) {
            (Some(false), Some("CANCELLED")) => {
                assert_eq!(status, "cancelled");
                assert_eq!(results_of(&app, &id).await, 1);
            }
            (Some(true), Some("RUNNING")) => {
                assert_eq!(status, "running");
                assert_eq!(results_of(&app, &id).await, 0);
            }
            other => panic!("round {round}: {other:?}: {cancel} {started}"),
        }
    }
    // Past every limit, the job ends the running ones once, without an error.
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    let ended = remotegpu::jobs::commands::run_once(&app.state, later)
        .await
        .expect("the timeout job runs");
    assert_eq!(
        ended.len() as i64,
        app.count_rows("commands", "status = 'timeout'").await
    );
    assert_eq!(
        app.count_rows(
            "commands c",
            "NOT EXISTS (SELECT 1 FROM command_results r WHERE r.command_id = c.command_id)"
        )
        .await,
        0
    );
    assert!(remotegpu::jobs::commands::run_once(&app.state, later)
        .await
        .unwrap()
        .is_empty());
}

/// A running command that already has a result (written before transitions were
/// compare-and-set) used to fail the timeout job on every pass; it is skipped.
async fn expire_skips_commands_with_a_result(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "stuck").await;
    let stuck = run_on(&app, &host, "sleep 1", 1).await;
    app.gql_ok_as(Some(&token), STARTED, json!({ "c": stuck }))
        .await;
    entity::command_results::ActiveModel {
        command_id: Set(stuck.clone()),
        stderr: Set(Some("written by an older server".into())),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let other = run_on(&app, &host, "true", 1).await;
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    let ended = remotegpu::jobs::commands::run_once(&app.state, later)
        .await
        .expect("the timeout job runs");
    assert_eq!(
        ended
            .iter()
            .map(|c| c.command_id.clone())
            .collect::<Vec<_>>(),
        vec![other.clone()]
    );
    assert_eq!(status_of(&app, &stuck).await, "running");
    assert_eq!(results_of(&app, &stuck).await, 1);
    assert_eq!(status_of(&app, &other).await, "timeout");
}

/// A command delivered to an agent that then never reports it started used to stay
/// `PENDING` forever; it ends `TIMEOUT` once its own limit and the report grace have passed
/// since delivery (and not before).
async fn delivered_but_never_started(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "silent").await;
    let id = run_on(&app, &host, "true", 3600).await;
    let mut agent = crate::wsclient::WsClient::connect(&app, &token).await;
    agent
        .subscribe(
            "c",
            "subscription { agentCommands { kind commandId } }",
            json!({}),
        )
        .await;
    assert_eq!(
        agent.next_data("c").await["agentCommands"]["commandId"],
        json!(id)
    );
    // Delivered: past the delivery timeout it is not "never picked up".
    let now = chrono::Utc::now();
    let after_delivery_timeout =
        now + chrono::Duration::seconds(app.settings.commands.delivery_timeout_secs + 1);
    assert!(
        remotegpu::jobs::commands::run_once(&app.state, after_delivery_timeout)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(status_of(&app, &id).await, "pending");
    let past_limit =
        now + chrono::Duration::seconds(3600 + app.settings.commands.report_grace_secs + 5);
    let ended = remotegpu::jobs::commands::run_once(&app.state, past_limit)
        .await
        .unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(status_of(&app, &id).await, "timeout");
    let why = app
        .column_text("command_results", "stderr", &format!("command_id = '{id}'"))
        .await
        .unwrap();
    assert!(why.contains("never reported starting"), "{why}");
    // The agent's late start is refused: it must not run.
    let data = app
        .gql_ok_as(Some(&token), STARTED, json!({ "c": id }))
        .await;
    assert_eq!(data["commandStarted"], false);
}

/// A script larger than a NOTIFY payload (8000 bytes) never reached an agent connected to
/// another replica, nor did its cancel. Orders carry only ids; the agent's replica loads
/// the command.
async fn large_command_crosses_replicas(backend: Backend) {
    let Some(a) = spawn_app(backend).await else {
        return;
    };
    // One process per SQLite file: there the agent's server is the one that takes the order.
    let b = match backend {
        Backend::Postgres => Some(a.spawn_replica().await),
        Backend::Sqlite => None,
    };
    let agent_server = b.as_ref().unwrap_or(&a);
    let (host, token) = create_host_with_token(&a, "far").await;
    let mut agent = crate::wsclient::WsClient::connect(agent_server, &token).await;
    agent
        .subscribe(
            "c",
            "subscription { agentCommands { kind commandId commandText } }",
            json!({}),
        )
        .await;
    agent_server.wait_for_subscriptions(1).await;
    let script = format!("cat <<'EOF'\n{}\nEOF", "0123456789abcdef".repeat(1024));
    let id = run_on(&a, &host, &script, 60).await;
    let order = agent.next_data("c").await;
    assert_eq!(order["agentCommands"]["kind"], "RUN");
    assert_eq!(order["agentCommands"]["commandId"], json!(id));
    assert_eq!(order["agentCommands"]["commandText"], json!(script));
    a.gql_ok(CANCEL, json!({ "c": id })).await;
    let cancel = agent.next_data("c").await;
    assert_eq!(cancel["agentCommands"]["kind"], "CANCEL");
    assert_eq!(cancel["agentCommands"]["commandId"], json!(id));
    assert_eq!(status_of(&a, &id).await, "cancelled");
}

/// Aliases used to turn one request into many password guesses; an operation signs in at
/// most once, and a refused operation runs none of its fields.
async fn many_sign_ins_in_one_operation(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let sessions = app.count_rows("refresh_tokens", "1 = 1").await;
    let customers = app.count_rows("customers", "1 = 1").await;
    let guesses = (0..10)
        .map(|i| {
            format!("g{i}: login(login: \"root_admin\", password: \"guess {i}\") {{ accessToken }}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    for query in [
        format!("mutation {{ {guesses} }}"),
        "mutation { a: login(login: \"root_admin\", password: \"admin password 123\") { accessToken } b: register(input: { username: \"sneaky\", email: \"s@example.com\", password: \"sneaky password\" }) { accessToken } }".to_owned(),
        "mutation { ...Guess ... on MutationRoot { login(login: \"root_admin\", password: \"x\") { accessToken } } } fragment Guess on MutationRoot { refreshToken(refreshToken: \"nope\") { accessToken } }".to_owned(),
    ] {
        let message = app.gql_err_as(None, &query, json!({}), "BAD_USER_INPUT").await;
        assert!(message.contains("sign in once"), "{message}");
    }
    assert_eq!(app.count_rows("refresh_tokens", "1 = 1").await, sessions);
    assert_eq!(app.count_rows("customers", "1 = 1").await, customers);
    // One is fine.
    app.login(
        crate::helpers::ADMIN_USERNAME,
        crate::helpers::ADMIN_PASSWORD,
    )
    .await;
}

/// Guessing one account's password: after five failures in a row the account's sign-in is
/// RATE_LIMITED for a while (doubling with each failure), even with the right password,
/// whether or not the account exists; other accounts are unaffected.
async fn password_guessing_slows_down(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.register("victim").await;
    let sessions = app.count_rows("refresh_tokens", "1 = 1").await;
    for login in ["victim", "nobody-here"] {
        for i in 0..5 {
            let err = app
                .try_login(login, &format!("wrong guess {i}"))
                .await
                .unwrap_err();
            assert_eq!(
                err["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                "{err}"
            );
        }
        let err = app.try_login(login, "customer password").await.unwrap_err();
        assert_eq!(
            err["errors"][0]["extensions"]["code"], "RATE_LIMITED",
            "{err}"
        );
    }
    assert_eq!(app.count_rows("refresh_tokens", "1 = 1").await, sessions);
    app.login(
        crate::helpers::ADMIN_USERNAME,
        crate::helpers::ADMIN_PASSWORD,
    )
    .await;
}

/// Relation lists (owner <-> workspaces, workspace <-> members) are priced by a declared
/// fan-out, so a cycle nested to the depth limit is refused before it runs.
async fn nested_relation_cycles(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("fanout").await;
    let t = Some(token.as_str());
    let cycle = "{ me { workspaces { owner { workspaces { owner { workspaces { owner { workspaces { id } } } } } } } } }";
    let message = app.gql_err_as(t, cycle, json!({}), "BAD_USER_INPUT").await;
    assert!(message.to_lowercase().contains("complex"), "{message}");
    let members = "{ workspaces(first: 100) { nodes { members { customer { memberships { workspace { members { id } } } } } } } }";
    app.gql_err_as(t, members, json!({}), "BAD_USER_INPUT")
        .await;
    // One level is ordinary.
    app.gql_ok_as(t, "{ me { workspaces { owner { id } } } }", json!({}))
        .await;
}

const INVITE: &str = "mutation($w: ID!, $l: String!, $r: WorkspaceRole!) { inviteWorkspaceMember(input: { workspaceId: $w, login: $l, role: $r }) { id workspaceId invitee role invitedById } }";
const ACCEPT: &str = "mutation($id: ID!) { acceptInvitation(id: $id) { id } }";
const UPDATE_MEMBER: &str = "mutation($id: ID!, $input: UpdateWorkspaceMemberInput!) { updateWorkspaceMember(id: $id, input: $input) { id role status } }";
const REMOVE_MEMBER: &str = "mutation($id: ID!) { deleteWorkspaceMember(id: $id) { id } }";
const LEAVE: &str = "mutation($w: ID!) { leaveWorkspace(workspaceId: $w) }";
const DELETE_WORKSPACE: &str = "mutation($id: ID!) { deleteWorkspace(id: $id) { id } }";

/// A workspace `name` of `token`'s; its id.
async fn workspace_of(app: &TestApp, token: &str, name: &str) -> String {
    app.gql_ok_as(Some(token), WORKSPACE, json!({ "input": { "name": name } }))
        .await["createWorkspace"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The membership id of customer `customer` in workspace `ws`.
async fn membership_of(app: &TestApp, ws: &str, customer: &str) -> String {
    app.column_text(
        "workspace_members",
        "id",
        &format!("workspace_id = {ws} AND customer_id = {customer}"),
    )
    .await
    .unwrap()
}

/// Every membership of `ws` as `(customer, role, status)`, and its `owner_id` and
/// `member_count`: what an attack must leave as it was.
async fn memberships(app: &TestApp, ws: &str) -> (Vec<String>, Option<String>, Option<String>) {
    let mut rows = Vec::new();
    for row in app
        .db
        .query_all(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT customer_id, role, status FROM workspace_members WHERE workspace_id = {ws} ORDER BY id"),
        ))
        .await
        .unwrap()
    {
        let customer: i64 = row.try_get("", "customer_id").unwrap();
        let role: String = row.try_get("", "role").unwrap();
        let status: Option<String> = row.try_get("", "status").unwrap();
        rows.push(format!("{customer}:{role}:{}", status.unwrap_or_default()));
    }
    (
        rows,
        app.column_text("workspaces", "owner_id", &format!("id = {ws}"))
            .await,
        app.column_text("workspaces", "member_count", &format!("id = {ws}"))
            .await,
    )
}

/// Adding a customer id to one's workspace used to make that customer a member at once,
/// exposing their e-mail, phone and name, and telling which ids exist. Now one invites a
/// login: the answer is the same whether or not it names an account, nobody is a member
/// until they accept, and nobody but the invitee can accept.
async fn membership_without_consent(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (mallory, mallory_id) = app.register("mallory").await;
    let (victim, victim_id) = app.register("victim").await;
    let m = Some(mallory.as_str());
    let ws = workspace_of(&app, &mallory, "bait").await;
    let before = memberships(&app, &ws).await;

    // The old way, naming an id, is gone.
    app.gql_err_as(
        m,
        "mutation($w: ID!, $c: ID!) { createWorkspaceMember(input: { workspaceId: $w, customerId: $c, role: MEMBER }) { id } }",
        json!({ "w": ws, "c": victim_id }),
        "BAD_USER_INPUT",
    )
    .await;
    // An account, its e-mail address, and a login that names nobody: the same answer.
    let mut answers = Vec::new();
    for login in ["victim", "victim@example.com", "nobody-at-all"] {
        let mut data = app
            .gql_ok_as(m, INVITE, json!({ "w": ws, "l": login, "r": "MEMBER" }))
            .await["inviteWorkspaceMember"]
            .clone();
        assert_eq!(data["invitee"], login);
        data.as_object_mut().unwrap().remove("id");
        data.as_object_mut().unwrap().remove("invitee");
        answers.push(data);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);
    assert_eq!(answers[0]["invitedById"], json!(mallory_id));
    // The inviter learns nothing more: no member, no count, no account.
    assert_eq!(memberships(&app, &ws).await, before);
    let seen = app
        .gql_ok_as(
            m,
            "query($w: ID!) { customers { nodes { id } } workspace(id: $w) { memberCount members { customerId } } workspaceInvitations(filter: { workspaceId: { eq: $w } }) { totalCount nodes { invitee } } }",
            json!({ "w": ws }),
        )
        .await;
    assert_eq!(seen["customers"]["nodes"], json!([{ "id": mallory_id }]));
    assert_eq!(seen["workspace"]["memberCount"], 1);
    assert_eq!(
        seen["workspace"]["members"],
        json!([{ "customerId": mallory_id }])
    );
    assert_eq!(seen["workspaceInvitations"]["totalCount"], 3);
    app.gql_err_as(
        m,
        "query($id: ID!) { customer(id: $id) { email } }",
        json!({ "id": victim_id }),
        "NOT_FOUND",
    )
    .await;

    // An invitation by e-mail reaches an account only once its address is verified: until
    // then only the one by username reached the victim.
    let v = Some(victim.as_str());
    let reached = "{ myInvitations { totalCount } }";
    assert_eq!(
        app.gql_ok_as(v, reached, json!({})).await["myInvitations"]["totalCount"],
        1
    );
    app.gql_ok(
        "mutation($id: ID!) { updateCustomer(id: $id, input: { emailVerified: true }) { id } }",
        json!({ "id": victim_id }),
    )
    .await;
    app.gql_ok_as(
        m,
        INVITE,
        json!({ "w": ws, "l": "victim@example.com", "r": "MEMBER" }),
    )
    .await;

    // The invitee sees both invitations that reached them; nobody else can use them.
    let mine = app
        .gql_ok_as(
            v,
            "{ myInvitations { nodes { id workspaceId workspaceName role invitedBy } } }",
            json!({}),
        )
        .await["myInvitations"]["nodes"]
        .clone();
    assert_eq!(mine.as_array().unwrap().len(), 2, "{mine}");
    assert_eq!(mine[0]["workspaceName"], "bait");
    assert_eq!(mine[0]["invitedBy"], "mallory");
    let (first, second) = (mine[0]["id"].clone(), mine[1]["id"].clone());
    app.gql_err_as(m, ACCEPT, json!({ "id": first }), "NOT_FOUND")
        .await;
    let (other, _) = app.register("bystander").await;
    app.gql_err_as(Some(&other), ACCEPT, json!({ "id": first }), "NOT_FOUND")
        .await;
    assert_eq!(memberships(&app, &ws).await, before);

    // Declining tells the inviter nothing either.
    let listed = "query($w: ID!) { workspaceInvitations(filter: { workspaceId: { eq: $w } }, orderBy: [{ field: ID }]) { nodes { id invitee role createdAt expiresAt } } }";
    let inviter_view = app.gql_ok_as(m, listed, json!({ "w": ws })).await;
    app.gql_ok_as(
        v,
        "mutation($id: ID!) { declineInvitation(id: $id) }",
        json!({ "id": first }),
    )
    .await;
    assert_eq!(
        app.gql_ok_as(m, listed, json!({ "w": ws })).await,
        inviter_view
    );
    app.gql_err_as(v, ACCEPT, json!({ "id": first }), "NOT_FOUND")
        .await;
    assert_eq!(memberships(&app, &ws).await, before);

    // Consent given: now they are members, and see each other.
    app.gql_ok_as(v, ACCEPT, json!({ "id": second })).await;
    let seen = app
        .gql_ok_as(m, "{ customers { totalCount } }", json!({}))
        .await;
    assert_eq!(seen["customers"]["totalCount"], 2);
    assert_eq!(
        app.column_text("workspaces", "member_count", &format!("id = {ws}"))
            .await
            .as_deref(),
        Some("2")
    );
}

/// Members see each other's accounts only while both memberships are ACTIVE: a suspended
/// member and the others lose sight of each other.
async fn co_members_visible_only_while_active(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (owner, owner_id) = app.register("boss").await;
    let (member, member_id) = app.register("worker").await;
    let ws = workspace_of(&app, &owner, "shop").await;
    let row = add_member(&app, &owner, &json!(ws), "worker", &member, "MEMBER").await;
    let o = Some(owner.as_str());
    let customer = "query($id: ID!) { customer(id: $id) { email } }";
    app.gql_ok_as(o, customer, json!({ "id": member_id })).await;

    app.gql_ok_as(
        o,
        UPDATE_MEMBER,
        json!({ "id": row, "input": { "status": "SUSPENDED" } }),
    )
    .await;
    app.gql_err_as(o, customer, json!({ "id": member_id }), "NOT_FOUND")
        .await;
    let members = app
        .gql_ok_as(
            o,
            "query($w: ID!) { customers { nodes { id } } workspace(id: $w) { members { customerId status customer { id } } } }",
            json!({ "w": ws }),
        )
        .await;
    assert_eq!(members["customers"]["nodes"], json!([{ "id": owner_id }]));
    assert_eq!(
        members["workspace"]["members"][1],
        json!({ "customerId": member_id, "status": "SUSPENDED", "customer": null })
    );
    let w = Some(member.as_str());
    app.gql_err_as(w, customer, json!({ "id": owner_id }), "NOT_FOUND")
        .await;
    app.gql_err_as(
        w,
        "query($w: ID!) { workspace(id: $w) { id } }",
        json!({ "w": ws }),
        "NOT_FOUND",
    )
    .await;
}

/// A workspace ADMIN used to be able to make itself OWNER and suspend or remove the owners.
/// Only owners grant or revoke OWNER, over HTTP and over the WebSocket alike, and nothing
/// changes.
async fn admin_takes_over_a_workspace(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (owner, owner_id) = app.register("founder").await;
    let (admin, admin_id) = app.register("climber").await;
    let (helper, _) = app.register("helper").await;
    let ws = workspace_of(&app, &owner, "startup").await;
    let admin_row = add_member(&app, &owner, &json!(ws), "climber", &admin, "ADMIN").await;
    let helper_row = add_member(&app, &owner, &json!(ws), "helper", &helper, "MEMBER").await;
    let owner_row = membership_of(&app, &ws, &owner_id).await;
    let pending = app
        .gql_ok_as(
            Some(&owner),
            INVITE,
            json!({ "w": ws, "l": "co-founder", "r": "OWNER" }),
        )
        .await["inviteWorkspaceMember"]["id"]
        .clone();
    let before = memberships(&app, &ws).await;
    let a = Some(admin.as_str());
    for (query, variables) in [
        (
            UPDATE_MEMBER,
            json!({ "id": admin_row, "input": { "role": "OWNER" } }),
        ),
        (
            UPDATE_MEMBER,
            json!({ "id": helper_row, "input": { "role": "OWNER" } }),
        ),
        (
            UPDATE_MEMBER,
            json!({ "id": owner_row, "input": { "role": "ADMIN" } }),
        ),
        (
            UPDATE_MEMBER,
            json!({ "id": owner_row, "input": { "status": "SUSPENDED" } }),
        ),
        (REMOVE_MEMBER, json!({ "id": owner_row })),
        (INVITE, json!({ "w": ws, "l": "accomplice", "r": "OWNER" })),
        (
            "mutation($id: ID!) { revokeWorkspaceInvitation(id: $id) { id } }",
            json!({ "id": pending }),
        ),
        // Deleting the workspace would take everyone's resources with it: owners only.
        (DELETE_WORKSPACE, json!({ "id": ws })),
    ] {
        app.gql_err_as(a, query, variables, "FORBIDDEN").await;
    }
    let mut socket = crate::wsclient::WsClient::connect(&app, &admin).await;
    socket
        .subscribe(
            "promote",
            UPDATE_MEMBER,
            json!({ "id": admin_row, "input": { "role": "OWNER" } }),
        )
        .await;
    assert_eq!(socket.expect_error("promote").await, "FORBIDDEN");
    assert_eq!(memberships(&app, &ws).await, before);
    assert_eq!(
        app.count_rows("workspace_invitations", &format!("workspace_id = {ws}"))
            .await,
        1
    );
    // Managing the others is still the admin's.
    app.gql_ok_as(
        a,
        UPDATE_MEMBER,
        json!({ "id": helper_row, "input": { "role": "VIEWER" } }),
    )
    .await;
    assert_eq!(before.1, Some(owner_id));
    assert!(before.0.contains(&format!("{admin_id}:admin:active")));
    // The owner may.
    app.gql_ok_as(Some(&owner), DELETE_WORKSPACE, json!({ "id": ws }))
        .await;
    assert_eq!(app.count_rows("workspaces", &format!("id = {ws}")).await, 0);
}

/// Suspended (and invited) owners used to count for the last-owner rule, so the only active
/// owner could leave and leave the workspace with nobody in charge.
async fn only_active_owners_count(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (owner, owner_id) = app.register("keeper").await;
    let (second, _) = app.register("second").await;
    let ws = workspace_of(&app, &owner, "vault").await;
    let o = Some(owner.as_str());
    let second_row = add_member(&app, &owner, &json!(ws), "second", &second, "OWNER").await;
    app.gql_ok_as(
        o,
        UPDATE_MEMBER,
        json!({ "id": second_row, "input": { "status": "SUSPENDED" } }),
    )
    .await;
    app.gql_ok_as(o, INVITE, json!({ "w": ws, "l": "third", "r": "OWNER" }))
        .await;
    let before = memberships(&app, &ws).await;
    let owner_row = membership_of(&app, &ws, &owner_id).await;
    app.gql_err_as(o, LEAVE, json!({ "w": ws }), "CONFLICT")
        .await;
    for input in [json!({ "role": "ADMIN" }), json!({ "status": "SUSPENDED" })] {
        app.gql_err_as(
            o,
            UPDATE_MEMBER,
            json!({ "id": owner_row, "input": input }),
            "CONFLICT",
        )
        .await;
    }
    app.gql_err_as(o, REMOVE_MEMBER, json!({ "id": owner_row }), "CONFLICT")
        .await;
    assert_eq!(memberships(&app, &ws).await, before);
}

/// Two owners leaving at once used to leave the workspace with none: the rule is checked
/// under a lock on the workspace row, so exactly one of them leaves.
async fn owners_leaving_at_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (a, a_id) = app.register("twin_a").await;
    let (b, b_id) = app.register("twin_b").await;
    for round in 0..4 {
        let ws = workspace_of(&app, &a, &format!("pair-{round}")).await;
        add_member(&app, &a, &json!(ws), "twin_b", &b, "OWNER").await;
        let (left_a, left_b) = tokio::join!(
            app.gql_as(Some(&a), LEAVE, json!({ "w": ws })),
            app.gql_as(Some(&b), LEAVE, json!({ "w": ws })),
        );
        let ok = |r: &Value| r["data"]["leaveWorkspace"] == json!(true);
        let code = |r: &Value| r["errors"][0]["extensions"]["code"].clone();
        let (stayed, remaining) = match (ok(&left_a), ok(&left_b)) {
            (true, false) => (code(&left_b), &b_id),
            (false, true) => (code(&left_a), &a_id),
            other => panic!("round {round}: {other:?}: {left_a} {left_b}"),
        };
        assert_eq!(stayed, "CONFLICT");
        let (rows, owner, count) = memberships(&app, &ws).await;
        assert_eq!(rows, vec![format!("{remaining}:owner:active")]);
        assert_eq!(owner.as_ref(), Some(remaining));
        assert_eq!(count.as_deref(), Some("1"));
    }
}

/// `workspaces.owner_id` never followed a hand-over, so `workspace.owner` failed for the
/// members who remained. It moves to a remaining active owner.
async fn owner_follows_a_hand_over(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (old, old_id) = app.register("retiring").await;
    let (heir, heir_id) = app.register("heir").await;
    let (staff, _) = app.register("staff").await;
    let ws = workspace_of(&app, &old, "firm").await;
    add_member(&app, &old, &json!(ws), "heir", &heir, "OWNER").await;
    add_member(&app, &old, &json!(ws), "staff", &staff, "MEMBER").await;
    let old_row = membership_of(&app, &ws, &old_id).await;
    app.gql_ok_as(
        Some(&old),
        UPDATE_MEMBER,
        json!({ "id": old_row, "input": { "role": "ADMIN" } }),
    )
    .await;
    assert_eq!(memberships(&app, &ws).await.1, Some(heir_id.clone()));
    app.gql_ok_as(Some(&old), LEAVE, json!({ "w": ws })).await;
    let seen = app
        .gql_ok_as(
            Some(&staff),
            "query($w: ID!) { workspace(id: $w) { ownerId owner { username } memberCount } }",
            json!({ "w": ws }),
        )
        .await;
    assert_eq!(
        seen["workspace"],
        json!({ "ownerId": heir_id, "owner": { "username": "heir" }, "memberCount": 2 })
    );
}

/// Deleting a customer used to cascade-delete the workspaces whose `owner_id` was theirs,
/// even ones others now run. Their memberships end as if they left: the last active owner
/// of a workspace with other members is a CONFLICT (nothing deleted); otherwise the
/// workspace passes to a remaining owner, and only workspaces that were theirs alone go.
async fn deleting_an_owner_spares_shared_workspaces(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (owner, owner_id) = app.register("leaving").await;
    let (member, member_id) = app.register("staying").await;
    let shared = workspace_of(&app, &owner, "shared").await;
    let alone = workspace_of(&app, &owner, "alone").await;
    let member_row = add_member(&app, &owner, &json!(shared), "staying", &member, "MEMBER").await;
    let delete = "mutation($id: ID!) { deleteCustomer(id: $id) { id } }";
    let before = memberships(&app, &shared).await;
    let message = app
        .gql_err(delete, json!({ "id": owner_id }), "CONFLICT")
        .await;
    assert!(message.contains("last active owner"), "{message}");
    assert!(message.contains("'shared'"), "{message}");
    assert_eq!(memberships(&app, &shared).await, before);
    assert_eq!(
        app.count_rows("customers", &format!("id = {owner_id}"))
            .await,
        1
    );
    assert_eq!(
        app.count_rows("workspaces", &format!("id = {alone}")).await,
        1
    );

    app.gql_ok_as(
        Some(&owner),
        UPDATE_MEMBER,
        json!({ "id": member_row, "input": { "role": "OWNER" } }),
    )
    .await;
    app.gql_ok(delete, json!({ "id": owner_id })).await;
    assert_eq!(
        memberships(&app, &shared).await,
        (
            vec![format!("{member_id}:owner:active")],
            Some(member_id.clone()),
            Some("1".into())
        )
    );
    assert_eq!(
        app.count_rows("workspaces", &format!("id = {alone}")).await,
        0
    );
    let seen = app
        .gql_ok_as(
            Some(&member),
            "query($w: ID!) { workspace(id: $w) { owner { username } } }",
            json!({ "w": shared }),
        )
        .await;
    assert_eq!(seen["workspace"]["owner"]["username"], "staying");
}

on_both_backends!(
    membership_without_consent,
    co_members_visible_only_while_active,
    admin_takes_over_a_workspace,
    only_active_owners_count,
    owners_leaving_at_once,
    owner_follows_a_hand_over,
    deleting_an_owner_spares_shared_workspaces,
);

on_both_backends!(
    many_sign_ins_in_one_operation,
    password_guessing_slows_down,
    nested_relation_cycles,
);

on_both_backends!(
    cancel_racing_start,
    expire_skips_commands_with_a_result,
    delivered_but_never_started,
    large_command_crosses_replicas,
);

on_both_backends!(
    forged_cursors,
    control_characters_in_text,
    unbounded_lists_and_json,
    unphysical_agent_samples,
    command_output_with_nul,
    one_hosts_rollup_failure_is_contained,
);

// --- One execution path for HTTP and WebSocket; a socket's principal is re-checked. ---

const CREATE_WORKSPACE: &str = "mutation { createWorkspace(input: { name: \"flood\" }) { id } }";

fn code_of(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

/// Operations on one socket used to meet no rate limit: each takes a token of the
/// principal's bucket, the one HTTP requests take from too. Refused operations run nothing.
async fn operations_flood_a_socket(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.limits.rate_per_second = 0.1;
        s.limits.rate_burst = 20.0;
    })
    .await
    else {
        return;
    };
    let (token, _) = app.register("flooder").await;
    let mut ws = WsClient::connect(&app, &token).await;
    let mut limited_at = None;
    for i in 0..400 {
        let answer = ws
            .execute(&format!("q{i}"), "{ me { id } }", json!({}))
            .await;
        if code_of(&answer) == "RATE_LIMITED" {
            limited_at = Some(i);
            break;
        }
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    let limited_at = limited_at.expect("400 operations meet RATE_LIMITED");
    assert!(
        limited_at <= 20,
        "the burst is 20, limited after {limited_at}"
    );
    // A mutation is refused the same way and runs nothing; the socket stays open.
    let answer = ws.execute("m", CREATE_WORKSPACE, json!({})).await;
    assert_eq!(code_of(&answer), "RATE_LIMITED", "{answer}");
    assert_eq!(app.count_rows("workspaces", "1 = 1").await, 0);
    // The bucket is the principal's, whatever the transport.
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&token)
        .json(&json!({ "query": CREATE_WORKSPACE }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(app.count_rows("workspaces", "1 = 1").await, 0);
}

/// The document rules hold on a socket as over HTTP: one sign-in field per operation.
async fn sign_ins_over_a_socket(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let sessions = app.count_rows("refresh_tokens", "1 = 1").await;
    let guesses = (0..10)
        .map(|i| {
            format!("g{i}: login(login: \"root_admin\", password: \"guess {i}\") {{ accessToken }}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut ws = WsClient::try_connect(&app, None).await.unwrap();
    let answer = ws
        .execute("g", &format!("mutation {{ {guesses} }}"), json!({}))
        .await;
    assert_eq!(code_of(&answer), "BAD_USER_INPUT", "{answer}");
    assert_eq!(app.count_rows("refresh_tokens", "1 = 1").await, sessions);
}

/// Queries and mutations on a socket end at the request time limit, as over HTTP; an
/// abandoned one changes nothing.
async fn slow_operation_on_a_socket(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.limits.request_timeout_ms = 1).await else {
        return;
    };
    let customers = app.count_rows("customers", "1 = 1").await;
    let mut ws = WsClient::try_connect(&app, None).await.unwrap();
    // Registering hashes a password: never done within a millisecond.
    let answer = ws
        .execute(
            "r",
            "mutation { register(input: { username: \"slowpoke\", email: \"slow@example.com\", password: \"slow password\" }) { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(code_of(&answer), "TIMEOUT", "{answer}");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too long"),
        "{answer}"
    );
    assert_eq!(app.count_rows("customers", "1 = 1").await, customers);
}

/// One client address holds at most `websocket.max_connections_per_address` sockets; the
/// next upgrade is HTTP 429 with RATE_LIMITED, and a closed socket frees its place.
async fn sockets_per_address(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.websocket.max_connections_per_address = 2).await
    else {
        return;
    };
    let first = WsClient::connect(&app, &app.admin_token).await;
    let _second = WsClient::connect(&app, &app.admin_token).await;
    match WsClient::try_connect(&app, Some(&app.admin_token)).await {
        Err(Refusal::Http(status, body)) => {
            assert_eq!(status, 429);
            assert!(body.contains("RATE_LIMITED"), "{body}");
        }
        other => panic!("a third socket: {:?}", other.map(|_| ())),
    }
    drop(first);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match WsClient::try_connect(&app, Some(&app.admin_token)).await {
            Ok(_) => break,
            Err(Refusal::Http(429, _)) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(other) => panic!("the freed place: {other:?}"),
        }
    }
    assert_eq!(app.count_rows("commands", "1 = 1").await, 0);
}

/// A second operator whose socket is open, subscribed to live data.
async fn operator_socket(app: &TestApp, username: &str) -> (String, String, WsClient) {
    let id = create_customer(app, username).await;
    app.db
        .execute_unprepared(&format!(
            "UPDATE customers SET role = 'admin' WHERE id = {id}"
        ))
        .await
        .unwrap();
    let token = app.login(username, CUSTOMER_PASSWORD).await;
    let mut ws = WsClient::connect(app, &token).await;
    ws.subscribe("live", "subscription { hostStatus { status } }", json!({}))
        .await;
    app.wait_for_subscriptions(1).await;
    (id, token, ws)
}

const RUN_ON: &str =
    "mutation($h: [ID!]!) { runCommand(input: { commandText: \"id\", hostIds: $h }) { batchId } }";

/// After the change, the socket closes with 4403 within seconds, its subscription ends,
/// and the same token opens no new socket: no `runCommand` gets through.
async fn socket_is_cut_off(app: &TestApp, token: &str, ws: &mut WsClient, host: &str) {
    assert_eq!(ws.closed().await, 4403);
    app.wait_for_subscriptions(0).await;
    match WsClient::try_connect(app, Some(token)).await {
        Err(Refusal::Closed(4403)) => {}
        Ok(mut again) => {
            let answer = again.execute("run", RUN_ON, json!({ "h": [host] })).await;
            panic!("a revoked token opened a socket: {answer}");
        }
        Err(other) => panic!("{other:?}"),
    }
    assert_eq!(app.count_rows("commands", "1 = 1").await, 0);
}

/// A suspended operator's open socket used to keep working, `runCommand` included.
async fn suspended_operator_keeps_a_socket(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let host = create_host(&app, "target").await;
    let (id, token, mut ws) = operator_socket(&app, "rogue_operator").await;
    app.gql_ok(
        "mutation($id: ID!) { updateCustomer(id: $id, input: { status: SUSPENDED }) { id } }",
        json!({ "id": id }),
    )
    .await;
    socket_is_cut_off(&app, &token, &mut ws, &host).await;
}

/// A deleted account's socket closes too.
async fn deleted_account_keeps_a_socket(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let host = create_host(&app, "target").await;
    let (id, token, mut ws) = operator_socket(&app, "gone_operator").await;
    app.gql_ok(
        "mutation($id: ID!) { deleteCustomer(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
    socket_is_cut_off(&app, &token, &mut ws, &host).await;
}

/// A demoted operator's token names a role the account no longer has: no socket opens with
/// it (a role changed through the API also closes open sockets, as a suspension does).
async fn demoted_operator_opens_a_socket(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let host = create_host(&app, "target").await;
    let (id, token, ws) = operator_socket(&app, "demoted").await;
    drop(ws);
    app.wait_for_subscriptions(0).await;
    app.db
        .execute_unprepared(&format!(
            "UPDATE customers SET role = 'customer' WHERE id = {id}"
        ))
        .await
        .unwrap();
    match WsClient::try_connect(&app, Some(&token)).await {
        Err(Refusal::Closed(4403)) => {}
        Ok(mut ws) => {
            let answer = ws.execute("run", RUN_ON, json!({ "h": [host] })).await;
            panic!("a stale admin token opened a socket: {answer}");
        }
        Err(other) => panic!("{other:?}"),
    }
    assert_eq!(app.count_rows("commands", "1 = 1").await, 0);
}

/// Changing the password signs out every session, open sockets included, and the access
/// tokens issued before it open no new socket.
async fn password_change_leaves_sockets_open(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("careful").await;
    let mut ws = WsClient::connect(&app, &token).await;
    ws.subscribe(
        "live",
        "subscription { environmentStatus { status } }",
        json!({}),
    )
    .await;
    app.wait_for_subscriptions(1).await;
    app.gql_ok_as(
        Some(&token),
        "mutation { changePassword(currentPassword: \"customer password\", newPassword: \"a new password\") }",
        json!({}),
    )
    .await;
    assert_eq!(ws.closed().await, 4403);
    app.wait_for_subscriptions(0).await;
    // The old access token opens no new socket; one from signing in again does.
    assert_eq!(
        WsClient::try_connect(&app, Some(&token)).await.err(),
        Some(Refusal::Closed(4403))
    );
    let fresh = app.login("careful", "a new password").await;
    WsClient::connect(&app, &fresh).await;
    assert_eq!(app.count_rows("workspaces", "1 = 1").await, 0);
}

/// A socket outlived its access token (the server's keep-alive kept it open): it closes
/// with 4403 when the token expires.
async fn socket_outlives_its_token(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.auth.access_ttl_secs = 2).await else {
        return;
    };
    let (token, _) = app.register("short_lived").await;
    let mut ws = WsClient::connect(&app, &token).await;
    ws.subscribe(
        "live",
        "subscription { environmentStatus { status } }",
        json!({}),
    )
    .await;
    app.wait_for_subscriptions(1).await;
    let opened = std::time::Instant::now();
    assert_eq!(ws.closed().await, 4403);
    assert!(opened.elapsed() <= std::time::Duration::from_secs(4));
    app.wait_for_subscriptions(0).await;
    assert_eq!(app.count_rows("workspaces", "1 = 1").await, 0);
}

/// A rotated agent token's socket (the agent's command feed) closes; the old token opens no
/// new one, the new token does.
async fn rotated_agent_token_keeps_a_socket(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, old) = create_host_with_token(&app, "rotated").await;
    let mut agent = WsClient::connect(&app, &old).await;
    agent
        .subscribe(
            "c",
            "subscription { agentCommands { kind commandId } }",
            json!({}),
        )
        .await;
    app.wait_for_subscriptions(1).await;
    let data = app
        .gql_ok(
            "mutation($h: ID!) { rotateAgentToken(hostId: $h) }",
            json!({ "h": host }),
        )
        .await;
    let new = data["rotateAgentToken"].as_str().unwrap().to_owned();
    assert_eq!(agent.closed().await, 4403);
    app.wait_for_subscriptions(0).await;
    assert!(matches!(
        WsClient::try_connect(&app, Some(&old)).await,
        Err(Refusal::Closed(4403))
    ));
    WsClient::connect(&app, &new).await;
    assert_eq!(app.count_rows("commands", "1 = 1").await, 0);
}

/// `/metrics` tells anyone how busy the server is; with `server.metrics_token` set it
/// answers only that bearer token (401 otherwise, `WWW-Authenticate: Bearer`).
async fn metrics_without_a_token(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.server.metrics_token = Some(remotegpu::config::Secret::new("scraper-secret-123"));
    })
    .await
    else {
        return;
    };
    let url = format!("{}/metrics", app.address);
    for token in [None, Some("wrong"), Some(app.admin_token.as_str())] {
        let mut request = app.client.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{token:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert!(!response.text().await.unwrap().contains("remotegpu_"));
    }
    let response = app
        .client
        .get(&url)
        .bearer_auth("scraper-secret-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("remotegpu_db_statements_total"));
}

/// Polls `{ me { id } }` with `token` on `app` until it is UNAUTHENTICATED (a revocation
/// reaches every replica's list within moments), or fails after 10 s.
async fn refused_over_http(app: &TestApp, token: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let answer = app.gql_as(Some(token), "{ me { id } }", json!({})).await;
        if code_of(&answer) == "UNAUTHENTICATED" {
            assert!(
                answer["data"].is_null() || answer["data"]["me"].is_null(),
                "{answer}"
            );
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a revoked token still works over HTTP: {answer}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// An access token is a signed JWT, valid until its `exp` by itself: a suspended account, or
/// one whose password was changed (by its owner after a leak, say), kept full use of the
/// HTTP API for up to 15 minutes. Now the revocation reaches every replica, and tokens issued
/// before it are UNAUTHENTICATED there; signing in again works.
async fn revoked_tokens_over_http(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // On PostgreSQL the revocation is made on one replica and refused on another.
    let other = if backend == Backend::Postgres {
        Some(app.spawn_replica().await)
    } else {
        None
    };
    let elsewhere = other.as_ref().unwrap_or(&app);
    let (leaked, id) = app.register("leaky").await;
    elsewhere
        .gql_ok_as(Some(&leaked), "{ me { id } }", json!({}))
        .await;
    app.gql_ok_as(
        Some(&leaked),
        "mutation { changePassword(currentPassword: \"customer password\", newPassword: \"a new password\") }",
        json!({}),
    )
    .await;
    refused_over_http(elsewhere, &leaked).await;
    let fresh = app.login("leaky", "a new password").await;
    let me = elsewhere
        .gql_ok_as(Some(&fresh), "{ me { id } }", json!({}))
        .await;
    assert_eq!(me["me"]["id"], json!(id));

    // A suspension: the account's token stops working, nothing it asks for happens.
    app.gql_ok(
        "mutation($id: ID!) { updateCustomer(id: $id, input: { status: SUSPENDED }) { id } }",
        json!({ "id": id }),
    )
    .await;
    refused_over_http(elsewhere, &fresh).await;
    let answer = elsewhere
        .gql_as(
            Some(&fresh),
            WORKSPACE,
            json!({ "input": { "name": "after" } }),
        )
        .await;
    assert_eq!(code_of(&answer), "UNAUTHENTICATED", "{answer}");
    assert_eq!(app.count_rows("workspaces", "1 = 1").await, 0);
}

on_both_backends!(
    revoked_tokens_over_http,
    metrics_without_a_token,
    operations_flood_a_socket,
    sign_ins_over_a_socket,
    slow_operation_on_a_socket,
    sockets_per_address,
    suspended_operator_keeps_a_socket,
    deleted_account_keeps_a_socket,
    demoted_operator_opens_a_socket,
    password_change_leaves_sockets_open,
    socket_outlives_its_token,
    rotated_agent_token_keeps_a_socket,
);
