//! Creates `metric_batches`: one row per metric batch an agent pushed, so that a batch the
//! agent sends again (it retries until it sees an answer) is stored once. Unique per
//! `(host_id, batch_id)`; `received_at` is indexed for retention (batch ids are kept as long
//! as raw samples).

use crate::m20260101_000002_create_hosts::Hosts;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(MetricBatches::Table)
            .col(pk_bigserial(MetricBatches::Id))
            .col(varchar(MetricBatches::HostId, 64))
            .col(varchar(MetricBatches::BatchId, 64))
            .col(int(MetricBatches::SampleCount))
            .col(int(MetricBatches::DroppedSamples))
            .col(
                ColumnDef::new(MetricBatches::ReceivedAt)
                    .timestamp()
                    .not_null()
                    .default(Expr::current_timestamp())
                    .take(),
            )
            .fk(MetricBatches::HostId, Hosts::Table, Hosts::Id, CASCADE)
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![
            unique_index(
                MetricBatches::Table,
                [MetricBatches::HostId, MetricBatches::BatchId],
            ),
            index(MetricBatches::Table, [MetricBatches::ReceivedAt]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum MetricBatches {
    Table,
    Id,
    HostId,
    BatchId,
    SampleCount,
    DroppedSamples,
    ReceivedAt,
}
