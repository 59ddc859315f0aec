//! GPUs read from a JSON file instead of NVML: for tests and for demo machines without GPUs.
//!
//! File format (`--fake-gpus FILE`; see `agent/examples/fake-gpus.json`):
//!
//! ```json
//! { "gpus": [ {
//!     "uuid": "GPU-…", "index": 0, "name": "NVIDIA A100-SXM4-80GB", "brand": "Tesla",
//!     "architecture": "Ampere", "memoryTotal": 85899345920, "cudaCores": 6912,
//!     "computeCapability": "8.0", "powerLimit": 400, "temperatureLimit": 85,
//!     "readings": [ { "utilizationPercent": 35, "memoryUsed": 21474836480, "temperature": 52,
//!                     "powerDraw": 180.5, "fanSpeedPercent": null, "smClock": 1410,
//!                     "memoryClock": 1593, "processCount": 2 } ] } ] }
//! ```
//!
//! Only `uuid` is required. `index` defaults to the position in the list. Each `sample()` takes
//! the next entry of `readings` (cycling); `memoryUsagePercent` is derived from `memoryUsed` and
//! `memoryTotal` unless given. Unknown fields are rejected so that typos show.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{empty_gpu_sample, GpuCollector};
use crate::model::{bigint, round_to, GpuInfo, GpuSample};

#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("cannot read fake GPU file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid fake GPU file {path}: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("invalid fake GPU file {path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeFile {
    pub gpus: Vec<FakeGpu>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FakeGpu {
    pub uuid: String,
    #[serde(default)]
    pub index: Option<i32>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default, with = "bigint::option")]
    pub memory_total: Option<u64>,
    #[serde(default)]
    pub cuda_cores: Option<i32>,
    #[serde(default)]
    pub compute_capability: Option<String>,
    #[serde(default)]
    pub power_limit: Option<i32>,
    #[serde(default)]
    pub temperature_limit: Option<i32>,
    #[serde(default)]
    pub readings: Vec<FakeReading>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FakeReading {
    #[serde(default)]
    pub utilization_percent: Option<f64>,
    #[serde(default, with = "bigint::option")]
    pub memory_used: Option<u64>,
    #[serde(default)]
    pub memory_usage_percent: Option<f64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub power_draw: Option<f64>,
    #[serde(default)]
    pub fan_speed_percent: Option<f64>,
    #[serde(default)]
    pub sm_clock: Option<i32>,
    #[serde(default)]
    pub memory_clock: Option<i32>,
    #[serde(default)]
    pub process_count: Option<i32>,
}

/// GPU collector fed from a [`FakeFile`].
#[derive(Debug, Clone)]
pub struct FakeCollector {
    gpus: Vec<FakeGpu>,
    /// Number of `sample()` calls so far (selects the reading).
    tick: usize,
}

impl FakeCollector {
    pub fn new(file: FakeFile) -> Self {
        Self {
            gpus: file.gpus,
            tick: 0,
        }
    }

    /// Parses a fake GPU file's text. `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, FakeError> {
        let file: FakeFile = serde_json::from_str(text).map_err(|source| FakeError::Parse {
            path: origin.to_string(),
            source,
        })?;
        let mut seen = std::collections::HashSet::new();
        for gpu in &file.gpus {
            if gpu.uuid.trim().is_empty() {
                return Err(FakeError::Invalid {
                    path: origin.to_string(),
                    message: "a GPU has an empty uuid".into(),
                });
            }
            if !seen.insert(gpu.uuid.as_str()) {
                return Err(FakeError::Invalid {
                    path: origin.to_string(),
                    message: format!("uuid {} appears twice", gpu.uuid),
                });
            }
        }
        Ok(Self::new(file))
    }

    pub fn from_path(path: &Path) -> Result<Self, FakeError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FakeError::Read {
            path: origin.clone(),
            source,
        })?;
        Self::from_json(&text, &origin)
    }

    /// Two demo GPUs with changing readings, used by `--collector fake` without `--fake-gpus`.
    /// Their uuids are derived from `seed` (the host name) so that several demo hosts do not
    /// report the same GPUs.
    pub fn demo(seed: &str) -> Self {
        let h = fnv1a(seed.as_bytes());
        let uuid = |i: u64| {
            let x = h ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            format!(
                "GPU-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                (x >> 32) as u32,
                (x >> 16) as u16,
                x as u16,
                (i as u16) | 0xf000,
                x & 0xffff_ffff_ffff
            )
        };
        let memory_total: u64 = 24 * 1024 * 1024 * 1024;
        let gpus = (0..2u64)
            .map(|i| {
                let readings = (0..6u64)
                    .map(|t| {
                        let load = ((t + i * 3) % 6) as f64;
                        FakeReading {
                            utilization_percent: Some(load * 18.0),
                            memory_used: Some(memory_total / 16 * (2 + (t + i) % 6)),
                            temperature: Some(38.0 + load * 7.0),
                            power_draw: Some(round_to(60.0 + load * 48.5, 2)),
                            fan_speed_percent: Some(30.0 + load * 10.0),
                            sm_clock: Some(if load > 0.0 { 1860 } else { 210 }),
                            memory_clock: Some(if load > 0.0 { 9501 } else { 405 }),
                            process_count: Some(i32::from(load > 0.0)),
                            memory_usage_percent: None,
                        }
                    })
                    .collect();
                FakeGpu {
                    uuid: uuid(i),
                    index: Some(i as i32),
                    name: Some("Fake GeForce RTX 4090".into()),
                    brand: Some("GeForce RTX".into()),
                    architecture: Some("Ada".into()),
                    memory_total: Some(memory_total),
                    cuda_cores: Some(16384),
                    compute_capability: Some("8.9".into()),
                    power_limit: Some(450),
                    temperature_limit: Some(90),
                    readings,
                }
            })
            .collect();
        Self::new(FakeFile { gpus })
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl GpuCollector for FakeCollector {
    fn describe(&mut self) -> Vec<GpuInfo> {
        self.gpus
            .iter()
            .enumerate()
            .map(|(pos, g)| GpuInfo {
                index: g.index.unwrap_or(pos as i32),
                uuid: g.uuid.clone(),
                name: g.name.clone(),
                brand: g.brand.clone(),
                architecture: g.architecture.clone(),
                memory_total: g.memory_total,
                cuda_cores: g.cuda_cores,
                compute_capability: g.compute_capability.clone(),
                power_limit: g.power_limit,
                temperature_limit: g.temperature_limit,
            })
            .collect()
    }

    fn sample(&mut self, at: DateTime<Utc>) -> Vec<GpuSample> {
        let tick = self.tick;
        self.tick = self.tick.wrapping_add(1);
        self.gpus
            .iter()
            .map(|g| {
                let Some(r) = g.readings.get(tick % g.readings.len().max(1)) else {
                    return empty_gpu_sample(&g.uuid, at);
                };
                let derived_percent = match (r.memory_used, g.memory_total) {
                    (Some(used), Some(total)) if total > 0 => {
                        Some(round_to(used as f64 * 100.0 / total as f64, 2))
                    }
                    _ => None,
                };
                GpuSample {
                    gpu_uuid: g.uuid.clone(),
                    collected_at: at,
                    utilization_percent: r.utilization_percent,
                    memory_used: r.memory_used,
                    memory_usage_percent: r.memory_usage_percent.or(derived_percent),
                    temperature: r.temperature,
                    power_draw: r.power_draw,
                    fan_speed_percent: r.fan_speed_percent,
                    sm_clock: r.sm_clock,
                    memory_clock: r.memory_clock,
                    process_count: r.process_count,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::now_millis;

    const FILE: &str = r#"{ "gpus": [
        { "uuid": "GPU-aaaa", "name": "Test A100", "brand": "Tesla", "architecture": "Ampere",
          "memoryTotal": 85899345920, "cudaCores": 6912, "computeCapability": "8.0",
          "powerLimit": 400, "temperatureLimit": 85,
          "readings": [
            { "utilizationPercent": 10, "memoryUsed": 8589934592, "temperature": 40,
              "powerDraw": 100.5, "fanSpeedPercent": null, "smClock": 1410, "memoryClock": 1593,
              "processCount": 1 },
            { "utilizationPercent": 90, "memoryUsed": "42949672960", "temperature": 70,
              "powerDraw": 350, "memoryUsagePercent": 51 }
          ] },
        { "uuid": "GPU-bbbb", "index": 7 }
    ] }"#;

    #[test]
    fn parses_description() {
        let mut c = FakeCollector::from_json(FILE, "test").unwrap();
        let gpus = c.describe();
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].index, 0);
        assert_eq!(gpus[0].uuid, "GPU-aaaa");
        assert_eq!(gpus[0].memory_total, Some(85_899_345_920));
        assert_eq!(gpus[0].cuda_cores, Some(6912));
        assert_eq!(gpus[0].compute_capability.as_deref(), Some("8.0"));
        assert_eq!(gpus[0].power_limit, Some(400));
        assert_eq!(gpus[0].temperature_limit, Some(85));
        assert_eq!(gpus[1].index, 7);
        assert_eq!(gpus[1].name, None);
    }

    #[test]
    fn yields_the_given_readings_in_order_and_cycles() {
        let mut c = FakeCollector::from_json(FILE, "test").unwrap();
        let at = now_millis();
        let first = c.sample(at);
        assert_eq!(first.len(), 2);
        let a = &first[0];
        assert_eq!(a.gpu_uuid, "GPU-aaaa");
        assert_eq!(a.collected_at, at);
        assert_eq!(a.utilization_percent, Some(10.0));
        assert_eq!(a.memory_used, Some(8_589_934_592));
        assert_eq!(a.memory_usage_percent, Some(10.0));
        assert_eq!(a.temperature, Some(40.0));
        assert_eq!(a.power_draw, Some(100.5));
        assert_eq!(a.fan_speed_percent, None);
        assert_eq!(a.sm_clock, Some(1410));
        assert_eq!(a.memory_clock, Some(1593));
        assert_eq!(a.process_count, Some(1));
        // A GPU without readings yields an all-null sample.
        assert_eq!(first[1], empty_gpu_sample("GPU-bbbb", at));

        let second = c.sample(at);
        assert_eq!(second[0].utilization_percent, Some(90.0));
        assert_eq!(second[0].memory_used, Some(42_949_672_960));
        assert_eq!(second[0].memory_usage_percent, Some(51.0));
        assert_eq!(second[0].sm_clock, None);

        let third = c.sample(at);
        assert_eq!(third[0].utilization_percent, Some(10.0));
    }

    #[test]
    fn rejects_typos_and_duplicates() {
        let typo = r#"{ "gpus": [ { "uuid": "GPU-1", "readings": [ { "utilisation": 3 } ] } ] }"#;
        assert!(matches!(
            FakeCollector::from_json(typo, "t"),
            Err(FakeError::Parse { .. })
        ));
        let dup = r#"{ "gpus": [ { "uuid": "GPU-1" }, { "uuid": "GPU-1" } ] }"#;
        assert!(matches!(
            FakeCollector::from_json(dup, "t"),
            Err(FakeError::Invalid { .. })
        ));
        assert!(FakeCollector::from_json(r#"{ "gpus": [] }"#, "t").is_ok());
    }

    #[test]
    fn demo_gpus_differ_per_host_and_are_stable() {
        let a = FakeCollector::demo("host-a").describe();
        let b = FakeCollector::demo("host-b").describe();
        assert_eq!(a.len(), 2);
        assert_ne!(a[0].uuid, a[1].uuid);
        assert_ne!(a[0].uuid, b[0].uuid);
        assert_eq!(a, FakeCollector::demo("host-a").describe());
        assert!(a[0].uuid.starts_with("GPU-"));
        assert_eq!(a[0].uuid.len(), "GPU-".len() + 36);
    }

    #[test]
    fn shipped_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fake-gpus.json");
        let mut c = FakeCollector::from_path(&path).unwrap();
        assert!(!c.describe().is_empty());
    }
}
