//! The fleet's hosts: registration with an agent token (only its SHA-256 is stored, the
//! token is shown once), token rotation, and fleet-wide views that aggregate across hosts.

use entity::{gpus, hosts};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryOrder, QuerySelect, Set,
};

use crate::auth::policy::{self, Policy};
use crate::auth::tokens::{random_token, sha256_hex, AGENT_PREFIX};
use crate::auth::User;
use crate::domain::{DeploymentKind, GpuHealthState, GpuState, HostHealthState, HostState};
use crate::error::AppResult;
use crate::events::EventBus;
use crate::services::crud;

/// A new agent token and the hash that is stored of it.
fn new_agent_token() -> (String, String) {
    let token = random_token(AGENT_PREFIX);
    let hash = sha256_hex(&token);
    (token, hash)
}

/// Registers a host (the caller must be allowed to insert it) and issues its agent token:
/// the new row and the token, which is not stored and cannot be shown again.
pub async fn register_host(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    user: User,
    mut row: hosts::ActiveModel,
) -> AppResult<(hosts::Model, String)> {
    hosts::Entity::authorize_insert(user, &mut row, db).await?;
    let (token, hash) = new_agent_token();
    row.agent_token_hash = Set(Some(hash));
    let host = crud::create::<hosts::Entity>(db, bus, row).await?;
    Ok((host, token))
}

/// Replaces a host's agent token and returns the new one; the old one stops working at once
/// (the hosts' lifecycle revokes it, closing its agent's sockets).
pub async fn rotate_agent_token(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    user: User,
    host_id: String,
) -> AppResult<String> {
    let (token, hash) = new_agent_token();
    crud::update::<hosts::Entity, _>(
        db,
        bus,
        host_id,
        "host",
        policy::access::<hosts::Entity>(user),
        move |row| {
            row.agent_token_hash = Set(Some(hash));
            Ok(())
        },
    )
    .await?;
    Ok(token)
}

#[derive(Debug, FromQueryResult)]
pub struct GpuModelCount {
    pub name: Option<String>,
    pub memory_total: Option<i64>,
    pub total: i64,
    pub available: i64,
}

/// GPUs grouped by model and memory: how many exist and how many could be rented now (free
/// and healthy, on hosts placement would choose: online, healthy, Docker-run).
pub async fn gpu_availability(db: &impl ConnectionTrait) -> AppResult<Vec<GpuModelCount>> {
    let free = Expr::cust(format!(
        "SUM(CASE WHEN gpus.status = '{available}' \
         AND (gpus.health_status IS NULL OR gpus.health_status <> '{broken}') \
         AND gpus.host_id IN (SELECT id FROM hosts WHERE status = '{online}' \
         AND health_status = '{healthy}' AND deployment_mode = '{docker}') THEN 1 ELSE 0 END)",
        available = GpuState::Available.as_db(),
        broken = GpuHealthState::Error.as_db(),
        online = HostState::Online.as_db(),
        healthy = HostHealthState::Healthy.as_db(),
        docker = DeploymentKind::Traditional.as_db(),
    ));
    Ok(gpus::Entity::find()
        .select_only()
        .column(gpus::Column::Name)
        .column(gpus::Column::MemoryTotal)
        .column_as(Expr::col(gpus::Column::Id).count(), "total")
        .column_as(free, "available") // vocabulary: a column alias
        .group_by(gpus::Column::Name)
        .group_by(gpus::Column::MemoryTotal)
        .order_by_asc(gpus::Column::Name)
        .order_by_asc(gpus::Column::MemoryTotal)
        .into_model::<GpuModelCount>()
        .all(db)
        .await?)
}
