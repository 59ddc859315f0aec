//! Background jobs. Each has a `run_once(state, now)` that does one pass (tests call it
//! directly, with the clock they want) and runs in a loop started by
//! [`crate::startup::Application`] when `jobs.enabled` (the default) and stopped on shutdown.
//! Every job is safe to run on several replicas at once. Each pass runs in a `job` span; a
//! failed pass is logged at ERROR with its cause (an internal error's source included).
//!
//! - [`offline`]: hosts without a heartbeat for `agents.offline_after_secs` go offline.
//! - [`rollups`]: hourly and daily metric rollups, and retention.
//! - [`commands`]: commands never delivered, or whose agent went silent, end `timeout`.
//! - [`environments`]: environments whose order was never carried out end `failed`.
//! - [`billing`]: metering, invoices, spend limits and idle auto-stop.

pub mod billing;
pub mod commands;
pub mod environments;
pub mod offline;
pub mod rollups;

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::error::AppResult;
use crate::state::AppState;

/// Starts every job; they finish when `shutdown` turns true.
pub fn spawn(state: &AppState, shutdown: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let jobs = &state.settings.jobs;
    let offline_state = state.clone();
    let rollup_state = state.clone();
    let command_state = state.clone();
    let environment_state = state.clone();
    let billing_state = state.clone();
    vec![
        tokio::spawn(every(
            "billing",
            Duration::from_secs(jobs.billing_interval_secs),
            shutdown.clone(),
            move || {
                let state = billing_state.clone();
                async move {
                    billing::run_once(&state, chrono::Utc::now())
                        .await
                        .map(drop)
                }
            },
        )),
        tokio::spawn(every(
            "environments",
            Duration::from_secs(jobs.command_check_interval_secs),
            shutdown.clone(),
            move || {
                let state = environment_state.clone();
                async move {
                    environments::run_once(&state, chrono::Utc::now())
                        .await
                        .map(drop)
                }
            },
        )),
        tokio::spawn(every(
            "commands",
            Duration::from_secs(jobs.command_check_interval_secs),
            shutdown.clone(),
            move || {
                let state = command_state.clone();
                async move {
                    commands::run_once(&state, chrono::Utc::now())
                        .await
                        .map(drop)
                }
            },
        )),
        tokio::spawn(every(
            "host-offline",
            Duration::from_secs(jobs.offline_check_interval_secs),
            shutdown.clone(),
            move || {
                let state = offline_state.clone();
                async move {
                    offline::run_once(&state, chrono::Utc::now())
                        .await
                        .map(drop)
                }
            },
        )),
        tokio::spawn(every(
            "rollups",
            Duration::from_secs(jobs.rollup_interval_secs),
            shutdown.clone(),
            move || {
                let state = rollup_state.clone();
                async move {
                    rollups::run_once(&state, chrono::Utc::now())
                        .await
                        .map(drop)
                }
            },
        )),
    ]
}

/// Runs `pass` every `period` (the first time one period after start) until shutdown. A
/// failed pass is logged; the next one runs as planned.
async fn every<F, Fut>(
    name: &'static str,
    period: Duration,
    mut shutdown: watch::Receiver<bool>,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = AppResult<()>>,
{
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        let span = tracing::info_span!("job", job = name);
        let started = std::time::Instant::now();
        let outcome = pass().instrument(span.clone()).await;
        let _entered = span.enter();
        match outcome {
            Ok(()) => tracing::debug!(
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "job pass finished"
            ),
            // The cause, not the client-facing "internal error": nobody else will log it.
            Err(crate::error::AppError::Internal(source)) => {
                tracing::error!(error = %source, "background job failed");
            }
            Err(err) => tracing::error!(error = %err, "background job failed"),
        }
    }
    tracing::debug!(job = name, "loop ended");
}
