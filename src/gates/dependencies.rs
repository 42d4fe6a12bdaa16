//! The `dependencies` gate: required dependency checks succeeded and no known vulnerability
//! at or above the threshold remains, except accepted ones with a reason and an expiry
//! (62443-4-1 SM-9, SVV-3, DM-3, DM-4).

use chrono::{DateTime, Utc};

use crate::policy::{DependenciesGate, IgnoreEntry};
use crate::reports::{Finding, FindingKind, Report, ReportFormat};
use crate::snapshot::Snapshot;

use super::checks;
use super::evidence;
use super::findings::{collect, judged, sort, tally};
use super::outcome::{Outcome, worst};
use super::result::{FindingStatus, Node, NodeStatus, Verdict};

/// Does this report count as dependency-scan evidence (even with no findings)?
fn is_dependency_report(report: &Report) -> bool {
    match report.format {
        ReportFormat::OsvScanner
        | ReportFormat::Trivy
        | ReportFormat::Grype
        | ReportFormat::NpmAuditV6
        | ReportFormat::NpmAuditV7
        | ReportFormat::CargoAudit
        | ReportFormat::PipAudit
        | ReportFormat::GitlabDependencyScanning
        | ReportFormat::GitlabContainerScanning => true,
        ReportFormat::Sarif | ReportFormat::GithubCodeScanning => evidence::is_sca_only(report),
        _ => false,
    }
}

/// The ignore entry that names this finding, if any.
fn ignore_for<'a>(finding: &Finding, ignore: &'a [IgnoreEntry]) -> Option<&'a IgnoreEntry> {
    ignore.iter().find(|i| finding.matches_id(&i.id))
}

pub(crate) fn evaluate(
    gate: &DependenciesGate,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    requirements: &[String],
) -> Outcome {
    let requirements: std::sync::Arc<[String]> = requirements.into();
    let requirements = &requirements;
    let today = now.date_naive();
    let mut unblock = Vec::new();
    let (checks_verdict, mut details) = checks::judge(&gate.checks, snapshot, &mut unblock);
    let (reports, read) = evidence::reports_read(
        snapshot,
        is_dependency_report,
        |f| f.kind == FindingKind::Dependency,
        "vulnerability finding(s)",
    );
    details.extend(read);

    let mut findings = Vec::new();
    let mut not_blocking = 0usize;
    let mut expired_ids = Vec::new();
    for f in collect(&snapshot.reports, |f| f.kind == FindingKind::Dependency) {
        if f.severity < gate.threshold {
            not_blocking += 1;
            continue;
        }
        match ignore_for(f, &gate.ignore) {
            Some(ig) if ig.until >= today => findings.push(judged(
                f,
                FindingStatus::Ignored,
                requirements,
                Some(format!("ignored until {}: {}", ig.until, ig.reason)),
            )),
            Some(ig) => {
                expired_ids.push(ig.id.clone());
                findings.push(judged(
                    f,
                    FindingStatus::IgnoreExpired,
                    requirements,
                    Some(format!("ignore expired on {}: {}", ig.until, ig.reason)),
                ))
            }
            None => findings.push(judged(f, FindingStatus::Blocking, requirements, None)),
        }
    }
    sort(&mut findings);
    expired_ids.sort();
    expired_ids.dedup();
    for id in &expired_ids {
        details.push(Node::leaf(
            NodeStatus::Fail,
            format!("the ignore entry for {id} has expired, so it blocks again"),
        ));
    }
    let ignored = findings
        .iter()
        .filter(|f| f.status == FindingStatus::Ignored)
        .count();
    if ignored > 0 {
        details.push(Node::leaf(
            NodeStatus::Warning,
            format!("{ignored} vulnerability finding(s) accepted by `ignore` entries in force"),
        ));
    }
    let blocking = findings.len() - ignored;

    let no_evidence = gate.checks.is_empty() && reports.is_empty();
    let findings_verdict = if blocking == 0 {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let verdict = if no_evidence {
        Verdict::Pending
    } else {
        worst([checks_verdict, findings_verdict])
    };
    let explanation = if no_evidence {
        unblock.push("Provide dependency-scan evidence: list the scanner's check in `gates.dependencies.checks`, or provide its report (OSV-Scanner, Trivy, Grype, npm/cargo/pip audit, GitLab dependency scanning).".into());
        "no dependency-scan evidence: no required check is configured and no scanner report was provided".to_string()
    } else if blocking > 0 {
        unblock.push(
            "Upgrade the affected packages to a fixed version (listed below), or accept the risk with an `ignore` entry (id, reason, until) in the base branch's policy, or a waiver `/sdl waive dependencies <reason>`."
                .to_string(),
        );
        if !expired_ids.is_empty() {
            unblock.push(format!(
                "Renew or remove the expired ignore entries: {}.",
                expired_ids.join(", ")
            ));
        }
        format!(
            "{} known vulnerabilit(ies) at or above `{}`: {}",
            blocking,
            gate.threshold,
            tally(&findings)
        )
    } else {
        match checks_verdict {
            Verdict::Pending => "waiting for required dependency checks".to_string(),
            Verdict::Fail => "a required dependency check failed".to_string(),
            _ if ignored > 0 => format!(
                "no unaccepted vulnerability at or above `{}` ({ignored} accepted)",
                gate.threshold
            ),
            _ => format!("no known vulnerability at or above `{}`", gate.threshold),
        }
    };
    if not_blocking > 0 {
        details.push(Node::leaf(
            NodeStatus::Info,
            format!("{not_blocking} vulnerability finding(s) below the threshold do not block"),
        ));
    }
    let mut out = Outcome::new(verdict, explanation);
    out.details = details;
    out.findings = findings;
    out.not_blocking = not_blocking;
    out.unblock = unblock;
    out.errors = snapshot.report_errors.clone();
    out
}
