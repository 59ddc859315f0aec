//! Rows that tests need as parents: created through the API where the API creates them, or
//! inserted directly where a process (not a person) writes them.

use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;

use crate::helpers::TestApp;

pub async fn create_host(app: &TestApp, name: &str) -> String {
    create_host_with_token(app, name).await.0
}

/// A host and its agent token.
pub async fn create_host_with_token(app: &TestApp, name: &str) -> (String, String) {
    let data = app
        .gql_ok(
            "mutation($input: CreateHostInput!) { createHost(input: $input) { host { id } agentToken } }",
            json!({ "input": {
                "name": name, "ipAddress": "10.0.0.7", "osType": "LINUX",
                "deploymentMode": "TRADITIONAL", "totalCpu": 32, "totalMemory": "137438953472",
                "labels": { "region": "us-west", "zone": "a" }, "tags": ["gpu-server"]
            }}),
        )
        .await;
    (
        data["createHost"]["host"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        data["createHost"]["agentToken"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

pub async fn create_gpu(app: &TestApp, host_id: &str, index: i32) -> String {
    let data = app
        .gql_ok(
            "mutation($input: CreateGpuInput!) { createGpu(input: $input) { id } }",
            json!({ "input": {
                "hostId": host_id, "gpuIndex": index, "uuid": format!("GPU-{host_id}-{index}"),
                "name": "NVIDIA H100 80GB HBM3", "memoryTotal": "85899345920"
            }}),
        )
        .await;
    data["createGpu"]["id"].as_str().unwrap().to_owned()
}

/// The password of customers made by [`create_customer`].
pub const CUSTOMER_PASSWORD: &str = "correct horse battery";

/// Makes `login` a member of `workspace` the way people do: `inviter` (a token) invites it
/// with `role`, and the invitee (`invitee`, its token) accepts. Returns the membership's
/// `selection`.
pub async fn add_member_as(
    app: &TestApp,
    inviter: &str,
    workspace: &serde_json::Value,
    login: &str,
    invitee: &str,
    role: &str,
    selection: &str,
) -> serde_json::Value {
    let invited = app
        .gql_ok_as(
            Some(inviter),
            "mutation($w: ID!, $l: String!, $r: WorkspaceRole!) { inviteWorkspaceMember(input: { workspaceId: $w, login: $l, role: $r }) { id } }",
            json!({ "w": workspace, "l": login, "r": role }),
        )
        .await;
    let accepted = app
        .gql_ok_as(
            Some(invitee),
            &format!("mutation($id: ID!) {{ acceptInvitation(id: $id) {{ {selection} }} }}"),
            json!({ "id": invited["inviteWorkspaceMember"]["id"] }),
        )
        .await;
    accepted["acceptInvitation"].clone()
}

/// Like [`add_member_as`], returning the membership's id.
pub async fn add_member(
    app: &TestApp,
    inviter: &str,
    workspace: &serde_json::Value,
    login: &str,
    invitee: &str,
    role: &str,
) -> String {
    add_member_as(app, inviter, workspace, login, invitee, role, "id").await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn create_customer(app: &TestApp, username: &str) -> String {
    let data = app
        .gql_ok(
            "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
            json!({ "input": {
                "username": username, "email": format!("{username}@example.com"),
                "password": CUSTOMER_PASSWORD
            }}),
        )
        .await;
    data["createCustomer"]["id"].as_str().unwrap().to_owned()
}

/// Environments are created by the environment lifecycle, not by hand: insert one.
pub async fn insert_environment(
    app: &TestApp,
    customer_id: &str,
    host_id: &str,
    id: &str,
) -> String {
    entity::environments::ActiveModel {
        id: Set(id.to_owned()),
        customer_id: Set(customer_id.parse().unwrap()),
        host_id: Set(host_id.to_owned()),
        name: Set("PyTorch Training".into()),
        image: Set("ubuntu20-pytorch:2.0".into()),
        status: Set(Some("running".into())),
        cpu: Set(4),
        memory: Set(17_179_869_184),
        gpu: Set(Some(1)),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    id.to_owned()
}

pub fn at(s: &str) -> chrono::NaiveDateTime {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().naive_utc()
}

/// Samples are written by agents: insert `count` samples of one GPU directly, 10 s apart
/// from `start`, utilization `first_value + i`.
pub async fn insert_gpu_samples(
    app: &TestApp,
    host_id: &str,
    gpu_id: i64,
    start: chrono::NaiveDateTime,
    count: usize,
    first_value: f64,
) {
    use sea_orm::EntityTrait;
    let rows: Vec<_> = (0..count)
        .map(|i| entity::gpu_metrics::ActiveModel {
            gpu_id: Set(gpu_id),
            host_id: Set(host_id.to_owned()),
            utilization_percent: Set(Some(first_value + i as f64)),
            collected_at: Set(Some(start + chrono::Duration::seconds(10 * i as i64))),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(1000) {
        entity::gpu_metrics::Entity::insert_many(chunk.to_vec())
            .exec(&app.db)
            .await
            .unwrap();
    }
}
