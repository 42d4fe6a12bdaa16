//! One policy and one change, built four ways — the GitHub App against the fake GitHub, the
//! GitLab bot against the fake GitLab, the real binary in `action` mode and in `check` mode —
//! must give the same JSON result once what legitimately differs (times, links, the forge's
//! name) is taken out. Guards against one front end drifting from the others.

mod fake_forge;
mod fake_github;
mod fake_gitlab;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use serde_json::{Value, json};

use fake_github::AlertRec;
use sdl_gate::engine::{Outcome, Records, evaluate_change};
use sdl_gate::forge::ChangeRef;
use sdl_gate::forge::github::{GithubConfig, GithubForge};
use sdl_gate::forge::gitlab::{GitlabConfig, connect};

const REPO: &str = "acme/plc";
const NUMBER: u64 = 7;
const TOKEN: &str = "ghs_workflow_token_for_four_way";

/// The one policy every front end evaluates.
const POLICY: &str = r##"
version: 1
security_paths: ["src/auth/**"]
gates:
  threat_model:
    paths: ["docs/threat-model/**"]
  security_review:
    approvals: 1
    reviewers: { teams: ["acme/security"] }
  sast:
    checks: ["sast"]
    threshold: high
    code_scanning: true
"##;

/// The change: a security path, an ordinary file and a threat-model update.
const FILES: &[&str] = &[
    "src/auth/login.rs",
    "src/api/handler.rs",
    "docs/threat-model/auth.md",
];
const THREAT_MODEL: &str = "# Auth\n\nSpoofing: mitigated by mTLS.\n";
const AUTHOR: &str = "bob";
const REVIEWER: &str = "carol";
const CHECK: &str = "sast";
const BODY: &str = "Adds MFA to login.";

/// A GitLab SAST report: the scan ran and found `vulns`.
fn sast_report(vulns: &[Value]) -> String {
    json!({
        "version": "15.0.4",
        "vulnerabilities": vulns,
        "scan": {
            "analyzer": {"id": "semgrep", "name": "Semgrep", "version": "1.0", "vendor": {"name": "GitLab"}},
            "scanner": {"id": "semgrep", "name": "Semgrep", "version": "1.0", "vendor": {"name": "GitLab"}},
            "type": "sast", "start_time": "2026-11-27T10:00:00", "end_time": "2026-11-27T10:01:00",
            "status": "success"
        }
    })
    .to_string()
}

/// One high-severity SQL injection in the security path.
fn high_finding() -> Value {
    json!({
        "id": "5d2a4f1c", "category": "sast", "name": "SQL injection in login",
        "description": "User input reaches a SQL query.", "severity": "High",
        "scanner": {"id": "semgrep", "name": "Semgrep"},
        "location": {"file": "src/auth/login.rs", "start_line": 2, "end_line": 2},
        "identifiers": [
            {"type": "semgrep_id", "name": SQLI_RULE, "value": SQLI_RULE},
            {"type": "cwe", "name": "CWE-89", "value": "89"}
        ]
    })
}

const SQLI_RULE: &str = "rust.lang.security.sqli";

/// The same finding as GitHub code scanning shows it after the scanner's upload.
fn high_alert() -> AlertRec {
    let mut a = AlertRec::open(
        SQLI_RULE,
        "high",
        "src/auth/login.rs",
        2,
        "SQL injection in login",
    );
    a.tool = "Semgrep".into();
    a.tags = vec!["security".into(), "external/cwe/cwe-089".into()];
    a
}

/// Top-level keys whose values legitimately differ between front ends: when it was
/// evaluated, and which change on which forge (`check` has no repository or number, and the
/// two fakes spell head commits differently). Nothing inside the gates is dropped.
const VOLATILE: &[&str] = &[
    "evaluated_at",
    "head_sha",
    "repository",
    "number",
    "details_url",
    "forge",
];

/// Whether `v` is an informational line naming where the findings came from: the file's name
/// differs by front end (GitLab names the job and artifact, the App reads code scanning and
/// says which analysis), so it is provenance, like a link. The findings themselves are kept
/// and compared.
fn is_report_provenance(v: &Value) -> bool {
    v["status"] == "info"
        && v["description"].as_str().is_some_and(|d| {
            d.starts_with("read `")
                || d.starts_with("code scanning alerts not read:")
                || d.starts_with("code scanning: every tool's newest analysis")
        })
}

/// The result without its volatile top-level keys and report-provenance lines.
fn normalise(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), without_provenance(v)))
                .collect(),
        ),
        other => without_provenance(other),
    }
}

fn without_provenance(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), without_provenance(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|x| !is_report_provenance(x))
                .map(without_provenance)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Every JSON path where `a` and `b` differ, with both values, for the failure message.
fn diff(a: &Value, b: &Value) -> String {
    let mut out = Vec::new();
    diff_at("$", a, b, &mut out);
    out.join("\n")
}

fn diff_at(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (xa, yb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                diff_at(&format!("{path}.{k}"), xa, yb, out);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let (xa, yb) = (
                    x.get(i).unwrap_or(&Value::Null),
                    y.get(i).unwrap_or(&Value::Null),
                );
                diff_at(&format!("{path}[{i}]"), xa, yb, out);
            }
        }
        _ if a != b => out.push(format!("{path}:\n  - {a}\n  + {b}")),
        _ => {}
    }
}

/// The App's result; `alerts` are the code-scanning alerts of the pull request's merge ref.
async fn via_github_app(alerts: Vec<AlertRec>) -> Value {
    use fake_github::{APP_ID, FakeGithub, INSTALLATION, PullBuilder, TEST_KEY_PEM, sha};
    let fake = FakeGithub::start().await;
    let head = sha(0x4a7);
    let mut pr = PullBuilder::new(REPO, NUMBER, AUTHOR, &head);
    pr.pull.body = Some(BODY.to_string());
    for f in FILES {
        pr = pr.file(f);
    }
    pr = pr.review(REVIEWER, "APPROVED", &head);
    pr.install(&fake);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    fake.put_file(
        REPO,
        &head,
        "docs/threat-model/auth.md",
        THREAT_MODEL.as_bytes(),
    );
    fake.ci_run(REPO, &head, CHECK, "completed", Some("success"));
    fake.team("acme", "security", &[REVIEWER]);
    fake.code_scanning_analysis(REPO, &format!("refs/pull/{NUMBER}/merge"), alerts);
    let mut cfg = GithubConfig::new(APP_ID, SecretString::from(TEST_KEY_PEM));
    cfg.api_url = fake.url.clone();
    cfg.timeout = fake_github::CLIENT_TIMEOUT;
    let gh = GithubForge::new(cfg).unwrap_or_else(|e| panic!("github forge: {e}"));
    let change = ChangeRef::new(REPO, NUMBER, Some(INSTALLATION));
    let out = evaluate_change(&gh, &change, &Records::default(), Utc::now())
        .await
        .unwrap_or_else(|e| panic!("github evaluate: {e}"));
    let Outcome::Evaluated { evaluation, .. } = out else {
        panic!("github: not evaluated: {out:?}")
    };
    sdl_gate::render::json(&evaluation)
}

async fn via_gitlab(report: &str) -> Value {
    use fake_gitlab::{BOT_TOKEN, FakeGitlab, sha};
    let fake = FakeGitlab::start().await;
    let head = sha(0x4a7);
    fake.merge_request(REPO, NUMBER, AUTHOR, &head, FILES);
    fake.put_file(REPO, "main", ".gitlab/sdl-gate.yml", POLICY.as_bytes());
    fake.put_file(
        REPO,
        &head,
        "docs/threat-model/auth.md",
        THREAT_MODEL.as_bytes(),
    );
    fake.group("acme/security", &[REVIEWER]);
    fake.approve(REPO, NUMBER, REVIEWER);
    fake.pipeline_with_report(
        REPO,
        NUMBER,
        CHECK,
        "sast",
        "gl-sast-report.json",
        report.as_bytes(),
    );
    let mut cfg = GitlabConfig::new(fake.url.clone(), SecretString::from(BOT_TOKEN));
    cfg.timeout = Duration::from_secs(5);
    let gl = connect(cfg)
        .await
        .unwrap_or_else(|e| panic!("gitlab connect: {e}"));
    let change = ChangeRef::new(REPO, NUMBER, None);
    let out = evaluate_change(&gl, &change, &Records::default(), Utc::now())
        .await
        .unwrap_or_else(|e| panic!("gitlab evaluate: {e}"));
    let Outcome::Evaluated { evaluation, .. } = out else {
        panic!("gitlab: not evaluated: {out:?}")
    };
    sdl_gate::render::json(&evaluation)
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
    }
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn via_action(report: &str) -> Value {
    use fake_github::{FakeGithub, PullBuilder, sha};
    let fake = FakeGithub::start().await;
    let head = sha(0x4a7);
    let mut pr = PullBuilder::new(REPO, NUMBER, AUTHOR, &head);
    pr.pull.body = Some(BODY.to_string());
    for f in FILES {
        pr = pr.file(f);
    }
    pr = pr.review(REVIEWER, "APPROVED", &head);
    pr.install(&fake);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    fake.put_file(
        REPO,
        &head,
        "docs/threat-model/auth.md",
        THREAT_MODEL.as_bytes(),
    );
    fake.ci_run(REPO, &head, CHECK, "completed", Some("success"));
    fake.team("acme", "security", &[REVIEWER]);
    {
        let mut st = fake.state();
        st.tokens.insert(TOKEN.to_string());
        st.workflow_tokens.insert(TOKEN.to_string());
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let root = dir.path();
    let event = json!({
        "action": "opened",
        "number": NUMBER,
        "pull_request": {
            "number": NUMBER, "body": BODY, "draft": false, "labels": [],
            "user": {"login": AUTHOR},
            "head": {"sha": head, "repo": {"full_name": REPO}},
            "base": {"ref": "main", "repo": {"full_name": REPO}}
        },
        "repository": {"full_name": REPO}
    });
    write(root, "event.json", &event.to_string());
    write(root, "workspace/docs/threat-model/auth.md", THREAT_MODEL);
    write(root, "workspace/src/auth/login.rs", "fn login() {}\n");
    write(root, "workspace/gl-sast-report.json", report);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sdl-gate"));
    cmd.arg("action")
        .env_clear()
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", root.join("event.json"))
        .env("GITHUB_REPOSITORY", REPO)
        .env("GITHUB_API_URL", &fake.url)
        .env("GITHUB_WORKSPACE", root.join("workspace"))
        .env("GITHUB_STEP_SUMMARY", root.join("summary.md"))
        .env("GITHUB_OUTPUT", root.join("output.txt"))
        .env("RUNNER_TEMP", root)
        .env("INPUT_GITHUB-TOKEN", TOKEN)
        .env("INPUT_REPORTS", "gl-sast-report.json")
        .env("INPUT_CHECK-RUN", "false")
        .env("INPUT_COMMENT", "never");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap_or_else(|e| panic!("join: {e}"))
        .unwrap_or_else(|e| panic!("run sdl-gate action: {e}"));
    let outputs = std::fs::read_to_string(root.join("output.txt")).unwrap_or_default();
    let Some(path) = outputs.lines().find_map(|l| l.strip_prefix("result-json=")) else {
        panic!("no result-json output:\n{outputs}\n{}", show(&out))
    };
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}\n{}", show(&out)));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("result JSON ({e}): {}", show(&out)))
}

fn via_check(report: &str) -> Value {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let root = dir.path();
    write(root, "policy.yml", POLICY);
    write(root, "docs/threat-model/auth.md", THREAT_MODEL);
    write(root, "src/auth/login.rs", "fn login() {}\n");
    write(
        root,
        "changed.txt",
        &FILES
            .iter()
            .map(|f| format!("M\t{f}\n"))
            .collect::<String>(),
    );
    write(root, "body.md", BODY);
    write(root, "gl-sast-report.json", report);
    let out = Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
        .current_dir(root)
        .args([
            "check",
            "--policy",
            "policy.yml",
            "--changed-files",
            "changed.txt",
            "--author",
            AUTHOR,
            "--approved-by",
            REVIEWER,
            "--team",
            &format!("acme/security={REVIEWER}"),
            "--check",
            &format!("{CHECK}=success"),
            "--report",
            "gl-sast-report.json",
            "--body-file",
            "body.md",
            "--format",
            "json",
        ])
        .output()
        .unwrap_or_else(|e| panic!("run sdl-gate check: {e}"));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("check JSON ({e}): {}", show(&out)))
}

/// Compares every result with the first; panics with a path-by-path diff on a difference.
fn assert_all_equal(results: &[(&str, Value)]) -> Value {
    for (name, v) in results {
        eprintln!(
            "{name}:\n{}",
            serde_json::to_string_pretty(v).unwrap_or_default()
        );
    }
    let (first, reference) = (results[0].0, normalise(&results[0].1));
    let mut failures = Vec::new();
    for (name, v) in &results[1..] {
        let n = normalise(v);
        if n != reference {
            failures.push(format!(
                "{name} differs from {first} (- {first}, + {name}):\n{}",
                diff(&reference, &n)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    reference
}

/// A change every gate passes: security path touched, threat model updated, approved by a
/// security-team member, the SAST check green and its report clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_passing_change_gets_the_same_result_four_ways() {
    let clean = sast_report(&[]);
    let reference = assert_all_equal(&[
        ("GitHub App", via_github_app(Vec::new()).await),
        ("GitLab", via_gitlab(&clean).await),
        ("Action", via_action(&clean).await),
        ("check", via_check(&clean)),
    ]);
    // Agreement must mean something: every applicable gate decided, and passed.
    assert_eq!(reference["verdict"], "pass", "{reference}");
    for gate in ["threat_model", "security_review", "sast"] {
        let g = reference["gates"]
            .as_array()
            .and_then(|gs| gs.iter().find(|g| g["gate"] == gate))
            .unwrap_or_else(|| panic!("no {gate} gate in {reference}"));
        assert_eq!(g["verdict"], "pass", "{gate}: {g}");
        assert!(
            g["requirements"].as_array().is_some_and(|r| !r.is_empty()),
            "{gate} names its requirements: {g}"
        );
    }
}

/// The same change with a high-severity SAST finding: the App (from the code-scanning alert),
/// GitLab (the pipeline artifact), the Action (the workspace) and `check` (`--report`) block
/// on the same finding, with the same rule, severity, CWE, place and fingerprint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_finding_gets_the_same_result_four_ways() {
    let bad = sast_report(&[high_finding()]);
    let reference = assert_all_equal(&[
        ("GitHub App", via_github_app(vec![high_alert()]).await),
        ("GitLab", via_gitlab(&bad).await),
        ("Action", via_action(&bad).await),
        ("check", via_check(&bad)),
    ]);
    assert_eq!(reference["verdict"], "fail", "{reference}");
    let sast = reference["gates"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["gate"] == "sast"))
        .unwrap_or_else(|| panic!("no sast gate in {reference}"));
    assert_eq!(sast["verdict"], "fail", "{sast}");
    let findings = sast["findings"].as_array().cloned().unwrap_or_default();
    assert_eq!(findings.len(), 1, "{sast}");
    assert!(
        findings[0].to_string().contains("src/auth/login.rs"),
        "{sast}"
    );
}
