//! GPUs through NVML (`libnvidia-ml`, loaded at run time by `nvml-wrapper`).
//!
//! A machine without the library, without a driver or without GPUs is a normal host with zero
//! GPUs: [`NvmlCollector::new`] logs one line saying so and never fails. A value NVML cannot
//! read for a GPU (fan speed on a fanless board, power on some boards, ...) is `None`.

use chrono::{DateTime, Utc};
use nvml_wrapper::enum_wrappers::device::{Brand, Clock, TemperatureSensor, TemperatureThreshold};
use nvml_wrapper::{Device, Nvml};

use super::GpuCollector;
use crate::model::{round_to, GpuInfo, GpuSample};

/// The shipped GPU collector.
pub struct NvmlCollector {
    nvml: Option<Nvml>,
    /// Device count found at start (NVML does not hot-plug GPUs without a driver reload).
    count: u32,
    /// Per device index: whether the last read failed (to log state changes only).
    failing: Vec<bool>,
}

impl NvmlCollector {
    /// Loads NVML. Never fails; logs exactly one line describing what was found.
    pub fn new() -> Self {
        match Nvml::init() {
            Ok(nvml) => match nvml.device_count() {
                Ok(0) => {
                    tracing::info!("NVML loaded but found no GPUs; this host reports zero GPUs");
                    Self::without_gpus(Some(nvml))
                }
                Ok(count) => {
                    let driver = nvml
                        .sys_driver_version()
                        .unwrap_or_else(|_| "unknown".into());
                    tracing::info!(gpus = count, driver = %driver, "NVML loaded");
                    Self {
                        nvml: Some(nvml),
                        count,
                        failing: vec![false; count as usize],
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "NVML cannot count GPUs; this host reports zero GPUs");
                    Self::without_gpus(None)
                }
            },
            Err(e) => {
                tracing::info!(
                    reason = %e,
                    "NVML is not available (no NVIDIA driver?); this host reports zero GPUs"
                );
                Self::without_gpus(None)
            }
        }
    }

    fn without_gpus(nvml: Option<Nvml>) -> Self {
        Self {
            nvml,
            count: 0,
            failing: Vec::new(),
        }
    }

    /// Number of GPUs this collector reports.
    pub fn gpu_count(&self) -> u32 {
        self.count
    }
}

/// Logs a GPU's readability only when it changes.
fn note(failing: &mut [bool], index: u32, error: Option<&nvml_wrapper::error::NvmlError>) {
    let Some(slot) = failing.get_mut(index as usize) else {
        return;
    };
    let failed = error.is_some();
    if *slot != failed {
        *slot = failed;
        match error {
            Some(e) => tracing::warn!(gpu = index, error = %e, "GPU cannot be read"),
            None => tracing::info!(gpu = index, "GPU readable again"),
        }
    }
}

impl Default for NvmlCollector {
    fn default() -> Self {
        Self::new()
    }
}

fn brand_name(brand: Brand) -> String {
    let name = match brand {
        Brand::Unknown => "Unknown",
        Brand::Quadro => "Quadro",
        Brand::Tesla => "Tesla",
        Brand::NVS => "NVS",
        Brand::GRID => "GRID",
        Brand::GeForce => "GeForce",
        Brand::Titan => "Titan",
        Brand::VApps => "NVIDIA Virtual Applications",
        Brand::VPC => "NVIDIA Virtual PC",
        Brand::VCS => "NVIDIA Virtual Compute Server",
        Brand::VWS => "NVIDIA RTX Virtual Workstation",
        Brand::CloudGaming | Brand::VGaming => "NVIDIA Cloud Gaming",
        Brand::QuadroRTX => "Quadro RTX",
        Brand::NvidiaRTX => "NVIDIA RTX",
        Brand::Nvidia => "NVIDIA",
        Brand::GeForceRTX => "GeForce RTX",
        Brand::TitanRTX => "Titan RTX",
    };
    name.to_string()
}

/// Milliwatts to whole watts.
fn mw_to_w_int(mw: u32) -> i32 {
    i32::try_from((mw + 500) / 1000).unwrap_or(i32::MAX)
}

fn to_i32(v: u32) -> Option<i32> {
    i32::try_from(v).ok()
}

fn describe_device(
    index: u32,
    device: &Device<'_>,
) -> Result<GpuInfo, nvml_wrapper::error::NvmlError> {
    let uuid = device.uuid()?;
    let power_limit = device
        .enforced_power_limit()
        .or_else(|_| device.power_management_limit())
        .ok()
        .map(mw_to_w_int);
    let temperature_limit = device
        .temperature_threshold(TemperatureThreshold::Slowdown)
        .or_else(|_| device.temperature_threshold(TemperatureThreshold::Shutdown))
        .ok()
        .and_then(to_i32);
    Ok(GpuInfo {
        index: device.index().ok().and_then(to_i32).unwrap_or(index as i32),
        uuid,
        name: device.name().ok(),
        brand: device.brand().ok().map(brand_name),
        architecture: device.architecture().ok().map(|a| a.to_string()),
        memory_total: device.memory_info().ok().map(|m| m.total),
        cuda_cores: device.num_cores().ok().and_then(to_i32),
        compute_capability: device
            .cuda_compute_capability()
            .ok()
            .map(|c| format!("{}.{}", c.major, c.minor)),
        power_limit,
        temperature_limit,
    })
}

fn sample_device(uuid: String, device: &Device<'_>, at: DateTime<Utc>) -> GpuSample {
    let memory = device.memory_info().ok();
    let memory_usage_percent = memory
        .as_ref()
        .filter(|m| m.total > 0)
        .map(|m| round_to(m.used as f64 * 100.0 / m.total as f64, 2));
    let compute = device.running_compute_processes_count().ok();
    let graphics = device.running_graphics_processes_count().ok();
    let process_count = match (compute, graphics) {
        (None, None) => None,
        (c, g) => to_i32(c.unwrap_or(0).saturating_add(g.unwrap_or(0))),
    };
    GpuSample {
        gpu_uuid: uuid,
        collected_at: at,
        utilization_percent: device.utilization_rates().ok().map(|u| f64::from(u.gpu)),
        memory_used: memory.as_ref().map(|m| m.used),
        memory_usage_percent,
        temperature: device
            .temperature(TemperatureSensor::Gpu)
            .ok()
            .map(f64::from),
        power_draw: device
            .power_usage()
            .ok()
            .map(|mw| round_to(f64::from(mw) / 1000.0, 2)),
        // Fanless (passively cooled) boards answer NotSupported: null.
        fan_speed_percent: device.fan_speed(0).ok().map(f64::from),
        sm_clock: device.clock_info(Clock::SM).ok().and_then(to_i32),
        memory_clock: device.clock_info(Clock::Memory).ok().and_then(to_i32),
        process_count,
    }
}

impl GpuCollector for NvmlCollector {
    fn describe(&mut self) -> Vec<GpuInfo> {
        let Self {
            nvml,
            count,
            failing,
        } = self;
        let Some(nvml) = nvml else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(*count as usize);
        for index in 0..*count {
            match nvml
                .device_by_index(index)
                .and_then(|d| describe_device(index, &d))
            {
                Ok(info) => {
                    note(failing, index, None);
                    out.push(info);
                }
                Err(e) => note(failing, index, Some(&e)),
            }
        }
        out
    }

    fn sample(&mut self, at: DateTime<Utc>) -> Vec<GpuSample> {
        let Self {
            nvml,
            count,
            failing,
        } = self;
        let Some(nvml) = nvml else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(*count as usize);
        for index in 0..*count {
            match nvml
                .device_by_index(index)
                .and_then(|d| d.uuid().map(|uuid| sample_device(uuid, &d, at)))
            {
                Ok(sample) => {
                    note(failing, index, None);
                    out.push(sample);
                }
                // A GPU that fell off the bus is left out of the round (logged once).
                Err(e) => note(failing, index, Some(&e)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_driver_means_zero_gpus_without_error() {
        // The build and test machines have no NVIDIA driver; on a GPU machine this test checks
        // that every GPU found is described and sampled.
        let library_present = Nvml::init().is_ok();
        let mut c = NvmlCollector::new();
        let gpus = c.describe();
        if !library_present {
            assert_eq!(c.gpu_count(), 0);
            assert!(gpus.is_empty());
        }
        let samples = c.sample(crate::model::now_millis());
        assert_eq!(gpus.len(), c.gpu_count() as usize);
        assert_eq!(samples.len(), gpus.len());
        for (g, s) in gpus.iter().zip(&samples) {
            assert_eq!(g.uuid, s.gpu_uuid);
        }
    }

    #[test]
    fn unit_conversions() {
        assert_eq!(mw_to_w_int(250_000), 250);
        assert_eq!(mw_to_w_int(70_499), 70);
        assert_eq!(mw_to_w_int(70_500), 71);
        assert_eq!(brand_name(Brand::GeForceRTX), "GeForce RTX");
    }
}
