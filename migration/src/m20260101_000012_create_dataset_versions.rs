//! Creates `dataset_versions` (named in seed 000's diagram, designed here in its style): the
//! immutable versions of a dataset, each with its own storage path, size in bytes, file count
//! and checksum; `status` is uploading/ready/failed. One row per `(dataset_id, version)`.

use crate::m20260101_000011_create_datasets::Datasets;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(DatasetVersions::Table)
            .col(pk_bigserial(DatasetVersions::Id))
            .col(bigint(DatasetVersions::DatasetId))
            .col(varchar(DatasetVersions::Version, 64))
            .col(text_null(DatasetVersions::Description))
            .col(varchar(DatasetVersions::StoragePath, 512))
            .col(bigint_null(DatasetVersions::Size).default(0))
            .col(int_null(DatasetVersions::FileCount).default(0))
            .col(varchar_null(DatasetVersions::Checksum, 128))
            .col(varchar_null(DatasetVersions::Status, 20).default("uploading"))
            .col(timestamp_now(DatasetVersions::CreatedAt))
            .fk(
                DatasetVersions::DatasetId,
                Datasets::Table,
                Datasets::Id,
                CASCADE,
            )
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        use DatasetVersions::{DatasetId, Version};
        vec![
            unique_index(DatasetVersions::Table, [DatasetId, Version]),
            index(DatasetVersions::Table, [DatasetId]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum DatasetVersions {
    Table,
    Id,
    DatasetId,
    Version,
    Description,
    StoragePath,
    Size,
    FileCount,
    Checksum,
    Status,
    CreatedAt,
}
