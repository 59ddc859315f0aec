//! Creates `models` (seed 000 §7.2): a customer's model files in object storage; `total_size`
//! is in bytes.

use crate::m20260101_000006_create_customers::Customers;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(Models::Table)
            .col(pk_bigserial(Models::Id))
            .col(varchar(Models::Uuid, 64).unique_key())
            .col(bigint(Models::CustomerId))
            .col(varchar(Models::Name, 256))
            .col(varchar_null(Models::Framework, 64))
            .col(varchar(Models::StoragePath, 512))
            .col(bigint_null(Models::TotalSize).default(0))
            .col(timestamp_now(Models::CreatedAt))
            .fk(Models::CustomerId, Customers::Table, Customers::Id, CASCADE)
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![index(Models::Table, [Models::CustomerId])]
    }
}

#[derive(DeriveIden)]
pub enum Models {
    Table,
    Id,
    Uuid,
    CustomerId,
    Name,
    Framework,
    StoragePath,
    TotalSize,
    CreatedAt,
}
