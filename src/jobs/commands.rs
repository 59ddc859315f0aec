//! Command timeouts: a command no agent was sent within `commands.delivery_timeout_secs`
//! ends `timeout` with a result saying it never started; a running one whose agent stays
//! silent `commands.report_grace_secs` past its own limit ends `timeout` too. Each ending is
//! published like any other status change.

use chrono::{DateTime, Duration, Utc};
use entity::commands;

use crate::error::AppResult;
use crate::services::commands as cmd;
use crate::state::AppState;

/// One pass at `now`; returns the commands it ended.
pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> AppResult<Vec<commands::Model>> {
    let settings = &state.settings.commands;
    cmd::expire(
        &state.db,
        state.events.as_ref(),
        now.naive_utc(),
        Duration::seconds(settings.delivery_timeout_secs),
        Duration::seconds(settings.report_grace_secs),
    )
    .await
}
