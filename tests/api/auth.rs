//! Accounts and credentials: sign-up, sign-in, refresh rotation, sign-out, password change,
//! stored hashes, every way a JWT can be bad, and agent tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use chrono::{Duration, Timelike, Utc};
use entity::refresh_tokens;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::fixtures::create_host_with_token;
use crate::helpers::{on_both_backends, spawn_app, spawn_app_with, Backend, TestApp, JWT_SECRET};

const ME: &str = "{ me { id username role } }";
const LOGIN: &str = "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { accessToken refreshToken customer { id } } }";
const REFRESH: &str =
    "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }";

async fn accounts_and_sessions(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, id) = app.register("alice").await;
    let me = app.gql_ok_as(Some(&token), ME, json!({})).await;
    assert_eq!(
        me["me"],
        json!({ "id": id, "username": "alice", "role": "CUSTOMER" })
    );

    // Stored as Argon2id with m=19 MiB, t=2, p=1.
    let hash = app
        .column_text("customers", "password_hash", "username = 'alice'")
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );

    // Taken names, weak passwords, bad e-mails.
    let register = "mutation($u: String!, $e: String!, $p: String!) { register(input: { username: $u, email: $e, password: $p }) { accessToken } }";
    app.gql_err_as(
        None,
        register,
        json!({ "u": "alice", "e": "new@example.com", "p": "long enough 1" }),
        "CONFLICT",
    )
    .await;
    app.gql_err_as(
        None,
        register,
        json!({ "u": "alice2", "e": "ALICE@example.com", "p": "long enough 1" }),
        "CONFLICT",
    )
    .await;
    app.gql_err_as(
        None,
        register,
        json!({ "u": "bob", "e": "bob@example.com", "p": "short" }),
        "BAD_USER_INPUT",
    )
    .await;
    app.gql_err_as(
        None,
        register,
        json!({ "u": "bob", "e": "bob@example.com", "p": "x".repeat(129) }),
        "BAD_USER_INPUT",
    )
    .await;
    app.gql_err_as(
        None,
        register,
        json!({ "u": "bob", "e": "bob-at-example", "p": "long enough 1" }),
        "BAD_USER_INPUT",
    )
    .await;

    // Wrong password and unknown user look the same.
    let wrong = app
        .gql_err_as(
            None,
            LOGIN,
            json!({ "l": "alice", "p": "wrong password" }),
            "UNAUTHENTICATED",
        )
        .await;
    let unknown = app
        .gql_err_as(
            None,
            LOGIN,
            json!({ "l": "nobody", "p": "wrong password" }),
            "UNAUTHENTICATED",
        )
        .await;
    assert_eq!(wrong, unknown);

    // Refresh tokens rotate; a reused one revokes the whole session.
    let session = app
        .gql_ok_as(
            None,
            LOGIN,
            json!({ "l": "alice@example.com", "p": "customer password" }),
        )
        .await;
    let first = session["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = app.gql_ok_as(None, REFRESH, json!({ "t": first })).await;
    let second = rotated["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, second);
    let access = rotated["refreshToken"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql_ok_as(Some(&access), ME, json!({})).await;
    app.gql_err_as(None, REFRESH, json!({ "t": first }), "UNAUTHENTICATED")
        .await;
    app.gql_err_as(None, REFRESH, json!({ "t": second }), "UNAUTHENTICATED")
        .await;

    // Logout revokes the session's refresh token.
    let session = app
        .gql_ok_as(
            None,
            LOGIN,
            json!({ "l": "alice", "p": "customer password" }),
        )
        .await;
    let (access, refresh) = (
        session["login"]["accessToken"].as_str().unwrap().to_owned(),
        session["login"]["refreshToken"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    app.gql_ok_as(
        Some(&access),
        "mutation($t: String!) { logout(refreshToken: $t) }",
        json!({ "t": refresh }),
    )
    .await;
    app.gql_err_as(None, REFRESH, json!({ "t": refresh }), "UNAUTHENTICATED")
        .await;

    // Changing the password checks the old one and ends all sessions.
    let session = app
        .gql_ok_as(
            None,
            LOGIN,
            json!({ "l": "alice", "p": "customer password" }),
        )
        .await;
    let refresh = session["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
    app.gql_err_as(
        Some(&token),
        change,
        json!({ "c": "not it", "n": "brand new password" }),
        "BAD_USER_INPUT",
    )
    .await;
    app.gql_ok_as(
        Some(&token),
        change,
        json!({ "c": "customer password", "n": "brand new password" }),
    )
    .await;
    app.gql_err_as(None, REFRESH, json!({ "t": refresh }), "UNAUTHENTICATED")
        .await;
    app.gql_err_as(
        None,
        LOGIN,
        json!({ "l": "alice", "p": "customer password" }),
        "UNAUTHENTICATED",
    )
    .await;
    // Access tokens issued before the change are refused too; signing in again works.
    app.gql_err_as(Some(&token), ME, json!({}), "UNAUTHENTICATED")
        .await;
    let token = app.login("alice", "brand new password").await;

    // Profile edits go through updateMe; status and role are not the customer's to change.
    let updated = app
        .gql_ok_as(
            Some(&token),
            "mutation { updateMe(input: { fullName: \"Alice A.\" }) { fullName } }",
            json!({}),
        )
        .await;
    assert_eq!(updated["updateMe"]["fullName"], "Alice A.");
    app.gql_err_as(
        Some(&token),
        "mutation($id: ID!) { updateCustomer(id: $id, input: { status: ACTIVE }) { id } }",
        json!({ "id": id }),
        "FORBIDDEN",
    )
    .await;

    // A suspended account cannot sign in.
    app.gql_ok(
        "mutation($id: ID!) { updateCustomer(id: $id, input: { status: SUSPENDED }) { id } }",
        json!({ "id": id }),
    )
    .await;
    app.gql_err_as(
        None,
        LOGIN,
        json!({ "l": "alice", "p": "brand new password" }),
        "FORBIDDEN",
    )
    .await;

    // Anonymous callers get UNAUTHENTICATED for everything but sign-up and sign-in.
    app.gql_err_as(None, ME, json!({}), "UNAUTHENTICATED").await;
    app.gql_err_as(
        None,
        "{ images { totalCount } }",
        json!({}),
        "UNAUTHENTICATED",
    )
    .await;
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(alg: Algorithm, claims: &Value, secret: &str) -> String {
    encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn good_claims(sub: &str) -> Value {
    json!({ "sub": sub, "role": "admin", "iss": "remotegpu", "aud": "remotegpu-api", "exp": now() + 600, "iat": now() })
}

async fn bad_jwts_are_unauthenticated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, id) = app.register("carol").await;
    // The control: a well-formed token for this server works.
    let valid = sign(Algorithm::HS256, &good_claims(&id), JWT_SECRET);
    app.gql_ok_as(Some(&valid), ME, json!({})).await;

    let unsigned = {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(good_claims(&id).to_string());
        format!("{header}.{body}.")
    };
    let mut without_exp = good_claims(&id);
    without_exp.as_object_mut().unwrap().remove("exp");
    let mut exp_as_string = good_claims(&id);
    exp_as_string["exp"] = json!((now() + 600).to_string());
    let mut expired = good_claims(&id);
    expired["exp"] = json!(now() - 3600);
    let mut wrong_aud = good_claims(&id);
    wrong_aud["aud"] = json!("someone-else");
    let mut wrong_iss = good_claims(&id);
    wrong_iss["iss"] = json!("evil");
    let mut without_sub = good_claims(&id);
    without_sub.as_object_mut().unwrap().remove("sub");

    let cases = [
        ("alg none", unsigned),
        (
            "other algorithm",
            sign(Algorithm::HS384, &good_claims(&id), JWT_SECRET),
        ),
        ("expired", sign(Algorithm::HS256, &expired, JWT_SECRET)),
        (
            "missing exp",
            sign(Algorithm::HS256, &without_exp, JWT_SECRET),
        ),
        (
            "exp as a string",
            sign(Algorithm::HS256, &exp_as_string, JWT_SECRET),
        ),
        ("wrong aud", sign(Algorithm::HS256, &wrong_aud, JWT_SECRET)),
        ("wrong iss", sign(Algorithm::HS256, &wrong_iss, JWT_SECRET)),
        (
            "missing sub",
            sign(Algorithm::HS256, &without_sub, JWT_SECRET),
        ),
        (
            "bad signature",
            sign(
                Algorithm::HS256,
                &good_claims(&id),
                "another-secret-that-is-32-bytes-long!!",
            ),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in cases {
        let response = app.gql_as(Some(&token), ME, json!({})).await;
        assert_eq!(
            response["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{what}: {response}"
        );
        assert!(response["data"].is_null(), "{what}: no data");
    }
}

async fn agent_tokens_act_only_for_their_host(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (host, token) = create_host_with_token(&app, "agent-host").await;
    let (other, _) = create_host_with_token(&app, "other-host").await;
    assert_eq!(
        app.count_rows(
            "hosts",
            &format!("id = '{host}' AND agent_token_hash IS NOT NULL")
        )
        .await,
        1
    );
    assert_eq!(
        app.count_rows("hosts", &format!("agent_token_hash = '{token}'"))
            .await,
        0,
        "only the hash is stored"
    );

    app.gql_ok_as(Some(&token), "mutation { agentHeartbeat }", json!({}))
        .await;
    assert_eq!(
        app.column_text("hosts", "status", &format!("id = '{host}'"))
            .await
            .as_deref(),
        Some("online")
    );
    assert!(app
        .column_text("hosts", "last_heartbeat", &format!("id = '{host}'"))
        .await
        .is_some());
    assert_eq!(
        app.column_text("hosts", "status", &format!("id = '{other}'"))
            .await
            .as_deref(),
        Some("offline")
    );

    // Customer operations are not for agents.
    for query in [
        ME,
        "{ hosts { totalCount } }",
        "mutation { createImage(input: { name: \"x\" }) { id } }",
    ] {
        app.gql_err_as(Some(&token), query, json!({}), "FORBIDDEN")
            .await;
    }
    // And agent operations are not for customers or admins.
    app.gql_err("mutation { agentHeartbeat }", json!({}), "FORBIDDEN")
        .await;

    // Rotating the token retires the old one.
    let rotated = app
        .gql_ok(
            "mutation($h: ID!) { rotateAgentToken(hostId: $h) }",
            json!({ "h": host }),
        )
        .await["rotateAgentToken"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql_err_as(
        Some(&token),
        "mutation { agentHeartbeat }",
        json!({}),
        "UNAUTHENTICATED",
    )
    .await;
    app.gql_ok_as(Some(&rotated), "mutation { agentHeartbeat }", json!({}))
        .await;
    // Only operators issue tokens.
    let (customer, _) = app.register("dave").await;
    app.gql_err_as(
        Some(&customer),
        "mutation($h: ID!) { rotateAgentToken(hostId: $h) }",
        json!({ "h": host }),
        "FORBIDDEN",
    )
    .await;
}

/// The refresh tokens of one sign-in (family), oldest first.
async fn family_rows(app: &TestApp, family: &str) -> Vec<refresh_tokens::Model> {
    refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::Family.eq(family))
        .order_by_asc(refresh_tokens::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}

fn refresh_of(payload: &Value, field: &str) -> String {
    payload[field]["refreshToken"].as_str().unwrap().to_owned()
}

/// A sign-in has an absolute end: rotating its refresh token never extends it past
/// `auth.refresh_family_ttl_secs` after the login, and once that passes the token is refused
/// with nothing issued.
async fn a_sign_in_ends_at_its_family_lifetime(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| {
        s.auth.refresh_ttl_secs = 24 * 3600;
        s.auth.refresh_family_ttl_secs = 2 * 24 * 3600;
    })
    .await
    else {
        return;
    };
    app.register("fay").await;
    let login = app
        .gql_ok_as(None, LOGIN, json!({ "l": "fay", "p": "customer password" }))
        .await;
    let first = refresh_of(&login, "login");
    let row = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(remotegpu::auth::tokens::sha256_hex(&first)))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let family_end = row
        .family_expires_at
        .expect("a login sets the family's end");
    // Whole seconds: both backends store them exactly.
    let login_time = Utc::now().naive_utc().with_nanosecond(0).unwrap();
    assert!(
        (family_end - login_time - Duration::days(2))
            .num_seconds()
            .abs()
            < 60
    );
    assert!(
        (row.expires_at - login_time - Duration::days(1))
            .num_seconds()
            .abs()
            < 60
    );

    // Rotation keeps the family's end; the new token's own end is capped by it.
    let near = login_time + Duration::hours(3);
    refresh_tokens::Entity::update_many()
        .col_expr(
            refresh_tokens::Column::FamilyExpiresAt,
            sea_orm::sea_query::Expr::value(near),
        )
        .filter(refresh_tokens::Column::Family.eq(&row.family))
        .exec(&app.db)
        .await
        .unwrap();
    let rotated = app.gql_ok_as(None, REFRESH, json!({ "t": first })).await;
    let second = refresh_of(&rotated, "refreshToken");
    let rows = family_rows(&app, &row.family).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].family_expires_at, Some(near));
    assert_eq!(
        rows[1].expires_at, near,
        "capped at the family's end, not a day"
    );

    // Past the family's end the current token is refused and nothing new is issued.
    let past = login_time - Duration::minutes(1);
    refresh_tokens::Entity::update_many()
        .col_expr(
            refresh_tokens::Column::FamilyExpiresAt,
            sea_orm::sea_query::Expr::value(past),
        )
        .filter(refresh_tokens::Column::Family.eq(&row.family))
        .exec(&app.db)
        .await
        .unwrap();
    app.gql_err_as(None, REFRESH, json!({ "t": second }), "UNAUTHENTICATED")
        .await;
    let rows = family_rows(&app, &row.family).await;
    assert_eq!(rows.len(), 2);
    assert!(
        rows[1].rotated_at.is_none(),
        "a refused token is not used up"
    );
}

on_both_backends!(
    a_sign_in_ends_at_its_family_lifetime,
    accounts_and_sessions,
    bad_jwts_are_unauthenticated,
    agent_tokens_act_only_for_their_host
);
