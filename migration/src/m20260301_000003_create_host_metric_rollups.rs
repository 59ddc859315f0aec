//! Creates `host_metrics_hourly` and `host_metrics_daily` (seed 000 §4.3 retention: raw
//! samples 7 days, hourly rollups 90 days, daily rollups 1 year). One row per host and
//! bucket (`bucket_start` is the hour or the UTC day), with the number of samples and the
//! average and maximum of the main fields. Counters (disk and network I/O) keep their
//! maximum, which is the last value of the bucket. Written only by the rollup job.

use crate::m20260101_000002_create_hosts::Hosts;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const HOURLY: &str = "host_metrics_hourly";
const DAILY: &str = "host_metrics_daily";

/// The measured columns, after `sample_count`: `(name, is BIGINT)`; the others are doubles.
const FIELDS: &[(&str, bool)] = &[
    ("cpu_usage_percent_avg", false),
    ("cpu_usage_percent_max", false),
    ("cpu_load_1m_avg", false),
    ("cpu_load_1m_max", false),
    ("memory_used_avg", true),
    ("memory_used_max", true),
    ("memory_usage_percent_avg", false),
    ("memory_usage_percent_max", false),
    ("disk_usage_percent_avg", false),
    ("disk_usage_percent_max", false),
    ("disk_io_read_bytes_max", true),
    ("disk_io_write_bytes_max", true),
    ("network_rx_bytes_max", true),
    ("network_tx_bytes_max", true),
    ("gpu_avg_utilization_avg", false),
    ("gpu_avg_utilization_max", false),
    ("gpu_avg_temperature_avg", false),
    ("gpu_avg_temperature_max", false),
    ("gpu_avg_power_avg", false),
    ("gpu_avg_power_max", false),
];

fn rollup_table(name: &str) -> TableCreateStatement {
    let mut t = table(Alias::new(name));
    t.col(pk_bigserial(Rollup::Id))
        .col(varchar(Rollup::HostId, 64))
        .col(timestamp(Rollup::BucketStart))
        .col(int(Rollup::SampleCount));
    for &(field, big) in FIELDS {
        t.col(if big {
            bigint_null(Alias::new(field))
        } else {
            double_null(Alias::new(field))
        });
    }
    t.fk(Rollup::HostId, Hosts::Table, Hosts::Id, CASCADE)
        .take()
}

fn rollup_indexes(name: &str) -> Vec<IndexCreateStatement> {
    vec![
        unique_index(Alias::new(name), [Rollup::HostId, Rollup::BucketStart]),
        index(Alias::new(name), [Rollup::BucketStart]),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [HOURLY, DAILY] {
            manager.create_table(rollup_table(name)).await?;
            for index in rollup_indexes(name) {
                manager.create_index(index).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [DAILY, HOURLY] {
            manager
                .drop_table(Table::drop().table(Alias::new(name)).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Rollup {
    Id,
    HostId,
    BucketStart,
    SampleCount,
}
