//! The `sast` gate: required static-analysis checks succeeded and no code, secret or
//! configuration finding at or above the threshold remains (62443-4-1 SI-1, SI-2).

use crate::policy::SastGate;
use crate::reports::{FindingKind, Report, ReportFormat};
use crate::snapshot::{CodeScanning, Snapshot};

use super::checks;
use super::evidence;
use super::findings::{collect, judged, sort, sort_refs, tally};
use super::outcome::{Outcome, q, worst};
use super::result::{FindingStatus, Node, NodeStatus, Verdict};

/// Does this report count as static-analysis evidence (even with no findings)?
fn is_sast_report(report: &Report) -> bool {
    match report.format {
        ReportFormat::Sarif | ReportFormat::GithubCodeScanning => !evidence::is_sca_only(report),
        ReportFormat::GitlabSast | ReportFormat::GitlabSecretDetection => true,
        _ => false,
    }
}

/// What the gate waits for from code scanning before it can judge its alerts.
struct AwaitedScan {
    /// The explanation: what is awaited.
    waiting: String,
    /// How to get it.
    unblock: String,
}

/// What `gates.sast.code_scanning` adds to the details; what is still awaited from code
/// scanning, when something is (the gate then waits).
fn code_scanning(
    gate: &SastGate,
    snapshot: &Snapshot,
    details: &mut Vec<Node>,
) -> Option<AwaitedScan> {
    if !gate.code_scanning {
        return None;
    }
    match &snapshot.code_scanning {
        CodeScanning::NotRead => {
            details.push(Node::leaf(
                NodeStatus::Info,
                "code scanning alerts not read: `code_scanning` is read by the GitHub App; here the uploaded SARIF reports are the evidence",
            ));
            None
        }
        CodeScanning::NoAnalysis { git_ref } => {
            details.push(Node::leaf(
                NodeStatus::Pending,
                format!("GitHub code scanning has no analysis of {} yet", q(git_ref)),
            ));
            Some(AwaitedScan {
                waiting: format!("waiting for a code-scanning analysis of {}", q(git_ref)),
                unblock: format!(
                    "Run code scanning on this pull request (CodeQL, or a SARIF upload from a workflow triggered by `pull_request`, or by `push` to its branch when the branch is in this repository) so that GitHub has an analysis of {}.",
                    q(git_ref)
                ),
            })
        }
        CodeScanning::Stale {
            git_ref,
            tool,
            analysed,
        } => {
            let head = snapshot.head_sha.short();
            let analysed = analysed.get(..7).unwrap_or(analysed);
            details.push(Node::leaf(
                NodeStatus::Pending,
                format!(
                    "the newest {} analysis of {} is of commit {}, which does not contain the head {}: its alerts are not about this head",
                    q(tool),
                    q(git_ref),
                    q(analysed),
                    q(head)
                ),
            ));
            Some(AwaitedScan {
                waiting: format!(
                    "waiting for code scanning ({}) to analyse the head {}",
                    q(tool),
                    q(head)
                ),
                unblock: format!(
                    "Let the {} scan of this pull request finish for {}; if that tool no longer runs here, delete its old analysis (`DELETE /repos/{{owner}}/{{repo}}/code-scanning/analyses/{{id}}`).",
                    q(tool),
                    q(head)
                ),
            })
        }
        // The reason is among the report errors, which fail the gate closed.
        CodeScanning::Unreadable { .. } => None,
        // The alerts are a report; `reports_read` has named it.
        CodeScanning::Read { git_ref } => {
            details.push(Node::leaf(
                NodeStatus::Info,
                format!(
                    "code scanning: every tool's newest analysis of {} is of the head {}",
                    q(git_ref),
                    q(snapshot.head_sha.short())
                ),
            ));
            None
        }
    }
}

pub(crate) fn evaluate(gate: &SastGate, snapshot: &Snapshot, requirements: &[String]) -> Outcome {
    let requirements: std::sync::Arc<[String]> = requirements.into();
    let requirements = &requirements;
    let mut unblock = Vec::new();
    let (checks_verdict, mut details) = checks::judge(&gate.checks, snapshot, &mut unblock);
    let (sast_reports, read) = evidence::reports_read(
        snapshot,
        is_sast_report,
        |f| f.kind != FindingKind::Dependency,
        "finding(s)",
    );
    details.extend(read);
    let awaiting_scan = code_scanning(gate, snapshot, &mut details);
    let code = collect(&snapshot.reports, |f| f.kind != FindingKind::Dependency);
    let total = code.len();
    details.extend(suppressed_and_outside(&sast_reports, &code));
    // A scanner that says its own run failed (a rule that did not parse, a file it skipped)
    // gave incomplete evidence: an error of the gate, so it fails closed (warns when open).
    let failures: Vec<String> = sast_reports
        .iter()
        .flat_map(|r| {
            r.failures
                .iter()
                .map(move |f| format!("{}: {}", r.source, f.describe()))
        })
        .collect();
    // Pick the blocking ones first, then copy exactly those: a large report must not make
    // the result vector double its way up.
    let mut blocking: Vec<_> = code
        .into_iter()
        .filter(|f| f.severity >= gate.threshold)
        .filter(|f| !gate.new_only || evidence::in_change(f, snapshot))
        .collect();
    sort_refs(&mut blocking);
    let not_blocking = total - blocking.len();
    let mut findings: Vec<_> = blocking
        .into_iter()
        .map(|f| judged(f, FindingStatus::Blocking, requirements, None))
        .collect();
    sort(&mut findings);

    let findings_verdict = if findings.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let no_evidence = gate.checks.is_empty() && sast_reports.is_empty();
    let scan_verdict = if awaiting_scan.is_some() {
        Verdict::Pending
    } else {
        Verdict::Pass
    };
    let verdict = if no_evidence {
        Verdict::Pending
    } else {
        worst([checks_verdict, findings_verdict, scan_verdict])
    };
    let scope = if gate.new_only {
        " on changed lines"
    } else {
        ""
    };
    let waiting_for_scan = awaiting_scan.filter(|_| no_evidence || findings.is_empty());
    let explanation = if let Some(scan) = waiting_for_scan {
        unblock.push(scan.unblock);
        scan.waiting
    } else if no_evidence {
        unblock.push("Provide static-analysis evidence: list the scanner's check in `gates.sast.checks`, or upload its SARIF report.".into());
        "no static-analysis evidence: no required check is configured and no SARIF report was provided".to_string()
    } else if !findings.is_empty() {
        unblock.push(format!(
            "Fix the {} finding(s) at or above `{}`{scope} listed below, or ask a security reviewer to waive with `/sdl waive sast <reason>`.",
            findings.len(),
            gate.threshold
        ));
        format!(
            "{} finding(s) at or above `{}`{scope}: {}",
            findings.len(),
            gate.threshold,
            tally(&findings)
        )
    } else {
        match checks_verdict {
            Verdict::Pending => "waiting for required static-analysis checks".to_string(),
            Verdict::Fail => "a required static-analysis check failed".to_string(),
            _ => format!("no finding at or above `{}`{scope}", gate.threshold),
        }
    };
    if not_blocking > 0 {
        details.push(Node::leaf(
            NodeStatus::Info,
            format!(
                "{not_blocking} finding(s) below the threshold or outside the change do not block"
            ),
        ));
    }
    let mut out = Outcome::new(verdict, explanation);
    out.details = details;
    out.findings = findings;
    out.not_blocking = not_blocking;
    out.unblock = unblock;
    out.errors = snapshot.report_errors.clone();
    out.errors.extend(failures);
    out
}

/// The most suppressed results listed one by one; the rest are counted.
const SUPPRESSED_LISTED: usize = 20;

/// Lines about what the reports hold besides findings: the results their tools marked as
/// suppressed (counted and listed with their justification, for auditors), and findings at
/// absolute paths outside the repository, which no change can touch.
fn suppressed_and_outside(reports: &[&Report], code: &[&crate::reports::Finding]) -> Vec<Node> {
    let mut out = Vec::new();
    let suppressed: Vec<_> = reports.iter().flat_map(|r| r.suppressed.iter()).collect();
    if !suppressed.is_empty() {
        out.push(Node::leaf(
            NodeStatus::Info,
            format!(
                "{} result(s) suppressed by their tool (not counted as findings):",
                suppressed.len()
            ),
        ));
        for s in suppressed.iter().take(SUPPRESSED_LISTED) {
            let place = match (&s.file, s.line) {
                (Some(f), Some(l)) => format!(" at {}", q(&format!("{f}:{l}"))),
                (Some(f), None) => format!(" at {}", q(f)),
                _ => String::new(),
            };
            let why = s.justification.as_deref().map_or_else(
                || "no justification given".to_owned(),
                |j| format!("justification: {j}"),
            );
            out.push(Node::leaf(
                NodeStatus::Info,
                format!(
                    "suppressed ({}): {} {}{place} — {why}",
                    s.kind,
                    s.tool,
                    q(&s.rule)
                ),
            ));
        }
        if suppressed.len() > SUPPRESSED_LISTED {
            out.push(Node::leaf(
                NodeStatus::Info,
                format!(
                    "and {} more suppressed result(s)",
                    suppressed.len() - SUPPRESSED_LISTED
                ),
            ));
        }
    }
    let outside: Vec<_> = code.iter().filter(|f| f.is_outside_repository()).collect();
    if let Some(first) = outside.first() {
        out.push(Node::leaf(
            NodeStatus::Info,
            format!(
                "{} finding(s) at paths outside the repository (e.g. {}): no change touches them",
                outside.len(),
                q(first.file.as_deref().unwrap_or(""))
            ),
        ));
    }
    out
}
