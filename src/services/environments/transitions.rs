//! The state machine: customers' requests (stop, start, restart, delete), the agent's
//! reports, the order timeout, each a compare-and-set on `status` that releases what the new
//! state no longer holds and publishes the change.

use super::*;

use chrono::{NaiveDateTime, Utc};
use entity::{dataset_usage, environments as env, hosts};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter,
};

use crate::auth::policy::Policy;
use crate::auth::User;
use crate::db;
use crate::domain::{EnvState, HostState, OrderAction};
use crate::error::{AppError, AppResult};
use crate::events::{EnvironmentOrderRef, EnvironmentStatusChange, Event, EventBus};
use crate::services::platform::{self};
use crate::services::{metering, storage};

/// The environment `id` as `user` may change it: NOT_FOUND when they cannot see it (or it
/// does not exist), FORBIDDEN when they may only read it (a workspace viewer).
pub(super) async fn writable(
    db: &impl ConnectionTrait,
    user: User,
    id: &str,
) -> AppResult<env::Model> {
    if let Some(row) = env::Entity::find_by_id(id)
        .filter(env::Entity::writable(user).condition())
        .one(db)
        .await?
    {
        return Ok(row);
    }
    let readable = env::Entity::find_by_id(id)
        .filter(env::Entity::readable(user).condition())
        .count(db)
        .await?;
    Err(if readable > 0 {
        AppError::Forbidden
    } else {
        AppError::NotFound("environment")
    })
}

/// Applies `what` to the environment. A request that is already under way or done (stop
/// of a stopped one, delete of a deleting one) returns the row unchanged.
pub async fn request(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    user: User,
    id: &str,
    what: Request,
) -> AppResult<env::Model> {
    transition(db, bus, Some(user), id, what, None).await
}

/// The platform stops an environment (its account reached its spend limit, or it sat
/// idle), recording `reason` as its `stop_reason`.
pub async fn stop_for_platform(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    id: &str,
    reason: String,
) -> AppResult<env::Model> {
    transition(db, bus, None, id, Request::Stop, Some(reason)).await
}

/// A request by `user`, or by the platform when `None`.
pub(super) async fn transition(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    user: Option<User>,
    id: &str,
    what: Request,
    stop_reason: Option<String>,
) -> AppResult<env::Model> {
    for _ in 0..MAX_ATTEMPTS {
        let txn = db::begin_write(db).await?;
        let row = match user {
            Some(user) => writable(&txn, user, id).await?,
            None => env::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or(AppError::NotFound("environment"))?,
        };
        let current = state_of(&row)?;
        let next = match plan(current, what)? {
            Plan::Nothing => return Ok(row),
            Plan::Move(state, action) => (state, action),
        };
        if what == Request::Start || (what == Request::Restart && current == EnvState::Stopped) {
            match reserve_again(&txn, &row).await {
                Ok(()) => {}
                Err(Attempt::Retry) => continue,
                Err(Attempt::Fail(e)) => return Err(e),
            }
        }
        // A stop says why when the platform stopped it; any other move clears the reason.
        let reason = match what {
            Request::Stop => stop_reason.clone(),
            _ => None,
        };
        let mut extra = vec![(env::Column::StopReason, Expr::value(reason))];
        if next.0 == EnvState::Deleting {
            // The container may run until the agent removes it: its GPUs and capacity stay
            // reserved until the agent reports it deleted (ports are held by the state).
            let (compute, _) = holding(&row, current);
            extra.push((env::Column::HoldCompute, Expr::value(compute)));
        }
        let Some(updated) =
            compare_and_set(&txn, &row, current, next.0, Some(next.1), extra).await?
        else {
            continue;
        };
        txn.commit().await?;
        publish(bus, &updated, Some(current)).await;
        return Ok(updated);
    }
    Err(AppError::Conflict(
        "the environment is changing; try again".into(),
    ))
}

pub(super) enum Plan {
    Nothing,
    Move(EnvState, OrderAction),
}

pub(super) fn plan(current: EnvState, what: Request) -> AppResult<Plan> {
    use EnvState as S;
    let conflict = |msg: &str| {
        Err(AppError::Conflict(format!(
            "{msg} (it is {})",
            current.as_db()
        )))
    };
    Ok(match (what, current) {
        (Request::Stop, S::Stopping | S::Stopped) => Plan::Nothing,
        (Request::Stop, S::Creating | S::Starting | S::Running) => {
            Plan::Move(S::Stopping, OrderAction::Stop)
        }
        (Request::Start, S::Starting | S::Running | S::Creating) => Plan::Nothing,
        (Request::Start | Request::Restart, S::Stopped) => {
            Plan::Move(S::Starting, OrderAction::Start)
        }
        (Request::Restart, S::Starting | S::Creating) => Plan::Nothing,
        (Request::Restart, S::Running) => Plan::Move(S::Starting, OrderAction::Restart),
        (Request::Delete, S::Deleting | S::Deleted) => Plan::Nothing,
        (Request::Delete, _) => Plan::Move(S::Deleting, OrderAction::Delete),
        (Request::Stop, _) => return conflict("only a live environment can be stopped"),
        (Request::Start | Request::Restart, S::Stopping) => {
            return conflict("wait until the environment has stopped")
        }
        (Request::Start | Request::Restart, _) => {
            return conflict("a failed or deleted environment cannot be started; delete it")
        }
    })
}

/// A stopped environment's GPUs and capacity, reserved again on its own host: its container
/// and disk live there, and the container was created with its GPUs (Docker fixes a
/// container's devices at creation), so it gets exactly those GPUs back or the start is
/// CAPACITY_EXHAUSTED. An environment that never held GPUs takes any free ones.
pub(super) async fn reserve_again(
    txn: &DatabaseTransaction,
    row: &env::Model,
) -> Result<(), Attempt> {
    let settings = platform::environment_settings(txn).await?;
    let gpus = row.gpu.unwrap_or(0);
    check_quota(txn, &settings, row.customer_id, row.workspace_id, 0, gpus).await?;
    let host = hosts::Entity::find_by_id(row.host_id.as_str())
        .one(txn)
        .await?
        .ok_or(AppError::NotFound("host"))?;
    if host.status.as_deref() != Some(HostState::Online.as_db()) {
        return Err(AppError::CapacityExhausted(
            "host: the environment's host is not online".into(),
        )
        .into());
    }
    if !reserve_capacity(txn, &row.host_id, row.cpu, row.memory, gpus).await? {
        return Err(AppError::CapacityExhausted(
            "cpu/memory: the environment's host has no room for it now".into(),
        )
        .into());
    }
    let previous = held_gpus(row);
    let taken = reserve_gpus(
        txn,
        &row.host_id,
        &row.id,
        gpus,
        row.gpu_model.as_deref(),
        &previous,
    )
    .await?;
    let same = |t: &Vec<String>| {
        previous.is_empty() || {
            let (mut a, mut b) = (t.clone(), previous.clone());
            a.sort();
            b.sort();
            a == b
        }
    };
    let Some(taken) = taken.filter(same) else {
        return Err(AppError::CapacityExhausted(format!(
            "GPUs: the {gpus} GPUs this environment's container was created with are in use; \
             start it later, or create a new environment"
        ))
        .into());
    };
    env::Entity::update_many()
        .col_expr(env::Column::GpuUuids, Expr::value(serde_json::json!(taken)))
        .filter(env::Column::Id.eq(row.id.as_str()))
        .exec(txn)
        .await?;
    Ok(())
}

/// Moves `row` from `from` to `to` if nobody moved it meanwhile; an `order` bumps the
/// generation. `None` when the row was not in `from` any more.
pub(super) async fn compare_and_set(
    txn: &impl ConnectionTrait,
    row: &env::Model,
    from: EnvState,
    to: EnvState,
    order: Option<OrderAction>,
    extra: Vec<(env::Column, sea_orm::sea_query::SimpleExpr)>,
) -> AppResult<Option<env::Model>> {
    let at = now();
    let mut update = env::Entity::update_many()
        .col_expr(env::Column::Status, Expr::value(to.as_db()))
        .col_expr(env::Column::UpdatedAt, Expr::value(at))
        .filter(env::Column::Id.eq(row.id.as_str()))
        .filter(status_is(from));
    if let Some(action) = order {
        update = update
            .col_expr(
                env::Column::Generation,
                Expr::col(env::Column::Generation).add(1),
            )
            .col_expr(env::Column::LastOrder, Expr::value(action.as_db()));
    }
    for (column, value) in extra {
        update = update.col_expr(column, value);
    }
    if update.exec(txn).await?.rows_affected != 1 {
        return Ok(None);
    }
    let updated = env::Entity::find_by_id(row.id.as_str()).one(txn).await?;
    // Billing meters the time spent `running`: a run opens on entering it, closes on leaving.
    if let Some(updated) = &updated {
        if to == EnvState::Running && from != EnvState::Running {
            metering::open_run(txn, updated, &held_gpus(updated), at).await?;
        } else if from == EnvState::Running && to != EnvState::Running {
            metering::close_run(txn, &row.id, at).await?;
        }
    }
    Ok(updated)
}

pub(super) fn status_is(state: EnvState) -> sea_orm::sea_query::SimpleExpr {
    if state == EnvState::Creating {
        // NULL is the seed's default, `creating`.
        env::Column::Status
            .eq(state.as_db())
            .or(env::Column::Status.is_null())
    } else {
        env::Column::Status.eq(state.as_db())
    }
}

/// What an agent may report: where an order ends, or a failure.
pub(super) fn reportable(from: EnvState, to: EnvState) -> bool {
    use EnvState as S;
    match to {
        S::Running => matches!(from, S::Creating | S::Starting),
        S::Stopped => matches!(from, S::Stopping | S::Running),
        S::Deleted => from == S::Deleting,
        S::Failed => matches!(from, S::Creating | S::Starting | S::Running | S::Stopping),
        _ => false,
    }
}

/// The agent of `host` reports an environment's state. A report that does not follow from
/// the current state (a stale or repeated one) changes nothing and publishes nothing.
pub async fn report_status(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    host: &str,
    id: &str,
    reported: EnvState,
    reason: Option<String>,
    measured: Vec<storage::Measurement>,
) -> AppResult<EnvironmentStatusChange> {
    if !matches!(
        reported,
        EnvState::Running | EnvState::Stopped | EnvState::Deleted | EnvState::Failed
    ) {
        return Err(AppError::bad_input(
            "status: an agent reports RUNNING, STOPPED, DELETED or FAILED",
        ));
    }
    let txn = db::begin_write(db).await?;
    let row = env::Entity::find_by_id(id)
        .filter(env::Column::HostId.eq(host))
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("environment"))?;
    let current = state_of(&row)?;
    if !reportable(current, reported) {
        return Ok(change(&row, current, Some(current)));
    }
    // The agent reports DELETED once it removed the container: that is the confirmation
    // that frees what the environment still held.
    let gone = if reported == EnvState::Deleted {
        Gone::Confirmed
    } else {
        Gone::Unknown
    };
    let Some(updated) = settle(&txn, &row, current, reported, reason, gone).await? else {
        return Ok(change(&row, current, Some(current)));
    };
    if reported == EnvState::Deleted {
        storage::record_measurements(&txn, &row.id, &measured).await?;
    }
    txn.commit().await?;
    let event = change(&updated, reported, Some(current));
    bus.publish(vec![Event::EnvironmentStatus(event.clone())])
        .await;
    Ok(event)
}

/// Whether the environment's container is known to be gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gone {
    /// The agent removed it, or found it missing.
    Confirmed,
    /// It may still exist (an order timed out, an order failed): what it held stays
    /// reserved until a reconcile no longer finds it.
    Unknown,
}

/// Moves `row` to the reported state and releases what that state no longer holds. An
/// environment that ends (`failed`, `deleted`) while its container may still exist keeps
/// its GPUs, capacity and ports reserved (the hold flags) until it is confirmed gone.
pub(super) async fn settle(
    txn: &DatabaseTransaction,
    row: &env::Model,
    from: EnvState,
    to: EnvState,
    reason: Option<String>,
    gone: Gone,
) -> AppResult<Option<env::Model>> {
    let at = now();
    let (compute, ports) = holding(row, from);
    let ended = matches!(to, EnvState::Failed | EnvState::Deleted);
    let keep = ended && gone == Gone::Unknown;
    let mut extra = match to {
        EnvState::Running => vec![
            (env::Column::StartedAt, Expr::value(at)),
            (
                env::Column::FailureReason,
                Expr::value(Option::<String>::None),
            ),
        ],
        EnvState::Stopped => vec![(env::Column::StoppedAt, Expr::value(at))],
        EnvState::Failed => vec![
            (env::Column::StoppedAt, Expr::value(at)),
            (env::Column::FailureReason, Expr::value(reason)),
        ],
        _ => Vec::new(),
    };
    extra.push((
        env::Column::HoldCompute,
        Expr::value(keep && compute && !to.holds_compute()),
    ));
    extra.push((
        env::Column::HoldPorts,
        Expr::value(keep && ports && !to.holds_ports()),
    ));
    let updated = compare_and_set(txn, row, from, to, None, extra).await?;
    let Some(updated) = updated else {
        return Ok(None);
    };
    if !keep {
        release_held(
            txn,
            row,
            (compute && !to.holds_compute(), ports && !to.holds_ports()),
        )
        .await?;
    }
    if to == EnvState::Deleted {
        dataset_usage::Entity::update_many()
            .col_expr(dataset_usage::Column::UnmountedAt, Expr::value(at))
            .filter(dataset_usage::Column::EnvId.eq(row.id.as_str()))
            .filter(dataset_usage::Column::UnmountedAt.is_null())
            .exec(txn)
            .await?;
    }
    Ok(Some(updated))
}

pub(super) fn change(
    row: &env::Model,
    status: EnvState,
    previous: Option<EnvState>,
) -> EnvironmentStatusChange {
    EnvironmentStatusChange {
        environment_id: row.id.clone(),
        host_id: row.host_id.clone(),
        status,
        previous_status: previous,
        reason: row.failure_reason.clone(),
        at: Utc::now(),
    }
}

/// Publishes a status change and the order of the row's new generation.
pub(super) async fn publish(bus: &dyn EventBus, row: &env::Model, previous: Option<EnvState>) {
    let Ok(state) = state_of(row) else { return };
    bus.publish(vec![
        Event::EnvironmentStatus(change(row, state, previous)),
        Event::EnvironmentOrder(EnvironmentOrderRef {
            host_id: row.host_id.clone(),
            environment_id: row.id.clone(),
            generation: row.generation,
        }),
    ])
    .await;
}

/// The lifecycle-timeout job's work: environments whose order has waited longer than
/// `timeout` (since their last change) end `failed` — a delete ends `deleted` — with what
/// they held released, each by compare-and-set (an agent report may win the race). Returns
/// the changes, published.
pub async fn expire(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    now: NaiveDateTime,
    timeout: chrono::Duration,
) -> AppResult<Vec<EnvironmentStatusChange>> {
    let cutoff = now - timeout;
    let stale = env::Entity::find()
        .filter(env::Column::Status.is_in(IN_FLIGHT.map(EnvState::as_db)))
        .all(db)
        .await?
        .into_iter()
        .filter(|r| r.updated_at.or(r.created_at).is_some_and(|t| t < cutoff));
    let mut changes = Vec::new();
    for row in stale {
        let from = state_of(&row)?;
        let (to, reason) = if from == EnvState::Deleting {
            (EnvState::Deleted, None)
        } else {
            let why = format!(
                "the host's agent did not carry out the {} order within {} s",
                row.last_order.as_deref().unwrap_or("create"),
                timeout.num_seconds()
            );
            (EnvState::Failed, Some(why))
        };
        let txn = db::begin_write(db).await?;
        let Some(updated) = settle(&txn, &row, from, to, reason, Gone::Unknown).await? else {
            continue;
        };
        txn.commit().await?;
        let event = change(&updated, to, Some(from));
        bus.publish(vec![Event::EnvironmentStatus(event.clone())])
            .await;
        changes.push(event);
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_plans() {
        use EnvState as S;
        let moved = |from, what| match plan(from, what) {
            Ok(Plan::Move(to, action)) => Some((to, action)),
            Ok(Plan::Nothing) => None,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            moved(S::Running, Request::Stop),
            Some((S::Stopping, OrderAction::Stop))
        );
        assert_eq!(moved(S::Stopped, Request::Stop), None, "idempotent");
        assert_eq!(
            moved(S::Stopped, Request::Start),
            Some((S::Starting, OrderAction::Start))
        );
        assert_eq!(
            moved(S::Running, Request::Restart),
            Some((S::Starting, OrderAction::Restart))
        );
        assert_eq!(
            moved(S::Failed, Request::Delete),
            Some((S::Deleting, OrderAction::Delete))
        );
        assert_eq!(moved(S::Deleting, Request::Delete), None);
        assert!(plan(S::Failed, Request::Start).is_err());
        assert!(plan(S::Deleted, Request::Stop).is_err());
        assert!(plan(S::Stopping, Request::Start).is_err());
    }

    #[test]
    fn agents_report_only_where_an_order_ends() {
        use EnvState as S;
        assert!(reportable(S::Creating, S::Running));
        assert!(reportable(S::Stopping, S::Stopped));
        assert!(reportable(S::Running, S::Stopped), "exited by itself");
        assert!(reportable(S::Deleting, S::Deleted));
        assert!(reportable(S::Starting, S::Failed));
        assert!(!reportable(S::Stopping, S::Running), "stale report");
        assert!(!reportable(S::Deleted, S::Running));
        assert!(!reportable(S::Running, S::Running), "repeated report");
    }
}
