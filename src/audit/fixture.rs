//! A small ledger for the report's unit tests: a green merge, a bypassed merge, a merge with
//! a waived gate and a dependency ignore, and the release that lists them.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};

use super::build::{RangeSpec, ReportInput, Verification, build_report};
use super::model::{AuditReport, CheckpointRef};
use crate::forge_name::ForgeName;
use crate::gate_kind::GateKind;
use crate::gates::{OverallVerdict, Verdict};
use crate::ledger::entry::{
    EvaluationEntry, FindingCounts, GateEvidence, IgnoredFinding, MergeEntry, PolicyEvidence,
    ReleaseEntry, ReleasedMerge, Subject, WaiverEntry, WaiverEvidence,
};
use crate::ledger::{Entry, Sealed};

pub const REPO: &str = "acme/app";
pub const HOSTILE: &str =
    "<script>alert(1)</script> @everyone [x](javascript:alert(1)) <!-- sdl-gate:summary --> | #1";

pub fn t(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0).unwrap()
}

fn subject(number: u64) -> Subject {
    Subject {
        forge: ForgeName::GitHub,
        repository: REPO.into(),
        number,
    }
}

fn gate(kind: GateKind, verdict: Verdict, sev: &[(&str, u64)]) -> GateEvidence {
    let m = crate::practices::catalog().gate(kind.as_str()).unwrap();
    let by_severity: BTreeMap<String, u64> = sev.iter().map(|(s, n)| ((*s).into(), *n)).collect();
    let fingerprints = by_severity
        .iter()
        .flat_map(|(s, n)| (0..*n).map(move |i| format!("{kind}-{s}-{i}")))
        .collect();
    GateEvidence {
        gate: kind,
        verdict,
        requirements: m.practices.clone(),
        cra: m.cra.clone(),
        findings: FindingCounts {
            by_severity,
            not_blocking: 1,
            fingerprints,
            ignored: Vec::new(),
        },
    }
}

pub fn waiver(by: &str, reason: &str) -> WaiverEvidence {
    WaiverEvidence {
        gate: GateKind::Sast,
        by: by.into(),
        reason: reason.into(),
        granted_at: t(2, 9),
        until: t(30, 0),
        sha: "c".repeat(40),
    }
}

pub fn evaluation(
    number: u64,
    verdict: OverallVerdict,
    gates: Vec<GateEvidence>,
    waivers: Vec<WaiverEvidence>,
) -> Entry {
    Entry::Evaluation(Box::new(EvaluationEntry {
        subject: subject(number),
        head_sha: format!("{number:040x}"),
        base_ref: "main".into(),
        policy: PolicyEvidence {
            path: ".github/sdl-gate.yml".into(),
            git_ref: "main".into(),
            blob_sha: "b".repeat(40),
            sha256: "5".repeat(64),
        },
        org_policy: None,
        verdict,
        standard: crate::practices::EDITION.into(),
        gates,
        approvals: Vec::new(),
        threat_model_refs: Vec::new(),
        waivers,
        artifacts: Vec::new(),
        unknowns: Vec::new(),
        evaluated_at: t(2, 10),
        sdl_gate: "0.1.0".into(),
    }))
}

pub fn merge(
    number: u64,
    evaluation_seq: Option<u64>,
    verdict: Option<OverallVerdict>,
    title: Option<&str>,
) -> Entry {
    Entry::Merge(MergeEntry {
        subject: subject(number),
        head_sha: format!("{number:040x}"),
        merge_commit: Some(format!("{:040x}", number + 100)),
        merged_by: Some("maintainer".into()),
        merged_at: Some(t(3, number as u32)),
        verdict,
        evaluation_seq,
        bypassed: verdict != Some(OverallVerdict::Pass),
        title: title.map(str::to_owned),
    })
}

/// The entries, in sequence order, and the release's sequence number.
pub fn entries(title_of_waived: &str, waiver_reason: &str) -> Vec<Sealed> {
    use GateKind::*;
    use Verdict::*;
    let mut deps = gate(Dependencies, Pass, &[("high", 1)]);
    deps.findings.ignored.push(IgnoredFinding {
        fingerprint: "Dependencies-high-0".into(),
        note: "ignored: not reachable from user input (until 2027-01-31)".into(),
        expired: false,
    });
    let w = waiver("alice", waiver_reason);
    let list = vec![
        // 0: change 1 evaluated green.
        evaluation(
            1,
            OverallVerdict::Pass,
            vec![
                gate(ThreatModel, Pass, &[]),
                gate(SecurityReview, Pass, &[]),
                gate(Sast, Pass, &[]),
            ],
            vec![],
        ),
        // 1: change 2 evaluated red.
        evaluation(
            2,
            OverallVerdict::Fail,
            vec![
                gate(ThreatModel, Fail, &[]),
                gate(Sast, Fail, &[("critical", 1)]),
            ],
            vec![],
        ),
        // 2: waiver of change 3's sast.
        Entry::WaiverGranted(WaiverEntry {
            subject: subject(3),
            waiver: w.clone(),
        }),
        // 3: change 3 evaluated: sast waived, dependencies pass with an ignore.
        evaluation(
            3,
            OverallVerdict::Pass,
            vec![
                gate(Sast, Waived, &[("high", 2)]),
                deps,
                gate(SecurityReview, Pass, &[]),
            ],
            vec![w],
        ),
        // 4, 5, 6: the merges.
        merge(
            1,
            Some(0),
            Some(OverallVerdict::Pass),
            Some("Add login rate limit"),
        ),
        merge(
            2,
            Some(1),
            Some(OverallVerdict::Fail),
            Some("Hotfix the parser"),
        ),
        merge(
            3,
            Some(3),
            Some(OverallVerdict::Pass),
            Some(title_of_waived),
        ),
    ];
    let mut sealed: Vec<Sealed> = list
        .into_iter()
        .enumerate()
        .map(|(i, entry)| Sealed {
            v: 1,
            seq: i as u64,
            prev: String::new(),
            at: t(3, 12),
            entry,
        })
        .collect();
    let released = |seq: u64, number: u64, bypassed: bool| ReleasedMerge {
        number,
        merge_commit: None,
        bypassed,
        seq,
    };
    sealed.push(Sealed {
        v: 1,
        seq: 7,
        prev: String::new(),
        at: t(4, 9),
        entry: Entry::Release(ReleaseEntry {
            forge: ForgeName::GitHub,
            repository: REPO.into(),
            tag: "v4.2".into(),
            commit: Some("d".repeat(40)),
            target: None,
            by: Some("releaser".into()),
            released_at: Some(t(4, 9)),
            previous: None,
            merges: vec![
                released(4, 1, false),
                released(5, 2, true),
                released(6, 3, false),
            ],
        }),
    });
    sealed
}

pub fn verified() -> Verification {
    Verification {
        verified: true,
        text: "ledger intact: 8 entries".into(),
        checkpoint: Some(CheckpointRef {
            origin: "sdl.example.com/ledger".into(),
            size: 6,
            root: "ab".repeat(32),
        }),
        entries_checked: 8,
    }
}

/// The report of release v4.2 of [`entries`].
pub fn report(title: &str, reason: &str, verification: Verification) -> AuditReport {
    let entries = entries(title, reason);
    build_report(&ReportInput {
        forge: ForgeName::GitHub,
        repository: REPO,
        entries: &entries,
        range: &RangeSpec::Release("v4.2".into()),
        catalog: crate::practices::catalog(),
        verification,
        now: t(5, 0),
    })
    .unwrap()
}
