//! Customers' data on the platform's storage (DESIGN §7, §9): datasets, models and their
//! versions live under storage keys the platform generates ([`StorageKey`]), which every
//! host's agent resolves strictly beneath its storage root. A customer never names a
//! location; operators may register an import that already sits under the root (a key,
//! checked by `auth::policy`).
//!
//! A version is `uploading` until it is finalized: the people who may write it mount it
//! read-write into one of their own environments to fill it, delete that environment (its
//! agent measures the files it left, [`record_measurements`]), and [`finalize`] makes it
//! `ready`: read-only from then on, mounted read-only by everyone who may read it.

use entity::{dataset_usage, dataset_versions, datasets, model_versions, models};
use futures_util::future::BoxFuture;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QuerySelect,
};

use crate::auth::policy;
use crate::auth::User;
use crate::db;
use crate::domain::{AssetKind, MountMode, StorageKey, Tenant, UploadState};
use crate::error::{AppError, AppResult};
use crate::services::crud::{self, Lifecycle};

/// A new asset's key, unless an operator's import named one.
fn asset_key(
    kind: AssetKind,
    customer: &ActiveValue<i64>,
    workspace: &ActiveValue<Option<i64>>,
    key: &mut ActiveValue<String>,
) -> AppResult<()> {
    if key.is_set() {
        return Ok(());
    }
    let owner = *customer
        .try_as_ref()
        .ok_or_else(|| AppError::internal("an asset reached its insert without an owner"))?;
    let workspace = workspace.try_as_ref().copied().flatten();
    *key =
        ActiveValue::Set(StorageKey::new_asset(kind, Tenant::of(owner, workspace)).into_string());
    Ok(())
}

/// A new version's key beneath its parent's, unless an operator's import named one; a new
/// version is `uploading` unless it is an import (which is `ready` as it stands).
fn version_key(
    parent: Option<String>,
    key: &mut ActiveValue<String>,
    status: &mut ActiveValue<Option<String>>,
) -> AppResult<()> {
    if key.is_set() {
        if !status.is_set() {
            *status = ActiveValue::Set(Some(UploadState::Ready.as_db().into()));
        }
        return Ok(());
    }
    let parent = parent.ok_or_else(crate::auth::policy::missing_reference)?;
    *key = ActiveValue::Set(StorageKey::new_version(&parent)?.into_string());
    *status = ActiveValue::Set(Some(UploadState::Uploading.as_db().into()));
    Ok(())
}

impl Lifecycle for datasets::Entity {
    fn before_insert<'a>(
        _txn: &'a DatabaseTransaction,
        row: &'a mut datasets::ActiveModel,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            asset_key(
                AssetKind::Dataset,
                &row.customer_id,
                &row.workspace_id,
                &mut row.storage_path,
            )
        })
    }
}

impl Lifecycle for models::Entity {
    fn before_insert<'a>(
        _txn: &'a DatabaseTransaction,
        row: &'a mut models::ActiveModel,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            asset_key(
                AssetKind::Model,
                &row.customer_id,
                &row.workspace_id,
                &mut row.storage_path,
            )
        })
    }
}

impl Lifecycle for dataset_versions::Entity {
    fn before_insert<'a>(
        txn: &'a DatabaseTransaction,
        row: &'a mut dataset_versions::ActiveModel,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            let parent = match row.dataset_id.try_as_ref() {
                Some(id) => {
                    datasets::Entity::find_by_id(*id)
                        .select_only()
                        .column(datasets::Column::StoragePath)
                        .into_tuple::<String>()
                        .one(txn)
                        .await?
                }
                None => None,
            };
            version_key(parent, &mut row.storage_path, &mut row.status)
        })
    }
}

impl Lifecycle for model_versions::Entity {
    fn before_insert<'a>(
        txn: &'a DatabaseTransaction,
        row: &'a mut model_versions::ActiveModel,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            let parent = match row.model_id.try_as_ref() {
                Some(id) => {
                    models::Entity::find_by_id(*id)
                        .select_only()
                        .column(models::Column::StoragePath)
                        .into_tuple::<String>()
                        .one(txn)
                        .await?
                }
                None => None,
            };
            version_key(parent, &mut row.storage_path, &mut row.status)
        })
    }
}

fn must_be_uploading(status: Option<&str>) -> AppResult<()> {
    match UploadState::from_db(status.unwrap_or(UploadState::Uploading.as_db()))? {
        UploadState::Uploading => Ok(()),
        other => Err(AppError::Conflict(format!(
            "only an uploading version is finalized (this one is {})",
            other.as_db()
        ))),
    }
}

/// Makes a dataset version `ready`: read-only from now on, with the size and file count its
/// host measured. CONFLICT while an environment that mounts it read-write still has a
/// container (delete that environment first, so nothing writes to it any more).
pub async fn finalize_dataset_version(
    db: &DatabaseConnection,
    user: User,
    id: i64,
) -> AppResult<dataset_versions::Model> {
    let txn = db::begin_write(db).await?;
    let row = crud::get_for_write::<dataset_versions::Entity>(
        &txn,
        id,
        "dataset version",
        policy::access::<dataset_versions::Entity>(user),
    )
    .await?;
    must_be_uploading(row.status.as_deref())?;
    let writer = dataset_usage::Entity::find()
        .filter(dataset_usage::Column::DatasetVersionId.eq(id))
        .filter(dataset_usage::Column::AccessMode.eq(MountMode::ReadWrite.as_db()))
        .filter(dataset_usage::Column::UnmountedAt.is_null())
        .one(&txn)
        .await?;
    if let Some(writer) = writer {
        return Err(AppError::Conflict(format!(
            "environment {} still mounts this version read-write; delete it first",
            writer.env_id
        )));
    }
    dataset_versions::Entity::update_many()
        .col_expr(
            dataset_versions::Column::Status,
            Expr::value(UploadState::Ready.as_db()),
        )
        .filter(dataset_versions::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    // The dataset's size is that of its ready versions.
    let total: i64 = dataset_versions::Entity::find()
        .select_only()
        .column(dataset_versions::Column::Size)
        .filter(dataset_versions::Column::DatasetId.eq(row.dataset_id))
        .filter(dataset_versions::Column::Status.eq(UploadState::Ready.as_db()))
        .into_tuple::<Option<i64>>()
        .all(&txn)
        .await?
        .into_iter()
        .flatten()
        .fold(0i64, i64::saturating_add);
    datasets::Entity::update_many()
        .col_expr(datasets::Column::TotalSize, Expr::value(total))
        .filter(datasets::Column::Id.eq(row.dataset_id))
        .exec(&txn)
        .await?;
    let updated = dataset_versions::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("dataset version"))?;
    txn.commit().await?;
    Ok(updated)
}

/// Makes a model version `ready` (read-only from now on).
pub async fn finalize_model_version(
    db: &DatabaseConnection,
    user: User,
    id: i64,
) -> AppResult<model_versions::Model> {
    let txn = db::begin_write(db).await?;
    let row = crud::get_for_write::<model_versions::Entity>(
        &txn,
        id,
        "model version",
        policy::access::<model_versions::Entity>(user),
    )
    .await?;
    must_be_uploading(row.status.as_deref())?;
    model_versions::Entity::update_many()
        .col_expr(
            model_versions::Column::Status,
            Expr::value(UploadState::Ready.as_db()),
        )
        .filter(model_versions::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let updated = model_versions::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("model version"))?;
    txn.commit().await?;
    Ok(updated)
}

/// What an agent measured beneath one storage key after removing a container.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub key: String,
    pub bytes: i64,
    pub files: i32,
}

/// Stores the sizes the agent measured for the versions environment `env_id` mounted
/// read-write and that are still `uploading`. Keys the environment did not mount
/// read-write are ignored: an agent reports only about its own containers' writes.
pub async fn record_measurements(
    txn: &impl ConnectionTrait,
    env_id: &str,
    measured: &[Measurement],
) -> AppResult<()> {
    if measured.is_empty() {
        return Ok(());
    }
    let written: Vec<i64> = dataset_usage::Entity::find()
        .select_only()
        .column(dataset_usage::Column::DatasetVersionId)
        .filter(dataset_usage::Column::EnvId.eq(env_id))
        .filter(dataset_usage::Column::AccessMode.eq(MountMode::ReadWrite.as_db()))
        .into_tuple::<Option<i64>>()
        .all(txn)
        .await?
        .into_iter()
        .flatten()
        .collect();
    if written.is_empty() {
        return Ok(());
    }
    for m in measured {
        dataset_versions::Entity::update_many()
            .col_expr(dataset_versions::Column::Size, Expr::value(m.bytes.max(0)))
            .col_expr(
                dataset_versions::Column::FileCount,
                Expr::value(m.files.max(0)),
            )
            .filter(dataset_versions::Column::Id.is_in(written.clone()))
            .filter(dataset_versions::Column::StoragePath.eq(m.key.as_str()))
            .filter(dataset_versions::Column::Status.eq(UploadState::Uploading.as_db()))
            .exec(txn)
            .await?;
    }
    Ok(())
}
