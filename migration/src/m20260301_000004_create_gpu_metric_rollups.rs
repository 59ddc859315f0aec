//! Creates `gpu_metrics_hourly` and `gpu_metrics_daily`: per GPU and bucket (`bucket_start`
//! is the hour or the UTC day), the number of samples and the average and maximum of
//! utilization, memory, temperature, power and fan speed, and the most processes seen. The
//! host is kept beside the GPU so a host's GPU history is one index range. Written only by
//! the rollup job.

use crate::m20260101_000002_create_hosts::Hosts;
use crate::m20260101_000003_create_gpus::Gpus;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const HOURLY: &str = "gpu_metrics_hourly";
const DAILY: &str = "gpu_metrics_daily";

/// The measured columns, after `sample_count`: `(name, type)`.
const FIELDS: &[(&str, Kind)] = &[
    ("utilization_percent_avg", Kind::Double),
    ("utilization_percent_max", Kind::Double),
    ("memory_used_avg", Kind::BigInt),
    ("memory_used_max", Kind::BigInt),
    ("memory_usage_percent_avg", Kind::Double),
    ("memory_usage_percent_max", Kind::Double),
    ("temperature_avg", Kind::Double),
    ("temperature_max", Kind::Double),
    ("power_draw_avg", Kind::Double),
    ("power_draw_max", Kind::Double),
    ("fan_speed_percent_avg", Kind::Double),
    ("fan_speed_percent_max", Kind::Double),
    ("process_count_max", Kind::Int),
];

#[derive(Clone, Copy)]
enum Kind {
    Double,
    BigInt,
    Int,
}

fn rollup_table(name: &str) -> TableCreateStatement {
    let mut t = table(Alias::new(name));
    t.col(pk_bigserial(Rollup::Id))
        .col(bigint(Rollup::GpuId))
        .col(varchar(Rollup::HostId, 64))
        .col(timestamp(Rollup::BucketStart))
        .col(int(Rollup::SampleCount));
    for &(field, kind) in FIELDS {
        t.col(match kind {
            Kind::Double => double_null(Alias::new(field)),
            Kind::BigInt => bigint_null(Alias::new(field)),
            Kind::Int => int_null(Alias::new(field)),
        });
    }
    t.fk(Rollup::GpuId, Gpus::Table, Gpus::Id, CASCADE)
        .fk(Rollup::HostId, Hosts::Table, Hosts::Id, CASCADE)
        .take()
}

fn rollup_indexes(name: &str) -> Vec<IndexCreateStatement> {
    vec![
        unique_index(Alias::new(name), [Rollup::GpuId, Rollup::BucketStart]),
        index(Alias::new(name), [Rollup::HostId, Rollup::BucketStart]),
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
    GpuId,
    HostId,
    BucketStart,
    SampleCount,
}
