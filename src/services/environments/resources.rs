//! What an environment holds on its host: cpu and memory (relative `UPDATE`s on the host),
//! GPUs (compare-and-set per GPU) and external ports, taken and given back; and what an
//! ended environment keeps until its container is confirmed gone.

use super::*;
use std::collections::HashSet;

use chrono::NaiveDateTime;
use entity::{environments as env, gpus, hosts, port_mappings};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::db;
use crate::domain::{EnvState, GpuState, HostState, PortState, ServiceKind};
use crate::error::{AppError, AppResult};
use crate::services::platform::EnvironmentSettings;

pub(super) fn coalesce0(col: hosts::Column) -> sea_orm::sea_query::SimpleExpr {
    Func::coalesce([Expr::col(col).into(), Expr::val(0).into()]).into()
}

/// Adds to the host's `used_*` if it still has room and is online; false when another
/// placement took the room first. On PostgreSQL the `UPDATE` locks the host row until
/// commit, so placements on one host are decided one after another.
pub(super) async fn reserve_capacity(
    txn: &DatabaseTransaction,
    host: &str,
    cpu: i32,
    memory: i64,
    gpus: i32,
) -> AppResult<bool> {
    let done = hosts::Entity::update_many()
        .col_expr(
            hosts::Column::UsedCpu,
            coalesce0(hosts::Column::UsedCpu).add(cpu),
        )
        .col_expr(
            hosts::Column::UsedMemory,
            coalesce0(hosts::Column::UsedMemory).add(memory),
        )
        .col_expr(
            hosts::Column::UsedGpu,
            coalesce0(hosts::Column::UsedGpu).add(gpus),
        )
        .filter(hosts::Column::Id.eq(host))
        .filter(hosts::Column::Status.eq(HostState::Online.as_db()))
        .filter(
            Expr::expr(Expr::col(hosts::Column::TotalCpu).sub(coalesce0(hosts::Column::UsedCpu)))
                .gte(cpu),
        )
        .filter(
            Expr::expr(
                Expr::col(hosts::Column::TotalMemory).sub(coalesce0(hosts::Column::UsedMemory)),
            )
            .gte(memory),
        )
        .exec(txn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Gives back what [`reserve_capacity`] took, as one relative `UPDATE` (concurrent
/// placements on the host see it or wait for it, never a stale total).
pub(super) async fn release_capacity(
    txn: &impl ConnectionTrait,
    host: &str,
    cpu: i32,
    memory: i64,
    gpus: i32,
) -> AppResult<()> {
    hosts::Entity::update_many()
        .col_expr(
            hosts::Column::UsedCpu,
            coalesce0(hosts::Column::UsedCpu).sub(cpu),
        )
        .col_expr(
            hosts::Column::UsedMemory,
            coalesce0(hosts::Column::UsedMemory).sub(memory),
        )
        .col_expr(
            hosts::Column::UsedGpu,
            coalesce0(hosts::Column::UsedGpu).sub(gpus),
        )
        .filter(hosts::Column::Id.eq(host))
        .exec(txn)
        .await?;
    Ok(())
}

/// Takes `count` free GPUs of `host` (of `model`, if given) for `env_id`, the `preferred`
/// uuids first; `None` when fewer than `count` could be taken (a lost race).
pub(super) async fn reserve_gpus(
    txn: &DatabaseTransaction,
    host: &str,
    env_id: &str,
    count: i32,
    model: Option<&str>,
    preferred: &[String],
) -> AppResult<Option<Vec<String>>> {
    if count == 0 {
        return Ok(Some(Vec::new()));
    }
    let mut query = gpus::Entity::find()
        .filter(gpus::Column::HostId.eq(host))
        .filter(gpus::Column::Status.eq(GpuState::Available.as_db()))
        .order_by_asc(gpus::Column::GpuIndex);
    if let Some(model) = model {
        query = query.filter(gpus::Column::Name.eq(model));
    }
    let mut free: Vec<gpus::Model> = query
        .all(txn)
        .await?
        .into_iter()
        .filter(usable_gpu)
        .collect();
    free.sort_by_key(|g| !g.uuid.as_ref().is_some_and(|u| preferred.contains(u)));
    let mut taken = Vec::new();
    let at = now();
    for g in free {
        if taken.len() == count as usize {
            break;
        }
        let done = gpus::Entity::update_many()
            .col_expr(
                gpus::Column::Status,
                Expr::value(GpuState::Allocated.as_db()),
            )
            .col_expr(gpus::Column::AllocatedTo, Expr::value(env_id))
            .col_expr(gpus::Column::AllocatedAt, Expr::value(at))
            .filter(gpus::Column::Id.eq(g.id))
            .filter(gpus::Column::Status.eq(GpuState::Available.as_db()))
            .exec(txn)
            .await?;
        if done.rows_affected == 1 {
            taken.push(g.uuid.unwrap_or_default());
        }
    }
    Ok((taken.len() == count as usize).then_some(taken))
}

/// Frees the GPUs allocated to `env_id`; returns how many.
pub(super) async fn release_gpus(txn: &impl ConnectionTrait, env_id: &str) -> AppResult<i32> {
    let done = gpus::Entity::update_many()
        .col_expr(
            gpus::Column::Status,
            Expr::value(GpuState::Available.as_db()),
        )
        .col_expr(
            gpus::Column::AllocatedTo,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            gpus::Column::AllocatedAt,
            Expr::value(Option::<NaiveDateTime>::None),
        )
        .filter(gpus::Column::AllocatedTo.eq(env_id))
        .filter(gpus::Column::Status.eq(GpuState::Allocated.as_db()))
        .exec(txn)
        .await?;
    Ok(i32::try_from(done.rows_affected).unwrap_or(i32::MAX))
}

/// An external port for `service` from its range, picked at random among the free ones so
/// concurrent placements rarely collide; a collision is a unique violation, and the attempt
/// is retried. A released mapping of the chosen port is removed first (the port is unique).
pub(super) async fn allocate_port(
    txn: &DatabaseTransaction,
    settings: &EnvironmentSettings,
    env_id: &str,
    service: ServiceKind,
) -> Result<i32, Attempt> {
    let (start, end) = settings.port_range(service);
    let taken: HashSet<i32> = port_mappings::Entity::find()
        .filter(port_mappings::Column::ExternalPort.between(start, end))
        .filter(port_mappings::Column::Status.eq(PortState::Active.as_db()))
        .all(txn)
        .await?
        .into_iter()
        .map(|p| p.external_port)
        .collect();
    let free: Vec<i32> = (start..=end).filter(|p| !taken.contains(p)).collect();
    if free.is_empty() {
        return Err(AppError::CapacityExhausted(format!(
            "ports: the {} range {start}-{end} is full",
            service.as_db()
        ))
        .into());
    }
    let pick = free[(uuid::Uuid::new_v4().as_u128() % free.len() as u128) as usize];
    port_mappings::Entity::delete_many()
        .filter(port_mappings::Column::ExternalPort.eq(pick))
        .filter(port_mappings::Column::Status.eq(PortState::Released.as_db()))
        .exec(txn)
        .await?;
    let inserted = port_mappings::ActiveModel {
        env_id: Set(env_id.to_owned()),
        service_type: Set(service.as_db().into()),
        external_port: Set(pick),
        internal_port: Set(service.internal_port()),
        status: Set(Some(PortState::Active.as_db().into())),
        allocated_at: Set(Some(now())),
        ..Default::default()
    }
    .insert(txn)
    .await;
    match inserted {
        Ok(_) => Ok(pick),
        Err(err) if db::violation(&err) == Some(db::Violation::Unique) => Err(Attempt::Retry),
        Err(err) => Err(err.into()),
    }
}

pub(super) async fn release_ports(txn: &impl ConnectionTrait, env_id: &str) -> AppResult<()> {
    port_mappings::Entity::update_many()
        .col_expr(
            port_mappings::Column::Status,
            Expr::value(PortState::Released.as_db()),
        )
        .filter(port_mappings::Column::EnvId.eq(env_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Gives back the GPUs and host capacity of an environment that held them.
pub(super) async fn release_compute(txn: &impl ConnectionTrait, row: &env::Model) -> AppResult<()> {
    let freed = release_gpus(txn, &row.id).await?;
    release_capacity(txn, &row.host_id, row.cpu, row.memory, freed).await
}

/// What the environment holds in `state`: (GPUs and host capacity, external ports),
/// by its state or by the hold flags of an environment that ended with its container
/// unconfirmed.
pub(super) fn holding(row: &env::Model, state: EnvState) -> (bool, bool) {
    (
        state.holds_compute() || row.hold_compute,
        state.holds_ports() || row.hold_ports,
    )
}

/// Gives back what `held` says the environment still holds.
pub(super) async fn release_held(
    txn: &impl ConnectionTrait,
    row: &env::Model,
    (compute, ports): (bool, bool),
) -> AppResult<()> {
    if compute {
        release_compute(txn, row).await?;
    }
    if ports {
        release_ports(txn, &row.id).await?;
    }
    Ok(())
}

/// Frees what an ended environment kept for a container that is now confirmed gone.
pub(super) async fn release_kept(txn: &impl ConnectionTrait, row: &env::Model) -> AppResult<()> {
    release_held(txn, row, (row.hold_compute, row.hold_ports)).await?;
    env::Entity::update_many()
        .col_expr(env::Column::HoldCompute, Expr::value(false))
        .col_expr(env::Column::HoldPorts, Expr::value(false))
        .col_expr(env::Column::UpdatedAt, Expr::value(now()))
        .filter(env::Column::Id.eq(row.id.as_str()))
        .exec(txn)
        .await?;
    Ok(())
}
