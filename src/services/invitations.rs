//! Workspace invitations: membership is consent (DESIGN §7). A manager invites a login (a
//! username, or an e-mail address), and nobody becomes a member until the invitee accepts.
//!
//! - An invitation reaches an account by its username, or by its e-mail address only once
//!   that address is verified (`customers.email_verified`): an address typed by the inviter
//!   never reaches whoever registered it first without proving it.
//! - It is valid only while its inviter may still invite with its role in that workspace,
//!   checked when it is accepted, under the workspace's lock; removing, suspending or
//!   demoting a member revokes what they can no longer send (`services::workspaces`).
//! - Inviting oneself or someone already in the workspace is CONFLICT; one inviter holds at
//!   most `limits.max_pending_invitations_per_inviter` open invitations, so nobody can flood
//!   another's list; a workspace at most [`MAX_OPEN_INVITATIONS`].

use chrono::{Duration, Utc};
use entity::{customers, workspace_invitations as wi, workspace_members as wm, workspaces};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::auth::policy::{self, Policy};
use crate::auth::User;
use crate::db;
use crate::domain::{AccountRole, BoundedText, InvitationState, MemberRole, MemberState};
use crate::error::{AppError, AppResult};
use crate::services::workspaces::{add_to_member_count, lock_workspace};

/// How long an invitation stays open.
pub const INVITATION_DAYS: i64 = 14;
/// Open invitations a workspace may have at once.
pub const MAX_OPEN_INVITATIONS: u64 = 50;
/// A login as typed: a username or an e-mail address.
const LOGIN_CHARS: usize = 254;

/// The account a login reaches: by username, or by a verified e-mail address.
async fn reached_account(
    db: &impl ConnectionTrait,
    login: &str,
) -> AppResult<Option<customers::Model>> {
    Ok(customers::Entity::find()
        .filter(
            Condition::any()
                .add(customers::Column::Username.eq(login))
                .add(
                    Condition::all()
                        .add(customers::Column::Email.eq(login.to_lowercase()))
                        .add(customers::Column::EmailVerified.eq(true)),
                ),
        )
        .one(db)
        .await?)
}

/// Invites a login (a username or an e-mail address) into a workspace with `role`. The
/// answer is the same whether or not the login reaches an account: the invitation is kept
/// as typed either way. Inviting the same login again renews the open invitation. Managers
/// invite; only owners invite owners.
pub async fn invite(
    conn: &DatabaseConnection,
    u: User,
    workspace: i64,
    login: &str,
    role: MemberRole,
    max_per_inviter: u64,
) -> AppResult<wi::Model> {
    let login = BoundedText::parse("login", login, LOGIN_CHARS)?.into_string();
    let txn = db::begin_write(conn).await?;
    policy::require_writable::<workspaces::Entity>(&txn, u, workspaces::Column::Id, workspace)
        .await?;
    let ws = lock_workspace(&txn, workspace).await?;
    let caller = policy::member_role(&txn, u, ws.id).await?;
    policy::authorize_membership_change(u, caller, role, role)?;

    let now = Utc::now().naive_utc();
    // Expired invitations are gone for everyone; drop them so they do not pile up.
    wi::Entity::delete_many()
        .filter(wi::Column::WorkspaceId.eq(ws.id))
        .filter(wi::Column::ExpiresAt.lte(now))
        .exec(&txn)
        .await?;
    let account = reached_account(&txn, &login).await?;
    if let Some(account) = &account {
        if account.id == u.id {
            return Err(AppError::Conflict(
                "login: you cannot invite yourself".into(),
            ));
        }
        let member = wm::Entity::find()
            .filter(wm::Column::WorkspaceId.eq(ws.id))
            .filter(wm::Column::CustomerId.eq(account.id))
            .count(&txn)
            .await?;
        if member > 0 {
            return Err(AppError::Conflict(
                "login: that account is already a member of this workspace".into(),
            ));
        }
    }
    let open = |filter: Condition| {
        wi::Entity::find()
            .filter(filter)
            .filter(wi::Column::ExpiresAt.gt(now))
            .filter(
                Condition::any()
                    .add(wi::Column::WorkspaceId.ne(ws.id))
                    .add(wi::Column::Invitee.ne(login.as_str())),
            )
            .count(&txn)
    };
    if open(Condition::all().add(wi::Column::WorkspaceId.eq(ws.id))).await? >= MAX_OPEN_INVITATIONS
    {
        return Err(AppError::bad_input(format!(
            "a workspace has at most {MAX_OPEN_INVITATIONS} open invitations; revoke one first"
        )));
    }
    if open(
        Condition::all()
            .add(wi::Column::InvitedBy.eq(u.id))
            .add(wi::Column::Status.eq(InvitationState::Pending.as_db())),
    )
    .await?
        >= max_per_inviter
    {
        return Err(AppError::bad_input(format!(
            "one person holds at most {max_per_inviter} open invitations; revoke one first"
        )));
    }
    let existing = wi::Entity::find()
        .filter(wi::Column::WorkspaceId.eq(ws.id))
        .filter(wi::Column::Invitee.eq(login.as_str()))
        .one(&txn)
        .await?;
    let fill = |mut row: wi::ActiveModel| {
        row.customer_id = Set(account.as_ref().map(|c| c.id));
        row.role = Set(role.as_db().into());
        row.status = Set(InvitationState::Pending.as_db().into());
        row.invited_by = Set(Some(u.id));
        row.created_at = Set(Some(now));
        row.expires_at = Set(now + Duration::days(INVITATION_DAYS));
        row
    };
    let saved = match existing {
        Some(row) => fill(wi::ActiveModel::from(row)).update(&txn).await?,
        None => {
            fill(wi::ActiveModel {
                workspace_id: Set(ws.id),
                invitee: Set(login),
                ..Default::default()
            })
            .insert(&txn)
            .await?
        }
    };
    txn.commit().await?;
    Ok(saved)
}

/// An open invitation as its invitee sees it.
#[derive(Debug, Clone)]
pub struct ReceivedInvitation {
    pub invitation: wi::Model,
    pub workspace_name: String,
    /// The inviter's username (none when that account is gone).
    pub invited_by: Option<String>,
}

/// One page of the caller's open invitations, newest first, and how many there are.
pub async fn my_invitations(
    db: &impl ConnectionTrait,
    u: User,
    offset: u64,
    limit: u64,
) -> AppResult<(Vec<ReceivedInvitation>, u64)> {
    let total = wi::Entity::find().filter(open_for(u)).count(db).await?;
    let rows = wi::Entity::find()
        .filter(open_for(u))
        .order_by_desc(wi::Column::CreatedAt)
        .order_by_desc(wi::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    let names = workspaces::Entity::find()
        .filter(workspaces::Column::Id.is_in(rows.iter().map(|r| r.workspace_id)))
        .all(db)
        .await?;
    let inviters = customers::Entity::find()
        .filter(customers::Column::Id.is_in(rows.iter().filter_map(|r| r.invited_by)))
        .all(db)
        .await?;
    let page = rows
        .into_iter()
        .filter_map(|invitation| {
            let workspace_name = names
                .iter()
                .find(|w| w.id == invitation.workspace_id)?
                .name
                .clone();
            let invited_by = invitation
                .invited_by
                .and_then(|id| inviters.iter().find(|c| c.id == id))
                .map(|c| c.username.clone());
            Some(ReceivedInvitation {
                invitation,
                workspace_name,
                invited_by,
            })
        })
        .collect();
    Ok((page, total))
}

/// Invitations addressed to `u` that are still open.
fn open_for(u: User) -> Condition {
    Condition::all()
        .add(wi::Column::CustomerId.eq(u.id))
        .add(wi::Column::Status.eq(InvitationState::Pending.as_db()))
        .add(wi::Column::ExpiresAt.gt(Utc::now().naive_utc()))
}

/// Whether the inviter may still send an invitation with `role` into workspace `ws`: an
/// operator, or an active manager there (an owner invitation an active owner).
async fn inviter_may_still_invite(
    db: &impl ConnectionTrait,
    invitation: &wi::Model,
    role: MemberRole,
) -> AppResult<bool> {
    let Some(inviter) = invitation.invited_by else {
        return Ok(false);
    };
    let Some(account) = customers::Entity::find_by_id(inviter).one(db).await? else {
        return Ok(false);
    };
    let user = User {
        id: account.id,
        admin: account.role == AccountRole::Admin.as_db(),
    };
    let role_there = wm::Entity::find()
        .filter(wm::Column::WorkspaceId.eq(invitation.workspace_id))
        .filter(wm::Column::CustomerId.eq(inviter))
        .filter(wm::Column::Status.eq(MemberState::Active.as_db()))
        .one(db)
        .await?
        .map(|m| MemberRole::from_db(&m.role))
        .transpose()?;
    Ok(
        crate::domain::AccountState::admits(account.status.as_deref())
            && policy::authorize_membership_change(user, role_there, role, role).is_ok(),
    )
}

/// The invitee accepts: they become an `active` member with the invitation's role, and the
/// invitation is used up. Anyone else's invitation, a declined or expired one, and one whose
/// inviter may no longer invite with its role (checked under the workspace's lock) is
/// NOT_FOUND; someone already in the workspace (active or suspended) gets CONFLICT.
pub async fn accept(conn: &DatabaseConnection, u: User, id: i64) -> AppResult<wm::Model> {
    let txn = db::begin_write(conn).await?;
    let find = || wi::Entity::find_by_id(id).filter(open_for(u)).one(&txn);
    let invitation = find().await?.ok_or(AppError::NotFound("invitation"))?;
    let ws = lock_workspace(&txn, invitation.workspace_id).await?;
    let invitation = find().await?.ok_or(AppError::NotFound("invitation"))?;
    let role = MemberRole::from_db(&invitation.role)?;
    if !inviter_may_still_invite(&txn, &invitation, role).await? {
        wi::Entity::delete_by_id(invitation.id).exec(&txn).await?;
        txn.commit().await?;
        return Err(AppError::NotFound("invitation"));
    }
    let already = wm::Entity::find()
        .filter(wm::Column::WorkspaceId.eq(ws.id))
        .filter(wm::Column::CustomerId.eq(u.id))
        .count(&txn)
        .await?;
    if already > 0 {
        return Err(AppError::Conflict(
            "you are already a member of this workspace".into(),
        ));
    }
    let member = wm::ActiveModel {
        workspace_id: Set(ws.id),
        customer_id: Set(u.id),
        role: Set(role.as_db().into()),
        status: Set(Some(MemberState::Active.as_db().into())),
        joined_at: Set(Some(Utc::now().naive_utc())),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    add_to_member_count(&txn, ws.id, 1).await?;
    wi::Entity::delete_by_id(invitation.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(member)
}

/// The invitee declines. The inviter is not told: to them the invitation stays as it was
/// until it expires or they revoke it.
pub async fn decline(conn: &DatabaseConnection, u: User, id: i64) -> AppResult<()> {
    let _writer = db::write_guard(conn).await;
    let declined = wi::Entity::update_many()
        .col_expr(
            wi::Column::Status,
            Expr::value(InvitationState::Declined.as_db()),
        )
        .filter(wi::Column::Id.eq(id))
        .filter(open_for(u))
        .exec(conn)
        .await?;
    if declined.rows_affected == 0 {
        return Err(AppError::NotFound("invitation"));
    }
    Ok(())
}

/// A manager withdraws an invitation (an owner invitation only an owner); returns it.
pub async fn revoke_invitation(
    conn: &DatabaseConnection,
    u: User,
    id: i64,
) -> AppResult<wi::Model> {
    let txn = db::begin_write(conn).await?;
    let invitation = wi::Entity::find_by_id(id)
        .filter(wi::Entity::readable(u).condition())
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("invitation"))?;
    let ws = lock_workspace(&txn, invitation.workspace_id).await?;
    let role = MemberRole::from_db(&invitation.role)?;
    let caller = policy::member_role(&txn, u, ws.id).await?;
    policy::authorize_membership_change(u, caller, role, role)?;
    wi::Entity::delete_by_id(invitation.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(invitation)
}
