//! What travels between replicas: events as JSON in NOTIFY payloads (PostgreSQL allows 8000
//! bytes each), packed many to a payload below [`MAX_PAYLOAD`], in envelopes that say which
//! replica published them; and the serde form of the stored metric rows events carry.
//!
//! Stored metric samples do not travel themselves: they are most of the events by far (a
//! 400-sample batch would be ~16 full payloads that every replica, the publisher included,
//! receives back), so an envelope names them by id instead ([`SampleRefs`], runs of
//! consecutive ids per table), and a replica with subscribers for them loads the rows
//! (`events::postgres`).

use chrono::NaiveDateTime;
use entity::{environment_metrics, gpu_metrics, host_metrics};
use serde::{Deserialize, Serialize};

use super::Event;

/// Largest NOTIFY payload we send (PostgreSQL's limit is 8000 bytes).
pub const MAX_PAYLOAD: usize = 7900;

/// What travels in one NOTIFY: the publishing replica, some events, and stored samples by id.
#[derive(Serialize, Deserialize)]
pub(super) struct Envelope {
    /// The replica that published (it has delivered to its own subscribers already).
    pub(super) o: String,
    #[serde(default)]
    pub(super) e: Vec<Event>,
    #[serde(default, skip_serializing_if = "SampleRefs::is_empty")]
    pub(super) r: SampleRefs,
}

/// Runs `(first id, count)` of consecutive ids.
pub(super) type Runs = Vec<(i64, u32)>;

/// Stored metric samples by id, per table, as runs of consecutive ids.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct SampleRefs {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) g: Vec<(i64, u32)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) h: Vec<(i64, u32)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) e: Vec<(i64, u32)>,
}

impl SampleRefs {
    pub(super) fn is_empty(&self) -> bool {
        self.g.is_empty() && self.h.is_empty() && self.e.is_empty()
    }

    /// The ids of runs, in order.
    pub(super) fn ids(runs: &[(i64, u32)]) -> Vec<i64> {
        runs.iter()
            .flat_map(|&(first, n)| (0..i64::from(n)).map(move |i| first + i))
            .collect()
    }
}

/// Appends `id` to `runs`, extending the last run when it follows it.
fn push_run(runs: &mut Vec<(i64, u32)>, id: i64) {
    if let Some((first, n)) = runs.last_mut() {
        if *first + i64::from(*n) == id && *n < u32::MAX {
            *n += 1;
            return;
        }
    }
    runs.push((id, 1));
}

/// Splits `events` into the stored samples, by id, and the others.
pub(super) fn split_samples(events: &[Event]) -> (SampleRefs, Vec<&Event>) {
    let mut refs = SampleRefs::default();
    let mut others = Vec::new();
    for event in events {
        match event {
            Event::GpuMetric(m) => push_run(&mut refs.g, m.id),
            Event::HostMetric(m) => push_run(&mut refs.h, m.id),
            Event::EnvironmentMetric(m) => push_run(&mut refs.e, m.id),
            other => others.push(other),
        }
    }
    (refs, others)
}

/// Packs `refs` into envelopes below `max` bytes each.
pub(super) fn pack_refs(origin: &str, refs: &SampleRefs, max: usize) -> Vec<String> {
    // A run is at most ~45 bytes of JSON; this many leave room for the envelope.
    let per_payload = (max.saturating_sub(200) / 48).max(1);
    let mut payloads = Vec::new();
    let mut pack_table = |runs: &Runs, part_of: fn(Runs) -> SampleRefs| {
        for chunk in runs.chunks(per_payload) {
            let envelope = Envelope {
                o: origin.to_owned(),
                e: Vec::new(),
                r: part_of(chunk.to_vec()),
            };
            match serde_json::to_string(&envelope) {
                Ok(json) => payloads.push(json),
                Err(err) => tracing::error!(error = %err, "cannot serialize sample ids"),
            }
        }
    };
    pack_table(&refs.g, |g| SampleRefs {
        g,
        ..Default::default()
    });
    pack_table(&refs.h, |h| SampleRefs {
        h,
        ..Default::default()
    });
    pack_table(&refs.e, |e| SampleRefs {
        e,
        ..Default::default()
    });
    payloads
}

/// Whether `payload` is an envelope `origin` published, from its first bytes: [`pack`]
/// writes the origin first, and origins are plain hex. A payload that does not start that
/// way is parsed in full.
pub(super) fn published_by(payload: &str, origin: &str) -> bool {
    payload
        .strip_prefix("{\"o\":\"")
        .and_then(|rest| rest.strip_prefix(origin))
        .is_some_and(|rest| rest.starts_with('"'))
}

/// Packs events into NOTIFY payloads below `max` bytes each. An event too large for one
/// payload on its own (none of ours is) is left out and logged.
pub(super) fn pack(origin: &str, events: &[&Event], max: usize) -> Vec<String> {
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

/// serde for the generated `gpu_metrics` model (entities are generated without serde).
#[derive(Serialize, Deserialize)]
#[serde(remote = "gpu_metrics::Model")]
pub(super) struct GpuMetricRow {
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
pub(super) struct EnvironmentMetricRow {
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
pub(super) struct HostMetricRow {
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
    use super::super::test_support::sample;
    use super::super::Revocation;
    use super::*;

    #[test]
    fn payloads_stay_under_the_limit_and_round_trip() {
        let events: Vec<Event> = (0..200).map(|i| sample(i, "host-x", i)).collect();
        let payloads = pack("me", &events.iter().collect::<Vec<_>>(), MAX_PAYLOAD);
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() <= MAX_PAYLOAD, "{} bytes", p.len());
            let envelope: Envelope = serde_json::from_str(p).unwrap();
            assert_eq!(envelope.o, "me");
            assert!(published_by(p, "me"));
            assert!(
                !published_by(p, "m"),
                "a prefix of the origin is another origin"
            );
            back.extend(envelope.e);
        }
        assert_eq!(back, events);
    }

    #[test]
    fn samples_travel_as_runs_of_ids_under_the_limit() {
        let revoked = Revocation::agent("h");
        let mut events: Vec<Event> = (0..400).map(|i| sample(1000 + i, "h", i)).collect();
        events.push(revoked.clone());
        events.push(sample(5000, "h", 1));
        events.extend((0..3000).map(|i| sample(10_000 + 2 * i, "h", 1)));
        let (refs, others) = split_samples(&events);
        assert_eq!(others, vec![&revoked]);
        assert_eq!(&refs.g[..2], &[(1000, 400), (5000, 1)]);
        assert_eq!(refs.g.len(), 3002, "every other id is a run of its own");
        let payloads = pack_refs("me", &refs, MAX_PAYLOAD);
        let mut ids = Vec::new();
        for p in &payloads {
            assert!(p.len() <= MAX_PAYLOAD, "{} bytes", p.len());
            assert!(published_by(p, "me"));
            let envelope: Envelope = serde_json::from_str(p).unwrap();
            assert!(envelope.e.is_empty() && envelope.r.h.is_empty());
            ids.extend(SampleRefs::ids(&envelope.r.g));
        }
        let expected: Vec<i64> = (1000..1400)
            .chain([5000])
            .chain((0..3000).map(|i| 10_000 + 2 * i))
            .collect();
        assert_eq!(ids, expected);
        let one = serde_json::to_string(&Envelope {
            o: "me".into(),
            e: vec![],
            r: SampleRefs {
                h: vec![(7, 2)],
                ..Default::default()
            },
        })
        .unwrap();
        assert_eq!(one, r#"{"o":"me","e":[],"r":{"h":[[7,2]]}}"#);
    }
}
