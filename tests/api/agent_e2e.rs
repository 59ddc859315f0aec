//! The real `remotegpu-agent` binary (fake GPU collector) against the server: its host and
//! GPUs appear, its samples stream to a WebSocket subscriber and land in the database, and a
//! server restart loses no sample and stores none twice.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::commands::{agent_binary, Agent};
use crate::fixtures::create_host_with_token;
use crate::helpers::{on_both_backends, spawn_app, Backend};
use crate::wsclient::WsClient;

async fn agent_reports_live_metrics_and_survives_a_server_restart(backend: Backend) {
    let Some(binary) = agent_binary() else { return };
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "e2e-host").await;
    let work = tempfile::tempdir().unwrap();

    let admin = app.admin_token.clone();
    let mut ws = WsClient::connect(&app, &admin).await;
    ws.subscribe("gpu", "subscription($h: ID!) { gpuMetrics(hostId: $h) { id gpuId utilizationPercent memoryUsed } }", json!({ "h": host }))
        .await;
    ws.subscribe(
        "host",
        "subscription($h: ID!) { hostMetrics(hostId: $h) { id cpuUsagePercent memoryUsed } }",
        json!({ "h": host }),
    )
    .await;
    app.wait_for_subscriptions(2).await;
    let agent = Agent::start(&app, &binary, &token, &work.path().join("agent"));

    // A GPU sample and a host sample arrive over the WebSocket, and they are the stored rows.
    let (mut gpu_sample, mut host_sample) = (None, None);
    while gpu_sample.is_none() || host_sample.is_none() {
        let m = ws.next().await;
        match m["id"].as_str() {
            Some("gpu") => gpu_sample = Some(m["payload"]["data"]["gpuMetrics"].clone()),
            Some("host") => host_sample = Some(m["payload"]["data"]["hostMetrics"].clone()),
            _ => panic!("unexpected {m}"),
        }
    }
    let (gpu_sample, host_sample) = (gpu_sample.unwrap(), host_sample.unwrap());
    let gpu_row = gpu_sample["id"].as_str().unwrap();
    assert_eq!(
        app.column_text("gpu_metrics", "memory_used", &format!("id = {gpu_row}"))
            .await,
        gpu_sample["memoryUsed"].as_str().map(str::to_owned)
    );
    let host_row = host_sample["id"].as_str().unwrap();
    assert_eq!(
        app.count_rows(
            "host_metrics",
            &format!("id = {host_row} AND host_id = '{host}'")
        )
        .await,
        1
    );
    // The host described itself: online, with the fake collector's GPUs.
    let h = app
        .gql_ok(
            "query($h: ID!) { host(id: $h) { status agentVersion gpus { uuid name } } }",
            json!({ "h": host }),
        )
        .await;
    assert_eq!(h["host"]["status"], "ONLINE");
    assert!(!h["host"]["gpus"].as_array().unwrap().is_empty());
    drop(ws);

    // Restart the server while the agent keeps sampling every second: what it sampled while
    // the server was down is buffered and delivered afterwards.
    let fmt = |t: chrono::DateTime<chrono::Utc>| {
        t.naive_utc().format("%Y-%m-%d %H:%M:%S%.3f").to_string()
    };
    let outage_start = chrono::Utc::now();
    app.restart_after(Duration::from_secs(4)).await;
    let outage_end = chrono::Utc::now();
    let window = format!(
        "host_id = '{host}' AND collected_at > '{}' AND collected_at < '{}'",
        fmt(outage_start + chrono::Duration::milliseconds(500)),
        fmt(outage_end - chrono::Duration::milliseconds(500)),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let during = app.count_rows("host_metrics", &window).await;
        if during >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "samples taken during the outage never arrived ({during})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    agent.stop();
    // No sample stored twice: one row per (host, collection time).
    let rows = app
        .count_rows("host_metrics", &format!("host_id = '{host}'"))
        .await;
    let distinct = app
        .count_rows(
            &format!(
                "(SELECT DISTINCT collected_at FROM host_metrics WHERE host_id = '{host}') AS t"
            ),
            "1 = 1",
        )
        .await;
    assert_eq!(rows, distinct, "a replayed batch was stored twice");
}

on_both_backends!(agent_reports_live_metrics_and_survives_a_server_restart);
