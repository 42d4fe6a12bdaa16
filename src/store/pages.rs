//! What the service's pages read: a change's evaluation history, a repository's changes as
//! they stand now, its verdicts per day and the waivers about to expire. Each query reads one
//! repository through the `(forge, repository, …)` indexes and returns only the columns a page
//! shows, so a page over ten thousand evaluations does not parse ten thousand results.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::records::{enum_from_str, number};
use super::{Store, StoreError, on_pool, time_of};
use crate::forge_name::ForgeName;
use crate::gates::{GateKind, OverallVerdict, Verdict};
use crate::snapshot::{Login, Sha};
use crate::waivers::Waiver;

/// One evaluation, without its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationSummary {
    /// Row id (increasing with time).
    pub id: i64,
    /// PR / MR number.
    pub number: u64,
    /// The head commit evaluated.
    pub head_sha: String,
    /// The overall verdict.
    pub verdict: OverallVerdict,
    /// When.
    pub evaluated_at: DateTime<Utc>,
}

/// A change whose latest evaluation does not pass, with the gates that hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedChange {
    /// The latest evaluation.
    pub latest: EvaluationSummary,
    /// The gates that fail or are pending in it, with their verdicts.
    pub gates: Vec<(GateKind, Verdict)>,
}

/// Evaluations of one day and verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCount {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// The verdict counted.
    pub verdict: OverallVerdict,
    /// How many evaluations.
    pub count: u64,
}

/// A waiver with the change it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeWaiver {
    /// PR / MR number.
    pub number: u64,
    /// The waiver.
    pub waiver: Waiver,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: i64,
    number: i64,
    head_sha: String,
    verdict: String,
    evaluated_at: i64,
}

impl SummaryRow {
    fn summary(self) -> Result<EvaluationSummary, StoreError> {
        Ok(EvaluationSummary {
            id: self.id,
            number: u64::try_from(self.number)
                .map_err(|_| StoreError::Corrupt(format!("evaluation {}: number", self.id)))?,
            head_sha: self.head_sha,
            verdict: enum_from_str("verdict", &self.verdict)?,
            evaluated_at: time_of(self.evaluated_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct ExpiringRow {
    number: i64,
    gate: String,
    reason: String,
    author: String,
    created_at: i64,
    expires_at: i64,
    sha: String,
    comment_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct LatestRow {
    id: i64,
    number: i64,
    head_sha: String,
    verdict: String,
    evaluated_at: i64,
    result: String,
}

/// The part of a stored result the dashboard needs: each gate and its verdict.
#[derive(Deserialize)]
struct GatesOnly {
    gates: Vec<GateOnly>,
}

#[derive(Deserialize)]
struct GateOnly {
    gate: GateKind,
    verdict: Verdict,
}

const MS_PER_DAY: i64 = 86_400_000;

impl Store {
    /// The evaluations of one change, newest first, at most `limit`, without their results.
    pub async fn evaluation_history(
        &self,
        forge: ForgeName,
        repository: &str,
        number_: u64,
        limit: i64,
    ) -> Result<Vec<EvaluationSummary>, StoreError> {
        let n = number(number_)?;
        let rows: Vec<SummaryRow> = on_pool!(&self.read, pool => sqlx::query_as(
            "SELECT id, number, head_sha, verdict, evaluated_at FROM evaluations \
             WHERE forge = $1 AND repository = $2 AND number = $3 ORDER BY id DESC LIMIT $4")
            .bind(forge.as_str())
            .bind(repository)
            .bind(n)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(SummaryRow::summary).collect()
    }

    /// The changes of a repository whose latest evaluation fails or is pending and that the
    /// ledger has not recorded as merged, newest first, at most `limit`. The latest evaluation
    /// of each change comes from one grouped pass over the `(forge, repository, number, id)`
    /// index, not a lookup per evaluation. The gates holding
    /// each come from its stored result; a result that cannot be read is an error, not a
    /// change left out.
    pub async fn blocked_changes(
        &self,
        forge: ForgeName,
        repository: &str,
        limit: i64,
    ) -> Result<Vec<BlockedChange>, StoreError> {
        let rows: Vec<LatestRow> = on_pool!(&self.read, pool => sqlx::query_as(
            "SELECT e.id, e.number, e.head_sha, e.verdict, e.evaluated_at, e.result FROM evaluations e \
             JOIN (SELECT MAX(id) AS id FROM evaluations WHERE forge = $1 AND repository = $2 \
                   GROUP BY number) latest ON e.id = latest.id \
             WHERE e.verdict <> 'pass' \
             AND NOT EXISTS (SELECT 1 FROM ledger_entries m WHERE m.forge = e.forge \
                             AND m.repository = e.repository AND m.number = e.number AND m.kind = 'merge') \
             ORDER BY e.id DESC LIMIT $3")
            .bind(forge.as_str())
            .bind(repository)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|r| {
                let parsed: GatesOnly = serde_json::from_str(&r.result).map_err(|e| {
                    StoreError::Corrupt(format!("evaluation {}: result: {e}", r.id))
                })?;
                let gates = parsed
                    .gates
                    .into_iter()
                    .filter(|g| matches!(g.verdict, Verdict::Fail | Verdict::Pending))
                    .map(|g| (g.gate, g.verdict))
                    .collect();
                let latest = SummaryRow {
                    id: r.id,
                    number: r.number,
                    head_sha: r.head_sha,
                    verdict: r.verdict,
                    evaluated_at: r.evaluated_at,
                }
                .summary()?;
                Ok(BlockedChange { latest, gates })
            })
            .collect()
    }

    /// Evaluations of a repository per UTC day and verdict, from `since` on, oldest first.
    pub async fn verdicts_by_day(
        &self,
        forge: ForgeName,
        repository: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<DayCount>, StoreError> {
        let rows: Vec<(i64, String, i64)> = on_pool!(&self.read, pool => sqlx::query_as(
            "SELECT evaluated_at / $3 AS day, verdict, COUNT(*) FROM evaluations \
             WHERE forge = $1 AND repository = $2 AND evaluated_at >= $4 \
             GROUP BY evaluated_at / $3, verdict ORDER BY 1, 2")
            .bind(forge.as_str())
            .bind(repository)
            .bind(MS_PER_DAY)
            .bind(since.timestamp_millis())
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|(day, verdict, count)| {
                Ok(DayCount {
                    day,
                    verdict: enum_from_str("verdict", &verdict)?,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
    }

    /// Waivers of a repository still in force (not revoked) whose expiry falls in
    /// `[from, until)`, soonest first.
    pub async fn waivers_expiring(
        &self,
        forge: ForgeName,
        repository: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<ChangeWaiver>, StoreError> {
        let rows: Vec<ExpiringRow> = on_pool!(&self.read, pool => sqlx::query_as(
            "SELECT number, gate, reason, author, created_at, expires_at, sha, comment_id FROM waivers \
             WHERE forge = $1 AND repository = $2 AND revoked IS NULL \
             AND expires_at >= $3 AND expires_at < $4 ORDER BY expires_at, id")
            .bind(forge.as_str())
            .bind(repository)
            .bind(from.timestamp_millis())
            .bind(until.timestamp_millis())
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|r| {
                Ok(ChangeWaiver {
                    number: u64::try_from(r.number)
                        .map_err(|_| StoreError::Corrupt(format!("waiver number {}", r.number)))?,
                    waiver: Waiver {
                        gate: enum_from_str("gate", &r.gate)?,
                        reason: r.reason,
                        author: Login::new(r.author),
                        created_at: time_of(r.created_at),
                        expires_at: time_of(r.expires_at),
                        sha: Sha::new(r.sha),
                        comment_id: r.comment_id.and_then(|c| u64::try_from(c).ok()),
                        revoked: None,
                    },
                })
            })
            .collect()
    }

    /// Whether sdl-gate has recorded anything for the repository (an evaluation or a ledger
    /// entry): the pages answer 404 for one it has not.
    pub async fn repository_known(
        &self,
        forge: ForgeName,
        repository: &str,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = on_pool!(&self.read, pool => sqlx::query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM evaluations WHERE forge = $1 AND repository = $2 \
             UNION ALL SELECT CAST(1 AS BIGINT) FROM ledger_entries WHERE forge = $1 AND repository = $2 LIMIT 1")
            .bind(forge.as_str())
            .bind(repository)
            .fetch_optional(pool)
            .await)?;
        Ok(found.is_some())
    }
}

/// The UTC day a time falls on, as [`DayCount::day`] counts it.
pub fn day_of(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis().div_euclid(MS_PER_DAY)
}

/// The part of a merge entry that names its evaluation.
#[derive(Deserialize)]
struct MergeRef {
    entry: MergeSeq,
}

#[derive(Deserialize)]
struct MergeSeq {
    evaluation_seq: Option<u64>,
}

/// Sequence numbers bound in one `IN (…)` list.
const SEQ_CHUNK: usize = 500;

impl Store {
    /// A repository's ledger entries other than evaluations, plus the evaluations its merges
    /// name, in order: what the merge-based views (coverage, the report's merges) read,
    /// without the evaluation entries of every push.
    pub async fn ledger_entries_for_merges(
        &self,
        forge: ForgeName,
        repository: &str,
    ) -> Result<Vec<crate::ledger::verify::StoredEntry>, StoreError> {
        let rows: Vec<(i64, String, String, String)> = on_pool!(&self.read, pool => sqlx::query_as(
            "SELECT seq, hash, body, kind FROM ledger_entries \
             WHERE forge = $1 AND repository = $2 AND kind <> 'evaluation' ORDER BY seq")
            .bind(forge.as_str())
            .bind(repository)
            .fetch_all(pool)
            .await)?;
        let mut wanted = Vec::new();
        let mut out = Vec::with_capacity(rows.len() * 2);
        for (seq, hash, body, kind) in rows {
            if kind == "merge" {
                let merge: MergeRef = serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("ledger entry {seq}: {e}")))?;
                wanted.extend(
                    merge
                        .entry
                        .evaluation_seq
                        .and_then(|s| i64::try_from(s).ok()),
                );
            }
            out.push(crate::ledger::verify::StoredEntry {
                seq: u64::try_from(seq).unwrap_or(0),
                hash,
                body,
            });
        }
        wanted.sort_unstable();
        wanted.dedup();
        for chunk in wanted.chunks(SEQ_CHUNK) {
            let list = (0..chunk.len())
                .map(|i| format!("${}", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT seq, hash, body FROM ledger_entries WHERE forge = $1 AND repository = $2 \
                 AND kind = 'evaluation' AND seq IN ({list})"
            );
            // The list holds only generated placeholders (`$3, $4…`), never a value.
            let found: Vec<(i64, String, String)> = on_pool!(&self.read, pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(forge.as_str())
                    .bind(repository);
                for seq in chunk {
                    q = q.bind(*seq);
                }
                q.fetch_all(pool).await
            })?;
            out.extend(found.into_iter().map(|(seq, hash, body)| {
                crate::ledger::verify::StoredEntry {
                    seq: u64::try_from(seq).unwrap_or(0),
                    hash,
                    body,
                }
            }));
        }
        out.sort_by_key(|e| e.seq);
        Ok(out)
    }
}
