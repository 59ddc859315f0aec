//! The tenant isolation step (`m20261201_000001`) on data that was there before it: rows
//! whose storage location is not a relative key become `failed` with a reason (a model by
//! its reason alone), relative keys stay as they were. Run on SQLite, and on PostgreSQL at
//! `REMOTEGPU_TEST_POSTGRES_URL` when it is reachable (required under `CI`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Every step before the one under test.
async fn steps_before_isolation(db: &DatabaseConnection) -> u32 {
    let all = Migrator::migrations().len() as u32;
    let at = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261201_000001_tenant_isolation")
        .expect("the isolation step is registered") as u32;
    Migrator::up(db, Some(at)).await.unwrap();
    all - at
}

async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql).await.unwrap();
}

async fn status_and_reason(
    db: &DatabaseConnection,
    table: &str,
    id: i64,
) -> (Option<String>, bool) {
    let status = if table == "models" { "NULL" } else { "status" };
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT {status} AS s, status_reason AS r FROM {table} WHERE id = {id}"),
        ))
        .await
        .unwrap()
        .unwrap();
    (
        row.try_get::<Option<String>>("", "s").unwrap(),
        row.try_get::<Option<String>>("", "r").unwrap().is_some(),
    )
}

async fn check(db: &DatabaseConnection) {
    let rest = steps_before_isolation(db).await;
    exec(db, "INSERT INTO customers (uuid, username, email, password_hash) VALUES ('u1', 'u', 'u@example.com', 'x')").await;
    let paths = [
        (1, "datasets/c1/abc"),
        (2, "/var/run/docker.sock"),
        (3, "../../etc"),
        (4, "a/../../b"),
        (5, "C:\\data"),
        (6, "d/in"),
        (7, "a\\b"),
    ];
    for (id, path) in paths {
        let path = path.replace('\'', "''");
        exec(db, &format!("INSERT INTO datasets (id, uuid, customer_id, name, storage_path, status) VALUES ({id}, 'd{id}', 1, 'd', '{path}', 'ready')")).await;
        exec(db, &format!("INSERT INTO models (id, uuid, customer_id, name, storage_path) VALUES ({id}, 'm{id}', 1, 'm', '{path}')")).await;
    }
    exec(db, "INSERT INTO dataset_versions (id, dataset_id, version, storage_path, status) VALUES (1, 1, 'v1', '/', 'ready'), (2, 1, 'v2', 'datasets/c1/abc/v2', 'ready')").await;
    Migrator::up(db, Some(rest)).await.unwrap();

    for table in ["datasets", "models"] {
        for (id, path) in paths {
            let (status, reason) = status_and_reason(db, table, id).await;
            let kept = matches!(id, 1 | 6);
            assert_eq!(reason, !kept, "{table} {id} {path}");
            if table == "datasets" {
                let want = if kept { "ready" } else { "failed" };
                assert_eq!(status.as_deref(), Some(want), "{table} {id} {path}");
            }
        }
    }
    assert_eq!(
        status_and_reason(db, "dataset_versions", 1).await,
        (Some("failed".to_owned()), true)
    );
    assert_eq!(
        status_and_reason(db, "dataset_versions", 2).await,
        (Some("ready".to_owned()), false)
    );
    Migrator::down(db, None).await.unwrap();
}

#[tokio::test]
async fn paths_fail_and_keys_stay_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("keys.db").display());
    let db = Database::connect(&url).await.unwrap();
    check(&db).await;
    db.close().await.unwrap();
}

#[tokio::test]
async fn paths_fail_and_keys_stay_on_postgres() {
    let admin_url = std::env::var("REMOTEGPU_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let admin = match Database::connect(&admin_url).await {
        Ok(admin) => admin,
        Err(err) if std::env::var_os("CI").is_some() => {
            panic!("PostgreSQL at {admin_url} is unreachable and CI is set: {err}")
        }
        Err(err) => {
            eprintln!("skipping: PostgreSQL at {admin_url} is unreachable ({err})");
            return;
        }
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("migration_keys_{}_{nanos}", std::process::id());
    exec(&admin, &format!("CREATE DATABASE \"{name}\"")).await;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    let db = Database::connect(format!("{base}/{name}")).await.unwrap();
    let outcome = tokio::spawn({
        let db = db.clone();
        async move { check(&db).await }
    })
    .await;
    db.close().await.unwrap();
    exec(
        &admin,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    )
    .await;
    outcome.unwrap();
}
