//! The one implementation of get/list/count/create/update/delete that every table shares.
//!
//! Functions are generic over the sea-orm entity and take any connection, so they run the
//! same on PostgreSQL and SQLite and inside or outside a transaction. Writes run in a
//! transaction together with the table's [`Lifecycle`] hooks, so a hook's failure leaves
//! nothing half-written.

use std::str::FromStr;

use futures_util::future::BoxFuture;
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, IntoActiveModel, Iterable, Order, PaginatorTrait,
    PrimaryKeyToColumn, PrimaryKeyTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::error::{AppError, AppResult};
use crate::services::db;

/// The primary-key value type of an entity.
pub type Pk<E> = <<E as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType;

/// Business rules that run in the same transaction as a row's insert or delete.
pub trait Lifecycle: EntityTrait {
    fn after_insert<'a>(
        _txn: &'a DatabaseTransaction,
        _row: &'a Self::Model,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async { Ok(()) })
    }

    fn after_update<'a>(
        _txn: &'a DatabaseTransaction,
        _row: &'a Self::Model,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Runs before the row is deleted (and before the database's cascades).
    fn before_delete<'a>(
        _txn: &'a DatabaseTransaction,
        _row: &'a Self::Model,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async { Ok(()) })
    }

    fn after_delete<'a>(
        _txn: &'a DatabaseTransaction,
        _row: &'a Self::Model,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// What a caller may do with a table's rows: `read` and `write` are WHERE conditions
/// (from `auth::policy`).
#[derive(Debug, Clone)]
pub struct Access {
    pub read: Condition,
    pub write: Condition,
}

impl Access {
    /// Unrestricted: for the server's own processes and agents acting on their host.
    pub fn system() -> Self {
        Self {
            read: Condition::all(),
            write: Condition::all(),
        }
    }
}

/// The row with this id among those `scope` admits, or NOT_FOUND.
pub async fn get<E>(
    db: &impl ConnectionTrait,
    id: Pk<E>,
    label: &'static str,
    scope: Condition,
) -> AppResult<E::Model>
where
    E: EntityTrait,
{
    E::find_by_id(id)
        .filter(scope)
        .one(db)
        .await?
        .ok_or(AppError::NotFound(label))
}

/// The row to change: NOT_FOUND when the caller cannot see it, FORBIDDEN when it can see but
/// not change it.
async fn get_for_write<E>(
    db: &impl ConnectionTrait,
    id: Pk<E>,
    label: &'static str,
    access: Access,
) -> AppResult<E::Model>
where
    E: EntityTrait,
    E::Model: Sync,
    Pk<E>: Clone,
{
    let current = get::<E>(db, id.clone(), label, access.read).await?;
    if E::find_by_id(id).filter(access.write).count(db).await? == 0 {
        return Err(AppError::Forbidden);
    }
    Ok(current)
}

pub async fn count<E>(db: &impl ConnectionTrait, condition: Condition) -> AppResult<u64>
where
    E: EntityTrait,
    E::Model: Sync,
{
    Ok(E::find().filter(condition).count(db).await?)
}

/// Rows `offset..offset+limit` of the filtered list in the given order, then by primary key.
pub async fn list<E>(
    db: &impl ConnectionTrait,
    condition: Condition,
    order: &[(E::Column, Order)],
    offset: u64,
    limit: u64,
) -> AppResult<Vec<E::Model>>
where
    E: EntityTrait,
{
    let mut query = E::find().filter(condition);
    for (col, dir) in order {
        query = query.order_by(*col, dir.clone());
    }
    for pk in E::PrimaryKey::iter() {
        query = query.order_by(pk.into_column(), Order::Asc);
    }
    Ok(query.offset(offset).limit(limit).all(db).await?)
}

pub async fn create<E>(db: &DatabaseConnection, row: E::ActiveModel) -> AppResult<E::Model>
where
    E: Lifecycle,
    E::Model: IntoActiveModel<E::ActiveModel> + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let _writer = db::write_guard(db).await;
    let model = db
        .transaction::<_, E::Model, AppError>(|txn| {
            Box::pin(async move {
                let model = row.insert(txn).await?;
                E::after_insert(txn, &model).await?;
                Ok(model)
            })
        })
        .await?;
    Ok(model)
}

/// Loads the row, lets `patch` change it, and saves what changed (stamping `updated_at`
/// where the table has one).
pub async fn update<E, F>(
    db: &DatabaseConnection,
    id: Pk<E>,
    label: &'static str,
    access: Access,
    patch: F,
) -> AppResult<E::Model>
where
    E: Lifecycle,
    E::Model: IntoActiveModel<E::ActiveModel> + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
    F: FnOnce(&mut E::ActiveModel) -> AppResult<()> + Send + 'static,
    Pk<E>: Send + Clone,
{
    let _writer = db::write_guard(db).await;
    let model = db
        .transaction::<_, E::Model, AppError>(|txn| {
            Box::pin(async move {
                let current = get_for_write::<E>(txn, id, label, access).await?;
                let mut row = current.clone().into_active_model();
                patch(&mut row)?;
                if !row.is_changed() {
                    return Ok(current);
                }
                if let Ok(col) = E::Column::from_str("updated_at") {
                    row.set(col, chrono::Utc::now().naive_utc().into());
                }
                let updated = row.update(txn).await?;
                E::after_update(txn, &updated).await?;
                Ok(updated)
            })
        })
        .await?;
    Ok(model)
}

/// Deletes the row and returns it. A row that other rows still need (a host with
/// environments) is a CONFLICT.
pub async fn delete<E>(
    db: &DatabaseConnection,
    id: Pk<E>,
    label: &'static str,
    access: Access,
) -> AppResult<E::Model>
where
    E: Lifecycle,
    E::Model: Sync,
    Pk<E>: Send + Clone,
{
    let _writer = db::write_guard(db).await;
    let model = db
        .transaction::<_, E::Model, AppError>(|txn| {
            Box::pin(async move {
                let current = get_for_write::<E>(txn, id.clone(), label, access).await?;
                E::before_delete(txn, &current).await?;
                E::delete_by_id(id)
                    .exec(txn)
                    .await
                    .map_err(|err| match AppError::from(err) {
                        AppError::BadUserInput(_) => AppError::Conflict(format!(
                            "{label} is still referenced by other records"
                        )),
                        other => other,
                    })?;
                E::after_delete(txn, &current).await?;
                Ok(current)
            })
        })
        .await?;
    Ok(model)
}

/// Rows whose `column` is one of `keys`, among those `scope` admits, in one statement; used
/// by the DataLoaders.
pub async fn load_in<E, V>(
    db: &impl ConnectionTrait,
    column: E::Column,
    keys: Vec<V>,
    scope: Condition,
) -> AppResult<Vec<E::Model>>
where
    E: EntityTrait,
    V: Into<sea_orm::Value>,
{
    Ok(E::find()
        .filter(column.is_in(keys))
        .filter(scope)
        .all(db)
        .await?)
}
