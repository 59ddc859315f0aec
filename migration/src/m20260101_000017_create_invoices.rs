//! Creates `invoices` (named in seed 000's diagram, designed here in its style): a customer's
//! bill for a period, summing its `billing_records` (which point here, so this table comes
//! first). Money is `DECIMAL(10,4)`; `status` is draft/issued/paid/void.

use crate::m20260101_000006_create_customers::Customers;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(Invoices::Table)
            .col(pk_bigserial(Invoices::Id))
            .col(varchar(Invoices::InvoiceNo, 64).unique_key())
            .col(bigint(Invoices::CustomerId))
            .col(timestamp(Invoices::PeriodStart))
            .col(timestamp(Invoices::PeriodEnd))
            .col(money(Invoices::Subtotal).default(0))
            .col(money(Invoices::Tax).default(0))
            .col(money(Invoices::TotalAmount).default(0))
            .col(varchar_null(Invoices::Currency, 8).default("CNY"))
            .col(varchar_null(Invoices::Status, 20).default("draft"))
            .col(timestamp_null(Invoices::IssuedAt))
            .col(timestamp_null(Invoices::DueAt))
            .col(timestamp_null(Invoices::PaidAt))
            .col(timestamp_now(Invoices::CreatedAt))
            .col(timestamp_now(Invoices::UpdatedAt))
            .fk(
                Invoices::CustomerId,
                Customers::Table,
                Customers::Id,
                CASCADE,
            )
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![
            index(Invoices::Table, [Invoices::CustomerId]),
            index(Invoices::Table, [Invoices::Status]),
            index_desc(Invoices::Table, [Invoices::PeriodStart]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum Invoices {
    Table,
    Id,
    InvoiceNo,
    CustomerId,
    PeriodStart,
    PeriodEnd,
    Subtotal,
    Tax,
    TotalAmount,
    Currency,
    Status,
    IssuedAt,
    DueAt,
    PaidAt,
    CreatedAt,
    UpdatedAt,
}
