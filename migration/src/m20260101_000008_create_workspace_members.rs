//! Creates `workspace_members` (seed 000 §5.3): which customer belongs to which workspace with
//! which role (owner/admin/member/viewer); one row per `(workspace_id, customer_id)`.

use crate::m20260101_000006_create_customers::Customers;
use crate::m20260101_000007_create_workspaces::Workspaces;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

impl TableStep for Migration {
    fn table(&self) -> TableCreateStatement {
        table(WorkspaceMembers::Table)
            .col(pk_bigserial(WorkspaceMembers::Id))
            .col(bigint(WorkspaceMembers::WorkspaceId))
            .col(bigint(WorkspaceMembers::CustomerId))
            .col(varchar(WorkspaceMembers::Role, 20))
            .col(varchar_null(WorkspaceMembers::Status, 20).default("active"))
            .col(timestamp_null(WorkspaceMembers::JoinedAt))
            .col(timestamp_now(WorkspaceMembers::CreatedAt))
            .fk(
                WorkspaceMembers::WorkspaceId,
                Workspaces::Table,
                Workspaces::Id,
                CASCADE,
            )
            .fk(
                WorkspaceMembers::CustomerId,
                Customers::Table,
                Customers::Id,
                CASCADE,
            )
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        use WorkspaceMembers::{CustomerId, WorkspaceId};
        vec![
            index(WorkspaceMembers::Table, [WorkspaceId]),
            index(WorkspaceMembers::Table, [CustomerId]),
            unique_index(WorkspaceMembers::Table, [WorkspaceId, CustomerId]),
        ]
    }
}

#[derive(DeriveIden)]
pub enum WorkspaceMembers {
    Table,
    Id,
    WorkspaceId,
    CustomerId,
    Role,
    Status,
    JoinedAt,
    CreatedAt,
}
