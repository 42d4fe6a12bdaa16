//! The durable job queue: what a job is, the [`Processor`] a worker hands it to, how failures
//! are retried, and the worker pool that claims jobs with a lease.
//!
//! Jobs live in the database (see [`crate::store`]): one per change request, so a burst of
//! events coalesces into one run; a job that receives events while it runs is run again
//! afterwards. The queue knows neither gates nor forges — processors do.

mod backoff;
mod coalesce;
pub mod record;
mod worker;

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::events::WorkKey;

pub use backoff::backoff_delay;
pub use coalesce::{CLAIM_EVENTS_MAX, CLAIM_KINDS_MAX, coalescing_kind};
pub use worker::{WorkerPool, spawn_workers};

/// A claimed unit of work: one change request (or commit, repository, installation) and the
/// events that arrived for it since it last ran successfully — all of them when there are up
/// to [`CLAIM_EVENTS_MAX`], else the oldest [`CLAIM_EVENTS_MAX`] and the newest event of each
/// coalescing kind (see [`coalescing_kind`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// Forge, repository and number/sha.
    pub key: WorkKey,
    /// This run's attempt number (1 for the first).
    pub attempt: u32,
    /// The coalesced events, oldest first.
    pub events: Vec<JobEvent>,
    /// Open events of coalescing kinds up to this id are covered by `events` (the newest of
    /// each kind is among them) and are marked processed with the run; `None` when `events`
    /// is the whole backlog.
    #[serde(default)]
    pub coalesced_upto: Option<i64>,
    /// Events that must each be handled were left for the next run (more than
    /// [`CLAIM_EVENTS_MAX`]): a successful run makes the job due again at once.
    #[serde(default)]
    pub more: bool,
    /// Fencing token of this claim; completions with a stale token are refused.
    pub lease_token: i64,
    /// The newest event id included in this run.
    pub claimed_upto: Option<i64>,
}

/// One event folded into a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    /// Event row id (orders events within a job).
    pub seq: i64,
    /// Row id of the stored delivery: pass it to `Store::delivery_payload` for the raw body.
    pub delivery_pk: i64,
    /// The forge's delivery id.
    pub delivery_id: String,
    /// The event name.
    pub event: String,
    /// The action, if any.
    pub action: Option<String>,
    /// Event-specific detail (e.g. the comment of an `issue_comment`).
    pub detail: Option<Value>,
    /// When the delivery was received.
    pub received_at: DateTime<Utc>,
}

/// Why processing a job failed: what the job was doing (`reason`) and, when another error
/// caused it, that error kept whole (`source`), so the log and `sdl-gate jobs list` show the
/// whole chain and callers can still inspect the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// Transient (forge 5xx, rate limit, network): retry, after `after` if the forge said
    /// when (e.g. `Retry-After`, `X-RateLimit-Reset`), else with exponential backoff.
    #[error("retryable failure: {reason}")]
    Retry {
        /// How long to wait, when known.
        after: Option<Duration>,
        /// What the job was doing when it failed.
        reason: String,
        /// The error that caused it.
        #[source]
        source: Option<Cause>,
    },
    /// Will not succeed by retrying (e.g. the repository is gone): park the job.
    #[error("permanent failure: {reason}")]
    Permanent {
        /// What the job was doing, or why it cannot be done.
        reason: String,
        /// The error that caused it.
        #[source]
        source: Option<Cause>,
    },
}

impl ProcessError {
    /// A transient failure with no cause beyond `reason`, retried after the backoff.
    pub fn retry(reason: impl Into<String>) -> Self {
        ProcessError::Retry {
            after: None,
            reason: reason.into(),
            source: None,
        }
    }

    /// A transient failure while doing `reason`, caused by `source`.
    pub fn retry_because(
        reason: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ProcessError::Retry {
            after: None,
            reason: reason.into(),
            source: Some(Cause::new(source)),
        }
    }

    /// A failure retrying cannot mend.
    pub fn permanent(reason: impl Into<String>) -> Self {
        ProcessError::Permanent {
            reason: reason.into(),
            source: None,
        }
    }

    /// A failure retrying cannot mend while doing `reason`, caused by `source`.
    pub fn permanent_because(
        reason: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ProcessError::Permanent {
            reason: reason.into(),
            source: Some(Cause::new(source)),
        }
    }

    /// The reason and every cause under it, `reason: cause: cause of the cause`: what is
    /// stored with the job and logged.
    pub fn describe(&self) -> String {
        let (ProcessError::Retry { reason, .. } | ProcessError::Permanent { reason, .. }) = self;
        let mut text = reason.clone();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            // Many errors print their source already (`database error: …`): say it once.
            let said = cause.to_string();
            if !text.ends_with(&said) {
                text.push_str(": ");
                text.push_str(&said);
            }
            next = cause.source();
        }
        text
    }
}

/// The error under a [`ProcessError`], shared so the failure stays `Clone`. Two causes are
/// equal when they read the same (errors do not compare otherwise).
#[derive(Debug, Clone)]
pub struct Cause(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// Keeps `error` as a cause.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Cause(std::sync::Arc::new(error))
    }

    /// The error itself, to inspect or downcast.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl Eq for Cause {}

/// What a worker does with a job. Implementations must be idempotent: a job can run again
/// after a crash between its effects and the commit of its completion.
pub trait Processor: Send + Sync + 'static {
    /// Processes one job.
    fn process(&self, job: &Job) -> impl Future<Output = Result<(), ProcessError>> + Send;
}

/// The processor `sdl-gate serve` uses until the GitHub/GitLab processors land: it logs that
/// no forge processor is configured and completes the job, so the queue keeps moving and
/// deliveries are visible in the logs. (The check stays absent on the forge, which a branch
/// protection rule requiring `sdl-gate` treats as blocking: fail closed.)
#[derive(Debug, Clone, Copy, Default)]
pub struct UnconfiguredProcessor;

impl Processor for UnconfiguredProcessor {
    async fn process(&self, job: &Job) -> Result<(), ProcessError> {
        tracing::warn!(
            job = %job.key,
            events = job.events.len(),
            "forge not configured: no processor for this forge yet, job completed without action"
        );
        Ok(())
    }
}
