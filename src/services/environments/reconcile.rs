//! Converging with what an agent finds on its host, and a host declared lost.

use super::*;
use std::collections::{HashMap, HashSet};

use entity::environments as env;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::db;
use crate::domain::{EnvState, OrderAction};
use crate::error::AppResult;
use crate::events::{Event, EventBus};

/// A container as the agent sees it on connect.
#[derive(Debug, Clone)]
pub struct Observed {
    pub environment_id: String,
    pub running: bool,
}

/// What [`reconcile`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Containers labelled as environments this host does not have.
    pub unknown: Vec<String>,
    /// Containers the agent removes (after its grace period): the unknown ones and those
    /// of `failed` or `deleted` environments.
    pub remove: Vec<String>,
    /// Ended environments whose container is confirmed gone: their GPUs, capacity and
    /// ports are free again.
    pub released: Vec<String>,
    /// Environments whose container vanished: now `failed`.
    pub failed: Vec<String>,
    /// Environments whose container stopped by itself: ordered to start again.
    pub ordered: Vec<String>,
    /// Stopped environments whose container runs: the agent stops them.
    pub stop: Vec<String>,
}

/// Converges the server with what the agent of `host` found: an environment whose container
/// vanished fails (its reservation released); one whose container runs when it should not,
/// or stopped by itself, gets an order; the container of an unknown, failed or deleted
/// environment is for the agent to remove, and an ended environment whose container is no
/// longer found gives back what it kept. Environments with an order under way are left to
/// that order.
pub async fn reconcile(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    host: &str,
    observed: Vec<Observed>,
) -> AppResult<Reconciled> {
    let seen: HashMap<String, bool> = observed
        .into_iter()
        .map(|o| (o.environment_id, o.running))
        .collect();
    let rows = env::Entity::find()
        .filter(env::Column::HostId.eq(host))
        .all(db)
        .await?;
    let mut out = Reconciled::default();
    let known: HashSet<&str> = rows
        .iter()
        .filter(|r| r.status.as_deref() != Some(EnvState::Deleted.as_db()))
        .map(|r| r.id.as_str())
        .collect();
    out.unknown = seen
        .keys()
        .filter(|id| !known.contains(id.as_str()))
        .cloned()
        .collect();
    out.unknown.sort();
    out.remove = out.unknown.clone();
    for row in &rows {
        let state = state_of(row)?;
        let container = seen.get(&row.id).copied();
        if matches!(state, EnvState::Failed | EnvState::Deleted) {
            match container {
                // Its environment ended: the agent removes it (after its grace period).
                Some(_) if state == EnvState::Failed => out.remove.push(row.id.clone()),
                Some(_) => {}
                // Gone: what it kept is free now.
                None if row.hold_compute || row.hold_ports => {
                    let txn = db::begin_write(db).await?;
                    release_kept(&txn, row).await?;
                    txn.commit().await?;
                    out.released.push(row.id.clone());
                }
                None => {}
            }
            continue;
        }
        if container.is_none() && !matches!(state, EnvState::Running | EnvState::Stopped) {
            continue;
        }
        let txn = db::begin_write(db).await?;
        let (published, previous) = match (state, container) {
            (EnvState::Running | EnvState::Stopped, None) => {
                let reason = "the environment's container disappeared from its host".to_owned();
                let Some(updated) = settle(
                    &txn,
                    row,
                    state,
                    EnvState::Failed,
                    Some(reason),
                    Gone::Confirmed,
                )
                .await?
                else {
                    continue;
                };
                out.failed.push(row.id.clone());
                (updated, state)
            }
            (EnvState::Running, Some(false)) => {
                let Some(updated) = compare_and_set(
                    &txn,
                    row,
                    state,
                    EnvState::Starting,
                    Some(OrderAction::Start),
                    Vec::new(),
                )
                .await?
                else {
                    continue;
                };
                out.ordered.push(row.id.clone());
                (updated, state)
            }
            (EnvState::Stopped, Some(true)) => {
                // It holds no GPUs while stopped: the agent stops the container at once.
                out.stop.push(row.id.clone());
                continue;
            }
            _ => continue,
        };
        txn.commit().await?;
        if published.status.as_deref() == Some(EnvState::Failed.as_db()) {
            bus.publish(vec![Event::EnvironmentStatus(change(
                &published,
                EnvState::Failed,
                Some(previous),
            ))])
            .await;
        } else {
            publish(bus, &published, Some(previous)).await;
        }
    }
    Ok(out)
}

/// An operator declares `host` lost (its machine will not come back, so no agent will
/// confirm anything): every environment on it that has not ended fails (one being deleted
/// is deleted), and everything they held or kept is free. Returns the environments changed.
pub async fn declare_host_lost(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    host: &str,
) -> AppResult<Vec<String>> {
    let rows = env::Entity::find()
        .filter(env::Column::HostId.eq(host))
        .all(db)
        .await?;
    let mut changed = Vec::new();
    for row in rows {
        let state = state_of(&row)?;
        let txn = db::begin_write(db).await?;
        let event = match state {
            EnvState::Deleted | EnvState::Failed => {
                if !(row.hold_compute || row.hold_ports) {
                    continue;
                }
                release_kept(&txn, &row).await?;
                None
            }
            _ => {
                let (to, reason) = if state == EnvState::Deleting {
                    (EnvState::Deleted, None)
                } else {
                    let why = "its host was declared lost by an operator".to_owned();
                    (EnvState::Failed, Some(why))
                };
                let Some(updated) = settle(&txn, &row, state, to, reason, Gone::Confirmed).await?
                else {
                    continue;
                };
                Some(change(&updated, to, Some(state)))
            }
        };
        txn.commit().await?;
        if let Some(event) = event {
            bus.publish(vec![Event::EnvironmentStatus(event)]).await;
        }
        changed.push(row.id);
    }
    Ok(changed)
}
