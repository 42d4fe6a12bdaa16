//! `sdl-gate config validate` and `sdl-gate config schema`, run as the built binary.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sdl-gate");

fn data(name: &str) -> String {
    format!("{}/tests/data/policy/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    match Command::new(BIN).args(args).output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run {BIN}: {e}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn valid_policy_prints_ok_and_exits_0() {
    let file = data("minimal.yml");
    let out = run(&["config", "validate", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("{file}: ok"));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
}

#[test]
fn the_example_policy_validates() {
    let file = format!("{}/config/sdl-gate.example.yml", env!("CARGO_MANIFEST_DIR"));
    let out = run(&["config", "validate", "--deny-warnings", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn warnings_are_printed_and_still_exit_0_unless_denied() {
    let file = data("expired-ignore.yml");
    let out = run(&["config", "validate", &file]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{file}:7:16: warning: ignore of `CVE-2020-0001` expired on 2021-01-31"
        )),
        "{stderr}"
    );
    assert!(text(&out.stdout).starts_with(&format!("{file}: ok (")));

    let out = run(&["config", "validate", "--deny-warnings", &file]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn misspelt_key_exits_2_with_location_and_suggestion() {
    let file = data("typo.yml");
    let out = run(&["config", "validate", &file]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "{file}:5:5: unknown key `aprovals` in `gates.security_review` (did you mean `approvals`?)"
        )
    );
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn every_semantic_error_is_printed() {
    let file = data("unsatisfiable.yml");
    let out = run(&["config", "validate", &file]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines[0].starts_with(&format!("{file}:4:3: ")), "{stderr}");
    assert!(
        lines[1].starts_with(&format!("{file}:5:16: approvals must be at least 1")),
        "{stderr}"
    );
    assert!(
        lines[2].starts_with(&format!("{file}:7:13: max_days")),
        "{stderr}"
    );
}

#[test]
fn missing_file_exits_2() {
    let out = run(&["config", "validate", "/nonexistent/sdl-gate.yml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot open /nonexistent/sdl-gate.yml"));
}

#[test]
fn non_utf8_and_oversized_files_exit_2() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let bad = dir.path().join("latin1.yml");
    let big = dir.path().join("big.yml");
    let written = std::fs::write(&bad, b"version: 1\nsecurity_labels: [caf\xe9]\n")
        .and_then(|()| std::fs::write(&big, vec![b'#'; 2 * 1024 * 1024]));
    assert!(written.is_ok(), "{written:?}");
    let out = run(&["config", "validate", &bad.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not valid UTF-8"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["config", "validate", &big.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("larger than the limit"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn schema_is_json_with_the_policy_keys() {
    let out = run(&["config", "schema"]);
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => panic!("schema is not JSON: {e}"),
    };
    assert!(
        schema["$schema"]
            .as_str()
            .is_some_and(|s| s.contains("json-schema.org"))
    );
    assert_eq!(schema["required"], serde_json::json!(["version"]));
    assert!(schema["properties"]["gates"].is_object());
}
