//! Creates `billing_records` (seed 000 §8.1): metered resource usage with price and amount
//! (`DECIMAL(10,4)`). Billing history outlives its environment (`env_id` -> NULL on delete);
//! `invoice_id` (an addition to the seed) links a record to the invoice that bills it.

use crate::m20260101_000006_create_customers::Customers;
use crate::m20260101_000009_create_environments::Environments;
use crate::m20260101_000017_create_invoices::Invoices;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(BillingRecords::Table)
            .col(pk_bigserial(BillingRecords::Id))
            .col(bigint(BillingRecords::CustomerId))
            .col(varchar_null(BillingRecords::EnvId, 64))
            .col(varchar(BillingRecords::ResourceType, 32))
            .col(double(BillingRecords::Quantity))
            .col(money(BillingRecords::UnitPrice))
            .col(money(BillingRecords::Amount))
            .col(timestamp(BillingRecords::StartTime))
            .col(timestamp(BillingRecords::EndTime))
            .col(timestamp_now(BillingRecords::CreatedAt))
            .col(bigint_null(BillingRecords::InvoiceId))
            .fk(
                BillingRecords::CustomerId,
                Customers::Table,
                Customers::Id,
                CASCADE,
            )
            .fk(
                BillingRecords::EnvId,
                Environments::Table,
                Environments::Id,
                SET_NULL,
            )
            .fk(
                BillingRecords::InvoiceId,
                Invoices::Table,
                Invoices::Id,
                SET_NULL,
            )
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![
            index(BillingRecords::Table, [BillingRecords::CustomerId]),
            index(BillingRecords::Table, [BillingRecords::EnvId]),
            index_desc(BillingRecords::Table, [BillingRecords::StartTime]),
            index(BillingRecords::Table, [BillingRecords::InvoiceId]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum BillingRecords {
    Table,
    Id,
    CustomerId,
    EnvId,
    ResourceType,
    Quantity,
    UnitPrice,
    Amount,
    StartTime,
    EndTime,
    CreatedAt,
    InvoiceId,
}
