//! Relay pagination over a list: forward, backward, ordering, totalCount and page-size bounds.

use serde_json::{json, Value};

use crate::fixtures::*;
use crate::helpers::{on_both_backends, spawn_app, Backend};

const PAGE: &str =
    "query($first: Int, $after: String, $last: Int, $before: String, $order: [HostOrder!]) {
  hosts(first: $first, after: $after, last: $last, before: $before, orderBy: $order) {
    totalCount
    edges { cursor node { name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

fn names(page: &Value) -> Vec<&str> {
    page["hosts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap())
        .collect()
}

async fn relay_pages(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for name in ["h3", "h1", "h5", "h2", "h4"] {
        create_host(&app, name).await;
    }
    let order = json!([{ "field": "NAME", "direction": "ASC" }]);

    let p1 = app
        .gql_ok(PAGE, json!({ "first": 2, "order": order }))
        .await;
    assert_eq!(names(&p1), ["h1", "h2"]);
    assert_eq!(p1["hosts"]["totalCount"], 5);
    assert_eq!(p1["hosts"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(p1["hosts"]["pageInfo"]["hasPreviousPage"], false);

    let after = p1["hosts"]["pageInfo"]["endCursor"].clone();
    let p2 = app
        .gql_ok(PAGE, json!({ "first": 2, "after": after, "order": order }))
        .await;
    assert_eq!(names(&p2), ["h3", "h4"]);
    assert_eq!(p2["hosts"]["pageInfo"]["hasPreviousPage"], true);

    let after = p2["hosts"]["pageInfo"]["endCursor"].clone();
    let p3 = app
        .gql_ok(PAGE, json!({ "first": 2, "after": after, "order": order }))
        .await;
    assert_eq!(names(&p3), ["h5"]);
    assert_eq!(p3["hosts"]["pageInfo"]["hasNextPage"], false);

    let last = app.gql_ok(PAGE, json!({ "last": 2, "order": order })).await;
    assert_eq!(names(&last), ["h4", "h5"]);
    let before = last["hosts"]["pageInfo"]["startCursor"].clone();
    let prev = app
        .gql_ok(PAGE, json!({ "last": 2, "before": before, "order": order }))
        .await;
    assert_eq!(names(&prev), ["h2", "h3"]);

    let desc = app
        .gql_ok(
            PAGE,
            json!({ "first": 3, "order": [{ "field": "NAME", "direction": "DESC" }] }),
        )
        .await;
    assert_eq!(names(&desc), ["h5", "h4", "h3"]);

    for bad in [0, 101, -1] {
        app.gql_err(PAGE, json!({ "first": bad }), "BAD_USER_INPUT")
            .await;
        app.gql_err(PAGE, json!({ "last": bad }), "BAD_USER_INPUT")
            .await;
    }
    app.gql_err(
        PAGE,
        json!({ "first": 1, "after": "garbage" }),
        "BAD_USER_INPUT",
    )
    .await;
    app.gql_ok(PAGE, json!({ "first": 100 })).await;
}

const SAMPLES: &str = "query($gpu: ID!, $first: Int, $after: String, $last: Int, $before: String, $dir: OrderDirection!) {
  gpuMetrics(filter: { gpuId: { eq: $gpu } }, orderBy: [{ field: COLLECTED_AT, direction: $dir }],
             first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { utilizationPercent } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

fn values(page: &Value) -> Vec<f64> {
    page["gpuMetrics"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["utilizationPercent"].as_f64().unwrap())
        .collect()
}

/// Time series page by keyset: after 10,000 samples a page deep in the history holds the
/// right rows, costs one statement, and new samples do not shift the pages.
async fn keyset_pages_over_a_long_history(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let host = create_host(&app, "h").await;
    let gpu: i64 = create_gpu(&app, &host, 0).await.parse().unwrap();
    let start = at("2026-01-26T00:00:00Z");
    // Samples 0..10000, 10 s apart; sample 10000 ties with 9999's instant (the pk decides).
    insert_gpu_samples(&app, &host, gpu, start, 10_000, 0.0).await;
    insert_gpu_samples(
        &app,
        &host,
        gpu,
        start + chrono::Duration::seconds(99_990),
        1,
        10_000.0,
    )
    .await;
    let vars = |v: Value| {
        let mut base = json!({ "gpu": gpu.to_string(), "dir": "DESC" });
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        base
    };

    // Newest first: walk 99 pages of 100 to the depth of the history.
    let mut page = app.gql_ok(SAMPLES, vars(json!({ "first": 100 }))).await;
    let first_page = page.clone();
    assert_eq!(values(&page)[..3], [9999.0, 10_000.0, 9998.0]);
    for _ in 0..98 {
        let after = page["gpuMetrics"]["pageInfo"]["endCursor"].clone();
        page = app
            .gql_ok(SAMPLES, vars(json!({ "first": 100, "after": after })))
            .await;
    }
    // 9,900 rows seen: 10000, 9999 ... 101.
    let expected: Vec<f64> = (1..=100).rev().map(f64::from).collect();
    let after = page["gpuMetrics"]["pageInfo"]["endCursor"].clone();
    let before = app.statements();
    let deep = app
        .gql_ok(
            SAMPLES,
            vars(json!({ "first": 100, "after": after.clone() })),
        )
        .await;
    assert_eq!(app.statements() - before, 1, "a page is one statement");
    assert_eq!(values(&deep), expected);
    assert_eq!(deep["gpuMetrics"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(deep["gpuMetrics"]["pageInfo"]["hasPreviousPage"], true);

    // New samples arrive: the next page after an old cursor is unchanged.
    insert_gpu_samples(
        &app,
        &host,
        gpu,
        start + chrono::Duration::seconds(100_000),
        50,
        20_000.0,
    )
    .await;
    let again = app
        .gql_ok(SAMPLES, vars(json!({ "first": 100, "after": after })))
        .await;
    assert_eq!(values(&again), expected);
    let second = app
        .gql_ok(
            SAMPLES,
            vars(json!({ "first": 3, "after": first_page["gpuMetrics"]["pageInfo"]["endCursor"] })),
        )
        .await;
    assert_eq!(values(&second), [9900.0, 9899.0, 9898.0]);

    // The end: one row left, then none.
    let end = deep["gpuMetrics"]["pageInfo"]["endCursor"].clone();
    let last_row = app
        .gql_ok(SAMPLES, vars(json!({ "first": 100, "after": end })))
        .await;
    assert_eq!(values(&last_row), [0.0]);
    assert_eq!(last_row["gpuMetrics"]["pageInfo"]["hasNextPage"], false);

    // Backward: the rows just before a cursor, in list order.
    let cursor = deep["gpuMetrics"]["edges"][0]["cursor"].clone();
    let prev = app
        .gql_ok(SAMPLES, vars(json!({ "last": 3, "before": cursor })))
        .await;
    assert_eq!(values(&prev), [103.0, 102.0, 101.0]);
    assert_eq!(prev["gpuMetrics"]["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(prev["gpuMetrics"]["pageInfo"]["hasNextPage"], true);
    // Oldest first, from the end: the newest three.
    let tail = app
        .gql_ok(SAMPLES, vars(json!({ "last": 3, "dir": "ASC" })))
        .await;
    assert_eq!(values(&tail), [20_047.0, 20_048.0, 20_049.0]);
    let oldest = app
        .gql_ok(SAMPLES, vars(json!({ "first": 2, "dir": "ASC" })))
        .await;
    assert_eq!(values(&oldest), [0.0, 1.0]);
    let next = oldest["gpuMetrics"]["pageInfo"]["endCursor"].clone();
    let next = app
        .gql_ok(
            SAMPLES,
            vars(json!({ "first": 2, "after": next, "dir": "ASC" })),
        )
        .await;
    assert_eq!(values(&next), [2.0, 3.0]);

    // Forged cursors: an offset cursor, another ordering's cursor, a value of the wrong type.
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let ascending = next["gpuMetrics"]["pageInfo"]["endCursor"].clone();
    for forged in [
        json!(b64("pos:3")),
        ascending,
        json!(b64(r#"key:["collected_at-,id+",["yesterday",1]]"#)),
        json!(b64(
            r#"key:["collected_at-,id+",["2026-01-26T00:00:00",1,2]]"#
        )),
        json!(b64(r#"key:["collected_at-,id+",[null,1e400]]"#)),
        json!("garbage"),
    ] {
        let message = app
            .gql_err(
                SAMPLES,
                vars(json!({ "first": 5, "after": forged })),
                "BAD_USER_INPUT",
            )
            .await;
        assert!(message.contains("cursor"), "{message}");
    }
    let forged_commands = format!(
        "{{ commands(after: \"{}\") {{ nodes {{ id }} }} }}",
        b64("pos:1")
    );
    app.gql_err(&forged_commands, json!({}), "BAD_USER_INPUT")
        .await;
}

on_both_backends!(relay_pages, keyset_pages_over_a_long_history);
