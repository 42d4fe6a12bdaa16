//! The JUnit XML report: one test case per gate, so the merge request widget lists each gate
//! as passed, failed or skipped, with the findings and the 62443-4-1 requirement ids in the
//! failure text.
//!
//! GitLab reads `testsuites/testsuite/testcase` with `name`, `classname`, `file`, `time`,
//! and a `failure`, `error` or `skipped` child whose text it shows. Every value from users or
//! scanners is escaped for XML here (and characters XML 1.0 forbids are replaced), so a
//! finding message cannot break or extend the document.

use std::fmt::Write as _;

use crate::gates::{Evaluation, FindingStatus, GateResult, Node, NodeStatus, Verdict};

/// The `classname` of every test case.
pub const CLASSNAME: &str = "sdl-gate";

/// Findings listed per failing gate at most; the rest are counted.
pub const FINDINGS_LISTED: usize = 100;

/// Characters of one finding message kept in the failure text.
const MESSAGE_CHARS: usize = 500;

/// Replaces what XML 1.0 does not allow in a document (C0 controls other than tab, line feed
/// and carriage return; U+FFFE, U+FFFF) with U+FFFD.
fn allowed(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        c if (c as u32) < 0x20 => '\u{FFFD}',
        '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
        c => c,
    }
}

/// Escapes text for XML character data.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars().map(allowed) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a double- or single-quoted XML attribute; line breaks and tabs are kept
/// as character references (a parser would fold them into spaces otherwise).
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars().map(allowed) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

fn clip(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        let mut t: String = flat.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        flat
    }
}

/// The test case name of a gate: its title and key (`Static analysis (sast)`), stable across
/// runs so GitLab can compare the MR's report with the target branch's.
pub fn case_name(gate: &GateResult) -> String {
    format!("{} ({})", gate.gate.title(), gate.gate.as_str())
}

/// The requirement ids of a gate, as one line: `IEC 62443-4-1: SR-2, SD-1`.
fn requirements_line(gate: &GateResult) -> String {
    if gate.requirements.is_empty() {
        "IEC 62443-4-1: (none mapped)".to_string()
    } else {
        format!("IEC 62443-4-1: {}", gate.requirements.join(", "))
    }
}

fn status_word(s: NodeStatus) -> &'static str {
    match s {
        NodeStatus::Pass => "pass",
        NodeStatus::Fail => "FAIL",
        NodeStatus::Pending => "pending",
        NodeStatus::Skipped => "skipped",
        NodeStatus::Info => "info",
        NodeStatus::Warning => "warning",
    }
}

fn details(out: &mut String, nodes: &[Node], depth: usize) {
    for n in nodes {
        let _ = writeln!(
            out,
            "{}- [{}] {}",
            "  ".repeat(depth),
            status_word(n.status),
            clip(&n.description, MESSAGE_CHARS)
        );
        details(out, &n.children, depth + 1);
    }
}

/// The plain-text body of a gate's test case: explanation, requirements, what unblocks it,
/// the findings with location, CWE and requirement ids, and the explanation tree.
pub fn gate_text(gate: &GateResult, standard: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", gate.verdict.as_str(), gate.explanation);
    let ids = if gate.requirements.is_empty() {
        "(none mapped)".to_string()
    } else {
        gate.requirements.join(", ")
    };
    let _ = writeln!(out, "Requirements ({standard}): {ids}");
    if !gate.cra.is_empty() {
        let _ = writeln!(out, "CRA: {}", gate.cra.join(", "));
    }
    if let Some(w) = &gate.waiver {
        let _ = writeln!(
            out,
            "Waiver ({}): by {} until {}: {}",
            w.state,
            w.waiver.author,
            w.waiver.expires_at.format("%Y-%m-%d"),
            clip(&w.waiver.reason, MESSAGE_CHARS)
        );
    }
    if !gate.unblock.is_empty() {
        let _ = writeln!(out, "\nTo unblock:");
        for u in &gate.unblock {
            let _ = writeln!(out, "- {u}");
        }
    }
    if !gate.findings.is_empty() {
        let blocking = gate
            .findings
            .iter()
            .filter(|f| f.status != FindingStatus::Ignored)
            .count();
        let _ = writeln!(
            out,
            "\nFindings ({blocking} blocking, {} listed):",
            gate.findings.len()
        );
        for f in gate.findings.iter().take(FINDINGS_LISTED) {
            let fnd = &f.finding;
            let place = match (&fnd.file, fnd.line) {
                (Some(p), Some(l)) => format!(" at {p}:{l}"),
                (Some(p), None) => format!(" in {p}"),
                _ => String::new(),
            };
            let package = fnd
                .package
                .as_ref()
                .map(|p| {
                    format!(
                        " {}{}",
                        p.name,
                        p.version
                            .as_deref()
                            .map(|v| format!("@{v}"))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            let status = match f.status {
                FindingStatus::Blocking => "",
                FindingStatus::Ignored => " (ignored)",
                FindingStatus::IgnoreExpired => " (ignore expired)",
            };
            let mut tags: Vec<String> = fnd.cwe.iter().map(|c| format!("CWE-{c}")).collect();
            tags.extend(fnd.advisories.iter().take(5).cloned());
            tags.extend(f.foundational_requirements.iter().map(|s| s.to_string()));
            tags.push(format!("IEC 62443-4-1 {}", f.requirements.join(", ")));
            let _ = writeln!(
                out,
                "- [{}]{status} {} {}{package}{place}: {} ({})",
                fnd.severity,
                clip(&fnd.tool, 80),
                clip(&fnd.rule, 200),
                clip(&fnd.message, MESSAGE_CHARS),
                tags.join("; ")
            );
        }
        if gate.findings.len() > FINDINGS_LISTED {
            let _ = writeln!(
                out,
                "- … and {} more (see sdl-gate-result.json)",
                gate.findings.len() - FINDINGS_LISTED
            );
        }
    }
    if gate.findings_not_blocking > 0 {
        let _ = writeln!(
            out,
            "{} finding(s) below the threshold or outside the change do not block.",
            gate.findings_not_blocking
        );
    }
    for w in &gate.warnings {
        let _ = writeln!(out, "Warning: {}", clip(w, MESSAGE_CHARS));
    }
    if !gate.details.is_empty() {
        let _ = writeln!(out, "\nDetails:");
        details(&mut out, &gate.details, 0);
    }
    out
}

/// Whether a gate's test case fails: `fail` always, `pending` when pending blocks the job.
fn fails(gate: &GateResult, fail_on_pending: bool) -> bool {
    gate.verdict == Verdict::Fail || (gate.verdict == Verdict::Pending && fail_on_pending)
}

/// The JUnit XML document for `eval`: one test case per gate (pass and waived pass, fail
/// fails, pending fails when `fail_on_pending`, otherwise is skipped, not applicable is
/// skipped). What could not be checked goes to the suite's `system-out`.
pub fn junit(eval: &Evaluation, fail_on_pending: bool) -> String {
    let tests = eval.gates.len();
    let failures = eval
        .gates
        .iter()
        .filter(|g| fails(g, fail_on_pending))
        .count();
    let skipped = eval
        .gates
        .iter()
        .filter(|g| !fails(g, fail_on_pending))
        .filter(|g| matches!(g.verdict, Verdict::NotApplicable | Verdict::Pending))
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"sdl-gate\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"0\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"sdl-gate: IEC 62443-4-1 SDL gates\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"0\" timestamp=\"{}\">",
        eval.evaluated_at.format("%Y-%m-%dT%H:%M:%S")
    );
    out.push_str("    <properties>\n");
    for (k, v) in [
        ("verdict", eval.verdict.as_str().to_string()),
        ("project", eval.repository.clone()),
        ("merge_request", eval.number.to_string()),
        ("head_sha", eval.head_sha.clone()),
        ("standard", eval.standard.clone()),
    ] {
        let _ = writeln!(
            out,
            "      <property name=\"{}\" value=\"{}\"/>",
            escape_attr(k),
            escape_attr(&v)
        );
    }
    out.push_str("    </properties>\n");
    for g in &eval.gates {
        let text = gate_text(g, &eval.standard);
        let _ = writeln!(
            out,
            "    <testcase name=\"{}\" classname=\"{CLASSNAME}\" time=\"0\">",
            escape_attr(&case_name(g))
        );
        let message = format!(
            "{}: {} [{}]",
            g.verdict.as_str(),
            clip(&g.explanation, MESSAGE_CHARS),
            requirements_line(g)
        );
        if fails(g, fail_on_pending) {
            let _ = writeln!(
                out,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                g.verdict.as_str(),
                escape_attr(&message),
                escape_text(&text)
            );
        } else {
            if matches!(g.verdict, Verdict::NotApplicable | Verdict::Pending) {
                let _ = writeln!(
                    out,
                    "      <skipped message=\"{}\"/>",
                    escape_attr(&message)
                );
            }
            // The failure text already says it all for a failing case.
            let _ = writeln!(out, "      <system-out>{}</system-out>", escape_text(&text));
        }
        out.push_str("    </testcase>\n");
    }
    if !eval.unknowns.is_empty() {
        let mut text = String::from("Not checked:\n");
        for u in &eval.unknowns {
            let _ = writeln!(text, "- {u}");
        }
        let _ = writeln!(out, "    <system-out>{}</system-out>", escape_text(&text));
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// A JUnit document with one erroring test case, for a job that could not evaluate at all
/// (a misconfiguration): the widget then says why instead of showing nothing.
pub fn junit_error(message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"sdl-gate\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"0\">\n  <testsuite name=\"sdl-gate: IEC 62443-4-1 SDL gates\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"0\">\n    <testcase name=\"sdl-gate configuration\" classname=\"{CLASSNAME}\" time=\"0\">\n      <error type=\"misconfiguration\" message=\"{}\">{}</error>\n    </testcase>\n  </testsuite>\n</testsuites>\n",
        escape_attr(&clip(message, MESSAGE_CHARS)),
        escape_text(message)
    )
}
