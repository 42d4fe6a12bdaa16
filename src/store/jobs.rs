//! Job claims with a lease, and every state change after a run.
//!
//! States: `pending` (due at `run_after`) → `running` (owned until `lease_until`, fenced by
//! `lease_token`) → `done`, back to `pending` (new events arrived while running, or a retry),
//! or `parked` (out of attempts, or a permanent failure). A `running` job whose lease ran out
//! is claimable again: its worker is presumed dead.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::events::{Target, WorkKey};
use crate::forge_name::ForgeName;
use crate::queue::{CLAIM_EVENTS_MAX, CLAIM_KINDS_MAX, Job, JobEvent};

use super::{Db, Store, StoreError, ms, now_ms, on_pool, time_of};

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: i64,
    forge: String,
    repository: String,
    target_kind: String,
    target_value: String,
    attempts: i64,
    lease_token: i64,
    claimed_upto: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    delivery_pk: i64,
    delivery_id: String,
    event: String,
    action: Option<String>,
    detail: Option<String>,
    received_at: i64,
}

fn job_event(r: EventRow) -> JobEvent {
    JobEvent {
        seq: r.id,
        delivery_pk: r.delivery_pk,
        delivery_id: r.delivery_id,
        event: r.event,
        action: r.action,
        detail: r.detail.and_then(|d| serde_json::from_str(&d).ok()),
        received_at: time_of(r.received_at),
    }
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: i64,
    key: String,
    state: String,
    attempts: i64,
    run_after: i64,
    last_error: Option<String>,
    runs: i64,
    updated_at: i64,
    open_events: i64,
}

/// A job as listed by `sdl-gate jobs list`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobSummary {
    /// Row id.
    pub id: i64,
    /// The coalescing key, e.g. `github:octo/repo#12`.
    pub key: String,
    /// pending, running, done or parked.
    pub state: String,
    /// Attempts of the current run (reset on success).
    pub attempts: i64,
    /// When it is due (pending) — or was last scheduled.
    pub run_after: DateTime<Utc>,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Successful runs so far.
    pub runs: i64,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Events not yet processed.
    pub open_events: i64,
}

/// Jobs per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Waiting to run (including backing off).
    pub pending: i64,
    /// Claimed by a worker.
    pub running: i64,
    /// Given up on; needs attention.
    pub parked: i64,
    /// Finished with nothing left to do.
    pub done: i64,
}

impl QueueDepth {
    /// Whether nothing is waiting or running.
    pub fn is_drained(&self) -> bool {
        self.pending == 0 && self.running == 0
    }
}

/// The state a job was left in by a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Nothing left to do.
    Done,
    /// Due again (new events arrived during the run, or a retry is scheduled).
    Pending,
    /// Parked.
    Parked,
    /// The lease was lost (expired and claimed elsewhere): nothing was changed.
    LostLease,
}

fn completion(state: Option<String>) -> Completion {
    match state.as_deref() {
        Some("done") => Completion::Done,
        Some("pending") => Completion::Pending,
        Some("parked") => Completion::Parked,
        _ => Completion::LostLease,
    }
}

const CLAIM_SQLITE: &str = "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, \
       lease_token = lease_token + 1, attempts = attempts + 1, updated_at = $3, \
       claimed_upto = (SELECT MAX(e.id) FROM job_events e WHERE e.job_id = jobs.id AND e.processed_at IS NULL) \
     WHERE id = (SELECT id FROM jobs \
                 WHERE (state = 'pending' AND run_after <= $3) OR (state = 'running' AND lease_until <= $3) \
                 ORDER BY run_after LIMIT 1) \
     RETURNING id, forge, repository, target_kind, target_value, attempts, lease_token, claimed_upto";

const CLAIM_POSTGRES: &str = "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, \
       lease_token = lease_token + 1, attempts = attempts + 1, updated_at = $3, \
       claimed_upto = (SELECT MAX(e.id) FROM job_events e WHERE e.job_id = jobs.id AND e.processed_at IS NULL) \
     WHERE id = (SELECT id FROM jobs \
                 WHERE (state = 'pending' AND run_after <= $3) OR (state = 'running' AND lease_until <= $3) \
                 ORDER BY run_after LIMIT 1 FOR UPDATE SKIP LOCKED) \
     RETURNING id, forge, repository, target_kind, target_value, attempts, lease_token, claimed_upto";

// A claim loads a bounded amount whatever the size of the job's backlog (see
// `crate::queue::coalescing_kind`): the oldest `CLAIM_EVENTS_MAX` open events in full; when
// there are more, the newest open event of each coalescing kind beyond them, found by seeks on
// `job_events_open_kind` (the kinds by a skip scan, one seek per kind), and whether events
// that must each be handled were left over.
const LOAD_WINDOW: &str = "SELECT e.id, e.delivery_pk, d.delivery_id, d.event, d.action, e.detail, d.received_at \
     FROM job_events e JOIN deliveries d ON d.id = e.delivery_pk \
     WHERE e.job_id = $1 AND e.processed_at IS NULL AND e.id <= $2 ORDER BY e.id LIMIT $3";

const LOAD_KINDS: &str = "WITH RECURSIVE kinds(kind) AS ( \
       SELECT MIN(kind) FROM job_events WHERE job_id = $1 AND processed_at IS NULL AND kind IS NOT NULL \
       UNION ALL \
       SELECT (SELECT MIN(x.kind) FROM job_events x \
               WHERE x.job_id = $1 AND x.processed_at IS NULL AND x.kind > kinds.kind) \
       FROM kinds WHERE kinds.kind IS NOT NULL) \
     SELECT kind FROM kinds WHERE kind IS NOT NULL LIMIT $2";

const LOAD_LATEST_SQLITE: &str = "SELECT e.id, e.delivery_pk, d.delivery_id, d.event, d.action, e.detail, d.received_at \
     FROM job_events e JOIN deliveries d ON d.id = e.delivery_pk \
     WHERE e.id IN (SELECT (SELECT MAX(x.id) FROM job_events x \
                            WHERE x.job_id = $1 AND x.processed_at IS NULL AND x.kind = k.value \
                              AND x.id > $2 AND x.id <= $3) \
                    FROM json_each($4) k) \
     ORDER BY e.id";

const LOAD_LATEST_POSTGRES: &str = "SELECT e.id, e.delivery_pk, d.delivery_id, d.event, d.action, e.detail, d.received_at \
     FROM job_events e JOIN deliveries d ON d.id = e.delivery_pk \
     WHERE e.id IN (SELECT (SELECT MAX(x.id) FROM job_events x \
                            WHERE x.job_id = $1 AND x.processed_at IS NULL AND x.kind = k.value \
                              AND x.id > $2 AND x.id <= $3) \
                    FROM jsonb_array_elements_text($4::jsonb) AS k(value)) \
     ORDER BY e.id";

const LEFT_OVER: &str = "SELECT id FROM job_events \
     WHERE job_id = $1 AND processed_at IS NULL AND kind IS NULL AND id > $2 AND id <= $3 \
     ORDER BY id LIMIT 1";

// Completion of a successful run, in one transaction:
// 1. mark exactly the events this run processed (by id: with concurrent writers, ids are not
//    committed in order, so "every id up to the largest seen" could include one not seen);
// 2. lock the job row and check the lease (on PostgreSQL `FOR UPDATE` waits for any delivery
//    transaction that is adding events to this job, so the next statement sees its events);
//    a lost lease rolls the marks of step 1 back;
// 3. the job is done, or pending again when events are still unprocessed.
// A claim that coalesced also marks every open event of a coalescing kind up to its
// `coalesced_upto` (the newest of each kind was loaded). That watermark is exact per job: a
// delivery transaction inserts a job's events while holding the job's row (the upsert) until
// it commits, so one job's events commit in id order, and the claim took the row unlocked.
// Marking comes first because it is the slow step (one new row version per event, hundreds on
// a busy change request) and needs no job-row lock: the delivery writer only inserts events.
// Taken first, the row lock would be held across it, and the writer's job upsert, and with
// it every delivery acknowledgement queued behind it, would wait that long.
const LOCK_JOB_SQLITE: &str = "SELECT lease_token FROM jobs WHERE id = $1 AND state = 'running'";
const LOCK_JOB_POSTGRES: &str =
    "SELECT lease_token FROM jobs WHERE id = $1 AND state = 'running' FOR UPDATE";

const MARK_PROCESSED_SQLITE: &str = "UPDATE job_events SET processed_at = $2 \
     WHERE job_id = $3 AND processed_at IS NULL AND id IN (SELECT value FROM json_each($1))";
const MARK_PROCESSED_POSTGRES: &str = "UPDATE job_events SET processed_at = $2 \
     WHERE job_id = $3 AND processed_at IS NULL \
       AND id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)";

const MARK_COALESCED: &str = "UPDATE job_events SET processed_at = $2 \
     WHERE job_id = $1 AND processed_at IS NULL AND kind IS NOT NULL AND id <= $3";

const FINISH_SUCCESS: &str = "UPDATE jobs SET \
       state = CASE WHEN EXISTS (SELECT 1 FROM job_events e WHERE e.job_id = jobs.id AND e.processed_at IS NULL) \
                    THEN 'pending' ELSE 'done' END, \
       run_after = $3, attempts = 0, lease_owner = NULL, lease_until = NULL, last_error = NULL, \
       runs = runs + 1, updated_at = $4 \
     WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING state";

const FINISH_FAILURE: &str = "UPDATE jobs SET \
       state = CASE WHEN $3 OR attempts >= $4 THEN 'parked' ELSE 'pending' END, \
       run_after = $5, lease_owner = NULL, lease_until = NULL, last_error = $6, updated_at = $7 \
     WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING state";

const RELEASE: &str = "UPDATE jobs SET state = 'pending', run_after = $3, \
       attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
       lease_owner = NULL, lease_until = NULL, updated_at = $3 \
     WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING state";

const RENEW: &str =
    "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running'";

impl Store {
    /// Claims the oldest due job (pending and due, or running with an expired lease) for
    /// `owner` for `lease`, and loads its open events, a bounded number of them (see
    /// [`Job`]). `None` when nothing is due.
    pub async fn claim(&self, owner: &str, lease: Duration) -> Result<Option<Job>, StoreError> {
        let now = now_ms();
        let until = now.saturating_add(ms(lease));
        let row: Option<ClaimRow> = match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_as(CLAIM_SQLITE)
                    .bind(owner)
                    .bind(until)
                    .bind(now)
                    .fetch_optional(pool)
                    .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_as(CLAIM_POSTGRES)
                    .bind(owner)
                    .bind(until)
                    .bind(now)
                    .fetch_optional(pool)
                    .await?
            }
        };
        let Some(row) = row else { return Ok(None) };
        let forge = ForgeName::parse(&row.forge)
            .ok_or_else(|| StoreError::Corrupt(format!("job {}: forge `{}`", row.id, row.forge)))?;
        let target = Target::from_parts(&row.target_kind, &row.target_value).ok_or_else(|| {
            StoreError::Corrupt(format!("job {}: target `{}`", row.id, row.target_kind))
        })?;
        let (events, coalesced_upto, more) = match row.claimed_upto {
            None => (Vec::new(), None, false),
            Some(upto) => self.load_events(row.id, upto).await?,
        };
        Ok(Some(Job {
            id: row.id,
            key: WorkKey {
                forge,
                repository: row.repository,
                target,
            },
            attempt: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            events,
            lease_token: row.lease_token,
            claimed_upto: row.claimed_upto,
            coalesced_upto,
            more,
        }))
    }

    /// The events of a claim of job `id` up to event `upto`: the whole backlog when it has
    /// at most [`CLAIM_EVENTS_MAX`] events; else the oldest of them, the newest event of each
    /// coalescing kind after those (with the id the coalesced events are covered up to), and
    /// whether events that must each be handled were left for the next run.
    async fn load_events(
        &self,
        id: i64,
        upto: i64,
    ) -> Result<(Vec<JobEvent>, Option<i64>, bool), StoreError> {
        let mut rows: Vec<EventRow> = on_pool!(&self.read, pool => sqlx::query_as(LOAD_WINDOW)
            .bind(id)
            .bind(upto)
            .bind(CLAIM_EVENTS_MAX + 1)
            .fetch_all(pool)
            .await)?;
        let window = usize::try_from(CLAIM_EVENTS_MAX).unwrap_or(usize::MAX);
        if rows.len() <= window {
            return Ok((rows.into_iter().map(job_event).collect(), None, false));
        }
        rows.truncate(window);
        let end = rows.last().map_or(0, |r| r.id);
        let kinds: Vec<String> = on_pool!(&self.read, pool => sqlx::query_scalar(LOAD_KINDS)
            .bind(id)
            .bind(CLAIM_KINDS_MAX + 1)
            .fetch_all(pool)
            .await)?;
        let mut coalesced_upto = None;
        let mut more = true;
        if kinds.len() <= usize::try_from(CLAIM_KINDS_MAX).unwrap_or(usize::MAX) {
            let kinds = serde_json::to_string(&kinds).unwrap_or_else(|_| "[]".to_owned());
            let latest: Vec<EventRow> = match &self.read {
                Db::Sqlite(pool) => {
                    sqlx::query_as(LOAD_LATEST_SQLITE)
                        .bind(id)
                        .bind(end)
                        .bind(upto)
                        .bind(&kinds)
                        .fetch_all(pool)
                        .await?
                }
                Db::Postgres(pool) => {
                    sqlx::query_as(LOAD_LATEST_POSTGRES)
                        .bind(id)
                        .bind(end)
                        .bind(upto)
                        .bind(&kinds)
                        .fetch_all(pool)
                        .await?
                }
            };
            rows.extend(latest);
            coalesced_upto = Some(upto);
            let left: Option<i64> = on_pool!(&self.read, pool => sqlx::query_scalar(LEFT_OVER)
                .bind(id)
                .bind(end)
                .bind(upto)
                .fetch_optional(pool)
                .await)?;
            more = left.is_some();
        } else {
            tracing::warn!(
                job = id,
                kinds = kinds.len(),
                "more kinds of open events than a claim coalesces; handing the backlog over in windows"
            );
        }
        Ok((
            rows.into_iter().map(job_event).collect(),
            coalesced_upto,
            more,
        ))
    }

    /// Extends a running job's lease; `false` when the lease was lost.
    pub async fn renew_lease(&self, job: &Job, lease: Duration) -> Result<bool, StoreError> {
        let until = now_ms().saturating_add(ms(lease));
        let done = on_pool!(&self.db, pool => sqlx::query(RENEW)
            .bind(job.id)
            .bind(job.lease_token)
            .bind(until)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Records a successful run: the run's events (and the events its claim coalesced) are
    /// processed; the job is done, or due again after `debounce` if events arrived meanwhile,
    /// or at once when its claim left events over.
    pub async fn complete_success(
        &self,
        job: &Job,
        debounce: Duration,
    ) -> Result<Completion, StoreError> {
        let now = now_ms();
        let ids = serde_json::to_string(&job.events.iter().map(|e| e.seq).collect::<Vec<i64>>())
            .unwrap_or_else(|_| "[]".to_owned());
        // Events left over for the next run: due at once, not after a debounce.
        let due = if job.more {
            now
        } else {
            now.saturating_add(ms(debounce))
        };
        macro_rules! run {
            ($pool:expr, $lock:expr, $mark:expr) => {{
                let mut tx = $pool.begin().await?;
                sqlx::query($mark)
                    .bind(&ids)
                    .bind(now)
                    .bind(job.id)
                    .execute(&mut *tx)
                    .await?;
                if let Some(upto) = job.coalesced_upto {
                    sqlx::query(MARK_COALESCED)
                        .bind(job.id)
                        .bind(now)
                        .bind(upto)
                        .execute(&mut *tx)
                        .await?;
                }
                let token: Option<i64> = sqlx::query_scalar($lock)
                    .bind(job.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if token != Some(job.lease_token) {
                    tx.rollback().await?;
                    return Ok(Completion::LostLease);
                }
                let state: Option<String> = sqlx::query_scalar(FINISH_SUCCESS)
                    .bind(job.id)
                    .bind(job.lease_token)
                    .bind(due)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                if state.is_none() {
                    tx.rollback().await?;
                    return Ok(Completion::LostLease);
                }
                tx.commit().await?;
                Ok(completion(state))
            }};
        }
        match &self.db {
            Db::Sqlite(pool) => run!(pool, LOCK_JOB_SQLITE, MARK_PROCESSED_SQLITE),
            Db::Postgres(pool) => run!(pool, LOCK_JOB_POSTGRES, MARK_PROCESSED_POSTGRES),
        }
    }

    /// Records a failed run: due again after `retry_in`, or parked when `permanent` or when
    /// the attempts reached `max_attempts`.
    pub async fn complete_failure(
        &self,
        job: &Job,
        error: &str,
        permanent: bool,
        retry_in: Duration,
        max_attempts: u32,
    ) -> Result<Completion, StoreError> {
        let now = now_ms();
        let state: Option<String> = on_pool!(&self.db, pool => sqlx::query_scalar(FINISH_FAILURE)
            .bind(job.id)
            .bind(job.lease_token)
            .bind(permanent)
            .bind(i64::from(max_attempts))
            .bind(now.saturating_add(ms(retry_in)))
            .bind(error)
            .bind(now)
            .fetch_optional(pool)
            .await)?;
        Ok(completion(state))
    }

    /// Gives a claimed job back without counting the attempt (shutdown).
    pub async fn release(&self, job: &Job) -> Result<Completion, StoreError> {
        let state: Option<String> = on_pool!(&self.db, pool => sqlx::query_scalar(RELEASE)
            .bind(job.id)
            .bind(job.lease_token)
            .bind(now_ms())
            .fetch_optional(pool)
            .await)?;
        Ok(completion(state))
    }

    /// The earliest `run_after` of pending jobs, so idle workers can sleep until then.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let q = "SELECT MIN(run_after) FROM jobs WHERE state = 'pending'";
        let v: Option<i64> =
            on_pool!(&self.read, pool => sqlx::query_scalar(q).fetch_one(pool).await)?;
        Ok(v.map(time_of))
    }

    /// Jobs per state.
    pub async fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        let q = "SELECT state, COUNT(*) FROM jobs GROUP BY state";
        let rows: Vec<(String, i64)> =
            on_pool!(&self.read, pool => sqlx::query_as(q).fetch_all(pool).await)?;
        let mut depth = QueueDepth::default();
        for (state, n) in rows {
            match state.as_str() {
                "pending" => depth.pending = n,
                "running" => depth.running = n,
                "parked" => depth.parked = n,
                "done" => depth.done = n,
                _ => {}
            }
        }
        Ok(depth)
    }

    /// Lists jobs, newest change first, optionally only one state.
    pub async fn list_jobs(
        &self,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<JobSummary>, StoreError> {
        let q = "SELECT j.id, j.key, j.state, j.attempts, j.run_after, j.last_error, j.runs, j.updated_at, \
                   (SELECT COUNT(*) FROM job_events e WHERE e.job_id = j.id AND e.processed_at IS NULL) AS open_events \
                 FROM jobs j WHERE ($1 IS NULL OR j.state = $1) ORDER BY j.updated_at DESC, j.id DESC LIMIT $2";
        let rows: Vec<SummaryRow> = match &self.read {
            Db::Sqlite(pool) => {
                sqlx::query_as(q)
                    .bind(state)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
            Db::Postgres(pool) => {
                // PostgreSQL cannot infer the type of a bare `$1 IS NULL`.
                let q = "SELECT j.id, j.key, j.state, j.attempts, j.run_after, j.last_error, j.runs, j.updated_at, \
                           (SELECT COUNT(*) FROM job_events e WHERE e.job_id = j.id AND e.processed_at IS NULL) AS open_events \
                         FROM jobs j WHERE ($1::text IS NULL OR j.state = $1::text) ORDER BY j.updated_at DESC, j.id DESC LIMIT $2";
                sqlx::query_as(q)
                    .bind(state)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|r| JobSummary {
                id: r.id,
                key: r.key,
                state: r.state,
                attempts: r.attempts,
                run_after: time_of(r.run_after),
                last_error: r.last_error,
                runs: r.runs,
                updated_at: time_of(r.updated_at),
                open_events: r.open_events,
            })
            .collect())
    }

    /// Makes a parked job due now with fresh attempts; `false` when no parked job has that id.
    pub async fn retry_parked(&self, id: i64) -> Result<bool, StoreError> {
        let q = "UPDATE jobs SET state = 'pending', attempts = 0, run_after = $2, updated_at = $2 \
                 WHERE id = $1 AND state = 'parked'";
        let done = on_pool!(&self.db, pool => sqlx::query(q).bind(id).bind(now_ms()).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }
}
