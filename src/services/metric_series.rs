//! The field table of each metric series (host, GPU, environment): every column a sample
//! writes besides `id` and the reporting host's `host_id`, its SQL type, how it is read from
//! a parsed sample, and how the rollups keep it. One table drives everything that lists a
//! series' columns: the ingest (`services::agents` through `db::insert_rows`: the columns,
//! PostgreSQL's array casts, and on SQLite the rows per statement, its bind limit divided by
//! the table's length), the rollups (`services::rollups`: which columns get an average and a
//! maximum) and the raw points of the history (`services::metric_history`). A column is
//! added here, in its migration and in its entity, and nowhere else.

use chrono::NaiveDateTime;
use std::borrow::Borrow;

use crate::db::{Cell, Column, ColumnType};

/// What the rollup tables keep of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollup {
    /// Nothing: a key, the sample time, or a value only raw samples hold.
    No,
    /// Average and maximum (`<name>_avg`, `<name>_max`).
    AvgMax,
    /// Maximum only (`<name>_max`): counters, whose maximum is their last value.
    Max,
}

/// One column of a series: how ingest writes it and how the rollups keep it.
#[derive(Debug)]
pub struct Field<R> {
    pub column: Column<R>,
    pub rollup: Rollup,
}

impl<R> Borrow<Column<R>> for Field<R> {
    fn borrow(&self) -> &Column<R> {
        &self.column
    }
}

/// A raw metric table, its rollup tables (if it has any) and its field table.
#[derive(Debug)]
pub struct Series<R: 'static> {
    pub raw: &'static str,
    pub rollups: Option<RollupTables>,
    pub fields: &'static [Field<R>],
}

/// The rollup tables of a series and the columns a bucket is grouped by.
#[derive(Debug, Clone, Copy)]
pub struct RollupTables {
    pub hourly: &'static str,
    pub daily: &'static str,
    pub keys: &'static [&'static str],
}

impl<R> Series<R> {
    /// `(name, type, rollup)` of every field the rollups keep, in table order.
    pub fn rolled_up(&self) -> impl Iterator<Item = (&'static str, ColumnType, Rollup)> + '_ {
        self.fields
            .iter()
            .filter(|f| f.rollup != Rollup::No)
            .map(|f| (f.column.name, f.column.ty, f.rollup))
    }
}

const fn field<R>(
    name: &'static str,
    ty: ColumnType,
    rollup: Rollup,
    get: fn(&R) -> Cell<'_>,
) -> Field<R> {
    Field {
        column: Column { name, ty, get },
        rollup,
    }
}

use ColumnType::{BigInt, Float, Int, Text, Timestamp};
use Rollup::{AvgMax, Max, No};

/// `host_metrics`, with `host_id` shared.
pub const HOST: Series<HostSample> = Series {
    raw: "host_metrics",
    rollups: Some(RollupTables {
        hourly: "host_metrics_hourly",
        daily: "host_metrics_daily",
        keys: &["host_id"],
    }),
    fields: &[
        field("collected_at", Timestamp, No, |s| {
            Cell::Timestamp(s.collected_at)
        }),
        field("cpu_usage_percent", Float, AvgMax, |s| {
            Cell::Float(s.cpu_usage_percent)
        }),
        field("cpu_load_1m", Float, AvgMax, |s| Cell::Float(s.cpu_load_1m)),
        field("cpu_load_5m", Float, No, |s| Cell::Float(s.cpu_load_5m)),
        field("cpu_load_15m", Float, No, |s| Cell::Float(s.cpu_load_15m)),
        field("memory_used", BigInt, AvgMax, |s| {
            Cell::BigInt(s.memory_used)
        }),
        field("memory_available", BigInt, No, |s| {
            Cell::BigInt(s.memory_available)
        }),
        field("memory_usage_percent", Float, AvgMax, |s| {
            Cell::Float(s.memory_usage_percent)
        }),
        field("disk_used", BigInt, No, |s| Cell::BigInt(s.disk_used)),
        field("disk_available", BigInt, No, |s| {
            Cell::BigInt(s.disk_available)
        }),
        field("disk_usage_percent", Float, AvgMax, |s| {
            Cell::Float(s.disk_usage_percent)
        }),
        field("disk_io_read_bytes", BigInt, Max, |s| {
            Cell::BigInt(s.disk_io_read_bytes)
        }),
        field("disk_io_write_bytes", BigInt, Max, |s| {
            Cell::BigInt(s.disk_io_write_bytes)
        }),
        field("network_rx_bytes", BigInt, Max, |s| {
            Cell::BigInt(s.network_rx_bytes)
        }),
        field("network_tx_bytes", BigInt, Max, |s| {
            Cell::BigInt(s.network_tx_bytes)
        }),
        field("network_rx_packets", BigInt, No, |s| {
            Cell::BigInt(s.network_rx_packets)
        }),
        field("network_tx_packets", BigInt, No, |s| {
            Cell::BigInt(s.network_tx_packets)
        }),
        field("gpu_avg_utilization", Float, AvgMax, |s| {
            Cell::Float(s.gpu_avg_utilization)
        }),
        field("gpu_avg_memory_used", BigInt, No, |s| {
            Cell::BigInt(s.gpu_avg_memory_used)
        }),
        field("gpu_avg_temperature", Float, AvgMax, |s| {
            Cell::Float(s.gpu_avg_temperature)
        }),
        field("gpu_avg_power", Float, AvgMax, |s| {
            Cell::Float(s.gpu_avg_power)
        }),
    ],
};

/// `gpu_metrics`, with `host_id` shared; each row is the sample with its GPU's id.
pub const GPU: Series<(i64, GpuSample)> = Series {
    raw: "gpu_metrics",
    rollups: Some(RollupTables {
        hourly: "gpu_metrics_hourly",
        daily: "gpu_metrics_daily",
        keys: &["gpu_id", "host_id"],
    }),
    fields: &[
        field("gpu_id", BigInt, No, |(id, _)| Cell::BigInt(Some(*id))),
        field("collected_at", Timestamp, No, |(_, s)| {
            Cell::Timestamp(s.collected_at)
        }),
        field("utilization_percent", Float, AvgMax, |(_, s)| {
            Cell::Float(s.utilization_percent)
        }),
        field("memory_used", BigInt, AvgMax, |(_, s)| {
            Cell::BigInt(s.memory_used)
        }),
        field("memory_usage_percent", Float, AvgMax, |(_, s)| {
            Cell::Float(s.memory_usage_percent)
        }),
        field("temperature", Float, AvgMax, |(_, s)| {
            Cell::Float(s.temperature)
        }),
        field("power_draw", Float, AvgMax, |(_, s)| {
            Cell::Float(s.power_draw)
        }),
        field("fan_speed_percent", Float, AvgMax, |(_, s)| {
            Cell::Float(s.fan_speed_percent)
        }),
        field("sm_clock", Int, No, |(_, s)| Cell::Int(s.sm_clock)),
        field("memory_clock", Int, No, |(_, s)| Cell::Int(s.memory_clock)),
        field("process_count", Int, Max, |(_, s)| {
            Cell::Int(s.process_count)
        }),
    ],
};

/// `environment_metrics`: raw samples only.
pub const ENVIRONMENT: Series<EnvironmentSample> = Series {
    raw: "environment_metrics",
    rollups: None,
    fields: &[
        field("env_id", Text, No, |s| Cell::Text(&s.environment_id)),
        field("collected_at", Timestamp, No, |s| {
            Cell::Timestamp(s.collected_at)
        }),
        field("cpu_usage_percent", Float, No, |s| {
            Cell::Float(s.cpu_usage_percent)
        }),
        field("memory_usage_percent", Float, No, |s| {
            Cell::Float(s.memory_usage_percent)
        }),
        field("gpu_usage_percent", Float, No, |s| {
            Cell::Float(s.gpu_usage_percent)
        }),
        field("network_rx_bytes", BigInt, No, |s| {
            Cell::BigInt(s.network_rx_bytes)
        }),
        field("network_tx_bytes", BigInt, No, |s| {
            Cell::BigInt(s.network_tx_bytes)
        }),
    ],
};

/// One host sample, its values checked: bytes are bytes, I/O fields counters since boot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostSample {
    pub collected_at: NaiveDateTime,
    pub cpu_usage_percent: Option<f64>,
    pub cpu_load_1m: Option<f64>,
    pub cpu_load_5m: Option<f64>,
    pub cpu_load_15m: Option<f64>,
    pub memory_used: Option<i64>,
    pub memory_available: Option<i64>,
    pub memory_usage_percent: Option<f64>,
    pub disk_used: Option<i64>,
    pub disk_available: Option<i64>,
    pub disk_usage_percent: Option<f64>,
    pub disk_io_read_bytes: Option<i64>,
    pub disk_io_write_bytes: Option<i64>,
    pub network_rx_bytes: Option<i64>,
    pub network_tx_bytes: Option<i64>,
    pub network_rx_packets: Option<i64>,
    pub network_tx_packets: Option<i64>,
    pub gpu_avg_utilization: Option<f64>,
    pub gpu_avg_memory_used: Option<i64>,
    pub gpu_avg_temperature: Option<f64>,
    pub gpu_avg_power: Option<f64>,
}

/// One sample of one GPU, named by its uuid, its values checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuSample {
    pub gpu_uuid: String,
    pub collected_at: NaiveDateTime,
    pub utilization_percent: Option<f64>,
    pub memory_used: Option<i64>,
    pub memory_usage_percent: Option<f64>,
    pub temperature: Option<f64>,
    pub power_draw: Option<f64>,
    pub fan_speed_percent: Option<f64>,
    pub sm_clock: Option<i32>,
    pub memory_clock: Option<i32>,
    pub process_count: Option<i32>,
}

/// One sample of an environment's container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvironmentSample {
    pub environment_id: String,
    pub collected_at: NaiveDateTime,
    pub cpu_usage_percent: Option<f64>,
    pub memory_usage_percent: Option<f64>,
    pub gpu_usage_percent: Option<f64>,
    pub network_rx_bytes: Option<i64>,
    pub network_tx_bytes: Option<i64>,
}

#[cfg(test)]
mod tests {
    use sea_orm::{EntityTrait, IdenStatic, Iterable};

    use super::*;

    fn columns<E: EntityTrait>() -> (String, Vec<String>) {
        let table = E::default().table_name().to_owned();
        let columns = E::Column::iter().map(|c| c.as_str().to_owned()).collect();
        (table, columns)
    }

    /// Every field is a column of the raw table, and every field the rollups keep has its
    /// columns in both rollup tables.
    fn check<R, Raw: EntityTrait, Hourly: EntityTrait, Daily: EntityTrait>(series: &Series<R>) {
        let (raw, raw_columns) = columns::<Raw>();
        assert_eq!(series.raw, raw);
        for f in series.fields {
            assert!(
                raw_columns.contains(&f.column.name.to_owned()),
                "{}",
                f.column.name
            );
        }
        let Some(rollups) = series.rollups else {
            return;
        };
        for (table, (name, rolled)) in [
            (rollups.hourly, columns::<Hourly>()),
            (rollups.daily, columns::<Daily>()),
        ] {
            assert_eq!(table, name);
            for key in rollups.keys {
                assert!(rolled.contains(&(*key).to_owned()), "{table}.{key}");
            }
            for (field, _, rollup) in series.rolled_up() {
                let max = format!("{field}_max");
                assert!(rolled.contains(&max), "{table}.{max}");
                let avg = format!("{field}_avg");
                assert_eq!(
                    rolled.contains(&avg),
                    rollup == Rollup::AvgMax,
                    "{table}.{avg}"
                );
            }
        }
    }

    #[test]
    fn field_tables_match_the_tables() {
        use entity::*;
        check::<_, host_metrics::Entity, host_metrics_hourly::Entity, host_metrics_daily::Entity>(
            &HOST,
        );
        check::<_, gpu_metrics::Entity, gpu_metrics_hourly::Entity, gpu_metrics_daily::Entity>(
            &GPU,
        );
        check::<
            _,
            environment_metrics::Entity,
            environment_metrics::Entity,
            environment_metrics::Entity,
        >(&ENVIRONMENT);
        assert!(ENVIRONMENT.rollups.is_none());
    }
}
