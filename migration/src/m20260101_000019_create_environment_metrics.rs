//! Creates `environment_metrics` (seed 000 §9.1): per-environment time series (CPU, memory,
//! GPU usage, network bytes), indexed by `(env_id, collected_at DESC)`.

use crate::m20260101_000009_create_environments::Environments;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(EnvironmentMetrics::Table)
            .col(pk_bigserial(EnvironmentMetrics::Id))
            .col(varchar(EnvironmentMetrics::EnvId, 64))
            .col(double_null(EnvironmentMetrics::CpuUsagePercent))
            .col(double_null(EnvironmentMetrics::MemoryUsagePercent))
            .col(double_null(EnvironmentMetrics::GpuUsagePercent))
            .col(bigint_null(EnvironmentMetrics::NetworkRxBytes))
            .col(bigint_null(EnvironmentMetrics::NetworkTxBytes))
            .col(timestamp_now(EnvironmentMetrics::CollectedAt))
            .fk(
                EnvironmentMetrics::EnvId,
                Environments::Table,
                Environments::Id,
                CASCADE,
            )
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        use EnvironmentMetrics::{CollectedAt, EnvId};
        vec![index_desc(EnvironmentMetrics::Table, [EnvId, CollectedAt])]
    }
}

#[derive(DeriveIden)]
pub enum EnvironmentMetrics {
    Table,
    Id,
    EnvId,
    CpuUsagePercent,
    MemoryUsagePercent,
    GpuUsagePercent,
    NetworkRxBytes,
    NetworkTxBytes,
    CollectedAt,
}
