//! DataLoaders for relations, so a nested list costs one statement per relation level, not
//! one per parent row.
//!
//! A relation is a zero-sized type implementing [`Relation`] (the entity loaded and the
//! column matched against the parents' keys); `Rel<R>` is its loader key. Parents ask
//! `loader.load_one(Rel::<R>::new(key))` (a [`super::batch::Batcher`]), and all keys of one
//! relation level are loaded with one `WHERE column IN (...)`. [`LatestOf`] loads the newest
//! row per key of a time-series table, also in one statement, one index probe per key.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use async_graphql::dataloader::Loader;
use sea_orm::sea_query::Condition;
use sea_orm::{DatabaseConnection, EntityTrait, ModelTrait};

use crate::auth::policy::{Policy, Scope};
use crate::auth::User;
use crate::error::AppError;
use crate::services::crud;

pub trait Relation: Send + Sync + 'static {
    type Entity: Policy<Model: Sync>;
    type Key: Clone
        + Eq
        + Hash
        + Send
        + Sync
        + Into<sea_orm::Value>
        + sea_orm::sea_query::ValueType
        + 'static;
    fn column() -> <Self::Entity as EntityTrait>::Column;
}

/// A time-series relation: the newest row per key by `time_column`.
pub trait Latest: Relation {
    fn time_column() -> <Self::Entity as EntityTrait>::Column;
}

pub struct Rel<R: Relation>(pub R::Key, PhantomData<R>);
pub struct LatestOf<R: Latest>(pub R::Key, PhantomData<R>);

macro_rules! key_impls {
    ($key:ident, $bound:ident) => {
        impl<R: $bound> $key<R> {
            pub fn new(key: R::Key) -> Self {
                Self(key, PhantomData)
            }
        }
        impl<R: $bound> Clone for $key<R> {
            fn clone(&self) -> Self {
                Self::new(self.0.clone())
            }
        }
        impl<R: $bound> PartialEq for $key<R> {
            fn eq(&self, other: &Self) -> bool {
                self.0 == other.0
            }
        }
        impl<R: $bound> Eq for $key<R> {}
        impl<R: $bound> Hash for $key<R> {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.0.hash(state)
            }
        }
    };
}
key_impls!(Rel, Relation);
key_impls!(LatestOf, Latest);

/// Declares a relation type: `relation!(GpusOfHost: gpus::Entity by gpus::Column::HostId, String);`
macro_rules! relation {
    ($(#[$meta:meta])* $name:ident : $entity:path, $column:expr, $key:ty) => {
        $(#[$meta])*
        pub struct $name;
        impl $crate::graphql::loaders::Relation for $name {
            type Entity = $entity;
            type Key = $key;
            fn column() -> <$entity as sea_orm::EntityTrait>::Column {
                $column
            }
        }
    };
    ($(#[$meta:meta])* $name:ident : $entity:path, $column:expr, $key:ty, latest by $time:expr) => {
        relation!($(#[$meta])* $name: $entity, $column, $key);
        impl $crate::graphql::loaders::Latest for $name {
            fn time_column() -> <$entity as sea_orm::EntityTrait>::Column {
                $time
            }
        }
    };
}
pub(crate) use relation;

/// The loader behind every relation; one per request, so it loads only what the request's
/// user may read (nothing for anyone else).
pub struct DbLoader {
    db: DatabaseConnection,
    user: Option<User>,
}

impl DbLoader {
    pub fn new(db: DatabaseConnection, user: Option<User>) -> Self {
        Self { db, user }
    }

    fn scope<E: Policy>(&self) -> Condition {
        match self.user {
            Some(u) => E::readable(u).condition(),
            None => Scope::Nothing.condition(),
        }
    }
}

fn key_of<R: Relation>(model: &<R::Entity as EntityTrait>::Model) -> Option<R::Key> {
    <R::Key as sea_orm::sea_query::ValueType>::try_from(model.get(R::column())).ok()
}

impl<R: Relation> Loader<Rel<R>> for DbLoader {
    type Value = Vec<<R::Entity as EntityTrait>::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Rel<R>]) -> Result<HashMap<Rel<R>, Self::Value>, Self::Error> {
        let wanted: Vec<R::Key> = keys.iter().map(|k| k.0.clone()).collect();
        let scope = self.scope::<R::Entity>();
        let rows = crud::load_in::<R::Entity, _>(&self.db, R::column(), wanted, scope)
            .await
            .map_err(AppError::into_graphql)?;
        let mut out: HashMap<Rel<R>, Self::Value> = HashMap::new();
        for row in rows {
            if let Some(key) = key_of::<R>(&row) {
                out.entry(Rel::new(key)).or_default().push(row);
            }
        }
        Ok(out)
    }
}

impl<R: Latest> Loader<LatestOf<R>> for DbLoader {
    type Value = <R::Entity as EntityTrait>::Model;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[LatestOf<R>],
    ) -> Result<HashMap<LatestOf<R>, Self::Value>, Self::Error> {
        let wanted: Vec<R::Key> = keys.iter().map(|k| k.0.clone()).collect();
        let scope = self.scope::<R::Entity>();
        let rows =
            crud::latest_in::<R::Entity, _>(&self.db, R::column(), R::time_column(), wanted, scope)
                .await
                .map_err(AppError::into_graphql)?;
        let mut out = HashMap::new();
        for row in rows {
            if let Some(key) = key_of::<R>(&row) {
                out.insert(LatestOf::new(key), row);
            }
        }
        Ok(out)
    }
}

/// An environment the request's user may change (its owner while they may contribute, the
/// workspace's OWNER and ADMIN, operators): who reads its secrets. One statement per level.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WritableEnvironment(pub String);

impl Loader<WritableEnvironment> for DbLoader {
    type Value = ();
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[WritableEnvironment],
    ) -> Result<HashMap<WritableEnvironment, Self::Value>, Self::Error> {
        use entity::environments as env;
        use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
        let Some(user) = self.user else {
            return Ok(HashMap::new());
        };
        let ids: Vec<String> = env::Entity::find()
            .select_only()
            .column(env::Column::Id)
            .filter(env::Column::Id.is_in(keys.iter().map(|k| k.0.clone())))
            .filter(env::Entity::writable(user).condition())
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(|e| AppError::from(e).into_graphql())?;
        Ok(ids
            .into_iter()
            .map(|id| (WritableEnvironment(id), ()))
            .collect())
    }
}
