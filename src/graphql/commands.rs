//! Remote commands (seed 003) targeted at hosts, and their results: the operators' API
//! (`runCommand`, `cancelCommand`, the lists, live output and status changes). The agent's
//! side (its order feed and reports) is `graphql::agent_commands`.

use async_graphql::{
    ComplexObject, Context, InputObject, Json, Object, SimpleObject, Subscription, ID,
};
use chrono::{DateTime, Utc};
use entity::{command_results as cr, commands};
use futures_util::stream::{BoxStream, StreamExt};

use super::agent_commands::OutputStream;
use super::convert::{id, opt_text, string_map, ts_opt};
use super::crud::{crud_query, load_many, load_parent, principal, state, ApiObject};
use super::enums::*;
use super::filter::{
    filter_input, order_input, DateTimeFilter, EnumFilter, IdFilter, StringFilter,
};
use super::hosts::Host;
use super::relations::*;
use crate::auth::policy::user_for;
use crate::error::AppResult;
use crate::error::{AppError, GqlResult};
use crate::events::{Event, Key, Kind, Topic};
use crate::services::commands as cmd;

/// A shell command for one host.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Command {
    pub id: ID,
    /// The command's public identifier.
    pub command_id: String,
    pub command_text: String,
    /// The host (seed 003's node) that runs it.
    pub target_node_id: ID,
    pub status: Option<CommandStatus>,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The run stops (`TIMEOUT`) after this many seconds.
    pub timeout_seconds: i32,
    pub working_directory: Option<String>,
    /// Extra environment variables (an object of strings).
    pub environment: Option<Json<serde_json::Value>>,
    /// Shared by the commands of one `runCommand` over several hosts.
    pub batch_id: Option<String>,
    /// The operator who ran it.
    pub created_by: Option<ID>,
}

#[ComplexObject]
impl Command {
    async fn host(&self, ctx: &Context<'_>) -> async_graphql::Result<Host> {
        load_parent::<HostById, _>(ctx, self.target_node_id.to_string())
            .await
            .gql()
    }
    /// How it ended, once it has.
    async fn result(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CommandResult>> {
        let mut all = load_many::<ResultsOfCommand, CommandResult>(ctx, self.command_id.clone())
            .await
            .gql()?;
        Ok(all.pop())
    }
    #[graphql(complexity = "crate::graphql::pagination::fan_out(1, child_complexity)")]
    async fn results(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CommandResult>> {
        load_many::<ResultsOfCommand, _>(ctx, self.command_id.clone())
            .await
            .gql()
    }
}

impl ApiObject for Command {
    type Entity = commands::Entity;
    const LABEL: &'static str = "command";
    const KEYSET: bool = true;
    fn from_model(m: commands::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            command_id: m.command_id,
            command_text: m.command_text,
            target_node_id: id(m.target_node_id),
            status: CommandStatus::from_db_opt(m.status.as_deref())?,
            created_at: ts_opt(m.created_at),
            started_at: ts_opt(m.started_at),
            completed_at: ts_opt(m.completed_at),
            timeout_seconds: m.timeout_seconds,
            working_directory: m.working_directory,
            environment: m.environment.map(Json),
            batch_id: m.batch_id,
            created_by: m.created_by.map(id),
        })
    }
}

filter_input!(CommandFilter for commands {
    id: IdFilter => Id as i64,
    command_id: StringFilter => CommandId,
    target_node_id: IdFilter => TargetNodeId as String,
    status: EnumFilter<CommandStatus> => Status,
    created_at: DateTimeFilter => CreatedAt,
    batch_id: StringFilter => BatchId,
});

order_input!(CommandOrder, CommandOrderField, commands::Entity, commands::Column {
    Id => Id,
    CreatedAt => CreatedAt,
    StartedAt => StartedAt,
    CompletedAt => CompletedAt,
});

crud_query!(CommandQuery {
    object: Command,
    one: command,
    many: commands,
    filter: CommandFilter,
    order: CommandOrder,
});

/// What a command printed and how it ended.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct CommandResult {
    pub id: ID,
    pub command_id: String,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub exit_code: Option<i32>,
    pub execution_time_ms: Option<i32>,
    pub created_at: Option<DateTime<Utc>>,
    /// Output beyond the agent's cap (1 MiB by default) was dropped.
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

#[ComplexObject]
impl CommandResult {
    async fn command(&self, ctx: &Context<'_>) -> async_graphql::Result<Command> {
        load_parent::<CommandByCommandId, _>(ctx, self.command_id.clone())
            .await
            .gql()
    }
}

impl ApiObject for CommandResult {
    type Entity = cr::Entity;
    const LABEL: &'static str = "command result";
    const KEYSET: bool = true;
    fn from_model(m: cr::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            command_id: m.command_id,
            stdout: m.stdout.as_deref().map(crate::domain::decode_output),
            stderr: m.stderr.as_deref().map(crate::domain::decode_output),
            exit_code: m.exit_code,
            execution_time_ms: m.execution_time_ms,
            created_at: ts_opt(m.created_at),
            stdout_truncated: m.stdout_truncated,
            stderr_truncated: m.stderr_truncated,
        })
    }
}

filter_input!(CommandResultFilter for cr {
    id: IdFilter => Id as i64,
    command_id: StringFilter => CommandId,
});

order_input!(CommandResultOrder, CommandResultOrderField, cr::Entity, cr::Column {
    Id => Id,
    CreatedAt => CreatedAt,
});

crud_query!(CommandResultQuery {
    object: CommandResult,
    one: command_result,
    many: command_results,
    filter: CommandResultFilter,
    order: CommandResultOrder,
});

/// Hosts one `runCommand` may name in `hostIds`.
pub const MAX_TARGET_IDS: usize = 1000;

#[derive(InputObject)]
pub struct RunCommandInput {
    /// Run by `sh -c` on each target host, as the agent's user.
    pub command_text: String,
    /// Target hosts by id ...
    #[graphql(default)]
    pub host_ids: Vec<ID>,
    /// ... and/or every host whose labels contain these pairs, e.g. `{"zone": "a"}`.
    pub label_selector: Option<Json<serde_json::Value>>,
    /// 1 to 172800 (48 h).
    #[graphql(default = 3600)]
    pub timeout_seconds: i32,
    pub working_directory: Option<String>,
    /// Extra environment variables: an object of strings.
    pub environment: Option<Json<serde_json::Value>>,
}

/// One command per target host.
#[derive(SimpleObject)]
pub struct RunCommandPayload {
    pub batch_id: String,
    pub commands: Vec<Command>,
}

impl RunCommandInput {
    fn parse(self, created_by: i64) -> AppResult<cmd::NewRun> {
        let text = self.command_text;
        if text.trim().is_empty() {
            return Err(AppError::bad_input("commandText: must not be empty"));
        }
        if text.len() > cmd::MAX_COMMAND_CHARS {
            return Err(AppError::bad_input("commandText: longer than 64 KiB"));
        }
        crate::domain::check_chars("commandText", &text, true)?;
        if self.host_ids.len() > MAX_TARGET_IDS {
            return Err(AppError::bad_input(format!(
                "hostIds: at most {MAX_TARGET_IDS} hosts; use a labelSelector for more"
            )));
        }
        if !(1..=cmd::MAX_TIMEOUT_SECS).contains(&self.timeout_seconds) {
            return Err(AppError::bad_input(format!(
                "timeoutSeconds: must be 1 to {} (48 h)",
                cmd::MAX_TIMEOUT_SECS
            )));
        }
        Ok(cmd::NewRun {
            command_text: text,
            host_ids: self.host_ids.into_iter().map(|id| id.to_string()).collect(),
            selector: self
                .label_selector
                .map(|s| string_map("labelSelector", s.0))
                .transpose()?,
            timeout_secs: self.timeout_seconds,
            working_directory: opt_text("workingDirectory", self.working_directory, 512)?,
            environment: self
                .environment
                .map(|e| string_map("environment", e.0))
                .transpose()?,
            created_by,
        })
    }
}

#[derive(Default)]
pub struct CommandMutation;

#[Object]
impl CommandMutation {
    /// Runs a shell command on hosts (operators only). Returns at once, one `PENDING`
    /// command per host; follow them with `commandUpdates` and `commandOutput`.
    async fn run_command(
        &self,
        ctx: &Context<'_>,
        input: RunCommandInput,
    ) -> async_graphql::Result<RunCommandPayload> {
        let user = user_for::<commands::Entity>(&principal(ctx)).gql()?;
        let new = input.parse(user.id).gql()?;
        let app = state(ctx);
        let (batch_id, rows) = cmd::run(&app.db, app.events.as_ref(), new).await.gql()?;
        Ok(RunCommandPayload {
            batch_id,
            commands: rows
                .into_iter()
                .map(Command::from_model)
                .collect::<AppResult<_>>()
                .gql()?,
        })
    }

    /// Cancels a command (operators only): a pending one at once, a running one is killed
    /// on its host (it ends `CANCELLED` when the agent reports). An ended one is a CONFLICT.
    async fn cancel_command(
        &self,
        ctx: &Context<'_>,
        command_id: String,
    ) -> async_graphql::Result<Command> {
        user_for::<commands::Entity>(&principal(ctx)).gql()?;
        let app = state(ctx);
        let row = cmd::cancel(&app.db, app.events.as_ref(), &command_id)
            .await
            .gql()?;
        Command::from_model(row).gql()
    }
}

/// A piece of a running command's output. Pieces of one stream arrive in order; a large
/// chunk may come as several pieces with the same `seq`.
#[derive(SimpleObject, Clone)]
pub struct CommandOutputChunk {
    pub command_id: String,
    pub stream: OutputStream,
    pub seq: i32,
    pub data: String,
}

/// A command's status changed.
#[derive(SimpleObject, Clone)]
pub struct CommandUpdate {
    pub command_id: String,
    pub batch_id: Option<String>,
    pub host_id: ID,
    pub status: CommandStatus,
    pub at: DateTime<Utc>,
}

#[derive(Default)]
pub struct CommandSubscription;

#[Subscription]
impl CommandSubscription {
    /// Live output of one command (operators only), as its agent produces it.
    async fn command_output(
        &self,
        ctx: &Context<'_>,
        command_id: String,
    ) -> async_graphql::Result<BoxStream<'static, CommandOutputChunk>> {
        user_for::<commands::Entity>(&principal(ctx)).gql()?;
        let app = state(ctx);
        cmd::find(&app.db, &command_id).await.gql()?;
        let live = app
            .events
            .subscribe(Topic::new(Kind::CommandOutput, Key::Command(command_id)));
        Ok(live
            .into_stream()
            .filter_map(|event| async move {
                let Event::CommandOutput(p) = &*event else {
                    return None;
                };
                Some(CommandOutputChunk {
                    command_id: p.command_id.clone(),
                    stream: p.stream.into(),
                    seq: p.seq,
                    data: p.data.clone(),
                })
            })
            .boxed())
    }

    /// Status changes of commands (operators only): all, one batch's, one host's or one
    /// command's — a batch's progress host by host.
    async fn command_updates(
        &self,
        ctx: &Context<'_>,
        batch_id: Option<String>,
        host_id: Option<ID>,
        command_id: Option<String>,
    ) -> async_graphql::Result<BoxStream<'static, CommandUpdate>> {
        user_for::<commands::Entity>(&principal(ctx)).gql()?;
        let key = match (command_id, batch_id, host_id) {
            (Some(c), _, _) => Key::Command(c),
            (None, Some(b), _) => Key::Batch(b),
            (None, None, Some(h)) => Key::Host(h.to_string()),
            (None, None, None) => Key::All,
        };
        let live = state(ctx)
            .events
            .subscribe(Topic::new(Kind::CommandUpdates, key));
        Ok(live
            .into_stream()
            .filter_map(|event| async move {
                let Event::CommandUpdate(c) = &*event else {
                    return None;
                };
                Some(CommandUpdate {
                    command_id: c.command_id.clone(),
                    batch_id: c.batch_id.clone(),
                    host_id: ID(c.host_id.clone()),
                    status: c.status.into(),
                    at: c.at,
                })
            })
            .boxed())
    }
}
