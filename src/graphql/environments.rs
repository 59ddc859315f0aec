//! Development environments and their port mappings, as the API shows them. Environments
//! are made and changed by the lifecycle (`lifecycle.rs`, `services::environments`); port
//! mappings are allocated with them (operators may still correct one by hand).

use async_graphql::{ComplexObject, Context, InputObject, Json, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{environments as env, port_mappings as pm};
use sea_orm::Set;

use super::accounts::{Customer, Workspace};
use super::convert::{id, port, ts_opt};
use super::crud::{
    crud_mutation, crud_query, load_latest, load_many, load_opt, load_parent, patch, ApiObject,
    CreateInput, UpdateInput,
};
use super::datasets::DatasetUsage;
use super::enums::*;
use super::filter::{filter_input, order_input, EnumFilter, IdFilter, IntFilter};
use super::hosts::Host;
use super::metrics::EnvironmentMetric;
use super::relations::*;
use super::scalars::BigInt;
use crate::error::AppResult;
use crate::error::GqlResult;

/// A customer's container on a host, with CPU, memory (bytes) and GPUs.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Environment {
    pub id: ID,
    pub customer_id: ID,
    #[graphql(skip)]
    pub customer_key: i64,
    pub workspace_id: Option<ID>,
    #[graphql(skip)]
    pub workspace_key: Option<i64>,
    pub host_id: ID,
    pub name: String,
    pub image: String,
    pub status: Option<EnvironmentStatus>,
    pub cpu: i32,
    /// Bytes.
    pub memory: BigInt,
    pub gpu: Option<i32>,
    /// The model of its GPUs (customers see GPUs by model only).
    pub gpu_model: Option<String>,
    /// External port of its SSH service, if it has one.
    pub ssh_port: Option<i32>,
    /// Why it is `FAILED` (e.g. the container runtime's message).
    pub failure_reason: Option<String>,
    /// The address to connect to (a gateway host name or the host's public IP); null
    /// when the platform has neither.
    pub connect_host: Option<String>,
    #[graphql(skip)]
    pub env_vars: Option<serde_json::Value>,
    pub created_at: Option<DateTime<Utc>>,
    /// When it last became `RUNNING`.
    pub started_at: Option<DateTime<Utc>>,
    /// When it last stopped or failed.
    pub stopped_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Why the platform stopped it (spend limit reached, idle); null when its owner did.
    pub stop_reason: Option<String>,
    /// Idle auto-stop: stop after this many minutes of GPU utilization under
    /// `idleThresholdPercent`; null when off (the default).
    pub idle_stop_minutes: Option<i32>,
    pub idle_threshold_percent: Option<f64>,
}

#[ComplexObject]
impl Environment {
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Customer> {
        load_parent::<CustomerById, _>(ctx, self.customer_key)
            .await
            .gql()
    }
    async fn workspace(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Workspace>> {
        load_opt::<WorkspaceById, _>(ctx, self.workspace_key)
            .await
            .gql()
    }
    /// The host it runs on; null for customers, who do not see hosts (use `hostId`).
    async fn host(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Host>> {
        load_opt::<HostById, _>(ctx, Some(self.host_id.to_string()))
            .await
            .gql()
    }
    #[graphql(complexity = "crate::graphql::pagination::fan_out(3, child_complexity)")]
    async fn port_mappings(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PortMapping>> {
        load_many::<PortMappingsOfEnvironment, _>(ctx, self.id.to_string())
            .await
            .gql()
    }
    /// Datasets mounted into this environment.
    #[graphql(complexity = "crate::graphql::pagination::fan_out(5, child_complexity)")]
    async fn dataset_usage(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DatasetUsage>> {
        load_many::<DatasetUsageOfEnvironment, _>(ctx, self.id.to_string())
            .await
            .gql()
    }
    /// What it has cost: its billing records plus the time it ran since the last metered
    /// hour (exact; four decimal places).
    async fn cost_so_far(&self, ctx: &Context<'_>) -> async_graphql::Result<rust_decimal::Decimal> {
        let now = chrono::Utc::now().naive_utc();
        crate::services::spend::cost_so_far(&super::crud::state(ctx).db, self.id.as_str(), now)
            .await
            .map(super::convert::money)
            .gql()
    }
    /// Variables passed to the container, as an object of names to values. Every value is
    /// a secret: only those who may change the environment (its owner while a contributor,
    /// a workspace's OWNER and ADMIN, operators) read them; others see each name with a
    /// null value.
    async fn env_vars(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Json<serde_json::Value>>> {
        let Some(vars) = &self.env_vars else {
            return Ok(None);
        };
        let writable = super::crud::loader(ctx)
            .load_one(super::loaders::WritableEnvironment(self.id.to_string()))
            .await
            .map_err(crate::error::AppError::internal_gql)
            .gql()?
            .is_some();
        if writable {
            return Ok(Some(Json(vars.clone())));
        }
        let names = vars
            .as_object()
            .map(|o| {
                o.keys()
                    .map(|k| (k.clone(), serde_json::Value::Null))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(Json(serde_json::Value::Object(names))))
    }
    async fn latest_metric(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<EnvironmentMetric>> {
        load_latest::<LatestEnvironmentMetric, _>(ctx, self.id.to_string())
            .await
            .gql()
    }
}

impl ApiObject for Environment {
    type Entity = env::Entity;
    const LABEL: &'static str = "environment";
    fn from_model(m: env::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            customer_id: id(m.customer_id),
            customer_key: m.customer_id,
            workspace_id: m.workspace_id.map(id),
            workspace_key: m.workspace_id,
            host_id: id(m.host_id),
            name: m.name,
            image: m.image,
            status: EnvironmentStatus::from_db_opt(m.status.as_deref())?,
            cpu: m.cpu,
            memory: BigInt(m.memory),
            gpu: m.gpu,
            gpu_model: m.gpu_model,
            ssh_port: m.ssh_port,
            failure_reason: m.failure_reason,
            connect_host: m.connect_host,
            env_vars: m.env_vars,
            created_at: ts_opt(m.created_at),
            started_at: ts_opt(m.started_at),
            stopped_at: ts_opt(m.stopped_at),
            updated_at: ts_opt(m.updated_at),
            stop_reason: m.stop_reason,
            idle_stop_minutes: m.idle_stop_minutes,
            idle_threshold_percent: m.idle_stop_minutes.map(|_| {
                m.idle_threshold_percent
                    .unwrap_or(crate::services::environments::IDLE_THRESHOLD_PERCENT)
            }),
        })
    }
}

filter_input!(EnvironmentFilter for env {
    id: IdFilter => Id as String,
    customer_id: IdFilter => CustomerId as i64,
    workspace_id: IdFilter => WorkspaceId as i64,
    host_id: IdFilter => HostId as String,
    status: EnumFilter<EnvironmentStatus> => Status,
});

order_input!(EnvironmentOrder, EnvironmentOrderField, env::Entity, env::Column {
    Id => Id,
    Name => Name,
    Status => Status,
    CreatedAt => CreatedAt,
});

crud_query!(EnvironmentQuery {
    object: Environment,
    one: environment,
    many: environments,
    filter: EnvironmentFilter,
    order: EnvironmentOrder,
});

/// A host port forwarded to a service inside an environment.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct PortMapping {
    pub id: ID,
    pub env_id: ID,
    pub service_type: ServiceType,
    /// Unique across the platform.
    pub external_port: i32,
    pub internal_port: i32,
    pub status: Option<PortMappingStatus>,
    pub allocated_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl PortMapping {
    async fn environment(&self, ctx: &Context<'_>) -> async_graphql::Result<Environment> {
        load_parent::<EnvironmentById, _>(ctx, self.env_id.to_string())
            .await
            .gql()
    }
    /// How to reach the service from outside: `ssh -p 30001 root@gw.example.com`,
    /// `http://gw.example.com:31000` (Jupyter) or `gw.example.com:32000` (RDP). Null while
    /// the platform has no gateway host and the host no public IP.
    async fn connect(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let env: Environment = load_parent::<EnvironmentById, _>(ctx, self.env_id.to_string())
            .await
            .gql()?;
        Ok(env.connect_host.map(|host| match self.service_type {
            ServiceType::Ssh => format!("ssh -p {} root@{host}", self.external_port),
            ServiceType::Jupyter => format!("http://{host}:{}", self.external_port),
            ServiceType::Rdp => format!("{host}:{}", self.external_port),
        }))
    }
}

impl ApiObject for PortMapping {
    type Entity = pm::Entity;
    const LABEL: &'static str = "port mapping";
    fn from_model(m: pm::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            env_id: id(m.env_id),
            service_type: ServiceType::from_db(&m.service_type)?,
            external_port: m.external_port,
            internal_port: m.internal_port,
            status: PortMappingStatus::from_db_opt(m.status.as_deref())?,
            allocated_at: ts_opt(m.allocated_at),
        })
    }
}

filter_input!(PortMappingFilter for pm {
    id: IdFilter => Id as i64,
    env_id: IdFilter => EnvId as String,
    external_port: IntFilter => ExternalPort,
    service_type: EnumFilter<ServiceType> => ServiceType,
});

order_input!(PortMappingOrder, PortMappingOrderField, pm::Entity, pm::Column {
    Id => Id,
    ExternalPort => ExternalPort,
    AllocatedAt => AllocatedAt,
});

/// Each port mapping column's rule, written once for create and update.
mod port_mapping_columns {
    use super::*;

    pub fn external_port(v: i32) -> AppResult<i32> {
        port("externalPort", v)
    }
    pub fn internal_port(v: i32) -> AppResult<i32> {
        port("internalPort", v)
    }
}

#[derive(InputObject)]
pub struct CreatePortMappingInput {
    pub env_id: ID,
    pub service_type: ServiceType,
    pub external_port: i32,
    pub internal_port: i32,
}

impl CreateInput for CreatePortMappingInput {
    type Object = PortMapping;
    fn into_row(self) -> AppResult<pm::ActiveModel> {
        Ok(pm::ActiveModel {
            env_id: Set(self.env_id.to_string()),
            service_type: Set(self.service_type.as_db().into()),
            external_port: Set(port_mapping_columns::external_port(self.external_port)?),
            internal_port: Set(port_mapping_columns::internal_port(self.internal_port)?),
            ..Default::default()
        })
    }
}

#[derive(InputObject, Default)]
pub struct UpdatePortMappingInput {
    pub service_type: Option<ServiceType>,
    pub external_port: Option<i32>,
    pub internal_port: Option<i32>,
    pub status: Option<PortMappingStatus>,
}

impl UpdateInput for UpdatePortMappingInput {
    type Object = PortMapping;
    fn apply(self, row: &mut pm::ActiveModel) -> AppResult<()> {
        patch(
            &mut row.service_type,
            self.service_type.map(|v| v.as_db().into()),
        );
        patch(
            &mut row.external_port,
            self.external_port
                .map(port_mapping_columns::external_port)
                .transpose()?,
        );
        patch(
            &mut row.internal_port,
            self.internal_port
                .map(port_mapping_columns::internal_port)
                .transpose()?,
        );
        patch(&mut row.status, self.status.map(|v| Some(v.as_db().into())));
        Ok(())
    }
}

crud_query!(PortMappingQuery {
    object: PortMapping,
    one: port_mapping,
    many: port_mappings,
    filter: PortMappingFilter,
    order: PortMappingOrder,
});
crud_mutation!(
    PortMappingMutation,
    PortMapping,
    create: create_port_mapping(CreatePortMappingInput),
    update: update_port_mapping(UpdatePortMappingInput),
    delete: delete_port_mapping
);
