//! The one implementation of get/list/count/create/update/delete that every table shares.
//!
//! Functions are generic over the sea-orm entity and take any connection, so they run the
//! same on PostgreSQL and SQLite and inside or outside a transaction. Writes run in a
//! transaction together with the table's [`Lifecycle`] hooks, so a hook's failure leaves
//! nothing half-written; the events the change means ([`Lifecycle::events`]) are published
//! once it is committed.

use std::str::FromStr;

use futures_util::future::BoxFuture;
use sea_orm::sea_query::{
    Alias, Condition, Expr, NullOrdering, Query, SimpleExpr, SubQueryStatement,
};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, IntoActiveModel, Iterable, Order, PaginatorTrait,
    PrimaryKeyToColumn, PrimaryKeyTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::db;
use crate::error::{AppError, AppResult};
use crate::events::{Event, EventBus};

/// The primary-key value type of an entity.
pub type Pk<E> = <<E as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType;

/// Business rules that run in the same transaction as a row's insert or delete.
pub trait Lifecycle: EntityTrait {
    /// Completes a new row before it is inserted (what the platform, not the caller, decides).
    fn before_insert<'a>(
        _txn: &'a DatabaseTransaction,
        _row: &'a mut Self::ActiveModel,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async { Ok(()) })
    }

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

    /// What live listeners must hear of a committed change: `before` is `None` for an
    /// insert, `after` for a delete. Published after the commit.
    fn events(_before: Option<&Self::Model>, _after: Option<&Self::Model>) -> Vec<Event> {
        Vec::new()
    }
}

/// Tables whose rows have no rules beyond their constraints.
macro_rules! plain_lifecycle {
    ($($module:ident),+ $(,)?) => {
        $(impl Lifecycle for entity::$module::Entity {})+
    };
}

plain_lifecycle!(system_configs, gpus, port_mappings, images);

pub use crate::auth::scope::Access;

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
pub async fn get_for_write<E>(
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
        query = match col.def().get_column_type() {
            // Money is a decimal string on SQLite: `+ 0` orders it as a number there (and
            // is exact NUMERIC arithmetic on PostgreSQL).
            sea_orm::ColumnType::Decimal(_) => query.order_by(
                sea_orm::sea_query::Expr::col((E::default(), *col)).add(0),
                dir.clone(),
            ),
            _ => query.order_by(*col, dir.clone()),
        };
    }
    for pk in E::PrimaryKey::iter() {
        query = query.order_by(pk.into_column(), Order::Asc);
    }
    Ok(query.offset(offset).limit(limit).all(db).await?)
}

/// The sort key of a keyset-paged list: the given order, then the primary key ascending.
pub fn with_primary_key<E: EntityTrait>(order: &[(E::Column, Order)]) -> Vec<(E::Column, Order)> {
    let mut keys = order.to_vec();
    keys.extend(E::PrimaryKey::iter().map(|pk| (pk.into_column(), Order::Asc)));
    keys
}

/// The sort key values of one row of a keyset-paged list (`None`: NULL), in the order of
/// [`with_primary_key`].
pub type SeekKey = Vec<Option<sea_orm::Value>>;

/// A keyset page: `limit` rows of the filtered list in the order `keys` (from
/// [`with_primary_key`]; NULLs after every value), strictly between the rows whose keys are
/// `after` and `before`, counted from the end when `from_end`. A page deep in a history
/// costs what the first one does: the cursor's key is a range on the index, not an offset.
pub async fn list_keyset<E>(
    db: &impl ConnectionTrait,
    condition: Condition,
    keys: &[(E::Column, Order)],
    after: Option<SeekKey>,
    before: Option<SeekKey>,
    from_end: bool,
    limit: u64,
) -> AppResult<Vec<E::Model>>
where
    E: EntityTrait,
{
    let mut query = E::find().filter(condition);
    if let Some(key) = after {
        query = query.filter(seek::<E>(keys, &key, true));
    }
    if let Some(key) = before {
        query = query.filter(seek::<E>(keys, &key, false));
    }
    for (col, dir) in keys {
        let ascending = matches!(dir, Order::Asc) != from_end;
        let (dir, nulls) = if ascending {
            (Order::Asc, NullOrdering::Last)
        } else {
            (Order::Desc, NullOrdering::First)
        };
        query = query.order_by_with_nulls(*col, dir, nulls);
    }
    let mut rows = query.limit(limit).all(db).await?;
    if from_end {
        rows.reverse();
    }
    Ok(rows)
}

/// Rows that come after (`later`) or before the row whose sort key is `key`, NULL sorting
/// after every value: `k1 > v1 OR (k1 = v1 AND (k2 > v2 OR ...))`, plus a plain bound on the
/// first key where that is exact, so that an index on it is entered at the cursor.
fn seek<E: EntityTrait>(
    keys: &[(E::Column, Order)],
    key: &[Option<sea_orm::Value>],
    later: bool,
) -> Condition {
    let mut rest: Option<Condition> = None;
    for ((col, dir), value) in keys.iter().zip(key).rev() {
        let greater = matches!(dir, Order::Asc) == later;
        let nullable = col.def().is_null();
        let beyond = match (value, greater) {
            (Some(v), true) => Some(
                Condition::any()
                    .add(col.gt(v.clone()))
                    .add_option(nullable.then(|| col.is_null())),
            ),
            (Some(v), false) => Some(Condition::all().add(col.lt(v.clone()))),
            (None, true) => None,
            (None, false) => Some(Condition::all().add(col.is_not_null())),
        };
        let equal = match value {
            Some(v) => col.eq(v.clone()),
            None => col.is_null(),
        };
        rest = match (beyond, rest) {
            (beyond, Some(rest)) => Some(
                Condition::any()
                    .add_option(beyond)
                    .add(Condition::all().add(equal).add(rest)),
            ),
            (beyond, None) => beyond,
        };
    }
    let mut condition =
        Condition::all().add(rest.unwrap_or_else(|| Condition::all().add(Expr::cust("1 = 0"))));
    if let (Some((col, dir)), Some(Some(v))) = (keys.first(), key.first()) {
        if matches!(dir, Order::Asc) != later {
            condition = condition.add(col.lte(v.clone()));
        } else if !col.def().is_null() {
            condition = condition.add(col.gte(v.clone()));
        }
    }
    condition
}

pub async fn create<E>(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    row: E::ActiveModel,
) -> AppResult<E::Model>
where
    E: Lifecycle,
    E::Model: IntoActiveModel<E::ActiveModel> + Sync,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
{
    let txn = db::begin_write(db).await?;
    let mut row = row;
    E::before_insert(&txn, &mut row).await?;
    let model = row.insert(&txn).await?;
    E::after_insert(&txn, &model).await?;
    txn.commit().await?;
    bus.publish(E::events(None, Some(&model))).await;
    Ok(model)
}

/// Loads the row, lets `patch` change it, and saves what changed (stamping `updated_at`
/// where the table has one).
pub async fn update<E, F>(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
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
    let txn = db::begin_write(db).await?;
    let current = get_for_write::<E>(&txn, id, label, access).await?;
    let mut row = current.clone().into_active_model();
    patch(&mut row)?;
    if !row.is_changed() {
        return Ok(current);
    }
    if let Ok(col) = E::Column::from_str("updated_at") {
        row.set(col, chrono::Utc::now().naive_utc().into());
    }
    let model = row.update(&txn).await?;
    E::after_update(&txn, &model).await?;
    txn.commit().await?;
    bus.publish(E::events(Some(&current), Some(&model))).await;
    Ok(model)
}

/// Deletes the row and returns it. A row that other rows still need (a host with
/// environments) is a CONFLICT.
pub async fn delete<E>(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    id: Pk<E>,
    label: &'static str,
    access: Access,
) -> AppResult<E::Model>
where
    E: Lifecycle,
    E::Model: Sync,
    Pk<E>: Send + Clone,
{
    let txn = db::begin_write(db).await?;
    let model = get_for_write::<E>(&txn, id.clone(), label, access).await?;
    E::before_delete(&txn, &model).await?;
    E::delete_by_id(id)
        .exec(&txn)
        .await
        .map_err(|err| match AppError::from(err) {
            AppError::BadUserInput(_) => {
                AppError::Conflict(format!("{label} is still referenced by other records"))
            }
            other => other,
        })?;
    E::after_delete(&txn, &model).await?;
    txn.commit().await?;
    bus.publish(E::events(Some(&model), None)).await;
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

/// The newest row (by `time_column`, then the highest primary key) of each of `keys`, among
/// those `scope` admits, in one statement whatever the history size: one index probe per key
/// (`(key, time DESC)` indexes), through a correlated `ORDER BY ... LIMIT 1` over a `VALUES`
/// list of the keys, the same SQL on PostgreSQL and SQLite. Rows without a time are never
/// the newest.
pub async fn latest_in<E, V>(
    db: &impl ConnectionTrait,
    key_column: E::Column,
    time_column: E::Column,
    keys: Vec<V>,
    scope: Condition,
) -> AppResult<Vec<E::Model>>
where
    E: EntityTrait,
    V: Into<sea_orm::Value>,
{
    let Some(pk) = E::PrimaryKey::iter()
        .next()
        .map(PrimaryKeyToColumn::into_column)
    else {
        return Ok(Vec::new());
    };
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (sample, wanted) = (Alias::new("sample"), Alias::new("wanted"));
    let newest = Query::select()
        .column((sample.clone(), pk))
        .from_as(E::default(), sample.clone())
        .and_where(
            Expr::col((sample.clone(), key_column)).equals((wanted.clone(), Alias::new("column1"))),
        )
        .and_where(Expr::col((sample.clone(), time_column)).is_not_null())
        .order_by((sample.clone(), time_column), Order::Desc)
        .order_by((sample, pk), Order::Desc)
        .limit(1)
        .to_owned();
    let per_key = Query::select()
        .expr(SimpleExpr::SubQuery(
            None,
            Box::new(SubQueryStatement::SelectStatement(newest)),
        ))
        .from_values(
            keys.into_iter()
                .map(|k| sea_orm::sea_query::ValueTuple::One(k.into())),
            wanted,
        )
        .to_owned();
    Ok(E::find()
        .filter(Expr::col((E::default(), pk)).in_subquery(per_key))
        .filter(scope)
        .all(db)
        .await?)
}
