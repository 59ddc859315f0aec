//! Tenant isolation: another tenant's rows answer exactly like rows that do not exist, in
//! lookups, lists, relations and mutations; workspace roles decide who reads and writes.

use entity::*;
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{json, Value};

use crate::fixtures::*;
use crate::helpers::{on_both_backends, spawn_app, Backend, TestApp};

/// Everything tenant A owns, by GraphQL lookup field and id.
struct TenantA {
    token: String,
    rows: Vec<(&'static str, String)>,
    workspace: String,
    dataset: String,
    /// The operators' host A's environment runs on.
    host: String,
}

async fn id_of(data: &Value, path: &[&str]) -> String {
    let mut v = data;
    for p in path {
        v = &v[*p];
    }
    v.as_str()
        .unwrap_or_else(|| panic!("no id at {path:?} in {data}"))
        .to_owned()
}

async fn setup_tenant_a(app: &TestApp) -> TenantA {
    let (token, customer) = app.register("tenant_a").await;
    let t = Some(token.as_str());
    let ws = app
        .gql_ok_as(
            t,
            "mutation { createWorkspace(input: { name: \"a-team\" }) { id members { id } } }",
            json!({}),
        )
        .await;
    let workspace = id_of(&ws, &["createWorkspace", "id"]).await;
    let membership = id_of(&ws["createWorkspace"]["members"][0], &["id"]).await;
    let ds = app
        .gql_ok_as(
            t,
            "mutation { createDataset(input: { name: \"private\" }) { id } }",
            json!({}),
        )
        .await;
    let dataset = id_of(&ds, &["createDataset", "id"]).await;
    let dv = app
        .gql_ok_as(
            t,
            "mutation($d: ID!) { createDatasetVersion(input: { datasetId: $d, version: \"v1\" }) { id } }",
            json!({ "d": dataset }),
        )
        .await;
    let model = app
        .gql_ok_as(
            t,
            "mutation { createModel(input: { name: \"m\" }) { id } }",
            json!({}),
        )
        .await;
    let model_id = id_of(&model, &["createModel", "id"]).await;
    let mv = app
        .gql_ok_as(
            t,
            "mutation($m: ID!) { createModelVersion(input: { modelId: $m, version: \"1\" }) { id } }",
            json!({ "m": model_id }),
        )
        .await;
    // Rows that processes write for A.
    let host = create_host(app, "shared-host").await;
    let env = insert_environment(app, &customer, &host, "env-tenant-a").await;
    let pm = app
        .gql_ok(
            "mutation($e: ID!) { createPortMapping(input: { envId: $e, serviceType: SSH, externalPort: 30022, internalPort: 22 }) { id } }",
            json!({ "e": env }),
        )
        .await;
    let cid: i64 = customer.parse().unwrap();
    let invoice = invoices::ActiveModel {
        invoice_no: Set("INV-A".into()),
        customer_id: Set(cid),
        period_start: Set(at("2026-01-01T00:00:00Z")),
        period_end: Set(at("2026-02-01T00:00:00Z")),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let record = billing_records::ActiveModel {
        customer_id: Set(cid),
        env_id: Set(Some(env.clone())),
        invoice_id: Set(Some(invoice.id)),
        resource_type: Set("gpu".into()),
        quantity: Set(1.0),
        unit_price: Set(Decimal::ONE.into()),
        amount: Set(Decimal::ONE.into()),
        start_time: Set(at("2026-01-26T09:00:00Z")),
        end_time: Set(at("2026-01-26T10:00:00Z")),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let metric = environment_metrics::ActiveModel {
        env_id: Set(env.clone()),
        cpu_usage_percent: Set(Some(1.0)),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let usage = dataset_usage::ActiveModel {
        dataset_id: Set(dataset.parse().unwrap()),
        env_id: Set(env.clone()),
        mount_path: Set("/data".into()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let rows = vec![
        ("customer", customer),
        ("workspace", workspace.clone()),
        ("workspaceMember", membership),
        ("dataset", dataset.clone()),
        (
            "datasetVersion",
            id_of(&dv, &["createDatasetVersion", "id"]).await,
        ),
        ("model", model_id),
        (
            "modelVersion",
            id_of(&mv, &["createModelVersion", "id"]).await,
        ),
        ("environment", env),
        (
            "portMapping",
            id_of(&pm, &["createPortMapping", "id"]).await,
        ),
        ("invoice", invoice.id.to_string()),
        ("billingRecord", record.id.to_string()),
        ("environmentMetric", metric.id.to_string()),
        ("datasetUsage", usage.id.to_string()),
    ];
    TenantA {
        token,
        rows,
        workspace,
        dataset,
        host,
    }
}

/// The list field for a lookup field.
fn plural(one: &str) -> String {
    match one {
        "datasetUsage" => "datasetUsages".into(),
        other => format!("{other}s"),
    }
}

async fn another_tenant_sees_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let a = setup_tenant_a(&app).await;
    let (b, b_id) = app.register("tenant_b").await;
    let b = Some(b.as_str());

    for (one, id) in &a.rows {
        // A reads its own rows (except the host, which is the operators').
        if *one != "host" {
            app.gql_ok_as(
                Some(&a.token),
                &format!("query($id: ID!) {{ {one}(id: $id) {{ id }} }}"),
                json!({ "id": id }),
            )
            .await;
        }
        // B gets exactly what a missing id gets.
        let hidden = app
            .gql_err_as(
                b,
                &format!("query($id: ID!) {{ {one}(id: $id) {{ id }} }}"),
                json!({ "id": id }),
                "NOT_FOUND",
            )
            .await;
        let missing = app
            .gql_err_as(
                b,
                &format!("query($id: ID!) {{ {one}(id: $id) {{ id }} }}"),
                json!({ "id": "987654" }),
                "NOT_FOUND",
            )
            .await;
        assert_eq!(hidden, missing, "{one}");
        // ...and nothing in lists, filtered by id or not.
        let many = plural(one);
        let list = app
            .gql_ok_as(
                b,
                &format!("query($id: ID!) {{ all: {many} {{ totalCount nodes {{ id }} }} byId: {many}(filter: {{ id: {{ eq: $id }} }}) {{ totalCount }} }}"),
                json!({ "id": id }),
            )
            .await;
        assert_eq!(list["byId"]["totalCount"], 0, "{many} by id");
        let visible: Vec<&Value> = list["all"]["nodes"].as_array().unwrap().iter().collect();
        assert!(
            visible.iter().all(|n| n["id"] != json!(id)),
            "{many} lists A's row"
        );
    }
    // B sees only itself among customers.
    let customers = app
        .gql_ok_as(b, "{ customers { nodes { id } } }", json!({}))
        .await;
    assert_eq!(customers["customers"]["nodes"], json!([{ "id": b_id }]));

    // Mutations on A's rows: NOT_FOUND, like a missing id, and nothing changes.
    for (mutation, input) in [
        ("updateDataset", "{ name: \"stolen\" }"),
        ("updateWorkspace", "{ name: \"stolen\" }"),
        ("updateModel", "{ name: \"stolen\" }"),
        ("updateDatasetVersion", "{ checksum: \"x\" }"),
        ("updateWorkspaceMember", "{ role: VIEWER }"),
    ] {
        let one = mutation.trim_start_matches("update");
        let one = format!("{}{}", one[..1].to_lowercase(), &one[1..]);
        let id = &a.rows.iter().find(|(k, _)| *k == one).unwrap().1;
        let q = format!("mutation($id: ID!) {{ {mutation}(id: $id, input: {input}) {{ id }} }}");
        let hidden = app
            .gql_err_as(b, &q, json!({ "id": id }), "NOT_FOUND")
            .await;
        let missing = app
            .gql_err_as(b, &q, json!({ "id": "987654" }), "NOT_FOUND")
            .await;
        assert_eq!(hidden, missing);
        let q = format!(
            "mutation($id: ID!) {{ delete{} (id: $id) {{ id }} }}",
            &mutation[6..]
        );
        app.gql_err_as(b, &q, json!({ "id": id }), "NOT_FOUND")
            .await;
    }
    assert_eq!(
        app.count_rows(
            "datasets",
            &format!("id = {} AND name = 'private'", a.dataset)
        )
        .await,
        1
    );
    assert_eq!(
        app.count_rows("workspaces", &format!("id = {}", a.workspace))
            .await,
        1
    );

    // Naming A's rows as parents looks like naming rows that do not exist.
    let parent_cases = [
        ("mutation($p: ID!) { createDatasetVersion(input: { datasetId: $p, version: \"b\" }) { id } }", a.dataset.clone()),
        ("mutation($p: ID!) { inviteWorkspaceMember(input: { workspaceId: $p, login: \"root_admin\", role: ADMIN }) { id } }", a.workspace.clone()),
        ("mutation($p: ID!) { createDataset(input: { workspaceId: $p, name: \"b\" }) { id } }", a.workspace.clone()),
        ("mutation($p: ID!) { createDataset(input: { customerId: $p, name: \"b\" }) { id } }", a.rows[0].1.clone()),
    ];
    for (q, parent) in parent_cases {
        let hidden = app
            .gql_err_as(b, q, json!({ "p": parent }), "BAD_USER_INPUT")
            .await;
        let missing = app
            .gql_err_as(b, q, json!({ "p": "987654" }), "BAD_USER_INPUT")
            .await;
        assert_eq!(hidden, missing, "{q}");
    }

    // Relations from B's own rows never reach A's.
    let me = app
        .gql_ok_as(b, "{ me { workspaces { id } memberships { id } environments { id } datasets { id } models { id } } }", json!({}))
        .await;
    assert_eq!(
        me["me"],
        json!({ "workspaces": [], "memberships": [], "environments": [], "datasets": [], "models": [] })
    );

    // Customers see GPU models on offer, not hosts.
    app.gql_ok_as(b, "{ gpuAvailability { name total available } }", json!({}))
        .await;
    // Infrastructure is the operators': asking for it is FORBIDDEN, for A and B alike, and
    // relations into it come back empty.
    for t in [b, Some(a.token.as_str())] {
        app.gql_err_as(t, "{ hosts { totalCount } }", json!({}), "FORBIDDEN")
            .await;
        app.gql_err_as(t, "{ gpus { totalCount } }", json!({}), "FORBIDDEN")
            .await;
        app.gql_err_as(
            t,
            "query($id: ID!) { host(id: $id) { id } }",
            json!({ "id": a.host }),
            "FORBIDDEN",
        )
        .await;
    }
    let env = app
        .gql_ok_as(
            Some(&a.token),
            "{ environments { nodes { hostId host { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        env["environments"]["nodes"][0],
        json!({ "hostId": a.host, "host": null }),
        "customers see which host, not the host's details"
    );
    // Infrastructure writes are the operators'.
    app.gql_err_as(
        b,
        "mutation { createImage(input: { name: \"mine\" }) { id } }",
        json!({}),
        "FORBIDDEN",
    )
    .await;
    app.gql_err_as(
        b,
        "mutation { createHost(input: { name: \"h\", ipAddress: \"10.0.0.9\", osType: LINUX, deploymentMode: TRADITIONAL, totalCpu: 1, totalMemory: 1 }) { agentToken } }",
        json!({}),
        "FORBIDDEN",
    )
    .await;
    assert_eq!(app.count_rows("images", "1 = 1").await, 0);
}

async fn workspace_roles(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (owner, _) = app.register("owner").await;
    let (viewer, viewer_id) = app.register("viewer").await;
    let (member, member_id) = app.register("member").await;
    let (manager, manager_id) = app.register("manager").await;
    let o = Some(owner.as_str());
    let ws = app
        .gql_ok_as(
            o,
            "mutation { createWorkspace(input: { name: \"lab\" }) { id } }",
            json!({}),
        )
        .await;
    let ws = ws["createWorkspace"]["id"].as_str().unwrap().to_owned();
    let add = "mutation($w: ID!, $l: String!, $r: WorkspaceRole!) { inviteWorkspaceMember(input: { workspaceId: $w, login: $l, role: $r }) { id } }";
    let mut viewer_membership = String::new();
    for (login, token, id, role) in [
        ("viewer", &viewer, &viewer_id, "VIEWER"),
        ("member", &member, &member_id, "MEMBER"),
        ("manager", &manager, &manager_id, "ADMIN"),
    ] {
        let data = add_member_as(
            &app,
            &owner,
            &json!(ws),
            login,
            token,
            role,
            "id customerId",
        )
        .await;
        assert_eq!(data["customerId"], json!(id));
        if role == "VIEWER" {
            viewer_membership = data["id"].as_str().unwrap().to_owned();
        }
    }
    let shared = app
        .gql_ok_as(o, "mutation($w: ID!) { createDataset(input: { workspaceId: $w, name: \"shared\" }) { id } }", json!({ "w": ws }))
        .await["createDataset"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rename =
        "mutation($id: ID!, $n: String!) { updateDataset(id: $id, input: { name: $n }) { name } }";
    let create_in_ws =
        "mutation($w: ID!) { createDataset(input: { workspaceId: $w, name: \"mine\" }) { id } }";

    // Viewers read but do not write.
    let v = Some(viewer.as_str());
    let seen = app
        .gql_ok_as(
            v,
            "query($id: ID!) { dataset(id: $id) { name workspace { name memberCount } } }",
            json!({ "id": shared }),
        )
        .await;
    assert_eq!(
        seen["dataset"],
        json!({ "name": "shared", "workspace": { "name": "lab", "memberCount": 4 } })
    );
    app.gql_err_as(v, rename, json!({ "id": shared, "n": "x" }), "FORBIDDEN")
        .await;
    app.gql_err_as(v, create_in_ws, json!({ "w": ws }), "FORBIDDEN")
        .await;
    app.gql_err_as(
        v,
        add,
        json!({ "w": ws, "l": "viewer", "r": "ADMIN" }),
        "FORBIDDEN",
    )
    .await;
    app.gql_err_as(
        v,
        "mutation($id: ID!) { updateWorkspaceMember(id: $id, input: { role: OWNER }) { id } }",
        json!({ "id": viewer_membership }),
        "FORBIDDEN",
    )
    .await;

    // Members create their own resources there, but do not manage others'.
    let m = Some(member.as_str());
    let mine = app.gql_ok_as(m, create_in_ws, json!({ "w": ws })).await["createDataset"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql_ok_as(m, rename, json!({ "id": mine, "n": "mine-2" }))
        .await;
    app.gql_err_as(m, rename, json!({ "id": shared, "n": "x" }), "FORBIDDEN")
        .await;

    // Workspace admins manage everyone's resources in it.
    let a = Some(manager.as_str());
    app.gql_ok_as(a, rename, json!({ "id": mine, "n": "tidied" }))
        .await;
    app.gql_ok_as(a, rename, json!({ "id": shared, "n": "shared-2" }))
        .await;
    assert_eq!(
        app.column_text("datasets", "name", &format!("id = {shared}"))
            .await
            .as_deref(),
        Some("shared-2")
    );

    // The last owner cannot leave or step down; after handing over, they can.
    let leave = "mutation($w: ID!) { leaveWorkspace(workspaceId: $w) }";
    app.gql_err_as(o, leave, json!({ "w": ws }), "CONFLICT")
        .await;
    let owner_row = app.gql_ok_as(o, "query($w: ID!) { workspaceMembers(filter: { workspaceId: { eq: $w }, role: { eq: OWNER } }) { nodes { id } } }", json!({ "w": ws })).await;
    let owner_row = owner_row["workspaceMembers"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql_err_as(
        o,
        "mutation($id: ID!) { updateWorkspaceMember(id: $id, input: { role: ADMIN }) { id } }",
        json!({ "id": owner_row }),
        "CONFLICT",
    )
    .await;
    assert_eq!(
        app.count_rows(
            "workspace_members",
            &format!("id = {owner_row} AND role = 'owner'")
        )
        .await,
        1
    );
    app.gql_ok_as(
        o,
        "mutation($id: ID!) { updateWorkspaceMember(id: $id, input: { role: OWNER }) { id } }",
        json!({ "id": viewer_membership }),
    )
    .await;
    app.gql_ok_as(o, leave, json!({ "w": ws })).await;
    assert_eq!(
        app.column_text("workspaces", "member_count", &format!("id = {ws}"))
            .await
            .as_deref(),
        Some("3")
    );
    // The workspace now belongs to the owner who remains.
    assert_eq!(
        app.column_text("workspaces", "owner_id", &format!("id = {ws}"))
            .await,
        Some(viewer_id.clone())
    );
    // Having left, the former owner sees the workspace no more.
    app.gql_err_as(
        o,
        "query($w: ID!) { workspace(id: $w) { id } }",
        json!({ "w": ws }),
        "NOT_FOUND",
    )
    .await;
}

/// `memberCount` stays right when members are added and removed at the same time.
async fn member_count_under_concurrency(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let owner = create_customer(&app, "busy_owner").await;
    let ws = app
        .gql_ok(
            "mutation($o: ID!) { createWorkspace(input: { ownerId: $o, name: \"busy\" }) { id } }",
            json!({ "o": owner }),
        )
        .await["createWorkspace"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut people = Vec::new();
    for i in 0..8 {
        people.push(create_customer(&app, &format!("person{i}")).await);
    }
    let mut tokens = Vec::new();
    for i in 0..people.len() {
        tokens.push(app.login(&format!("person{i}"), CUSTOMER_PASSWORD).await);
    }
    let app = &app;
    let adds = tokens.iter().enumerate().map(|(i, token)| {
        let login = format!("person{i}");
        let ws = json!(ws);
        async move {
            let id = add_member(app, &app.admin_token, &ws, &login, token, "MEMBER").await;
            json!({ "createWorkspaceMember": { "id": id } })
        }
    });
    let added = futures_util::future::join_all(adds).await;
    assert_eq!(
        app.column_text("workspaces", "member_count", &format!("id = {ws}"))
            .await
            .as_deref(),
        Some("9")
    );
    let removes = added.iter().take(5).map(|d| {
        app.gql_ok(
            "mutation($id: ID!) { deleteWorkspaceMember(id: $id) { id } }",
            json!({ "id": d["createWorkspaceMember"]["id"] }),
        )
    });
    futures_util::future::join_all(removes).await;
    assert_eq!(
        app.column_text("workspaces", "member_count", &format!("id = {ws}"))
            .await
            .as_deref(),
        Some("4")
    );
    assert_eq!(
        app.count_rows("workspace_members", &format!("workspace_id = {ws}"))
            .await,
        4
    );
}

on_both_backends!(
    another_tenant_sees_nothing,
    workspace_roles,
    member_count_under_concurrency
);
