//! Creates `commands` (seed 003): remote commands for a host's agent (seed 003's nodes are
//! `hosts`, so `target_node_id` references `hosts.id`); `status` is
//! pending/running/success/failed/timeout.

use crate::m20260101_000002_create_hosts::Hosts;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(Commands::Table)
            .col(pk_bigserial(Commands::Id))
            .col(varchar(Commands::CommandId, 64).unique_key())
            .col(text(Commands::CommandText))
            .col(varchar(Commands::TargetNodeId, 64))
            .col(varchar_null(Commands::Status, 20).default("pending"))
            .col(timestamp_now(Commands::CreatedAt))
            .col(timestamp_null(Commands::StartedAt))
            .col(timestamp_null(Commands::CompletedAt))
            .fk(Commands::TargetNodeId, Hosts::Table, Hosts::Id, CASCADE)
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![
            index(Commands::Table, [Commands::TargetNodeId]),
            index(Commands::Table, [Commands::Status]),
            index_desc(Commands::Table, [Commands::CreatedAt]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum Commands {
    Table,
    Id,
    CommandId,
    CommandText,
    TargetNodeId,
    Status,
    CreatedAt,
    StartedAt,
    CompletedAt,
}
