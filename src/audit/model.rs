//! The auditor report as data: the one structure the JSON form serialises (with a published,
//! versioned JSON Schema) and the Markdown and HTML forms render, so no form can claim what
//! another does not.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::gate_kind::GateKind;

/// The schema of this report format; a consumer checks it before reading further. A change
/// that removes or renames a field gets a new version.
pub const SCHEMA_ID: &str = "https://sdl-gate.dev/schemas/audit-report/v1";

/// What a requirement without any pull-request gate says instead of a coverage figure.
pub const PROCESS_EVIDENCE: &str = "needs process evidence outside sdl-gate";

/// What "covered" means, said above the coverage table in every form.
pub const COVERAGE_NOTE: &str = "A requirement is covered only when a gate produced evidence for every merged change it applied to; a waived or failed gate, or a merge never evaluated, is not evidence. Covered means per-change evidence: most requirements also need process evidence (policies, training, periodic reviews) that no pull-request gate produces.";

/// The evidence report of one repository over one range of merges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditReport {
    /// [`SCHEMA_ID`].
    pub schema: String,
    /// What the report covers.
    pub scope: ReportScope,
    /// The ledger state it was built from, and whether it verified.
    pub ledger: LedgerState,
    /// Counts over the whole report.
    pub summary: Summary,
    /// Every merged change in the range: bypassed merges first, then in ledger order.
    pub merges: Vec<MergedChange>,
    /// Waivers, dependency ignores and bypasses of those changes.
    pub exceptions: Exceptions,
    /// Each of the standard's requirements, in standard order.
    pub coverage: Vec<RequirementCoverage>,
    /// Each CRA reference the gates' evidence supports, in catalog order.
    pub cra: Vec<CraSupport>,
    /// Findings counted by severity and gate, and those merged under an exception.
    pub findings: FindingsSummary,
}

/// The forge, repository, range and versions the report is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportScope {
    /// `github` or `gitlab`.
    pub forge: String,
    /// `owner/name` or the GitLab project path.
    pub repository: String,
    /// Which merges.
    pub range: ReportRange,
    /// The sdl-gate version that built this report.
    pub sdl_gate: String,
    /// The sdl-gate versions that made the evaluations of these merges.
    pub evaluated_by: Vec<String>,
    /// The standard and edition the requirement ids of this report refer to.
    pub standard: String,
    /// The editions recorded in the evaluations (should be `standard`; an amendment
    /// renumbers requirements, so a different one is worth noticing).
    pub editions_recorded: Vec<String>,
    /// When the report was built.
    pub generated_at: DateTime<Utc>,
}

/// How the range was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RangeKind {
    /// The merges a `release` entry lists.
    Release,
    /// Merges between two bounds (dates, times or release tags).
    Between,
}

/// The merges the report covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRange {
    /// Release or between.
    pub kind: RangeKind,
    /// One line saying which merges ("release v4.2: the merges since v4.1").
    pub description: String,
    /// The release, for a release range.
    pub release: Option<ReleaseInfo>,
    /// The lower bound, for a between range (`None`: from the first merge).
    pub since: Option<RangeBound>,
    /// The upper bound, for a between range (`None`: up to the last merge).
    pub until: Option<RangeBound>,
}

/// A release as the ledger recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInfo {
    /// Its tag.
    pub tag: String,
    /// Its commit, when the forge named one.
    pub commit: Option<String>,
    /// Who released.
    pub by: Option<String>,
    /// When.
    pub released_at: Option<DateTime<Utc>>,
    /// Its ledger entry.
    pub seq: u64,
    /// The release before it, if any.
    pub previous_tag: Option<String>,
}

/// One end of a between range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeBound {
    /// As the user gave it.
    pub given: String,
    /// The time it stands for (merges at or after `since`, before `until`), for a date.
    pub at: Option<DateTime<Utc>>,
    /// The release entry it stands for (merges after `since`'s entry, before `until`'s),
    /// for a tag.
    pub release_seq: Option<u64>,
}

/// The ledger the report was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerState {
    /// Whether `ledger verify` passed over the whole ledger when the report was built.
    pub verified: bool,
    /// What verification said (its summary, or the first fault).
    pub verification: String,
    /// The newest signed checkpoint (the state an auditor can pin), if any.
    pub checkpoint: Option<CheckpointRef>,
    /// Entries of the whole ledger checked.
    pub entries_checked: u64,
    /// Entries of this report's repository read.
    pub entries_read: u64,
    /// Sequence numbers of the entries this report cites that no checkpoint covers yet
    /// (chained, not yet signed).
    pub unsealed_cited: Vec<u64>,
}

/// A signed checkpoint: tree size and root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRef {
    /// The ledger's name.
    pub origin: String,
    /// How many entries it covers.
    pub size: u64,
    /// Its Merkle root, hex.
    pub root: String,
}

/// Counts over the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Merged changes in the range.
    pub merges: u64,
    /// Of them, merged without a passing evaluation of their head.
    pub bypassed: u64,
    /// Of them, merged without any evaluation of their head.
    pub unevaluated: u64,
    /// Waivers of those changes.
    pub waivers: u64,
    /// Findings set aside by a dependency ignore at merge.
    pub ignored_findings: u64,
    /// Requirements with per-change evidence for every change they applied to.
    pub requirements_covered: u64,
    /// Requirements with evidence for some of the changes they applied to.
    pub requirements_partial: u64,
    /// Requirements that applied to changes but have no evidence for any.
    pub requirements_not_evidenced: u64,
    /// Requirements whose gates no change in the range triggered.
    pub requirements_not_triggered: u64,
    /// Requirements no pull-request gate can evidence.
    pub requirements_process_only: u64,
}

/// A change's overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeVerdict {
    /// Every gate passed, was waived or did not apply.
    Pass,
    /// A gate failed.
    Fail,
    /// A gate was pending.
    Pending,
}

/// A gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GateVerdict {
    /// Satisfied.
    Pass,
    /// Blocked.
    Fail,
    /// Waiting for checks or reports.
    Pending,
    /// Not triggered by the change.
    NotApplicable,
    /// Would have blocked, but a waiver let it through.
    Waived,
}

impl ChangeVerdict {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeVerdict::Pass => "pass",
            ChangeVerdict::Fail => "fail",
            ChangeVerdict::Pending => "pending",
        }
    }
}

impl GateVerdict {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            GateVerdict::Pass => "pass",
            GateVerdict::Fail => "fail",
            GateVerdict::Pending => "pending",
            GateVerdict::NotApplicable => "not_applicable",
            GateVerdict::Waived => "waived",
        }
    }
}

impl From<crate::gates::OverallVerdict> for ChangeVerdict {
    fn from(v: crate::gates::OverallVerdict) -> Self {
        use crate::gates::OverallVerdict as O;
        match v {
            O::Pass => ChangeVerdict::Pass,
            O::Fail => ChangeVerdict::Fail,
            O::Pending => ChangeVerdict::Pending,
        }
    }
}

impl From<crate::gates::Verdict> for GateVerdict {
    fn from(v: crate::gates::Verdict) -> Self {
        use crate::gates::Verdict as V;
        match v {
            V::Pass => GateVerdict::Pass,
            V::Fail => GateVerdict::Fail,
            V::Pending => GateVerdict::Pending,
            V::NotApplicable => GateVerdict::NotApplicable,
            V::Waived => GateVerdict::Waived,
        }
    }
}

/// One merged change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergedChange {
    /// PR / MR number.
    pub number: u64,
    /// Its title at the merge; `None` when the ledger did not record one.
    pub title: Option<String>,
    /// When it was merged (the entry's time when the forge did not say).
    pub merged_at: DateTime<Utc>,
    /// Who merged.
    pub merged_by: Option<String>,
    /// The merge commit.
    pub merge_commit: Option<String>,
    /// The head commit merged.
    pub head_sha: String,
    /// Merged without a passing evaluation of its head.
    pub bypassed: bool,
    /// The verdict of the last evaluation of the merged head; `None`: never evaluated.
    pub verdict: Option<ChangeVerdict>,
    /// The merge's ledger entry.
    pub merge_seq: u64,
    /// The evaluation's ledger entry.
    pub evaluation_seq: Option<u64>,
    /// Each gate's verdict at the merge (empty when there was no evaluation).
    pub gates: Vec<GateAtMerge>,
    /// The exceptions this change was merged with, one line each.
    pub exceptions: Vec<String>,
}

/// One gate of a merged change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateAtMerge {
    /// Which gate.
    pub gate: GateKind,
    /// Its verdict.
    pub verdict: GateVerdict,
    /// The 62443-4-1 requirements it is evidence for (as recorded).
    pub requirements: Vec<String>,
    /// The CRA references it supports (as recorded).
    pub cra: Vec<String>,
    /// Listed findings by severity.
    pub findings: BTreeMap<String, u64>,
    /// Findings set aside by a dependency ignore.
    pub ignored: u64,
}

/// The exceptions of the range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exceptions {
    /// Merges without a passing evaluation of their head.
    pub bypasses: Vec<Bypass>,
    /// Waivers given on the merged changes.
    pub waivers: Vec<WaiverRecord>,
    /// Dependency findings set aside by a policy ignore at merge.
    pub ignores: Vec<IgnoreRecord>,
}

/// A bypassed merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bypass {
    /// The change.
    pub number: u64,
    /// Who merged.
    pub merged_by: Option<String>,
    /// When.
    pub merged_at: DateTime<Utc>,
    /// Why it is a bypass ("merged while its head's verdict was fail").
    pub why: String,
    /// The merge's ledger entry.
    pub merge_seq: u64,
}

/// What became of a waiver by the end of the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaiverStatus {
    /// Still in force.
    InForce,
    /// Reached its expiry.
    Expired,
    /// Revoked before its expiry.
    Revoked,
}

impl WaiverStatus {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            WaiverStatus::InForce => "in_force",
            WaiverStatus::Expired => "expired",
            WaiverStatus::Revoked => "revoked",
        }
    }
}

/// A waiver of a merged change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaiverRecord {
    /// The change.
    pub number: u64,
    /// The gate waived.
    pub gate: GateKind,
    /// Who waived it.
    pub by: String,
    /// Why.
    pub reason: String,
    /// When it was granted.
    pub granted_at: DateTime<Utc>,
    /// Its last moment.
    pub until: DateTime<Utc>,
    /// The head commit it was given on.
    pub sha: String,
    /// What became of it.
    pub status: WaiverStatus,
    /// Who revoked it, and why, when it was revoked.
    pub revoked: Option<String>,
    /// The `waiver_granted` entry (`None` when only an evaluation names it).
    pub granted_seq: Option<u64>,
    /// The `waiver_revoked` or `waiver_expired` entry.
    pub ended_seq: Option<u64>,
}

/// A finding a dependency ignore set aside in the evaluation a change was merged with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRecord {
    /// The change.
    pub number: u64,
    /// The gate.
    pub gate: GateKind,
    /// The finding's fingerprint.
    pub fingerprint: String,
    /// The ignore's reason and last day, as the gate explained it.
    pub note: String,
    /// Whether the ignore had expired (the finding blocked again).
    pub expired: bool,
    /// The evaluation entry.
    pub evaluation_seq: u64,
}

/// How far the ledger evidences one requirement over the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoverageStatus {
    /// A gate produced evidence for every merged change it applied to.
    Covered,
    /// For some of them.
    Partial,
    /// Its gates applied, but produced evidence for none.
    NotEvidenced,
    /// No merged change triggered its gates.
    NotTriggered,
    /// No pull-request gate can evidence it.
    ProcessEvidenceNeeded,
}

impl CoverageStatus {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CoverageStatus::Covered => "covered",
            CoverageStatus::Partial => "partial",
            CoverageStatus::NotEvidenced => "not_evidenced",
            CoverageStatus::NotTriggered => "not_triggered",
            CoverageStatus::ProcessEvidenceNeeded => "process_evidence_needed",
        }
    }
}

/// One requirement's coverage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequirementCoverage {
    /// `SR-2`.
    pub id: String,
    /// Its short title.
    pub title: String,
    /// Its practice (`SR`).
    pub practice: String,
    /// The status.
    pub status: CoverageStatus,
    /// What the status means for this requirement, in words.
    pub statement: String,
    /// The implemented gates (and the waiver record) that give primary evidence for it.
    pub gates: Vec<String>,
    /// Gates that only support it (never counted as coverage).
    pub supporting_gates: Vec<String>,
    /// Merged changes its gates applied to.
    pub applicable: u64,
    /// Of those, changes for which one of its gates produced evidence (passed, or a recorded
    /// waiver for the waiver record).
    pub evidenced: u64,
    /// Of those, changes whose gate was waived instead (not evidence of the requirement).
    pub waived: u64,
    /// The numbers of the changes with evidence.
    pub evidenced_changes: Vec<u64>,
    /// The ledger entries holding that evidence.
    pub evidence_seqs: Vec<u64>,
}

/// One CRA reference and the evidence that supports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CraSupport {
    /// `I.2(1)`, `Art. 13(5)`.
    pub reference: String,
    /// Its long form or summary.
    pub label: String,
    /// `annex_i_part_i`, `annex_i_part_ii`, `article`, `annex_vii`.
    pub group: String,
    /// Gates whose evidence supports it.
    pub gates: Vec<String>,
    /// Merged changes with a passing gate that supports it.
    pub changes: u64,
    /// The ledger entries holding that evidence.
    pub evidence_seqs: Vec<u64>,
}

/// Findings over the range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingsSummary {
    /// Listed findings at merge by severity, all gates.
    pub by_severity: BTreeMap<String, u64>,
    /// Per gate.
    pub by_gate: Vec<GateFindings>,
    /// Findings merged under a waiver or an ignore.
    pub merged_under_exception: Vec<ExceptedFindings>,
}

/// One gate's findings over the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateFindings {
    /// Which gate.
    pub gate: GateKind,
    /// Listed findings by severity.
    pub by_severity: BTreeMap<String, u64>,
    /// Findings below the threshold or outside the change.
    pub not_blocking: u64,
    /// Findings set aside by an ignore.
    pub ignored: u64,
}

/// What merged under an exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    /// The gate was waived.
    Waiver,
    /// A dependency ignore set the finding aside.
    Ignore,
    /// The merge bypassed the gate.
    Bypass,
}

impl ExceptionKind {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ExceptionKind::Waiver => "waiver",
            ExceptionKind::Ignore => "ignore",
            ExceptionKind::Bypass => "bypass",
        }
    }
}

/// Findings of one gate of one change merged under an exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptedFindings {
    /// The change.
    pub number: u64,
    /// The gate.
    pub gate: GateKind,
    /// Under what.
    pub under: ExceptionKind,
    /// The findings' fingerprints.
    pub fingerprints: Vec<String>,
    /// Their counts by severity (for a waiver or a bypass; an ignore names one finding).
    pub by_severity: BTreeMap<String, u64>,
    /// The waiver's or ignore's reason.
    pub note: String,
}

/// The JSON Schema of [`AuditReport`], with its `$id` set to [`SCHEMA_ID`].
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(AuditReport);
    let mut value = serde_json::to_value(&schema).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = value.as_object_mut() {
        obj.insert("$id".into(), serde_json::Value::String(SCHEMA_ID.into()));
        obj.insert(
            "title".into(),
            serde_json::Value::String("sdl-gate auditor report".into()),
        );
        // The `schema` field names this very schema: a consumer can rely on it.
        if let Some(field) = obj
            .get_mut("properties")
            .and_then(|p| p.get_mut("schema"))
            .and_then(|s| s.as_object_mut())
        {
            field.insert("const".into(), serde_json::Value::String(SCHEMA_ID.into()));
        }
    }
    value
}

/// The report as pretty JSON (what `--format json` writes and the other forms render).
pub fn render_json(report: &AuditReport) -> String {
    // A struct of strings, numbers, maps with string keys and enums always serialises.
    serde_json::to_string_pretty(report).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_its_version_and_the_report_round_trips() {
        let schema = json_schema();
        assert_eq!(schema["$id"], SCHEMA_ID);
        assert_eq!(schema["properties"]["schema"]["const"], SCHEMA_ID);
        let r = super::super::fixture::report("t", "r", super::super::fixture::verified());
        let back: AuditReport = serde_json::from_str(&render_json(&r)).unwrap();
        assert_eq!(back, r);
    }
}
