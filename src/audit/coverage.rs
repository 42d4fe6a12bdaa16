//! Coverage per requirement and support per CRA reference: for each of the standard's
//! requirements, the merged changes its gates applied to and those for which a gate produced
//! evidence, with the ledger entries behind each. A requirement no pull-request gate can
//! evidence says so ([`PROCESS_EVIDENCE`]); "covered" is only ever said with evidence behind
//! it, and a waived or failed gate is never counted as evidence.

use std::collections::BTreeSet;
use std::str::FromStr;

use super::model::{
    CoverageStatus, CraSupport, GateVerdict, MergedChange, PROCESS_EVIDENCE, RequirementCoverage,
    WaiverRecord,
};
use crate::gate_kind::GateKind;
use crate::practices::{Catalog, GateMapping};

/// The catalog's name of the waiver record (not a gate, but evidence of a documented risk
/// decision: who, why, until when).
pub const WAIVER_RECORD: &str = "waiver";

/// Whether a catalog mapping is evidence a pull request can give in this version: an
/// implemented gate, or the waiver record.
fn on_pull_requests(m: &GateMapping) -> bool {
    m.implemented && (m.gate == WAIVER_RECORD || GateKind::from_str(&m.gate).is_ok())
}

fn same_id(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn cra_key(reference: &str) -> String {
    reference
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The waiver entries (granted, or named by an evaluation) behind each change's waivers.
fn waiver_seq(w: &WaiverRecord, merges: &[MergedChange]) -> Option<u64> {
    w.granted_seq.or_else(|| {
        merges
            .iter()
            .find(|m| m.number == w.number)
            .and_then(|m| m.evaluation_seq)
    })
}

/// What one change gives a set of gates: whether they applied, and the entry of their
/// evidence.
struct Outcome {
    applied: bool,
    evidence: Option<u64>,
    waived: bool,
}

fn outcome(
    m: &MergedChange,
    real_gates: bool,
    applies: impl Fn(&super::model::GateAtMerge) -> bool,
    waiver_record: bool,
    waivers: &[WaiverRecord],
    merges: &[MergedChange],
) -> Outcome {
    let mut out = Outcome {
        applied: false,
        evidence: None,
        waived: false,
    };
    if m.gates.is_empty() && real_gates {
        // Never evaluated (or its evaluation is missing): which gates would have applied is
        // unknown, so it counts as applicable without evidence — never as covered.
        out.applied = true;
    }
    for g in m.gates.iter().filter(|g| applies(g)) {
        match g.verdict {
            GateVerdict::NotApplicable => {}
            GateVerdict::Pass => {
                out.applied = true;
                if out.evidence.is_none() {
                    out.evidence = m.evaluation_seq;
                }
            }
            GateVerdict::Waived => {
                out.applied = true;
                out.waived = true;
            }
            GateVerdict::Fail | GateVerdict::Pending => out.applied = true,
        }
    }
    if waiver_record {
        let mine: Vec<&WaiverRecord> = waivers.iter().filter(|w| w.number == m.number).collect();
        let any_waived = m.gates.iter().any(|g| g.verdict == GateVerdict::Waived);
        if any_waived || !mine.is_empty() {
            out.applied = true;
            if out.evidence.is_none() {
                out.evidence = mine.iter().find_map(|w| waiver_seq(w, merges));
            }
        }
    }
    out
}

/// The coverage of every requirement of `catalog`, in standard order, over `merges`.
pub fn requirement_coverage(
    catalog: &Catalog,
    merges: &[MergedChange],
    waivers: &[WaiverRecord],
) -> Vec<RequirementCoverage> {
    catalog
        .requirements
        .iter()
        .map(|r| {
            let gates: Vec<String> = catalog
                .gates
                .iter()
                .filter(|m| on_pull_requests(m) && m.practices.iter().any(|p| same_id(p, &r.id)))
                .map(|m| m.gate.clone())
                .collect();
            let supporting_gates: Vec<String> = catalog
                .gates
                .iter()
                .filter(|m| {
                    on_pull_requests(m) && m.practices_supporting.iter().any(|p| same_id(p, &r.id))
                })
                .map(|m| m.gate.clone())
                .collect();
            let mut row = RequirementCoverage {
                id: r.id.clone(),
                title: r.title.clone(),
                practice: r.practice.clone(),
                status: CoverageStatus::ProcessEvidenceNeeded,
                statement: String::new(),
                gates,
                supporting_gates,
                applicable: 0,
                evidenced: 0,
                waived: 0,
                evidenced_changes: Vec::new(),
                evidence_seqs: Vec::new(),
            };
            if row.gates.is_empty() {
                row.statement = if row.supporting_gates.is_empty() {
                    PROCESS_EVIDENCE.to_owned()
                } else {
                    format!(
                        "{PROCESS_EVIDENCE} ({} only support it)",
                        row.supporting_gates.join(", ")
                    )
                };
                return row;
            }
            let waiver_record = row.gates.iter().any(|g| g == WAIVER_RECORD);
            let gate_kinds: Vec<GateKind> = row
                .gates
                .iter()
                .filter_map(|g| GateKind::from_str(g).ok())
                .collect();
            let mut seqs = BTreeSet::new();
            for m in merges {
                let o = outcome(
                    m,
                    !gate_kinds.is_empty(),
                    |g| {
                        gate_kinds.contains(&g.gate)
                            && g.requirements.iter().any(|p| same_id(p, &r.id))
                    },
                    waiver_record,
                    waivers,
                    merges,
                );
                if !o.applied {
                    continue;
                }
                row.applicable += 1;
                match o.evidence {
                    Some(seq) => {
                        row.evidenced += 1;
                        row.evidenced_changes.push(m.number);
                        seqs.insert(seq);
                    }
                    None if o.waived => row.waived += 1,
                    None => {}
                }
            }
            row.evidence_seqs = seqs.into_iter().collect();
            row.evidenced_changes.sort_unstable();
            row.status = if row.applicable == 0 {
                CoverageStatus::NotTriggered
            } else if row.evidenced == row.applicable {
                CoverageStatus::Covered
            } else if row.evidenced == 0 {
                CoverageStatus::NotEvidenced
            } else {
                CoverageStatus::Partial
            };
            row.statement = match row.status {
                CoverageStatus::NotTriggered => format!(
                    "no merged change in the range triggered {}",
                    row.gates.join(", ")
                ),
                _ => {
                    let mut s = format!(
                        "evidence for {} of {} merged changes its gates applied to",
                        row.evidenced, row.applicable
                    );
                    if row.waived > 0 {
                        s.push_str(&format!("; {} waived, which is not evidence", row.waived));
                    }
                    s
                }
            };
            row
        })
        .collect()
}

/// The CRA references the gates' evidence supports, in catalog order, with the changes and
/// entries behind each; references no gate supports are left out.
pub fn cra_support(
    catalog: &Catalog,
    merges: &[MergedChange],
    waivers: &[WaiverRecord],
) -> Vec<CraSupport> {
    catalog
        .cra
        .iter()
        .filter_map(|c| {
            let key = cra_key(&c.reference);
            let gates: Vec<String> = catalog
                .gates
                .iter()
                .filter(|m| on_pull_requests(m) && m.cra.iter().any(|r| cra_key(r) == key))
                .map(|m| m.gate.clone())
                .collect();
            if gates.is_empty() {
                return None;
            }
            let waiver_record = gates.iter().any(|g| g == WAIVER_RECORD);
            let mut changes = 0;
            let mut seqs = BTreeSet::new();
            for m in merges {
                let passed = m.gates.iter().any(|g| {
                    g.verdict == GateVerdict::Pass && g.cra.iter().any(|r| cra_key(r) == key)
                });
                let evidence = if passed {
                    m.evaluation_seq
                } else if waiver_record {
                    waivers
                        .iter()
                        .filter(|w| w.number == m.number)
                        .find_map(|w| waiver_seq(w, merges))
                } else {
                    None
                };
                if let Some(seq) = evidence {
                    changes += 1;
                    seqs.insert(seq);
                }
            }
            Some(CraSupport {
                reference: c.reference.clone(),
                label: c.label.clone().unwrap_or_else(|| c.summary.clone()),
                group: c.group.clone(),
                gates,
                changes,
                evidence_seqs: seqs.into_iter().collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::audit::model::{ChangeVerdict, GateAtMerge, WaiverStatus};
    use crate::practices::catalog;

    fn gate(kind: GateKind, verdict: GateVerdict) -> GateAtMerge {
        let mapping = catalog().gate(kind.as_str()).unwrap();
        GateAtMerge {
            gate: kind,
            verdict,
            requirements: mapping.practices.clone(),
            cra: mapping.cra.clone(),
            findings: BTreeMap::new(),
            ignored: 0,
        }
    }

    fn merge(number: u64, eval: Option<u64>, gates: Vec<GateAtMerge>) -> MergedChange {
        MergedChange {
            number,
            title: None,
            merged_at: Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap(),
            merged_by: Some("carol".into()),
            merge_commit: None,
            head_sha: "abc".into(),
            bypassed: false,
            verdict: eval.map(|_| ChangeVerdict::Pass),
            merge_seq: number * 10 + 1,
            evaluation_seq: eval,
            gates,
            exceptions: Vec::new(),
        }
    }

    fn row<'a>(rows: &'a [RequirementCoverage], id: &str) -> &'a RequirementCoverage {
        rows.iter().find(|r| r.id == id).unwrap()
    }

    #[test]
    fn every_requirement_is_listed_and_those_without_a_gate_need_process_evidence() {
        let rows = requirement_coverage(catalog(), &[], &[]);
        assert_eq!(rows.len(), 47);
        for id in ["SM-3", "SM-6", "SUM-1", "SUM-5", "SG-1", "SG-7"] {
            let r = row(&rows, id);
            assert_eq!(r.status, CoverageStatus::ProcessEvidenceNeeded, "{id}");
            assert!(
                r.statement.starts_with(PROCESS_EVIDENCE),
                "{id}: {}",
                r.statement
            );
            assert!(r.evidence_seqs.is_empty());
        }
        assert_eq!(row(&rows, "SR-2").status, CoverageStatus::NotTriggered);
    }

    #[test]
    fn a_passing_gate_covers_a_failing_or_waived_one_does_not() {
        use GateKind::*;
        use GateVerdict::*;
        let all_pass = merge(1, Some(5), vec![gate(ThreatModel, Pass), gate(Sast, Pass)]);
        let rows = requirement_coverage(catalog(), std::slice::from_ref(&all_pass), &[]);
        let sr2 = row(&rows, "SR-2");
        assert_eq!(sr2.status, CoverageStatus::Covered);
        assert_eq!(sr2.evidence_seqs, vec![5]);
        assert_eq!(sr2.evidenced_changes, vec![1]);
        // Dependencies did not run: SVV-3 is supported by sast only, primary by deps.
        assert_eq!(row(&rows, "DM-3").status, CoverageStatus::NotTriggered);

        let failed = merge(
            2,
            Some(8),
            vec![gate(ThreatModel, Fail), gate(Sast, Waived)],
        );
        let rows = requirement_coverage(catalog(), &[all_pass.clone(), failed.clone()], &[]);
        let sr2 = row(&rows, "SR-2");
        assert_eq!(sr2.status, CoverageStatus::Partial);
        assert_eq!((sr2.applicable, sr2.evidenced), (2, 1));
        let si2 = row(&rows, "SI-2");
        assert_eq!((si2.applicable, si2.evidenced, si2.waived), (2, 1, 1));
        assert!(si2.statement.contains("1 waived"), "{}", si2.statement);

        let rows = requirement_coverage(catalog(), &[failed], &[]);
        assert_eq!(row(&rows, "SR-2").status, CoverageStatus::NotEvidenced);
        assert_eq!(row(&rows, "SI-2").status, CoverageStatus::NotEvidenced);
    }

    #[test]
    fn an_unevaluated_merge_is_never_evidence() {
        let rows = requirement_coverage(catalog(), &[merge(3, None, vec![])], &[]);
        for r in &rows {
            assert_ne!(r.status, CoverageStatus::Covered, "{}", r.id);
        }
        assert_eq!(row(&rows, "SI-1").status, CoverageStatus::NotEvidenced);
    }

    #[test]
    fn a_recorded_waiver_evidences_the_waiver_record_requirements() {
        let m = merge(4, Some(9), vec![gate(GateKind::Sast, GateVerdict::Waived)]);
        let w = WaiverRecord {
            number: 4,
            gate: GateKind::Sast,
            by: "alice".into(),
            reason: "false positive in generated code".into(),
            granted_at: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
            until: Utc.with_ymd_and_hms(2026, 12, 20, 9, 0, 0).unwrap(),
            sha: "abc".into(),
            status: WaiverStatus::InForce,
            revoked: None,
            granted_seq: Some(7),
            ended_seq: None,
        };
        let rows = requirement_coverage(
            catalog(),
            std::slice::from_ref(&m),
            std::slice::from_ref(&w),
        );
        let sm5 = row(&rows, "SM-5");
        assert_eq!(sm5.gates, vec!["waiver".to_owned()]);
        assert_eq!(sm5.status, CoverageStatus::Covered);
        assert_eq!(sm5.evidence_seqs, vec![7]);
        assert_eq!(row(&rows, "SI-1").status, CoverageStatus::NotEvidenced);
        let cra = cra_support(catalog(), &[m], &[w]);
        let art = cra.iter().find(|c| c.reference == "Art. 13(4)").unwrap();
        assert_eq!(art.evidence_seqs, vec![7]);
    }
}

#[cfg(test)]
mod properties {
    use std::collections::BTreeMap;

    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::audit::model::{ChangeVerdict, GateAtMerge, WaiverStatus};
    use crate::practices::catalog;

    fn verdict() -> impl Strategy<Value = GateVerdict> {
        prop_oneof![
            Just(GateVerdict::Pass),
            Just(GateVerdict::Fail),
            Just(GateVerdict::Pending),
            Just(GateVerdict::NotApplicable),
            Just(GateVerdict::Waived),
        ]
    }

    /// A merged change: never evaluated, or evaluated with each gate in some verdict; and
    /// whether a waiver of it was recorded.
    fn change() -> impl Strategy<Value = (Option<Vec<GateVerdict>>, bool)> {
        (
            proptest::option::weighted(0.85, proptest::collection::vec(verdict(), 5)),
            any::<bool>(),
        )
    }

    fn build(
        changes: &[(Option<Vec<GateVerdict>>, bool)],
    ) -> (Vec<MergedChange>, Vec<WaiverRecord>) {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let mut merges = Vec::new();
        let mut waivers = Vec::new();
        for (i, (gates, waived)) in changes.iter().enumerate() {
            let number = i as u64 + 1;
            let eval = gates.as_ref().map(|_| number * 100);
            let gates = gates
                .iter()
                .flatten()
                .zip(GateKind::ALL)
                .map(|(v, kind)| {
                    let m = catalog().gate(kind.as_str()).unwrap();
                    GateAtMerge {
                        gate: kind,
                        verdict: *v,
                        requirements: m.practices.clone(),
                        cra: m.cra.clone(),
                        findings: BTreeMap::new(),
                        ignored: 0,
                    }
                })
                .collect();
            merges.push(MergedChange {
                number,
                title: None,
                merged_at: at,
                merged_by: None,
                merge_commit: None,
                head_sha: String::new(),
                bypassed: false,
                verdict: eval.map(|_| ChangeVerdict::Pass),
                merge_seq: number * 100 + 1,
                evaluation_seq: eval,
                gates,
                exceptions: Vec::new(),
            });
            if *waived {
                waivers.push(WaiverRecord {
                    number,
                    gate: GateKind::Sast,
                    by: "alice".into(),
                    reason: "r".into(),
                    granted_at: at,
                    until: at,
                    sha: String::new(),
                    status: WaiverStatus::InForce,
                    revoked: None,
                    granted_seq: Some(number * 100 + 2),
                    ended_seq: None,
                });
            }
        }
        (merges, waivers)
    }

    proptest! {
        #[test]
        fn covered_always_has_entries_behind_it(changes in proptest::collection::vec(change(), 0..12)) {
            let (merges, waivers) = build(&changes);
            let rows = requirement_coverage(catalog(), &merges, &waivers);
            prop_assert_eq!(rows.len(), 47);
            for r in &rows {
                prop_assert_eq!(r.evidenced as usize, r.evidenced_changes.len());
                prop_assert!(r.evidenced + r.waived <= r.applicable, "{}", r.id);
                match r.status {
                    CoverageStatus::Covered => {
                        prop_assert!(r.applicable > 0 && r.evidenced == r.applicable, "{}", r.id);
                        prop_assert!(!r.evidence_seqs.is_empty(), "{}", r.id);
                    }
                    CoverageStatus::ProcessEvidenceNeeded => {
                        prop_assert!(r.gates.is_empty() && r.evidence_seqs.is_empty(), "{}", r.id);
                        prop_assert!(r.statement.starts_with(PROCESS_EVIDENCE));
                    }
                    _ => prop_assert!(r.evidenced < r.applicable || r.applicable == 0, "{}", r.id),
                }
                // Each change counted as evidence passed a gate recorded for the requirement,
                // or holds a recorded waiver where the waiver record is one of its sources;
                // its entry is among those listed.
                for n in &r.evidenced_changes {
                    let m = &merges[(*n - 1) as usize];
                    let passed = m.gates.iter().any(|g| {
                        g.verdict == GateVerdict::Pass && g.requirements.contains(&r.id)
                    });
                    let recorded = r.gates.iter().any(|g| g == WAIVER_RECORD)
                        && waivers.iter().any(|w| w.number == *n);
                    prop_assert!(passed || recorded, "{}: change {} is no evidence", r.id, n);
                }
                for seq in &r.evidence_seqs {
                    let known = merges.iter().any(|m| m.evaluation_seq == Some(*seq))
                        || waivers.iter().any(|w| w.granted_seq == Some(*seq));
                    prop_assert!(known, "{}: entry {} is no entry of the report", r.id, seq);
                }
            }
        }
    }
}
