//! The README's "Try it offline" runs as written: its command is read from the README's
//! `sh` block, run from the repository root with the inputs in `examples/offline/`, and must
//! print the verdict and exit with the code the README states.
//!
//! The README runs `./target/release/sdl-gate`; the test runs the same binary target as Cargo
//! built it for the test (`CARGO_BIN_EXE_sdl-gate`), with exactly the README's arguments.

use std::path::Path;
use std::process::Command;

const README: &str = include_str!("../README.md");
const PROGRAM: &str = "./target/release/sdl-gate";

/// The section's shell command: its `sh` block, continuation lines joined.
fn offline_command() -> String {
    let section = README
        .split("\n## ")
        .find(|s| s.starts_with("Try it offline\n"))
        .unwrap_or_else(|| panic!("the README has no \"Try it offline\" section"));
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .unwrap_or_else(|| panic!("\"Try it offline\" has no ```sh block"));
    block.replace("\\\n", " ")
}

#[test]
fn the_readme_offline_command_runs_as_written() {
    let command = offline_command();
    let lines: Vec<&str> = command.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one command: {command}");
    // Plain words only, so splitting on whitespace is what the shell does.
    assert!(
        !command.contains(['"', '\'', '$', '`', '|', '>', '<', '*']),
        "the command needs a shell to split: {command}"
    );
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words.first(), Some(&PROGRAM), "{command}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for w in &words[1..] {
        if w.starts_with("examples/") {
            assert!(root.join(w).exists(), "{w} does not exist");
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
        .args(&words[1..])
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("running the README's command: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);

    // What the README says it prints and how it exits.
    let section = README
        .split("\n## ")
        .find(|s| s.starts_with("Try it offline\n"))
        .unwrap_or_default();
    let promised = section
        .split("It prints `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .unwrap_or_else(|| panic!("the section does not say what it prints"));
    assert_eq!(
        stdout.lines().next(),
        Some(promised),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        section.contains("and exits 1"),
        "the section states the exit code"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The reasons the README gives are the ones in the report.
    assert!(stdout.contains("| Threat model | ✅ pass"), "{stdout}");
    assert!(stdout.contains("| Security review | ✅ pass"), "{stdout}");
    assert!(stdout.contains("`src/auth/session.rs:42`"), "{stdout}");
    assert!(stdout.contains("CWE-89"), "{stdout}");
}
