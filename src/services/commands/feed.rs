//! What the commands publish, and the agents' side of it: each agent's at-least-once order
//! feed, and command output relayed to its subscribers in pieces.

use chrono::Utc;
use entity::commands;
use sea_orm::DatabaseConnection;

use super::{find, mark_delivered, own_command, pending_for_host, state_of, Cancelled};

use crate::domain::{CommandOrderKind, CommandState, OutputStream};
use crate::error::AppResult;
use crate::events::{AgentOrder, CommandChange, Event, EventBus, Key, Kind, OutputPiece, Topic};

/// An order for `c`'s agent. Only ids travel (a command's text may be far larger than a
/// PostgreSQL NOTIFY); the replica holding the agent's subscription loads the row.
pub(super) fn order(kind: CommandOrderKind, c: &commands::Model) -> Event {
    Event::AgentCommand(AgentOrder {
        host_id: c.target_node_id.clone(),
        kind,
        command_id: c.command_id.clone(),
    })
}

pub(super) fn change(c: &commands::Model) -> Event {
    Event::CommandUpdate(CommandChange {
        command_id: c.command_id.clone(),
        batch_id: c.batch_id.clone(),
        host_id: c.target_node_id.clone(),
        status: state_of(c).unwrap_or(CommandState::Pending),
        at: Utc::now(),
    })
}

/// New commands: each host's agent is told to run its own, consoles see them pending.
pub(super) async fn publish_queued(bus: &dyn EventBus, rows: &[commands::Model]) {
    let events = rows
        .iter()
        .flat_map(|c| [order(CommandOrderKind::Run, c), change(c)])
        .collect();
    bus.publish(events).await;
}

/// A cancel: the agent is told to stop the command (or drop it from its queue, if it holds
/// it but has not started it); consoles see it cancelled when it is.
pub(super) async fn publish_cancel(bus: &dyn EventBus, outcome: Cancelled) -> commands::Model {
    match outcome {
        Cancelled::BeforeStart(row) => {
            bus.publish(vec![order(CommandOrderKind::Cancel, &row), change(&row)])
                .await;
            row
        }
        Cancelled::Running(row) => {
            bus.publish(vec![order(CommandOrderKind::Cancel, &row)])
                .await;
            row
        }
    }
}

pub(super) async fn publish_update(bus: &dyn EventBus, row: &commands::Model) {
    bus.publish(vec![change(row)]).await;
}

/// One order of an agent's feed: what to do, and the command as it is stored.
pub type FeedItem = (CommandOrderKind, commands::Model);

/// The order feed of `host`'s agent: first every command still pending for the host,
/// oldest first, then each new order as it is published. Delivery is at-least-once: each
/// run order sent is recorded as delivered (the first time only), and a reconnecting agent
/// receives again what it has not started. A run order for a command that is no longer
/// pending (cancelled, or started from another delivery) is dropped, and so is the live
/// copy of a command already sent from the pending list.
pub async fn agent_feed(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    host: &str,
) -> AppResult<futures_util::stream::BoxStream<'static, FeedItem>> {
    use futures_util::stream::{self, StreamExt};
    // Listen first, then read what is pending, so nothing created in between is missed.
    let live = bus.subscribe(Topic::new(Kind::AgentCommands, Key::Host(host.to_owned())));
    let pending = pending_for_host(db, host).await?;
    let ids: Vec<String> = pending.iter().map(|c| c.command_id.clone()).collect();
    mark_delivered(db, &ids).await?;
    let sent: std::collections::HashSet<String> = ids.into_iter().collect();
    let first: Vec<FeedItem> = pending
        .into_iter()
        .map(|c| (CommandOrderKind::Run, c))
        .collect();
    let db = db.clone();
    let rest = live.into_stream().filter_map(move |event| {
        let (db, sent) = (db.clone(), sent.clone());
        async move {
            let Event::AgentCommand(order) = &*event else {
                return None;
            };
            if order.kind == CommandOrderKind::Run && sent.contains(&order.command_id) {
                return None;
            }
            let item = load_order(&db, order).await?;
            if item.0 == CommandOrderKind::Run {
                if let Err(err) = mark_delivered(&db, std::slice::from_ref(&order.command_id)).await
                {
                    tracing::warn!(error = %err, "cannot record a command's delivery");
                }
            }
            Some(item)
        }
    });
    Ok(stream::iter(first).chain(rest).boxed())
}

/// The command an order names, read from its row (orders carry only ids); `None` for an
/// order that is not to be sent (see [`agent_feed`]).
pub(super) async fn load_order(db: &DatabaseConnection, order: &AgentOrder) -> Option<FeedItem> {
    let row = match find(db, &order.command_id).await {
        Ok(row) if row.target_node_id == order.host_id => row,
        Ok(_) => return None,
        Err(err) => {
            tracing::warn!(error = %err, command = %order.command_id, "cannot load an agent order");
            return None;
        }
    };
    match order.kind {
        CommandOrderKind::Cancel => Some((CommandOrderKind::Cancel, row)),
        CommandOrderKind::Run => {
            let pending = matches!(state_of(&row), Ok(CommandState::Pending));
            pending.then_some((CommandOrderKind::Run, row))
        }
    }
}

/// Largest piece of output in one event: under a NOTIFY payload even if JSON escaping
/// doubled every byte.
pub(super) const OUTPUT_PIECE_BYTES: usize = 3_500;

pub(super) fn pieces(data: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() > OUTPUT_PIECE_BYTES {
        let mut cut = OUTPUT_PIECE_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    out.push(rest);
    out
}

/// Relays a chunk of a running command's output to `commandOutput` subscribers. Only the
/// agent of the command's host may; output of an ended command is ignored.
pub async fn relay_output(
    db: &DatabaseConnection,
    bus: &dyn EventBus,
    host: &str,
    command_id: &str,
    stream: OutputStream,
    seq: i32,
    data: &str,
) -> AppResult<()> {
    let command = own_command(db, host, command_id).await?;
    if state_of(&command)?.is_final() {
        return Ok(());
    }
    let events = pieces(data)
        .into_iter()
        .map(|piece| {
            Event::CommandOutput(OutputPiece {
                command_id: command_id.to_owned(),
                stream,
                seq,
                data: piece.to_owned(),
            })
        })
        .collect();
    bus.publish(events).await;
    Ok(())
}
