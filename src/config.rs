//! Layered configuration: built-in defaults, then an optional TOML file, then
//! `DATABASE_URL`, then `REMOTEGPU_`-prefixed environment variables (nested keys with `__`,
//! e.g. `REMOTEGPU_SERVER__PORT=9000`, `REMOTEGPU_DATABASE__URL=postgres://...`).
//!
//! Secrets (the database URL may carry a password) are wrapped in [`Secret`], whose `Debug`
//! and `Display` never print the value, so logging a `Settings` is safe.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// A value that must never reach a log line.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    /// Where the embedded SQLite database (and later other local state) lives.
    pub data_dir: PathBuf,
    pub graphql: GraphqlSettings,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
    pub websocket: WebSocketSettings,
    pub log: LogSettings,
    pub events: EventSettings,
    pub agents: AgentSettings,
    pub jobs: JobSettings,
    pub metrics: MetricSettings,
    pub commands: CommandSettings,
    pub environments: LifecycleSettings,
    pub console: ConsoleSettings,
}

/// The environment lifecycle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LifecycleSettings {
    /// An environment whose order (create, start, stop, delete) its agent has not carried
    /// out within this long ends `failed` (a delete: `deleted`), its reservation released:
    /// its host or agent is gone. Generous, for slow image pulls.
    pub order_timeout_secs: i64,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self {
            order_timeout_secs: 1800,
        }
    }
}

/// The web console (see `http::console`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsoleSettings {
    /// The console's build (`index.html`, `graphiql.html`, `assets/`), relative to the working
    /// directory unless absolute. `cargo build` writes it to `console/dist`.
    pub dir: PathBuf,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("console/dist"),
        }
    }
}

/// Remote commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandSettings {
    /// A command never sent to its host's agent within this long ends `timeout`.
    pub delivery_timeout_secs: i64,
    /// A running command whose agent has not reported this long after its own time limit
    /// ends `timeout` (the agent or its host is gone).
    pub report_grace_secs: i64,
}

impl Default for CommandSettings {
    fn default() -> Self {
        Self {
            delivery_timeout_secs: 600,
            report_grace_secs: 120,
        }
    }
}

/// Where live events (metrics, status changes) travel between publishers and subscribers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventSettings {
    /// `auto` (PostgreSQL LISTEN/NOTIFY when the database is PostgreSQL, else in-process),
    /// `memory` (this process only) or `postgres`.
    pub backend: EventBackend,
    /// Events buffered for the subscribers of one unfiltered stream (e.g. all GPU metrics).
    /// A subscriber that falls further behind skips the oldest ones (counted as lagged).
    pub buffer: usize,
    /// The same for the stream of one host, GPU or environment.
    pub topic_buffer: usize,
    /// The PostgreSQL channel used by the `postgres` backend.
    pub channel: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EventBackend {
    Auto,
    Memory,
    Postgres,
}

/// What the server expects of node agents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentSettings {
    /// A host whose last heartbeat is older than this is marked offline (3 agent intervals).
    pub offline_after_secs: u64,
    /// Most samples (host + GPU) in one `reportMetrics` batch.
    pub max_batch_samples: usize,
}

/// Background jobs (`src/jobs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobSettings {
    /// Run the jobs in this process (every replica may run them; they are idempotent).
    pub enabled: bool,
    pub offline_check_interval_secs: u64,
    pub rollup_interval_secs: u64,
    pub command_check_interval_secs: u64,
    /// Metering, invoices, spend limits and idle auto-stop (`jobs::billing`).
    #[serde(default = "default_billing_interval")]
    pub billing_interval_secs: u64,
}

fn default_billing_interval() -> u64 {
    60
}

/// Metric history: how long each resolution is kept, and how late samples may arrive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricSettings {
    pub raw_retention_days: i64,
    pub hourly_retention_days: i64,
    pub daily_retention_days: i64,
    /// Completed hours this recent are rolled up again on every run, so samples an agent
    /// delivers late (after an outage) still count.
    pub rollup_lateness_secs: i64,
}

/// Abuse limits, on by default.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LimitSettings {
    /// Characters in one query document.
    pub max_query_chars: usize,
    /// Aliased fields in one operation.
    pub max_aliases: usize,
    /// Directives on one field.
    pub max_directives: usize,
    /// Operations in one batched HTTP request (`[{...}, {...}]`).
    pub max_batch: usize,
    /// Sustained requests per second per principal (per client address when anonymous).
    pub rate_per_second: f64,
    /// Requests a principal may make in a burst above the sustained rate.
    pub rate_burst: f64,
    /// A request still running after this long is abandoned.
    pub request_timeout_ms: u64,
    /// Open workspace invitations one person may have sent at once (over all workspaces).
    pub max_pending_invitations_per_inviter: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_query_chars: 20_000,
            max_aliases: 30,
            max_directives: 5,
            max_batch: 10,
            rate_per_second: 50.0,
            rate_burst: 200.0,
            request_timeout_ms: 30_000,
            max_pending_invitations_per_inviter: 20,
        }
    }
}

/// `/graphql/ws` limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebSocketSettings {
    /// `connection_init` must arrive within this long (else close 4408).
    pub init_timeout_ms: u64,
    /// Interval of server pings (`ping` / legacy `ka`).
    pub keepalive_ms: u64,
    /// Operations running at once on one connection.
    pub max_subscriptions: usize,
    /// Largest client message; larger ones close the connection (1009).
    pub max_message_bytes: usize,
    /// Messages queued for one connection before its operations wait.
    pub queue_len: usize,
    /// Sockets one client address may hold open at once; more upgrades get HTTP 429.
    pub max_connections_per_address: usize,
}

impl Default for WebSocketSettings {
    fn default() -> Self {
        Self {
            init_timeout_ms: 5_000,
            keepalive_ms: 15_000,
            max_subscriptions: 100,
            max_message_bytes: 64 * 1024,
            queue_len: 256,
            max_connections_per_address: 64,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthSettings {
    /// HS256 key for access tokens, at least 32 bytes. Without one, a random secret is
    /// generated once and kept in `data_dir/jwt_secret` (development only).
    pub jwt_secret: Option<Secret>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    /// The absolute lifetime of a sign-in: refreshing rotates the refresh token and extends
    /// it by `refresh_ttl_secs`, never past this long after the login that began it.
    pub refresh_family_ttl_secs: i64,
    /// Clock skew tolerated when checking `exp`.
    pub leeway_secs: u64,
    /// Creates this admin at start-up when no customer has its username (idempotent).
    pub bootstrap_admin: Option<BootstrapAdmin>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootstrapAdmin {
    pub username: String,
    pub email: String,
    pub password: Secret,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            issuer: "remotegpu".into(),
            audience: "remotegpu-api".into(),
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            refresh_family_ttl_secs: 90 * 24 * 3600,
            leeway_secs: 5,
            bootstrap_admin: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerSettings {
    pub host: IpAddr,
    /// 0 asks the OS for a free port; the bound port is reported by `Application::port`.
    pub port: u16,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <token>`
    /// (others get 401).
    #[serde(default)]
    pub metrics_token: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseSettings {
    /// `postgres://...` or `sqlite://...`. Empty means the SQLite file `remotegpu.db` under
    /// `data_dir`.
    pub url: Option<Secret>,
    pub max_connections: u32,
    /// Run pending migrations when the server starts.
    pub migrate_on_start: bool,
    /// PostgreSQL cancels any statement of the pool that runs longer (`statement_timeout`;
    /// the error is TIMEOUT). 0 turns it off. SQLite has no such setting: there the request
    /// timeout (`limits.request_timeout_ms`) bounds the work.
    pub statement_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphqlSettings {
    /// Serve GraphiQL on `GET /graphql`.
    pub graphiql: bool,
    pub introspection: bool,
    /// "Did you mean ...?" hints in validation errors.
    pub suggestions: bool,
    pub max_depth: usize,
    pub max_complexity: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogSettings {
    /// `tracing-subscriber` filter, e.g. `info,sea_orm=warn`; `RUST_LOG` wins when set.
    pub filter: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings {
                host: IpAddr::from([127, 0, 0, 1]),
                port: 8080,
                // A command's finished report carries up to 1 MiB of stdout and of stderr.
                max_body_bytes: 4 * 1024 * 1024,
                metrics_token: None,
            },
            database: DatabaseSettings {
                url: None,
                max_connections: 10,
                migrate_on_start: true,
                statement_timeout_ms: 60_000,
            },
            data_dir: PathBuf::from("data"),
            graphql: GraphqlSettings {
                graphiql: true,
                introspection: true,
                suggestions: true,
                max_depth: 12,
                max_complexity: 5000,
            },
            auth: AuthSettings::default(),
            limits: LimitSettings::default(),
            websocket: WebSocketSettings::default(),
            log: LogSettings {
                filter: "info,sqlx=warn,sea_orm=warn".into(),
                format: LogFormat::Text,
            },
            events: EventSettings {
                backend: EventBackend::Auto,
                buffer: 4096,
                topic_buffer: 256,
                channel: "remotegpu_events".into(),
            },
            agents: AgentSettings {
                offline_after_secs: 30,
                max_batch_samples: 5000,
            },
            jobs: JobSettings {
                enabled: true,
                offline_check_interval_secs: 5,
                rollup_interval_secs: 300,
                command_check_interval_secs: 10,
                billing_interval_secs: default_billing_interval(),
            },
            metrics: MetricSettings {
                raw_retention_days: 7,
                hourly_retention_days: 90,
                daily_retention_days: 365,
                rollup_lateness_secs: 2 * 3600,
            },
            commands: CommandSettings::default(),
            environments: LifecycleSettings::default(),
            console: ConsoleSettings::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Settings {
    /// Loads the layers. `file` is the `--config` path; without one, `remotegpu.toml` in the
    /// working directory is read when present.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        figment = match file {
            Some(path) => figment.merge(Toml::file_exact(path)),
            None => figment.merge(Toml::file("remotegpu.toml")),
        };
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if !url.is_empty() {
                figment = figment.merge(Serialized::default("database.url", url));
            }
        }
        figment = figment.merge(Env::prefixed("REMOTEGPU_").split("__"));
        let settings: Settings = figment.extract().map_err(|e| ConfigError(Box::new(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what the types alone cannot, so that a zero buffer, interval or limit, or a
    /// negative duration, stops the server at start with the setting's name instead of
    /// being clamped (or panicking) where it is used. Every problem is listed at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems: Vec<String> = Vec::new();
        let mut positive = |name: &str, value: f64| {
            if !(value.is_finite() && value > 0.0) {
                problems.push(format!("{name} must be greater than 0 (it is {value})"));
            }
        };
        let (l, w, j, e) = (&self.limits, &self.websocket, &self.jobs, &self.events);
        #[allow(clippy::cast_precision_loss)] // settings are small; only the sign matters
        for (name, value) in [
            ("server.max_body_bytes", self.server.max_body_bytes as f64),
            (
                "database.max_connections",
                f64::from(self.database.max_connections),
            ),
            ("graphql.max_depth", self.graphql.max_depth as f64),
            ("graphql.max_complexity", self.graphql.max_complexity as f64),
            ("auth.access_ttl_secs", self.auth.access_ttl_secs as f64),
            ("auth.refresh_ttl_secs", self.auth.refresh_ttl_secs as f64),
            (
                "auth.refresh_family_ttl_secs",
                self.auth.refresh_family_ttl_secs as f64,
            ),
            ("limits.max_query_chars", l.max_query_chars as f64),
            ("limits.max_batch", l.max_batch as f64),
            ("limits.rate_per_second", l.rate_per_second),
            ("limits.rate_burst", l.rate_burst),
            ("limits.request_timeout_ms", l.request_timeout_ms as f64),
            (
                "limits.max_pending_invitations_per_inviter",
                l.max_pending_invitations_per_inviter as f64,
            ),
            ("websocket.init_timeout_ms", w.init_timeout_ms as f64),
            ("websocket.keepalive_ms", w.keepalive_ms as f64),
            ("websocket.max_subscriptions", w.max_subscriptions as f64),
            ("websocket.max_message_bytes", w.max_message_bytes as f64),
            ("websocket.queue_len", w.queue_len as f64),
            (
                "websocket.max_connections_per_address",
                w.max_connections_per_address as f64,
            ),
            ("events.buffer", e.buffer as f64),
            ("events.topic_buffer", e.topic_buffer as f64),
            (
                "agents.offline_after_secs",
                self.agents.offline_after_secs as f64,
            ),
            (
                "agents.max_batch_samples",
                self.agents.max_batch_samples as f64,
            ),
            (
                "jobs.offline_check_interval_secs",
                j.offline_check_interval_secs as f64,
            ),
            ("jobs.rollup_interval_secs", j.rollup_interval_secs as f64),
            (
                "jobs.command_check_interval_secs",
                j.command_check_interval_secs as f64,
            ),
            ("jobs.billing_interval_secs", j.billing_interval_secs as f64),
            (
                "metrics.raw_retention_days",
                self.metrics.raw_retention_days as f64,
            ),
            (
                "metrics.hourly_retention_days",
                self.metrics.hourly_retention_days as f64,
            ),
            (
                "metrics.daily_retention_days",
                self.metrics.daily_retention_days as f64,
            ),
            (
                "commands.delivery_timeout_secs",
                self.commands.delivery_timeout_secs as f64,
            ),
            (
                "environments.order_timeout_secs",
                self.environments.order_timeout_secs as f64,
            ),
        ] {
            positive(name, value);
        }
        for (name, value) in [
            (
                "metrics.rollup_lateness_secs",
                self.metrics.rollup_lateness_secs,
            ),
            (
                "commands.report_grace_secs",
                self.commands.report_grace_secs,
            ),
        ] {
            if value < 0 {
                problems.push(format!("{name} must not be negative (it is {value})"));
            }
        }
        if self.auth.refresh_ttl_secs < self.auth.access_ttl_secs {
            problems.push("auth.refresh_ttl_secs must be at least auth.access_ttl_secs".into());
        }
        if self.auth.refresh_family_ttl_secs < self.auth.refresh_ttl_secs {
            problems
                .push("auth.refresh_family_ttl_secs must be at least auth.refresh_ttl_secs".into());
        }
        if self.console.dir.as_os_str().is_empty() {
            problems.push("console.dir must name a directory".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            let err = figment::Error::from(format!("invalid settings: {}", problems.join("; ")));
            Err(ConfigError(Box::new(err)))
        }
    }

    /// The database URL to connect to: the configured one, or the default SQLite file.
    pub fn database_url(&self) -> Secret {
        match &self.database.url {
            Some(url) if !url.expose().is_empty() => url.clone(),
            _ => Secret::new(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("remotegpu.db").display()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_printed() {
        let s = Secret::new("postgres://u:hunter2@db/x");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        let mut settings = Settings::default();
        settings.database.url = Some(s);
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(Settings::default().validate().is_ok());
        let mut s = Settings::default();
        s.events.buffer = 0;
        s.commands.delivery_timeout_secs = -5;
        s.metrics.rollup_lateness_secs = -1;
        s.limits.rate_per_second = f64::NAN;
        let err = s.validate().map(|_| ()).map_err(|e| e.to_string());
        let Err(err) = err else {
            panic!("invalid settings accepted")
        };
        for name in [
            "events.buffer",
            "commands.delivery_timeout_secs",
            "metrics.rollup_lateness_secs",
            "limits.rate_per_second",
        ] {
            assert!(err.contains(name), "{name} not named in: {err}");
        }
    }

    #[test]
    fn default_database_is_sqlite_under_data_dir() {
        let settings = Settings::default();
        let url = settings.database_url();
        assert!(url.expose().starts_with("sqlite://"));
        assert!(url.expose().contains("remotegpu.db"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature
    fn file_layer_is_read_and_env_overrides_it() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "custom.toml",
                "[server]\nport = 9001\n[graphql]\ngraphiql = false\n",
            )?;
            let s = Settings::load(Some(Path::new("custom.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.server.port, 9001);
            assert!(!s.graphql.graphiql);
            jail.set_env("REMOTEGPU_SERVER__PORT", "9002");
            jail.set_env("DATABASE_URL", "postgres://localhost/x");
            let s = Settings::load(Some(Path::new("custom.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.server.port, 9002);
            assert_eq!(s.database_url().expose(), "postgres://localhost/x");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature
    fn console_dir_defaults_to_the_build_and_must_not_be_empty() {
        figment::Jail::expect_with(|jail| {
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.console.dir, PathBuf::from("console/dist"));
            jail.set_env("REMOTEGPU_CONSOLE__DIR", "/srv/remotegpu/console");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.console.dir, PathBuf::from("/srv/remotegpu/console"));
            jail.set_env("REMOTEGPU_CONSOLE__DIR", "");
            let err = Settings::load(None).map(|_| ()).unwrap_err();
            assert!(err.to_string().contains("console.dir"), "{err}");
            Ok(())
        });
    }
}
