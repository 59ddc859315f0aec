//! The agent's side of remote commands: its order feed (`agentCommands`, at-least-once:
//! pending commands first, then live orders) and its reports (`commandStarted`,
//! `commandOutput`, `commandFinished`). The operators' side is `graphql::commands`.

use async_graphql::{Context, InputObject, Json, Object, SimpleObject, Subscription};
use entity::commands;
use futures_util::stream::{BoxStream, StreamExt};

use super::crud::{principal, state};
use crate::domain::{self, CommandOrderKind, CommandState};
use crate::error::{AppError, GqlResult};
use crate::services::commands as cmd;

/// Which stream a chunk of output came from.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

impl From<OutputStream> for domain::OutputStream {
    fn from(s: OutputStream) -> Self {
        match s {
            OutputStream::Stdout => Self::Stdout,
            OutputStream::Stderr => Self::Stderr,
        }
    }
}

impl From<domain::OutputStream> for OutputStream {
    fn from(s: domain::OutputStream) -> Self {
        match s {
            domain::OutputStream::Stdout => Self::Stdout,
            domain::OutputStream::Stderr => Self::Stderr,
        }
    }
}

/// How a command ended, from its agent.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    Success,
    Failed,
    Timeout,
    Cancelled,
}

impl From<CommandOutcome> for CommandState {
    fn from(o: CommandOutcome) -> Self {
        match o {
            CommandOutcome::Success => Self::Success,
            CommandOutcome::Failed => Self::Failed,
            CommandOutcome::Timeout => Self::Timeout,
            CommandOutcome::Cancelled => Self::Cancelled,
        }
    }
}

#[derive(InputObject)]
pub struct CommandFinishedInput {
    pub command_id: String,
    pub status: CommandOutcome,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub duration_ms: i32,
}

#[derive(Default)]
pub struct AgentCommandMutation;

#[Object]
impl AgentCommandMutation {
    /// The agent started a command of its host. `false`: it was cancelled meanwhile and
    /// must be stopped.
    async fn command_started(
        &self,
        ctx: &Context<'_>,
        command_id: String,
    ) -> async_graphql::Result<bool> {
        let host = principal(ctx).agent_host().gql()?.to_owned();
        let app = state(ctx);
        cmd::started(&app.db, app.events.as_ref(), &host, &command_id)
            .await
            .gql()
    }

    /// A chunk of a running command's output, relayed live to `commandOutput` subscribers
    /// (the whole capped output is stored when the command finishes).
    async fn command_output(
        &self,
        ctx: &Context<'_>,
        command_id: String,
        stream: OutputStream,
        seq: i32,
        data: String,
    ) -> async_graphql::Result<bool> {
        let host = principal(ctx).agent_host().gql()?.to_owned();
        let app = state(ctx);
        cmd::relay_output(
            &app.db,
            &*app.events,
            &host,
            &command_id,
            stream.into(),
            seq,
            &data,
        )
        .await
        .gql()?;
        Ok(true)
    }

    /// How a command ended. Repeating the report is harmless.
    async fn command_finished(
        &self,
        ctx: &Context<'_>,
        input: CommandFinishedInput,
    ) -> async_graphql::Result<bool> {
        let host = principal(ctx).agent_host().gql()?.to_owned();
        if input.duration_ms < 0 {
            return Err(AppError::bad_input("durationMs: must not be negative")).gql();
        }
        let report = cmd::Finished {
            command_id: input.command_id,
            status: input.status.into(),
            exit_code: input.exit_code,
            stdout: input.stdout,
            stderr: input.stderr,
            stdout_truncated: input.stdout_truncated,
            stderr_truncated: input.stderr_truncated,
            duration_ms: input.duration_ms,
        };
        let app = state(ctx);
        cmd::finished(&app.db, app.events.as_ref(), &host, report)
            .await
            .gql()?;
        Ok(true)
    }
}

/// What an agent is told: run a command, or stop one.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentCommandKind {
    Run,
    Cancel,
}

impl From<CommandOrderKind> for AgentCommandKind {
    fn from(k: CommandOrderKind) -> Self {
        match k {
            CommandOrderKind::Run => Self::Run,
            CommandOrderKind::Cancel => Self::Cancel,
        }
    }
}

/// One order for an agent, over its `agentCommands` subscription.
#[derive(SimpleObject, Clone)]
pub struct AgentCommand {
    pub kind: AgentCommandKind,
    pub command_id: String,
    pub command_text: String,
    pub timeout_seconds: i32,
    pub working_directory: Option<String>,
    pub environment: Option<Json<serde_json::Value>>,
}

impl AgentCommand {
    fn new(kind: AgentCommandKind, c: &commands::Model) -> Self {
        Self {
            kind,
            command_id: c.command_id.clone(),
            command_text: c.command_text.clone(),
            timeout_seconds: c.timeout_seconds,
            working_directory: c.working_directory.clone(),
            environment: c.environment.clone().map(Json),
        }
    }
}

#[derive(Default)]
pub struct AgentCommandSubscription;

#[Subscription]
impl AgentCommandSubscription {
    /// For a host's agent (agent token only): first every command still pending for its
    /// host, oldest first, then each new order as it comes. Delivery is at-least-once: a
    /// reconnecting agent receives again what it has not started.
    async fn agent_commands(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<BoxStream<'static, AgentCommand>> {
        let host = principal(ctx).agent_host().gql()?.to_owned();
        let app = state(ctx);
        let feed = cmd::agent_feed(&app.db, app.events.as_ref(), &host)
            .await
            .gql()?;
        Ok(feed
            .map(|(kind, row)| AgentCommand::new(kind.into(), &row))
            .boxed())
    }
}
