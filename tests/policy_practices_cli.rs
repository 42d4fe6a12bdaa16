//! `sdl-gate practices [ID]`, run as the built binary.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sdl-gate");

fn run(args: &[&str]) -> Output {
    match Command::new(BIN).arg("practices").args(args).output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run {BIN}: {e}"),
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn list_groups_47_requirements_by_practice_with_gates() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0));
    let s = stdout(&out);
    assert!(s.starts_with("IEC 62443-4-1:2018 (edition 1.0): 47 requirements in 8 practices"));
    let requirement_lines = s
        .lines()
        .filter(|l| {
            l.starts_with("  ")
                && l.split_whitespace().next().is_some_and(|w| {
                    w.contains('-') && w.chars().last().is_some_and(|c| c.is_ascii_digit())
                })
        })
        .count();
    assert_eq!(requirement_lines, 47, "{s}");
    let sr2 = s.lines().find(|l| l.trim_start().starts_with("SR-2 "));
    assert!(
        sr2.is_some_and(|l| l.contains("threat_model") && l.contains("sbom (supporting)")),
        "{sr2:?}"
    );
    let practice_headers = s.lines().filter(|l| l.contains("(practice ")).count();
    assert_eq!(practice_headers, 8);
}

#[test]
fn list_as_json() {
    let out = run(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let practices = v["practices"].as_array().map(Vec::len);
    assert_eq!(practices, Some(8));
    let total: usize = v["practices"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["requirements"].as_array())
                .map(Vec::len)
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(total, 47);
}

#[test]
fn explain_sr_2() {
    let out = run(&["SR-2"]);
    assert_eq!(out.status.code(), Some(0));
    let s = stdout(&out);
    assert!(s.starts_with("SR-2 — Threat model\n"), "{s}");
    assert!(s.contains("Practice: SR Specification of security requirements"));
    assert!(s.contains("Edition:  IEC 62443-4-1:2018 (edition 1.0)"));
    assert!(s.contains("primary     threat_model"));
    assert!(s.contains("supporting  sbom"));
    assert!(s.contains("Art. 13(3)"));
}

#[test]
fn explain_fr_and_cwe_and_gate() {
    let s = stdout(&run(&["FR3"]));
    assert!(s.starts_with("FR3 (SI) — System integrity"), "{s}");
    assert!(s.contains("CWE-89"));
    let s = stdout(&run(&["CWE-79"]));
    assert!(s.contains("Rank 1 in the 2024 CWE Top 25."), "{s}");
    assert!(s.contains("FR3 (SI) System integrity"));
    let s = stdout(&run(&["sast"]));
    assert!(
        s.contains("What satisfies it:") && s.contains("primary     SI-1"),
        "{s}"
    );
    let out = run(&["CWE-79", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(v["kind"], "cwe");
    assert_eq!(v["top25_2024"], 1);
}

#[test]
fn unknown_id_exits_2_with_a_suggestion() {
    let out = run(&["SVV-9"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown id `SVV-9`"), "{err}");
    assert!(err.contains("did you mean `SVV-"), "{err}");
    assert!(out.stdout.is_empty());
}
