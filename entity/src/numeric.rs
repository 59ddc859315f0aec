//! [`Numeric`]: the value of a `DECIMAL` column, read exactly on both backends.
//!
//! sea-orm reads `rust_decimal::Decimal` from SQLite through an `f64`, which is neither exact
//! nor able to read the decimal strings that SQLite's money columns hold (`TEXT`: SQLite's
//! `DECIMAL` is a float). `Numeric` reads PostgreSQL's `NUMERIC` as a `Decimal` and SQLite's
//! value by its storage class: TEXT parsed exactly, INTEGER exactly, REAL (rows written before
//! money was TEXT) rounded to the four places money has. Written, it is a `Decimal`, which
//! sea-query binds as `NUMERIC` on PostgreSQL and as its decimal string on SQLite.
//!
//! This is the one hand-written file in `entity/src`: `scripts/check-entities.sh` keeps it
//! and makes the generated `Decimal` fields `Numeric`.

use std::str::FromStr;

use sea_orm::prelude::Decimal;
use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::sqlx::{Row, TypeInfo, ValueRef};
use sea_orm::{ColIdx, DbErr, QueryResult, TryGetError, TryGetable, Value};

/// A `DECIMAL` column's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Numeric(pub Decimal);

impl From<Decimal> for Numeric {
    fn from(d: Decimal) -> Self {
        Numeric(d)
    }
}

impl From<Numeric> for Decimal {
    fn from(n: Numeric) -> Self {
        n.0
    }
}

impl From<Numeric> for Value {
    fn from(n: Numeric) -> Self {
        n.0.into()
    }
}

impl Nullable for Numeric {
    fn null() -> Value {
        Value::Decimal(None)
    }
}

impl ValueType for Numeric {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        <Decimal as ValueType>::try_from(v).map(Numeric)
    }

    fn type_name() -> String {
        "Numeric".to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::Decimal
    }

    fn column_type() -> ColumnType {
        ColumnType::Decimal(None)
    }
}

fn decode_err(e: impl std::fmt::Display) -> TryGetError {
    TryGetError::DbErr(DbErr::Type(format!("a DECIMAL column: {e}")))
}

impl TryGetable for Numeric {
    fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
        let Some(row) = res.try_as_sqlite_row() else {
            return <Decimal as TryGetable>::try_get_by(res, idx).map(Numeric);
        };
        let raw = row
            .try_get_raw(idx.as_sqlx_sqlite_index())
            .map_err(decode_err)?;
        if raw.is_null() {
            return Err(TryGetError::Null(format!("{idx:?}")));
        }
        let class = raw.type_info().name().to_owned();
        let value = match class.as_str() {
            "TEXT" => {
                let s: String = row
                    .try_get(idx.as_sqlx_sqlite_index())
                    .map_err(decode_err)?;
                Decimal::from_str(&s).map_err(decode_err)?
            }
            "INTEGER" => Decimal::from(
                row.try_get::<i64, _>(idx.as_sqlx_sqlite_index())
                    .map_err(decode_err)?,
            ),
            "REAL" => {
                let f: f64 = row
                    .try_get(idx.as_sqlx_sqlite_index())
                    .map_err(decode_err)?;
                <Decimal as TryFrom<f64>>::try_from(f)
                    .map_err(decode_err)?
                    .round_dp(4)
            }
            other => return Err(decode_err(format!("unexpected storage class {other}"))),
        };
        Ok(Numeric(value))
    }
}
