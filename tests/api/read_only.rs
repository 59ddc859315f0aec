//! Tables that processes write (metrics, billing, commands, environments, dataset usage) are
//! readable, filterable by time range, and show their values in the documented wire forms.

use entity::*;
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;

use crate::fixtures::*;
use crate::helpers::{on_both_backends, spawn_app, Backend};

async fn metrics_by_time_range(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let host = create_host(&app, "m-host").await;
    let gpu: i64 = create_gpu(&app, &host, 0).await.parse().unwrap();
    let customer = create_customer(&app, "metrics").await;
    let env = insert_environment(&app, &customer, &host, "env-m").await;
    for (i, t) in [
        "2026-01-26T10:00:00Z",
        "2026-01-26T10:01:00Z",
        "2026-01-26T10:02:00Z",
    ]
    .iter()
    .enumerate()
    {
        host_metrics::ActiveModel {
            host_id: Set(host.clone()),
            cpu_usage_percent: Set(Some(40.0 + i as f64)),
            memory_used: Set(Some(68_719_476_736)),
            network_rx_bytes: Set(Some(10_737_418_240)),
            collected_at: Set(Some(at(t))),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .unwrap();
        gpu_metrics::ActiveModel {
            gpu_id: Set(gpu),
            host_id: Set(host.clone()),
            utilization_percent: Set(Some(80.0 + i as f64)),
            memory_used: Set(Some(25_769_803_776)),
            sm_clock: Set(Some(1530)),
            collected_at: Set(Some(at(t))),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .unwrap();
        environment_metrics::ActiveModel {
            env_id: Set(env.clone()),
            gpu_usage_percent: Set(Some(85.0)),
            collected_at: Set(Some(at(t))),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
    let range = json!({ "gte": "2026-01-26T10:01:00Z", "lt": "2026-01-26T10:03:00Z" });
    let data = app
        .gql_ok(
            "query($h: ID!, $r: DateTimeFilter) {
               hostMetrics(filter: { hostId: { eq: $h }, collectedAt: $r }, orderBy: [{ field: COLLECTED_AT, direction: DESC }]) {
                 totalCount nodes { cpuUsagePercent memoryUsed networkRxBytes collectedAt host { name } } }
               gpuMetrics(filter: { hostId: { eq: $h }, collectedAt: $r }) { totalCount nodes { utilizationPercent memoryUsed smClock gpu { name } } }
               environmentMetrics(filter: { collectedAt: $r }) { totalCount nodes { gpuUsagePercent environment { name } } }
             }",
            json!({ "h": host, "r": range }),
        )
        .await;
    assert_eq!(data["hostMetrics"]["totalCount"], 2);
    let newest = &data["hostMetrics"]["nodes"][0];
    assert_eq!(newest["cpuUsagePercent"], 42.0);
    assert_eq!(
        newest["memoryUsed"], "68719476736",
        "bytes are BigInt strings"
    );
    assert_eq!(newest["networkRxBytes"], "10737418240");
    assert_eq!(newest["collectedAt"], "2026-01-26T10:02:00+00:00");
    assert_eq!(newest["host"]["name"], "m-host");
    assert_eq!(data["gpuMetrics"]["totalCount"], 2);
    assert_eq!(data["gpuMetrics"]["nodes"][0]["memoryUsed"], "25769803776");
    assert_eq!(data["gpuMetrics"]["nodes"][0]["smClock"], 1530);
    assert_eq!(
        data["gpuMetrics"]["nodes"][0]["gpu"]["name"],
        "NVIDIA H100 80GB HBM3"
    );
    assert_eq!(data["environmentMetrics"]["totalCount"], 2);
    assert_eq!(
        data["environmentMetrics"]["nodes"][0]["environment"]["name"],
        "PyTorch Training"
    );
}

async fn billing_and_invoices(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let host = create_host(&app, "b-host").await;
    let customer = create_customer(&app, "billed").await;
    let customer_id: i64 = customer.parse().unwrap();
    let env = insert_environment(&app, &customer, &host, "env-b").await;
    let invoice = invoices::ActiveModel {
        invoice_no: Set("INV-2026-0001".into()),
        customer_id: Set(customer_id),
        period_start: Set(at("2026-01-01T00:00:00Z")),
        period_end: Set(at("2026-02-01T00:00:00Z")),
        subtotal: Set(Decimal::new(20_000, 4).into()),
        tax: Set(Decimal::new(1_200, 4).into()),
        total_amount: Set(Decimal::new(21_200, 4).into()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    for (hour, resource) in [(9, "gpu"), (10, "cpu")] {
        billing_records::ActiveModel {
            customer_id: Set(customer_id),
            env_id: Set(Some(env.clone())),
            invoice_id: Set(Some(invoice.id)),
            resource_type: Set(resource.into()),
            quantity: Set(4.0),
            unit_price: Set(Decimal::new(5_000, 4).into()),
            amount: Set(Decimal::new(20_000, 4).into()),
            start_time: Set(at(&format!("2026-01-26T{hour:02}:00:00Z"))),
            end_time: Set(at(&format!("2026-01-26T{:02}:00:00Z", hour + 1))),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
    let data = app
        .gql_ok(
            "query($c: ID!) {
               billingRecords(filter: { customerId: { eq: $c }, resourceType: { eq: GPU }, startTime: { lt: \"2026-01-26T10:00:00Z\" } }) {
                 totalCount nodes { resourceType quantity unitPrice amount startTime environment { id } invoice { invoiceNo } customer { username } } }
               invoices(filter: { customerId: { eq: $c }, status: { eq: DRAFT } }) {
                 nodes { invoiceNo subtotal tax totalAmount currency status billingRecords { resourceType } } }
             }",
            json!({ "c": customer }),
        )
        .await;
    let record = &data["billingRecords"]["nodes"][0];
    assert_eq!(data["billingRecords"]["totalCount"], 1);
    assert_eq!(record["resourceType"], "GPU");
    assert_eq!(
        record["unitPrice"], "0.5000",
        "money keeps four decimal places"
    );
    assert_eq!(record["amount"], "2.0000");
    assert_eq!(record["environment"]["id"], "env-b");
    assert_eq!(record["invoice"]["invoiceNo"], "INV-2026-0001");
    assert_eq!(record["customer"]["username"], "billed");
    let inv = &data["invoices"]["nodes"][0];
    assert_eq!(inv["totalAmount"], "2.1200");
    assert_eq!(inv["currency"], "CNY");
    assert_eq!(inv["billingRecords"].as_array().unwrap().len(), 2);
}

async fn commands_and_results(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let host = create_host(&app, "c-host").await;
    for (cid, status) in [("cmd-1", "success"), ("cmd-2", "pending")] {
        commands::ActiveModel {
            command_id: Set(cid.into()),
            command_text: Set("echo hello".into()),
            target_node_id: Set(host.clone()),
            status: Set(Some(status.into())),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
    command_results::ActiveModel {
        command_id: Set("cmd-1".into()),
        stdout: Set(Some("hello\n".into())),
        stderr: Set(Some(String::new())),
        exit_code: Set(Some(0)),
        execution_time_ms: Set(Some(12)),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let data = app
        .gql_ok(
            "query($h: ID!) {
               commands(filter: { targetNodeId: { eq: $h }, status: { eq: SUCCESS } }) {
                 totalCount nodes { commandId commandText host { name } results { stdout exitCode executionTimeMs } } }
               commandResults(filter: { commandId: { eq: \"cmd-1\" } }) { nodes { command { status } } }
             }",
            json!({ "h": host }),
        )
        .await;
    assert_eq!(data["commands"]["totalCount"], 1);
    let cmd = &data["commands"]["nodes"][0];
    assert_eq!(cmd["commandId"], "cmd-1");
    assert_eq!(cmd["host"]["name"], "c-host");
    assert_eq!(
        cmd["results"],
        json!([{ "stdout": "hello\n", "exitCode": 0, "executionTimeMs": 12 }])
    );
    assert_eq!(
        data["commandResults"]["nodes"][0]["command"]["status"],
        "SUCCESS"
    );
}

async fn environments_and_dataset_usage(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let host = create_host(&app, "e-host").await;
    let customer = create_customer(&app, "envs").await;
    let env = insert_environment(&app, &customer, &host, "env-e").await;
    let dataset = app
        .gql_ok(
            "mutation($c: ID!) { createDataset(input: { customerId: $c, name: \"imagenet\" }) { id } }",
            json!({ "c": customer }),
        )
        .await["createDataset"]["id"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    dataset_usage::ActiveModel {
        dataset_id: Set(dataset),
        env_id: Set(env.clone()),
        mount_path: Set("/data/imagenet".into()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let data = app
        .gql_ok(
            "query($c: ID!, $h: ID!) {
               environments(filter: { customerId: { eq: $c }, hostId: { eq: $h }, status: { eq: RUNNING } }) {
                 totalCount nodes { id memory status host { name } customer { username } datasetUsage { mountPath accessMode dataset { name } } } }
               datasetUsages(filter: { envId: { eq: \"env-e\" } }) { totalCount nodes { environment { id } } }
             }",
            json!({ "c": customer, "h": host }),
        )
        .await;
    let e = &data["environments"]["nodes"][0];
    assert_eq!(data["environments"]["totalCount"], 1);
    assert_eq!(e["memory"], "17179869184");
    assert_eq!(e["status"], "RUNNING");
    assert_eq!(e["host"]["name"], "e-host");
    assert_eq!(e["customer"]["username"], "envs");
    assert_eq!(
        e["datasetUsage"],
        json!([{ "mountPath": "/data/imagenet", "accessMode": "READ_ONLY", "dataset": { "name": "imagenet" } }])
    );
    assert_eq!(
        data["datasetUsages"]["nodes"][0]["environment"]["id"],
        "env-e"
    );
    // There is no mutation to create an environment by hand.
    app.gql_err(
        "mutation { createEnvironment(input: {}) { id } }",
        json!({}),
        "BAD_USER_INPUT",
    )
    .await;
}

on_both_backends!(
    metrics_by_time_range,
    billing_and_invoices,
    commands_and_results,
    environments_and_dataset_usage
);
