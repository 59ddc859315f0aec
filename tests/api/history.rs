//! Metric rollups, retention and history queries, with the rollup job's `run_once` at a
//! fixed time over samples stored at known times.

use chrono::{DateTime, Utc};
use entity::{gpu_metrics, host_metrics, host_metrics_daily, host_metrics_hourly, metric_batches};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{json, Value};

use crate::agent::agent_report;
use crate::fixtures::*;
use crate::helpers::{on_both_backends, spawn_app, Backend, TestApp};

const NOW: &str = "2026-03-10T12:30:00Z";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .with_timezone(&Utc)
}

async fn host_sample(app: &TestApp, host: &str, time: &str, cpu: f64, memory: i64, rx: i64) {
    host_metrics::ActiveModel {
        host_id: Set(host.to_owned()),
        cpu_usage_percent: Set(Some(cpu)),
        memory_used: Set(Some(memory)),
        network_rx_bytes: Set(Some(rx)),
        collected_at: Set(Some(at(time))),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
}

async fn gpu_sample(
    app: &TestApp,
    host: &str,
    gpu: i64,
    time: &str,
    util: f64,
    temp: f64,
    procs: i32,
) {
    gpu_metrics::ActiveModel {
        gpu_id: Set(gpu),
        host_id: Set(host.to_owned()),
        utilization_percent: Set(Some(util)),
        temperature: Set(Some(temp)),
        process_count: Set(Some(procs)),
        collected_at: Set(Some(at(time))),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
}

const HOST_HISTORY: &str = "query($h: ID!, $from: DateTime!, $to: DateTime!, $r: MetricResolution) { hostMetricHistory(hostId: $h, from: $from, to: $to, resolution: $r) { resolution truncated points { at sampleCount cpuUsagePercent cpuUsagePercentMax memoryUsed memoryUsedMax networkRxBytes } } }";
const GPU_HISTORY: &str = "query($g: ID!, $from: DateTime!, $to: DateTime!, $r: MetricResolution) { gpuMetricHistory(gpuId: $g, from: $from, to: $to, resolution: $r) { resolution points { at sampleCount utilizationPercent utilizationPercentMax temperatureMax processCountMax } } }";

async fn history(app: &TestApp, token: Option<&str>, vars: Value) -> Value {
    app.gql_ok_as(token, HOST_HISTORY, vars).await["hostMetricHistory"].clone()
}

fn times(h: &Value) -> Vec<String> {
    h["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["at"].as_str().unwrap().to_owned())
        .collect()
}

/// The rollup rows expected after the first run (and after any later run at the same time).
async fn check_rollups(app: &TestApp, host: &str, gpu: i64) {
    let on = |extra: &str| format!("host_id = '{host}' AND {extra}");
    assert_eq!(app.count_rows("host_metrics_hourly", &on("1 = 1")).await, 3);
    assert_eq!(
        app.count_rows(
            "host_metrics_hourly",
            &on("bucket_start = '2026-03-10 10:00:00' AND sample_count = 2 \
                     AND cpu_usage_percent_avg = 20 AND cpu_usage_percent_max = 30 \
                     AND memory_used_avg = 151 AND memory_used_max = 201 \
                     AND network_rx_bytes_max = 3000"),
        )
        .await,
        1,
        "10:00 is the average and maximum of its two samples"
    );
    assert_eq!(
            app.count_rows(
                "host_metrics_hourly",
                &on("bucket_start = '2026-03-01 08:00:00' AND sample_count = 1 AND cpu_usage_percent_avg = 90")
            )
            .await,
            1
        );
    assert_eq!(
        app.count_rows(
            "host_metrics_hourly",
            &on("bucket_start >= '2026-03-10 12:00:00'")
        )
        .await,
        0,
        "the current hour is not over"
    );
    assert_eq!(
        app.count_rows(
            "gpu_metrics_hourly",
            &format!(
                "gpu_id = {gpu} AND bucket_start = '2026-03-10 10:00:00' AND sample_count = 2 \
                          AND utilization_percent_avg = 30 AND utilization_percent_max = 40 \
                          AND temperature_max = 70 AND process_count_max = 2"
            )
        )
        .await,
        1
    );
    // Daily rows come from hourly ones: the first of March, and the hourly row of
    // November (rolled up before its own retention removed it); today is not over.
    assert_eq!(app.count_rows("host_metrics_daily", &on("1 = 1")).await, 2);
    assert_eq!(
            app.count_rows(
                "host_metrics_daily",
                &on("bucket_start = '2026-03-01 00:00:00' AND sample_count = 1 AND cpu_usage_percent_avg = 90")
            )
            .await,
            1
        );
    assert_eq!(
        app.count_rows(
            "host_metrics_daily",
            &on("bucket_start = '2025-11-01 00:00:00' AND sample_count = 360")
        )
        .await,
        1
    );
    assert_eq!(
        app.count_rows("gpu_metrics_daily", &format!("gpu_id = {gpu}"))
            .await,
        1
    );
}

async fn rollups_retention_and_history(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "history").await;
    agent_report(&app, &token, &[(0, "GPU-H0")]).await;
    let gpu: i64 = app
        .column_text("gpus", "id", "uuid = 'GPU-H0'")
        .await
        .unwrap()
        .parse()
        .unwrap();

    // Nine days ago (raw samples expire after 7), two this morning at 10, one at 11, one in
    // the hour that is not over yet.
    host_sample(&app, &host, "2026-03-01T08:15:00Z", 90.0, 1000, 10).await;
    host_sample(&app, &host, "2026-03-10T10:05:00Z", 10.0, 100, 1000).await;
    host_sample(&app, &host, "2026-03-10T10:35:00Z", 30.0, 201, 3000).await;
    host_sample(&app, &host, "2026-03-10T11:10:00Z", 50.0, 300, 5000).await;
    host_sample(&app, &host, "2026-03-10T12:10:00Z", 99.0, 400, 7000).await;
    gpu_sample(&app, &host, gpu, "2026-03-01T08:15:00Z", 5.0, 40.0, 1).await;
    gpu_sample(&app, &host, gpu, "2026-03-10T10:05:00Z", 20.0, 50.0, 1).await;
    gpu_sample(&app, &host, gpu, "2026-03-10T10:35:00Z", 40.0, 70.0, 2).await;
    gpu_sample(&app, &host, gpu, "2026-03-10T11:10:00Z", 60.0, 65.0, 4).await;
    // Rollups and batch ids past their retention.
    host_metrics_hourly::ActiveModel {
        host_id: Set(host.clone()),
        bucket_start: Set(at("2025-11-01T00:00:00Z")),
        sample_count: Set(360),
        cpu_usage_percent_avg: Set(Some(5.0)),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    host_metrics_daily::ActiveModel {
        host_id: Set(host.clone()),
        bucket_start: Set(at("2025-01-01T00:00:00Z")),
        sample_count: Set(8640),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    metric_batches::ActiveModel {
        host_id: Set(host.clone()),
        batch_id: Set("old".into()),
        sample_count: Set(1),
        dropped_samples: Set(0),
        received_at: Set(at("2026-03-01T08:15:00Z")),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();

    let report = remotegpu::jobs::rollups::run_once(&app.state, now())
        .await
        .unwrap();
    assert_eq!(report.deleted_raw, 2, "{report:?}");
    assert_eq!(report.deleted_hourly, 1, "{report:?}");
    assert_eq!(report.deleted_daily, 1, "{report:?}");
    assert!(report.deleted_batches >= 1, "{report:?}");

    let on = |extra: &str| format!("host_id = '{host}' AND {extra}");
    check_rollups(&app, &host, gpu).await;
    assert_eq!(app.count_rows("host_metrics", &on("1 = 1")).await, 4);
    assert_eq!(app.count_rows("gpu_metrics", &on("1 = 1")).await, 3);
    assert_eq!(
        app.count_rows("metric_batches", "batch_id = 'old'").await,
        0
    );

    // Running again changes nothing.
    let report = remotegpu::jobs::rollups::run_once(&app.state, now())
        .await
        .unwrap();
    assert_eq!(report, Default::default());
    check_rollups(&app, &host, gpu).await;

    // A sample delivered late (the agent buffered it) still counts in its hour.
    host_sample(&app, &host, "2026-03-10T11:50:00Z", 70.0, 500, 6000).await;
    remotegpu::jobs::rollups::run_once(&app.state, now())
        .await
        .unwrap();
    assert_eq!(
        app.count_rows(
            "host_metrics_hourly",
            &on("bucket_start = '2026-03-10 11:00:00' AND sample_count = 2 AND cpu_usage_percent_avg = 60 AND network_rx_bytes_max = 6000")
        )
        .await,
        1
    );

    // History: the range picks the resolution, or the caller does.
    let admin = Some(app.admin_token.as_str());
    let today = json!({ "h": host, "from": "2026-03-10T00:00:00Z", "to": NOW });
    let raw = history(&app, admin, today.clone()).await;
    assert_eq!(raw["resolution"], "RAW");
    assert_eq!(raw["truncated"], false);
    assert_eq!(raw["points"].as_array().unwrap().len(), 5);
    assert_eq!(raw["points"][0]["sampleCount"], 1);
    assert_eq!(raw["points"][0]["cpuUsagePercent"], 10.0);
    assert_eq!(raw["points"][0]["cpuUsagePercentMax"], 10.0);
    assert_eq!(raw["points"][0]["memoryUsed"], "100");

    let mut hourly_vars = today.clone();
    hourly_vars["r"] = json!("HOURLY");
    let hourly = history(&app, admin, hourly_vars).await;
    assert_eq!(hourly["resolution"], "HOURLY");
    assert_eq!(
        times(&hourly),
        ["2026-03-10T10:00:00+00:00", "2026-03-10T11:00:00+00:00"]
    );
    assert_eq!(
        hourly["points"][0],
        json!({ "at": "2026-03-10T10:00:00+00:00", "sampleCount": 2, "cpuUsagePercent": 20.0,
                "cpuUsagePercentMax": 30.0, "memoryUsed": "151", "memoryUsedMax": "201",
                "networkRxBytes": "3000" })
    );

    let ten_days = history(
        &app,
        admin,
        json!({ "h": host, "from": "2026-02-28T00:00:00Z", "to": NOW }),
    )
    .await;
    assert_eq!(ten_days["resolution"], "HOURLY");
    assert_eq!(ten_days["points"].as_array().unwrap().len(), 3);

    let months = history(
        &app,
        admin,
        json!({ "h": host, "from": "2025-10-01T00:00:00Z", "to": NOW }),
    )
    .await;
    assert_eq!(months["resolution"], "DAILY");
    assert_eq!(
        times(&months),
        ["2025-11-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00"]
    );

    let g = app
        .gql_ok(
            GPU_HISTORY,
            json!({ "g": gpu.to_string(), "from": "2026-03-10T10:20:00Z", "to": NOW, "r": "HOURLY" }),
        )
        .await;
    let g = &g["gpuMetricHistory"];
    assert_eq!(
        g["points"][0]["at"], "2026-03-10T10:00:00+00:00",
        "the bucket holding `from`"
    );
    assert_eq!(g["points"][0]["utilizationPercent"], 30.0);
    assert_eq!(g["points"][0]["utilizationPercentMax"], 40.0);
    assert_eq!(g["points"][1]["processCountMax"], 4);

    // Operators only: customers are refused, as for the metric tables.
    let (customer, _) = app.register("curious").await;
    app.gql_err_as(Some(&customer), HOST_HISTORY, today.clone(), "FORBIDDEN")
        .await;
    app.gql_err_as(
        Some(&customer),
        GPU_HISTORY,
        json!({ "g": gpu.to_string(), "from": "2026-03-10T00:00:00Z", "to": NOW }),
        "FORBIDDEN",
    )
    .await;
    app.gql_err(
        HOST_HISTORY,
        json!({ "h": host, "from": NOW, "to": "2026-03-10T00:00:00Z" }),
        "BAD_USER_INPUT",
    )
    .await;
    app.gql_err(
        HOST_HISTORY,
        json!({ "h": "host-nope", "from": "2026-03-10T00:00:00Z", "to": NOW }),
        "NOT_FOUND",
    )
    .await;
}

on_both_backends!(rollups_retention_and_history);
