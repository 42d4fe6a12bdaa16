//! The ledger's entries built from what the engine already holds — the evaluation, the
//! snapshot it was made from, the policy file, a waiver — so the engine appends evidence
//! without knowing the entry format, and every forge's evaluation is recorded alike.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::entry::{
    Approval, ArtifactEvidence, EvaluationEntry, FindingCounts, GateEvidence, IgnoredFinding,
    PolicyEvidence, Subject, WaiverEvidence, git_blob_sha,
};
use crate::gates::{Evaluation, FindingStatus, GateResult};
use crate::snapshot::{ReviewState, Snapshot};
use crate::waivers::Waiver;

/// The sdl-gate version recorded in every evaluation.
pub const SDL_GATE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The policy file as evidence: path, ref, git blob id and SHA-256 of `text`.
pub fn policy_evidence(path: &str, git_ref: &str, text: &str) -> PolicyEvidence {
    PolicyEvidence {
        path: path.to_owned(),
        git_ref: git_ref.to_owned(),
        blob_sha: git_blob_sha(text.as_bytes()),
        sha256: hex::encode(Sha256::digest(text.as_bytes())),
    }
}

/// A waiver as recorded.
pub fn waiver_evidence(w: &Waiver) -> WaiverEvidence {
    WaiverEvidence {
        gate: w.gate,
        by: w.author.as_str().to_owned(),
        reason: w.reason.clone(),
        granted_at: w.created_at,
        until: w.expires_at,
        sha: w.sha.as_str().to_owned(),
    }
}

fn gate_evidence(g: &GateResult) -> GateEvidence {
    let mut counts = FindingCounts {
        by_severity: BTreeMap::new(),
        not_blocking: g.findings_not_blocking as u64,
        fingerprints: Vec::with_capacity(g.findings.len()),
        ignored: Vec::new(),
    };
    for f in &g.findings {
        *counts
            .by_severity
            .entry(f.finding.severity.to_string())
            .or_default() += 1;
        counts.fingerprints.push(f.finding.fingerprint.clone());
        if f.status != FindingStatus::Blocking {
            counts.ignored.push(IgnoredFinding {
                fingerprint: f.finding.fingerprint.clone(),
                note: f.ignore_note.clone().unwrap_or_default(),
                expired: f.status == FindingStatus::IgnoreExpired,
            });
        }
    }
    GateEvidence {
        gate: g.gate,
        verdict: g.verdict,
        requirements: g.requirements.clone(),
        cra: g.cra.clone(),
        findings: counts,
    }
}

/// The `evaluation` entry of `evaluation`, made from `snapshot` under `policy`. Waivers are
/// those in force at the evaluation's clock; threat-model references are the description's
/// and the recorded ones.
pub fn evaluation_entry(
    subject: Subject,
    evaluation: &Evaluation,
    snapshot: &Snapshot,
    policy: PolicyEvidence,
) -> EvaluationEntry {
    let approvals = snapshot
        .reviews
        .iter()
        .filter(|r| r.state == ReviewState::Approved)
        .map(|r| Approval {
            by: r.author.as_str().to_owned(),
            commit: r.commit.as_ref().map(|c| c.as_str().to_owned()),
            at: r.submitted_at,
        })
        .collect();
    let waivers = snapshot
        .waivers
        .iter()
        .filter(|w| w.revoked.is_none() && w.expires_at > evaluation.evaluated_at)
        .map(waiver_evidence)
        .collect();
    let threat_model_refs = crate::gates::threat_model::references(snapshot);
    let artifacts = snapshot
        .reports
        .iter()
        .map(|r| ArtifactEvidence {
            source: r.source.clone(),
            format: r.format.to_string(),
            tools: if r.tool_versions.is_empty() {
                r.tools.clone()
            } else {
                r.tool_versions.clone()
            },
            sha256: r.sha256.clone(),
        })
        .collect();
    EvaluationEntry {
        subject,
        head_sha: evaluation.head_sha.clone(),
        base_ref: snapshot.base_ref.clone(),
        policy,
        org_policy: evaluation.org_policy.as_ref().map(|o| PolicyEvidence {
            path: o.location.clone(),
            git_ref: "default branch".to_owned(),
            blob_sha: o.blob_sha.clone(),
            sha256: o.sha256.clone(),
        }),
        verdict: evaluation.verdict,
        standard: evaluation.standard.clone(),
        gates: evaluation.gates.iter().map(gate_evidence).collect(),
        approvals,
        threat_model_refs,
        waivers,
        artifacts,
        unknowns: evaluation.unknowns.clone(),
        evaluated_at: evaluation.evaluated_at,
        sdl_gate: SDL_GATE_VERSION.to_owned(),
    }
}
