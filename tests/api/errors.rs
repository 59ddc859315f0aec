//! Every client-facing error code the API produces today, and that a failed write leaves
//! nothing behind.

use serde_json::json;

use crate::fixtures::*;
use crate::helpers::{on_both_backends, spawn_app, spawn_app_with, Backend};

const CREATE_HOST: &str =
    "mutation($input: CreateHostInput!) { createHost(input: $input) { host { id } } }";

fn host_input() -> serde_json::Value {
    json!({ "name": "h", "ipAddress": "10.0.0.1", "osType": "LINUX", "deploymentMode": "TRADITIONAL",
            "totalCpu": 8, "totalMemory": "1024" })
}

async fn bad_user_input(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let cases = [
        ("ipAddress", json!("10.0.0.256"), "ipAddress"),
        ("publicIp", json!("not-an-ip"), "publicIp"),
        ("sshPort", json!(70000), "sshPort"),
        ("agentPort", json!(0), "agentPort"),
        ("totalMemory", json!("-1"), "totalMemory"),
        ("totalCpu", json!(-4), "totalCpu"),
        ("name", json!("   "), "name"),
        ("labels", json!(["not", "an", "object"]), "labels"),
    ];
    for (field, value, named) in cases {
        let mut input = host_input();
        input[field] = value;
        let message = app
            .gql_err(CREATE_HOST, json!({ "input": input }), "BAD_USER_INPUT")
            .await;
        assert!(
            message.contains(named),
            "{field}: message names the field: {message}"
        );
    }
    assert_eq!(
        app.count_rows("hosts", "1 = 1").await,
        0,
        "nothing was written"
    );

    // An enum value the schema does not know is rejected before any resolver runs.
    let mut input = host_input();
    input["osType"] = json!("SOLARIS");
    app.gql_err(CREATE_HOST, json!({ "input": input }), "BAD_USER_INPUT")
        .await;
    app.gql_err(
        "{ hosts(filter: { status: { eq: EXPLODED } }) { totalCount } }",
        json!({}),
        "BAD_USER_INPUT",
    )
    .await;
    // A BigInt that is not an integer.
    let mut input = host_input();
    input["totalMemory"] = json!("12GB");
    app.gql_err(CREATE_HOST, json!({ "input": input }), "BAD_USER_INPUT")
        .await;
    // Syntax errors.
    app.gql_err("{ hosts { ", json!({}), "BAD_USER_INPUT").await;

    // A config value that does not parse as its type.
    app.gql_err(
        "mutation { createSystemConfig(input: { configKey: \"k\", configValue: \"ten\", configType: INTEGER }) { id } }",
        json!({}),
        "BAD_USER_INPUT",
    )
    .await;
    // Weak password and malformed e-mail.
    for (email, password) in [
        ("a@example.com", "short"),
        ("not-an-email", "long enough password"),
    ] {
        app.gql_err(
            "mutation($e: String!, $p: String!) { createCustomer(input: { username: \"someone\", email: $e, password: $p }) { id } }",
            json!({ "e": email, "p": password }),
            "BAD_USER_INPUT",
        )
        .await;
    }
    assert_eq!(app.count_rows("customers", "role = 'customer'").await, 0);
    // Storage keys (an operator's import) may not climb out of the storage root.
    let customer = create_customer(&app, "carol").await;
    for key in ["../etc", "/etc", "a//b", "a/./b"] {
        app.gql_err(
            "mutation($c: ID!, $k: String!) { createDataset(input: { customerId: $c, name: \"d\", importKey: $k }) { id } }",
            json!({ "c": customer, "k": key }),
            "BAD_USER_INPUT",
        )
        .await;
    }
    assert_eq!(app.count_rows("datasets", "1 = 1").await, 0);
}

async fn missing_foreign_rows(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let message = app
        .gql_err(
            "mutation { createGpu(input: { hostId: \"host-missing\", gpuIndex: 0 }) { id } }",
            json!({}),
            "BAD_USER_INPUT",
        )
        .await;
    assert!(
        !message.to_lowercase().contains("foreign key constraint \""),
        "no SQL in: {message}"
    );
    assert!(
        !message.contains("gpus_"),
        "no constraint names in: {message}"
    );
    assert_eq!(app.count_rows("gpus", "1 = 1").await, 0);

    // A workspace for a customer that does not exist: neither the workspace nor the owner's
    // membership is left behind.
    app.gql_err(
        "mutation { createWorkspace(input: { ownerId: \"999999\", name: \"ghost\" }) { id } }",
        json!({}),
        "BAD_USER_INPUT",
    )
    .await;
    assert_eq!(app.count_rows("workspaces", "1 = 1").await, 0);
    assert_eq!(app.count_rows("workspace_members", "1 = 1").await, 0);
}

async fn conflicts(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let create_image = "mutation { createImage(input: { name: \"ubuntu:22.04\" }) { id } }";
    app.gql_ok(create_image, json!({})).await;
    app.gql_err(create_image, json!({}), "CONFLICT").await;
    assert_eq!(app.count_rows("images", "1 = 1").await, 1);

    create_customer(&app, "dave").await;
    app.gql_err(
        "mutation { createCustomer(input: { username: \"dave\", email: \"other@example.com\", password: \"long enough password\" }) { id } }",
        json!({}),
        "CONFLICT",
    )
    .await;

    let host = create_host(&app, "h1").await;
    create_gpu(&app, &host, 0).await;
    app.gql_err(
        "mutation($h: ID!) { createGpu(input: { hostId: $h, gpuIndex: 0 }) { id } }",
        json!({ "h": host }),
        "CONFLICT",
    )
    .await;

    // A host that still runs an environment cannot be deleted (ON DELETE RESTRICT).
    let customer = create_customer(&app, "erin").await;
    insert_environment(&app, &customer, &host, "env-1").await;
    app.gql_err(
        "mutation($h: ID!) { deleteHost(id: $h) { id } }",
        json!({ "h": host }),
        "CONFLICT",
    )
    .await;
    assert_eq!(app.count_rows("hosts", &format!("id = '{host}'")).await, 1);
    assert_eq!(
        app.count_rows("gpus", &format!("host_id = '{host}'")).await,
        1
    );
}

async fn not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let message = app
        .gql_err("{ host(id: \"host-nope\") { id } }", json!({}), "NOT_FOUND")
        .await;
    assert_eq!(message, "host not found");
    app.gql_err("{ customer(id: \"42\") { id } }", json!({}), "NOT_FOUND")
        .await;
    // A malformed numeric id is simply an id that does not exist.
    app.gql_err("{ customer(id: \"abc\") { id } }", json!({}), "NOT_FOUND")
        .await;
    app.gql_err(
        "mutation { updateImage(id: \"7\", input: { name: \"x\" }) { id } }",
        json!({}),
        "NOT_FOUND",
    )
    .await;
    app.gql_err(
        "mutation { deleteHost(id: \"host-nope\") { id } }",
        json!({}),
        "NOT_FOUND",
    )
    .await;
    app.gql_err("{ command(id: \"1\") { id } }", json!({}), "NOT_FOUND")
        .await;
}

/// On PostgreSQL every pooled connection carries `database.statement_timeout_ms`, and a
/// statement cancelled by it is TIMEOUT, not INTERNAL. (SQLite has no such setting; the
/// request timeout covers it.)
async fn statements_past_the_timeout_are_timeout(backend: Backend) {
    use sea_orm::{ConnectionTrait, Statement};
    if backend == Backend::Sqlite {
        return;
    }
    let Some(app) = spawn_app_with(backend, |s| s.database.statement_timeout_ms = 300).await else {
        return;
    };
    let pg = app.db.get_database_backend();
    let shown = app
        .db
        .query_one(Statement::from_string(pg, "SHOW statement_timeout"))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "statement_timeout")
        .unwrap();
    assert_eq!(shown, "300ms");
    let err = app
        .db
        .execute(Statement::from_string(pg, "SELECT pg_sleep(5)"))
        .await
        .expect_err("cancelled at 300 ms");
    let app_err = remotegpu::error::AppError::from(err);
    assert_eq!(app_err.code().as_str(), "TIMEOUT");
    // The pool's connections stay usable.
    app.gql_ok("{ hosts { totalCount } }", json!({})).await;
}

on_both_backends!(
    bad_user_input,
    missing_foreign_rows,
    conflicts,
    not_found,
    statements_past_the_timeout_are_timeout
);
