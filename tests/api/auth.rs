//! Accounts and credentials: sign-up, sign-in, refresh rotation, sign-out, password change,
//! stored hashes, every way a JWT can be bad, and agent tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::fixtures::create_host_with_token;
use crate::helpers::{on_both_backends, spawn_app, Backend, JWT_SECRET};

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
    app.login("alice", "brand new password").await;

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

on_both_backends!(
    accounts_and_sessions,
    bad_jwts_are_unauthenticated,
    agent_tokens_act_only_for_their_host
);
