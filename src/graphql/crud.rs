//! The shape every table's API shares, written once.
//!
//! A table module defines what differs: its object type ([`ApiObject`]), filter input,
//! order input and, for tables people maintain by hand, create/update inputs
//! ([`CreateInput`], [`UpdateInput`]). The `crud_query!` and `crud_mutation!` macros then
//! generate thin resolvers (`host(id)`, `hosts(filter, orderBy, first, after, last,
//! before)`, `createHost`, `updateHost`, `deleteHost`) whose bodies call the generic
//! functions below, which call `services::crud`.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, InputType, OutputType, SimpleObject, ID};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
};

use super::batch::Batcher;
use super::filter::{FilterInput, IdKey, OrderInput};
use super::loaders::{DbLoader, Latest, LatestOf, Rel, Relation};
use super::pagination::{decode_key_cursor, encode_cursor, encode_key_cursor, PageArgs};
use crate::auth::policy::{access, delete_access, user_for, Policy};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::services::crud::{self, Lifecycle, Pk};
use crate::state::AppState;

/// A GraphQL object backed by one table row.
pub trait ApiObject: OutputType + Sized + Send + Sync + 'static {
    /// The table, with its access rules: no object without a policy.
    type Entity: Policy;
    /// How the kind is named in messages (`"host"` in "host not found").
    const LABEL: &'static str;
    /// Time series and other growing logs: lists page by keyset cursors (the last row's sort
    /// key), not by offset; see `pagination`.
    const KEYSET: bool = false;
    fn from_model(model: <Self::Entity as EntityTrait>::Model) -> AppResult<Self>;
}

/// Input of `createX`: parsed into a row ready to insert, or a BAD_USER_INPUT error.
pub trait CreateInput: InputType {
    type Object: ApiObject;
    fn into_row(
        self,
    ) -> AppResult<<<Self::Object as ApiObject>::Entity as EntityTrait>::ActiveModel>;
}

/// Input of `updateX`: every field optional; only the given ones change.
pub trait UpdateInput: InputType {
    type Object: ApiObject;
    fn apply(
        self,
        row: &mut <<Self::Object as ApiObject>::Entity as EntityTrait>::ActiveModel,
    ) -> AppResult<()>;
}

/// `totalCount` of every connection, counted only when the query asks for it.
#[derive(SimpleObject)]
pub struct ConnectionTotal {
    /// Rows matching the filter, over all pages.
    pub total_count: i64,
}

pub type ListConnection<O> = Connection<String, O, ConnectionTotal>;

pub fn state<'a>(ctx: &'a Context<'_>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// The request's principal (anonymous when none was attached).
pub fn principal(ctx: &Context<'_>) -> Principal {
    ctx.data_opt::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous)
}

fn parse_pk<O: ApiObject>(id: &ID) -> AppResult<Pk<O::Entity>>
where
    Pk<O::Entity>: IdKey,
{
    <Pk<O::Entity> as IdKey>::parse_id(id).ok_or(AppError::NotFound(O::LABEL))
}

pub async fn resolve_one<O>(ctx: &Context<'_>, id: ID) -> AppResult<O>
where
    O: ApiObject,
    Pk<O::Entity>: IdKey,
{
    let user = user_for::<O::Entity>(&principal(ctx))?;
    let key = parse_pk::<O>(&id)?;
    let scope = O::Entity::readable(user).condition();
    O::from_model(crud::get::<O::Entity>(&state(ctx).db, key, O::LABEL, scope).await?)
}

pub async fn resolve_list<O, F, R>(
    ctx: &Context<'_>,
    filter: Option<F>,
    order_by: Option<Vec<R>>,
    page: PageArgs,
) -> AppResult<ListConnection<O>>
where
    O: ApiObject,
    <O::Entity as EntityTrait>::Model: Sync,
    F: FilterInput<Entity = O::Entity>,
    R: OrderInput<Entity = O::Entity>,
{
    let user = user_for::<O::Entity>(&principal(ctx))?;
    let db = &state(ctx).db;
    // AND-ed as two conditions: a policy may be an OR of its own.
    let mut condition = sea_orm::Condition::all().add(O::Entity::readable(user).condition());
    if let Some(f) = filter {
        condition = condition.add(f.condition(db.get_database_backend())?);
    }
    let order: Vec<_> = order_by
        .unwrap_or_default()
        .iter()
        .map(OrderInput::key)
        .collect();
    let wants_total = ctx.look_ahead().field("totalCount").exists();
    let total = if wants_total || page.needs_total() {
        Some(crud::count::<O::Entity>(db, condition.clone()).await?)
    } else {
        None
    };
    let total_count = i64::try_from(total.unwrap_or(0)).unwrap_or(i64::MAX);
    if O::KEYSET {
        return resolve_keyset(db, condition, &order, page, ConnectionTotal { total_count }).await;
    }
    let window = page.window(total)?;
    let mut rows =
        crud::list::<O::Entity>(db, condition, &order, window.offset, window.limit + 1).await?;
    let has_next = rows.len() as u64 > window.limit;
    rows.truncate(window.limit as usize);
    let mut connection = Connection::with_additional_fields(
        window.offset > 0,
        has_next,
        ConnectionTotal { total_count },
    );
    for (i, row) in rows.into_iter().enumerate() {
        connection.edges.push(Edge::new(
            encode_cursor(window.offset + i as u64),
            O::from_model(row)?,
        ));
    }
    Ok(connection)
}

/// A page of a keyset-paged list (see `pagination`).
async fn resolve_keyset<O>(
    db: &sea_orm::DatabaseConnection,
    condition: sea_orm::Condition,
    order: &[(<O::Entity as EntityTrait>::Column, sea_orm::Order)],
    page: PageArgs,
    total: ConnectionTotal,
) -> AppResult<ListConnection<O>>
where
    O: ApiObject,
{
    let keys = crud::with_primary_key::<O::Entity>(order);
    let window = page.keyset_window()?;
    let decode = |c: &Option<String>| {
        c.as_deref()
            .map(|c| decode_key_cursor::<O::Entity>(c, &keys))
            .transpose()
    };
    let (after, before) = (decode(&page.after)?, decode(&page.before)?);
    let mut rows = crud::list_keyset::<O::Entity>(
        db,
        condition,
        &keys,
        after,
        before,
        window.from_end,
        window.limit + 1,
    )
    .await?;
    let more = rows.len() as u64 > window.limit;
    let (mut has_previous, has_next) = if window.from_end {
        if more {
            rows.remove(0);
        }
        (more, page.before.is_some())
    } else {
        rows.truncate(window.limit as usize);
        (page.after.is_some(), more)
    };
    if let Some(trim) = window.trim.map(|t| t as usize) {
        if rows.len() > trim {
            rows.drain(..rows.len() - trim);
            has_previous = true;
        }
    }
    let mut connection = Connection::with_additional_fields(has_previous, has_next, total);
    for row in rows {
        let cursor = encode_key_cursor::<O::Entity>(&row, &keys)?;
        connection
            .edges
            .push(Edge::new(cursor, O::from_model(row)?));
    }
    Ok(connection)
}

pub async fn resolve_create<I>(ctx: &Context<'_>, input: I) -> AppResult<I::Object>
where
    I: CreateInput,
    <I::Object as ApiObject>::Entity: Lifecycle,
    <<I::Object as ApiObject>::Entity as EntityTrait>::Model:
        IntoActiveModel<<<I::Object as ApiObject>::Entity as EntityTrait>::ActiveModel> + Sync,
    <<I::Object as ApiObject>::Entity as EntityTrait>::ActiveModel:
        ActiveModelTrait<Entity = <I::Object as ApiObject>::Entity> + ActiveModelBehavior + Send,
{
    let user = user_for::<<I::Object as ApiObject>::Entity>(&principal(ctx))?;
    let app = state(ctx);
    let db = &app.db;
    let mut row = input.into_row()?;
    <I::Object as ApiObject>::Entity::authorize_insert(user, &mut row, db).await?;
    let model =
        crud::create::<<I::Object as ApiObject>::Entity>(db, app.events.as_ref(), row).await?;
    I::Object::from_model(model)
}

pub async fn resolve_update<I>(ctx: &Context<'_>, id: ID, input: I) -> AppResult<I::Object>
where
    I: UpdateInput + Send + 'static,
    <I::Object as ApiObject>::Entity: Lifecycle,
    <<I::Object as ApiObject>::Entity as EntityTrait>::Model:
        IntoActiveModel<<<I::Object as ApiObject>::Entity as EntityTrait>::ActiveModel> + Sync,
    <<I::Object as ApiObject>::Entity as EntityTrait>::ActiveModel:
        ActiveModelTrait<Entity = <I::Object as ApiObject>::Entity> + ActiveModelBehavior + Send,
    Pk<<I::Object as ApiObject>::Entity>: IdKey,
{
    let user = user_for::<<I::Object as ApiObject>::Entity>(&principal(ctx))?;
    let key = parse_pk::<I::Object>(&id)?;
    let model = crud::update::<<I::Object as ApiObject>::Entity, _>(
        &state(ctx).db,
        state(ctx).events.as_ref(),
        key,
        I::Object::LABEL,
        access::<<I::Object as ApiObject>::Entity>(user),
        move |row| input.apply(row),
    )
    .await?;
    I::Object::from_model(model)
}

pub async fn resolve_delete<O>(ctx: &Context<'_>, id: ID) -> AppResult<O>
where
    O: ApiObject,
    O::Entity: Lifecycle,
    <O::Entity as EntityTrait>::Model: Sync,
    Pk<O::Entity>: IdKey,
{
    let user = user_for::<O::Entity>(&principal(ctx))?;
    let key = parse_pk::<O>(&id)?;
    let access = delete_access::<O::Entity>(user);
    let app = state(ctx);
    let model =
        crud::delete::<O::Entity>(&app.db, app.events.as_ref(), key, O::LABEL, access).await?;
    O::from_model(model)
}

/// Generates a table's query object: the field `one(id)` and the connection field
/// `many(filter, orderBy, first, after, last, before)` over `object` rows, filtered by a
/// `filter` input and ordered by `order` inputs. Every argument is named:
///
/// ```text
/// crud_query!(HostQuery {
///     object: Host, one: host, many: hosts, filter: HostFilter, order: HostOrder,
/// });
/// ```
macro_rules! crud_query {
    ($query:ident {
        object: $object:ty,
        one: $one:ident,
        many: $many:ident,
        filter: $filter:ty,
        order: $order:ty $(,)?
    }) => {
        #[derive(Default)]
        pub struct $query;

        #[async_graphql::Object]
        impl $query {
            async fn $one(
                &self,
                ctx: &async_graphql::Context<'_>,
                id: async_graphql::ID,
            ) -> async_graphql::Result<$object> {
                use $crate::error::GqlResult;
                $crate::graphql::crud::resolve_one::<$object>(ctx, id)
                    .await
                    .gql()
            }

            /// A page of rows; its cost is the page size times the cost of each row.
            #[allow(clippy::too_many_arguments)]
            #[graphql(
                complexity = "crate::graphql::pagination::page_cost(first, last, child_complexity)"
            )]
            async fn $many(
                &self,
                ctx: &async_graphql::Context<'_>,
                filter: Option<$filter>,
                #[graphql(validator(max_items = 10))] order_by: Option<Vec<$order>>,
                first: Option<i32>,
                after: Option<String>,
                last: Option<i32>,
                before: Option<String>,
            ) -> async_graphql::Result<$crate::graphql::crud::ListConnection<$object>> {
                use $crate::error::GqlResult;
                let page = $crate::graphql::pagination::PageArgs {
                    first,
                    after,
                    last,
                    before,
                };
                $crate::graphql::crud::resolve_list(ctx, filter, order_by, page)
                    .await
                    .gql()
            }
        }
    };
}
pub(crate) use crud_query;

/// Generates a hand-maintained table's mutations: `createX`, `updateX` (partial), `deleteX`.
/// Leave out `createX(...)` for a table whose create is written by hand.
macro_rules! crud_mutation {
    ($mutation:ident, $object:ty, $(create: $create:ident($create_input:ty),)? update: $update:ident($update_input:ty), delete: $delete:ident) => {
        #[derive(Default)]
        pub struct $mutation;

        #[async_graphql::Object]
        impl $mutation {
            $(
                async fn $create(
                    &self,
                    ctx: &async_graphql::Context<'_>,
                    input: $create_input,
                ) -> async_graphql::Result<$object> {
                    use $crate::error::GqlResult;
                    $crate::graphql::crud::resolve_create(ctx, input).await.gql()
                }
            )?

            async fn $update(
                &self,
                ctx: &async_graphql::Context<'_>,
                id: async_graphql::ID,
                input: $update_input,
            ) -> async_graphql::Result<$object> {
                use $crate::error::GqlResult;
                $crate::graphql::crud::resolve_update(ctx, id, input).await.gql()
            }

            /// Deletes the row and returns it as it was.
            async fn $delete(
                &self,
                ctx: &async_graphql::Context<'_>,
                id: async_graphql::ID,
            ) -> async_graphql::Result<$object> {
                use $crate::error::GqlResult;
                $crate::graphql::crud::resolve_delete::<$object>(ctx, id).await.gql()
            }
        }
    };
}
pub(crate) use crud_mutation;

pub(crate) fn loader<'a>(ctx: &'a Context<'_>) -> &'a Batcher<DbLoader> {
    ctx.data_unchecked::<Batcher<DbLoader>>()
}

/// The rows of a has-many relation (e.g. a host's GPUs), batched with the siblings'.
pub async fn load_many<R, O>(ctx: &Context<'_>, key: R::Key) -> AppResult<Vec<O>>
where
    R: Relation,
    O: ApiObject<Entity = R::Entity>,
{
    let rows = loader(ctx)
        .load_one(Rel::<R>::new(key))
        .await
        .map_err(AppError::internal_gql)?;
    rows.unwrap_or_default()
        .into_iter()
        .map(O::from_model)
        .collect()
}

/// The row a nullable foreign key points to.
pub async fn load_opt<R, O>(ctx: &Context<'_>, key: Option<R::Key>) -> AppResult<Option<O>>
where
    R: Relation,
    O: ApiObject<Entity = R::Entity>,
{
    let Some(key) = key else { return Ok(None) };
    let rows = loader(ctx)
        .load_one(Rel::<R>::new(key))
        .await
        .map_err(AppError::internal_gql)?;
    rows.and_then(|r| r.into_iter().next())
        .map(O::from_model)
        .transpose()
}

/// The row a NOT NULL foreign key points to; the constraint guarantees it exists.
pub async fn load_parent<R, O>(ctx: &Context<'_>, key: R::Key) -> AppResult<O>
where
    R: Relation,
    O: ApiObject<Entity = R::Entity>,
{
    load_opt::<R, O>(ctx, Some(key))
        .await?
        .ok_or(AppError::NotFound(O::LABEL))
}

/// The newest row of a time series for `key` (e.g. a GPU's latest metric sample).
pub async fn load_latest<R, O>(ctx: &Context<'_>, key: R::Key) -> AppResult<Option<O>>
where
    R: Latest,
    O: ApiObject<Entity = R::Entity>,
{
    let row = loader(ctx)
        .load_one(LatestOf::<R>::new(key))
        .await
        .map_err(AppError::internal_gql)?;
    row.map(O::from_model).transpose()
}

/// Applies an optional input field to a NOT NULL column.
pub fn patch<T>(column: &mut sea_orm::ActiveValue<T>, value: Option<T>)
where
    T: Into<sea_orm::Value>,
{
    if let Some(v) = value {
        *column = sea_orm::ActiveValue::Set(v);
    }
}

/// Applies an optional input field to a nullable column: absent keeps it, `null` clears it.
pub fn patch_nullable<T>(
    column: &mut sea_orm::ActiveValue<Option<T>>,
    value: async_graphql::MaybeUndefined<T>,
) where
    Option<T>: Into<sea_orm::Value>,
{
    match value {
        async_graphql::MaybeUndefined::Undefined => {}
        async_graphql::MaybeUndefined::Null => *column = sea_orm::ActiveValue::Set(None),
        async_graphql::MaybeUndefined::Value(v) => *column = sea_orm::ActiveValue::Set(Some(v)),
    }
}

/// Parses a nullable input field, keeping absent/null apart.
pub fn parse_nullable<T, U>(
    value: async_graphql::MaybeUndefined<T>,
    parse: impl FnOnce(T) -> AppResult<U>,
) -> AppResult<async_graphql::MaybeUndefined<U>> {
    Ok(match value {
        async_graphql::MaybeUndefined::Undefined => async_graphql::MaybeUndefined::Undefined,
        async_graphql::MaybeUndefined::Null => async_graphql::MaybeUndefined::Null,
        async_graphql::MaybeUndefined::Value(v) => async_graphql::MaybeUndefined::Value(parse(v)?),
    })
}
