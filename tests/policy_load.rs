//! Loading the policy file: strict parsing, positions, suggestions, limits and semantic rules.

use chrono::NaiveDate;
use sdl_gate::policy::{
    CommentMode, FailMode, MAX_POLICY_BYTES, PolicyError, check_policy, json_schema, parse_policy,
};
use sdl_gate::reports::Severity;

fn err(text: &str) -> PolicyError {
    match parse_policy("policy.yml", text) {
        Ok(p) => panic!("expected an error for {text:?}, got {p:?}"),
        Err(e) => e,
    }
}

/// One rejected input and what the error must say.
struct Case {
    name: &'static str,
    text: &'static str,
    line: usize,
    column: usize,
    contains: &'static str,
    suggestion: Option<&'static str>,
}

const REVIEWED: &str = "security_paths: [\"src/auth/**\"]\n";

#[test]
fn rejected_policies_name_line_column_and_fix() {
    let cases = [
        Case {
            name: "unknown key in a gate, with suggestion",
            text: "version: 1\ngates:\n  security_review:\n    aprovals: 2\n",
            line: 4,
            column: 5,
            contains: "unknown key `aprovals` in `gates.security_review`",
            suggestion: Some("approvals"),
        },
        Case {
            name: "unknown shared key in a gate (was lost through serde flatten)",
            text: "version: 1\ngates:\n  sast:\n    enabeld: false\n",
            line: 4,
            column: 5,
            contains: "unknown key `enabeld` in `gates.sast`",
            suggestion: Some("enabled"),
        },
        Case {
            name: "unknown key in a trigger",
            text: "version: 1\ngates:\n  dependencies:\n    trigger: { pahts: [x] }\n",
            line: 4,
            column: 16,
            contains: "unknown key `pahts` in `gates.dependencies.trigger`",
            suggestion: Some("paths"),
        },
        Case {
            name: "valid key in the wrong section says where it belongs",
            text: "version: 1\ngates:\n  approvals: 2\n",
            line: 3,
            column: 3,
            contains: "unknown key `approvals` in `gates`; `approvals` belongs in `gates.security_review` or `gates.security_review.path_reviewers[]`",
            suggestion: None,
        },
        Case {
            name: "top-level key nested by mistake",
            text: "gates:\n  version: 1\n",
            line: 2,
            column: 3,
            contains: "`version` belongs in the top level",
            suggestion: None,
        },
        Case {
            name: "unknown top-level key without a close match lists valid keys",
            text: "version: 1\ncolour: blue\n",
            line: 2,
            column: 1,
            contains: "valid keys: version, security_paths",
            suggestion: None,
        },
        Case {
            name: "wrong type: scalar where a list is expected",
            text: "version: 1\ngates:\n  sast:\n    checks: CodeQL\n",
            line: 4,
            column: 13,
            contains: "wrong type for `gates.sast.checks`: expected a list",
            suggestion: None,
        },
        Case {
            name: "wrong type: number",
            text: "version: 1\ngates:\n  security_review:\n    approvals: two\n",
            line: 4,
            column: 16,
            contains: "`gates.security_review.approvals`: expected a whole number",
            suggestion: None,
        },
        Case {
            name: "bad glob",
            text: "version: 1\nsecurity_paths: [\"src/[auth\"]\n",
            line: 2,
            column: 18,
            contains: "invalid glob `src/[auth`",
            suggestion: None,
        },
        Case {
            name: "bad date",
            text: "version: 1\ngates:\n  dependencies:\n    ignore:\n      - id: CVE-2024-1\n        reason: not reachable from any network path\n        until: 2027-02-30\n",
            line: 7,
            column: 16,
            contains: "invalid date for `gates.dependencies.ignore[0].until`",
            suggestion: None,
        },
        Case {
            name: "missing until",
            text: "version: 1\ngates:\n  dependencies:\n    ignore:\n      - id: CVE-2024-1\n        reason: not reachable from any network path\n",
            line: 6,
            column: 9,
            contains: "missing required key `until` in `gates.dependencies.ignore[0]`",
            suggestion: None,
        },
        Case {
            name: "bad threshold",
            text: "version: 1\ngates:\n  sast:\n    threshold: hihg\n",
            line: 4,
            column: 16,
            contains: "unknown value `hihg` for `gates.sast.threshold`; expected one of: note, low, medium, high, critical",
            suggestion: Some("high"),
        },
        Case {
            name: "bad fail_mode",
            text: "version: 1\ngates:\n  sast:\n    fail_mode: opne\n",
            line: 4,
            column: 16,
            contains: "unknown value `opne`",
            suggestion: Some("open"),
        },
        Case {
            name: "version 2",
            text: "version: 2\n",
            line: 1,
            column: 10,
            contains: "unsupported policy version 2",
            suggestion: None,
        },
        Case {
            name: "missing version",
            text: "gates: {}\n",
            line: 1,
            column: 1,
            contains: "missing required key `version`",
            suggestion: None,
        },
        Case {
            name: "YAML syntax error",
            text: "version: 1\ngates:\n  sast: { checks: [CodeQL }\n",
            line: 3,
            column: 0,
            contains: "",
            suggestion: None,
        },
        Case {
            name: "duplicate key",
            text: "version: 1\nversion: 1\n",
            line: 2,
            column: 1,
            contains: "duplicate key `version`",
            suggestion: None,
        },
        Case {
            name: "two documents",
            text: "version: 1\n---\nversion: 1\n",
            line: 2,
            column: 1,
            contains: "more than one YAML document",
            suggestion: None,
        },
        Case {
            name: "approvals 0",
            text: "version: 1\nsecurity_paths: [\"src/**\"]\ngates:\n  security_review:\n    approvals: 0\n    reviewers: { users: [alice] }\n",
            line: 5,
            column: 16,
            contains: "approvals must be at least 1",
            suggestion: None,
        },
        Case {
            name: "review triggered but nobody named",
            text: "version: 1\nsecurity_paths: [\"src/**\"]\ngates:\n  security_review:\n    approvals: 1\n",
            line: 4,
            column: 3,
            contains: "names no reviewers (teams or users); nobody could ever satisfy it",
            suggestion: None,
        },
        Case {
            name: "more approvals than named users",
            text: "version: 1\nsecurity_paths: [\"src/**\"]\ngates:\n  security_review:\n    approvals: 3\n    reviewers: { users: [alice, bob] }\n",
            line: 5,
            column: 16,
            contains: "3 approvals required but only 2 reviewer(s) named",
            suggestion: None,
        },
        Case {
            name: "path reviewers without reviewers",
            text: "version: 1\ngates:\n  security_review:\n    path_reviewers:\n      - paths: [\"src/crypto/**\"]\n        reviewers: {}\n",
            line: 6,
            column: 9,
            contains: "path_reviewers entry names no reviewers",
            suggestion: None,
        },
        Case {
            name: "short ignore reason",
            text: "version: 1\ngates:\n  dependencies:\n    ignore:\n      - id: CVE-2024-1\n        reason: fine\n        until: 2027-01-01\n",
            line: 6,
            column: 17,
            contains: "reason is 4 characters; an accepted risk needs at least 20",
            suggestion: None,
        },
        Case {
            name: "duplicate ignore id",
            text: "version: 1\ngates:\n  dependencies:\n    ignore:\n      - { id: CVE-2024-1, reason: not reachable from any network path, until: 2027-01-01 }\n      - { id: cve-2024-1, reason: not reachable from any network path, until: 2027-06-01 }\n",
            line: 6,
            column: 15,
            contains: "`cve-2024-1` is ignored twice",
            suggestion: None,
        },
        Case {
            name: "max_days above a year",
            text: "version: 1\nwaivers:\n  max_days: 400\n",
            line: 3,
            column: 13,
            contains: "max_days must be between 1 and 365",
            suggestion: None,
        },
        Case {
            name: "team slug without org",
            text: "version: 1\nwaivers:\n  teams: [security]\n",
            line: 3,
            column: 11,
            contains: "team `security` must be written `org/team`",
            suggestion: None,
        },
        Case {
            name: "user with @",
            text: "version: 1\nwaivers:\n  users: [\"@alice\"]\n",
            line: 3,
            column: 11,
            contains: "write the login without `@`",
            suggestion: Some("alice"),
        },
        Case {
            name: "weak waive permission",
            text: "version: 1\nwaivers:\n  min_permission: read\n",
            line: 3,
            column: 19,
            contains: "`read` is too weak to waive security gates",
            suggestion: None,
        },
        Case {
            name: "unknown waivable gate",
            text: "version: 1\nwaivers:\n  gates: [sats]\n",
            line: 3,
            column: 11,
            contains: "unknown value `sats`",
            suggestion: Some("sast"),
        },
    ];
    let mut failures = Vec::new();
    for case in &cases {
        let e = err(case.text);
        let ok = e.file == "policy.yml"
            && e.line == case.line
            && (case.column == 0 || e.column == case.column)
            && e.message.contains(case.contains)
            && e.suggestion.as_deref() == case.suggestion;
        if !ok {
            failures.push(format!("{}: got {e} ({}:{})", case.name, e.line, e.column));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn display_is_file_line_column_message_suggestion() {
    let e = err("version: 1\ngates:\n  security_review:\n    aprovals: 2\n");
    assert_eq!(
        e.to_string(),
        "policy.yml:4:5: unknown key `aprovals` in `gates.security_review` (did you mean `approvals`?)"
    );
}

#[test]
fn empty_and_comment_only_files_are_rejected() {
    for text in ["", "\n\n", "# nothing here\n"] {
        let e = err(text);
        assert_eq!((e.line, e.column), (0, 0));
        assert!(e.message.contains("empty"), "{e}");
        assert_eq!(e.to_string(), format!("policy.yml: {}", e.message));
    }
}

#[test]
fn oversized_file_is_rejected_before_parsing() {
    let mut text = String::from("version: 1\nsecurity_labels:\n");
    while text.len() <= MAX_POLICY_BYTES {
        text.push_str("  - a-label-that-is-fairly-long\n");
    }
    let e = err(&text);
    assert!(e.message.contains("limit is 1048576 bytes"), "{e}");
}

#[test]
fn yaml_bomb_is_a_clean_error() {
    // Billion laughs: rejected at the first key the policy does not have.
    let text = "version: 1\nsecurity_labels: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n\
                x1: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                x2: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n\
                x3: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                x4: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n";
    let e = err(text);
    assert_eq!(e.line, 3, "{e}");

    // A bomb that fits the schema: one anchored reviewer set of 100 globs, aliased 240 times,
    // would replay 24,000 events; the alias replay budget (5,000) stops it.
    let globs: Vec<String> = (0..100).map(|i| format!("\"src/m{i}/**\"")).collect();
    let mut text = format!(
        "version: 1\ngates:\n  security_review:\n    path_reviewers:\n      - &pr {{ paths: [{}], reviewers: {{ users: [alice] }} }}\n",
        globs.join(", ")
    );
    for _ in 0..240 {
        text.push_str("      - *pr\n");
    }
    let e = err(&text);
    assert!(e.message.contains("too many alias expansions"), "{e}");
    assert!(e.line > 5, "{e}");

    // Many aliases of a scalar hit the alias count budget.
    let mut text = String::from("version: 1\nsecurity_labels: [&l lol");
    for _ in 0..1000 {
        text.push_str(", *l");
    }
    text.push_str("]\n");
    let e = err(&text);
    assert!(
        e.message.contains("too many YAML anchors or aliases"),
        "{e}"
    );
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn deep_nesting_is_a_clean_error_not_a_stack_overflow() {
    let flow = format!(
        "version: 1\nsecurity_labels: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let e = err(&flow);
    assert_eq!(e.line, 2, "{e}");

    let mut block = String::from("version: 1\nsecurity_labels:\n");
    for depth in 1..500 {
        block.push_str(&" ".repeat(depth * 2));
        block.push_str("-\n");
    }
    block.push_str(&" ".repeat(1000));
    block.push_str("- x\n");
    let e = err(&block);
    assert!(e.line >= 3, "{e}");
}

/// The policy writes `on_failure`, the Action's input and the GitLab variable `on-failure`:
/// every place takes both spellings (the Action and GitLab sides: action_parts, gitlab_ci_parts).
#[test]
fn report_comment_takes_both_spellings_and_the_schema_lists_them() {
    for (written, mode) in [
        ("on_failure", CommentMode::OnFailure),
        ("on-failure", CommentMode::OnFailure),
        ("always", CommentMode::Always),
        ("never", CommentMode::Never),
    ] {
        let text = format!("version: 1\nreport:\n  comment: {written}\n");
        match parse_policy("policy.yml", &text) {
            Ok(p) => assert_eq!(p.report.comment, mode, "{written}"),
            Err(e) => panic!("report.comment: {written} rejected: {e}"),
        }
        assert_eq!(CommentMode::parse(written), Some(mode), "{written}");
    }
    let e = err("version: 1\nreport:\n  comment: on failure\n");
    assert_eq!(e.line, 3, "{e}");
    assert_eq!(CommentMode::parse("sometimes"), None);
    // Editors validating with the schema must accept what the loader accepts.
    let spellings = &json_schema()["$defs"]["CommentMode"]["enum"];
    for s in ["always", "on_failure", "on-failure", "never"] {
        assert!(
            spellings
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == s)),
            "{s} missing from the schema: {spellings}"
        );
    }
}

#[test]
fn defaults_fill_a_minimal_policy() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/policy/minimal.yml"
    ))
    .unwrap_or_default();
    let p = match parse_policy("minimal.yml", &text) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(p.version, 1);
    assert_eq!(p.gates.security_review.approvals, 1);
    assert_eq!(p.gates.security_review.reviewers.teams.len(), 1);
    assert!(p.gates.threat_model.common.enabled);
    assert_eq!(p.gates.sast.threshold, Severity::High);
    assert_eq!(p.gates.sast.common.fail_mode, FailMode::Closed);
    assert!(!p.gates.sbom.common.enabled, "sbom is off unless enabled");
    assert_eq!(p.waivers.max_days, 30);
    assert!(
        p.gates
            .dependencies
            .manifests
            .iter()
            .any(|g| g.as_str() == "**/Cargo.lock")
    );
}

#[test]
fn shared_gate_keys_are_read_flat() {
    let p = parse_policy(
        "p.yml",
        "version: 1\ngates:\n  sast:\n    enabled: false\n    fail_mode: open\n    trigger: { paths: [\"src/**\"], labels: [sast], always: false }\n  sbom:\n    enabled: true\n",
    );
    let p = match p {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    assert!(!p.gates.sast.common.enabled);
    assert_eq!(p.gates.sast.common.fail_mode, FailMode::Open);
    assert_eq!(
        p.gates.sast.common.trigger.labels.as_deref(),
        Some(&["sast".to_string()][..])
    );
    assert_eq!(p.gates.sast.common.trigger.always, Some(false));
    assert!(p.gates.sbom.common.enabled);
}

#[test]
fn check_policy_reports_every_error_in_file_order() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/policy/unsatisfiable.yml"
    ))
    .unwrap_or_default();
    let errors = match check_policy("u.yml", &text, None) {
        Ok(r) => panic!("expected errors, got {r:?}"),
        Err(e) => e.0,
    };
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![4, 5, 7], "{errors:?}");
    assert!(errors[0].message.contains("names no reviewers"));
    assert!(errors[1].message.contains("approvals must be at least 1"));
    assert!(errors[2].message.contains("max_days"));
}

#[test]
fn warnings_do_not_stop_loading() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/policy/expired-ignore.yml"
    ))
    .unwrap_or_default();
    let today = NaiveDate::from_ymd_opt(2026, 11, 28);
    let report = match check_policy("e.yml", &text, today) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let expired: Vec<_> = report
        .warnings
        .iter()
        .filter(|w| w.message.contains("expired on 2021-01-31"))
        .collect();
    assert_eq!(expired.len(), 1, "{:?}", report.warnings);
    assert_eq!((expired[0].line, expired[0].column), (7, 16));
    assert!(expired[0].to_string().starts_with("e.yml:7:16: warning: "));
    // Nobody may waive: warned, at file level since `waivers` is not written.
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.message.contains("nobody may waive"))
    );
    // Without a date the expiry is not judged.
    let report = check_policy("e.yml", &text, None).map_err(|e| e.to_string());
    assert!(report.is_ok_and(|r| r.warnings.iter().all(|w| !w.message.contains("expired"))));
}

#[test]
fn sbom_section_without_enabled_warns() {
    let r = check_policy(
        "p.yml",
        "version: 1\ngates:\n  sbom:\n    paths: [\"sbom/**\"]\n",
        None,
    );
    let warnings = r.map(|r| r.warnings).unwrap_or_default();
    assert!(
        warnings
            .iter()
            .any(|w| w.line == 3 && w.message.contains("needs `enabled: true`")),
        "{warnings:?}"
    );
}

#[test]
fn review_gate_that_never_triggers_is_only_a_warning() {
    let r = check_policy("p.yml", "version: 1\n", None);
    let warnings = r.map(|r| r.warnings).unwrap_or_default();
    assert!(
        warnings
            .iter()
            .any(|w| w.message.contains("gates.security_review never applies"))
    );
    // …but with security paths it must name reviewers.
    let e = err(&format!("version: 1\n{REVIEWED}"));
    assert!(e.message.contains("names no reviewers"), "{e}");
    assert!(
        e.message.contains("(at `gates.security_review.reviewers`)"),
        "{e}"
    );
}

#[test]
fn schema_is_strict_and_names_every_key() {
    let schema = json_schema();
    let text = schema.to_string();
    assert_eq!(
        schema["additionalProperties"],
        serde_json::Value::Bool(false)
    );
    for def in [
        "SecurityReviewGate",
        "SastGate",
        "DependenciesGate",
        "Trigger",
        "Reviewers",
        "WaiverPolicy",
    ] {
        let d = &schema["$defs"][def];
        assert_eq!(
            d["additionalProperties"],
            serde_json::Value::Bool(false),
            "{def} must reject unknown keys: {d}"
        );
    }
    // The shared gate keys appear flat in each gate, not nested under `common`.
    let sast = &schema["$defs"]["SastGate"]["properties"];
    for k in [
        "enabled",
        "fail_mode",
        "trigger",
        "checks",
        "threshold",
        "new_only",
    ] {
        assert!(sast.get(k).is_some(), "SastGate lacks {k}: {sast}");
    }
    assert!(
        !text.contains("\"common\""),
        "no `common` key in the file format"
    );
    assert_eq!(
        schema["$defs"]["SbomGate"]["properties"]["enabled"]["default"],
        false
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    // `é` is two bytes; the empty label starts at character 24.
    let e = err("version: 1\nsecurity_labels: [\"é\", \"\"]\n");
    assert_eq!((e.line, e.column), (2, 24), "{e}");
    assert!(e.message.contains("empty label"), "{e}");
}

#[test]
fn a_policy_serialises_to_yaml_that_parses_back_identically() {
    let text = include_str!("../config/sdl-gate.example.yml");
    let policy = match parse_policy("example", text) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let yaml = match serde_saphyr::to_string(&policy) {
        Ok(y) => y,
        Err(e) => panic!("serialise: {e}"),
    };
    assert!(
        !yaml.contains("common"),
        "the file format has no `common` key:\n{yaml}"
    );
    match parse_policy("roundtrip", &yaml) {
        Ok(back) => assert_eq!(back, policy),
        Err(e) => panic!("{e}\n{yaml}"),
    }
}
