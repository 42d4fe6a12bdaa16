//! Small judgements about evidence shared by several gates: whether a report comes from a
//! composition-analysis tool, and whether a finding lies in the lines a change touched.

use crate::reports::{Finding, FindingKind, Report};
use crate::snapshot::Snapshot;

use super::outcome::q;
use super::result::{Node, NodeStatus};

/// Tools whose SARIF output describes dependencies, not the project's own code.
const SCA_TOOLS: [&str; 7] = [
    "osv-scanner",
    "grype",
    "dependency-check",
    "snyk open source",
    "npm audit",
    "cargo-audit",
    "pip-audit",
];

/// True when the report only speaks about dependencies (by its tools, or because every
/// finding it has is a dependency finding).
pub(crate) fn is_sca_only(report: &Report) -> bool {
    let by_tool = !report.tools.is_empty()
        && report
            .tools
            .iter()
            .all(|t| SCA_TOOLS.iter().any(|s| t.to_ascii_lowercase().contains(s)));
    let by_findings = !report.findings.is_empty()
        && report
            .findings
            .iter()
            .all(|f| f.kind == FindingKind::Dependency);
    by_tool || by_findings
}

/// True when the finding lies in a file the change touched, on a touched line (or the line
/// is unknown). A finding with no file cannot be placed, so it counts (fail closed).
pub(crate) fn in_change(finding: &Finding, snapshot: &Snapshot) -> bool {
    let Some(file) = finding.file.as_deref() else {
        return true;
    };
    snapshot
        .files
        .iter()
        .find(|f| f.path == file)
        .is_some_and(|f| finding.line.is_none_or(|l| f.touches_line(l)))
}

/// The reports of `snapshot` that `is_evidence` accepts, and one explanation line for each
/// naming how many of its findings `counts` (e.g. "3 vulnerability finding(s)").
pub(crate) fn reports_read<'a>(
    snapshot: &'a Snapshot,
    is_evidence: impl Fn(&Report) -> bool,
    counts: impl Fn(&Finding) -> bool,
    noun: &str,
) -> (Vec<&'a Report>, Vec<Node>) {
    let reports: Vec<&Report> = snapshot.reports.iter().filter(|r| is_evidence(r)).collect();
    let nodes = reports
        .iter()
        .map(|r| {
            Node::leaf(
                NodeStatus::Info,
                format!(
                    "read {} ({}): {} {noun}",
                    q(&r.source),
                    r.tools.join(", "),
                    r.findings.iter().filter(|f| counts(f)).count()
                ),
            )
        })
        .collect();
    (reports, nodes)
}
