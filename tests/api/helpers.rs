//! `spawn_app()`: a real server on 127.0.0.1:0 over a fresh database, and a client that
//! speaks GraphQL over HTTP and WebSocket.
//!
//! Every test runs once per backend: on a new SQLite file, and on a new, uniquely named
//! PostgreSQL database (dropped afterwards) when PostgreSQL is reachable at
//! `REMOTEGPU_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! Without PostgreSQL the PostgreSQL half is skipped, except under `CI`, where it fails.

use std::sync::Arc;

use remotegpu::config::{BootstrapAdmin, Secret, Settings};
use remotegpu::db::DbMetrics;
use remotegpu::startup::Application;
use remotegpu::state::AppState;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const ADMIN_USERNAME: &str = "root_admin";
pub const ADMIN_PASSWORD: &str = "admin password 123";
pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

pub struct TestApp {
    /// Stops the server, and its task.
    server: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    )>,
    /// The bootstrap admin's access token; `gql` sends it.
    pub admin_token: String,
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub metrics: Arc<DbMetrics>,
    /// The server's shared state (jobs' `run_once` take it).
    pub state: AppState,
    /// The settings the server started with (a replica starts with the same).
    pub settings: Settings,
    _database: Option<TestDatabase>,
}

/// Owns the test database and removes it when the test ends.
enum TestDatabase {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // The test's runtime is shutting down; drop the database from a runtime of our own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(admin) = Database::connect(&admin_url).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

fn postgres_admin_url() -> String {
    std::env::var("REMOTEGPU_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Creates a fresh PostgreSQL database; `None` when PostgreSQL is not reachable outside CI.
async fn create_postgres_database() -> Option<(String, TestDatabase)> {
    let admin_url = postgres_admin_url();
    let admin = match Database::connect(&admin_url).await {
        Ok(db) => db,
        Err(err) => {
            // Loud by default: a PostgreSQL half that silently passed empty would hide a
            // broken backend. Skipping is an explicit choice, never under CI.
            let opted_out = std::env::var_os("REMOTEGPU_TEST_SKIP_POSTGRES").is_some();
            if std::env::var_os("CI").is_some() || !opted_out {
                panic!(
                    "PostgreSQL is unreachable at {admin_url}: {err}. Start it, point \
                     REMOTEGPU_TEST_POSTGRES_URL at one, or (not under CI) set \
                     REMOTEGPU_TEST_SKIP_POSTGRES=1 to run the SQLite halves only"
                );
            }
            eprintln!("REMOTEGPU_TEST_SKIP_POSTGRES: skipping the PostgreSQL run: {err}");
            return None;
        }
    };
    let name = format!("remotegpu_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&admin_url);
    let url = format!("{base}/{name}");
    Some((url, TestDatabase::Postgres { admin_url, name }))
}

/// Server logs go to the test's captured output; `RUST_LOG` picks the level (default: errors).
fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// A server on a fresh database and a random port, with no background jobs: a test runs
/// a job's pass itself (`jobs::<job>::run_once(&app.state, now)`) with the clock it wants,
/// so no tick can change what it observes. A test that wants the loops sets
/// `jobs.enabled` through [`spawn_app_with`].
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], with a chance to change the settings first.
pub async fn spawn_app_with(
    backend: Backend,
    customize: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    init_logging();
    let (url, database) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            (url, TestDatabase::Sqlite(dir))
        }
        Backend::Postgres => create_postgres_database().await?,
    };
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.database.url = Some(Secret::new(url));
    settings.database.max_connections = 5;
    settings.data_dir =
        std::env::temp_dir().join(format!("remotegpu-test-{}", uuid::Uuid::new_v4().simple()));
    settings.auth.jwt_secret = Some(Secret::new(JWT_SECRET));
    settings.jobs.enabled = false;
    settings.auth.bootstrap_admin = Some(BootstrapAdmin {
        username: ADMIN_USERNAME.into(),
        email: "admin@example.com".into(),
        password: Secret::new(ADMIN_PASSWORD),
    });
    customize(&mut settings);
    Some(start(settings, Some(database)).await)
}

async fn start(settings: Settings, database: Option<TestDatabase>) -> TestApp {
    let app = Application::build(settings.clone())
        .await
        .expect("application starts");
    let port = app.port();
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let mut test_app = TestApp {
        server: Some((stop, server)),
        admin_token: String::new(),
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::new(),
        db: state.db.clone(),
        metrics: state.db_metrics.clone(),
        state,
        settings,
        _database: database,
    };
    // Empty when the settings under test make signing in impossible (e.g. a zero timeout).
    test_app.admin_token = test_app
        .try_login(ADMIN_USERNAME, ADMIN_PASSWORD)
        .await
        .unwrap_or_default();
    test_app
}

impl TestApp {
    /// Stops the server gracefully, waits `down`, and starts a new one on the same port and
    /// database, as an operator restarting the service would.
    pub async fn restart_after(&mut self, down: std::time::Duration) {
        if let Some((stop, server)) = self.server.take() {
            let _ = stop.send(());
            let _ = server.await;
        }
        tokio::time::sleep(down).await;
        let mut settings = self.settings.clone();
        settings.server.port = self.port;
        let database = self._database.take();
        let fresh = start(settings, None).await;
        self.state = fresh.state.clone();
        self.db = fresh.db.clone();
        self.metrics = fresh.metrics.clone();
        self.server = fresh.server_handle();
        self._database = database;
    }

    fn server_handle(
        mut self,
    ) -> Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    )> {
        self.server.take()
    }

    /// A second server (another replica) on the same database, with the same settings and
    /// its own port. The database belongs to `self` and outlives neither.
    pub async fn spawn_replica(&self) -> TestApp {
        let mut settings = self.settings.clone();
        settings.server.port = 0;
        start(settings, None).await
    }

    /// Waits until `n` event subscriptions are open in this server, so that an event
    /// published next reaches them: the bus's, and the subscribers that joined a shared
    /// stream beyond its first.
    pub async fn wait_for_subscriptions(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let open = self.state.events.subscriptions() + self.state.fanout.followers();
            if open == n {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{open} subscriptions open, expected {n}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// POSTs a GraphQL request as the admin and returns the whole JSON response.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(Some(&self.admin_token), query, variables).await
    }

    /// POSTs a GraphQL request with `token` (none: anonymous).
    pub async fn gql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        response.json().await.expect("JSON response")
    }

    /// Signs in and returns the access token.
    pub async fn login(&self, login: &str, password: &str) -> String {
        match self.try_login(login, password).await {
            Ok(token) => token,
            Err(response) => panic!("login failed: {response}"),
        }
    }

    pub async fn try_login(&self, login: &str, password: &str) -> Result<String, Value> {
        let response = self
            .gql_as(
                None,
                "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { accessToken } }",
                json!({ "l": login, "p": password }),
            )
            .await;
        match response["data"]["login"]["accessToken"].as_str() {
            Some(token) => Ok(token.to_owned()),
            None => Err(response),
        }
    }

    /// Registers a customer; returns its access token and id.
    pub async fn register(&self, username: &str) -> (String, String) {
        let response = self
            .gql_as(
                None,
                "mutation($u: String!, $e: String!) { register(input: { username: $u, email: $e, password: \"customer password\" }) { accessToken customer { id } } }",
                json!({ "u": username, "e": format!("{username}@example.com") }),
            )
            .await;
        let data = &response["data"]["register"];
        (
            data["accessToken"]
                .as_str()
                .unwrap_or_else(|| panic!("register failed: {response}"))
                .to_owned(),
            data["customer"]["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Like [`TestApp::gql_ok`], as `token`.
    pub async fn gql_ok_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self.gql_as(token, query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response:#}"
        );
        response["data"].clone()
    }

    /// Like [`TestApp::gql_err`], as `token`.
    pub async fn gql_err_as(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        code: &str,
    ) -> String {
        let response = self.gql_as(token, query, variables).await;
        let error = &response["errors"][0];
        assert_eq!(error["extensions"]["code"], code, "response: {response:#}");
        error["message"].as_str().unwrap_or_default().to_owned()
    }

    /// Like [`TestApp::gql`], asserting success and returning `data`.
    pub async fn gql_ok(&self, query: &str, variables: Value) -> Value {
        let response = self.gql(query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response:#}"
        );
        response["data"].clone()
    }

    /// Asserts the response failed with `code` and returns its first error message.
    pub async fn gql_err(&self, query: &str, variables: Value, code: &str) -> String {
        let response = self.gql(query, variables).await;
        let error = &response["errors"][0];
        assert_eq!(error["extensions"]["code"], code, "response: {response:#}");
        error["message"].as_str().unwrap_or_default().to_owned()
    }

    /// Rows of `table` matching `where_sql` (a trusted literal in tests).
    pub async fn count_rows(&self, table: &str, where_sql: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {where_sql}");
        let row = self
            .db
            .query_one(Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .expect("count query")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("count")
    }

    /// One column of one row, as text (NULL is `None`).
    pub async fn column_text(&self, table: &str, column: &str, where_sql: &str) -> Option<String> {
        let sql = format!("SELECT CAST({column} AS TEXT) AS v FROM {table} WHERE {where_sql}");
        let row = self
            .db
            .query_one(Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .expect("select")?;
        row.try_get::<Option<String>>("", "v").expect("text value")
    }

    pub fn statements(&self) -> u64 {
        self.metrics.statements()
    }
}

/// Runs each listed `async fn name(backend: Backend)` once on SQLite and once on PostgreSQL,
/// as tests `name::sqlite` and `name::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )+
    };
}
pub(crate) use on_both_backends;
