//! Orders for the agent: what an environment's container must be, loaded from its row.

use super::*;

use entity::{dataset_usage, dataset_versions, datasets, environments as env, port_mappings};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::domain::{
    EnvState, MountMode, OrderAction, PortState, ServiceKind, StorageKey, Tenant, UploadState,
};
use crate::error::AppResult;

/// One order for the agent, complete: what the container must be.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub environment_id: String,
    pub generation: i64,
    pub action: OrderAction,
    pub image: String,
    pub cpu: i32,
    pub memory: i64,
    pub gpu_uuids: Vec<String>,
    /// (service, internal port, external port)
    pub ports: Vec<(ServiceKind, i32, i32)>,
    pub env_vars: Vec<(String, String)>,
    pub mounts: Vec<OrderMount>,
    /// The tenant's Docker network on the host (`rgpu-c<id>` / `rgpu-w<id>`).
    pub network: String,
    /// Bytes of `/dev/shm`.
    pub shm_size: i64,
}

/// A mount in an order: a storage key the agent resolves beneath its storage root (never a
/// host path), where it goes in the container, and whether it is read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderMount {
    pub key: String,
    pub target: String,
    pub read_only: bool,
}

/// The order an environment's row stands for now; `None` when it has none under way.
pub async fn order_for(db: &impl ConnectionTrait, row: &env::Model) -> AppResult<Option<Order>> {
    let state = state_of(row)?;
    if !state.is_transitional() {
        return Ok(None);
    }
    let action = match row.last_order.as_deref() {
        Some(raw) => OrderAction::from_db(raw)?,
        None => OrderAction::Create,
    };
    let ports = port_mappings::Entity::find()
        .filter(port_mappings::Column::EnvId.eq(row.id.as_str()))
        .filter(port_mappings::Column::Status.eq(PortState::Active.as_db()))
        .order_by_asc(port_mappings::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|p| {
            let service = ServiceKind::from_db(&p.service_type)?;
            Ok((service, p.internal_port, p.external_port))
        })
        .collect::<AppResult<Vec<_>>>()?;
    let usage = dataset_usage::Entity::find()
        .filter(dataset_usage::Column::EnvId.eq(row.id.as_str()))
        .filter(dataset_usage::Column::UnmountedAt.is_null())
        .order_by_asc(dataset_usage::Column::Id)
        .all(db)
        .await?;
    let mut mounts = Vec::with_capacity(usage.len());
    for u in usage {
        let source = match u.dataset_version_id {
            Some(v) => dataset_versions::Entity::find_by_id(v)
                .one(db)
                .await?
                .map(|v| (v.storage_path, v.status, v.status_reason)),
            None => datasets::Entity::find_by_id(u.dataset_id)
                .one(db)
                .await?
                .map(|d| (d.storage_path, d.status, d.status_reason)),
        };
        let Some((key, status, reason)) = source else {
            continue;
        };
        // Never mounted: a failed row, or a location that is not a storage key (rows from
        // before keys existed).
        if status.as_deref() == Some(UploadState::Failed.as_db())
            || reason.is_some()
            || !StorageKey::is_valid(&key)
        {
            tracing::warn!(environment = %row.id, dataset = u.dataset_id, "a mount whose storage is unusable is left out of the order");
            continue;
        }
        // Read-write only while the version is still being filled.
        let read_only = u.access_mode.as_deref() != Some(MountMode::ReadWrite.as_db())
            || status.as_deref() != Some(UploadState::Uploading.as_db());
        mounts.push(OrderMount {
            key,
            target: u.mount_path,
            read_only,
        });
    }
    let env_vars = row
        .env_vars
        .as_ref()
        .and_then(|v| v.as_object())
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let gpu_uuids = held_gpus(row);
    Ok(Some(Order {
        environment_id: row.id.clone(),
        generation: row.generation,
        action,
        image: row.image.clone(),
        cpu: row.cpu,
        memory: row.memory,
        gpu_uuids,
        ports,
        env_vars,
        mounts,
        network: Tenant::of(row.customer_id, row.workspace_id).network(),
        shm_size: row.shm_size.unwrap_or(row.memory / 4),
    }))
}

/// Orders under way for the environments of `host`, oldest environment first: what a
/// connecting agent receives before live orders.
pub async fn pending_orders(db: &impl ConnectionTrait, host: &str) -> AppResult<Vec<Order>> {
    let rows = env::Entity::find()
        .filter(env::Column::HostId.eq(host))
        .filter(env::Column::Status.is_in(IN_FLIGHT.map(EnvState::as_db)))
        .order_by_asc(env::Column::CreatedAt)
        .order_by_asc(env::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(order) = order_for(db, row).await? {
            out.push(order);
        }
    }
    Ok(out)
}

/// The order of one environment of `host`, as an order event names it.
pub async fn order_of(
    db: &impl ConnectionTrait,
    host: &str,
    environment_id: &str,
) -> AppResult<Option<Order>> {
    let Some(row) = env::Entity::find_by_id(environment_id)
        .filter(env::Column::HostId.eq(host))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    order_for(db, &row).await
}
