//! What travels between replicas: events as JSON in NOTIFY payloads (PostgreSQL allows 8000
//! bytes each), packed many to a payload below [`MAX_PAYLOAD`], in envelopes that say which
//! replica published them; and the serde form of the stored metric rows events carry.

use chrono::NaiveDateTime;
use entity::{environment_metrics, gpu_metrics, host_metrics};
use serde::{Deserialize, Serialize};

use super::Event;

/// Largest NOTIFY payload we send (PostgreSQL's limit is 8000 bytes).
pub const MAX_PAYLOAD: usize = 7900;

/// What travels in one NOTIFY: the publishing replica and some events.
#[derive(Serialize, Deserialize)]
pub(super) struct Envelope {
    /// The replica that published (it has delivered to its own subscribers already).
    pub(super) o: String,
    pub(super) e: Vec<Event>,
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
pub(super) fn pack(origin: &str, events: &[Event], max: usize) -> Vec<String> {
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
    use super::*;

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
            assert!(published_by(p, "me"));
            assert!(
                !published_by(p, "m"),
                "a prefix of the origin is another origin"
            );
            back.extend(envelope.e);
        }
        assert_eq!(back, events);
    }
}
