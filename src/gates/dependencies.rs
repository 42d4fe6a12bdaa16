//! The `dependencies` gate: required dependency checks succeeded and no known vulnerability
//! at or above the threshold remains, except accepted ones with a reason and an expiry
//! (62443-4-1 SM-9, SVV-3, DM-3, DM-4).
//!
//! What a scan did not cover is part of the verdict: a report whose scanner audited none of
//! the dependencies it listed (pip-audit `skip_reason` on every one) is no evidence — the gate
//! names them and fails (`fail_mode: closed`) or, under `open`, warns and judges without that
//! report (pending when nothing else is evidence). A partial skip does not block: the audited
//! dependencies are evidence and the skipped ones are named in a warning, because a project's
//! own package or a private one (not on PyPI) is skipped in almost every real run. VEX
//! statements that set a vulnerability aside are counted and listed with their justification.

use chrono::{DateTime, Utc};

use crate::policy::{DependenciesGate, IgnoreEntry};
use crate::reports::{Finding, FindingKind, Report, ReportFormat, Skipped};
use crate::snapshot::Snapshot;

use super::checks;
use super::evidence;
use super::findings::{collect, judged, sort, tally};
use super::outcome::{Outcome, q, worst};
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
        | ReportFormat::GitlabContainerScanning => !report.coverage.audited_nothing(),
        // A CycloneDX document is a scan result when it lists vulnerabilities (VEX, or a
        // scanner writing CycloneDX); an inventory alone, or an empty list, says nothing about
        // vulnerabilities.
        ReportFormat::CycloneDx => report.coverage.vulnerability_analysis,
        ReportFormat::Sarif | ReportFormat::GithubCodeScanning => evidence::is_sca_only(report),
        _ => false,
    }
}

/// How many skipped dependencies a message names before "… and N more".
const SHOW_SKIPPED: usize = 10;

/// `a@1 (reason); b (reason)`, at most [`SHOW_SKIPPED`] of them.
fn skipped_list(skipped: &[Skipped]) -> String {
    let mut parts: Vec<String> = skipped
        .iter()
        .take(SHOW_SKIPPED)
        .map(|s| format!("{} ({})", q(&s.label()), s.reason))
        .collect();
    if skipped.len() > SHOW_SKIPPED {
        parts.push(format!("… and {} more", skipped.len() - SHOW_SKIPPED));
    }
    parts.join("; ")
}

/// Explanation lines and gate errors for what the reports did not audit or set aside.
fn coverage_notes(snapshot: &Snapshot, details: &mut Vec<Node>, errors: &mut Vec<String>) {
    for r in &snapshot.reports {
        let c = &r.coverage;
        if c.audited_nothing() {
            errors.push(format!(
                "{} ({}) audited no dependency: all {} it listed were skipped, so it is no evidence: {}",
                q(&r.source),
                r.format,
                c.skipped.len(),
                skipped_list(&c.skipped)
            ));
        } else if !c.skipped.is_empty() {
            details.push(Node::leaf(
                NodeStatus::Warning,
                format!(
                    "{} ({}) could not audit {} of {} dependencies; they are not covered: {}",
                    q(&r.source),
                    r.format,
                    c.skipped.len(),
                    c.skipped.len() + c.audited.unwrap_or(0),
                    skipped_list(&c.skipped)
                ),
            ));
        }
        if !c.suppressed.is_empty() {
            let children = c
                .suppressed
                .iter()
                .map(|s| {
                    let on = if s.packages.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " in {}",
                            s.packages
                                .iter()
                                .map(|p| q(p))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    Node::leaf(NodeStatus::Info, format!("{}{on}: {}", q(&s.id), s.why()))
                })
                .collect();
            details.push(Node::with_children(
                NodeStatus::Info,
                format!(
                    "{} vulnerabilit(ies) set aside by the VEX analysis in {} (suppressed, not counted)",
                    c.suppressed.len(),
                    q(&r.source)
                ),
                children,
            ));
        }
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
    let mut coverage_errors = Vec::new();
    coverage_notes(snapshot, &mut details, &mut coverage_errors);

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
    let audited_nothing: Vec<String> = snapshot
        .reports
        .iter()
        .filter(|r| r.coverage.audited_nothing())
        .map(|r| q(&r.source))
        .collect();
    let explanation = if no_evidence {
        unblock.push("Provide dependency-scan evidence: list the scanner's check in `gates.dependencies.checks`, or provide its report (OSV-Scanner, Trivy, Grype, npm/cargo/pip audit, GitLab dependency scanning, CycloneDX VEX).".into());
        if audited_nothing.is_empty() {
            "no dependency-scan evidence: no required check is configured and no scanner report was provided".to_string()
        } else {
            unblock.push("Make the scanner audit the dependencies it skipped (pip-audit: pin them to versions published on PyPI, or audit the installed environment), or add a scanner that covers them.".into());
            format!(
                "no dependency-scan evidence: {} audited no dependency (every one was skipped)",
                audited_nothing.join(", ")
            )
        }
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
    out.errors.extend(coverage_errors);
    out
}
