//! GPUs: the object (with its host and latest sample), inputs, the CRUD declarations, and
//! `gpuAvailability`, what customers may know about the fleet.

use async_graphql::{
    ComplexObject, Context, InputObject, MaybeUndefined, Object, SimpleObject, ID,
};
use chrono::{DateTime, Utc};
use entity::gpus;
use sea_orm::Set;

use super::convert::{big_opt, bytes, count, id, text, ts, ts_opt};
use super::crud::{
    crud_mutation, crud_query, load_latest, load_parent, parse_nullable, patch, patch_nullable,
    principal, state, ApiObject, CreateInput, UpdateInput,
};
use super::enums::*;
use super::filter::{filter_input, order_input, EnumFilter, IdFilter, StringFilter};
use super::hosts::Host;
use super::metrics::GpuMetric;
use super::relations::*;
use super::scalars::BigInt;
use crate::error::AppResult;
use crate::error::GqlResult;
use crate::services::fleet;

/// One GPU of a host.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Gpu {
    pub id: ID,
    #[graphql(skip)]
    pub key: i64,
    pub host_id: ID,
    pub gpu_index: i32,
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub brand: Option<String>,
    pub architecture: Option<String>,
    /// Bytes.
    pub memory_total: Option<BigInt>,
    pub cuda_cores: Option<i32>,
    pub compute_capability: Option<String>,
    pub status: Option<GpuStatus>,
    pub health_status: Option<GpuHealth>,
    /// The environment the GPU is allocated to.
    pub allocated_to: Option<String>,
    pub allocated_at: Option<DateTime<Utc>>,
    /// Watts.
    pub power_limit: Option<i32>,
    /// Degrees Celsius.
    pub temperature_limit: Option<i32>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl Gpu {
    async fn host(&self, ctx: &Context<'_>) -> async_graphql::Result<Host> {
        load_parent::<HostById, _>(ctx, self.host_id.to_string())
            .await
            .gql()
    }
    /// The newest metric sample of this GPU.
    async fn latest_metric(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<GpuMetric>> {
        let Ok(gpu_id) = self.id.parse::<i64>() else {
            return Ok(None);
        };
        load_latest::<LatestGpuMetric, _>(ctx, gpu_id).await.gql()
    }
}

impl ApiObject for Gpu {
    type Entity = gpus::Entity;
    const LABEL: &'static str = "gpu";
    fn from_model(m: gpus::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            key: m.id,
            host_id: id(m.host_id),
            gpu_index: m.gpu_index,
            uuid: m.uuid,
            name: m.name,
            brand: m.brand,
            architecture: m.architecture,
            memory_total: big_opt(m.memory_total),
            cuda_cores: m.cuda_cores,
            compute_capability: m.compute_capability,
            status: GpuStatus::from_db_opt(m.status.as_deref())?,
            health_status: GpuHealth::from_db_opt(m.health_status.as_deref())?,
            allocated_to: m.allocated_to,
            allocated_at: ts_opt(m.allocated_at),
            power_limit: m.power_limit,
            temperature_limit: m.temperature_limit,
            created_at: m.created_at.map(ts),
            updated_at: ts_opt(m.updated_at),
        })
    }
}

filter_input!(GpuFilter for gpus {
    id: IdFilter => Id as i64,
    host_id: IdFilter => HostId as String,
    status: EnumFilter<GpuStatus> => Status,
    allocated_to: StringFilter => AllocatedTo,
    name: StringFilter => Name,
});

order_input!(GpuOrder, GpuOrderField, gpus::Entity, gpus::Column {
    Id => Id,
    HostId => HostId,
    GpuIndex => GpuIndex,
    Name => Name,
    MemoryTotal => MemoryTotal,
    CreatedAt => CreatedAt,
});

/// Each GPU column's rule, written once for `createGpu`, `updateGpu` and the agent's
/// `agentReport`.
pub(crate) mod gpu_columns {
    use super::*;

    pub fn gpu_index(v: i32) -> AppResult<i32> {
        count("gpuIndex", v)
    }
    pub fn uuid(v: String) -> AppResult<String> {
        text("uuid", v, 128)
    }
    pub fn name(v: String) -> AppResult<String> {
        text("name", v, 128)
    }
    pub fn brand(v: String) -> AppResult<String> {
        text("brand", v, 64)
    }
    pub fn architecture(v: String) -> AppResult<String> {
        text("architecture", v, 64)
    }
    pub fn memory_total(v: BigInt) -> AppResult<i64> {
        bytes("memoryTotal", v)
    }
    pub fn cuda_cores(v: i32) -> AppResult<i32> {
        count("cudaCores", v)
    }
    pub fn compute_capability(v: String) -> AppResult<String> {
        text("computeCapability", v, 32)
    }
    pub fn power_limit(v: i32) -> AppResult<i32> {
        count("powerLimit", v)
    }
    pub fn temperature_limit(v: i32) -> AppResult<i32> {
        count("temperatureLimit", v)
    }
}

#[derive(InputObject)]
pub struct CreateGpuInput {
    pub host_id: ID,
    pub gpu_index: i32,
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub brand: Option<String>,
    pub architecture: Option<String>,
    pub memory_total: Option<BigInt>,
    pub cuda_cores: Option<i32>,
    pub compute_capability: Option<String>,
    #[graphql(default_with = "GpuStatus::Available")]
    pub status: GpuStatus,
    pub power_limit: Option<i32>,
    pub temperature_limit: Option<i32>,
}

impl CreateInput for CreateGpuInput {
    type Object = Gpu;
    fn into_row(self) -> AppResult<gpus::ActiveModel> {
        Ok(gpus::ActiveModel {
            host_id: Set(self.host_id.to_string()),
            gpu_index: Set(gpu_columns::gpu_index(self.gpu_index)?),
            uuid: Set(self.uuid.map(gpu_columns::uuid).transpose()?),
            name: Set(self.name.map(gpu_columns::name).transpose()?),
            brand: Set(self.brand.map(gpu_columns::brand).transpose()?),
            architecture: Set(self
                .architecture
                .map(gpu_columns::architecture)
                .transpose()?),
            memory_total: Set(self
                .memory_total
                .map(gpu_columns::memory_total)
                .transpose()?),
            cuda_cores: Set(self.cuda_cores.map(gpu_columns::cuda_cores).transpose()?),
            compute_capability: Set(self
                .compute_capability
                .map(gpu_columns::compute_capability)
                .transpose()?),
            status: Set(Some(self.status.as_db().into())),
            power_limit: Set(self.power_limit.map(gpu_columns::power_limit).transpose()?),
            temperature_limit: Set(self
                .temperature_limit
                .map(gpu_columns::temperature_limit)
                .transpose()?),
            ..Default::default()
        })
    }
}

#[derive(InputObject, Default)]
pub struct UpdateGpuInput {
    pub name: MaybeUndefined<String>,
    pub brand: MaybeUndefined<String>,
    pub architecture: MaybeUndefined<String>,
    pub memory_total: MaybeUndefined<BigInt>,
    pub cuda_cores: MaybeUndefined<i32>,
    pub compute_capability: MaybeUndefined<String>,
    pub status: Option<GpuStatus>,
    pub health_status: Option<GpuHealth>,
    pub power_limit: MaybeUndefined<i32>,
    pub temperature_limit: MaybeUndefined<i32>,
}

impl UpdateInput for UpdateGpuInput {
    type Object = Gpu;
    fn apply(self, row: &mut gpus::ActiveModel) -> AppResult<()> {
        patch_nullable(&mut row.name, parse_nullable(self.name, gpu_columns::name)?);
        patch_nullable(
            &mut row.brand,
            parse_nullable(self.brand, gpu_columns::brand)?,
        );
        patch_nullable(
            &mut row.architecture,
            parse_nullable(self.architecture, gpu_columns::architecture)?,
        );
        patch_nullable(
            &mut row.memory_total,
            parse_nullable(self.memory_total, gpu_columns::memory_total)?,
        );
        patch_nullable(
            &mut row.cuda_cores,
            parse_nullable(self.cuda_cores, gpu_columns::cuda_cores)?,
        );
        patch_nullable(
            &mut row.compute_capability,
            parse_nullable(self.compute_capability, gpu_columns::compute_capability)?,
        );
        patch(&mut row.status, self.status.map(|v| Some(v.as_db().into())));
        patch(
            &mut row.health_status,
            self.health_status.map(|v| Some(v.as_db().into())),
        );
        patch_nullable(
            &mut row.power_limit,
            parse_nullable(self.power_limit, gpu_columns::power_limit)?,
        );
        patch_nullable(
            &mut row.temperature_limit,
            parse_nullable(self.temperature_limit, gpu_columns::temperature_limit)?,
        );
        Ok(())
    }
}

crud_query!(GpuQuery {
    object: Gpu,
    one: gpu,
    many: gpus,
    filter: GpuFilter,
    order: GpuOrder,
});
crud_mutation!(
    GpuMutation,
    Gpu,
    create: create_gpu(CreateGpuInput),
    update: update_gpu(UpdateGpuInput),
    delete: delete_gpu
);

/// What customers may know about the fleet: GPU models and how many are free, without
/// hosts, addresses or other tenants' allocations.
#[derive(SimpleObject, Debug, PartialEq)]
pub struct GpuAvailability {
    pub name: Option<String>,
    /// Bytes.
    pub memory_total: Option<BigInt>,
    pub total: i64,
    /// `AVAILABLE` GPUs on `ONLINE` hosts.
    pub available: i64,
}

#[derive(Default)]
pub struct GpuAvailabilityQuery;

#[Object]
impl GpuAvailabilityQuery {
    /// GPU models on offer, with counts; for every signed-in customer.
    async fn gpu_availability(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<GpuAvailability>> {
        principal(ctx).user().gql()?;
        let rows = fleet::gpu_availability(&state(ctx).db).await.gql()?;
        Ok(rows
            .into_iter()
            .map(|r| GpuAvailability {
                name: r.name,
                memory_total: big_opt(r.memory_total),
                total: r.total,
                available: r.available,
            })
            .collect())
    }
}
