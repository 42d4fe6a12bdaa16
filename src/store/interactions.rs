//! What `/sdl` comment commands leave behind: which comments were handled (so a job re-run
//! after a crash runs no command twice), threat-model references recorded with
//! `/sdl threat-model`, the waivers whose expiry the service must act on, and the App
//! installation a repository was last seen through.

use chrono::{DateTime, Utc};

use crate::forge_name::ForgeName;
use crate::snapshot::{Login, Sha};

use super::{Store, StoreError, on_pool, time_of};

/// How far a comment's commands had got when [`Store::claim_comment`] was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentClaim {
    /// Never seen: run its commands.
    New,
    /// An earlier run started it and did not finish (a crash or a retry): run its commands
    /// again, checking what was already done (stored waivers, posted replies).
    Resumed,
    /// Done already: do not run its commands again.
    Done,
}

/// A threat-model reference recorded for a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreatModelRef {
    /// The reference (URL or `#123`).
    pub reference: String,
    /// Who recorded it.
    pub author: Login,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The head commit it was recorded on.
    pub sha: Sha,
    /// The comment that carried the command.
    pub comment_id: Option<u64>,
    /// Set when withdrawn (its comment was edited or deleted).
    pub revoked: Option<String>,
}

/// A stored threat-model reference with its row id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredThreatModelRef {
    /// Row id.
    pub id: i64,
    /// The reference.
    pub reference: ThreatModelRef,
}

/// An unrevoked waiver's expiry that the service has to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverExpiry {
    /// The forge.
    pub forge: ForgeName,
    /// The repository path.
    pub repository: String,
    /// PR / MR number.
    pub number: u64,
    /// When the waiver stops counting.
    pub expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct RefRow {
    id: i64,
    reference: String,
    author: String,
    created_at: i64,
    sha: String,
    comment_id: Option<i64>,
    revoked: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ExpiryRow {
    forge: String,
    repository: String,
    number: i64,
    expires_at: i64,
}

fn int(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt(format!("number {n} out of range")))
}

impl Store {
    /// Marks comment `comment_id` as being handled (first call) and says how far earlier
    /// runs got.
    pub async fn claim_comment(
        &self,
        forge: ForgeName,
        repository: &str,
        number: u64,
        comment_id: u64,
        at: DateTime<Utc>,
    ) -> Result<CommentClaim, StoreError> {
        let insert = "INSERT INTO handled_commands (forge, repository, comment_id, number, state, started_at) \
                      VALUES ($1, $2, $3, $4, 'started', $5) ON CONFLICT (forge, repository, comment_id) DO NOTHING";
        let (c, n) = (int(comment_id)?, int(number)?);
        let inserted = on_pool!(&self.db, pool => sqlx::query(insert)
            .bind(forge.as_str())
            .bind(repository)
            .bind(c)
            .bind(n)
            .bind(at.timestamp_millis())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if inserted == 1 {
            return Ok(CommentClaim::New);
        }
        let q = "SELECT state FROM handled_commands WHERE forge = $1 AND repository = $2 AND comment_id = $3";
        let state: Option<String> = on_pool!(&self.db, pool => sqlx::query_scalar(q)
            .bind(forge.as_str())
            .bind(repository)
            .bind(c)
            .fetch_optional(pool)
            .await)?;
        Ok(match state.as_deref() {
            Some("done") => CommentClaim::Done,
            _ => CommentClaim::Resumed,
        })
    }

    /// Records that every command of comment `comment_id` was run.
    pub async fn finish_comment(
        &self,
        forge: ForgeName,
        repository: &str,
        comment_id: u64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let q = "UPDATE handled_commands SET state = 'done', finished_at = $4 \
                 WHERE forge = $1 AND repository = $2 AND comment_id = $3";
        let c = int(comment_id)?;
        on_pool!(&self.db, pool => sqlx::query(q)
            .bind(forge.as_str())
            .bind(repository)
            .bind(c)
            .bind(at.timestamp_millis())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Stores a threat-model reference for one change; returns its row id.
    pub async fn insert_threat_model_ref(
        &self,
        forge: ForgeName,
        repository: &str,
        number: u64,
        r: &ThreatModelRef,
    ) -> Result<i64, StoreError> {
        let q = "INSERT INTO threat_model_refs (forge, repository, number, reference, author, created_at, sha, comment_id, revoked) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        let n = int(number)?;
        let comment = r.comment_id.map(int).transpose()?;
        Ok(on_pool!(&self.db, pool => sqlx::query_scalar(q)
            .bind(forge.as_str())
            .bind(repository)
            .bind(n)
            .bind(&r.reference)
            .bind(r.author.as_str())
            .bind(r.created_at.timestamp_millis())
            .bind(r.sha.as_str())
            .bind(comment)
            .bind(&r.revoked)
            .fetch_one(pool)
            .await)?)
    }

    /// Every threat-model reference (revoked ones included) of one change, oldest first.
    pub async fn threat_model_refs(
        &self,
        forge: ForgeName,
        repository: &str,
        number: u64,
    ) -> Result<Vec<StoredThreatModelRef>, StoreError> {
        let q = "SELECT id, reference, author, created_at, sha, comment_id, revoked FROM threat_model_refs \
                 WHERE forge = $1 AND repository = $2 AND number = $3 ORDER BY id";
        let n = int(number)?;
        let rows: Vec<RefRow> = on_pool!(&self.db, pool => sqlx::query_as(q)
            .bind(forge.as_str())
            .bind(repository)
            .bind(n)
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| StoredThreatModelRef {
                id: r.id,
                reference: ThreatModelRef {
                    reference: r.reference,
                    author: Login::new(r.author),
                    created_at: time_of(r.created_at),
                    sha: Sha::new(r.sha),
                    comment_id: r.comment_id.and_then(|c| u64::try_from(c).ok()),
                    revoked: r.revoked,
                },
            })
            .collect())
    }

    /// Revokes a threat-model reference; `false` when absent or already revoked.
    pub async fn revoke_threat_model_ref(
        &self,
        id: i64,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let q = "UPDATE threat_model_refs SET revoked = $2, revoked_at = $3 WHERE id = $1 AND revoked IS NULL";
        let done = on_pool!(&self.db, pool => sqlx::query(q)
            .bind(id)
            .bind(reason)
            .bind(at.timestamp_millis())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// The unrevoked waivers whose expiry the service must act on at start-up: those that
    /// expire after `now`, and those that expired after `since` while their change has no
    /// evaluation from their expiry on (the service was down when they expired).
    pub async fn waiver_expiries(
        &self,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<Vec<WaiverExpiry>, StoreError> {
        let q = "SELECT w.forge, w.repository, w.number, w.expires_at FROM waivers w \
                 WHERE w.revoked IS NULL AND (w.expires_at > $1 OR (w.expires_at > $2 AND NOT EXISTS ( \
                   SELECT 1 FROM evaluations e WHERE e.forge = w.forge AND e.repository = w.repository \
                   AND e.number = w.number AND e.evaluated_at >= w.expires_at))) \
                 ORDER BY w.expires_at";
        let rows: Vec<ExpiryRow> = on_pool!(&self.read, pool => sqlx::query_as(q)
            .bind(now.timestamp_millis())
            .bind(since.timestamp_millis())
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|r| {
                Ok(WaiverExpiry {
                    forge: ForgeName::parse(&r.forge)
                        .ok_or_else(|| StoreError::Corrupt(format!("forge `{}`", r.forge)))?,
                    repository: r.repository,
                    number: u64::try_from(r.number).unwrap_or_default(),
                    expires_at: time_of(r.expires_at),
                })
            })
            .collect()
    }

    /// The GitHub App installation `repository` was last seen through: the one remembered
    /// ([`Store::remember_installation`]), else `installation.id` of its newest stored delivery
    /// that names one (deliveries stored before installations were remembered).
    pub async fn installation_of(
        &self,
        forge: ForgeName,
        repository: &str,
    ) -> Result<Option<u64>, StoreError> {
        if let Some(id) = self.remembered_installation(forge, repository).await? {
            return Ok(Some(id));
        }
        let q = "SELECT d.id FROM deliveries d \
                 JOIN job_events e ON e.delivery_pk = d.id JOIN jobs j ON j.id = e.job_id \
                 WHERE j.forge = $1 AND j.repository = $2 ORDER BY d.id DESC LIMIT 20";
        let deliveries: Vec<i64> = on_pool!(&self.read, pool => sqlx::query_scalar(q)
            .bind(forge.as_str())
            .bind(repository)
            .fetch_all(pool)
            .await)?;
        // One payload at a time (each is read and unpacked by the store's own reader): this
        // is the fallback for repositories last seen before installations were remembered.
        for delivery in deliveries {
            let Some(payload) = self.delivery_payload(delivery).await? else {
                continue;
            };
            let installation = serde_json::from_str::<serde_json::Value>(&payload)
                .ok()
                .and_then(|v| v.pointer("/installation/id").and_then(|i| i.as_u64()));
            if installation.is_some() {
                return Ok(installation);
            }
        }
        Ok(None)
    }
}
