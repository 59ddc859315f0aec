//! Relations resolve through DataLoaders: a nested list costs the same number of SQL
//! statements whatever the page size.

use entity::gpu_metrics;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;

use crate::fixtures::*;
use crate::helpers::{on_both_backends, spawn_app, Backend, TestApp};

const NESTED: &str = "query($n: Int!) {
  hosts(first: $n, orderBy: [{ field: NAME }]) {
    nodes {
      name
      gpus { gpuIndex host { name } latestMetric { utilizationPercent } }
      environments { name portMappings { externalPort } customer { username workspaces { name members { role } } } }
      latestMetric { cpuUsagePercent }
    }
  }
}";

/// Statements the server sends to answer `query`.
async fn statements_for(
    app: &TestApp,
    query: &str,
    variables: serde_json::Value,
) -> (u64, serde_json::Value) {
    let before = app.statements();
    let data = app.gql_ok(query, variables).await;
    (app.statements() - before, data)
}

async fn nested_lists_cost_constant_statements(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for h in 0..6 {
        let host = create_host(&app, &format!("host-{h}")).await;
        let customer = create_customer(&app, &format!("cust{h}")).await;
        app.gql_ok(
            "mutation($o: ID!) { createWorkspace(input: { ownerId: $o, name: \"w\" }) { id } }",
            json!({ "o": customer }),
        )
        .await;
        let env = insert_environment(&app, &customer, &host, &format!("env-{h}")).await;
        app.gql_ok(
            "mutation($e: ID!, $p: Int!) { createPortMapping(input: { envId: $e, serviceType: JUPYTER, externalPort: $p, internalPort: 8888 }) { id } }",
            json!({ "e": env, "p": 31000 + h }),
        )
        .await;
        for g in 0..4 {
            let gpu: i64 = create_gpu(&app, &host, g).await.parse().unwrap();
            for (m, t) in ["2026-01-26T10:00:00Z", "2026-01-26T10:00:10Z"]
                .iter()
                .enumerate()
            {
                gpu_metrics::ActiveModel {
                    gpu_id: Set(gpu),
                    host_id: Set(host.clone()),
                    utilization_percent: Set(Some(10.0 * m as f64 + g as f64)),
                    collected_at: Set(Some(at(t))),
                    ..Default::default()
                }
                .insert(&app.db)
                .await
                .unwrap();
            }
        }
    }

    let (small, small_data) = statements_for(&app, NESTED, json!({ "n": 2 })).await;
    let (large, large_data) = statements_for(&app, NESTED, json!({ "n": 6 })).await;
    assert_eq!(small_data["hosts"]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(large_data["hosts"]["nodes"].as_array().unwrap().len(), 6);
    assert_eq!(
        small, large,
        "statements must not grow with the page size ({small} vs {large})"
    );
    // hosts, gpus, gpu.host, latest gpu metric, environments, port mappings, customers,
    // workspaces, members, latest host metric.
    assert!(large <= 10, "{large} statements");

    let host = &large_data["hosts"]["nodes"][5];
    assert_eq!(host["name"], "host-5");
    let gpus = host["gpus"].as_array().unwrap();
    assert_eq!(gpus.len(), 4);
    for gpu in gpus {
        let index = gpu["gpuIndex"].as_f64().unwrap();
        assert_eq!(
            gpu["latestMetric"]["utilizationPercent"].as_f64().unwrap(),
            10.0 + index,
            "newest sample"
        );
        assert_eq!(gpu["host"]["name"], "host-5");
    }
    assert_eq!(host["latestMetric"], serde_json::Value::Null);
    let env = &host["environments"][0];
    assert_eq!(env["portMappings"], json!([{ "externalPort": 31005 }]));
    assert_eq!(env["customer"]["username"], "cust5");
    assert_eq!(
        env["customer"]["workspaces"],
        json!([{ "name": "w", "members": [{ "role": "OWNER" }] }])
    );
}

const FLEET: &str = "query($n: Int!) {
  hosts(first: $n, orderBy: [{ field: NAME }]) {
    nodes { name latestMetric { cpuUsagePercent } gpus { gpuIndex latestMetric { utilizationPercent collectedAt } } }
  }
}";

/// The console's fleet view costs the same statements at every page size and however much
/// history is kept, and shows each GPU's newest sample.
async fn fleet_statements_constant_in_page_size_and_history(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let start = at("2026-01-26T00:00:00Z");
    let mut gpus = Vec::new();
    for h in 0..5 {
        let host = create_host(&app, &format!("host-{h}")).await;
        for g in 0..2 {
            let gpu: i64 = create_gpu(&app, &host, g).await.parse().unwrap();
            insert_gpu_samples(&app, &host, gpu, start, 3, 0.0).await;
            gpus.push((host.clone(), gpu));
        }
    }
    let (short_small, _) = statements_for(&app, FLEET, json!({ "n": 1 })).await;
    let (short_large, data) = statements_for(&app, FLEET, json!({ "n": 5 })).await;
    let newest = &data["hosts"]["nodes"][4]["gpus"][1]["latestMetric"];
    assert_eq!(newest["utilizationPercent"].as_f64(), Some(2.0));

    // 600 samples more per GPU, and a tie at the newest instant (the row stored last wins).
    for (i, (host, gpu)) in gpus.iter().enumerate() {
        let later = start + chrono::Duration::seconds(30);
        insert_gpu_samples(&app, host, *gpu, later, 600, 1000.0 * i as f64).await;
        let newest = later + chrono::Duration::seconds(10 * 599);
        insert_gpu_samples(&app, host, *gpu, newest, 1, 1000.0 * i as f64 + 0.5).await;
    }
    let (long_small, _) = statements_for(&app, FLEET, json!({ "n": 1 })).await;
    let (long_large, data) = statements_for(&app, FLEET, json!({ "n": 5 })).await;
    assert_eq!(
        [short_small, short_large, long_small, long_large],
        [short_small; 4],
        "statements must not grow with page size or history"
    );
    // hosts, latest host metric, gpus, latest gpu metric.
    assert_eq!(short_small, 4);
    for (h, host) in data["hosts"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for (g, gpu) in host["gpus"].as_array().unwrap().iter().enumerate() {
            let i = h * 2 + g;
            assert_eq!(
                gpu["latestMetric"]["utilizationPercent"].as_f64(),
                Some(1000.0 * i as f64 + 0.5),
                "host {h} gpu {g}"
            );
            assert_eq!(
                gpu["latestMetric"]["collectedAt"],
                "2026-01-26T01:40:20+00:00"
            );
        }
    }
}

on_both_backends!(
    nested_lists_cost_constant_statements,
    fleet_statements_constant_in_page_size_and_history
);
