//! Time series: host, GPU and environment metric samples. Written by agents (and rolled up by
//! jobs), read here with time-range filters.

use async_graphql::{ComplexObject, Context, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{environment_metrics as em, gpu_metrics as gm, host_metrics as hm};

use super::convert::{big_opt, id, ts_opt};
use super::crud::{crud_query, load_parent, ApiObject};
use super::environments::Environment;
use super::filter::{filter_input, order_input, DateTimeFilter, IdFilter};
use super::gpus::Gpu;
use super::hosts::Host;
use super::relations::*;
use super::scalars::BigInt;
use crate::error::AppResult;
use crate::error::GqlResult;

/// One sample of a host's resource use. Byte fields are bytes; I/O fields are counters.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct HostMetric {
    pub id: ID,
    pub host_id: ID,
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
    pub collected_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl HostMetric {
    async fn host(&self, ctx: &Context<'_>) -> async_graphql::Result<Host> {
        load_parent::<HostById, _>(ctx, self.host_id.to_string())
            .await
            .gql()
    }
}

impl ApiObject for HostMetric {
    type Entity = hm::Entity;
    const LABEL: &'static str = "host metric";
    const KEYSET: bool = true;
    fn from_model(m: hm::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            host_id: id(m.host_id),
            cpu_usage_percent: m.cpu_usage_percent,
            cpu_load_1m: m.cpu_load_1m,
            cpu_load_5m: m.cpu_load_5m,
            cpu_load_15m: m.cpu_load_15m,
            memory_used: big_opt(m.memory_used),
            memory_available: big_opt(m.memory_available),
            memory_usage_percent: m.memory_usage_percent,
            disk_used: big_opt(m.disk_used),
            disk_available: big_opt(m.disk_available),
            disk_usage_percent: m.disk_usage_percent,
            disk_io_read_bytes: big_opt(m.disk_io_read_bytes),
            disk_io_write_bytes: big_opt(m.disk_io_write_bytes),
            network_rx_bytes: big_opt(m.network_rx_bytes),
            network_tx_bytes: big_opt(m.network_tx_bytes),
            network_rx_packets: big_opt(m.network_rx_packets),
            network_tx_packets: big_opt(m.network_tx_packets),
            gpu_avg_utilization: m.gpu_avg_utilization,
            gpu_avg_memory_used: big_opt(m.gpu_avg_memory_used),
            gpu_avg_temperature: m.gpu_avg_temperature,
            gpu_avg_power: m.gpu_avg_power,
            collected_at: ts_opt(m.collected_at),
        })
    }
}

filter_input!(HostMetricFilter for hm {
    id: IdFilter => Id as i64,
    host_id: IdFilter => HostId as String,
    collected_at: DateTimeFilter => CollectedAt,
});

order_input!(HostMetricOrder, HostMetricOrderField, hm::Entity, hm::Column {
    Id => Id,
    CollectedAt => CollectedAt,
});

crud_query!(HostMetricQuery {
    object: HostMetric,
    one: host_metric,
    many: host_metrics,
    filter: HostMetricFilter,
    order: HostMetricOrder,
});

/// One sample of one GPU.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct GpuMetric {
    pub id: ID,
    pub gpu_id: ID,
    #[graphql(skip)]
    pub gpu_key: i64,
    pub host_id: ID,
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
    pub collected_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl GpuMetric {
    async fn gpu(&self, ctx: &Context<'_>) -> async_graphql::Result<Gpu> {
        load_parent::<GpuById, _>(ctx, self.gpu_key).await.gql()
    }
    async fn host(&self, ctx: &Context<'_>) -> async_graphql::Result<Host> {
        load_parent::<HostById, _>(ctx, self.host_id.to_string())
            .await
            .gql()
    }
}

impl ApiObject for GpuMetric {
    type Entity = gm::Entity;
    const LABEL: &'static str = "gpu metric";
    const KEYSET: bool = true;
    fn from_model(m: gm::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            gpu_id: id(m.gpu_id),
            gpu_key: m.gpu_id,
            host_id: id(m.host_id),
            utilization_percent: m.utilization_percent,
            memory_used: big_opt(m.memory_used),
            memory_usage_percent: m.memory_usage_percent,
            temperature: m.temperature,
            power_draw: m.power_draw,
            fan_speed_percent: m.fan_speed_percent,
            sm_clock: m.sm_clock,
            memory_clock: m.memory_clock,
            process_count: m.process_count,
            collected_at: ts_opt(m.collected_at),
        })
    }
}

filter_input!(GpuMetricFilter for gm {
    id: IdFilter => Id as i64,
    gpu_id: IdFilter => GpuId as i64,
    host_id: IdFilter => HostId as String,
    collected_at: DateTimeFilter => CollectedAt,
});

order_input!(GpuMetricOrder, GpuMetricOrderField, gm::Entity, gm::Column {
    Id => Id,
    CollectedAt => CollectedAt,
});

crud_query!(GpuMetricQuery {
    object: GpuMetric,
    one: gpu_metric,
    many: gpu_metrics,
    filter: GpuMetricFilter,
    order: GpuMetricOrder,
});

/// One sample of an environment's resource use.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct EnvironmentMetric {
    pub id: ID,
    pub env_id: ID,
    pub cpu_usage_percent: Option<f64>,
    pub memory_usage_percent: Option<f64>,
    pub gpu_usage_percent: Option<f64>,
    pub network_rx_bytes: Option<BigInt>,
    pub network_tx_bytes: Option<BigInt>,
    pub collected_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl EnvironmentMetric {
    async fn environment(&self, ctx: &Context<'_>) -> async_graphql::Result<Environment> {
        load_parent::<EnvironmentById, _>(ctx, self.env_id.to_string())
            .await
            .gql()
    }
}

impl ApiObject for EnvironmentMetric {
    type Entity = em::Entity;
    const LABEL: &'static str = "environment metric";
    const KEYSET: bool = true;
    fn from_model(m: em::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            env_id: id(m.env_id),
            cpu_usage_percent: m.cpu_usage_percent,
            memory_usage_percent: m.memory_usage_percent,
            gpu_usage_percent: m.gpu_usage_percent,
            network_rx_bytes: big_opt(m.network_rx_bytes),
            network_tx_bytes: big_opt(m.network_tx_bytes),
            collected_at: ts_opt(m.collected_at),
        })
    }
}

filter_input!(EnvironmentMetricFilter for em {
    id: IdFilter => Id as i64,
    env_id: IdFilter => EnvId as String,
    collected_at: DateTimeFilter => CollectedAt,
});

order_input!(EnvironmentMetricOrder, EnvironmentMetricOrderField, em::Entity, em::Column {
    Id => Id,
    CollectedAt => CollectedAt,
});

crud_query!(EnvironmentMetricQuery {
    object: EnvironmentMetric,
    one: environment_metric,
    many: environment_metrics,
    filter: EnvironmentMetricFilter,
    order: EnvironmentMetricOrder,
});
