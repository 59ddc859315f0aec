//! Models (each with versions): objects, inputs and the CRUD declarations.

use async_graphql::{ComplexObject, Context, InputObject, Json, MaybeUndefined, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{model_versions as mv, models};
use sea_orm::Set;

use super::accounts::{owner, Customer, Workspace};
use super::convert::{
    big_opt, description, fk, id, import_key, json, opt_description, text, ts_opt,
};
use super::crud::{
    crud_mutation, crud_query, load_many, load_opt, load_parent, parse_nullable, patch,
    patch_nullable, ApiObject, CreateInput, UpdateInput,
};
use super::enums::*;
use super::filter::{filter_input, order_input, EnumFilter, IdFilter, StringFilter};
use super::relations::*;
use super::scalars::BigInt;
use crate::error::AppResult;
use crate::error::GqlResult;

/// A customer's model; its files live under `storagePath`, a key beneath every host's
/// storage root that the platform chose.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Model {
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
    /// e.g. `pytorch`, `tensorflow`.
    pub framework: Option<String>,
    pub storage_path: String,
    /// Bytes: the sum of its ready versions.
    pub total_size: Option<BigInt>,
    /// Set when its storage location is unusable (it is then never mounted).
    pub status_reason: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl Model {
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
    async fn versions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ModelVersion>> {
        load_many::<VersionsOfModel, _>(ctx, self.key).await.gql()
    }
}

impl ApiObject for Model {
    type Entity = models::Entity;
    const LABEL: &'static str = "model";
    fn from_model(m: models::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            key: m.id,
            uuid: m.uuid,
            customer_id: id(m.customer_id),
            customer_key: m.customer_id,
            workspace_id: m.workspace_id.map(id),
            workspace_key: m.workspace_id,
            name: m.name,
            framework: m.framework,
            storage_path: m.storage_path,
            total_size: big_opt(m.total_size),
            status_reason: m.status_reason,
            created_at: ts_opt(m.created_at),
        })
    }
}

filter_input!(ModelFilter for models {
    id: IdFilter => Id as i64,
    customer_id: IdFilter => CustomerId as i64,
    workspace_id: IdFilter => WorkspaceId as i64,
    name: StringFilter => Name,
    framework: StringFilter => Framework,
});

order_input!(ModelOrder, ModelOrderField, models::Entity, models::Column {
    Id => Id,
    Name => Name,
    TotalSize => TotalSize,
    CreatedAt => CreatedAt,
});

/// Each model column's rule, written once for create and update.
mod model_columns {
    use super::*;

    pub fn name(v: String) -> AppResult<String> {
        text("name", v, 256)
    }
    pub fn framework(v: String) -> AppResult<String> {
        text("framework", v, 64)
    }
}

#[derive(InputObject)]
pub struct CreateModelInput {
    /// Defaults to the caller; only operators may name someone else.
    pub customer_id: Option<ID>,
    /// Share it in this workspace (needs role OWNER, ADMIN or MEMBER there).
    pub workspace_id: Option<ID>,
    pub name: String,
    pub framework: Option<String>,
    /// Operators only: register data that already sits beneath the storage root, under this
    /// relative key (letters, digits, '.', '_', '-' and '/'; no '..'). Without it the platform
    /// generates the key.
    pub import_key: Option<String>,
}

impl CreateInput for CreateModelInput {
    type Object = Model;
    fn into_row(self) -> AppResult<models::ActiveModel> {
        Ok(models::ActiveModel {
            uuid: Set(format!("model-{}", uuid::Uuid::new_v4().simple())),
            customer_id: owner(self.customer_id.as_ref())?,
            workspace_id: Set(self
                .workspace_id
                .as_ref()
                .map(|w| fk("workspaceId", w))
                .transpose()?),
            name: Set(model_columns::name(self.name)?),
            framework: Set(self.framework.map(model_columns::framework).transpose()?),
            storage_path: import_key(self.import_key)?,
            total_size: Set(Some(0)),
            ..Default::default()
        })
    }
}

#[derive(InputObject, Default)]
pub struct UpdateModelInput {
    pub name: Option<String>,
    pub framework: MaybeUndefined<String>,
}

impl UpdateInput for UpdateModelInput {
    type Object = Model;
    fn apply(self, row: &mut models::ActiveModel) -> AppResult<()> {
        patch(
            &mut row.name,
            self.name.map(model_columns::name).transpose()?,
        );
        patch_nullable(
            &mut row.framework,
            parse_nullable(self.framework, model_columns::framework)?,
        );
        Ok(())
    }
}

crud_query!(ModelQuery {
    object: Model,
    one: model,
    many: models,
    filter: ModelFilter,
    order: ModelOrder,
});
crud_mutation!(
    ModelMutation,
    Model,
    create: create_model(CreateModelInput),
    update: update_model(UpdateModelInput),
    delete: delete_model
);

/// One version of a model, with optional evaluation metrics: `UPLOADING` until finalized,
/// then `READY` and read-only.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ModelVersion {
    pub id: ID,
    pub model_id: ID,
    #[graphql(skip)]
    pub model_key: i64,
    pub version: String,
    pub description: Option<String>,
    pub storage_path: String,
    /// Bytes.
    pub size: Option<BigInt>,
    /// e.g. `safetensors`, `onnx`.
    pub format: Option<String>,
    /// Evaluation results, e.g. `{"top1": 0.76}`.
    pub metrics: Option<Json<serde_json::Value>>,
    pub status: Option<UploadStatus>,
    /// Why it is `FAILED`.
    pub status_reason: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl ModelVersion {
    async fn model(&self, ctx: &Context<'_>) -> async_graphql::Result<Model> {
        load_parent::<ModelById, _>(ctx, self.model_key).await.gql()
    }
}

impl ApiObject for ModelVersion {
    type Entity = mv::Entity;
    const LABEL: &'static str = "model version";
    fn from_model(m: mv::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            model_id: id(m.model_id),
            model_key: m.model_id,
            version: m.version,
            description: m.description,
            storage_path: m.storage_path,
            size: big_opt(m.size),
            format: m.format,
            metrics: m.metrics.map(Json),
            status: UploadStatus::from_db_opt(m.status.as_deref())?,
            status_reason: m.status_reason,
            created_at: ts_opt(m.created_at),
        })
    }
}

filter_input!(ModelVersionFilter for mv {
    id: IdFilter => Id as i64,
    model_id: IdFilter => ModelId as i64,
    version: StringFilter => Version,
    status: EnumFilter<UploadStatus> => Status,
});

order_input!(ModelVersionOrder, ModelVersionOrderField, mv::Entity, mv::Column {
    Id => Id,
    Version => Version,
    CreatedAt => CreatedAt,
});

/// Each model version column's rule, written once for create and update.
mod model_version_columns {
    use super::*;

    pub fn format(v: String) -> AppResult<String> {
        text("format", v, 32)
    }
    pub fn metrics(v: Json<serde_json::Value>) -> AppResult<serde_json::Value> {
        json("metrics", v.0)
    }
}

#[derive(InputObject)]
pub struct CreateModelVersionInput {
    pub model_id: ID,
    pub version: String,
    pub description: Option<String>,
    pub format: Option<String>,
    pub metrics: Option<Json<serde_json::Value>>,
    /// Operators only: register data that already sits beneath the storage root, under this
    /// relative key (letters, digits, '.', '_', '-' and '/'; no '..'). Without it the platform
    /// generates the key and the version
    /// starts `UPLOADING`; an import is `READY`.
    pub import_key: Option<String>,
}

impl CreateInput for CreateModelVersionInput {
    type Object = ModelVersion;
    fn into_row(self) -> AppResult<mv::ActiveModel> {
        Ok(mv::ActiveModel {
            model_id: Set(fk("modelId", &self.model_id)?),
            version: Set(text("version", self.version, 64)?),
            description: Set(opt_description(self.description)?),
            storage_path: import_key(self.import_key)?,
            size: Set(Some(0)),
            format: Set(self.format.map(model_version_columns::format).transpose()?),
            metrics: Set(self
                .metrics
                .map(model_version_columns::metrics)
                .transpose()?),
            ..Default::default()
        })
    }
}

#[derive(InputObject, Default)]
pub struct UpdateModelVersionInput {
    pub description: MaybeUndefined<String>,
    pub format: MaybeUndefined<String>,
    pub metrics: MaybeUndefined<Json<serde_json::Value>>,
}

impl UpdateInput for UpdateModelVersionInput {
    type Object = ModelVersion;
    fn apply(self, row: &mut mv::ActiveModel) -> AppResult<()> {
        patch_nullable(
            &mut row.description,
            parse_nullable(self.description, description)?,
        );
        patch_nullable(
            &mut row.format,
            parse_nullable(self.format, model_version_columns::format)?,
        );
        patch_nullable(
            &mut row.metrics,
            parse_nullable(self.metrics, model_version_columns::metrics)?,
        );
        Ok(())
    }
}

crud_query!(ModelVersionQuery {
    object: ModelVersion,
    one: model_version,
    many: model_versions,
    filter: ModelVersionFilter,
    order: ModelVersionOrder,
});
crud_mutation!(
    ModelVersionMutation,
    ModelVersion,
    create: create_model_version(CreateModelVersionInput),
    update: update_model_version(UpdateModelVersionInput),
    delete: delete_model_version
);
