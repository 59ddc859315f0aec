//! The agent's side of environments: the order feed it holds on its WebSocket
//! (`agentEnvironmentOrders`, beside `agentCommands`) and the reconcile it sends on every
//! connect. Agent token only; each agent sees its own host's environments.

use std::collections::HashSet;

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, Subscription, ID};
use futures_util::stream::{self, BoxStream, StreamExt};

use super::crud::{principal, state};
use super::enums::ServiceType;
use super::scalars::BigInt;
use crate::domain::OrderAction;
use crate::error::GqlResult;
use crate::events::{Event, Key, Kind, Topic};
use crate::services::environments::{self as lifecycle, Observed, Order};

/// What the agent does with the container.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvironmentAction {
    /// Create the container (pulling the image when absent) and start it.
    Create,
    Start,
    Restart,
    Stop,
    /// Remove the container.
    Delete,
}

impl From<OrderAction> for EnvironmentAction {
    fn from(a: OrderAction) -> Self {
        match a {
            OrderAction::Create => Self::Create,
            OrderAction::Start => Self::Start,
            OrderAction::Restart => Self::Restart,
            OrderAction::Stop => Self::Stop,
            OrderAction::Delete => Self::Delete,
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct AgentPortBinding {
    pub service: ServiceType,
    pub internal_port: i32,
    /// The host port it is published on.
    pub external_port: i32,
}

#[derive(SimpleObject, Clone)]
pub struct AgentEnvVar {
    pub name: String,
    pub value: String,
}

/// Storage bind-mounted into the container: a key the agent resolves strictly beneath its
/// storage root (never a host path).
#[derive(SimpleObject, Clone)]
pub struct AgentMount {
    /// A relative storage key, e.g. `datasets/c12/<uuid>/<uuid>`.
    pub key: String,
    /// Absolute path inside the container.
    pub target: String,
    /// False only while the environment fills an uploading version it may write.
    pub read_only: bool,
}

/// One order: the whole container as it must be, so applying it needs nothing else.
/// `generation` grows with every order of an environment: apply each at most once and
/// never one older than the newest applied.
#[derive(SimpleObject, Clone)]
pub struct AgentEnvironmentOrder {
    pub environment_id: ID,
    pub generation: BigInt,
    pub action: EnvironmentAction,
    pub image: String,
    pub cpu: i32,
    /// Bytes.
    pub memory: BigInt,
    pub gpu_uuids: Vec<String>,
    pub ports: Vec<AgentPortBinding>,
    pub env_vars: Vec<AgentEnvVar>,
    pub mounts: Vec<AgentMount>,
    /// The tenant's network on the host (`rgpu-c<customer id>` or `rgpu-w<workspace id>`):
    /// created on demand, reached by no other tenant's container.
    pub network: String,
    /// Bytes of `/dev/shm`.
    pub shm_size: BigInt,
}

impl From<Order> for AgentEnvironmentOrder {
    fn from(o: Order) -> Self {
        Self {
            environment_id: ID(o.environment_id),
            generation: BigInt(o.generation),
            action: o.action.into(),
            image: o.image,
            cpu: o.cpu,
            memory: BigInt(o.memory),
            gpu_uuids: o.gpu_uuids,
            ports: o
                .ports
                .into_iter()
                .map(|(service, internal_port, external_port)| AgentPortBinding {
                    service: service.into(),
                    internal_port,
                    external_port,
                })
                .collect(),
            env_vars: o
                .env_vars
                .into_iter()
                .map(|(name, value)| AgentEnvVar { name, value })
                .collect(),
            mounts: o
                .mounts
                .into_iter()
                .map(|m| AgentMount {
                    key: m.key,
                    target: m.target,
                    read_only: m.read_only,
                })
                .collect(),
            network: o.network,
            shm_size: BigInt(o.shm_size),
        }
    }
}

/// A container the agent found, by the environment id on its label.
#[derive(InputObject)]
pub struct ContainerStateInput {
    pub environment_id: ID,
    pub running: bool,
}

#[derive(SimpleObject)]
pub struct ReconcileResult {
    /// Containers labelled with environments this host does not have (also in `remove`).
    pub unknown: Vec<ID>,
    /// Environments whose container vanished: now `FAILED`.
    pub failed: Vec<ID>,
    /// Environments whose container stopped by itself: ordered to start again.
    pub ordered: Vec<ID>,
    /// Stopped environments whose container runs: stop these containers.
    pub stop: Vec<ID>,
    /// Containers to remove (after the agent's grace period): their environment is
    /// `FAILED` or `DELETED`, or unknown here. Their GPUs and ports stay reserved until a
    /// later reconcile no longer lists the container.
    pub remove: Vec<ID>,
    /// Ended environments whose container is confirmed gone: the GPUs, capacity and ports
    /// they kept are free again.
    pub released: Vec<ID>,
}

fn ids(v: Vec<String>) -> Vec<ID> {
    v.into_iter().map(ID).collect()
}

#[derive(Default)]
pub struct AgentEnvironmentMutation;

#[Object]
impl AgentEnvironmentMutation {
    /// The containers the agent found on its host; the server converges with them.
    async fn reconcile_environments(
        &self,
        ctx: &Context<'_>,
        containers: Vec<ContainerStateInput>,
    ) -> async_graphql::Result<ReconcileResult> {
        let host = principal(ctx).agent_host().gql()?.to_owned();
        let app = state(ctx);
        let observed = containers
            .into_iter()
            .map(|c| Observed {
                environment_id: c.environment_id.to_string(),
                running: c.running,
            })
            .collect();
        let done = lifecycle::reconcile(&app.db, app.events.as_ref(), &host, observed)
            .await
            .gql()?;
        Ok(ReconcileResult {
            unknown: ids(done.unknown),
            failed: ids(done.failed),
            ordered: ids(done.ordered),
            stop: ids(done.stop),
            remove: ids(done.remove),
            released: ids(done.released),
        })
    }
}

#[derive(Default)]
pub struct AgentEnvironmentSubscription;

#[Subscription]
impl AgentEnvironmentSubscription {
    /// For a host's agent: first the order under way of each of its environments, then each
    /// new order. Delivery is at-least-once (a reconnecting agent receives again every order
    /// not yet ended).
    async fn agent_environment_orders(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<BoxStream<'static, AgentEnvironmentOrder>> {
        let host = principal(ctx).agent_host().gql()?.to_owned();
        let app = state(ctx).clone();
        // Listen first, then read what is under way, so nothing in between is missed.
        let live = app
            .events
            .subscribe(Topic::new(Kind::EnvironmentOrders, Key::Host(host.clone())));
        let pending = lifecycle::pending_orders(&app.db, &host).await.gql()?;
        let sent: HashSet<(String, i64)> = pending
            .iter()
            .map(|o| (o.environment_id.clone(), o.generation))
            .collect();
        let first: Vec<AgentEnvironmentOrder> = pending.into_iter().map(Into::into).collect();
        let db = app.db.clone();
        let rest = live.into_stream().filter_map(move |event| {
            let (db, host, sent) = (db.clone(), host.clone(), sent.clone());
            async move {
                let Event::EnvironmentOrder(r) = &*event else {
                    return None;
                };
                if sent.contains(&(r.environment_id.clone(), r.generation)) {
                    return None;
                }
                match lifecycle::order_of(&db, &host, &r.environment_id).await {
                    Ok(order) => order
                        .filter(|o| o.generation >= r.generation)
                        .map(Into::into),
                    Err(err) => {
                        tracing::error!(error = %err, "cannot load an environment order");
                        None
                    }
                }
            }
        });
        Ok(stream::iter(first).chain(rest).boxed())
    }
}
