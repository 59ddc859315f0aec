//! Memberships as a workspace's managers and its invitees use them: invitations (sent,
//! received, accepted, declined, revoked; `services::invitations`) and changes to members
//! (`services::workspaces`). Resolvers parse, call one service function and map the result.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::workspace_invitations as wi;

use super::accounts::{UpdateWorkspaceMemberInput, WorkspaceMember};
use super::convert::{fk, id, ts, ts_opt};
use super::crud::{crud_query, principal, state, ApiObject, ConnectionTotal, ListConnection};
use super::enums::*;
use super::filter::{filter_input, order_input, IdFilter};
use super::pagination::{encode_cursor, PageArgs};
use crate::error::GqlResult;
use crate::error::{AppError, AppResult};
use crate::services::invitations;
use crate::services::workspaces as workspaces_service;

/// An invitation into a workspace, as its managers see it: the login as the inviter typed
/// it, never the account it reached or whether it was declined.
#[derive(SimpleObject)]
pub struct WorkspaceInvitation {
    pub id: ID,
    pub workspace_id: ID,
    /// The username or e-mail address as typed.
    pub invitee: String,
    /// The role the invitee gets on accepting.
    pub role: WorkspaceRole,
    pub invited_by_id: Option<ID>,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

impl ApiObject for WorkspaceInvitation {
    type Entity = wi::Entity;
    const LABEL: &'static str = "invitation";
    fn from_model(m: wi::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            workspace_id: id(m.workspace_id),
            invitee: m.invitee,
            role: WorkspaceRole::from_db(&m.role)?,
            invited_by_id: m.invited_by.map(id),
            created_at: ts_opt(m.created_at),
            expires_at: ts(m.expires_at),
        })
    }
}

filter_input!(WorkspaceInvitationFilter for wi {
    id: IdFilter => Id as i64,
    workspace_id: IdFilter => WorkspaceId as i64,
});

order_input!(WorkspaceInvitationOrder, WorkspaceInvitationOrderField, wi::Entity, wi::Column {
    Id => Id,
    CreatedAt => CreatedAt,
    ExpiresAt => ExpiresAt,
});

crud_query!(WorkspaceInvitationQuery {
    object: WorkspaceInvitation,
    one: workspace_invitation,
    many: workspace_invitations,
    filter: WorkspaceInvitationFilter,
    order: WorkspaceInvitationOrder,
});

/// An open invitation addressed to the signed-in customer.
#[derive(SimpleObject)]
pub struct ReceivedInvitation {
    /// Pass it to `acceptInvitation` or `declineInvitation`.
    pub id: ID,
    pub workspace_id: ID,
    pub workspace_name: String,
    pub role: WorkspaceRole,
    /// The inviter's username (null when that account is gone).
    pub invited_by: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

impl ReceivedInvitation {
    fn from_service(r: invitations::ReceivedInvitation) -> AppResult<Self> {
        Ok(Self {
            id: id(r.invitation.id),
            workspace_id: id(r.invitation.workspace_id),
            workspace_name: r.workspace_name,
            role: WorkspaceRole::from_db(&r.invitation.role)?,
            invited_by: r.invited_by,
            created_at: ts_opt(r.invitation.created_at),
            expires_at: ts(r.invitation.expires_at),
        })
    }
}

#[derive(Default)]
pub struct InvitationQuery;

#[Object]
impl InvitationQuery {
    /// Open invitations addressed to the signed-in customer, newest first, a page at a
    /// time (`first` 1-100, default 20; `after` a cursor of this list).
    #[graphql(complexity = "crate::graphql::pagination::page_cost(first, None, child_complexity)")]
    async fn my_invitations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ListConnection<ReceivedInvitation>> {
        let user = principal(ctx).user().gql()?;
        let page = PageArgs {
            first,
            after,
            last: None,
            before: None,
        };
        let window = page.window(None).gql()?;
        let (rows, total) =
            invitations::my_invitations(&state(ctx).db, user, window.offset, window.limit)
                .await
                .gql()?;
        let mut connection = Connection::with_additional_fields(
            window.offset > 0,
            window.offset + window.limit < total,
            ConnectionTotal {
                total_count: i64::try_from(total).unwrap_or(i64::MAX),
            },
        );
        for (i, row) in rows.into_iter().enumerate() {
            connection.edges.push(Edge::new(
                encode_cursor(window.offset + i as u64),
                ReceivedInvitation::from_service(row).gql()?,
            ));
        }
        Ok(connection)
    }
}

#[derive(InputObject)]
pub struct InviteWorkspaceMemberInput {
    pub workspace_id: ID,
    /// The invitee's username or e-mail address.
    pub login: String,
    pub role: WorkspaceRole,
}

/// The id of a row named by an argument; one that cannot be an id is NOT_FOUND like a
/// missing one.
fn key(id: &ID, label: &'static str) -> AppResult<i64> {
    id.parse().map_err(|_| AppError::NotFound(label))
}

#[derive(Default)]
pub struct WorkspaceMemberMutation;

#[Object]
impl WorkspaceMemberMutation {
    /// Invites a username or e-mail address into a workspace (managers; `OWNER` only by
    /// owners). Nobody becomes a member until they accept. The answer is the same whether or
    /// not the login names an account.
    async fn invite_workspace_member(
        &self,
        ctx: &Context<'_>,
        input: InviteWorkspaceMemberInput,
    ) -> async_graphql::Result<WorkspaceInvitation> {
        let user = principal(ctx).user().gql()?;
        let workspace = fk("workspaceId", &input.workspace_id).gql()?;
        let app = state(ctx);
        let row = invitations::invite(
            &app.db,
            user,
            workspace,
            &input.login,
            input.role.into(),
            app.settings.limits.max_pending_invitations_per_inviter,
        )
        .await
        .gql()?;
        WorkspaceInvitation::from_model(row).gql()
    }

    /// Withdraws an invitation (managers; an `OWNER` invitation only owners). Returns it.
    async fn revoke_workspace_invitation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WorkspaceInvitation> {
        let user = principal(ctx).user().gql()?;
        let key = key(&id, "invitation").gql()?;
        let row = invitations::revoke_invitation(&state(ctx).db, user, key)
            .await
            .gql()?;
        WorkspaceInvitation::from_model(row).gql()
    }

    /// Accepts an invitation addressed to the signed-in customer: they become an `ACTIVE`
    /// member with its role.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WorkspaceMember> {
        let user = principal(ctx).user().gql()?;
        let key = key(&id, "invitation").gql()?;
        let row = invitations::accept(&state(ctx).db, user, key).await.gql()?;
        WorkspaceMember::from_model(row).gql()
    }

    /// Declines an invitation addressed to the signed-in customer.
    async fn decline_invitation(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let user = principal(ctx).user().gql()?;
        let key = key(&id, "invitation").gql()?;
        invitations::decline(&state(ctx).db, user, key)
            .await
            .gql()?;
        Ok(true)
    }

    /// Changes a member's role or status (managers; `OWNER` granted or revoked only by
    /// owners; the last active owner stays one: CONFLICT).
    async fn update_workspace_member(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateWorkspaceMemberInput,
    ) -> async_graphql::Result<WorkspaceMember> {
        let user = principal(ctx).user().gql()?;
        let key = key(&id, WorkspaceMember::LABEL).gql()?;
        let change = workspaces_service::MemberChange {
            role: input.role.map(Into::into),
            status: input.status.map(Into::into),
        };
        let app = state(ctx);
        let row =
            workspaces_service::update_member(&app.db, app.events.as_ref(), user, key, change)
                .await
                .gql()?;
        WorkspaceMember::from_model(row).gql()
    }

    /// Removes a member (managers; an owner only owners; never the last active owner).
    /// Returns the row as it was.
    async fn delete_workspace_member(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WorkspaceMember> {
        let user = principal(ctx).user().gql()?;
        let key = key(&id, WorkspaceMember::LABEL).gql()?;
        let app = state(ctx);
        let row = workspaces_service::remove_member(&app.db, app.events.as_ref(), user, key)
            .await
            .gql()?;
        WorkspaceMember::from_model(row).gql()
    }
}
