//! Subscriptions (over `/graphql/ws`): live GPU and host samples, host status and
//! environment status changes, from the event bus (`crate::events`).
//!
//! Each delivers only what its subscriber may read, by the same rules as the queries: metrics
//! and hosts are operators' (customers are refused with FORBIDDEN, as for the queries),
//! environments their customer's and their workspace members' (`Policy::readable`, checked
//! per event). Asking for one environment the caller cannot read is NOT_FOUND, exactly like
//! one that does not exist.
//! A subscriber gets events published after it subscribed, never a replay; one that reads
//! too slowly skips the oldest events (see `crate::events`).

use std::sync::Arc;

use async_graphql::{Context, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use entity::{environments, gpu_metrics, gpus, host_metrics, hosts};
use futures_util::stream::{self, BoxStream, StreamExt};
use sea_orm::{DatabaseConnection, PaginatorTrait, PrimaryKeyTrait, QueryFilter};

use super::crud::{principal, state, ApiObject};
use super::enums::{EnvironmentStatus, HostStatus};
use super::metrics::{EnvironmentMetric, GpuMetric, HostMetric};
use crate::auth::policy::{user_for, Policy, Scope};
use crate::auth::User;
use crate::error::{AppError, AppResult, GqlResult};
use crate::events::{EnvironmentStatusChange, Event, HostStatusChange, Key, Kind, Topic};
use crate::services::crud::Pk;
use crate::state::AppState;

/// A host's status changed: a heartbeat brought it online, or the offline job took it
/// offline. (An operator's `updateHost` is not published.)
#[derive(SimpleObject, Clone)]
pub struct HostStatusEvent {
    pub host_id: ID,
    pub status: HostStatus,
    pub previous_status: Option<HostStatus>,
    pub at: DateTime<Utc>,
}

impl HostStatusEvent {
    fn from_change(c: &HostStatusChange) -> AppResult<Self> {
        Ok(Self {
            host_id: ID(c.host_id.clone()),
            status: c.status.into(),
            previous_status: c.previous_status.map(Into::into),
            at: c.at,
        })
    }
}

/// An environment's status changed (reported by the agent of its host).
#[derive(SimpleObject, Clone)]
pub struct EnvironmentStatusEvent {
    pub environment_id: ID,
    pub host_id: ID,
    pub status: EnvironmentStatus,
    pub previous_status: Option<EnvironmentStatus>,
    /// Why it failed (for `FAILED`).
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

impl EnvironmentStatusEvent {
    pub fn from_change(c: &EnvironmentStatusChange) -> AppResult<Self> {
        Ok(Self {
            environment_id: ID(c.environment_id.clone()),
            host_id: ID(c.host_id.clone()),
            status: c.status.into(),
            previous_status: c.previous_status.map(Into::into),
            reason: c.reason.clone(),
            at: c.at,
        })
    }
}

/// The row `key` of `E` exists and `user` may read it; otherwise NOT_FOUND.
pub(crate) async fn require_readable<E>(
    db: &DatabaseConnection,
    user: User,
    key: Pk<E>,
    label: &'static str,
) -> AppResult<()>
where
    E: Policy,
    E::Model: Sync,
{
    let found = E::find_by_id(key)
        .filter(E::readable(user).condition())
        .count(db)
        .await?;
    if found == 0 {
        return Err(AppError::NotFound(label));
    }
    Ok(())
}

/// The events of `topic` that `select` keeps (it returns the row of `E` the event is about,
/// and the object to send), among those `user` may read. Operators' scope is decided once;
/// a narrower scope (a customer's environments) is checked against the row per event, so a
/// membership that ends stops the stream at once.
pub(crate) fn deliver<E, O, F>(
    state: &AppState,
    user: User,
    topic: Topic,
    select: F,
) -> BoxStream<'static, O>
where
    E: Policy,
    E::Model: Sync,
    Pk<E>: Send,
    O: Send + 'static,
    F: Fn(&Event) -> Option<(Pk<E>, AppResult<O>)> + Send + Sync + 'static,
{
    let condition = match E::readable(user) {
        // Nothing to see: a silent stream, like an empty list, without a bus subscription.
        Scope::Nothing => return stream::pending().boxed(),
        Scope::All => None,
        Scope::Only(condition) => Some(condition),
    };
    let db = state.db.clone();
    let select = Arc::new(select);
    state
        .events
        .subscribe(topic)
        .into_stream()
        .filter_map(move |event| {
            let (db, condition, select) = (db.clone(), condition.clone(), select.clone());
            async move {
                let (key, object) = select(&event)?;
                if let Some(condition) = condition {
                    let visible = E::find_by_id(key)
                        .filter(condition)
                        .count(&db)
                        .await
                        .map_err(|err| tracing::warn!(error = %err, "subscription check failed"))
                        .ok()?;
                    if visible == 0 {
                        return None;
                    }
                }
                object
                    .map_err(|err| tracing::error!(error = %err, "cannot show an event"))
                    .ok()
            }
        })
        .boxed()
}

/// The events of `kind` about the rows of `E` the user may read: all of them, or the one
/// named by `id` (NOT_FOUND, like a row that does not exist, when it cannot be read).
/// `select` gets each event and the named id, and returns the row key and the object.
async fn about_rows<E, O, F>(
    state: &AppState,
    user: User,
    id: Option<String>,
    label: &'static str,
    kind: Kind,
    key: fn(String) -> Key,
    select: F,
) -> AppResult<BoxStream<'static, O>>
where
    E: Policy<Model: Sync, PrimaryKey: PrimaryKeyTrait<ValueType = String>>,
    O: Send + 'static,
    F: Fn(&Event, Option<&str>) -> Option<(String, AppResult<O>)> + Send + Sync + 'static,
{
    if let Some(id) = &id {
        require_readable::<E>(&state.db, user, id.clone(), label).await?;
    }
    let topic = Topic::new(kind, id.clone().map_or(Key::All, key));
    Ok(deliver::<E, _, _>(state, user, topic, move |event| {
        select(event, id.as_deref())
    }))
}

fn gpu_key(id: &ID) -> AppResult<i64> {
    id.parse::<i64>().map_err(|_| AppError::NotFound("gpu"))
}

#[derive(Default)]
pub struct LiveSubscription;

#[Subscription]
impl LiveSubscription {
    /// New GPU samples as agents report them: all (operators), one host's or one GPU's.
    async fn gpu_metrics(
        &self,
        ctx: &Context<'_>,
        host_id: Option<ID>,
        gpu_id: Option<ID>,
    ) -> async_graphql::Result<BoxStream<'static, GpuMetric>> {
        let user = user_for::<gpu_metrics::Entity>(&principal(ctx)).gql()?;
        let state = state(ctx);
        let gpu = gpu_id.as_ref().map(gpu_key).transpose().gql()?;
        let host = host_id.map(|h| h.to_string());
        if let Some(g) = gpu {
            require_readable::<gpus::Entity>(&state.db, user, g, "gpu")
                .await
                .gql()?;
        }
        if let Some(h) = &host {
            require_readable::<hosts::Entity>(&state.db, user, h.clone(), "host")
                .await
                .gql()?;
        }
        let key = match (gpu, &host) {
            (Some(g), _) => Key::Gpu(g),
            (None, Some(h)) => Key::Host(h.clone()),
            (None, None) => Key::All,
        };
        Ok(deliver::<gpu_metrics::Entity, _, _>(
            state,
            user,
            Topic::new(Kind::GpuMetrics, key),
            move |event| match event {
                Event::GpuMetric(m)
                    if host.as_ref().is_none_or(|h| *h == m.host_id)
                        && gpu.is_none_or(|g| g == m.gpu_id) =>
                {
                    Some((m.id, GpuMetric::from_model(m.clone())))
                }
                _ => None,
            },
        ))
    }

    /// New host samples as agents report them: all hosts' (operators) or one host's.
    async fn host_metrics(
        &self,
        ctx: &Context<'_>,
        host_id: Option<ID>,
    ) -> async_graphql::Result<BoxStream<'static, HostMetric>> {
        let user = user_for::<host_metrics::Entity>(&principal(ctx)).gql()?;
        let state = state(ctx);
        let host = host_id.map(|h| h.to_string());
        if let Some(h) = &host {
            require_readable::<hosts::Entity>(&state.db, user, h.clone(), "host")
                .await
                .gql()?;
        }
        let key = host.clone().map_or(Key::All, Key::Host);
        Ok(deliver::<host_metrics::Entity, _, _>(
            state,
            user,
            Topic::new(Kind::HostMetrics, key),
            move |event| match event {
                Event::HostMetric(m) if host.as_ref().is_none_or(|h| *h == m.host_id) => {
                    Some((m.id, HostMetric::from_model(m.clone())))
                }
                _ => None,
            },
        ))
    }

    /// Resource use of environments as their agents report it: all one may read, or one
    /// environment's (its customer's and its workspace members', like the environment).
    async fn environment_metrics(
        &self,
        ctx: &Context<'_>,
        environment_id: Option<ID>,
    ) -> async_graphql::Result<BoxStream<'static, EnvironmentMetric>> {
        let user = principal(ctx).user().gql()?;
        about_rows::<environments::Entity, _, _>(
            state(ctx),
            user,
            environment_id.map(|e| e.to_string()),
            "environment",
            Kind::EnvironmentMetrics,
            Key::Environment,
            |event, only| match event {
                Event::EnvironmentMetric(m) if only.is_none_or(|e| e == m.env_id) => {
                    Some((m.env_id.clone(), EnvironmentMetric::from_model(m.clone())))
                }
                _ => None,
            },
        )
        .await
        .gql()
    }

    /// Host status changes (`ONLINE`, `OFFLINE`, ...): all hosts' or one host's.
    async fn host_status(
        &self,
        ctx: &Context<'_>,
        host_id: Option<ID>,
    ) -> async_graphql::Result<BoxStream<'static, HostStatusEvent>> {
        let user = user_for::<hosts::Entity>(&principal(ctx)).gql()?;
        about_rows::<hosts::Entity, _, _>(
            state(ctx),
            user,
            host_id.map(|h| h.to_string()),
            "host",
            Kind::HostStatus,
            Key::Host,
            |event, only| match event {
                Event::HostStatus(c) if only.is_none_or(|h| h == c.host_id) => {
                    Some((c.host_id.clone(), HostStatusEvent::from_change(c)))
                }
                _ => None,
            },
        )
        .await
        .gql()
    }

    /// Status changes of the environments the caller may see, or of one of them.
    async fn environment_status(
        &self,
        ctx: &Context<'_>,
        environment_id: Option<ID>,
    ) -> async_graphql::Result<BoxStream<'static, EnvironmentStatusEvent>> {
        let user = principal(ctx).user().gql()?;
        about_rows::<environments::Entity, _, _>(
            state(ctx),
            user,
            environment_id.map(|e| e.to_string()),
            "environment",
            Kind::EnvironmentStatus,
            Key::Environment,
            |event, only| match event {
                Event::EnvironmentStatus(c) if only.is_none_or(|e| e == c.environment_id) => {
                    Some((
                        c.environment_id.clone(),
                        EnvironmentStatusEvent::from_change(c),
                    ))
                }
                _ => None,
            },
        )
        .await
        .gql()
    }
}
