//! `sdl-gate gitlab-ci` end to end: the real binary in a merge request pipeline's
//! environment, over a real git checkout in a tempdir (an `origin` bare repository with the
//! target branch and the MR branch, cloned the way a runner would), with report artifacts of
//! "earlier stages" in the project directory and no GitLab token. Asserts the exit codes,
//! the JUnit and code quality reports, the JSON result and the Markdown summary.

mod fake_forge;
mod fake_gitlab;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PROJECT: &str = "acme/plc";

/// The target branch's policy.
const BASE_POLICY: &str = r##"
version: 1
security_paths: ["src/auth/**"]
gates:
  threat_model:
    paths: ["docs/threat-model/**"]
    link_patterns: ["https://tm.example.com/*"]
  security_review:
    approvals: 1
    reviewers: { users: ["carol"] }
  sast:
    threshold: high
"##;

/// What an MR branch may commit instead: every gate off. It must be ignored (and editing
/// the policy is itself security-relevant: the review gate applies).
const WEAK_POLICY: &str = "version: 1\ngates:\n  threat_model: { enabled: false }\n  security_review: { enabled: false }\n  sast: { enabled: false }\n";

/// A finding message trying to break out of XML and Markdown.
const HOSTILE: &str = "SQL built from input </failure><injected evil=\"1\"/> ]]> & <script>alert(1)</script> @everyone | <!-- sdl-gate:summary --> \u{1} end";

fn gl_sast(findings: &[(&str, u32, &str, &str)]) -> String {
    let vulns: Vec<serde_json::Value> = findings
        .iter()
        .enumerate()
        .map(|(i, (file, line, severity, message))| {
            serde_json::json!({
                "id": format!("vuln-{i}"),
                "category": "sast",
                "name": "SQL injection",
                "message": message,
                "description": message,
                "severity": severity,
                "scanner": {"id": "semgrep", "name": "Semgrep"},
                "location": {"file": file, "start_line": line, "end_line": line},
                "identifiers": [
                    {"type": "semgrep_id", "name": "sqli", "value": "rules.sqli"},
                    {"type": "cwe", "name": "CWE-89", "value": "89"}
                ]
            })
        })
        .collect();
    serde_json::json!({
        "version": "15.0.4",
        "scan": {
            "type": "sast",
            "status": "success",
            "analyzer": {"id": "semgrep", "name": "Semgrep", "vendor": {"name": "GitLab"}, "version": "1"},
            "scanner": {"id": "semgrep", "name": "Semgrep", "vendor": {"name": "GitLab"}, "version": "1"},
            "start_time": "2026-01-01T00:00:00",
            "end_time": "2026-01-01T00:00:01"
        },
        "vulnerabilities": vulns
    })
    .to_string()
}

/// A tempdir holding `origin.git` (bare), a `dev` clone where commits are made, and the
/// runner's `checkout`.
struct Repo {
    dir: tempfile::TempDir,
    base_sha: String,
    head_sha: String,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap_or_else(|e| panic!("run git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

impl Repo {
    /// `main` with the strict policy and some code; the MR branch `feature` with `changes`
    /// (path, content); `single_branch` clones only `feature`, as a
    /// merge request pipeline's clone may be.
    fn new(changes: &[(&str, &str)], single_branch: bool) -> Repo {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = dir.path();
        git(root, &["init", "--quiet", "--bare", "origin.git"]);
        git(root, &["init", "--quiet", "dev"]);
        let dev = root.join("dev");
        write(&dev.join(".gitlab/sdl-gate.yml"), BASE_POLICY);
        write(&dev.join("src/auth/login.rs"), "fn login() {}\n");
        write(&dev.join("docs/guide.md"), "# Guide\n");
        git(&dev, &["add", "-A"]);
        git(&dev, &["commit", "--quiet", "-m", "base"]);
        git(&dev, &["branch", "-M", "main"]);
        let origin = root.join("origin.git");
        let origin_s = origin.to_string_lossy().to_string();
        git(&dev, &["remote", "add", "origin", &origin_s]);
        git(&dev, &["push", "--quiet", "origin", "main"]);
        let base_sha = git(&dev, &["rev-parse", "HEAD"]);
        git(&dev, &["checkout", "--quiet", "-b", "feature"]);
        for (path, text) in changes {
            write(&dev.join(path), text);
        }
        git(&dev, &["add", "-A"]);
        git(&dev, &["commit", "--quiet", "-m", "change"]);
        git(&dev, &["push", "--quiet", "origin", "feature"]);
        let head_sha = git(&dev, &["rev-parse", "HEAD"]);
        let mut args = vec!["clone", "--quiet", "--branch", "feature"];
        if single_branch {
            args.push("--single-branch");
        }
        args.extend([origin_s.as_str(), "checkout"]);
        git(root, &args);
        Repo {
            dir,
            base_sha,
            head_sha,
        }
    }

    fn checkout(&self) -> PathBuf {
        self.dir.path().join("checkout")
    }

    fn write(&self, rel: &str, text: &str) {
        write(&self.checkout().join(rel), text);
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.checkout().join(rel)).unwrap_or_default()
    }

    fn result(&self) -> serde_json::Value {
        serde_json::from_str(&self.read("sdl-gate-result.json"))
            .unwrap_or_else(|e| panic!("sdl-gate-result.json: {e}"))
    }

    /// The variables of a merge request pipeline for this repository.
    fn ci_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GITLAB_CI", "true".into()),
            ("CI_PIPELINE_SOURCE", "merge_request_event".into()),
            ("CI_MERGE_REQUEST_IID", "7".into()),
            ("CI_PROJECT_ID", "42".into()),
            ("CI_PROJECT_PATH", PROJECT.into()),
            ("CI_API_V4_URL", "https://gitlab.example.com/api/v4".into()),
            ("CI_COMMIT_SHA", self.head_sha.clone()),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main".into()),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", self.base_sha.clone()),
            ("CI_MERGE_REQUEST_EVENT_TYPE", "detached".into()),
            ("GITLAB_USER_LOGIN", "bob".into()),
            ("CI_MERGE_REQUEST_TITLE", "Change things".into()),
            ("CI_MERGE_REQUEST_LABELS", "backend,security".into()),
            (
                "CI_PROJECT_DIR",
                self.checkout().to_string_lossy().into_owned(),
            ),
            (
                "CI_JOB_URL",
                "https://gitlab.example.com/acme/plc/-/jobs/1".into(),
            ),
        ]
    }

    fn run(&self, env: &[(&str, String)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sdl-gate"));
        cmd.arg("gitlab-ci")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .current_dir(self.checkout());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("run sdl-gate gitlab-ci: {e}"))
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", text(&o.stdout), text(&o.stderr))
}

fn without(env: Vec<(&'static str, String)>, name: &str) -> Vec<(&'static str, String)> {
    env.into_iter().filter(|(k, _)| *k != name).collect()
}

/// The test cases of a JUnit document: (name, failure text if failed, skipped).
fn cases(xml: &str) -> Vec<(String, Option<String>, bool)> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("JUnit XML: {e}\n{xml}"));
    doc.descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|n| {
            let name = n.attribute("name").unwrap_or_default().to_string();
            let failure = n.children().find(|c| c.has_tag_name("failure")).map(|f| {
                format!(
                    "{}\n{}",
                    f.attribute("message").unwrap_or_default(),
                    f.text().unwrap_or_default()
                )
            });
            let skipped = n.children().any(|c| c.has_tag_name("skipped"));
            (name, failure, skipped)
        })
        .collect()
}

#[test]
fn missing_ci_variables_exit_2_naming_the_variable() {
    let repo = Repo::new(&[("docs/guide.md", "# Guide\nMore.\n")], false);
    for var in [
        "CI_MERGE_REQUEST_IID",
        "CI_COMMIT_SHA",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
        "CI_PROJECT_PATH",
    ] {
        let out = repo.run(&without(repo.ci_env(), var));
        assert_eq!(code(&out), 2, "{var}: {}", show(&out));
        assert!(text(&out.stderr).contains(var), "{var}: {}", show(&out));
        // The MR widget still gets a report saying why.
        let junit = repo.read("sdl-gate-junit.xml");
        let doc = roxmltree::Document::parse(&junit)
            .unwrap_or_else(|e| panic!("error JUnit does not parse: {e}"));
        let error = doc
            .descendants()
            .find(|n| n.has_tag_name("error"))
            .unwrap_or_else(|| panic!("no <error> in {junit}"));
        assert!(
            error.attribute("message").unwrap_or_default().contains(var),
            "{junit}"
        );
        assert_eq!(repo.read("gl-code-quality-report.json").trim(), "[]");
    }

    // A branch pipeline: the message says why it must be a merge request pipeline.
    let mut env = without(repo.ci_env(), "CI_MERGE_REQUEST_IID");
    env.retain(|(k, _)| *k != "CI_PIPELINE_SOURCE");
    env.push(("CI_PIPELINE_SOURCE", "push".into()));
    let out = repo.run(&env);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("merge_request_event"),
        "{}",
        show(&out)
    );

    // Settings are checked too.
    let mut env = repo.ci_env();
    env.push(("SDL_GATE_COMMENT", "sometimes".into()));
    let out = repo.run(&env);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("SDL_GATE_COMMENT"),
        "{}",
        show(&out)
    );

    let mut env = repo.ci_env();
    env.retain(|(k, _)| *k != "CI_COMMIT_SHA");
    env.push(("CI_COMMIT_SHA", "not-a-sha".into()));
    let out = repo.run(&env);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("CI_COMMIT_SHA"),
        "{}",
        show(&out)
    );
}

#[test]
fn passing_change_exits_0_with_every_gate_passed_or_skipped_in_junit() {
    let repo = Repo::new(&[("docs/guide.md", "# Guide\nMore words.\n")], false);
    // An earlier stage's SAST job left a clean report.
    repo.write("gl-sast-report.json", &gl_sast(&[]));
    let t = std::time::Instant::now();
    let out = repo.run(&repo.ci_env());
    eprintln!(
        "gitlab-ci mode, passing MR, no token: start-to-verdict {} ms (process start and git included)",
        t.elapsed().as_millis()
    );
    assert_eq!(code(&out), 0, "{}", show(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("from the target branch `main`, read from `origin/main`"),
        "{stdout}"
    );

    let junit = repo.read("sdl-gate-junit.xml");
    let cases = cases(&junit);
    assert_eq!(cases.len(), 5, "one test case per gate:\n{junit}");
    assert!(
        cases.iter().all(|(_, failure, _)| failure.is_none()),
        "{junit}"
    );
    let sast = cases
        .iter()
        .find(|(n, _, _)| n == "Static analysis (sast)")
        .unwrap_or_else(|| panic!("no sast case:\n{junit}"));
    assert!(!sast.2, "the sast gate passed, it is not skipped:\n{junit}");
    // The base policy ran (the branch's own policy disables sast).
    let result = repo.result();
    assert_eq!(result["verdict"], "pass");
    let gates = result["gates"].as_array().cloned().unwrap_or_default();
    let sast = gates
        .iter()
        .find(|g| g["gate"] == "sast")
        .unwrap_or_else(|| panic!("{result}"));
    assert_eq!(sast["verdict"], "pass", "{result}");
    assert_eq!(result["head_sha"], repo.head_sha);
    assert_eq!(result["number"], 7);
    assert_eq!(repo.read("gl-code-quality-report.json").trim(), "[]");
    assert!(repo.read("sdl-gate-summary.md").contains("sdl-gate"));
    // What the job could not do without a token is said.
    assert!(
        stdout.contains("no GitLab token (SDL_GATE_GITLAB_TOKEN is not set)"),
        "{stdout}"
    );
}

#[test]
fn failing_sast_report_exits_1_with_requirements_code_quality_and_escaping() {
    let repo = Repo::new(
        &[
            (
                "src/auth/login.rs",
                "fn login() {}\nfn query(u: &str) {\n    let q = format!(\"SELECT {u}\");\n}\n",
            ),
            (".gitlab/sdl-gate.yml", WEAK_POLICY),
        ],
        false,
    );
    repo.write(
        "gl-sast-report.json",
        &gl_sast(&[
            ("src/auth/login.rs", 3, "High", HOSTILE),
            ("src/auth/login.rs", 2, "Critical", "Second finding"),
        ]),
    );
    let out = repo.run(&repo.ci_env());
    assert_eq!(code(&out), 1, "{}", show(&out));

    let result = repo.result();
    assert_eq!(result["verdict"], "fail");
    let gates = result["gates"].as_array().cloned().unwrap_or_default();
    let gate = |name: &str| {
        gates
            .iter()
            .find(|g| g["gate"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {result}"))
    };
    assert_eq!(gate("sast")["verdict"], "fail");
    assert_eq!(gate("threat_model")["verdict"], "fail");
    // No token: approvals are unknown, so the review cannot pass.
    assert_eq!(gate("security_review")["verdict"], "pending");
    let requirements: Vec<String> = gate("sast")["requirements"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    assert!(!requirements.is_empty(), "{result}");

    // JUnit: parses, the sast failure names the requirement ids and carries the hostile
    // message as text, not markup.
    let junit = repo.read("sdl-gate-junit.xml");
    let doc = roxmltree::Document::parse(&junit)
        .unwrap_or_else(|e| panic!("JUnit XML does not parse: {e}\n{junit}"));
    assert!(
        !doc.descendants().any(|n| n.has_tag_name("injected")),
        "finding text became markup:\n{junit}"
    );
    let cases = cases(&junit);
    let (_, failure, _) = cases
        .iter()
        .find(|(n, _, _)| n == "Static analysis (sast)")
        .unwrap_or_else(|| panic!("{junit}"));
    let failure = failure
        .clone()
        .unwrap_or_else(|| panic!("sast did not fail:\n{junit}"));
    for r in &requirements {
        assert!(failure.contains(r.as_str()), "{r} missing in:\n{failure}");
    }
    let expected_text = HOSTILE.replace('\u{1}', "\u{FFFD}");
    assert!(
        failure.contains(&expected_text),
        "hostile message not kept verbatim:\n{failure}"
    );
    assert!(failure.contains("src/auth/login.rs:3"), "{failure}");
    assert!(failure.contains("CWE-89"), "{failure}");
    let failing: Vec<&str> = cases
        .iter()
        .filter(|(_, f, _)| f.is_some())
        .map(|(n, _, _)| n.as_str())
        .collect();
    assert_eq!(
        failing,
        [
            "Threat model (threat_model)",
            "Security review (security_review)",
            "Static analysis (sast)"
        ],
        "fail and pending gates fail the test case"
    );

    // Code quality: one entry per located finding, path and line, distinct stable
    // fingerprints.
    let cq: serde_json::Value = serde_json::from_str(&repo.read("gl-code-quality-report.json"))
        .unwrap_or_else(|e| panic!("code quality JSON: {e}"));
    let entries = cq.as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 2, "{cq}");
    let mut lines: Vec<u64> = entries
        .iter()
        .map(|e| {
            assert_eq!(e["location"]["path"], "src/auth/login.rs", "{e}");
            for key in ["description", "check_name", "fingerprint", "severity"] {
                assert!(e[key].is_string(), "{key} missing in {e}");
            }
            e["location"]["lines"]["begin"].as_u64().unwrap_or(0)
        })
        .collect();
    lines.sort();
    assert_eq!(lines, [2, 3]);
    let severities: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["severity"].as_str())
        .collect();
    assert!(
        severities.contains(&"blocker") && severities.contains(&"critical"),
        "{severities:?}"
    );
    assert_ne!(entries[0]["fingerprint"], entries[1]["fingerprint"]);
    let hostile_entry = entries
        .iter()
        .find(|e| e["location"]["lines"]["begin"] == 3)
        .unwrap_or_else(|| panic!("{cq}"));
    assert!(
        hostile_entry["description"]
            .as_str()
            .unwrap_or_default()
            .contains(requirements[0].as_str()),
        "{hostile_entry}"
    );

    // Markdown: the summary shows the finding, escaped.
    let summary = repo.read("sdl-gate-summary.md");
    assert!(summary.contains("alert(1)"), "{summary}");
    for raw in [
        "<script>",
        "<!-- sdl-gate:summary -->",
        "<injected",
        "@everyone",
    ] {
        assert!(!summary.contains(raw), "`{raw}` unescaped in:\n{summary}");
    }

    // Run again: the same fingerprints (GitLab compares them between pipelines).
    let again = repo.run(&repo.ci_env());
    assert_eq!(code(&again), 1);
    let cq2: serde_json::Value =
        serde_json::from_str(&repo.read("gl-code-quality-report.json")).unwrap_or_default();
    let prints = |v: &serde_json::Value| -> Vec<String> {
        let mut p: Vec<String> = v
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["fingerprint"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        p.sort();
        p
    };
    assert_eq!(prints(&cq), prints(&cq2));
}

#[test]
fn single_branch_clone_fetches_the_target_branch_for_the_policy() {
    let repo = Repo::new(&[("docs/guide.md", "# Guide\nEdited.\n")], true);
    let remote_main = Command::new("git")
        .arg("-C")
        .arg(repo.checkout())
        .args(["rev-parse", "--verify", "--quiet", "origin/main"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(true);
    assert!(!remote_main, "the clone must start without origin/main");
    repo.write("gl-sast-report.json", &gl_sast(&[]));
    let out = repo.run(&repo.ci_env());
    assert_eq!(code(&out), 0, "{}", show(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("read from `origin/main`"), "{stdout}");
    let result = repo.result();
    assert_eq!(
        result["verdict"], "pass",
        "the target branch's policy ran: {result}"
    );
    let sast = result["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["gate"] == "sast").cloned())
        .unwrap_or_default();
    assert_eq!(
        sast["verdict"], "pass",
        "the branch's policy disables sast: {result}"
    );
}

#[test]
fn security_path_change_and_policy_edit_are_seen_through_git_diff() {
    // The MR touches a security path and the policy; with a clean SAST report, the threat
    // model gate fails (no threat model update or link) and the review is pending, so the
    // job blocks even though the branch's own policy turns everything off.
    let repo = Repo::new(
        &[
            ("src/auth/login.rs", "fn login() { /* mfa */ }\n"),
            (".gitlab/sdl-gate.yml", WEAK_POLICY),
        ],
        false,
    );
    repo.write("gl-sast-report.json", &gl_sast(&[]));
    let out = repo.run(&repo.ci_env());
    assert_eq!(code(&out), 1, "{}", show(&out));
    let result = repo.result();
    let gates = result["gates"].as_array().cloned().unwrap_or_default();
    let verdict = |name: &str| {
        gates
            .iter()
            .find(|g| g["gate"] == name)
            .map(|g| g["verdict"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert_eq!(verdict("threat_model"), "fail", "{result}");
    assert_eq!(verdict("security_review"), "pending", "{result}");
    assert_eq!(verdict("sast"), "pass", "{result}");

    // With a threat-model link in the description, the threat model passes; the review
    // still cannot (no approvals without the API): pending fails the job unless told not to.
    let mut env = repo.ci_env();
    env.push((
        "CI_MERGE_REQUEST_DESCRIPTION",
        "Adds MFA.\n\nThreat-Model: https://tm.example.com/mfa".into(),
    ));
    let out = repo.run(&env);
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert_eq!(repo.result()["verdict"], "pending");
    env.push(("SDL_GATE_FAIL_ON_PENDING", "false".into()));
    let out = repo.run(&env);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let junit = repo.read("sdl-gate-junit.xml");
    let review = cases(&junit)
        .into_iter()
        .find(|(n, _, _)| n == "Security review (security_review)")
        .unwrap_or_else(|| panic!("{junit}"));
    assert!(
        review.1.is_none() && review.2,
        "pending is skipped when it does not fail the job:\n{junit}"
    );
}

#[test]
fn committed_report_is_not_evidence_and_missing_diff_base_fails_closed() {
    // The MR commits a clean SAST report of its own: it is not this pipeline's output.
    let repo = Repo::new(
        &[
            ("docs/guide.md", "# Guide\nEdited.\n"),
            ("gl-sast-report.json", &gl_sast(&[])),
        ],
        false,
    );
    let out = repo.run(&repo.ci_env());
    assert_eq!(code(&out), 1, "{}", show(&out));
    let result = repo.result();
    let sast = result["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["gate"] == "sast").cloned())
        .unwrap_or_default();
    assert_eq!(sast["verdict"], "pending", "{result}");
    assert!(
        result["unknowns"]
            .to_string()
            .contains("ignored `gl-sast-report.json`"),
        "{result}"
    );

    // An artifact that overwrote the committed file is this pipeline's output.
    repo.write(
        "gl-sast-report.json",
        &gl_sast(&[("docs/guide.md", 1, "Low", "minor")]),
    );
    let out = repo.run(&repo.ci_env());
    assert_eq!(code(&out), 0, "{}", show(&out));

    // Without the diff base, the changed files are unknown: every path trigger applies.
    let out = repo.run(&without(repo.ci_env(), "CI_MERGE_REQUEST_DIFF_BASE_SHA"));
    assert_eq!(code(&out), 1, "{}", show(&out));
    let result = repo.result();
    assert!(
        result["unknowns"]
            .to_string()
            .contains("could not list the changed files"),
        "{result}"
    );
}

#[test]
fn threat_model_update_is_read_from_the_head_commit() {
    let repo = Repo::new(
        &[
            ("src/auth/login.rs", "fn login() { /* mfa */ }\n"),
            (
                "docs/threat-model/login.md",
                "# Login threats\n\nSpoofing: MFA required.\n",
            ),
        ],
        false,
    );
    repo.write("gl-sast-report.json", &gl_sast(&[]));
    // The working copy is not what was committed: the head commit is what counts.
    repo.write("docs/threat-model/login.md", "   \n");
    let out = repo.run(&repo.ci_env());
    let result = repo.result();
    let verdict = |name: &str| {
        result["gates"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["gate"] == name))
            .map(|g| g["verdict"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert_eq!(verdict("threat_model"), "pass", "{}\n{result}", show(&out));

    // An emptied threat model committed on the branch does not count as an update.
    let repo = Repo::new(
        &[
            ("src/auth/login.rs", "fn login() { /* mfa */ }\n"),
            ("docs/threat-model/login.md", "   \n"),
        ],
        false,
    );
    repo.write("gl-sast-report.json", &gl_sast(&[]));
    let out = repo.run(&repo.ci_env());
    assert_eq!(code(&out), 1, "{}", show(&out));
    let result = repo.result();
    let tm = result["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["gate"] == "threat_model").cloned())
        .unwrap_or_default();
    assert_eq!(tm["verdict"], "fail", "{result}");
}

#[test]
fn merged_results_pipeline_evaluates_the_mr_head_not_the_merge_commit() {
    // The MR changes only docs; meanwhile `main` moved on with a security-relevant commit.
    // The runner checks out the merge of both: diffing the diff base against that merge
    // commit would wrongly attribute main's change to the MR.
    let repo = Repo::new(&[("docs/guide.md", "# Guide\nMR edit.\n")], false);
    let root = repo.dir.path();
    let dev = root.join("dev");
    git(&dev, &["checkout", "--quiet", "main"]);
    write(
        &dev.join("src/auth/login.rs"),
        "fn login() { /* main moved */ }\n",
    );
    git(&dev, &["commit", "--quiet", "-am", "main moves on"]);
    let target_sha = git(&dev, &["rev-parse", "HEAD"]);
    git(&dev, &["checkout", "--quiet", "-b", "merge-result"]);
    git(
        &dev,
        &["merge", "--quiet", "--no-ff", "--no-edit", "feature"],
    );
    let merge_sha = git(&dev, &["rev-parse", "HEAD"]);
    git(&dev, &["push", "--quiet", "origin", "main", "merge-result"]);
    let origin = root.join("origin.git").to_string_lossy().into_owned();
    git(
        root,
        &[
            "clone",
            "--quiet",
            "--branch",
            "merge-result",
            &origin,
            "merged",
        ],
    );
    let merged = root.join("merged");
    write(&merged.join("gl-sast-report.json"), &gl_sast(&[]));

    let mut env: Vec<(&'static str, String)> = repo
        .ci_env()
        .into_iter()
        .filter(|(k, _)| {
            !matches!(
                *k,
                "CI_COMMIT_SHA" | "CI_PROJECT_DIR" | "CI_MERGE_REQUEST_EVENT_TYPE"
            )
        })
        .collect();
    env.push(("CI_COMMIT_SHA", merge_sha.clone()));
    env.push(("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", repo.head_sha.clone()));
    env.push(("CI_MERGE_REQUEST_TARGET_BRANCH_SHA", target_sha));
    env.push(("CI_MERGE_REQUEST_EVENT_TYPE", "merged_result".into()));
    env.push(("CI_PROJECT_DIR", merged.to_string_lossy().into_owned()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sdl-gate"));
    cmd.arg("gitlab-ci")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .current_dir(&merged);
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run sdl-gate gitlab-ci: {e}"));
    assert_eq!(code(&out), 0, "{}", show(&out));
    let result: serde_json::Value = std::fs::read(merged.join("sdl-gate-result.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    assert_eq!(
        result["head_sha"], repo.head_sha,
        "the MR's head, not the merge commit"
    );
    let tm = result["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["gate"] == "threat_model").cloned())
        .unwrap_or_default();
    assert_eq!(
        tm["verdict"], "not_applicable",
        "main's change is not the MR's: {result}"
    );
}

#[test]
fn the_target_branch_is_fetched_so_a_reused_checkout_does_not_use_an_old_policy() {
    let repo = Repo::new(&[("docs/guide.md", "# Guide\nEdited.\n")], false);
    repo.write("gl-sast-report.json", &gl_sast(&[]));
    let out = repo.run(&repo.ci_env());
    assert_eq!(code(&out), 0, "{}", show(&out));

    // `main` tightens its policy after the runner's clone: docs become security-relevant.
    let dev = repo.dir.path().join("dev");
    git(&dev, &["checkout", "--quiet", "main"]);
    write(
        &dev.join(".gitlab/sdl-gate.yml"),
        &BASE_POLICY.replace(r#"["src/auth/**"]"#, r#"["src/auth/**", "docs/**"]"#),
    );
    git(
        &dev,
        &["commit", "--quiet", "-am", "docs are security-relevant"],
    );
    git(&dev, &["push", "--quiet", "origin", "main"]);

    let out = repo.run(&repo.ci_env());
    assert_eq!(code(&out), 1, "the current policy applies: {}", show(&out));
    assert!(text(&out.stdout).contains("fetched now"), "{}", show(&out));
    let result = repo.result();
    let tm = result["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["gate"] == "threat_model").cloned())
        .unwrap_or_default();
    assert_eq!(tm["verdict"], "fail", "{result}");

    // With `origin` unreachable, the copy in the checkout is used, and that is said.
    let mut env = repo.ci_env();
    env.push(("GIT_CONFIG_COUNT", "1".into()));
    env.push((
        "GIT_CONFIG_KEY_0",
        "url./nonexistent/origin.git.insteadOf".into(),
    ));
    env.push((
        "GIT_CONFIG_VALUE_0",
        repo.dir
            .path()
            .join("origin.git")
            .to_string_lossy()
            .into_owned(),
    ));
    let out = repo.run(&env);
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        repo.result()["unknowns"]
            .to_string()
            .contains("could not fetch the target branch"),
        "{}",
        show(&out)
    );
}

/// With a token, the job publishes through the real GitLab client against the fake GitLab:
/// `sdl-gate` commit statuses on the head ending in `failed`, and one sticky note on the merge
/// request naming the finding that blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_job_writes_the_commit_status_and_the_note() {
    use fake_gitlab::{BOT_TOKEN, FakeGitlab};
    let repo = Repo::new(&[("docs/guide.md", "# Guide\nMore words.\n")], false);
    repo.write(
        "gl-sast-report.json",
        &gl_sast(&[("docs/guide.md", 1, "Critical", "SQL built from input")]),
    );
    let fake = FakeGitlab::start().await;
    fake.merge_request(PROJECT, 7, "bob", &repo.head_sha, &["docs/guide.md"]);
    // With a token the target branch's policy is read through the API.
    fake.put_file(
        PROJECT,
        "main",
        ".gitlab/sdl-gate.yml",
        BASE_POLICY.as_bytes(),
    );
    let mut env = without(repo.ci_env(), "CI_API_V4_URL");
    env.push(("CI_API_V4_URL", format!("{}/api/v4", fake.url)));
    env.push(("SDL_GATE_GITLAB_TOKEN", BOT_TOKEN.to_string()));
    let out = tokio::task::block_in_place(|| repo.run(&env));
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        !text(&out.stdout).contains(BOT_TOKEN) && !text(&out.stderr).contains(BOT_TOKEN),
        "the token is never printed"
    );
    let statuses = fake.statuses(PROJECT, &repo.head_sha, "sdl-gate");
    let last = statuses
        .last()
        .unwrap_or_else(|| panic!("no sdl-gate status\n{}", show(&out)));
    assert_eq!(last.status, "failed", "{statuses:?}");
    let notes = fake.bot_notes(PROJECT, 7);
    assert_eq!(notes.len(), 1, "one sticky note: {notes:?}\n{}", show(&out));
    assert!(
        notes[0].body.contains("SQL built from input"),
        "{}",
        notes[0].body
    );
    fake.assert_no_unknown();
}
