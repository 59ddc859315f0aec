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

use chrono::Utc;
use entity::{environments, workspace_invitations as wi, workspace_members as wm, workspaces};
use futures_util::future::BoxFuture;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::auth::policy::{self, Policy};
use crate::auth::User;
use crate::db;
use crate::domain::{EnvState, MemberRole, MemberState};
use crate::error::{AppError, AppResult};
use crate::events::EventBus;
use crate::services::crud::Lifecycle;
use crate::services::environments as lifecycle;

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
pub(crate) async fn lock_workspace(
    txn: &DatabaseTransaction,
    id: i64,
) -> AppResult<workspaces::Model> {
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
    bus: &dyn EventBus,
    u: User,
    id: i64,
    change: MemberChange,
) -> AppResult<wm::Model> {
    if change.status == Some(MemberState::Invited) {
        return Err(AppError::bad_input(
            "status: INVITED is not a membership status one sets; use inviteWorkspaceMember",
        ));
    }
    let txn = db::begin_write(conn).await?;
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
    let (updated, ended) = if active.is_changed() {
        let updated = active.update(&txn).await?;
        settle_ownership(&txn, &ws).await?;
        let still = (updated.status.as_deref() == Some(MemberState::Active.as_db()))
            .then(|| MemberRole::from_db(&updated.role))
            .transpose()?;
        let ended = after_membership_change(&txn, &updated, still).await?;
        (updated, ended)
    } else {
        (row, Vec::new())
    };
    txn.commit().await?;
    stop_for_leaver(conn, bus, &ended).await;
    Ok(updated)
}

/// Removes a member (an owner only an owner); the last active owner stays (CONFLICT).
pub async fn remove_member(
    conn: &DatabaseConnection,
    bus: &dyn EventBus,
    u: User,
    id: i64,
) -> AppResult<wm::Model> {
    let txn = db::begin_write(conn).await?;
    let (row, ws) = visible_member(&txn, u, id).await?;
    let caller = policy::member_role(&txn, u, ws.id).await?;
    let role = MemberRole::from_db(&row.role)?;
    policy::authorize_membership_change(u, caller, role, role)?;
    delete_membership(&txn, &row).await?;
    settle_ownership(&txn, &ws).await?;
    let ended = after_membership_change(&txn, &row, None).await?;
    txn.commit().await?;
    stop_for_leaver(conn, bus, &ended).await;
    Ok(row)
}

/// The caller leaves a workspace, whatever their role or status; the last active owner
/// cannot (CONFLICT). A workspace the caller is not in is NOT_FOUND.
pub async fn leave(
    conn: &DatabaseConnection,
    bus: &dyn EventBus,
    u: User,
    workspace: i64,
) -> AppResult<()> {
    let txn = db::begin_write(conn).await?;
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
    let ended = after_membership_change(&txn, &row, None).await?;
    txn.commit().await?;
    stop_for_leaver(conn, bus, &ended).await;
    Ok(())
}

/// What a membership change ends, in its transaction: `still` is the member's active role
/// afterwards (`None`: removed, left or suspended). The invitations they sent and may no
/// longer send are revoked; when they are no longer an active member, their environments in
/// the workspace that still run are returned, for [`stop_for_leaver`] (their access to the
/// workspace's rows ends with the membership: `auth::policy::tenant_rows`).
async fn after_membership_change(
    txn: &DatabaseTransaction,
    member: &wm::Model,
    still: Option<MemberRole>,
) -> AppResult<Vec<String>> {
    let sent = wi::Entity::find()
        .filter(wi::Column::WorkspaceId.eq(member.workspace_id))
        .filter(wi::Column::InvitedBy.eq(member.customer_id))
        .all(txn)
        .await?;
    let as_member = User {
        id: member.customer_id,
        admin: false,
    };
    for invitation in sent {
        let role = MemberRole::from_db(&invitation.role)?;
        if policy::authorize_membership_change(as_member, still, role, role).is_err() {
            wi::Entity::delete_by_id(invitation.id).exec(txn).await?;
        }
    }
    if still.is_some() {
        return Ok(Vec::new());
    }
    let live = [EnvState::Creating, EnvState::Starting, EnvState::Running];
    Ok(environments::Entity::find()
        .filter(environments::Column::WorkspaceId.eq(member.workspace_id))
        .filter(environments::Column::CustomerId.eq(member.customer_id))
        .filter(environments::Column::Status.is_in(live.map(EnvState::as_db)))
        .all(txn)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect())
}

/// Stops the environments a departed member left running in the workspace, so that nothing
/// of theirs keeps running (or billing) on the workspace's account. They stay for the
/// workspace's managers to delete or keep; `stopReason` says why.
async fn stop_for_leaver(conn: &DatabaseConnection, bus: &dyn EventBus, ids: &[String]) {
    for id in ids {
        let reason = "its creator is no longer an active member of the workspace".to_owned();
        if let Err(err) = lifecycle::stop_for_platform(conn, bus, id, reason).await {
            tracing::error!(environment = %id, error = %err, "cannot stop a departed member's environment");
        }
    }
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
