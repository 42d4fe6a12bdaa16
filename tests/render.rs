//! Rendering: snapshot tests of the Markdown people read, and the properties that keep it
//! safe and within the forges' limits — escaping of hostile text, truncation with a visible
//! note, annotation batches.

mod common;

use common::*;
use sdl_gate::gates::{GateKind, OverallVerdict};
use sdl_gate::render::{self, annotations, escape};
use sdl_gate::reports::{ReportFormat, Severity};
use sdl_gate::snapshot::{CheckState, FileStatus, ReviewState};

/// A change where the threat model is missing, SAST has findings and review is pending, with a
/// dependency accepted by an ignore.
fn failing_eval() -> sdl_gate::gates::Evaluation {
    let mut s = change(&["src/auth/login.rs", "Cargo.lock"]);
    check(&mut s, "CodeQL", CheckState::Success);
    s.reports.push(report(
        ReportFormat::Sarif,
        "CodeQL",
        vec![
            code_finding(
                "js/sql-injection",
                Severity::Critical,
                "src/auth/login.rs",
                42,
            ),
            code_finding("js/xss", Severity::High, "src/auth/form.rs", 7),
            code_finding("js/unused", Severity::Note, "src/auth/form.rs", 9),
        ],
    ));
    s.reports.push(report(
        ReportFormat::OsvScanner,
        "osv-scanner",
        vec![vuln(
            "libxml2",
            Severity::Critical,
            &["GHSA-1111-2222-3333", "CVE-2026-0001"],
        )],
    ));
    eval(&base_policy(), &s)
}

fn passing_eval() -> sdl_gate::gates::Evaluation {
    let mut s = change(&["src/auth/login.rs"]);
    file(
        &mut s,
        "docs/threat-model/auth.md",
        FileStatus::Modified,
        None,
    );
    content(&mut s, "docs/threat-model/auth.md", Some(b"# model\n"));
    review(&mut s, "carol", ReviewState::Approved, HEAD);
    check(&mut s, "CodeQL", CheckState::Success);
    eval(&base_policy(), &s)
}

#[test]
fn comment_for_a_failing_change() {
    let e = failing_eval();
    assert_eq!(e.verdict, OverallVerdict::Fail);
    insta::assert_snapshot!(
        "comment_failing",
        render::comment(&e, Some("https://sdl.example.com/acme/plc/7"))
    );
}

#[test]
fn check_run_summary_and_text_for_a_failing_change() {
    let e = failing_eval();
    insta::assert_snapshot!("summary_failing", render::check_summary(&e));
    insta::assert_snapshot!("text_failing", render::check_text(&e));
    assert_eq!(render::title(&e), "2 SDL gate(s) block: threat_model, sast");
}

#[test]
fn comment_for_a_passing_change() {
    let e = passing_eval();
    assert_eq!(e.verdict, OverallVerdict::Pass);
    let c = render::comment(&e, None);
    assert!(c.starts_with(render::COMMENT_MARKER));
    insta::assert_snapshot!("comment_passing", c);
}

#[test]
fn waived_gate_shows_who_why_and_until_when() {
    let mut s = change(&["src/auth/login.rs"]);
    s.body = "Threat-Model: #12".into();
    review(&mut s, "carol", ReviewState::Approved, HEAD);
    check(&mut s, "CodeQL", CheckState::Failure);
    s.waivers.push(waiver(GateKind::Sast, 1, 14, HEAD));
    let e = eval(&base_policy(), &s);
    assert_eq!(e.verdict, OverallVerdict::Pass);
    let c = render::comment(&e, None);
    assert!(
        c.contains("waived by carol until 2026-06-28 12:00 UTC on 1111111"),
        "{c}"
    );
    assert!(c.contains("SEC-123"));
    assert_eq!(render::title(&e), "SDL gates pass (sast waived)");
}

#[test]
fn hostile_scanner_and_user_text_is_inert() {
    let mut s = change(&["src/auth/login.rs"]);
    check(&mut s, "CodeQL", CheckState::Success);
    let mut f = code_finding("x", Severity::High, "src/auth/`login`|.rs", 1);
    f.message = "ping @acme/security and @everyone <img src=x onerror=alert(1)> | col \n\n# Heading [click](javascript:alert(1)) <!-- sdl-gate:summary --> #1".into();
    f.rule = "rule|with|pipes".into();
    f.help_uri = Some("javascript:alert(1)".into());
    s.reports
        .push(report(ReportFormat::Sarif, "CodeQL", vec![f]));
    s.body = "Threat-Model: https://evil.example.org/@admin <b>x</b>".into();
    let e = eval(&base_policy(), &s);
    for full in [
        render::comment(&e, None),
        render::check_text(&e),
        render::check_summary(&e),
        render::job_summary(&e),
    ] {
        // Inside code spans mentions and HTML are inert; look at everything else.
        let out: String = full.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        assert!(!out.contains("@acme"), "mention survived:\n{out}");
        assert!(!out.contains("@everyone"), "mention survived:\n{out}");
        assert!(!out.contains("@admin"), "mention survived");
        assert!(!out.contains("<img"), "HTML survived");
        assert!(!out.contains("<b>"), "HTML survived");
        assert!(
            !out.replace("\\]", "").contains("](javascript:"),
            "link survived"
        );
        assert_eq!(
            full.matches(render::COMMENT_MARKER).count(),
            usize::from(full.starts_with(render::COMMENT_MARKER)),
            "a second marker would hijack the sticky comment"
        );
        // Every table row keeps its column count: escaped pipes do not split cells.
        for line in full.lines().filter(|l| {
            l.starts_with("| ") && !l.starts_with("| Gate") && !l.starts_with("| Severity")
        }) {
            let cells = line.replace("\\|", "").matches('|').count();
            assert!(
                cells == 5 || cells == 6,
                "row split into {cells} separators: {line}"
            );
        }
    }
}

#[test]
fn escape_functions() {
    assert_eq!(escape::text("a_b*c"), "a\\_b\\*c");
    assert_eq!(escape::text("@bob"), "@\u{200B}bob");
    assert_eq!(escape::text("see #12"), "see #\u{200B}12");
    assert_eq!(escape::text("<script>"), "&lt;script&gt;");
    assert_eq!(escape::line("a\n|b", 100), "a \\|b");
    assert_eq!(escape::line("abcdef", 4), "abc…");
    assert_eq!(escape::code("a`b"), "``a`b``");
    assert_eq!(escape::code("`a"), "`` `a ``");
    assert_eq!(
        escape::link("r", "https://x.example/a"),
        "[r](https://x.example/a)"
    );
    assert_eq!(escape::link("r", "javascript:alert(1)"), "r");
    assert_eq!(escape::link("r", "https://x.example/a b"), "r");
    assert_eq!(
        escape::rich("path `a@b|c` by @x", 100),
        "path `a@b¦c` by @\u{200B}x".replace('¦', " ")
    );
}

#[test]
fn huge_results_are_truncated_with_a_visible_note() {
    let mut s = change(&["src/auth/login.rs"]);
    check(&mut s, "CodeQL", CheckState::Success);
    let findings = (0..10_000)
        .map(|i| {
            let mut f = code_finding(
                &format!("rule-{i}"),
                Severity::High,
                &format!("src/auth/file_{i}.rs"),
                i + 1,
            );
            f.message = "x".repeat(300);
            f
        })
        .collect();
    s.reports
        .push(report(ReportFormat::Sarif, "CodeQL", findings));
    let e = eval(&base_policy(), &s);
    let text = render::check_text(&e);
    assert!(text.len() <= render::CHECK_RUN_TEXT_LIMIT, "{}", text.len());
    assert!(text.contains("**Truncated:**"));
    let comment = render::comment(&e, None);
    assert!(comment.len() <= render::COMMENT_LIMIT);
    assert!(comment.contains(&format!(
        "and {} more finding(s)",
        10_000 - render::COMMENT_FINDINGS
    )));
    let summary = render::check_summary(&e);
    assert!(summary.len() <= render::CHECK_RUN_TEXT_LIMIT);
}

#[test]
fn fit_cuts_on_a_char_boundary_and_says_so() {
    let s = "é".repeat(50_000);
    let out = render::fit(s, 1000);
    assert!(out.len() <= 1000);
    assert!(out.contains("Truncated"));
}

#[test]
fn annotations_come_in_batches_of_fifty_failures_first() {
    let mut s = change(&["src/auth/login.rs", "Cargo.lock"]);
    check(&mut s, "CodeQL", CheckState::Success);
    let findings = (0..120)
        .map(|i| code_finding(&format!("r{i}"), Severity::High, "src/auth/login.rs", i + 1))
        .collect();
    s.reports
        .push(report(ReportFormat::Sarif, "CodeQL", findings));
    // An accepted vulnerability is annotated as a notice, after the failures.
    s.reports.push(report(
        ReportFormat::OsvScanner,
        "osv-scanner",
        vec![vuln("libxml2", Severity::High, &["CVE-2026-0001"])],
    ));
    let e = eval(&base_policy(), &s);
    let batches = annotations::batches(&e);
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![50, 50, 21]);
    assert!(
        batches[0]
            .iter()
            .all(|a| a.annotation_level == annotations::Level::Failure)
    );
    let last = &batches[2][20];
    assert_eq!(last.annotation_level, annotations::Level::Notice);
    assert!(
        batches[0][0].message.contains("IEC 62443-4-1: SI-1"),
        "{}",
        batches[0][0].message
    );
    assert!(batches[0][0].message.contains("CWE-89"));
}

#[test]
fn workflow_commands_escape_properties_and_data() {
    let a = annotations::Annotation {
        path: "src/a,b:c.rs".into(),
        start_line: 3,
        end_line: 3,
        annotation_level: annotations::Level::Failure,
        title: "[high] t: r".into(),
        message: "line1\nline2 100%".into(),
    };
    assert_eq!(
        annotations::workflow_command(&a),
        "::error file=src/a%2Cb%3Ac.rs,line=3,endLine=3,title=[high] t%3A r::line1%0Aline2 100%25"
    );
}

#[test]
fn json_result_has_the_documented_shape() {
    let v = render::json(&failing_eval());
    assert_eq!(v["verdict"], "fail");
    let gates = v["gates"].as_array().map(Vec::len);
    assert_eq!(gates, Some(5));
    let sast = &v["gates"][2];
    assert_eq!(sast["gate"], "sast");
    assert_eq!(sast["verdict"], "fail");
    assert!(sast["explanation"].as_str().is_some_and(|s| !s.is_empty()));
    let f = &sast["findings"][0];
    for key in [
        "severity",
        "rule",
        "file",
        "line",
        "message",
        "requirements",
        "cwe",
    ] {
        assert!(f.get(key).is_some(), "finding lacks {key}: {f}");
    }
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["line"], 42);
    assert_eq!(v["gates"][3]["gate"], "dependencies");
    assert_eq!(
        v["gates"][3]["verdict"], "pass",
        "the only vulnerability is accepted by an ignore"
    );
}

/// Publishers skip a write when only the footer's clock changed: the time of evaluation is
/// ignored, a waiver's expiry or another head commit is not.
#[test]
fn only_the_footer_clock_is_ignored_when_comparing_reports() {
    use sdl_gate::render::same_report;
    let a = "### x\n- waived until 2026-12-01 10:00 UTC\n<sub>sdl-gate 0.1.0 · IEC 62443-4-1:2018 · head `abc` · 2026-11-27 10:00 UTC</sub>\n";
    let b = a.replace("2026-11-27 10:00", "2026-11-27 10:07");
    assert!(same_report(a, &b));
    let c = a.replace("2026-12-01", "2026-12-02");
    assert!(!same_report(a, &c), "a waiver's expiry is content");
    let d = a.replace("head `abc`", "head `abd`");
    assert!(!same_report(a, &d));
}
