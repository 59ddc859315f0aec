//! Creates `environments` (seed 000 §6.1): customers' development containers on a host.
//! A host cannot be deleted while environments run on it (`RESTRICT`); deleting the customer
//! deletes them; deleting their workspace only detaches them (`workspace_id` -> NULL).

use crate::m20260101_000002_create_hosts::Hosts;
use crate::m20260101_000006_create_customers::Customers;
use crate::m20260101_000007_create_workspaces::Workspaces;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(Environments::Table)
            .col(pk_varchar(Environments::Id, 64))
            .col(bigint(Environments::CustomerId))
            .col(bigint_null(Environments::WorkspaceId))
            .col(varchar(Environments::HostId, 64))
            .col(varchar(Environments::Name, 128))
            .col(varchar(Environments::Image, 256))
            .col(varchar_null(Environments::Status, 20).default("creating"))
            .col(int(Environments::Cpu))
            .col(bigint(Environments::Memory))
            .col(int_null(Environments::Gpu).default(0))
            .col(int_null(Environments::SshPort))
            .col(timestamp_now(Environments::CreatedAt))
            .fk(
                Environments::CustomerId,
                Customers::Table,
                Customers::Id,
                CASCADE,
            )
            .fk(
                Environments::WorkspaceId,
                Workspaces::Table,
                Workspaces::Id,
                SET_NULL,
            )
            .fk(Environments::HostId, Hosts::Table, Hosts::Id, RESTRICT)
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        vec![
            index(Environments::Table, [Environments::CustomerId]),
            index(Environments::Table, [Environments::HostId]),
            index(Environments::Table, [Environments::Status]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum Environments {
    Table,
    Id,
    CustomerId,
    WorkspaceId,
    HostId,
    Name,
    Image,
    Status,
    Cpu,
    Memory,
    Gpu,
    SshPort,
    CreatedAt,
}
