//! SQLite's own handle, beside sqlx's one write connection, for the
//! hottest write: a batch of statements run here costs what SQLite itself
//! takes. Through sqlx each statement of a batch is handed to the driver's
//! thread and its result sent back, parameters converted on the way, so a
//! publication's dozen statements took longer than a whole one-row
//! transaction (BENCHMARKS.md).
//!
//! It stays the only writer in the process: a write here first takes the
//! write pool's one connection and holds it until it commits, so sqlx's
//! writers queue behind it exactly as they queue behind each other, and
//! none of them meets a locked database.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use sqlx::error::{DatabaseError, ErrorKind};

/// Statements kept prepared: a group's shapes are few, and repeat.
const STATEMENT_CACHE: usize = 64;

/// The direct connection, gone once the database is closed.
#[derive(Debug)]
pub(super) struct Direct {
    conn: Mutex<Option<Connection>>,
}

impl Direct {
    /// Opens `path` (already created and migrated by sqlx) with the write
    /// connection's settings.
    pub(super) fn open(path: &Path, autocheckpoint_pages: u32) -> anyhow::Result<Direct> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // No busy timeout: within the process the write connection orders
        // the writers, so only another process can hold the database, and
        // then this fails at once instead of blocking the caller's thread;
        // the caller takes sqlx's way, which waits on the driver's thread.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 0; \
             PRAGMA wal_autocheckpoint = {autocheckpoint_pages};"
        ))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Direct {
            conn: Mutex::new(Some(conn)),
        })
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction: committed when it
    /// answers `Some`, rolled back when it answers `None` or fails. The
    /// caller holds the write pool's connection.
    ///
    /// It runs on the caller's thread: a batch takes SQLite tens of
    /// microseconds a statement, less than handing it to another thread
    /// and waking on the answer would.
    pub(super) fn run<R>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<Option<R>>,
    ) -> Result<Option<R>, sqlx::Error> {
        // A panic inside an earlier `f` left no open transaction behind
        // (dropping it rolled back), so the connection is still good.
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let conn = guard.as_mut().ok_or(sqlx::Error::PoolClosed)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(into_sqlx)?;
        match f(&tx).map_err(into_sqlx)? {
            Some(r) => {
                tx.commit().map_err(into_sqlx)?;
                Ok(Some(r))
            }
            None => {
                tx.rollback().map_err(into_sqlx)?;
                Ok(None)
            }
        }
    }

    /// Closes the connection; writes after this fail as on a closed pool.
    pub(super) fn close(&self) {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(conn) = conn
            && let Err((_, e)) = conn.close()
        {
            tracing::warn!(error = %e, "closing SQLite's direct connection failed");
        }
    }
}

/// SQLite's errors as sqlx reports its own, so that callers tell a unique
/// violation or a constraint apart the same way whichever path wrote.
fn into_sqlx(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            sqlx::Error::Database(Box::new(SqliteFailure {
                message: message.unwrap_or_else(|| code.to_string()),
                extended: code.extended_code,
            }))
        }
        // Anything else is a statement that does not fit its parameters
        // or columns: a mistake in the caller, reported as it stands.
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

#[derive(Debug)]
struct SqliteFailure {
    message: String,
    extended: std::ffi::c_int,
}

impl std::fmt::Display for SqliteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteFailure {}

impl DatabaseError for SqliteFailure {
    fn message(&self) -> &str {
        &self.message
    }

    /// The extended result code, as sqlx's SQLite driver gives it.
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(self.extended.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        use rusqlite::ffi;
        match self.extended {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}
