//! Shared subscription streams: subscribers of the same live operation, with the same
//! variables and the same principal, share one resolution and one serialized payload per
//! event (multiplexing, as Hasura does for its live queries).
//!
//! A WebSocket `subscribe` (`http::ws`) asks [`share_key`] whether its operation may be
//! shared: a subscription whose root fields are all pure event streams
//! ([`SHAREABLE_FIELDS`]: no replay on start, no side effect such as the agents' at-least-once
//! command feed), without extensions. Such operations join the [`Fanout`] under a
//! [`ShareKey`] of principal, document, operation name and variables. The principal is the
//! visibility key: what a stream delivers depends only on who asks and the database at the
//! time of the event (`graphql::live::deliver`), so two subscribers with the same key receive
//! the same payloads. The first subscriber starts the stream (one bus subscription, one
//! resolution per event); later ones are added to its subscriber list and get what it
//! resolves from then on, like a fresh subscription would.
//!
//! Each resolved response is serialized once ([`Delivery`]) and handed to every subscriber's
//! connection queue as a [`Frame`] (an `Arc` clone; the connection writes its operation id
//! and protocol around it). Handing over never waits: a connection whose queue is full skips
//! that event for its subscriber and it is counted (`remotegpu_fanout_skipped_total`), the
//! same rule as the bus's for slow subscribers, so one slow client holds back nobody. The end
//! of a stream (`complete`) is always delivered. A stream stops, and leaves the bus, when its
//! last subscriber leaves ([`Membership`] is dropped).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
use async_graphql::{Request, Response};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::auth::Principal;

/// Root subscription fields that only relay events published after they start, so that a
/// late subscriber joining a running stream misses nothing it would have seen alone.
pub const SHAREABLE_FIELDS: &[&str] = &[
    "gpuMetrics",
    "hostMetrics",
    "environmentMetrics",
    "hostStatus",
    "environmentStatus",
    "commandOutput",
    "commandUpdates",
    "spendUpdates",
];

/// Subscribers with equal keys share a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShareKey {
    principal: Principal,
    query: String,
    operation_name: Option<String>,
    variables: String,
}

/// The key under which `request`, run as `principal`, may share a stream; `None` when it
/// must run alone (not a subscription, a root field that is not a pure event stream, a
/// document that does not parse, extensions or uploads).
pub fn share_key(principal: &Principal, request: &Request) -> Option<ShareKey> {
    if !request.extensions.is_empty() || !request.uploads.is_empty() {
        return None;
    }
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    let operation = match (&document.operations, &request.operation_name) {
        (DocumentOperations::Single(op), None) => op,
        (DocumentOperations::Single(_), Some(_)) => return None,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name.as_str())?,
        // A named operation alone in its document runs without naming it.
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    if operation.node.ty != OperationType::Subscription {
        return None;
    }
    let items = &operation.node.selection_set.node.items;
    let pure = !items.is_empty()
        && items.iter().all(|item| match &item.node {
            Selection::Field(field) => SHAREABLE_FIELDS.contains(&field.node.name.node.as_str()),
            Selection::FragmentSpread(_) | Selection::InlineFragment(_) => false,
        });
    if !pure {
        return None;
    }
    Some(ShareKey {
        principal: principal.clone(),
        query: request.query.clone(),
        operation_name: request.operation_name.clone(),
        variables: serde_json::to_string(&request.variables).ok()?,
    })
}

/// One response of an operation, serialized once for all its subscribers.
#[derive(Debug)]
pub enum Delivery {
    /// A result (with or without field errors): the response as JSON.
    Next(Box<str>),
    /// A response with errors and no data (the request failed before it ran, or its root
    /// field failed): the whole response, and its errors alone.
    Failed {
        response: Box<str>,
        errors: Box<str>,
    },
    /// The operation ended.
    Complete,
}

impl Delivery {
    pub fn of(response: &Response) -> Self {
        let json = |value: Result<String, serde_json::Error>| {
            value
                .unwrap_or_else(|_| r#"{"errors":[{"message":"unserializable"}]}"#.into())
                .into_boxed_str()
        };
        if response.data == async_graphql::Value::Null && response.is_err() {
            Delivery::Failed {
                response: json(serde_json::to_string(response)),
                errors: json(serde_json::to_string(&response.errors)),
            }
        } else {
            Delivery::Next(json(serde_json::to_string(response)))
        }
    }
}

/// A delivery for one operation of a connection.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The connection's serial number of the operation (a client may reuse an id).
    pub serial: u64,
    /// The client's id of the operation.
    pub id: Arc<str>,
    pub delivery: Arc<Delivery>,
}

struct Subscriber {
    member: u64,
    serial: u64,
    id: Arc<str>,
    tx: mpsc::Sender<Frame>,
}

struct Shared {
    subscribers: Mutex<Vec<Subscriber>>,
    task: Mutex<Option<AbortHandle>>,
}

impl Shared {
    fn subscribers(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        // Every change is one push, retain or take: a poisoned list is still consistent.
        self.subscribers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The running shared streams of this process.
#[derive(Default)]
pub struct Fanout {
    streams: Mutex<HashMap<ShareKey, Arc<Shared>>>,
    next_member: AtomicU64,
    skipped: AtomicU64,
}

/// A subscriber's place in a shared stream; dropping it leaves (and stops the stream when
/// it was the last).
pub struct Membership {
    fanout: Weak<Fanout>,
    key: ShareKey,
    shared: Arc<Shared>,
    member: u64,
}

impl Fanout {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<ShareKey, Arc<Shared>>> {
        self.streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a subscriber to the stream of `key`, starting it with `start` when none runs.
    /// Its frames go to `tx`, marked with `serial` and `id`.
    pub fn join<F>(
        self: &Arc<Self>,
        key: ShareKey,
        serial: u64,
        id: Arc<str>,
        tx: mpsc::Sender<Frame>,
        start: F,
    ) -> Membership
    where
        F: FnOnce() -> BoxStream<'static, Response>,
    {
        let member = self.next_member.fetch_add(1, Ordering::Relaxed);
        let mut streams = self.streams();
        let (shared, fresh) = match streams.get(&key) {
            Some(shared) => (shared.clone(), false),
            None => {
                let shared = Arc::new(Shared {
                    subscribers: Mutex::new(Vec::new()),
                    task: Mutex::new(None),
                });
                streams.insert(key.clone(), shared.clone());
                (shared, true)
            }
        };
        shared.subscribers().push(Subscriber {
            member,
            serial,
            id,
            tx,
        });
        if fresh {
            let task = tokio::spawn(super::batch::drive(run(
                Arc::downgrade(self),
                key.clone(),
                shared.clone(),
                start(),
            )));
            *shared
                .task
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task.abort_handle());
        }
        drop(streams);
        Membership {
            fanout: Arc::downgrade(self),
            key,
            shared,
            member,
        }
    }

    /// Shared streams running.
    pub fn streams_running(&self) -> usize {
        self.streams().len()
    }

    /// Subscribers of the shared streams running.
    pub fn members(&self) -> usize {
        self.streams()
            .values()
            .map(|shared| shared.subscribers().len())
            .sum()
    }

    /// Subscribers beyond each stream's first: with the bus's subscriptions (one per running
    /// stream), the subscriptions as clients count them.
    pub fn followers(&self) -> usize {
        self.streams()
            .values()
            .map(|shared| shared.subscribers().len().saturating_sub(1))
            .sum()
    }

    /// Deliveries skipped because a subscriber's connection queue was full.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Removes the stream of `key` if it is still `shared`.
    fn forget(&self, key: &ShareKey, shared: &Arc<Shared>) {
        let mut streams = self.streams();
        if streams.get(key).is_some_and(|s| Arc::ptr_eq(s, shared)) {
            streams.remove(key);
        }
    }
}

/// The counters in Prometheus text format (appended to `/metrics`).
pub fn prometheus(fanout: &Fanout) -> String {
    format!(
        "# HELP remotegpu_shared_streams Subscription streams shared by their subscribers.\n\
         # TYPE remotegpu_shared_streams gauge\n\
         remotegpu_shared_streams {}\n\
         # HELP remotegpu_shared_subscribers Subscribers of shared subscription streams.\n\
         # TYPE remotegpu_shared_subscribers gauge\n\
         remotegpu_shared_subscribers {}\n\
         # HELP remotegpu_fanout_skipped_total Events a subscriber skipped because its connection's queue was full.\n\
         # TYPE remotegpu_fanout_skipped_total counter\n\
         remotegpu_fanout_skipped_total {}\n",
        fanout.streams_running(),
        fanout.members(),
        fanout.skipped(),
    )
}

impl Drop for Membership {
    fn drop(&mut self) {
        let Some(fanout) = self.fanout.upgrade() else {
            return;
        };
        // The map's lock first, as in `join`: a joiner either finds the stream with this
        // subscriber gone and others left, or not at all.
        let mut streams = fanout.streams();
        let mut subscribers = self.shared.subscribers();
        subscribers.retain(|s| s.member != self.member);
        if subscribers.is_empty() {
            if streams
                .get(&self.key)
                .is_some_and(|s| Arc::ptr_eq(s, &self.shared))
            {
                streams.remove(&self.key);
            }
            if let Some(task) = self
                .shared
                .task
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
            {
                task.abort();
            }
        }
    }
}

/// Resolves the stream once and hands every response to each subscriber.
async fn run(
    fanout: Weak<Fanout>,
    key: ShareKey,
    shared: Arc<Shared>,
    mut stream: BoxStream<'static, Response>,
) {
    while let Some(response) = stream.next().await {
        let delivery = Arc::new(Delivery::of(&response));
        let mut skipped = 0;
        for s in shared.subscribers().iter() {
            let frame = Frame {
                serial: s.serial,
                id: s.id.clone(),
                delivery: delivery.clone(),
            };
            if let Err(mpsc::error::TrySendError::Full(_)) = s.tx.try_send(frame) {
                skipped += 1;
            }
        }
        if skipped > 0 {
            if let Some(fanout) = fanout.upgrade() {
                fanout.skipped.fetch_add(skipped, Ordering::Relaxed);
            }
            tracing::debug!(skipped, "slow subscribers skipped an event");
        }
    }
    // The end: no new subscriber may join now; those there get `complete`, waiting for room
    // in their queues if need be.
    if let Some(fanout) = fanout.upgrade() {
        fanout.forget(&key, &shared);
    }
    let complete = Arc::new(Delivery::Complete);
    let ending: Vec<(Frame, mpsc::Sender<Frame>)> = shared
        .subscribers()
        .iter()
        .map(|s| {
            let frame = Frame {
                serial: s.serial,
                id: s.id.clone(),
                delivery: complete.clone(),
            };
            (frame, s.tx.clone())
        })
        .collect();
    for (frame, tx) in ending {
        let _ = tx.send(frame).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::User;

    fn request(query: &str) -> Request {
        Request::new(query)
    }

    fn admin() -> Principal {
        Principal::User(User { id: 1, admin: true })
    }

    #[test]
    fn only_pure_event_subscriptions_share() {
        let p = admin();
        assert!(share_key(&p, &request("subscription { gpuMetrics { id } }")).is_some());
        assert!(share_key(
            &p,
            &request("subscription S { a: hostStatus { hostId } b: hostMetrics { id } }")
        )
        .is_some());
        for alone in [
            "query { hosts { id } }",
            "mutation { x }",
            "subscription { agentCommands { id } }",
            "subscription { gpuMetrics { id } agentCommands { id } }",
            "subscription { ...F } fragment F on SubscriptionRoot { gpuMetrics { id } }",
            "subscription {",
        ] {
            assert!(share_key(&p, &request(alone)).is_none(), "{alone}");
        }
        let named = || request("subscription A { gpuMetrics { id } } query B { hosts { id } }");
        assert!(share_key(&p, &named().operation_name("A")).is_some());
        assert!(share_key(&p, &named().operation_name("B")).is_none());
        assert!(
            share_key(&p, &named()).is_none(),
            "ambiguous without a name"
        );
    }

    #[test]
    fn keys_differ_by_principal_and_variables() {
        let q = "subscription($h: ID) { gpuMetrics(hostId: $h) { id } }";
        let with = |h: &str| {
            request(q).variables(async_graphql::Variables::from_json(
                serde_json::json!({ "h": h }),
            ))
        };
        let customer = Principal::User(User {
            id: 1,
            admin: false,
        });
        assert_eq!(
            share_key(&admin(), &with("a")),
            share_key(&admin(), &with("a"))
        );
        assert_ne!(
            share_key(&admin(), &with("a")),
            share_key(&admin(), &with("b"))
        );
        assert_ne!(
            share_key(&admin(), &with("a")),
            share_key(&customer, &with("a"))
        );
    }

    /// A stream of `n` responses that waits for `go` before it starts.
    fn responses(n: usize, go: tokio::sync::oneshot::Receiver<()>) -> BoxStream<'static, Response> {
        futures_util::stream::once(async move {
            let _ = go.await;
            futures_util::stream::iter((0..n).map(|i| {
                Response::new(
                    async_graphql::Value::from_json(serde_json::json!({ "i": i }))
                        .unwrap_or_default(),
                )
            }))
        })
        .flatten()
        .boxed()
    }

    #[tokio::test]
    async fn subscribers_share_one_resolution_and_each_gets_the_end() {
        let fanout = Fanout::new();
        let key = share_key(&admin(), &request("subscription { gpuMetrics { id } }")).unwrap();
        let (go, wait) = tokio::sync::oneshot::channel();
        let (tx_a, mut rx_a) = mpsc::channel(16);
        let (tx_b, mut rx_b) = mpsc::channel(16);
        let mut started = 0;
        let a = fanout.join(key.clone(), 7, "a".into(), tx_a, || {
            started += 1;
            responses(3, wait)
        });
        let b = fanout.join(key.clone(), 9, "b".into(), tx_b, || {
            unreachable!("the stream runs already")
        });
        assert_eq!(started, 1);
        assert_eq!(
            (
                fanout.streams_running(),
                fanout.members(),
                fanout.followers()
            ),
            (1, 2, 1)
        );
        go.send(()).unwrap();
        for (rx, serial) in [(&mut rx_a, 7), (&mut rx_b, 9)] {
            for i in 0..3 {
                let frame = rx.recv().await.unwrap();
                assert_eq!(frame.serial, serial);
                let Delivery::Next(json) = &*frame.delivery else {
                    panic!("a result");
                };
                assert_eq!(&**json, format!(r#"{{"data":{{"i":{i}}}}}"#));
            }
            assert!(matches!(
                *rx.recv().await.unwrap().delivery,
                Delivery::Complete
            ));
        }
        assert_eq!(fanout.streams_running(), 0, "an ended stream is forgotten");
        drop((a, b));
        assert_eq!(fanout.members(), 0);
    }

    #[tokio::test]
    async fn the_last_subscriber_leaving_stops_the_stream_and_a_full_queue_skips() {
        let fanout = Fanout::new();
        let key = share_key(&admin(), &request("subscription { hostStatus { hostId } }")).unwrap();
        let (go, wait) = tokio::sync::oneshot::channel();
        let (tx_slow, mut rx_slow) = mpsc::channel(1);
        let (tx_fast, mut rx_fast) = mpsc::channel(16);
        let slow = fanout.join(key.clone(), 1, "s".into(), tx_slow, || responses(3, wait));
        let fast = fanout.join(key.clone(), 2, "f".into(), tx_fast, || unreachable!());
        go.send(()).unwrap();
        for _ in 0..3 {
            assert!(matches!(
                *rx_fast.recv().await.unwrap().delivery,
                Delivery::Next(_)
            ));
        }
        // The end waits for room in the slow queue, and comes after what it holds.
        assert!(matches!(
            *rx_slow.recv().await.unwrap().delivery,
            Delivery::Next(_)
        ));
        assert!(matches!(
            *rx_slow.recv().await.unwrap().delivery,
            Delivery::Complete
        ));
        assert!(matches!(
            *rx_fast.recv().await.unwrap().delivery,
            Delivery::Complete
        ));
        assert_eq!(fanout.skipped(), 2, "the slow queue held one of three");
        drop((slow, fast));

        let (tx, _rx) = mpsc::channel(1);
        let pending = fanout.join(key.clone(), 3, "p".into(), tx, || {
            futures_util::stream::pending().boxed()
        });
        assert_eq!(fanout.streams_running(), 1);
        drop(pending);
        assert_eq!((fanout.streams_running(), fanout.members()), (0, 0));
    }
}
