//! Pure evaluation of the SDL gates: `Policy × Snapshot × clock → Evaluation`.
//!
//! One file per gate, plus the engine below that decides whether each gate applies, runs it,
//! applies its fail mode and any waiver, attaches the 62443-4-1 requirement ids and combines
//! the verdicts. No I/O, no forge: everything a gate needs is in the snapshot, so every way of
//! running sdl-gate gives the same verdict for the same change.

mod checks;
mod dependencies;
mod evidence;
mod findings;
mod outcome;
mod result;
mod sast;
mod sbom;
mod security_review;
pub mod threat_model;
mod trigger;

pub use crate::gate_kind::{GateKind, UnknownGate};
pub use result::*;

use chrono::{DateTime, Utc};

use crate::policy::{Common, FailMode, POLICY_PATHS, Policy};
use crate::practices::catalog;
use crate::snapshot::{ChangedFile, Sha, Snapshot};

use outcome::Outcome;
use trigger::CompiledTrigger;

/// Evaluates every gate of `policy` against `snapshot` at time `now`.
pub fn evaluate(policy: &Policy, snapshot: &Snapshot, now: DateTime<Utc>) -> Evaluation {
    let gates: Vec<GateResult> = GateKind::ALL
        .into_iter()
        .map(|kind| evaluate_gate(kind, policy, snapshot, now))
        .collect();
    let verdict = if gates.iter().any(|g| g.verdict == Verdict::Fail) {
        OverallVerdict::Fail
    } else if gates.iter().any(|g| g.verdict == Verdict::Pending) {
        OverallVerdict::Pending
    } else {
        OverallVerdict::Pass
    };
    let worst_severity = gates
        .iter()
        .filter(|g| g.verdict == Verdict::Fail)
        .flat_map(|g| g.findings.iter())
        .filter(|f| f.status != FindingStatus::Ignored)
        .map(|f| f.finding.severity)
        .max();
    Evaluation {
        verdict,
        gates,
        repository: snapshot.repository.clone(),
        number: snapshot.number,
        head_sha: snapshot.head_sha.to_string(),
        evaluated_at: now,
        standard: crate::practices::EDITION.to_string(),
        unknowns: snapshot.unknowns.clone(),
        draft: snapshot.draft,
        worst_severity,
        org_policy: None,
    }
}

/// The earlier commits whose patch (`git patch-id`) the snapshot builder should add to
/// `snapshot.patch_ids`: only those of approvals that would count if their patch were the
/// head's, and only while the security review is still waiting for them (it applies, is not
/// waived, and the approvals on the head do not suffice). Empty when
/// `approvals_survive_rebase` is off or the head's own patch is unknown. Each costs the
/// forge one request, so nothing is asked that cannot change the verdict.
pub fn commits_to_compare(policy: &Policy, snapshot: &Snapshot, now: DateTime<Utc>) -> Vec<Sha> {
    let gate = &policy.gates.security_review;
    if !gate.approvals_survive_rebase {
        return Vec::new();
    }
    let result = evaluate_gate(GateKind::SecurityReview, policy, snapshot, now);
    if result.verdict != Verdict::Pending {
        return Vec::new();
    }
    security_review::commits_to_compare(gate, snapshot)
}

fn common(kind: GateKind, policy: &Policy) -> &Common {
    let g = &policy.gates;
    match kind {
        GateKind::ThreatModel => &g.threat_model.common,
        GateKind::SecurityReview => &g.security_review.common,
        GateKind::Sast => &g.sast.common,
        GateKind::Dependencies => &g.dependencies.common,
        GateKind::Sbom => &g.sbom.common,
    }
}

/// The trigger of a gate with the gate's own defaults.
fn trigger_of(kind: GateKind, policy: &Policy) -> CompiledTrigger {
    let t = &common(kind, policy).trigger;
    let labels = &policy.security_labels;
    match kind {
        GateKind::ThreatModel | GateKind::SecurityReview => CompiledTrigger::new(
            t,
            &policy.security_paths,
            labels,
            false,
            "security-relevant paths",
        ),
        GateKind::Sast => CompiledTrigger::new(
            t,
            &policy.security_paths,
            labels,
            true,
            "security-relevant paths",
        ),
        GateKind::Dependencies | GateKind::Sbom => CompiledTrigger::new(
            t,
            &policy.gates.dependencies.manifests,
            &[],
            false,
            "dependency manifests",
        ),
    }
}

fn evaluate_gate(
    kind: GateKind,
    policy: &Policy,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
) -> GateResult {
    let mapping = catalog().gate(kind.as_str());
    let requirements = mapping.map(|m| m.practices.clone()).unwrap_or_default();
    let cra = mapping.map(|m| m.cra.clone()).unwrap_or_default();
    let common = common(kind, policy);

    let outcome = if !common.enabled {
        Outcome::not_applicable("disabled by the policy", Vec::new())
    } else {
        // A change to the policy file is always security-relevant for reviews: it is judged
        // by the base branch's policy, and a human must look at it.
        let policy_edits: Vec<&ChangedFile> = if kind == GateKind::SecurityReview {
            snapshot
                .files
                .iter()
                .filter(|f| POLICY_PATHS.contains(&f.path.as_str()))
                .collect()
        } else {
            Vec::new()
        };
        let trigger = trigger_of(kind, policy);
        match trigger.check(snapshot, &policy_edits) {
            None => Outcome::not_applicable(trigger.describe(), Vec::new()),
            Some(why) => {
                let mut out = match kind {
                    GateKind::ThreatModel => {
                        threat_model::evaluate(&policy.gates.threat_model, snapshot)
                    }
                    GateKind::SecurityReview => {
                        security_review::evaluate(&policy.gates.security_review, snapshot)
                    }
                    GateKind::Sast => sast::evaluate(&policy.gates.sast, snapshot, &requirements),
                    GateKind::Dependencies => dependencies::evaluate(
                        &policy.gates.dependencies,
                        snapshot,
                        now,
                        &requirements,
                    ),
                    GateKind::Sbom => sbom::evaluate(&policy.gates.sbom, snapshot),
                };
                out.details.insert(0, why);
                out
            }
        }
    };
    finish(
        kind,
        policy,
        snapshot,
        now,
        common.fail_mode,
        outcome,
        requirements,
        cra,
    )
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a struct would only rename the arguments"
)]
fn finish(
    kind: GateKind,
    policy: &Policy,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    fail_mode: FailMode,
    mut out: Outcome,
    requirements: Vec<String>,
    cra: Vec<String>,
) -> GateResult {
    let mut warnings = Vec::new();
    if !out.errors.is_empty() {
        match fail_mode {
            FailMode::Closed => {
                for e in &out.errors {
                    out.details
                        .push(Node::leaf(NodeStatus::Fail, format!("cannot check: {e}")));
                }
                out.unblock.push(
                    "Fix what sdl-gate could not read (listed above) and re-run `/sdl recheck`; the gate fails closed until it can decide."
                        .into(),
                );
                if out.verdict != Verdict::Fail {
                    out.explanation = format!(
                        "cannot decide ({}), so the gate fails closed",
                        out.errors[0]
                    );
                    out.verdict = Verdict::Fail;
                }
            }
            FailMode::Open => warnings = out.errors.clone(),
        }
    }

    let waivable = policy
        .waivers
        .gates
        .as_ref()
        .is_none_or(|g| g.contains(&kind));
    let mut waiver_note = None;
    let mut candidates: Vec<_> = snapshot.waivers.iter().filter(|w| w.gate == kind).collect();
    candidates.sort_by_key(|w| w.created_at);
    for w in candidates.iter().rev() {
        let state = WaiverNoteState::of(
            w.state(now, &snapshot.head_sha, policy.waivers.survive_push),
            waivable,
        );
        if state == WaiverNoteState::Active || waiver_note.is_none() {
            waiver_note = Some(WaiverNote {
                waiver: (*w).clone(),
                state,
            });
        }
        if state == WaiverNoteState::Active {
            break;
        }
    }
    if let Some(note) = &waiver_note {
        let w = &note.waiver;
        let line = match note.state {
            WaiverNoteState::Active => format!(
                "waived by {} until {} on {}: {}",
                w.author,
                w.expires_at.format("%Y-%m-%d %H:%M UTC"),
                w.sha.short(),
                w.reason
            ),
            WaiverNoteState::Expired => format!(
                "the waiver by {} expired on {}",
                w.author,
                w.expires_at.format("%Y-%m-%d %H:%M UTC")
            ),
            WaiverNoteState::Revoked => format!(
                "the waiver by {} was revoked: {}",
                w.author,
                w.revoked.as_deref().unwrap_or("")
            ),
            WaiverNoteState::Stale => format!(
                "the waiver by {} was given on {}, and the policy does not let waivers survive new commits",
                w.author,
                w.sha.short()
            ),
            WaiverNoteState::NotWaivable => format!(
                "the waiver by {} does not count: the policy does not allow waiving {kind}",
                w.author
            ),
        };
        let active = note.state == WaiverNoteState::Active;
        if active && matches!(out.verdict, Verdict::Fail | Verdict::Pending) {
            out.details.push(Node::leaf(NodeStatus::Warning, line));
            out.explanation = format!("waived: {}", out.explanation);
            out.verdict = Verdict::Waived;
            out.unblock.clear();
        } else if !active || out.verdict != Verdict::NotApplicable {
            out.details.push(Node::leaf(NodeStatus::Info, line));
        }
    }

    GateResult {
        gate: kind,
        verdict: out.verdict,
        requirements,
        cra,
        explanation: out.explanation,
        details: out.details,
        findings: out.findings,
        findings_not_blocking: out.not_blocking,
        unblock: out.unblock,
        waiver: waiver_note,
        warnings,
    }
}
