//! Recording deliveries: insert-or-detect-duplicate, and upsert the job of each work item,
//! all in one transaction per batch (see [`super::Committer`] for the batching).

use std::time::Duration;

use crate::events::WorkItem;
use crate::forge_name::ForgeName;
use crate::queue::coalescing_kind;

use super::{Db, Store, StoreError, ms, now_ms};

/// A verified, acted-on delivery to store.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Which forge sent it.
    pub forge: ForgeName,
    /// The forge's delivery id (`X-GitHub-Delivery`, GitLab `Idempotency-Key`).
    pub delivery_id: String,
    /// The event name.
    pub event: String,
    /// The action, if any.
    pub action: Option<String>,
    /// The raw JSON body, kept so processors and audits can read what was received.
    pub payload: String,
    /// The work it causes (at least one).
    pub items: Vec<WorkItem>,
}

/// What storing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Stored; its row id.
    New(i64),
    /// The forge already delivered this id; nothing new was stored.
    Duplicate,
}

const INSERT_DELIVERY: &str = "INSERT INTO deliveries (forge, delivery_id, event, action, received_at, payload) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (forge, delivery_id) DO NOTHING RETURNING id";

// A new event revives a done or parked job (fresh attempts, debounced); a pending job keeps its
// due time (so a steady stream cannot starve it, and a backoff is honoured); a running job stays
// running and is run again after it finishes, because its new event is past `claimed_upto`.
const UPSERT_JOB: &str = "INSERT INTO jobs (key, forge, repository, target_kind, target_value, state, run_after, attempts, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, 'pending', $6, 0, $7, $7) \
     ON CONFLICT (key) DO UPDATE SET \
       state = CASE WHEN jobs.state = 'running' THEN 'running' ELSE 'pending' END, \
       run_after = CASE WHEN jobs.state IN ('done', 'parked') THEN excluded.run_after ELSE jobs.run_after END, \
       attempts = CASE WHEN jobs.state IN ('done', 'parked') THEN 0 ELSE jobs.attempts END, \
       last_error = CASE WHEN jobs.state IN ('done', 'parked') THEN NULL ELSE jobs.last_error END, \
       updated_at = excluded.updated_at \
     RETURNING id";

const INSERT_JOB_EVENT: &str =
    "INSERT INTO job_events (job_id, delivery_pk, detail, kind) VALUES ($1, $2, $3, $4)";

macro_rules! record_batch {
    ($pool:expr, $batch:expr, $debounce:expr) => {{
        let now = now_ms();
        let due = now.saturating_add(ms($debounce));
        let mut tx = sqlx::Acquire::begin($pool).await?;
        let mut results = Vec::with_capacity($batch.len());
        let mut upserts = Vec::new();
        for (i, d) in $batch.iter().enumerate() {
            let id: Option<i64> = sqlx::query_scalar(INSERT_DELIVERY)
                .bind(d.forge.as_str())
                .bind(&d.delivery_id)
                .bind(&d.event)
                .bind(&d.action)
                .bind(now)
                .bind(&d.payload)
                .fetch_optional(&mut *tx)
                .await?;
            match id {
                Some(id) => {
                    results.push(Recorded::New(id));
                    for item in &d.items {
                        upserts.push((item.key.to_key_string(), i, id, item));
                    }
                }
                None => results.push(Recorded::Duplicate),
            }
        }
        // Lock job rows in key order so concurrent batches (replicas) cannot deadlock.
        upserts.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
        for (key, i, delivery_pk, item) in upserts {
            let job_id: i64 = sqlx::query_scalar(UPSERT_JOB)
                .bind(&key)
                .bind(item.key.forge.as_str())
                .bind(&item.key.repository)
                .bind(item.key.target.kind())
                .bind(item.key.target.value())
                .bind(due)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            let detail = item.detail.as_ref().map(|d| d.to_string());
            let d = &$batch[i];
            let kind = coalescing_kind(&item.key.target, &d.event, d.action.as_deref());
            sqlx::query(INSERT_JOB_EVENT)
                .bind(job_id)
                .bind(delivery_pk)
                .bind(detail)
                .bind(kind)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(results)
    }};
}

const INSERT_DELIVERIES_PG: &str = "INSERT INTO deliveries (forge, delivery_id, event, action, received_at, payload) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[]) \
     ON CONFLICT (forge, delivery_id) DO NOTHING RETURNING id, forge, delivery_id";

const UPSERT_JOBS_PG: &str = "INSERT INTO jobs (key, forge, repository, target_kind, target_value, state, run_after, attempts, created_at, updated_at) \
     SELECT k, f, r, tk, tv, 'pending', $6, 0, $7, $7 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(k, f, r, tk, tv) \
     ORDER BY k \
     ON CONFLICT (key) DO UPDATE SET \
       state = CASE WHEN jobs.state = 'running' THEN 'running' ELSE 'pending' END, \
       run_after = CASE WHEN jobs.state IN ('done', 'parked') THEN excluded.run_after ELSE jobs.run_after END, \
       attempts = CASE WHEN jobs.state IN ('done', 'parked') THEN 0 ELSE jobs.attempts END, \
       last_error = CASE WHEN jobs.state IN ('done', 'parked') THEN NULL ELSE jobs.last_error END, \
       updated_at = excluded.updated_at \
     RETURNING id, key";

const INSERT_JOB_EVENTS_PG: &str = "INSERT INTO job_events (job_id, delivery_pk, detail, kind) \
     SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[])";

/// PostgreSQL: the same as `record_batch!`, in three set-based statements instead of three
/// round trips per delivery.
async fn record_batch_postgres(
    pool: &sqlx::PgPool,
    batch: &[NewDelivery],
    debounce: Duration,
) -> Result<Vec<Recorded>, StoreError> {
    use std::collections::{BTreeMap, HashMap};

    let now = now_ms();
    let due = now.saturating_add(ms(debounce));
    let mut tx = pool.begin().await?;
    let column = |f: fn(&NewDelivery) -> String| batch.iter().map(f).collect::<Vec<String>>();
    let inserted: Vec<(i64, String, String)> = sqlx::query_as(INSERT_DELIVERIES_PG)
        .bind(column(|d| d.forge.as_str().to_owned()))
        .bind(column(|d| d.delivery_id.clone()))
        .bind(column(|d| d.event.clone()))
        .bind(
            batch
                .iter()
                .map(|d| d.action.clone())
                .collect::<Vec<Option<String>>>(),
        )
        .bind(vec![now; batch.len()])
        .bind(column(|d| d.payload.clone()))
        .fetch_all(&mut *tx)
        .await?;
    let mut new_ids: HashMap<(String, String), i64> = inserted
        .into_iter()
        .map(|(id, forge, delivery)| ((forge, delivery), id))
        .collect();
    // The first occurrence of an id in the batch is the new one; any repeat is a duplicate.
    let results: Vec<Recorded> = batch
        .iter()
        .map(
            |d| match new_ids.remove(&(d.forge.as_str().to_owned(), d.delivery_id.clone())) {
                Some(id) => Recorded::New(id),
                None => Recorded::Duplicate,
            },
        )
        .collect();
    // One upsert row per distinct key, in key order (lock order, so replicas cannot deadlock).
    let mut keys: BTreeMap<String, &crate::events::WorkItem> = BTreeMap::new();
    let mut events: Vec<(String, i64, Option<String>, Option<String>)> = Vec::new();
    for (d, r) in batch.iter().zip(&results) {
        if let Recorded::New(pk) = r {
            for item in &d.items {
                let key = item.key.to_key_string();
                events.push((
                    key.clone(),
                    *pk,
                    item.detail.as_ref().map(|v| v.to_string()),
                    coalescing_kind(&item.key.target, &d.event, d.action.as_deref()),
                ));
                keys.entry(key).or_insert(item);
            }
        }
    }
    if !keys.is_empty() {
        let items: Vec<_> = keys.values().collect();
        let job_ids: Vec<(i64, String)> = sqlx::query_as(UPSERT_JOBS_PG)
            .bind(keys.keys().cloned().collect::<Vec<_>>())
            .bind(
                items
                    .iter()
                    .map(|i| i.key.forge.as_str().to_owned())
                    .collect::<Vec<_>>(),
            )
            .bind(
                items
                    .iter()
                    .map(|i| i.key.repository.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                items
                    .iter()
                    .map(|i| i.key.target.kind().to_owned())
                    .collect::<Vec<_>>(),
            )
            .bind(
                items
                    .iter()
                    .map(|i| i.key.target.value())
                    .collect::<Vec<_>>(),
            )
            .bind(due)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
        let job_of: HashMap<String, i64> = job_ids.into_iter().map(|(id, k)| (k, id)).collect();
        let mut job_col = Vec::with_capacity(events.len());
        for (key, _, _, _) in &events {
            let id = job_of
                .get(key)
                .ok_or_else(|| StoreError::Corrupt(format!("upsert returned no job for {key}")))?;
            job_col.push(*id);
        }
        sqlx::query(INSERT_JOB_EVENTS_PG)
            .bind(job_col)
            .bind(events.iter().map(|e| e.1).collect::<Vec<i64>>())
            .bind(
                events
                    .iter()
                    .map(|e| e.2.clone())
                    .collect::<Vec<Option<String>>>(),
            )
            .bind(
                events
                    .into_iter()
                    .map(|e| e.3)
                    .collect::<Vec<Option<String>>>(),
            )
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(results)
}

impl Store {
    /// Stores a batch of deliveries and their jobs in ONE transaction and returns, per
    /// delivery in order, whether it was new. Jobs become due `debounce` after their first
    /// event. When this returns `Ok`, everything is durable.
    pub async fn record_deliveries(
        &self,
        batch: &[NewDelivery],
        debounce: Duration,
    ) -> Result<Vec<Recorded>, StoreError> {
        match &self.db {
            Db::Sqlite(pool) => {
                // Deliveries are acknowledged on this commit: make it survive power loss too
                // (job-state writes run with synchronous=NORMAL, see `Store::connect`).
                let mut conn = pool.acquire().await?;
                if let Err(err) = sqlx::query("PRAGMA synchronous = FULL")
                    .execute(&mut *conn)
                    .await
                {
                    // A connection that cannot even change a pragma is wedged (left inside a
                    // transaction by an earlier failure): never hand it out again.
                    conn.close_on_drop();
                    return Err(err.into());
                }
                let result: Result<Vec<Recorded>, StoreError> =
                    async { record_batch!(&mut *conn, batch, debounce) }.await;
                if result.is_err() {
                    // A failed COMMIT (full disk, I/O error, lock) can leave SQLite inside the
                    // transaction while sqlx believes it ended, so every later batch would fail
                    // with "Safety level may not be changed inside a transaction". Roll back
                    // explicitly (an error here only means no transaction was open) and replace
                    // the connection, so the writer heals as soon as the cause goes away.
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    conn.close_on_drop();
                    return result;
                }
                if let Err(err) = sqlx::query("PRAGMA synchronous = NORMAL")
                    .execute(&mut *conn)
                    .await
                {
                    // The batch itself is committed (or failed) already; only speed is at stake.
                    tracing::warn!(error = %err, "resetting synchronous=NORMAL failed");
                }
                result
            }
            Db::Postgres(pool) => record_batch_postgres(pool, batch, debounce).await,
        }
    }

    /// The raw payload of a stored delivery (by row id), for processors.
    pub async fn delivery_payload(&self, delivery_pk: i64) -> Result<Option<String>, StoreError> {
        let q = "SELECT payload FROM deliveries WHERE id = $1";
        Ok(
            super::on_pool!(&self.read, pool => sqlx::query_scalar(q).bind(delivery_pk).fetch_optional(pool).await)?,
        )
    }

    /// How many deliveries are stored (for tests and `jobs list`).
    pub async fn delivery_count(&self) -> Result<i64, StoreError> {
        let q = "SELECT COUNT(*) FROM deliveries";
        Ok(super::on_pool!(&self.read, pool => sqlx::query_scalar(q).fetch_one(pool).await)?)
    }
}

/// Work the service gives itself (reconciliation, a waiver's expiry, a policy change fanned
/// out to open pull requests) goes through the same path as a webhook: a delivery row with a
/// generated id (time, a random part for replicas, a counter) and an `sdl-gate.*` event name, so the queue, coalescing and the audit trail
/// see no difference.
#[derive(Debug, Clone)]
pub struct InternalWork {
    /// The forge the work is for.
    pub forge: ForgeName,
    /// The event name, e.g. `sdl-gate.reconcile`; must start with `sdl-gate.`.
    pub event: &'static str,
    /// Context for the processor, stored as the delivery's payload (e.g. the installation).
    pub payload: serde_json::Value,
    /// The jobs to create or wake.
    pub items: Vec<WorkItem>,
}

impl Store {
    /// Records service-originated work as a delivery with a fresh id (`internal-…`) and
    /// wakes or creates its jobs, due after `debounce`. Returns the delivery row id.
    pub async fn enqueue_internal(
        &self,
        work: InternalWork,
        debounce: Duration,
    ) -> Result<i64, StoreError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        debug_assert!(work.event.starts_with("sdl-gate."));
        let delivery_id = format!(
            "internal-{}-{:016x}-{}",
            now_ms(),
            rand::random::<u64>(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let delivery = NewDelivery {
            forge: work.forge,
            delivery_id,
            event: work.event.to_owned(),
            action: None,
            payload: work.payload.to_string(),
            items: work.items,
        };
        match self.record_deliveries(&[delivery], debounce).await?.first() {
            Some(Recorded::New(id)) => Ok(*id),
            _ => Err(StoreError::Corrupt(
                "an internal delivery id was taken twice".into(),
            )),
        }
    }
}
