//! The node agent's API (agent token only; each call acts on the token's own host):
//! `agentReport` (describe the host and its GPUs), `reportMetrics` (a batch of samples),
//! `agentHeartbeat`, and `reportEnvironmentStatus`. Every call counts as a heartbeat.
//! Inputs are parsed here, into BAD_USER_INPUT errors, before the database is touched.

use std::collections::HashSet;

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::convert::{count, opt_bytes, opt_text, text};
use super::crud::{principal, state};
use super::enums::{DbEnum, EnvironmentStatus, OsType};
use super::gpus::gpu_columns;
use super::hosts::host_columns;
use super::live::EnvironmentStatusEvent;
use super::scalars::BigInt;
use crate::domain::Count;
use crate::error::{AppError, AppResult, GqlResult};
use crate::services::environments;
use crate::services::{agents, host_status, storage};

/// How a host describes itself; `null` optional fields keep what the server has.
#[derive(InputObject)]
pub struct AgentReportInput {
    pub hostname: Option<String>,
    pub ip_address: String,
    pub os_type: OsType,
    pub os_version: Option<String>,
    pub arch: Option<String>,
    pub total_cpu: i32,
    /// Bytes.
    pub total_memory: BigInt,
    /// Bytes.
    pub total_disk: Option<BigInt>,
    pub agent_version: Option<String>,
    /// Every GPU the host has now; GPUs the server knows for this host but not listed here
    /// are marked vanished (`status` and `healthStatus` `ERROR`).
    pub gpus: Vec<AgentGpuInput>,
}

#[derive(InputObject)]
pub struct AgentGpuInput {
    pub index: i32,
    /// NVML's uuid (`GPU-...`): the GPU's identity, unique across the fleet.
    pub uuid: String,
    pub name: Option<String>,
    pub brand: Option<String>,
    pub architecture: Option<String>,
    /// Bytes.
    pub memory_total: Option<BigInt>,
    pub cuda_cores: Option<i32>,
    pub compute_capability: Option<String>,
    /// Watts.
    pub power_limit: Option<i32>,
    /// Degrees Celsius.
    pub temperature_limit: Option<i32>,
}

#[derive(SimpleObject)]
pub struct AgentReportPayload {
    pub host_id: ID,
}

/// Most GPUs one host may report.
const MAX_GPUS: usize = 64;

fn parse_report(input: AgentReportInput) -> AppResult<agents::HostReport> {
    if input.gpus.len() > MAX_GPUS {
        return Err(AppError::bad_input(format!(
            "gpus: at most {MAX_GPUS} GPUs per host"
        )));
    }
    let mut uuids = HashSet::new();
    let mut indexes = HashSet::new();
    let mut gpus = Vec::with_capacity(input.gpus.len());
    for (i, g) in input.gpus.into_iter().enumerate() {
        let gpu = agents::GpuReport {
            index: count(&format!("gpus[{i}].index"), g.index)?,
            uuid: text(&format!("gpus[{i}].uuid"), g.uuid, 128)?,
            name: g.name.map(gpu_columns::name).transpose()?,
            brand: g.brand.map(gpu_columns::brand).transpose()?,
            architecture: g.architecture.map(gpu_columns::architecture).transpose()?,
            memory_total: g.memory_total.map(gpu_columns::memory_total).transpose()?,
            cuda_cores: g.cuda_cores.map(gpu_columns::cuda_cores).transpose()?,
            compute_capability: g
                .compute_capability
                .map(gpu_columns::compute_capability)
                .transpose()?,
            power_limit: g.power_limit.map(gpu_columns::power_limit).transpose()?,
            temperature_limit: g
                .temperature_limit
                .map(gpu_columns::temperature_limit)
                .transpose()?,
        };
        if !uuids.insert(gpu.uuid.clone()) {
            return Err(AppError::bad_input(format!(
                "gpus[{i}].uuid: '{}' is listed twice",
                gpu.uuid
            )));
        }
        if !indexes.insert(gpu.index) {
            return Err(AppError::bad_input(format!(
                "gpus[{i}].index: {} is listed twice",
                gpu.index
            )));
        }
        gpus.push(gpu);
    }
    Ok(agents::HostReport {
        hostname: input.hostname.map(host_columns::hostname).transpose()?,
        ip_address: host_columns::ip_address(input.ip_address)?,
        os_type: input.os_type.as_db(),
        os_version: input.os_version.map(host_columns::os_version).transpose()?,
        arch: input.arch.map(host_columns::arch).transpose()?,
        total_cpu: host_columns::total_cpu(input.total_cpu)?,
        total_memory: host_columns::total_memory(input.total_memory)?,
        total_disk: input.total_disk.map(host_columns::total_disk).transpose()?,
        agent_version: opt_text("agentVersion", input.agent_version, 64)?,
        gpus,
    })
}

/// One batch of samples. `batchId` identifies the batch: sending the same batch again (a
/// retry after a lost answer) stores nothing the second time.
#[derive(InputObject)]
pub struct MetricBatchInput {
    /// 1-64 characters, unique per host (a UUID is a good choice).
    pub batch_id: String,
    /// Samples the agent had to drop (buffer full) since its last accepted batch.
    pub dropped_samples: i32,
    pub host_samples: Vec<HostSampleInput>,
    pub gpu_samples: Vec<GpuSampleInput>,
    /// Resource use of the host's environments (their containers).
    #[graphql(default)]
    pub environment_samples: Vec<EnvironmentSampleInput>,
}

/// One sample of an environment's container on the reporting host.
#[derive(InputObject)]
pub struct EnvironmentSampleInput {
    pub environment_id: ID,
    pub collected_at: DateTime<Utc>,
    /// Percent of the cores the environment was given.
    pub cpu_usage_percent: Option<f64>,
    /// Percent of its memory limit.
    pub memory_usage_percent: Option<f64>,
    /// Average utilization of its GPUs.
    pub gpu_usage_percent: Option<f64>,
    /// Counters since the container started.
    pub network_rx_bytes: Option<BigInt>,
    pub network_tx_bytes: Option<BigInt>,
}

/// One host sample; bytes are bytes, I/O fields are counters since boot.
#[derive(InputObject)]
pub struct HostSampleInput {
    pub collected_at: DateTime<Utc>,
    pub cpu_usage_percent: Option<f64>,
    #[graphql(name = "cpuLoad1m")]
    pub cpu_load_1m: Option<f64>,
    #[graphql(name = "cpuLoad5m")]
    pub cpu_load_5m: Option<f64>,
    #[graphql(name = "cpuLoad15m")]
    pub cpu_load_15m: Option<f64>,
    pub memory_used: Option<BigInt>,
    pub memory_available: Option<BigInt>,
    pub memory_usage_percent: Option<f64>,
    pub disk_used: Option<BigInt>,
    pub disk_available: Option<BigInt>,
    pub disk_usage_percent: Option<f64>,
    pub disk_io_read_bytes: Option<BigInt>,
    pub disk_io_write_bytes: Option<BigInt>,
    pub network_rx_bytes: Option<BigInt>,
    pub network_tx_bytes: Option<BigInt>,
    pub network_rx_packets: Option<BigInt>,
    pub network_tx_packets: Option<BigInt>,
    pub gpu_avg_utilization: Option<f64>,
    pub gpu_avg_memory_used: Option<BigInt>,
    pub gpu_avg_temperature: Option<f64>,
    pub gpu_avg_power: Option<f64>,
}

/// One sample of one GPU, named by its uuid (a GPU of the reporting host).
#[derive(InputObject)]
pub struct GpuSampleInput {
    pub gpu_uuid: String,
    pub collected_at: DateTime<Utc>,
    pub utilization_percent: Option<f64>,
    /// Bytes.
    pub memory_used: Option<BigInt>,
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

#[derive(SimpleObject)]
pub struct MetricBatchResult {
    /// Samples stored by this call (0 for a duplicate).
    pub accepted: i32,
    /// The batch was stored before; nothing was stored now.
    pub duplicate: bool,
}

/// How far in the future a sample may be stamped (agent clock skew).
const MAX_CLOCK_SKEW_SECS: i64 = 300;

fn collected_at(
    field: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<chrono::NaiveDateTime> {
    if at > now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS) {
        return Err(AppError::bad_input(format!(
            "{field}: {at} is in the future (check the agent's clock)"
        )));
    }
    Ok(at.naive_utc())
}

fn parse_batch(
    input: MetricBatchInput,
    max: usize,
    now: DateTime<Utc>,
) -> AppResult<agents::MetricBatch> {
    let total =
        input.host_samples.len() + input.gpu_samples.len() + input.environment_samples.len();
    if total > max {
        return Err(AppError::bad_input(format!(
            "a batch holds at most {max} samples; this one has {total}"
        )));
    }
    use crate::domain::Range::{Celsius, NonNegative, Percent};
    // A measured value must be finite and physical, or the whole batch is refused.
    let m = |field: &str, v: Option<f64>, range| {
        v.map(|v| crate::domain::Reading::parse(field, v, range).map(crate::domain::Reading::get))
            .transpose()
    };
    let host_samples = input
        .host_samples
        .into_iter()
        .map(|s| {
            let b = |field: &str, v: Option<BigInt>| opt_bytes(field, v);
            Ok(agents::HostSample {
                cpu_usage_percent: m("cpuUsagePercent", s.cpu_usage_percent, Percent)?,
                cpu_load_1m: m("cpuLoad1m", s.cpu_load_1m, NonNegative)?,
                cpu_load_5m: m("cpuLoad5m", s.cpu_load_5m, NonNegative)?,
                cpu_load_15m: m("cpuLoad15m", s.cpu_load_15m, NonNegative)?,
                memory_used: b("memoryUsed", s.memory_used)?,
                memory_available: b("memoryAvailable", s.memory_available)?,
                memory_usage_percent: m("memoryUsagePercent", s.memory_usage_percent, Percent)?,
                disk_used: b("diskUsed", s.disk_used)?,
                disk_available: b("diskAvailable", s.disk_available)?,
                disk_usage_percent: m("diskUsagePercent", s.disk_usage_percent, Percent)?,
                disk_io_read_bytes: b("diskIoReadBytes", s.disk_io_read_bytes)?,
                disk_io_write_bytes: b("diskIoWriteBytes", s.disk_io_write_bytes)?,
                network_rx_bytes: b("networkRxBytes", s.network_rx_bytes)?,
                network_tx_bytes: b("networkTxBytes", s.network_tx_bytes)?,
                network_rx_packets: b("networkRxPackets", s.network_rx_packets)?,
                network_tx_packets: b("networkTxPackets", s.network_tx_packets)?,
                gpu_avg_utilization: m("gpuAvgUtilization", s.gpu_avg_utilization, Percent)?,
                gpu_avg_memory_used: b("gpuAvgMemoryUsed", s.gpu_avg_memory_used)?,
                gpu_avg_temperature: m("gpuAvgTemperature", s.gpu_avg_temperature, Celsius)?,
                gpu_avg_power: m("gpuAvgPower", s.gpu_avg_power, NonNegative)?,
                collected_at: collected_at("hostSamples.collectedAt", s.collected_at, now)?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    let gpu_samples = input
        .gpu_samples
        .into_iter()
        .map(|s| {
            let c = |field: &str, v: Option<i32>| {
                v.map(|v| Count::parse(field, v).map(Count::get))
                    .transpose()
            };
            Ok(agents::GpuSample {
                gpu_uuid: text("gpuSamples.gpuUuid", s.gpu_uuid, 128)?,
                utilization_percent: m("utilizationPercent", s.utilization_percent, Percent)?,
                memory_used: opt_bytes("memoryUsed", s.memory_used)?,
                memory_usage_percent: m("memoryUsagePercent", s.memory_usage_percent, Percent)?,
                temperature: m("temperature", s.temperature, Celsius)?,
                power_draw: m("powerDraw", s.power_draw, NonNegative)?,
                fan_speed_percent: m("fanSpeedPercent", s.fan_speed_percent, Percent)?,
                sm_clock: c("smClock", s.sm_clock)?,
                memory_clock: c("memoryClock", s.memory_clock)?,
                process_count: c("processCount", s.process_count)?,
                collected_at: collected_at("gpuSamples.collectedAt", s.collected_at, now)?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    let environment_samples = input
        .environment_samples
        .into_iter()
        .map(|s| {
            Ok(agents::EnvironmentSample {
                environment_id: text("environmentSamples.environmentId", s.environment_id.0, 64)?,
                cpu_usage_percent: s.cpu_usage_percent,
                memory_usage_percent: s.memory_usage_percent,
                gpu_usage_percent: s.gpu_usage_percent,
                network_rx_bytes: opt_bytes("networkRxBytes", s.network_rx_bytes)?,
                network_tx_bytes: opt_bytes("networkTxBytes", s.network_tx_bytes)?,
                collected_at: collected_at("environmentSamples.collectedAt", s.collected_at, now)?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(agents::MetricBatch {
        environment_samples,
        batch_id: text("batchId", input.batch_id, 64)?,
        dropped_samples: count("droppedSamples", input.dropped_samples)?,
        host_samples,
        gpu_samples,
    })
}

#[derive(Default)]
pub struct AgentMutation;

#[Object]
impl AgentMutation {
    /// Called by a host's agent (agent token only): records that the host is alive.
    async fn agent_heartbeat(&self, ctx: &Context<'_>) -> async_graphql::Result<DateTime<Utc>> {
        let host_id = principal(ctx).agent_host().gql()?.to_owned();
        let now = Utc::now();
        let state = state(ctx);
        host_status::agent_call(&state.db, state.events.as_ref(), &host_id, now, async {
            Ok(now)
        })
        .await
        .gql()
    }

    /// The agent describes its host and GPUs (agent token only; its own host). Upserts the
    /// host's GPUs by uuid; counts as a heartbeat.
    async fn agent_report(
        &self,
        ctx: &Context<'_>,
        input: AgentReportInput,
    ) -> async_graphql::Result<AgentReportPayload> {
        let host_id = principal(ctx).agent_host().gql()?.to_owned();
        let report = parse_report(input).gql()?;
        let state = state(ctx);
        let now = Utc::now();
        host_status::agent_call(
            &state.db,
            state.events.as_ref(),
            &host_id,
            now,
            agents::report_host(&state.db, &host_id, report, now),
        )
        .await
        .gql()?;
        Ok(AgentReportPayload {
            host_id: ID(host_id),
        })
    }

    /// A batch of host and GPU samples (agent token only; its own host). Stored once per
    /// `batchId`, all or nothing; counts as a heartbeat.
    async fn report_metrics(
        &self,
        ctx: &Context<'_>,
        batch: MetricBatchInput,
    ) -> async_graphql::Result<MetricBatchResult> {
        let host_id = principal(ctx).agent_host().gql()?.to_owned();
        let state = state(ctx);
        let now = Utc::now();
        let batch = parse_batch(batch, state.settings.agents.max_batch_samples, now).gql()?;
        let result = host_status::agent_call(
            &state.db,
            state.events.as_ref(),
            &host_id,
            now,
            agents::ingest_metrics(&state.db, state.events.as_ref(), &host_id, batch),
        )
        .await
        .gql()?;
        Ok(MetricBatchResult {
            accepted: i32::try_from(result.accepted).unwrap_or(i32::MAX),
            duplicate: result.duplicate,
        })
    }

    /// The state of an environment on the agent's host (agent token only): where an order
    /// ended (`RUNNING`, `STOPPED`, `DELETED`) or `FAILED` with the reason (Docker's
    /// message). A report that does not follow from the current state changes nothing;
    /// subscribers of `environmentStatus` see each change.
    async fn report_environment_status(
        &self,
        ctx: &Context<'_>,
        environment_id: ID,
        status: EnvironmentStatus,
        reason: Option<String>,
        #[graphql(
            desc = "With `DELETED`: what the agent measured beneath each read-write mount after removing the container.",
            validator(max_items = 20)
        )]
        storage: Option<Vec<StorageUsageInput>>,
    ) -> async_graphql::Result<EnvironmentStatusEvent> {
        let host_id = principal(ctx).agent_host().gql()?.to_owned();
        let measured = storage
            .unwrap_or_default()
            .into_iter()
            .map(StorageUsageInput::parse)
            .collect::<AppResult<Vec<_>>>()
            .gql()?;
        let state = state(ctx);
        let reason = reason
            .map(|r| crate::domain::BoundedText::parse_multiline("reason", &r, 4000))
            .transpose()
            .gql()?
            .map(crate::domain::BoundedText::into_string);
        let change = host_status::agent_call(
            &state.db,
            state.events.as_ref(),
            &host_id,
            Utc::now(),
            environments::report_status(
                &state.db,
                state.events.as_ref(),
                &host_id,
                environment_id.as_str(),
                status.into(),
                reason,
                measured,
            ),
        )
        .await
        .gql()?;
        EnvironmentStatusEvent::from_change(&change).gql()
    }
}

/// What an agent measured beneath one storage key.
#[derive(InputObject)]
pub struct StorageUsageInput {
    pub key: String,
    /// Bytes of regular files.
    pub bytes: BigInt,
    /// Regular files.
    pub files: i32,
}

impl StorageUsageInput {
    fn parse(self) -> AppResult<storage::Measurement> {
        Ok(storage::Measurement {
            key: crate::domain::StorageKey::parse("storage.key", &self.key)?.into_string(),
            bytes: crate::domain::ByteSize::parse("storage.bytes", self.bytes.0)?.get(),
            files: crate::domain::Count::parse("storage.files", self.files)?.get(),
        })
    }
}
