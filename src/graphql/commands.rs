//! Remote commands (seed 003) targeted at hosts, and their results. Written by the command
//! process and the agent; read here.

use async_graphql::{ComplexObject, Context, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{command_results as cr, commands};

use super::convert::{id, ts_opt};
use super::crud::{crud_query, load_many, load_parent, ApiObject};
use super::enums::*;
use super::filter::{
    filter_input, order_input, DateTimeFilter, EnumFilter, IdFilter, StringFilter,
};
use super::hosts::Host;
use super::relations::*;
use crate::error::AppResult;
use crate::error::GqlResult;

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
}

#[ComplexObject]
impl Command {
    async fn host(&self, ctx: &Context<'_>) -> async_graphql::Result<Host> {
        load_parent::<HostById, _>(ctx, self.target_node_id.to_string())
            .await
            .gql()
    }
    async fn results(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CommandResult>> {
        load_many::<ResultsOfCommand, _>(ctx, self.command_id.clone())
            .await
            .gql()
    }
}

impl ApiObject for Command {
    type Entity = commands::Entity;
    const LABEL: &'static str = "command";
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
        })
    }
}

filter_input!(CommandFilter for commands {
    id: IdFilter => Id as i64,
    command_id: StringFilter => CommandId,
    target_node_id: IdFilter => TargetNodeId as String,
    status: EnumFilter<CommandStatus> => Status,
    created_at: DateTimeFilter => CreatedAt,
});

order_input!(CommandOrder, CommandOrderField, commands::Entity, commands::Column {
    Id => Id,
    CreatedAt => CreatedAt,
    StartedAt => StartedAt,
    CompletedAt => CompletedAt,
});

crud_query!(
    CommandQuery,
    Command,
    command,
    commands,
    CommandFilter,
    CommandOrder
);

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
    fn from_model(m: cr::Model) -> AppResult<Self> {
        Ok(Self {
            id: id(m.id),
            command_id: m.command_id,
            stdout: m.stdout,
            stderr: m.stderr,
            exit_code: m.exit_code,
            execution_time_ms: m.execution_time_ms,
            created_at: ts_opt(m.created_at),
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

crud_query!(
    CommandResultQuery,
    CommandResult,
    command_result,
    command_results,
    CommandResultFilter,
    CommandResultOrder
);
