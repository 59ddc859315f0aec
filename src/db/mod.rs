//! Connecting to the database, and the few places where PostgreSQL and SQLite differ.
//!
//! Everything else in the server is backend-neutral sea-orm. Each backend difference is one
//! small function here, so a reader can see all of them at once.

use std::borrow::Borrow;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    DbErr, EntityTrait, RuntimeErr, SqlErr, Statement, TryIntoModel,
};

use crate::config::Secret;

mod write;

pub use write::{begin_write, write_guard, WriteTxn};

/// Counters about the statements the server sent, exported on `/metrics`. Tests read
/// `statements` to prove that nested queries cost a fixed number of round trips.
#[derive(Debug, Default)]
pub struct DbMetrics {
    statements: AtomicU64,
    failed: AtomicU64,
    micros: AtomicU64,
}

impl DbMetrics {
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    pub fn seconds(&self) -> f64 {
        self.micros.load(Ordering::Relaxed) as f64 / 1_000_000.0
    }
}

/// A constraint violation the client can fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    Unique,
    ForeignKey,
}

/// Classifies a database error. sea-orm recognises most codes; SQLite reports an
/// `ON DELETE RESTRICT` violation with the extended code SQLITE_CONSTRAINT_TRIGGER (1811),
/// which it does not.
pub fn violation(err: &DbErr) -> Option<Violation> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => return Some(Violation::Unique),
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => return Some(Violation::ForeignKey),
        _ => {}
    }
    if let DbErr::Exec(RuntimeErr::SqlxError(sqlx_err))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx_err)) = err
    {
        if let Some(db_err) = sqlx_err.as_database_error() {
            if db_err.code().as_deref() == Some("1811") && db_err.message().contains("FOREIGN KEY")
            {
                return Some(Violation::ForeignKey);
            }
        }
    }
    None
}

/// PostgreSQL cancelled the statement (57014): `statement_timeout` ran out.
pub fn is_timeout(err: &DbErr) -> bool {
    if let DbErr::Exec(RuntimeErr::SqlxError(sqlx_err))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx_err)) = err
    {
        if let Some(db_err) = sqlx_err.as_database_error() {
            return db_err.code().as_deref() == Some("57014");
        }
    }
    false
}

/// A failure another try of the same transaction may not meet: PostgreSQL's serialization
/// failure (40001) or deadlock (40P01), SQLite's busy database.
pub fn is_transient(err: &DbErr) -> bool {
    if let DbErr::Exec(RuntimeErr::SqlxError(sqlx_err))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx_err)) = err
    {
        if let Some(db_err) = sqlx_err.as_database_error() {
            return matches!(
                db_err.code().as_deref(),
                Some("40001" | "40P01" | "5" | "517")
            );
        }
    }
    false
}

/// Opens a pool for `url`. A SQLite file's directory is created first, and the file is put
/// in WAL mode so readers do not block the writer. On PostgreSQL every connection gets
/// `statement_timeout` when one is given (a cancelled statement is [`is_timeout`]).
pub async fn connect(
    url: &Secret,
    max_connections: u32,
    statement_timeout: Option<Duration>,
    metrics: Arc<DbMetrics>,
) -> Result<DatabaseConnection, DbErr> {
    let raw = url.expose();
    if let Some(path) = sqlite_file_path(raw) {
        if let Some(dir) = std::path::Path::new(&path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    DbErr::Custom(format!(
                        "cannot create data directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        }
    }
    let mut options = ConnectOptions::new(raw.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if let Some(timeout) = statement_timeout.filter(|t| !t.is_zero()) {
        let millis = timeout.as_millis().to_string();
        options
            .map_sqlx_postgres_opts(move |pg| pg.options([("statement_timeout", millis.as_str())]));
    }
    let mut db = Database::connect(options).await?;
    db.set_metric_callback(move |info| {
        metrics.statements.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(info.elapsed.as_micros()).unwrap_or(u64::MAX);
        metrics.micros.fetch_add(micros, Ordering::Relaxed);
        if info.failed {
            metrics.failed.fetch_add(1, Ordering::Relaxed);
        }
    });
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode = WAL").await?;
    }
    Ok(db)
}

/// The file behind a `sqlite://` URL, if it names a file (not `:memory:`).
fn sqlite_file_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| path.to_owned())
}

/// `column` (a JSON object) contains every key/value pair of `object`.
/// PostgreSQL uses `@>` (served by the GIN index on `hosts.labels`); SQLite compares each
/// key with `json_extract`.
pub fn json_contains(
    backend: DbBackend,
    table: &str,
    column: &str,
    object: &serde_json::Map<String, serde_json::Value>,
) -> SimpleExpr {
    let qualified = format!("\"{table}\".\"{column}\"");
    match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            format!("{qualified} @> $1::jsonb"),
            [serde_json::Value::Object(object.clone()).to_string()],
        ),
        _ => {
            let mut all = Expr::value(true);
            for (key, value) in object {
                let path = format!("$.\"{}\"", key.replace('"', "\\\""));
                let expected = serde_json::json!({ "v": value }).to_string();
                all = all.and(Expr::cust_with_values(
                    format!("json_extract({qualified}, ?) = json_extract(?, '$.v')"),
                    [path, expected],
                ));
            }
            all
        }
    }
}

/// A bucket of time for rollups: the hour or UTC day a timestamp column falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
}

/// The start of the `bucket` that `column` (a qualified, quoted column) falls in, as a
/// timestamp: `date_trunc` on PostgreSQL; on SQLite, where timestamps are text
/// (`YYYY-MM-DD HH:MM:SS[.fff]`), the same text with the smaller parts zeroed.
pub fn time_bucket(backend: DbBackend, column: &str, bucket: Bucket) -> SimpleExpr {
    match (backend, bucket) {
        (DbBackend::Postgres, Bucket::Hour) => Expr::cust(format!("date_trunc('hour', {column})")),
        (DbBackend::Postgres, Bucket::Day) => Expr::cust(format!("date_trunc('day', {column})")),
        (_, Bucket::Hour) => Expr::cust(format!("strftime('%Y-%m-%d %H:00:00', {column})")),
        (_, Bucket::Day) => Expr::cust(format!("strftime('%Y-%m-%d 00:00:00', {column})")),
    }
}

/// The SQL type of a column that [`insert_rows`] writes, for PostgreSQL's array casts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Float,
    BigInt,
    Int,
    Text,
    Timestamp,
}

impl ColumnType {
    fn pg_array(self) -> &'static str {
        match self {
            ColumnType::Float => "float8[]",
            ColumnType::BigInt => "int8[]",
            ColumnType::Int => "int4[]",
            ColumnType::Text => "text[]",
            ColumnType::Timestamp => "timestamp[]",
        }
    }
}

/// One value of a row to insert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Float(Option<f64>),
    BigInt(Option<i64>),
    Int(Option<i32>),
    Text(&'a str),
    Timestamp(NaiveDateTime),
}

impl Cell<'_> {
    /// The value to bind. A timestamp is cut to whole microseconds, what PostgreSQL keeps,
    /// so that both backends store, and [`insert_rows`] returns, the same instant.
    fn into_value(self) -> sea_orm::Value {
        match self {
            Cell::Float(v) => v.into(),
            Cell::BigInt(v) => v.into(),
            Cell::Int(v) => v.into(),
            Cell::Text(v) => v.into(),
            Cell::Timestamp(v) => to_micros(v).into(),
        }
    }

    /// Appends the value as an element of a PostgreSQL array literal. Numbers are written
    /// with `itoa` and `ryu` (the shortest decimal that reads back as the same f64), and
    /// timestamps digit by digit: a 400-sample batch writes thousands of elements.
    fn write_array_element(self, out: &mut String) {
        match self {
            Cell::Float(None) | Cell::BigInt(None) | Cell::Int(None) => out.push_str("NULL"),
            Cell::Float(Some(v)) if v.is_nan() => out.push_str("NaN"),
            Cell::Float(Some(v)) if v.is_infinite() => {
                out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
            }
            Cell::Float(Some(v)) => out.push_str(ryu::Buffer::new().format_finite(v)),
            Cell::BigInt(Some(v)) => out.push_str(itoa::Buffer::new().format(v)),
            Cell::Int(Some(v)) => out.push_str(itoa::Buffer::new().format(v)),
            Cell::Text(v) => {
                out.push('"');
                for c in v.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            Cell::Timestamp(v) => {
                out.push('"');
                write_timestamp(out, to_micros(v));
                out.push('"');
            }
        }
    }
}

/// `at` cut to whole microseconds; a leap second (chrono's nanoseconds past 999,999,999)
/// becomes the last microsecond of the second before, since PostgreSQL has none.
fn to_micros(at: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    let micros = at.nanosecond().min(999_999_999) / 1_000;
    at.with_nanosecond(micros * 1_000).unwrap_or(at)
}

/// Appends `at` (whole microseconds) as `YYYY-MM-DD HH:MM:SS.ffffff`, the text PostgreSQL
/// reads as a timestamp.
fn write_timestamp(out: &mut String, at: NaiveDateTime) {
    use chrono::{Datelike, Timelike};
    let year = match u32::try_from(at.year()) {
        Ok(year) if year <= 9999 => year,
        _ => {
            use std::fmt::Write;
            // Writing to a String cannot fail.
            let _ = write!(out, "{}", at.format("%Y-%m-%d %H:%M:%S%.6f"));
            return;
        }
    };
    let parts = [
        ("", year, 4usize),
        ("-", at.month(), 2),
        ("-", at.day(), 2),
        (" ", at.hour(), 2),
        (":", at.minute(), 2),
        (":", at.second(), 2),
        (".", at.nanosecond() / 1_000, 6),
    ];
    let mut buffer = itoa::Buffer::new();
    for (separator, value, width) in parts {
        out.push_str(separator);
        let text = buffer.format(value);
        out.extend(std::iter::repeat_n('0', width.saturating_sub(text.len())));
        out.push_str(text);
    }
}

/// A column that [`insert_rows`] writes: its name, type and how to read it from a row.
#[derive(Debug)]
pub struct Column<R> {
    pub name: &'static str,
    pub ty: ColumnType,
    pub get: fn(&R) -> Cell<'_>,
}

/// Binds per multi-row INSERT on SQLite: below its limit of 32766 host parameters.
const SQLITE_MAX_BINDS: usize = 30_000;

/// Inserts `rows` into `E`'s table and returns them as stored (with their ids). Every row
/// gets the `shared` columns' values (say, the reporting host) and its own `columns`, which
/// together must name every column of the table but its `id`.
///
/// PostgreSQL: one statement whatever the number of rows, `INSERT ... SELECT ... FROM
/// UNNEST($2::float8[], ...)`, each column's values bound as one array literal (sea-query's
/// array values cannot hold NULL elements) and the shared values once. SQLite: multi-row
/// `INSERT ... VALUES`, as many rows per statement as its bind limit allows for this many
/// columns (`SQLITE_MAX_BINDS` over the shared and per-row columns together). `columns` is a
/// field table (`services::metric_series`) or any list of [`Column`]s.
///
/// Only the ids come back from the database: a statement's rows take their ids from the
/// sequence in the order they are written, so the ids sorted ascending are the rows' ids in
/// order, and each model is the row as given plus its id (timestamps cut to microseconds,
/// as they are stored), without decoding every column of every row back.
pub async fn insert_rows<E, R, C>(
    db: &impl ConnectionTrait,
    shared: &[(&'static str, Cell<'_>)],
    columns: &[C],
    rows: &[R],
) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    E::ActiveModel: TryIntoModel<E::Model>,
    C: Borrow<Column<R>>,
{
    let columns: Vec<&Column<R>> = columns.iter().map(Borrow::borrow).collect();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let table = E::default().table_name().to_owned();
    let names = shared
        .iter()
        .map(|(name, _)| *name)
        .chain(columns.iter().map(|c| c.name))
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let backend = db.get_database_backend();
    let mut ids = Vec::with_capacity(rows.len());
    match backend {
        DbBackend::Postgres => {
            let mut values: Vec<sea_orm::Value> = Vec::with_capacity(shared.len() + columns.len());
            let mut select = Vec::with_capacity(shared.len() + 1);
            for (_, cell) in shared {
                values.push(cell.into_value());
                select.push(format!("${}", values.len()));
            }
            let mut arrays = Vec::with_capacity(columns.len());
            for column in &columns {
                let mut literal = String::with_capacity(rows.len() * 8 + 2);
                literal.push('{');
                for (i, row) in rows.iter().enumerate() {
                    if i > 0 {
                        literal.push(',');
                    }
                    (column.get)(row).write_array_element(&mut literal);
                }
                literal.push('}');
                values.push(literal.into());
                arrays.push(format!("${}::{}", values.len(), column.ty.pg_array()));
            }
            select.push("u.*".to_owned());
            let sql = format!(
                "INSERT INTO \"{table}\" ({names}) SELECT {} FROM UNNEST({}) AS u RETURNING \"id\"",
                select.join(", "),
                arrays.join(", ")
            );
            push_ids(
                db,
                Statement::from_sql_and_values(backend, sql, values),
                &mut ids,
            )
            .await?;
        }
        _ => {
            let per_row = shared.len() + columns.len();
            let row_sql = format!("({})", vec!["?"; per_row].join(", "));
            for chunk in rows.chunks((SQLITE_MAX_BINDS / per_row).max(1)) {
                let mut values = Vec::with_capacity(chunk.len() * per_row);
                for row in chunk {
                    values.extend(shared.iter().map(|(_, cell)| cell.into_value()));
                    values.extend(columns.iter().map(|c| (c.get)(row).into_value()));
                }
                let sql = format!(
                    "INSERT INTO \"{table}\" ({names}) VALUES {} RETURNING \"id\"",
                    vec![row_sql.as_str(); chunk.len()].join(", ")
                );
                push_ids(
                    db,
                    Statement::from_sql_and_values(backend, sql, values),
                    &mut ids,
                )
                .await?;
            }
        }
    }
    ids.sort_unstable();
    if ids.len() != rows.len() {
        return Err(DbErr::Custom(format!(
            "{table}: {} rows written, {} ids returned",
            rows.len(),
            ids.len()
        )));
    }
    stored_models::<E, R>(shared, &columns, rows, &ids)
}

/// Runs an `INSERT ... RETURNING "id"` and appends the ids it returns to `ids`.
async fn push_ids(
    db: &impl ConnectionTrait,
    statement: Statement,
    ids: &mut Vec<i64>,
) -> Result<(), DbErr> {
    for row in db.query_all(statement).await? {
        ids.push(row.try_get_by_index::<i64>(0)?);
    }
    Ok(())
}

/// The models of `rows` as [`insert_rows`] stored them under `ids`: each column is looked up
/// once, then set on every row's active model.
fn stored_models<E, R>(
    shared: &[(&'static str, Cell<'_>)],
    columns: &[&Column<R>],
    rows: &[R],
    ids: &[i64],
) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    let column = |name: &str| {
        E::Column::from_str(name)
            .map_err(|_| DbErr::Custom(format!("{}: no column {name}", E::default().table_name())))
    };
    let id = column("id")?;
    let shared = shared
        .iter()
        .map(|(name, cell)| Ok((column(name)?, cell.into_value())))
        .collect::<Result<Vec<_>, DbErr>>()?;
    let own = columns
        .iter()
        .map(|c| Ok((column(c.name)?, c.get)))
        .collect::<Result<Vec<_>, DbErr>>()?;
    rows.iter()
        .zip(ids)
        .map(|(row, &row_id)| {
            let mut model = E::ActiveModel::default();
            model.try_set(id, row_id.into())?;
            for (column, value) in &shared {
                model.try_set(*column, value.clone())?;
            }
            for (column, get) in &own {
                model.try_set(*column, get(row).into_value())?;
            }
            model.try_into_model()
        })
        .collect()
}

/// Sends NOTIFY `channel` once per payload (PostgreSQL only), in order, all in one
/// statement: the payloads travel as one array literal.
pub async fn pg_notify(
    db: &impl ConnectionTrait,
    channel: &str,
    payloads: &[String],
) -> Result<(), DbErr> {
    if payloads.is_empty() {
        return Ok(());
    }
    let mut literal = String::with_capacity(payloads.iter().map(|p| p.len() + 8).sum());
    literal.push('{');
    for (i, payload) in payloads.iter().enumerate() {
        if i > 0 {
            literal.push(',');
        }
        Cell::Text(payload).write_array_element(&mut literal);
    }
    literal.push('}');
    db.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, p) FROM UNNEST($2::text[]) WITH ORDINALITY AS n(p, i) ORDER BY i",
        [channel.into(), literal.into()],
    ))
    .await?;
    Ok(())
}

/// A connection of its own (outside the pool) that LISTENs on `channel` (PostgreSQL only);
/// it reconnects and listens again by itself when the connection drops.
pub async fn pg_listen(
    url: &Secret,
    channel: &str,
) -> Result<sea_orm::sqlx::postgres::PgListener, DbErr> {
    let sqlx_err = |e| DbErr::Conn(RuntimeErr::SqlxError(e));
    let mut listener = sea_orm::sqlx::postgres::PgListener::connect(url.expose())
        .await
        .map_err(sqlx_err)?;
    listener.listen(channel).await.map_err(sqlx_err)?;
    // A lost connection is reported (`try_recv` answers `Ok(None)`) before connecting again,
    // so the caller can count the gap even when the database is away for a while.
    listener.eager_reconnect(false);
    Ok(listener)
}

/// Round-trip check used by `/readyz`.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.query_one(Statement::from_string(backend, "SELECT 1"))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(cell: Cell<'_>) -> String {
        let mut out = String::new();
        cell.write_array_element(&mut out);
        out
    }

    #[test]
    fn array_elements_read_back_as_the_same_values() {
        use chrono::Timelike;
        let at = |text: &str| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        for (text, written) in [
            (
                "2026-12-02 10:03:04.123456789",
                "\"2026-12-02 10:03:04.123456\"",
            ),
            ("0987-01-05 00:00:00", "\"0987-01-05 00:00:00.000000\""),
            (
                "2026-02-03 04:05:06.000007",
                "\"2026-02-03 04:05:06.000007\"",
            ),
        ] {
            assert_eq!(element(Cell::Timestamp(at(text))), written);
        }
        let leap = at("2026-06-30 23:59:59")
            .with_nanosecond(1_500_000_000)
            .unwrap();
        assert_eq!(
            element(Cell::Timestamp(leap)),
            "\"2026-06-30 23:59:59.999999\""
        );
        assert_eq!(
            Cell::Timestamp(leap).into_value(),
            at("2026-06-30 23:59:59.999999").into()
        );
        for v in [0.1, 1.0 / 3.0, -0.125, 1e21, 5e-324, f64::MAX] {
            assert_eq!(element(Cell::Float(Some(v))).parse::<f64>().unwrap(), v);
        }
        assert_eq!(element(Cell::Float(Some(f64::NAN))), "NaN");
        assert_eq!(element(Cell::Float(None)), "NULL");
        assert_eq!(element(Cell::BigInt(Some(i64::MIN))), i64::MIN.to_string());
        assert_eq!(element(Cell::Int(Some(-7))), "-7");
        assert_eq!(element(Cell::Text(r#"a"b\c"#)), r#""a\"b\\c""#);
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_file_path("sqlite://data/x.db?mode=rwc").as_deref(),
            Some("data/x.db")
        );
        assert_eq!(sqlite_file_path("sqlite:x.db").as_deref(), Some("x.db"));
        assert_eq!(sqlite_file_path("sqlite::memory:"), None);
        assert_eq!(sqlite_file_path("postgres://h/db"), None);
    }
}
