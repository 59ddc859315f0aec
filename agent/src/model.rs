//! Wire types: exactly the GraphQL input objects the server's agent API takes.
//!
//! Field names are the GraphQL field names (camelCase). `BigInt` values travel as JSON strings
//! of decimal digits, `DateTime` values as RFC 3339 UTC with millisecond precision. Optional
//! fields that could not be read are sent as `null` (never left out), so every request body has
//! the same shape. The same types are used for the on-disk buffer (`buffer.json`).

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

/// `OsType` GraphQL enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OsType {
    Linux,
    Windows,
}

impl OsType {
    /// The OS this binary was built for. Every non-Windows target reports `LINUX`
    /// (the API knows only these two).
    pub fn current() -> Self {
        if cfg!(windows) {
            OsType::Windows
        } else {
            OsType::Linux
        }
    }
}

/// `AgentReportInput`: the host and its GPUs, sent on start and after reconnecting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentReport {
    pub hostname: Option<String>,
    pub ip_address: String,
    pub os_type: OsType,
    pub os_version: Option<String>,
    pub arch: Option<String>,
    pub total_cpu: i32,
    #[serde(with = "bigint")]
    pub total_memory: u64,
    #[serde(with = "bigint::option")]
    pub total_disk: Option<u64>,
    pub agent_version: Option<String>,
    pub gpus: Vec<GpuInfo>,
}

/// `AgentGpuInput`: static description of one GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GpuInfo {
    pub index: i32,
    pub uuid: String,
    pub name: Option<String>,
    pub brand: Option<String>,
    pub architecture: Option<String>,
    #[serde(with = "bigint::option")]
    pub memory_total: Option<u64>,
    pub cuda_cores: Option<i32>,
    pub compute_capability: Option<String>,
    /// Watts.
    pub power_limit: Option<i32>,
    /// Degrees Celsius.
    pub temperature_limit: Option<i32>,
}

/// `GpuSampleInput`: one reading of one GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GpuSample {
    pub gpu_uuid: String,
    #[serde(with = "datetime")]
    pub collected_at: DateTime<Utc>,
    pub utilization_percent: Option<f64>,
    #[serde(with = "bigint::option")]
    pub memory_used: Option<u64>,
    pub memory_usage_percent: Option<f64>,
    /// Degrees Celsius.
    pub temperature: Option<f64>,
    /// Watts.
    pub power_draw: Option<f64>,
    pub fan_speed_percent: Option<f64>,
    /// MHz.
    pub sm_clock: Option<i32>,
    /// MHz.
    pub memory_clock: Option<i32>,
    pub process_count: Option<i32>,
}

/// `HostSampleInput`: one reading of the host. I/O values are cumulative counters since boot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostSample {
    #[serde(with = "datetime")]
    pub collected_at: DateTime<Utc>,
    pub cpu_usage_percent: Option<f64>,
    #[serde(rename = "cpuLoad1m")]
    pub cpu_load_1m: Option<f64>,
    #[serde(rename = "cpuLoad5m")]
    pub cpu_load_5m: Option<f64>,
    #[serde(rename = "cpuLoad15m")]
    pub cpu_load_15m: Option<f64>,
    #[serde(with = "bigint::option")]
    pub memory_used: Option<u64>,
    #[serde(with = "bigint::option")]
    pub memory_available: Option<u64>,
    pub memory_usage_percent: Option<f64>,
    #[serde(with = "bigint::option")]
    pub disk_used: Option<u64>,
    #[serde(with = "bigint::option")]
    pub disk_available: Option<u64>,
    pub disk_usage_percent: Option<f64>,
    #[serde(with = "bigint::option")]
    pub disk_io_read_bytes: Option<u64>,
    #[serde(with = "bigint::option")]
    pub disk_io_write_bytes: Option<u64>,
    #[serde(with = "bigint::option")]
    pub network_rx_bytes: Option<u64>,
    #[serde(with = "bigint::option")]
    pub network_tx_bytes: Option<u64>,
    #[serde(with = "bigint::option")]
    pub network_rx_packets: Option<u64>,
    #[serde(with = "bigint::option")]
    pub network_tx_packets: Option<u64>,
    pub gpu_avg_utilization: Option<f64>,
    #[serde(with = "bigint::option")]
    pub gpu_avg_memory_used: Option<u64>,
    pub gpu_avg_temperature: Option<f64>,
    pub gpu_avg_power: Option<f64>,
}

/// One collection round: the host sample and one sample per GPU, all with the same
/// `collectedAt`. This is the unit the buffer holds and `--buffer-capacity`, `--max-batch` and
/// `droppedSamples` count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Round {
    pub host: HostSample,
    pub gpus: Vec<GpuSample>,
}

/// `MetricBatchInput`, borrowed from the buffer for serialisation.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricBatchInput<'a> {
    pub batch_id: String,
    pub dropped_samples: i32,
    pub host_samples: Vec<&'a HostSample>,
    pub gpu_samples: Vec<&'a GpuSample>,
}

/// Current time, truncated to milliseconds (what the wire format carries).
pub fn now_millis() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// Rounds a float to `digits` decimals (keeps request bodies short and readable).
pub fn round_to(value: f64, digits: i32) -> f64 {
    let factor = 10f64.powi(digits);
    (value * factor).round() / factor
}

/// `DateTime` scalar: RFC 3339, UTC, `Z` suffix, milliseconds.
pub mod datetime {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// `BigInt` scalar: a JSON string of decimal digits. Reading also accepts a JSON number.
pub mod bigint {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Text(String),
        Number(u64),
    }

    fn parse<E: serde::de::Error>(wire: Wire) -> Result<u64, E> {
        match wire {
            Wire::Number(n) => Ok(n),
            Wire::Text(t) => t
                .parse()
                .map_err(|_| E::custom(format!("invalid BigInt {t:?}"))),
        }
    }

    pub fn serialize<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        parse(Wire::deserialize(d)?)
    }

    pub mod option {
        use super::{parse, Wire};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => s.collect_str(v),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
            Option::<Wire>::deserialize(d)?.map(parse).transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-02T03:04:05.678Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    pub(crate) fn gpu_info() -> GpuInfo {
        GpuInfo {
            index: 0,
            uuid: "GPU-1".into(),
            name: Some("Test GPU".into()),
            brand: Some("Tesla".into()),
            architecture: Some("Ampere".into()),
            memory_total: Some(85_899_345_920),
            cuda_cores: Some(6912),
            compute_capability: Some("8.0".into()),
            power_limit: Some(400),
            temperature_limit: None,
        }
    }

    #[test]
    fn agent_report_has_exactly_the_contract_fields() {
        let report = AgentReport {
            hostname: Some("h".into()),
            ip_address: "10.0.0.1".into(),
            os_type: OsType::Linux,
            os_version: None,
            arch: Some("x86_64".into()),
            total_cpu: 8,
            total_memory: 17_179_869_184,
            total_disk: Some(5_000_000_000_000),
            agent_version: Some("0.1.0".into()),
            gpus: vec![gpu_info()],
        };
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(
            keys(&v),
            sorted(&[
                "hostname",
                "ipAddress",
                "osType",
                "osVersion",
                "arch",
                "totalCpu",
                "totalMemory",
                "totalDisk",
                "agentVersion",
                "gpus"
            ])
        );
        assert_eq!(v["osType"], json!("LINUX"));
        assert_eq!(v["totalMemory"], json!("17179869184"));
        assert_eq!(v["totalDisk"], json!("5000000000000"));
        assert_eq!(v["osVersion"], Value::Null);
        assert_eq!(v["totalCpu"], json!(8));
        let gpu = &v["gpus"][0];
        assert_eq!(
            keys(gpu),
            sorted(&[
                "index",
                "uuid",
                "name",
                "brand",
                "architecture",
                "memoryTotal",
                "cudaCores",
                "computeCapability",
                "powerLimit",
                "temperatureLimit"
            ])
        );
        assert_eq!(gpu["memoryTotal"], json!("85899345920"));
        assert_eq!(gpu["cudaCores"], json!(6912));
        assert_eq!(gpu["temperatureLimit"], Value::Null);
        assert_eq!(
            serde_json::to_value(OsType::Windows).unwrap(),
            json!("WINDOWS")
        );
    }

    #[test]
    fn samples_have_exactly_the_contract_fields() {
        let host = HostSample {
            collected_at: at(),
            memory_used: Some(1),
            network_rx_packets: Some(u64::MAX),
            cpu_load_1m: Some(0.5),
            ..HostSample::default()
        };
        let v = serde_json::to_value(&host).unwrap();
        assert_eq!(
            keys(&v),
            sorted(&[
                "collectedAt",
                "cpuUsagePercent",
                "cpuLoad1m",
                "cpuLoad5m",
                "cpuLoad15m",
                "memoryUsed",
                "memoryAvailable",
                "memoryUsagePercent",
                "diskUsed",
                "diskAvailable",
                "diskUsagePercent",
                "diskIoReadBytes",
                "diskIoWriteBytes",
                "networkRxBytes",
                "networkTxBytes",
                "networkRxPackets",
                "networkTxPackets",
                "gpuAvgUtilization",
                "gpuAvgMemoryUsed",
                "gpuAvgTemperature",
                "gpuAvgPower"
            ])
        );
        assert_eq!(v["collectedAt"], json!("2025-01-02T03:04:05.678Z"));
        assert_eq!(v["memoryUsed"], json!("1"));
        assert_eq!(v["networkRxPackets"], json!("18446744073709551615"));
        assert_eq!(v["cpuLoad1m"], json!(0.5));
        assert_eq!(v["diskUsed"], Value::Null);

        let gpu = GpuSample {
            gpu_uuid: "GPU-1".into(),
            collected_at: at(),
            utilization_percent: Some(12.5),
            memory_used: Some(1024),
            memory_usage_percent: None,
            temperature: Some(40.0),
            power_draw: None,
            fan_speed_percent: None,
            sm_clock: Some(1410),
            memory_clock: None,
            process_count: Some(2),
        };
        let v = serde_json::to_value(&gpu).unwrap();
        assert_eq!(
            keys(&v),
            sorted(&[
                "gpuUuid",
                "collectedAt",
                "utilizationPercent",
                "memoryUsed",
                "memoryUsagePercent",
                "temperature",
                "powerDraw",
                "fanSpeedPercent",
                "smClock",
                "memoryClock",
                "processCount"
            ])
        );
        assert_eq!(v["memoryUsed"], json!("1024"));
        assert_eq!(v["smClock"], json!(1410));

        // Round trip (the on-disk buffer uses the same encoding).
        let back: GpuSample = serde_json::from_value(v).unwrap();
        assert_eq!(back, gpu);
        let back: HostSample =
            serde_json::from_value(serde_json::to_value(&host).unwrap()).unwrap();
        assert_eq!(back, host);
    }

    #[test]
    fn batch_input_has_exactly_the_contract_fields() {
        let host = HostSample {
            collected_at: at(),
            ..HostSample::default()
        };
        let batch = MetricBatchInput {
            batch_id: "b".into(),
            dropped_samples: 3,
            host_samples: vec![&host],
            gpu_samples: vec![],
        };
        let v = serde_json::to_value(&batch).unwrap();
        assert_eq!(
            keys(&v),
            sorted(&["batchId", "droppedSamples", "hostSamples", "gpuSamples"])
        );
        assert_eq!(v["droppedSamples"], json!(3));
    }

    #[test]
    fn bigint_accepts_strings_and_numbers_and_rejects_garbage() {
        #[derive(Deserialize)]
        struct T {
            #[serde(with = "bigint::option")]
            v: Option<u64>,
        }
        let t: T = serde_json::from_value(json!({"v": "42"})).unwrap();
        assert_eq!(t.v, Some(42));
        let t: T = serde_json::from_value(json!({"v": 7})).unwrap();
        assert_eq!(t.v, Some(7));
        let t: T = serde_json::from_value(json!({"v": null})).unwrap();
        assert_eq!(t.v, None);
        assert!(serde_json::from_value::<T>(json!({"v": "-1"})).is_err());
    }
}
