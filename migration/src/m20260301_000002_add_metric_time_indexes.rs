//! Indexes `host_metrics.collected_at` and `gpu_metrics.collected_at` alone: the rollup job
//! reads completed hours across all hosts, and retention deletes everything older than a
//! cutoff; neither has a host or GPU to lead the existing `(…, collected_at DESC)` indexes.
//! On PostgreSQL they are BRIN indexes (samples arrive in time order, so a BRIN index is tiny
//! and costs ingestion almost nothing); SQLite has no BRIN and gets a B-tree.

use crate::m20260101_000004_create_host_metrics::HostMetrics;
use crate::m20260101_000005_create_gpu_metrics::GpuMetrics;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_index(time_index(
                backend,
                HostMetrics::Table,
                HostMetrics::CollectedAt,
            ))
            .await?;
        manager
            .create_index(time_index(
                backend,
                GpuMetrics::Table,
                GpuMetrics::CollectedAt,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            (
                "idx_gpu_metrics_collected_at",
                GpuMetrics::Table.into_iden(),
            ),
            (
                "idx_host_metrics_collected_at",
                HostMetrics::Table.into_iden(),
            ),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
