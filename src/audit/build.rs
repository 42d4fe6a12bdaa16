//! Building the report from one repository's ledger entries: choosing the merges of the range
//! (a release's list, or the merges between two dates or tags), reading each merge's gate
//! verdicts from the evaluation it names, collecting its waivers, ignores and bypass, and
//! counting coverage and findings. Pure: the entries, the catalog and the outcome of the
//! ledger's verification are given.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::coverage::{cra_support, requirement_coverage};
use super::model::{
    AuditReport, Bypass, ChangeVerdict, CheckpointRef, CoverageStatus, ExceptedFindings,
    ExceptionKind, Exceptions, FindingsSummary, GateAtMerge, GateFindings, GateVerdict,
    IgnoreRecord, LedgerState, MergedChange, ReportScope, SCHEMA_ID, Summary,
};
pub use super::range::RangeSpec;
use super::range::{merge_time, select};
use super::waivers::waivers;
use crate::forge_name::ForgeName;
use crate::gate_kind::GateKind;
use crate::ledger::entry::{EvaluationEntry, MergeEntry};
use crate::ledger::{Entry, Sealed};
use crate::practices::Catalog;

/// The sdl-gate version that builds reports.
pub const SDL_GATE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `ledger verify` said, as the report states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Whether it passed.
    pub verified: bool,
    /// Its summary, or the first fault.
    pub text: String,
    /// The newest signed checkpoint.
    pub checkpoint: Option<CheckpointRef>,
    /// Entries checked.
    pub entries_checked: u64,
}

/// Everything a report is built from.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// Which forge.
    pub forge: ForgeName,
    /// The repository or project path.
    pub repository: &'a str,
    /// Every entry of that repository, in sequence order.
    pub entries: &'a [Sealed],
    /// Which merges.
    pub range: &'a RangeSpec,
    /// The practice catalog.
    pub catalog: &'a Catalog,
    /// The ledger's verification.
    pub verification: Verification,
    /// The report's clock (waivers past their expiry by then are expired).
    pub now: DateTime<Utc>,
}

/// Why a report cannot be built; each names the value at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// `--release TAG` names no release entry.
    #[error("no release entry for tag {tag} in {forge} {repository}")]
    NoRelease {
        /// The tag asked for.
        tag: String,
        /// The forge.
        forge: ForgeName,
        /// The repository.
        repository: String,
    },
    /// A `--since`/`--until` value is neither a date, a time nor a recorded release tag.
    #[error(
        "{flag} {given}: not a day (2026-12-01), an RFC 3339 time (2026-12-01T12:00:00Z) or a release tag recorded for {forge} {repository}"
    )]
    BadBound {
        /// `--since` or `--until`.
        flag: &'static str,
        /// The value.
        given: String,
        /// The forge.
        forge: ForgeName,
        /// The repository.
        repository: String,
    },
    /// A release lists a merge entry that is not an entry of the repository.
    #[error(
        "release {tag} lists merge entry {seq}, which is not a merge of {repository} in the ledger"
    )]
    MissingMerge {
        /// The release's tag.
        tag: String,
        /// The sequence number listed.
        seq: u64,
        /// The repository.
        repository: String,
    },
}

fn gates_at_merge(e: &EvaluationEntry) -> Vec<GateAtMerge> {
    e.gates
        .iter()
        .map(|g| GateAtMerge {
            gate: g.gate,
            verdict: g.verdict.into(),
            requirements: g.requirements.clone(),
            cra: g.cra.clone(),
            findings: g.findings.by_severity.clone(),
            ignored: g.findings.ignored.len() as u64,
        })
        .collect()
}

fn bypass_why(m: &MergeEntry) -> String {
    match m.verdict {
        Some(v) => format!(
            "merged while the verdict of its head was {}",
            ChangeVerdict::from(v).as_str()
        ),
        None => "merged without any evaluation of its head".to_owned(),
    }
}

/// Builds the report of `input`.
pub fn build_report(input: &ReportInput<'_>) -> Result<AuditReport, BuildError> {
    let (chosen, range) = select(input)?;
    let evaluations_by_seq: HashMap<u64, &EvaluationEntry> = input
        .entries
        .iter()
        .filter_map(|s| match &s.entry {
            Entry::Evaluation(e) => Some((s.seq, e.as_ref())),
            _ => None,
        })
        .collect();
    let merged: BTreeSet<u64> = chosen.iter().map(|(_, m)| m.subject.number).collect();
    // The evaluation each merge names, by change number.
    let merged_with: HashMap<u64, &EvaluationEntry> = chosen
        .iter()
        .filter_map(|(_, m)| {
            let seq = m.evaluation_seq?;
            evaluations_by_seq
                .get(&seq)
                .filter(|e| e.subject.number == m.subject.number)
                .map(|e| (m.subject.number, *e))
        })
        .collect();
    let waivers = waivers(input.entries, &merged, &merged_with, input.now);

    let mut merges = Vec::with_capacity(chosen.len());
    let mut ignores = Vec::new();
    let mut bypasses = Vec::new();
    let mut excepted = Vec::new();
    let mut by_gate: BTreeMap<GateKind, GateFindings> = BTreeMap::new();
    let mut by_severity: BTreeMap<String, u64> = BTreeMap::new();
    let mut evaluated_by = BTreeSet::new();
    let mut editions = BTreeSet::new();
    for (sealed, m) in &chosen {
        let number = m.subject.number;
        let evaluation = merged_with.get(&number).copied();
        let mut lines = Vec::new();
        let merged_at = merge_time(sealed, m);
        if m.bypassed {
            let why = bypass_why(m);
            lines.push(format!("BYPASSED: {why}"));
            bypasses.push(Bypass {
                number,
                merged_by: m.merged_by.clone(),
                merged_at,
                why,
                merge_seq: sealed.seq,
            });
        }
        if let (Some(seq), None) = (m.evaluation_seq, evaluation) {
            lines.push(format!(
                "the evaluation entry {seq} it names is not an evaluation of this change"
            ));
        }
        for w in waivers.iter().filter(|w| w.number == number) {
            lines.push(format!(
                "waiver of {} by {} until {} ({}): {}",
                w.gate,
                w.by,
                w.until.format("%Y-%m-%d %H:%M UTC"),
                w.status.as_str().replace('_', " "),
                w.reason
            ));
        }
        let gates = evaluation.map(gates_at_merge).unwrap_or_default();
        if let (Some(e), Some(eval_seq)) = (evaluation, m.evaluation_seq) {
            evaluated_by.insert(e.sdl_gate.clone());
            editions.insert(e.standard.clone());
            for g in &e.gates {
                let counts = by_gate.entry(g.gate).or_insert_with(|| GateFindings {
                    gate: g.gate,
                    by_severity: BTreeMap::new(),
                    not_blocking: 0,
                    ignored: 0,
                });
                for (sev, n) in &g.findings.by_severity {
                    *counts.by_severity.entry(sev.clone()).or_default() += n;
                    *by_severity.entry(sev.clone()).or_default() += n;
                }
                counts.not_blocking += g.findings.not_blocking;
                counts.ignored += g.findings.ignored.len() as u64;
                for i in &g.findings.ignored {
                    lines.push(format!("ignore of {}: {}", i.fingerprint, i.note));
                    ignores.push(IgnoreRecord {
                        number,
                        gate: g.gate,
                        fingerprint: i.fingerprint.clone(),
                        note: i.note.clone(),
                        expired: i.expired,
                        evaluation_seq: eval_seq,
                    });
                    excepted.push(ExceptedFindings {
                        number,
                        gate: g.gate,
                        under: ExceptionKind::Ignore,
                        fingerprints: vec![i.fingerprint.clone()],
                        by_severity: BTreeMap::new(),
                        note: i.note.clone(),
                    });
                }
                let ignored: BTreeSet<&str> = g
                    .findings
                    .ignored
                    .iter()
                    .map(|i| i.fingerprint.as_str())
                    .collect();
                let listed: Vec<String> = g
                    .findings
                    .fingerprints
                    .iter()
                    .filter(|f| !ignored.contains(f.as_str()))
                    .cloned()
                    .collect();
                let verdict = GateVerdict::from(g.verdict);
                let under = match verdict {
                    GateVerdict::Waived => Some(ExceptionKind::Waiver),
                    GateVerdict::Fail | GateVerdict::Pending if m.bypassed => {
                        Some(ExceptionKind::Bypass)
                    }
                    _ => None,
                };
                if let (Some(under), false) = (under, listed.is_empty()) {
                    let note = match under {
                        ExceptionKind::Waiver => waivers
                            .iter()
                            .filter(|w| w.number == number && w.gate == g.gate)
                            .map(|w| format!("{}: {}", w.by, w.reason))
                            .collect::<Vec<_>>()
                            .join("; "),
                        _ => bypass_why(m),
                    };
                    excepted.push(ExceptedFindings {
                        number,
                        gate: g.gate,
                        under,
                        fingerprints: listed,
                        by_severity: g.findings.by_severity.clone(),
                        note,
                    });
                }
            }
        }
        merges.push(MergedChange {
            number,
            title: m.title.clone(),
            merged_at,
            merged_by: m.merged_by.clone(),
            merge_commit: m.merge_commit.clone(),
            head_sha: m.head_sha.clone(),
            bypassed: m.bypassed,
            verdict: m.verdict.map(ChangeVerdict::from),
            merge_seq: sealed.seq,
            evaluation_seq: evaluation.and(m.evaluation_seq),
            gates,
            exceptions: lines,
        });
    }
    // Bypassed merges first, then in ledger order.
    merges.sort_by_key(|m| (!m.bypassed, m.merge_seq));

    let coverage = requirement_coverage(input.catalog, &merges, &waivers);
    let cra = cra_support(input.catalog, &merges, &waivers);
    let count = |s: CoverageStatus| coverage.iter().filter(|c| c.status == s).count() as u64;
    let summary = Summary {
        merges: merges.len() as u64,
        bypassed: bypasses.len() as u64,
        unevaluated: merges.iter().filter(|m| m.gates.is_empty()).count() as u64,
        waivers: waivers.len() as u64,
        ignored_findings: ignores.len() as u64,
        requirements_covered: count(CoverageStatus::Covered),
        requirements_partial: count(CoverageStatus::Partial),
        requirements_not_evidenced: count(CoverageStatus::NotEvidenced),
        requirements_not_triggered: count(CoverageStatus::NotTriggered),
        requirements_process_only: count(CoverageStatus::ProcessEvidenceNeeded),
    };

    // Every entry the report cites, and those no checkpoint covers yet.
    let sealed_below = input.verification.checkpoint.as_ref().map_or(0, |c| c.size);
    let mut cited = BTreeSet::new();
    for m in &merges {
        cited.insert(m.merge_seq);
        cited.extend(m.evaluation_seq);
    }
    for w in &waivers {
        cited.extend(w.granted_seq);
        cited.extend(w.ended_seq);
    }
    if let Some(r) = &range.release {
        cited.insert(r.seq);
    }
    let unsealed_cited = cited.into_iter().filter(|s| *s >= sealed_below).collect();

    Ok(AuditReport {
        schema: SCHEMA_ID.to_owned(),
        scope: ReportScope {
            forge: input.forge.as_str().to_owned(),
            repository: input.repository.to_owned(),
            range,
            sdl_gate: SDL_GATE_VERSION.to_owned(),
            evaluated_by: evaluated_by.into_iter().collect(),
            standard: crate::practices::EDITION.to_owned(),
            editions_recorded: editions.into_iter().collect(),
            generated_at: input.now,
        },
        ledger: LedgerState {
            verified: input.verification.verified,
            verification: input.verification.text.clone(),
            checkpoint: input.verification.checkpoint.clone(),
            entries_checked: input.verification.entries_checked,
            entries_read: input.entries.len() as u64,
            unsealed_cited,
        },
        summary,
        merges,
        exceptions: Exceptions {
            bypasses,
            waivers,
            ignores,
        },
        coverage,
        cra,
        findings: FindingsSummary {
            by_severity,
            by_gate: by_gate.into_values().collect(),
            merged_under_exception: excepted,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{self, REPO, t};
    use super::*;
    use crate::audit::model::{CoverageStatus, WaiverStatus};
    use crate::ledger::entry::WaiverRevokedEntry;

    fn build(range: RangeSpec) -> Result<AuditReport, BuildError> {
        let entries = fixture::entries(
            "Waive the generated parser",
            "false positive in generated code",
        );
        build_report(&ReportInput {
            forge: ForgeName::GitHub,
            repository: REPO,
            entries: &entries,
            range: &range,
            catalog: crate::practices::catalog(),
            verification: fixture::verified(),
            now: t(5, 0),
        })
    }

    #[test]
    fn a_release_lists_its_merges_bypassed_first_with_gates_and_exceptions() {
        let r = build(RangeSpec::Release("v4.2".into())).unwrap();
        let order: Vec<u64> = r.merges.iter().map(|m| m.number).collect();
        assert_eq!(order, vec![2, 1, 3]);
        let bypassed = &r.merges[0];
        assert!(bypassed.bypassed);
        assert_eq!(bypassed.verdict, Some(ChangeVerdict::Fail));
        assert!(
            bypassed.exceptions[0].starts_with("BYPASSED"),
            "{:?}",
            bypassed.exceptions
        );
        assert_eq!(r.exceptions.bypasses.len(), 1);
        assert_eq!(r.exceptions.bypasses[0].number, 2);

        let waived = &r.merges[2];
        assert_eq!(waived.title.as_deref(), Some("Waive the generated parser"));
        let sast = waived
            .gates
            .iter()
            .find(|g| g.gate == GateKind::Sast)
            .unwrap();
        assert_eq!(sast.verdict, GateVerdict::Waived);
        assert_eq!(
            r.exceptions.waivers.len(),
            1,
            "granted entry and evaluation: one waiver"
        );
        let w = &r.exceptions.waivers[0];
        assert_eq!(
            (w.by.as_str(), w.granted_seq, w.status),
            ("alice", Some(2), WaiverStatus::InForce)
        );
        assert_eq!(r.exceptions.ignores.len(), 1);
        assert_eq!(r.exceptions.ignores[0].evaluation_seq, 3);
        assert!(
            waived
                .exceptions
                .iter()
                .any(|e| e.contains("waiver of sast by alice"))
        );

        assert_eq!(r.summary.merges, 3);
        assert_eq!(r.summary.bypassed, 1);
        assert_eq!(
            r.ledger.unsealed_cited,
            vec![6, 7],
            "checkpoint of 6 entries"
        );
        let rel = r.scope.range.release.as_ref().unwrap();
        assert_eq!((rel.tag.as_str(), rel.seq), ("v4.2", 7));

        // Findings: the waived sast's two highs and the bypassed critical merged.
        let under: Vec<(u64, ExceptionKind)> = r
            .findings
            .merged_under_exception
            .iter()
            .map(|e| (e.number, e.under))
            .collect();
        assert_eq!(
            under,
            vec![
                (2, ExceptionKind::Bypass),
                (3, ExceptionKind::Waiver),
                (3, ExceptionKind::Ignore)
            ]
        );
        assert_eq!(r.findings.by_severity.get("critical"), Some(&1));
        assert_eq!(r.findings.by_severity.get("high"), Some(&3));
    }

    #[test]
    fn coverage_is_backed_by_entries_and_never_by_a_bypass_or_waiver() {
        let r = build(RangeSpec::Release("v4.2".into())).unwrap();
        for c in &r.coverage {
            if c.status == CoverageStatus::Covered {
                assert!(!c.evidence_seqs.is_empty(), "{}", c.id);
                assert_eq!(c.evidenced, c.applicable, "{}", c.id);
            }
        }
        let si2 = r.coverage.iter().find(|c| c.id == "SI-2").unwrap();
        // sast passed on 1, failed on 2 (bypassed), waived on 3.
        assert_eq!((si2.applicable, si2.evidenced, si2.waived), (3, 1, 1));
        assert_eq!(si2.status, CoverageStatus::Partial);
        assert_eq!(si2.evidence_seqs, vec![0]);
        let sr2 = r.coverage.iter().find(|c| c.id == "SR-2").unwrap();
        assert_eq!(sr2.status, CoverageStatus::Partial);
    }

    #[test]
    fn between_bounds_take_dates_times_and_tags() {
        let all = build(RangeSpec::Between {
            since: None,
            until: None,
        })
        .unwrap();
        assert_eq!(all.merges.len(), 3);
        // Merged at 01:00, 02:00 and 03:00 on 3 December.
        let some = build(RangeSpec::Between {
            since: Some("2026-12-03T02:00:00Z".into()),
            until: Some("2026-12-04".into()),
        })
        .unwrap();
        let mut n: Vec<u64> = some.merges.iter().map(|m| m.number).collect();
        n.sort_unstable();
        assert_eq!(n, vec![2, 3]);
        let none = build(RangeSpec::Between {
            since: Some("v4.2".into()),
            until: None,
        })
        .unwrap();
        assert!(none.merges.is_empty(), "nothing merged after the release");
        let before = build(RangeSpec::Between {
            since: None,
            until: Some("v4.2".into()),
        })
        .unwrap();
        assert_eq!(before.merges.len(), 3);
        assert_eq!(
            before.scope.range.until.as_ref().unwrap().release_seq,
            Some(7)
        );
    }

    #[test]
    fn an_unknown_tag_or_bound_names_what_is_wrong() {
        let e = build(RangeSpec::Release("v9".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no release entry for tag v9 in github acme/app"
        );
        let e = build(RangeSpec::Between {
            since: Some("yesterday".into()),
            until: None,
        })
        .unwrap_err();
        assert!(
            e.to_string().starts_with("--since yesterday: not a day"),
            "{e}"
        );
    }

    #[test]
    fn a_revoked_waiver_and_a_past_expiry_are_said() {
        let mut entries = fixture::entries("t", "r");
        entries.push(Sealed {
            v: 1,
            seq: 8,
            prev: String::new(),
            at: t(4, 10),
            entry: Entry::WaiverRevoked(WaiverRevokedEntry {
                subject: crate::ledger::entry::Subject {
                    forge: ForgeName::GitHub,
                    repository: REPO.into(),
                    number: 3,
                },
                waiver: fixture::waiver("alice", "r"),
                reason: crate::ledger::entry::RevokedBecause::Unwaived,
                by: Some("bob".into()),
            }),
        });
        let mut input = ReportInput {
            forge: ForgeName::GitHub,
            repository: REPO,
            entries: &entries,
            range: &RangeSpec::Release("v4.2".into()),
            catalog: crate::practices::catalog(),
            verification: fixture::verified(),
            now: t(5, 0),
        };
        let r = build_report(&input).unwrap();
        let w = &r.exceptions.waivers[0];
        assert_eq!(w.status, WaiverStatus::Revoked);
        assert_eq!(w.ended_seq, Some(8));
        assert_eq!(w.revoked.as_deref(), Some("by bob (/sdl unwaive)"));
        let entries = fixture::entries("t", "r");
        input.entries = &entries;
        input.now = t(31, 0);
        let r = build_report(&input).unwrap();
        assert_eq!(r.exceptions.waivers[0].status, WaiverStatus::Expired);
    }
}
