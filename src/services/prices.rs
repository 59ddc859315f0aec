//! The price book: what an hour of each resource costs, from when (`prices`), and the
//! currency and tax rate invoices use (`system_configs`: `billing_currency`,
//! `billing_tax_rate`).
//!
//! A price row names a resource (`gpu` with a GPU model as `gpus.name` reports it, or `*`
//! for any model without its own price; `cpu` per core; `memory` per GiB), a price per
//! hour and the whole UTC hour it takes effect. A change is a new row effective from a
//! future hour, so an hour already (partly) run is never re-priced and every price ever
//! charged stays on record.

use chrono::{NaiveDateTime, Timelike};
use entity::numeric::Numeric;
use entity::{prices, system_configs};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::db;
use crate::domain::{Money, Resource};
use crate::error::{AppError, AppResult};

/// The GPU model of a price that applies to every model without its own.
pub const ANY_GPU_MODEL: &str = "*";

/// A new price, already parsed.
#[derive(Debug, Clone)]
pub struct NewPrice {
    pub resource: Resource,
    /// For GPUs: the model (`gpus.name`) or [`ANY_GPU_MODEL`]; ignored otherwise.
    pub gpu_model: Option<String>,
    pub unit_price: Money,
    pub effective_from: NaiveDateTime,
}

/// Adds a price (operators only: checked by the caller's policy). It must start at a whole
/// UTC hour after `now`; a second price for the same resource and hour is CONFLICT.
pub async fn set_price(
    db: &DatabaseConnection,
    price: NewPrice,
    now: NaiveDateTime,
) -> AppResult<prices::Model> {
    let at = price.effective_from;
    if at.minute() != 0 || at.second() != 0 || at.nanosecond() != 0 {
        return Err(AppError::bad_input(
            "effectiveFrom: a price takes effect at a whole UTC hour (minutes and seconds 0)",
        ));
    }
    if at <= now {
        return Err(AppError::bad_input(
            "effectiveFrom: a price takes effect in the future; hours already run keep their price",
        ));
    }
    let model = match price.resource {
        Resource::Gpu => price
            .gpu_model
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                AppError::bad_input("gpuModel: a GPU price names a GPU model, or * for any")
            })?,
        _ => String::new(),
    };
    let _writer = db::write_guard(db).await;
    let row = prices::ActiveModel {
        resource_type: Set(price.resource.as_db().to_owned()),
        gpu_model: Set(model),
        unit_price: Set(Numeric(price.unit_price.get())),
        effective_from: Set(at),
        ..Default::default()
    };
    Ok(row.insert(db).await?)
}

/// Every price, to look prices up by resource, model and time.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    /// Sorted by `effective_from`.
    rows: Vec<prices::Model>,
}

impl PriceBook {
    pub fn new(mut rows: Vec<prices::Model>) -> Self {
        rows.sort_by_key(|r| r.effective_from);
        Self { rows }
    }

    /// The price per hour of `resource` (of GPU `model`) in force at `at`; `None` when the
    /// book has none.
    pub fn price(
        &self,
        resource: Resource,
        model: Option<&str>,
        at: NaiveDateTime,
    ) -> Option<Decimal> {
        let latest = |wanted: &str| {
            self.rows
                .iter()
                .rev()
                .filter(|r| r.effective_from <= at && r.resource_type == resource.as_db())
                .find(|r| r.gpu_model == wanted)
                .map(|r| r.unit_price.0)
        };
        match resource {
            Resource::Gpu => model.and_then(latest).or_else(|| latest(ANY_GPU_MODEL)),
            _ => latest(""),
        }
    }
}

pub async fn price_book(db: &impl ConnectionTrait) -> AppResult<PriceBook> {
    let rows = prices::Entity::find()
        .order_by_asc(prices::Column::EffectiveFrom)
        .all(db)
        .await?;
    Ok(PriceBook::new(rows))
}

/// The currency and tax rate in force (`system_configs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub currency: String,
    /// A fraction: `0.0600` is 6%.
    pub tax_rate: Decimal,
}

pub const TERMS_KEYS: [(&str, &str); 2] = [("billing_currency", "CNY"), ("billing_tax_rate", "0")];

pub async fn terms(db: &impl ConnectionTrait) -> AppResult<Terms> {
    let stored = system_configs::Entity::find()
        .filter(system_configs::Column::ConfigKey.is_in(TERMS_KEYS.iter().map(|(k, _)| *k)))
        .all(db)
        .await?;
    let get = |key: &str| {
        stored
            .iter()
            .find(|r| r.config_key == key)
            .map(|r| r.config_value.trim().to_owned())
            .or_else(|| {
                TERMS_KEYS
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| (*v).to_owned())
            })
            .unwrap_or_default()
    };
    let raw_rate = get("billing_tax_rate");
    let tax_rate: Decimal = raw_rate
        .parse()
        .ok()
        .filter(|r: &Decimal| !r.is_sign_negative() && *r < Decimal::ONE && r.scale() <= 4)
        .ok_or_else(|| {
            AppError::internal(format!(
                "system_configs billing_tax_rate '{raw_rate}' is not a fraction in [0, 1) with at most 4 places"
            ))
        })?;
    Ok(Terms {
        currency: get("billing_currency"),
        tax_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2030, 1, 1)
            .and_then(|d| d.and_hms_opt(h, 0, 0))
            .unwrap_or_default()
    }

    fn row(resource: &str, model: &str, price: &str, from: u32) -> prices::Model {
        prices::Model {
            id: 0,
            resource_type: resource.into(),
            gpu_model: model.into(),
            unit_price: Numeric(price.parse().unwrap_or_default()),
            effective_from: at(from),
            created_at: None,
        }
    }

    #[test]
    fn the_price_in_force_and_the_any_model_fallback() {
        let book = PriceBook::new(vec![
            row("gpu", "A100", "2.5000", 1),
            row("gpu", "A100", "3.0000", 5),
            row("gpu", "*", "1.0000", 1),
            row("cpu", "", "0.0500", 1),
        ]);
        let p = |r, m, h| book.price(r, m, at(h)).map(|d| d.to_string());
        assert_eq!(p(Resource::Gpu, Some("A100"), 0), None, "before any price");
        assert_eq!(p(Resource::Gpu, Some("A100"), 4).as_deref(), Some("2.5000"));
        assert_eq!(p(Resource::Gpu, Some("A100"), 5).as_deref(), Some("3.0000"));
        assert_eq!(p(Resource::Gpu, Some("H100"), 5).as_deref(), Some("1.0000"));
        assert_eq!(p(Resource::Cpu, None, 9).as_deref(), Some("0.0500"));
        assert_eq!(p(Resource::Memory, None, 9), None);
    }
}
