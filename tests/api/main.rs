//! API integration tests: one binary, a real server per test, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod fixtures;

mod auth;
mod crud;
mod errors;
mod http;
mod limits;
mod pagination;
mod read_only;
mod relations;
mod tenancy;
