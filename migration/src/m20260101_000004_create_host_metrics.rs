//! Creates `host_metrics` (seed 000 §4.3): host time series (CPU, load, memory, disk, network,
//! GPU averages); it also covers seed 003's `node_metrics`. Indexed by
//! `(host_id, collected_at DESC)` for "latest samples of a host" queries.

use crate::m20260101_000002_create_hosts::Hosts;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(HostMetrics::Table)
            .col(pk_bigserial(HostMetrics::Id))
            .col(varchar(HostMetrics::HostId, 64))
            .col(double_null(HostMetrics::CpuUsagePercent))
            .col(double_null(HostMetrics::CpuLoad1m))
            .col(double_null(HostMetrics::CpuLoad5m))
            .col(double_null(HostMetrics::CpuLoad15m))
            .col(bigint_null(HostMetrics::MemoryUsed))
            .col(bigint_null(HostMetrics::MemoryAvailable))
            .col(double_null(HostMetrics::MemoryUsagePercent))
            .col(bigint_null(HostMetrics::DiskUsed))
            .col(bigint_null(HostMetrics::DiskAvailable))
            .col(double_null(HostMetrics::DiskUsagePercent))
            .col(bigint_null(HostMetrics::DiskIoReadBytes))
            .col(bigint_null(HostMetrics::DiskIoWriteBytes))
            .col(bigint_null(HostMetrics::NetworkRxBytes))
            .col(bigint_null(HostMetrics::NetworkTxBytes))
            .col(bigint_null(HostMetrics::NetworkRxPackets))
            .col(bigint_null(HostMetrics::NetworkTxPackets))
            .col(double_null(HostMetrics::GpuAvgUtilization))
            .col(bigint_null(HostMetrics::GpuAvgMemoryUsed))
            .col(double_null(HostMetrics::GpuAvgTemperature))
            .col(double_null(HostMetrics::GpuAvgPower))
            .col(timestamp_now(HostMetrics::CollectedAt))
            .fk(HostMetrics::HostId, Hosts::Table, Hosts::Id, CASCADE)
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![index_desc(
            HostMetrics::Table,
            [HostMetrics::HostId, HostMetrics::CollectedAt],
        )]
    }
}

#[derive(DeriveIden)]
pub enum HostMetrics {
    Table,
    Id,
    HostId,
    CpuUsagePercent,
    #[sea_orm(iden = "cpu_load_1m")]
    CpuLoad1m,
    #[sea_orm(iden = "cpu_load_5m")]
    CpuLoad5m,
    #[sea_orm(iden = "cpu_load_15m")]
    CpuLoad15m,
    MemoryUsed,
    MemoryAvailable,
    MemoryUsagePercent,
    DiskUsed,
    DiskAvailable,
    DiskUsagePercent,
    DiskIoReadBytes,
    DiskIoWriteBytes,
    NetworkRxBytes,
    NetworkTxBytes,
    NetworkRxPackets,
    NetworkTxPackets,
    GpuAvgUtilization,
    GpuAvgMemoryUsed,
    GpuAvgTemperature,
    GpuAvgPower,
    CollectedAt,
}
