//! Metric history: [`host_history`] / [`gpu_history`] read one resolution (raw samples,
//! hourly or daily rollups, by the range asked: [`Resolution::for_range`]) for a time range,
//! at most [`MAX_POINTS`] points. The rollups themselves are `services::rollups`; which
//! columns a raw sample's point carries comes from the series' field table
//! (`services::metric_series`), like the rollups'.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use entity::{
    gpu_metrics, gpu_metrics_daily, gpu_metrics_hourly, host_metrics, host_metrics_daily,
    host_metrics_hourly,
};
use sea_orm::sea_query::{Alias, Condition, Expr};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

use crate::db::Bucket;
use crate::error::AppResult;
use crate::services::metric_series::{self, Rollup};

use super::rollups::floor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Raw,
    Hourly,
    Daily,
}

impl Resolution {
    /// For a range without an explicit resolution: raw up to 2 days, hourly up to 60 days,
    /// daily beyond.
    pub fn for_range(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        let span = to - from;
        if span <= Duration::days(2) {
            Resolution::Raw
        } else if span <= Duration::days(60) {
            Resolution::Hourly
        } else {
            Resolution::Daily
        }
    }
}

/// Most points one history query returns; more are `truncated`.
pub const MAX_POINTS: u64 = 20_000;

/// One point of a host's history: a raw sample (`sample_count` 1, averages and maxima equal
/// to the sample) or a rollup bucket. Its fields are the rollup columns of
/// `metric_series::HOST`.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct HostPoint {
    pub bucket_start: NaiveDateTime,
    pub sample_count: i32,
    pub cpu_usage_percent_avg: Option<f64>,
    pub cpu_usage_percent_max: Option<f64>,
    pub cpu_load_1m_avg: Option<f64>,
    pub cpu_load_1m_max: Option<f64>,
    pub memory_used_avg: Option<i64>,
    pub memory_used_max: Option<i64>,
    pub memory_usage_percent_avg: Option<f64>,
    pub memory_usage_percent_max: Option<f64>,
    pub disk_usage_percent_avg: Option<f64>,
    pub disk_usage_percent_max: Option<f64>,
    pub disk_io_read_bytes_max: Option<i64>,
    pub disk_io_write_bytes_max: Option<i64>,
    pub network_rx_bytes_max: Option<i64>,
    pub network_tx_bytes_max: Option<i64>,
    pub gpu_avg_utilization_avg: Option<f64>,
    pub gpu_avg_utilization_max: Option<f64>,
    pub gpu_avg_temperature_avg: Option<f64>,
    pub gpu_avg_temperature_max: Option<f64>,
    pub gpu_avg_power_avg: Option<f64>,
    pub gpu_avg_power_max: Option<f64>,
}

/// One point of a GPU's history.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct GpuPoint {
    pub bucket_start: NaiveDateTime,
    pub sample_count: i32,
    pub utilization_percent_avg: Option<f64>,
    pub utilization_percent_max: Option<f64>,
    pub memory_used_avg: Option<i64>,
    pub memory_used_max: Option<i64>,
    pub memory_usage_percent_avg: Option<f64>,
    pub memory_usage_percent_max: Option<f64>,
    pub temperature_avg: Option<f64>,
    pub temperature_max: Option<f64>,
    pub power_draw_avg: Option<f64>,
    pub power_draw_max: Option<f64>,
    pub fan_speed_percent_avg: Option<f64>,
    pub fan_speed_percent_max: Option<f64>,
    pub process_count_max: Option<i32>,
}

/// Raw samples selected as points, from the series' field table: the sample time as
/// `bucket_start`, a `sample_count` of 1, and each field the rollups keep as its own average
/// and maximum.
fn raw_points<E: EntityTrait, R>(
    select: Select<E>,
    series: &metric_series::Series<R>,
) -> Select<E> {
    let mut select = select
        .select_only()
        .expr_as(Expr::col(Alias::new("collected_at")), "bucket_start")
        .expr_as(Expr::cust("1"), "sample_count");
    for (name, _, rollup) in series.rolled_up() {
        if rollup == Rollup::AvgMax {
            select = select.expr_as(Expr::col(Alias::new(name)), format!("{name}_avg"));
        }
        select = select.expr_as(Expr::col(Alias::new(name)), format!("{name}_max"));
    }
    select
}

/// Points of one series in `[from, to)`, oldest first, at most [`MAX_POINTS`]; `true` when
/// there were more.
pub struct History<P> {
    pub points: Vec<P>,
    pub truncated: bool,
}

fn cut<P>(mut points: Vec<P>) -> History<P> {
    let truncated = points.len() as u64 > MAX_POINTS;
    points.truncate(MAX_POINTS as usize);
    History { points, truncated }
}

/// Rows of a rollup table `E` for one key, buckets starting in `[from, to)` (`from` is
/// floored to its bucket, so the bucket containing it is included).
async fn rollup_rows<E, P>(
    db: &DatabaseConnection,
    key_column: E::Column,
    key: sea_orm::Value,
    bucket_column: E::Column,
    range: (NaiveDateTime, NaiveDateTime),
    scope: Condition,
) -> AppResult<History<P>>
where
    E: EntityTrait,
    P: FromQueryResult + Send + Sync,
{
    let rows = E::find()
        .filter(key_column.eq(key))
        .filter(bucket_column.gte(range.0))
        .filter(bucket_column.lt(range.1))
        .filter(scope)
        .order_by_asc(bucket_column)
        .limit(MAX_POINTS + 1)
        .into_model::<P>()
        .all(db)
        .await?;
    Ok(cut(rows))
}

/// A host's history at `resolution`; `scope` is the caller's read scope of the table read.
pub async fn host_history(
    db: &DatabaseConnection,
    host_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    resolution: Resolution,
    scope: Condition,
) -> AppResult<History<HostPoint>> {
    let (from, to) = (from.naive_utc(), to.naive_utc());
    match resolution {
        Resolution::Raw => {
            let rows = raw_points(host_metrics::Entity::find(), &metric_series::HOST)
                .filter(host_metrics::Column::HostId.eq(host_id))
                .filter(host_metrics::Column::CollectedAt.gte(from))
                .filter(host_metrics::Column::CollectedAt.lt(to))
                .filter(scope)
                .order_by_asc(host_metrics::Column::CollectedAt)
                .order_by_asc(host_metrics::Column::Id)
                .limit(MAX_POINTS + 1)
                .into_model::<HostPoint>()
                .all(db)
                .await?;
            Ok(cut(rows))
        }
        Resolution::Hourly => {
            rollup_rows::<host_metrics_hourly::Entity, _>(
                db,
                host_metrics_hourly::Column::HostId,
                host_id.into(),
                host_metrics_hourly::Column::BucketStart,
                (floor(from, Bucket::Hour), to),
                scope,
            )
            .await
        }
        Resolution::Daily => {
            rollup_rows::<host_metrics_daily::Entity, _>(
                db,
                host_metrics_daily::Column::HostId,
                host_id.into(),
                host_metrics_daily::Column::BucketStart,
                (floor(from, Bucket::Day), to),
                scope,
            )
            .await
        }
    }
}

/// A GPU's history at `resolution`.
pub async fn gpu_history(
    db: &DatabaseConnection,
    gpu_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    resolution: Resolution,
    scope: Condition,
) -> AppResult<History<GpuPoint>> {
    let (from, to) = (from.naive_utc(), to.naive_utc());
    match resolution {
        Resolution::Raw => {
            let rows = raw_points(gpu_metrics::Entity::find(), &metric_series::GPU)
                .filter(gpu_metrics::Column::GpuId.eq(gpu_id))
                .filter(gpu_metrics::Column::CollectedAt.gte(from))
                .filter(gpu_metrics::Column::CollectedAt.lt(to))
                .filter(scope)
                .order_by_asc(gpu_metrics::Column::CollectedAt)
                .order_by_asc(gpu_metrics::Column::Id)
                .limit(MAX_POINTS + 1)
                .into_model::<GpuPoint>()
                .all(db)
                .await?;
            Ok(cut(rows))
        }
        Resolution::Hourly => {
            rollup_rows::<gpu_metrics_hourly::Entity, _>(
                db,
                gpu_metrics_hourly::Column::GpuId,
                gpu_id.into(),
                gpu_metrics_hourly::Column::BucketStart,
                (floor(from, Bucket::Hour), to),
                scope,
            )
            .await
        }
        Resolution::Daily => {
            rollup_rows::<gpu_metrics_daily::Entity, _>(
                db,
                gpu_metrics_daily::Column::GpuId,
                gpu_id.into(),
                gpu_metrics_daily::Column::BucketStart,
                (floor(from, Bucket::Day), to),
                scope,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn resolution_follows_the_range() {
        let from = at("2026-03-01T00:00:00Z");
        assert_eq!(
            Resolution::for_range(from, from + Duration::days(2)),
            Resolution::Raw
        );
        assert_eq!(
            Resolution::for_range(from, from + Duration::days(3)),
            Resolution::Hourly
        );
        assert_eq!(
            Resolution::for_range(from, from + Duration::days(60)),
            Resolution::Hourly
        );
        assert_eq!(
            Resolution::for_range(from, from + Duration::days(61)),
            Resolution::Daily
        );
    }
}
