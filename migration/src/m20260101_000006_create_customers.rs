//! Creates `customers` (seed 000 §5.1): customer accounts (individual or enterprise) with login
//! identity (`uuid`, `username`, `email`, all unique) and verification flags.

use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(Customers::Table)
            .col(pk_bigserial(Customers::Id))
            .col(varchar(Customers::Uuid, 64).unique_key())
            .col(varchar(Customers::Username, 128).unique_key())
            .col(varchar(Customers::Email, 256).unique_key())
            .col(varchar_null(Customers::Phone, 32))
            .col(varchar(Customers::PasswordHash, 256))
            .col(varchar_null(Customers::FullName, 256))
            .col(varchar_null(Customers::Company, 256))
            .col(varchar_null(Customers::AccountType, 20).default("individual"))
            .col(varchar_null(Customers::Status, 20).default("active"))
            .col(boolean_null(Customers::EmailVerified).default(false))
            .col(boolean_null(Customers::PhoneVerified).default(false))
            .col(timestamp_now(Customers::CreatedAt))
            .col(timestamp_now(Customers::UpdatedAt))
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![
            index(Customers::Table, [Customers::Username]),
            index(Customers::Table, [Customers::Email]),
            index(Customers::Table, [Customers::Status]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum Customers {
    Table,
    Id,
    Uuid,
    Username,
    Email,
    Phone,
    PasswordHash,
    FullName,
    Company,
    AccountType,
    Status,
    EmailVerified,
    PhoneVerified,
    CreatedAt,
    UpdatedAt,
}
