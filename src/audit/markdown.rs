//! The report as Markdown, for a pull request, a wiki or a ticket: the JSON report rendered,
//! with every string that came from the ledger (titles, logins, reasons, notes, tags) passed
//! through the project's Markdown escaping, so a title cannot mention people, inject HTML or
//! forge a link.

use std::fmt::Write;

use super::model::{AuditReport, CoverageStatus, GateVerdict, MergedChange, WaiverStatus};
use crate::render::escape;

/// The longest a table cell made of user text gets before it is cut with an ellipsis.
const CELL: usize = 300;

fn cell(s: &str) -> String {
    escape::line(s, CELL)
}

fn opt(s: Option<&str>, none: &str) -> String {
    s.map_or_else(|| cell(none), cell)
}

fn seqs(s: &[u64]) -> String {
    if s.is_empty() {
        return "—".to_owned();
    }
    s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

fn gate_cell(m: &MergedChange) -> String {
    if m.gates.is_empty() {
        return "no evaluation recorded".to_owned();
    }
    m.gates
        .iter()
        .map(|g| {
            let v = match g.verdict {
                GateVerdict::Fail | GateVerdict::Pending | GateVerdict::Waived => {
                    format!("**{}**", g.verdict.as_str().replace('_', "\\_"))
                }
                _ => g.verdict.as_str().replace('_', "\\_"),
            };
            format!("{}: {v}", cell(g.gate.as_str()))
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// The report as Markdown.
pub fn render_markdown(r: &AuditReport) -> String {
    let mut o = String::with_capacity(4096 + r.merges.len() * 400);
    let s = &r.scope;
    let _ = writeln!(
        o,
        "# sdl-gate evidence report: {} {}\n",
        cell(&s.forge),
        cell(&s.repository)
    );
    if !r.ledger.verified {
        let _ = writeln!(
            o,
            "> **⚠️ LEDGER VERIFICATION FAILED — this evidence cannot be trusted.** {}\n",
            cell(&r.ledger.verification)
        );
    }
    if r.summary.bypassed > 0 {
        let _ = writeln!(
            o,
            "> **⛔ {} of {} merges BYPASSED the gate** (listed first below).\n",
            r.summary.bypassed, r.summary.merges
        );
    }
    let _ = writeln!(o, "| | |\n| --- | --- |");
    let _ = writeln!(
        o,
        "| Repository | {} {} |",
        cell(&s.forge),
        escape::code(&s.repository)
    );
    let _ = writeln!(o, "| Range | {} |", cell(&s.range.description));
    if let Some(rel) = &s.range.release {
        let _ = writeln!(
            o,
            "| Release | {} at {} by {}, {} (ledger entry {}) |",
            escape::code(&rel.tag),
            opt(rel.commit.as_deref(), "(commit not recorded)"),
            opt(rel.by.as_deref(), "(unknown)"),
            rel.released_at
                .map_or("(time not recorded)".to_owned(), |t| t.to_rfc3339()),
            rel.seq
        );
    }
    let _ = writeln!(
        o,
        "| sdl-gate | {} (evaluations made by {}) |",
        cell(&s.sdl_gate),
        cell(&s.evaluated_by.join(", "))
    );
    let _ = writeln!(
        o,
        "| Standard | {} (recorded: {}) |",
        cell(&s.standard),
        cell(&s.editions_recorded.join(", "))
    );
    let _ = writeln!(
        o,
        "| Ledger checkpoint | {} |",
        r.ledger.checkpoint.as_ref().map_or_else(
            || "none yet: no entry is signed".to_owned(),
            |c| format!(
                "{} entries, root {} ({})",
                c.size,
                escape::code(&c.root),
                cell(&c.origin)
            )
        )
    );
    let _ = writeln!(
        o,
        "| Ledger verify | {}: {} |",
        if r.ledger.verified {
            "passed"
        } else {
            "**FAILED**"
        },
        cell(&r.ledger.verification)
    );
    if !r.ledger.unsealed_cited.is_empty() {
        let _ = writeln!(
            o,
            "| Not yet signed | entries {} are chained but after the checkpoint |",
            seqs(&r.ledger.unsealed_cited)
        );
    }
    let _ = writeln!(o, "| Generated | {} |\n", s.generated_at.to_rfc3339());

    let sum = &r.summary;
    let _ = writeln!(o, "## Summary\n");
    let _ = writeln!(
        o,
        "- {} merged changes: {} bypassed, {} never evaluated\n- {} waivers, {} findings set aside by dependency ignores\n- requirements: {} covered, {} partly evidenced, {} not evidenced, {} not triggered, {} {}\n",
        sum.merges,
        sum.bypassed,
        sum.unevaluated,
        sum.waivers,
        sum.ignored_findings,
        sum.requirements_covered,
        sum.requirements_partial,
        sum.requirements_not_evidenced,
        sum.requirements_not_triggered,
        sum.requirements_process_only,
        super::model::PROCESS_EVIDENCE
    );

    let _ = writeln!(o, "## Merged changes\n");
    if r.merges.is_empty() {
        let _ = writeln!(o, "No merge in the range.\n");
    } else {
        let _ = writeln!(
            o,
            "| # | title | merged at | by | verdict at merge | gates | exceptions | entries |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        for m in &r.merges {
            let verdict = m.verdict.map_or("none", |v| v.as_str());
            let verdict = if m.bypassed {
                format!("**⛔ BYPASSED** ({verdict})")
            } else {
                verdict.to_owned()
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | merge {}, evaluation {} |",
                m.number,
                opt(m.title.as_deref(), "(title not recorded)"),
                m.merged_at.format("%Y-%m-%d %H:%M UTC"),
                opt(m.merged_by.as_deref(), "(unknown)"),
                verdict,
                gate_cell(m),
                if m.exceptions.is_empty() {
                    "—".to_owned()
                } else {
                    m.exceptions
                        .iter()
                        .map(|e| cell(e))
                        .collect::<Vec<_>>()
                        .join("<br>")
                },
                m.merge_seq,
                m.evaluation_seq
                    .map_or("none".to_owned(), |s| s.to_string()),
            );
        }
        let _ = writeln!(o);
    }

    let ex = &r.exceptions;
    let _ = writeln!(o, "## Exceptions\n\n### Bypasses\n");
    if ex.bypasses.is_empty() {
        let _ = writeln!(o, "None.\n");
    } else {
        for b in &ex.bypasses {
            let _ = writeln!(
                o,
                "- **⛔ BYPASSED: #{}** merged by {} at {}: {} (entry {})",
                b.number,
                opt(b.merged_by.as_deref(), "(unknown)"),
                b.merged_at.format("%Y-%m-%d %H:%M UTC"),
                cell(&b.why),
                b.merge_seq
            );
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "### Waivers\n");
    if ex.waivers.is_empty() {
        let _ = writeln!(o, "None.\n");
    } else {
        let _ = writeln!(
            o,
            "| # | gate | by | reason | granted | until | status | entries |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        for w in &ex.waivers {
            let status = match (w.status, &w.revoked) {
                (WaiverStatus::Revoked, Some(how)) => format!("revoked {}", cell(how)),
                (st, _) => st.as_str().replace('_', " "),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | granted {}, ended {} |",
                w.number,
                cell(w.gate.as_str()),
                cell(&w.by),
                cell(&w.reason),
                w.granted_at.format("%Y-%m-%d %H:%M UTC"),
                w.until.format("%Y-%m-%d %H:%M UTC"),
                status,
                w.granted_seq.map_or("—".to_owned(), |s| s.to_string()),
                w.ended_seq.map_or("—".to_owned(), |s| s.to_string()),
            );
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "### Dependency ignores\n");
    if ex.ignores.is_empty() {
        let _ = writeln!(o, "None.\n");
    } else {
        let _ = writeln!(
            o,
            "| # | gate | finding | reason and until | expired | entry |\n| --- | --- | --- | --- | --- | --- |"
        );
        for i in &ex.ignores {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                i.number,
                cell(i.gate.as_str()),
                escape::code(&i.fingerprint),
                cell(&i.note),
                if i.expired { "**yes**" } else { "no" },
                i.evaluation_seq
            );
        }
        let _ = writeln!(o);
    }

    let _ = writeln!(
        o,
        "## Coverage per requirement ({})\n\n{}\n",
        cell(&s.standard),
        super::model::COVERAGE_NOTE
    );
    let _ = writeln!(
        o,
        "| requirement | title | status | evidence | entries |\n| --- | --- | --- | --- | --- |"
    );
    for c in &r.coverage {
        let status = match c.status {
            CoverageStatus::Covered => "covered".to_owned(),
            CoverageStatus::Partial => "**partial**".to_owned(),
            CoverageStatus::NotEvidenced => "**not evidenced**".to_owned(),
            CoverageStatus::NotTriggered => "not triggered".to_owned(),
            CoverageStatus::ProcessEvidenceNeeded => "process evidence".to_owned(),
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            cell(&c.id),
            cell(&c.title),
            status,
            cell(&c.statement),
            seqs(&c.evidence_seqs)
        );
    }
    let _ = writeln!(o);

    let _ = writeln!(
        o,
        "## EU Cyber Resilience Act\n\n| reference | what | supported by | changes | entries |\n| --- | --- | --- | --- | --- |"
    );
    for c in &r.cra {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            cell(&c.reference),
            cell(&c.label),
            cell(&c.gates.join(", ")),
            c.changes,
            seqs(&c.evidence_seqs)
        );
    }
    let _ = writeln!(o);

    let f = &r.findings;
    let _ = writeln!(o, "## Findings\n");
    let sev = |m: &std::collections::BTreeMap<String, u64>| {
        if m.is_empty() {
            return "none".to_owned();
        }
        m.iter()
            .map(|(k, v)| format!("{v} {}", cell(k)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(o, "At merge, all gates: {}\n", sev(&f.by_severity));
    if !f.by_gate.is_empty() {
        let _ = writeln!(
            o,
            "| gate | listed by severity | not blocking | ignored |\n| --- | --- | --- | --- |"
        );
        for g in &f.by_gate {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                cell(g.gate.as_str()),
                sev(&g.by_severity),
                g.not_blocking,
                g.ignored
            );
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "### Merged under a waiver, an ignore or a bypass\n");
    if f.merged_under_exception.is_empty() {
        let _ = writeln!(o, "None.");
    } else {
        for e in &f.merged_under_exception {
            let _ = writeln!(
                o,
                "- #{} {} under a **{}**: {} ({}): {}",
                e.number,
                cell(e.gate.as_str()),
                e.under.as_str(),
                e.fingerprints
                    .iter()
                    .map(|f| escape::code(f))
                    .collect::<Vec<_>>()
                    .join(", "),
                sev(&e.by_severity),
                cell(&e.note)
            );
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{self, HOSTILE};
    use super::*;

    #[test]
    fn the_three_merges_bypass_first_and_the_waiver_are_shown() {
        let r = fixture::report(
            "Waive the parser",
            "false positive in generated code",
            fixture::verified(),
        );
        let md = render_markdown(&r);
        let at = |s: &str| md.find(s).unwrap_or_else(|| panic!("no {s:?} in\n{md}"));
        assert!(at("| 2 | Hotfix the parser") < at("| 1 | Add login rate limit"));
        assert!(at("| 1 | Add login rate limit") < at("| 3 | Waive the parser"));
        assert!(md.contains("**⛔ BYPASSED** (fail)"), "{md}");
        assert!(md.contains("| alice | false positive in generated code | 2026-12-02 09:00 UTC | 2026-12-30 00:00 UTC | in force |"), "{md}");
        assert!(md.contains("needs process evidence outside sdl-gate"));
        assert!(!md.contains("VERIFICATION FAILED"));
    }

    #[test]
    fn a_failed_verification_is_said_first() {
        let mut v = fixture::verified();
        v.verified = false;
        v.text = "entry 3: its hash does not match".into();
        let md = render_markdown(&fixture::report("t", "r", v));
        let first = md.lines().find(|l| l.starts_with('>')).unwrap();
        assert!(first.contains("LEDGER VERIFICATION FAILED"), "{md}");
        assert!(first.contains("entry 3: its hash does not match"));
    }

    #[test]
    fn hostile_titles_and_reasons_are_inert() {
        let md = render_markdown(&fixture::report(HOSTILE, HOSTILE, fixture::verified()));
        assert!(!md.contains("<script"), "{md}");
        assert!(!md.contains("<!--"), "{md}");
        assert!(!md.contains("@everyone"), "a mention survived:\n{md}");
        assert!(!md.replace("\\]", "").contains("](javascript:"), "{md}");
        assert!(md.contains("&lt;script&gt;"));
    }
}
