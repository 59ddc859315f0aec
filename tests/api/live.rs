//! Subscriptions over a real WebSocket (`graphql-transport-ws`): reported samples stream to
//! operators, status changes stream exactly once, tenants see only their own environments,
//! and, on PostgreSQL, events cross from one replica to another.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::agent::{agent_report, batch, METRICS};
use crate::fixtures::*;
use crate::helpers::{on_both_backends, spawn_app, spawn_app_with, Backend};
use crate::wsclient::WsClient;

const QUIET: Duration = Duration::from_millis(400);

const GPU_METRICS: &str = "subscription($h: ID, $g: ID) { gpuMetrics(hostId: $h, gpuId: $g) { id gpuId hostId utilizationPercent memoryUsed smClock collectedAt gpu { uuid } } }";
const HOST_METRICS: &str = "subscription($h: ID) { hostMetrics(hostId: $h) { id hostId cpuUsagePercent networkRxBytes host { name } } }";
const HOST_STATUS: &str =
    "subscription($h: ID) { hostStatus(hostId: $h) { hostId status previousStatus at } }";
const ENV_STATUS: &str = "subscription($e: ID) { environmentStatus(environmentId: $e) { environmentId status previousStatus } }";

async fn subscribers_receive_reported_samples(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "live-node").await;
    let (other_host, _) = create_host_with_token(&app, "other-node").await;
    agent_report(&app, &token, &[(0, "GPU-L0"), (1, "GPU-L1")]).await;
    let gpu1 = app
        .gql_ok(
            "{ gpus(filter: { name: { contains: \"H100\" } }) { nodes { id uuid } } }",
            json!({}),
        )
        .await["gpus"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["uuid"] == "GPU-L1")
        .unwrap()["id"]
        .clone();

    let mut ops = WsClient::connect(&app, &app.admin_token).await;
    ops.subscribe("gpu", GPU_METRICS, json!({ "h": host }))
        .await;
    ops.subscribe("gpu1", GPU_METRICS, json!({ "g": gpu1 }))
        .await;
    ops.subscribe("host", HOST_METRICS, json!({})).await;
    ops.subscribe("other", GPU_METRICS, json!({ "h": other_host }))
        .await;
    ops.subscribe("missing", HOST_METRICS, json!({ "h": "host-nope" }))
        .await;
    assert_eq!(ops.expect_error("missing").await, "NOT_FOUND");
    // Customers may not see metrics or hosts: refused, as the queries are.
    let (customer, _) = app.register("viewer").await;
    let mut cust = WsClient::connect(&app, &customer).await;
    cust.subscribe("gpu", GPU_METRICS, json!({})).await;
    assert_eq!(cust.expect_error("gpu").await, "FORBIDDEN");
    cust.subscribe("host", HOST_METRICS, json!({ "h": host }))
        .await;
    assert_eq!(cust.expect_error("host").await, "FORBIDDEN");
    cust.subscribe("status", HOST_STATUS, json!({})).await;
    assert_eq!(cust.expect_error("status").await, "FORBIDDEN");
    app.wait_for_subscriptions(4).await;

    let b = batch("live-1", &[33.0], &[("GPU-L0", 70.0), ("GPU-L1", 90.0)]);
    let r = app
        .gql_ok_as(Some(&token), METRICS, json!({ "batch": b }))
        .await;
    assert_eq!(r["reportMetrics"]["accepted"], 3);

    let mut seen = std::collections::HashMap::<String, Vec<serde_json::Value>>::new();
    for _ in 0..4 {
        let message = ops.next().await;
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        seen.entry(message["id"].as_str().unwrap().to_owned())
            .or_default()
            .push(message["payload"]["data"].clone());
    }
    ops.expect_silence(QUIET).await;
    let gpu = &seen["gpu"];
    assert_eq!(gpu.len(), 2, "{seen:?}");
    let mut utilizations: Vec<f64> = gpu
        .iter()
        .map(|d| d["gpuMetrics"]["utilizationPercent"].as_f64().unwrap())
        .collect();
    utilizations.sort_by(f64::total_cmp);
    assert_eq!(utilizations, vec![70.0, 90.0]);
    assert_eq!(gpu[0]["gpuMetrics"]["hostId"], host);
    assert_eq!(gpu[0]["gpuMetrics"]["memoryUsed"], "42949672960");
    let only_gpu1 = &seen["gpu1"];
    assert_eq!(only_gpu1.len(), 1);
    assert_eq!(only_gpu1[0]["gpuMetrics"]["gpu"]["uuid"], "GPU-L1");
    assert_eq!(only_gpu1[0]["gpuMetrics"]["smClock"], 1980);
    let host_sample = &seen["host"][0]["hostMetrics"];
    assert_eq!(host_sample["cpuUsagePercent"], 33.0);
    assert_eq!(host_sample["networkRxBytes"], "123456789012");
    assert_eq!(host_sample["host"]["name"], "live-node");
    assert!(!seen.contains_key("other"));

    // What was streamed is what was stored.
    let stored_id = &host_sample["id"];
    let stored = app
        .gql_ok(
            "query($id: ID!) { hostMetric(id: $id) { cpuUsagePercent hostId } }",
            json!({ "id": stored_id }),
        )
        .await;
    assert_eq!(stored["hostMetric"]["cpuUsagePercent"], 33.0);
    assert_eq!(stored["hostMetric"]["hostId"], host);
    let id = gpu[0]["gpuMetrics"]["id"].as_str().unwrap();
    assert_eq!(
        app.count_rows("gpu_metrics", &format!("id = {id}")).await,
        1
    );

    cust.expect_silence(QUIET).await;

    // A late subscriber gets new samples only.
    let mut late = WsClient::connect(&app, &app.admin_token).await;
    late.subscribe("host", HOST_METRICS, json!({ "h": host }))
        .await;
    app.wait_for_subscriptions(5).await;
    late.expect_silence(QUIET).await;
    let b = batch("live-2", &[44.0], &[]);
    app.gql_ok_as(Some(&token), METRICS, json!({ "batch": b }))
        .await;
    let data = late.next_data("host").await;
    assert_eq!(data["hostMetrics"]["cpuUsagePercent"], 44.0);
    late.expect_silence(QUIET).await;

    // Closing the socket unsubscribes.
    drop((ops, late));
    app.wait_for_subscriptions(0).await;
}

async fn environment_status_reaches_only_its_tenants(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "env-host").await;
    let (a, a_id) = app.register("tenant_a").await;
    let (b, _) = app.register("tenant_b").await;
    let (member, member_id) = app.register("a_member").await;
    // A's workspace, where `member` may read.
    let ws = app
        .gql_ok_as(
            Some(&a),
            "mutation { createWorkspace(input: { name: \"a-team\" }) { id } }",
            json!({}),
        )
        .await["createWorkspace"]["id"]
        .clone();
    let joined = add_member_as(&app, &a, &ws, "a_member", &member, "VIEWER", "customerId").await;
    assert_eq!(joined["customerId"], json!(member_id));
    let env = insert_environment(&app, &a_id, &host, "env-a").await;
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        &format!(
            "UPDATE environments SET workspace_id = {} WHERE id = '{env}'",
            ws.as_str().unwrap()
        ),
    )
    .await
    .unwrap();

    let mut sub_a = WsClient::connect(&app, &a).await;
    sub_a.subscribe("all", ENV_STATUS, json!({})).await;
    sub_a
        .subscribe("one", ENV_STATUS, json!({ "e": env }))
        .await;
    let mut sub_member = WsClient::connect(&app, &member).await;
    sub_member.subscribe("all", ENV_STATUS, json!({})).await;
    let mut sub_b = WsClient::connect(&app, &b).await;
    sub_b.subscribe("all", ENV_STATUS, json!({})).await;
    sub_b
        .subscribe("one", ENV_STATUS, json!({ "e": env }))
        .await;
    // Another tenant's environment is like one that does not exist.
    assert_eq!(sub_b.expect_error("one").await, "NOT_FOUND");
    app.wait_for_subscriptions(4).await;

    let set = "mutation($e: ID!, $s: EnvironmentStatus!) { reportEnvironmentStatus(environmentId: $e, status: $s) { status } }";
    app.gql_ok_as(Some(&token), set, json!({ "e": env, "s": "STOPPED" }))
        .await;
    let expected = json!({ "environmentStatus": { "environmentId": env, "status": "STOPPED", "previousStatus": "RUNNING" } });
    let mut got = vec![sub_a.next().await, sub_a.next().await];
    got.sort_by_key(|m| m["id"].as_str().unwrap().to_owned());
    assert_eq!(got[0]["id"], "all");
    assert_eq!(got[1]["id"], "one");
    for m in &got {
        assert_eq!(m["payload"]["data"], expected, "{m}");
    }
    assert_eq!(sub_member.next_data("all").await, expected);
    sub_b.expect_silence(QUIET).await;

    // The same status again is no change: no event.
    app.gql_ok_as(Some(&token), set, json!({ "e": env, "s": "STOPPED" }))
        .await;
    sub_a.expect_silence(QUIET).await;
}

async fn hosts_go_offline_once_and_back_online(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.agents.offline_after_secs = 2;
    })
    .await
    else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "flappy").await;
    let (quiet_host, _) = create_host_with_token(&app, "quiet").await;
    let mut ws = WsClient::connect(&app, &app.admin_token).await;
    ws.subscribe("s", HOST_STATUS, json!({ "h": host })).await;
    ws.subscribe("all", HOST_STATUS, json!({})).await;
    app.wait_for_subscriptions(2).await;

    let heartbeat = "mutation { agentHeartbeat }";

    app.gql_ok_as(Some(&token), heartbeat, json!({})).await;
    let online = two_of_the_same(&mut ws).await;
    assert_eq!(online["hostId"], host);
    assert_eq!(online["status"], "ONLINE");
    assert_eq!(online["previousStatus"], "OFFLINE");
    app.gql_ok_as(Some(&token), heartbeat, json!({})).await;
    ws.expect_silence(QUIET).await;

    // The grace period passes without a heartbeat: offline, once.
    let later = Utc::now() + chrono::Duration::seconds(10);
    let marked = remotegpu::jobs::offline::run_once(&app.state, later)
        .await
        .unwrap();
    assert_eq!(marked, 1, "only the host that was online");
    let offline = two_of_the_same(&mut ws).await;
    assert_eq!(offline["status"], "OFFLINE");
    assert_eq!(offline["previousStatus"], "ONLINE");
    let again = remotegpu::jobs::offline::run_once(&app.state, later)
        .await
        .unwrap();
    assert_eq!(again, 0);
    ws.expect_silence(QUIET).await;
    let h = app
        .gql_ok(
            "query($id: ID!) { host(id: $id) { status healthStatus } }",
            json!({ "id": host }),
        )
        .await;
    assert_eq!(
        h["host"],
        json!({ "status": "OFFLINE", "healthStatus": "UNKNOWN" })
    );
    assert_eq!(
        app.column_text("hosts", "status", &format!("id = '{quiet_host}'"))
            .await
            .as_deref(),
        Some("offline")
    );

    // The next heartbeat brings it back, once.
    app.gql_ok_as(Some(&token), heartbeat, json!({})).await;
    let back = two_of_the_same(&mut ws).await;
    assert_eq!(back["status"], "ONLINE");
    assert_eq!(back["previousStatus"], "OFFLINE");
    ws.expect_silence(QUIET).await;

    // An operator's status change is published like the agent's, once.
    app.gql_ok(
        "mutation($id: ID!) { updateHost(id: $id, input: { status: MAINTENANCE }) { id } }",
        json!({ "id": host }),
    )
    .await;
    let maintenance = two_of_the_same(&mut ws).await;
    assert_eq!(maintenance["status"], "MAINTENANCE");
    assert_eq!(maintenance["previousStatus"], "ONLINE");
    app.gql_ok(
        "mutation($id: ID!) { updateHost(id: $id, input: { status: MAINTENANCE }) { id } }",
        json!({ "id": host }),
    )
    .await;
    ws.expect_silence(QUIET).await;

    // A host in maintenance stays there: heartbeats are recorded, the status is the operator's.
    app.gql_ok_as(Some(&token), heartbeat, json!({})).await;
    ws.expect_silence(QUIET).await;
    assert_eq!(
        remotegpu::jobs::offline::run_once(&app.state, Utc::now() + chrono::Duration::seconds(60))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.column_text("hosts", "status", &format!("id = '{host}'"))
            .await
            .as_deref(),
        Some("maintenance")
    );
}

/// The status change both subscriptions (`s`: one host, `all`) receive.
async fn two_of_the_same(ws: &mut WsClient) -> serde_json::Value {
    let first = ws.next().await;
    let second = ws.next().await;
    let mut ids = [
        first["id"].as_str().unwrap().to_owned(),
        second["id"].as_str().unwrap().to_owned(),
    ];
    ids.sort();
    assert_eq!(ids, ["all".to_owned(), "s".to_owned()], "{first} {second}");
    assert_eq!(first["payload"]["data"], second["payload"]["data"]);
    first["payload"]["data"]["hostStatus"].clone()
}

async fn replicas_share_events(backend: Backend) {
    if backend == Backend::Sqlite {
        return; // one process per SQLite file; replicas need PostgreSQL
    }
    let Some(a) = spawn_app(backend).await else {
        return;
    };
    let b = a.spawn_replica().await;
    assert_ne!(a.port, b.port);
    let (host, token) = create_host_with_token(&a, "shared").await;
    agent_report(&a, &token, &[(0, "GPU-R0")]).await;

    let mut on_b = WsClient::connect(&b, &b.admin_token).await;
    on_b.subscribe("gpu", GPU_METRICS, json!({ "h": host }))
        .await;
    on_b.subscribe("status", HOST_STATUS, json!({ "h": host }))
        .await;
    b.wait_for_subscriptions(2).await;
    let mut on_a = WsClient::connect(&a, &a.admin_token).await;
    on_a.subscribe("gpu", GPU_METRICS, json!({ "h": host }))
        .await;
    a.wait_for_subscriptions(1).await;

    // The agent pushes to replica A; the subscriber on replica B receives the samples.
    let batch_a = batch("r-1", &[], &[("GPU-R0", 55.0), ("GPU-R0", 56.0)]);
    a.gql_ok_as(Some(&token), METRICS, json!({ "batch": batch_a }))
        .await;
    for expected in [55.0, 56.0] {
        let got = on_b.next_data("gpu").await;
        assert_eq!(got["gpuMetrics"]["utilizationPercent"], expected);
        assert_eq!(got["gpuMetrics"]["gpu"]["uuid"], "GPU-R0");
        let local = on_a.next_data("gpu").await;
        assert_eq!(local["gpuMetrics"]["id"], got["gpuMetrics"]["id"]);
    }
    on_a.expect_silence(QUIET).await;

    // Status changes made on A (an operator takes the host offline, a heartbeat brings it
    // back) reach B, once each.
    a.gql_ok(
        "mutation($id: ID!) { updateHost(id: $id, input: { status: OFFLINE }) { id } }",
        json!({ "id": host }),
    )
    .await;
    let status = on_b.next_data("status").await;
    assert_eq!(status["hostStatus"]["status"], "OFFLINE");
    a.gql_ok_as(Some(&token), "mutation { agentHeartbeat }", json!({}))
        .await;
    let status = on_b.next_data("status").await;
    assert_eq!(status["hostStatus"]["status"], "ONLINE");
    assert_eq!(status["hostStatus"]["previousStatus"], "OFFLINE");
    on_b.expect_silence(QUIET).await;

    // So does one made by the offline job on A.
    let later = Utc::now() + chrono::Duration::seconds(120);
    remotegpu::jobs::offline::run_once(&a.state, later)
        .await
        .unwrap();
    let status = on_b.next_data("status").await;
    assert_eq!(status["hostStatus"]["status"], "OFFLINE");
    assert_eq!(status["hostStatus"]["previousStatus"], "ONLINE");
    on_b.expect_silence(QUIET).await;
    assert!(b.state.events.stats().received_remote() >= 5);
}

/// The listening connections of the replicas on this test's database.
async fn listeners(app: &crate::helpers::TestApp) -> i64 {
    app.count_rows(
        "pg_stat_activity",
        "datname = current_database() AND query LIKE 'LISTEN %'",
    )
    .await
}

/// A replica whose LISTEN connection is cut (here by `pg_terminate_backend`, as a restarted
/// PostgreSQL or a network drop would) counts the gap on `/metrics`, listens again, and
/// receives other replicas' events after that.
async fn a_replica_whose_listener_drops_listens_again(backend: Backend) {
    if backend == Backend::Sqlite {
        return; // LISTEN/NOTIFY is PostgreSQL's
    }
    let Some(a) = spawn_app(backend).await else {
        return;
    };
    let b = a.spawn_replica().await;
    let (host, token) = create_host_with_token(&a, "cut").await;
    agent_report(&a, &token, &[(0, "GPU-C0")]).await;
    assert_eq!(listeners(&a).await, 2);
    assert_eq!(b.state.events.stats().listener_lost(), 0);

    let cut = a
        .count_rows(
            "(SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity \
              WHERE datname = current_database() AND query LIKE 'LISTEN %') AS cut",
            "t",
        )
        .await;
    assert_eq!(cut, 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while b.state.events.stats().listener_lost() == 0 || listeners(&a).await < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the listeners did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(b.state.events.stats().listener_lost(), 1);
    let metrics = b
        .client
        .get(format!("{}/metrics", b.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("\nremotegpu_events_listener_lost_total 1\n"),
        "{metrics}"
    );

    let mut on_b = WsClient::connect(&b, &b.admin_token).await;
    on_b.subscribe("gpu", GPU_METRICS, json!({ "h": host }))
        .await;
    b.wait_for_subscriptions(1).await;
    let pushed = batch("cut-1", &[], &[("GPU-C0", 42.0)]);
    a.gql_ok_as(Some(&token), METRICS, json!({ "batch": pushed }))
        .await;
    let got = on_b.next_data("gpu").await;
    assert_eq!(got["gpuMetrics"]["utilizationPercent"], 42.0);
}

/// The gauge `name` on `/metrics`.
async fn gauge(app: &crate::helpers::TestApp, name: &str) -> i64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// Subscribers of the same operation, variables and principal share one stream: one bus
/// subscription, one resolution per event, the same payload for each; leaving one leaves
/// the others subscribed, and the last to leave ends the stream.
async fn subscribers_of_one_operation_share_its_stream(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "shared-node").await;
    agent_report(&app, &token, &[(0, "GPU-S0"), (1, "GPU-S1")]).await;
    let vars = json!({ "h": host });
    let mut a = WsClient::connect(&app, &app.admin_token).await;
    let mut b = WsClient::connect(&app, &app.admin_token).await;
    a.subscribe("a1", GPU_METRICS, vars.clone()).await;
    a.subscribe("a2", GPU_METRICS, vars.clone()).await;
    b.subscribe("b", GPU_METRICS, vars.clone()).await;
    app.wait_for_subscriptions(3).await;
    assert_eq!(app.state.events.subscriptions(), 1, "one stream on the bus");
    assert_eq!(gauge(&app, "remotegpu_shared_streams").await, 1);
    assert_eq!(gauge(&app, "remotegpu_shared_subscribers").await, 3);

    let r = app
        .gql_ok_as(
            Some(&token),
            METRICS,
            json!({ "batch": batch("shared-1", &[10.0], &[("GPU-S0", 11.0), ("GPU-S1", 12.0)]) }),
        )
        .await;
    assert_eq!(r["reportMetrics"]["accepted"], 3);
    let mut payloads = std::collections::HashMap::<String, Vec<serde_json::Value>>::new();
    for _ in 0..4 {
        let m = a.next().await;
        assert_eq!(m["type"], "next", "{m}");
        payloads
            .entry(m["id"].as_str().unwrap().into())
            .or_default()
            .push(m["payload"].clone());
    }
    for _ in 0..2 {
        let m = b.next().await;
        assert_eq!((&m["type"], &m["id"]), (&json!("next"), &json!("b")), "{m}");
        payloads
            .entry("b".into())
            .or_default()
            .push(m["payload"].clone());
    }
    for list in payloads.values_mut() {
        list.sort_by_key(|p| {
            p["data"]["gpuMetrics"]["gpu"]["uuid"]
                .as_str()
                .unwrap()
                .to_owned()
        });
    }
    assert_eq!(payloads.len(), 3);
    assert_eq!(payloads["a1"], payloads["b"]);
    assert_eq!(payloads["a2"], payloads["b"]);
    assert_eq!(
        payloads["b"][1]["data"]["gpuMetrics"]["utilizationPercent"],
        12.0
    );
    assert_eq!(
        payloads["b"][1]["data"]["gpuMetrics"]["gpu"]["uuid"],
        "GPU-S1"
    );
    a.expect_silence(QUIET).await;

    // One leaves: the others still get events; it gets none.
    b.send(json!({ "id": "b", "type": "complete" })).await;
    app.wait_for_subscriptions(2).await;
    app.gql_ok_as(
        Some(&token),
        METRICS,
        json!({ "batch": batch("shared-2", &[], &[("GPU-S0", 21.0)]) }),
    )
    .await;
    for id in ["a1", "a2"] {
        let m = a.next().await;
        assert_eq!(m["type"], "next", "{m}");
        assert!(m["id"] == "a1" || m["id"] == "a2", "{m}");
        assert_eq!(
            m["payload"]["data"]["gpuMetrics"]["utilizationPercent"], 21.0,
            "{id}: {m}"
        );
    }
    b.expect_silence(QUIET).await;

    // The last to leave ends the stream and its bus subscription.
    drop(a);
    app.wait_for_subscriptions(0).await;
    assert_eq!(gauge(&app, "remotegpu_shared_streams").await, 0);
    assert_eq!(gauge(&app, "remotegpu_shared_subscribers").await, 0);
}

on_both_backends!(
    subscribers_of_one_operation_share_its_stream,
    a_replica_whose_listener_drops_listens_again,
    subscribers_receive_reported_samples,
    environment_status_reaches_only_its_tenants,
    hosts_go_offline_once_and_back_online,
    replicas_share_events
);
