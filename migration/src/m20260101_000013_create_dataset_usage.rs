//! Creates `dataset_usage` (named in seed 000's diagram, designed here in its style): which
//! dataset (and optionally which version) is mounted into which environment, where, read-only
//! or read-write, and for how long. Rows go with their environment or dataset; deleting a
//! version keeps the usage history (`dataset_version_id` -> NULL).

use crate::m20260101_000009_create_environments::Environments;
use crate::m20260101_000011_create_datasets::Datasets;
use crate::m20260101_000012_create_dataset_versions::DatasetVersions;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(DatasetUsage::Table)
            .col(pk_bigserial(DatasetUsage::Id))
            .col(bigint(DatasetUsage::DatasetId))
            .col(bigint_null(DatasetUsage::DatasetVersionId))
            .col(varchar(DatasetUsage::EnvId, 64))
            .col(varchar(DatasetUsage::MountPath, 512))
            .col(varchar_null(DatasetUsage::AccessMode, 20).default("readonly"))
            .col(timestamp_now(DatasetUsage::MountedAt))
            .col(timestamp_null(DatasetUsage::UnmountedAt))
            .fk(
                DatasetUsage::DatasetId,
                Datasets::Table,
                Datasets::Id,
                CASCADE,
            )
            .fk(
                DatasetUsage::DatasetVersionId,
                DatasetVersions::Table,
                DatasetVersions::Id,
                SET_NULL,
            )
            .fk(
                DatasetUsage::EnvId,
                Environments::Table,
                Environments::Id,
                CASCADE,
            )
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![
            index(DatasetUsage::Table, [DatasetUsage::DatasetId]),
            index(DatasetUsage::Table, [DatasetUsage::EnvId]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum DatasetUsage {
    Table,
    Id,
    DatasetId,
    DatasetVersionId,
    EnvId,
    MountPath,
    AccessMode,
    MountedAt,
    UnmountedAt,
}
