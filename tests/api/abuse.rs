//! The abuse section: one `async fn` per attack, each run on both backends. Every attack
//! asserts the answer the attacker gets (`extensions.code`) and that the database holds
//! nothing it should not. To add one: write `async fn the_attack(backend: Backend)` and list
//! it in `on_both_backends!` at the end.

use sea_orm::{ActiveModelTrait, Set};
use serde_json::{json, Value};

use crate::agent::{batch, METRICS};
use crate::fixtures::*;
use crate::helpers::{on_both_backends, spawn_app, Backend, TestApp};

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
