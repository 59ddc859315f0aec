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

on_both_backends!(relay_pages);
