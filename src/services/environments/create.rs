//! Creating an environment: checking its mounts, then placing and reserving everything it
//! needs in one transaction, retried when a race is lost.

use super::*;
use std::collections::{HashMap, HashSet};

use entity::{dataset_usage, dataset_versions, datasets, environments as env, gpus, hosts, images};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, Set,
};

use crate::auth::policy::{self, Policy};
use crate::auth::User;
use crate::db::{self, json_contains};
use crate::domain::{
    DeploymentKind, EnvState, GpuHealthState, GpuState, HostHealthState, HostState, MountMode,
    OrderAction, ServiceKind, StorageKey, UploadState,
};
use crate::error::{AppError, AppResult};
use crate::events::EventBus;
use crate::services::placement::{self, Candidate, Need};
use crate::services::platform::{self};

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
        let txn = db::begin_write(db).await?;
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
pub(super) struct Mount {
    dataset_id: i64,
    version_id: Option<i64>,
    target: String,
    mode: MountMode,
}

/// Checks each requested mount against what `user` may read (and, for a read-write one,
/// write): a dataset one cannot see is "no such dataset", as for one that does not exist.
/// Read-only mounts take a `ready` dataset or version; a read-write mount takes an
/// `uploading` version of a dataset the caller may write. A `failed` one is never mounted.
pub(super) async fn resolve_mounts(
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
pub(super) async fn place(
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

/// Hosts that could take the request now, with their free resources.
pub(super) async fn candidates(
    txn: &DatabaseTransaction,
    new: &NewEnvironment,
) -> AppResult<Vec<Candidate>> {
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

pub(super) fn usable_gpu(g: &gpus::Model) -> bool {
    g.status.as_deref() == Some(GpuState::Available.as_db())
        && g.health_status.as_deref() != Some(GpuHealthState::Error.as_db())
}
