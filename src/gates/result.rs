//! The result of an evaluation: a verdict per gate, each with an explanation tree, the
//! findings it counted, the 62443-4-1 requirements it is evidence for and what unblocks it.
//! Every renderer (check run, comment, job summary, JSON, evidence ledger) reads this one
//! structure, so they all explain the same thing the same way.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::gate_kind::GateKind;
use crate::reports::{Finding, Severity};
use crate::waivers::{Waiver, WaiverState};

/// A gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Satisfied.
    Pass,
    /// Blocks the change.
    Fail,
    /// Waiting for checks or reports; blocks until decided.
    Pending,
    /// The change does not trigger the gate (or the gate is disabled).
    NotApplicable,
    /// Would fail or be pending, but a waiver in force lets it through.
    Waived,
}

impl Verdict {
    /// The snake-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Pending => "pending",
            Verdict::NotApplicable => "not_applicable",
            Verdict::Waived => "waived",
        }
    }
}

/// The verdict over all gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverallVerdict {
    /// Every gate passed, was waived or did not apply.
    Pass,
    /// At least one gate failed.
    Fail,
    /// No gate failed, but at least one is pending.
    Pending,
}

impl OverallVerdict {
    /// The name used in JSON and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            OverallVerdict::Pass => "pass",
            OverallVerdict::Fail => "fail",
            OverallVerdict::Pending => "pending",
        }
    }
}

/// The status of one line of explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// This condition holds.
    Pass,
    /// This condition does not hold and blocks.
    Fail,
    /// Not decided yet.
    Pending,
    /// Not relevant to this change.
    Skipped,
    /// A fact worth showing, neither good nor bad.
    Info,
    /// Something the gate could not check, or a soon-to-expire exception.
    Warning,
}

/// One node of a gate's explanation tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// How this condition stands.
    pub status: NodeStatus,
    /// Plain text (escaped only when rendered).
    pub description: String,
    /// Sub-conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
}

impl Node {
    /// A leaf.
    pub fn leaf(status: NodeStatus, description: impl Into<String>) -> Node {
        Node {
            status,
            description: description.into(),
            children: Vec::new(),
        }
    }

    /// A node with children.
    pub fn with_children(
        status: NodeStatus,
        description: impl Into<String>,
        children: Vec<Node>,
    ) -> Node {
        Node {
            status,
            description: description.into(),
            children,
        }
    }
}

/// Why a finding is listed under a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    /// At or above the threshold and not excused: it blocks.
    Blocking,
    /// Excused by an `ignore` entry in force.
    Ignored,
    /// Matched an `ignore` entry that has expired, so it blocks again.
    IgnoreExpired,
}

/// A finding as a gate judged it, with the requirements and FRs it maps to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateFinding {
    /// The normalised finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// How the gate treats it.
    pub status: FindingStatus,
    /// The 62443-4-1 requirements this finding is evidence against (shared by all findings
    /// of a gate: a large report must not copy them thousands of times).
    pub requirements: Arc<[String]>,
    /// The 62443-4-2 foundational requirements its CWEs threaten (FR1…FR7), borrowed from
    /// the embedded catalog.
    pub foundational_requirements: Vec<Cow<'static, str>>,
    /// For ignored or expired ones: the ignore's reason and last day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_note: Option<String>,
}

/// One gate's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// Which gate.
    pub gate: GateKind,
    /// Its verdict.
    pub verdict: Verdict,
    /// The 62443-4-1 requirement ids this gate is evidence for.
    pub requirements: Vec<String>,
    /// CRA references the gate supports.
    pub cra: Vec<String>,
    /// One sentence saying why the verdict is what it is.
    pub explanation: String,
    /// The explanation tree.
    pub details: Vec<Node>,
    /// Findings counted by the gate (blocking first), at most what renderers need.
    pub findings: Vec<GateFinding>,
    /// Number of findings below the threshold or outside the change, not listed.
    pub findings_not_blocking: usize,
    /// What to do to unblock, one action a line; empty when nothing blocks.
    pub unblock: Vec<String>,
    /// The waiver that turned a fail into `waived`, or one that no longer counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<WaiverNote>,
    /// Errors the gate met that `fail_mode: open` turned into warnings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A waiver as it bears on a gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaiverNote {
    /// The waiver.
    #[serde(flatten)]
    pub waiver: Waiver,
    /// Whether it counts, and if not, why not.
    pub state: WaiverNoteState,
}

/// How a waiver bears on its gate; serialised in snake case (`active`, `not_waivable`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaiverNoteState {
    /// In force: it turns a failing or pending gate into `waived`.
    Active,
    /// In force, but the policy does not allow waiving this gate.
    NotWaivable,
    /// Past its expiry.
    Expired,
    /// Withdrawn (unwaived, or its comment was edited or deleted).
    Revoked,
    /// Given on an older commit, and the policy does not let waivers survive new commits.
    Stale,
}

impl WaiverNoteState {
    /// The note for a waiver in `state` on a gate that the policy does (or does not) let be
    /// waived.
    pub fn of(state: WaiverState, waivable: bool) -> Self {
        match state {
            WaiverState::Active if waivable => Self::Active,
            WaiverState::Active => Self::NotWaivable,
            WaiverState::Expired => Self::Expired,
            WaiverState::Revoked => Self::Revoked,
            WaiverState::Stale => Self::Stale,
        }
    }

    /// Its name in results and reports, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NotWaivable => "not_waivable",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Stale => "stale",
        }
    }
}

impl fmt::Display for WaiverNoteState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The whole evaluation of one change at one head commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The overall verdict.
    pub verdict: OverallVerdict,
    /// One result per gate, in [`GateKind::ALL`] order.
    pub gates: Vec<GateResult>,
    /// `owner/name` or project path.
    pub repository: String,
    /// PR or MR number; 0 for a local check.
    pub number: u64,
    /// The evaluated head commit.
    pub head_sha: String,
    /// The clock the evaluation used (waiver and ignore expiry).
    pub evaluated_at: DateTime<Utc>,
    /// The standard edition the requirement ids refer to.
    pub standard: String,
    /// Things that could not be checked (fork token, missing API permission…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknowns: Vec<String>,
    /// Whether the change is a draft (renderers may report drafts as neutral).
    #[serde(default)]
    pub draft: bool,
    /// The most severe blocking finding anywhere, for one-line summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_severity: Option<Severity>,
    /// The organisation's policy the evaluation was made under, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_policy: Option<OrgPolicyUse>,
}

/// How an evaluation used the organisation's policy (see `policy::apply_floor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgPolicyUse {
    /// Where it lives: `acme/.github/sdl-gate.yml`, or the GitLab policy project's file.
    pub location: String,
    /// The repository has no policy of its own: the organisation's is its policy.
    pub as_default: bool,
    /// SHA-256 of its text (hex).
    pub sha256: String,
    /// Its git blob id (SHA-1 of `blob <len>\0<bytes>`).
    pub blob_sha: String,
    /// The rules its floor kept against the repository's own policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub floor: Vec<crate::policy::FloorNote>,
}

impl Evaluation {
    /// Records how the organisation's policy took part, and adds each rule its floor kept to
    /// the explanation of the gate it belongs to (an `info` node), so the gate itself says why
    /// it still runs as it does.
    pub fn with_org_policy(mut self, org: Option<OrgPolicyUse>) -> Evaluation {
        if let Some(org) = &org {
            for note in &org.floor {
                let Some(kind) = note.gate else { continue };
                if let Some(g) = self.gates.iter_mut().find(|g| g.gate == kind) {
                    g.details.push(Node::leaf(
                        NodeStatus::Info,
                        format!("{} (`{}`)", note.message, org.location),
                    ));
                }
            }
        }
        self.org_policy = org;
        self
    }

    /// Gates that block (fail).
    pub fn failed_gates(&self) -> impl Iterator<Item = &GateResult> {
        self.gates.iter().filter(|g| g.verdict == Verdict::Fail)
    }

    /// The result of one gate.
    pub fn gate(&self, kind: GateKind) -> Option<&GateResult> {
        self.gates.iter().find(|g| g.gate == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiver_note_states_print_as_they_serialise_and_read_back() {
        for state in [
            WaiverNoteState::Active,
            WaiverNoteState::NotWaivable,
            WaiverNoteState::Expired,
            WaiverNoteState::Revoked,
            WaiverNoteState::Stale,
        ] {
            let json = serde_json::to_value(state).ok();
            assert_eq!(json, Some(serde_json::Value::from(state.to_string())));
            let back: Option<WaiverNoteState> = json.and_then(|j| serde_json::from_value(j).ok());
            assert_eq!(back, Some(state));
        }
        assert_eq!(
            WaiverNoteState::of(WaiverState::Active, false),
            WaiverNoteState::NotWaivable
        );
        assert_eq!(
            WaiverNoteState::of(WaiverState::Active, true),
            WaiverNoteState::Active
        );
    }
}
