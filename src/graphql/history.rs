//! Metric history for charts: `hostMetricHistory` and `gpuMetricHistory` return one point per
//! raw sample, hour or UTC day over a time range (operators only, like the metric tables).
//! Without a `resolution` the range decides: up to 2 days raw, up to 60 days hourly, daily
//! beyond. Raw samples are kept 7 days, hourly points 90 days, daily points a year.

use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{
    gpu_metrics, gpu_metrics_daily, gpu_metrics_hourly, gpus, host_metrics, host_metrics_daily,
    host_metrics_hourly, hosts,
};
use sea_orm::sea_query::Condition;

use super::convert::{big_opt, ts};
use super::crud::{principal, state};
use super::scalars::BigInt;
use crate::auth::policy::{user_for, Policy};
use crate::auth::User;
use crate::error::{AppError, AppResult, GqlResult};
use crate::services::crud;
use crate::services::metric_history::{self as history, GpuPoint, HostPoint, Resolution};

/// How finely a history is sampled.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum MetricResolution {
    /// Every sample the agent sent (kept 7 days).
    Raw,
    /// One point per hour (kept 90 days).
    Hourly,
    /// One point per UTC day (kept a year).
    Daily,
}

impl From<Resolution> for MetricResolution {
    fn from(r: Resolution) -> Self {
        match r {
            Resolution::Raw => Self::Raw,
            Resolution::Hourly => Self::Hourly,
            Resolution::Daily => Self::Daily,
        }
    }
}

impl From<MetricResolution> for Resolution {
    fn from(r: MetricResolution) -> Self {
        match r {
            MetricResolution::Raw => Self::Raw,
            MetricResolution::Hourly => Self::Hourly,
            MetricResolution::Daily => Self::Daily,
        }
    }
}

/// A host's resource use over time. In each point, plain fields are averages over the
/// point's samples, `…Max` fields their maximum, and I/O counters their last value; a raw
/// point is one sample (`sampleCount` 1).
#[derive(SimpleObject)]
pub struct HostMetricPoint {
    /// The sample's time, or the start of the hour / day.
    pub at: DateTime<Utc>,
    pub sample_count: i32,
    pub cpu_usage_percent: Option<f64>,
    pub cpu_usage_percent_max: Option<f64>,
    #[graphql(name = "cpuLoad1m")]
    pub cpu_load_1m: Option<f64>,
    #[graphql(name = "cpuLoad1mMax")]
    pub cpu_load_1m_max: Option<f64>,
    /// Bytes.
    pub memory_used: Option<BigInt>,
    pub memory_used_max: Option<BigInt>,
    pub memory_usage_percent: Option<f64>,
    pub memory_usage_percent_max: Option<f64>,
    pub disk_usage_percent: Option<f64>,
    pub disk_usage_percent_max: Option<f64>,
    pub disk_io_read_bytes: Option<BigInt>,
    pub disk_io_write_bytes: Option<BigInt>,
    pub network_rx_bytes: Option<BigInt>,
    pub network_tx_bytes: Option<BigInt>,
    pub gpu_avg_utilization: Option<f64>,
    pub gpu_avg_utilization_max: Option<f64>,
    pub gpu_avg_temperature: Option<f64>,
    pub gpu_avg_temperature_max: Option<f64>,
    pub gpu_avg_power: Option<f64>,
    pub gpu_avg_power_max: Option<f64>,
}

impl From<HostPoint> for HostMetricPoint {
    fn from(p: HostPoint) -> Self {
        Self {
            at: ts(p.bucket_start),
            sample_count: p.sample_count,
            cpu_usage_percent: p.cpu_usage_percent_avg,
            cpu_usage_percent_max: p.cpu_usage_percent_max,
            cpu_load_1m: p.cpu_load_1m_avg,
            cpu_load_1m_max: p.cpu_load_1m_max,
            memory_used: big_opt(p.memory_used_avg),
            memory_used_max: big_opt(p.memory_used_max),
            memory_usage_percent: p.memory_usage_percent_avg,
            memory_usage_percent_max: p.memory_usage_percent_max,
            disk_usage_percent: p.disk_usage_percent_avg,
            disk_usage_percent_max: p.disk_usage_percent_max,
            disk_io_read_bytes: big_opt(p.disk_io_read_bytes_max),
            disk_io_write_bytes: big_opt(p.disk_io_write_bytes_max),
            network_rx_bytes: big_opt(p.network_rx_bytes_max),
            network_tx_bytes: big_opt(p.network_tx_bytes_max),
            gpu_avg_utilization: p.gpu_avg_utilization_avg,
            gpu_avg_utilization_max: p.gpu_avg_utilization_max,
            gpu_avg_temperature: p.gpu_avg_temperature_avg,
            gpu_avg_temperature_max: p.gpu_avg_temperature_max,
            gpu_avg_power: p.gpu_avg_power_avg,
            gpu_avg_power_max: p.gpu_avg_power_max,
        }
    }
}

/// A GPU's use over time; fields as in `HostMetricPoint`.
#[derive(SimpleObject)]
pub struct GpuMetricPoint {
    pub at: DateTime<Utc>,
    pub sample_count: i32,
    pub utilization_percent: Option<f64>,
    pub utilization_percent_max: Option<f64>,
    /// Bytes.
    pub memory_used: Option<BigInt>,
    pub memory_used_max: Option<BigInt>,
    pub memory_usage_percent: Option<f64>,
    pub memory_usage_percent_max: Option<f64>,
    /// Degrees Celsius.
    pub temperature: Option<f64>,
    pub temperature_max: Option<f64>,
    /// Watts.
    pub power_draw: Option<f64>,
    pub power_draw_max: Option<f64>,
    pub fan_speed_percent: Option<f64>,
    pub fan_speed_percent_max: Option<f64>,
    pub process_count_max: Option<i32>,
}

impl From<GpuPoint> for GpuMetricPoint {
    fn from(p: GpuPoint) -> Self {
        Self {
            at: ts(p.bucket_start),
            sample_count: p.sample_count,
            utilization_percent: p.utilization_percent_avg,
            utilization_percent_max: p.utilization_percent_max,
            memory_used: big_opt(p.memory_used_avg),
            memory_used_max: big_opt(p.memory_used_max),
            memory_usage_percent: p.memory_usage_percent_avg,
            memory_usage_percent_max: p.memory_usage_percent_max,
            temperature: p.temperature_avg,
            temperature_max: p.temperature_max,
            power_draw: p.power_draw_avg,
            power_draw_max: p.power_draw_max,
            fan_speed_percent: p.fan_speed_percent_avg,
            fan_speed_percent_max: p.fan_speed_percent_max,
            process_count_max: p.process_count_max,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(concrete(name = "HostMetricHistory", params(HostMetricPoint)))]
#[graphql(concrete(name = "GpuMetricHistory", params(GpuMetricPoint)))]
pub struct MetricHistory<P: async_graphql::OutputType> {
    /// The resolution of the points (the one asked for, or the one the range picked).
    pub resolution: MetricResolution,
    /// Oldest first, at most 20,000.
    pub points: Vec<P>,
    /// More points exist after the last one: ask for a shorter range or a coarser resolution.
    pub truncated: bool,
}

fn check_range(from: DateTime<Utc>, to: DateTime<Utc>) -> AppResult<()> {
    if from >= to {
        return Err(AppError::bad_input("from: must be before to"));
    }
    Ok(())
}

/// The read scope of the table `resolution` reads.
fn scope<Raw: Policy, Hourly: Policy, Daily: Policy>(user: User, r: Resolution) -> Condition {
    match r {
        Resolution::Raw => Raw::readable(user).condition(),
        Resolution::Hourly => Hourly::readable(user).condition(),
        Resolution::Daily => Daily::readable(user).condition(),
    }
}

#[derive(Default)]
pub struct MetricHistoryQuery;

#[Object]
impl MetricHistoryQuery {
    /// A host's metrics over `[from, to)` (operators only).
    async fn host_metric_history(
        &self,
        ctx: &Context<'_>,
        host_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        resolution: Option<MetricResolution>,
    ) -> async_graphql::Result<MetricHistory<HostMetricPoint>> {
        let user = user_for::<host_metrics::Entity>(&principal(ctx)).gql()?;
        check_range(from, to).gql()?;
        let db = &state(ctx).db;
        let host = crud::get::<hosts::Entity>(
            db,
            host_id.to_string(),
            "host",
            hosts::Entity::readable(user).condition(),
        )
        .await
        .gql()?;
        let resolution = resolution.map_or_else(|| Resolution::for_range(from, to), Into::into);
        let scope =
            scope::<host_metrics::Entity, host_metrics_hourly::Entity, host_metrics_daily::Entity>(
                user, resolution,
            );
        let found = history::host_history(db, &host.id, from, to, resolution, scope)
            .await
            .gql()?;
        Ok(MetricHistory {
            resolution: resolution.into(),
            points: found.points.into_iter().map(Into::into).collect(),
            truncated: found.truncated,
        })
    }

    /// A GPU's metrics over `[from, to)` (operators only).
    async fn gpu_metric_history(
        &self,
        ctx: &Context<'_>,
        gpu_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        resolution: Option<MetricResolution>,
    ) -> async_graphql::Result<MetricHistory<GpuMetricPoint>> {
        let user = user_for::<gpu_metrics::Entity>(&principal(ctx)).gql()?;
        check_range(from, to).gql()?;
        let db = &state(ctx).db;
        let key = gpu_id
            .parse::<i64>()
            .map_err(|_| AppError::NotFound("gpu"))
            .gql()?;
        let gpu =
            crud::get::<gpus::Entity>(db, key, "gpu", gpus::Entity::readable(user).condition())
                .await
                .gql()?;
        let resolution = resolution.map_or_else(|| Resolution::for_range(from, to), Into::into);
        let scope =
            scope::<gpu_metrics::Entity, gpu_metrics_hourly::Entity, gpu_metrics_daily::Entity>(
                user, resolution,
            );
        let found = history::gpu_history(db, gpu.id, from, to, resolution, scope)
            .await
            .gql()?;
        Ok(MetricHistory {
            resolution: resolution.into(),
            points: found.points.into_iter().map(Into::into).collect(),
            truncated: found.truncated,
        })
    }
}
