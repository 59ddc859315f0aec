//! Tenant isolation (the platform owns storage; nothing a customer holds outlives its
//! container on a GPU):
//!
//! - `status_reason` on `datasets`, `dataset_versions`, `models` and `model_versions`: why a
//!   row is `failed`. Storage locations become keys the platform generates, relative to each
//!   host's storage root. Rows whose `storage_path` is not such a key (absolute, `..`,
//!   backslashes, a drive letter, an empty segment) are marked `failed` with a reason here and
//!   are never mounted; relative keys are kept as they are.
//! - `environments.shm_size`: bytes of `/dev/shm` (NULL: a quarter of the memory).
//! - `environments.hold_compute` / `hold_ports`: an environment that ended (`failed`,
//!   `deleted`) or is being deleted keeps its GPUs, host capacity and ports reserved until its
//!   agent confirms that the container is gone (or an operator declares the host lost).

use crate::m20260101_000009_create_environments::Environments;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose rows name a storage location, and whether they have a `status` (a
/// model has none: `status_reason` alone marks it).
const STORAGE_TABLES: [(&str, bool); 4] = [
    ("datasets", true),
    ("dataset_versions", true),
    ("models", false),
    ("model_versions", true),
];

/// The reason written on rows whose location is not a relative key.
const REASON: &str = "its storage location is not a key beneath the platform's storage root \
                      (an absolute or escaping path); it is never mounted";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, has_status) in STORAGE_TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(name))
                        .add_column(text_null(Added::StatusReason))
                        .to_owned(),
                )
                .await?;
            let unsafe_location = Condition::any()
                .add(Expr::col(Added::StoragePath).like("/%"))
                // `!` escapes: PostgreSQL reads a backslash in LIKE as its escape by default.
                .add(Expr::col(Added::StoragePath).like(LikeExpr::new("%\\%").escape('!')))
                .add(Expr::col(Added::StoragePath).like("%:%"))
                .add(Expr::col(Added::StoragePath).like("%//%"))
                .add(Expr::col(Added::StoragePath).like("%/"))
                .add(Expr::col(Added::StoragePath).eq(".."))
                .add(Expr::col(Added::StoragePath).like("../%"))
                .add(Expr::col(Added::StoragePath).like("%/../%"))
                .add(Expr::col(Added::StoragePath).like("%/.."))
                .add(Expr::col(Added::StoragePath).eq(""));
            let mut update = Query::update()
                .table(Alias::new(name))
                .value(Added::StatusReason, REASON)
                .cond_where(unsafe_location)
                .to_owned();
            if has_status {
                update.value(Added::Status, "failed");
            }
            manager.exec_stmt(update).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Environments::Table)
                    .add_column(bigint_null(Added::ShmSize))
                    .to_owned(),
            )
            .await?;
        for column in [Added::HoldCompute, Added::HoldPorts] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Environments::Table)
                        .add_column(boolean_false(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Added::HoldPorts, Added::HoldCompute, Added::ShmSize] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Environments::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for (name, _) in STORAGE_TABLES {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(name))
                        .drop_column(Added::StatusReason)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Added {
    StatusReason,
    StoragePath,
    Status,
    ShmSize,
    HoldCompute,
    HoldPorts,
}
