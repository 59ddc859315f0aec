//! What customers do with environments: create one (placed and reserved at once, see
//! `services::environments`), stop, start, restart and delete it; and the operators' quota
//! overrides. Resolvers parse, call one service function and map the result.

use async_graphql::{Context, InputObject, Json, Object, ID};
use entity::{customers, environments as env};

use super::accounts::{Customer, Workspace};
use super::convert::{fk, string_map, text};
use super::crud::{principal, state, ApiObject};
use super::enums::ServiceType;
use super::environments::Environment;
use super::scalars::BigInt;
use crate::auth::policy::user_for;
use crate::domain::{EnvVarName, MountPath, ServiceKind};
use crate::error::{AppError, AppResult, GqlResult};
use crate::services::environments::{self as lifecycle, NewEnvironment, NewMount, Quota, Request};

const GIB: i64 = 1 << 30;

/// An environment variable for the container.
#[derive(InputObject)]
pub struct EnvVarInput {
    pub name: String,
    pub value: String,
}

/// A dataset (or one of its versions) mounted into the environment: read-only, or
/// read-write to fill an `UPLOADING` version one may write.
#[derive(InputObject)]
pub struct DatasetMountInput {
    pub dataset_id: ID,
    pub version_id: Option<ID>,
    /// Absolute path inside the container, e.g. `/data/imagenet`.
    pub mount_path: String,
    /// Mount an `UPLOADING` version read-write to fill it (needs `versionId` and the right
    /// to write the dataset); then delete the environment and `finalizeDatasetVersion`.
    #[graphql(default)]
    pub read_write: bool,
}

/// A GPU development environment, as a customer asks for it (seed 000's form limits: cpu
/// 1–64 cores, memory 1–512 GiB, 0–8 GPUs).
#[derive(InputObject)]
pub struct CreateEnvironmentInput {
    pub name: String,
    /// An image of the `images` catalogue.
    pub image_id: ID,
    pub cpu: i32,
    /// Bytes.
    pub memory: BigInt,
    /// 0 for a CPU-only environment.
    #[graphql(default)]
    pub gpu_count: i32,
    /// A GPU model (`gpus.name`, as `gpuAvailability` lists them).
    pub gpu_model: Option<String>,
    /// Only hosts whose labels contain every pair, e.g. `{"region": "us-west"}`.
    pub host_selector: Option<Json<serde_json::Value>>,
    /// Operators only: this host.
    pub host_id: Option<ID>,
    /// In a workspace (as its OWNER, ADMIN or MEMBER) instead of your own name.
    pub workspace_id: Option<ID>,
    /// Services to expose on external ports.
    #[graphql(default_with = "vec![ServiceType::Ssh]")]
    pub services: Vec<ServiceType>,
    #[graphql(default)]
    pub env_vars: Vec<EnvVarInput>,
    #[graphql(default)]
    pub datasets: Vec<DatasetMountInput>,
    /// Bytes of `/dev/shm` (64 MiB to the memory); default a quarter of the memory.
    pub shm_size: Option<BigInt>,
}

fn within(field: &str, value: i64, min: i64, max: i64, unit: &str) -> AppResult<()> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(AppError::bad_input(format!(
            "{field}: {value} is outside {min}-{max}{unit}"
        )))
    }
}

impl CreateEnvironmentInput {
    fn parse(self) -> AppResult<NewEnvironment> {
        within("cpu", self.cpu.into(), 1, 64, " cores")?;
        within(
            "memory",
            self.memory.0,
            GIB,
            512 * GIB,
            " bytes (1-512 GiB)",
        )?;
        within("gpuCount", self.gpu_count.into(), 0, 8, "")?;
        if self.env_vars.len() > 100 || self.datasets.len() > 20 || self.services.len() > 3 {
            return Err(AppError::bad_input(
                "at most 100 envVars, 20 datasets and 3 services",
            ));
        }
        let mut services = Vec::new();
        for s in self.services {
            let kind = ServiceKind::from(s);
            if !services.contains(&kind) {
                services.push(kind);
            }
        }
        let mut env_vars = Vec::with_capacity(self.env_vars.len());
        for (i, v) in self.env_vars.into_iter().enumerate() {
            let name = EnvVarName::parse(&format!("envVars[{i}].name"), &v.name)?.into_string();
            if v.value.len() > 4096 || v.value.contains('\0') {
                return Err(AppError::bad_input(format!(
                    "envVars[{i}].value: at most 4096 bytes, no NUL"
                )));
            }
            env_vars.push((name, v.value));
        }
        let mounts = self
            .datasets
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                Ok(NewMount {
                    dataset_id: fk(&format!("datasets[{i}].datasetId"), &d.dataset_id)?,
                    version_id: d
                        .version_id
                        .map(|v| fk(&format!("datasets[{i}].versionId"), &v))
                        .transpose()?,
                    mount_path: MountPath::parse(
                        &format!("datasets[{i}].mountPath"),
                        &d.mount_path,
                    )?
                    .into_string(),
                    read_write: d.read_write,
                })
            })
            .collect::<AppResult<_>>()?;
        let shm_size = match self.shm_size {
            Some(shm) => {
                within(
                    "shmSize",
                    shm.0,
                    64 << 20,
                    self.memory.0,
                    " bytes (64 MiB to the memory)",
                )?;
                shm.0
            }
            None => self.memory.0 / 4,
        };
        Ok(NewEnvironment {
            workspace_id: self
                .workspace_id
                .map(|w| fk("workspaceId", &w))
                .transpose()?,
            name: text("name", self.name, 128)?,
            image_id: fk("imageId", &self.image_id)?,
            cpu: self.cpu,
            memory: self.memory.0,
            gpus: self.gpu_count,
            gpu_model: self
                .gpu_model
                .map(|m| text("gpuModel", m, 128))
                .transpose()?,
            selector: self
                .host_selector
                .map(|s| string_map("hostSelector", s.0))
                .transpose()?,
            host_id: self.host_id.map(|h| h.to_string()),
            services,
            env_vars,
            mounts,
            shm_size,
        })
    }
}

/// Quota overrides; a null field means the platform default (`system_configs`).
#[derive(InputObject)]
pub struct QuotaInput {
    pub max_gpus: Option<i32>,
    pub max_environments: Option<i32>,
}

impl QuotaInput {
    fn parse(self) -> AppResult<Quota> {
        let check = |field: &str, v: Option<i32>| -> AppResult<Option<i32>> {
            if let Some(v) = v {
                within(field, v.into(), 0, 100_000, "")?;
            }
            Ok(v)
        };
        Ok(Quota {
            max_gpus: check("maxGpus", self.max_gpus)?,
            max_environments: check("maxEnvironments", self.max_environments)?,
        })
    }
}

#[derive(Default)]
pub struct EnvironmentMutation;

async fn act(ctx: &Context<'_>, id: ID, what: Request) -> async_graphql::Result<Environment> {
    let user = user_for::<env::Entity>(&principal(ctx)).gql()?;
    let app = state(ctx);
    let row = lifecycle::request(&app.db, app.events.as_ref(), user, id.as_str(), what)
        .await
        .gql()?;
    Environment::from_model(row).gql()
}

#[Object]
impl EnvironmentMutation {
    /// Places a new environment on a host that fits and reserves its GPUs, cpu, memory and
    /// ports in one transaction; returns it `CREATING` at once (follow `environmentStatus`).
    /// Nothing fits: CAPACITY_EXHAUSTED naming the short resource. Over quota: FORBIDDEN
    /// with `extensions.reason = "QUOTA"`.
    async fn create_environment(
        &self,
        ctx: &Context<'_>,
        input: CreateEnvironmentInput,
    ) -> async_graphql::Result<Environment> {
        let user = user_for::<env::Entity>(&principal(ctx)).gql()?;
        let new = input.parse().gql()?;
        let app = state(ctx);
        let row = lifecycle::create(&app.db, app.events.as_ref(), user, new)
            .await
            .gql()?;
        Environment::from_model(row).gql()
    }

    /// Stops the container; its GPUs and the host's cpu/memory are released, its disk and
    /// ports kept. Stopping a stopped environment changes nothing.
    async fn stop_environment(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Environment> {
        act(ctx, id, Request::Stop).await
    }

    /// Starts a stopped environment on its host, reserving its GPUs again (the ones it had,
    /// when free); CAPACITY_EXHAUSTED when the host has no room now.
    async fn start_environment(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Environment> {
        act(ctx, id, Request::Start).await
    }

    /// Restarts a running environment's container (a stopped one is started).
    async fn restart_environment(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Environment> {
        act(ctx, id, Request::Restart).await
    }

    /// Deletes the environment: the container is removed, GPUs, capacity and ports
    /// released. It stays listed as `DELETED`.
    async fn delete_environment(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Environment> {
        act(ctx, id, Request::Delete).await
    }

    /// Idle auto-stop: the environment is stopped (`stopReason` says why) once its GPUs
    /// stayed under `thresholdPercent` (default 5) in every sample for `minutes` (5-10080).
    /// `minutes: null` turns it off.
    async fn set_idle_stop(
        &self,
        ctx: &Context<'_>,
        id: ID,
        minutes: Option<i32>,
        threshold_percent: Option<f64>,
    ) -> async_graphql::Result<Environment> {
        let user = user_for::<env::Entity>(&principal(ctx)).gql()?;
        let row = lifecycle::set_idle_stop(
            &state(ctx).db,
            user,
            id.as_str(),
            minutes,
            threshold_percent,
        )
        .await
        .gql()?;
        Environment::from_model(row).gql()
    }

    /// Operators: a customer's quota overrides.
    async fn set_customer_quota(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        quota: QuotaInput,
    ) -> async_graphql::Result<Customer> {
        let user = user_for::<customers::Entity>(&principal(ctx)).gql()?;
        crate::auth::policy::require_operator(user).gql()?;
        let key = fk("customerId", &customer_id).gql()?;
        let row = lifecycle::set_customer_quota(&state(ctx).db, key, quota.parse().gql()?)
            .await
            .gql()?;
        Customer::from_model(row).gql()
    }

    /// Operators: a workspace's quota overrides.
    async fn set_workspace_quota(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
        quota: QuotaInput,
    ) -> async_graphql::Result<Workspace> {
        let user = user_for::<customers::Entity>(&principal(ctx)).gql()?;
        crate::auth::policy::require_operator(user).gql()?;
        let key = fk("workspaceId", &workspace_id).gql()?;
        let row = lifecycle::set_workspace_quota(&state(ctx).db, key, quota.parse().gql()?)
            .await
            .gql()?;
        Workspace::from_model(row).gql()
    }
}
