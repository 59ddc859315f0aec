//! Host liveness: heartbeats bring a host online, the offline job takes it offline when they
//! stop. Each transition is one conditional `UPDATE` (compare-and-set on the status it read),
//! so however many replicas and jobs race, a transition happens, and is published as a
//! `hostStatus` event, exactly once.
//!
//! `maintenance` is an operator's decision: heartbeats keep such a host in maintenance (they
//! still record `last_heartbeat`), and the offline job leaves it alone. A status an operator
//! sets with `updateHost` is published the same way (the hosts' [`Lifecycle`]).

use chrono::{DateTime, Duration, Utc};
use entity::hosts;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::db;
use crate::domain::{HostHealthState, HostState};
use crate::error::{AppError, AppResult};
use crate::events::{Event, EventBus, HostStatusChange, Revocation};
use crate::services::crud::Lifecycle;

const ONLINE: &str = HostState::Online.as_db();
const OFFLINE: &str = HostState::Offline.as_db();

/// A stored host status as the vocabulary's word; an unknown spelling (none is written) is
/// logged and read as no status.
fn state(raw: Option<&str>) -> Option<HostState> {
    let raw = raw?;
    HostState::from_db(raw)
        .map_err(|err| tracing::error!(error = %err, "a host row holds an unknown status"))
        .ok()
}

/// `status` is exactly `value` (NULL included).
fn status_is(value: Option<&str>) -> Condition {
    match value {
        Some(v) => Condition::all().add(hosts::Column::Status.eq(v)),
        None => Condition::all().add(hosts::Column::Status.is_null()),
    }
}

impl Lifecycle for hosts::Entity {
    /// A host deleted or given a new agent token: the old token is revoked (its agent's
    /// sockets close). A status an operator sets (`updateHost`) is published like the
    /// agent's.
    fn events(before: Option<&hosts::Model>, after: Option<&hosts::Model>) -> Vec<Event> {
        let mut events = Vec::new();
        match (before, after) {
            (Some(b), None) => events.push(Revocation::agent(&b.id)),
            (Some(b), Some(a)) => {
                if b.agent_token_hash != a.agent_token_hash {
                    events.push(Revocation::agent(&b.id));
                }
                let status = state(a.status.as_deref());
                if let (Some(status), true) = (status, b.status != a.status) {
                    events.push(Event::HostStatus(HostStatusChange {
                        host_id: a.id.clone(),
                        status,
                        previous_status: state(b.status.as_deref()),
                        at: chrono::Utc::now(),
                    }));
                }
            }
            _ => {}
        }
        events
    }
}

/// Runs one operation of `host_id`'s agent and, when it succeeds, records it as the host's
/// heartbeat at `now` (see [`heartbeat`]): every agent call is a heartbeat, and every agent
/// operation that reports goes through here.
pub async fn agent_call<T>(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    host_id: &str,
    now: DateTime<Utc>,
    operation: impl std::future::Future<Output = AppResult<T>>,
) -> AppResult<T> {
    let out = operation.await?;
    heartbeat(db, bus, host_id, now).await?;
    Ok(out)
}

/// Records a heartbeat of `host_id` at `now`: `last_heartbeat`, `health_status = healthy`,
/// and `status = online` unless an operator put the host in maintenance. A host that was not
/// online publishes one `hostStatus` event.
async fn heartbeat(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    host_id: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let change = {
        let _writer = db::write_guard(db).await;
        let mut attempts = 0;
        loop {
            let host = hosts::Entity::find_by_id(host_id)
                .one(db)
                .await?
                .ok_or(AppError::NotFound("host"))?;
            let previous = host.status;
            let next = if previous.as_deref() == Some(HostState::Maintenance.as_db()) {
                HostState::Maintenance
            } else {
                HostState::Online
            };
            let updated = hosts::Entity::update_many()
                .col_expr(hosts::Column::LastHeartbeat, Expr::value(now.naive_utc()))
                .col_expr(
                    hosts::Column::HealthStatus,
                    Expr::value(HostHealthState::Healthy.as_db()),
                )
                .col_expr(hosts::Column::Status, Expr::value(next.as_db()))
                .filter(hosts::Column::Id.eq(host_id))
                .filter(status_is(previous.as_deref()))
                .exec(db)
                .await?;
            if updated.rows_affected == 1 {
                break (previous.as_deref() != Some(next.as_db())).then(|| HostStatusChange {
                    host_id: host_id.to_owned(),
                    status: next,
                    previous_status: state(previous.as_deref()),
                    at: now,
                });
            }
            // Someone changed the status between our read and our write: read again.
            attempts += 1;
            if attempts >= 5 {
                return Err(AppError::internal(
                    "host status keeps changing under the heartbeat",
                ));
            }
        }
    };
    if let Some(change) = change {
        bus.publish(vec![Event::HostStatus(change)]).await;
    }
    Ok(())
}

/// Hosts whose heartbeat is older than `cutoff` (or that never sent one and were last changed
/// before it).
fn stale(cutoff: chrono::NaiveDateTime) -> Condition {
    Condition::any()
        .add(hosts::Column::LastHeartbeat.lt(cutoff))
        .add(
            Condition::all()
                .add(hosts::Column::LastHeartbeat.is_null())
                .add(
                    Condition::any()
                        .add(hosts::Column::UpdatedAt.lt(cutoff))
                        .add(hosts::Column::UpdatedAt.is_null()),
                ),
        )
}

/// Marks `online` hosts without a heartbeat for `grace` as `offline` (health `unknown`), one
/// `hostStatus` event each; returns how many. Running it again, or on several replicas at
/// once, marks nobody twice.
pub async fn mark_offline(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    grace: Duration,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let cutoff = (now - grace).naive_utc();
    let candidates = hosts::Entity::find()
        .filter(hosts::Column::Status.eq(ONLINE))
        .filter(stale(cutoff))
        .all(db)
        .await?;
    let mut changes = Vec::new();
    for host in candidates {
        let _writer = db::write_guard(db).await;
        let updated = hosts::Entity::update_many()
            .col_expr(hosts::Column::Status, Expr::value(OFFLINE))
            .col_expr(
                hosts::Column::HealthStatus,
                Expr::value(HostHealthState::Unknown.as_db()),
            )
            .filter(hosts::Column::Id.eq(host.id.as_str()))
            .filter(hosts::Column::Status.eq(ONLINE))
            .filter(stale(cutoff))
            .exec(db)
            .await?;
        if updated.rows_affected == 1 {
            tracing::info!(host = %host.id, "host offline: no heartbeat");
            changes.push(Event::HostStatus(HostStatusChange {
                host_id: host.id,
                status: HostState::Offline,
                previous_status: Some(HostState::Online),
                at: now,
            }));
        }
    }
    let marked = changes.len();
    bus.publish(changes).await;
    Ok(marked)
}
