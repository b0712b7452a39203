//! Storage: one sqlx `Any` code path over SQLite (embedded default, WAL, a
//! file per service) and PostgreSQL (production), with embedded migrations
//! for each backend.
//!
//! SQL is written once with `$1`-style parameters, which both drivers accept,
//! and portable types (BIGINT/INTEGER, TEXT, BYTEA/BLOB); dates are ISO text
//! and instants are Unix milliseconds.
//!
//! The hottest SQLite write can bypass the driver (`direct`), still as the
//! one writer.

mod direct;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{
    Any, AnyConnection, AnyPool, ConnectOptions as _, Connection as _, Executor as _, Transaction,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A service's migrations, one folder per backend.
pub struct Migrations {
    pub sqlite: &'static Migrator,
    pub postgres: &'static Migrator,
}

static KERNEL_SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static KERNEL_POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// Kernel tables (outbox, processed events) keep their own migration history
/// so that each service's numbering stays its own.
const KERNEL_MIGRATIONS_TABLE: &str = "_gk_kernel_migrations";

/// Database handle of one service.
///
/// With SQLite all writes go through a single connection: SQLite has one
/// writer anyway, and queueing in-process avoids `SQLITE_BUSY` on upgrade of
/// a deferred transaction. Reads use a separate pool (WAL lets them run
/// beside the writer). With PostgreSQL both are the same pool.
///
/// SQLite also has a connection of its own, without sqlx, for the hottest
/// write ([`Db::write_direct`]); it takes the write connection first, so
/// there is still one writer at a time.
#[derive(Clone, Debug)]
pub struct Db {
    backend: Backend,
    write: AnyPool,
    read: AnyPool,
    direct: Option<Arc<direct::Direct>>,
}

pub fn install_drivers() {
    sqlx::any::install_default_drivers();
}

/// `sqlite://` URL for a file, created when missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// A service's database: `configured` when given, else the SQLite file
/// `<service>.db` in the node's data directory.
pub fn service_url(configured: &str, data_dir: &Path, service: &str) -> String {
    if configured.is_empty() {
        sqlite_url(&data_dir.join(format!("{service}.db")))
    } else {
        configured.to_owned()
    }
}

impl Db {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str, migrations: &Migrations) -> anyhow::Result<Db> {
        install_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            anyhow::bail!("database url must start with sqlite:, postgres:// or postgresql://");
        };
        let options = AnyConnectOptions::from_str(url)
            .context("database url")?
            // Statements are logged by our own spans; sqlx's per-statement
            // info logs would drown the node's log.
            .log_statements(tracing::log::LevelFilter::Debug)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        let direct_file = match backend {
            Backend::Sqlite => Some(sqlite_file(url)?),
            Backend::Postgres => None,
        };
        let mut db = match backend {
            Backend::Sqlite => {
                let write = sqlite_pool(1)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            sqlite_pragmas(conn).await?;
                            // Checkpoints are the checkpointer's; this
                            // connection takes one only if it falls far behind.
                            conn.execute(sqlx::AssertSqlSafe(format!(
                                "PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}"
                            )))
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options.clone())
                    .await?;
                let read = sqlite_pool(4)
                    .after_connect(|conn, _meta| Box::pin(sqlite_pragmas(conn)))
                    .connect_with(options.clone())
                    .await?;
                let checkpointer = AnyConnection::connect_with(&options).await?;
                tokio::spawn(checkpoint_in_background(checkpointer, write.clone()));
                Db {
                    backend,
                    write,
                    read,
                    direct: None,
                }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    // The liveness ping on every acquire costs 10–25 % of a
                    // short transaction; broken connections surface as errors
                    // and are replaced anyway.
                    .test_before_acquire(false)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                Db {
                    backend,
                    write: pool.clone(),
                    read: pool,
                    direct: None,
                }
            }
        };
        db.migrate(migrations).await?;
        if let Some(path) = direct_file {
            db.direct = Some(Arc::new(
                direct::Direct::open(&path, WRITER_CHECKPOINT_PAGES)
                    .with_context(|| format!("opening {} directly", path.display()))?,
            ));
        }
        Ok(db)
    }

    async fn migrate(&self, migrations: &Migrations) -> anyhow::Result<()> {
        let (kernel, service) = match self.backend {
            Backend::Sqlite => (&KERNEL_SQLITE, migrations.sqlite),
            Backend::Postgres => (&KERNEL_POSTGRES, migrations.postgres),
        };
        let mut kernel = Migrator::with_migrations(kernel.iter().cloned().collect());
        kernel.dangerous_set_table_name(KERNEL_MIGRATIONS_TABLE);
        kernel.run(&self.write).await.context("kernel migrations")?;
        service
            .run(&self.write)
            .await
            .context("service migrations")?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Pool for reads that need no transaction.
    pub fn read(&self) -> &AnyPool {
        &self.read
    }

    /// Pool for writes outside a transaction (rare; prefer `begin`).
    pub fn write(&self) -> &AnyPool {
        &self.write
    }

    pub async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        self.write.begin().await
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on SQLite's own handle,
    /// holding the write connection meanwhile: committed when `f` answers
    /// `Some`, rolled back when it answers `None` or fails. Only for SQLite;
    /// errors read as sqlx's own (a unique violation is one).
    pub async fn write_direct<R>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<Option<R>>,
    ) -> Result<Option<R>, sqlx::Error> {
        let Some(direct) = &self.direct else {
            return Err(sqlx::Error::Configuration(
                "direct writes are SQLite's only".into(),
            ));
        };
        // The write connection, held unused: while it is ours no other
        // writer in the process can start.
        let _writer = self.write.acquire().await?;
        direct.run(f)
    }

    pub async fn close(&self) {
        self.write.close().await;
        if let Some(direct) = &self.direct {
            direct.close();
        }
        self.read.close().await;
    }
}

/// The file a `sqlite:` URL names. One in memory is refused: every
/// connection to it would be a database of its own, and a service's
/// connections must share one.
fn sqlite_file(url: &str) -> anyhow::Result<std::path::PathBuf> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).context("database url")?;
    let path = options.get_filename();
    let in_memory = path.to_string_lossy().starts_with("file:sqlx-in-memory-")
        || url
            .split_once('?')
            .is_some_and(|(_, query)| query.split('&').any(|kv| kv == "mode=memory"));
    if in_memory {
        anyhow::bail!(
            "database url: an in-memory SQLite database is not supported: name a file \
             (the service's connections must all reach the same database)"
        );
    }
    Ok(path.to_owned())
}

fn sqlite_pool(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
}

async fn sqlite_pragmas(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    // WAL lets readers run beside the writer; NORMAL sync is durable across
    // process crashes in WAL mode (a power loss may drop the last commits,
    // never corrupt).
    conn.execute(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
    )
    .await?;
    Ok(())
}

/// How often the checkpointer copies the write-ahead log into the database
/// while there are commits to copy.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// The longest the checkpointer sleeps on an idle database: it looks less
/// and less often while nothing is committed (an idle node should not wake
/// ten times a second per service), and the first commit after a quiet
/// spell is copied at most this late.
const CHECKPOINT_IDLE_MAX: Duration = Duration::from_millis(1_600);

/// The log length (in pages) at which the writer checkpoints by itself
/// after a commit: only when the checkpointer has fallen far behind (the
/// default, 1,000, would have the writer do it every few hundred writes).
const WRITER_CHECKPOINT_PAGES: u32 = 20_000;

/// How long the checkpointer sleeps after a look that found work
/// (`pending`) or none, having slept `last`.
fn checkpoint_wait(last: Duration, pending: bool) -> Duration {
    if pending {
        CHECKPOINT_INTERVAL
    } else {
        (last * 2).clamp(CHECKPOINT_INTERVAL, CHECKPOINT_IDLE_MAX)
    }
}

/// Copies the write-ahead log into the database from a connection of its
/// own, beside the writer, until the write pool is closed. Left to SQLite,
/// the commit that crosses 1,000 log pages copies them and syncs the file
/// itself, and its caller waits milliseconds for that. A passive
/// checkpoint never waits for the writer or for readers; what it cannot
/// copy yet it copies next time. `PRAGMA data_version` tells whether any
/// other connection has committed since the last look, so an idle database
/// costs one cheap question per (growing) interval, not a checkpoint.
async fn checkpoint_in_background(mut conn: AnyConnection, write: AnyPool) {
    let mut wait = CHECKPOINT_INTERVAL;
    let mut seen: Option<i64> = None;
    // Frames a passive checkpoint could not copy yet (a reader was using
    // them): worth another try even with no new commit.
    let mut left_behind = false;
    loop {
        tokio::time::sleep(wait).await;
        if write.is_closed() {
            break;
        }
        // Read to the end (not `fetch_one`), so the statement is reset and
        // holds no read transaction: a connection inside one would see no
        // later commit, and its snapshot would keep the checkpoint back.
        let version: Option<i64> = match sqlx::query_scalar("PRAGMA data_version")
            .fetch_all(&mut conn)
            .await
        {
            Ok(v) => v.first().copied(),
            Err(e) => {
                tracing::warn!(error = %e, "reading the SQLite data version failed");
                None
            }
        };
        let committed = version.is_none() || version != seen;
        seen = version;
        let pending = committed || left_behind;
        if pending {
            match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_all(&mut conn)
                .await
            {
                Ok(rows) => left_behind = rows.first().is_none_or(|&(_, log, copied)| copied < log),
                Err(e) => {
                    left_behind = true;
                    tracing::warn!(error = %e, "checkpointing the SQLite log failed");
                }
            }
        }
        wait = checkpoint_wait(wait, pending);
    }
    let _ = conn.close().await;
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A statement for SQLite batches that fails unless `condition` (SQL, e.g.
/// `changes() = 1`) holds; `changes()` then still names the statement
/// before it. It writes nothing when the condition holds, and its error is
/// told apart by [`is_guard_failure`]. Failing, it undoes only itself and
/// stops the batch: the caller's transaction is the caller's to roll back.
pub fn sqlite_guard(condition: &str) -> String {
    format!("INSERT OR ABORT INTO gk_guard (ok) SELECT NULL WHERE NOT ({condition});")
}

/// Whether an error is a failed [`sqlite_guard`].
pub fn is_guard_failure(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d.message().contains("gk_guard.ok"),
        _ => false,
    }
}

/// Whether an error is a unique-constraint violation (both backends).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            matches!(d.kind(), sqlx::error::ErrorKind::UniqueViolation)
                || d.code().as_deref() == Some("23505")
                || d.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// The constraint or column list named by a unique violation, for mapping to
/// the field the caller must change.
pub fn violated_constraint(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => d
            .constraint()
            .map(str::to_owned)
            .unwrap_or_else(|| d.message().to_owned()),
        _ => String::new(),
    }
}

/// Today in China Standard Time (UTC+8, the whole country's civil time),
/// which is what dates formed, published and received are counted in.
pub fn today_cst() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    static NO_SERVICE_TABLES: Migrator = Migrator::DEFAULT;

    async fn sqlite(dir: &tempfile::TempDir) -> anyhow::Result<Db> {
        let db = Db::connect(
            &sqlite_url(&dir.path().join("guard.db")),
            &Migrations {
                sqlite: &NO_SERVICE_TABLES,
                postgres: &NO_SERVICE_TABLES,
            },
        )
        .await?;
        sqlx::query("CREATE TABLE t (v INTEGER NOT NULL)")
            .execute(db.write())
            .await?;
        Ok(db)
    }

    async fn count(db: &Db, table: &str) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(db.read())
                .await?,
        )
    }

    /// Waits (10 s at most) for the database file to grow past `before`
    /// bytes: a checkpoint has copied pages it did not have.
    async fn grows_past(file: &std::path::Path, before: u64) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let now = std::fs::metadata(file)?.len();
            if now > before {
                return Ok(());
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the database file stayed at {now} bytes: nothing was checkpointed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Looking finds work: back to the short interval; finding none, the
    /// interval doubles up to its bound.
    #[test]
    fn an_idle_checkpointer_looks_less_and_less_often() {
        assert_eq!(
            checkpoint_wait(CHECKPOINT_IDLE_MAX, true),
            CHECKPOINT_INTERVAL
        );
        let mut wait = CHECKPOINT_INTERVAL;
        let mut waits = Vec::new();
        for _ in 0..6 {
            wait = checkpoint_wait(wait, false);
            waits.push(wait.as_millis());
        }
        assert_eq!(waits, [200, 400, 800, 1_600, 1_600, 1_600]);
    }

    /// After a quiet spell long enough for the checkpointer to look as
    /// seldom as it ever does, a commit still reaches the database file.
    #[tokio::test]
    async fn a_commit_after_a_quiet_spell_is_checkpointed() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let db = sqlite(&dir).await?;
        let file = dir.path().join("guard.db");
        tokio::time::sleep(CHECKPOINT_IDLE_MAX * 2).await;
        let before = std::fs::metadata(&file)?.len();
        // Rows enough for pages the file does not have yet.
        sqlx::query(
            "WITH RECURSIVE n (v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < 5000) \
             INSERT INTO t (v) SELECT v FROM n",
        )
        .execute(db.write())
        .await?;
        grows_past(&file, before).await?;
        db.close().await;
        Ok(())
    }

    /// The log is copied into the database beside the writer: the rows
    /// reach the database file long before the writer's own threshold.
    #[tokio::test]
    async fn the_log_is_checkpointed_in_the_background() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let db = sqlite(&dir).await?;
        let file = dir.path().join("guard.db");
        let before = std::fs::metadata(&file)?.len();
        for v in 0..200 {
            sqlx::query("INSERT INTO t (v) VALUES ($1)")
                .bind(v)
                .execute(db.write())
                .await?;
        }
        grows_past(&file, before).await?;
        db.close().await;
        Ok(())
    }

    /// Inside the caller's transaction a failed guard undoes only its own
    /// statement, and the caller decides.
    #[tokio::test]
    async fn inside_a_transaction_a_failed_guard_leaves_it_to_the_caller() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let db = sqlite(&dir).await?;
        let mut tx = db.begin().await?;
        let e = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO t (v) VALUES (1); {} INSERT INTO t (v) VALUES (2);",
            sqlite_guard("changes() = 0")
        )))
        .execute(&mut *tx)
        .await
        .expect_err("the guard must fail");
        assert!(is_guard_failure(&e), "{e}");
        let inside: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut *tx)
            .await?;
        assert_eq!(
            inside, 1,
            "the statement before the guard stands, the one after never ran"
        );
        tx.rollback().await?;
        assert_eq!(count(&db, "t").await?, 0);
        Ok(())
    }

    /// A direct write commits when told to, leaves nothing when told not
    /// to or when it fails, and fails as sqlx would (a unique violation
    /// reads as one).
    #[tokio::test]
    async fn a_direct_write_commits_or_leaves_nothing() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let db = sqlite(&dir).await?;
        sqlx::query("CREATE TABLE k (k TEXT PRIMARY KEY)")
            .execute(db.write())
            .await?;
        let insert = |tx: &rusqlite::Transaction<'_>, v: i64| {
            tx.execute("INSERT INTO t (v) VALUES (?1)", [v])
        };
        let kept = db
            .write_direct(|tx| {
                insert(tx, 1)?;
                Ok(Some("kept"))
            })
            .await?;
        assert_eq!(kept, Some("kept"));
        assert_eq!(count(&db, "t").await?, 1, "read through sqlx's pool");
        let undone = db
            .write_direct(|tx| {
                insert(tx, 2)?;
                Ok(None::<()>)
            })
            .await?;
        assert_eq!(undone, None);
        let e = db
            .write_direct(|tx| {
                insert(tx, 3)?;
                tx.execute("INSERT INTO k (k) VALUES ('a'), ('a')", [])?;
                Ok(Some(()))
            })
            .await
            .expect_err("a duplicate key must fail the write");
        assert!(is_unique_violation(&e), "{e}");
        assert!(violated_constraint(&e).contains("k.k"), "{e}");
        assert_eq!(count(&db, "t").await?, 1);
        assert_eq!(count(&db, "k").await?, 0);
        // The connection is out of any transaction again: this one lands.
        db.write_direct(|tx| insert(tx, 4).map(|_| Some(())))
            .await?;
        assert_eq!(count(&db, "t").await?, 2);
        db.close().await;
        let e = db
            .write_direct(|_| Ok(Some(())))
            .await
            .expect_err("a closed database takes no write");
        assert!(matches!(e, sqlx::Error::PoolClosed), "{e}");
        Ok(())
    }

    /// A direct write queues behind a transaction of sqlx's writer instead
    /// of meeting a locked database (where SQLite's busy handler would
    /// block the thread, then fail).
    #[tokio::test]
    async fn a_direct_write_waits_for_the_writer() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let db = sqlite(&dir).await?;
        let mut tx = db.begin().await?;
        sqlx::query("INSERT INTO t (v) VALUES (1)")
            .execute(&mut *tx)
            .await?;
        let direct = db.clone();
        let mut write = tokio::spawn(async move {
            direct
                .write_direct(|tx| {
                    // Sees the transaction before it as committed.
                    let seen: i64 = tx.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?;
                    tx.execute("INSERT INTO t (v) VALUES (2)", [])?;
                    Ok(Some(seen))
                })
                .await
        });
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut write)
                .await
                .is_err(),
            "the direct write went ahead of an open transaction"
        );
        tx.commit().await?;
        assert_eq!(write.await??, Some(1));
        assert_eq!(count(&db, "t").await?, 2);
        Ok(())
    }

    /// Another process holding the database: the direct write fails at
    /// once (its caller has a way that waits) instead of blocking the
    /// runtime's thread in SQLite's busy handler.
    #[tokio::test]
    async fn a_direct_write_does_not_wait_for_another_process() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let db = sqlite(&dir).await?;
        let mut other = rusqlite::Connection::open(dir.path().join("guard.db"))?;
        let held = other.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let started = std::time::Instant::now();
        let e = db
            .write_direct(|tx| tx.execute("INSERT INTO t (v) VALUES (1)", []).map(Some))
            .await
            .expect_err("the database is another's");
        assert!(e.to_string().contains("locked"), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "waited {:?}",
            started.elapsed()
        );
        held.rollback()?;
        db.write_direct(|tx| tx.execute("INSERT INTO t (v) VALUES (1)", []).map(Some))
            .await?;
        assert_eq!(count(&db, "t").await?, 1);
        Ok(())
    }

    #[tokio::test]
    async fn an_in_memory_sqlite_database_is_refused() {
        for url in ["sqlite::memory:", "sqlite://x.db?mode=memory"] {
            let e = Db::connect(
                url,
                &Migrations {
                    sqlite: &NO_SERVICE_TABLES,
                    postgres: &NO_SERVICE_TABLES,
                },
            )
            .await
            .expect_err(url);
            assert!(format!("{e:#}").contains("in-memory"), "{url}: {e:#}");
        }
    }
}
