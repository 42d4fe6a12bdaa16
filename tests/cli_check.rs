//! `sdl-gate check` as a user runs it: the real binary, files in a temporary repository, and
//! one test per exit code (0 pass, 1 fail or pending, 2 usage or input error).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const POLICY: &str = r##"
version: 1
security_paths: ["src/auth/**"]
gates:
  threat_model:
    paths: ["docs/threat-model/**"]
    link_patterns: ["https://tm.example.com/*", "#*"]
  security_review:
    approvals: 1
    reviewers: { teams: ["acme/security"], users: ["alice"] }
  sast:
    checks: ["CodeQL"]
    threshold: high
  dependencies:
    manifests: ["**/Cargo.lock"]
    threshold: high
"##;

/// A small SARIF log written for these tests: one high-severity result.
const SARIF_HIGH: &str = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Semgrep","rules":[{"id":"sqli","properties":{"security-severity":"8.1","tags":["CWE-89"]}}]}},"results":[{"ruleId":"sqli","level":"error","message":{"text":"SQL built from user input"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"src/auth/login.rs"},"region":{"startLine":12}}}]}]}]}"#;

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let repo = Repo { dir };
        repo.write("policy.yml", POLICY);
        repo.write("src/auth/login.rs", "fn login() {}\n");
        repo.write("changed.txt", "src/auth/login.rs\n");
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent()
            && let Err(e) = fs::create_dir_all(parent)
        {
            panic!("mkdir {}: {e}", parent.display());
        }
        if let Err(e) = fs::write(&p, text) {
            panic!("write {}: {e}", p.display());
        }
    }

    fn check(&self, extra: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sdl-gate"));
        cmd.current_dir(self.path())
            .args([
                "check",
                "--policy",
                "policy.yml",
                "--changed-files",
                "changed.txt",
                "--author",
                "bob",
            ])
            .args(extra);
        match cmd.output() {
            Ok(o) => o,
            Err(e) => panic!("run sdl-gate: {e}"),
        }
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    match serde_json::from_slice(&o.stdout) {
        Ok(v) => v,
        Err(e) => panic!("stdout is not JSON ({e}): {}", stdout(o)),
    }
}

#[test]
fn exit_0_when_every_gate_passes() {
    let r = Repo::new();
    r.write(
        "docs/threat-model/auth.md",
        "# Auth\n\nSpoofing: mitigated by mTLS.\n",
    );
    r.write(
        "changed.txt",
        "M\tsrc/auth/login.rs\nM\tdocs/threat-model/auth.md\n",
    );
    let o = r.check(&[
        "--approved-by",
        "alice",
        "--check",
        "CodeQL=success",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let v = json(&o);
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["gates"][0]["gate"], "threat_model");
    assert_eq!(v["gates"][0]["verdict"], "pass");
}

#[test]
fn exit_1_when_a_gate_fails_with_the_reason_in_markdown() {
    let r = Repo::new();
    r.write("codeql.sarif", SARIF_HIGH);
    let o = r.check(&[
        "--approved-by",
        "alice",
        "--check",
        "CodeQL=success",
        "--sarif",
        "codeql.sarif",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let md = stdout(&o);
    assert!(
        md.contains("❌ sdl-gate: 2 SDL gate(s) block: threat_model, sast"),
        "{md}"
    );
    assert!(
        md.contains("Update the threat model in this change"),
        "{md}"
    );
}

#[test]
fn exit_1_when_pending_on_review_and_checks() {
    let r = Repo::new();
    r.write(
        "pr-body.md",
        "Adds MFA.\n\nThreat-Model: https://tm.example.com/auth-v3\n",
    );
    let o = r.check(&[
        "--body-file",
        "pr-body.md",
        "--approved-by",
        "bob",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1);
    let v = json(&o);
    assert_eq!(v["verdict"], "pending");
    assert_eq!(v["gates"][0]["verdict"], "pass");
    assert_eq!(
        v["gates"][1]["verdict"], "pending",
        "the author's own approval does not count"
    );
    assert_eq!(
        v["gates"][2]["verdict"], "pending",
        "CodeQL has not reported"
    );
}

#[test]
fn team_membership_from_the_command_line_counts() {
    let r = Repo::new();
    r.write("pr-body.md", "Threat-Model: #42\n");
    let o = r.check(&[
        "--body-file",
        "pr-body.md",
        "--approved-by",
        "carol",
        "--team",
        "acme/security=carol,dave",
        "--check",
        "CodeQL=success",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

#[test]
fn renamed_threat_model_in_name_status_input() {
    let r = Repo::new();
    r.write("docs/threat-model/login.md", "# Login threat model\n");
    r.write(
        "changed.txt",
        "M\tsrc/auth/login.rs\nR087\tdocs/threat-model/auth.md\tdocs/threat-model/login.md\n",
    );
    let o = r.check(&[
        "--approved-by",
        "alice",
        "--check",
        "CodeQL=success",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

#[test]
fn changed_files_from_stdin() {
    let r = Repo::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sdl-gate"));
    cmd.current_dir(r.path())
        .args([
            "check",
            "--policy",
            "policy.yml",
            "--changed-files",
            "-",
            "--format",
            "json",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("spawn: {e}"),
    };
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        if let Err(e) = stdin.write_all(b"README.md\n") {
            panic!("stdin: {e}");
        }
    }
    let o = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => panic!("wait: {e}"),
    };
    // Nothing security-relevant changed; the only gate that applies is SAST, waiting on CodeQL.
    let v = json(&o);
    assert_eq!(v["gates"][0]["verdict"], "not_applicable");
    assert_eq!(v["gates"][2]["verdict"], "pending");
}

#[test]
fn exit_2_on_a_policy_error_naming_the_file() {
    let r = Repo::new();
    r.write(
        "policy.yml",
        "version: 1\ngates:\n  sast:\n    treshold: high\n",
    );
    let o = r.check(&[]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(err.contains("policy.yml"), "{err}");
    assert!(err.contains("treshold"), "{err}");
    assert!(o.stdout.is_empty(), "no verdict on bad input");
}

#[test]
fn exit_2_on_missing_or_unreadable_inputs() {
    let r = Repo::new();
    let o = r.check(&["--sarif", "nope.sarif"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("nope.sarif"), "{}", stderr(&o));

    r.write("broken.sarif", "{\"version\": \"2.1.0\", \"runs\": [");
    let o = r.check(&["--sarif", "broken.sarif"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("broken.sarif"), "{}", stderr(&o));

    let o = r.check(&["--check", "CodeQL=green"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("unknown state `green`"),
        "{}",
        stderr(&o)
    );

    let o = r.check(&["--team", "no-equals-sign"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--team"), "{}", stderr(&o));
}

#[test]
fn exit_2_on_usage_error() {
    let o = match Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
        .args(["check", "--policy"])
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("run: {e}"),
    };
    assert_eq!(code(&o), 2);
}

#[test]
fn an_org_floor_given_with_org_policy_keeps_the_threshold_and_says_so() {
    let r = Repo::new();
    r.write("codeql.sarif", SARIF_HIGH);
    r.write(
        "docs/threat-model/auth.md",
        "# Auth\n\nSpoofing: mitigated by mTLS.\n",
    );
    r.write(
        "changed.txt",
        "M\tsrc/auth/login.rs\nM\tdocs/threat-model/auth.md\n",
    );
    r.write(
        "policy.yml",
        &POLICY.replace(
            "    threshold: high\n  dependencies",
            "    threshold: critical\n  dependencies",
        ),
    );
    let args = [
        "--approved-by",
        "alice",
        "--check",
        "CodeQL=success",
        "--sarif",
        "codeql.sarif",
    ];
    // The repository's own policy lets a high finding through.
    let o = r.check(&args);
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    // Under the organisation's floor it blocks, and the report names the rule kept.
    r.write(
        "org.yml",
        "version: 1\nfloor:\n  gates:\n    sast: { threshold: high }\n",
    );
    let mut with_org = args.to_vec();
    with_org.extend(["--org-policy", "org.yml"]);
    let o = r.check(&with_org);
    assert_eq!(code(&o), 1, "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(
            "the org floor keeps `sast` at threshold `high` (the repository asked `critical`)"
        ),
        "{out}"
    );
    assert!(
        out.contains("Org floor") && out.contains("org.yml"),
        "{out}"
    );
}
