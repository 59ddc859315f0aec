//! Filter and ordering inputs shared by every list field.
//!
//! Each table's `XFilter` input is a struct of optional column filters defined here, declared
//! with `filter_input!`, which names the column each one applies to. Conditions are AND-ed.

use async_graphql::{Enum, InputObject, InputType, ID};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, Order};

use super::enums::*;
use super::scalars::BigInt;
use crate::error::AppResult;

/// Turns a table's filter input into a WHERE condition.
pub trait FilterInput: InputType {
    type Entity: EntityTrait;
    fn condition(self, backend: DbBackend) -> AppResult<Condition>;
}

/// A primary-key type that GraphQL `ID`s are parsed into.
pub trait IdKey: Sized + Clone + Send + Sync + Into<sea_orm::Value> + 'static {
    /// `None` when the text cannot be an id of this table: such an id matches nothing.
    fn parse_id(id: &str) -> Option<Self>;
}

impl IdKey for i64 {
    fn parse_id(id: &str) -> Option<Self> {
        id.parse().ok()
    }
}

impl IdKey for String {
    fn parse_id(id: &str) -> Option<Self> {
        Some(id.to_owned())
    }
}

/// Matches nothing: used when a filter names an id that cannot exist.
fn never() -> Condition {
    Condition::all().add(Expr::value(false))
}

/// Filter on an id or foreign-key column.
#[derive(InputObject, Default)]
pub struct IdFilter {
    pub eq: Option<ID>,
    /// At most 100 values.
    #[graphql(name = "in", validator(max_items = 100))]
    pub in_list: Option<Vec<ID>>,
}

impl IdFilter {
    pub fn on<K: IdKey>(self, col: impl ColumnTrait) -> Condition {
        let mut cond = Condition::all();
        if let Some(eq) = self.eq {
            cond = match K::parse_id(&eq) {
                Some(k) => cond.add(col.eq(k)),
                None => never(),
            };
        }
        if let Some(list) = self.in_list {
            let keys: Vec<K> = list.iter().filter_map(|id| K::parse_id(id)).collect();
            cond = cond.add(col.is_in(keys));
        }
        cond
    }
}

#[derive(InputObject, Default)]
pub struct StringFilter {
    pub eq: Option<String>,
    /// At most 100 values.
    #[graphql(name = "in", validator(max_items = 100))]
    pub in_list: Option<Vec<String>>,
    /// Case-sensitive substring match.
    pub contains: Option<String>,
}

impl StringFilter {
    pub fn on(self, col: impl ColumnTrait) -> Condition {
        Condition::all()
            .add_option(self.eq.map(|v| col.eq(v)))
            .add_option(self.in_list.map(|v| col.is_in(v)))
            .add_option(self.contains.map(|v| col.contains(v)))
    }
}

#[derive(InputObject, Default)]
pub struct BooleanFilter {
    pub eq: Option<bool>,
}

impl BooleanFilter {
    pub fn on(self, col: impl ColumnTrait) -> Condition {
        Condition::all().add_option(self.eq.map(|v| col.eq(v)))
    }
}

#[derive(InputObject, Default)]
pub struct IntFilter {
    pub eq: Option<i32>,
    /// At most 100 values.
    #[graphql(name = "in", validator(max_items = 100))]
    pub in_list: Option<Vec<i32>>,
    pub gte: Option<i32>,
    pub lte: Option<i32>,
}

impl IntFilter {
    pub fn on(self, col: impl ColumnTrait) -> Condition {
        Condition::all()
            .add_option(self.eq.map(|v| col.eq(v)))
            .add_option(self.in_list.map(|v| col.is_in(v)))
            .add_option(self.gte.map(|v| col.gte(v)))
            .add_option(self.lte.map(|v| col.lte(v)))
    }
}

#[derive(InputObject, Default)]
pub struct BigIntFilter {
    pub eq: Option<BigInt>,
    pub gte: Option<BigInt>,
    pub lte: Option<BigInt>,
}

impl BigIntFilter {
    pub fn on(self, col: impl ColumnTrait) -> Condition {
        Condition::all()
            .add_option(self.eq.map(|v| col.eq(v.0)))
            .add_option(self.gte.map(|v| col.gte(v.0)))
            .add_option(self.lte.map(|v| col.lte(v.0)))
    }
}

/// A time range; bounds are inclusive (`gte`, `lte`) or exclusive (`gt`, `lt`).
#[derive(InputObject, Default)]
pub struct DateTimeFilter {
    pub gt: Option<DateTime<Utc>>,
    pub gte: Option<DateTime<Utc>>,
    pub lt: Option<DateTime<Utc>>,
    pub lte: Option<DateTime<Utc>>,
}

impl DateTimeFilter {
    pub fn on(self, col: impl ColumnTrait) -> Condition {
        let naive = |d: DateTime<Utc>| d.naive_utc();
        Condition::all()
            .add_option(self.gt.map(|v| col.gt(naive(v))))
            .add_option(self.gte.map(|v| col.gte(naive(v))))
            .add_option(self.lt.map(|v| col.lt(naive(v))))
            .add_option(self.lte.map(|v| col.lte(naive(v))))
    }
}

/// Filter on an enum column.
#[derive(InputObject)]
#[graphql(
    concrete(name = "ConfigTypeFilter", params(ConfigType)),
    concrete(name = "OsTypeFilter", params(OsType)),
    concrete(name = "DeploymentModeFilter", params(DeploymentMode)),
    concrete(name = "HostStatusFilter", params(HostStatus)),
    concrete(name = "GpuStatusFilter", params(GpuStatus)),
    concrete(name = "CustomerStatusFilter", params(CustomerStatus)),
    concrete(name = "EnvironmentStatusFilter", params(EnvironmentStatus)),
    concrete(name = "UploadStatusFilter", params(UploadStatus)),
    concrete(name = "WorkspaceRoleFilter", params(WorkspaceRole)),
    concrete(name = "ServiceTypeFilter", params(ServiceType)),
    concrete(name = "ResourceTypeFilter", params(ResourceType)),
    concrete(name = "InvoiceStatusFilter", params(InvoiceStatus)),
    concrete(name = "CommandStatusFilter", params(CommandStatus))
)]
pub struct EnumFilter<T: DbEnum + InputType> {
    pub eq: Option<T>,
    /// At most 100 values.
    #[graphql(name = "in", validator(max_items = 100))]
    pub in_list: Option<Vec<T>>,
}

impl<T: DbEnum + InputType> EnumFilter<T> {
    pub fn on(self, col: impl ColumnTrait) -> Condition {
        Condition::all()
            .add_option(self.eq.map(|v| col.eq(v.as_db())))
            .add_option(
                self.in_list
                    .map(|v| col.is_in(v.into_iter().map(DbEnum::as_db).collect::<Vec<_>>())),
            )
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

impl From<OrderDirection> for Order {
    fn from(d: OrderDirection) -> Self {
        match d {
            OrderDirection::Asc => Order::Asc,
            OrderDirection::Desc => Order::Desc,
        }
    }
}

/// One ordering key of a table's list (`XOrder` inputs, declared with `order_input!`).
pub trait OrderInput: InputType {
    type Entity: EntityTrait;
    fn key(&self) -> (<Self::Entity as EntityTrait>::Column, Order);
}

/// Declares `$order { field: $field!, direction: OrderDirection = ASC }` and the enum of the
/// columns a table's list can be ordered by.
macro_rules! order_input {
    ($order:ident, $field:ident, $entity:path, $column:path { $($variant:ident => $col:ident),+ $(,)? }) => {
        #[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
        pub enum $field {
            $($variant),+
        }

        /// One ordering key; lists end with the primary key as a tie-breaker so pages are stable.
        #[derive(async_graphql::InputObject)]
        pub struct $order {
            pub field: $field,
            #[graphql(default)]
            pub direction: $crate::graphql::filter::OrderDirection,
        }

        impl $crate::graphql::filter::OrderInput for $order {
            type Entity = $entity;
            fn key(&self) -> (<$entity as sea_orm::EntityTrait>::Column, sea_orm::Order) {
                use $column as C;
                let col = match self.field {
                    $($field::$variant => C::$col),+
                };
                (col, self.direction.into())
            }
        }
    };
}
pub(crate) use order_input;

/// Declares a table's filter input and its `FilterInput` impl from one list of
/// `field: ColumnFilterType => Column` entries (`as i64` / `as String` for id columns, naming
/// the key type ids are parsed into; `with f` for a field that is no column filter type:
/// `f(value, column, backend) -> AppResult<Condition>`, which may reject the value).
/// Conditions are AND-ed.
macro_rules! filter_input {
    ($name:ident for $entity:ident { $($(#[$meta:meta])* $field:ident : $ty:ty => $col:ident $(with $func:path)? $(as $key:ty)?),+ $(,)? }) => {
        #[derive(async_graphql::InputObject, Default)]
        pub struct $name {
            $($(#[$meta])* pub $field: Option<$ty>,)+
        }

        impl $crate::graphql::filter::FilterInput for $name {
            type Entity = $entity::Entity;
            #[allow(unused_variables)]
            fn condition(
                self,
                backend: sea_orm::DbBackend,
            ) -> $crate::error::AppResult<sea_orm::sea_query::Condition> {
                let mut cond = sea_orm::sea_query::Condition::all();
                $(if let Some(f) = self.$field {
                    cond = cond.add($crate::graphql::filter::filter_input!(@on f, backend, $entity::Column::$col $(, with $func)? $(, $key)?));
                })+
                Ok(cond)
            }
        }
    };
    (@on $f:ident, $backend:ident, $col:expr, with $func:path) => {
        $func($f, $col, $backend)?
    };
    (@on $f:ident, $backend:ident, $col:expr, $key:ty) => {
        $f.on::<$key>($col)
    };
    (@on $f:ident, $backend:ident, $col:expr) => {
        $f.on($col)
    };
}
pub(crate) use filter_input;
