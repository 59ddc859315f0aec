//! Business rules and persistence. Functions take `&impl ConnectionTrait` (or a pool where
//! they open a transaction) and know nothing of GraphQL.

pub mod accounts;
pub mod agents;
pub mod commands;
pub mod crud;
pub mod environments;
pub mod fleet;
pub mod host_status;
pub mod invitations;
pub mod invoices;
pub mod metering;
pub mod metric_history;
pub mod metric_series;
pub mod password;
pub mod placement;
pub mod platform;
pub mod prices;
pub mod rollups;
pub mod sessions;
pub mod spend;
pub mod storage;
pub mod workspaces;
