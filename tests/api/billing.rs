//! Billing: exact metering over a simulated clock, idempotent under repeats and concurrent
//! passes, invoices numbered without gaps, spend limits that stop environments and refuse
//! new ones (with events on a WebSocket), idle auto-stop, tenancy, and exact money on both
//! backends. The clock is the `now` handed to `jobs::billing::run_once`; runs are seeded
//! as the lifecycle writes them.

use chrono::{Duration, NaiveDateTime, Timelike, Utc};
use remotegpu::jobs::billing;
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{json, Value};

use crate::environments::{catalogue_image, create_env, gpu_host, request, status_of, CREATE};
use crate::fixtures::{add_member, create_host, insert_environment};
use crate::helpers::{on_both_backends, Backend, TestApp};
use crate::wsclient::WsClient;

const GIB: i64 = 1 << 30;
const SET_PRICE: &str = "mutation($i: SetPriceInput!) { setPrice(input: $i) { id resourceType gpuModel unitPrice effectiveFrom } }";
const RECORDS: &str = "{ billingRecords(orderBy: [{ field: START_TIME }], first: 100) { nodes { envId resourceType gpuModel seconds unitPrice amount bucketStart invoiceId } } }";
const REPORT: &str = "mutation($e: ID!, $s: EnvironmentStatus!) { reportEnvironmentStatus(environmentId: $e, status: $s) { status } }";

fn hour_of(t: NaiveDateTime) -> NaiveDateTime {
    t.with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_minute(0))
        .unwrap()
}

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

/// The exact sum of an invoice's `billingRecords { amount }`.
fn records_sum(invoice: &Value) -> Decimal {
    invoice["billingRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| dec(&r["amount"]))
        .sum()
}

/// A price row as an operator's `setPrice` writes it, but in force from `from` (which the
/// API only accepts in the future).
async fn seed_price(app: &TestApp, resource: &str, model: &str, price: &str, from: NaiveDateTime) {
    entity::prices::ActiveModel {
        resource_type: Set(resource.into()),
        gpu_model: Set(model.into()),
        unit_price: Set(entity::numeric::Numeric(price.parse().unwrap())),
        effective_from: Set(from),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
}

/// A run as the lifecycle writes it.
async fn seed_run(
    app: &TestApp,
    env: &str,
    customer: &str,
    workspace: Option<i64>,
    start: NaiveDateTime,
    end: Option<NaiveDateTime>,
) {
    entity::environment_runs::ActiveModel {
        env_id: Set(env.into()),
        customer_id: Set(customer.parse().unwrap()),
        workspace_id: Set(workspace),
        gpu_model: Set(Some("NVIDIA A100".into())),
        gpu_count: Set(2),
        cpu_cores: Set(8),
        memory_bytes: Set(32 * GIB),
        started_at: Set(start),
        ended_at: Set(end),
        metered_until: Set(None),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
}

async fn pass(app: &TestApp, now: NaiveDateTime) -> billing::Pass {
    billing::run_once(&app.state, now.and_utc()).await.unwrap()
}

/// The example: 2 GPUs at 2.5000/h, 8 cores at 0.0500/h, 32 GiB at 0.0100/h,
/// running 1 h 30 min 17 s, stopped 20 min, running 10 min.
async fn metering_is_exact_and_idempotent(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let (token, customer) = app.register("erin").await;
    let host = create_host(&app, "gpu-a").await;
    let env = insert_environment(&app, &customer, &host, "env-bill").await;
    let base = hour_of(Utc::now().naive_utc()) + Duration::days(3);
    for (r, m, p) in [
        ("GPU", Some("NVIDIA A100"), "2.5000"),
        ("CPU", None, "0.0500"),
        ("MEMORY", None, "0.0100"),
    ] {
        let input = json!({ "resourceType": r, "gpuModel": m, "unitPrice": p,
            "effectiveFrom": base.and_utc().to_rfc3339() });
        let price = app.gql_ok(SET_PRICE, json!({ "i": input })).await;
        assert_eq!(price["setPrice"]["unitPrice"], p);
    }
    let start = base + Duration::minutes(20);
    let stop = start + Duration::seconds(90 * 60 + 17);
    let again = stop + Duration::minutes(20);
    seed_run(&app, &env, &customer, None, start, Some(stop)).await;
    seed_run(
        &app,
        &env,
        &customer,
        None,
        again,
        Some(again + Duration::minutes(10)),
    )
    .await;

    let first = pass(&app, base + Duration::hours(4)).await;
    assert_eq!(first.metered.records, 9, "3 hours x 3 resources");
    let records =
        app.gql_ok_as(Some(&token), RECORDS, json!({})).await["billingRecords"]["nodes"].clone();
    let got: Vec<(String, i64, String)> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["resourceType"].as_str().unwrap().to_owned(),
                r["seconds"].as_str().unwrap().parse().unwrap(),
                r["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // By hand: hour 1 [base+0:20, base+1:00) = 2400 s; hour 2 [base+1:00, base+1:50:17)
    // = 3017 s; stopped 20 min; hour 3 [base+2:10:17, base+2:20:17) = 600 s.
    let mut want = Vec::new();
    for s in [2400_i64, 3017, 600] {
        let hand = |units: Decimal, price: Decimal| {
            (units * Decimal::from(s) * price / Decimal::from(3600))
                .round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointNearestEven)
        };
        for (resource, amount) in [
            ("GPU", hand(Decimal::from(2), Decimal::new(25000, 4))),
            ("CPU", hand(Decimal::from(8), Decimal::new(500, 4))),
            ("MEMORY", hand(Decimal::from(32), Decimal::new(100, 4))),
        ] {
            let mut a = amount;
            a.rescale(4);
            want.push((resource.to_owned(), s, a.to_string()));
        }
    }
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(got_sorted, want);
    assert!(
        got.iter()
            .any(|(r, s, a)| r == "GPU" && *s == 3017 && a == "4.1903"),
        "hour 2's GPU line, by hand: 2 x 3017 x 2.5 / 3600 = 4.19027... -> 4.1903; got {got:?}"
    );
    assert!(records
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["envId"] == env.as_str()));

    // The same period again, and two passes at once later: nothing twice.
    let again_pass = pass(&app, base + Duration::hours(4)).await;
    assert_eq!(again_pass.metered.records, 0);
    seed_run(
        &app,
        &env,
        &customer,
        None,
        base + Duration::hours(5),
        Some(base + Duration::hours(5) + Duration::minutes(30)),
    )
    .await;
    let later = base + Duration::hours(7);
    let (a, b) = tokio::join!(pass(&app, later), pass(&app, later));
    assert_eq!(a.metered.records + b.metered.records, 3);
    assert_eq!(app.count_rows("billing_records", "1 = 1").await, 12);

    // The draft invoice's subtotal is the exact sum of its records.
    let invoice = app
        .gql_ok_as(
            Some(&token),
            "{ invoices { nodes { status subtotal totalAmount billingRecords { amount } } } }",
            json!({}),
        )
        .await["invoices"]["nodes"][0]
        .clone();
    assert_eq!(invoice["status"], "DRAFT");
    assert_eq!(dec(&invoice["subtotal"]), records_sum(&invoice));
    assert_eq!(invoice["billingRecords"].as_array().unwrap().len(), 12);

    // Money is stored exactly: a decimal string on SQLite, NUMERIC on PostgreSQL.
    if backend == Backend::Sqlite {
        assert_eq!(
            app.count_rows("billing_records", "typeof(amount) = 'text'")
                .await,
            12
        );
    }
}

/// Invoices: issued after the month, numbered without gaps under concurrent issuing,
/// totals equal to their records, settled once.
async fn invoices_are_issued_numbered_and_final(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    app.gql_ok(
        "mutation { createSystemConfig(input: { configKey: \"billing_tax_rate\", configValue: \"0.0600\", configType: STRING }) { id } }",
        json!({}),
    )
    .await;
    let now = Utc::now().naive_utc();
    let month = remotegpu::services::invoices::month_of(now + Duration::days(40)).0;
    seed_price(&app, "gpu", "*", "2.5000", month).await;
    let host = create_host(&app, "gpu-a").await;
    let mut tokens = Vec::new();
    for (i, name) in ["fay", "gus", "hal"].into_iter().enumerate() {
        let (token, customer) = app.register(name).await;
        let env = insert_environment(&app, &customer, &host, &format!("env-{name}")).await;
        let start = month + Duration::hours(1);
        let end = start + Duration::minutes(37 + i as i64);
        seed_run(&app, &env, &customer, None, start, Some(end)).await;
        tokens.push(token);
    }
    pass(&app, month + Duration::hours(3)).await;
    assert_eq!(app.count_rows("invoices", "status = 'draft'").await, 3);

    // Two replicas issue at once after the month closed.
    let after = remotegpu::services::invoices::month_of(month).1 + Duration::minutes(5);
    let (a, b) = tokio::join!(pass(&app, after), pass(&app, after));
    let mut numbers: Vec<String> = a
        .issued
        .iter()
        .chain(b.issued.iter())
        .map(|i| i.invoice_no.clone())
        .collect();
    numbers.sort();
    let year = chrono::Datelike::year(&month);
    assert_eq!(
        numbers,
        (1..=3)
            .map(|n| format!("INV-{year}-{n:06}"))
            .collect::<Vec<_>>()
    );

    let invoice = app
        .gql_ok_as(
            Some(&tokens[0]),
            "{ invoices { nodes { id invoiceNo status subtotal tax totalAmount taxRate billingRecords { amount } } } }",
            json!({}),
        )
        .await["invoices"]["nodes"][0]
        .clone();
    assert_eq!(invoice["status"], "ISSUED");
    assert_eq!(dec(&invoice["subtotal"]), records_sum(&invoice));
    // 2 GPUs x 37 min x 2.5 = 3.0833; tax 6% = 0.1850 (0.18499.. half-even to 4 places).
    assert_eq!(invoice["subtotal"], "3.0833");
    assert_eq!(invoice["taxRate"], "0.0600");
    assert_eq!(invoice["tax"], "0.1850");
    assert_eq!(invoice["totalAmount"], "3.2683");
    let id = invoice["id"].as_str().unwrap();

    // Settled by an operator, once; customers cannot.
    const PAID: &str = "mutation($id: ID!) { markInvoicePaid(id: $id) { status paidAt } }";
    const VOID: &str = "mutation($id: ID!) { voidInvoice(id: $id) { status } }";
    app.gql_err_as(Some(&tokens[0]), PAID, json!({ "id": id }), "FORBIDDEN")
        .await;
    let paid = app.gql_ok(PAID, json!({ "id": id })).await;
    assert_eq!(paid["markInvoicePaid"]["status"], "PAID");
    app.gql_err(VOID, json!({ "id": id }), "CONFLICT").await;
    app.gql_err(PAID, json!({ "id": id }), "CONFLICT").await;
    assert_eq!(
        app.column_text("invoices", "status", &format!("id = {id}"))
            .await
            .as_deref(),
        Some("paid")
    );

    // A record that arrives for the issued month goes on the next month's draft.
    let env = "env-fay";
    let customer = app
        .column_text("environments", "customer_id", "id = 'env-fay'")
        .await
        .unwrap();
    seed_run(
        &app,
        env,
        &customer,
        None,
        month + Duration::hours(5),
        Some(month + Duration::hours(6)),
    )
    .await;
    pass(&app, after + Duration::minutes(1)).await;
    assert_eq!(
        app.column_text("invoices", "subtotal", &format!("id = {id}"))
            .await
            .map(|s| s.parse::<Decimal>().unwrap()),
        Some("3.0833".parse().unwrap()),
        "an issued invoice never changes"
    );
    assert_eq!(
        app.count_rows(
            "billing_records r JOIN invoices i ON i.id = r.invoice_id",
            &format!("r.env_id = '{env}' AND i.status = 'draft' AND i.period_start > '{month}'")
        )
        .await,
        3,
        "the correction (a record per resource) is on the next draft"
    );
}

/// A spend limit: 80% flags and tells the subscriber, 100% stops the running environment
/// through the lifecycle (GPUs released) and refuses new ones with SPEND_LIMIT.
async fn spend_limits_warn_stop_and_refuse(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let now = Utc::now().naive_utc();
    seed_price(&app, "gpu", "*", "2.5000", hour_of(now) - Duration::days(1)).await;
    let (_host, agent) = gpu_host(&app, "gpu-a", 2).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (token, _customer) = app.register("ivy").await;
    let env = create_env(&app, &token, request(&image, 1)).await;
    app.gql_ok_as(Some(&agent), REPORT, json!({ "e": env, "s": "RUNNING" }))
        .await;
    assert_eq!(
        app.count_rows(
            "environment_runs",
            &format!("env_id = '{env}' AND ended_at IS NULL")
        )
        .await,
        1,
        "running opens a run"
    );

    let mut ws = WsClient::connect(&app, &token).await;
    ws.subscribe(
        "spend",
        "subscription { spendUpdates { account spendThisMonth spendLimit alert } }",
        json!({}),
    )
    .await;
    ws.subscribe(
        "status",
        "subscription { environmentStatus { environmentId status } }",
        json!({}),
    )
    .await;
    app.wait_for_subscriptions(2).await;

    const LIMIT: &str =
        "mutation($l: Decimal) { setSpendLimit(limit: $l) { spendLimit alert spendThisMonth } }";
    let set = app
        .gql_ok_as(Some(&token), LIMIT, json!({ "l": "10" }))
        .await;
    assert_eq!(set["setSpendLimit"]["alert"], "NONE");
    assert_eq!(set["setSpendLimit"]["spendLimit"], "10.0000");
    let first = ws.next_data("spend").await;
    assert_eq!(first["spendUpdates"]["alert"], "NONE");

    // It has been running 3 h 20 min (1 GPU x 2.5/h = 8.33): past 80%.
    let mut run: entity::environment_runs::ActiveModel =
        <entity::environment_runs::Entity as sea_orm::EntityTrait>::find()
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .into();
    run.started_at = Set(now - Duration::minutes(200));
    run.update(&app.db).await.unwrap();
    let warned = pass(&app, now).await;
    assert!(warned
        .checked
        .iter()
        .any(|s| s.alert == remotegpu::services::spend::Alert::Warning));
    let update = ws.next_data("spend").await["spendUpdates"].clone();
    assert_eq!(update["alert"], "WARNING");
    assert!(dec(&update["spendThisMonth"]) >= Decimal::from(8));
    assert_eq!(
        status_of(&app, &env).await,
        "running",
        "a warning stops nothing"
    );
    assert!(app
        .column_text("customers", "spend_warned_month", "username = 'ivy'")
        .await
        .is_some());

    // 100 minutes later it has run 5 h: 12.5 >= 10. One pass stops it and refuses new ones.
    pass(&app, now + Duration::minutes(100)).await;
    // Both reach the subscriber (two subscriptions: in either order).
    let mut got = std::collections::HashMap::new();
    while got.len() < 2 {
        let m = ws.next().await;
        if m["type"] == "next" {
            got.insert(
                m["id"].as_str().unwrap().to_owned(),
                m["payload"]["data"].clone(),
            );
        }
    }
    assert_eq!(
        got["status"]["environmentStatus"],
        json!({ "environmentId": env, "status": "STOPPING" })
    );
    assert_eq!(got["spend"]["spendUpdates"]["alert"], "LIMIT_REACHED");
    let stopped = app
        .gql_ok_as(
            Some(&token),
            "query($id: ID!) { environment(id: $id) { status stopReason } }",
            json!({ "id": env }),
        )
        .await["environment"]
        .clone();
    assert_eq!(stopped["status"], "STOPPING");
    assert!(stopped["stopReason"]
        .as_str()
        .unwrap()
        .contains("spend limit"));
    assert_eq!(
        app.count_rows("environment_runs", "ended_at IS NULL").await,
        0,
        "billing stopped with it"
    );

    let before = app.count_rows("environments", "1 = 1").await;
    let refused = app
        .gql_as(Some(&token), CREATE, json!({ "i": request(&image, 1) }))
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(refused["errors"][0]["extensions"]["reason"], "SPEND_LIMIT");
    assert_eq!(app.count_rows("environments", "1 = 1").await, before);

    // Raising the limit lets them create again.
    app.gql_ok_as(Some(&token), LIMIT, json!({ "l": "100" }))
        .await;
    create_env(&app, &token, request(&image, 0)).await;
}

/// Idle auto-stop: GPUs under the threshold in every sample for N minutes stop the
/// environment; one busy sample keeps it running.
async fn idle_environments_stop(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let (_host, agent) = gpu_host(&app, "gpu-a", 2).await;
    let image = catalogue_image(&app, "pytorch:2.3").await;
    let (token, _) = app.register("jay").await;
    let idle = create_env(&app, &token, request(&image, 1)).await;
    let busy = create_env(&app, &token, request(&image, 1)).await;
    const IDLE: &str = "mutation($id: ID!, $m: Int, $t: Float) { setIdleStop(id: $id, minutes: $m, thresholdPercent: $t) { idleStopMinutes idleThresholdPercent } }";
    app.gql_err_as(
        Some(&token),
        IDLE,
        json!({ "id": idle, "m": 1, "t": 5.0 }),
        "BAD_USER_INPUT",
    )
    .await;
    for env in [&idle, &busy] {
        app.gql_ok_as(Some(&agent), REPORT, json!({ "e": env, "s": "RUNNING" }))
            .await;
        let set = app
            .gql_ok_as(Some(&token), IDLE, json!({ "id": env, "m": 10, "t": 5.0 }))
            .await;
        assert_eq!(set["setIdleStop"]["idleStopMinutes"], 10);
    }
    let now = Utc::now().naive_utc() + Duration::minutes(11);
    for minute in 1..=10 {
        for (env, gpu) in [(&idle, 1.0), (&busy, if minute == 7 { 60.0 } else { 1.0 })] {
            entity::environment_metrics::ActiveModel {
                env_id: Set(env.to_string()),
                gpu_usage_percent: Set(Some(gpu)),
                collected_at: Set(Some(now - Duration::minutes(minute))),
                ..Default::default()
            }
            .insert(&app.db)
            .await
            .unwrap();
        }
    }
    let done = pass(&app, now).await;
    assert_eq!(done.idle_stopped, vec![idle.clone()]);
    assert_eq!(status_of(&app, &idle).await, "stopping");
    assert_eq!(status_of(&app, &busy).await, "running");
    let reason = app
        .column_text("environments", "stop_reason", &format!("id = '{idle}'"))
        .await
        .unwrap();
    assert!(reason.contains("idle"), "{reason}");
}

/// Who sees and changes what: a customer only their own billing; a workspace's members its
/// billing; only its owners and admins its limit. Prices: operators write, within bounds.
async fn billing_tenancy_and_price_bounds(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let (owner, owner_id) = app.register("kim").await;
    let (viewer, _) = app.register("lee").await;
    let (stranger, _) = app.register("max").await;
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
    add_member(&app, &owner, &json!(ws), "lee", &viewer, "VIEWER").await;
    let month =
        remotegpu::services::invoices::month_of(Utc::now().naive_utc() + Duration::days(40)).0;
    seed_price(&app, "gpu", "*", "1.0000", month).await;
    let host = create_host(&app, "gpu-a").await;
    let env = insert_environment(&app, &owner_id, &host, "env-lab").await;
    let wsid: i64 = ws.parse().unwrap();
    seed_run(
        &app,
        &env,
        &owner_id,
        Some(wsid),
        month,
        Some(month + Duration::hours(1)),
    )
    .await;
    pass(&app, month + Duration::hours(2)).await;

    let count = |token: String| {
        let app = &app;
        async move {
            let data = app
                .gql_ok_as(
                    Some(&token),
                    "{ billingRecords { totalCount } invoices { totalCount } }",
                    json!({}),
                )
                .await;
            (
                data["billingRecords"]["totalCount"].as_i64().unwrap(),
                data["invoices"]["totalCount"].as_i64().unwrap(),
            )
        }
    };
    assert_eq!(count(owner.clone()).await, (3, 1));
    assert_eq!(
        count(viewer.clone()).await,
        (3, 1),
        "members read the workspace's billing"
    );
    assert_eq!(count(stranger.clone()).await, (0, 0));
    let spend = app
        .gql_ok_as(
            Some(&viewer),
            "query($id: ID!) { workspace(id: $id) { spend { account spendLimit } } }",
            json!({ "id": ws }),
        )
        .await;
    assert_eq!(
        spend["workspace"]["spend"]["account"],
        format!("workspace:{ws}")
    );

    const LIMIT: &str = "mutation($w: ID, $c: ID, $l: Decimal) { setSpendLimit(workspaceId: $w, customerId: $c, limit: $l) { spendLimit } }";
    for (who, vars, code) in [
        (&viewer, json!({ "w": ws, "l": "50" }), "FORBIDDEN"),
        (&stranger, json!({ "w": ws, "l": "50" }), "NOT_FOUND"),
        (&stranger, json!({ "c": owner_id, "l": "50" }), "NOT_FOUND"),
    ] {
        app.gql_err_as(Some(who), LIMIT, vars, code).await;
    }
    assert_eq!(
        app.count_rows("workspaces", "spend_limit IS NOT NULL")
            .await,
        0
    );
    let set = app
        .gql_ok_as(Some(&owner), LIMIT, json!({ "w": ws, "l": "50.5" }))
        .await;
    assert_eq!(set["setSpendLimit"]["spendLimit"], "50.5000");
    app.gql_err_as(Some(&owner), LIMIT, json!({ "l": "-1" }), "BAD_USER_INPUT")
        .await;
    let stranger_sub = {
        let mut c = WsClient::connect(&app, &stranger).await;
        c.subscribe(
            "s",
            "subscription($w: ID) { spendUpdates(workspaceId: $w) { account } }",
            json!({ "w": ws }),
        )
        .await;
        c.expect_error("s").await
    };
    assert!(!stranger_sub.is_empty());

    // Prices: operators only, future whole hours, at most 4 places and 999,999.9999.
    let future = (hour_of(Utc::now().naive_utc()) + Duration::hours(2)).and_utc();
    let price = |p: &str, at: chrono::DateTime<Utc>| json!({ "i": { "resourceType": "CPU", "unitPrice": p, "effectiveFrom": at.to_rfc3339() } });
    app.gql_err_as(Some(&owner), SET_PRICE, price("1", future), "FORBIDDEN")
        .await;
    for (p, at) in [
        ("1000000", future),
        ("0.00001", future),
        ("-1", future),
        ("1", future + Duration::minutes(30)),
        ("1", future - Duration::hours(3)),
    ] {
        app.gql_err(SET_PRICE, price(p, at), "BAD_USER_INPUT").await;
    }
    let before = app.count_rows("prices", "1 = 1").await;
    let max = app.gql_ok(SET_PRICE, price("999999.9999", future)).await;
    assert_eq!(max["setPrice"]["unitPrice"], "999999.9999");
    assert_eq!(app.count_rows("prices", "1 = 1").await, before + 1);
    app.gql_err(SET_PRICE, price("2", future), "CONFLICT").await;
    let listed = app
        .gql_ok_as(Some(&stranger), "{ prices { totalCount } }", json!({}))
        .await;
    assert_eq!(
        listed["prices"]["totalCount"],
        before + 1,
        "the price book is public"
    );
}

on_both_backends!(
    metering_is_exact_and_idempotent,
    invoices_are_issued_numbered_and_final,
    spend_limits_warn_stop_and_refuse,
    idle_environments_stop,
    billing_tenancy_and_price_bounds
);
