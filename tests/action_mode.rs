//! `sdl-gate action` end to end: the real binary in action mode, an event file shaped like
//! GitHub's `pull_request` payload, scan reports in a workspace, and the fake GitHub API on
//! loopback. Asserts the job summary, the outputs file, the annotations on stdout, what was
//! published, and the exit codes.

mod fake_forge;
mod fake_github;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use fake_github::{FakeGithub, PullBuilder, sha};

const REPO: &str = "acme/plc";
const TOKEN: &str = "ghs_workflow_token_for_tests";

const BASE_POLICY: &str = r##"
version: 1
waivers: { users: ["carol"] }
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

/// What the pull request's head commits instead: every gate off.
const WEAK_POLICY: &str = "version: 1\ngates:\n  threat_model: { enabled: false }\n  security_review: { enabled: false }\n  sast: { enabled: false }\n";

const SARIF_HIGH: &str = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Semgrep","rules":[{"id":"sqli","properties":{"security-severity":"8.1","tags":["CWE-89"]}}]}},"results":[{"ruleId":"sqli","message":{"text":"SQL built from user input"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"src/auth/login.rs"},"region":{"startLine":12}}}]}]}]}"#;
const SARIF_CLEAN: &str =
    r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Semgrep"}},"results":[]}]}"#;

/// An event payload shaped like GitHub's: a real `pull_request` fixture with this test's
/// numbers, or, when the fixtures are absent, the same fields written out.
fn event(number: u64, head: &str, author: &str, body: &str) -> serde_json::Value {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../shared/fixtures/github-webhooks/octokit-webhooks/pull_request/opened.payload.json",
    );
    let mut v = match std::fs::read(&fixture)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    {
        Some(v) => v,
        None => {
            eprintln!(
                "note: {} is absent; using a hand-written payload of the same shape",
                fixture.display()
            );
            serde_json::json!({"action": "opened", "pull_request": {"head": {"repo": {}}, "base": {"repo": {}}, "user": {}, "labels": []}, "repository": {}})
        }
    };
    let pr = &mut v["pull_request"];
    pr["number"] = number.into();
    pr["body"] = body.into();
    pr["draft"] = false.into();
    pr["user"]["login"] = author.into();
    pr["head"]["sha"] = head.into();
    pr["head"]["repo"]["full_name"] = REPO.into();
    pr["base"]["ref"] = "main".into();
    pr["base"]["repo"]["full_name"] = REPO.into();
    v["repository"]["full_name"] = REPO.into();
    v
}

struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new(event: &serde_json::Value) -> Run {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let run = Run { dir };
        run.write("event.json", &event.to_string());
        std::fs::create_dir_all(run.path("workspace/.github"))
            .unwrap_or_else(|e| panic!("mkdir: {e}"));
        // The checked-out head carries a weaker policy; it must be ignored.
        run.write("workspace/.github/sdl-gate.yml", WEAK_POLICY);
        run
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    async fn action(&self, api: &str, inputs: &[(&str, &str)]) -> (Output, u128) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sdl-gate"));
        cmd.arg("action")
            .env_clear()
            .env("GITHUB_EVENT_NAME", "pull_request")
            .env("GITHUB_EVENT_PATH", self.path("event.json"))
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_API_URL", api)
            .env("GITHUB_WORKSPACE", self.path("workspace"))
            .env("GITHUB_STEP_SUMMARY", self.path("summary.md"))
            .env("GITHUB_OUTPUT", self.path("output.txt"))
            .env("RUNNER_TEMP", self.dir.path());
        for (k, v) in inputs {
            cmd.env(format!("INPUT_{}", k.to_ascii_uppercase()), v);
        }
        let t = Instant::now();
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap_or_else(|e| panic!("join: {e}"))
            .unwrap_or_else(|e| panic!("run sdl-gate: {e}"));
        (out, t.elapsed().as_millis())
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fake GitHub holding PR `number` by bob, with `body`, touching `files`, optionally
/// approved by carol on its head; the strict policy on `main`; and the workflow token.
async fn fake_with_pr(
    number: u64,
    files: &[&str],
    approved: bool,
    body: &str,
) -> (FakeGithub, String) {
    let fake = FakeGithub::start().await;
    let head = sha(0xac710 + number);
    let mut pr = PullBuilder::new(REPO, number, "bob", &head);
    pr.pull.body = Some(body.to_string());
    for f in files {
        pr = pr.file(f);
    }
    if approved {
        pr = pr.review("carol", "APPROVED", &head);
    }
    pr.install(&fake);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", BASE_POLICY.as_bytes());
    {
        let mut st = fake.state();
        st.tokens.insert(TOKEN.to_string());
        st.workflow_tokens.insert(TOKEN.to_string());
    }
    (fake, head)
}

#[tokio::test]
async fn failing_pull_request_blocks_with_summary_outputs_annotations_and_check_run() {
    let (fake, head) = fake_with_pr(11, &["src/auth/login.rs"], true, "Adds MFA").await;
    let run = Run::new(&event(11, &head, "bob", "Adds MFA"));
    run.write("workspace/results/semgrep.sarif", SARIF_HIGH);
    let (out, ms) = run
        .action(
            &fake.url,
            &[
                ("github-token", TOKEN),
                ("sarif", "results/*.sarif"),
                ("check-run", "true"),
                ("comment", "on-failure"),
            ],
        )
        .await;
    eprintln!("action mode, failing PR: start-to-verdict {ms} ms (process start included)");
    let stdout = text(&out.stdout);
    assert_eq!(
        code(&out),
        1,
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("::error file=src/auth/login.rs,line=12,"),
        "{stdout}"
    );

    let outputs = run.read("output.txt");
    assert!(outputs.contains("verdict=fail\n"), "{outputs}");
    assert!(
        outputs.contains("failed-gates=threat_model,sast\n"),
        "{outputs}"
    );
    let result_line = outputs
        .lines()
        .find(|l| l.starts_with("result-json="))
        .unwrap_or_default();
    let result: serde_json::Value = std::fs::read(result_line.trim_start_matches("result-json="))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    assert_eq!(
        result["verdict"], "fail",
        "the result JSON is written where the output says"
    );
    assert_eq!(
        result["gates"][1]["verdict"], "pass",
        "carol approved the head commit"
    );

    let summary = run.read("summary.md");
    assert!(
        summary.contains("sdl-gate: 2 SDL gate(s) block: threat_model, sast"),
        "{summary}"
    );
    assert!(summary.contains("`src/auth/login.rs:12`"), "{summary}");

    let runs = fake.check_runs(REPO, &head, "sdl-gate");
    assert_eq!(runs.len(), 1, "exactly one check run");
    assert_eq!(runs[0].conclusion.as_deref(), Some("failure"));
    let comments = fake.comments(REPO, 11);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.starts_with("<!-- sdl-gate:summary -->"));
    assert_eq!(comments[0].user, "github-actions[bot]");

    // Run again (a re-run of the job): still one check run and one comment.
    let (out, _) = run
        .action(
            &fake.url,
            &[
                ("github-token", TOKEN),
                ("sarif", "results/*.sarif"),
                ("check-run", "true"),
            ],
        )
        .await;
    assert_eq!(code(&out), 1);
    assert_eq!(fake.check_runs(REPO, &head, "sdl-gate").len(), 1);
    assert_eq!(fake.comments(REPO, 11).len(), 1);
    fake.assert_no_unknown();
}

#[tokio::test]
async fn passing_pull_request_uses_the_base_policy_not_the_head() {
    let (fake, head) = fake_with_pr(
        12,
        &["src/auth/login.rs"],
        true,
        "Threat-Model: https://tm.example.com/mfa",
    )
    .await;
    let run = Run::new(&event(
        12,
        &head,
        "bob",
        "Threat-Model: https://tm.example.com/mfa",
    ));
    run.write("workspace/results/semgrep.sarif", SARIF_CLEAN);
    let t = Instant::now();
    let (out, ms) = run
        .action(
            &fake.url,
            &[("github-token", TOKEN), ("sarif", "results/*.sarif")],
        )
        .await;
    eprintln!(
        "action mode, passing PR: start-to-verdict {ms} ms ({} ms with the harness)",
        t.elapsed().as_millis()
    );
    assert_eq!(
        code(&out),
        0,
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let outputs = run.read("output.txt");
    assert!(
        outputs.contains("verdict=pass\nfailed-gates=\n"),
        "{outputs}"
    );
    // The base policy's gates ran (the head's policy disables them all).
    let summary = run.read("summary.md");
    assert!(summary.contains("| Threat model | ✅ pass |"), "{summary}");
    assert!(
        summary.contains("| Security review | ✅ pass |"),
        "{summary}"
    );
    // No check run was asked for, and nothing failed, so nothing was written.
    assert!(fake.check_runs(REPO, &head, "sdl-gate").is_empty());
    assert!(fake.comments(REPO, 12).is_empty());
}

#[tokio::test]
async fn pending_review_fails_the_step_unless_told_otherwise() {
    let (fake, head) = fake_with_pr(
        13,
        &["src/auth/login.rs"],
        false,
        "Threat-Model: https://tm.example.com/x",
    )
    .await;
    let run = Run::new(&event(
        13,
        &head,
        "bob",
        "Threat-Model: https://tm.example.com/x",
    ));
    run.write("workspace/semgrep.sarif", SARIF_CLEAN);
    let (out, _) = run
        .action(
            &fake.url,
            &[
                ("github-token", TOKEN),
                ("sarif", "*.sarif"),
                ("comment", "never"),
            ],
        )
        .await;
    assert_eq!(code(&out), 1);
    assert!(run.read("output.txt").contains("verdict=pending"));
    let (out, _) = run
        .action(
            &fake.url,
            &[
                ("github-token", TOKEN),
                ("sarif", "*.sarif"),
                ("comment", "never"),
                ("fail-on-pending", "false"),
            ],
        )
        .await;
    assert_eq!(code(&out), 0);
}

#[tokio::test]
async fn read_only_token_still_evaluates_and_says_what_it_could_not_post() {
    let (fake, head) = fake_with_pr(14, &["src/auth/login.rs"], true, "").await;
    fake.fault(
        Some(http::Method::POST),
        "/repos/acme/plc/check-runs",
        10,
        fake_github::FaultKind::Status(403),
    );
    let run = Run::new(&event(14, &head, "bob", ""));
    run.write("workspace/semgrep.sarif", SARIF_CLEAN);
    let (out, _) = run
        .action(
            &fake.url,
            &[
                ("github-token", TOKEN),
                ("sarif", "*.sarif"),
                ("check-run", "true"),
            ],
        )
        .await;
    assert_eq!(
        code(&out),
        1,
        "the threat model gate fails: {}",
        text(&out.stderr)
    );
    let summary = run.read("summary.md");
    assert!(
        summary.contains("could not post the check run or comment"),
        "{summary}"
    );
    assert!(run.read("output.txt").contains("failed-gates=threat_model"));
}

#[tokio::test]
async fn unreadable_report_fails_closed_and_missing_globs_are_reported() {
    let (fake, head) = fake_with_pr(
        15,
        &["src/auth/login.rs"],
        true,
        "Threat-Model: https://tm.example.com/x",
    )
    .await;
    let run = Run::new(&event(
        15,
        &head,
        "bob",
        "Threat-Model: https://tm.example.com/x",
    ));
    run.write(
        "workspace/broken.sarif",
        "{\"version\": \"2.1.0\", \"runs\": [",
    );
    let (out, _) = run
        .action(
            &fake.url,
            &[
                ("github-token", TOKEN),
                ("sarif", "broken.sarif"),
                ("reports", "osv/*.json"),
            ],
        )
        .await;
    assert_eq!(code(&out), 1);
    let summary = run.read("summary.md");
    assert!(summary.contains("broken.sarif"), "{summary}");
    assert!(summary.contains("cannot check"), "{summary}");
    assert!(
        summary.contains("input `reports` matched no file"),
        "{summary}"
    );
}

#[tokio::test]
async fn misconfiguration_exits_2_naming_the_input_or_variable() {
    let (fake, head) = fake_with_pr(16, &["src/auth/login.rs"], true, "").await;
    let run = Run::new(&event(16, &head, "bob", ""));
    let (out, _) = run
        .action(
            &fake.url,
            &[("github-token", TOKEN), ("comment", "sometimes")],
        )
        .await;
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("input `comment`"),
        "{}",
        text(&out.stderr)
    );

    let (out, _) = run
        .action(
            &fake.url,
            &[("github-token", TOKEN), ("policy", ".github/missing.yml")],
        )
        .await;
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("input `policy`"),
        "{}",
        text(&out.stderr)
    );

    run.write("event.json", "{\"pull_request\": ");
    let (out, _) = run.action(&fake.url, &[("github-token", TOKEN)]).await;
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("GITHUB_EVENT_PATH"),
        "{}",
        text(&out.stderr)
    );
}
