//! The environment lifecycle (DESIGN §9): a customer asks, the server decides, the host's
//! agent executes and reports.
//!
//! - [`create`] places an environment and reserves everything it needs in ONE transaction:
//!   quota check (under a lock on the customer and workspace rows), a host by the placement
//!   policy ([`super::placement`]), the host's cpu/memory (a compare-and-set `UPDATE` that
//!   also locks the host row, so concurrent placements on one host queue there), N
//!   `available` GPUs (each a compare-and-set), and one external port per service from its
//!   range (unique by `port_mappings.external_port`). A lost race or a taken port rolls the
//!   whole attempt back and retries a bounded number of times; nothing partial survives.
//! - [`request`] moves an environment through stop / start / restart / delete, each a
//!   compare-and-set on `status` that bumps `generation` and publishes an order.
//! - [`report_status`] takes the agent's word (`running`, `stopped`, `deleted`, `failed`),
//!   again by compare-and-set, releasing what the new state no longer holds.
//! - [`reconcile`] converges both sides when an agent connects.
//!
//! Orders travel like commands: an [`Event::EnvironmentOrder`] names the environment and its
//! generation; the agent's subscription loads the [`Order`] from the row, the agent applies
//! each generation at most once and never an older one after a newer.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDateTime, Utc};
use entity::{
    customers, dataset_usage, dataset_versions, datasets, environments as env, gpus, hosts, images,
    port_mappings, workspaces,
};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};

use crate::auth::policy::{self, Policy};
use crate::auth::User;
use crate::domain::{
    DeploymentKind, EnvState, GpuHealthState, GpuState, HostHealthState, HostState, MountMode,
    OrderAction, PortState, ServiceKind, StorageKey, Tenant, UploadState,
};
use crate::error::{AppError, AppResult, RefusalReason};
use crate::events::{EnvironmentOrderRef, EnvironmentStatusChange, Event, EventBus};
use crate::services::db::{self, json_contains};
use crate::services::placement::{self, Candidate, Need};
use crate::services::platform::{self, EnvironmentSettings};
use crate::services::{metering, spend, storage};

/// The states in which an order is on its way to the agent (or the agent is carrying it out).
const IN_FLIGHT: [EnvState; 4] = [
    EnvState::Creating,
    EnvState::Starting,
    EnvState::Stopping,
    EnvState::Deleting,
];

/// How many times a placement is tried again after losing a race.
const MAX_ATTEMPTS: usize = 12;

/// A dataset to mount into a new environment: read-only, or read-write to fill an
/// `uploading` version.
#[derive(Debug, Clone)]
pub struct NewMount {
    pub dataset_id: i64,
    pub version_id: Option<i64>,
    pub mount_path: String,
    pub read_write: bool,
}

/// A request for an environment, already parsed.
#[derive(Debug, Clone)]
pub struct NewEnvironment {
    pub workspace_id: Option<i64>,
    pub name: String,
    pub image_id: i64,
    pub cpu: i32,
    pub memory: i64,
    pub gpus: i32,
    pub gpu_model: Option<String>,
    pub selector: Option<serde_json::Map<String, serde_json::Value>>,
    /// Operators only.
    pub host_id: Option<String>,
    pub services: Vec<ServiceKind>,
    pub env_vars: Vec<(String, String)>,
    pub mounts: Vec<NewMount>,
    /// Bytes of `/dev/shm`.
    pub shm_size: i64,
}

/// The GPUs (uuids) the environment holds or last held.
fn held_gpus(row: &env::Model) -> Vec<String> {
    row.gpu_uuids
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

fn state_of(row: &env::Model) -> AppResult<EnvState> {
    EnvState::from_db(row.status.as_deref())
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// Whether a failed attempt may be tried again: a race lost to another transaction.
enum Attempt {
    Retry,
    Fail(AppError),
}

impl From<AppError> for Attempt {
    fn from(err: AppError) -> Self {
        Attempt::Fail(err)
    }
}

impl From<sea_orm::DbErr> for Attempt {
    fn from(err: sea_orm::DbErr) -> Self {
        if db::is_transient(&err) {
            Attempt::Retry
        } else {
            Attempt::Fail(err.into())
        }
    }
}

/// Creates an environment: placed, reserved and `creating`, with its order published.
pub async fn create(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    user: User,
    new: NewEnvironment,
) -> AppResult<env::Model> {
    if new.host_id.is_some() && !user.admin {
        return Err(AppError::bad_input(
            "hostId: only operators pin an environment to a host; use hostSelector",
        ));
    }
    policy::authorize_new_environment(db, user, new.workspace_id).await?;
    let image = images::Entity::find_by_id(new.image_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::bad_input("imageId: no such image in the catalogue"))?;
    let mounts = resolve_mounts(db, user, &new.mounts).await?;
    for attempt in 1..=MAX_ATTEMPTS {
        let _writer = db::write_guard(db).await;
        let txn = db.begin().await?;
        match place(&txn, user, &new, &image.name, &mounts).await {
            Ok(row) => {
                txn.commit().await?;
                publish(bus, &row, None).await;
                return Ok(row);
            }
            Err(Attempt::Retry) => {
                drop(txn);
                tracing::debug!(attempt, "placement lost a race; trying again");
                tokio::task::yield_now().await;
            }
            Err(Attempt::Fail(err)) => return Err(err),
        }
    }
    Err(AppError::CapacityExhausted(
        "too many concurrent requests for the same capacity; try again".into(),
    ))
}

/// A dataset mount, checked: what it mounts, where, and how.
struct Mount {
    dataset_id: i64,
    version_id: Option<i64>,
    target: String,
    mode: MountMode,
}

/// Checks each requested mount against what `user` may read (and, for a read-write one,
/// write): a dataset one cannot see is "no such dataset", as for one that does not exist.
/// Read-only mounts take a `ready` dataset or version; a read-write mount takes an
/// `uploading` version of a dataset the caller may write. A `failed` one is never mounted.
async fn resolve_mounts(
    db: &DatabaseConnection,
    user: User,
    wanted: &[NewMount],
) -> AppResult<Vec<Mount>> {
    let mut targets = HashSet::new();
    let mut out = Vec::with_capacity(wanted.len());
    for (i, m) in wanted.iter().enumerate() {
        let field = |name: &str| format!("datasets[{i}].{name}");
        if !targets.insert(m.mount_path.clone()) {
            return Err(AppError::bad_input(format!(
                "{}: '{}' is used twice",
                field("mountPath"),
                m.mount_path
            )));
        }
        let Some(dataset) = datasets::Entity::find_by_id(m.dataset_id)
            .filter(datasets::Entity::readable(user).condition())
            .one(db)
            .await?
        else {
            return Err(AppError::bad_input(format!(
                "{}: no such dataset",
                field("datasetId")
            )));
        };
        // A failed row, or a location that is not a storage key (a row from before keys
        // existed), is never mounted.
        let unusable = |status: Option<&str>, reason: &Option<String>, key: &str| {
            status == Some(UploadState::Failed.as_db())
                || reason.is_some()
                || !StorageKey::is_valid(key)
        };
        if unusable(
            dataset.status.as_deref(),
            &dataset.status_reason,
            &dataset.storage_path,
        ) {
            return Err(AppError::bad_input(format!(
                "{}: the dataset has failed and cannot be mounted",
                field("datasetId")
            )));
        }
        let version = match m.version_id {
            Some(v) => {
                let found = dataset_versions::Entity::find_by_id(v)
                    .filter(dataset_versions::Column::DatasetId.eq(m.dataset_id))
                    .one(db)
                    .await?;
                let Some(found) = found else {
                    return Err(AppError::bad_input(format!(
                        "{}: not a version of that dataset",
                        field("versionId")
                    )));
                };
                Some(found)
            }
            None => None,
        };
        let state = |v: &dataset_versions::Model| {
            if unusable(v.status.as_deref(), &v.status_reason, &v.storage_path) {
                UploadState::Failed
            } else if v.status.as_deref() == Some(UploadState::Ready.as_db()) {
                UploadState::Ready
            } else {
                UploadState::Uploading
            }
        };
        let mode = if m.read_write {
            let Some(version) = &version else {
                return Err(AppError::bad_input(format!(
                    "{}: a read-write mount names the version to fill",
                    field("versionId")
                )));
            };
            if state(version) != UploadState::Uploading {
                return Err(AppError::bad_input(format!(
                    "{}: only an uploading version is mounted read-write (this one is {})",
                    field("versionId"),
                    state(version).as_db()
                )));
            }
            let writable = datasets::Entity::find_by_id(m.dataset_id)
                .filter(datasets::Entity::writable(user).condition())
                .count(db)
                .await?;
            if writable == 0 {
                return Err(AppError::Forbidden);
            }
            MountMode::ReadWrite
        } else {
            if let Some(version) = &version {
                if state(version) != UploadState::Ready {
                    return Err(AppError::bad_input(format!(
                        "{}: the version is {}; only a ready version is mounted read-only \
                         (its writers mount it with readWrite)",
                        field("versionId"),
                        state(version).as_db()
                    )));
                }
            }
            MountMode::ReadOnly
        };
        out.push(Mount {
            dataset_id: m.dataset_id,
            version_id: m.version_id,
            target: m.mount_path.clone(),
            mode,
        });
    }
    Ok(out)
}

/// One placement attempt inside `txn`.
async fn place(
    txn: &DatabaseTransaction,
    user: User,
    new: &NewEnvironment,
    image: &str,
    mounts: &[Mount],
) -> Result<env::Model, Attempt> {
    let settings = platform::environment_settings(txn).await?;
    check_quota(txn, &settings, user.id, new.workspace_id, 1, new.gpus).await?;
    let need = Need {
        cpu: i64::from(new.cpu),
        memory: new.memory,
        gpus: i64::from(new.gpus),
    };
    let candidates = candidates(txn, new).await?;
    let ranked = placement::rank(settings.policy, need, new.gpu_model.as_deref(), &candidates)
        .map_err(AppError::CapacityExhausted)?;
    let host = &ranked[0];
    let id = format!("env-{}", uuid::Uuid::new_v4().simple());
    if !reserve_capacity(txn, &host.host_id, new.cpu, new.memory, new.gpus).await? {
        return Err(Attempt::Retry);
    }
    let Some(gpu_uuids) = reserve_gpus(
        txn,
        &host.host_id,
        &id,
        new.gpus,
        new.gpu_model.as_deref(),
        &[],
    )
    .await?
    else {
        return Err(Attempt::Retry);
    };
    // Customers see their GPUs by model only: record the model of the ones taken.
    let gpu_model = match (&new.gpu_model, gpu_uuids.first()) {
        (Some(m), _) => Some(m.clone()),
        (None, Some(uuid)) => gpus::Entity::find()
            .filter(gpus::Column::Uuid.eq(uuid.as_str()))
            .one(txn)
            .await?
            .and_then(|g| g.name),
        (None, None) => None,
    };
    let host_row = hosts::Entity::find_by_id(host.host_id.as_str())
        .one(txn)
        .await?
        .ok_or(Attempt::Retry)?;
    let connect_host = settings.gateway_host.clone().or(host_row.public_ip.clone());
    let env_vars = serde_json::Value::Object(
        new.env_vars
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    );
    let at = now();
    let mut row = env::ActiveModel {
        id: Set(id.clone()),
        customer_id: Set(user.id),
        workspace_id: Set(new.workspace_id),
        host_id: Set(host.host_id.clone()),
        name: Set(new.name.clone()),
        image: Set(image.to_owned()),
        status: Set(Some(EnvState::Creating.as_db().into())),
        cpu: Set(new.cpu),
        memory: Set(new.memory),
        gpu: Set(Some(new.gpus)),
        gpu_model: Set(gpu_model),
        env_vars: Set(Some(env_vars)),
        gpu_uuids: Set(Some(serde_json::json!(gpu_uuids))),
        generation: Set(1),
        last_order: Set(Some(OrderAction::Create.as_db().into())),
        updated_at: Set(Some(at)),
        connect_host: Set(connect_host),
        shm_size: Set(Some(new.shm_size)),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let mut ssh_port = None;
    for service in &new.services {
        let port = allocate_port(txn, &settings, &id, *service).await?;
        if *service == ServiceKind::Ssh {
            ssh_port = Some(port);
        }
    }
    if ssh_port.is_some() {
        let mut active: env::ActiveModel = row.into();
        active.ssh_port = Set(ssh_port);
        row = active.update(txn).await?;
    }
    for m in mounts {
        dataset_usage::ActiveModel {
            dataset_id: Set(m.dataset_id),
            dataset_version_id: Set(m.version_id),
            env_id: Set(id.clone()),
            mount_path: Set(m.target.clone()),
            access_mode: Set(Some(m.mode.as_db().into())),
            mounted_at: Set(Some(at)),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }
    Ok(row)
}

/// Refuses (FORBIDDEN, reason QUOTA) when `extra_envs` more environments or `extra_gpus`
/// more GPUs would exceed the customer's or the workspace's quota. Locks the customer (and
/// workspace) row first, so concurrent requests of one tenant are counted one after another.
async fn check_quota(
    txn: &DatabaseTransaction,
    settings: &EnvironmentSettings,
    customer: i64,
    workspace: Option<i64>,
    extra_envs: i64,
    extra_gpus: i32,
) -> Result<(), Attempt> {
    spend::refuse_if_limited(txn, customer, workspace).await?;
    customers::Entity::update_many()
        .col_expr(
            customers::Column::Id,
            Expr::col(customers::Column::Id).into(),
        )
        .filter(customers::Column::Id.eq(customer))
        .exec(txn)
        .await?;
    let owner = customers::Entity::find_by_id(customer)
        .one(txn)
        .await?
        .ok_or(AppError::NotFound("customer"))?;
    let mine = usage(txn, env::Column::CustomerId.eq(customer)).await?;
    let limit = Limit {
        gpus: owner.max_gpus.unwrap_or(settings.customer_max_gpus),
        envs: owner
            .max_environments
            .unwrap_or(settings.customer_max_environments),
    };
    limit.check("your", mine, extra_envs, extra_gpus)?;
    if let Some(ws) = workspace {
        workspaces::Entity::update_many()
            .col_expr(
                workspaces::Column::Id,
                Expr::col(workspaces::Column::Id).into(),
            )
            .filter(workspaces::Column::Id.eq(ws))
            .exec(txn)
            .await?;
        let row = workspaces::Entity::find_by_id(ws)
            .one(txn)
            .await?
            .ok_or_else(policy::missing_reference)?;
        let used = usage(txn, env::Column::WorkspaceId.eq(ws)).await?;
        let limit = Limit {
            gpus: row.max_gpus.unwrap_or(settings.workspace_max_gpus),
            envs: row
                .max_environments
                .unwrap_or(settings.workspace_max_environments),
        };
        limit.check("the workspace's", used, extra_envs, extra_gpus)?;
    }
    Ok(())
}

struct Limit {
    gpus: i32,
    envs: i32,
}

impl Limit {
    fn check(
        &self,
        whose: &str,
        used: (i64, i64),
        extra_envs: i64,
        extra_gpus: i32,
    ) -> AppResult<()> {
        let (envs, gpus) = used;
        if envs + extra_envs > i64::from(self.envs) {
            return Err(AppError::Refused {
                reason: RefusalReason::Quota,
                message: format!(
                    "quota: {whose} limit is {} environments ({envs} exist)",
                    self.envs
                ),
            });
        }
        if gpus + i64::from(extra_gpus) > i64::from(self.gpus) {
            return Err(AppError::Refused {
                reason: RefusalReason::Quota,
                message: format!("quota: {whose} limit is {} GPUs ({gpus} in use)", self.gpus),
            });
        }
        Ok(())
    }
}

/// Environments that count against a quota (every one not deleted or failed) and the GPUs
/// of those that hold theirs.
async fn usage(
    txn: &DatabaseTransaction,
    whose: sea_orm::sea_query::SimpleExpr,
) -> AppResult<(i64, i64)> {
    let rows =
        env::Entity::find()
            .filter(whose)
            .filter(env::Column::Status.is_not_in(
                [EnvState::Deleted, EnvState::Failed, EnvState::Error].map(EnvState::as_db),
            ))
            .all(txn)
            .await?;
    let mut gpus = 0;
    for r in &rows {
        if state_of(r)?.holds_compute() {
            gpus += i64::from(r.gpu.unwrap_or(0));
        }
    }
    Ok((rows.len() as i64, gpus))
}

/// Hosts that could take the request now, with their free resources.
async fn candidates(txn: &DatabaseTransaction, new: &NewEnvironment) -> AppResult<Vec<Candidate>> {
    let mut query = hosts::Entity::find()
        .filter(hosts::Column::Status.eq(HostState::Online.as_db()))
        .filter(hosts::Column::HealthStatus.eq(HostHealthState::Healthy.as_db()))
        .filter(hosts::Column::DeploymentMode.eq(DeploymentKind::Traditional.as_db()));
    if let Some(selector) = &new.selector {
        query = query.filter(json_contains(
            txn.get_database_backend(),
            "hosts",
            "labels",
            selector,
        ));
    }
    if let Some(pin) = &new.host_id {
        query = query.filter(hosts::Column::Id.eq(pin.as_str()));
    }
    let hosts = query.all(txn).await?;
    let ids: Vec<String> = hosts.iter().map(|h| h.id.clone()).collect();
    let mut gpu_query = gpus::Entity::find().filter(gpus::Column::HostId.is_in(ids));
    if let Some(model) = &new.gpu_model {
        gpu_query = gpu_query.filter(gpus::Column::Name.eq(model.as_str()));
    }
    let mut free: HashMap<String, i64> = HashMap::new();
    let mut has_model: HashSet<String> = HashSet::new();
    for g in gpu_query.all(txn).await? {
        has_model.insert(g.host_id.clone());
        if usable_gpu(&g) {
            *free.entry(g.host_id).or_default() += 1;
        }
    }
    Ok(hosts
        .into_iter()
        .map(|h| Candidate {
            free_cpu: i64::from(h.total_cpu) - i64::from(h.used_cpu.unwrap_or(0)),
            free_memory: h.total_memory - h.used_memory.unwrap_or(0),
            free_gpus: free.get(&h.id).copied().unwrap_or(0),
            has_model: has_model.contains(&h.id),
            host_id: h.id,
        })
        .collect())
}

fn usable_gpu(g: &gpus::Model) -> bool {
    g.status.as_deref() == Some(GpuState::Available.as_db())
        && g.health_status.as_deref() != Some(GpuHealthState::Error.as_db())
}

fn coalesce0(col: hosts::Column) -> sea_orm::sea_query::SimpleExpr {
    Func::coalesce([Expr::col(col).into(), Expr::val(0).into()]).into()
}

/// Adds to the host's `used_*` if it still has room and is online; false when another
/// placement took the room first. On PostgreSQL the `UPDATE` locks the host row until
/// commit, so placements on one host are decided one after another.
async fn reserve_capacity(
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
async fn release_capacity(
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
async fn reserve_gpus(
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
async fn release_gpus(txn: &impl ConnectionTrait, env_id: &str) -> AppResult<i32> {
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
async fn allocate_port(
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

async fn release_ports(txn: &impl ConnectionTrait, env_id: &str) -> AppResult<()> {
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
async fn release_compute(txn: &impl ConnectionTrait, row: &env::Model) -> AppResult<()> {
    let freed = release_gpus(txn, &row.id).await?;
    release_capacity(txn, &row.host_id, row.cpu, row.memory, freed).await
}

/// What a customer (or operator) asks of an existing environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Stop,
    Start,
    Restart,
    Delete,
}

/// The environment `id` as `user` may change it: NOT_FOUND when they cannot see it (or it
/// does not exist), FORBIDDEN when they may only read it (a workspace viewer).
async fn writable(db: &impl ConnectionTrait, user: User, id: &str) -> AppResult<env::Model> {
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
async fn transition(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    user: Option<User>,
    id: &str,
    what: Request,
    stop_reason: Option<String>,
) -> AppResult<env::Model> {
    for _ in 0..MAX_ATTEMPTS {
        let _writer = db::write_guard(db).await;
        let txn = db.begin().await?;
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

enum Plan {
    Nothing,
    Move(EnvState, OrderAction),
}

fn plan(current: EnvState, what: Request) -> AppResult<Plan> {
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
async fn reserve_again(txn: &DatabaseTransaction, row: &env::Model) -> Result<(), Attempt> {
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
async fn compare_and_set(
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

fn status_is(state: EnvState) -> sea_orm::sea_query::SimpleExpr {
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
fn reportable(from: EnvState, to: EnvState) -> bool {
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
    let _writer = db::write_guard(db).await;
    let txn = db.begin().await?;
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
enum Gone {
    /// The agent removed it, or found it missing.
    Confirmed,
    /// It may still exist (an order timed out, an order failed): what it held stays
    /// reserved until a reconcile no longer finds it.
    Unknown,
}

/// What the environment holds in `state`: (GPUs and host capacity, external ports),
/// by its state or by the hold flags of an environment that ended with its container
/// unconfirmed.
fn holding(row: &env::Model, state: EnvState) -> (bool, bool) {
    (
        state.holds_compute() || row.hold_compute,
        state.holds_ports() || row.hold_ports,
    )
}

/// Gives back what `held` says the environment still holds.
async fn release_held(
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

/// Moves `row` to the reported state and releases what that state no longer holds. An
/// environment that ends (`failed`, `deleted`) while its container may still exist keeps
/// its GPUs, capacity and ports reserved (the hold flags) until it is confirmed gone.
async fn settle(
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

/// Frees what an ended environment kept for a container that is now confirmed gone.
async fn release_kept(txn: &impl ConnectionTrait, row: &env::Model) -> AppResult<()> {
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

fn change(
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
async fn publish(bus: &dyn EventBus, row: &env::Model, previous: Option<EnvState>) {
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
        let _writer = db::write_guard(db).await;
        let txn = db.begin().await?;
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
                    let _writer = db::write_guard(db).await;
                    let txn = db.begin().await?;
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
        let _writer = db::write_guard(db).await;
        let txn = db.begin().await?;
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

/// Only columns the quota overrides touch; `None` keeps the default.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub max_gpus: Option<i32>,
    pub max_environments: Option<i32>,
}

/// Idle auto-stop settings of an environment: stop it once its GPUs stayed under
/// `threshold_percent` for `minutes` (None: off). Whoever may change the environment sets them.
pub async fn set_idle_stop(
    db: &DatabaseConnection,
    user: User,
    id: &str,
    minutes: Option<i32>,
    threshold_percent: Option<f64>,
) -> AppResult<env::Model> {
    if let Some(m) = minutes {
        if !(5..=10_080).contains(&m) {
            return Err(AppError::bad_input(format!(
                "minutes: {m} is outside 5-10080 (a week)"
            )));
        }
    }
    if let Some(t) = threshold_percent {
        if !(t.is_finite() && t > 0.0 && t <= 100.0) {
            return Err(AppError::bad_input(format!(
                "thresholdPercent: {t} is outside (0, 100]"
            )));
        }
    }
    let row = writable(db, user, id).await?;
    let _writer = db::write_guard(db).await;
    env::Entity::update_many()
        .col_expr(env::Column::IdleStopMinutes, Expr::value(minutes))
        .col_expr(
            env::Column::IdleThresholdPercent,
            Expr::value(minutes.and(threshold_percent)),
        )
        .filter(env::Column::Id.eq(row.id.as_str()))
        .exec(db)
        .await?;
    env::Entity::find_by_id(row.id.as_str())
        .one(db)
        .await?
        .ok_or(AppError::NotFound("environment"))
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
        let _writer = db::write_guard(db).await;
        let txn = db.begin().await?;
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

/// Sets a customer's quota overrides (operators only: checked by the caller's policy).
pub async fn set_customer_quota(
    db: &DatabaseConnection,
    customer: i64,
    quota: Quota,
) -> AppResult<customers::Model> {
    let row = customers::Entity::find_by_id(customer)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("customer"))?;
    let _writer = db::write_guard(db).await;
    let mut active: customers::ActiveModel = row.into();
    active.max_gpus = Set(quota.max_gpus);
    active.max_environments = Set(quota.max_environments);
    Ok(active.update(db).await?)
}

/// Sets a workspace's quota overrides (operators only).
pub async fn set_workspace_quota(
    db: &DatabaseConnection,
    workspace: i64,
    quota: Quota,
) -> AppResult<workspaces::Model> {
    let row = workspaces::Entity::find_by_id(workspace)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("workspace"))?;
    let _writer = db::write_guard(db).await;
    let mut active: workspaces::ActiveModel = row.into();
    active.max_gpus = Set(quota.max_gpus);
    active.max_environments = Set(quota.max_environments);
    Ok(active.update(db).await?)
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
