//! Creates `command_results` (seed 003): what a command printed (`stdout`, `stderr`), its exit
//! code and run time in milliseconds; results go with their command (keyed by `command_id`).

use crate::m20260101_000020_create_commands::Commands;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(CommandResults::Table)
            .col(pk_bigserial(CommandResults::Id))
            .col(varchar(CommandResults::CommandId, 64))
            .col(text_null(CommandResults::Stdout))
            .col(text_null(CommandResults::Stderr))
            .col(int_null(CommandResults::ExitCode))
            .col(int_null(CommandResults::ExecutionTimeMs))
            .col(timestamp_now(CommandResults::CreatedAt))
            .fk(
                CommandResults::CommandId,
                Commands::Table,
                Commands::CommandId,
                CASCADE,
            )
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![index(CommandResults::Table, [CommandResults::CommandId])]
    }
}

#[derive(DeriveIden)]
pub enum CommandResults {
    Table,
    Id,
    CommandId,
    Stdout,
    Stderr,
    ExitCode,
    ExecutionTimeMs,
    CreatedAt,
}
