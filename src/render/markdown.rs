//! Markdown for people: the check-run title, summary and text, the sticky comment and the
//! job summary. Each is built from the same evaluation by named functions, so every surface
//! explains the same verdict the same way, and each respects the forge's size limit with a
//! visible note when it had to cut.

use std::fmt::Write as _;

use crate::gates::{
    Evaluation, FindingStatus, GateFinding, GateResult, Node, NodeStatus, OverallVerdict, Verdict,
};

use super::escape;

/// The hidden marker that identifies sdl-gate's sticky comment on a change.
pub const COMMENT_MARKER: &str = "<!-- sdl-gate:summary -->";

/// GitHub's limit for a check run's summary and for its text, in characters.
pub const CHECK_RUN_TEXT_LIMIT: usize = 65_535;

/// GitHub's limit for a comment body; GitLab's note limit is larger (1,000,000).
pub const COMMENT_LIMIT: usize = 65_536;

/// How many findings per gate the comment lists before summarising.
pub const COMMENT_FINDINGS: usize = 20;

/// How many findings per gate the check-run text lists before summarising.
pub const TEXT_FINDINGS: usize = 250;

fn verdict_icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✅",
        Verdict::Fail => "❌",
        Verdict::Pending => "⏳",
        Verdict::NotApplicable => "➖",
        Verdict::Waived => "⚠️",
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "blocks",
        Verdict::Pending => "pending",
        Verdict::NotApplicable => "not applicable",
        Verdict::Waived => "waived",
    }
}

fn node_icon(s: NodeStatus) -> &'static str {
    match s {
        NodeStatus::Pass => "✅",
        NodeStatus::Fail => "❌",
        NodeStatus::Pending => "⏳",
        NodeStatus::Skipped => "➖",
        NodeStatus::Info => "ℹ️",
        NodeStatus::Warning => "⚠️",
    }
}

/// A one-line title: what blocks, or that everything passes.
pub fn title(eval: &Evaluation) -> String {
    let names = |v: Verdict| {
        eval.gates
            .iter()
            .filter(|g| g.verdict == v)
            .map(|g| g.gate.as_str())
            .collect::<Vec<_>>()
    };
    match eval.verdict {
        OverallVerdict::Pass => {
            let waived = names(Verdict::Waived);
            if waived.is_empty() {
                "All SDL gates pass".into()
            } else {
                format!("SDL gates pass ({} waived)", waived.join(", "))
            }
        }
        OverallVerdict::Fail => {
            let failed = names(Verdict::Fail);
            format!("{} SDL gate(s) block: {}", failed.len(), failed.join(", "))
        }
        OverallVerdict::Pending => format!("Waiting on: {}", names(Verdict::Pending).join(", ")),
    }
}

fn headline(eval: &Evaluation) -> String {
    let icon = match eval.verdict {
        OverallVerdict::Pass => "✅",
        OverallVerdict::Fail => "❌",
        OverallVerdict::Pending => "⏳",
    };
    format!("### {icon} sdl-gate: {}\n\n", title(eval))
}

fn requirement_list(ids: &[String]) -> String {
    if ids.is_empty() {
        "—".into()
    } else {
        ids.iter()
            .map(|i| escape::line(i, 20))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The table of gates: verdict, requirement ids, one-line explanation.
fn gate_table(eval: &Evaluation) -> String {
    let mut out = String::from("| Gate | Verdict | IEC 62443-4-1 | Why |\n|---|---|---|---|\n");
    for g in &eval.gates {
        let _ = writeln!(
            out,
            "| {} | {} {} | {} | {} |",
            g.gate.title(),
            verdict_icon(g.verdict),
            verdict_word(g.verdict),
            requirement_list(&g.requirements),
            escape::rich(&g.explanation, 300)
        );
    }
    out
}

fn unblock_list(eval: &Evaluation) -> String {
    let blocking: Vec<&GateResult> = eval
        .gates
        .iter()
        .filter(|g| matches!(g.verdict, Verdict::Fail | Verdict::Pending) && !g.unblock.is_empty())
        .collect();
    if blocking.is_empty() {
        return String::new();
    }
    let mut out = String::from("**To unblock:**\n\n");
    for g in blocking {
        for step in &g.unblock {
            let _ = writeln!(
                out,
                "- **{}** — {}",
                g.gate.title(),
                escape::rich(step, 600)
            );
        }
    }
    out.push('\n');
    out
}

fn location(f: &GateFinding) -> String {
    match (&f.finding.file, f.finding.line) {
        (Some(file), Some(line)) => escape::code(&format!("{file}:{line}")),
        (Some(file), None) => escape::code(file),
        (None, _) => match &f.finding.package {
            Some(p) => escape::code(&format!(
                "{}@{}",
                p.name,
                p.version.as_deref().unwrap_or("?")
            )),
            None => "—".into(),
        },
    }
}

fn weakness(f: &GateFinding) -> String {
    let mut parts: Vec<String> = f.finding.cwe.iter().map(|c| format!("CWE-{c}")).collect();
    parts.extend(f.foundational_requirements.iter().map(|fr| fr.to_string()));
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(", ")
    }
}

fn finding_message(f: &GateFinding) -> String {
    let mut msg = escape::line(&f.finding.message, 240);
    if let Some(p) = &f.finding.package
        && let Some(fixed) = &p.fixed_version
    {
        let _ = write!(msg, " — fixed in {}", escape::code(fixed));
    }
    if let Some(note) = &f.ignore_note {
        let _ = write!(msg, " — _{}_", escape::line(note, 200));
    }
    msg
}

/// A findings table of at most `max` rows, with a line saying how many were left out.
fn findings_table(g: &GateResult, max: usize) -> String {
    if g.findings.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "| Severity | Rule | Location | Weakness | Message |\n|---|---|---|---|---|\n",
    );
    for f in g.findings.iter().take(max) {
        let sev = match f.status {
            FindingStatus::Blocking => f.finding.severity.as_str().to_string(),
            FindingStatus::Ignored => format!("{} (accepted)", f.finding.severity),
            FindingStatus::IgnoreExpired => format!("{} (ignore expired)", f.finding.severity),
        };
        let rule = match &f.finding.help_uri {
            Some(u) => escape::link(&f.finding.rule, u),
            None => escape::line(&f.finding.rule, 120),
        };
        let _ = writeln!(
            out,
            "| {sev} | {rule} | {} | {} | {} |",
            location(f),
            weakness(f),
            finding_message(f)
        );
    }
    if g.findings.len() > max {
        let _ = writeln!(
            out,
            "\n_… and {} more finding(s), listed in the check run and the JSON result._",
            g.findings.len() - max
        );
    }
    out
}

fn tree(nodes: &[Node], depth: usize, out: &mut String) {
    for n in nodes {
        let _ = writeln!(
            out,
            "{}- {} {}",
            "  ".repeat(depth),
            node_icon(n.status),
            escape::rich(&n.description, 600)
        );
        if depth < 4 {
            tree(&n.children, depth + 1, out);
        }
    }
}

fn gate_section(g: &GateResult, max_findings: usize) -> String {
    let mut out = format!(
        "#### {} {} — {}\n\n{}\n\n",
        verdict_icon(g.verdict),
        g.gate.title(),
        verdict_word(g.verdict),
        escape::rich(&g.explanation, 600)
    );
    let mut t = String::new();
    tree(&g.details, 0, &mut t);
    out.push_str(&t);
    for w in &g.warnings {
        let _ = writeln!(
            out,
            "- ⚠️ could not check (fail-open): {}",
            escape::rich(w, 400)
        );
    }
    out.push('\n');
    let table = findings_table(g, max_findings);
    if !table.is_empty() {
        out.push_str(&table);
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "<sub>Evidence for IEC 62443-4-1 {}{}</sub>\n",
        requirement_list(&g.requirements),
        if g.cra.is_empty() {
            String::new()
        } else {
            format!(
                "; CRA {}",
                g.cra
                    .iter()
                    .map(|c| escape::line(c, 40))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    out
}

/// How the organisation's policy took part: as the repository's policy, and the rules its
/// floor kept (empty when there is no organisation policy, or it changed nothing).
fn org_policy_lines(eval: &Evaluation) -> String {
    let Some(org) = &eval.org_policy else {
        return String::new();
    };
    let mut out = String::new();
    let location = escape::code(&org.location);
    if org.as_default {
        let _ = writeln!(
            out,
            "**Org policy:** this repository has no sdl-gate policy of its own; the organisation's {location} applies.\n"
        );
    }
    if !org.floor.is_empty() {
        let _ = writeln!(out, "**Org floor** ({location}) kept:\n");
        for note in &org.floor {
            let _ = writeln!(out, "- {}", escape::rich(&note.message, 400));
        }
        out.push('\n');
    }
    out
}

fn footer(eval: &Evaluation) -> String {
    let mut out = org_policy_lines(eval);
    if !eval.unknowns.is_empty() {
        out.push_str("**Not checked:**\n\n");
        for u in &eval.unknowns {
            let _ = writeln!(out, "- {}", escape::rich(u, 400));
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "<sub>sdl-gate {} · {} · head {} · {}</sub>",
        env!("CARGO_PKG_VERSION"),
        escape::line(&eval.standard, 80),
        escape::code(eval.head_sha.get(..12).unwrap_or(&eval.head_sha)),
        eval.evaluated_at.format("%Y-%m-%d %H:%M UTC")
    );
    out
}

/// `text` without the evaluation time of its footer line (`<sub>sdl-gate … · 2026-11-27
/// 10:00 UTC</sub>`, written by `footer`).
fn without_clock(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with("<sub>sdl-gate ")
                && line.ends_with(" UTC</sub>")
                && let Some(cut) = line.rfind(" · ")
            {
                &line[..cut]
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether two renderings say the same apart from when the evaluation ran. Publishers on
/// both forges use it so that an evaluation differing only in its time is not written again,
/// which saves two writes for every event that changes nothing (another CI check finishing,
/// a comment). Times elsewhere (a waiver's expiry) still count.
pub fn same_report(a: &str, b: &str) -> bool {
    a == b || without_clock(a) == without_clock(b)
}

/// Cuts `text` to at most `limit` bytes at a line boundary, ending with a visible note.
pub fn fit(text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let note = format!(
        "\n\n---\n**Truncated:** this report is longer than the {limit} characters allowed here; {} characters were cut. The full result is in the check run text and the JSON result.\n",
        text.len() - limit
    );
    let mut cut = limit.saturating_sub(note.len() + 4);
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let body = &text[..cut];
    let body = body.rfind('\n').map(|i| &body[..i]).unwrap_or(body);
    format!("{body}{note}")
}

/// The check run's summary: headline, gate table, how to unblock.
pub fn check_summary(eval: &Evaluation) -> String {
    let mut out = headline(eval);
    out.push_str(&gate_table(eval));
    out.push('\n');
    out.push_str(&unblock_list(eval));
    out.push_str(&footer(eval));
    fit(out, CHECK_RUN_TEXT_LIMIT)
}

/// The check run's text: every applicable gate's explanation tree and findings.
pub fn check_text(eval: &Evaluation) -> String {
    let mut out = String::new();
    for g in eval
        .gates
        .iter()
        .filter(|g| g.verdict != Verdict::NotApplicable)
    {
        out.push_str(&gate_section(g, TEXT_FINDINGS));
    }
    let na: Vec<&str> = eval
        .gates
        .iter()
        .filter(|g| g.verdict == Verdict::NotApplicable)
        .map(|g| g.gate.as_str())
        .collect();
    if !na.is_empty() {
        let _ = writeln!(out, "_Not applicable to this change: {}._", na.join(", "));
    }
    fit(out, CHECK_RUN_TEXT_LIMIT)
}

/// The sticky comment: marker, headline, table, how to unblock, and the sections of the gates
/// that block or are waived. `details_url` links to the full details page when there is one.
pub fn comment(eval: &Evaluation, details_url: Option<&str>) -> String {
    let mut out = format!("{COMMENT_MARKER}\n");
    out.push_str(&headline(eval));
    out.push_str(&gate_table(eval));
    out.push('\n');
    out.push_str(&unblock_list(eval));
    for g in eval.gates.iter().filter(|g| {
        matches!(
            g.verdict,
            Verdict::Fail | Verdict::Pending | Verdict::Waived
        )
    }) {
        out.push_str("<details>\n<summary>");
        let _ = write!(
            out,
            "{} {} — details",
            verdict_icon(g.verdict),
            g.gate.title()
        );
        out.push_str("</summary>\n\n");
        out.push_str(&gate_section(g, COMMENT_FINDINGS));
        out.push_str("</details>\n\n");
    }
    if let Some(url) = details_url {
        let _ = writeln!(out, "{}\n", escape::link("Full details", url));
    }
    out.push_str("<sub>Commands: `/sdl help` · `/sdl recheck` · `/sdl explain <gate>` · `/sdl waive <gate> <reason>`</sub>\n\n");
    out.push_str(&footer(eval));
    fit(out, COMMENT_LIMIT)
}

/// The job summary of the Action and the GitLab CI job: the comment without its marker,
/// with the complete explanation of every applicable gate.
pub fn job_summary(eval: &Evaluation) -> String {
    let mut out = headline(eval);
    out.push_str(&gate_table(eval));
    out.push('\n');
    out.push_str(&unblock_list(eval));
    out.push_str(&check_text(eval));
    out.push('\n');
    out.push_str(&footer(eval));
    // GitHub's step summary limit is 1 MiB.
    fit(out, 1024 * 1024)
}
