//! Remote commands (seed 003), the way operators know them from Salt or SSM Run Command: one
//! `commands` row per target host, `pending` until the host's agent starts it, then
//! `running`, then `success` / `failed` / `timeout` / `cancelled` with one `command_results`
//! row. Delivery to agents is at-least-once ([`agent_feed`]); every agent report is
//! idempotent here, so a repeated report changes nothing. This module is the only publisher
//! of command events (agent orders, status changes, output): each function that changes a
//! command publishes what it changed, after the commit.

mod feed;

pub use feed::*;

use chrono::{Duration, NaiveDateTime, Utc};
use entity::{command_results, commands, hosts};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::db::{self, json_contains};
use crate::domain::CommandState;
use crate::error::{AppError, AppResult};
use crate::events::EventBus;

pub const DEFAULT_TIMEOUT_SECS: i32 = 3600;
pub const MAX_TIMEOUT_SECS: i32 = 48 * 3600;
pub const MAX_COMMAND_CHARS: usize = 64 * 1024;

/// A command's status as stored (NULL is `pending`).
fn state_of(c: &commands::Model) -> AppResult<CommandState> {
    CommandState::from_db_opt(c.status.as_deref())
}

/// A run as an operator asked for it, already parsed.
#[derive(Debug)]
pub struct NewRun {
    pub command_text: String,
    pub host_ids: Vec<String>,
    /// Hosts whose labels contain every pair.
    pub selector: Option<serde_json::Map<String, serde_json::Value>>,
    pub timeout_secs: i32,
    pub working_directory: Option<String>,
    pub environment: Option<serde_json::Map<String, serde_json::Value>>,
    pub created_by: i64,
}

/// Creates one pending command per target host and tells each host's agent; returns the
/// batch id and the rows, in creation order. Every named host must exist; the targets must
/// not be empty.
pub async fn run(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    new: NewRun,
) -> AppResult<(String, Vec<commands::Model>)> {
    let (batch_id, rows) = insert_run(db, new).await?;
    publish_queued(bus, &rows).await;
    Ok((batch_id, rows))
}

async fn insert_run(
    db: &DatabaseConnection,
    new: NewRun,
) -> AppResult<(String, Vec<commands::Model>)> {
    let mut targets: Vec<String> = Vec::new();
    if !new.host_ids.is_empty() {
        let found: Vec<String> = hosts::Entity::find()
            .filter(hosts::Column::Id.is_in(new.host_ids.clone()))
            .all(db)
            .await?
            .into_iter()
            .map(|h| h.id)
            .collect();
        if let Some(missing) = new.host_ids.iter().find(|id| !found.contains(id)) {
            return Err(AppError::bad_input(format!("hostIds: no host '{missing}'")));
        }
        targets.extend(new.host_ids.iter().cloned());
    }
    if let Some(selector) = &new.selector {
        let matched = hosts::Entity::find()
            .filter(json_contains(
                db.get_database_backend(),
                "hosts",
                "labels",
                selector,
            ))
            .order_by_asc(hosts::Column::Id)
            .all(db)
            .await?;
        targets.extend(matched.into_iter().map(|h| h.id));
    }
    let mut seen = std::collections::HashSet::new();
    targets.retain(|t| seen.insert(t.clone()));
    if targets.is_empty() {
        return Err(AppError::bad_input(
            "no target hosts: give hostIds or a labelSelector that matches hosts",
        ));
    }
    let batch_id = format!("batch-{}", uuid::Uuid::new_v4().simple());
    let environment = new.environment.map(serde_json::Value::Object);
    let txn = db::begin_write(db).await?;
    let mut rows = Vec::with_capacity(targets.len());
    for host in targets {
        let row = commands::ActiveModel {
            command_id: Set(format!("cmd-{}", uuid::Uuid::new_v4().simple())),
            command_text: Set(new.command_text.clone()),
            target_node_id: Set(host),
            status: Set(Some(CommandState::Pending.as_db().into())),
            timeout_seconds: Set(new.timeout_secs),
            working_directory: Set(new.working_directory.clone()),
            environment: Set(environment.clone()),
            batch_id: Set(Some(batch_id.clone())),
            created_by: Set(Some(new.created_by)),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        rows.push(row);
    }
    txn.commit().await?;
    Ok((batch_id, rows))
}

pub async fn find(db: &impl ConnectionTrait, command_id: &str) -> AppResult<commands::Model> {
    if command_id.contains('\0') {
        // No id holds NUL (and PostgreSQL cannot compare with one).
        return Err(AppError::NotFound("command"));
    }
    commands::Entity::find()
        .filter(commands::Column::CommandId.eq(command_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("command"))
}

/// Commands of `host` not started yet, oldest first: what its agent must run.
pub async fn pending_for_host(
    db: &impl ConnectionTrait,
    host: &str,
) -> AppResult<Vec<commands::Model>> {
    Ok(commands::Entity::find()
        .filter(commands::Column::TargetNodeId.eq(host))
        .filter(commands::Column::Status.eq(CommandState::Pending.as_db()))
        .order_by_asc(commands::Column::Id)
        .all(db)
        .await?)
}

/// Moves a command out of one of the statuses `from` (a NULL status counts as `pending`)
/// with `update`'s columns, in one `UPDATE … WHERE status IN (…)`: `true` when this call
/// made the change, `false` when another writer (an agent report, a cancel, the timeout
/// job) changed the row first.
async fn transition(
    db: &impl ConnectionTrait,
    command_id: &str,
    from: &[CommandState],
    update: sea_orm::UpdateMany<commands::Entity>,
) -> AppResult<bool> {
    let mut status =
        Condition::any().add(commands::Column::Status.is_in(from.iter().map(|s| s.as_db())));
    if from.contains(&CommandState::Pending) {
        status = status.add(commands::Column::Status.is_null());
    }
    let done = update
        .filter(commands::Column::CommandId.eq(command_id))
        .filter(status)
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// The update that ends a command with `status` at `now`.
fn ending(status: CommandState, now: NaiveDateTime) -> sea_orm::UpdateMany<commands::Entity> {
    commands::Entity::update_many()
        .col_expr(commands::Column::Status, Expr::value(status.as_db()))
        .col_expr(commands::Column::CompletedAt, Expr::value(now))
}

/// What `cancel` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// It had not started: it is `cancelled` now.
    BeforeStart(commands::Model),
    /// It is running: its agent must kill it (the agent reports `cancelled`).
    Running(commands::Model),
}

/// Cancels a command and tells its agent. A finished one is a CONFLICT. The change is a
/// compare-and-set, so a cancel racing the agent's `commandStarted` either cancels the
/// command before it starts (the agent is then told not to run it; consoles see it
/// cancelled) or finds it running (and has it killed; it ends `cancelled` when the agent
/// reports). Returns the row as it is now.
pub async fn cancel(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    command_id: &str,
) -> AppResult<commands::Model> {
    let outcome = cancel_row(db, command_id).await?;
    Ok(publish_cancel(bus, outcome).await)
}

async fn cancel_row(db: &DatabaseConnection, command_id: &str) -> AppResult<Cancelled> {
    let txn = db::begin_write(db).await?;
    let current = find(&txn, command_id).await?;
    let now = Utc::now().naive_utc();
    let outcome = if transition(
        &txn,
        command_id,
        &[CommandState::Pending],
        ending(CommandState::Cancelled, now),
    )
    .await?
    {
        insert_result(
            &txn,
            command_results::ActiveModel {
                command_id: Set(command_id.to_owned()),
                stderr: Set(Some("cancelled before it started".into())),
                ..Default::default()
            },
        )
        .await?;
        Cancelled::BeforeStart(find(&txn, command_id).await?)
    } else {
        // Not pending (any more): read what won.
        let current = if state_of(&current)? == CommandState::Pending {
            find(&txn, command_id).await?
        } else {
            current
        };
        match state_of(&current)? {
            CommandState::Running => Cancelled::Running(current),
            other => {
                return Err(AppError::Conflict(format!(
                    "the command already ended ({})",
                    other.as_db()
                )))
            }
        }
    };
    txn.commit().await?;
    Ok(outcome)
}

async fn own_command(
    db: &impl ConnectionTrait,
    host: &str,
    command_id: &str,
) -> AppResult<commands::Model> {
    let command = find(db, command_id).await?;
    if command.target_node_id != host {
        // Another host's command is, for this agent, a command that does not exist.
        return Err(AppError::NotFound("command"));
    }
    Ok(command)
}

/// The agent started the command; consoles see it running. `false` when it should not run
/// (cancelled or finished meanwhile); the agent then stops it.
pub async fn started(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    host: &str,
    command_id: &str,
) -> AppResult<bool> {
    let (run, changed) = start_row(db, host, command_id).await?;
    if let Some(row) = changed {
        publish_update(bus, &row).await;
    }
    Ok(run)
}

async fn start_row(
    db: &DatabaseConnection,
    host: &str,
    command_id: &str,
) -> AppResult<(bool, Option<commands::Model>)> {
    let txn = db::begin_write(db).await?;
    own_command(&txn, host, command_id).await?;
    let start = commands::Entity::update_many()
        .col_expr(
            commands::Column::Status,
            Expr::value(CommandState::Running.as_db()),
        )
        .col_expr(
            commands::Column::StartedAt,
            Expr::value(Utc::now().naive_utc()),
        );
    let result = if transition(&txn, command_id, &[CommandState::Pending], start).await? {
        (true, Some(find(&txn, command_id).await?))
    } else {
        // A repeated report of a running command is fine; anything else must not run.
        let now = find(&txn, command_id).await?;
        (state_of(&now)? == CommandState::Running, None)
    };
    txn.commit().await?;
    Ok(result)
}

/// How a command ended, as its agent reports it.
#[derive(Debug, Clone)]
pub struct Finished {
    pub command_id: String,
    /// One of the endings.
    pub status: CommandState,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub duration_ms: i32,
}

/// Records the outcome once and shows it to consoles; a repeated report changes nothing.
/// A status that is not an ending is BAD_USER_INPUT.
pub async fn finished(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    host: &str,
    report: Finished,
) -> AppResult<()> {
    if !report.status.is_final() {
        return Err(AppError::bad_input(format!(
            "status: {} is not how a command ends",
            report.status.as_db()
        )));
    }
    if let Some(row) = finish_row(db, host, report).await? {
        publish_update(bus, &row).await;
    }
    Ok(())
}

async fn finish_row(
    db: &DatabaseConnection,
    host: &str,
    report: Finished,
) -> AppResult<Option<commands::Model>> {
    let txn = db::begin_write(db).await?;
    let command = own_command(&txn, host, &report.command_id).await?;
    let has_result = command_results::Entity::find()
        .filter(command_results::Column::CommandId.eq(&report.command_id))
        .one(&txn)
        .await?
        .is_some();
    if has_result || state_of(&command)?.is_final() {
        return Ok(None);
    }
    let now = Utc::now().naive_utc();
    let ended = ending(report.status, now);
    if !transition(
        &txn,
        &report.command_id,
        &[CommandState::Pending, CommandState::Running],
        ended,
    )
    .await?
    {
        // Ended meanwhile (cancelled, timed out): the first outcome stands.
        return Ok(None);
    }
    let mut updated = find(&txn, &report.command_id).await?;
    if updated.started_at.is_none() {
        let mut row: commands::ActiveModel = updated.into();
        row.started_at = Set(Some(
            now - Duration::milliseconds(i64::from(report.duration_ms)),
        ));
        updated = row.update(&txn).await?;
    }
    insert_result(
        &txn,
        command_results::ActiveModel {
            command_id: Set(report.command_id),
            stdout: Set(Some(crate::domain::encode_output(&report.stdout))),
            stderr: Set(Some(crate::domain::encode_output(&report.stderr))),
            exit_code: Set(report.exit_code),
            execution_time_ms: Set(Some(report.duration_ms)),
            stdout_truncated: Set(report.stdout_truncated),
            stderr_truncated: Set(report.stderr_truncated),
            ..Default::default()
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Some(updated))
}

async fn insert_result(
    db: &impl ConnectionTrait,
    row: command_results::ActiveModel,
) -> AppResult<()> {
    row.insert(db).await?;
    Ok(())
}

/// Records that commands were sent to their agent (the first time only).
async fn mark_delivered(db: &DatabaseConnection, command_ids: &[String]) -> AppResult<()> {
    if command_ids.is_empty() {
        return Ok(());
    }
    let _writer = db::write_guard(db).await;
    commands::Entity::update_many()
        .col_expr(
            commands::Column::DeliveredAt,
            sea_orm::sea_query::Expr::value(Utc::now().naive_utc()),
        )
        .filter(commands::Column::CommandId.is_in(command_ids.iter().cloned()))
        .filter(commands::Column::DeliveredAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The command-timeout job's work: pending commands never sent to their agent within
/// `delivery_timeout` end `timeout` ("never started"); so do commands delivered but never
/// reported started by the end of their own limit plus `report_grace`; running ones whose
/// agent has not reported well past their own limit end `timeout` too. A command that has a
/// result already is left alone, and each end is a compare-and-set on the status the job
/// saw, so an agent report arriving meanwhile wins. Each ending is published like any
/// other status change. Returns the commands it ended.
pub async fn expire(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    now: NaiveDateTime,
    delivery_timeout: Duration,
    report_grace: Duration,
) -> AppResult<Vec<commands::Model>> {
    let ended = expire_rows(db, now, delivery_timeout, report_grace).await?;
    for row in &ended {
        publish_update(bus, row).await;
    }
    Ok(ended)
}

async fn expire_rows(
    db: &DatabaseConnection,
    now: NaiveDateTime,
    delivery_timeout: Duration,
    report_grace: Duration,
) -> AppResult<Vec<commands::Model>> {
    let without_result = || {
        commands::Column::CommandId.not_in_subquery(
            sea_orm::sea_query::Query::select()
                .column(command_results::Column::CommandId)
                .from(command_results::Entity)
                .to_owned(),
        )
    };
    let pending = commands::Entity::find()
        .filter(
            Condition::any()
                .add(commands::Column::Status.eq(CommandState::Pending.as_db()))
                .add(commands::Column::Status.is_null()),
        )
        .filter(without_result())
        .all(db)
        .await?;
    let running = commands::Entity::find()
        .filter(commands::Column::Status.eq(CommandState::Running.as_db()))
        .filter(without_result())
        .all(db)
        .await?;
    let past_limit = |since: NaiveDateTime, c: &commands::Model| {
        since + Duration::seconds(i64::from(c.timeout_seconds)) + report_grace < now
    };
    let mut due: Vec<(commands::Model, CommandState, &str)> = Vec::new();
    for c in pending {
        match (c.delivered_at, c.created_at) {
            (None, Some(created)) if created < now - delivery_timeout => due.push((
                c,
                CommandState::Pending,
                "the host's agent did not pick the command up in time; it was never started",
            )),
            (Some(delivered), _) if past_limit(delivered, &c) => due.push((
                c,
                CommandState::Pending,
                "the host's agent received the command but never reported starting it",
            )),
            _ => {}
        }
    }
    for c in running {
        if c.started_at.is_some_and(|s| past_limit(s, &c)) {
            due.push((
                c,
                CommandState::Running,
                "the host's agent did not report the command's end",
            ));
        }
    }
    let mut ended = Vec::new();
    for (command, seen, why) in due {
        let txn = db::begin_write(db).await?;
        if !transition(
            &txn,
            &command.command_id,
            &[seen],
            ending(CommandState::Timeout, now),
        )
        .await?
        {
            // An agent report or a cancel won the race.
            continue;
        }
        insert_result(
            &txn,
            command_results::ActiveModel {
                command_id: Set(command.command_id.clone()),
                stderr: Set(Some(why.into())),
                ..Default::default()
            },
        )
        .await?;
        let updated = find(&txn, &command.command_id).await?;
        txn.commit().await?;
        ended.push(updated);
    }
    Ok(ended)
}

// Publishing: services persist first, then publish (DESIGN §6).

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_cut_at_character_boundaries() {
        let text = "é".repeat(OUTPUT_PIECE_BYTES);
        let parts = pieces(&text);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.len() <= OUTPUT_PIECE_BYTES));
        assert_eq!(parts.concat(), text);
        assert_eq!(pieces("short"), vec!["short"]);
    }
}
