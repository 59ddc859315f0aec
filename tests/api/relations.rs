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

on_both_backends!(nested_lists_cost_constant_statements);
