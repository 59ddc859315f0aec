//! Creates `model_versions` (named in seed 000's diagram, designed here in its style): the
//! versions of a model with storage path, size in bytes, file `format` ("safetensors", "onnx")
//! and evaluation `metrics` (JSONB); `status` is uploading/ready/failed. One row per
//! `(model_id, version)`.

use crate::m20260101_000014_create_models::Models;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(ModelVersions::Table)
            .col(pk_bigserial(ModelVersions::Id))
            .col(bigint(ModelVersions::ModelId))
            .col(varchar(ModelVersions::Version, 64))
            .col(text_null(ModelVersions::Description))
            .col(varchar(ModelVersions::StoragePath, 512))
            .col(bigint_null(ModelVersions::Size).default(0))
            .col(varchar_null(ModelVersions::Format, 32))
            .col(jsonb_null(ModelVersions::Metrics))
            .col(varchar_null(ModelVersions::Status, 20).default("uploading"))
            .col(timestamp_now(ModelVersions::CreatedAt))
            .fk(ModelVersions::ModelId, Models::Table, Models::Id, CASCADE)
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        use ModelVersions::{ModelId, Version};
        vec![
            unique_index(ModelVersions::Table, [ModelId, Version]),
            index(ModelVersions::Table, [ModelId]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum ModelVersions {
    Table,
    Id,
    ModelId,
    Version,
    Description,
    StoragePath,
    Size,
    Format,
    Metrics,
    Status,
    CreatedAt,
}
