//! The event bus (DESIGN §6): services persist first, then publish; GraphQL subscriptions
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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use entity::{environment_metrics, gpu_metrics, host_metrics};
use futures_util::future::BoxFuture;
use futures_util::Stream;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::config::{EventBackend, EventSettings, Secret};
use crate::domain::{CommandOrderKind, CommandState, EnvState, HostState, OutputStream};
use crate::services::db;

/// Largest NOTIFY payload we send (PostgreSQL's limit is 8000 bytes).
pub const MAX_PAYLOAD: usize = 7900;

/// Something that happened, after it was stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", content = "v", rename_all = "snake_case")]
pub enum Event {
    #[serde(with = "GpuMetricRow")]
    GpuMetric(gpu_metrics::Model),
    #[serde(with = "HostMetricRow")]
    HostMetric(host_metrics::Model),
    #[serde(with = "EnvironmentMetricRow")]
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

/// Topics of this process: a bounded broadcast channel per topic that has subscribers.
struct LocalTopics {
    channels: Mutex<HashMap<Topic, broadcast::Sender<Arc<Event>>>>,
    buffer: usize,
    topic_buffer: usize,
    stats: EventStats,
}

impl LocalTopics {
    fn new(settings: &EventSettings) -> Arc<Self> {
        Arc::new(Self {
            channels: Mutex::new(HashMap::new()),
            buffer: settings.buffer,
            topic_buffer: settings.topic_buffer,
            stats: EventStats::default(),
        })
    }

    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<Topic, broadcast::Sender<Arc<Event>>>> {
        // A panic while holding the lock leaves the map consistent (inserts and removes are
        // single calls), so a poisoned lock is still usable.
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn deliver(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let channels = self.channels();
        for event in events {
            let topics = event.topics();
            let event = Arc::new(event);
            for topic in topics {
                if let Some(tx) = channels.get(&topic) {
                    // Err only when nobody listens any more; the channel is removed then.
                    let _ = tx.send(event.clone());
                }
            }
        }
    }

    fn subscribe(self: &Arc<Self>, topic: Topic) -> Subscription {
        let rx = {
            let mut channels = self.channels();
            let capacity = if topic.kind == Kind::PrincipalRevoked {
                // One revocation is as good as many: a socket closes at the first.
                1
            } else if topic.key == Key::All {
                self.buffer
            } else {
                self.topic_buffer
            };
            channels
                .entry(topic.clone())
                .or_insert_with(|| broadcast::channel(capacity).0)
                .subscribe()
        };
        Subscription {
            rx: Some(rx),
            topics: self.clone(),
            topic,
        }
    }

    /// Drops the channel of `topic` once its last subscriber is gone.
    fn release(&self, topic: &Topic) {
        let mut channels = self.channels();
        if channels
            .get(topic)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            channels.remove(topic);
        }
    }

    fn subscriptions(&self) -> usize {
        self.channels()
            .iter()
            .filter(|(topic, _)| topic.kind != Kind::PrincipalRevoked)
            .map(|(_, tx)| tx.receiver_count())
            .sum()
    }

    /// Drops every channel: their receivers see the end of the stream.
    fn close(&self) {
        self.channels().clear();
    }
}

/// One subscriber's place in a topic. Dropping it unsubscribes.
pub struct Subscription {
    rx: Option<broadcast::Receiver<Arc<Event>>>,
    topics: Arc<LocalTopics>,
    topic: Topic,
}

impl Subscription {
    /// The next event; events this subscriber was too slow for are skipped and counted.
    pub async fn recv(&mut self) -> Option<Arc<Event>> {
        let rx = self.rx.as_mut()?;
        loop {
            match rx.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    self.topics
                        .stats
                        .lagged
                        .fetch_add(skipped, Ordering::Relaxed);
                    tracing::debug!(skipped, topic = ?self.topic, "slow subscriber skipped events");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is waiting, without waiting; `Err(())` once the bus closed.
    #[allow(clippy::result_unit_err)]
    pub fn try_recv(&mut self) -> Result<Option<Arc<Event>>, ()> {
        let rx = self.rx.as_mut().ok_or(())?;
        loop {
            match rx.try_recv() {
                Ok(event) => return Ok(Some(event)),
                Err(broadcast::error::TryRecvError::Lagged(skipped)) => {
                    self.topics
                        .stats
                        .lagged
                        .fetch_add(skipped, Ordering::Relaxed);
                }
                Err(broadcast::error::TryRecvError::Empty) => return Ok(None),
                Err(broadcast::error::TryRecvError::Closed) => return Err(()),
            }
        }
    }

    pub fn into_stream(self) -> impl Stream<Item = Arc<Event>> + Send + 'static {
        futures_util::stream::unfold(self, |mut sub| async move {
            let event = sub.recv().await?;
            Some((event, sub))
        })
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        self.topics.release(&self.topic);
    }
}

/// Delivers events within this process.
pub struct MemoryBus {
    topics: Arc<LocalTopics>,
}

impl MemoryBus {
    pub fn new(settings: &EventSettings) -> Self {
        Self {
            topics: LocalTopics::new(settings),
        }
    }
}

impl EventBus for MemoryBus {
    fn publish(&self, events: Vec<Event>) -> BoxFuture<'_, ()> {
        self.topics
            .stats
            .published
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        self.topics.deliver(events);
        Box::pin(async {})
    }

    fn subscribe(&self, topic: Topic) -> Subscription {
        self.topics.subscribe(topic)
    }

    fn stats(&self) -> &EventStats {
        &self.topics.stats
    }

    fn subscriptions(&self) -> usize {
        self.topics.subscriptions()
    }

    fn close(&self) {
        self.topics.close();
    }
}

/// What travels in one NOTIFY: the publishing replica and some events.
#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The replica that published (it has delivered to its own subscribers already).
    o: String,
    e: Vec<Event>,
}

/// Packs events into NOTIFY payloads below `max` bytes each. An event too large for one
/// payload on its own (none of ours is) is left out and logged.
fn pack(origin: &str, events: &[Event], max: usize) -> Vec<String> {
    let head = format!("{{\"o\":{},\"e\":[", serde_json::Value::from(origin));
    let tail = "]}";
    let mut payloads = Vec::new();
    let mut current = head.clone();
    let mut empty = true;
    for event in events {
        let json = match serde_json::to_string(event) {
            Ok(j) => j,
            Err(err) => {
                tracing::error!(error = %err, "cannot serialize an event");
                continue;
            }
        };
        if head.len() + json.len() + tail.len() > max {
            tracing::warn!(bytes = json.len(), "event too large for NOTIFY; local only");
            continue;
        }
        let extra = json.len() + usize::from(!empty);
        if current.len() + extra + tail.len() > max {
            current.push_str(tail);
            payloads.push(std::mem::replace(&mut current, head.clone()));
            empty = true;
        }
        if !empty {
            current.push(',');
        }
        current.push_str(&json);
        empty = false;
    }
    if !empty {
        current.push_str(tail);
        payloads.push(current);
    }
    payloads
}

/// Delivers events within this process and, through PostgreSQL `LISTEN/NOTIFY`, to every
/// other replica on the same database.
pub struct PgBus {
    topics: Arc<LocalTopics>,
    db: DatabaseConnection,
    channel: String,
    origin: String,
}

impl PgBus {
    /// Starts listening (on a connection of its own) before it returns, so that events
    /// published by other replicas from now on are delivered here. The listener stops when
    /// `shutdown` turns true.
    pub async fn start(
        db: DatabaseConnection,
        url: &Secret,
        settings: &EventSettings,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, DbErr> {
        let topics = LocalTopics::new(settings);
        let origin = uuid::Uuid::new_v4().simple().to_string();
        let mut listener = db::pg_listen(url, &settings.channel).await?;
        let (task_topics, task_origin) = (topics.clone(), origin.clone());
        tokio::spawn(async move {
            let mut shutdown = shutdown;
            loop {
                // `try_recv` says when the connection was lost (`Ok(None)`); the next call
                // connects again and listens again (an error while the database is away).
                let received = tokio::select! {
                    r = listener.try_recv() => r,
                    _ = shutdown.changed() => break,
                };
                match received {
                    Ok(Some(notification)) => {
                        receive(&task_topics, &task_origin, notification.payload());
                    }
                    Ok(None) => {
                        task_topics
                            .stats
                            .listener_lost
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            "event listener lost its PostgreSQL connection: listening again; \
                             events other replicas publish until then are missed here"
                        );
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "event listener cannot listen; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Self {
            topics,
            db,
            channel: settings.channel.clone(),
            origin,
        })
    }
}

/// An envelope from PostgreSQL: delivered here unless this replica published it.
fn receive(topics: &LocalTopics, origin: &str, payload: &str) {
    match serde_json::from_str::<Envelope>(payload) {
        Ok(envelope) if envelope.o == origin => {}
        Ok(envelope) => {
            topics
                .stats
                .received_remote
                .fetch_add(envelope.e.len() as u64, Ordering::Relaxed);
            topics.deliver(envelope.e);
        }
        Err(err) => tracing::warn!(error = %err, "ignoring an event payload that does not parse"),
    }
}

impl EventBus for PgBus {
    fn publish(&self, events: Vec<Event>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if events.is_empty() {
                return;
            }
            self.topics
                .stats
                .published
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            let payloads = pack(&self.origin, &events, MAX_PAYLOAD);
            self.topics.deliver(events);
            if let Err(err) = db::pg_notify(&self.db, &self.channel, &payloads).await {
                self.topics
                    .stats
                    .notify_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %err, "cannot send events to other replicas");
            }
        })
    }

    fn subscribe(&self, topic: Topic) -> Subscription {
        self.topics.subscribe(topic)
    }

    fn stats(&self) -> &EventStats {
        &self.topics.stats
    }

    fn subscriptions(&self) -> usize {
        self.topics.subscriptions()
    }

    fn close(&self) {
        self.topics.close();
    }
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

/// serde for the generated `gpu_metrics` model (entities are generated without serde).
#[derive(Serialize, Deserialize)]
#[serde(remote = "gpu_metrics::Model")]
struct GpuMetricRow {
    id: i64,
    gpu_id: i64,
    host_id: String,
    utilization_percent: Option<f64>,
    memory_used: Option<i64>,
    memory_usage_percent: Option<f64>,
    temperature: Option<f64>,
    power_draw: Option<f64>,
    fan_speed_percent: Option<f64>,
    sm_clock: Option<i32>,
    memory_clock: Option<i32>,
    process_count: Option<i32>,
    collected_at: Option<NaiveDateTime>,
}

/// serde for the generated `environment_metrics` model.
#[derive(Serialize, Deserialize)]
#[serde(remote = "environment_metrics::Model")]
struct EnvironmentMetricRow {
    id: i64,
    env_id: String,
    cpu_usage_percent: Option<f64>,
    memory_usage_percent: Option<f64>,
    gpu_usage_percent: Option<f64>,
    network_rx_bytes: Option<i64>,
    network_tx_bytes: Option<i64>,
    collected_at: Option<NaiveDateTime>,
}

/// serde for the generated `host_metrics` model.
#[derive(Serialize, Deserialize)]
#[serde(remote = "host_metrics::Model")]
struct HostMetricRow {
    id: i64,
    host_id: String,
    cpu_usage_percent: Option<f64>,
    cpu_load_1m: Option<f64>,
    cpu_load_5m: Option<f64>,
    cpu_load_15m: Option<f64>,
    memory_used: Option<i64>,
    memory_available: Option<i64>,
    memory_usage_percent: Option<f64>,
    disk_used: Option<i64>,
    disk_available: Option<i64>,
    disk_usage_percent: Option<f64>,
    disk_io_read_bytes: Option<i64>,
    disk_io_write_bytes: Option<i64>,
    network_rx_bytes: Option<i64>,
    network_tx_bytes: Option<i64>,
    network_rx_packets: Option<i64>,
    network_tx_packets: Option<i64>,
    gpu_avg_utilization: Option<f64>,
    gpu_avg_memory_used: Option<i64>,
    gpu_avg_temperature: Option<f64>,
    gpu_avg_power: Option<f64>,
    collected_at: Option<NaiveDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(buffer: usize) -> EventSettings {
        EventSettings {
            backend: EventBackend::Memory,
            buffer,
            topic_buffer: buffer,
            channel: "test".into(),
        }
    }

    fn sample(id: i64, host: &str, gpu: i64) -> Event {
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

    #[tokio::test]
    async fn subscribers_get_their_topic_only_and_late_ones_no_replay() {
        let bus = MemoryBus::new(&settings(16));
        let mut all = bus.subscribe(Topic::new(Kind::GpuMetrics, Key::All));
        let mut host_a = bus.subscribe(Topic::new(Kind::GpuMetrics, Key::Host("a".into())));
        bus.publish(vec![sample(1, "a", 1), sample(2, "b", 2)])
            .await;
        let mut late = bus.subscribe(Topic::new(Kind::GpuMetrics, Key::All));
        bus.publish(vec![sample(3, "b", 2)]).await;

        let ids = |e: Arc<Event>| match &*e {
            Event::GpuMetric(m) => m.id,
            _ => -1,
        };
        assert_eq!(ids(all.recv().await.unwrap()), 1);
        assert_eq!(ids(all.recv().await.unwrap()), 2);
        assert_eq!(ids(all.recv().await.unwrap()), 3);
        assert_eq!(ids(host_a.recv().await.unwrap()), 1);
        assert_eq!(ids(late.recv().await.unwrap()), 3);
        assert_eq!(bus.subscriptions(), 3);
        drop((all, host_a, late));
        assert_eq!(bus.subscriptions(), 0);
        assert!(bus.topics.channels().is_empty(), "channels released");
    }

    #[tokio::test]
    async fn a_slow_subscriber_skips_the_oldest_and_is_counted() {
        let bus = MemoryBus::new(&settings(4));
        let mut slow = bus.subscribe(Topic::new(Kind::GpuMetrics, Key::All));
        bus.publish((1..=10).map(|i| sample(i, "a", 1)).collect())
            .await;
        let Event::GpuMetric(first) = &*slow.recv().await.unwrap() else {
            panic!("a GPU metric");
        };
        assert_eq!(first.id, 7, "the newest 4 are kept");
        assert_eq!(bus.stats().lagged(), 6);
    }

    #[test]
    fn payloads_stay_under_the_limit_and_round_trip() {
        let events: Vec<Event> = (0..200).map(|i| sample(i, "host-x", i)).collect();
        let payloads = pack("me", &events, MAX_PAYLOAD);
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() <= MAX_PAYLOAD, "{} bytes", p.len());
            let envelope: Envelope = serde_json::from_str(p).unwrap();
            assert_eq!(envelope.o, "me");
            back.extend(envelope.e);
        }
        assert_eq!(back, events);
    }

    #[test]
    fn own_envelopes_are_not_delivered_twice() {
        let topics = LocalTopics::new(&settings(8));
        let mut sub = topics.subscribe(Topic::new(Kind::GpuMetrics, Key::All));
        let mine = pack("me", &[sample(1, "a", 1)], MAX_PAYLOAD);
        receive(&topics, "me", &mine[0]);
        let theirs = pack("other", &[sample(2, "a", 1)], MAX_PAYLOAD);
        receive(&topics, "me", &theirs[0]);
        let event = sub.rx.as_mut().unwrap().try_recv().unwrap();
        assert!(matches!(&*event, Event::GpuMetric(m) if m.id == 2));
        assert!(sub.rx.as_mut().unwrap().try_recv().is_err());
        assert_eq!(topics.stats.received_remote(), 1);
    }

    #[test]
    fn an_order_of_unknown_kind_is_refused_never_run() {
        let topics = LocalTopics::new(&settings(8));
        let mut sub = topics.subscribe(Topic::new(Kind::AgentCommands, Key::Host("h".into())));
        let order = |kind: &str| {
            format!(
                r#"{{"o":"other","e":[{{"k":"agent_command","v":{{"host_id":"h","kind":"{kind}","command_id":"cmd-1"}}}}]}}"#
            )
        };
        receive(&topics, "me", &order("explode"));
        assert!(sub.rx.as_mut().unwrap().try_recv().is_err());
        receive(&topics, "me", &order(CommandOrderKind::Run.as_db()));
        let event = sub.rx.as_mut().unwrap().try_recv().unwrap();
        assert!(matches!(&*event, Event::AgentCommand(o) if o.kind == CommandOrderKind::Run));
    }
}
