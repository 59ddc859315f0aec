//! Metric rollups and retention (seed 000 §4.3); see `services::rollups`.

use chrono::{DateTime, Utc};

use crate::error::AppResult;
use crate::services::rollups::{self, RollupReport};
use crate::state::AppState;

/// One pass as of `now`: completed hours and days are rolled up, expired rows deleted.
pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> AppResult<RollupReport> {
    let report = rollups::roll_up(&state.db, &state.settings.metrics, now).await?;
    if report != RollupReport::default() {
        tracing::info!(?report, "metric retention");
    }
    Ok(report)
}
