//! Workspaces and their memberships: a new workspace's owner becomes its first member (in the
//! insert's transaction), invitations (a membership needs the invitee's consent), role and
//! status changes, removal, leaving, and what a customer's deletion does to the workspaces
//! they belong to.
//!
//! Every change that can take an owner away runs under a lock on the workspace row
//! ([`lock_workspace`]: `SELECT ... FOR UPDATE` on PostgreSQL; on SQLite the process-wide
//! write guard already serialises writers), then [`settle_ownership`] checks that at least
//! one `active` owner remains (else CONFLICT, and the transaction rolls back) and moves
//! `workspaces.owner_id` to a remaining active owner when its holder is no longer one.
//! `member_count` follows member rows with relative `UPDATE`s in the same transaction.
//! Who may do what is `auth::policy`'s.

use chrono::{Duration, Utc};
use entity::{customers, workspace_invitations as wi, workspace_members as wm, workspaces};
use futures_util::future::BoxFuture;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};

use crate::auth::policy::{self, Policy};
use crate::auth::User;
use crate::domain::{BoundedText, InvitationState, MemberRole, MemberState};
use crate::error::{AppError, AppResult};
use crate::services::crud::Lifecycle;
use crate::services::db;

/// How long an invitation stays open.
pub const INVITATION_DAYS: i64 = 14;
/// Open invitations a workspace may have at once.
pub const MAX_OPEN_INVITATIONS: u64 = 50;
/// Invitations `myInvitations` lists at most (the newest).
pub const MAX_LISTED_INVITATIONS: u64 = 100;
/// A login as typed: a username or an e-mail address.
const LOGIN_CHARS: usize = 254;

impl Lifecycle for workspaces::Entity {
    /// The owner becomes an `owner` member; `member_count` starts at the seed's default of 1,
    /// which counts that row.
    fn after_insert<'a>(
        txn: &'a DatabaseTransaction,
        row: &'a workspaces::Model,
    ) -> BoxFuture<'a, AppResult<()>> {
        Box::pin(async move {
            wm::ActiveModel {
                workspace_id: Set(row.id),
                customer_id: Set(row.owner_id),
                role: Set(MemberRole::Owner.as_db().into()),
                status: Set(Some(MemberState::Active.as_db().into())),
                joined_at: Set(Some(chrono::Utc::now().naive_utc())),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            Ok(())
        })
    }
}

/// Adds `delta` to the workspace's `member_count`.
pub(crate) async fn add_to_member_count(
    txn: &impl ConnectionTrait,
    workspace_id: i64,
    delta: i32,
) -> AppResult<()> {
    workspaces::Entity::update_many()
        .col_expr(
            workspaces::Column::MemberCount,
            Expr::col(workspaces::Column::MemberCount).add(delta),
        )
        .col_expr(
            workspaces::Column::UpdatedAt,
            Expr::current_timestamp().into(),
        )
        .filter(workspaces::Column::Id.eq(workspace_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// The workspace row, locked until the transaction ends (PostgreSQL `FOR UPDATE`; SQLite
/// writers hold the write guard).
async fn lock_workspace(txn: &DatabaseTransaction, id: i64) -> AppResult<workspaces::Model> {
    workspaces::Entity::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(AppError::NotFound("workspace"))
}

/// At least one `active` owner must remain; `owner_id` names one of them (the earliest to
/// join keeps or takes it).
async fn settle_ownership(txn: &DatabaseTransaction, ws: &workspaces::Model) -> AppResult<()> {
    let owners = wm::Entity::find()
        .filter(wm::Column::WorkspaceId.eq(ws.id))
        .filter(wm::Column::Role.eq(MemberRole::Owner.as_db()))
        .filter(wm::Column::Status.eq(MemberState::Active.as_db()))
        .order_by_asc(wm::Column::JoinedAt)
        .order_by_asc(wm::Column::Id)
        .all(txn)
        .await?;
    let Some(first) = owners.first() else {
        return Err(AppError::Conflict(
            "a workspace needs at least one active owner".into(),
        ));
    };
    if owners.iter().all(|o| o.customer_id != ws.owner_id) {
        workspaces::Entity::update_many()
            .col_expr(workspaces::Column::OwnerId, Expr::value(first.customer_id))
            .col_expr(
                workspaces::Column::UpdatedAt,
                Expr::current_timestamp().into(),
            )
            .filter(workspaces::Column::Id.eq(ws.id))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// The membership `id` the caller can see, with the workspace locked.
async fn visible_member(
    txn: &DatabaseTransaction,
    u: User,
    id: i64,
) -> AppResult<(wm::Model, workspaces::Model)> {
    let find = || {
        wm::Entity::find_by_id(id)
            .filter(wm::Entity::readable(u).condition())
            .one(txn)
    };
    let row = find()
        .await?
        .ok_or(AppError::NotFound("workspace member"))?;
    let ws = lock_workspace(txn, row.workspace_id).await?;
    // Read again under the lock: another change may have committed meanwhile.
    let row = find()
        .await?
        .ok_or(AppError::NotFound("workspace member"))?;
    Ok((row, ws))
}

/// Invites a login (a username or an e-mail address) into a workspace with `role`. The
/// answer is the same whether or not the login names an account: the invitation is kept as
/// typed either way, and reaches the account only if there is one. Inviting the same login
/// again renews the open invitation. Managers invite; only owners invite owners.
pub async fn invite(
    conn: &DatabaseConnection,
    u: User,
    workspace: i64,
    login: &str,
    role: MemberRole,
) -> AppResult<wi::Model> {
    let login = BoundedText::parse("login", login, LOGIN_CHARS)?.into_string();
    let _writer = db::write_guard(conn).await;
    let txn = conn.begin().await?;
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
    let open = wi::Entity::find()
        .filter(wi::Column::WorkspaceId.eq(ws.id))
        .filter(wi::Column::ExpiresAt.gt(now))
        .filter(wi::Column::Invitee.ne(login.as_str()))
        .count(&txn)
        .await?;
    if open >= MAX_OPEN_INVITATIONS {
        return Err(AppError::bad_input(format!(
            "a workspace has at most {MAX_OPEN_INVITATIONS} open invitations; revoke one first"
        )));
    }
    let account = customers::Entity::find()
        .filter(
            Condition::any()
                .add(customers::Column::Username.eq(login.as_str()))
                .add(customers::Column::Email.eq(login.to_lowercase())),
        )
        .one(&txn)
        .await?;
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

/// The caller's open invitations, newest first (at most [`MAX_LISTED_INVITATIONS`]).
pub async fn my_invitations(
    db: &impl ConnectionTrait,
    u: User,
) -> AppResult<Vec<ReceivedInvitation>> {
    let rows = wi::Entity::find()
        .filter(open_for(u))
        .order_by_desc(wi::Column::CreatedAt)
        .order_by_desc(wi::Column::Id)
        .limit(MAX_LISTED_INVITATIONS)
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
    Ok(rows
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
        .collect())
}

/// Invitations addressed to `u` that are still open.
fn open_for(u: User) -> Condition {
    Condition::all()
        .add(wi::Column::CustomerId.eq(u.id))
        .add(wi::Column::Status.eq(InvitationState::Pending.as_db()))
        .add(wi::Column::ExpiresAt.gt(Utc::now().naive_utc()))
}

/// The invitee accepts: they become an `active` member with the invitation's role, and the
/// invitation is used up. Anyone else's invitation, a declined or expired one is NOT_FOUND;
/// someone already in the workspace (active or suspended) gets CONFLICT.
pub async fn accept(conn: &DatabaseConnection, u: User, id: i64) -> AppResult<wm::Model> {
    let _writer = db::write_guard(conn).await;
    let txn = conn.begin().await?;
    let find = || wi::Entity::find_by_id(id).filter(open_for(u)).one(&txn);
    let invitation = find().await?.ok_or(AppError::NotFound("invitation"))?;
    let ws = lock_workspace(&txn, invitation.workspace_id).await?;
    let invitation = find().await?.ok_or(AppError::NotFound("invitation"))?;
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
    let role = MemberRole::from_db(&invitation.role)?;
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
    let _writer = db::write_guard(conn).await;
    let txn = conn.begin().await?;
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

/// What `updateWorkspaceMember` may change.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemberChange {
    pub role: Option<MemberRole>,
    pub status: Option<MemberState>,
}

/// Changes a member's role or status. Managers change members; only owners grant or revoke
/// `owner` (suspending an owner revokes it too); the last active owner cannot step down or
/// be suspended (CONFLICT). `INVITED` is not a status one can set: invite instead.
pub async fn update_member(
    conn: &DatabaseConnection,
    u: User,
    id: i64,
    change: MemberChange,
) -> AppResult<wm::Model> {
    if change.status == Some(MemberState::Invited) {
        return Err(AppError::bad_input(
            "status: INVITED is not a membership status one sets; use inviteWorkspaceMember",
        ));
    }
    let _writer = db::write_guard(conn).await;
    let txn = conn.begin().await?;
    let (row, ws) = visible_member(&txn, u, id).await?;
    let caller = policy::member_role(&txn, u, ws.id).await?;
    if !u.admin && !caller.is_some_and(MemberRole::manages) {
        return Err(AppError::Forbidden);
    }
    let from = MemberRole::from_db(&row.role)?;
    let status = row
        .status
        .as_deref()
        .map(MemberState::from_db)
        .transpose()?;
    let to = change.role.unwrap_or(from);
    let touches_owner = from == MemberRole::Owner || to == MemberRole::Owner;
    if from != to || (touches_owner && change.status.is_some_and(|s| Some(s) != status)) {
        policy::authorize_membership_change(u, caller, from, to)?;
    }
    let mut active = wm::ActiveModel::from(row.clone());
    if let Some(role) = change.role {
        active.role = Set(role.as_db().into());
    }
    if let Some(new_status) = change.status {
        if new_status == MemberState::Active && row.joined_at.is_none() {
            active.joined_at = Set(Some(Utc::now().naive_utc()));
        }
        active.status = Set(Some(new_status.as_db().into()));
    }
    let updated = if active.is_changed() {
        let updated = active.update(&txn).await?;
        settle_ownership(&txn, &ws).await?;
        updated
    } else {
        row
    };
    txn.commit().await?;
    Ok(updated)
}

/// Removes a member (an owner only an owner); the last active owner stays (CONFLICT).
pub async fn remove_member(conn: &DatabaseConnection, u: User, id: i64) -> AppResult<wm::Model> {
    let _writer = db::write_guard(conn).await;
    let txn = conn.begin().await?;
    let (row, ws) = visible_member(&txn, u, id).await?;
    let caller = policy::member_role(&txn, u, ws.id).await?;
    let role = MemberRole::from_db(&row.role)?;
    policy::authorize_membership_change(u, caller, role, role)?;
    delete_membership(&txn, &row).await?;
    settle_ownership(&txn, &ws).await?;
    txn.commit().await?;
    Ok(row)
}

/// The caller leaves a workspace, whatever their role or status; the last active owner
/// cannot (CONFLICT). A workspace the caller is not in is NOT_FOUND.
pub async fn leave(conn: &DatabaseConnection, u: User, workspace: i64) -> AppResult<()> {
    let _writer = db::write_guard(conn).await;
    let txn = conn.begin().await?;
    let mine = || {
        wm::Entity::find()
            .filter(wm::Column::WorkspaceId.eq(workspace))
            .filter(wm::Column::CustomerId.eq(u.id))
            .one(&txn)
    };
    mine().await?.ok_or(AppError::NotFound("workspace"))?;
    let ws = lock_workspace(&txn, workspace).await?;
    let row = mine().await?.ok_or(AppError::NotFound("workspace"))?;
    delete_membership(&txn, &row).await?;
    settle_ownership(&txn, &ws).await?;
    txn.commit().await?;
    Ok(())
}

async fn delete_membership(txn: &DatabaseTransaction, row: &wm::Model) -> AppResult<()> {
    wm::Entity::delete_by_id(row.id).exec(txn).await?;
    add_to_member_count(txn, row.workspace_id, -1).await
}

/// Before a customer is deleted: their memberships end as if they left, so a workspace
/// others still use keeps its other members and passes to a remaining active owner. A
/// workspace where they are the last active owner while others remain refuses the delete
/// (CONFLICT naming it): hand it over or delete it first. A workspace that is theirs alone
/// goes with them.
pub async fn release_customer(txn: &DatabaseTransaction, customer: i64) -> AppResult<()> {
    let mut ids: Vec<i64> = wm::Entity::find()
        .filter(wm::Column::CustomerId.eq(customer))
        .all(txn)
        .await?
        .into_iter()
        .map(|m| m.workspace_id)
        .collect();
    ids.extend(
        workspaces::Entity::find()
            .filter(workspaces::Column::OwnerId.eq(customer))
            .all(txn)
            .await?
            .into_iter()
            .map(|w| w.id),
    );
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        let ws = lock_workspace(txn, id).await?;
        let others = wm::Entity::find()
            .filter(wm::Column::WorkspaceId.eq(id))
            .filter(wm::Column::CustomerId.ne(customer))
            .count(txn)
            .await?;
        if others == 0 {
            workspaces::Entity::delete_by_id(id).exec(txn).await?;
            continue;
        }
        let memberships = wm::Entity::find()
            .filter(wm::Column::WorkspaceId.eq(id))
            .filter(wm::Column::CustomerId.eq(customer))
            .all(txn)
            .await?;
        for row in &memberships {
            delete_membership(txn, row).await?;
        }
        settle_ownership(txn, &ws).await.map_err(|err| match err {
            AppError::Conflict(_) => AppError::Conflict(format!(
                "the customer is the last active owner of workspace '{}', which has other \
                 members: make one of them an owner, or delete the workspace, first",
                ws.name
            )),
            other => other,
        })?;
    }
    Ok(())
}
