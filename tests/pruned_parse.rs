//! Conformance of the pruned parse: the ingest parses a delivery keeping only the paths the
//! extractors read (`events::github::parse`, `events::gitlab::parse`), and what is extracted
//! from that must be what is extracted from the full parse, for every published webhook
//! fixture. Each fixture is run under every event name the forge's extractor acts on, not
//! only its own, so foreign shapes reach every branch (and a path read by one branch but
//! missing from the table shows up as a difference, or as the extractor's debug assertion).

mod service_support;

use std::path::{Path, PathBuf};

use sdl_gate::events::{DomainEvent, EventError, github, gitlab};
use serde_json::Value;
use service_support::fixtures_dir;

/// Every GitHub event name `github::extract` has a branch for, `ping` and an unknown one.
const GITHUB_EVENTS: &[&str] = &[
    "pull_request",
    "pull_request_review",
    "issue_comment",
    "check_run",
    "check_suite",
    "merge_group",
    "status",
    "push",
    "release",
    "code_scanning_alert",
    "installation",
    "installation_repositories",
    "ping",
    "deployment",
];

/// Every GitLab hook name `gitlab::extract` has a branch for, and one it does not.
const GITLAB_EVENTS: &[&str] = &[
    "Merge Request Hook",
    "Note Hook",
    "Pipeline Hook",
    "Push Hook",
    "Tag Push Hook",
    "Release Hook",
    "Job Hook",
];

type Extract = fn(&str, &Value) -> Result<Option<DomainEvent>, EventError>;
type Parse = fn(&str) -> Result<Value, serde_json::Error>;

/// The JSON files under `dir`, sorted.
fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// How many (fixture, event) pairs were compared, and how many of them were acted on.
#[derive(Debug, Default)]
struct Tally {
    compared: usize,
    acted: usize,
    refused: usize,
}

/// Compares the extraction from the full and the pruned parse of every JSON file under
/// `root`, under every name in `events`.
fn compare_all(root: &Path, events: &[&str], parse: Parse, extract: Extract) -> Tally {
    let mut files = Vec::new();
    json_files(root, &mut files);
    let mut tally = Tally::default();
    for path in &files {
        let body =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let full: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        let pruned = parse(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for event in events {
            let expected = extract(event, &full);
            assert_eq!(
                extract(event, &pruned),
                expected,
                "{} as {event}",
                path.display()
            );
            tally.compared += 1;
            match expected {
                Ok(Some(_)) => tally.acted += 1,
                Ok(None) => {}
                Err(_) => tally.refused += 1,
            }
        }
    }
    tally
}

#[test]
fn github_fixtures_extract_the_same_from_the_pruned_parse() {
    let Some(root) = fixtures_dir("github-webhooks") else {
        return;
    };
    let tally = compare_all(&root, GITHUB_EVENTS, github::parse, github::extract);
    eprintln!("github: {tally:?}");
    // 209 files when written: 201 pairs acted on (every acted-on fixture under its own event
    // among them), 677 refused (mostly payloads under a foreign event).
    assert!(tally.compared >= 2_900, "{tally:?}");
    assert!(tally.acted >= 200, "{tally:?}");
    assert!(tally.refused >= 650, "{tally:?}");
}

#[test]
fn gitlab_fixtures_extract_the_same_from_the_pruned_parse() {
    let Some(root) = fixtures_dir("gitlab-webhooks") else {
        return;
    };
    let tally = compare_all(&root, GITLAB_EVENTS, gitlab::parse, gitlab::extract);
    eprintln!("gitlab: {tally:?}");
    // 51 files when written: 14 pairs acted on, 164 refused.
    assert!(tally.compared >= 350, "{tally:?}");
    assert!(tally.acted >= 14, "{tally:?}");
    assert!(tally.refused >= 160, "{tally:?}");
}

#[test]
fn a_malformed_fixture_is_refused_as_the_full_parse_refuses_it() {
    let Some(root) = fixtures_dir("github-webhooks") else {
        return;
    };
    let body = std::fs::read_to_string(root.join("kodiak/pull_request/synchronize.json"))
        .expect("fixture");
    // Cut anywhere, or a control character put anywhere: refused with the same error.
    let (mut cuts, mut damages) = (0, 0);
    for at in (1..body.trim_end().len())
        .step_by(97)
        .filter(|at| body.is_char_boundary(*at))
    {
        let cut = &body[..at];
        let full = serde_json::from_str::<Value>(cut).expect_err("truncated");
        let pruned = github::parse(cut).expect_err("truncated");
        assert_eq!(pruned.to_string(), full.to_string(), "cut at {at}");
        cuts += 1;
        let mut damaged = body.clone();
        damaged.insert(at, '\u{1}');
        let full = serde_json::from_str::<Value>(&damaged).map_err(|e| e.to_string());
        let pruned = github::parse(&damaged).map_err(|e| e.to_string());
        assert!(full.is_err(), "a control character anywhere is refused");
        assert_eq!(pruned.map(|_| ()), full.map(|_| ()), "damaged at {at}");
        damages += 1;
    }
    assert!(
        cuts > 200 && damages > 200,
        "{cuts} cuts, {damages} damages"
    );
}
