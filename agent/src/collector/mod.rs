//! Collection of host and GPU readings.
//!
//! GPUs sit behind [`GpuCollector`] so that tests and GPU-less demo machines can feed known
//! readings ([`FakeCollector`]); [`NvmlCollector`] is the implementation that ships.
//! [`HostCollector`] reads the host through `sysinfo` (and `/proc` on Linux), refreshing only
//! what a sample reads.

pub mod fake;
pub mod host;
pub mod nvml;
#[cfg(target_os = "linux")]
mod procfs;

use chrono::{DateTime, Utc};

pub use fake::FakeCollector;
pub use host::HostCollector;
pub use nvml::NvmlCollector;

use crate::model::{round_to, AgentReport, GpuInfo, GpuSample, Round};

/// Source of GPU descriptions and readings.
///
/// Neither method fails: a GPU that cannot be described is left out, and a reading the source
/// cannot take is `None`.
pub trait GpuCollector: Send {
    /// Static description of every GPU (sent in `agentReport`).
    fn describe(&mut self) -> Vec<GpuInfo>;
    /// One reading per GPU, stamped `at`.
    fn sample(&mut self, at: DateTime<Utc>) -> Vec<GpuSample>;
}

/// Averages over the GPUs that reported a value; `None` when none did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GpuAverages {
    pub utilization: Option<f64>,
    pub memory_used: Option<u64>,
    pub temperature: Option<f64>,
    pub power: Option<f64>,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

/// Computes the host sample's `gpuAvg*` fields from the GPU samples of the same round.
pub fn gpu_averages(samples: &[GpuSample]) -> GpuAverages {
    let memory_used = {
        let used: Vec<u64> = samples.iter().filter_map(|s| s.memory_used).collect();
        if used.is_empty() {
            None
        } else {
            let sum: u128 = used.iter().map(|&v| u128::from(v)).sum();
            u64::try_from(sum / used.len() as u128).ok()
        }
    };
    GpuAverages {
        utilization: mean(samples.iter().filter_map(|s| s.utilization_percent))
            .map(|v| round_to(v, 2)),
        memory_used,
        temperature: mean(samples.iter().filter_map(|s| s.temperature)).map(|v| round_to(v, 2)),
        power: mean(samples.iter().filter_map(|s| s.power_draw)).map(|v| round_to(v, 2)),
    }
}

/// Host plus GPUs: what the agent loop talks to.
pub struct Collectors {
    pub host: HostCollector,
    pub gpus: Box<dyn GpuCollector>,
}

impl Collectors {
    /// The `agentReport` input: host description and GPU descriptions, with text fields
    /// clipped to the lengths the server stores.
    pub fn describe(&mut self) -> AgentReport {
        let gpus = self.gpus.describe();
        let mut report = self.host.describe(gpus);
        clip_report(&mut report);
        report
    }

    /// One collection round: host sample (with GPU averages) and GPU samples, same timestamp.
    pub fn collect(&mut self) -> Round {
        let at = crate::model::now_millis();
        let gpus = self.gpus.sample(at);
        let mut host = self.host.sample(at);
        let avg = gpu_averages(&gpus);
        host.gpu_avg_utilization = avg.utilization;
        host.gpu_avg_memory_used = avg.memory_used;
        host.gpu_avg_temperature = avg.temperature;
        host.gpu_avg_power = avg.power;
        Round { host, gpus }
    }
}

/// Longest text the server stores per field (the `hosts` and `gpus` column sizes).
pub mod limits {
    pub const HOSTNAME: usize = 256;
    pub const OS_VERSION: usize = 64;
    pub const ARCH: usize = 20;
    pub const GPU_NAME: usize = 128;
    pub const GPU_BRAND: usize = 64;
    pub const GPU_ARCHITECTURE: usize = 64;
    pub const GPU_COMPUTE_CAPABILITY: usize = 32;
}

/// Cuts `text` to at most `max` characters.
fn clip(text: &mut Option<String>, max: usize) {
    if let Some(t) = text {
        if let Some((cut, _)) = t.char_indices().nth(max) {
            t.truncate(cut);
        }
    }
}

fn clip_report(report: &mut AgentReport) {
    clip(&mut report.hostname, limits::HOSTNAME);
    clip(&mut report.os_version, limits::OS_VERSION);
    clip(&mut report.arch, limits::ARCH);
    for gpu in &mut report.gpus {
        clip(&mut gpu.name, limits::GPU_NAME);
        clip(&mut gpu.brand, limits::GPU_BRAND);
        clip(&mut gpu.architecture, limits::GPU_ARCHITECTURE);
        clip(&mut gpu.compute_capability, limits::GPU_COMPUTE_CAPABILITY);
    }
}

/// Helper for tests and the fake collector: an empty GPU sample.
pub(crate) fn empty_gpu_sample(uuid: &str, at: DateTime<Utc>) -> GpuSample {
    GpuSample {
        gpu_uuid: uuid.to_string(),
        collected_at: at,
        utilization_percent: None,
        memory_used: None,
        memory_usage_percent: None,
        temperature: None,
        power_draw: None,
        fan_speed_percent: None,
        sm_clock: None,
        memory_clock: None,
        process_count: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(
        util: Option<f64>,
        mem: Option<u64>,
        temp: Option<f64>,
        power: Option<f64>,
    ) -> GpuSample {
        GpuSample {
            utilization_percent: util,
            memory_used: mem,
            temperature: temp,
            power_draw: power,
            ..empty_gpu_sample("GPU-x", crate::model::now_millis())
        }
    }

    #[test]
    fn averages_use_only_reported_values() {
        let s = [
            sample(Some(10.0), Some(1_000), Some(40.0), Some(100.0)),
            sample(Some(30.0), Some(3_000), None, Some(300.5)),
            sample(None, None, Some(60.0), None),
        ];
        let a = gpu_averages(&s);
        assert_eq!(a.utilization, Some(20.0));
        assert_eq!(a.memory_used, Some(2_000));
        assert_eq!(a.temperature, Some(50.0));
        assert_eq!(a.power, Some(200.25));
    }

    #[test]
    fn averages_of_no_gpus_are_null() {
        assert_eq!(gpu_averages(&[]), GpuAverages::default());
        let a = gpu_averages(&[sample(None, None, None, None)]);
        assert_eq!(a, GpuAverages::default());
    }

    #[test]
    fn clips_text_to_column_sizes() {
        let mut t = Some("é".repeat(70));
        clip(&mut t, limits::OS_VERSION);
        assert_eq!(t.as_deref().map(|s| s.chars().count()), Some(64));
        let mut short = Some("x86_64".to_string());
        clip(&mut short, limits::ARCH);
        assert_eq!(short.as_deref(), Some("x86_64"));
        let mut none = None;
        clip(&mut none, 1);
        assert_eq!(none, None);
    }

    #[test]
    fn average_memory_does_not_overflow() {
        let s = [
            sample(None, Some(u64::MAX), None, None),
            sample(None, Some(u64::MAX - 2), None, None),
        ];
        assert_eq!(gpu_averages(&s).memory_used, Some(u64::MAX - 1));
    }
}
