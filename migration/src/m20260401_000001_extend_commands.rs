//! Extends seed 003's `commands` with what running a command needs — a time limit (seconds,
//! default one hour), an optional working directory and environment, the operator who ran
//! it and the `batch_id` shared by the rows of one run over several hosts — and
//! when it was first sent to the agent (`delivered_at`: an undelivered command times out,
//! a delivered one may wait in the agent's queue) — and
//! `command_results` with the truncation flags of the captured output, plus one result per
//! command at most (so a repeated completion report stores nothing twice). The status list
//! gains `cancelled`.

use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let commands = Alias::new("commands");
        let results = Alias::new("command_results");
        for col in [
            int(Alias::new("timeout_seconds")).default(3600).to_owned(),
            varchar_null(Alias::new("working_directory"), 512),
            jsonb_null(Alias::new("environment")),
            varchar_null(Alias::new("batch_id"), 64),
            timestamp_null(Alias::new("delivered_at")),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(commands.clone())
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        // A column-level REFERENCES works in ADD COLUMN on both backends.
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE commands ADD COLUMN created_by BIGINT \
                 CONSTRAINT fk_commands_created_by REFERENCES customers (id) ON DELETE SET NULL",
            )
            .await?;
        manager
            .create_index(index(commands.clone(), [Alias::new("batch_id")]))
            .await?;
        for flag in ["stdout_truncated", "stderr_truncated"] {
            let col = ColumnDef::new(Alias::new(flag))
                .boolean()
                .not_null()
                .default(false)
                .to_owned();
            manager
                .alter_table(
                    Table::alter()
                        .table(results.clone())
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(unique_index(results, [Alias::new("command_id")]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let drop_index =
            |name: &str, table: &str| Index::drop().name(name).table(Alias::new(table)).to_owned();
        manager
            .drop_index(drop_index(
                "uq_command_results_command_id",
                "command_results",
            ))
            .await?;
        manager
            .drop_index(drop_index("idx_commands_batch_id", "commands"))
            .await?;
        for (table, col) in [
            ("command_results", "stdout_truncated"),
            ("command_results", "stderr_truncated"),
            ("commands", "created_by"),
            ("commands", "delivered_at"),
            ("commands", "batch_id"),
            ("commands", "environment"),
            ("commands", "working_directory"),
            ("commands", "timeout_seconds"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(col))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
