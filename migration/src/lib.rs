//! RemoteGPU schema migrations (sea-orm-migration), backend-neutral: the same steps build the
//! schema on PostgreSQL (production, exact seed types) and SQLite (embedded default).
//!
//! Steps `000001`..`000021` create the tables of seed 000 (plus the four tables its diagram
//! names: `dataset_versions`, `model_versions`, `dataset_usage`, `invoices`) and seed 003's
//! `commands` / `command_results`, one table per file, in foreign-key order. Steps
//! `20260201_*` add what accounts and agents need (roles, agent token hashes, refresh tokens,
//! workspace ownership of datasets and models). Steps `20260301_*` add what live metrics need:
//! `metric_batches` (a replayed agent batch is stored once), time indexes on the raw metric
//! tables, the hourly and daily rollup tables of the retention job, and the agent's version on
//! its host. Step `20260401_*` extends commands; `20260501_*` adds the environment
//! lifecycle's columns and quota overrides; `20260602_*` adds workspace invitations (a
//! membership needs the invitee's consent); `20260701_*` bounds sessions (a sign-in's absolute end,
//! the time of the last password change); `20261201_*` isolates tenants (storage keys the
//! platform generates, shared memory, reservations held until a container is gone). Column helpers and
//! naming rules are in [`schema`]. Later changes are new steps appended to [`Migrator`].

pub use sea_orm_migration::prelude::*;

pub mod schema;

mod m20260101_000001_create_system_configs;
mod m20260101_000002_create_hosts;
mod m20260101_000003_create_gpus;
mod m20260101_000004_create_host_metrics;
mod m20260101_000005_create_gpu_metrics;
mod m20260101_000006_create_customers;
mod m20260101_000007_create_workspaces;
mod m20260101_000008_create_workspace_members;
mod m20260101_000009_create_environments;
mod m20260101_000010_create_port_mappings;
mod m20260101_000011_create_datasets;
mod m20260101_000012_create_dataset_versions;
mod m20260101_000013_create_dataset_usage;
mod m20260101_000014_create_models;
mod m20260101_000015_create_model_versions;
mod m20260101_000016_create_images;
mod m20260101_000017_create_invoices;
mod m20260101_000018_create_billing_records;
mod m20260101_000019_create_environment_metrics;
mod m20260101_000020_create_commands;
mod m20260101_000021_create_command_results;
mod m20260201_000001_add_customer_role;
mod m20260201_000002_add_host_agent_token;
mod m20260201_000003_create_refresh_tokens;
mod m20260201_000004_add_workspace_to_datasets_models;
mod m20260301_000001_create_metric_batches;
mod m20260301_000002_add_metric_time_indexes;
mod m20260301_000003_create_host_metric_rollups;
mod m20260301_000004_create_gpu_metric_rollups;
mod m20260301_000005_add_host_agent_version;
mod m20260401_000001_extend_commands;
mod m20260501_000001_environment_lifecycle;
mod m20260601_000001_billing;
mod m20260602_000001_create_workspace_invitations;
mod m20260701_000001_session_limits;
mod m20261201_000001_tenant_isolation;

use schema::create_table;

/// Number of steps that build the seed schema (the tables above); later steps come after.
pub const SEED_STEPS: u32 = 21;

/// All migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            create_table(m20260101_000001_create_system_configs::Migration),
            create_table(m20260101_000002_create_hosts::Migration),
            create_table(m20260101_000003_create_gpus::Migration),
            create_table(m20260101_000004_create_host_metrics::Migration),
            create_table(m20260101_000005_create_gpu_metrics::Migration),
            create_table(m20260101_000006_create_customers::Migration),
            create_table(m20260101_000007_create_workspaces::Migration),
            create_table(m20260101_000008_create_workspace_members::Migration),
            create_table(m20260101_000009_create_environments::Migration),
            create_table(m20260101_000010_create_port_mappings::Migration),
            create_table(m20260101_000011_create_datasets::Migration),
            create_table(m20260101_000012_create_dataset_versions::Migration),
            create_table(m20260101_000013_create_dataset_usage::Migration),
            create_table(m20260101_000014_create_models::Migration),
            create_table(m20260101_000015_create_model_versions::Migration),
            create_table(m20260101_000016_create_images::Migration),
            create_table(m20260101_000017_create_invoices::Migration),
            create_table(m20260101_000018_create_billing_records::Migration),
            create_table(m20260101_000019_create_environment_metrics::Migration),
            create_table(m20260101_000020_create_commands::Migration),
            create_table(m20260101_000021_create_command_results::Migration),
            Box::new(m20260201_000001_add_customer_role::Migration),
            Box::new(m20260201_000002_add_host_agent_token::Migration),
            create_table(m20260201_000003_create_refresh_tokens::Migration),
            Box::new(m20260201_000004_add_workspace_to_datasets_models::Migration),
            create_table(m20260301_000001_create_metric_batches::Migration),
            Box::new(m20260301_000002_add_metric_time_indexes::Migration),
            Box::new(m20260301_000003_create_host_metric_rollups::Migration),
            Box::new(m20260301_000004_create_gpu_metric_rollups::Migration),
            Box::new(m20260301_000005_add_host_agent_version::Migration),
            Box::new(m20260401_000001_extend_commands::Migration),
            Box::new(m20260501_000001_environment_lifecycle::Migration),
            Box::new(m20260601_000001_billing::Migration),
            Box::new(m20260602_000001_create_workspace_invitations::Migration),
            Box::new(m20260701_000001_session_limits::Migration),
            Box::new(m20261201_000001_tenant_isolation::Migration),
        ]
    }
}
