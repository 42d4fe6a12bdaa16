//! Evaluation results and waivers: what `/sdl status` reads and the evidence ledger builds on.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::forge_name::ForgeName;
use crate::gates::{GateKind, OverallVerdict};
use crate::snapshot::{Login, Sha};
use crate::waivers::Waiver;

use super::{Store, StoreError, on_pool, time_of};

/// One stored evaluation of one change request.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvaluation {
    /// Row id (increasing with time).
    pub id: i64,
    /// The forge.
    pub forge: ForgeName,
    /// The repository path.
    pub repository: String,
    /// PR / MR number.
    pub number: u64,
    /// The head commit evaluated.
    pub head_sha: Sha,
    /// The overall verdict.
    pub verdict: OverallVerdict,
    /// When it was evaluated.
    pub evaluated_at: DateTime<Utc>,
    /// The full result as JSON.
    pub result: Value,
}

/// An evaluation result to store.
#[derive(Debug, Clone, Copy)]
pub struct NewEvaluation<'a> {
    /// The forge.
    pub forge: ForgeName,
    /// The repository path.
    pub repository: &'a str,
    /// PR / MR number.
    pub number: u64,
    /// The head commit evaluated.
    pub head_sha: &'a Sha,
    /// The overall verdict.
    pub verdict: OverallVerdict,
    /// When it was evaluated.
    pub evaluated_at: DateTime<Utc>,
    /// The full result as JSON.
    pub result: &'a Value,
}

/// A waiver as stored, with its row id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWaiver {
    /// Row id.
    pub id: i64,
    /// The waiver.
    pub waiver: Waiver,
}

#[derive(sqlx::FromRow)]
struct EvaluationRow {
    id: i64,
    forge: String,
    repository: String,
    number: i64,
    head_sha: String,
    verdict: String,
    evaluated_at: i64,
    result: String,
}

#[derive(sqlx::FromRow)]
struct WaiverRow {
    id: i64,
    gate: String,
    reason: String,
    author: String,
    created_at: i64,
    expires_at: i64,
    sha: String,
    comment_id: Option<i64>,
    revoked: Option<String>,
}

pub(super) fn enum_from_str<T: serde::de::DeserializeOwned>(
    what: &str,
    s: &str,
) -> Result<T, StoreError> {
    serde_json::from_value(Value::String(s.to_owned()))
        .map_err(|_| StoreError::Corrupt(format!("unknown {what} `{s}`")))
}

fn enum_to_str<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

pub(super) fn number(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt(format!("number {n} out of range")))
}

impl Store {
    /// Stores one evaluation result; returns its row id.
    pub async fn insert_evaluation(&self, e: &NewEvaluation<'_>) -> Result<i64, StoreError> {
        let q = "INSERT INTO evaluations (forge, repository, number, head_sha, verdict, evaluated_at, result) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
        let n = number(e.number)?;
        Ok(on_pool!(&self.db, pool => sqlx::query_scalar(q)
            .bind(e.forge.as_str())
            .bind(e.repository)
            .bind(n)
            .bind(e.head_sha.as_str())
            .bind(e.verdict.as_str())
            .bind(e.evaluated_at.timestamp_millis())
            .bind(e.result.to_string())
            .fetch_one(pool)
            .await)?)
    }

    /// The evaluations of one change request, newest first, at most `limit`.
    pub async fn evaluations(
        &self,
        forge: ForgeName,
        repository: &str,
        number_: u64,
        limit: i64,
    ) -> Result<Vec<StoredEvaluation>, StoreError> {
        let q = "SELECT id, forge, repository, number, head_sha, verdict, evaluated_at, result FROM evaluations \
                 WHERE forge = $1 AND repository = $2 AND number = $3 ORDER BY id DESC LIMIT $4";
        let n = number(number_)?;
        let rows: Vec<EvaluationRow> = on_pool!(&self.read, pool => sqlx::query_as(q)
            .bind(forge.as_str())
            .bind(repository)
            .bind(n)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|r| {
                Ok(StoredEvaluation {
                    id: r.id,
                    forge: ForgeName::parse(&r.forge)
                        .ok_or_else(|| StoreError::Corrupt(format!("forge `{}`", r.forge)))?,
                    repository: r.repository,
                    number: u64::try_from(r.number).unwrap_or_default(),
                    head_sha: Sha::new(r.head_sha),
                    verdict: enum_from_str("verdict", &r.verdict)?,
                    evaluated_at: time_of(r.evaluated_at),
                    result: serde_json::from_str(&r.result)
                        .map_err(|e| StoreError::Corrupt(format!("evaluation {}: {e}", r.id)))?,
                })
            })
            .collect()
    }

    /// Stores a waiver for one change request; returns its row id.
    pub async fn insert_waiver(
        &self,
        forge: ForgeName,
        repository: &str,
        number_: u64,
        waiver: &Waiver,
    ) -> Result<i64, StoreError> {
        let q = "INSERT INTO waivers (forge, repository, number, gate, reason, author, created_at, expires_at, sha, comment_id, revoked) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";
        let n = number(number_)?;
        let comment = waiver.comment_id.map(number).transpose()?;
        Ok(on_pool!(&self.db, pool => sqlx::query_scalar(q)
            .bind(forge.as_str())
            .bind(repository)
            .bind(n)
            .bind(enum_to_str(&waiver.gate))
            .bind(&waiver.reason)
            .bind(waiver.author.as_str())
            .bind(waiver.created_at.timestamp_millis())
            .bind(waiver.expires_at.timestamp_millis())
            .bind(waiver.sha.as_str())
            .bind(comment)
            .bind(&waiver.revoked)
            .fetch_one(pool)
            .await)?)
    }

    /// Every waiver (revoked ones included) of one change request, oldest first.
    pub async fn waivers(
        &self,
        forge: ForgeName,
        repository: &str,
        number_: u64,
    ) -> Result<Vec<StoredWaiver>, StoreError> {
        let q = "SELECT id, gate, reason, author, created_at, expires_at, sha, comment_id, revoked FROM waivers \
                 WHERE forge = $1 AND repository = $2 AND number = $3 ORDER BY id";
        let n = number(number_)?;
        let rows: Vec<WaiverRow> = on_pool!(&self.read, pool => sqlx::query_as(q)
            .bind(forge.as_str())
            .bind(repository)
            .bind(n)
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|r| {
                Ok(StoredWaiver {
                    id: r.id,
                    waiver: Waiver {
                        gate: enum_from_str::<GateKind>("gate", &r.gate)?,
                        reason: r.reason,
                        author: Login::new(r.author),
                        created_at: time_of(r.created_at),
                        expires_at: time_of(r.expires_at),
                        sha: Sha::new(r.sha),
                        comment_id: r.comment_id.and_then(|c| u64::try_from(c).ok()),
                        revoked: r.revoked,
                    },
                })
            })
            .collect()
    }

    /// Revokes a waiver with a reason; `false` when it does not exist or is already revoked.
    pub async fn revoke_waiver(
        &self,
        id: i64,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let q =
            "UPDATE waivers SET revoked = $2, revoked_at = $3 WHERE id = $1 AND revoked IS NULL";
        let done = on_pool!(&self.db, pool => sqlx::query(q)
            .bind(id)
            .bind(reason)
            .bind(at.timestamp_millis())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }
}
