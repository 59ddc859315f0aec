//! The platform stops environments: those whose GPUs stayed idle for their idle auto-stop
//! setting, and those of an account that reached its monthly spend limit (`services::spend`
//! decides the standing; the stopping is the lifecycle's).

use super::*;

use chrono::{Duration, NaiveDateTime};
use entity::environment_metrics as em;
use entity::environments as env;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::domain::{BillingAccount, Money};
use crate::events::EventBus;
use crate::services::spend::{self, Checked, Standing};

use crate::auth::User;
use crate::db;
use crate::error::{AppError, AppResult};

/// Idle auto-stop settings of an environment: stop it once its GPUs stayed under
/// `threshold_percent` for `minutes` (None: off). Whoever may change the environment sets them.
pub async fn set_idle_stop(
    db: &DatabaseConnection,
    user: User,
    id: &str,
    minutes: Option<i32>,
    threshold_percent: Option<f64>,
) -> AppResult<env::Model> {
    if let Some(m) = minutes {
        if !(5..=10_080).contains(&m) {
            return Err(AppError::bad_input(format!(
                "minutes: {m} is outside 5-10080 (a week)"
            )));
        }
    }
    if let Some(t) = threshold_percent {
        if !(t.is_finite() && t > 0.0 && t <= 100.0) {
            return Err(AppError::bad_input(format!(
                "thresholdPercent: {t} is outside (0, 100]"
            )));
        }
    }
    let row = writable(db, user, id).await?;
    let _writer = db::write_guard(db).await;
    env::Entity::update_many()
        .col_expr(env::Column::IdleStopMinutes, Expr::value(minutes))
        .col_expr(
            env::Column::IdleThresholdPercent,
            Expr::value(minutes.and(threshold_percent)),
        )
        .filter(env::Column::Id.eq(row.id.as_str()))
        .exec(db)
        .await?;
    env::Entity::find_by_id(row.id.as_str())
        .one(db)
        .await?
        .ok_or(AppError::NotFound("environment"))
}

/// The default `idle_threshold_percent`.
pub const IDLE_THRESHOLD_PERCENT: f64 = 5.0;

/// Stops running environments whose GPUs stayed idle for their `idle_stop_minutes`;
/// returns their ids.
pub async fn stop_idle(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    now: NaiveDateTime,
) -> AppResult<Vec<String>> {
    let candidates = env::Entity::find()
        .filter(env::Column::Status.eq(EnvState::Running.as_db()))
        .filter(env::Column::IdleStopMinutes.is_not_null())
        .filter(env::Column::Gpu.gt(0))
        .all(db)
        .await?;
    let mut stopped = Vec::new();
    for row in candidates {
        let Some(minutes) = row.idle_stop_minutes.filter(|m| *m > 0) else {
            continue;
        };
        let since = now - Duration::minutes(i64::from(minutes));
        if row.started_at.is_none_or(|t| t > since) {
            continue;
        }
        let threshold = row.idle_threshold_percent.unwrap_or(IDLE_THRESHOLD_PERCENT);
        let samples = em::Entity::find()
            .filter(em::Column::EnvId.eq(row.id.as_str()))
            .filter(em::Column::CollectedAt.gte(since))
            .filter(em::Column::CollectedAt.lte(now))
            .all(db)
            .await?;
        let idle = !samples.is_empty()
            && samples
                .iter()
                .all(|s| s.gpu_usage_percent.unwrap_or(0.0) < threshold);
        if idle {
            let reason =
                format!("stopped: idle, GPU utilization under {threshold}% for {minutes} min");
            stop_for_platform(db, bus, &row.id, reason).await?;
            stopped.push(row.id);
        }
    }
    Ok(stopped)
}

/// Checks `account` against its spend limit at `now` and stops its live environments when
/// the limit is reached, each with the reason recorded.
pub async fn enforce_spend_limit(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    account: BillingAccount,
    now: NaiveDateTime,
) -> AppResult<Standing> {
    let checked = spend::check(db, bus, account, now).await?;
    stop_all(db, bus, &checked).await?;
    Ok(checked.standing)
}

/// Sets an account's spend limit (see [`spend::set_limit`]) and enforces it at once.
pub async fn set_spend_limit(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    user: User,
    account: BillingAccount,
    limit: Option<Money>,
) -> AppResult<Standing> {
    let checked = spend::set_limit(db, bus, user, account, limit).await?;
    stop_all(db, bus, &checked).await?;
    Ok(checked.standing)
}

async fn stop_all(db: &DatabaseConnection, bus: &dyn EventBus, checked: &Checked) -> AppResult<()> {
    for id in &checked.to_stop {
        stop_for_platform(db, bus, id, checked.reason.clone()).await?;
    }
    Ok(())
}
