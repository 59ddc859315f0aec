//! Bounded sample buffer and batch bookkeeping.
//!
//! Rounds (one host sample plus its GPU samples) queue up oldest first. A push takes the
//! oldest rounds into a *pending batch* with a fresh uuid v4; the batch keeps that id and its
//! exact content until the server accepts it (or rejects it as bad input), so a batch that is
//! retried after a lost answer is stored once. The bound covers queued rounds plus the pending
//! batch; when full, the oldest queued round is dropped and counted. Drops are reported in
//! `droppedSamples`: a batch carries the count at the time it was formed, and once it is
//! accepted that many are subtracted (drops that happened meanwhile go with the next batch).

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{MetricBatchInput, Round};

/// A batch being delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub id: Uuid,
    /// `droppedSamples` sent with this batch.
    pub dropped: u64,
    pub rounds: Vec<Round>,
}

impl Batch {
    /// The `MetricBatchInput` for this batch.
    pub fn input(&self) -> MetricBatchInput<'_> {
        MetricBatchInput {
            batch_id: self.id.to_string(),
            dropped_samples: i32::try_from(self.dropped).unwrap_or(i32::MAX),
            host_samples: self.rounds.iter().map(|r| &r.host).collect(),
            gpu_samples: self.rounds.iter().flat_map(|r| r.gpus.iter()).collect(),
        }
    }
}

#[derive(Debug)]
pub struct Buffer {
    capacity: usize,
    max_batch: usize,
    queue: VecDeque<Round>,
    pending: Option<Batch>,
    dropped_since_ack: u64,
    /// Totals since start, for logs.
    pub stats: Stats,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub dropped: u64,
    pub rejected_batches: u64,
    pub rejected_rounds: u64,
    pub accepted_batches: u64,
    pub accepted_rounds: u64,
}

impl Buffer {
    /// `capacity` rounds at most (at least 1); batches of at most `max_batch` rounds (clamped to
    /// `1..=capacity`).
    pub fn new(capacity: usize, max_batch: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            max_batch: max_batch.clamp(1, capacity),
            queue: VecDeque::new(),
            pending: None,
            dropped_since_ack: 0,
            stats: Stats::default(),
        }
    }

    /// Rounds held: queued plus in the pending batch.
    pub fn len(&self) -> usize {
        self.queue.len() + self.pending.as_ref().map_or(0, |b| b.rounds.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Rounds dropped since the last accepted batch (not yet reported to the server).
    pub fn dropped_since_ack(&self) -> u64 {
        self.dropped_since_ack
    }

    pub fn pending(&self) -> Option<&Batch> {
        self.pending.as_ref()
    }

    /// Adds a round, dropping the oldest queued one when full.
    pub fn push(&mut self, round: Round) {
        if self.len() >= self.capacity {
            self.count_drop(1);
            if self.queue.pop_front().is_none() {
                // The pending batch alone fills the buffer (only when max_batch == capacity):
                // its content is fixed, so the new round is the one that cannot be kept.
                return;
            }
        }
        self.queue.push_back(round);
    }

    fn count_drop(&mut self, n: u64) {
        self.dropped_since_ack = self.dropped_since_ack.saturating_add(n);
        self.stats.dropped = self.stats.dropped.saturating_add(n);
    }

    /// The batch to send now: the pending one (same id, same content) if there is one, else a
    /// new one made of the oldest queued rounds: at most `max_batch` rounds and, beyond the
    /// first round, at most `max_bytes` of JSON.
    pub fn next_batch(&mut self, max_bytes: usize) -> Option<&Batch> {
        if self.pending.is_none() && !self.queue.is_empty() {
            let mut rounds = Vec::new();
            let mut bytes = 0usize;
            while rounds.len() < self.max_batch {
                let Some(front) = self.queue.front() else {
                    break;
                };
                let size = serde_json::to_vec(front).map_or(0, |v| v.len());
                if !rounds.is_empty() && bytes.saturating_add(size) > max_bytes {
                    break;
                }
                bytes = bytes.saturating_add(size);
                if let Some(round) = self.queue.pop_front() {
                    rounds.push(round);
                }
            }
            self.pending = Some(Batch {
                id: Uuid::new_v4(),
                dropped: self.dropped_since_ack,
                rounds,
            });
        }
        self.pending.as_ref()
    }

    /// The server stored the pending batch (or already had it).
    pub fn accepted(&mut self) -> Option<Batch> {
        let batch = self.pending.take()?;
        self.dropped_since_ack = self.dropped_since_ack.saturating_sub(batch.dropped);
        self.stats.accepted_batches += 1;
        self.stats.accepted_rounds += batch.rounds.len() as u64;
        Some(batch)
    }

    /// The server refused the pending batch as bad input: it is discarded so that it cannot
    /// block the queue. Its drop count is still owed and goes with the next batch.
    pub fn rejected(&mut self) -> Option<Batch> {
        let batch = self.pending.take()?;
        self.stats.rejected_batches += 1;
        self.stats.rejected_rounds += batch.rounds.len() as u64;
        Some(batch)
    }

    /// The server refused the pending batch before reading it (body too large): its rounds go
    /// back to the front of the queue and the next batch gets a new id. Returns how many
    /// rounds the refused batch had.
    pub fn unbatch(&mut self) -> usize {
        let Some(batch) = self.pending.take() else {
            return 0;
        };
        let n = batch.rounds.len();
        for round in batch.rounds.into_iter().rev() {
            self.queue.push_front(round);
        }
        n
    }

    /// Writes the buffer to `path` (atomically: temp file, then rename). An empty buffer
    /// removes the file instead.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if self.is_empty() && self.dropped_since_ack == 0 {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let file = Persisted {
            version: 1,
            pending: self.pending.as_ref().map(|b| PersistedBatch {
                batch_id: b.id.to_string(),
                dropped_samples: b.dropped,
                rounds: b.rounds.clone(),
            }),
            queue: self.queue.iter().cloned().collect(),
            dropped_since_ack: self.dropped_since_ack,
        };
        let tmp = tmp_path(path);
        {
            let mut f = std::fs::File::create(&tmp)?;
            serde_json::to_writer(&mut f, &file)?;
            f.flush()?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }

    /// Loads rounds saved by [`Buffer::save`] into this (empty) buffer and removes the file.
    /// Returns how many rounds were loaded. A missing file loads nothing.
    pub fn load(&mut self, path: &Path) -> Result<usize, LoadError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(LoadError::Io(e)),
        };
        let file: Persisted = serde_json::from_str(&text).map_err(LoadError::Parse)?;
        if file.version != 1 {
            return Err(LoadError::Version(file.version));
        }
        let mut loaded = 0;
        if let Some(p) = file.pending {
            let id = Uuid::parse_str(&p.batch_id).map_err(|_| LoadError::BatchId(p.batch_id))?;
            loaded += p.rounds.len();
            self.pending = Some(Batch {
                id,
                dropped: p.dropped_samples,
                rounds: p.rounds,
            });
        }
        self.dropped_since_ack = self
            .dropped_since_ack
            .saturating_add(file.dropped_since_ack);
        for round in file.queue {
            loaded += 1;
            self.push(round);
        }
        std::fs::remove_file(path).map_err(LoadError::Io)?;
        Ok(loaded)
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("not a buffer file: {0}")]
    Parse(serde_json::Error),
    #[error("unknown buffer file version {0}")]
    Version(u32),
    #[error("invalid batch id {0:?}")]
    BatchId(String),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Persisted {
    version: u32,
    pending: Option<PersistedBatch>,
    queue: Vec<Round>,
    dropped_since_ack: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersistedBatch {
    batch_id: String,
    dropped_samples: u64,
    rounds: Vec<Round>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GpuSample, HostSample};
    use chrono::{DateTime, TimeZone, Utc};

    fn at(n: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + n, 0).unwrap()
    }

    /// A round whose timestamp identifies it.
    fn round(n: i64) -> Round {
        Round {
            host: HostSample {
                collected_at: at(n),
                cpu_usage_percent: Some(1.0),
                ..HostSample::default()
            },
            gpus: vec![GpuSample {
                memory_used: Some(5_000_000_000),
                ..crate::collector::empty_gpu_sample("GPU-1", at(n))
            }],
        }
    }

    fn ids(rounds: &[Round]) -> Vec<i64> {
        rounds
            .iter()
            .map(|r| r.host.collected_at.timestamp() - 1_700_000_000)
            .collect()
    }

    const BIG: usize = usize::MAX;

    #[test]
    fn bound_drops_oldest_first_and_counts() {
        let mut b = Buffer::new(3, 10);
        for n in 0..5 {
            b.push(round(n));
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.dropped_since_ack(), 2);
        let batch = b.next_batch(BIG).unwrap();
        assert_eq!(ids(&batch.rounds), [2, 3, 4]);
        assert_eq!(batch.dropped, 2);
        assert_eq!(b.stats.dropped, 2);
    }

    #[test]
    fn bound_includes_the_pending_batch() {
        let mut b = Buffer::new(4, 2);
        for n in 0..4 {
            b.push(round(n));
        }
        assert_eq!(ids(&b.next_batch(BIG).unwrap().rounds), [0, 1]);
        // Full: 2 pending + 2 queued. New rounds push out the oldest *queued* ones; the
        // pending batch keeps its content.
        b.push(round(4));
        b.push(round(5));
        assert_eq!(b.len(), 4);
        assert_eq!(b.dropped_since_ack(), 2);
        assert_eq!(ids(&b.pending().unwrap().rounds), [0, 1]);
        b.accepted();
        assert_eq!(ids(&b.next_batch(BIG).unwrap().rounds), [4, 5]);
    }

    #[test]
    fn batch_id_is_reused_on_retry_and_new_after_acceptance() {
        let mut b = Buffer::new(100, 2);
        for n in 0..3 {
            b.push(round(n));
        }
        let first = b.next_batch(BIG).unwrap().clone();
        assert_eq!(ids(&first.rounds), [0, 1]);
        // Retry (nothing accepted): same id, same content, even with new rounds queued.
        b.push(round(3));
        let retry = b.next_batch(BIG).unwrap().clone();
        assert_eq!(retry, first);
        assert_eq!(b.accepted().unwrap().id, first.id);
        let second = b.next_batch(BIG).unwrap().clone();
        assert_ne!(second.id, first.id);
        assert_eq!(ids(&second.rounds), [2, 3]);
        b.accepted();
        assert!(b.next_batch(BIG).is_none());
        assert!(b.is_empty());
        assert_eq!(b.stats.accepted_rounds, 4);
    }

    #[test]
    fn drop_count_resets_only_by_what_was_reported() {
        let mut b = Buffer::new(2, 1);
        for n in 0..4 {
            b.push(round(n)); // drops 0 and 1
        }
        let batch = b.next_batch(BIG).unwrap();
        assert_eq!(batch.dropped, 2);
        b.push(round(4)); // drops 3 (oldest queued); 2 is pending
        assert_eq!(b.dropped_since_ack(), 3);
        b.accepted();
        assert_eq!(b.dropped_since_ack(), 1);
        assert_eq!(b.next_batch(BIG).unwrap().dropped, 1);
        b.accepted();
        assert_eq!(b.dropped_since_ack(), 0);
        assert_eq!(b.stats.dropped, 3);
    }

    #[test]
    fn rejected_batch_is_discarded_and_counted() {
        let mut b = Buffer::new(10, 2);
        for n in 0..3 {
            b.push(round(n));
        }
        b.push(round(99));
        let poison = b.next_batch(BIG).unwrap().id;
        assert_eq!(b.rejected().unwrap().id, poison);
        assert_eq!(b.stats.rejected_batches, 1);
        assert_eq!(b.stats.rejected_rounds, 2);
        let next = b.next_batch(BIG).unwrap();
        assert_ne!(next.id, poison);
        assert_eq!(ids(&next.rounds), [2, 99]);
    }

    #[test]
    fn byte_limit_and_unbatch() {
        let size = serde_json::to_vec(&round(0)).unwrap().len();
        let mut b = Buffer::new(10, 10);
        for n in 0..5 {
            b.push(round(n));
        }
        let first = b.next_batch(size * 2).unwrap().clone();
        assert_eq!(ids(&first.rounds), [0, 1]);
        assert_eq!(b.unbatch(), 2);
        // A single round larger than the limit still goes (alone).
        let again = b.next_batch(1).unwrap().clone();
        assert_ne!(again.id, first.id);
        assert_eq!(ids(&again.rounds), [0]);
    }

    #[test]
    fn batch_input_flattens_samples() {
        let mut b = Buffer::new(10, 10);
        b.push(round(0));
        b.push(round(1));
        let batch = b.next_batch(BIG).unwrap();
        let v = serde_json::to_value(batch.input()).unwrap();
        assert_eq!(v["batchId"], serde_json::json!(batch.id.to_string()));
        assert_eq!(v["hostSamples"].as_array().unwrap().len(), 2);
        assert_eq!(v["gpuSamples"].as_array().unwrap().len(), 2);
        assert_eq!(
            v["gpuSamples"][0]["memoryUsed"],
            serde_json::json!("5000000000")
        );
        assert_eq!(v["droppedSamples"], serde_json::json!(0));
    }

    #[test]
    fn save_and_load_round_trip_keeps_batch_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buffer.json");
        let mut b = Buffer::new(3, 2);
        for n in 0..4 {
            b.push(round(n)); // drops 0
        }
        let id = b.next_batch(BIG).unwrap().id;
        b.save(&path).unwrap();
        assert!(path.exists());

        let mut restored = Buffer::new(3, 2);
        assert_eq!(restored.load(&path).unwrap(), 3);
        assert!(!path.exists(), "file is consumed");
        assert_eq!(restored.dropped_since_ack(), 1);
        let batch = restored.next_batch(BIG).unwrap();
        assert_eq!(batch.id, id);
        assert_eq!(ids(&batch.rounds), [1, 2]);
        assert_eq!(batch.rounds[0], round(1));
        restored.accepted();
        assert_eq!(ids(&restored.next_batch(BIG).unwrap().rounds), [3]);

        // Missing file: nothing to load. Empty buffer: no file written.
        assert_eq!(Buffer::new(3, 2).load(&path).unwrap(), 0);
        Buffer::new(3, 2).save(&path).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn load_respects_a_smaller_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buffer.json");
        let mut b = Buffer::new(10, 10);
        for n in 0..6 {
            b.push(round(n));
        }
        b.save(&path).unwrap();
        let mut small = Buffer::new(4, 2);
        assert_eq!(small.load(&path).unwrap(), 6);
        assert_eq!(small.len(), 4);
        assert_eq!(small.dropped_since_ack(), 2);
        assert_eq!(ids(&small.next_batch(BIG).unwrap().rounds), [2, 3]);
    }

    #[test]
    fn load_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buffer.json");
        std::fs::write(&path, "not json").unwrap();
        assert!(matches!(
            Buffer::new(3, 2).load(&path),
            Err(LoadError::Parse(_))
        ));
    }
}
