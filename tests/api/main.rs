//! API integration tests: one binary, a real server per test, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod wsclient;

mod fixtures;

mod abuse;
mod agent;
mod agent_e2e;
mod auth;
mod billing;
mod commands;
mod crud;
mod environments;
mod environments_e2e;
mod errors;
mod history;
mod http;
mod limits;
mod live;
mod pagination;
mod read_only;
mod relations;
mod tenancy;
