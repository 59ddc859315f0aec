//! Writing on both backends: SQLite allows one writer at a time, and a transaction that reads
//! before it writes fails at once (`SQLITE_BUSY_SNAPSHOT`) when another writer committed in
//! between. Writes on SQLite therefore take one process-wide lock first; PostgreSQL needs
//! none. [`begin_write`] is the one way to open a write transaction: the transaction it
//! returns holds the lock until it commits or is dropped (rolled back). [`write_guard`] is for
//! a single statement outside a transaction.

use std::ops::Deref;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement, TransactionTrait,
};
use tokio::sync::MutexGuard;

static SQLITE_WRITER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The SQLite writer lock (`None` on PostgreSQL), for a write outside a transaction.
pub async fn write_guard(db: &impl ConnectionTrait) -> Option<MutexGuard<'static, ()>> {
    match db.get_database_backend() {
        DbBackend::Sqlite => Some(SQLITE_WRITER.lock().await),
        _ => None,
    }
}

/// A write transaction that holds the SQLite writer lock while it lives. Use it wherever a
/// `DatabaseTransaction` is: it is one (`Deref`) and a connection (`ConnectionTrait`).
pub struct WriteTxn {
    // Declared first: dropped (rolled back) before the lock is released.
    txn: DatabaseTransaction,
    _writer: Option<MutexGuard<'static, ()>>,
}

impl std::fmt::Debug for WriteTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTxn").finish_non_exhaustive()
    }
}

/// Opens a write transaction, taking the SQLite writer lock first.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    let writer = write_guard(db).await;
    let txn = db.begin().await?;
    Ok(WriteTxn {
        txn,
        _writer: writer,
    })
}

impl WriteTxn {
    /// Commits, then releases the lock.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

impl Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one(stmt).await
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.txn.is_mock_connection()
    }
}
