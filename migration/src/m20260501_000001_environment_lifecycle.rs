//! What running environments needs on top of seed 000 §6.1:
//!
//! - `environments` gains the lifecycle's bookkeeping: `failure_reason` (why it is `failed`,
//!   e.g. Docker's message), `gpu_model` (the GPU model asked for), `env_vars` (a JSON object
//!   of strings passed to the container), `gpu_uuids` (the GPUs it holds or last held, so a
//!   restart prefers them), `generation` (the number of the latest order sent to the agent:
//!   an agent applies each generation at most once and never an older one after a newer),
//!   `last_order` (`create`, `start`, `restart`, `stop`, `delete`), and `started_at`,
//!   `stopped_at`, `updated_at`, and `connect_host` (the address customers connect to: the
//!   configured gateway host name or the host's public IP, fixed at placement; never the
//!   host's internal address). The status list gains `starting`, `deleting`, `deleted` and
//!   `failed`.
//! - `customers` and `workspaces` gain quota overrides `max_gpus` and `max_environments`
//!   (NULL: the platform default in `system_configs`).

use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn add(table: &str, col: ColumnDef) -> TableAlterStatement {
    Table::alter()
        .table(Alias::new(table))
        .add_column(col)
        .to_owned()
}

const ENVIRONMENT_COLUMNS: [&str; 10] = [
    "failure_reason",
    "gpu_model",
    "env_vars",
    "gpu_uuids",
    "generation",
    "last_order",
    "started_at",
    "stopped_at",
    "updated_at",
    "connect_host",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let env = "environments";
        for col in [
            text_null(Alias::new("failure_reason")),
            varchar_null(Alias::new("gpu_model"), 128),
            jsonb_null(Alias::new("env_vars")),
            jsonb_null(Alias::new("gpu_uuids")),
            bigint(Alias::new("generation")).default(0).to_owned(),
            varchar_null(Alias::new("last_order"), 16),
            timestamp_null(Alias::new("started_at")),
            timestamp_null(Alias::new("stopped_at")),
            timestamp_null(Alias::new("updated_at")),
            varchar_null(Alias::new("connect_host"), 256),
        ] {
            manager.alter_table(add(env, col)).await?;
        }
        for table in ["customers", "workspaces"] {
            manager
                .alter_table(add(table, int_null(Alias::new("max_gpus"))))
                .await?;
            manager
                .alter_table(add(table, int_null(Alias::new("max_environments"))))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let drop = |table: &str, col: &str| {
            Table::alter()
                .table(Alias::new(table))
                .drop_column(Alias::new(col))
                .to_owned()
        };
        for table in ["customers", "workspaces"] {
            manager.alter_table(drop(table, "max_environments")).await?;
            manager.alter_table(drop(table, "max_gpus")).await?;
        }
        for col in ENVIRONMENT_COLUMNS.iter().rev() {
            manager.alter_table(drop("environments", col)).await?;
        }
        Ok(())
    }
}
