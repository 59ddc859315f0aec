//! Batches the keys of a relation level into one load, without a wall-clock window.
//!
//! async-graphql resolves an operation inside one task: an object's fields and a list's
//! items are futures polled side by side. [`drive`] wraps that task's future and notices
//! when one of its polls ends with nothing left to run (every resolver waits on the
//! database or on a batch, and nothing woke the task meanwhile). That moment is the end of
//! a level: every resolver that could ask for a key has asked. [`Batcher::load_one`] puts
//! its key in the queue of its kind; the first one in an empty queue leads the batch: it
//! waits for that moment, takes the queue, runs one [`Loader::load`] for all its keys (in
//! chunks of [`MAX_BATCH`]) and hands every waiter its value. The leader loads inside the
//! request's task, so the next level's resolvers all wake in the same poll and form their
//! own batches together.
//!
//! A single lookup thus waits no timer, and a nested list costs one statement per relation
//! level whatever the page size. Outside a driven task (nothing calls [`drive`]) a load
//! starts at once, unbatched. A leader whose field is dropped (cancelled by a sibling's
//! error or the request's timeout) hands its batch to a spawned task, so the other waiters
//! still get their values.

use std::any::{Any, TypeId};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use async_graphql::dataloader::Loader;
use tokio::sync::oneshot;

/// Keys per `Loader::load` call; larger batches are loaded in several calls.
pub const MAX_BATCH: usize = 1000;

tokio::task_local! {
    static IDLE: Arc<Idle>;
}

/// Runs `future` (an operation's execution) with batching: relation loads asked for while
/// it runs wait until its task has nothing else to do, then load together.
pub fn drive<F: Future>(future: F) -> Driven<F> {
    Driven {
        inner: Box::pin(future),
        idle: Arc::new(Idle::default()),
        waker: Arc::new(FlagWaker::default()),
    }
}

/// Leaders waiting for their task to go idle.
#[derive(Default)]
struct Idle {
    epoch: AtomicU64,
    waiters: Mutex<Vec<Waker>>,
}

impl Idle {
    fn waiters(&self) -> MutexGuard<'_, Vec<Waker>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the leaders that wait; false when there were none.
    fn fire(&self) -> bool {
        let waiting = std::mem::take(&mut *self.waiters());
        if waiting.is_empty() {
            return false;
        }
        self.epoch.fetch_add(1, Ordering::SeqCst);
        waiting.into_iter().for_each(Waker::wake);
        true
    }

    fn wait(self: Arc<Self>) -> IdleWait {
        let epoch = self.epoch.load(Ordering::SeqCst);
        IdleWait { idle: self, epoch }
    }
}

struct IdleWait {
    idle: Arc<Idle>,
    epoch: u64,
}

impl Future for IdleWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.idle.epoch.load(Ordering::SeqCst) != self.epoch {
            return Poll::Ready(());
        }
        self.idle.waiters().push(cx.waker().clone());
        Poll::Pending
    }
}

/// The task's waker, noting whether anything woke the task during a poll.
#[derive(Default)]
struct FlagWaker {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl FlagWaker {
    fn task(&self) -> MutexGuard<'_, Option<Waker>> {
        self.task.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Wake for FlagWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if let Some(waker) = self.task().as_ref() {
            waker.wake_by_ref();
        }
    }
}

/// The future [`drive`] returns.
pub struct Driven<F: Future> {
    inner: Pin<Box<F>>,
    idle: Arc<Idle>,
    waker: Arc<FlagWaker>,
}

impl<F: Future> Future for Driven<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        {
            let mut task = this.waker.task();
            if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        let waker = Waker::from(this.waker.clone());
        let mut inner_cx = Context::from_waker(&waker);
        loop {
            this.waker.woken.store(false, Ordering::SeqCst);
            let inner = &mut this.inner;
            let polled = IDLE.sync_scope(this.idle.clone(), || inner.as_mut().poll(&mut inner_cx));
            if polled.is_ready() {
                return polled;
            }
            // Woken meanwhile: there is more to run before the level is complete.
            if this.waker.woken.load(Ordering::SeqCst) || !this.idle.fire() {
                return Poll::Pending;
            }
        }
    }
}

type Reply<V> = Result<Option<V>, async_graphql::Error>;
type Waiters<K, V> = Vec<(K, oneshot::Sender<Reply<V>>)>;

/// The keys of one kind asked for and not yet taken by a leader.
struct Queue<K, V> {
    waiters: Waiters<K, V>,
    led: bool,
}

struct Inner<T> {
    loader: T,
    queues: Mutex<HashMap<TypeId, Box<dyn Any + Send>>>,
}

/// A per-request loader: [`Batcher::load_one`] batches keys of one kind as described above.
pub struct Batcher<T> {
    inner: Arc<Inner<T>>,
}

impl<T: Send + Sync + 'static> Batcher<T> {
    pub fn new(loader: T) -> Self {
        Self {
            inner: Arc::new(Inner {
                loader,
                queues: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The value for `key`, loaded in one batch with the other keys of its kind that the
    /// request's resolvers ask for in the same level.
    pub async fn load_one<K>(&self, key: K) -> Reply<T::Value>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        T: Loader<K, Error = async_graphql::Error>,
    {
        let (tx, rx) = oneshot::channel();
        let leads = self.inner.with_queue::<K, _>(|q| {
            q.waiters.push((key, tx));
            !std::mem::replace(&mut q.led, true)
        });
        if leads {
            let mut guard = LeadGuard::<T, K> {
                inner: self.inner.clone(),
                phase: Phase::Collecting,
            };
            if let Ok(idle) = IDLE.try_with(Arc::clone) {
                idle.wait().await;
            }
            let batch = self.inner.take::<K>();
            let keys = distinct(&batch);
            guard.phase = Phase::Loading(batch);
            let loaded = self.inner.load(&keys).await;
            if let Phase::Loading(batch) = std::mem::replace(&mut guard.phase, Phase::Done) {
                reply(batch, loaded);
            }
        }
        rx.await
            .unwrap_or_else(|_| Err(async_graphql::Error::new("a relation batch was abandoned")))
    }
}

impl<T: Send + Sync + 'static> Inner<T> {
    fn with_queue<K, R>(&self, f: impl FnOnce(&mut Queue<K, T::Value>) -> R) -> R
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        T: Loader<K>,
    {
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = queues.entry(TypeId::of::<K>()).or_insert_with(|| {
            Box::new(Queue::<K, T::Value> {
                waiters: Vec::new(),
                led: false,
            })
        });
        match entry.downcast_mut::<Queue<K, T::Value>>() {
            Some(queue) => f(queue),
            // Unreachable: the entry of `TypeId::of::<K>()` is always a `Queue<K, _>`.
            None => f(&mut Queue {
                waiters: Vec::new(),
                led: false,
            }),
        }
    }

    /// Takes the queue's keys; the next key of this kind starts a new batch.
    fn take<K>(&self) -> Waiters<K, T::Value>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        T: Loader<K>,
    {
        self.with_queue::<K, _>(|q| {
            q.led = false;
            std::mem::take(&mut q.waiters)
        })
    }

    async fn load<K>(&self, keys: &[K]) -> Result<HashMap<K, T::Value>, async_graphql::Error>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        T: Loader<K, Error = async_graphql::Error>,
    {
        let mut values = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_BATCH) {
            values.extend(self.loader.load(chunk).await?);
        }
        Ok(values)
    }
}

fn distinct<K: Hash + Eq + Clone, V>(batch: &Waiters<K, V>) -> Vec<K> {
    let mut seen = HashSet::with_capacity(batch.len());
    batch
        .iter()
        .filter(|(k, _)| seen.insert(k.clone()))
        .map(|(k, _)| k.clone())
        .collect()
}

fn reply<K: Hash + Eq, V: Clone>(
    batch: Waiters<K, V>,
    loaded: Result<HashMap<K, V>, async_graphql::Error>,
) {
    for (key, tx) in batch {
        let value = match &loaded {
            Ok(values) => Ok(values.get(&key).cloned()),
            Err(err) => Err(err.clone()),
        };
        // A waiter that went away needs no answer.
        let _ = tx.send(value);
    }
}

enum Phase<K, V> {
    Collecting,
    Loading(Waiters<K, V>),
    Done,
}

/// Finishes a dropped leader's batch in a spawned task.
struct LeadGuard<T, K>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    T: Loader<K, Error = async_graphql::Error>,
{
    inner: Arc<Inner<T>>,
    phase: Phase<K, T::Value>,
}

impl<T, K> Drop for LeadGuard<T, K>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    T: Loader<K, Error = async_graphql::Error>,
{
    fn drop(&mut self) {
        let batch = match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Done => return,
            Phase::Collecting => self.inner.take::<K>(),
            Phase::Loading(batch) => batch,
        };
        let batch: Waiters<K, T::Value> = batch
            .into_iter()
            .filter(|(_, tx)| !tx.is_closed())
            .collect();
        if batch.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = self.inner.clone();
        runtime.spawn(async move {
            let keys = distinct(&batch);
            let loaded = inner.load(&keys).await;
            reply(batch, loaded);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Doubles its keys and counts its calls.
    #[derive(Default)]
    struct Doubler {
        calls: AtomicUsize,
    }

    impl Loader<u32> for Doubler {
        type Value = u32;
        type Error = async_graphql::Error;
        async fn load(&self, keys: &[u32]) -> Result<HashMap<u32, u32>, Self::Error> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(keys.iter().map(|k| (*k, k * 2)).collect())
        }
    }

    #[tokio::test]
    async fn one_level_is_one_load_and_a_lookup_waits_no_timer() {
        let batcher = Batcher::new(Doubler::default());
        let started = std::time::Instant::now();
        let values = drive(futures_util::future::join_all(
            (0..250).map(|k| batcher.load_one(k)),
        ))
        .await;
        assert_eq!(batcher.inner.loader.calls.load(Ordering::SeqCst), 1);
        for (k, v) in values.into_iter().enumerate() {
            assert_eq!(v.unwrap(), Some(k as u32 * 2));
        }
        assert_eq!(drive(batcher.load_one(7)).await.unwrap(), Some(14));
        assert_eq!(batcher.inner.loader.calls.load(Ordering::SeqCst), 2);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[tokio::test]
    async fn two_levels_are_two_loads() {
        let batcher = Batcher::new(Doubler::default());
        let b = &batcher;
        let values = drive(futures_util::future::join_all((0..40).map(
            |k| async move {
                let v = b.load_one(k).await.unwrap().unwrap_or_default();
                b.load_one(v + 1000).await.unwrap()
            },
        )))
        .await;
        assert_eq!(batcher.inner.loader.calls.load(Ordering::SeqCst), 2);
        assert_eq!(values[3], Some((3 * 2 + 1000) * 2));
    }

    #[tokio::test]
    async fn a_dropped_leader_still_answers_the_others() {
        let batcher = Arc::new(Batcher::new(Doubler::default()));
        let (b1, b2) = (batcher.clone(), batcher.clone());
        // The leader's task never goes idle, so its batch is still collecting when dropped.
        let leader = tokio::spawn(drive(async move {
            let busy = std::future::poll_fn(|cx| {
                cx.waker().wake_by_ref();
                Poll::<()>::Pending
            });
            futures_util::future::join(b1.load_one(1), busy).await
        }));
        tokio::task::yield_now().await;
        let other = tokio::spawn(async move { b2.load_one(2).await });
        tokio::task::yield_now().await;
        leader.abort();
        let value = tokio::time::timeout(std::time::Duration::from_secs(5), other)
            .await
            .map(|joined| joined.ok().and_then(|r| r.ok()).flatten());
        assert_eq!(value, Ok(Some(4)));
    }
}
