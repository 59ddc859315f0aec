//! Creates `workspace_invitations`: a workspace manager's invitation of a login (a username or
//! an e-mail address, kept as typed), which becomes a membership only when the invitee
//! accepts it. `customer_id` is the account the login named when the invitation was sent
//! (NULL when it named none: such an invitation reaches nobody, and looks the same to the
//! inviter); `status` is `pending` or `declined`; `expires_at` ends it either way.
//!
//! Memberships that were created `invited` (without the invitee's consent) become pending
//! invitations, and `workspaces.member_count` is recounted without them.

use crate::m20260101_000006_create_customers::Customers;
use crate::m20260101_000007_create_workspaces::Workspaces;
use crate::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// How long an invitation moved from an `invited` membership stays open.
const LEGACY_INVITATION_DAYS: i64 = 14;

struct Step;

impl MigrationName for Step {
    fn name(&self) -> &str {
        "m20260602_000001_create_workspace_invitations"
    }
}

impl TableStep for Step {
    fn table(&self) -> TableCreateStatement {
        table(WorkspaceInvitations::Table)
            .col(pk_bigserial(WorkspaceInvitations::Id))
            .col(bigint(WorkspaceInvitations::WorkspaceId))
            .col(varchar(WorkspaceInvitations::Invitee, 254))
            .col(bigint_null(WorkspaceInvitations::CustomerId))
            .col(varchar(WorkspaceInvitations::Role, 20))
            .col(varchar(WorkspaceInvitations::Status, 20).default("pending"))
            .col(bigint_null(WorkspaceInvitations::InvitedBy))
            .col(timestamp_now(WorkspaceInvitations::CreatedAt))
            .col(timestamp(WorkspaceInvitations::ExpiresAt))
            .fk(
                WorkspaceInvitations::WorkspaceId,
                Workspaces::Table,
                Workspaces::Id,
                CASCADE,
            )
            .fk(
                WorkspaceInvitations::CustomerId,
                Customers::Table,
                Customers::Id,
                CASCADE,
            )
            .fk(
                WorkspaceInvitations::InvitedBy,
                Customers::Table,
                Customers::Id,
                SET_NULL,
            )
            .take()
    }

    fn indexes(&self, _: DbBackend) -> Vec<IndexCreateStatement> {
        use WorkspaceInvitations::{CustomerId, InvitedBy, Invitee, Table, WorkspaceId};
        vec![
            unique_index(Table, [WorkspaceId, Invitee]),
            index(Table, [CustomerId]),
            index(Table, [InvitedBy]),
        ]
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        CreateTable(Step).up(manager).await?;
        let db = manager.get_connection();
        let expires = match manager.get_database_backend() {
            DbBackend::Postgres => {
                format!("NOW() + INTERVAL '{LEGACY_INVITATION_DAYS} days'")
            }
            _ => format!("datetime('now', '+{LEGACY_INVITATION_DAYS} days')"),
        };
        db.execute_unprepared(&format!(
            "INSERT INTO workspace_invitations \
             (workspace_id, invitee, customer_id, role, status, created_at, expires_at) \
             SELECT m.workspace_id, c.username, m.customer_id, m.role, 'pending', \
             m.created_at, {expires} FROM workspace_members m \
             JOIN customers c ON c.id = m.customer_id WHERE m.status = 'invited'"
        ))
        .await?;
        db.execute_unprepared("DELETE FROM workspace_members WHERE status = 'invited'")
            .await?;
        db.execute_unprepared(
            "UPDATE workspaces SET member_count = (SELECT COUNT(*) FROM workspace_members m \
             WHERE m.workspace_id = workspaces.id)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        CreateTable(Step).down(manager).await
    }
}

#[derive(DeriveIden)]
pub enum WorkspaceInvitations {
    Table,
    Id,
    WorkspaceId,
    Invitee,
    CustomerId,
    Role,
    Status,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
}
