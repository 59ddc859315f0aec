//! Creates `workspaces` (seed 000 §5.2): team spaces owned by a customer; deleting the owner
//! deletes the workspace.

use crate::m20260101_000006_create_customers::Customers;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(Workspaces::Table)
            .col(pk_bigserial(Workspaces::Id))
            .col(varchar(Workspaces::Uuid, 64).unique_key())
            .col(bigint(Workspaces::OwnerId))
            .col(varchar(Workspaces::Name, 128))
            .col(text_null(Workspaces::Description))
            .col(varchar_null(Workspaces::Type, 20).default("team"))
            .col(varchar_null(Workspaces::Status, 20).default("active"))
            .col(int_null(Workspaces::MemberCount).default(1))
            .col(timestamp_now(Workspaces::CreatedAt))
            .col(timestamp_now(Workspaces::UpdatedAt))
            .fk(
                Workspaces::OwnerId,
                Customers::Table,
                Customers::Id,
                CASCADE,
            )
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![index(Workspaces::Table, [Workspaces::OwnerId])]
    }
}

#[derive(DeriveIden)]
pub enum Workspaces {
    Table,
    Id,
    Uuid,
    OwnerId,
    Name,
    Description,
    Type,
    Status,
    MemberCount,
    CreatedAt,
    UpdatedAt,
}
