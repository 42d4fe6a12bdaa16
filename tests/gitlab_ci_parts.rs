//! The GitLab CI job's pure parts: the `CI_*` context and `SDL_GATE_*` settings (errors name
//! the variable), `git diff` parsing, the JUnit report (escaping of any text, one case per
//! gate), the code quality report (located findings, unique and stable fingerprints), report
//! de-duplication, and the template agreeing with the files the binary writes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use proptest::prelude::*;
use sdl_gate::gates::OverallVerdict;
use sdl_gate::gates::{GateKind, Verdict};
use sdl_gate::gitlab_ci::{
    CODE_QUALITY_FILE, CiContext, DEFAULT_REPORTS, JUNIT_FILE, OUTPUT_FILES, RESULT_FILE,
    SUMMARY_FILE, Settings, code_quality, escape_attr, escape_text, exit_code, fill_changed_lines,
    junit, junit_error, merge_reports, parse_name_status,
};
use sdl_gate::policy::CommentMode;
use sdl_gate::reports::{ReportFormat, Severity};
use sdl_gate::snapshot::{CheckState, FileStatus};

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const SHA_C: &str = "cccccccccccccccccccccccccccccccccccccccc";

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn full() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GITLAB_CI", "true"),
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_MERGE_REQUEST_IID", "12"),
        ("CI_PROJECT_ID", "42"),
        ("CI_PROJECT_PATH", "acme/firmware/plc"),
        ("CI_API_V4_URL", "https://gitlab.example.com/gitlab/api/v4"),
        ("CI_SERVER_URL", "https://ignored.example.com"),
        ("CI_COMMIT_SHA", SHA_A),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "release/4.2"),
        ("CI_MERGE_REQUEST_DIFF_BASE_SHA", SHA_C),
        ("GITLAB_USER_LOGIN", "bob"),
        ("CI_MERGE_REQUEST_TITLE", "Add MFA"),
        (
            "CI_MERGE_REQUEST_DESCRIPTION",
            "Threat-Model: https://tm.example.com/x\n",
        ),
        ("CI_MERGE_REQUEST_LABELS", "security, backend,,"),
        ("CI_MERGE_REQUEST_DRAFT", "false"),
        ("CI_PROJECT_DIR", "/builds/acme/firmware/plc"),
    ]
}

fn ctx(pairs: &[(&str, &str)]) -> Result<CiContext, sdl_gate::gitlab_ci::ConfigError> {
    CiContext::from_env(&env(pairs))
}

#[test]
fn context_reads_a_merge_request_pipeline() {
    let c = ctx(&full()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.mr_iid, 12);
    assert_eq!(c.project_path, "acme/firmware/plc");
    assert_eq!(c.project_id, Some(42));
    assert_eq!(
        c.server_url.as_deref(),
        Some("https://gitlab.example.com/gitlab")
    );
    assert_eq!(
        c.head_sha, SHA_A,
        "a detached MR pipeline tests the MR head"
    );
    assert_eq!(c.target_branch, "release/4.2");
    assert_eq!(c.diff_base_sha.as_deref(), Some(SHA_C));
    assert_eq!(c.labels, ["security", "backend"]);
    assert_eq!(c.draft, Some(false));
    assert!(
        c.description
            .as_deref()
            .is_some_and(|d| d.contains("Threat-Model:"))
    );
    assert!(!c.description_truncated);
}

#[test]
fn merged_results_pipeline_evaluates_the_source_branch_head_of_the_mr_project() {
    let mut pairs = full();
    pairs.push(("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", SHA_B));
    pairs.push(("CI_MERGE_REQUEST_EVENT_TYPE", "merged_result"));
    // A fork's pipeline runs in the fork; the MR lives in the target project.
    pairs.push((
        "CI_MERGE_REQUEST_PROJECT_PATH",
        "acme/firmware/plc-upstream",
    ));
    pairs.push(("CI_MERGE_REQUEST_PROJECT_ID", "7"));
    let c = ctx(&pairs).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.commit_sha, SHA_A);
    assert_eq!(c.head_sha, SHA_B.to_ascii_lowercase());
    assert_eq!(c.project_path, "acme/firmware/plc-upstream");
    assert_eq!(c.project_id, Some(7));
}

#[test]
fn context_errors_name_the_variable() {
    for name in [
        "CI_MERGE_REQUEST_IID",
        "CI_PROJECT_PATH",
        "CI_COMMIT_SHA",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
    ] {
        let pairs: Vec<_> = full().into_iter().filter(|(k, _)| *k != name).collect();
        match ctx(&pairs) {
            Ok(_) => panic!("accepted without {name}"),
            Err(e) => assert_eq!(e.name, name, "{e}"),
        }
    }
    let bad = [
        ("CI_MERGE_REQUEST_IID", "!12"),
        ("CI_MERGE_REQUEST_IID", "0"),
        ("CI_COMMIT_SHA", "abc123"),
        ("CI_MERGE_REQUEST_DIFF_BASE_SHA", "zz"),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "HEAD"),
        ("CI_API_V4_URL", "gitlab.example.com/api/v4"),
        ("CI_PROJECT_PATH", "plc"),
        ("CI_PROJECT_ID", "forty-two"),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "--upload-pack=evil"),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main..x"),
        ("CI_MERGE_REQUEST_DRAFT", "perhaps"),
    ];
    for (name, value) in bad {
        let mut pairs: Vec<_> = full().into_iter().filter(|(k, _)| *k != name).collect();
        pairs.push((name, value));
        match ctx(&pairs) {
            Ok(_) => panic!("{name}={value} accepted"),
            Err(e) => assert_eq!(e.name, name, "{name}={value}: {e}"),
        }
    }
    // Outside GitLab CI the message says so.
    match ctx(&[]) {
        Ok(_) => panic!("empty environment accepted"),
        Err(e) => assert!(e.to_string().contains("GitLab CI job"), "{e}"),
    }
}

#[test]
fn settings_defaults_values_and_errors() {
    let s = Settings::from_env(&env(&[])).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.reports, DEFAULT_REPORTS);
    assert!(!s.reports_explicit);
    assert_eq!(s.comment, None, "the policy's comment mode applies");
    assert!(s.status && s.fail_on_pending);
    assert_eq!(s.token(&env(&[])), None);

    let e = env(&[
        (
            "SDL_GATE_REPORTS",
            "reports/*.sarif\n# comment\nosv.json, trivy.json",
        ),
        ("SDL_GATE_COMMENT", "Always"),
        ("SDL_GATE_STATUS", "false"),
        ("SDL_GATE_FAIL_ON_PENDING", "no"),
        ("SDL_GATE_GITLAB_TOKEN_VARIABLE", "GROUP_SDL_TOKEN"),
        ("GROUP_SDL_TOKEN", " glpat-xyz "),
        ("SDL_GATE_GITLAB_TOKEN", "not-this-one"),
        ("SDL_GATE_OUTPUT_DIR", "out"),
    ]);
    let s = Settings::from_env(&e).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.reports, ["reports/*.sarif", "osv.json", "trivy.json"]);
    assert!(s.reports_explicit);
    assert_eq!(s.comment, Some(CommentMode::Always));
    assert!(!s.status && !s.fail_on_pending);
    assert_eq!(s.token(&e), Some("glpat-xyz"));
    assert_eq!(s.output_dir.as_deref(), Some("out"));

    // Both spellings: the template's `on-failure` and the policy's `on_failure`.
    for spelling in ["on-failure", "on_failure"] {
        let s = Settings::from_env(&env(&[("SDL_GATE_COMMENT", spelling)]))
            .unwrap_or_else(|e| panic!("{spelling}: {e}"));
        assert_eq!(s.comment, Some(CommentMode::OnFailure), "{spelling}");
    }

    for (name, value) in [
        ("SDL_GATE_COMMENT", "sometimes"),
        ("SDL_GATE_STATUS", "maybe"),
        ("SDL_GATE_FAIL_ON_PENDING", "2"),
        ("SDL_GATE_GITLAB_TOKEN_VARIABLE", "$(rm -rf)"),
    ] {
        match Settings::from_env(&env(&[(name, value)])) {
            Ok(_) => panic!("{name}={value} accepted"),
            Err(e) => assert_eq!(e.name, name, "{e}"),
        }
    }
}

#[test]
fn exit_codes_match_the_action() {
    assert_eq!(exit_code(OverallVerdict::Pass, true), 0);
    assert_eq!(exit_code(OverallVerdict::Fail, false), 1);
    assert_eq!(exit_code(OverallVerdict::Pending, true), 1);
    assert_eq!(exit_code(OverallVerdict::Pending, false), 0);
}

#[test]
fn name_status_parses_every_status_and_odd_paths() {
    let out = b"M\0src/a.rs\0A\0new file.txt\0D\0gone\0R087\0old/x.rs\0new/x.rs\0C100\0a\0b\0T\0link\0M\0tab\there\nnewline\0";
    let files = parse_name_status(out).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(FileStatus, Option<&str>, &str)> = files
        .iter()
        .map(|f| (f.status, f.previous_path.as_deref(), f.path.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (FileStatus::Modified, None, "src/a.rs"),
            (FileStatus::Added, None, "new file.txt"),
            (FileStatus::Removed, None, "gone"),
            (FileStatus::Renamed, Some("old/x.rs"), "new/x.rs"),
            (FileStatus::Copied, Some("a"), "b"),
            (FileStatus::Changed, None, "link"),
            (FileStatus::Modified, None, "tab\there\nnewline"),
        ]
    );
    assert_eq!(parse_name_status(b"").map(|f| f.len()), Ok(0));
    let err = parse_name_status(b"M\0a\0R100\0only-old\0").err();
    assert_eq!(err.map(|e| e.entry), Some(2));
    let err = parse_name_status(b"M\0a\0Q\0b\0").err();
    assert!(err.is_some_and(|e| e.entry == 2 && e.reason.contains("`Q`")));
}

#[test]
fn changed_lines_come_from_the_patch_in_name_status_order() {
    let mut files = parse_name_status(b"M\0a.rs\0A\0img.png\0R100\0old\0new\0")
        .unwrap_or_else(|e| panic!("{e}"));
    let patch = "diff --git a/a.rs b/a.rs\nindex 1..2 100644\n--- a/a.rs\n+++ b/a.rs\n@@ -3,0 +4,2 @@ fn x\n+one\n+two\n@@ -10 +12 @@\n-old\n+new\n\
                 diff --git a/img.png b/img.png\nnew file mode 100644\nBinary files /dev/null and b/img.png differ\n\
                 diff --git a/old b/new\nsimilarity index 100%\nrename from old\nrename to new\n";
    assert!(fill_changed_lines(&mut files, patch));
    assert_eq!(files[0].changed_lines, Some(vec![(4, 5), (12, 12)]));
    assert_eq!(files[1].changed_lines, None, "binary: unknown");
    assert_eq!(files[2].changed_lines, Some(vec![]), "pure rename: no line");

    // A patch that does not match the file list changes nothing (every line counts).
    let mut files = parse_name_status(b"M\0a.rs\0M\0b.rs\0").unwrap_or_else(|e| panic!("{e}"));
    assert!(!fill_changed_lines(
        &mut files,
        patch.split("diff --git a/img").next().unwrap_or("")
    ));
    assert!(files.iter().all(|f| f.changed_lines.is_none()));
}

fn failing_eval(message: &str) -> sdl_gate::gates::Evaluation {
    let p = base_policy();
    let mut s = change(&["src/auth/login.rs"]);
    check(&mut s, "CodeQL", CheckState::Success);
    let mut f = code_finding("sqli", Severity::High, "src/auth/login.rs", 12);
    f.message = message.to_string();
    s.reports
        .push(report(ReportFormat::Sarif, "CodeQL", vec![f]));
    eval(&p, &s)
}

#[test]
fn junit_has_one_case_per_gate_and_failures_name_the_requirements() {
    let e = failing_eval("SQL built from user input");
    let xml = junit(&e, true);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|err| panic!("{err}\n{xml}"));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), GateKind::ALL.len());
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap_or_else(|| panic!("{xml}"));
    let failing = e
        .gates
        .iter()
        .filter(|g| matches!(g.verdict, Verdict::Fail | Verdict::Pending))
        .count();
    assert_eq!(
        suite.attribute("failures"),
        Some(failing.to_string().as_str())
    );
    let sast = gate(&e, GateKind::Sast);
    assert_eq!(sast.verdict, Verdict::Fail);
    let case = cases
        .iter()
        .find(|c| c.attribute("name") == Some("Static analysis (sast)"))
        .unwrap_or_else(|| panic!("{xml}"));
    let failure = case
        .children()
        .find(|c| c.has_tag_name("failure"))
        .unwrap_or_else(|| panic!("{xml}"));
    let message = failure.attribute("message").unwrap_or_default();
    let body = failure.text().unwrap_or_default();
    for r in &sast.requirements {
        assert!(message.contains(r.as_str()), "{r} not in {message}");
        assert!(body.contains(r.as_str()), "{r} not in {body}");
    }
    assert!(body.contains("src/auth/login.rs:12"), "{body}");
    assert!(body.contains("CWE-89"), "{body}");
    // Not triggered gates are skipped, not passed.
    let sbom = cases
        .iter()
        .find(|c| c.attribute("name") == Some("SBOM (sbom)"))
        .unwrap_or_else(|| panic!("{xml}"));
    assert!(sbom.children().any(|c| c.has_tag_name("skipped")));
}

#[test]
fn junit_error_parses_and_carries_the_message() {
    let xml = junit_error("CI_COMMIT_SHA: not set <&> \"quoted\"\nsecond line");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let error = doc
        .descendants()
        .find(|n| n.has_tag_name("error"))
        .unwrap_or_else(|| panic!("{xml}"));
    assert_eq!(
        error.text(),
        Some("CI_COMMIT_SHA: not set <&> \"quoted\"\nsecond line")
    );
}

/// What XML keeps of a string: characters XML 1.0 forbids become U+FFFD.
fn xml_visible(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any text, as an attribute or as character data, comes back unchanged from a parser
    /// (less what XML cannot carry), and never adds an element.
    #[test]
    fn xml_escaping_round_trips(s in any::<String>()) {
        let doc_text = format!("<a v=\"{}\" w='{}'>{}</a>", escape_attr(&s), escape_attr(&s), escape_text(&s));
        let doc = roxmltree::Document::parse(&doc_text);
        prop_assert!(doc.is_ok(), "{:?}: {:?}", s, doc.err());
        if let Ok(doc) = doc {
            let root = doc.root_element();
            let expect = xml_visible(&s);
            prop_assert_eq!(root.attribute("v").unwrap_or_default(), expect.as_str());
            prop_assert_eq!(root.attribute("w").unwrap_or_default(), expect.as_str());
            prop_assert_eq!(root.text().unwrap_or_default(), expect.as_str());
            prop_assert_eq!(root.children().filter(|c| c.is_element()).count(), 0);
        }
    }

    /// A finding message of any text leaves the JUnit document well-formed, with five cases.
    #[test]
    fn junit_stays_well_formed_for_any_finding_text(s in "\\PC{0,40}[<>&\"'\\]\\x00-\\x1f]{0,8}\\PC{0,20}") {
        let xml = junit(&failing_eval(&s), true);
        let doc = roxmltree::Document::parse(&xml);
        prop_assert!(doc.is_ok(), "{:?}", doc.err());
        if let Ok(doc) = doc {
            prop_assert_eq!(doc.descendants().filter(|n| n.has_tag_name("testcase")).count(), 5);
        }
    }
}

fn cq_eval(line_shift: u32) -> sdl_gate::gates::Evaluation {
    let p = base_policy();
    let mut s = change(&["src/auth/login.rs", "Cargo.lock"]);
    check(&mut s, "CodeQL", CheckState::Success);
    // Two occurrences of one rule in one file, and one finding without a location.
    let a = code_finding("sqli", Severity::Critical, "src/auth/login.rs", 12);
    let mut b = code_finding("sqli", Severity::High, "src/auth/login.rs", 40);
    // Tools give a fingerprint that survives edits above the finding.
    let mut a = a;
    a.fingerprint = "semgrep:sqli:login:query-a".into();
    b.fingerprint = "semgrep:sqli:login:query-b".into();
    a.line = Some(12 + line_shift);
    b.line = Some(40 + line_shift);
    let mut unlocated = code_finding("xss", Severity::High, "x", 1);
    unlocated.file = None;
    unlocated.line = None;
    s.reports
        .push(report(ReportFormat::Sarif, "CodeQL", vec![a, b, unlocated]));
    s.reports.push(report(
        ReportFormat::OsvScanner,
        "OSV-Scanner",
        vec![vuln("openssl", Severity::Critical, &["CVE-2026-9999"])],
    ));
    eval(&p, &s)
}

#[test]
fn code_quality_lists_located_findings_with_unique_stable_fingerprints() {
    let e = cq_eval(0);
    let issues = code_quality(&e);
    assert_eq!(issues.len(), 3, "{issues:#?}");
    let prints: std::collections::BTreeSet<_> = issues.iter().map(|i| &i.fingerprint).collect();
    assert_eq!(prints.len(), 3, "fingerprints must be unique");
    assert_eq!(code_quality(&e), issues, "same evaluation, same report");
    // Lines moved by an edit above: same fingerprints, new lines.
    let shifted = code_quality(&cq_eval(5));
    let shifted_prints: std::collections::BTreeSet<_> =
        shifted.iter().map(|i| &i.fingerprint).collect();
    assert_eq!(prints, shifted_prints);
    assert!(shifted.iter().any(|i| i.location.lines.begin == 17));
    let dep = issues
        .iter()
        .find(|i| i.location.path == "Cargo.lock")
        .unwrap_or_else(|| panic!("{issues:#?}"));
    assert_eq!(dep.location.lines.begin, 1, "no line: line 1");
    assert_eq!(dep.severity, "blocker");
    assert!(dep.check_name.starts_with("sdl-gate/dependencies/"));
    let sast_req = &gate(&e, GateKind::Sast).requirements;
    let sast: Vec<_> = issues
        .iter()
        .filter(|i| i.check_name == "sdl-gate/sast/sqli")
        .collect();
    assert_eq!(sast.len(), 2, "{issues:#?}");
    let mut sev: Vec<&str> = sast.iter().map(|i| i.severity).collect();
    sev.sort();
    assert_eq!(sev, ["blocker", "critical"]);
    for i in &sast {
        assert!(i.description.contains(sast_req[0].as_str()), "{i:?}");
        assert!(i.description.contains("CWE-89"), "{i:?}");
    }
    // The JSON keys GitLab reads.
    let v = serde_json::to_value(&issues).unwrap_or_default();
    for key in ["description", "check_name", "fingerprint", "severity"] {
        assert!(v[0][key].is_string(), "{key}: {v}");
    }
    assert!(v[0]["location"]["path"].is_string() && v[0]["location"]["lines"]["begin"].is_u64());
}

#[test]
fn the_same_report_from_the_api_and_the_workdir_counts_once() {
    let f = code_finding("sqli", Severity::High, "a.rs", 1);
    let api = vec![
        report(ReportFormat::GitlabSast, "Semgrep", vec![f.clone()]),
        report(ReportFormat::Sarif, "CodeQL", vec![f.clone()]),
    ];
    let local = vec![report(ReportFormat::GitlabSast, "Semgrep", vec![f])];
    let merged = merge_reports(api, local);
    let formats: Vec<_> = merged.iter().map(|r| r.format).collect();
    assert_eq!(formats, [ReportFormat::Sarif, ReportFormat::GitlabSast]);
}

#[test]
fn template_parses_and_names_the_files_the_job_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("templates/sdl-gate.gitlab-ci.yml"))
        .unwrap_or_else(|e| panic!("templates/sdl-gate.gitlab-ci.yml: {e}"));
    let v: serde_json::Value =
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("template does not parse: {e}"));
    let job = &v["sdl-gate"];
    assert!(job.is_object(), "no `sdl-gate` job: {v}");
    assert_eq!(job["stage"], ".post");
    let rule = &job["rules"][0];
    assert_eq!(rule["if"], "$CI_PIPELINE_SOURCE == \"merge_request_event\"");
    assert_eq!(
        rule["when"], "always",
        "runs even when a scanner job failed"
    );
    assert!(
        job["script"]
            .as_array()
            .is_some_and(|s| s.iter().any(|l| l == "sdl-gate gitlab-ci")),
        "{job}"
    );
    let artifacts = &job["artifacts"];
    assert_eq!(artifacts["when"], "always");
    assert_eq!(artifacts["reports"]["junit"], JUNIT_FILE);
    assert_eq!(artifacts["reports"]["codequality"], CODE_QUALITY_FILE);
    let paths: Vec<&str> = artifacts["paths"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(paths, [RESULT_FILE, SUMMARY_FILE]);
    for f in OUTPUT_FILES {
        assert!(text.contains(f), "{f} is not named in the template");
    }
    // The image it names is built by the Dockerfile's `gitlab` stage, which has a shell and git.
    assert_eq!(job["image"]["name"], "$SDL_GATE_IMAGE");
    assert_eq!(
        job["variables"]["SDL_GATE_IMAGE"],
        format!(
            "ghcr.io/OWNER/sdl-gate:{}-gitlab",
            env!("CARGO_PKG_VERSION")
        )
        .as_str(),
        "the release's gitlab image of this version"
    );
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile"))
        .unwrap_or_else(|e| panic!("Dockerfile: {e}"));
    let stage: Vec<&str> = dockerfile
        .split("\nFROM ")
        .filter(|s| s.contains(" AS gitlab\n"))
        .collect();
    assert_eq!(stage.len(), 1, "no `gitlab` stage in the Dockerfile");
    assert!(stage[0].contains("git") && stage[0].contains("/usr/local/bin/sdl-gate"));
    // Every setting the template documents is one the job reads.
    for var in [
        "SDL_GATE_GITLAB_TOKEN",
        "SDL_GATE_GITLAB_TOKEN_VARIABLE",
        "SDL_GATE_REPORTS",
        "SDL_GATE_COMMENT",
        "SDL_GATE_STATUS",
        "SDL_GATE_FAIL_ON_PENDING",
    ] {
        assert!(
            text.contains(var),
            "{var} is not documented in the template"
        );
    }
}
