//! The node agent's API with real agent tokens: `agentReport` upserts the host and its GPUs,
//! `reportMetrics` stores a batch once and all or nothing, and every call acts only on the
//! token's own host.

use serde_json::{json, Value};

use crate::fixtures::*;
use crate::helpers::{on_both_backends, spawn_app, spawn_app_with, Backend, TestApp};

pub const REPORT: &str =
    "mutation($input: AgentReportInput!) { agentReport(input: $input) { hostId } }";
pub const METRICS: &str =
    "mutation($batch: MetricBatchInput!) { reportMetrics(batch: $batch) { accepted duplicate } }";

/// A report of a Linux host with these `(index, uuid)` GPUs.
pub fn report(gpus: &[(i32, &str)]) -> Value {
    json!({
        "hostname": "gpu-node-1", "ipAddress": "10.1.2.3", "osType": "LINUX",
        "osVersion": "Ubuntu 22.04", "arch": "x86_64", "totalCpu": 64,
        "totalMemory": "549755813888", "totalDisk": "4000000000000", "agentVersion": "0.1.0",
        "gpus": gpus.iter().map(|(index, uuid)| json!({
            "index": index, "uuid": uuid, "name": "NVIDIA H100 80GB HBM3", "brand": "NVIDIA",
            "architecture": "Hopper", "memoryTotal": "85899345920", "cudaCores": 16896,
            "computeCapability": "9.0", "powerLimit": 700, "temperatureLimit": 90
        })).collect::<Vec<_>>()
    })
}

/// Sends `agentReport` with `token` and asserts it succeeded.
pub async fn agent_report(app: &TestApp, token: &str, gpus: &[(i32, &str)]) -> Value {
    app.gql_ok_as(Some(token), REPORT, json!({ "input": report(gpus) }))
        .await
}

/// Reports eight GPUs, `<prefix>0` to `<prefix>7`, for the token's host; returns their uuids.
async fn report_eight_gpus(app: &TestApp, token: &str, prefix: &str) -> Vec<String> {
    let uuids: Vec<String> = (0..8).map(|g| format!("{prefix}{g}")).collect();
    let gpus: Vec<(i32, &str)> = uuids
        .iter()
        .enumerate()
        .map(|(i, u)| (i as i32, u.as_str()))
        .collect();
    agent_report(app, token, &gpus).await;
    uuids
}

/// A batch with one host sample per entry of `host` (CPU %) and one GPU sample per
/// `(uuid, utilization)`.
pub fn batch(id: &str, host: &[f64], gpus: &[(&str, f64)]) -> Value {
    let now = chrono::Utc::now().to_rfc3339();
    json!({
        "batchId": id, "droppedSamples": 0,
        "hostSamples": host.iter().map(|cpu| json!({
            "collectedAt": now, "cpuUsagePercent": cpu, "cpuLoad1m": 1.5,
            "memoryUsed": "1073741824", "memoryUsagePercent": 12.5,
            "networkRxBytes": "123456789012", "diskIoReadBytes": "5000000000"
        })).collect::<Vec<_>>(),
        "gpuSamples": gpus.iter().map(|(uuid, util)| json!({
            "gpuUuid": uuid, "collectedAt": now, "utilizationPercent": util,
            "memoryUsed": "42949672960", "temperature": 64.0, "powerDraw": 512.5,
            "smClock": 1980, "processCount": 3
        })).collect::<Vec<_>>()
    })
}

async fn gpus_of(app: &TestApp, host: &str) -> Vec<Value> {
    let data = app
        .gql_ok(
            "query($h: ID!) { gpus(filter: { hostId: { eq: $h } }, orderBy: [{ field: ID, direction: ASC }], first: 100) { nodes { id uuid gpuIndex status healthStatus name memoryTotal cudaCores } } }",
            json!({ "h": host }),
        )
        .await;
    data["gpus"]["nodes"].as_array().unwrap().clone()
}

fn by_uuid<'a>(gpus: &'a [Value], uuid: &str) -> &'a Value {
    gpus.iter()
        .find(|g| g["uuid"] == uuid)
        .unwrap_or_else(|| panic!("no GPU {uuid} in {gpus:?}"))
}

async fn agent_report_upserts_host_and_gpus(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "node-1").await;

    let data = agent_report(&app, &token, &[(0, "GPU-A"), (1, "GPU-B")]).await;
    assert_eq!(data["agentReport"]["hostId"], host);
    let h = app
        .gql_ok(
            "query($id: ID!) { host(id: $id) { name hostname ipAddress osVersion totalCpu totalMemory totalDisk totalGpu agentVersion status healthStatus lastHeartbeat } }",
            json!({ "id": host }),
        )
        .await;
    let h = &h["host"];
    assert_eq!(h["name"], "node-1", "the operator's name is kept");
    assert_eq!(h["hostname"], "gpu-node-1");
    assert_eq!(h["ipAddress"], "10.1.2.3");
    assert_eq!(h["osVersion"], "Ubuntu 22.04");
    assert_eq!(h["totalCpu"], 64);
    assert_eq!(h["totalMemory"], "549755813888");
    assert_eq!(h["totalDisk"], "4000000000000");
    assert_eq!(h["totalGpu"], 2);
    assert_eq!(h["agentVersion"], "0.1.0");
    assert_eq!(h["status"], "ONLINE", "a report is a heartbeat");
    assert_eq!(h["healthStatus"], "HEALTHY");
    assert!(h["lastHeartbeat"].is_string());
    let gpus = gpus_of(&app, &host).await;
    assert_eq!(gpus.len(), 2);
    let a_id = by_uuid(&gpus, "GPU-A")["id"].clone();
    let b_id = by_uuid(&gpus, "GPU-B")["id"].clone();
    assert_eq!(by_uuid(&gpus, "GPU-A")["status"], "AVAILABLE");
    assert_eq!(by_uuid(&gpus, "GPU-B")["cudaCores"], 16896);
    assert_eq!(by_uuid(&gpus, "GPU-B")["memoryTotal"], "85899345920");

    // B vanishes, A moves to B's index, C appears at A's.
    agent_report(&app, &token, &[(1, "GPU-A"), (0, "GPU-C")]).await;
    let gpus = gpus_of(&app, &host).await;
    assert_eq!(gpus.len(), 3, "a vanished GPU is kept: {gpus:?}");
    let (a, b, c) = (
        by_uuid(&gpus, "GPU-A"),
        by_uuid(&gpus, "GPU-B"),
        by_uuid(&gpus, "GPU-C"),
    );
    assert_eq!(a["id"], a_id, "upserted by uuid, same row");
    assert_eq!(a["gpuIndex"], 1);
    assert_eq!(c["gpuIndex"], 0);
    assert_eq!(c["status"], "AVAILABLE");
    assert_eq!(b["id"], b_id);
    assert_eq!(b["status"], "ERROR", "vanished");
    assert_eq!(b["healthStatus"], "ERROR");
    assert!(
        b["gpuIndex"].as_i64().unwrap() < 0,
        "its index was taken: {b}"
    );
    let total = app
        .gql_ok(
            "query($id: ID!) { host(id: $id) { totalGpu } }",
            json!({ "id": host }),
        )
        .await;
    assert_eq!(total["host"]["totalGpu"], 2);

    // B comes back; C vanishes.
    agent_report(&app, &token, &[(0, "GPU-A"), (1, "GPU-B")]).await;
    let gpus = gpus_of(&app, &host).await;
    let (a, b, c) = (
        by_uuid(&gpus, "GPU-A"),
        by_uuid(&gpus, "GPU-B"),
        by_uuid(&gpus, "GPU-C"),
    );
    assert_eq!(
        (a["gpuIndex"].as_i64(), b["gpuIndex"].as_i64()),
        (Some(0), Some(1))
    );
    assert_eq!(b["id"], b_id);
    assert_eq!(b["status"], "AVAILABLE", "restored");
    assert_eq!(b["healthStatus"], "HEALTHY");
    assert_eq!(c["status"], "ERROR");
    assert_eq!(
        app.count_rows("gpus", &format!("host_id = '{host}'")).await,
        3
    );

    // A GPU an operator registered by hand, without a uuid, is adopted at its index.
    let (host2, token2) = create_host_with_token(&app, "node-2").await;
    let manual = app
        .gql_ok(
            "mutation($h: ID!) { createGpu(input: { hostId: $h, gpuIndex: 0, name: \"by hand\" }) { id } }",
            json!({ "h": host2 }),
        )
        .await;
    agent_report(&app, &token2, &[(0, "GPU-M")]).await;
    let gpus = gpus_of(&app, &host2).await;
    assert_eq!(gpus.len(), 1);
    assert_eq!(gpus[0]["id"], manual["createGpu"]["id"]);
    assert_eq!(gpus[0]["uuid"], "GPU-M");

    // Input is checked before the database; a uuid of another host's GPU is a conflict.
    let mut bad = report(&[(0, "GPU-X")]);
    bad["ipAddress"] = json!("10.1.2.999");
    app.gql_err_as(
        Some(&token),
        REPORT,
        json!({ "input": bad }),
        "BAD_USER_INPUT",
    )
    .await;
    let twice = report(&[(0, "GPU-X"), (1, "GPU-X")]);
    app.gql_err_as(
        Some(&token),
        REPORT,
        json!({ "input": twice }),
        "BAD_USER_INPUT",
    )
    .await;
    let mut negative = report(&[]);
    negative["totalMemory"] = json!("-1");
    app.gql_err_as(
        Some(&token),
        REPORT,
        json!({ "input": negative }),
        "BAD_USER_INPUT",
    )
    .await;
    let stolen = report(&[(0, "GPU-A")]);
    app.gql_err_as(
        Some(&token2),
        REPORT,
        json!({ "input": stolen }),
        "CONFLICT",
    )
    .await;
    assert_eq!(
        gpus_of(&app, &host2).await[0]["uuid"],
        "GPU-M",
        "nothing changed"
    );
}

async fn report_metrics_stores_a_batch_once(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.agents.max_batch_samples = 6).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "node").await;
    let t = Some(token.as_str());
    agent_report(&app, &token, &[(0, "GPU-0"), (1, "GPU-1")]).await;

    let b1 = batch(
        "batch-1",
        &[12.5, 15.0],
        &[("GPU-0", 80.0), ("GPU-1", 20.0), ("GPU-0", 82.0)],
    );
    let r = app.gql_ok_as(t, METRICS, json!({ "batch": b1 })).await;
    assert_eq!(
        r["reportMetrics"],
        json!({ "accepted": 5, "duplicate": false })
    );
    let on_host = format!("host_id = '{host}'");
    assert_eq!(app.count_rows("host_metrics", &on_host).await, 2);
    assert_eq!(app.count_rows("gpu_metrics", &on_host).await, 3);
    assert_eq!(app.count_rows("metric_batches", &on_host).await, 1);
    assert_eq!(
        app.count_rows(
            "gpu_metrics g JOIN gpus u ON u.id = g.gpu_id",
            "u.uuid = 'GPU-0' AND g.utilization_percent = 82.0 AND g.memory_used = 42949672960 AND g.sm_clock = 1980"
        )
        .await,
        1
    );
    assert_eq!(
        app.count_rows(
            "host_metrics",
            &format!("{on_host} AND network_rx_bytes = 123456789012 AND cpu_usage_percent = 15.0")
        )
        .await,
        1
    );
    let latest = app
        .gql_ok(
            "query($h: ID!) { host(id: $h) { latestMetric { cpuUsagePercent memoryUsed } } }",
            json!({ "h": host }),
        )
        .await;
    assert_eq!(latest["host"]["latestMetric"]["memoryUsed"], "1073741824");

    // The agent retries the same batch (say its first answer was lost): stored once.
    let again = batch(
        "batch-1",
        &[12.5, 15.0],
        &[("GPU-0", 80.0), ("GPU-1", 20.0), ("GPU-0", 82.0)],
    );
    let r = app.gql_ok_as(t, METRICS, json!({ "batch": again })).await;
    assert_eq!(
        r["reportMetrics"],
        json!({ "accepted": 0, "duplicate": true })
    );
    assert_eq!(app.count_rows("host_metrics", &on_host).await, 2);
    assert_eq!(app.count_rows("gpu_metrics", &on_host).await, 3);

    // A GPU that is not this host's: nothing of the batch is stored, its id stays unused.
    let unknown = batch("batch-2", &[50.0], &[("GPU-0", 1.0), ("GPU-NOPE", 2.0)]);
    let message = app
        .gql_err_as(t, METRICS, json!({ "batch": unknown }), "BAD_USER_INPUT")
        .await;
    assert!(message.contains("GPU-NOPE"), "{message}");
    assert_eq!(app.count_rows("host_metrics", &on_host).await, 2);
    assert_eq!(app.count_rows("gpu_metrics", &on_host).await, 3);
    assert_eq!(app.count_rows("metric_batches", &on_host).await, 1);
    let fixed = batch("batch-2", &[50.0], &[("GPU-0", 1.0)]);
    let r = app.gql_ok_as(t, METRICS, json!({ "batch": fixed })).await;
    assert_eq!(r["reportMetrics"]["accepted"], 2);

    // Limits and values are checked before the database.
    let big = batch("batch-3", &[1.0; 4], &[("GPU-0", 1.0); 3]);
    let message = app
        .gql_err_as(t, METRICS, json!({ "batch": big }), "BAD_USER_INPUT")
        .await;
    assert!(message.contains("at most 6"), "{message}");
    let mut negative = batch("batch-4", &[1.0], &[]);
    negative["hostSamples"][0]["memoryUsed"] = json!("-5");
    app.gql_err_as(t, METRICS, json!({ "batch": negative }), "BAD_USER_INPUT")
        .await;
    let mut future = batch("batch-5", &[1.0], &[]);
    future["hostSamples"][0]["collectedAt"] = json!("2999-01-01T00:00:00Z");
    app.gql_err_as(t, METRICS, json!({ "batch": future }), "BAD_USER_INPUT")
        .await;
    let mut empty_id = batch("", &[1.0], &[]);
    empty_id["batchId"] = json!("  ");
    app.gql_err_as(t, METRICS, json!({ "batch": empty_id }), "BAD_USER_INPUT")
        .await;
    assert_eq!(app.count_rows("metric_batches", &on_host).await, 2);
}

async fn agents_act_only_on_their_own_host(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host_a, token_a) = create_host_with_token(&app, "a").await;
    let (host_b, token_b) = create_host_with_token(&app, "b").await;
    agent_report(&app, &token_a, &[(0, "GPU-OF-A")]).await;
    let (customer, customer_id) = app.register("someone").await;

    // Only agent tokens report.
    let heartbeat = "mutation { agentHeartbeat }";
    let b = batch("x", &[1.0], &[]);
    for (token, code) in [
        (Some(customer.as_str()), "FORBIDDEN"),
        (Some(app.admin_token.as_str()), "FORBIDDEN"),
        (None, "UNAUTHENTICATED"),
    ] {
        app.gql_err_as(token, REPORT, json!({ "input": report(&[]) }), code)
            .await;
        app.gql_err_as(token, METRICS, json!({ "batch": b }), code)
            .await;
        app.gql_err_as(token, heartbeat, json!({}), code).await;
    }
    app.gql_err_as(
        Some("rgpu_agent_forged"),
        heartbeat,
        json!({}),
        "UNAUTHENTICATED",
    )
    .await;
    assert_eq!(app.count_rows("metric_batches", "1 = 1").await, 0);

    // B's agent cannot write A's GPU samples, and its report changes only B.
    let theft = batch("b-1", &[], &[("GPU-OF-A", 99.0)]);
    app.gql_err_as(
        Some(&token_b),
        METRICS,
        json!({ "batch": theft }),
        "BAD_USER_INPUT",
    )
    .await;
    assert_eq!(app.count_rows("gpu_metrics", "1 = 1").await, 0);
    let mut b_report = report(&[]);
    b_report["hostname"] = json!("b-node");
    let r = app
        .gql_ok_as(Some(&token_b), REPORT, json!({ "input": b_report }))
        .await;
    assert_eq!(r["agentReport"]["hostId"], host_b);
    assert_eq!(
        app.column_text("hosts", "hostname", &format!("id = '{host_a}'"))
            .await
            .as_deref(),
        Some("gpu-node-1")
    );
    assert_eq!(
        app.count_rows(
            "gpus",
            &format!("host_id = '{host_a}' AND status = 'available'")
        )
        .await,
        1,
        "A's GPU did not vanish"
    );

    // Environment status: only environments on the agent's own host.
    let env = insert_environment(&app, &customer_id, &host_a, "env-on-a").await;
    let set = "mutation($e: ID!, $s: EnvironmentStatus!) { reportEnvironmentStatus(environmentId: $e, status: $s) { environmentId status previousStatus } }";
    app.gql_err_as(
        Some(&token_b),
        set,
        json!({ "e": env, "s": "STOPPED" }),
        "NOT_FOUND",
    )
    .await;
    app.gql_err_as(
        Some(&customer),
        set,
        json!({ "e": env, "s": "STOPPED" }),
        "FORBIDDEN",
    )
    .await;
    let r = app
        .gql_ok_as(Some(&token_a), set, json!({ "e": env, "s": "STOPPED" }))
        .await;
    assert_eq!(
        r["reportEnvironmentStatus"],
        json!({ "environmentId": env, "status": "STOPPED", "previousStatus": "RUNNING" })
    );
    assert_eq!(
        app.column_text("environments", "status", &format!("id = '{env}'"))
            .await
            .as_deref(),
        Some("stopped")
    );
}

/// A full batch (5000 GPU samples, the default limit) is one INSERT per table on
/// PostgreSQL: the request costs the statements a one-sample batch costs. Every row is
/// stored as sent, one event per row is published, and a replay stores nothing.
async fn a_full_batch_is_one_insert_per_table(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "node").await;
    let t = Some(token.as_str());
    let uuids = report_eight_gpus(&app, &token, "GPU-F").await;
    let full = |id: &str, n: usize| {
        let start = chrono::Utc::now() - chrono::Duration::hours(1);
        let samples: Vec<Value> = (0..n)
            .map(|i| {
                let at = start + chrono::Duration::milliseconds(i as i64);
                json!({
                    "gpuUuid": uuids[i % 8], "collectedAt": at.to_rfc3339(),
                    "utilizationPercent": (i % 100) as f64 + 0.5, "memoryUsed": "42949672960",
                    "temperature": 64.0, "smClock": 1980, "processCount": i % 4
                })
            })
            .collect();
        json!({ "batchId": id, "droppedSamples": 0, "hostSamples": [], "gpuSamples": samples })
    };
    // The first batch also turns the host online; measure the ones after it.
    app.gql_ok_as(t, METRICS, json!({ "batch": full("warm-up", 1) }))
        .await;

    let before = app.statements();
    let r = app
        .gql_ok_as(t, METRICS, json!({ "batch": full("one", 1) }))
        .await;
    assert_eq!(r["reportMetrics"]["accepted"], 1);
    let for_one = app.statements() - before;

    let published = app.state.events.stats().published();
    let before = app.statements();
    let r = app
        .gql_ok_as(t, METRICS, json!({ "batch": full("full", 5000) }))
        .await;
    assert_eq!(
        r["reportMetrics"],
        json!({ "accepted": 5000, "duplicate": false })
    );
    let for_full = app.statements() - before;
    if backend == Backend::Postgres {
        assert_eq!(
            for_full, for_one,
            "5000 samples cost the statements of one (one INSERT per table)"
        );
    }
    assert_eq!(app.state.events.stats().published() - published, 5000);

    let on_host = format!("host_id = '{host}'");
    assert_eq!(app.count_rows("gpu_metrics", &on_host).await, 5002);
    assert_eq!(
        app.count_rows(
            "gpu_metrics",
            &format!(
                "{on_host} AND utilization_percent = 42.5 AND memory_used = 42949672960 \
                 AND temperature = 64.0 AND sm_clock = 1980 AND fan_speed_percent IS NULL \
                 AND memory_clock IS NULL AND process_count = 2"
            )
        )
        .await,
        50,
        "every 100th sample from the 42nd, as sent"
    );
    assert_eq!(
        app.count_rows(
            "gpu_metrics g JOIN gpus u ON u.id = g.gpu_id",
            &format!("g.{on_host} AND u.uuid = 'GPU-F3'")
        )
        .await,
        625,
        "each sample belongs to the GPU it names"
    );

    // A replay of the same batch id stores nothing and publishes nothing.
    let published = app.state.events.stats().published();
    let r = app
        .gql_ok_as(t, METRICS, json!({ "batch": full("full", 5000) }))
        .await;
    assert_eq!(
        r["reportMetrics"],
        json!({ "accepted": 0, "duplicate": true })
    );
    assert_eq!(app.count_rows("gpu_metrics", &on_host).await, 5002);
    assert_eq!(app.state.events.stats().published(), published);
}

/// The events of a batch are its rows as stored, ids and all: each row the sample as sent,
/// its instant cut to the microsecond the database keeps, whatever digits the agent sent.
async fn events_carry_the_rows_as_stored(backend: Backend) {
    use chrono::Timelike;
    use remotegpu::events::{Event, Key, Kind, Topic};
    use sea_orm::{EntityTrait, QueryOrder};

    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, token) = create_host_with_token(&app, "node").await;
    let t = Some(token.as_str());
    let uuids = report_eight_gpus(&app, &token, "GPU-S").await;

    let mut gpu_events = app
        .state
        .events
        .subscribe(Topic::new(Kind::GpuMetrics, Key::All));
    let mut host_events = app
        .state
        .events
        .subscribe(Topic::new(Kind::HostMetrics, Key::All));
    // Nanosecond digits the database does not keep, and a zero-padded year and fraction.
    let start = chrono::DateTime::parse_from_rfc3339("0987-06-05T04:03:02.000000789Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let now = chrono::Utc::now();
    let at = |i: usize| {
        if i == 0 {
            start
        } else {
            now - chrono::Duration::nanoseconds(1_000_000_007 * i as i64)
        }
    };
    let gpu_samples: Vec<Value> = (0..320)
        .map(|i| {
            json!({
                "gpuUuid": uuids[i % 8], "collectedAt": at(i).to_rfc3339(),
                "utilizationPercent": i as f64 / 7.0, "memoryUsed": ((i as i64) << 33).to_string(),
                "temperature": if i % 2 == 0 { json!(null) } else { json!(41.125) },
                "smClock": 1980, "processCount": i % 4
            })
        })
        .collect();
    let host_samples: Vec<Value> = (0..20)
        .map(|i| json!({ "collectedAt": at(i).to_rfc3339(), "cpuUsagePercent": 0.1 * i as f64 }))
        .collect();
    app.gql_ok_as(
        t,
        METRICS,
        json!({ "batch": {
            "batchId": "exact", "droppedSamples": 0,
            "hostSamples": host_samples, "gpuSamples": gpu_samples
        } }),
    )
    .await;

    let mut published = Vec::new();
    while published.len() < 320 {
        match gpu_events.recv().await.as_deref() {
            Some(Event::GpuMetric(m)) => published.push(m.clone()),
            other => panic!("a GPU sample's event, not {other:?}"),
        }
    }
    let stored = entity::gpu_metrics::Entity::find()
        .order_by_asc(entity::gpu_metrics::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(published, stored);
    assert_eq!(
        stored[0].collected_at.map(|c| c.to_string()).as_deref(),
        Some("0987-06-05 04:03:02")
    );
    assert_eq!(
        stored[1].collected_at,
        Some(
            at(1)
                .naive_utc()
                .with_nanosecond(at(1).timestamp_subsec_micros() * 1000)
                .unwrap()
        )
    );
    assert_eq!(stored[3].utilization_percent, Some(3.0 / 7.0));
    assert_eq!(stored[3].memory_used, Some(3 << 33));
    assert_eq!(stored[3].temperature, Some(41.125));
    assert_eq!(stored[2].temperature, None);

    let mut published = Vec::new();
    while published.len() < 20 {
        match host_events.recv().await.as_deref() {
            Some(Event::HostMetric(m)) => published.push(m.clone()),
            other => panic!("a host sample's event, not {other:?}"),
        }
    }
    let stored = entity::host_metrics::Entity::find()
        .order_by_asc(entity::host_metrics::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(published, stored);
}

on_both_backends!(
    a_full_batch_is_one_insert_per_table,
    events_carry_the_rows_as_stored,
    agent_report_upserts_host_and_gpus,
    report_metrics_stores_a_batch_once,
    agents_act_only_on_their_own_host
);
