//! Hosts (the seed-003 "nodes"), maintained by operators and by the node agent
//! (`graphql::agent`); their GPUs are `graphql::gpus`.

use async_graphql::{
    ComplexObject, Context, InputObject, Json, MaybeUndefined, Object, SimpleObject, ID,
};
use chrono::{DateTime, Utc};
use entity::hosts;
use sea_orm::sea_query::Condition;
use sea_orm::{DbBackend, EntityName, IdenStatic, Set};

use super::convert::{big_opt, bytes, count, id, port, text, ts_opt};
use super::crud::{
    crud_mutation, crud_query, load_latest, load_many, parse_nullable, patch, patch_nullable,
    principal, state, ApiObject, CreateInput, UpdateInput,
};
use super::enums::*;
use super::environments::Environment;
use super::filter::{filter_input, order_input, EnumFilter, IdFilter, StringFilter};
use super::gpus::Gpu;
use super::metrics::HostMetric;
use super::relations::*;
use super::scalars::BigInt;
use crate::auth::policy::user_for;
use crate::db::json_contains;
use crate::domain::{BoundedText, IpAddress};
use crate::error::GqlResult;
use crate::error::{AppError, AppResult};
use crate::services::fleet;

/// A physical or virtual machine with GPUs, running the node agent.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Host {
    pub id: ID,
    pub name: String,
    pub hostname: Option<String>,
    pub ip_address: String,
    pub public_ip: Option<String>,
    pub os_type: OsType,
    pub os_version: Option<String>,
    pub arch: Option<String>,
    pub deployment_mode: DeploymentMode,
    #[graphql(name = "k8sNodeName")]
    pub k8s_node_name: Option<String>,
    pub status: Option<HostStatus>,
    pub health_status: Option<HostHealth>,
    pub total_cpu: i32,
    /// Bytes.
    pub total_memory: BigInt,
    /// Bytes.
    pub total_disk: Option<BigInt>,
    pub total_gpu: Option<i32>,
    pub used_cpu: Option<i32>,
    pub used_memory: Option<BigInt>,
    pub used_disk: Option<BigInt>,
    pub used_gpu: Option<i32>,
    pub ssh_port: Option<i32>,
    pub winrm_port: Option<i32>,
    pub agent_port: Option<i32>,
    /// A JSON object of string values, e.g. `{"region": "us-west", "zone": "a"}`.
    pub labels: Option<Json<serde_json::Value>>,
    pub tags: Vec<String>,
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// The node agent's version, as it last reported itself.
    pub agent_version: Option<String>,
    pub registered_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[ComplexObject]
impl Host {
    #[graphql(complexity = "crate::graphql::pagination::fan_out(8, child_complexity)")]
    async fn gpus(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Gpu>> {
        load_many::<GpusOfHost, _>(ctx, self.id.to_string())
            .await
            .gql()
    }
    #[graphql(complexity = "crate::graphql::pagination::fan_out(4, child_complexity)")]
    async fn environments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Environment>> {
        load_many::<EnvironmentsOfHost, _>(ctx, self.id.to_string())
            .await
            .gql()
    }
    /// The newest metric sample of this host.
    async fn latest_metric(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<HostMetric>> {
        load_latest::<LatestHostMetric, _>(ctx, self.id.to_string())
            .await
            .gql()
    }
}

fn tags_from_json(v: Option<serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::Array(items)) => items
            .into_iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

impl ApiObject for Host {
    type Entity = hosts::Entity;
    const LABEL: &'static str = "host";
    fn from_model(m: hosts::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            name: m.name,
            hostname: m.hostname,
            ip_address: m.ip_address,
            public_ip: m.public_ip,
            os_type: OsType::from_db(&m.os_type)?,
            os_version: m.os_version,
            arch: m.arch,
            deployment_mode: DeploymentMode::from_db(&m.deployment_mode)?,
            k8s_node_name: m.k8s_node_name,
            status: HostStatus::from_db_opt(m.status.as_deref())?,
            health_status: HostHealth::from_db_opt(m.health_status.as_deref())?,
            total_cpu: m.total_cpu,
            total_memory: BigInt(m.total_memory),
            total_disk: big_opt(m.total_disk),
            total_gpu: m.total_gpu,
            used_cpu: m.used_cpu,
            used_memory: big_opt(m.used_memory),
            used_disk: big_opt(m.used_disk),
            used_gpu: m.used_gpu,
            ssh_port: m.ssh_port,
            winrm_port: m.winrm_port,
            agent_port: m.agent_port,
            labels: m.labels.map(Json),
            tags: tags_from_json(m.tags),
            last_heartbeat: ts_opt(m.last_heartbeat),
            agent_version: m.agent_version,
            registered_at: ts_opt(m.registered_at),
            created_at: ts_opt(m.created_at),
            updated_at: ts_opt(m.updated_at),
        })
    }
}

/// Labels are a flat JSON object of short string values, so selectors stay simple.
fn parse_labels(raw: serde_json::Value) -> AppResult<serde_json::Map<String, serde_json::Value>> {
    let serde_json::Value::Object(map) = super::convert::json("labels", raw)? else {
        return Err(AppError::bad_input("labels: must be a JSON object"));
    };
    for (k, v) in &map {
        BoundedText::parse("labels key", k, 63)?;
        match v {
            serde_json::Value::String(v) => {
                BoundedText::parse(&format!("labels.{k}"), v, 256)?;
            }
            _ => {
                return Err(AppError::bad_input(format!(
                    "labels.{k}: values must be strings"
                )))
            }
        }
    }
    Ok(map)
}

const MAX_TAGS: usize = 64;

fn parse_tags(tags: Vec<String>) -> AppResult<serde_json::Value> {
    if tags.len() > MAX_TAGS {
        return Err(AppError::bad_input(format!(
            "tags: at most {MAX_TAGS}, got {}",
            tags.len()
        )));
    }
    let parsed = tags
        .iter()
        .map(|t| {
            BoundedText::parse("tags", t, 64).map(|t| serde_json::Value::String(t.into_string()))
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(serde_json::Value::Array(parsed))
}

filter_input!(HostFilter for hosts {
    id: IdFilter => Id as String,
    name: StringFilter => Name,
    os_type: EnumFilter<OsType> => OsType,
    status: EnumFilter<HostStatus> => Status,
    deployment_mode: EnumFilter<DeploymentMode> => DeploymentMode,
    /// Hosts whose labels contain every key/value pair of this object.
    labels: Json<serde_json::Value> => Labels with labels_contain,
});

/// The `labels` filter: hosts whose labels hold every pair of the (parsed) object.
fn labels_contain(
    labels: Json<serde_json::Value>,
    col: hosts::Column,
    backend: DbBackend,
) -> AppResult<Condition> {
    let labels = parse_labels(labels.0)?;
    Ok(Condition::all().add(json_contains(
        backend,
        hosts::Entity.table_name(),
        col.as_str(),
        &labels,
    )))
}

order_input!(HostOrder, HostOrderField, hosts::Entity, hosts::Column {
    Id => Id,
    Name => Name,
    Status => Status,
    TotalGpu => TotalGpu,
    LastHeartbeat => LastHeartbeat,
    CreatedAt => CreatedAt,
});

/// Each host column's rule, written once for `createHost`, `updateHost` and the agent's
/// `agentReport`.
pub(crate) mod host_columns {
    use super::*;

    pub fn name(v: String) -> AppResult<String> {
        text("name", v, 128)
    }
    pub fn hostname(v: String) -> AppResult<String> {
        text("hostname", v, 256)
    }
    pub fn ip_address(v: String) -> AppResult<String> {
        Ok(IpAddress::parse("ipAddress", &v)?.into_string())
    }
    pub fn public_ip(v: String) -> AppResult<String> {
        Ok(IpAddress::parse("publicIp", &v)?.into_string())
    }
    pub fn os_version(v: String) -> AppResult<String> {
        text("osVersion", v, 64)
    }
    pub fn arch(v: String) -> AppResult<String> {
        text("arch", v, 20)
    }
    pub fn k8s_node_name(v: String) -> AppResult<String> {
        text("k8sNodeName", v, 128)
    }
    pub fn total_cpu(v: i32) -> AppResult<i32> {
        count("totalCpu", v)
    }
    pub fn total_memory(v: BigInt) -> AppResult<i64> {
        bytes("totalMemory", v)
    }
    pub fn total_disk(v: BigInt) -> AppResult<i64> {
        bytes("totalDisk", v)
    }
    pub fn total_gpu(v: i32) -> AppResult<i32> {
        count("totalGpu", v)
    }
    pub fn ssh_port(v: i32) -> AppResult<i32> {
        port("sshPort", v)
    }
    pub fn winrm_port(v: i32) -> AppResult<i32> {
        port("winrmPort", v)
    }
    pub fn agent_port(v: i32) -> AppResult<i32> {
        port("agentPort", v)
    }
    pub fn labels(v: Json<serde_json::Value>) -> AppResult<serde_json::Value> {
        parse_labels(v.0).map(serde_json::Value::Object)
    }
    pub fn tags(v: Vec<String>) -> AppResult<serde_json::Value> {
        parse_tags(v)
    }
}

#[derive(InputObject)]
pub struct CreateHostInput {
    pub name: String,
    pub hostname: Option<String>,
    pub ip_address: String,
    pub public_ip: Option<String>,
    pub os_type: OsType,
    pub os_version: Option<String>,
    #[graphql(default_with = "\"x86_64\".to_string()")]
    pub arch: String,
    pub deployment_mode: DeploymentMode,
    #[graphql(name = "k8sNodeName")]
    pub k8s_node_name: Option<String>,
    #[graphql(default_with = "HostStatus::Offline")]
    pub status: HostStatus,
    pub total_cpu: i32,
    pub total_memory: BigInt,
    pub total_disk: Option<BigInt>,
    #[graphql(default)]
    pub total_gpu: i32,
    #[graphql(default = 22)]
    pub ssh_port: i32,
    pub winrm_port: Option<i32>,
    #[graphql(default = 8080)]
    pub agent_port: i32,
    pub labels: Option<Json<serde_json::Value>>,
    pub tags: Option<Vec<String>>,
}

impl CreateInput for CreateHostInput {
    type Object = Host;
    fn into_row(self) -> AppResult<hosts::ActiveModel> {
        Ok(hosts::ActiveModel {
            id: Set(format!("host-{}", uuid::Uuid::new_v4().simple())),
            name: Set(host_columns::name(self.name)?),
            hostname: Set(self.hostname.map(host_columns::hostname).transpose()?),
            ip_address: Set(host_columns::ip_address(self.ip_address)?),
            public_ip: Set(self.public_ip.map(host_columns::public_ip).transpose()?),
            os_type: Set(self.os_type.as_db().into()),
            os_version: Set(self.os_version.map(host_columns::os_version).transpose()?),
            arch: Set(Some(host_columns::arch(self.arch)?)),
            deployment_mode: Set(self.deployment_mode.as_db().into()),
            k8s_node_name: Set(self
                .k8s_node_name
                .map(host_columns::k8s_node_name)
                .transpose()?),
            status: Set(Some(self.status.as_db().into())),
            total_cpu: Set(host_columns::total_cpu(self.total_cpu)?),
            total_memory: Set(host_columns::total_memory(self.total_memory)?),
            total_disk: Set(self.total_disk.map(host_columns::total_disk).transpose()?),
            total_gpu: Set(Some(host_columns::total_gpu(self.total_gpu)?)),
            ssh_port: Set(Some(host_columns::ssh_port(self.ssh_port)?)),
            winrm_port: Set(self.winrm_port.map(host_columns::winrm_port).transpose()?),
            agent_port: Set(Some(host_columns::agent_port(self.agent_port)?)),
            labels: Set(self.labels.map(host_columns::labels).transpose()?),
            tags: Set(Some(host_columns::tags(self.tags.unwrap_or_default())?)),
            ..Default::default()
        })
    }
}

#[derive(InputObject, Default)]
pub struct UpdateHostInput {
    pub name: Option<String>,
    pub hostname: MaybeUndefined<String>,
    pub ip_address: Option<String>,
    pub public_ip: MaybeUndefined<String>,
    pub os_type: Option<OsType>,
    pub os_version: MaybeUndefined<String>,
    pub arch: Option<String>,
    pub deployment_mode: Option<DeploymentMode>,
    #[graphql(name = "k8sNodeName")]
    pub k8s_node_name: MaybeUndefined<String>,
    /// Operators set `MAINTENANCE`; the agent's heartbeats drive online/offline.
    pub status: Option<HostStatus>,
    pub total_cpu: Option<i32>,
    pub total_memory: Option<BigInt>,
    pub total_disk: MaybeUndefined<BigInt>,
    pub total_gpu: Option<i32>,
    pub ssh_port: Option<i32>,
    pub winrm_port: MaybeUndefined<i32>,
    pub agent_port: Option<i32>,
    pub labels: MaybeUndefined<Json<serde_json::Value>>,
    pub tags: Option<Vec<String>>,
}

impl UpdateInput for UpdateHostInput {
    type Object = Host;
    fn apply(self, row: &mut hosts::ActiveModel) -> AppResult<()> {
        patch(
            &mut row.name,
            self.name.map(host_columns::name).transpose()?,
        );
        patch_nullable(
            &mut row.hostname,
            parse_nullable(self.hostname, host_columns::hostname)?,
        );
        patch(
            &mut row.ip_address,
            self.ip_address.map(host_columns::ip_address).transpose()?,
        );
        patch_nullable(
            &mut row.public_ip,
            parse_nullable(self.public_ip, host_columns::public_ip)?,
        );
        patch(&mut row.os_type, self.os_type.map(|v| v.as_db().into()));
        patch_nullable(
            &mut row.os_version,
            parse_nullable(self.os_version, host_columns::os_version)?,
        );
        patch(
            &mut row.arch,
            self.arch
                .map(|v| host_columns::arch(v).map(Some))
                .transpose()?,
        );
        patch(
            &mut row.deployment_mode,
            self.deployment_mode.map(|v| v.as_db().into()),
        );
        patch_nullable(
            &mut row.k8s_node_name,
            parse_nullable(self.k8s_node_name, host_columns::k8s_node_name)?,
        );
        patch(&mut row.status, self.status.map(|v| Some(v.as_db().into())));
        patch(
            &mut row.total_cpu,
            self.total_cpu.map(host_columns::total_cpu).transpose()?,
        );
        patch(
            &mut row.total_memory,
            self.total_memory
                .map(host_columns::total_memory)
                .transpose()?,
        );
        patch_nullable(
            &mut row.total_disk,
            parse_nullable(self.total_disk, host_columns::total_disk)?,
        );
        patch(
            &mut row.total_gpu,
            self.total_gpu
                .map(|v| host_columns::total_gpu(v).map(Some))
                .transpose()?,
        );
        patch(
            &mut row.ssh_port,
            self.ssh_port
                .map(|p| host_columns::ssh_port(p).map(Some))
                .transpose()?,
        );
        patch_nullable(
            &mut row.winrm_port,
            parse_nullable(self.winrm_port, host_columns::winrm_port)?,
        );
        patch(
            &mut row.agent_port,
            self.agent_port
                .map(|p| host_columns::agent_port(p).map(Some))
                .transpose()?,
        );
        patch_nullable(
            &mut row.labels,
            parse_nullable(self.labels, host_columns::labels)?,
        );
        patch(
            &mut row.tags,
            self.tags
                .map(|t| host_columns::tags(t).map(Some))
                .transpose()?,
        );
        Ok(())
    }
}

crud_query!(HostQuery {
    object: Host,
    one: host,
    many: hosts,
    filter: HostFilter,
    order: HostOrder,
});
crud_mutation!(
    HostMutation,
    Host,
    update: update_host(UpdateHostInput),
    delete: delete_host
);

/// A new host and the token its agent authenticates with. The token is shown only here.
#[derive(SimpleObject)]
pub struct CreateHostPayload {
    pub host: Host,
    /// `rgpu_agent_...`: give it to the host's agent; only its hash is stored.
    pub agent_token: String,
}

#[derive(Default)]
pub struct HostAdminMutation;

#[Object]
impl HostAdminMutation {
    /// Registers a host (operators only) and issues its agent token.
    async fn create_host(
        &self,
        ctx: &Context<'_>,
        input: CreateHostInput,
    ) -> async_graphql::Result<CreateHostPayload> {
        let user = user_for::<hosts::Entity>(&principal(ctx)).gql()?;
        let row = input.into_row().gql()?;
        let app = state(ctx);
        let (host, agent_token) = fleet::register_host(&app.db, app.events.as_ref(), user, row)
            .await
            .gql()?;
        Ok(CreateHostPayload {
            host: Host::from_model(host).gql()?,
            agent_token,
        })
    }

    /// Replaces a host's agent token (operators only); the old one stops working at once.
    async fn rotate_agent_token(
        &self,
        ctx: &Context<'_>,
        host_id: ID,
    ) -> async_graphql::Result<String> {
        let user = user_for::<hosts::Entity>(&principal(ctx)).gql()?;
        let app = state(ctx);
        fleet::rotate_agent_token(&app.db, app.events.as_ref(), user, host_id.to_string())
            .await
            .gql()
    }

    /// Declares a host lost (operators only): its machine will not come back, so no agent
    /// will confirm that its containers are gone. Every environment on it that has not ended
    /// fails, and the GPUs, capacity and ports they held or kept are free. Returns the ids
    /// of the environments changed.
    async fn declare_host_lost(
        &self,
        ctx: &Context<'_>,
        host_id: ID,
    ) -> async_graphql::Result<Vec<ID>> {
        user_for::<hosts::Entity>(&principal(ctx)).gql()?;
        let app = state(ctx);
        crate::services::crud::get::<hosts::Entity>(
            &app.db,
            host_id.to_string(),
            "host",
            sea_orm::Condition::all(),
        )
        .await
        .gql()?;
        let changed = crate::services::environments::declare_host_lost(
            &app.db,
            app.events.as_ref(),
            host_id.as_str(),
        )
        .await
        .gql()?;
        Ok(changed.into_iter().map(ID).collect())
    }
}
