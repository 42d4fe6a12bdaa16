//! The commented example policy is valid and documents every key of the JSON Schema.

use std::collections::BTreeSet;

use sdl_gate::policy::{check_policy, json_schema};

const EXAMPLE: &str = include_str!("../config/sdl-gate.example.yml");

fn property_names(value: &serde_json::Value, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                out.extend(props.keys().cloned());
            }
            for v in map.values() {
                property_names(v, out);
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                property_names(v, out);
            }
        }
        _ => {}
    }
}

#[test]
fn example_policy_is_valid_without_warnings() {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 28);
    match check_policy("config/sdl-gate.example.yml", EXAMPLE, today) {
        Ok(report) => assert!(report.warnings.is_empty(), "{:?}", report.warnings),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn example_policy_documents_every_schema_key() {
    let mut names = BTreeSet::new();
    property_names(&json_schema(), &mut names);
    assert!(
        names.len() > 30,
        "schema walk found too few keys: {names:?}"
    );
    let missing: Vec<&String> = names
        .iter()
        .filter(|k| {
            !EXAMPLE.lines().any(|line| {
                let t = line.trim_start().trim_start_matches("- ");
                t.starts_with(&format!("{k}:"))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "keys not written in the example: {missing:?}"
    );
}

#[test]
fn every_key_line_in_the_example_has_a_comment_nearby() {
    // A key line is documented when it carries a comment or the line above is a comment.
    let lines: Vec<&str> = EXAMPLE.lines().collect();
    let mut undocumented = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t.starts_with('#') || t.is_empty() || !t.contains(':') {
            continue;
        }
        let above = i
            .checked_sub(1)
            .and_then(|j| lines.get(j))
            .map(|l| l.trim_start().trim_start_matches("- "));
        // Shared keys repeated in later gates were documented under `threat_model` and in
        // the header.
        let repeated = ["enabled:", "fail_mode:"].iter().any(|k| t.starts_with(k));
        if !repeated && !t.contains(" #") && !above.is_some_and(|a| a.starts_with('#')) {
            undocumented.push(format!("{}: {t}", i + 1));
        }
    }
    assert!(undocumented.is_empty(), "{undocumented:#?}");
}

/// The `/sdl waive` examples the policy's comments give are commands the parser accepts, with
/// the expiry they spell (the comment once documented `/sdl waive <gate> <days> <reason>`,
/// which the parser rejects).
#[test]
fn the_waive_examples_in_the_example_policy_parse() {
    use sdl_gate::commands::{Command, Expiry, parse_comment};
    use sdl_gate::gates::GateKind;

    let examples: Vec<&str> = EXAMPLE
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .flat_map(|l| l.split('`').skip(1).step_by(2))
        .filter(|code| code.starts_with("/sdl waive ") && !code.contains('<'))
        .collect();
    assert!(
        !examples.is_empty(),
        "the example policy gives no concrete `/sdl waive …` example"
    );
    for example in examples {
        match parse_comment(example).as_slice() {
            [Ok((_, Command::Waive { gate, expiry, .. }))] => {
                assert_eq!(*gate, GateKind::Sast, "{example}");
                assert_eq!(*expiry, Expiry::For { hours: 14 * 24 }, "{example}");
            }
            other => panic!("{example:?} does not parse as a waiver: {other:?}"),
        }
    }
    // The syntax line names the options the parser knows.
    assert!(EXAMPLE.contains("/sdl waive <gate> [--for <N>d | --until <YYYY-MM-DD>] <reason>"));
}
