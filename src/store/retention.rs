//! Retention: raw deliveries (full webhook payloads) and the job events of finished work are
//! only needed until their job has run, so they are deleted after a retention period instead
//! of growing the database for ever (300,000 deliveries made a 7.2 GB SQLite file). The
//! evidence (evaluations, waivers, threat-model references, handled commands) is never pruned.
//!
//! Pruning runs in small batches so it never holds SQLite's single writer for long: the
//! candidates are found on the read pool (no write lock), then deleted by id on the writer,
//! each batch its own short transaction, re-checking the condition so a row that changed in
//! between is kept. A delivery is deleted only once no job event refers to it any more, so an
//! open event (a parked job, a job still due) keeps its payload however old it is.
//!
//! The App installation a repository is reached through used to be read back from its raw
//! deliveries; it is now kept in `repository_installations` ([`Store::remember_installation`]),
//! so pruning does not lose it.

use std::time::Duration;

use crate::forge_name::ForgeName;

use super::{Db, Store, StoreError, now_ms, on_pool};

/// Rows deleted per batch (each batch is one short write transaction).
pub const DEFAULT_PRUNE_BATCH: i64 = 500;

/// What one [`Store::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Processed job events deleted.
    pub job_events: u64,
    /// Deliveries deleted.
    pub deliveries: u64,
    /// Write transactions it took.
    pub batches: u64,
}

impl Pruned {
    /// Whether nothing was deleted.
    pub fn is_empty(&self) -> bool {
        self.job_events == 0 && self.deliveries == 0
    }
}

const DONE_EVENTS: &str = "SELECT id FROM job_events \
     WHERE processed_at IS NOT NULL AND processed_at < $1 ORDER BY processed_at LIMIT $2";

const DELETE_EVENTS_SQLITE: &str = "DELETE FROM job_events \
     WHERE id IN (SELECT value FROM json_each($1)) AND processed_at IS NOT NULL AND processed_at < $2";
const DELETE_EVENTS_POSTGRES: &str = "DELETE FROM job_events \
     WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint) \
       AND processed_at IS NOT NULL AND processed_at < $2";

/// Deliveries after a cursor, oldest first, with whether any job event still refers to them.
/// Ids grow with time, so the scan stops at the first one received after the cutoff.
const DELIVERIES_AFTER: &str = "SELECT d.id, d.received_at, \
       EXISTS (SELECT 1 FROM job_events e WHERE e.delivery_pk = d.id) AS referenced \
     FROM deliveries d WHERE d.id > $1 ORDER BY d.id LIMIT $2";

const DELETE_DELIVERIES_SQLITE: &str = "DELETE FROM deliveries \
     WHERE id IN (SELECT value FROM json_each($1)) AND received_at < $2 \
       AND NOT EXISTS (SELECT 1 FROM job_events e WHERE e.delivery_pk = deliveries.id)";
const DELETE_DELIVERIES_POSTGRES: &str = "DELETE FROM deliveries \
     WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint) AND received_at < $2 \
       AND NOT EXISTS (SELECT 1 FROM job_events e WHERE e.delivery_pk = deliveries.id)";

const REMEMBER_INSTALLATION: &str = "INSERT INTO repository_installations \
       (forge, repository, installation_id, seen_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (forge, repository) DO UPDATE \
       SET installation_id = excluded.installation_id, seen_at = excluded.seen_at \
     WHERE repository_installations.installation_id <> excluded.installation_id";

const INSTALLATION: &str = "SELECT installation_id FROM repository_installations \
     WHERE forge = $1 AND repository = $2";

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    received_at: i64,
    referenced: bool,
}

fn id_list(ids: &[i64]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned())
}

impl Store {
    /// Deletes processed job events, and then deliveries no job event refers to any more,
    /// stored or processed before `cutoff_ms` (Unix milliseconds), `batch` rows per write
    /// transaction, sleeping `pause` between batches so webhook commits get the writer.
    pub async fn prune(
        &self,
        cutoff_ms: i64,
        batch: i64,
        pause: Duration,
    ) -> Result<Pruned, StoreError> {
        let batch = batch.max(1);
        let mut pruned = Pruned::default();
        loop {
            let ids: Vec<i64> = on_pool!(&self.read, pool => sqlx::query_scalar(DONE_EVENTS)
                .bind(cutoff_ms)
                .bind(batch)
                .fetch_all(pool)
                .await)?;
            if ids.is_empty() {
                break;
            }
            let done = self
                .delete_ids(
                    DELETE_EVENTS_SQLITE,
                    DELETE_EVENTS_POSTGRES,
                    &ids,
                    cutoff_ms,
                )
                .await?;
            pruned.job_events += done;
            pruned.batches += 1;
            if done == 0 {
                // Every candidate changed in between (cannot happen today): do not spin.
                break;
            }
            tokio::time::sleep(pause).await;
        }
        let mut cursor = 0_i64;
        loop {
            let rows: Vec<DeliveryRow> = on_pool!(&self.read, pool => sqlx::query_as(DELIVERIES_AFTER)
                    .bind(cursor)
                    .bind(batch)
                    .fetch_all(pool)
                    .await)?;
            let Some(last) = rows.last() else {
                break;
            };
            cursor = last.id;
            let past_cutoff = rows.iter().any(|r| r.received_at >= cutoff_ms);
            let ids: Vec<i64> = rows
                .iter()
                .take_while(|r| r.received_at < cutoff_ms)
                .filter(|r| !r.referenced)
                .map(|r| r.id)
                .collect();
            if !ids.is_empty() {
                let done = self
                    .delete_ids(
                        DELETE_DELIVERIES_SQLITE,
                        DELETE_DELIVERIES_POSTGRES,
                        &ids,
                        cutoff_ms,
                    )
                    .await?;
                pruned.deliveries += done;
                pruned.batches += 1;
                tokio::time::sleep(pause).await;
            }
            if past_cutoff || i64::try_from(rows.len()).unwrap_or(i64::MAX) < batch {
                break;
            }
        }
        Ok(pruned)
    }

    /// Runs one of the delete statements (`$1` the ids as a JSON list, `$2` the cutoff) in its
    /// own transaction; how many rows went.
    async fn delete_ids(
        &self,
        sqlite: &'static str,
        postgres: &'static str,
        ids: &[i64],
        cutoff_ms: i64,
    ) -> Result<u64, StoreError> {
        let query = match &self.db {
            Db::Sqlite(_) => sqlite,
            Db::Postgres(_) => postgres,
        };
        let list = id_list(ids);
        Ok(on_pool!(&self.db, pool => sqlx::query(query)
            .bind(&list)
            .bind(cutoff_ms)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Remembers that `repository` is reached through App installation `installation` (the
    /// processors call it whenever a delivery names one), so work the service gives itself
    /// later (a waiver expiring after a restart) finds it after the deliveries are pruned.
    /// Writes only when the installation changed: the processors call it on every job, and a
    /// read (on SQLite, off the single writer) is all an unchanged one costs.
    pub async fn remember_installation(
        &self,
        forge: ForgeName,
        repository: &str,
        installation: u64,
    ) -> Result<(), StoreError> {
        if self.remembered_installation(forge, repository).await? == Some(installation) {
            return Ok(());
        }
        let id = i64::try_from(installation)
            .map_err(|_| StoreError::Corrupt(format!("installation id {installation}")))?;
        on_pool!(&self.db, pool => sqlx::query(REMEMBER_INSTALLATION)
            .bind(forge.as_str())
            .bind(repository)
            .bind(id)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The installation last remembered for `repository` ([`Store::remember_installation`]).
    pub(crate) async fn remembered_installation(
        &self,
        forge: ForgeName,
        repository: &str,
    ) -> Result<Option<u64>, StoreError> {
        let id: Option<i64> = on_pool!(&self.read, pool => sqlx::query_scalar(INSTALLATION)
            .bind(forge.as_str())
            .bind(repository)
            .fetch_optional(pool)
            .await)?;
        Ok(id.and_then(|i| u64::try_from(i).ok()))
    }
}

/// The longest time between two prune runs of the service.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3_600);

/// How long after start-up the service first prunes (not while it catches up on a backlog).
const FIRST_PRUNE_AFTER: Duration = Duration::from_secs(60);

/// Pause between two batches, so webhook commits get SQLite's writer in between.
const PRUNE_PAUSE: Duration = Duration::from_millis(20);

/// Starts the service's pruner: a minute after start-up, then every [`PRUNE_EVERY`] (or a
/// quarter of `keep` when that is shorter, at least every 10 s), deletes what is older than
/// `keep`. Failures are logged and retried at the next run.
pub fn spawn_pruner(store: Store, keep: Duration) -> tokio::task::JoinHandle<()> {
    let every = (keep / 4).clamp(Duration::from_secs(10), PRUNE_EVERY);
    tokio::spawn(async move {
        tokio::time::sleep(FIRST_PRUNE_AFTER.min(every)).await;
        loop {
            let cutoff = now_ms().saturating_sub(super::ms(keep));
            match store.prune(cutoff, DEFAULT_PRUNE_BATCH, PRUNE_PAUSE).await {
                Ok(p) if p.is_empty() => tracing::debug!("retention: nothing to prune"),
                Ok(p) => tracing::info!(
                    job_events = p.job_events,
                    deliveries = p.deliveries,
                    batches = p.batches,
                    "retention: pruned what is older than SDL_GATE_RETENTION_DAYS"
                ),
                Err(err) => {
                    tracing::warn!(error = %err, "retention: pruning failed; retried at the next run")
                }
            }
            tokio::time::sleep(every).await;
        }
    })
}
