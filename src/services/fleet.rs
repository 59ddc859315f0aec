//! Fleet-wide views that aggregate across hosts.

use entity::gpus;
use sea_orm::sea_query::Expr;
use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult, QueryOrder, QuerySelect};

use crate::error::AppResult;

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
    let free = Expr::cust(
        "SUM(CASE WHEN gpus.status = 'available' \
         AND (gpus.health_status IS NULL OR gpus.health_status <> 'error') \
         AND gpus.host_id IN (SELECT id FROM hosts WHERE status = 'online' \
         AND health_status = 'healthy' AND deployment_mode = 'traditional') THEN 1 ELSE 0 END)",
    );
    Ok(gpus::Entity::find()
        .select_only()
        .column(gpus::Column::Name)
        .column(gpus::Column::MemoryTotal)
        .column_as(Expr::col(gpus::Column::Id).count(), "total")
        .column_as(free, "available")
        .group_by(gpus::Column::Name)
        .group_by(gpus::Column::MemoryTotal)
        .order_by_asc(gpus::Column::Name)
        .order_by_asc(gpus::Column::MemoryTotal)
        .into_model::<GpuModelCount>()
        .all(db)
        .await?)
}
