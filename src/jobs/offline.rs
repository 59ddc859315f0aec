//! Marks hosts offline when their agent stops sending heartbeats (after
//! `agents.offline_after_secs`, 3 agent intervals by default). Each host goes offline once,
//! with one `hostStatus` event; its next heartbeat brings it back online (another event).

use chrono::{DateTime, Utc};

use crate::error::AppResult;
use crate::services::host_status;
use crate::state::AppState;

/// One pass as of `now`; returns how many hosts went offline.
pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> AppResult<usize> {
    // Clamped to a century: `Duration` cannot hold any u64.
    let grace = state
        .settings
        .agents
        .offline_after_secs
        .min(100 * 365 * 86_400) as i64;
    host_status::mark_offline(
        &state.db,
        state.events.as_ref(),
        chrono::Duration::seconds(grace),
        now,
    )
    .await
}
