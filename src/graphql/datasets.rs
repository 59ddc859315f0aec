//! Datasets (each with versions) and dataset usage by environments: objects, inputs and
//! the CRUD declarations.

use async_graphql::{ComplexObject, Context, InputObject, MaybeUndefined, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{dataset_usage as du, dataset_versions as dv, datasets as ds};
use sea_orm::Set;

use super::accounts::{owner, Customer, Workspace};
use super::convert::{big_opt, description, fk, id, import_key, opt_description, text, ts_opt};
use super::crud::{
    crud_mutation, crud_query, load_many, load_opt, load_parent, parse_nullable, patch,
    patch_nullable, ApiObject, CreateInput, UpdateInput,
};
use super::enums::*;
use super::environments::Environment;
use super::filter::{filter_input, order_input, EnumFilter, IdFilter, StringFilter};
use super::relations::*;
use super::scalars::BigInt;
use crate::error::AppResult;
use crate::error::GqlResult;

/// A customer's dataset; its files live under `storagePath`, a key beneath every host's
/// storage root that the platform chose.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Dataset {
    pub id: ID,
    #[graphql(skip)]
    pub key: i64,
    pub uuid: String,
    pub customer_id: ID,
    #[graphql(skip)]
    pub customer_key: i64,
    /// The workspace it is shared in, if any.
    pub workspace_id: Option<ID>,
    #[graphql(skip)]
    pub workspace_key: Option<i64>,
    pub name: String,
    pub description: Option<String>,
    pub storage_path: String,
    /// Bytes: the sum of its ready versions.
    pub total_size: Option<BigInt>,
    pub status: Option<UploadStatus>,
    /// Why it is `FAILED`.
    pub status_reason: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl Dataset {
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Customer> {
        load_parent::<CustomerById, _>(ctx, self.customer_key)
            .await
            .gql()
    }
    async fn workspace(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Workspace>> {
        load_opt::<WorkspaceById, _>(ctx, self.workspace_key)
            .await
            .gql()
    }
    #[graphql(complexity = "crate::graphql::pagination::fan_out(10, child_complexity)")]
    async fn versions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DatasetVersion>> {
        load_many::<VersionsOfDataset, _>(ctx, self.key).await.gql()
    }
    /// Where this dataset is (or was) mounted.
    #[graphql(complexity = "crate::graphql::pagination::fan_out(10, child_complexity)")]
    async fn usage(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DatasetUsage>> {
        load_many::<UsageOfDataset, _>(ctx, self.key).await.gql()
    }
}

impl ApiObject for Dataset {
    type Entity = ds::Entity;
    const LABEL: &'static str = "dataset";
    fn from_model(m: ds::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            key: m.id,
            uuid: m.uuid,
            customer_id: id(m.customer_id),
            customer_key: m.customer_id,
            workspace_id: m.workspace_id.map(id),
            workspace_key: m.workspace_id,
            name: m.name,
            description: m.description,
            storage_path: m.storage_path,
            total_size: big_opt(m.total_size),
            status: UploadStatus::from_db_opt(m.status.as_deref())?,
            status_reason: m.status_reason,
            created_at: ts_opt(m.created_at),
        })
    }
}

filter_input!(DatasetFilter for ds {
    id: IdFilter => Id as i64,
    customer_id: IdFilter => CustomerId as i64,
    workspace_id: IdFilter => WorkspaceId as i64,
    status: EnumFilter<UploadStatus> => Status,
    name: StringFilter => Name,
});

order_input!(DatasetOrder, DatasetOrderField, ds::Entity, ds::Column {
    Id => Id,
    Name => Name,
    TotalSize => TotalSize,
    CreatedAt => CreatedAt,
});

/// Each dataset column's rule, written once for create and update.
mod dataset_columns {
    use super::*;

    pub fn name(v: String) -> AppResult<String> {
        text("name", v, 256)
    }
}

#[derive(InputObject)]
pub struct CreateDatasetInput {
    /// Defaults to the caller; only operators may name someone else.
    pub customer_id: Option<ID>,
    /// Share it in this workspace (needs role OWNER, ADMIN or MEMBER there).
    pub workspace_id: Option<ID>,
    pub name: String,
    pub description: Option<String>,
    /// Operators only: register data that already sits beneath the storage root, under this
    /// relative key (letters, digits, '.', '_', '-' and '/'; no '..'). Without it the platform
    /// generates the key.
    pub import_key: Option<String>,
}

impl CreateInput for CreateDatasetInput {
    type Object = Dataset;
    fn into_row(self) -> AppResult<ds::ActiveModel> {
        Ok(ds::ActiveModel {
            uuid: Set(format!("dataset-{}", uuid::Uuid::new_v4().simple())),
            customer_id: owner(self.customer_id.as_ref())?,
            workspace_id: Set(self
                .workspace_id
                .as_ref()
                .map(|w| fk("workspaceId", w))
                .transpose()?),
            name: Set(dataset_columns::name(self.name)?),
            description: Set(opt_description(self.description)?),
            storage_path: import_key(self.import_key)?,
            total_size: Set(Some(0)),
            status: Set(Some(UploadStatus::Ready.as_db().into())),
            ..Default::default()
        })
    }
}

#[derive(InputObject, Default)]
pub struct UpdateDatasetInput {
    pub name: Option<String>,
    pub description: MaybeUndefined<String>,
}

impl UpdateInput for UpdateDatasetInput {
    type Object = Dataset;
    fn apply(self, row: &mut ds::ActiveModel) -> AppResult<()> {
        patch(
            &mut row.name,
            self.name.map(dataset_columns::name).transpose()?,
        );
        patch_nullable(
            &mut row.description,
            parse_nullable(self.description, description)?,
        );
        Ok(())
    }
}

crud_query!(DatasetQuery {
    object: Dataset,
    one: dataset,
    many: datasets,
    filter: DatasetFilter,
    order: DatasetOrder,
});
crud_mutation!(
    DatasetMutation,
    Dataset,
    create: create_dataset(CreateDatasetInput),
    update: update_dataset(UpdateDatasetInput),
    delete: delete_dataset
);

/// One version of a dataset: `UPLOADING` while its writers fill it (mounted read-write
/// into their own environments), `READY` (read-only, measured) once finalized.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct DatasetVersion {
    pub id: ID,
    pub dataset_id: ID,
    #[graphql(skip)]
    pub dataset_key: i64,
    pub version: String,
    pub description: Option<String>,
    pub storage_path: String,
    /// Bytes, as its host measured them after the last environment that wrote it was deleted.
    pub size: Option<BigInt>,
    pub file_count: Option<i32>,
    pub checksum: Option<String>,
    pub status: Option<UploadStatus>,
    /// Why it is `FAILED`.
    pub status_reason: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl DatasetVersion {
    async fn dataset(&self, ctx: &Context<'_>) -> async_graphql::Result<Dataset> {
        load_parent::<DatasetById, _>(ctx, self.dataset_key)
            .await
            .gql()
    }
}

impl ApiObject for DatasetVersion {
    type Entity = dv::Entity;
    const LABEL: &'static str = "dataset version";
    fn from_model(m: dv::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            dataset_id: id(m.dataset_id),
            dataset_key: m.dataset_id,
            version: m.version,
            description: m.description,
            storage_path: m.storage_path,
            size: big_opt(m.size),
            file_count: m.file_count,
            checksum: m.checksum,
            status: UploadStatus::from_db_opt(m.status.as_deref())?,
            status_reason: m.status_reason,
            created_at: ts_opt(m.created_at),
        })
    }
}

filter_input!(DatasetVersionFilter for dv {
    id: IdFilter => Id as i64,
    dataset_id: IdFilter => DatasetId as i64,
    version: StringFilter => Version,
    status: EnumFilter<UploadStatus> => Status,
});

order_input!(DatasetVersionOrder, DatasetVersionOrderField, dv::Entity, dv::Column {
    Id => Id,
    Version => Version,
    CreatedAt => CreatedAt,
});

/// Each dataset version column's rule, written once for create and update.
mod dataset_version_columns {
    use super::*;

    pub fn checksum(v: String) -> AppResult<String> {
        text("checksum", v, 128)
    }
}

#[derive(InputObject)]
pub struct CreateDatasetVersionInput {
    pub dataset_id: ID,
    pub version: String,
    pub description: Option<String>,
    pub checksum: Option<String>,
    /// Operators only: register data that already sits beneath the storage root, under this
    /// relative key (letters, digits, '.', '_', '-' and '/'; no '..'). Without it the platform
    /// generates the key and the version
    /// starts `UPLOADING`; an import is `READY`.
    pub import_key: Option<String>,
}

impl CreateInput for CreateDatasetVersionInput {
    type Object = DatasetVersion;
    fn into_row(self) -> AppResult<dv::ActiveModel> {
        Ok(dv::ActiveModel {
            dataset_id: Set(fk("datasetId", &self.dataset_id)?),
            version: Set(text("version", self.version, 64)?),
            description: Set(opt_description(self.description)?),
            storage_path: import_key(self.import_key)?,
            size: Set(Some(0)),
            file_count: Set(Some(0)),
            checksum: Set(self
                .checksum
                .map(dataset_version_columns::checksum)
                .transpose()?),
            ..Default::default()
        })
    }
}

/// The version label and dataset of a version are fixed once created.
#[derive(InputObject, Default)]
pub struct UpdateDatasetVersionInput {
    pub description: MaybeUndefined<String>,
    pub checksum: MaybeUndefined<String>,
}

impl UpdateInput for UpdateDatasetVersionInput {
    type Object = DatasetVersion;
    fn apply(self, row: &mut dv::ActiveModel) -> AppResult<()> {
        patch_nullable(
            &mut row.description,
            parse_nullable(self.description, description)?,
        );
        patch_nullable(
            &mut row.checksum,
            parse_nullable(self.checksum, dataset_version_columns::checksum)?,
        );
        Ok(())
    }
}

crud_query!(DatasetVersionQuery {
    object: DatasetVersion,
    one: dataset_version,
    many: dataset_versions,
    filter: DatasetVersionFilter,
    order: DatasetVersionOrder,
});
crud_mutation!(
    DatasetVersionMutation,
    DatasetVersion,
    create: create_dataset_version(CreateDatasetVersionInput),
    update: update_dataset_version(UpdateDatasetVersionInput),
    delete: delete_dataset_version
);

/// A dataset mounted into an environment (written by the environment lifecycle).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct DatasetUsage {
    pub id: ID,
    pub dataset_id: ID,
    #[graphql(skip)]
    pub dataset_key: i64,
    pub dataset_version_id: Option<ID>,
    #[graphql(skip)]
    pub dataset_version_key: Option<i64>,
    pub env_id: ID,
    pub mount_path: String,
    pub access_mode: Option<AccessMode>,
    pub mounted_at: Option<DateTime<Utc>>,
    pub unmounted_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl DatasetUsage {
    async fn dataset(&self, ctx: &Context<'_>) -> async_graphql::Result<Dataset> {
        load_parent::<DatasetById, _>(ctx, self.dataset_key)
            .await
            .gql()
    }
    async fn dataset_version(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<DatasetVersion>> {
        load_opt::<DatasetVersionById, _>(ctx, self.dataset_version_key)
            .await
            .gql()
    }
    async fn environment(&self, ctx: &Context<'_>) -> async_graphql::Result<Environment> {
        load_parent::<EnvironmentById, _>(ctx, self.env_id.to_string())
            .await
            .gql()
    }
}

impl ApiObject for DatasetUsage {
    type Entity = du::Entity;
    const LABEL: &'static str = "dataset usage";
    fn from_model(m: du::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            dataset_id: id(m.dataset_id),
            dataset_key: m.dataset_id,
            dataset_version_id: m.dataset_version_id.map(id),
            dataset_version_key: m.dataset_version_id,
            env_id: id(m.env_id),
            mount_path: m.mount_path,
            access_mode: AccessMode::from_db_opt(m.access_mode.as_deref())?,
            mounted_at: ts_opt(m.mounted_at),
            unmounted_at: ts_opt(m.unmounted_at),
        })
    }
}

filter_input!(DatasetUsageFilter for du {
    id: IdFilter => Id as i64,
    dataset_id: IdFilter => DatasetId as i64,
    env_id: IdFilter => EnvId as String,
});

order_input!(DatasetUsageOrder, DatasetUsageOrderField, du::Entity, du::Column {
    Id => Id,
    MountedAt => MountedAt,
});

crud_query!(DatasetUsageQuery {
    object: DatasetUsage,
    one: dataset_usage,
    many: dataset_usages,
    filter: DatasetUsageFilter,
    order: DatasetUsageOrder,
});
