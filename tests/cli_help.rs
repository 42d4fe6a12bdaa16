//! Help that tells the truth: each sub-command's `--help` lists exactly the environment
//! variables its sources read, and `check --help` lists exactly the check states `--check`
//! accepts and the exit codes. The variable tables live in `src/cli/env_vars.rs`; this test
//! reads the sub-commands' sources, so a variable added to the code without the help (or left
//! in the help after the code stopped reading it) fails here.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use sdl_gate::snapshot::CheckState;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
        .args(args)
        .arg("--help")
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{args:?} --help exited {}",
        out.status
    );
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The variables a help text lists: the first word of each line of its "Environment
/// variables" section, and clap's `[env: NAME=…]` for options.
fn listed(help: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_section = false;
    for line in help.lines() {
        if line.starts_with("Environment variables") {
            in_section = true;
            continue;
        }
        if in_section {
            if !line.starts_with("  ") {
                in_section = false;
            } else if let Some(word) = line.split_whitespace().next() {
                names.insert(word.to_owned());
            }
        }
        let mut rest = line;
        while let Some(at) = rest.find("[env: ") {
            let tail = &rest[at + 6..];
            let end = tail.find(['=', ']']).unwrap_or(tail.len());
            names.insert(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    names
}

const PREFIXES: [&str; 7] = [
    "SDL_GATE_",
    "GITHUB_",
    "GITLAB_",
    "CI_",
    "RUNNER_",
    "RUST_LOG",
    "HOSTNAME",
];

/// Variables only tests set, deliberately left out of the help.
const TEST_ONLY: [&str; 1] = ["SDL_GATE_TEST_PROCESSOR"];

/// The variable names string literals in these sources name (their test modules excluded),
/// and, for the Action, the `INPUT_*` variables its input helpers read.
fn read_by(files: &[&str]) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(root.join(file)).expect("source is readable");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for literal in code.split('"') {
            let is_name = !literal.is_empty()
                && literal
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && !literal.ends_with('_')
                && PREFIXES.iter().any(|p| literal.starts_with(p));
            if is_name && !TEST_ONLY.contains(&literal) {
                names.insert(literal.to_owned());
            }
        }
        for helper in [
            "input(env, \"",
            "input(&env, \"",
            "boolean(env, \"",
            "list(env, \"",
        ] {
            for (at, _) in code.match_indices(helper) {
                let tail = &code[at + helper.len()..];
                let name = &tail[..tail.find('"').unwrap_or(0)];
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                    names.insert(format!("INPUT_{}", name.to_ascii_uppercase()));
                }
            }
        }
    }
    names
}

fn assert_same(command: &str, listed: &BTreeSet<String>, read: &BTreeSet<String>) {
    let unlisted: Vec<_> = read.difference(listed).collect();
    let stale: Vec<_> = listed.difference(read).collect();
    assert!(
        unlisted.is_empty() && stale.is_empty(),
        "`sdl-gate {command} --help` is out of date: read but not listed {unlisted:?}; listed but not read {stale:?}"
    );
}

#[test]
fn serve_help_lists_every_variable_the_service_reads() {
    let text = help(&["serve"]);
    let read = read_by(&["src/settings.rs", "src/cli/serve.rs", "src/server/mod.rs"]);
    assert!(
        read.contains("SDL_GATE_DATABASE_URL"),
        "the scan finds names: {read:?}"
    );
    assert_same("serve", &listed(&text), &read);
    assert!(
        text.contains("[sqlite://sdl-gate.db]"),
        "defaults are shown:\n{text}"
    );
}

#[test]
fn action_help_lists_the_runner_context_and_every_input() {
    let text = help(&["action"]);
    let read = read_by(&["src/action/mod.rs", "src/cli/action.rs"]);
    assert!(
        read.contains("INPUT_FAIL-ON-PENDING"),
        "inputs are found: {read:?}"
    );
    assert_same("action", &listed(&text), &read);
}

#[test]
fn gitlab_ci_help_lists_the_predefined_and_own_variables() {
    let text = help(&["gitlab-ci"]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli/gitlab_ci");
    let mut files: Vec<String> = vec!["src/gitlab_ci/context.rs".to_owned()];
    for entry in std::fs::read_dir(&dir).expect("src/cli/gitlab_ci is a folder") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".rs") && name != "tests.rs" {
            files.push(format!("src/cli/gitlab_ci/{name}"));
        }
    }
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let read = read_by(&files);
    assert!(
        read.contains("CI_MERGE_REQUEST_IID"),
        "the scan finds names: {read:?}"
    );
    assert_same("gitlab-ci", &listed(&text), &read);
}

#[test]
fn check_help_lists_exactly_the_states_it_accepts_and_the_exit_codes() {
    let text = help(&["check"]);
    let section: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Check states"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    let mut listed = BTreeSet::new();
    for line in &section {
        let mut parts = line.split_whitespace();
        let state = parts.next().expect("a state name leads the line");
        for word in parts.map(|w| w.trim_end_matches(',')) {
            let parsed = CheckState::parse(word)
                .unwrap_or_else(|| panic!("help lists `{word}`, which --check refuses"));
            assert_eq!(parsed.name(), state, "`{word}` is listed under {state}");
            listed.insert(word.to_owned());
        }
    }
    let accepted: BTreeSet<String> = CheckState::WORDS
        .iter()
        .map(|(w, _)| w.to_string())
        .collect();
    assert_eq!(listed, accepted, "help and parser disagree");
    assert!(listed.contains("skipped"));
    for code in [
        "0  the verdict is pass",
        "1  the verdict is fail or pending",
        "2  usage or input error",
    ] {
        assert!(
            text.contains(code),
            "exit code line `{code}` missing:\n{text}"
        );
    }
    // A word the help does not list is refused, naming the state and where to look.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.yml"), "version: 1\n").expect("write policy");
    std::fs::write(dir.path().join("c.txt"), "README.md\n").expect("write changes");
    let out = Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
        .current_dir(dir.path())
        .args([
            "check",
            "--policy",
            "p.yml",
            "--changed-files",
            "c.txt",
            "--check",
            "CI=succeeded",
        ])
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown state `succeeded`") && err.contains("--help"),
        "{err}"
    );
}
