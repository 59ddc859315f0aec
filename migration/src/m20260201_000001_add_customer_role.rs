//! Adds `customers.role` (`customer` or `admin`): platform operators are customers with the
//! `admin` role. Not in the seed; the first admin is created from the command line or from
//! bootstrap settings, never through the API.

use crate::m20260101_000006_create_customers::Customers;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Customers::Table)
                    .add_column(varchar(Role::Role, 20).default("customer"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(Customers::Table, [Role::Role]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_customers_role")
                    .table(Customers::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Customers::Table)
                    .drop_column(Role::Role)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Role {
    Role,
}
