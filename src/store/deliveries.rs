//! Recording deliveries: insert-or-detect-duplicate, and upsert the job of each work item,
//! all in one transaction per batch of a few set-based statements (see [`super::Committer`]
//! for the batching).

use std::time::Duration;

use crate::events::WorkItem;
use crate::forge_name::ForgeName;
use crate::queue::coalescing_kind;

use super::{Db, Store, StoreError, ms, now_ms, payload};

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

// A new event revives a done or parked job (fresh attempts, debounced); a pending job keeps its
// due time (so a steady stream cannot starve it, and a backoff is honoured); a running job stays
// running and is run again after it finishes, because its new event is past `claimed_upto`.
// Both engines share it; each puts its own rows (`VALUES` lists on SQLite, `UNNEST` on
// PostgreSQL) before it.
macro_rules! wake_job_on_conflict {
    () => {
        " ON CONFLICT (key) DO UPDATE SET \
       state = CASE WHEN jobs.state = 'running' THEN 'running' ELSE 'pending' END, \
       run_after = CASE WHEN jobs.state IN ('done', 'parked') THEN excluded.run_after ELSE jobs.run_after END, \
       attempts = CASE WHEN jobs.state IN ('done', 'parked') THEN 0 ELSE jobs.attempts END, \
       last_error = CASE WHEN jobs.state IN ('done', 'parked') THEN NULL ELSE jobs.last_error END, \
       updated_at = excluded.updated_at \
     RETURNING id, key"
    };
}

/// Rows per multi-row statement on SQLite: at most 10 bound values a row, so well inside
/// SQLite's 32,766 variables per statement.
const SQLITE_ROWS_PER_STATEMENT: usize = 2_000;

/// One job event to insert: the job's key, the delivery's row id, the item's detail and its
/// coalescing kind.
type EventRow = (String, i64, Option<String>, Option<String>);

/// What a batch writes once its deliveries are in: which were new (by the ids the insert
/// returned), one upsert per distinct job key (in key order: the lock order, so replicas
/// cannot deadlock) and one event per new delivery's work item.
struct Plan<'b> {
    results: Vec<Recorded>,
    jobs: std::collections::BTreeMap<String, &'b WorkItem>,
    events: Vec<EventRow>,
}

/// What each delivery of `batch` became: `inserted` are the (row id, forge, delivery id) the
/// insert returned; the first occurrence of an id in the batch is the new one, any repeat (or
/// an id stored before) is a duplicate.
fn recorded(batch: &[NewDelivery], inserted: Vec<(i64, String, String)>) -> Vec<Recorded> {
    let mut new_ids: std::collections::HashMap<(String, String), i64> = inserted
        .into_iter()
        .map(|(id, forge, delivery)| ((forge, delivery), id))
        .collect();
    batch
        .iter()
        .map(|d| {
            let key = (d.forge.as_str().to_owned(), d.delivery_id.clone());
            new_ids
                .remove(&key)
                .map_or(Recorded::Duplicate, Recorded::New)
        })
        .collect()
}

/// A work item's job key, detail and coalescing kind, as its event stores them.
fn event_fields(d: &NewDelivery, item: &WorkItem) -> (String, Option<String>, Option<String>) {
    (
        item.key.to_key_string(),
        item.detail.as_ref().map(|v| v.to_string()),
        coalescing_kind(&item.key.target, &d.event, d.action.as_deref()),
    )
}

impl<'b> Plan<'b> {
    /// The plan for the deliveries of `batch` the insert returned (see [`recorded`]).
    fn new(batch: &'b [NewDelivery], inserted: Vec<(i64, String, String)>) -> Plan<'b> {
        let mut plan = Plan {
            results: recorded(batch, inserted),
            jobs: Default::default(),
            events: Vec::new(),
        };
        for (d, result) in batch.iter().zip(&plan.results) {
            let Recorded::New(pk) = *result else {
                continue;
            };
            for item in &d.items {
                let (key, detail, kind) = event_fields(d, item);
                plan.events.push((key.clone(), pk, detail, kind));
                plan.jobs.entry(key).or_insert(item);
            }
        }
        plan
    }

    /// The job id of each event, from the (id, key) rows the upsert returned.
    fn event_jobs(&self, upserted: Vec<(i64, String)>) -> Result<Vec<i64>, StoreError> {
        let job_of: std::collections::HashMap<String, i64> =
            upserted.into_iter().map(|(id, k)| (k, id)).collect();
        self.events
            .iter()
            .map(|(key, ..)| {
                job_of
                    .get(key)
                    .copied()
                    .ok_or_else(|| StoreError::Corrupt(format!("upsert returned no job for {key}")))
            })
            .collect()
    }
}

/// SQLite: the batch in three multi-row statements (deliveries, jobs, events) inside one
/// transaction, so a batch costs the same few round trips to SQLite's connection thread
/// whatever its size (one statement per delivery and item made those hand-offs the bulk of a
/// delivery's CPU). The first statement sets `synchronous` and opens the transaction; the
/// caller commits it.
async fn record_batch_sqlite(
    conn: &mut sqlx::SqliteConnection,
    batch: &[NewDelivery],
    packed: Vec<Vec<u8>>,
    debounce: Duration,
) -> Result<Vec<Recorded>, StoreError> {
    let now = now_ms();
    // Bound by value: sqlx copies a borrowed blob into its arguments, an owned one it keeps.
    let mut payloads = packed.into_iter();
    let due = now.saturating_add(ms(debounce));
    let mut inserted: Vec<(i64, String, String)> = Vec::with_capacity(batch.len());
    for (at, chunk) in batch.chunks(SQLITE_ROWS_PER_STATEMENT).enumerate() {
        // The first statement opens the transaction (see `Store::record_packed`).
        let open = if at == 0 {
            "PRAGMA synchronous = FULL; BEGIN IMMEDIATE; "
        } else {
            ""
        };
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
            "{open}INSERT INTO deliveries (forge, delivery_id, event, action, received_at, payload) "
        ));
        let rows = chunk.iter().zip(payloads.by_ref().take(chunk.len()));
        insert.push_values(rows, |mut row, (d, payload)| {
            row.push_bind(d.forge.as_str())
                .push_bind(&d.delivery_id)
                .push_bind(&d.event)
                .push_bind(&d.action)
                .push_bind(now)
                .push_bind(payload);
        });
        insert
            .push(" ON CONFLICT (forge, delivery_id) DO NOTHING RETURNING id, forge, delivery_id");
        inserted.extend(
            insert
                .build_query_as::<(i64, String, String)>()
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    let plan = Plan::new(batch, inserted);
    let jobs: Vec<(&String, &&WorkItem)> = plan.jobs.iter().collect();
    let mut upserted: Vec<(i64, String)> = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let mut upsert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO jobs (key, forge, repository, target_kind, target_value, state, run_after, attempts, created_at, updated_at) ",
        );
        upsert.push_values(chunk, |mut row, (key, item)| {
            row.push_bind(key.as_str())
                .push_bind(item.key.forge.as_str())
                .push_bind(&item.key.repository)
                .push_bind(item.key.target.kind())
                .push_bind(item.key.target.value())
                .push_bind("pending")
                .push_bind(due)
                .push_bind(0_i64)
                .push_bind(now)
                .push_bind(now);
        });
        upsert.push(wake_job_on_conflict!());
        upserted.extend(
            upsert
                .build_query_as::<(i64, String)>()
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    let job_ids = plan.event_jobs(upserted)?;
    let rows: Vec<_> = plan.events.iter().zip(job_ids).collect();
    for chunk in rows.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let mut events = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO job_events (job_id, delivery_pk, detail, kind) ",
        );
        events.push_values(chunk, |mut row, ((_, pk, detail, kind), job)| {
            row.push_bind(*job)
                .push_bind(*pk)
                .push_bind(detail.as_deref())
                .push_bind(kind.as_deref());
        });
        events.build().execute(&mut *conn).await?;
    }
    Ok(plan.results)
}

// PostgreSQL: the whole batch as ONE statement in autocommit (data-modifying CTEs), so a batch
// costs one round trip instead of five (BEGIN, three statements, COMMIT): the deliveries, the
// work items of those that were new (joined on what the insert returned), the jobs upserted
// in key order (the lock order, so concurrent batches and replicas cannot deadlock), and one
// event per item, in batch order, joined to its job on the key the upsert returned.
const RECORD_BATCH_PG: &str = concat!(
    "WITH ins AS ( \
       INSERT INTO deliveries (forge, delivery_id, event, action, received_at, packed) \
       SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bytea[]) \
       ON CONFLICT (forge, delivery_id) DO NOTHING RETURNING id, forge, delivery_id), \
     items AS ( \
       SELECT i.id AS delivery_pk, t.k, t.f, t.r, t.tk, t.tv, t.detail, t.kind, t.ord \
       FROM UNNEST($7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
                   $13::text[], $14::text[], $15::text[]) WITH ORDINALITY \
            AS t(df, did, k, f, r, tk, tv, detail, kind, ord) \
       JOIN ins i ON i.forge = t.df AND i.delivery_id = t.did), \
     upserted AS ( \
       INSERT INTO jobs (key, forge, repository, target_kind, target_value, state, run_after, attempts, created_at, updated_at) \
       SELECT DISTINCT ON (k) k, f, r, tk, tv, 'pending', $16, 0, $17, $17 FROM items ORDER BY k",
    wake_job_on_conflict!(),
    "), \
     events AS ( \
       INSERT INTO job_events (job_id, delivery_pk, detail, kind) \
       SELECT u.id, it.delivery_pk, it.detail, it.kind FROM items it JOIN upserted u ON u.key = it.k \
       ORDER BY it.ord) \
     SELECT id, forge, delivery_id FROM ins"
);

/// PostgreSQL: the same batch as [`record_batch_sqlite`], in one statement (see
/// [`RECORD_BATCH_PG`]), durable when it returns. Only the first occurrence of a delivery id
/// in the batch brings its work items: a repeat is a duplicate, as on SQLite.
async fn record_batch_postgres(
    pool: &sqlx::PgPool,
    batch: &[NewDelivery],
    packed: Vec<Vec<u8>>,
    debounce: Duration,
) -> Result<Vec<Recorded>, StoreError> {
    let now = now_ms();
    let due = now.saturating_add(ms(debounce));
    let column = |f: fn(&NewDelivery) -> &str| batch.iter().map(f).collect::<Vec<&str>>();
    let mut first = std::collections::HashSet::with_capacity(batch.len());
    let mut items = ItemColumns::default();
    for d in batch {
        if !first.insert((d.forge, d.delivery_id.as_str())) {
            continue;
        }
        for item in &d.items {
            items.push(d, item);
        }
    }
    let inserted: Vec<(i64, String, String)> = sqlx::query_as(RECORD_BATCH_PG)
        .bind(column(|d| d.forge.as_str()))
        .bind(column(|d| &d.delivery_id))
        .bind(column(|d| &d.event))
        .bind(
            batch
                .iter()
                .map(|d| d.action.as_deref())
                .collect::<Vec<Option<&str>>>(),
        )
        .bind(vec![now; batch.len()])
        .bind(packed)
        .bind(items.delivery_forge)
        .bind(items.delivery_id)
        .bind(items.key)
        .bind(items.forge)
        .bind(items.repository)
        .bind(items.target_kind)
        .bind(items.target_value)
        .bind(items.detail)
        .bind(items.kind)
        .bind(due)
        .bind(now)
        .fetch_all(pool)
        .await?;
    Ok(recorded(batch, inserted))
}

/// The work items of a PostgreSQL batch as parallel arrays (one per `UNNEST` column).
#[derive(Default)]
struct ItemColumns<'b> {
    delivery_forge: Vec<&'b str>,
    delivery_id: Vec<&'b str>,
    key: Vec<String>,
    forge: Vec<&'b str>,
    repository: Vec<&'b str>,
    target_kind: Vec<&'b str>,
    target_value: Vec<String>,
    detail: Vec<Option<String>>,
    kind: Vec<Option<String>>,
}

impl<'b> ItemColumns<'b> {
    fn push(&mut self, d: &'b NewDelivery, item: &'b WorkItem) {
        let (key, detail, kind) = event_fields(d, item);
        self.delivery_forge.push(d.forge.as_str());
        self.delivery_id.push(&d.delivery_id);
        self.key.push(key);
        self.forge.push(item.key.forge.as_str());
        self.repository.push(&item.key.repository);
        self.target_kind.push(item.key.target.kind());
        self.target_value.push(item.key.target.value());
        self.detail.push(detail);
        self.kind.push(kind);
    }
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
        let packed = batch.iter().map(|d| payload::pack(&d.payload)).collect();
        self.record_packed(batch, packed, debounce).await
    }

    /// [`Store::record_deliveries`] with the payloads already packed by [`payload::pack`], one
    /// per delivery (the delivery writer has each handler pack its own, in parallel, rather
    /// than the one writer packing a whole batch).
    pub(crate) async fn record_packed(
        &self,
        batch: &[NewDelivery],
        packed: Vec<Vec<u8>>,
        debounce: Duration,
    ) -> Result<Vec<Recorded>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        if packed.len() != batch.len() {
            return Err(StoreError::Corrupt(format!(
                "{} packed payloads for {} deliveries",
                packed.len(),
                batch.len()
            )));
        }
        match &self.db {
            Db::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                // Deliveries are acknowledged on this commit: make it survive power loss too
                // (job-state writes run with synchronous=NORMAL, see `Store::connect`). The
                // pragma and `BEGIN IMMEDIATE` go with the batch's first statement, and the
                // reset with `COMMIT`: each hand-off to SQLite's thread costs two thread
                // wake-ups, more than the statements of a small batch.
                let mut result = record_batch_sqlite(&mut conn, batch, packed, debounce).await;
                if result.is_ok()
                    && let Err(err) = sqlx::raw_sql("COMMIT; PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await
                {
                    // Should COMMIT have succeeded and only the reset failed, the batch is
                    // stored but reported as failed: its senders retry and are answered
                    // "duplicate". Nothing unstored is ever acknowledged.
                    result = Err(err.into());
                }
                if result.is_err() {
                    // A failed statement or COMMIT (full disk, I/O error, lock) can leave SQLite
                    // inside the transaction, so every later batch would fail with "Safety level
                    // may not be changed inside a transaction". Roll back explicitly (an error
                    // here only means no transaction was open) and replace the connection, so
                    // the writer heals as soon as the cause goes away.
                    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
                    conn.close_on_drop();
                }
                result
            }
            Db::Postgres(pool) => record_batch_postgres(pool, batch, packed, debounce).await,
        }
    }

    /// The raw payload of a stored delivery (by row id), for processors.
    pub async fn delivery_payload(&self, delivery_pk: i64) -> Result<Option<String>, StoreError> {
        let what = || format!("delivery {delivery_pk}");
        match &self.read {
            Db::Sqlite(pool) => {
                let stored: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT payload FROM deliveries WHERE id = $1")
                        .bind(delivery_pk)
                        .fetch_optional(pool)
                        .await?;
                stored
                    .map(|bytes| payload::unpack(bytes, &what()))
                    .transpose()
            }
            Db::Postgres(pool) => {
                // `packed` since migration 0009, the text of older rows in `payload`.
                let stored: Option<(Option<Vec<u8>>, Option<String>)> =
                    sqlx::query_as("SELECT packed, payload FROM deliveries WHERE id = $1")
                        .bind(delivery_pk)
                        .fetch_optional(pool)
                        .await?;
                match stored {
                    None => Ok(None),
                    Some((Some(packed), _)) => payload::unpack(packed, &what()).map(Some),
                    Some((None, Some(text))) => Ok(Some(text)),
                    Some((None, None)) => Err(StoreError::Corrupt(format!(
                        "{}: neither a packed nor a text payload",
                        what()
                    ))),
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Target, WorkKey};

    fn delivery(id: &str, payload: String) -> NewDelivery {
        NewDelivery {
            forge: ForgeName::GitHub,
            delivery_id: id.to_owned(),
            event: "pull_request".to_owned(),
            action: Some("synchronize".to_owned()),
            payload,
            items: vec![WorkItem {
                key: WorkKey {
                    forge: ForgeName::GitHub,
                    repository: "octo/repo".to_owned(),
                    target: Target::Change(7),
                },
                detail: None,
            }],
        }
    }

    #[tokio::test]
    async fn sqlite_keeps_payloads_compressed_and_still_reads_text_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let store = Store::connect(&url, 2).await.expect("connect");
        store.migrate().await.expect("migrate");
        let user = r#"{"login":"octocat","id":1,"avatar_url":"https://github.com/images/error/octocat_happy.gif","site_admin":false}"#;
        let body = format!(
            r#"{{"action":"synchronize","users":[{}]}}"#,
            vec![user; 200].join(",")
        );
        let recorded = store
            .record_deliveries(&[delivery("d-1", body.clone())], Duration::ZERO)
            .await
            .expect("record");
        let [Recorded::New(pk)] = recorded[..] else {
            panic!("{recorded:?}");
        };
        let Db::Sqlite(pool) = &store.db else {
            panic!("SQLite expected");
        };
        let (kind, stored): (String, i64) =
            sqlx::query_as("SELECT typeof(payload), length(payload) FROM deliveries WHERE id = ?")
                .bind(pk)
                .fetch_one(pool)
                .await
                .expect("row");
        assert_eq!(kind, "blob");
        assert!(
            stored * 4 < body.len() as i64,
            "{stored} bytes for {}",
            body.len()
        );
        assert_eq!(store.delivery_payload(pk).await.expect("read"), Some(body));

        // A row stored as text before compression, and one damaged on disk.
        sqlx::query(
            "INSERT INTO deliveries (forge, delivery_id, event, action, received_at, payload) \
             VALUES ('github', 'old', 'pull_request', NULL, 0, '{\"n\":1}'), \
                    ('github', 'bad', 'pull_request', NULL, 0, x'006c7a34ffffff7f00')",
        )
        .execute(pool)
        .await
        .expect("insert");
        let id = |delivery: &'static str| {
            sqlx::query_scalar::<_, i64>("SELECT id FROM deliveries WHERE delivery_id = ?")
                .bind(delivery)
                .fetch_one(pool)
        };
        let old = id("old").await.expect("old");
        assert_eq!(
            store.delivery_payload(old).await.expect("text row"),
            Some("{\"n\":1}".to_owned())
        );
        let bad = id("bad").await.expect("bad");
        match store.delivery_payload(bad).await {
            Err(StoreError::Corrupt(message)) => {
                assert!(
                    message.starts_with(&format!("delivery {bad}: ")),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
