//! What node agents report, each for its own host only (the caller passes the host of the
//! agent token): the host and its GPUs, metric batches, and environment status. Inputs arrive
//! parsed (`graphql::agent` turns bad values into BAD_USER_INPUT before anything here runs).
//! Every write is one transaction; events are published after it commits.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use entity::{
    environment_metrics, environments, gpu_metrics, gpus, host_metrics, hosts, metric_batches,
};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, Set,
};

use crate::db;
use crate::domain::{GpuHealthState, GpuState};
use crate::error::{AppError, AppResult};
use crate::events::{Event, EventBus};
use crate::services::metric_series;

/// The host as its agent describes it. `None` keeps what the row has.
#[derive(Debug, Clone)]
pub struct HostReport {
    pub hostname: Option<String>,
    pub ip_address: String,
    pub os_type: &'static str,
    pub os_version: Option<String>,
    pub arch: Option<String>,
    pub total_cpu: i32,
    pub total_memory: i64,
    pub total_disk: Option<i64>,
    pub agent_version: Option<String>,
    /// Distinct uuids and distinct indexes (checked when parsed).
    pub gpus: Vec<GpuReport>,
}

#[derive(Debug, Clone)]
pub struct GpuReport {
    pub index: i32,
    pub uuid: String,
    pub name: Option<String>,
    pub brand: Option<String>,
    pub architecture: Option<String>,
    pub memory_total: Option<i64>,
    pub cuda_cores: Option<i32>,
    pub compute_capability: Option<String>,
    pub power_limit: Option<i32>,
    pub temperature_limit: Option<i32>,
}

/// What happened to the host's GPU rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GpuChanges {
    pub added: usize,
    pub updated: usize,
    /// GPUs of the host missing from the report, now marked `error`.
    pub vanished: usize,
}

const GPU_ERROR: &str = GpuState::Error.as_db();
const GPU_HEALTH_ERROR: &str = GpuHealthState::Error.as_db();

/// Updates the host's row from the report and upserts its GPUs by uuid: new GPUs are added;
/// known ones are updated (and, when they had vanished, restored); GPUs of this host that the
/// report lacks are marked `status = error`, `health_status = error` and kept, with their
/// history. A GPU row an operator created without a uuid is adopted by the reported GPU at
/// its index. A uuid registered to another host is a CONFLICT.
///
/// `gpus` is unique per `(host_id, gpu_index)`: rows whose index changes, and vanished rows
/// whose index a reported GPU takes, are first moved to a parking index (`-id`, never a real
/// index), so any reordering is applied without violating it. A vanished GPU whose index was
/// taken therefore shows `gpuIndex` < 0.
pub async fn report_host(
    db: &DatabaseConnection,
    host_id: &str,
    report: HostReport,
    now: DateTime<Utc>,
) -> AppResult<GpuChanges> {
    let txn = db::begin_write(db).await?;
    let changes = apply_report(&txn, host_id, report, now.naive_utc()).await?;
    txn.commit().await?;
    Ok(changes)
}

async fn apply_report(
    txn: &DatabaseTransaction,
    host_id: &str,
    report: HostReport,
    now: NaiveDateTime,
) -> AppResult<GpuChanges> {
    let host = hosts::Entity::find_by_id(host_id)
        .one(txn)
        .await?
        .ok_or(AppError::NotFound("host"))?;
    let uuids: Vec<String> = report.gpus.iter().map(|g| g.uuid.clone()).collect();
    if !uuids.is_empty() {
        let foreign = gpus::Entity::find()
            .filter(gpus::Column::Uuid.is_in(uuids))
            .filter(gpus::Column::HostId.ne(host_id))
            .count(txn)
            .await?;
        if foreign > 0 {
            return Err(AppError::Conflict(
                "a reported GPU uuid is registered to another host".into(),
            ));
        }
    }
    let existing = gpus::Entity::find()
        .filter(gpus::Column::HostId.eq(host_id))
        .all(txn)
        .await?;

    // Which row each reported GPU updates: the row with its uuid, else a uuid-less row at its
    // index.
    let mut target: Vec<Option<usize>> = Vec::with_capacity(report.gpus.len());
    let mut matched: HashSet<usize> = HashSet::new();
    for gpu in &report.gpus {
        let by_uuid = existing
            .iter()
            .position(|e| e.uuid.as_deref() == Some(gpu.uuid.as_str()));
        let found = by_uuid.or_else(|| {
            existing.iter().enumerate().position(|(i, e)| {
                e.uuid.is_none() && e.gpu_index == gpu.index && !matched.contains(&i)
            })
        });
        if let Some(i) = found {
            matched.insert(i);
        }
        target.push(found);
    }
    let new_index: HashMap<usize, i32> = target
        .iter()
        .zip(&report.gpus)
        .filter_map(|(t, g)| t.map(|i| (i, g.index)))
        .collect();
    let claimed: HashSet<i32> = report.gpus.iter().map(|g| g.index).collect();

    // Park the rows that must leave their index.
    for (i, row) in existing.iter().enumerate() {
        let must_move = match new_index.get(&i) {
            Some(&index) => index != row.gpu_index,
            None => claimed.contains(&row.gpu_index),
        };
        if must_move {
            gpus::Entity::update_many()
                .col_expr(gpus::Column::GpuIndex, Expr::value(parking_index(row.id)))
                .filter(gpus::Column::Id.eq(row.id))
                .exec(txn)
                .await?;
        }
    }

    let mut changes = GpuChanges::default();
    for (gpu, target) in report.gpus.iter().zip(target) {
        match target {
            Some(i) => {
                let row = &existing[i];
                let mut active: gpus::ActiveModel = row.clone().into();
                fill_gpu(&mut active, gpu);
                if row.status.as_deref() == Some(GPU_ERROR) {
                    let restored = if row.allocated_to.is_some() {
                        GpuState::Allocated
                    } else {
                        GpuState::Available
                    };
                    active.status = Set(Some(restored.as_db().into()));
                }
                if row.health_status.as_deref() == Some(GPU_HEALTH_ERROR) {
                    active.health_status = Set(Some(GpuHealthState::Healthy.as_db().into()));
                }
                active.updated_at = Set(Some(now));
                // Always written: a parked row must get its index back even when nothing
                // else changed.
                active.gpu_index = Set(gpu.index);
                active.update(txn).await?;
                changes.updated += 1;
            }
            None => {
                let mut active = gpus::ActiveModel {
                    host_id: Set(host_id.to_owned()),
                    status: Set(Some(GpuState::Available.as_db().into())),
                    health_status: Set(Some(GpuHealthState::Healthy.as_db().into())),
                    created_at: Set(Some(now)),
                    updated_at: Set(Some(now)),
                    ..Default::default()
                };
                fill_gpu(&mut active, gpu);
                active.insert(txn).await?;
                changes.added += 1;
            }
        }
    }
    for (i, row) in existing.iter().enumerate() {
        if matched.contains(&i) || row.status.as_deref() == Some(GPU_ERROR) {
            continue;
        }
        gpus::Entity::update_many()
            .col_expr(gpus::Column::Status, Expr::value(GPU_ERROR))
            .col_expr(gpus::Column::HealthStatus, Expr::value(GPU_HEALTH_ERROR))
            .col_expr(gpus::Column::UpdatedAt, Expr::value(now))
            .filter(gpus::Column::Id.eq(row.id))
            .exec(txn)
            .await?;
        changes.vanished += 1;
    }
    if changes.vanished > 0 {
        tracing::warn!(
            host = host_id,
            vanished = changes.vanished,
            "GPUs vanished from their host"
        );
    }

    let mut row: hosts::ActiveModel = host.into();
    if let Some(hostname) = report.hostname {
        row.hostname = Set(Some(hostname));
    }
    row.ip_address = Set(report.ip_address);
    row.os_type = Set(report.os_type.to_owned());
    if let Some(v) = report.os_version {
        row.os_version = Set(Some(v));
    }
    if let Some(arch) = report.arch {
        row.arch = Set(Some(arch));
    }
    row.total_cpu = Set(report.total_cpu);
    row.total_memory = Set(report.total_memory);
    if let Some(disk) = report.total_disk {
        row.total_disk = Set(Some(disk));
    }
    row.total_gpu = Set(Some(i32::try_from(report.gpus.len()).unwrap_or(i32::MAX)));
    if let Some(version) = report.agent_version {
        row.agent_version = Set(Some(version));
    }
    row.updated_at = Set(Some(now));
    row.update(txn).await?;
    Ok(changes)
}

/// Where a GPU row waits while indexes are reassigned: negative, unique per row.
fn parking_index(id: i64) -> i32 {
    i32::try_from(id).map_or(i32::MIN, |id| -id)
}

fn fill_gpu(row: &mut gpus::ActiveModel, gpu: &GpuReport) {
    row.gpu_index = Set(gpu.index);
    row.uuid = Set(Some(gpu.uuid.clone()));
    row.name = Set(gpu.name.clone());
    row.brand = Set(gpu.brand.clone());
    row.architecture = Set(gpu.architecture.clone());
    row.memory_total = Set(gpu.memory_total);
    row.cuda_cores = Set(gpu.cuda_cores);
    row.compute_capability = Set(gpu.compute_capability.clone());
    row.power_limit = Set(gpu.power_limit);
    row.temperature_limit = Set(gpu.temperature_limit);
}

pub use crate::services::metric_series::{EnvironmentSample, GpuSample, HostSample};

/// One batch of samples from an agent.
#[derive(Debug, Clone)]
pub struct MetricBatch {
    pub batch_id: String,
    /// Samples the agent dropped (its buffer was full) before this batch.
    pub dropped_samples: i32,
    pub host_samples: Vec<HostSample>,
    pub gpu_samples: Vec<GpuSample>,
    /// Samples of environments of the reporting host.
    pub environment_samples: Vec<EnvironmentSample>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestResult {
    pub accepted: usize,
    /// The batch id was stored before: nothing was stored this time.
    pub duplicate: bool,
}

/// Stores a batch once per `(host, batch_id)`: the batch row and all its samples in one
/// transaction, each table's rows in one statement on PostgreSQL (a few multi-row inserts
/// on SQLite). A GPU uuid that is not one of this host's GPUs is BAD_USER_INPUT and nothing
/// is stored; a sample of an environment that is not on this host (a container the agent
/// does not own, one the server no longer knows) is dropped alone, logged, never the batch.
/// Then publishes one event per stored sample.
pub async fn ingest_metrics(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    host_id: &str,
    batch: MetricBatch,
) -> AppResult<IngestResult> {
    let txn = db::begin_write(db).await?;
    let (result, events) = store_batch(&txn, host_id, batch).await?;
    txn.commit().await?;
    bus.publish(events).await;
    Ok(result)
}

async fn store_batch(
    txn: &DatabaseTransaction,
    host_id: &str,
    mut batch: MetricBatch,
) -> AppResult<(IngestResult, Vec<Event>)> {
    let uuids: HashSet<&str> = batch
        .gpu_samples
        .iter()
        .map(|s| s.gpu_uuid.as_str())
        .collect();
    let gpu_ids: HashMap<String, i64> = if uuids.is_empty() {
        HashMap::new()
    } else {
        gpus::Entity::find()
            .filter(gpus::Column::HostId.eq(host_id))
            .filter(gpus::Column::Uuid.is_in(uuids.iter().copied()))
            .all(txn)
            .await?
            .into_iter()
            .filter_map(|g| g.uuid.map(|u| (u, g.id)))
            .collect()
    };
    if let Some(unknown) = uuids.iter().find(|u| !gpu_ids.contains_key(**u)) {
        return Err(AppError::bad_input(format!(
            "gpuSamples.gpuUuid: '{unknown}' is not a GPU of this host (report it with agentReport first)"
        )));
    }

    let env_ids: HashSet<&str> = batch
        .environment_samples
        .iter()
        .map(|s| s.environment_id.as_str())
        .collect();
    if !env_ids.is_empty() {
        let known: HashSet<String> = environments::Entity::find()
            .filter(environments::Column::HostId.eq(host_id))
            .filter(environments::Column::Id.is_in(env_ids.iter().copied()))
            .all(txn)
            .await?
            .into_iter()
            .map(|e| e.id)
            .collect();
        let unknown: Vec<String> = env_ids
            .iter()
            .filter(|e| !known.contains(**e))
            .map(|e| (*e).to_owned())
            .collect();
        if !unknown.is_empty() {
            tracing::warn!(
                host = host_id,
                environments = ?unknown,
                "samples of environments that are not on this host dropped"
            );
            batch
                .environment_samples
                .retain(|s| known.contains(&s.environment_id));
        }
    }

    let total =
        batch.host_samples.len() + batch.gpu_samples.len() + batch.environment_samples.len();
    let inserted = metric_batches::Entity::insert(metric_batches::ActiveModel {
        host_id: Set(host_id.to_owned()),
        batch_id: Set(batch.batch_id.clone()),
        sample_count: Set(i32::try_from(total).unwrap_or(i32::MAX)),
        dropped_samples: Set(batch.dropped_samples),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            metric_batches::Column::HostId,
            metric_batches::Column::BatchId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    if inserted == 0 {
        return Ok((
            IngestResult {
                accepted: 0,
                duplicate: true,
            },
            Vec::new(),
        ));
    }
    if batch.dropped_samples > 0 {
        tracing::warn!(
            host = host_id,
            dropped = batch.dropped_samples,
            "agent dropped samples while the server was unreachable"
        );
    }

    let mut events = Vec::with_capacity(total);
    let shared = [("host_id", db::Cell::Text(host_id))];
    let rows = db::insert_rows::<host_metrics::Entity, _, _>(
        txn,
        &shared,
        metric_series::HOST.fields,
        &batch.host_samples,
    )
    .await?;
    events.extend(rows.into_iter().map(Event::HostMetric));
    let gpu_rows: Vec<(i64, GpuSample)> = batch
        .gpu_samples
        .into_iter()
        .map(|s| (gpu_ids.get(&s.gpu_uuid).copied().unwrap_or_default(), s))
        .collect();
    let rows = db::insert_rows::<gpu_metrics::Entity, _, _>(
        txn,
        &shared,
        metric_series::GPU.fields,
        &gpu_rows,
    )
    .await?;
    events.extend(rows.into_iter().map(Event::GpuMetric));
    let rows = db::insert_rows::<environment_metrics::Entity, _, _>(
        txn,
        &[],
        metric_series::ENVIRONMENT.fields,
        &batch.environment_samples,
    )
    .await?;
    events.extend(rows.into_iter().map(Event::EnvironmentMetric));
    Ok((
        IngestResult {
            accepted: total,
            duplicate: false,
        },
        events,
    ))
}
