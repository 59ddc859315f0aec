//! The topics of this process: a bounded broadcast channel per topic that has subscribers,
//! the [`Subscription`] a subscriber holds, and [`MemoryBus`], the bus of a single server.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use futures_util::Stream;
use tokio::sync::broadcast;

use super::{Event, EventBus, EventStats, Key, Kind, Topic};
use crate::config::EventSettings;

/// Topics of this process: a bounded broadcast channel per topic that has subscribers.
pub(super) struct LocalTopics {
    channels: Mutex<HashMap<Topic, broadcast::Sender<Arc<Event>>>>,
    buffer: usize,
    topic_buffer: usize,
    pub(super) stats: EventStats,
}

impl LocalTopics {
    pub(super) fn new(settings: &EventSettings) -> Arc<Self> {
        Arc::new(Self {
            channels: Mutex::new(HashMap::new()),
            buffer: settings.buffer,
            topic_buffer: settings.topic_buffer,
            stats: EventStats::default(),
        })
    }

    pub(super) fn channels(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Topic, broadcast::Sender<Arc<Event>>>> {
        // A panic while holding the lock leaves the map consistent (inserts and removes are
        // single calls), so a poisoned lock is still usable.
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn deliver(&self, events: Vec<Event>) {
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

    pub(super) fn subscribe(self: &Arc<Self>, topic: Topic) -> Subscription {
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
    pub(super) fn release(&self, topic: &Topic) {
        let mut channels = self.channels();
        if channels
            .get(topic)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            channels.remove(topic);
        }
    }

    /// Whether anything here subscribes to a topic of `kind`.
    pub(super) fn listened(&self, kind: Kind) -> bool {
        self.channels().keys().any(|topic| topic.kind == kind)
    }

    pub(super) fn subscriptions(&self) -> usize {
        self.channels()
            .iter()
            .filter(|(topic, _)| topic.kind != Kind::PrincipalRevoked)
            .map(|(_, tx)| tx.receiver_count())
            .sum()
    }

    /// Drops every channel: their receivers see the end of the stream.
    pub(super) fn close(&self) {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{sample, settings};
    use super::*;

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
}
