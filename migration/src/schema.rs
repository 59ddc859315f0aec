//! Shared schema helpers, so that every step file only lists what is specific to its table.
//!
//! - Column helpers map the seed's SQL types to sea-query builders and always state the
//!   nullability explicitly: `varchar(col, n)` is `VARCHAR(n) NOT NULL`, `varchar_null(col, n)`
//!   is nullable. A seed column without `NOT NULL` is nullable even when it has a `DEFAULT`.
//! - Index helpers name every index after its table (`idx_<table>_<cols>`, `uq_<table>_<cols>`)
//!   because PostgreSQL index names are schema-wide and the seed reuses names across tables.
//! - Foreign keys ([`ForeignKeyExt::fk`]) are named `fk_<table>_<column>` and declared inside
//!   `CREATE TABLE` (SQLite cannot add them later).
//! - [`TableStep`] + [`CreateTable`] turn "a table and its indexes" into a migration whose
//!   `down()` drops that table (and with it its indexes).
//!
//! Backend differences live in one helper each: [`gin_index`] (PostgreSQL-only GIN index),
//! [`time_index`] (BRIN on PostgreSQL, B-tree on SQLite).
//! Step files `use crate::schema::*;`, which also re-exports the sea-orm-migration prelude.

pub use sea_orm_migration::prelude::*;
pub use sea_orm_migration::sea_orm::DbBackend;

/// `CREATE TABLE <name>` without columns.
pub fn table<T: IntoIden + 'static>(name: T) -> TableCreateStatement {
    Table::create().table(name).take()
}

/// `BIGSERIAL PRIMARY KEY` (`integer PRIMARY KEY AUTOINCREMENT` on SQLite).
pub fn pk_bigserial<C: IntoIden>(col: C) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .take()
}

/// `VARCHAR(n) PRIMARY KEY` (a textual id such as `host-abc123`).
pub fn pk_varchar<C: IntoIden>(col: C, len: u32) -> ColumnDef {
    varchar(col, len).primary_key().take()
}

fn not_null(mut def: ColumnDef) -> ColumnDef {
    def.not_null().take()
}

fn null(mut def: ColumnDef) -> ColumnDef {
    def.null().take()
}

/// `VARCHAR(n) NOT NULL`.
pub fn varchar<C: IntoIden>(col: C, len: u32) -> ColumnDef {
    not_null(ColumnDef::new(col).string_len(len).take())
}

/// `VARCHAR(n)` (nullable).
pub fn varchar_null<C: IntoIden>(col: C, len: u32) -> ColumnDef {
    null(ColumnDef::new(col).string_len(len).take())
}

/// `TEXT NOT NULL`.
pub fn text<C: IntoIden>(col: C) -> ColumnDef {
    not_null(ColumnDef::new(col).text().take())
}

/// `TEXT` (nullable).
pub fn text_null<C: IntoIden>(col: C) -> ColumnDef {
    null(ColumnDef::new(col).text().take())
}

/// `INT NOT NULL`.
pub fn int<C: IntoIden>(col: C) -> ColumnDef {
    not_null(ColumnDef::new(col).integer().take())
}

/// `INT` (nullable).
pub fn int_null<C: IntoIden>(col: C) -> ColumnDef {
    null(ColumnDef::new(col).integer().take())
}

/// `BIGINT NOT NULL`.
pub fn bigint<C: IntoIden>(col: C) -> ColumnDef {
    not_null(ColumnDef::new(col).big_integer().take())
}

/// `BIGINT` (nullable).
pub fn bigint_null<C: IntoIden>(col: C) -> ColumnDef {
    null(ColumnDef::new(col).big_integer().take())
}

/// The seed's `FLOAT NOT NULL` (`double precision` on PostgreSQL).
pub fn double<C: IntoIden>(col: C) -> ColumnDef {
    not_null(ColumnDef::new(col).double().take())
}

/// The seed's `FLOAT` (nullable `double precision`).
pub fn double_null<C: IntoIden>(col: C) -> ColumnDef {
    null(ColumnDef::new(col).double().take())
}

/// `BOOLEAN` (nullable; the seed's flags are `BOOLEAN DEFAULT false` without `NOT NULL`).
pub fn boolean_null<C: IntoIden>(col: C) -> ColumnDef {
    null(ColumnDef::new(col).boolean().take())
}

/// `BOOLEAN NOT NULL DEFAULT FALSE`: a flag the platform keeps (not a seed column).
pub fn boolean_false<C: IntoIden>(col: C) -> ColumnDef {
    not_null(ColumnDef::new(col).boolean().default(false).take())
}

/// Money: `DECIMAL(10,4) NOT NULL`.
pub fn money<C: IntoIden>(col: C) -> ColumnDef {
    not_null(ColumnDef::new(col).decimal_len(10, 4).take())
}

/// `TIMESTAMP NOT NULL` (without time zone; values are UTC).
pub fn timestamp<C: IntoIden>(col: C) -> ColumnDef {
    not_null(ColumnDef::new(col).timestamp().take())
}

/// `TIMESTAMP` (nullable).
pub fn timestamp_null<C: IntoIden>(col: C) -> ColumnDef {
    null(ColumnDef::new(col).timestamp().take())
}

/// `TIMESTAMP DEFAULT NOW()` (nullable, as in the seed): `created_at`, `collected_at`, ...
pub fn timestamp_now<C: IntoIden>(col: C) -> ColumnDef {
    null(
        ColumnDef::new(col)
            .timestamp()
            .default(Expr::current_timestamp())
            .take(),
    )
}

/// `JSONB` (nullable; `jsonb_text` on SQLite).
pub fn jsonb_null<C: IntoIden>(col: C) -> ColumnDef {
    null(ColumnDef::new(col).json_binary().take())
}

/// `ON DELETE CASCADE`.
pub const CASCADE: ForeignKeyAction = ForeignKeyAction::Cascade;
/// `ON DELETE SET NULL`.
pub const SET_NULL: ForeignKeyAction = ForeignKeyAction::SetNull;
/// `ON DELETE RESTRICT`.
pub const RESTRICT: ForeignKeyAction = ForeignKeyAction::Restrict;

/// Foreign keys declared on the table being created.
pub trait ForeignKeyExt {
    /// Adds `CONSTRAINT fk_<table>_<column> FOREIGN KEY (column)
    /// REFERENCES to_table(to_column) ON DELETE <on_delete>`.
    fn fk<C: IntoIden, R: IntoIden + 'static, RC: IntoIden>(
        &mut self,
        column: C,
        to_table: R,
        to_column: RC,
        on_delete: ForeignKeyAction,
    ) -> &mut Self;
}

impl ForeignKeyExt for TableCreateStatement {
    fn fk<C: IntoIden, R: IntoIden + 'static, RC: IntoIden>(
        &mut self,
        column: C,
        to_table: R,
        to_column: RC,
        on_delete: ForeignKeyAction,
    ) -> &mut Self {
        let column = column.into_iden();
        let table = match self.get_table_name() {
            Some(TableRef::Table(name) | TableRef::SchemaTable(_, name)) => name.to_string(),
            _ => String::new(),
        };
        self.foreign_key(
            ForeignKey::create()
                .name(format!("fk_{table}_{}", column.to_string()))
                .from_col(column)
                .to(to_table, to_column)
                .on_delete(on_delete),
        )
    }
}

/// How the columns of an index are named and ordered.
fn build_index<T: IntoIden, C: IntoIden>(
    prefix: &str,
    table: T,
    cols: impl IntoIterator<Item = C>,
    last_desc: bool,
) -> IndexCreateStatement {
    let table = table.into_iden();
    let cols: Vec<DynIden> = cols.into_iter().map(IntoIden::into_iden).collect();
    let names: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
    let mut stmt = Index::create()
        .name(format!(
            "{prefix}_{}_{}",
            table.to_string(),
            names.join("_")
        ))
        .table(table)
        .take();
    let last = cols.len().saturating_sub(1);
    for (i, col) in cols.into_iter().enumerate() {
        if last_desc && i == last {
            stmt.col((col, IndexOrder::Desc));
        } else {
            stmt.col(col);
        }
    }
    stmt
}

/// `CREATE INDEX idx_<table>_<cols> ON <table> (<cols>)`.
pub fn index<T: IntoIden, C: IntoIden>(
    table: T,
    cols: impl IntoIterator<Item = C>,
) -> IndexCreateStatement {
    build_index("idx", table, cols, false)
}

/// Like [`index`], with the last column descending: time series `(host_id, collected_at DESC)`.
pub fn index_desc<T: IntoIden, C: IntoIden>(
    table: T,
    cols: impl IntoIterator<Item = C>,
) -> IndexCreateStatement {
    build_index("idx", table, cols, true)
}

/// `CREATE UNIQUE INDEX uq_<table>_<cols> ON <table> (<cols>)`: the seed's `UNIQUE(a, b)`.
pub fn unique_index<T: IntoIden, C: IntoIden>(
    table: T,
    cols: impl IntoIterator<Item = C>,
) -> IndexCreateStatement {
    build_index("uq", table, cols, false).unique().take()
}

/// GIN index `idx_<table>_<col>` for a JSONB column, on PostgreSQL only: SQLite stores JSONB
/// as text and has no GIN, so there the column is simply not indexed.
pub fn gin_index<T: IntoIden, C: IntoIden>(
    backend: DbBackend,
    table: T,
    col: C,
) -> Option<IndexCreateStatement> {
    (backend == DbBackend::Postgres).then(|| {
        index(table, [col])
            .index_type(IndexType::Custom(Alias::new("GIN").into_iden()))
            .take()
    })
}

/// Index `idx_<table>_<col>` on an append-mostly timestamp column: BRIN on PostgreSQL (tiny,
/// nearly free to maintain when rows arrive in time order), a B-tree on SQLite (no BRIN).
pub fn time_index<T: IntoIden, C: IntoIden>(
    backend: DbBackend,
    table: T,
    col: C,
) -> IndexCreateStatement {
    let mut stmt = index(table, [col]);
    if backend == DbBackend::Postgres {
        stmt.index_type(IndexType::Custom(Alias::new("BRIN").into_iden()));
    }
    stmt
}

/// One migration step that creates one table and its indexes.
pub trait TableStep: MigrationName + Send + Sync {
    /// The `CREATE TABLE` statement, foreign keys included.
    fn table(&self) -> TableCreateStatement;

    /// Indexes created right after the table; `backend` lets a step skip a backend-only one.
    fn indexes(&self, backend: DbBackend) -> Vec<IndexCreateStatement>;
}

/// Runs a [`TableStep`]: `up()` creates the table then its indexes, `down()` drops the table.
pub struct CreateTable<S>(pub S);

impl<S: TableStep> MigrationName for CreateTable<S> {
    fn name(&self) -> &str {
        self.0.name()
    }
}

#[async_trait::async_trait]
impl<S: TableStep> MigrationTrait for CreateTable<S> {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(self.0.table()).await?;
        for index in self.0.indexes(manager.get_database_backend()) {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let create = self.0.table();
        let name = create.get_table_name().cloned().ok_or_else(|| {
            DbErr::Migration(format!("{}: CREATE TABLE without a name", self.name()))
        })?;
        manager.drop_table(Table::drop().table(name).take()).await
    }
}

/// Boxes a [`TableStep`] for [`MigratorTrait::migrations`].
pub fn create_table<S: TableStep + 'static>(step: S) -> Box<dyn MigrationTrait> {
    Box::new(CreateTable(step))
}
