//! Billing, every `jobs.billing_interval_secs` (60): meter the hours that closed
//! ([`metering::meter`]), bring the drafts' totals up to date, issue the invoices of months
//! that ended, check every account with a limit or something running against its limit
//! (publishing its spend), and stop idle environments. Every step is idempotent and safe on
//! several replicas at once.

use chrono::{DateTime, Utc};
use entity::invoices;

use crate::error::AppResult;
use crate::services::environments as lifecycle;
use crate::services::invoices as billing_invoices;
use crate::services::metering::{self, Metered};
use crate::services::spend::{self, Standing};
use crate::state::AppState;

/// What one pass did.
#[derive(Debug, Default)]
pub struct Pass {
    pub metered: Metered,
    pub issued: Vec<invoices::Model>,
    pub checked: Vec<Standing>,
    pub idle_stopped: Vec<String>,
}

/// One pass at `now`.
pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> AppResult<Pass> {
    let (db, bus, now) = (&state.db, state.events.as_ref(), now.naive_utc());
    let metered = metering::meter(db, now).await?;
    billing_invoices::refresh(db, &metered.invoices, now).await?;
    let issued = billing_invoices::issue_closed(db, now).await?;
    let mut checked = Vec::new();
    for account in spend::accounts_to_check(db).await? {
        checked.push(lifecycle::enforce_spend_limit(db, bus, account, now).await?);
    }
    let idle_stopped = lifecycle::stop_idle(db, bus, now).await?;
    Ok(Pass {
        metered,
        issued,
        checked,
        idle_stopped,
    })
}
