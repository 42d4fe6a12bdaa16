//! Reads what a page shows from the store and hands it to the pure renderers in
//! [`crate::render::html`]: the change page from the change's evaluations, waivers and ledger
//! entries, the dashboard from the repository's latest evaluations, waivers, merges and
//! releases. `Ok(None)` means sdl-gate holds nothing for that change or repository, which the
//! pages answer exactly as they answer a repository the viewer may not read.

use chrono::{DateTime, Duration, Utc};

use crate::audit::build::{RangeSpec, ReportInput, Verification, build_report};
use crate::audit::model::CoverageStatus;
use crate::forge_name::ForgeName;
use crate::gates::{Evaluation, OverallVerdict};
use crate::ledger::entry::{Entry, MergeEntry, Sealed};
use crate::render::html::chart::{CoverageBar, DayVerdicts};
use crate::render::html::short;
use crate::render::html::{
    BlockedItem, BypassItem, ChangeInput, Chrome, DashboardInput, ExpiringItem, HistoryItem,
    LedgerItem, MergeItem, ReleaseItem, change_page, dashboard_page,
};
use crate::store::{Store, StoreError, day_of};

/// Evaluations listed in a change's history.
pub const HISTORY_LIMIT: i64 = 100;

/// Blocked changes listed on the dashboard.
pub const BLOCKED_LIMIT: i64 = 200;

/// Days the verdict chart spans.
pub const CHART_DAYS: i64 = 30;

/// Why a page could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored evaluation or ledger entry cannot be read.
    #[error("stored {what} cannot be read: {cause}")]
    Unreadable {
        /// What (`evaluation 12`, `ledger entry 40`).
        what: String,
        /// The parser's message.
        cause: String,
    },
    /// A template failed.
    #[error(transparent)]
    Html(#[from] crate::render::html::HtmlError),
}

fn sealed(seq: u64, body: &str) -> Result<Sealed, ViewError> {
    serde_json::from_str(body).map_err(|e| ViewError::Unreadable {
        what: format!("ledger entry {seq}"),
        cause: e.to_string(),
    })
}

/// The change page, or `None` when sdl-gate has nothing for the change.
pub async fn change(
    store: &Store,
    chrome: &Chrome,
    forge: ForgeName,
    repository: &str,
    number: u64,
    now: DateTime<Utc>,
) -> Result<Option<String>, ViewError> {
    let latest = store.evaluations(forge, repository, number, 1).await?;
    let entries = store
        .ledger_entries_of(Some(forge), repository, Some(number))
        .await?;
    if latest.is_empty() && entries.is_empty() {
        return Ok(None);
    }
    let current: Option<Evaluation> = latest
        .into_iter()
        .next()
        .map(|e| {
            serde_json::from_value(e.result).map_err(|err| ViewError::Unreadable {
                what: format!("evaluation {}", e.id),
                cause: err.to_string(),
            })
        })
        .transpose()?;
    let history = store
        .evaluation_history(forge, repository, number, HISTORY_LIMIT)
        .await?
        .into_iter()
        .map(|h| HistoryItem {
            at: h.evaluated_at,
            head_sha: h.head_sha,
            verdict: h.verdict,
        })
        .collect();
    let waivers: Vec<_> = store
        .waivers(forge, repository, number)
        .await?
        .into_iter()
        .map(|w| w.waiver)
        .collect();
    let mut ledger = Vec::with_capacity(entries.len());
    let mut merge = None;
    for stored in &entries {
        let s = sealed(stored.seq, &stored.body)?;
        if let Entry::Merge(m) = &s.entry {
            merge = Some(MergeItem {
                at: m.merged_at,
                by: m.merged_by.clone(),
                verdict: m.verdict,
                bypassed: m.bypassed,
            });
        }
        ledger.push(LedgerItem {
            seq: stored.seq,
            at: s.at,
            kind: s.entry.kind().to_owned(),
            summary: summary(&s.entry),
            hash: stored.hash.clone(),
        });
    }
    let input = ChangeInput {
        forge,
        repository,
        number,
        current: current.as_ref(),
        history,
        waivers: &waivers,
        ledger,
        merge,
        now,
    };
    Ok(Some(change_page(chrome, &input)?))
}

/// One line on what a ledger entry records (plain text; the template escapes it).
pub fn summary(entry: &Entry) -> String {
    match entry {
        Entry::Evaluation(e) => format!(
            "verdict {} on {}, policy {} (sha256 {})",
            e.verdict.as_str(),
            short(&e.head_sha),
            e.policy.path,
            short(&e.policy.sha256)
        ),
        Entry::WaiverGranted(w) => format!(
            "{} waived by {} until {}: {}",
            w.waiver.gate.as_str(),
            w.waiver.by,
            crate::render::html::time(w.waiver.until),
            w.waiver.reason
        ),
        Entry::WaiverExpired(w) => format!(
            "{} waiver by {} expired {}",
            w.waiver.gate.as_str(),
            w.waiver.by,
            crate::render::html::time(w.waiver.until)
        ),
        Entry::WaiverRevoked(w) => format!(
            "{} waiver by {} revoked ({}){}",
            w.waiver.gate.as_str(),
            w.waiver.by,
            serde_json::to_value(w.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            w.by.as_ref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default()
        ),
        Entry::ThreatModelRecorded(t) => {
            format!("{} recorded by {} on {}", t.reference, t.by, short(&t.sha))
        }
        Entry::Merge(m) => merge_summary(m),
        Entry::Release(r) => format!("release {} with {} merge(s)", r.tag, r.merges.len()),
        Entry::PolicyChanged(p) => {
            format!("policy changed on {} at {}", p.branch, short(&p.commit))
        }
    }
}

fn merge_summary(m: &MergeEntry) -> String {
    format!(
        "merged{}{} with verdict {}{}",
        m.merge_commit
            .as_deref()
            .map(|c| format!(" as {}", short(c)))
            .unwrap_or_default(),
        m.merged_by
            .as_deref()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default(),
        m.verdict.map_or("never evaluated", OverallVerdict::as_str),
        if m.bypassed { " — BYPASSED" } else { "" }
    )
}

/// What the dashboard's coverage chart is built from: the requirement bars and those no
/// pull-request gate evidences. Supplied by the auditor report's coverage over the
/// repository's merges.
pub type Coverage = (Vec<CoverageBar>, Vec<String>);

/// The requirement coverage over every merge of the repository, for the dashboard: the
/// report's own rules, fed only the entries they read (merges, the evaluations they name,
/// waivers), so a repository with ten thousand evaluations does not parse them all.
pub fn coverage(
    forge: ForgeName,
    repository: &str,
    entries: &[Sealed],
    now: DateTime<Utc>,
) -> Result<Coverage, ViewError> {
    let range = RangeSpec::Between {
        since: None,
        until: None,
    };
    let input = ReportInput {
        forge,
        repository,
        entries,
        range: &range,
        catalog: crate::practices::catalog(),
        verification: Verification {
            verified: false,
            text: "not verified for the dashboard".into(),
            checkpoint: None,
            entries_checked: 0,
        },
        now,
    };
    let report = build_report(&input).map_err(|e| ViewError::Unreadable {
        what: "the repository's merges".into(),
        cause: e.to_string(),
    })?;
    let mut bars = Vec::new();
    let mut process = Vec::new();
    for c in report.coverage {
        if c.status == CoverageStatus::ProcessEvidenceNeeded {
            process.push(c.id);
        } else {
            bars.push(CoverageBar {
                id: c.id,
                covered: c.evidenced,
                applicable: c.applicable,
            });
        }
    }
    Ok((bars, process))
}

/// What the merge-based views read (merges, waivers, releases, and the evaluations the merges
/// name), parsed, in ledger order.
pub async fn merge_entries(
    store: &Store,
    forge: ForgeName,
    repository: &str,
) -> Result<Vec<Sealed>, ViewError> {
    store
        .ledger_entries_for_merges(forge, repository)
        .await?
        .iter()
        .map(|s| sealed(s.seq, &s.body))
        .collect()
}

/// The dashboard, or `None` when sdl-gate has nothing for the repository.
pub async fn dashboard(
    store: &Store,
    chrome: &Chrome,
    forge: ForgeName,
    repository: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, ViewError> {
    if !store.repository_known(forge, repository).await? {
        return Ok(None);
    }
    let blocked = store
        .blocked_changes(forge, repository, BLOCKED_LIMIT)
        .await?
        .into_iter()
        .map(|b| BlockedItem {
            number: b.latest.number,
            verdict: b.latest.verdict,
            gates: b.gates,
            head_sha: b.latest.head_sha,
            at: b.latest.evaluated_at,
        })
        .collect();
    let expiring = store
        .waivers_expiring(forge, repository, now, now + Duration::days(7))
        .await?
        .into_iter()
        .map(|w| ExpiringItem {
            number: w.number,
            gate: w.waiver.gate,
            by: w.waiver.author.as_str().to_owned(),
            reason: w.waiver.reason,
            until: w.waiver.expires_at,
        })
        .collect();
    let entries = merge_entries(store, forge, repository).await?;
    let (coverage, process_only) = coverage(forge, repository, &entries, now)?;
    let mut bypassed = Vec::new();
    let mut releases = Vec::new();
    for s in entries {
        match s.entry {
            Entry::Merge(m) if m.bypassed => bypassed.push(BypassItem {
                number: m.subject.number,
                title: m.title,
                at: m.merged_at,
                by: m.merged_by,
                verdict: m.verdict,
            }),
            Entry::Release(r) => releases.push(ReleaseItem {
                bypassed: r.merges.iter().filter(|m| m.bypassed).count(),
                merges: r.merges.len(),
                tag: r.tag,
                at: r.released_at,
            }),
            _ => {}
        }
    }
    bypassed.reverse();
    releases.reverse();
    let first = now - Duration::days(CHART_DAYS - 1);
    let first_day = day_of(first);
    let mut days: Vec<(String, DayVerdicts)> = (0..CHART_DAYS)
        .map(|i| {
            let date = first + Duration::days(i);
            (date.format("%m-%d").to_string(), DayVerdicts::default())
        })
        .collect();
    let since = DateTime::from_timestamp_millis(first_day * 86_400_000).unwrap_or(first);
    for count in store.verdicts_by_day(forge, repository, since).await? {
        let Some((_, slot)) = usize::try_from(count.day - first_day)
            .ok()
            .and_then(|i| days.get_mut(i))
        else {
            continue;
        };
        match count.verdict {
            OverallVerdict::Pass => slot.pass += count.count,
            OverallVerdict::Pending => slot.pending += count.count,
            OverallVerdict::Fail => slot.fail += count.count,
        }
    }
    let input = DashboardInput {
        forge,
        repository,
        now,
        blocked,
        expiring,
        bypassed,
        days,
        coverage,
        process_only,
        releases,
    };
    Ok(Some(dashboard_page(chrome, &input)?))
}
