//! The isolation attacks: a self-registered customer against the host, against other tenants
//! and against a workspace that let them go. One `async fn` per attack, each on both
//! backends; the container side (mount confinement, the hardened profile, networks) is also
//! run end to end against a real Docker Engine (`agent/tests/docker.rs`,
//! `environments_e2e.rs`).

use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

use crate::environments::{catalogue_image, create_env, gpu_host, reconcile, request, CREATE};
use crate::fixtures::add_member;
use crate::helpers::{on_both_backends, spawn_app, Backend, TestApp};

const DATASET: &str =
    "mutation($i: CreateDatasetInput!) { createDataset(input: $i) { id storagePath status } }";
const VERSION: &str = "mutation($i: CreateDatasetVersionInput!) { createDatasetVersion(input: $i) { id storagePath status } }";
const REPORT: &str = "mutation($e: ID!, $s: EnvironmentStatus!, $st: [StorageUsageInput!]) { reportEnvironmentStatus(environmentId: $e, status: $s, storage: $st) { status } }";
const FINALIZE: &str =
    "mutation($id: ID!) { finalizeDatasetVersion(id: $id) { status size fileCount } }";
const INVITE: &str = "mutation($w: ID!, $l: String!, $r: WorkspaceRole!) { inviteWorkspaceMember(input: { workspaceId: $w, login: $l, role: $r }) { id } }";
const ACCEPT: &str = "mutation($id: ID!) { acceptInvitation(id: $id) { id } }";

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn workspace(app: &TestApp, token: &str, name: &str) -> Value {
    app.gql_ok_as(
        Some(token),
        "mutation($n: String!) { createWorkspace(input: { name: $n }) { id } }",
        json!({ "n": name }),
    )
    .await["createWorkspace"]["id"]
        .clone()
}

/// A customer names a host path for a dataset (the Docker socket, `/`): there is no field
/// for it any more. The import of an existing key is the operators', and even theirs is a
/// key beneath the storage root. A row from before keys existed that holds a path is never
/// mounted.
async fn host_paths_through_datasets(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    gpu_host(&app, "gpu-a", 1).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (token, customer) = app.register("mallory").await;
    let t = Some(token.as_str());
    for path in ["/var/run/docker.sock", "/", "/proc/1/root"] {
        app.gql_err_as(
            t,
            DATASET,
            json!({ "i": { "name": "x", "storagePath": path } }),
            "BAD_USER_INPUT",
        )
        .await;
        let msg = app
            .gql_err_as(
                t,
                DATASET,
                json!({ "i": { "name": "x", "importKey": path } }),
                "BAD_USER_INPUT",
            )
            .await;
        assert!(msg.contains("importKey"), "{msg}");
    }
    // A well-formed key is still no customer's to name.
    let msg = app
        .gql_err_as(
            t,
            DATASET,
            json!({ "i": { "name": "x", "importKey": "datasets/c1/someone-elses" } }),
            "BAD_USER_INPUT",
        )
        .await;
    assert!(msg.contains("only operators"), "{msg}");
    assert_eq!(app.count_rows("datasets", "1 = 1").await, 0);

    // What a customer gets: a key the platform generated, beneath their own prefix.
    let ds = app
        .gql_ok_as(t, DATASET, json!({ "i": { "name": "x" } }))
        .await["createDataset"]
        .clone();
    let key = ds["storagePath"].as_str().unwrap();
    assert!(key.starts_with(&format!("datasets/c{customer}/")), "{key}");
    assert!(!key.contains(".."));
    let dataset = id_of(&ds);
    // Nothing repoints it.
    app.gql_err_as(
        t,
        "mutation($id: ID!) { updateDataset(id: $id, input: { storagePath: \"/\" }) { id } }",
        json!({ "id": dataset }),
        "BAD_USER_INPUT",
    )
    .await;
    app.gql_err_as(
        t,
        VERSION,
        json!({ "i": { "datasetId": dataset, "version": "v1", "storagePath": "/etc" } }),
        "BAD_USER_INPUT",
    )
    .await;
    let version = app
        .gql_ok_as(
            t,
            VERSION,
            json!({ "i": { "datasetId": dataset, "version": "v1" } }),
        )
        .await["createDatasetVersion"]
        .clone();
    assert!(version["storagePath"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{key}/")));
    app.gql_err_as(
        t,
        "mutation($id: ID!) { updateDatasetVersion(id: $id, input: { storagePath: \"/etc\" }) { id } }",
        json!({ "id": id_of(&version) }),
        "BAD_USER_INPUT",
    )
    .await;
    assert_eq!(
        app.column_text("datasets", "storage_path", &format!("id = {dataset}"))
            .await
            .as_deref(),
        Some(key)
    );

    // A row that holds a host path (written before keys existed) is refused at mount time,
    // and nothing is reserved.
    app.db
        .execute_unprepared(&format!(
            "UPDATE datasets SET storage_path = '/var/run/docker.sock' WHERE id = {dataset}"
        ))
        .await
        .unwrap();
    let mut input = request(&image, 1);
    input["datasets"] = json!([{ "datasetId": dataset, "mountPath": "/mnt/x" }]);
    let msg = app
        .gql_err_as(t, CREATE, json!({ "i": input }), "BAD_USER_INPUT")
        .await;
    assert!(msg.contains("cannot be mounted"), "{msg}");
    assert_eq!(app.count_rows("environments", "1 = 1").await, 0);
    assert_eq!(app.count_rows("gpus", "status = 'allocated'").await, 0);
}

/// Data gets in the way a user expects, and only through its writers: an UPLOADING version
/// is mounted read-write into one of its writer's own environments, never read-only by
/// others; once its environment is deleted the host's measurement is kept, and finalizing
/// makes it READY and read-only for everyone who may read it.
async fn uploads_are_written_by_their_writers(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, agent) = gpu_host(&app, "gpu-a", 2).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (owner, _) = app.register("olga").await;
    let (viewer, _) = app.register("victor").await;
    let o = Some(owner.as_str());
    let ws = workspace(&app, &owner, "lab").await;
    add_member(&app, &owner, &ws, "victor", &viewer, "VIEWER").await;
    let ds = app
        .gql_ok_as(
            o,
            DATASET,
            json!({ "i": { "name": "corpus", "workspaceId": ws } }),
        )
        .await["createDataset"]
        .clone();
    let version = app
        .gql_ok_as(
            o,
            VERSION,
            json!({ "i": { "datasetId": id_of(&ds), "version": "v1" } }),
        )
        .await["createDatasetVersion"]
        .clone();
    assert_eq!(version["status"], "UPLOADING");
    let (dataset, vid) = (id_of(&ds), id_of(&version));
    let vkey = version["storagePath"].as_str().unwrap().to_owned();
    let mount = |read_write: bool| json!([{ "datasetId": dataset, "versionId": vid, "mountPath": "/data", "readWrite": read_write }]);
    let with = |mounts: Value| {
        let mut input = request(&image, 0);
        input["workspaceId"] = ws.clone();
        input["datasets"] = mounts;
        json!({ "i": input })
    };
    // Nobody mounts an unfinished version read-only; a viewer may not write it.
    let msg = app
        .gql_err_as(o, CREATE, with(mount(false)), "BAD_USER_INPUT")
        .await;
    assert!(msg.contains("uploading"), "{msg}");
    let mut personal = request(&image, 0);
    personal["datasets"] = mount(true);
    app.gql_err_as(Some(&viewer), CREATE, json!({ "i": personal }), "FORBIDDEN")
        .await;
    // Its writer fills it.
    let filler = app.gql_ok_as(o, CREATE, with(mount(true))).await["createEnvironment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql_ok_as(Some(&agent), REPORT, json!({ "e": filler, "s": "RUNNING" }))
        .await;
    let msg = app
        .gql_err_as(o, FINALIZE, json!({ "id": vid }), "CONFLICT")
        .await;
    assert!(msg.contains(&filler), "{msg}");
    app.gql_ok_as(
        o,
        "mutation($id: ID!) { deleteEnvironment(id: $id) { status } }",
        json!({ "id": filler }),
    )
    .await;
    // The agent measured what was written; a key it did not mount read-write is ignored.
    app.gql_ok_as(
        Some(&agent),
        REPORT,
        json!({ "e": filler, "s": "DELETED", "st": [
            { "key": vkey, "bytes": "123456", "files": 7 },
            { "key": ds["storagePath"], "bytes": "999", "files": 1 }
        ] }),
    )
    .await;
    app.gql_err_as(Some(&viewer), FINALIZE, json!({ "id": vid }), "FORBIDDEN")
        .await;
    let done = app.gql_ok_as(o, FINALIZE, json!({ "id": vid })).await;
    assert_eq!(
        done["finalizeDatasetVersion"],
        json!({ "status": "READY", "size": "123456", "fileCount": 7 })
    );
    assert_eq!(
        app.column_text("datasets", "total_size", &format!("id = {dataset}"))
            .await
            .as_deref(),
        Some("123456")
    );
    app.gql_err_as(o, FINALIZE, json!({ "id": vid }), "CONFLICT")
        .await;
    // Read-only from now on, for everyone who may read it.
    app.gql_err_as(o, CREATE, with(mount(true)), "BAD_USER_INPUT")
        .await;
    app.gql_ok_as(o, CREATE, with(mount(false))).await;
    assert_eq!(
        app.count_rows(
            "dataset_usage",
            &format!("dataset_version_id = {vid} AND access_mode = 'readonly'")
        )
        .await,
        1
    );
}

/// Containers of different tenants never share a network: each order names its tenant's.
async fn tenants_share_no_network(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, agent) = gpu_host(&app, "gpu-a", 0).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (a, a_id) = app.register("alice").await;
    let (b, b_id) = app.register("bob").await;
    let ws = workspace(&app, &a, "team").await;
    let mut orders = crate::wsclient::WsClient::connect(&app, &agent).await;
    orders
        .subscribe(
            "o",
            "subscription { agentEnvironmentOrders { environmentId network } }",
            json!({}),
        )
        .await;
    app.wait_for_subscriptions(1).await;
    let mut in_team = request(&image, 0);
    in_team["workspaceId"] = ws.clone();
    for (token, input) in [
        (&a, request(&image, 0)),
        (&b, request(&image, 0)),
        (&a, in_team),
    ] {
        create_env(&app, token, input).await;
    }
    let mut networks = Vec::new();
    for _ in 0..3 {
        networks.push(
            orders.next_data("o").await["agentEnvironmentOrders"]["network"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    networks.sort();
    let ws_id = ws.as_str().unwrap();
    let mut expected = vec![
        format!("rgpu-c{a_id}"),
        format!("rgpu-c{b_id}"),
        format!("rgpu-w{ws_id}"),
    ];
    expected.sort();
    assert_eq!(networks, expected);
}

/// Invitations that outlive their inviter's right to send them: to oneself, to an existing
/// member, after the inviter was demoted or suspended; an unverified address; a flood.
async fn invitations_outlive_their_inviter(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (owner, _) = app.register("owen").await;
    let (eve, eve_id) = app.register("eve").await;
    let (eve2, _) = app.register("eve2").await;
    let ws = workspace(&app, &owner, "team").await;
    let eve_member = add_member(&app, &owner, &ws, "eve", &eve, "ADMIN").await;
    let e = Some(eve.as_str());
    let invite = |login: &str, role: &str| json!({ "w": ws, "l": login, "r": role });
    let msg = app
        .gql_err_as(e, INVITE, invite("eve", "ADMIN"), "CONFLICT")
        .await;
    assert!(msg.contains("yourself"), "{msg}");
    app.gql_err_as(e, INVITE, invite("owen", "MEMBER"), "CONFLICT")
        .await;
    // Demoted, her invitations go with her rights.
    let sent = app.gql_ok_as(e, INVITE, invite("eve2", "ADMIN")).await["inviteWorkspaceMember"]
        ["id"]
        .clone();
    app.gql_ok_as(
        Some(&owner),
        "mutation($id: ID!) { updateWorkspaceMember(id: $id, input: { role: MEMBER }) { id } }",
        json!({ "id": eve_member }),
    )
    .await;
    app.gql_err_as(Some(&eve2), ACCEPT, json!({ "id": sent }), "NOT_FOUND")
        .await;
    // An inviter who may no longer invite (here: her account suspended) makes her
    // invitation worthless at accept, checked under the workspace's lock.
    app.gql_ok_as(
        Some(&owner),
        "mutation($id: ID!) { updateWorkspaceMember(id: $id, input: { role: ADMIN }) { id } }",
        json!({ "id": eve_member }),
    )
    .await;
    let sent = app.gql_ok_as(e, INVITE, invite("eve2", "ADMIN")).await["inviteWorkspaceMember"]
        ["id"]
        .clone();
    app.gql_ok(
        "mutation($id: ID!) { updateCustomer(id: $id, input: { status: SUSPENDED }) { id } }",
        json!({ "id": eve_id }),
    )
    .await;
    app.gql_err_as(Some(&eve2), ACCEPT, json!({ "id": sent }), "NOT_FOUND")
        .await;
    assert_eq!(
        app.count_rows(
            "workspace_members",
            &format!("workspace_id = {}", ws.as_str().unwrap())
        )
        .await,
        2
    );

    // An address nobody verified reaches nobody, whoever registered it first.
    let o = Some(owner.as_str());
    app.gql_ok_as(o, INVITE, invite("eve2@example.com", "MEMBER"))
        .await;
    let listed = "{ myInvitations { totalCount } }";
    assert_eq!(
        app.gql_ok_as(Some(&eve2), listed, json!({})).await["myInvitations"]["totalCount"],
        0
    );

    // A flood: one inviter holds at most a set number of open invitations (20 by default),
    // and the victim's list is paginated, so a legitimate invitation stays reachable.
    let (spammer, _) = app.register("spammer").await;
    let (victim, _) = app.register("victim").await;
    for i in 0..20 {
        let w = workspace(&app, &spammer, &format!("spam{i}")).await;
        app.gql_ok_as(
            Some(&spammer),
            INVITE,
            json!({ "w": w, "l": "victim", "r": "MEMBER" }),
        )
        .await;
    }
    let w = workspace(&app, &spammer, "spam20").await;
    let msg = app
        .gql_err_as(
            Some(&spammer),
            INVITE,
            json!({ "w": w, "l": "victim", "r": "MEMBER" }),
            "BAD_USER_INPUT",
        )
        .await;
    assert!(msg.contains("at most 20"), "{msg}");
    app.gql_ok_as(o, INVITE, invite("victim", "MEMBER")).await;
    let page = "query($a: String) { myInvitations(first: 15, after: $a) { totalCount pageInfo { hasNextPage endCursor } nodes { workspaceName } } }";
    let first = app
        .gql_ok_as(Some(&victim), page, json!({ "a": null }))
        .await["myInvitations"]
        .clone();
    assert_eq!(first["totalCount"], 21);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let second = app
        .gql_ok_as(
            Some(&victim),
            page,
            json!({ "a": first["pageInfo"]["endCursor"] }),
        )
        .await["myInvitations"]
        .clone();
    assert_eq!(second["pageInfo"]["hasNextPage"], false);
    let names: Vec<&Value> = first["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["nodes"].as_array().unwrap())
        .map(|n| &n["workspaceName"])
        .collect();
    assert_eq!(names.len(), 21);
    assert!(names.contains(&&json!("team")));
}

/// A workspace VIEWER reads every environment's variables, tokens included: now only those
/// who may change the environment read values; the others see names with null values.
async fn viewers_read_no_secrets(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    gpu_host(&app, "gpu-a", 0).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (owner, _) = app.register("olga").await;
    let (viewer, _) = app.register("victor").await;
    let ws = workspace(&app, &owner, "lab").await;
    add_member(&app, &owner, &ws, "victor", &viewer, "VIEWER").await;
    let mut input = request(&image, 0);
    input["workspaceId"] = ws.clone();
    input["envVars"] =
        json!([{ "name": "HF_TOKEN", "value": "hf_secret" }, { "name": "MODE", "value": "x" }]);
    let env = create_env(&app, &owner, input).await;
    let read =
        "query($id: ID!) { environment(id: $id) { envVars } environments { nodes { envVars } } }";
    let seen = app
        .gql_ok_as(Some(&viewer), read, json!({ "id": env }))
        .await;
    assert_eq!(
        seen["environment"]["envVars"],
        json!({ "HF_TOKEN": null, "MODE": null })
    );
    assert_eq!(
        seen["environments"]["nodes"][0]["envVars"],
        json!({ "HF_TOKEN": null, "MODE": null })
    );
    assert!(!seen.to_string().contains("hf_secret"));
    let seen = app
        .gql_ok_as(Some(&owner), read, json!({ "id": env }))
        .await;
    assert_eq!(seen["environment"]["envVars"]["HF_TOKEN"], "hf_secret");
}

/// A removed member kept reading what they created in the workspace, their containers kept
/// running on its bill, and they mounted its data into a personal environment.
async fn leavers_lose_the_workspace(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    gpu_host(&app, "gpu-a", 0).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (owner, _) = app.register("olga").await;
    let (member, _) = app.register("mike").await;
    let m = Some(member.as_str());
    let ws = workspace(&app, &owner, "lab").await;
    let membership = add_member(&app, &owner, &ws, "mike", &member, "MEMBER").await;
    let mut input = request(&image, 0);
    input["workspaceId"] = ws.clone();
    let env = create_env(&app, &member, input).await;
    let ds = app
        .gql_ok_as(
            m,
            DATASET,
            json!({ "i": { "name": "d", "workspaceId": ws } }),
        )
        .await["createDataset"]["id"]
        .clone();
    app.gql_ok_as(
        Some(&owner),
        "mutation($id: ID!) { deleteWorkspaceMember(id: $id) { id } }",
        json!({ "id": membership }),
    )
    .await;
    app.gql_err_as(
        m,
        "query($id: ID!) { environment(id: $id) { id } }",
        json!({ "id": env }),
        "NOT_FOUND",
    )
    .await;
    let lists = app
        .gql_ok_as(
            m,
            "{ environments { totalCount } datasets { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(lists["environments"]["totalCount"], 0);
    assert_eq!(lists["datasets"]["totalCount"], 0);
    let mut personal = request(&image, 0);
    personal["datasets"] = json!([{ "datasetId": ds, "mountPath": "/d" }]);
    app.gql_err_as(m, CREATE, json!({ "i": personal }), "BAD_USER_INPUT")
        .await;
    // Their environment in the workspace is stopped, with the reason recorded.
    assert_eq!(
        app.column_text("environments", "status", &format!("id = '{env}'"))
            .await
            .as_deref(),
        Some("stopping")
    );
    assert!(app
        .column_text("environments", "stop_reason", &format!("id = '{env}'"))
        .await
        .unwrap()
        .contains("no longer an active member"));
    // The workspace's managers still see it.
    app.gql_ok_as(
        Some(&owner),
        "query($id: ID!) { environment(id: $id) { id } }",
        json!({ "id": env }),
    )
    .await;
}

/// A stolen access token tried every password through `changePassword`, 30 plain answers
/// in a row and ten aliased guesses per request: now it is throttled like sign-in.
async fn password_changes_are_sign_ins(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, _) = app.register("target").await;
    let t = Some(token.as_str());
    let change = "mutation($c: String!) { changePassword(currentPassword: $c, newPassword: \"stolen for good\") }";
    let aliased = (0..10)
        .map(|i| {
            format!("g{i}: changePassword(currentPassword: \"guess {i}\", newPassword: \"stolen for good\")")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let msg = app
        .gql_err_as(
            t,
            &format!("mutation {{ {aliased} }}"),
            json!({}),
            "BAD_USER_INPUT",
        )
        .await;
    assert!(msg.contains("sign in once"), "{msg}");
    for i in 0..5 {
        app.gql_err_as(
            t,
            change,
            json!({ "c": format!("guess {i}") }),
            "BAD_USER_INPUT",
        )
        .await;
    }
    // Locked now, even for the right password.
    app.gql_err_as(
        t,
        change,
        json!({ "c": "customer password" }),
        "RATE_LIMITED",
    )
    .await;
    assert!(app.try_login("target", "stolen for good").await.is_err());
}

/// A FAILED environment's GPU went back to the pool while its container could still run
/// (a slow pull, an agent outage), and another customer got the same GPU.
async fn gpu_used_twice(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, agent) = gpu_host(&app, "gpu-a", 1).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (a, _) = app.register("alice").await;
    let (b, _) = app.register("bob").await;
    let env = create_env(&app, &a, request(&image, 1)).await;
    let later = chrono::Utc::now()
        + chrono::Duration::seconds(app.settings.environments.order_timeout_secs + 1);
    remotegpu::jobs::environments::run_once(&app.state, later)
        .await
        .unwrap();
    assert_eq!(
        app.column_text("environments", "status", &format!("id = '{env}'"))
            .await
            .as_deref(),
        Some("failed")
    );
    app.gql_err_as(
        Some(&b),
        CREATE,
        json!({ "i": request(&image, 1) }),
        "CAPACITY_EXHAUSTED",
    )
    .await;
    // The agent finds the container after all: it is to be removed, and stays reserved.
    let found = json!([{ "environmentId": env, "running": true }]);
    assert_eq!(
        reconcile(&app, &agent, found.clone()).await["remove"],
        json!([env])
    );
    app.gql_err_as(
        Some(&b),
        CREATE,
        json!({ "i": request(&image, 1) }),
        "CAPACITY_EXHAUSTED",
    )
    .await;
    // Removed: the next reconcile frees it.
    assert_eq!(
        reconcile(&app, &agent, json!([])).await["released"],
        json!([env])
    );
    let second = create_env(&app, &b, request(&image, 1)).await;

    // A host that will never come back: an operator declares it lost.
    app.gql_ok_as(
        Some(&agent),
        "mutation($e: ID!) { reportEnvironmentStatus(environmentId: $e, status: FAILED, reason: \"stop failed\") { status } }",
        json!({ "e": second }),
    )
    .await;
    assert_eq!(app.count_rows("gpus", "status = 'allocated'").await, 1);
    app.gql_err_as(
        Some(&a),
        "mutation($h: ID!) { declareHostLost(hostId: $h) }",
        json!({ "h": host }),
        "FORBIDDEN",
    )
    .await;
    let lost = app
        .gql_ok(
            "mutation($h: ID!) { declareHostLost(hostId: $h) }",
            json!({ "h": host }),
        )
        .await;
    assert_eq!(lost["declareHostLost"], json!([second]));
    assert_eq!(app.count_rows("gpus", "status = 'allocated'").await, 0);
    assert_eq!(
        app.count_rows("port_mappings", "status = 'active'").await,
        0
    );
}

on_both_backends!(
    host_paths_through_datasets,
    uploads_are_written_by_their_writers,
    tenants_share_no_network,
    invitations_outlive_their_inviter,
    viewers_read_no_secrets,
    leavers_lose_the_workspace,
    password_changes_are_sign_ins,
    gpu_used_twice,
);
