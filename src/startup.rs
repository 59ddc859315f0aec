//! Builds the application from settings: connects, migrates, binds the port (0 picks a free
//! one, which `port()` reports) and serves until SIGINT/SIGTERM. Accepted sockets get
//! TCP_NODELAY.

use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use migration::MigratorTrait;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::jwt::{self, JwtKeys};
use crate::auth::RevokedSessions;
use crate::config::Settings;
use crate::db::{self, DbMetrics};
use crate::graphql::fanout::Fanout;
use crate::graphql::schema::build_schema;
use crate::services::accounts;
use crate::state::AppState;
use crate::{events, http, jobs};

pub struct Application {
    port: u16,
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    /// Turns true on shutdown: stops the jobs and the event listener, ends subscriptions.
    shutdown: watch::Sender<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("settings: {0}")]
    Settings(#[from] crate::config::ConfigError),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("auth: {0}")]
    Auth(#[from] jwt::SecretError),
    #[error("bootstrap admin: {0}")]
    Bootstrap(#[from] crate::error::AppError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        settings.validate()?;
        let secret =
            jwt::load_or_create_secret(settings.auth.jwt_secret.as_ref(), &settings.data_dir)?;
        let jwt = Arc::new(JwtKeys::new(&secret, &settings.auth)?);
        let db_metrics = Arc::new(DbMetrics::default());
        if settings.database.migrate_on_start {
            // On a connection of its own, closed before the pool opens: a SQLite connection
            // that stays open across a schema change can misname the new columns in
            // `RETURNING` (seen as quoted names after `ADD COLUMN`).
            // Migrations may take long: no statement timeout on this one.
            let once = db::connect(&settings.database_url(), 1, None, db_metrics.clone()).await?;
            migrate(&once).await?;
            once.close().await?;
        }
        let db = db::connect(
            &settings.database_url(),
            settings.database.max_connections,
            Some(Duration::from_millis(
                settings.database.statement_timeout_ms,
            )),
            db_metrics.clone(),
        )
        .await?;
        if let Some(admin) = &settings.auth.bootstrap_admin {
            accounts::ensure_admin(&db, &admin.username, &admin.email, admin.password.expose())
                .await?;
        }
        let addr = std::net::SocketAddr::new(settings.server.host, settings.server.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: addr.to_string(),
                source,
            })?
            .port();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let events =
            events::build(&db, &settings.database_url(), &settings.events, shutdown_rx).await?;
        // Listens before the first request, so no revocation from now on is missed here.
        let revoked = Arc::new(RevokedSessions::new(
            settings.auth.access_ttl_secs + i64::try_from(settings.auth.leeway_secs).unwrap_or(0),
        ));
        revoked.follow(events.as_ref());
        let state = AppState {
            db,
            db_metrics,
            settings: Arc::new(settings),
            jwt,
            events,
            fanout: Fanout::new(),
            login_throttle: Default::default(),
            revoked,
        };
        let schema = build_schema(state.clone());
        let router = http::router(state.clone(), schema);
        Ok(Self {
            port,
            listener,
            router,
            state,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Starts the background jobs and serves until SIGINT or SIGTERM; then stops the jobs,
    /// ends the subscriptions and lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Like [`Application::run_until_stopped`], stopping when `stop` completes instead of on
    /// a signal (embedding, tests).
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(port = self.port, "listening");
        let jobs = if self.state.settings.jobs.enabled {
            jobs::spawn(&self.state, &self.shutdown.subscribe())
        } else {
            Vec::new()
        };
        let shutdown = self.shutdown;
        // Answers and live messages are small writes that must leave at once: without
        // TCP_NODELAY, Nagle's algorithm holds one back until the peer's delayed ACK (tens
        // of milliseconds).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "cannot set TCP_NODELAY on an accepted socket");
            }
        });
        let served = axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            stop.await;
            let _ = shutdown.send(true);
        })
        .await;
        for job in jobs {
            let _ = job.await;
        }
        served
    }
}

/// Applies pending migrations (start-up and `remotegpu migrate`).
pub async fn migrate(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    migration::Migrator::up(db, None).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
