//! Creates `datasets` (seed 000 §7.1): a customer's datasets in object storage; `total_size`
//! is in bytes.

use crate::m20260101_000006_create_customers::Customers;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(Datasets::Table)
            .col(pk_bigserial(Datasets::Id))
            .col(varchar(Datasets::Uuid, 64).unique_key())
            .col(bigint(Datasets::CustomerId))
            .col(varchar(Datasets::Name, 256))
            .col(text_null(Datasets::Description))
            .col(varchar(Datasets::StoragePath, 512))
            .col(bigint_null(Datasets::TotalSize).default(0))
            .col(varchar_null(Datasets::Status, 20).default("uploading"))
            .col(timestamp_now(Datasets::CreatedAt))
            .fk(
                Datasets::CustomerId,
                Customers::Table,
                Customers::Id,
                CASCADE,
            )
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![
            index(Datasets::Table, [Datasets::CustomerId]),
            index(Datasets::Table, [Datasets::Status]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum Datasets {
    Table,
    Id,
    Uuid,
    CustomerId,
    Name,
    Description,
    StoragePath,
    TotalSize,
    Status,
    CreatedAt,
}
