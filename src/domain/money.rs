//! Money (exact decimals that fit their column) and who is billed.

use super::bad;
use crate::error::AppError;

/// An amount of money or a price: a `Decimal` with at most four decimal places, never
/// negative, and within `max_digits` significant digits (a `DECIMAL(max_digits, 4)` column),
/// so that nothing is ever rounded or truncated on the way to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(rust_decimal::Decimal);

impl Money {
    /// `DECIMAL(10,4)`: prices and billing records.
    pub const RECORD_DIGITS: u32 = 10;
    /// `DECIMAL(15,4)`: invoice totals and spend limits.
    pub const TOTAL_DIGITS: u32 = 15;

    pub fn parse(
        field: &str,
        raw: rust_decimal::Decimal,
        max_digits: u32,
    ) -> Result<Self, AppError> {
        let raw = raw.normalize();
        if raw.is_sign_negative() && !raw.is_zero() {
            return Err(bad(field, format!("{raw} is negative")));
        }
        if raw.scale() > 4 {
            return Err(bad(field, format!("{raw} has more than 4 decimal places")));
        }
        Self::within(field, raw, max_digits)
    }

    /// `value` (any scale already rounded by the caller) if it fits `max_digits`.
    pub fn within(
        field: &str,
        value: rust_decimal::Decimal,
        max_digits: u32,
    ) -> Result<Self, AppError> {
        let limit = rust_decimal::Decimal::from(10_i64.pow(max_digits - 4));
        if value.abs() >= limit {
            return Err(bad(
                field,
                format!(
                    "{value} is too large: at most {} digits before the point",
                    max_digits - 4
                ),
            ));
        }
        let mut v = value.round_dp(4);
        v.rescale(4);
        Ok(Self(v))
    }

    pub fn get(self) -> rust_decimal::Decimal {
        self.0
    }
}

stored_words!(
    /// An invoice's life: `draft` while its month runs, `issued` once it closes, then `paid`
    /// or `void` by an operator. Only a draft changes.
    InvoiceState ("invoice status") { Draft = "draft", Issued = "issued", Paid = "paid", Void = "void" }
);

impl InvoiceState {
    /// A NULL status is the column's default, `draft`.
    pub fn from_db_opt(raw: Option<&str>) -> Result<Self, AppError> {
        Self::from_db(raw.unwrap_or("draft"))
    }
}

/// Who pays for an environment: its customer, or the workspace it runs in
/// (`invoices.billed_to`, one invoice per account and month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BillingAccount {
    Customer(i64),
    Workspace(i64),
}

impl BillingAccount {
    pub fn of(customer_id: i64, workspace_id: Option<i64>) -> Self {
        match workspace_id {
            Some(w) => Self::Workspace(w),
            None => Self::Customer(customer_id),
        }
    }

    /// The stored spelling: `customer:<id>` or `workspace:<id>`.
    pub fn key(self) -> String {
        match self {
            Self::Customer(id) => format!("customer:{id}"),
            Self::Workspace(id) => format!("workspace:{id}"),
        }
    }

    pub fn workspace(self) -> Option<i64> {
        match self {
            Self::Workspace(id) => Some(id),
            Self::Customer(_) => None,
        }
    }
}
