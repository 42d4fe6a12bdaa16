//! The report as HTML, from the askama template `templates/html/report.html`: every value is
//! escaped by the template engine (no markup is built with `format!`), the page holds no
//! script and no inline style attribute, and it prints cleanly to PDF (`@media print` in
//! [`REPORT_CSS`]: no page break inside a row, bypassed rows marked in words as well as
//! colour). Served by the service it links `/assets/report.css`, so it runs under a strict
//! Content-Security-Policy; as a standalone file it embeds the same sheet.

use std::collections::BTreeMap;

use askama::Template;
use chrono::{DateTime, Utc};

use super::model::{AuditReport, COVERAGE_NOTE, ChangeVerdict, CoverageStatus, PROCESS_EVIDENCE};

/// The report's style sheet: serve it at `/assets/report.css` for [`HtmlMode::Served`].
pub const REPORT_CSS: &str = include_str!("../../templates/html/report.css");

/// Where the HTML goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HtmlMode {
    /// A file on its own (`--format html`): the style sheet is embedded in a `<style>`.
    Standalone,
    /// A page of the service: the style sheet is linked as `/assets/report.css`, nothing
    /// inline, for a `default-src 'none'; style-src 'self'` policy.
    Served,
}

/// The template failed to render (a defect, not bad input: every value is escaped).
#[derive(Debug, thiserror::Error)]
#[error("rendering the report's HTML failed: {0}")]
pub struct HtmlError(String);

#[derive(Template)]
#[template(path = "html/report.html")]
struct ReportPage<'a> {
    r: &'a AuditReport,
    standalone: bool,
    css: &'a str,
    process_evidence: &'a str,
    coverage_note: &'a str,
}

impl ReportPage<'_> {
    fn time(&self, t: &DateTime<Utc>) -> String {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }

    fn opt_time(&self, t: &Option<DateTime<Utc>>) -> String {
        t.as_ref()
            .map_or_else(|| "(time not recorded)".to_owned(), |t| self.time(t))
    }

    fn or_text<'b>(&self, s: &'b Option<String>, none: &'b str) -> &'b str {
        s.as_deref().unwrap_or(none)
    }

    fn opt_seq(&self, s: &Option<u64>) -> String {
        s.map_or_else(|| "none".to_owned(), |s| s.to_string())
    }

    fn seqs(&self, s: &[u64]) -> String {
        if s.is_empty() {
            return "—".to_owned();
        }
        s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    }

    fn verdict(&self, v: &Option<ChangeVerdict>) -> &'static str {
        v.map_or("none (never evaluated)", ChangeVerdict::as_str)
    }

    fn status(&self, s: &CoverageStatus) -> &'static str {
        match s {
            CoverageStatus::Covered => "covered",
            CoverageStatus::Partial => "partial",
            CoverageStatus::NotEvidenced => "not evidenced",
            CoverageStatus::NotTriggered => "not triggered",
            CoverageStatus::ProcessEvidenceNeeded => "process evidence",
        }
    }

    fn words(&self, s: &str) -> String {
        s.replace('_', " ")
    }

    fn severities(&self, m: &BTreeMap<String, u64>) -> String {
        if m.is_empty() {
            return "none".to_owned();
        }
        m.iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The report as an HTML document.
pub fn render_html(report: &AuditReport, mode: HtmlMode) -> Result<String, HtmlError> {
    ReportPage {
        r: report,
        standalone: mode == HtmlMode::Standalone,
        css: REPORT_CSS,
        process_evidence: PROCESS_EVIDENCE,
        coverage_note: COVERAGE_NOTE,
    }
    .render()
    .map_err(|e| HtmlError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{self, HOSTILE};
    use super::*;

    #[test]
    fn standalone_embeds_the_sheet_and_served_links_it_with_nothing_inline() {
        let r = fixture::report("t", "r", fixture::verified());
        let file = render_html(&r, HtmlMode::Standalone).unwrap();
        assert!(file.contains("<style>") && file.contains("@media print"));
        assert!(!file.contains("/assets/report.css"));
        let page = render_html(&r, HtmlMode::Served).unwrap();
        assert!(page.contains(r#"<link rel="stylesheet" href="/assets/report.css">"#));
        assert!(!page.contains("<style") && !page.contains("style=") && !page.contains("<script"));
        assert!(REPORT_CSS.contains("break-inside: avoid"));
    }

    #[test]
    fn the_three_merges_bypass_first_and_the_waiver_are_shown() {
        let r = fixture::report(
            "Waive the parser",
            "false positive in generated code",
            fixture::verified(),
        );
        let html = render_html(&r, HtmlMode::Served).unwrap();
        let at = |s: &str| {
            html.find(s)
                .unwrap_or_else(|| panic!("no {s:?} in\n{html}"))
        };
        assert!(at("Hotfix the parser") < at("Add login rate limit"));
        assert!(at("Add login rate limit") < at("Waive the parser"));
        assert!(html.contains(r#"<tr class="bypassed">"#));
        assert!(
            html.contains(r#"<span class="badge bad">BYPASSED</span>"#),
            "in words, not colour only"
        );
        assert!(
            html.contains("<td>alice</td><td>false positive in generated code</td>"),
            "{html}"
        );
        assert!(!html.contains("ledger-failed"));
    }

    #[test]
    fn hostile_titles_and_reasons_are_escaped_and_a_failed_verify_is_loud() {
        let mut v = fixture::verified();
        v.verified = false;
        v.text = "entry 3: <b>bad</b>".into();
        let html =
            render_html(&fixture::report(HOSTILE, HOSTILE, v), HtmlMode::Standalone).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<!-- sdl-gate"), "{html}");
        assert!(!html.contains("<b>bad"), "{html}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{html}"
        );
        assert!(html.contains(r#"<div class="alert" id="ledger-failed">"#));
    }
}
