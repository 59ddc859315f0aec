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

mod create;
mod orders;
mod quota;
mod reconcile;
mod resources;
mod stops;
mod transitions;

pub use create::*;
pub use orders::*;
pub use quota::*;
pub use reconcile::*;
use resources::*;
pub use stops::*;
pub use transitions::*;

use chrono::{NaiveDateTime, Utc};
use entity::environments as env;

use crate::db;
use crate::domain::{EnvState, ServiceKind};
use crate::error::{AppError, AppResult};

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

/// What a customer (or operator) asks of an existing environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Stop,
    Start,
    Restart,
    Delete,
}

/// Only columns the quota overrides touch; `None` keeps the default.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub max_gpus: Option<i32>,
    pub max_environments: Option<i32>,
}
