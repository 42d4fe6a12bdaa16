//! The Action's pure parts: inputs and context from the environment (errors name the input or
//! variable), the pull request from real event payloads, annotations capped per level,
//! outputs, exit codes, and `action.yml` agreeing with what the binary reads and writes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use sdl_gate::action::{
    ANNOTATIONS_PER_LEVEL, Context, INPUTS, Inputs, OUTPUTS, capped_annotations, event_pr,
    exit_code, outputs, overflow_summary,
};
use sdl_gate::gates::OverallVerdict;
use sdl_gate::policy::CommentMode;
use sdl_gate::reports::{ReportFormat, Severity};
use sdl_gate::snapshot::CheckState;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn inputs_defaults_and_values() {
    let i = match Inputs::from_env(&env(&[])) {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(i.policy, ".github/sdl-gate.yml");
    assert_eq!(i.comment, CommentMode::OnFailure);
    assert!(i.fail_on_pending);
    assert!(!i.check_run);
    assert!(!i.has_token);

    let i = Inputs::from_env(&env(&[
        ("INPUT_POLICY", ".sdl-gate.yml"),
        ("INPUT_SARIF", "results/*.sarif\n\nmore/**/*.sarif\n"),
        ("INPUT_REPORTS", "osv.json, trivy.json"),
        ("INPUT_GITHUB-TOKEN", "ghs_x"),
        ("INPUT_COMMENT", "never"),
        ("INPUT_CHECK-RUN", "true"),
        ("INPUT_FAIL-ON-PENDING", "false"),
        ("INPUT_PR-NUMBER", "#42"),
    ]));
    let i = match i {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(i.sarif, vec!["results/*.sarif", "more/**/*.sarif"]);
    assert_eq!(i.reports, vec!["osv.json", "trivy.json"]);
    assert!(i.has_token && i.check_run && !i.fail_on_pending);
    assert_eq!(i.comment, CommentMode::Never);
    assert_eq!(i.pr_number, Some(42));

    // The policy's spelling is accepted too.
    for spelling in ["on-failure", "on_failure", "On_Failure"] {
        match Inputs::from_env(&env(&[("INPUT_COMMENT", spelling)])) {
            Ok(i) => assert_eq!(i.comment, CommentMode::OnFailure, "{spelling}"),
            Err(e) => panic!("comment: {spelling} rejected: {e}"),
        }
    }
}

#[test]
fn input_errors_name_the_input() {
    let cases = [
        (("INPUT_COMMENT", "sometimes"), "input `comment`"),
        (("INPUT_CHECK-RUN", "maybe"), "input `check-run`"),
        (("INPUT_FAIL-ON-PENDING", "2"), "input `fail-on-pending`"),
        (("INPUT_PR-NUMBER", "abc"), "input `pr-number`"),
    ];
    for ((k, v), name) in cases {
        match Inputs::from_env(&env(&[(k, v)])) {
            Ok(_) => panic!("{k}={v} accepted"),
            Err(e) => assert_eq!(e.name, name, "{e}"),
        }
    }
}

#[test]
fn context_errors_name_the_variable() {
    let full = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", "/tmp/event.json"),
        ("GITHUB_REPOSITORY", "acme/plc"),
    ];
    assert!(Context::from_env(&env(&full)).is_ok());
    for missing in [
        "GITHUB_EVENT_NAME",
        "GITHUB_EVENT_PATH",
        "GITHUB_REPOSITORY",
    ] {
        let e: Vec<_> = full
            .iter()
            .copied()
            .filter(|(k, _)| *k != missing)
            .collect();
        match Context::from_env(&env(&e)) {
            Ok(_) => panic!("accepted without {missing}"),
            Err(err) => assert_eq!(err.name, missing),
        }
    }
    let push = [
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_EVENT_PATH", "/e"),
        ("GITHUB_REPOSITORY", "a/b"),
    ];
    assert_eq!(
        Context::from_env(&env(&push)).map_err(|e| e.name),
        Err("GITHUB_EVENT_NAME".to_string())
    );
}

#[test]
fn pull_request_from_real_event_payloads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/github-webhooks/octokit-webhooks/pull_request");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "skipped: {} is absent, so the real pull_request payloads cannot be read",
            dir.display()
        );
        return;
    };
    let mut read = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let v: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        let pr = match event_pr("pull_request", &bytes, None) {
            Ok(pr) => pr,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        // Compare with an independent read of the same payload.
        assert_eq!(
            Some(pr.number),
            v["pull_request"]["number"].as_u64(),
            "{}",
            path.display()
        );
        assert_eq!(
            pr.head_sha.as_deref(),
            v["pull_request"]["head"]["sha"].as_str()
        );
        assert_eq!(
            pr.base_ref.as_deref(),
            v["pull_request"]["base"]["ref"].as_str()
        );
        assert_eq!(
            pr.author.as_deref(),
            v["pull_request"]["user"]["login"].as_str()
        );
        let labels = v["pull_request"]["labels"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        assert_eq!(pr.labels.len(), labels);
        read += 1;
    }
    assert!(
        read > 10,
        "only {read} payloads read from {}",
        dir.display()
    );
}

#[test]
fn fork_and_dispatch_payloads() {
    let fork = br#"{"pull_request":{"number":5,"head":{"ref":"f","sha":"abc","repo":{"full_name":"eve/plc"}},"base":{"ref":"main","sha":"def","repo":{"full_name":"acme/plc"}},"user":{"login":"eve"}}}"#;
    let pr = event_pr("pull_request_target", fork, None).map_err(|e| e.to_string());
    assert_eq!(pr.as_ref().map(|p| p.from_fork), Ok(true));
    let dispatch = br#"{"inputs":{"pr-number":"17"}}"#;
    assert_eq!(
        event_pr("workflow_dispatch", dispatch, None).map(|p| p.number),
        Ok(17)
    );
    assert_eq!(
        event_pr("workflow_dispatch", b"{}", Some(9)).map(|p| p.number),
        Ok(9)
    );
    assert_eq!(
        event_pr("workflow_dispatch", b"{}", None).map_err(|e| e.name),
        Err("input `pr-number`".to_string())
    );
    match event_pr("pull_request", b"{\"pull_request\": ", None) {
        Err(e) => {
            assert_eq!(e.name, "GITHUB_EVENT_PATH");
            assert!(e.message.contains("line 1"), "{e}");
        }
        Ok(p) => panic!("{p:?}"),
    }
}

#[test]
fn annotations_are_capped_per_level_and_the_rest_summarised() {
    let mut s = change(&["src/auth/login.rs"]);
    check(&mut s, "CodeQL", CheckState::Success);
    let findings = (0..25)
        .map(|i| code_finding(&format!("r{i}"), Severity::High, "src/auth/login.rs", i + 1))
        .collect();
    s.reports
        .push(report(ReportFormat::Sarif, "CodeQL", findings));
    let e = eval(&base_policy(), &s);
    let (shown, rest) = capped_annotations(&e);
    assert_eq!(shown.len(), ANNOTATIONS_PER_LEVEL);
    assert!(
        shown
            .iter()
            .all(|c| c.starts_with("::error file=src/auth/login.rs,line="))
    );
    assert_eq!(rest.len(), 15);
    let summary = overflow_summary(&rest);
    assert!(summary.contains("15 more finding location(s)"));
    assert_eq!(summary.matches("\n- ").count(), 15);
}

#[test]
fn outputs_and_exit_codes() {
    let e = eval(&base_policy(), &change(&["src/auth/login.rs"]));
    let out = outputs(&e, "/tmp/sdl-gate-result.json");
    assert_eq!(
        out,
        "verdict=fail\nfailed-gates=threat_model\nresult-json=/tmp/sdl-gate-result.json\n"
    );
    assert_eq!(exit_code(OverallVerdict::Pass, true), 0);
    assert_eq!(exit_code(OverallVerdict::Fail, false), 1);
    assert_eq!(exit_code(OverallVerdict::Pending, true), 1);
    assert_eq!(exit_code(OverallVerdict::Pending, false), 0);
}

#[test]
fn action_yml_declares_what_the_binary_reads_and_writes() {
    let text =
        match std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml")) {
            Ok(t) => t,
            Err(e) => panic!("action.yml: {e}"),
        };
    let v: serde_json::Value = match serde_saphyr::from_str(&text) {
        Ok(v) => v,
        Err(e) => panic!("action.yml does not parse: {e}"),
    };
    for key in ["name", "description", "runs"] {
        assert!(
            v.get(key).is_some(),
            "action.yml lacks `{key}`, which GitHub requires"
        );
    }
    assert_eq!(v["runs"]["using"], "docker");
    // The published image of this very version (the release workflow builds and pushes it and
    // refuses a tag whose action.yml names another), never a build from source per run.
    let image = format!(
        "docker://ghcr.io/OWNER/sdl-gate:{}-action",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(v["runs"]["image"], image.as_str());
    assert_eq!(v["runs"]["args"], serde_json::json!(["action"]));
    let keys = |section: &str| -> Vec<String> {
        v[section]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut inputs = keys("inputs");
    inputs.sort();
    let mut expect: Vec<String> = INPUTS.iter().map(|s| s.to_string()).collect();
    expect.sort();
    assert_eq!(
        inputs, expect,
        "inputs in action.yml and sdl_gate::action::INPUTS differ"
    );
    for name in &inputs {
        assert!(
            v["inputs"][name]["description"].is_string(),
            "input {name} has no description"
        );
    }
    let mut outs = keys("outputs");
    outs.sort();
    let mut expect: Vec<String> = OUTPUTS.iter().map(|s| s.to_string()).collect();
    expect.sort();
    assert_eq!(outs, expect);
    // Every output is written.
    let e = eval(&base_policy(), &change(&["src/auth/login.rs"]));
    let written = outputs(&e, "r.json");
    for o in OUTPUTS {
        assert!(
            written.contains(&format!("{o}=")),
            "output {o} is never written"
        );
    }
}
