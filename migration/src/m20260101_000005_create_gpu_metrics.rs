//! Creates `gpu_metrics` (seed 000 §4.4): per-GPU time series (utilization, memory, temperature,
//! power, clocks). Indexed by `(gpu_id, collected_at DESC)` and `(host_id, collected_at DESC)`.

use crate::m20260101_000002_create_hosts::Hosts;
use crate::m20260101_000003_create_gpus::Gpus;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(GpuMetrics::Table)
            .col(pk_bigserial(GpuMetrics::Id))
            .col(bigint(GpuMetrics::GpuId))
            .col(varchar(GpuMetrics::HostId, 64))
            .col(double_null(GpuMetrics::UtilizationPercent))
            .col(bigint_null(GpuMetrics::MemoryUsed))
            .col(double_null(GpuMetrics::MemoryUsagePercent))
            .col(double_null(GpuMetrics::Temperature))
            .col(double_null(GpuMetrics::PowerDraw))
            .col(double_null(GpuMetrics::FanSpeedPercent))
            .col(int_null(GpuMetrics::SmClock))
            .col(int_null(GpuMetrics::MemoryClock))
            .col(int_null(GpuMetrics::ProcessCount))
            .col(timestamp_now(GpuMetrics::CollectedAt))
            .fk(GpuMetrics::GpuId, Gpus::Table, Gpus::Id, CASCADE)
            .fk(GpuMetrics::HostId, Hosts::Table, Hosts::Id, CASCADE)
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![
            index_desc(
                GpuMetrics::Table,
                [GpuMetrics::GpuId, GpuMetrics::CollectedAt],
            ),
            index_desc(
                GpuMetrics::Table,
                [GpuMetrics::HostId, GpuMetrics::CollectedAt],
            ),
        ]
    }
}

#[derive(DeriveIden)]
pub enum GpuMetrics {
    Table,
    Id,
    GpuId,
    HostId,
    UtilizationPercent,
    MemoryUsed,
    MemoryUsagePercent,
    Temperature,
    PowerDraw,
    FanSpeedPercent,
    SmClock,
    MemoryClock,
    ProcessCount,
    CollectedAt,
}
