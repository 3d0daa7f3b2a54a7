//! Persistence: the [`Store`] handle over one `sqlx` `AnyPool` (SQLite or PostgreSQL, chosen by
//! URL), connecting, embedded migrations per dialect, the health ping, and [`StoreError`]. Table
//! specific queries live in sibling files (`sessions.rs`, `fork.rs`, `messages.rs`); SQL must stay portable
//! across both dialects (runtime `sqlx::query`, `$n` placeholders, Any-supported types only:
//! i64, f64, String, Option of those). Nothing here knows about gRPC or HTTP.

mod approvals;
mod fork;
pub mod idempotency;
mod jobs;
mod messages;
mod notify;
pub mod responses;
mod runs;
pub mod search;
mod sessions;

#[cfg(test)]
mod tests;

use std::str::FromStr;
use std::sync::Once;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Any, AnyPool, ConnectOptions, Connection, Transaction};

pub use approvals::ApprovalRecord;
#[cfg(test)]
pub(crate) mod test_support;

pub use fork::END_REASON_BRANCHED;
pub use jobs::{JobFiring, JobRecord, OrphanFiring};
pub use messages::{MessageRecord, NewMessage, SessionOrigin};
pub use runs::{RunEnding, RunEventRow, RunRecord, StoredEvent, TERMINAL_STATUSES};
pub use sessions::{NewSession, SessionRecord};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");

static INSTALL_DRIVERS: Once = Once::new();

const SQLITE_MAX_CONNECTIONS: u32 = 4;
/// How long a SQLite statement waits for the write lock (sqlx's default is 5 s; a burst of
/// writers from two processes on one file can queue longer than that).
const SQLITE_BUSY_TIMEOUT_PRAGMA: &str = "PRAGMA busy_timeout = 10000";
const POSTGRES_MAX_CONNECTIONS: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which SQL dialect the pool speaks; decides migrations and the few dialect-specific statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL selects (`sqlite:` or `postgres:`/`postgresql:`).
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::InvalidUrl(
                "DATABASE_URL must start with sqlite:// or postgres://".to_owned(),
            ))
        }
    }

    /// Name for logs and `/health/detailed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Store failures. `Display` never contains SQL text or driver messages, so it is safe to show
/// clients; the driver error stays reachable through `source()` for logs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was hit; the payload is the API error code (`session_exists`,
    /// `title_taken`).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The database cannot be reached (pool timeout, I/O, closed pool): worth a 503 and a retry.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(err),
            other if is_sqlite_lock_timeout(&other) => StoreError::Unavailable(other),
            other => StoreError::Database(other),
        }
    }
}

/// SQLite gave up waiting for a lock (`SQLITE_BUSY` / `SQLITE_LOCKED` after the busy timeout):
/// contention, not a fault — the client may retry (503), never an opaque 500.
fn is_sqlite_lock_timeout(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|db| {
        let message = db.message();
        message.contains("database is locked") || message.contains("database table is locked")
    })
}

/// Cheap to clone: a handle to the shared pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a pool. For `sqlite:` URLs the parent directory and the file are created and the
    /// database is switched to WAL (persistent in the file, so every pooled connection uses it;
    /// sqlx already sets `foreign_keys=ON`; each connection also gets `synchronous=NORMAL` and a
    /// 10 s busy timeout, so concurrent writers, even from another process, wait rather than fail).
    /// For `postgres:` URLs a plain pool.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        INSTALL_DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = Backend::from_url(url)?;
        let pool = match backend {
            Backend::Sqlite => connect_sqlite(url).await?,
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(POSTGRES_MAX_CONNECTIONS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url)
                    .await?
            }
        };
        Ok(Store { pool, backend })
    }

    /// Runs the embedded migrations of this backend (`migrations/sqlite` or
    /// `migrations/postgres`); already-applied ones are skipped, so it is safe at every start
    /// and from several replicas (PostgreSQL takes an advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// One real round trip (`SELECT 1`) for `/health/detailed`; returns how long it took.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let started = Instant::now();
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(started.elapsed())
    }

    /// Which dialect this store speaks.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool, for modules that keep their own tables.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool, waiting for checked-out connections to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so a read-then-write transaction waits on the busy timeout instead of
    /// failing with `SQLITE_BUSY` when another connection writes first.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }
}

/// Creates the directory and file, switches the database to WAL once through a typed connection,
/// then opens the Any pool on the same file.
async fn connect_sqlite(url: &str) -> Result<AnyPool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|err| StoreError::InvalidUrl(err.to_string()))?;
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if in_memory {
        // Each Any connection would open its own private in-memory database: keep exactly one.
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect(url)
            .await?;
        return Ok(pool);
    }

    if let Some(dir) = options.get_filename().parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|err| StoreError::Unavailable(sqlx::Error::Io(err)))?;
    }
    let setup = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await?;
    setup.close().await?;

    let any_url = if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    };
    // WAL + synchronous=NORMAL: a commit survives a process crash (kill -9) because it is in the
    // WAL before COMMIT returns; only an OS crash or power loss can drop the last commits. The
    // default (FULL) fsyncs every commit and halves throughput (BENCHMARKS.md, fix 2).
    let pool = AnyPoolOptions::new()
        .max_connections(SQLITE_MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::Executor::execute(&mut *conn, "PRAGMA synchronous = NORMAL").await?;
                // Wait for a competing writer (this process or another one on the same file)
                // instead of failing with `database is locked`.
                sqlx::Executor::execute(&mut *conn, SQLITE_BUSY_TIMEOUT_PRAGMA).await?;
                Ok(())
            })
        })
        .connect(&any_url)
        .await?;
    Ok(pool)
}

/// Current time as float Unix seconds, the representation of every timestamp column.
pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}
