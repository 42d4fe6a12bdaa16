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
mod ledger;
mod pages;
mod payload;
mod records;
mod retention;
mod web;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use commit::{Committer, POSTGRES_WRITERS};
pub use deliveries::{InternalWork, NewDelivery, Recorded};
pub use interactions::{CommentClaim, StoredThreatModelRef, ThreatModelRef, WaiverExpiry};
pub use jobs::{Completion, JobSummary, QueueDepth};
pub use ledger::{
    Appended, BundleSelection, CheckpointPolicy, LEDGER_PAGE, LastEvaluation, spawn_checkpointer,
};
pub use pages::{BlockedChange, ChangeWaiver, DayCount, EvaluationSummary, day_of};
pub use records::{NewEvaluation, StoredEvaluation, StoredWaiver};
pub use retention::{DEFAULT_PRUNE_BATCH, PRUNE_EVERY, Pruned, spawn_pruner};
pub use web::{NewWebSession, StoredAuditorToken, StoredWebSession};

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
    /// The database could not be reached at start-up (names the host and the cause).
    #[error("cannot connect to the database at {host}: {cause}")]
    Unreachable {
        /// Host (and port) or file from the URL, without credentials.
        host: String,
        /// What the driver reported.
        cause: String,
    },
    /// A write would fail now (for `/readyz`; names why).
    #[error("the database cannot take writes: {0}")]
    NotWritable(String),
    /// The database did not answer in time.
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
    /// A checkpoint was not written because the time-stamping authority gave no time-stamp.
    #[error("the checkpoint was not time-stamped: {0}")]
    TimeStamp(String),
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
    /// The SQLite file's connect options, for the readiness write probe (its own connection
    /// with a short busy timeout, so a probe never waits behind or wedges the writer).
    probe: Option<Arc<SqliteConnectOptions>>,
    /// The PostgreSQL connect options, for naming the cause when `/readyz` finds it down.
    pg_options: Option<Arc<PgConnectOptions>>,
    /// The message of the last failed delivery commit, cleared by the next successful one;
    /// `/readyz` reports it.
    pub(crate) last_commit_error: Arc<Mutex<Option<String>>>,
}

/// WAL size at which a commit checkpoints by itself, when the background checkpoint does not
/// keep up; also the size the WAL file is cut back to once a checkpoint has emptied it, so the
/// disk holds at most about this much beside the database.
const SQLITE_WAL_BUDGET_BYTES: u64 = 80 * 1024 * 1024;

/// Page size of SQLite files sdl-gate creates. Payloads are compressed (a 24 KB delivery keeps
/// 3–4 KB, see [`payload`]), so a row fits in a leaf page, and what a commit writes to the WAL
/// is mostly whole pages dirtied by one small change each (a random delivery id lands on its
/// own leaf of the unique index): at 8 KiB those cost half of what they cost at 16 KiB (the
/// size used while payloads were stored as text), and a 30–60 KB push event still fits.
const SQLITE_NEW_PAGE_SIZE: u32 = 8_192;

/// The page size of the SQLite file at `path`, from its header (bytes 16–17, big-endian, 1
/// meaning 65,536); [`SQLITE_NEW_PAGE_SIZE`] when the file does not exist yet or is not SQLite.
fn sqlite_page_size(path: &std::path::Path) -> u32 {
    use std::io::Read as _;
    let mut header = [0_u8; 18];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header));
    if read.is_err() || !header.starts_with(b"SQLite format 3\0") {
        return SQLITE_NEW_PAGE_SIZE;
    }
    match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        size if size >= 512 && size.is_power_of_two() => u32::from(size),
        _ => SQLITE_NEW_PAGE_SIZE,
    }
}

/// How long SQLite waits for the write lock before failing a statement.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a PostgreSQL request waits for a connection (or to open one) before failing, so
/// an outage refuses webhooks well inside a sender's 10 s delivery timeout.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Bytes the readiness probe writes (and deletes) after a failed commit: one large batch.
const PROBE_BYTES: i64 = 1024 * 1024;

/// How long `/readyz` tries a direct PostgreSQL connection to name an outage's cause.
const PG_CAUSE_TIMEOUT: Duration = Duration::from_millis(400);

/// Budget of the readiness checks (`/readyz`), each.
pub const READY_TIMEOUT: Duration = Duration::from_millis(1_500);

/// The options of every PostgreSQL pool the store opens: `connections` at most, and requests
/// that fail within [`POSTGRES_ACQUIRE_TIMEOUT`] when none can be had.
fn pg_pool_options(connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
}

/// The host part of a database URL, without user or password (for error messages).
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = rest.split(['/', '?']).next().unwrap_or(rest);
    if host.is_empty() {
        "localhost (default)".to_owned()
    } else {
        host.to_owned()
    }
}

impl Store {
    /// Connects to `url` (`sqlite://file` is created if missing, WAL mode, deliveries committed
    /// with `synchronous=FULL` so an acknowledged delivery survives a crash or power loss;
    /// `postgres://…`) with up to
    /// `max_connections` connections. Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?;
            // The WAL budget in pages of this file (files keep the page size they were created with).
            let wal_pages =
                SQLITE_WAL_BUDGET_BYTES / u64::from(sqlite_page_size(options.get_filename()));
            let options = options
                .create_if_missing(true)
                // Only takes effect when the file is created.
                .page_size(SQLITE_NEW_PAGE_SIZE)
                // Statement journals (multi-row upserts) in memory, not in temporary files.
                .pragma("temp_store", "memory")
                .journal_mode(SqliteJournalMode::Wal)
                // Job-state writes: durable across process crashes; after a power loss the last
                // ones may roll back, which only re-runs an (idempotent) job. Delivery commits
                // switch to FULL, and a FULL commit also syncs every earlier write.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                // Checkpoints run in the background (`checkpoint`), not inside a commit that a
                // webhook is waiting for; this bound only applies when nobody runs them.
                .pragma("wal_autocheckpoint", wal_pages.to_string())
                .pragma("journal_size_limit", SQLITE_WAL_BUDGET_BYTES.to_string());
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            let read = SqlitePoolOptions::new()
                .max_connections(max_connections.max(2))
                .connect_with(options.clone())
                .await?;
            Ok(Store {
                db: Db::Sqlite(write),
                read: Db::Sqlite(read),
                probe: Some(Arc::new(options)),
                pg_options: None,
                last_commit_error: Arc::default(),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = pg_pool_options(max_connections.max(2))
                .connect_with(options.clone())
                .await;
            let pool = match pool {
                Ok(pool) => pool,
                Err(err) => {
                    // "pool timed out" names no cause: one direct attempt says what failed
                    // (refused, DNS, authentication, TLS).
                    use sqlx::ConnectOptions;
                    let cause =
                        match tokio::time::timeout(POSTGRES_ACQUIRE_TIMEOUT, options.connect())
                            .await
                        {
                            Ok(Err(direct)) => direct.to_string(),
                            Ok(Ok(_)) | Err(_) => err.to_string(),
                        };
                    return Err(StoreError::Unreachable {
                        host: url_host(url),
                        cause,
                    });
                }
            };
            Ok(Store {
                db: Db::Postgres(pool.clone()),
                read: Db::Postgres(pool),
                probe: None,
                pg_options: Some(Arc::new(options)),
                last_commit_error: Arc::default(),
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

    /// A handle for a task that runs on its own tokio runtime: on PostgreSQL its writes go
    /// through a pool of their own, of up to `connections` connections, opened lazily from
    /// that runtime, so their sockets are driven by the thread that uses them and not by the
    /// service's busy workers; reads and SQLite (whose connections live on their own threads
    /// and are runtime-agnostic) stay shared. Call from inside the runtime that will use it.
    pub fn with_own_postgres_pool(&self, connections: u32) -> Store {
        let mut store = self.clone();
        if let (Db::Postgres(_), Some(options)) = (&self.db, &self.pg_options) {
            let pool =
                pg_pool_options(connections.max(1)).connect_lazy_with(options.as_ref().clone());
            store.db = Db::Postgres(pool);
        }
        store
    }

    /// Closes the write pool only: for the end of a store from
    /// [`Store::with_own_postgres_pool`], whose own pool dies with the runtime that opened it.
    pub(crate) async fn close_write_pool(&self) {
        on_pool!(&self.db, pool => pool.close().await);
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(&self.read, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Whether a write would succeed now (for `/readyz`), within [`READY_TIMEOUT`] per step:
    /// the database answers, the last delivery commit did not fail, and (SQLite) a fresh
    /// connection can take the write lock (`BEGIN IMMEDIATE`), which fails on a read-only or
    /// locked file. The error names why.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let pinged = match tokio::time::timeout(READY_TIMEOUT, self.ping()).await {
            Err(_) => Err(StoreError::Timeout(READY_TIMEOUT)),
            Ok(result) => result,
        };
        if let Err(err) = pinged {
            // The pool only says it timed out; one direct attempt names the cause (refused,
            // authentication, DNS) when it fails fast.
            if let Some(options) = &self.pg_options {
                use sqlx::ConnectOptions;
                if let Ok(Err(direct)) =
                    tokio::time::timeout(PG_CAUSE_TIMEOUT, options.connect()).await
                {
                    return Err(StoreError::NotWritable(format!("{err}: {direct}")));
                }
            }
            return Err(err);
        }
        let failed = self
            .last_commit_error
            .lock()
            .map(|guard| guard.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone());
        if let Some(options) = &self.probe {
            let options = (**options).clone().busy_timeout(Duration::from_millis(200));
            let probe = async {
                use sqlx::ConnectOptions;
                let mut conn = options.connect().await?;
                if failed.is_some() {
                    // The last commit failed (full disk?): only a real durable write of the
                    // size of a large batch shows the cause is gone (a one-page write still
                    // fits in the reused WAL on a full disk).
                    sqlx::query("INSERT INTO write_probe (filler) VALUES (zeroblob($1))")
                        .bind(PROBE_BYTES)
                        .execute(&mut conn)
                        .await?;
                    sqlx::query("DELETE FROM write_probe")
                        .execute(&mut conn)
                        .await?;
                } else {
                    sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await?;
                    sqlx::query("ROLLBACK").execute(&mut conn).await?;
                }
                sqlx::Connection::close(conn).await
            };
            match tokio::time::timeout(READY_TIMEOUT, probe).await {
                Err(_) => return Err(StoreError::Timeout(READY_TIMEOUT)),
                Ok(Err(err)) => {
                    let why = match failed {
                        Some(last) => format!("{err} (the last delivery commit failed: {last})"),
                        None => err.to_string(),
                    };
                    return Err(StoreError::NotWritable(why));
                }
                Ok(Ok(())) => {}
            }
        }
        // The database took a write (SQLite) or answers (PostgreSQL, where a failed commit is
        // a lost connection that the pool replaces): the writer is healthy again.
        self.note_commit(None);
        Ok(())
    }

    /// Records the outcome of a delivery commit for [`Store::check_writable`].
    pub(crate) fn note_commit(&self, outcome: Option<String>) {
        let mut guard = self
            .last_commit_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = outcome;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_wal_budget_follows_the_files_own_page_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fresh = dir.path().join("fresh.db");
        assert_eq!(
            sqlite_page_size(&fresh),
            SQLITE_NEW_PAGE_SIZE,
            "not created yet"
        );
        let store = Store::connect(&format!("sqlite://{}", fresh.display()), 2)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        assert_eq!(sqlite_page_size(&fresh), 8_192);
        // A file from before larger pages keeps its 4 KiB; its WAL budget is counted in them.
        let old = dir.path().join("old.db");
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", old.display()))
            .expect("url")
            .create_if_missing(true)
            .page_size(4_096);
        let pool = SqlitePoolOptions::new()
            .connect_with(options)
            .await
            .expect("create");
        sqlx::query("CREATE TABLE t (x)")
            .execute(&pool)
            .await
            .expect("table");
        pool.close().await;
        assert_eq!(sqlite_page_size(&old), 4_096);
        let store = Store::connect(&format!("sqlite://{}", old.display()), 2)
            .await
            .expect("connect old");
        let Db::Sqlite(write) = &store.db else {
            panic!("SQLite expected");
        };
        let pages: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(write)
            .await
            .expect("pragma");
        assert_eq!(pages, 80 * 1024 * 1024 / 4_096);
        let limit: i64 = sqlx::query_scalar("PRAGMA journal_size_limit")
            .fetch_one(write)
            .await
            .expect("pragma");
        assert_eq!(limit, 80 * 1024 * 1024);
        // Not an SQLite file: the default, never a panic.
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, b"not a database at all").expect("write");
        assert_eq!(sqlite_page_size(&junk), SQLITE_NEW_PAGE_SIZE);
    }
}
