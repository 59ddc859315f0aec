//! What billing needs on top of seed 000 §8.1's `billing_records` and the `invoices` table:
//!
//! - `prices`: the price book. One row per resource (`gpu` by GPU model, `cpu` per core,
//!   `memory` per GiB) and `effective_from` (a whole hour); a change is a new row, so every
//!   price ever charged stays on record.
//! - `environment_runs`: one row per stretch of time an environment ran, with the resources
//!   it held (`ended_at` NULL while it runs) and `metered_until`, the hour up to which its
//!   billing records are written. Metering reads these.
//! - `invoice_sequences`: the last invoice number issued per year (numbers without gaps).
//! - `billing_records` gains `workspace_id` (billed to the workspace), `gpu_model`,
//!   `seconds` (the seconds of the bucket the environment ran) and `bucket_start` (the UTC
//!   hour), unique per (environment, resource, bucket) so metering is idempotent.
//! - `invoices` gains `workspace_id`, `billed_to` (`customer:<id>` or `workspace:<id>`; one
//!   invoice per account and month) and `tax_rate`; its money columns widen to
//!   `DECIMAL(15,4)` (an invoice total can pass the seed's 999,999.9999).
//! - `customers` and `workspaces` gain `spend_limit` (monthly) and the months in which the
//!   80% warning and the limit were reached; `environments` gains `stop_reason` and the
//!   idle auto-stop settings.
//! - Billing history outlives nothing by accident: the customer foreign keys of
//!   `billing_records` and `invoices` become `ON DELETE RESTRICT` (they were CASCADE).
//!
//! Money is exact on both backends: `DECIMAL` on PostgreSQL, `TEXT` holding the decimal
//! string on SQLite (whose `DECIMAL` is a float), so SQLite rebuilds the two billing tables
//! with their rows copied.

use crate::schema::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Runs `sql` (several statements) as one batch, so that all of it goes to one connection
/// of the pool: SQLite's rebuild must see its own new tables.
async fn run(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager.get_connection().execute_unprepared(sql).await?;
    Ok(())
}

/// The SQL type of a money column with `digits` digits, four of them decimals.
fn money_type(backend: DbBackend, digits: u32) -> String {
    match backend {
        DbBackend::Sqlite => "TEXT".to_owned(),
        _ => format!("DECIMAL({digits},4)"),
    }
}

fn id_type(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        _ => "BIGSERIAL PRIMARY KEY",
    }
}

fn new_tables(b: DbBackend) -> String {
    let (id, m10) = (id_type(b), money_type(b, 10));
    format!(
        "CREATE TABLE prices (
            id {id},
            resource_type VARCHAR(16) NOT NULL,
            gpu_model VARCHAR(128) NOT NULL DEFAULT '',
            unit_price {m10} NOT NULL,
            effective_from TIMESTAMP NOT NULL,
            created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
        );
        CREATE UNIQUE INDEX uq_prices_resource_model_from
            ON prices (resource_type, gpu_model, effective_from);
        CREATE TABLE environment_runs (
            id {id},
            env_id VARCHAR(64) NOT NULL,
            customer_id BIGINT NOT NULL,
            workspace_id BIGINT,
            gpu_model VARCHAR(128),
            gpu_count INTEGER NOT NULL,
            cpu_cores INTEGER NOT NULL,
            memory_bytes BIGINT NOT NULL,
            started_at TIMESTAMP NOT NULL,
            ended_at TIMESTAMP,
            metered_until TIMESTAMP,
            CONSTRAINT fk_environment_runs_env_id FOREIGN KEY (env_id)
                REFERENCES environments (id) ON DELETE CASCADE
        );
        CREATE INDEX idx_environment_runs_env_id ON environment_runs (env_id);
        CREATE INDEX idx_environment_runs_ended_at ON environment_runs (ended_at);
        CREATE INDEX idx_environment_runs_customer_id ON environment_runs (customer_id);
        CREATE INDEX idx_environment_runs_workspace_id ON environment_runs (workspace_id);
        CREATE TABLE invoice_sequences (
            year INTEGER NOT NULL PRIMARY KEY,
            last_number BIGINT NOT NULL
        )"
    )
}

/// `invoices` and `billing_records` as billing leaves them, under `suffix`.
fn billing_tables(b: DbBackend, suffix: &str) -> String {
    let (id, m10, m15, rate) = (
        id_type(b),
        money_type(b, 10),
        money_type(b, 15),
        money_type(b, 7),
    );
    format!(
        "CREATE TABLE invoices{suffix} (
            id {id},
            invoice_no VARCHAR(64) NOT NULL UNIQUE,
            customer_id BIGINT NOT NULL,
            period_start TIMESTAMP NOT NULL,
            period_end TIMESTAMP NOT NULL,
            subtotal {m15} NOT NULL DEFAULT 0,
            tax {m15} NOT NULL DEFAULT 0,
            total_amount {m15} NOT NULL DEFAULT 0,
            currency VARCHAR(8) DEFAULT 'CNY',
            status VARCHAR(20) DEFAULT 'draft',
            issued_at TIMESTAMP,
            due_at TIMESTAMP,
            paid_at TIMESTAMP,
            created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
            updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
            workspace_id BIGINT,
            billed_to VARCHAR(32) NOT NULL DEFAULT '',
            tax_rate {rate} NOT NULL DEFAULT 0,
            CONSTRAINT fk_invoices_customer_id FOREIGN KEY (customer_id)
                REFERENCES customers (id) ON DELETE RESTRICT,
            CONSTRAINT fk_invoices_workspace_id FOREIGN KEY (workspace_id)
                REFERENCES workspaces (id) ON DELETE RESTRICT
        );
        CREATE TABLE billing_records{suffix} (
            id {id},
            customer_id BIGINT NOT NULL,
            env_id VARCHAR(64),
            resource_type VARCHAR(32) NOT NULL,
            quantity DOUBLE PRECISION NOT NULL,
            unit_price {m10} NOT NULL,
            amount {m10} NOT NULL,
            start_time TIMESTAMP NOT NULL,
            end_time TIMESTAMP NOT NULL,
            created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
            invoice_id BIGINT,
            workspace_id BIGINT,
            gpu_model VARCHAR(128),
            seconds BIGINT NOT NULL DEFAULT 0,
            bucket_start TIMESTAMP,
            CONSTRAINT fk_billing_records_customer_id FOREIGN KEY (customer_id)
                REFERENCES customers (id) ON DELETE RESTRICT,
            CONSTRAINT fk_billing_records_env_id FOREIGN KEY (env_id)
                REFERENCES environments (id) ON DELETE SET NULL,
            CONSTRAINT fk_billing_records_invoice_id FOREIGN KEY (invoice_id)
                REFERENCES invoices{suffix} (id) ON DELETE SET NULL,
            CONSTRAINT fk_billing_records_workspace_id FOREIGN KEY (workspace_id)
                REFERENCES workspaces (id) ON DELETE RESTRICT
        )"
    )
}

const BILLING_INDEXES: &str = "
    CREATE INDEX idx_invoices_customer_id ON invoices (customer_id);
    CREATE INDEX idx_invoices_status ON invoices (status);
    CREATE INDEX idx_invoices_period_start ON invoices (period_start DESC);
    CREATE INDEX idx_billing_records_customer_id ON billing_records (customer_id);
    CREATE INDEX idx_billing_records_env_id ON billing_records (env_id);
    CREATE INDEX idx_billing_records_start_time ON billing_records (start_time DESC);
    CREATE INDEX idx_billing_records_invoice_id ON billing_records (invoice_id)";

const NEW_BILLING_INDEXES: &str = "
    CREATE UNIQUE INDEX uq_invoices_billed_to_period_start ON invoices (billed_to, period_start);
    CREATE INDEX idx_invoices_workspace_id ON invoices (workspace_id);
    CREATE INDEX idx_billing_records_workspace_id ON billing_records (workspace_id);
    CREATE UNIQUE INDEX uq_billing_records_env_resource_bucket
        ON billing_records (env_id, resource_type, bucket_start)";

/// PostgreSQL alters the two tables in place.
const POSTGRES_BILLING: &str = "
    ALTER TABLE invoices
        ALTER COLUMN subtotal TYPE DECIMAL(15,4),
        ALTER COLUMN tax TYPE DECIMAL(15,4),
        ALTER COLUMN total_amount TYPE DECIMAL(15,4),
        ADD COLUMN workspace_id BIGINT,
        ADD COLUMN billed_to VARCHAR(32) NOT NULL DEFAULT '',
        ADD COLUMN tax_rate DECIMAL(7,4) NOT NULL DEFAULT 0,
        DROP CONSTRAINT fk_invoices_customer_id,
        ADD CONSTRAINT fk_invoices_customer_id FOREIGN KEY (customer_id)
            REFERENCES customers (id) ON DELETE RESTRICT,
        ADD CONSTRAINT fk_invoices_workspace_id FOREIGN KEY (workspace_id)
            REFERENCES workspaces (id) ON DELETE RESTRICT;
    UPDATE invoices SET billed_to = 'customer:' || customer_id;
    ALTER TABLE billing_records
        ADD COLUMN workspace_id BIGINT,
        ADD COLUMN gpu_model VARCHAR(128),
        ADD COLUMN seconds BIGINT NOT NULL DEFAULT 0,
        ADD COLUMN bucket_start TIMESTAMP,
        DROP CONSTRAINT fk_billing_records_customer_id,
        ADD CONSTRAINT fk_billing_records_customer_id FOREIGN KEY (customer_id)
            REFERENCES customers (id) ON DELETE RESTRICT,
        ADD CONSTRAINT fk_billing_records_workspace_id FOREIGN KEY (workspace_id)
            REFERENCES workspaces (id) ON DELETE RESTRICT";

/// SQLite cannot change a column's type: new tables, rows copied (money as 4-place
/// decimal strings), old tables dropped, new ones renamed (which also renames the
/// references between them).
const SQLITE_COPY: &str = "
    INSERT INTO invoices_new (id, invoice_no, customer_id, period_start, period_end,
        subtotal, tax, total_amount, currency, status, issued_at, due_at, paid_at,
        created_at, updated_at, billed_to)
    SELECT id, invoice_no, customer_id, period_start, period_end,
        printf('%.4f', subtotal), printf('%.4f', tax), printf('%.4f', total_amount),
        currency, status, issued_at, due_at, paid_at, created_at, updated_at,
        'customer:' || customer_id
    FROM invoices;
    INSERT INTO billing_records_new (id, customer_id, env_id, resource_type, quantity,
        unit_price, amount, start_time, end_time, created_at, invoice_id)
    SELECT id, customer_id, env_id, resource_type, quantity,
        printf('%.4f', unit_price), printf('%.4f', amount), start_time, end_time,
        created_at, invoice_id
    FROM billing_records;
    DROP TABLE billing_records;
    DROP TABLE invoices;
    ALTER TABLE invoices_new RENAME TO invoices;
    ALTER TABLE billing_records_new RENAME TO billing_records";

fn account_columns(b: DbBackend) -> String {
    let m15 = money_type(b, 15);
    let mut sql = String::new();
    for table in ["customers", "workspaces"] {
        sql.push_str(&format!(
            "ALTER TABLE {table} ADD COLUMN spend_limit {m15};
             ALTER TABLE {table} ADD COLUMN spend_warned_month VARCHAR(7);
             ALTER TABLE {table} ADD COLUMN spend_limited_month VARCHAR(7);\n"
        ));
    }
    sql.push_str(
        "ALTER TABLE environments ADD COLUMN stop_reason TEXT;
         ALTER TABLE environments ADD COLUMN idle_stop_minutes INTEGER;
         ALTER TABLE environments ADD COLUMN idle_threshold_percent DOUBLE PRECISION",
    );
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let b = manager.get_database_backend();
        run(manager, &new_tables(b)).await?;
        let billing = if b == DbBackend::Sqlite {
            format!(
                "{};\n{SQLITE_COPY};\n{BILLING_INDEXES}",
                billing_tables(b, "_new")
            )
        } else {
            POSTGRES_BILLING.to_owned()
        };
        run(
            manager,
            &format!("{billing};\n{NEW_BILLING_INDEXES};\n{}", account_columns(b)),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut sql = String::new();
        for table in ["customers", "workspaces"] {
            for col in ["spend_limit", "spend_warned_month", "spend_limited_month"] {
                sql.push_str(&format!("ALTER TABLE {table} DROP COLUMN {col};\n"));
            }
        }
        for col in ["stop_reason", "idle_stop_minutes", "idle_threshold_percent"] {
            sql.push_str(&format!("ALTER TABLE environments DROP COLUMN {col};\n"));
        }
        sql.push_str(
            "DROP INDEX uq_invoices_billed_to_period_start;
             DROP INDEX idx_invoices_workspace_id;
             DROP INDEX idx_billing_records_workspace_id;
             DROP INDEX uq_billing_records_env_resource_bucket;
             DROP TABLE invoice_sequences;
             DROP TABLE environment_runs;
             DROP TABLE prices",
        );
        // The billing tables keep their new columns and types (harmless to older code).
        run(manager, &sql).await
    }
}
