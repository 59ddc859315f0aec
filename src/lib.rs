//! RemoteGPU: the control plane of a GPU cloud.
//!
//! `startup::Application` wires the pieces: `config` (layered settings), `services` (business
//! rules and persistence, no GraphQL types), `graphql` (the API: objects, inputs, thin
//! resolvers), `http` (axum routes, and the built web console from `console/`). `domain`
//! holds parsed input types and `error` the one error type with its stable client codes.
//! `events` is the bus that carries live data to subscriptions; `jobs` the background jobs
//! (offline detection, metric rollups, environment order timeouts, billing).
//!
//! A query travels: `http/mod.rs` (principal) or `http/ws.rs` (a socket's principal, checked
//! at `connection_init` and closed at expiry or revocation) -> `http/exec.rs`, the one path
//! for both transports (rate limit per operation, batch rules; the schema's extensions add
//! the time limit, document limits and error codes) -> `graphql::batch::drive` around the
//! execution, so that relations (`graphql/loaders.rs`) load one batch per level as soon as
//! the level's resolvers have all asked -> `services/crud.rs` (one statement per batch, and
//! the table's events published after the commit).
//!
//! A live event travels: the agent's `reportMetrics` (`graphql/agent.rs`, the host from the
//! agent token) -> `services/agents.rs::ingest_metrics` (the batch and its samples in one
//! transaction, each series' columns from its field table in `services/metric_series.rs`;
//! after the commit, one event per sample) -> `events/` (`Event::topics()`:
//! every GPU, one host, one GPU; bounded buffers; `NOTIFY` to the other replicas) ->
//! `graphql/live.rs` (`gpuMetrics(hostId)` listens to the narrowest topic and checks each event
//! against what its subscriber may read), resolved and serialized once for every subscriber
//! of the same operation, variables and principal (`graphql/fanout.rs`) -> `http/ws.rs`
//! writes it to each socket.
//!
//! An environment travels: `graphql/lifecycle.rs` (`createEnvironment`, parsed input) ->
//! `services/environments/` (quota, `services/placement.rs` ranks hosts, GPUs, capacity and
//! ports reserved in one transaction; publishes a status event and an order reference) ->
//! `events` -> `graphql/agent_environments.rs` (the host's agent's order feed loads the order
//! from the row) -> the agent (`agent/src/environments.rs`, `agent/src/runtime/`) runs the
//! container and reports back through `reportEnvironmentStatus`.
//!
//! A customer's data lives under storage keys the platform generates
//! (`domain/storage.rs`, `services/storage.rs`: keys, finalizing a filled version, what the
//! agent measured); an order names keys and the tenant's network, never a host path, and the
//! agent resolves the keys beneath its storage root. An environment that ends while its
//! container may still exist keeps its GPUs and ports until a reconcile confirms it gone
//! (`services/environments/transitions.rs` and `reconcile.rs`).
//!
//! An agent's call travels: `graphql/agent.rs` (parsed input) -> the service that does the
//! work, inside `services::host_status::agent_call`, which records the call as the host's
//! heartbeat (and publishes the host's `online` transition). Remote commands are
//! `services/commands/` end to end: it stores them, publishes every command event (orders
//! for agents, status changes, output) and builds each agent's at-least-once order feed,
//! which `graphql/agent_commands.rs` only maps (`graphql/commands.rs` is the operators' side).
//!
//! A sign-in travels: `graphql/auth.rs` -> `services/sessions.rs` (the password checked, an
//! access token and a family of refresh tokens, each refresh rotating within its family) ->
//! `auth/` turns each later request's token back into a principal. The accounts themselves
//! are `services/accounts.rs` (sign-up, operator-created accounts, profile, deletion), and
//! workspaces with their memberships `services/workspaces.rs`, invitations (consent, bound
//! to their inviter's standing) `services/invitations.rs`.
//!
//! Statuses, roles and kinds are `domain`'s enums (`HostState`, `CommandState`,
//! `MemberRole`, ...), spelled for the database only there; `graphql/enums.rs` mirrors them
//! for the API and `auth/policy.rs` holds every access rule and its named exceptions
//! (`scripts/check-vocabulary.sh` keeps both boundaries).
//!
//! Billing follows the time it runs: `services/environments/` opens and closes an
//! `environment_runs` row as it enters and leaves `running` (`services/metering.rs`) ->
//! `jobs/billing.rs` every minute: `metering::meter` prices each closed hour
//! (`services/prices.rs`) into billing records on the month's draft (`services/invoices.rs`,
//! which also issues closed months), `services/spend.rs` checks limits and publishes each
//! account's spend, and the lifecycle stops what a reached limit or idleness names -> `graphql/billing.rs`
//! (`spendUpdates`, invoices, prices).
//!
//! `docs/architecture.md` draws the layers and these paths at more length; `docs/design.md`
//! ("DESIGN §N") and `docs/seeds/` ("seed 000 §N", "seed 003") are the documents the code
//! cites.

#![recursion_limit = "512"]

pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;
