//! Environments: placement and atomic allocation under concurrency, quotas, the lifecycle
//! with the agent's reports, failure at each step leaving nothing reserved, reconcile, and
//! tenancy. The agent here is the test speaking the agent API with the host's token; the
//! real agent with a real Docker Engine is in `environments_e2e.rs`.

use serde_json::{json, Value};

use crate::fixtures::{add_member_as, create_gpu, create_host_with_token};
use crate::helpers::{on_both_backends, Backend, TestApp};
use crate::wsclient::WsClient;

pub const CREATE: &str = "mutation($i: CreateEnvironmentInput!) { createEnvironment(input: $i) { id status hostId gpu gpuModel sshPort connectHost portMappings { serviceType externalPort internalPort connect } } }";
const STOP: &str = "mutation($id: ID!) { stopEnvironment(id: $id) { status } }";
const START: &str = "mutation($id: ID!) { startEnvironment(id: $id) { status } }";
const RESTART: &str = "mutation($id: ID!) { restartEnvironment(id: $id) { status } }";
const DELETE: &str = "mutation($id: ID!) { deleteEnvironment(id: $id) { status } }";
const REPORT: &str = "mutation($e: ID!, $s: EnvironmentStatus!, $r: String) { reportEnvironmentStatus(environmentId: $e, status: $s, reason: $r) { status previousStatus } }";
const ORDERS: &str = "subscription { agentEnvironmentOrders { environmentId generation action image cpu memory gpuUuids ports { service internalPort externalPort } envVars { name value } mounts { key target readOnly } network shmSize } }";
const GIB: i64 = 1 << 30;

/// The agent of `agent`'s host reports the containers it has; the server's answer.
pub async fn reconcile(app: &TestApp, agent: &str, containers: Value) -> Value {
    app.gql_ok_as(
        Some(agent),
        "mutation($c: [ContainerStateInput!]!) { reconcileEnvironments(containers: $c) { unknown failed ordered stop remove released } }",
        json!({ "c": containers }),
    )
    .await["reconcileEnvironments"]
    .clone()
}

/// An online, healthy host with `gpus` H100s; returns its id and agent token.
pub async fn gpu_host(app: &TestApp, name: &str, gpus: i32) -> (String, String) {
    let (host, token) = create_host_with_token(app, name).await;
    for i in 0..gpus {
        create_gpu(app, &host, i).await;
    }
    app.gql_ok_as(Some(&token), "mutation { agentHeartbeat }", json!({}))
        .await;
    (host, token)
}

pub async fn catalogue_image(app: &TestApp, name: &str) -> String {
    let data = app
        .gql_ok(
            "mutation($n: String!) { createImage(input: { name: $n }) { id } }",
            json!({ "n": name }),
        )
        .await;
    data["createImage"]["id"].as_str().unwrap().to_owned()
}

/// Creates an environment as `token`; its id.
pub async fn create_env(app: &TestApp, token: &str, input: Value) -> String {
    app.gql_ok_as(Some(token), CREATE, json!({ "i": input }))
        .await["createEnvironment"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn request(image: &str, gpus: i32) -> Value {
    json!({ "name": "train", "imageId": image, "cpu": 4, "memory": (16 * GIB).to_string(), "gpuCount": gpus })
}

async fn set_config(app: &TestApp, key: &str, value: &str) {
    app.gql_ok(
        "mutation($k: String!, $v: String!) { createSystemConfig(input: { configKey: $k, configValue: $v, configType: STRING }) { id } }",
        json!({ "k": key, "v": value }),
    )
    .await;
}

async fn set_quota(app: &TestApp, customer: &str, gpus: i32, envs: i32) {
    app.gql_ok(
        "mutation($c: ID!, $g: Int, $e: Int) { setCustomerQuota(customerId: $c, quota: { maxGpus: $g, maxEnvironments: $e }) { maxGpus } }",
        json!({ "c": customer, "g": gpus, "e": envs }),
    )
    .await;
}

async fn host_usage(app: &TestApp, host: &str) -> (String, String, String) {
    let col = |c: &'static str| async move {
        app.column_text("hosts", c, &format!("id = '{host}'"))
            .await
            .unwrap_or_else(|| "0".into())
    };
    (
        col("used_cpu").await,
        col("used_memory").await,
        col("used_gpu").await,
    )
}

/// Everything is free again on `host`: no GPU allocated, no capacity used, no active port.
async fn assert_nothing_reserved(app: &TestApp, host: &str) {
    assert_eq!(
        app.count_rows(
            "gpus",
            &format!("host_id = '{host}' AND status <> 'available'")
        )
        .await,
        0,
        "GPUs still allocated"
    );
    assert_eq!(
        host_usage(app, host).await,
        ("0".into(), "0".into(), "0".into()),
        "host capacity still used"
    );
    assert_eq!(
        app.count_rows("port_mappings", "status = 'active'").await,
        0,
        "ports still taken"
    );
}

/// Sends `n` `createEnvironment` requests at once as `token`; their whole responses.
async fn create_at_once(app: &TestApp, token: &str, input: Value, n: usize) -> Vec<Value> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (url, client, token, input) = (
                app.address.clone(),
                app.client.clone(),
                token.to_owned(),
                input.clone(),
            );
            tokio::spawn(async move {
                let response: Value = client
                    .post(format!("{url}/graphql"))
                    .bearer_auth(token)
                    .json(&json!({ "query": CREATE, "variables": { "i": input } }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                response
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn concurrent_creates_never_double_allocate(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let (a, _) = gpu_host(&app, "gpu-a", 5).await;
    let (b, _) = gpu_host(&app, "gpu-b", 3).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (token, customer) = app.register("many").await;
    set_quota(&app, &customer, 1000, 1000).await;

    let responses = create_at_once(&app, &token, request(&image, 1), 100).await;
    let mut ok = 0;
    let mut exhausted = 0;
    for r in responses {
        match r["errors"][0]["extensions"]["code"].as_str() {
            None => ok += 1,
            Some("CAPACITY_EXHAUSTED") => exhausted += 1,
            Some(other) => panic!("unexpected {other}: {r}"),
        }
    }
    assert_eq!((ok, exhausted), (8, 92));
    // No GPU twice, every allocated GPU belongs to a live environment, ports distinct.
    assert_eq!(app.count_rows("gpus", "status = 'allocated'").await, 8);
    assert_eq!(
        app.count_rows(
            "gpus",
            "allocated_to IN (SELECT id FROM environments WHERE status = 'creating')"
        )
        .await,
        8
    );
    assert_eq!(
        app.count_rows("environments", "status = 'creating'").await,
        8
    );
    assert_eq!(
        app.count_rows(
            "(SELECT allocated_to FROM gpus WHERE allocated_to IS NOT NULL GROUP BY allocated_to HAVING COUNT(*) > 1) d",
            "1 = 1"
        )
        .await,
        0,
        "an environment got two GPUs"
    );
    assert_eq!(
        app.count_rows("port_mappings", "status = 'active'").await,
        8
    );
    // used_* equal the sums over live environments, host by host.
    for (host, gpus) in [(&a, 5), (&b, 3)] {
        let envs = app
            .count_rows("environments", &format!("host_id = '{host}'"))
            .await;
        assert_eq!(envs, gpus);
        assert_eq!(
            host_usage(&app, host).await,
            (
                (4 * gpus).to_string(),
                (16 * GIB * gpus).to_string(),
                gpus.to_string()
            )
        );
    }
}

async fn quotas_hold_under_concurrent_creates(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    gpu_host(&app, "gpu-a", 8).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (token, customer) = app.register("limited").await;
    set_quota(&app, &customer, 8, 3).await;
    let responses = create_at_once(&app, &token, request(&image, 1), 10).await;
    let mut ok = 0;
    for r in responses {
        if r.get("errors").is_none() {
            ok += 1;
        } else {
            assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN", "{r}");
            assert_eq!(r["errors"][0]["extensions"]["reason"], "QUOTA", "{r}");
        }
    }
    assert_eq!(ok, 3);
    assert_eq!(app.count_rows("gpus", "status = 'allocated'").await, 3);

    // The GPU quota too: 2 GPUs left under a limit of 4.
    set_quota(&app, &customer, 4, 10).await;
    let msg = app
        .gql_err_as(
            Some(&token),
            CREATE,
            json!({ "i": request(&image, 2) }),
            "FORBIDDEN",
        )
        .await;
    assert!(msg.contains("GPUs"), "{msg}");
    // The default for a new customer comes from system_configs.
    set_config(&app, "quota_customer_max_environments", "0").await;
    let (other, _) = app.register("nobody").await;
    let r = app
        .gql_as(Some(&other), CREATE, json!({ "i": request(&image, 0) }))
        .await;
    assert_eq!(r["errors"][0]["extensions"]["reason"], "QUOTA", "{r}");
}

async fn a_failure_at_each_step_leaves_nothing_reserved(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let (host, agent) = gpu_host(&app, "gpu-a", 2).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (token, _) = app.register("carol").await;

    // Placement: no host has the memory.
    let mut big = request(&image, 1);
    big["memory"] = json!((512 * GIB).to_string());
    let msg = app
        .gql_err_as(
            Some(&token),
            CREATE,
            json!({ "i": big }),
            "CAPACITY_EXHAUSTED",
        )
        .await;
    assert!(msg.starts_with("memory:"), "{msg}");
    let mut model = request(&image, 1);
    model["gpuModel"] = json!("NVIDIA B200");
    let msg = app
        .gql_err_as(
            Some(&token),
            CREATE,
            json!({ "i": model }),
            "CAPACITY_EXHAUSTED",
        )
        .await;
    assert!(msg.starts_with("GPU model:"), "{msg}");
    assert_nothing_reserved(&app, &host).await;

    // Port allocation, after the GPU and capacity were reserved in the same transaction:
    // the one-port SSH range is taken by the first environment.
    set_config(&app, "ssh_port_range_start", "30500").await;
    set_config(&app, "ssh_port_range_end", "30500").await;
    let first = app
        .gql_ok_as(Some(&token), CREATE, json!({ "i": request(&image, 1) }))
        .await;
    let first_id = first["createEnvironment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(first["createEnvironment"]["sshPort"], 30500);
    let msg = app
        .gql_err_as(
            Some(&token),
            CREATE,
            json!({ "i": request(&image, 1) }),
            "CAPACITY_EXHAUSTED",
        )
        .await;
    assert!(msg.starts_with("ports:"), "{msg}");
    assert_eq!(app.count_rows("gpus", "status = 'allocated'").await, 1);
    assert_eq!(app.count_rows("environments", "1 = 1").await, 1);
    assert_eq!(
        host_usage(&app, &host).await,
        ("4".into(), (16 * GIB).to_string(), "1".into())
    );

    // The agent cannot start it: FAILED with the runtime's message, everything released.
    let r = app
        .gql_ok_as(
            Some(&agent),
            REPORT,
            json!({ "e": first_id, "s": "FAILED", "r": "No such image: pytorch:2.3" }),
        )
        .await;
    assert_eq!(
        r["reportEnvironmentStatus"],
        json!({ "status": "FAILED", "previousStatus": "CREATING" })
    );
    assert_eq!(
        app.column_text(
            "environments",
            "failure_reason",
            &format!("id = '{first_id}'")
        )
        .await
        .as_deref(),
        Some("No such image: pytorch:2.3")
    );
    // Everything is released once the agent's next reconcile no longer finds its container.
    let r = reconcile(&app, &agent, json!([])).await;
    assert_eq!(r["released"], json!([first_id]));
    assert_nothing_reserved(&app, &host).await;
    // Its port is free for the next one (the released row gives way).
    let again = app
        .gql_ok_as(Some(&token), CREATE, json!({ "i": request(&image, 1) }))
        .await;
    assert_eq!(again["createEnvironment"]["sshPort"], 30500);
}

async fn lifecycle_with_orders_and_events(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let (host, agent) = gpu_host(&app, "gpu-a", 2).await;
    app.gql_ok(
        "mutation($id: ID!) { updateHost(id: $id, input: { publicIp: \"203.0.113.9\" }) { id } }",
        json!({ "id": host }),
    )
    .await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (token, customer) = app.register("dave").await;
    let dataset = app
        .gql_ok_as(
            Some(&token),
            "mutation { createDataset(input: { name: \"imagenet\" }) { id storagePath } }",
            json!({}),
        )
        .await["createDataset"]
        .clone();
    let (dataset, key) = (
        dataset["id"].as_str().unwrap().to_owned(),
        dataset["storagePath"].as_str().unwrap().to_owned(),
    );
    assert!(key.starts_with(&format!("datasets/c{customer}/")), "{key}");

    let mut orders = WsClient::connect(&app, &agent).await;
    orders.subscribe("orders", ORDERS, json!({})).await;
    let mut watch = WsClient::connect(&app, &token).await;
    watch
        .subscribe(
            "status",
            "subscription { environmentStatus { environmentId status previousStatus } }",
            json!({}),
        )
        .await;
    app.wait_for_subscriptions(2).await;

    let mut input = request(&image, 1);
    input["services"] = json!(["SSH", "JUPYTER"]);
    input["envVars"] = json!([{ "name": "WANDB_MODE", "value": "offline" }]);
    input["datasets"] = json!([{ "datasetId": dataset, "mountPath": "/data/imagenet" }]);
    let created = app
        .gql_ok_as(Some(&token), CREATE, json!({ "i": input }))
        .await["createEnvironment"]
        .clone();
    let env = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "CREATING");
    assert_eq!(
        created["gpuModel"], "NVIDIA H100 80GB HBM3",
        "the model of the GPU it holds"
    );
    assert_eq!(created["connectHost"], "203.0.113.9");
    let offer = app
        .gql_ok_as(
            Some(&token),
            "{ gpuAvailability { name total available } }",
            json!({}),
        )
        .await;
    assert_eq!(
        offer["gpuAvailability"],
        json!([{ "name": "NVIDIA H100 80GB HBM3", "total": 2, "available": 1 }])
    );
    let ssh = created["sshPort"].as_i64().unwrap();
    assert!((30000..=30999).contains(&ssh));
    let mappings = created["portMappings"].as_array().unwrap();
    assert_eq!(mappings.len(), 2);
    assert!(mappings.contains(&json!({
        "serviceType": "SSH", "externalPort": ssh, "internalPort": 22,
        "connect": format!("ssh -p {ssh} root@203.0.113.9")
    })));

    // The agent's order carries the whole container.
    let order = orders.next_data("orders").await["agentEnvironmentOrders"].clone();
    assert_eq!(order["environmentId"], env);
    assert_eq!(order["action"], "CREATE");
    assert_eq!(order["generation"], "1");
    assert_eq!(order["cpu"], 4);
    assert_eq!(order["memory"], (16 * GIB).to_string());
    assert_eq!(order["gpuUuids"], json!([format!("GPU-{host}-0")]));
    assert_eq!(
        order["envVars"],
        json!([{ "name": "WANDB_MODE", "value": "offline" }])
    );
    assert_eq!(
        order["mounts"],
        json!([{ "key": key, "target": "/data/imagenet", "readOnly": true }])
    );
    assert_eq!(order["network"], format!("rgpu-c{customer}"));
    assert_eq!(
        order["shmSize"],
        (4 * GIB).to_string(),
        "a quarter of the memory"
    );
    assert_eq!(order["ports"].as_array().unwrap().len(), 2);
    assert_eq!(
        watch.next_data("status").await["environmentStatus"],
        json!({ "environmentId": env, "status": "CREATING", "previousStatus": null })
    );

    app.gql_ok_as(Some(&agent), REPORT, json!({ "e": env, "s": "RUNNING" }))
        .await;
    assert_eq!(
        watch.next_data("status").await["environmentStatus"]["status"],
        "RUNNING"
    );
    // A stale report changes nothing.
    let r = app
        .gql_ok_as(Some(&agent), REPORT, json!({ "e": env, "s": "DELETED" }))
        .await;
    assert_eq!(r["reportEnvironmentStatus"]["status"], "RUNNING");

    // Stop: an order, then the agent's report releases the GPU and capacity.
    let r = app
        .gql_ok_as(Some(&token), STOP, json!({ "id": env }))
        .await;
    assert_eq!(r["stopEnvironment"]["status"], "STOPPING");
    let order = orders.next_data("orders").await["agentEnvironmentOrders"].clone();
    assert_eq!(
        (order["action"].clone(), order["generation"].clone()),
        (json!("STOP"), json!("2"))
    );
    // A repeated request is no new order.
    let r = app
        .gql_ok_as(Some(&token), STOP, json!({ "id": env }))
        .await;
    assert_eq!(r["stopEnvironment"]["status"], "STOPPING");
    app.gql_ok_as(Some(&agent), REPORT, json!({ "e": env, "s": "STOPPED" }))
        .await;
    assert_eq!(app.count_rows("gpus", "status = 'allocated'").await, 0);
    assert_eq!(
        host_usage(&app, &host).await,
        ("0".into(), "0".into(), "0".into())
    );
    assert_eq!(
        app.count_rows("port_mappings", "status = 'active'").await,
        2,
        "ports kept"
    );

    // Start reserves again, the same GPU first.
    let r = app
        .gql_ok_as(Some(&token), START, json!({ "id": env }))
        .await;
    assert_eq!(r["startEnvironment"]["status"], "STARTING");
    let order = orders.next_data("orders").await["agentEnvironmentOrders"].clone();
    assert_eq!(order["action"], "START");
    assert_eq!(order["gpuUuids"], json!([format!("GPU-{host}-0")]));
    app.gql_ok_as(Some(&agent), REPORT, json!({ "e": env, "s": "RUNNING" }))
        .await;
    assert_eq!(
        app.count_rows("gpus", &format!("allocated_to = '{env}'"))
            .await,
        1
    );
    let r = app
        .gql_ok_as(Some(&token), RESTART, json!({ "id": env }))
        .await;
    assert_eq!(r["restartEnvironment"]["status"], "STARTING");
    assert_eq!(
        orders.next_data("orders").await["agentEnvironmentOrders"]["action"],
        "RESTART"
    );
    app.gql_ok_as(Some(&agent), REPORT, json!({ "e": env, "s": "RUNNING" }))
        .await;

    // An order under way is delivered again to a reconnecting agent.
    let r = app
        .gql_ok_as(Some(&token), DELETE, json!({ "id": env }))
        .await;
    assert_eq!(r["deleteEnvironment"]["status"], "DELETING");
    let mut again = WsClient::connect(&app, &agent).await;
    again.subscribe("orders", ORDERS, json!({})).await;
    let order = again.next_data("orders").await["agentEnvironmentOrders"].clone();
    assert_eq!(order["action"], "DELETE");
    assert_eq!(order["generation"], "5");
    // The container may still run until the agent removes it: its GPU stays reserved.
    assert_eq!(
        app.count_rows("gpus", &format!("allocated_to = '{env}'"))
            .await,
        1
    );
    app.gql_ok_as(Some(&agent), REPORT, json!({ "e": env, "s": "DELETED" }))
        .await;
    assert_nothing_reserved(&app, &host).await;
    assert_eq!(
        app.count_rows(
            "dataset_usage",
            &format!("env_id = '{env}' AND unmounted_at IS NOT NULL")
        )
        .await,
        1
    );
}

async fn reconcile_fails_vanished_and_reports_unknown(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let (host, agent) = gpu_host(&app, "gpu-a", 2).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (token, _) = app.register("erin").await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = create_env(&app, &token, request(&image, 1)).await;
        app.gql_ok_as(Some(&agent), REPORT, json!({ "e": id, "s": "RUNNING" }))
            .await;
        ids.push(id);
    }
    let r = app
        .gql_ok_as(
            Some(&agent),
            "mutation($c: [ContainerStateInput!]!) { reconcileEnvironments(containers: $c) { unknown failed ordered stop } }",
            json!({ "c": [
                { "environmentId": ids[1], "running": true },
                { "environmentId": "env-stranger", "running": true }
            ] }),
        )
        .await;
    assert_eq!(
        r["reconcileEnvironments"],
        json!({ "unknown": ["env-stranger"], "failed": [ids[0]], "ordered": [], "stop": [] })
    );
    assert_eq!(
        app.column_text("environments", "status", &format!("id = '{}'", ids[0]))
            .await
            .as_deref(),
        Some("failed")
    );
    assert_eq!(
        app.count_rows(
            "gpus",
            &format!("host_id = '{host}' AND status = 'allocated'")
        )
        .await,
        1,
        "the vanished one's GPU is free, the other's kept"
    );
}

async fn tenants_and_viewers(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    gpu_host(&app, "gpu-a", 2).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (owner, _) = app.register("owner").await;
    let (viewer, viewer_id) = app.register("viewer").await;
    let (stranger, _) = app.register("stranger").await;
    let ws = app
        .gql_ok_as(
            Some(&owner),
            "mutation { createWorkspace(input: { name: \"lab\" }) { id } }",
            json!({}),
        )
        .await["createWorkspace"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let membership = add_member_as(
        &app,
        &owner,
        &json!(ws),
        "viewer",
        &viewer,
        "VIEWER",
        "customerId status",
    )
    .await;
    assert_eq!(
        membership,
        json!({ "customerId": viewer_id, "status": "ACTIVE" })
    );
    let mut input = request(&image, 1);
    input["workspaceId"] = json!(ws);
    let env = create_env(&app, &owner, input.clone()).await;

    // A viewer reads but cannot create or change.
    app.gql_err_as(Some(&viewer), CREATE, json!({ "i": input }), "FORBIDDEN")
        .await;
    for m in [STOP, START, RESTART, DELETE] {
        app.gql_err_as(Some(&viewer), m, json!({ "id": env }), "FORBIDDEN")
            .await;
        // Another tenant's environment is one that does not exist.
        app.gql_err_as(Some(&stranger), m, json!({ "id": env }), "NOT_FOUND")
            .await;
        app.gql_err_as(
            Some(&stranger),
            m,
            json!({ "id": "env-missing" }),
            "NOT_FOUND",
        )
        .await;
    }
    // Customers cannot pin a host, and inputs are checked before anything is written.
    let mut pinned = request(&image, 1);
    pinned["hostId"] = json!("host-x");
    app.gql_err_as(
        Some(&stranger),
        CREATE,
        json!({ "i": pinned }),
        "BAD_USER_INPUT",
    )
    .await;
    for (field, value) in [
        ("cpu", json!(0)),
        ("gpuCount", json!(9)),
        ("memory", json!("1024")),
        ("imageId", json!("999999")),
    ] {
        let mut bad = request(&image, 1);
        bad[field] = value;
        app.gql_err_as(
            Some(&stranger),
            CREATE,
            json!({ "i": bad }),
            "BAD_USER_INPUT",
        )
        .await;
    }
    assert_eq!(app.count_rows("environments", "1 = 1").await, 1);
    assert_eq!(app.count_rows("gpus", "status = 'allocated'").await, 1);
}

async fn agents_report_environment_samples(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let (_, agent) = gpu_host(&app, "gpu-a", 1).await;
    let (_, other_agent) = gpu_host(&app, "gpu-b", 0).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (token, _) = app.register("frank").await;
    let (stranger, _) = app.register("grace").await;
    let env = create_env(&app, &token, request(&image, 1)).await;
    let sub = "subscription($e: ID) { environmentMetrics(environmentId: $e) { envId cpuUsagePercent networkRxBytes } }";
    let mut mine = WsClient::connect(&app, &token).await;
    mine.subscribe("m", sub, json!({ "e": env })).await;
    let mut theirs = WsClient::connect(&app, &stranger).await;
    theirs.subscribe("all", sub, json!({})).await;
    theirs.subscribe("one", sub, json!({ "e": env })).await;
    assert_eq!(theirs.expect_error("one").await, "NOT_FOUND");
    app.wait_for_subscriptions(2).await;

    let report = "mutation($b: MetricBatchInput!) { reportMetrics(batch: $b) { accepted } }";
    let batch = |id: &str, env: &str| {
        json!({ "b": { "batchId": id, "droppedSamples": 0, "hostSamples": [], "gpuSamples": [],
            "environmentSamples": [{ "environmentId": env, "collectedAt": "2026-01-01T00:00:00Z",
                "cpuUsagePercent": 42.5, "memoryUsagePercent": 10.0, "networkRxBytes": "1000" }] } })
    };
    // Another host's agent cannot report it: the sample is dropped, nothing stored.
    let r = app
        .gql_ok_as(Some(&other_agent), report, batch("b0", &env))
        .await;
    assert_eq!(r["reportMetrics"]["accepted"], 0);
    assert_eq!(app.count_rows("environment_metrics", "1 = 1").await, 0);
    // A sample of a container the server does not know drops that sample, never the batch.
    let mut mixed = batch("b1", &env);
    let mut foreign = mixed["b"]["environmentSamples"][0].clone();
    foreign["environmentId"] = json!("env-foreign");
    mixed["b"]["environmentSamples"]
        .as_array_mut()
        .unwrap()
        .push(foreign);
    let r = app.gql_ok_as(Some(&agent), report, mixed).await;
    assert_eq!(r["reportMetrics"]["accepted"], 1);
    assert_eq!(
        mine.next_data("m").await["environmentMetrics"],
        json!({ "envId": env, "cpuUsagePercent": 42.5, "networkRxBytes": "1000" })
    );
    theirs
        .expect_silence(std::time::Duration::from_millis(300))
        .await;
    assert_eq!(
        app.count_rows(
            "environment_metrics",
            &format!("env_id = '{env}' AND network_rx_bytes = 1000")
        )
        .await,
        1
    );
}

async fn a_start_gets_its_own_gpus_back_or_nothing(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let (host, agent) = gpu_host(&app, "gpu-a", 2).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (token, _) = app.register("heidi").await;
    let create = || async {
        let id = create_env(&app, &token, request(&image, 1)).await;
        app.gql_ok_as(Some(&agent), REPORT, json!({ "e": id, "s": "RUNNING" }))
            .await;
        id
    };
    let first = create().await;
    app.gql_ok_as(Some(&token), STOP, json!({ "id": first }))
        .await;
    app.gql_ok_as(Some(&agent), REPORT, json!({ "e": first, "s": "STOPPED" }))
        .await;
    // Its GPU goes to another environment; another GPU is free, but not the one its
    // container was created with.
    let second = create().await;
    assert_eq!(
        app.column_text("gpus", "allocated_to", &format!("uuid = 'GPU-{host}-0'"))
            .await
            .as_deref(),
        Some(second.as_str())
    );
    let msg = app
        .gql_err_as(
            Some(&token),
            START,
            json!({ "id": first }),
            "CAPACITY_EXHAUSTED",
        )
        .await;
    assert!(msg.starts_with("GPUs:"), "{msg}");
    assert_eq!(status_of(&app, &first).await, "stopped");
    assert_eq!(
        app.count_rows("gpus", "status = 'allocated'").await,
        1,
        "nothing half-reserved"
    );
    assert_eq!(
        host_usage(&app, &host).await,
        ("4".into(), (16 * GIB).to_string(), "1".into())
    );
    // Once its GPU is free again, it starts on it.
    app.gql_ok_as(Some(&token), STOP, json!({ "id": second }))
        .await;
    app.gql_ok_as(Some(&agent), REPORT, json!({ "e": second, "s": "STOPPED" }))
        .await;
    app.gql_ok_as(Some(&token), START, json!({ "id": first }))
        .await;
    assert_eq!(
        app.column_text("gpus", "allocated_to", &format!("uuid = 'GPU-{host}-0'"))
            .await
            .as_deref(),
        Some(first.as_str())
    );
}

async fn orders_never_carried_out_time_out(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let (host, agent) = gpu_host(&app, "gpu-a", 2).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (token, _) = app.register("ivan").await;
    let creating = create_env(&app, &token, request(&image, 1)).await;
    let now = chrono::Utc::now();
    // Within the limit nothing changes.
    let changed = remotegpu::jobs::environments::run_once(&app.state, now)
        .await
        .unwrap();
    assert!(changed.is_empty());
    let later = now + chrono::Duration::seconds(app.settings.environments.order_timeout_secs + 1);
    let changed = remotegpu::jobs::environments::run_once(&app.state, later)
        .await
        .unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(status_of(&app, &creating).await, "failed");
    assert!(app
        .column_text(
            "environments",
            "failure_reason",
            &format!("id = '{creating}'")
        )
        .await
        .unwrap()
        .contains("did not carry out the create order"));
    // Its container may still come up (a slow pull): the GPU stays reserved until the
    // agent's reconcile shows no container; one it finds is for the agent to remove.
    assert_eq!(app.count_rows("gpus", "status = 'allocated'").await, 1);
    let r = reconcile(
        &app,
        &agent,
        json!([{ "environmentId": creating, "running": true }]),
    )
    .await;
    assert_eq!(r["remove"], json!([creating]));
    assert_eq!(app.count_rows("gpus", "status = 'allocated'").await, 1);
    let r = reconcile(&app, &agent, json!([])).await;
    assert_eq!(r["released"], json!([creating]));
    assert_nothing_reserved(&app, &host).await;
    // A second pass finds nothing more.
    let again = remotegpu::jobs::environments::run_once(&app.state, later)
        .await
        .unwrap();
    assert!(again.is_empty());
}

async fn orders_reach_an_agent_on_another_replica(backend: Backend) {
    if backend == Backend::Sqlite {
        return; // one process per SQLite file; replicas need PostgreSQL
    }
    let Some(a) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let b = a.spawn_replica().await;
    let (host, agent) = gpu_host(&a, "gpu-a", 1).await;
    let image = catalogue_image(&a, "pytorch:2.3").await;
    let (token, _) = a.register("judy").await;
    let mut on_b = WsClient::connect(&b, &agent).await;
    on_b.subscribe("orders", ORDERS, json!({})).await;
    b.wait_for_subscriptions(1).await;
    // Created through replica A; the agent holds its feed on replica B.
    let env = a
        .gql_ok_as(Some(&token), CREATE, json!({ "i": request(&image, 1) }))
        .await["createEnvironment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let order = on_b.next_data("orders").await["agentEnvironmentOrders"].clone();
    assert_eq!(order["environmentId"], env.as_str());
    assert_eq!(order["action"], "CREATE");
    assert_eq!(order["gpuUuids"], json!([format!("GPU-{host}-0")]));
}

pub async fn status_of(app: &TestApp, env: &str) -> String {
    app.column_text("environments", "status", &format!("id = '{env}'"))
        .await
        .unwrap_or_default()
}

on_both_backends!(
    orders_reach_an_agent_on_another_replica,
    orders_never_carried_out_time_out,
    a_start_gets_its_own_gpus_back_or_nothing,
    agents_report_environment_samples,
    concurrent_creates_never_double_allocate,
    quotas_hold_under_concurrent_creates,
    a_failure_at_each_step_leaves_nothing_reserved,
    lifecycle_with_orders_and_events,
    reconcile_fails_vanished_and_reports_unknown,
    tenants_and_viewers
);
