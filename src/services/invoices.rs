//! Invoices: one per billing account (a customer, or a workspace its environments run in)
//! and calendar month UTC.
//!
//! - `draft` while the month runs: metering attaches each record to the draft of its hour's
//!   month ([`draft_for`]) and [`refresh`] keeps the draft's totals equal to its records.
//! - `issued` by [`issue_closed`] once the month is over: totals computed one last time from
//!   the records (subtotal = their exact sum, tax = subtotal × tax rate rounded half-even to
//!   4 places, total = subtotal + tax) and a number `INV-<year>-<000001>` taken from
//!   `invoice_sequences` in the same transaction, so numbers have no gaps and none repeats.
//! - `paid` or `void` by an operator ([`settle`]). Only a draft ever changes: a record that
//!   arrives for a month already issued goes on the current month's draft (a correction).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use entity::numeric::Numeric;
use entity::{billing_records as br, invoice_sequences as seq, invoices, workspaces};
use rust_decimal::{Decimal, RoundingStrategy};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QuerySelect, Set,
};

use crate::db;
use crate::domain::{BillingAccount, InvoiceState, Money};
use crate::error::{AppError, AppResult};
use crate::services::prices;

/// Days between issuing an invoice and its due date.
pub const PAYMENT_TERM_DAYS: i64 = 14;

/// The first instant of the month `t` falls in, and of the month after.
pub fn month_of(t: NaiveDateTime) -> (NaiveDateTime, NaiveDateTime) {
    let first = |y: i32, m: u32| {
        NaiveDate::from_ymd_opt(y, m, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or(t)
    };
    let start = first(t.year(), t.month());
    let end = if t.month() == 12 {
        first(t.year() + 1, 1)
    } else {
        first(t.year(), t.month() + 1)
    };
    (start, end)
}

/// `YYYY-MM` of `t` (the spelling of the spend flags' months).
pub fn month_key(t: NaiveDateTime) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// The id of the draft that takes a record of the hour `bucket`: the draft of its month, or
/// when that month is already issued, the draft of `now`'s month. Created when missing.
pub async fn draft_for(
    txn: &impl ConnectionTrait,
    account: BillingAccount,
    bucket: NaiveDateTime,
    now: NaiveDateTime,
) -> AppResult<i64> {
    let own = month_of(bucket).0;
    let row = draft_or_create(txn, account, own).await?;
    if InvoiceState::from_db_opt(row.status.as_deref())? == InvoiceState::Draft {
        return Ok(row.id);
    }
    let mut month = month_of(now).0.max(month_of(own + Duration::days(32)).0);
    loop {
        let row = draft_or_create(txn, account, month).await?;
        if InvoiceState::from_db_opt(row.status.as_deref())? == InvoiceState::Draft {
            return Ok(row.id);
        }
        month = month_of(month + Duration::days(32)).0;
    }
}

async fn draft_or_create(
    txn: &impl ConnectionTrait,
    account: BillingAccount,
    month: NaiveDateTime,
) -> AppResult<invoices::Model> {
    let key = account.key();
    let find = || {
        invoices::Entity::find()
            .filter(invoices::Column::BilledTo.eq(key.as_str()))
            .filter(invoices::Column::PeriodStart.eq(month))
    };
    if let Some(row) = find().one(txn).await? {
        return Ok(row);
    }
    let customer_id = match account {
        BillingAccount::Customer(id) => id,
        BillingAccount::Workspace(id) => {
            workspaces::Entity::find_by_id(id)
                .one(txn)
                .await?
                .ok_or(AppError::NotFound("workspace"))?
                .owner_id
        }
    };
    let terms = prices::terms(txn).await?;
    let draft = invoices::ActiveModel {
        id: NotSet,
        invoice_no: Set(format!("DRAFT-{key}-{}", month_key(month))),
        customer_id: Set(customer_id),
        period_start: Set(month),
        period_end: Set(month_of(month).1),
        subtotal: Set(Numeric(Decimal::ZERO)),
        tax: Set(Numeric(Decimal::ZERO)),
        total_amount: Set(Numeric(Decimal::ZERO)),
        currency: Set(Some(terms.currency)),
        status: Set(Some(InvoiceState::Draft.as_db().to_owned())),
        issued_at: Set(None),
        due_at: Set(None),
        paid_at: Set(None),
        created_at: NotSet,
        updated_at: NotSet,
        workspace_id: Set(account.workspace()),
        billed_to: Set(key.clone()),
        tax_rate: Set(Numeric(terms.tax_rate)),
    };
    invoices::Entity::insert(draft)
        .on_conflict(
            OnConflict::columns([invoices::Column::BilledTo, invoices::Column::PeriodStart])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    find()
        .one(txn)
        .await?
        .ok_or_else(|| AppError::internal("a draft invoice vanished after its insert"))
}

/// Subtotal, tax and total of an invoice's records, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
}

pub fn totals(amounts: impl IntoIterator<Item = Decimal>, tax_rate: Decimal) -> AppResult<Totals> {
    let subtotal: Decimal = amounts.into_iter().sum();
    let tax =
        (subtotal * tax_rate).round_dp_with_strategy(4, RoundingStrategy::MidpointNearestEven);
    let total = subtotal + tax;
    for (field, v) in [("subtotal", subtotal), ("tax", tax), ("total", total)] {
        Money::within(field, v, Money::TOTAL_DIGITS).map_err(|_| {
            AppError::bad_input(format!(
                "invoice {field} {v} does not fit DECIMAL(15,4); nothing was changed"
            ))
        })?;
    }
    Ok(Totals {
        subtotal,
        tax,
        total,
    })
}

/// The amounts of the records on invoice `id`.
pub async fn record_amounts(db: &impl ConnectionTrait, id: i64) -> AppResult<Vec<Decimal>> {
    Ok(br::Entity::find()
        .filter(br::Column::InvoiceId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.amount.0)
        .collect())
}

async fn write_totals(
    txn: &impl ConnectionTrait,
    row: &invoices::Model,
    only_if: InvoiceState,
    extra: Vec<(invoices::Column, sea_orm::sea_query::SimpleExpr)>,
    now: NaiveDateTime,
) -> AppResult<bool> {
    let t = totals(record_amounts(txn, row.id).await?, row.tax_rate.0)?;
    let mut update = invoices::Entity::update_many()
        .col_expr(invoices::Column::Subtotal, Expr::value(Numeric(t.subtotal)))
        .col_expr(invoices::Column::Tax, Expr::value(Numeric(t.tax)))
        .col_expr(invoices::Column::TotalAmount, Expr::value(Numeric(t.total)))
        .col_expr(invoices::Column::UpdatedAt, Expr::value(now))
        .filter(invoices::Column::Id.eq(row.id))
        .filter(invoices::Column::Status.eq(only_if.as_db()));
    for (col, value) in extra {
        update = update.col_expr(col, value);
    }
    Ok(update.exec(txn).await?.rows_affected == 1)
}

/// Brings the totals of the drafts among `ids` up to date with their records.
pub async fn refresh(db: &DatabaseConnection, ids: &[i64], now: NaiveDateTime) -> AppResult<()> {
    for &id in ids {
        let txn = db::begin_write(db).await?;
        if let Some(row) = invoices::Entity::find_by_id(id).one(&txn).await? {
            write_totals(&txn, &row, InvoiceState::Draft, Vec::new(), now).await?;
        }
        txn.commit().await?;
    }
    Ok(())
}

/// The next invoice number of `year` (inside the issuing transaction: a rollback gives it back).
async fn next_number(txn: &impl ConnectionTrait, year: i32) -> AppResult<i64> {
    let stmt = Query::insert()
        .into_table(seq::Entity)
        .columns([seq::Column::Year, seq::Column::LastNumber])
        .values([year.into(), 1_i64.into()])
        .map_err(AppError::internal)?
        .on_conflict(
            OnConflict::column(seq::Column::Year)
                .value(
                    seq::Column::LastNumber,
                    Expr::col((seq::Entity, seq::Column::LastNumber)).add(1),
                )
                .to_owned(),
        )
        .returning_col(seq::Column::LastNumber)
        .to_owned();
    let row = txn
        .query_one(txn.get_database_backend().build(&stmt))
        .await?
        .ok_or_else(|| AppError::internal("the invoice sequence returned no row"))?;
    Ok(row.try_get::<i64>("", "last_number")?)
}

/// Issues every draft whose month ended by `now`; returns them as issued.
pub async fn issue_closed(
    db: &DatabaseConnection,
    now: NaiveDateTime,
) -> AppResult<Vec<invoices::Model>> {
    let due: Vec<i64> = invoices::Entity::find()
        .select_only()
        .column(invoices::Column::Id)
        .filter(invoices::Column::Status.eq(InvoiceState::Draft.as_db()))
        .filter(invoices::Column::PeriodEnd.lte(now))
        .into_tuple()
        .all(db)
        .await?;
    let mut issued = Vec::new();
    for id in due {
        let txn = db::begin_write(db).await?;
        let Some(row) = invoices::Entity::find_by_id(id).one(&txn).await? else {
            continue;
        };
        let stamp = vec![
            (
                invoices::Column::Status,
                Expr::value(InvoiceState::Issued.as_db()),
            ),
            (invoices::Column::IssuedAt, Expr::value(now)),
            (
                invoices::Column::DueAt,
                Expr::value(now + Duration::days(PAYMENT_TERM_DAYS)),
            ),
        ];
        // The compare-and-set on the draft comes first: a concurrent issuer waits on the
        // row, then finds it issued and takes no number.
        if !write_totals(&txn, &row, InvoiceState::Draft, stamp, now).await? {
            continue;
        }
        let year = row.period_start.year();
        let number = next_number(&txn, year).await?;
        invoices::Entity::update_many()
            .col_expr(
                invoices::Column::InvoiceNo,
                Expr::value(format!("INV-{year}-{number:06}")),
            )
            .filter(invoices::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        let row = invoices::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound("invoice"))?;
        txn.commit().await?;
        issued.push(row);
    }
    Ok(issued)
}

/// An operator marks an issued invoice `paid` or `void` (operators only: checked by the
/// caller's policy). Anything else is CONFLICT: a draft is not final, and a paid or void
/// invoice is final.
pub async fn settle(
    db: &DatabaseConnection,
    id: i64,
    to: InvoiceState,
    now: NaiveDateTime,
) -> AppResult<invoices::Model> {
    if !matches!(to, InvoiceState::Paid | InvoiceState::Void) {
        return Err(AppError::bad_input(
            "status: an invoice is settled as PAID or VOID",
        ));
    }
    let row = invoices::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("invoice"))?;
    let _writer = db::write_guard(db).await;
    let mut update = invoices::Entity::update_many()
        .col_expr(invoices::Column::Status, Expr::value(to.as_db()))
        .col_expr(invoices::Column::UpdatedAt, Expr::value(now))
        .filter(invoices::Column::Id.eq(id))
        .filter(invoices::Column::Status.eq(InvoiceState::Issued.as_db()));
    if to == InvoiceState::Paid {
        update = update.col_expr(invoices::Column::PaidAt, Expr::value(now));
    }
    if update.exec(db).await?.rows_affected != 1 {
        let state = InvoiceState::from_db_opt(row.status.as_deref())?;
        return Err(AppError::Conflict(format!(
            "invoice {} is {}: only an issued invoice is marked paid or void, once",
            row.invoice_no,
            state.as_db()
        )));
    }
    invoices::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("invoice"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_totals() {
        let t = NaiveDate::from_ymd_opt(2026, 12, 31)
            .and_then(|d| d.and_hms_opt(23, 59, 59))
            .unwrap_or_default();
        let (start, end) = month_of(t);
        assert_eq!(start.to_string(), "2026-12-01 00:00:00");
        assert_eq!(end.to_string(), "2027-01-01 00:00:00");
        assert_eq!(month_key(t), "2026-12");
        let d = |s: &str| s.parse::<Decimal>().unwrap_or_default();
        let t = totals([d("0.0001"), d("3.3333"), d("999999.9999")], d("0.0600"));
        let t = t.map_err(|e| e.to_string());
        assert_eq!(
            t.map(|t| (
                t.subtotal.to_string(),
                t.tax.to_string(),
                t.total.to_string()
            )),
            Ok((
                "1000003.3333".to_owned(),
                "60000.2000".to_owned(),
                "1060003.5333".to_owned()
            ))
        );
        let huge = totals([d("99999999999.9999")], d("0.5"));
        assert!(huge.is_err(), "a total over DECIMAL(15,4) is refused");
    }
}
