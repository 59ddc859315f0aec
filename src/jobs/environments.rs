//! Environment order timeouts: an environment whose agent has not carried out its order
//! within `environments.order_timeout_secs` (its host or agent is gone) ends `failed` (a
//! delete ends `deleted`), releasing its GPUs, capacity and ports; each ending is published.

use chrono::{DateTime, Duration, Utc};

use crate::error::AppResult;
use crate::events::EnvironmentStatusChange;
use crate::services::environments as lifecycle;
use crate::state::AppState;

/// One pass at `now`; returns the changes it made.
pub async fn run_once(
    state: &AppState,
    now: DateTime<Utc>,
) -> AppResult<Vec<EnvironmentStatusChange>> {
    let timeout = Duration::seconds(state.settings.environments.order_timeout_secs);
    lifecycle::expire(&state.db, state.events.as_ref(), now.naive_utc(), timeout).await
}
