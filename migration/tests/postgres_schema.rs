//! The migrated schema, checked against expectations transcribed from the seeds.
//!
//! `postgres_schema_matches_seeds` runs the seed steps (`SEED_STEPS`; later steps may add columns)
//! on a fresh, uniquely named PostgreSQL database and checks every column (type, length /
//! precision, nullability, default), every index (exact definition, so columns, `DESC`,
//! `USING gin` and uniqueness), and every foreign key (columns, target, `ON DELETE`); then it
//! applies all later steps and migrates down to zero. The server is
//! `REMOTEGPU_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`); when it
//! is unreachable the test is skipped, unless `CI` is set. The database is dropped afterwards,
//! even when an assertion fails.
//!
//! `sqlite_up_and_down` does the same round trip on a temporary SQLite file: every table, column
//! (name and NOT NULL), portable index and foreign key exists after the seed steps, the
//! PostgreSQL-only GIN index does not, and no table is left after migrating down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use migration::{Migrator, MigratorTrait, SEED_STEPS};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, QueryResult,
    Statement,
};

const POSTGRES_URL_ENV: &str = "REMOTEGPU_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

// ---------------------------------------------------------------------------------------------
// Expectations, transcribed from seed 000 / seed 003 (and the documented additions).
// ---------------------------------------------------------------------------------------------

/// Expectations, kept as one-line rows (hence no rustfmt here).
#[rustfmt::skip]
mod expected {
    /// `(column, type, nullable, column_default)` as PostgreSQL reports them. The type is
    /// `data_type` with the length or precision folded in (`varchar(64)`, `numeric(10,4)`,
    /// `timestamp` = without time zone); `bigserial` stands for `bigint NOT NULL DEFAULT
    /// nextval('<table>_id_seq'::regclass)`. The default is `column_default` verbatim.
    pub type Column = (&'static str, &'static str, bool, Option<&'static str>);

    pub const NN: bool = false;
    pub const NUL: bool = true;
    pub const NOW: Option<&str> = Some("CURRENT_TIMESTAMP");
    pub const ZERO: Option<&str> = Some("0");
    pub const FALSE: Option<&str> = Some("false");

    pub const SYSTEM_CONFIGS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("config_key", "varchar(128)", NN, None),
        ("config_value", "text", NN, None),
        ("config_type", "varchar(32)", NN, None),
        ("description", "text", NUL, None),
        ("is_public", "boolean", NUL, FALSE),
        ("created_at", "timestamp", NUL, NOW),
        ("updated_at", "timestamp", NUL, NOW),
    ];

    pub const HOSTS: &[Column] = &[
        ("id", "varchar(64)", NN, None),
        ("name", "varchar(128)", NN, None),
        ("hostname", "varchar(256)", NUL, None),
        ("ip_address", "varchar(64)", NN, None),
        ("public_ip", "varchar(64)", NUL, None),
        ("os_type", "varchar(20)", NN, None),
        ("os_version", "varchar(64)", NUL, None),
        ("arch", "varchar(20)", NUL, Some("'x86_64'::character varying")),
        ("deployment_mode", "varchar(20)", NN, None),
        ("k8s_node_name", "varchar(128)", NUL, None),
        ("status", "varchar(20)", NUL, Some("'offline'::character varying")),
        ("health_status", "varchar(20)", NUL, Some("'unknown'::character varying")),
        ("total_cpu", "integer", NN, None),
        ("total_memory", "bigint", NN, None),
        ("total_disk", "bigint", NUL, None),
        ("total_gpu", "integer", NUL, ZERO),
        ("used_cpu", "integer", NUL, ZERO),
        ("used_memory", "bigint", NUL, ZERO),
        ("used_disk", "bigint", NUL, ZERO),
        ("used_gpu", "integer", NUL, ZERO),
        ("ssh_port", "integer", NUL, Some("22")),
        ("winrm_port", "integer", NUL, None),
        ("agent_port", "integer", NUL, Some("8080")),
        ("labels", "jsonb", NUL, None),
        ("tags", "jsonb", NUL, None),
        ("last_heartbeat", "timestamp", NUL, None),
        ("registered_at", "timestamp", NUL, NOW),
        ("created_at", "timestamp", NUL, NOW),
        ("updated_at", "timestamp", NUL, NOW),
    ];

    pub const GPUS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("host_id", "varchar(64)", NN, None),
        ("gpu_index", "integer", NN, None),
        ("uuid", "varchar(128)", NUL, None),
        ("name", "varchar(128)", NUL, None),
        ("brand", "varchar(64)", NUL, None),
        ("architecture", "varchar(64)", NUL, None),
        ("memory_total", "bigint", NUL, None),
        ("cuda_cores", "integer", NUL, None),
        ("compute_capability", "varchar(32)", NUL, None),
        ("status", "varchar(20)", NUL, Some("'available'::character varying")),
        ("health_status", "varchar(20)", NUL, Some("'healthy'::character varying")),
        ("allocated_to", "varchar(64)", NUL, None),
        ("allocated_at", "timestamp", NUL, None),
        ("power_limit", "integer", NUL, None),
        ("temperature_limit", "integer", NUL, None),
        ("created_at", "timestamp", NUL, NOW),
        ("updated_at", "timestamp", NUL, NOW),
    ];

    pub const HOST_METRICS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("host_id", "varchar(64)", NN, None),
        ("cpu_usage_percent", "double precision", NUL, None),
        ("cpu_load_1m", "double precision", NUL, None),
        ("cpu_load_5m", "double precision", NUL, None),
        ("cpu_load_15m", "double precision", NUL, None),
        ("memory_used", "bigint", NUL, None),
        ("memory_available", "bigint", NUL, None),
        ("memory_usage_percent", "double precision", NUL, None),
        ("disk_used", "bigint", NUL, None),
        ("disk_available", "bigint", NUL, None),
        ("disk_usage_percent", "double precision", NUL, None),
        ("disk_io_read_bytes", "bigint", NUL, None),
        ("disk_io_write_bytes", "bigint", NUL, None),
        ("network_rx_bytes", "bigint", NUL, None),
        ("network_tx_bytes", "bigint", NUL, None),
        ("network_rx_packets", "bigint", NUL, None),
        ("network_tx_packets", "bigint", NUL, None),
        ("gpu_avg_utilization", "double precision", NUL, None),
        ("gpu_avg_memory_used", "bigint", NUL, None),
        ("gpu_avg_temperature", "double precision", NUL, None),
        ("gpu_avg_power", "double precision", NUL, None),
        ("collected_at", "timestamp", NUL, NOW),
    ];

    pub const GPU_METRICS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("gpu_id", "bigint", NN, None),
        ("host_id", "varchar(64)", NN, None),
        ("utilization_percent", "double precision", NUL, None),
        ("memory_used", "bigint", NUL, None),
        ("memory_usage_percent", "double precision", NUL, None),
        ("temperature", "double precision", NUL, None),
        ("power_draw", "double precision", NUL, None),
        ("fan_speed_percent", "double precision", NUL, None),
        ("sm_clock", "integer", NUL, None),
        ("memory_clock", "integer", NUL, None),
        ("process_count", "integer", NUL, None),
        ("collected_at", "timestamp", NUL, NOW),
    ];

    pub const CUSTOMERS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("uuid", "varchar(64)", NN, None),
        ("username", "varchar(128)", NN, None),
        ("email", "varchar(256)", NN, None),
        ("phone", "varchar(32)", NUL, None),
        ("password_hash", "varchar(256)", NN, None),
        ("full_name", "varchar(256)", NUL, None),
        ("company", "varchar(256)", NUL, None),
        ("account_type", "varchar(20)", NUL, Some("'individual'::character varying")),
        ("status", "varchar(20)", NUL, Some("'active'::character varying")),
        ("email_verified", "boolean", NUL, FALSE),
        ("phone_verified", "boolean", NUL, FALSE),
        ("created_at", "timestamp", NUL, NOW),
        ("updated_at", "timestamp", NUL, NOW),
    ];

    pub const WORKSPACES: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("uuid", "varchar(64)", NN, None),
        ("owner_id", "bigint", NN, None),
        ("name", "varchar(128)", NN, None),
        ("description", "text", NUL, None),
        ("type", "varchar(20)", NUL, Some("'team'::character varying")),
        ("status", "varchar(20)", NUL, Some("'active'::character varying")),
        ("member_count", "integer", NUL, Some("1")),
        ("created_at", "timestamp", NUL, NOW),
        ("updated_at", "timestamp", NUL, NOW),
    ];

    pub const WORKSPACE_MEMBERS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("workspace_id", "bigint", NN, None),
        ("customer_id", "bigint", NN, None),
        ("role", "varchar(20)", NN, None),
        ("status", "varchar(20)", NUL, Some("'active'::character varying")),
        ("joined_at", "timestamp", NUL, None),
        ("created_at", "timestamp", NUL, NOW),
    ];

    pub const ENVIRONMENTS: &[Column] = &[
        ("id", "varchar(64)", NN, None),
        ("customer_id", "bigint", NN, None),
        ("workspace_id", "bigint", NUL, None),
        ("host_id", "varchar(64)", NN, None),
        ("name", "varchar(128)", NN, None),
        ("image", "varchar(256)", NN, None),
        ("status", "varchar(20)", NUL, Some("'creating'::character varying")),
        ("cpu", "integer", NN, None),
        ("memory", "bigint", NN, None),
        ("gpu", "integer", NUL, ZERO),
        ("ssh_port", "integer", NUL, None),
        ("created_at", "timestamp", NUL, NOW),
    ];

    pub const PORT_MAPPINGS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("env_id", "varchar(64)", NN, None),
        ("service_type", "varchar(32)", NN, None),
        ("external_port", "integer", NN, None),
        ("internal_port", "integer", NN, None),
        ("status", "varchar(20)", NUL, Some("'active'::character varying")),
        ("allocated_at", "timestamp", NUL, NOW),
    ];

    pub const DATASETS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("uuid", "varchar(64)", NN, None),
        ("customer_id", "bigint", NN, None),
        ("name", "varchar(256)", NN, None),
        ("description", "text", NUL, None),
        ("storage_path", "varchar(512)", NN, None),
        ("total_size", "bigint", NUL, ZERO),
        ("status", "varchar(20)", NUL, Some("'uploading'::character varying")),
        ("created_at", "timestamp", NUL, NOW),
    ];

    pub const DATASET_VERSIONS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("dataset_id", "bigint", NN, None),
        ("version", "varchar(64)", NN, None),
        ("description", "text", NUL, None),
        ("storage_path", "varchar(512)", NN, None),
        ("size", "bigint", NUL, ZERO),
        ("file_count", "integer", NUL, ZERO),
        ("checksum", "varchar(128)", NUL, None),
        ("status", "varchar(20)", NUL, Some("'uploading'::character varying")),
        ("created_at", "timestamp", NUL, NOW),
    ];

    pub const DATASET_USAGE: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("dataset_id", "bigint", NN, None),
        ("dataset_version_id", "bigint", NUL, None),
        ("env_id", "varchar(64)", NN, None),
        ("mount_path", "varchar(512)", NN, None),
        ("access_mode", "varchar(20)", NUL, Some("'readonly'::character varying")),
        ("mounted_at", "timestamp", NUL, NOW),
        ("unmounted_at", "timestamp", NUL, None),
    ];

    pub const MODELS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("uuid", "varchar(64)", NN, None),
        ("customer_id", "bigint", NN, None),
        ("name", "varchar(256)", NN, None),
        ("framework", "varchar(64)", NUL, None),
        ("storage_path", "varchar(512)", NN, None),
        ("total_size", "bigint", NUL, ZERO),
        ("created_at", "timestamp", NUL, NOW),
    ];

    pub const MODEL_VERSIONS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("model_id", "bigint", NN, None),
        ("version", "varchar(64)", NN, None),
        ("description", "text", NUL, None),
        ("storage_path", "varchar(512)", NN, None),
        ("size", "bigint", NUL, ZERO),
        ("format", "varchar(32)", NUL, None),
        ("metrics", "jsonb", NUL, None),
        ("status", "varchar(20)", NUL, Some("'uploading'::character varying")),
        ("created_at", "timestamp", NUL, NOW),
    ];

    pub const IMAGES: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("name", "varchar(256)", NN, None),
        ("description", "text", NUL, None),
        ("category", "varchar(64)", NUL, None),
        ("is_official", "boolean", NUL, FALSE),
        ("size", "bigint", NUL, None),
        ("created_at", "timestamp", NUL, NOW),
    ];

    pub const INVOICES: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("invoice_no", "varchar(64)", NN, None),
        ("customer_id", "bigint", NN, None),
        ("period_start", "timestamp", NN, None),
        ("period_end", "timestamp", NN, None),
        ("subtotal", "numeric(10,4)", NN, ZERO),
        ("tax", "numeric(10,4)", NN, ZERO),
        ("total_amount", "numeric(10,4)", NN, ZERO),
        ("currency", "varchar(8)", NUL, Some("'CNY'::character varying")),
        ("status", "varchar(20)", NUL, Some("'draft'::character varying")),
        ("issued_at", "timestamp", NUL, None),
        ("due_at", "timestamp", NUL, None),
        ("paid_at", "timestamp", NUL, None),
        ("created_at", "timestamp", NUL, NOW),
        ("updated_at", "timestamp", NUL, NOW),
    ];

    pub const BILLING_RECORDS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("customer_id", "bigint", NN, None),
        ("env_id", "varchar(64)", NUL, None),
        ("resource_type", "varchar(32)", NN, None),
        ("quantity", "double precision", NN, None),
        ("unit_price", "numeric(10,4)", NN, None),
        ("amount", "numeric(10,4)", NN, None),
        ("start_time", "timestamp", NN, None),
        ("end_time", "timestamp", NN, None),
        ("created_at", "timestamp", NUL, NOW),
        ("invoice_id", "bigint", NUL, None),
    ];

    pub const ENVIRONMENT_METRICS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("env_id", "varchar(64)", NN, None),
        ("cpu_usage_percent", "double precision", NUL, None),
        ("memory_usage_percent", "double precision", NUL, None),
        ("gpu_usage_percent", "double precision", NUL, None),
        ("network_rx_bytes", "bigint", NUL, None),
        ("network_tx_bytes", "bigint", NUL, None),
        ("collected_at", "timestamp", NUL, NOW),
    ];

    pub const COMMANDS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("command_id", "varchar(64)", NN, None),
        ("command_text", "text", NN, None),
        ("target_node_id", "varchar(64)", NN, None),
        ("status", "varchar(20)", NUL, Some("'pending'::character varying")),
        ("created_at", "timestamp", NUL, NOW),
        ("started_at", "timestamp", NUL, None),
        ("completed_at", "timestamp", NUL, None),
    ];

    pub const COMMAND_RESULTS: &[Column] = &[
        ("id", "bigserial", NN, None),
        ("command_id", "varchar(64)", NN, None),
        ("stdout", "text", NUL, None),
        ("stderr", "text", NUL, None),
        ("exit_code", "integer", NUL, None),
        ("execution_time_ms", "integer", NUL, None),
        ("created_at", "timestamp", NUL, NOW),
    ];

    /// Every table of the seed schema, in migration order; each has a primary key `id`.
    pub const TABLES: &[(&str, &[Column])] = &[
        ("system_configs", SYSTEM_CONFIGS),
        ("hosts", HOSTS),
        ("gpus", GPUS),
        ("host_metrics", HOST_METRICS),
        ("gpu_metrics", GPU_METRICS),
        ("customers", CUSTOMERS),
        ("workspaces", WORKSPACES),
        ("workspace_members", WORKSPACE_MEMBERS),
        ("environments", ENVIRONMENTS),
        ("port_mappings", PORT_MAPPINGS),
        ("datasets", DATASETS),
        ("dataset_versions", DATASET_VERSIONS),
        ("dataset_usage", DATASET_USAGE),
        ("models", MODELS),
        ("model_versions", MODEL_VERSIONS),
        ("images", IMAGES),
        ("invoices", INVOICES),
        ("billing_records", BILLING_RECORDS),
        ("environment_metrics", ENVIRONMENT_METRICS),
        ("commands", COMMANDS),
        ("command_results", COMMAND_RESULTS),
    ];

    /// `(table, index, unique, "method (columns)")`: PostgreSQL's `indexdef` is
    /// `CREATE [UNIQUE ]INDEX <index> ON public.<table> USING <method (columns)>`. Besides these,
    /// every table has `<table>_pkey` on `(id)`. `<table>_<col>_key` are the single-column `UNIQUE`
    /// constraints; `idx_hosts_labels` is PostgreSQL-only.
    pub const INDEXES: &[(&str, &str, bool, &str)] = &[
        ("system_configs", "system_configs_config_key_key", true, "btree (config_key)"),
        ("system_configs", "idx_system_configs_config_key", false, "btree (config_key)"),
        ("hosts", "idx_hosts_os_type", false, "btree (os_type)"),
        ("hosts", "idx_hosts_status", false, "btree (status)"),
        ("hosts", "idx_hosts_deployment_mode", false, "btree (deployment_mode)"),
        ("hosts", "idx_hosts_labels", false, "gin (labels)"),
        ("gpus", "gpus_uuid_key", true, "btree (uuid)"),
        ("gpus", "idx_gpus_host_id", false, "btree (host_id)"),
        ("gpus", "idx_gpus_status", false, "btree (status)"),
        ("gpus", "idx_gpus_allocated_to", false, "btree (allocated_to)"),
        ("gpus", "uq_gpus_host_id_gpu_index", true, "btree (host_id, gpu_index)"),
        ("host_metrics", "idx_host_metrics_host_id_collected_at", false, "btree (host_id, collected_at DESC)"),
        ("gpu_metrics", "idx_gpu_metrics_gpu_id_collected_at", false, "btree (gpu_id, collected_at DESC)"),
        ("gpu_metrics", "idx_gpu_metrics_host_id_collected_at", false, "btree (host_id, collected_at DESC)"),
        ("customers", "customers_uuid_key", true, "btree (uuid)"),
        ("customers", "customers_username_key", true, "btree (username)"),
        ("customers", "customers_email_key", true, "btree (email)"),
        ("customers", "idx_customers_username", false, "btree (username)"),
        ("customers", "idx_customers_email", false, "btree (email)"),
        ("customers", "idx_customers_status", false, "btree (status)"),
        ("workspaces", "workspaces_uuid_key", true, "btree (uuid)"),
        ("workspaces", "idx_workspaces_owner_id", false, "btree (owner_id)"),
        ("workspace_members", "idx_workspace_members_workspace_id", false, "btree (workspace_id)"),
        ("workspace_members", "idx_workspace_members_customer_id", false, "btree (customer_id)"),
        ("workspace_members", "uq_workspace_members_workspace_id_customer_id", true, "btree (workspace_id, customer_id)"),
        ("environments", "idx_environments_customer_id", false, "btree (customer_id)"),
        ("environments", "idx_environments_host_id", false, "btree (host_id)"),
        ("environments", "idx_environments_status", false, "btree (status)"),
        ("port_mappings", "port_mappings_external_port_key", true, "btree (external_port)"),
        ("port_mappings", "idx_port_mappings_env_id", false, "btree (env_id)"),
        ("port_mappings", "idx_port_mappings_external_port", false, "btree (external_port)"),
        ("datasets", "datasets_uuid_key", true, "btree (uuid)"),
        ("datasets", "idx_datasets_customer_id", false, "btree (customer_id)"),
        ("datasets", "idx_datasets_status", false, "btree (status)"),
        ("dataset_versions", "uq_dataset_versions_dataset_id_version", true, "btree (dataset_id, version)"),
        ("dataset_versions", "idx_dataset_versions_dataset_id", false, "btree (dataset_id)"),
        ("dataset_usage", "idx_dataset_usage_dataset_id", false, "btree (dataset_id)"),
        ("dataset_usage", "idx_dataset_usage_env_id", false, "btree (env_id)"),
        ("models", "models_uuid_key", true, "btree (uuid)"),
        ("models", "idx_models_customer_id", false, "btree (customer_id)"),
        ("model_versions", "uq_model_versions_model_id_version", true, "btree (model_id, version)"),
        ("model_versions", "idx_model_versions_model_id", false, "btree (model_id)"),
        ("images", "images_name_key", true, "btree (name)"),
        ("images", "idx_images_category", false, "btree (category)"),
        ("images", "idx_images_is_official", false, "btree (is_official)"),
        ("invoices", "invoices_invoice_no_key", true, "btree (invoice_no)"),
        ("invoices", "idx_invoices_customer_id", false, "btree (customer_id)"),
        ("invoices", "idx_invoices_status", false, "btree (status)"),
        ("invoices", "idx_invoices_period_start", false, "btree (period_start DESC)"),
        ("billing_records", "idx_billing_records_customer_id", false, "btree (customer_id)"),
        ("billing_records", "idx_billing_records_env_id", false, "btree (env_id)"),
        ("billing_records", "idx_billing_records_start_time", false, "btree (start_time DESC)"),
        ("billing_records", "idx_billing_records_invoice_id", false, "btree (invoice_id)"),
        ("environment_metrics", "idx_environment_metrics_env_id_collected_at", false, "btree (env_id, collected_at DESC)"),
        ("commands", "commands_command_id_key", true, "btree (command_id)"),
        ("commands", "idx_commands_target_node_id", false, "btree (target_node_id)"),
        ("commands", "idx_commands_status", false, "btree (status)"),
        ("commands", "idx_commands_created_at", false, "btree (created_at DESC)"),
        ("command_results", "idx_command_results_command_id", false, "btree (command_id)"),
    ];

    /// The index that exists on PostgreSQL only.
    pub const POSTGRES_ONLY_INDEX: &str = "idx_hosts_labels";

    /// `(table, column, referenced table, referenced column, ON DELETE)`; named `fk_<table>_<column>`.
    pub const FOREIGN_KEYS: &[(&str, &str, &str, &str, &str)] = &[
        ("gpus", "host_id", "hosts", "id", "CASCADE"),
        ("host_metrics", "host_id", "hosts", "id", "CASCADE"),
        ("gpu_metrics", "gpu_id", "gpus", "id", "CASCADE"),
        ("gpu_metrics", "host_id", "hosts", "id", "CASCADE"),
        ("workspaces", "owner_id", "customers", "id", "CASCADE"),
        ("workspace_members", "workspace_id", "workspaces", "id", "CASCADE"),
        ("workspace_members", "customer_id", "customers", "id", "CASCADE"),
        ("environments", "customer_id", "customers", "id", "CASCADE"),
        ("environments", "workspace_id", "workspaces", "id", "SET NULL"),
        ("environments", "host_id", "hosts", "id", "RESTRICT"),
        ("port_mappings", "env_id", "environments", "id", "CASCADE"),
        ("datasets", "customer_id", "customers", "id", "CASCADE"),
        ("dataset_versions", "dataset_id", "datasets", "id", "CASCADE"),
        ("dataset_usage", "dataset_id", "datasets", "id", "CASCADE"),
        ("dataset_usage", "dataset_version_id", "dataset_versions", "id", "SET NULL"),
        ("dataset_usage", "env_id", "environments", "id", "CASCADE"),
        ("models", "customer_id", "customers", "id", "CASCADE"),
        ("model_versions", "model_id", "models", "id", "CASCADE"),
        ("invoices", "customer_id", "customers", "id", "CASCADE"),
        ("billing_records", "customer_id", "customers", "id", "CASCADE"),
        ("billing_records", "env_id", "environments", "id", "SET NULL"),
        ("billing_records", "invoice_id", "invoices", "id", "SET NULL"),
        ("environment_metrics", "env_id", "environments", "id", "CASCADE"),
        ("commands", "target_node_id", "hosts", "id", "CASCADE"),
        ("command_results", "command_id", "commands", "command_id", "CASCADE"),
    ];
}

use expected::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<QueryResult> {
    let stmt = Statement::from_string(db.get_database_backend(), sql.to_owned());
    db.query_all(stmt).await.unwrap()
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, col: &str) -> T {
    row.try_get("", col).unwrap()
}

fn table_names() -> BTreeSet<String> {
    TABLES.iter().map(|(t, _)| t.to_string()).collect()
}

/// Fails with every mismatch listed, not just the first.
fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} mismatch(es):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// "missing" / "unexpected" lines for the difference between two sets.
fn set_problems<T: std::fmt::Debug + Ord>(
    what: &str,
    expected: &BTreeSet<T>,
    actual: &BTreeSet<T>,
) -> Vec<String> {
    let missing = expected
        .difference(actual)
        .map(|e| format!("missing or different {what}: {e:?}"));
    let unexpected = actual
        .difference(expected)
        .map(|a| format!("unexpected {what}: {a:?}"));
    missing.chain(unexpected).collect()
}

/// The URL of database `name` on the server of `url` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let server = rest.split_once('/').map_or(rest, |(server, _)| server);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{scheme}://{server}/{name}{query}")
}

/// A scratch PostgreSQL database, dropped (with its connections) when the guard goes away.
struct TempDatabase {
    admin_url: String,
    name: String,
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; block on a fresh one on its own thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let admin = Database::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                admin
                    .execute_unprepared(&sql)
                    .await
                    .map_err(|e| e.to_string())?;
                admin.close().await.map_err(|e| e.to_string())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop scratch database {}", self.name);
        }
    }
}

/// Creates a scratch database; `None` (test skipped) when PostgreSQL is unreachable outside CI.
async fn scratch_postgres() -> Option<(TempDatabase, DatabaseConnection)> {
    let admin_url =
        std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let mut options = ConnectOptions::new(admin_url.clone());
    options
        .connect_timeout(Duration::from_secs(5))
        .max_connections(1);
    let admin = match Database::connect(options).await {
        Ok(admin) => admin,
        Err(err) if std::env::var_os("CI").is_some() => {
            panic!("PostgreSQL at {admin_url} is unreachable and CI is set: {err}")
        }
        Err(err) => {
            eprintln!("skipping: PostgreSQL at {admin_url} is unreachable ({err}); set {POSTGRES_URL_ENV}");
            return None;
        }
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("migration_test_{}_{nanos}", std::process::id());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    admin.close().await.unwrap();
    let guard = TempDatabase {
        admin_url: admin_url.clone(),
        name: name.clone(),
    };
    let db = Database::connect(with_database(&admin_url, &name))
        .await
        .unwrap();
    Some((guard, db))
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

/// The type as written in the expectations, from `information_schema.columns`.
fn pg_type(row: &QueryResult) -> String {
    let data_type: String = get(row, "data_type");
    let number = |col: &str| get::<Option<i32>>(row, col).map_or("?".to_owned(), |n| n.to_string());
    match data_type.as_str() {
        "character varying" => format!("varchar({})", number("char_len")),
        "numeric" => format!(
            "numeric({},{})",
            number("num_precision"),
            number("num_scale")
        ),
        "timestamp without time zone" => "timestamp".to_owned(),
        _ => data_type,
    }
}

/// `(column, type, nullable, column_default)` as found.
type PgColumn = (String, String, bool, Option<String>);

async fn pg_column_problems(db: &DatabaseConnection) -> Vec<String> {
    let sql = "SELECT table_name::text AS table_name, column_name::text AS column_name, \
               data_type::text AS data_type, character_maximum_length::int4 AS char_len, \
               numeric_precision::int4 AS num_precision, numeric_scale::int4 AS num_scale, \
               (is_nullable = 'YES') AS nullable, column_default::text AS column_default \
               FROM information_schema.columns \
               WHERE table_schema = 'public' AND table_name <> 'seaql_migrations' \
               ORDER BY table_name, ordinal_position";
    let mut actual: BTreeMap<String, Vec<PgColumn>> = BTreeMap::new();
    for row in rows(db, sql).await {
        actual.entry(get(&row, "table_name")).or_default().push((
            get(&row, "column_name"),
            pg_type(&row),
            get(&row, "nullable"),
            get(&row, "column_default"),
        ));
    }
    let actual_tables: BTreeSet<String> = actual.keys().cloned().collect();
    let mut problems = set_problems("table", &table_names(), &actual_tables);
    for (table, columns) in TABLES {
        let found = actual.get(*table).map(Vec::as_slice).unwrap_or_default();
        let names: Vec<&str> = found.iter().map(|c| c.0.as_str()).collect();
        let expected_names: Vec<&str> = columns.iter().map(|c| c.0).collect();
        if names != expected_names {
            problems.push(format!(
                "{table}: columns {names:?}, expected {expected_names:?}"
            ));
        }
        for &(column, ty, nullable, default) in columns.iter() {
            let Some(got) = found.iter().find(|c| c.0 == column) else {
                continue;
            };
            let serial_default = format!("nextval('{table}_id_seq'::regclass)");
            let (ty, default) = match ty {
                "bigserial" => ("bigint", Some(serial_default.as_str())),
                _ => (ty, default),
            };
            let expected = (ty, nullable, default);
            let got_cmp = (got.1.as_str(), got.2, got.3.as_deref());
            if got_cmp != expected {
                problems.push(format!(
                    "{table}.{column}: (type, nullable, default) = {got_cmp:?}, expected {expected:?}"
                ));
            }
        }
    }
    problems
}

async fn pg_index_problems(db: &DatabaseConnection) -> Vec<String> {
    let sql = "SELECT tablename::text AS t, indexname::text AS i, indexdef::text AS d \
               FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'seaql_migrations'";
    let actual: BTreeSet<(String, String, String)> = rows(db, sql)
        .await
        .iter()
        .map(|r| (get(r, "t"), get(r, "i"), get(r, "d")))
        .collect();
    let definition = |table: &str, name: &str, unique: bool, using: &str| {
        let unique = if unique { "UNIQUE " } else { "" };
        let def = format!("CREATE {unique}INDEX {name} ON public.{table} USING {using}");
        (table.to_owned(), name.to_owned(), def)
    };
    let primary_keys = TABLES
        .iter()
        .map(|(t, _)| definition(t, &format!("{t}_pkey"), true, "btree (id)"));
    let expected: BTreeSet<(String, String, String)> = INDEXES
        .iter()
        .map(|&(t, i, unique, using)| definition(t, i, unique, using))
        .chain(primary_keys)
        .collect();
    set_problems("index", &expected, &actual)
}

async fn pg_foreign_key_problems(db: &DatabaseConnection) -> Vec<String> {
    let sql = "SELECT conrelid::regclass::text AS t, conname::text AS c, \
               pg_get_constraintdef(oid) AS d FROM pg_constraint \
               WHERE contype = 'f' AND connamespace = 'public'::regnamespace";
    let actual: BTreeSet<(String, String, String)> = rows(db, sql)
        .await
        .iter()
        .map(|r| {
            let def: String = get(r, "d");
            (get(r, "t"), get(r, "c"), def.replace("public.", ""))
        })
        .collect();
    let expected: BTreeSet<(String, String, String)> = FOREIGN_KEYS
        .iter()
        .map(|&(t, col, to, to_col, action)| {
            let def = format!("FOREIGN KEY ({col}) REFERENCES {to}({to_col}) ON DELETE {action}");
            (t.to_owned(), format!("fk_{t}_{col}"), def)
        })
        .collect();
    set_problems("foreign key", &expected, &actual)
}

/// Tables other than the migration bookkeeping table.
async fn app_tables(db: &DatabaseConnection) -> BTreeSet<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        _ => "SELECT tablename::text AS t FROM pg_tables WHERE schemaname = 'public'",
    };
    rows(db, sql)
        .await
        .iter()
        .map(|r| get::<String>(r, "t"))
        .filter(|t| t != "seaql_migrations")
        .collect()
}

#[tokio::test]
async fn postgres_schema_matches_seeds() {
    let Some((_guard, db)) = scratch_postgres().await else {
        return;
    };
    Migrator::up(&db, Some(SEED_STEPS)).await.unwrap();

    let mut problems = pg_column_problems(&db).await;
    problems.extend(pg_index_problems(&db).await);
    problems.extend(pg_foreign_key_problems(&db).await);
    assert_no_problems("PostgreSQL schema", &problems);

    Migrator::up(&db, None).await.unwrap();
    Migrator::down(&db, None).await.unwrap();
    assert_eq!(
        app_tables(&db).await,
        BTreeSet::new(),
        "tables left after down"
    );
    db.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------------

async fn sqlite_problems(db: &DatabaseConnection) -> Vec<String> {
    let mut problems = set_problems("table", &table_names(), &app_tables(db).await);
    for (table, columns) in TABLES {
        let sql = format!("SELECT name, \"notnull\" AS nn, pk FROM pragma_table_info('{table}')");
        let found: Vec<(String, bool)> = rows(db, &sql)
            .await
            .iter()
            .map(|r| {
                (
                    get(r, "name"),
                    get::<i32>(r, "nn") + get::<i32>(r, "pk") > 0,
                )
            })
            .collect();
        let names: Vec<&str> = found.iter().map(|c| c.0.as_str()).collect();
        let expected_names: Vec<&str> = columns.iter().map(|c| c.0).collect();
        if names != expected_names {
            problems.push(format!(
                "{table}: columns {names:?}, expected {expected_names:?}"
            ));
        }
        for ((column, not_null), &(_, _, nullable, _)) in found.iter().zip(columns.iter()) {
            if *not_null == nullable {
                problems.push(format!("{table}.{column}: NOT NULL is {not_null}"));
            }
        }

        let sql = format!(
            "SELECT \"from\" AS c, \"table\" AS t, \"to\" AS tc, on_delete AS d \
             FROM pragma_foreign_key_list('{table}')"
        );
        let found: BTreeSet<[String; 5]> = rows(db, &sql)
            .await
            .iter()
            .map(|r| {
                [
                    table.to_string(),
                    get(r, "c"),
                    get(r, "t"),
                    get(r, "tc"),
                    get(r, "d"),
                ]
            })
            .collect();
        let expected: BTreeSet<[String; 5]> = FOREIGN_KEYS
            .iter()
            .filter(|fk| fk.0 == *table)
            .map(|&(t, c, to, tc, d)| [t, c, to, tc, d].map(str::to_owned))
            .collect();
        problems.extend(set_problems("foreign key", &expected, &found));
    }

    let sql = "SELECT name AS i FROM sqlite_master WHERE type = 'index' \
               AND (name LIKE 'idx\\_%' ESCAPE '\\' OR name LIKE 'uq\\_%' ESCAPE '\\')";
    let found: BTreeSet<String> = rows(db, sql).await.iter().map(|r| get(r, "i")).collect();
    let expected: BTreeSet<String> = INDEXES
        .iter()
        .map(|i| i.1)
        .filter(|i| (i.starts_with("idx_") || i.starts_with("uq_")) && *i != POSTGRES_ONLY_INDEX)
        .map(str::to_owned)
        .collect();
    problems.extend(set_problems("index", &expected, &found));
    problems
}

#[tokio::test]
async fn sqlite_up_and_down() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("schema.db").display()
    );
    let db = Database::connect(&url).await.unwrap();

    Migrator::up(&db, Some(SEED_STEPS)).await.unwrap();
    assert_no_problems("sqlite schema", &sqlite_problems(&db).await);

    Migrator::up(&db, None).await.unwrap();
    Migrator::down(&db, None).await.unwrap();
    assert_eq!(
        app_tables(&db).await,
        BTreeSet::new(),
        "tables left after down"
    );
    db.close().await.unwrap();
}
