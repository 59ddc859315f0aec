//! [`PgBus`]: the bus of replicas sharing a PostgreSQL database. It delivers within this
//! process like [`super::MemoryBus`] and sends every event to the other replicas with
//! `NOTIFY`; a listener on a connection of its own delivers theirs here, listens again when
//! its connection drops, and counts each such gap. Stored metric samples travel by id
//! (`wire::SampleRefs`): a replica loads them, in one statement per table and envelope, only
//! while something here subscribes to that series.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use entity::{environment_metrics, gpu_metrics, host_metrics};
use futures_util::future::BoxFuture;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};
use tokio::sync::watch;

use super::local::LocalTopics;
use super::wire::{
    pack, pack_refs, published_by, split_samples, Envelope, SampleRefs, MAX_PAYLOAD,
};
use super::{Event, EventBus, EventStats, Kind, Subscription, Topic};
use crate::config::{EventSettings, Secret};
use crate::db;

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
        let (task_topics, task_origin, task_db) = (topics.clone(), origin.clone(), db.clone());
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
                        let refs = receive(&task_topics, &task_origin, notification.payload());
                        if let Some(refs) = refs {
                            load_samples(&task_db, &task_topics, &refs).await;
                        }
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

/// An envelope from PostgreSQL: its events delivered here unless this replica published
/// it; the stored samples it names, to load (`None` when there are none, or nobody here
/// subscribes to their series).
pub(super) fn receive(topics: &LocalTopics, origin: &str, payload: &str) -> Option<SampleRefs> {
    // Every replica hears its own NOTIFYs too: skip those without parsing them.
    if published_by(payload, origin) {
        return None;
    }
    match serde_json::from_str::<Envelope>(payload) {
        Ok(envelope) if envelope.o == origin => None,
        Ok(envelope) => {
            topics
                .stats
                .received_remote
                .fetch_add(envelope.e.len() as u64, Ordering::Relaxed);
            topics.deliver(envelope.e);
            let mut refs = envelope.r;
            for (runs, kind) in [
                (&mut refs.g, Kind::GpuMetrics),
                (&mut refs.h, Kind::HostMetrics),
                (&mut refs.e, Kind::EnvironmentMetrics),
            ] {
                if !topics.listened(kind) {
                    runs.clear();
                }
            }
            (!refs.is_empty()).then_some(refs)
        }
        Err(err) => {
            tracing::warn!(error = %err, "ignoring an event payload that does not parse");
            None
        }
    }
}

/// Loads the samples `refs` names and delivers them here, in id order per table.
async fn load_samples(db: &DatabaseConnection, topics: &LocalTopics, refs: &SampleRefs) {
    let loaded = async {
        let mut events =
            load::<gpu_metrics::Entity>(db, &refs.g, gpu_metrics::Column::Id, Event::GpuMetric)
                .await?;
        events.extend(
            load::<host_metrics::Entity>(db, &refs.h, host_metrics::Column::Id, Event::HostMetric)
                .await?,
        );
        events.extend(
            load::<environment_metrics::Entity>(
                db,
                &refs.e,
                environment_metrics::Column::Id,
                Event::EnvironmentMetric,
            )
            .await?,
        );
        Ok::<_, DbErr>(events)
    };
    match loaded.await {
        Ok(events) => {
            topics
                .stats
                .received_remote
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            topics.deliver(events);
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot load samples another replica stored; skipped");
        }
    }
}

/// The rows of `E` whose `id` is in `runs`, as events.
async fn load<E: EntityTrait>(
    db: &DatabaseConnection,
    runs: &[(i64, u32)],
    id: E::Column,
    event: fn(E::Model) -> Event,
) -> Result<Vec<Event>, DbErr> {
    let ids = SampleRefs::ids(runs);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = E::find()
        .filter(id.is_in(ids))
        .order_by_asc(id)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(event).collect())
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
            let (refs, others) = split_samples(&events);
            let mut payloads = pack(&self.origin, &others, MAX_PAYLOAD);
            payloads.extend(pack_refs(&self.origin, &refs, MAX_PAYLOAD));
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{sample, settings};
    use super::super::{Key, Kind};
    use super::*;
    use crate::domain::CommandOrderKind;

    #[test]
    fn own_envelopes_are_not_delivered_twice() {
        let topics = LocalTopics::new(&settings(8));
        let mut sub = topics.subscribe(Topic::new(Kind::GpuMetrics, Key::All));
        // Samples in full (as a replica of an earlier version sends them) are delivered too.
        let mine = pack("me", &[&sample(1, "a", 1)], MAX_PAYLOAD);
        receive(&topics, "me", &mine[0]);
        let theirs = pack("other", &[&sample(2, "a", 1)], MAX_PAYLOAD);
        receive(&topics, "me", &theirs[0]);
        let event = sub.try_recv().unwrap().unwrap();
        assert!(matches!(&*event, Event::GpuMetric(m) if m.id == 2));
        assert!(sub.try_recv().unwrap().is_none());
        assert_eq!(topics.stats.received_remote(), 1);
    }

    #[test]
    fn samples_by_id_are_loaded_only_for_series_someone_here_follows() {
        let topics = LocalTopics::new(&settings(8));
        let (refs, _) = split_samples(&[sample(7, "a", 1), sample(8, "a", 1)]);
        let theirs = pack_refs("other", &refs, MAX_PAYLOAD);
        assert_eq!(
            receive(&topics, "me", &theirs[0]),
            None,
            "nobody follows GPU samples"
        );
        let _hosts = topics.subscribe(Topic::new(Kind::HostMetrics, Key::All));
        assert_eq!(
            receive(&topics, "me", &theirs[0]),
            None,
            "host samples are another series"
        );
        let _gpus = topics.subscribe(Topic::new(Kind::GpuMetrics, Key::Host("a".into())));
        let wanted = receive(&topics, "me", &theirs[0]).expect("to load");
        assert_eq!(SampleRefs::ids(&wanted.g), vec![7, 8]);
        let mine = pack_refs("me", &refs, MAX_PAYLOAD);
        assert_eq!(receive(&topics, "me", &mine[0]), None, "its own");
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
        assert!(sub.try_recv().unwrap().is_none());
        receive(&topics, "me", &order(CommandOrderKind::Run.as_db()));
        let event = sub.try_recv().unwrap().unwrap();
        assert!(matches!(&*event, Event::AgentCommand(o) if o.kind == CommandOrderKind::Run));
    }
}
