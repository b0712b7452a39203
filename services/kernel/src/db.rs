//! Storage: one sqlx `Any` code path over SQLite (embedded default, WAL, a
//! file per service) and PostgreSQL (production), with embedded migrations
//! for each backend.
//!
//! SQL is written once with `$1`-style parameters, which both drivers accept,
//! and portable types (BIGINT/INTEGER, TEXT, BYTEA/BLOB); dates are ISO text
//! and instants are Unix milliseconds.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, ConnectOptions as _, Executor as _, Transaction};

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
#[derive(Clone, Debug)]
pub struct Db {
    backend: Backend,
    write: AnyPool,
    read: AnyPool,
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
        let db = match backend {
            Backend::Sqlite => {
                let write = sqlite_pool(1).connect_with(options.clone()).await?;
                let read = sqlite_pool(4).connect_with(options).await?;
                Db {
                    backend,
                    write,
                    read,
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
                }
            }
        };
        db.migrate(migrations).await?;
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

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

fn sqlite_pool(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; NORMAL sync is
                // durable across process crashes in WAL mode (a power loss
                // may drop the last commits, never corrupt).
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                )
                .await?;
                Ok(())
            })
        })
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
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
