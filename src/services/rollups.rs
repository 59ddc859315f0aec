//! Metric rollups and retention (seed 000 §4.3): raw samples are kept 7 days, hourly rollups
//! 90 days, daily rollups a year (all configurable in `metrics.*`).
//!
//! [`roll_up`] (run by the rollup job, `jobs::rollups`) aggregates completed hours of raw
//! samples into `*_metrics_hourly` and completed UTC days of hourly rows into
//! `*_metrics_daily`, then deletes what is past its retention. A bucket is recomputed from
//! scratch (delete, then `INSERT … SELECT … GROUP BY`, in one transaction), so running it
//! again changes nothing. Each run starts after the newest bucket already rolled up, but
//! always recomputes the last `metrics.rollup_lateness_secs` of completed hours and the last
//! completed day, so samples an agent delivers late (it buffers through server outages)
//! still count.
//!
//! Rollup rows hold the sample count and, per field, the average and the maximum; a daily
//! average is the sample-weighted average of its hours. I/O counters keep only their
//! maximum: the last value of the bucket. Which fields are kept, and how, is each series'
//! field table (`services::metric_series`). Reading them back is `services::metric_history`.

use chrono::{DateTime, Duration, DurationRound, NaiveDateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::config::MetricSettings;
use crate::db::{self, Bucket, ColumnType};
use crate::error::{AppError, AppResult};
use crate::services::metric_series::{self, Rollup, RollupTables};

/// A raw metric table with its rollup tables, and what the rollups keep of its fields: read
/// from the series' field table (`services::metric_series`).
struct Series {
    raw: &'static str,
    hourly: &'static str,
    daily: &'static str,
    /// Columns identifying the series (kept as they are).
    keys: &'static [&'static str],
    fields: Vec<(&'static str, ColumnType, Rollup)>,
}

impl Series {
    /// `None` for a series without rollup tables.
    fn of<R>(series: &metric_series::Series<R>) -> Option<Self> {
        let RollupTables {
            hourly,
            daily,
            keys,
        } = series.rollups?;
        Some(Self {
            raw: series.raw,
            hourly,
            daily,
            keys,
            fields: series.rolled_up().collect(),
        })
    }
}

/// Every series that has rollup tables.
fn rolled_up_series() -> Vec<Series> {
    [
        Series::of(&metric_series::HOST),
        Series::of(&metric_series::GPU),
        Series::of(&metric_series::ENVIRONMENT),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn q(column: &str) -> String {
    format!("\"{column}\"")
}

/// `(target column, aggregate expression)` for every measured field, reading raw samples
/// (`from_raw`) or hourly rows.
fn aggregates(series: &Series, from_raw: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for &(name, ty, rollup) in &series.fields {
        let whole = |e: String| match ty {
            ColumnType::Float => e,
            _ => format!("CAST(ROUND({e}) AS BIGINT)"),
        };
        if rollup == Rollup::AvgMax {
            let avg = if from_raw {
                whole(format!("AVG({})", q(name)))
            } else {
                let col = q(&format!("{name}_avg"));
                whole(format!(
                    "SUM({col} * 1.0 * \"sample_count\") / NULLIF(SUM(CASE WHEN {col} IS NULL THEN 0 ELSE \"sample_count\" END), 0)"
                ))
            };
            out.push((format!("{name}_avg"), avg));
        }
        let source = if from_raw {
            q(name)
        } else {
            q(&format!("{name}_max"))
        };
        out.push((format!("{name}_max"), format!("MAX({source})")));
    }
    out
}

pub(crate) fn floor(t: NaiveDateTime, bucket: Bucket) -> NaiveDateTime {
    let step = match bucket {
        Bucket::Hour => Duration::hours(1),
        Bucket::Day => Duration::days(1),
    };
    t.duration_trunc(step).unwrap_or(t)
}

fn step(bucket: Bucket) -> Duration {
    match bucket {
        Bucket::Hour => Duration::hours(1),
        Bucket::Day => Duration::days(1),
    }
}

/// `MIN`/`MAX` of a timestamp column.
async fn extreme(
    db: &impl ConnectionTrait,
    table: &str,
    column: &str,
    max: bool,
) -> AppResult<Option<NaiveDateTime>> {
    let col = Expr::col(Alias::new(column));
    let stmt = Query::select()
        .expr_as(if max { col.max() } else { col.min() }, Alias::new("t"))
        .from(Alias::new(table))
        .to_owned();
    let backend = db.get_database_backend();
    let row = db.query_one(backend.build(&stmt)).await?;
    Ok(match row {
        Some(row) => row.try_get::<Option<NaiveDateTime>>("", "t")?,
        None => None,
    })
}

/// Recomputes the `bucket` rows of `series` for buckets starting in `[from, to)`, of every
/// host or of one.
async fn recompute(
    db: &DatabaseConnection,
    series: &Series,
    bucket: Bucket,
    from: NaiveDateTime,
    to: NaiveDateTime,
    host: Option<&str>,
) -> AppResult<()> {
    let backend = db.get_database_backend();
    let (source, target, time) = match bucket {
        Bucket::Hour => (series.raw, series.hourly, "collected_at"),
        Bucket::Day => (series.hourly, series.daily, "bucket_start"),
    };
    let from_raw = bucket == Bucket::Hour;
    let bucket_expr: SimpleExpr = db::time_bucket(backend, &q(time), bucket);
    let count = if from_raw {
        "COUNT(*)"
    } else {
        "SUM(\"sample_count\")"
    };

    let mut select = Query::select();
    let mut columns: Vec<Alias> = Vec::new();
    for key in series.keys {
        select.column(Alias::new(*key));
        columns.push(Alias::new(*key));
    }
    select.expr(bucket_expr.clone());
    columns.push(Alias::new("bucket_start"));
    select.expr(Expr::cust(count));
    columns.push(Alias::new("sample_count"));
    for (column, expr) in aggregates(series, from_raw) {
        select.expr(Expr::cust(expr));
        columns.push(Alias::new(column));
    }
    select
        .from(Alias::new(source))
        .and_where(Expr::col(Alias::new(time)).gte(from))
        .and_where(Expr::col(Alias::new(time)).lt(to));
    if let Some(host) = host {
        select.and_where(Expr::col(Alias::new("host_id")).eq(host));
    }
    for key in series.keys {
        select.group_by_col(Alias::new(*key));
    }
    select.add_group_by([bucket_expr]);

    let insert = Query::insert()
        .into_table(Alias::new(target))
        .columns(columns)
        .select_from(select)
        .map_err(|e| AppError::internal(e.to_string()))?
        .to_owned();
    let mut delete = Query::delete()
        .from_table(Alias::new(target))
        .and_where(Expr::col(Alias::new("bucket_start")).gte(from))
        .and_where(Expr::col(Alias::new("bucket_start")).lt(to))
        .to_owned();
    if let Some(host) = host {
        delete.and_where(Expr::col(Alias::new("host_id")).eq(host));
    }

    let txn = db::begin_write(db).await?;
    txn.execute(backend.build(&delete)).await?;
    txn.execute(backend.build(&insert)).await?;
    txn.commit().await?;
    Ok(())
}

/// The buckets to (re)compute: from after the newest rolled-up bucket (at the latest
/// `recheck` before `to`), or from the oldest source row when nothing is rolled up yet.
async fn pending_range(
    db: &DatabaseConnection,
    series: &Series,
    bucket: Bucket,
    to: NaiveDateTime,
    recheck: Duration,
) -> AppResult<Option<NaiveDateTime>> {
    let (source, target, time) = match bucket {
        Bucket::Hour => (series.raw, series.hourly, "collected_at"),
        Bucket::Day => (series.hourly, series.daily, "bucket_start"),
    };
    let from = match extreme(db, target, "bucket_start", true).await? {
        Some(newest) => (newest + step(bucket)).min(floor(to - recheck, bucket)),
        None => match extreme(db, source, time, false).await? {
            Some(oldest) => floor(oldest, bucket),
            None => return Ok(None),
        },
    };
    Ok((from < to).then_some(from))
}

const CENTURY_DAYS: i64 = 36_500;

/// Hosts with source rows for buckets starting in `[from, to)`.
async fn hosts_in_range(
    db: &DatabaseConnection,
    series: &Series,
    bucket: Bucket,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> AppResult<Vec<String>> {
    let (source, time) = match bucket {
        Bucket::Hour => (series.raw, "collected_at"),
        Bucket::Day => (series.hourly, "bucket_start"),
    };
    let stmt = Query::select()
        .distinct()
        .column(Alias::new("host_id"))
        .from(Alias::new(source))
        .and_where(Expr::col(Alias::new(time)).gte(from))
        .and_where(Expr::col(Alias::new(time)).lt(to))
        .to_owned();
    let backend = db.get_database_backend();
    let rows = db.query_all(backend.build(&stmt)).await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String>("", "host_id")?))
        .collect()
}

/// Rolls up one series at one resolution: all hosts in one statement; when that fails
/// (one host's samples cannot be aggregated), host by host, so one host never holds back
/// the others. Returns the hosts whose rollup failed.
async fn roll_bucket(
    db: &DatabaseConnection,
    series: &Series,
    bucket: Bucket,
    to: NaiveDateTime,
    recheck: Duration,
) -> AppResult<Vec<String>> {
    let Some(from) = pending_range(db, series, bucket, to, recheck).await? else {
        return Ok(Vec::new());
    };
    let Err(err) = recompute(db, series, bucket, from, to, None).await else {
        return Ok(Vec::new());
    };
    tracing::warn!(table = series.raw, error = %err, "fleet rollup failed; rolling up host by host");
    let mut failed = Vec::new();
    for host in hosts_in_range(db, series, bucket, from, to).await? {
        if let Err(err) = recompute(db, series, bucket, from, to, Some(&host)).await {
            tracing::warn!(table = series.raw, host = %host, error = %err, "rollup failed for a host");
            failed.push(host);
        }
    }
    Ok(failed)
}

/// What one run of [`roll_up`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RollupReport {
    /// Hosts whose samples could not be rolled up this run (each is logged); the others
    /// were, and retention ran.
    pub failed_hosts: Vec<String>,
    /// Steps that failed as a whole (each is logged); the steps after them still ran.
    pub failed_steps: u64,
    /// Rows deleted for retention: raw samples, hourly rows, daily rows, batch ids.
    pub deleted_raw: u64,
    pub deleted_hourly: u64,
    pub deleted_daily: u64,
    pub deleted_batches: u64,
}

async fn delete_before(
    db: &DatabaseConnection,
    table: &str,
    column: &str,
    cutoff: NaiveDateTime,
) -> AppResult<u64> {
    let stmt = Query::delete()
        .from_table(Alias::new(table))
        .and_where(Expr::col(Alias::new(column)).lt(cutoff))
        .to_owned();
    let _writer = db::write_guard(db).await;
    let backend = db.get_database_backend();
    Ok(db.execute(backend.build(&stmt)).await?.rows_affected())
}

/// Rolls up completed hours and days as of `now`, then applies retention.
pub async fn roll_up(
    db: &DatabaseConnection,
    settings: &MetricSettings,
    now: DateTime<Utc>,
) -> AppResult<RollupReport> {
    let now = now.naive_utc();
    // Settings are clamped to what `Duration` can hold (a century is plenty).
    let lateness = Duration::seconds(
        settings
            .rollup_lateness_secs
            .clamp(0, CENTURY_DAYS * 86_400),
    );
    let mut report = RollupReport::default();
    // Each step runs whatever the ones before it did: a failure is logged and counted.
    let step = |report: &mut RollupReport, result: AppResult<u64>, what: &str| match result {
        Ok(n) => n,
        Err(err) => {
            tracing::error!(error = %err, step = what, "metric retention step failed");
            report.failed_steps += 1;
            0
        }
    };
    for series in &rolled_up_series() {
        for (bucket, to, recheck) in [
            (Bucket::Hour, floor(now, Bucket::Hour), lateness),
            (Bucket::Day, floor(now, Bucket::Day), Duration::days(1)),
        ] {
            match roll_bucket(db, series, bucket, to, recheck).await {
                Ok(failed) => {
                    for host in failed {
                        if !report.failed_hosts.contains(&host) {
                            report.failed_hosts.push(host);
                        }
                    }
                }
                Err(err) => {
                    step(&mut report, Err(err), "rollup");
                }
            }
        }
        let days = |d: i64| now - Duration::days(d.clamp(0, CENTURY_DAYS));
        let raw = delete_before(
            db,
            series.raw,
            "collected_at",
            days(settings.raw_retention_days),
        )
        .await;
        report.deleted_raw += step(&mut report, raw, "raw retention");
        let hourly = delete_before(
            db,
            series.hourly,
            "bucket_start",
            days(settings.hourly_retention_days),
        )
        .await;
        report.deleted_hourly += step(&mut report, hourly, "hourly retention");
        let daily = delete_before(
            db,
            series.daily,
            "bucket_start",
            days(settings.daily_retention_days),
        )
        .await;
        report.deleted_daily += step(&mut report, daily, "daily retention");
    }
    // Batch ids guard against replays as long as the samples they brought are kept.
    let batches = delete_before(
        db,
        "metric_batches",
        "received_at",
        now - Duration::days(settings.raw_retention_days.clamp(0, CENTURY_DAYS)),
    )
    .await;
    report.deleted_batches = step(&mut report, batches, "batch retention");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn rollup_columns_match_the_tables() {
        let host: Vec<String> = aggregates(&Series::of(&metric_series::HOST).unwrap(), true)
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(host.len(), 20);
        assert!(host.contains(&"network_rx_bytes_max".to_owned()));
        assert!(!host.contains(&"network_rx_bytes_avg".to_owned()));
        let gpu: Vec<String> = aggregates(&Series::of(&metric_series::GPU).unwrap(), false)
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(gpu.len(), 13);
        assert_eq!(gpu.last().map(String::as_str), Some("process_count_max"));
    }

    #[test]
    fn buckets_floor_to_the_hour_and_day() {
        let t = at("2026-03-01T10:42:17Z").naive_utc();
        assert_eq!(
            floor(t, Bucket::Hour),
            at("2026-03-01T10:00:00Z").naive_utc()
        );
        assert_eq!(
            floor(t, Bucket::Day),
            at("2026-03-01T00:00:00Z").naive_utc()
        );
    }
}
