//! Durable storage for the service: deliveries, jobs, evaluations and waivers, on SQLite (one
//! process, the default) or PostgreSQL (several replicas).
//!
//! Queries are runtime-checked sqlx (`query` / `query_as` + `FromRow`) so one set of SQL serves
//! both databases: placeholders are `$1`-style (SQLite accepts them too), times are Unix
//! milliseconds in 64-bit integers, JSON is text. The only divergence is the job claim, which
//! on PostgreSQL adds `FOR UPDATE SKIP LOCKED` so replicas do not block on each other's rows.

mod commit;
mod deliveries;
mod interactions;
mod jobs;
mod records;

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use commit::Committer;
pub use deliveries::{InternalWork, NewDelivery, Recorded};
pub use interactions::{CommentClaim, StoredThreatModelRef, ThreatModelRef, WaiverExpiry};
pub use jobs::{Completion, JobSummary, QueueDepth};
pub use records::{NewEvaluation, StoredEvaluation, StoredWaiver};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database answered with an error (or could not be reached).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A group commit failed; every delivery in the batch gets this (the message of the cause).
    #[error("committing deliveries failed: {0}")]
    Commit(String),
    /// The group-commit task has stopped (the service is shutting down).
    #[error("the delivery writer has stopped")]
    Closed,
    /// A stored row cannot be understood (written by a newer version, or edited by hand).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The database URL is neither `sqlite:` nor `postgres://`.
    #[error("unsupported database URL (expected sqlite:… or postgres://…)")]
    UnsupportedUrl,
}

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, one process.
    Sqlite,
    /// PostgreSQL, shared by replicas.
    Postgres,
}

#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same expression against whichever pool the store holds.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// A handle to the service database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    /// Writes (and, on PostgreSQL, everything). On SQLite this pool has ONE connection: SQLite
    /// allows one writer at a time, and queueing writers in the pool (fair, async) instead of
    /// in SQLite's busy handler (sleeps of up to 100 ms) keeps acknowledgement latency flat.
    pub(crate) db: Db,
    /// Reads. On SQLite a separate pool (WAL lets readers run beside the writer).
    pub(crate) read: Db,
}

/// WAL size (pages) at which a commit checkpoints by itself, when the background checkpoint
/// does not keep up.
const SQLITE_AUTOCHECKPOINT_PAGES: &str = "20000";

/// How long SQLite waits for the write lock before failing a statement.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl Store {
    /// Connects to `url` (`sqlite://file` is created if missing, WAL mode, deliveries committed
    /// with `synchronous=FULL` so an acknowledged delivery survives a crash or power loss;
    /// `postgres://…`) with up to
    /// `max_connections` connections. Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Job-state writes: durable across process crashes; after a power loss the last
                // ones may roll back, which only re-runs an (idempotent) job. Delivery commits
                // switch to FULL, and a FULL commit also syncs every earlier write.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                // Checkpoints run in the background (`checkpoint`), not inside a commit that a
                // webhook is waiting for; this bound only applies when nobody runs them.
                .pragma("wal_autocheckpoint", SQLITE_AUTOCHECKPOINT_PAGES);
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            let read = SqlitePoolOptions::new()
                .max_connections(max_connections.max(2))
                .connect_with(options)
                .await?;
            Ok(Store {
                db: Db::Sqlite(write),
                read: Db::Sqlite(read),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(2))
                .connect_with(options)
                .await?;
            Ok(Store {
                db: Db::Postgres(pool.clone()),
                read: Db::Postgres(pool),
            })
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Applies the migrations under `migrations/sqlite` or `migrations/postgres` (embedded at
    /// build time). Safe to run from several replicas at once (PostgreSQL takes an advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Db::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Which engine this store uses.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(&self.read, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Copies the SQLite write-ahead log into the database file without blocking writers
    /// (`PRAGMA wal_checkpoint(PASSIVE)`); the service calls it every second. A no-op on
    /// PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if let Db::Sqlite(pool) = &self.read {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Closes every connection (waits for checked-out ones to come back).
    pub async fn close(&self) {
        on_pool!(&self.db, pool => pool.close().await);
        on_pool!(&self.read, pool => pool.close().await);
    }
}

/// Wall-clock time in Unix milliseconds, the unit of every stored time.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A duration in milliseconds, saturating.
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Unix milliseconds to a UTC time (the epoch for out-of-range values).
pub fn time_of(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
