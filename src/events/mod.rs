//! The event bus (DESIGN §6, `docs/design.md`): services persist first, then publish; GraphQL subscriptions
//! listen and filter by what their subscriber may see.
//!
//! - [`Event`]: what happened (a stored GPU or host sample, a host or environment status
//!   change). Events carry the stored rows, so a subscriber needs no query to show them.
//! - [`Topic`]: one stream of one kind of event, for everything (`Key::All`) or for one host,
//!   GPU or environment. Publishing an event sends it to each of its topics that has
//!   subscribers; a subscriber listens to the narrowest topic it can, so a dashboard of one
//!   host is not woken by every other host's samples.
//! - [`EventBus`]: [`MemoryBus`] delivers within this process (one server, SQLite);
//!   [`PgBus`] does the same and also carries every event to the other replicas through
//!   PostgreSQL `LISTEN/NOTIFY`, so an agent pushing to replica A reaches a subscriber on
//!   replica B. `events.backend = auto` picks PostgreSQL when the database is PostgreSQL.
//!
//! Delivery is live, not durable: a subscriber gets the events published after it subscribed
//! (no replay; history is in the database). Each topic is a bounded ring buffer
//! (`events.buffer` for the unfiltered streams, `events.topic_buffer` for one host, GPU or
//! environment) shared by its subscribers: publishing never waits for a subscriber, and a
//! subscriber that falls more than a buffer behind skips the oldest events it missed. Skipped
//! events are counted (`remotegpu_events_lagged_total` on `/metrics`); memory stays bounded
//! whatever the subscribers do. A replica whose listening connection to PostgreSQL drops
//! connects and listens again; events published meanwhile are lost for its subscribers, and
//! each such gap is counted (`remotegpu_events_listener_lost_total`).
//!
//! NOTIFY payloads are limited to 8000 bytes: events are sent as JSON arrays packed into
//! payloads below [`MAX_PAYLOAD`], many payloads per statement.
//!
//! Files: this one holds the event model ([`Event`], [`Topic`] and what an event belongs to),
//! the [`EventBus`] trait, its counters and [`build`]; `local.rs` the in-process topics and
//! [`MemoryBus`]; `postgres.rs` [`PgBus`] and its listener; `wire.rs` the NOTIFY payloads
//! (envelopes, packing, the serde form of the stored rows).

mod local;
mod postgres;
mod wire;

pub use local::{MemoryBus, Subscription};
pub use postgres::PgBus;
pub use wire::MAX_PAYLOAD;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::{environment_metrics, gpu_metrics, host_metrics};
use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::{EventBackend, EventSettings, Secret};
use crate::domain::{CommandOrderKind, CommandState, EnvState, HostState, OutputStream};

/// Something that happened, after it was stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", content = "v", rename_all = "snake_case")]
pub enum Event {
    #[serde(with = "wire::GpuMetricRow")]
    GpuMetric(gpu_metrics::Model),
    #[serde(with = "wire::HostMetricRow")]
    HostMetric(host_metrics::Model),
    #[serde(with = "wire::EnvironmentMetricRow")]
    EnvironmentMetric(environment_metrics::Model),
    HostStatus(HostStatusChange),
    EnvironmentStatus(EnvironmentStatusChange),
    /// An order for a host's agent: run a command, or stop one.
    AgentCommand(AgentOrder),
    /// A command's status changed.
    CommandUpdate(CommandChange),
    /// A piece of a running command's output.
    CommandOutput(OutputPiece),
    /// An environment on a host has a new order for that host's agent. Only ids travel
    /// (any replica can load the order from the database), so it always fits a NOTIFY.
    EnvironmentOrder(EnvironmentOrderRef),
    /// A billing account's spend this month, published by every metering pass while
    /// something runs and whenever a limit is crossed or changed.
    Spend(SpendUpdate),
    /// A principal's credentials no longer stand as they were: a customer suspended,
    /// deleted, with a new password or another role; a host's agent token replaced or the
    /// host deleted. Sockets acting as that principal close (`http::ws`).
    PrincipalRevoked(Revocation),
}

/// Whose credentials were revoked: `user:<customer id>` or `agent:<host id>` (see
/// `auth::principal`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revocation {
    pub principal: String,
    pub at: DateTime<Utc>,
}

impl Revocation {
    pub fn customer(id: i64) -> Event {
        Self::of(crate::auth::principal::user_key(id))
    }

    pub fn agent(host_id: &str) -> Event {
        Self::of(crate::auth::principal::agent_key(host_id))
    }

    fn of(principal: String) -> Event {
        Event::PrincipalRevoked(Revocation {
            principal,
            at: Utc::now(),
        })
    }
}

/// A billing account's standing (money as decimal strings, exact).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendUpdate {
    /// `customer:<id>` or `workspace:<id>`.
    pub account: String,
    /// `YYYY-MM` (UTC).
    pub month: String,
    pub spend: String,
    pub limit: Option<String>,
    /// `none`, `warning` (80%) or `limit_reached`.
    pub alert: String,
    pub at: DateTime<Utc>,
}

/// Which environment's order changed; the order itself is read from its row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentOrderRef {
    pub host_id: String,
    pub environment_id: String,
    pub generation: i64,
}

/// What an agent is told to do with a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentOrder {
    pub host_id: String,
    /// An unknown kind does not decode: it is never taken for a run.
    pub kind: CommandOrderKind,
    /// Only the id travels; the receiving replica reads the command from its row.
    pub command_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandChange {
    pub command_id: String,
    pub batch_id: Option<String>,
    pub host_id: String,
    pub status: CommandState,
    pub at: DateTime<Utc>,
}

/// Output as the agent relays it; a chunk larger than a NOTIFY payload travels as several
/// pieces with the same `seq`, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputPiece {
    pub command_id: String,
    pub stream: OutputStream,
    pub seq: i32,
    pub data: String,
}

/// A host's `status` changed (on the wire, the database spellings: `online`, `offline`...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostStatusChange {
    pub host_id: String,
    pub status: HostState,
    pub previous_status: Option<HostState>,
    pub at: DateTime<Utc>,
}

/// An environment's `status` changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentStatusChange {
    pub environment_id: String,
    pub host_id: String,
    pub status: EnvState,
    pub previous_status: Option<EnvState>,
    /// Why it failed, for `failed`.
    #[serde(default)]
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// Which events a subscriber wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    GpuMetrics,
    HostMetrics,
    EnvironmentMetrics,
    HostStatus,
    EnvironmentStatus,
    AgentCommands,
    CommandUpdates,
    CommandOutput,
    EnvironmentOrders,
    Spend,
    /// Revocations of one principal; what a socket listens to, not a live-data stream.
    PrincipalRevoked,
}

/// Whose events: everyone's, or one host's, GPU's or environment's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    All,
    Host(String),
    Gpu(i64),
    Environment(String),
    Command(String),
    Batch(String),
    /// A billing account (`customer:<id>`, `workspace:<id>`).
    Account(String),
    /// A principal (`user:<id>`, `agent:<host id>`).
    Principal(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    pub kind: Kind,
    pub key: Key,
}

impl Topic {
    pub fn new(kind: Kind, key: Key) -> Self {
        Self { kind, key }
    }
}

impl Event {
    /// The topics this event is delivered on.
    pub fn topics(&self) -> Vec<Topic> {
        let all = |kind| Topic::new(kind, Key::All);
        match self {
            Event::GpuMetric(m) => vec![
                all(Kind::GpuMetrics),
                Topic::new(Kind::GpuMetrics, Key::Host(m.host_id.clone())),
                Topic::new(Kind::GpuMetrics, Key::Gpu(m.gpu_id)),
            ],
            Event::HostMetric(m) => vec![
                all(Kind::HostMetrics),
                Topic::new(Kind::HostMetrics, Key::Host(m.host_id.clone())),
            ],
            Event::EnvironmentMetric(m) => vec![
                all(Kind::EnvironmentMetrics),
                Topic::new(Kind::EnvironmentMetrics, Key::Environment(m.env_id.clone())),
            ],
            Event::HostStatus(c) => vec![
                all(Kind::HostStatus),
                Topic::new(Kind::HostStatus, Key::Host(c.host_id.clone())),
            ],
            Event::EnvironmentStatus(c) => vec![
                all(Kind::EnvironmentStatus),
                Topic::new(
                    Kind::EnvironmentStatus,
                    Key::Environment(c.environment_id.clone()),
                ),
            ],
            Event::AgentCommand(o) => vec![Topic::new(
                Kind::AgentCommands,
                Key::Host(o.host_id.clone()),
            )],
            Event::CommandUpdate(c) => {
                let mut topics = vec![
                    all(Kind::CommandUpdates),
                    Topic::new(Kind::CommandUpdates, Key::Host(c.host_id.clone())),
                    Topic::new(Kind::CommandUpdates, Key::Command(c.command_id.clone())),
                ];
                if let Some(batch) = &c.batch_id {
                    topics.push(Topic::new(Kind::CommandUpdates, Key::Batch(batch.clone())));
                }
                topics
            }
            Event::CommandOutput(p) => vec![Topic::new(
                Kind::CommandOutput,
                Key::Command(p.command_id.clone()),
            )],
            Event::EnvironmentOrder(o) => vec![Topic::new(
                Kind::EnvironmentOrders,
                Key::Host(o.host_id.clone()),
            )],
            Event::Spend(u) => vec![Topic::new(Kind::Spend, Key::Account(u.account.clone()))],
            // One principal's (what its sockets listen to), and all of them (what each
            // replica's list of revoked sessions follows: `auth::revocations`).
            Event::PrincipalRevoked(r) => vec![
                Topic::new(Kind::PrincipalRevoked, Key::Principal(r.principal.clone())),
                Topic::new(Kind::PrincipalRevoked, Key::All),
            ],
        }
    }
}

/// Counters exported on `/metrics`.
#[derive(Debug, Default)]
pub struct EventStats {
    published: AtomicU64,
    lagged: AtomicU64,
    received_remote: AtomicU64,
    notify_failures: AtomicU64,
    listener_lost: AtomicU64,
}

impl EventStats {
    /// Events published by this process.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
    /// Events slow subscribers skipped because they fell a whole buffer behind.
    pub fn lagged(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }
    /// Events received from other replicas.
    pub fn received_remote(&self) -> u64 {
        self.received_remote.load(Ordering::Relaxed)
    }
    /// NOTIFY statements that failed (their events reached only this replica).
    pub fn notify_failures(&self) -> u64 {
        self.notify_failures.load(Ordering::Relaxed)
    }
    /// Times the PostgreSQL listening connection was lost (and listened again): events other
    /// replicas published in between did not reach this one's subscribers.
    pub fn listener_lost(&self) -> u64 {
        self.listener_lost.load(Ordering::Relaxed)
    }
}

/// Publishes events and hands out subscriptions.
pub trait EventBus: Send + Sync {
    /// Delivers `events` to the subscribers (of every replica, for a shared bus). Call it
    /// after the data the events describe is committed. Never fails: a delivery problem is
    /// logged and counted, the data is stored anyway.
    fn publish(&self, events: Vec<Event>) -> BoxFuture<'_, ()>;

    /// Events of `topic` published from now on.
    fn subscribe(&self, topic: Topic) -> Subscription;

    fn stats(&self) -> &EventStats;

    /// Open live-data subscriptions in this process (sockets' revocation listeners are not
    /// counted).
    fn subscriptions(&self) -> usize;

    /// Ends every open subscription (on shutdown). Later subscriptions work as usual.
    fn close(&self);
}

/// The bus's counters in Prometheus text format (appended to `/metrics`).
pub fn prometheus(bus: &dyn EventBus) -> String {
    let s = bus.stats();
    format!(
        "# HELP remotegpu_events_published_total Live events published by this process.\n\
         # TYPE remotegpu_events_published_total counter\n\
         remotegpu_events_published_total {}\n\
         # HELP remotegpu_events_lagged_total Events slow subscribers skipped (they fell a buffer behind).\n\
         # TYPE remotegpu_events_lagged_total counter\n\
         remotegpu_events_lagged_total {}\n\
         # HELP remotegpu_events_remote_total Events received from other replicas.\n\
         # TYPE remotegpu_events_remote_total counter\n\
         remotegpu_events_remote_total {}\n\
         # HELP remotegpu_events_notify_failures_total NOTIFY statements that failed.\n\
         # TYPE remotegpu_events_notify_failures_total counter\n\
         remotegpu_events_notify_failures_total {}\n\
         # HELP remotegpu_events_listener_lost_total Times the PostgreSQL LISTEN connection was lost and re-established; events other replicas published meanwhile were missed.\n\
         # TYPE remotegpu_events_listener_lost_total counter\n\
         remotegpu_events_listener_lost_total {}\n\
         # HELP remotegpu_subscriptions Open event subscriptions in this process.\n\
         # TYPE remotegpu_subscriptions gauge\n\
         remotegpu_subscriptions {}\n",
        s.published(),
        s.lagged(),
        s.received_remote(),
        s.notify_failures(),
        s.listener_lost(),
        bus.subscriptions()
    )
}

/// The bus `settings` ask for: `auto` is PostgreSQL on a PostgreSQL database, else memory.
pub async fn build(
    db: &DatabaseConnection,
    url: &Secret,
    settings: &EventSettings,
    shutdown: watch::Receiver<bool>,
) -> Result<Arc<dyn EventBus>, DbErr> {
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let use_postgres = match settings.backend {
        EventBackend::Memory => false,
        EventBackend::Auto => postgres,
        EventBackend::Postgres if postgres => true,
        EventBackend::Postgres => {
            return Err(DbErr::Custom(
                "events.backend = postgres needs a PostgreSQL database".into(),
            ))
        }
    };
    let bus: Arc<dyn EventBus> = if use_postgres {
        Arc::new(PgBus::start(db.clone(), url, settings, shutdown.clone()).await?)
    } else {
        Arc::new(MemoryBus::new(settings))
    };
    let closing = bus.clone();
    let mut shutdown = shutdown;
    tokio::spawn(async move {
        // Err: the application was dropped without a shutdown; nothing is served any more.
        let _ = shutdown.changed().await;
        closing.close();
    });
    Ok(bus)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub fn settings(buffer: usize) -> EventSettings {
        EventSettings {
            backend: EventBackend::Memory,
            buffer,
            topic_buffer: buffer,
            channel: "test".into(),
        }
    }

    pub fn sample(id: i64, host: &str, gpu: i64) -> Event {
        Event::GpuMetric(gpu_metrics::Model {
            id,
            gpu_id: gpu,
            host_id: host.into(),
            utilization_percent: Some(42.5),
            memory_used: Some(1 << 34),
            memory_usage_percent: None,
            temperature: Some(61.0),
            power_draw: None,
            fan_speed_percent: None,
            sm_clock: Some(1980),
            memory_clock: None,
            process_count: Some(2),
            collected_at: Some(
                DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
                    .unwrap()
                    .naive_utc(),
            ),
        })
    }
}
