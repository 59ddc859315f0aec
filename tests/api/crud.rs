//! Create, read, list with a filter, update (partially) and delete one row of every table
//! people maintain by hand, checking the database after each write.

use serde_json::{json, Value};

use crate::fixtures::*;
use crate::helpers::{on_both_backends, Backend, TestApp};

/// One table's round trip through the API.
struct Case<'a> {
    table: &'a str,
    /// The GraphQL object name: `createX`, `updateX`, `deleteX`, `x(id)`.
    object: &'a str,
    /// The list field, e.g. `hosts`.
    many: &'a str,
    create: Value,
    /// A filter the created row matches (and, for the check, `{id: {eq}}` is added).
    filter: Value,
    update: Value,
    /// After the update: the GraphQL field and its value, and the column and its text in the
    /// database.
    updated: (&'a str, Value, &'a str, &'a str),
    /// Another field whose value must survive the partial update.
    untouched: (&'a str, Value),
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

async fn roundtrip(app: &TestApp, case: Case<'_>) {
    let one = lower_first(case.object);
    let (field, expected, column, db_text) = case.updated;
    let (kept_field, kept_value) = case.untouched;
    let selection = format!("id {field} {kept_field}");

    // create
    // createHost returns the host with its agent token; the others return the row.
    let returned = match case.object {
        "Host" => format!("host {{ {selection} }} agentToken"),
        _ => selection.clone(),
    };
    let q = format!(
        "mutation($input: Create{o}Input!) {{ create{o}(input: $input) {{ {returned} }} }}",
        o = case.object
    );
    let created = if case.object == "WorkspaceMember" {
        // A membership is an invitation its invitee accepts.
        let login = case.create["login"].as_str().unwrap();
        let invitee = app.login(login, CUSTOMER_PASSWORD).await;
        let member = add_member_as(
            app,
            &app.admin_token,
            &case.create["workspaceId"],
            login,
            &invitee,
            case.create["role"].as_str().unwrap(),
            &selection,
        )
        .await;
        json!({ "createWorkspaceMember": member })
    } else {
        app.gql_ok(&q, json!({ "input": case.create })).await
    };
    let mut row = &created[format!("create{}", case.object)];
    if case.object == "Host" {
        assert!(row["agentToken"]
            .as_str()
            .unwrap()
            .starts_with("rgpu_agent_"));
        row = &row["host"];
    }
    let id = row["id"].as_str().expect("id").to_owned();
    assert_eq!(row[kept_field], kept_value, "{}: created value", case.table);
    let where_id = if id.parse::<i64>().is_ok() {
        format!("id = {id}")
    } else {
        format!("id = '{id}'")
    };
    assert_eq!(
        app.count_rows(case.table, &where_id).await,
        1,
        "{}: row stored",
        case.table
    );

    // read
    let q = format!("query($id: ID!) {{ {one}(id: $id) {{ {selection} }} }}");
    let read = app.gql_ok(&q, json!({ "id": id })).await;
    assert_eq!(read[&one]["id"], id.as_str());

    // list with a filter
    let mut filter = case.filter.clone();
    let q = format!(
        "query($filter: {o}Filter) {{ {m}(filter: $filter, first: 10) {{ totalCount nodes {{ id }} pageInfo {{ hasNextPage }} }} }}",
        o = case.object,
        m = case.many
    );
    let listed = app.gql_ok(&q, json!({ "filter": filter })).await;
    let ids: Vec<&str> = listed[case.many]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&id.as_str()),
        "{}: filter {filter} finds the row: {listed}",
        case.table
    );
    assert_eq!(
        listed[case.many]["totalCount"].as_i64().unwrap() as usize,
        ids.len()
    );
    filter["id"] = json!({ "eq": id });
    let listed = app.gql_ok(&q, json!({ "filter": filter })).await;
    assert_eq!(
        listed[case.many]["totalCount"], 1,
        "{}: id filter",
        case.table
    );

    // partial update
    let q = format!(
        "mutation($id: ID!, $input: Update{o}Input!) {{ update{o}(id: $id, input: $input) {{ {selection} }} }}",
        o = case.object
    );
    let updated = app
        .gql_ok(&q, json!({ "id": id, "input": case.update }))
        .await;
    let row = &updated[format!("update{}", case.object)];
    assert_eq!(row[field], expected, "{}: updated value", case.table);
    assert_eq!(
        row[kept_field], kept_value,
        "{}: untouched field kept",
        case.table
    );
    assert_eq!(
        app.column_text(case.table, column, &where_id)
            .await
            .as_deref(),
        Some(db_text),
        "{}: updated in the database",
        case.table
    );

    // delete
    let q = format!(
        "mutation($id: ID!) {{ delete{o}(id: $id) {{ id }} }}",
        o = case.object
    );
    let deleted = app.gql_ok(&q, json!({ "id": id })).await;
    assert_eq!(deleted[format!("delete{}", case.object)]["id"], id.as_str());
    assert_eq!(
        app.count_rows(case.table, &where_id).await,
        0,
        "{}: row deleted",
        case.table
    );
    let q = format!("query($id: ID!) {{ {one}(id: $id) {{ id }} }}");
    app.gql_err(&q, json!({ "id": id }), "NOT_FOUND").await;
}

async fn infrastructure_tables(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    roundtrip(
        &app,
        Case {
            table: "system_configs",
            object: "SystemConfig",
            many: "systemConfigs",
            create: json!({ "configKey": "ssh_port_range_start", "configValue": "30000", "configType": "INTEGER", "description": "first SSH port" }),
            filter: json!({ "configKey": { "eq": "ssh_port_range_start" } }),
            update: json!({ "configValue": "31000" }),
            updated: ("configValue", json!("31000"), "config_value", "31000"),
            untouched: ("configType", json!("INTEGER")),
        },
    )
    .await;
    roundtrip(
        &app,
        Case {
            table: "hosts",
            object: "Host",
            many: "hosts",
            create: json!({ "name": "GPU-Server-01", "hostname": "gpu01.example.com", "ipAddress": "192.168.1.10",
                "osType": "LINUX", "osVersion": "Ubuntu 22.04", "deploymentMode": "KUBERNETES", "k8sNodeName": "node-01",
                "totalCpu": 32, "totalMemory": "137438953472", "totalDisk": 2199023255552_i64, "totalGpu": 4,
                "labels": { "region": "us-west" }, "tags": ["high-memory"] }),
            filter: json!({ "osType": { "eq": "LINUX" }, "deploymentMode": { "in": ["KUBERNETES"] }, "status": { "eq": "OFFLINE" }, "labels": { "region": "us-west" } }),
            update: json!({ "status": "MAINTENANCE", "hostname": null }),
            updated: ("status", json!("MAINTENANCE"), "status", "maintenance"),
            untouched: ("totalMemory", json!("137438953472")),
        },
    )
    .await;
    let host = create_host(&app, "gpu-host").await;
    roundtrip(
        &app,
        Case {
            table: "gpus",
            object: "Gpu",
            many: "gpus",
            create: json!({ "hostId": host, "gpuIndex": 0, "uuid": "GPU-12345678", "name": "Tesla V100-SXM2-32GB",
                "brand": "NVIDIA", "architecture": "Volta", "memoryTotal": "34359738368", "cudaCores": 5120,
                "computeCapability": "7.0", "powerLimit": 300, "temperatureLimit": 85 }),
            filter: json!({ "hostId": { "eq": host }, "status": { "eq": "AVAILABLE" } }),
            update: json!({ "status": "MAINTENANCE" }),
            updated: ("status", json!("MAINTENANCE"), "status", "maintenance"),
            untouched: ("memoryTotal", json!("34359738368")),
        },
    )
    .await;
    roundtrip(
        &app,
        Case {
            table: "images",
            object: "Image",
            many: "images",
            create: json!({ "name": "ubuntu20-pytorch:2.0", "category": "pytorch", "isOfficial": true, "size": "5368709120" }),
            filter: json!({ "category": { "eq": "pytorch" }, "isOfficial": { "eq": true } }),
            update: json!({ "description": "Ubuntu 20.04 + PyTorch 2.0" }),
            updated: ("description", json!("Ubuntu 20.04 + PyTorch 2.0"), "description", "Ubuntu 20.04 + PyTorch 2.0"),
            untouched: ("size", json!("5368709120")),
        },
    )
    .await;
}

async fn account_tables(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    roundtrip(
        &app,
        Case {
            table: "customers",
            object: "Customer",
            many: "customers",
            create: json!({ "username": "john_doe", "email": "John@Example.com", "password": "correct horse battery",
                "fullName": "John Doe", "accountType": "ENTERPRISE" }),
            filter: json!({ "username": { "eq": "john_doe" }, "email": { "eq": "john@example.com" }, "status": { "eq": "ACTIVE" } }),
            update: json!({ "company": "Example Corp", "emailVerified": true }),
            updated: ("company", json!("Example Corp"), "company", "Example Corp"),
            untouched: ("email", json!("john@example.com")),
        },
    )
    .await;
    let owner = create_customer(&app, "owner").await;
    roundtrip(
        &app,
        Case {
            table: "workspaces",
            object: "Workspace",
            many: "workspaces",
            create: json!({ "ownerId": owner, "name": "AI Research Team", "type": "TEAM" }),
            filter: json!({ "ownerId": { "eq": owner } }),
            update: json!({ "status": "ARCHIVED" }),
            updated: ("status", json!("ARCHIVED"), "status", "archived"),
            untouched: ("name", json!("AI Research Team")),
        },
    )
    .await;
    let ws = app
        .gql_ok(
            "mutation($o: ID!) { createWorkspace(input: { ownerId: $o, name: \"team\" }) { id } }",
            json!({ "o": owner }),
        )
        .await["createWorkspace"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = create_customer(&app, "member").await;
    roundtrip(
        &app,
        Case {
            table: "workspace_members",
            object: "WorkspaceMember",
            many: "workspaceMembers",
            create: json!({ "workspaceId": ws, "login": "member", "role": "MEMBER" }),
            filter: json!({ "workspaceId": { "eq": ws }, "customerId": { "eq": member }, "role": { "eq": "MEMBER" } }),
            update: json!({ "role": "VIEWER" }),
            updated: ("role", json!("VIEWER"), "role", "viewer"),
            untouched: ("status", json!("ACTIVE")),
        },
    )
    .await;
}

async fn data_tables(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let customer = create_customer(&app, "data_owner").await;
    roundtrip(
        &app,
        Case {
            table: "datasets",
            object: "Dataset",
            many: "datasets",
            create: json!({ "customerId": customer, "name": "ImageNet-1K", "importKey": "datasets/customer-1" }),
            filter: json!({ "customerId": { "eq": customer }, "status": { "eq": "READY" } }),
            update: json!({ "description": "the 1K classes" }),
            updated: ("description", json!("the 1K classes"), "description", "the 1K classes"),
            untouched: ("storagePath", json!("datasets/customer-1")),
        },
    )
    .await;
    let dataset = app
        .gql_ok(
            "mutation($c: ID!) { createDataset(input: { customerId: $c, name: \"coco\", importKey: \"d/coco\" }) { id } }",
            json!({ "c": customer }),
        )
        .await["createDataset"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    roundtrip(
        &app,
        Case {
            table: "dataset_versions",
            object: "DatasetVersion",
            many: "datasetVersions",
            create: json!({ "datasetId": dataset, "version": "v1", "importKey": "d/coco/v1" }),
            filter: json!({ "datasetId": { "eq": dataset }, "version": { "eq": "v1" } }),
            update: json!({ "checksum": "sha256:abc" }),
            updated: ("checksum", json!("sha256:abc"), "checksum", "sha256:abc"),
            untouched: ("storagePath", json!("d/coco/v1")),
        },
    )
    .await;
    roundtrip(
        &app,
        Case {
            table: "models",
            object: "Model",
            many: "models",
            create: json!({ "customerId": customer, "name": "ResNet-50", "framework": "pytorch", "importKey": "models/customer-1" }),
            filter: json!({ "customerId": { "eq": customer }, "framework": { "eq": "pytorch" } }),
            update: json!({ "framework": "onnx" }),
            updated: ("framework", json!("onnx"), "framework", "onnx"),
            untouched: ("storagePath", json!("models/customer-1")),
        },
    )
    .await;
    let model = app
        .gql_ok(
            "mutation($c: ID!) { createModel(input: { customerId: $c, name: \"bert\" }) { id } }",
            json!({ "c": customer }),
        )
        .await["createModel"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    roundtrip(
        &app,
        Case {
            table: "model_versions",
            object: "ModelVersion",
            many: "modelVersions",
            create: json!({ "modelId": model, "version": "1.0.0", "format": "safetensors",
                "metrics": { "top1": 0.76 } }),
            filter: json!({ "modelId": { "eq": model }, "status": { "eq": "UPLOADING" } }),
            update: json!({ "format": "onnx" }),
            updated: ("format", json!("onnx"), "format", "onnx"),
            untouched: ("metrics", json!({ "top1": 0.76 })),
        },
    )
    .await;
    let host = create_host(&app, "env-host").await;
    let env = insert_environment(&app, &customer, &host, "env-abc123").await;
    roundtrip(
        &app,
        Case {
            table: "port_mappings",
            object: "PortMapping",
            many: "portMappings",
            create: json!({ "envId": env, "serviceType": "SSH", "externalPort": 30001, "internalPort": 22 }),
            filter: json!({ "envId": { "eq": env }, "externalPort": { "eq": 30001 } }),
            update: json!({ "status": "RELEASED" }),
            updated: ("status", json!("RELEASED"), "status", "released"),
            untouched: ("internalPort", json!(22)),
        },
    )
    .await;
}

/// Creating a workspace makes the owner a member; member rows keep `memberCount` right.
async fn workspace_membership_counts(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let owner = create_customer(&app, "alice").await;
    let bob = create_customer(&app, "bob").await;
    let data = app
        .gql_ok(
            "mutation($o: ID!) { createWorkspace(input: { ownerId: $o, name: \"lab\" }) { id memberCount members { role customerId } } }",
            json!({ "o": owner }),
        )
        .await;
    let ws = data["createWorkspace"]["id"].as_str().unwrap().to_owned();
    assert_eq!(data["createWorkspace"]["memberCount"], 1);
    assert_eq!(
        data["createWorkspace"]["members"],
        json!([{ "role": "OWNER", "customerId": owner }])
    );

    let bob_token = app.login("bob", CUSTOMER_PASSWORD).await;
    let add = add_member_as(
        &app,
        &app.admin_token,
        &json!(ws),
        "bob",
        &bob_token,
        "VIEWER",
        "id customerId workspace { memberCount }",
    )
    .await;
    assert_eq!(add["workspace"]["memberCount"], 2);
    assert_eq!(add["customerId"], json!(bob));
    let member_id = add["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.column_text("workspaces", "member_count", &format!("id = {ws}"))
            .await
            .as_deref(),
        Some("2")
    );

    app.gql_ok(
        "mutation($id: ID!) { deleteWorkspaceMember(id: $id) { id } }",
        json!({ "id": member_id }),
    )
    .await;
    assert_eq!(
        app.column_text("workspaces", "member_count", &format!("id = {ws}"))
            .await
            .as_deref(),
        Some("1")
    );
}

on_both_backends!(
    infrastructure_tables,
    account_tables,
    data_tables,
    workspace_membership_counts
);
