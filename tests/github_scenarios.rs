//! The GitHub App through the whole service, scenario by scenario: signed webhooks shaped
//! like `../shared/fixtures/github-webhooks` in over HTTP, the durable queue (SQLite, and
//! PostgreSQL where configured), the GitHub processor with the real octocrab client against
//! the stateful fake GitHub, and out come check runs, sticky comments and stored
//! evaluations. Covers each gate failing, stale and self approvals, a policy edited in the
//! pull request, no policy, drafts, injected 5xx, rate limits, token expiry, `status` and
//! `push` fan-out, installation events and reconciliation after missed deliveries.

mod fake_forge;
mod fake_github;
mod github_world;
mod service_support;

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use fake_github::{
    APP_ID, AlertRec, CheckRunRec, FakeGithub, FaultKind, INSTALLATION, PullBuilder, TEST_KEY_PEM,
    Upload, sha,
};
use github_world::{POLICY, REPO, SBOM, World, forge, shaped_like, with_repo, world_on};
use sdl_gate::engine::github::reconcile::{ReconcileSettings, Reconciler};
use sdl_gate::forge_name::ForgeName;
use serde_json::{Value, json};
use service_support::{GITHUB_SECRET, all_dbs, sqlite_db};

const TM_LINK: &str = "Threat-Model: https://tm.example.com/login";

/// The service on a fresh SQLite file.
async fn world() -> World {
    world_on(sqlite_db()).await
}

fn pull_event(repo: &str, action: &str, number: u64, head: &str) -> Value {
    let mut v = shaped_like("pull_request/opened.payload.json");
    v["action"] = json!(action);
    v["number"] = json!(number);
    v["pull_request"]["number"] = json!(number);
    v["pull_request"]["head"]["sha"] = json!(head);
    v["pull_request"]["base"]["ref"] = json!("main");
    with_repo(v, repo)
}

fn review_event(repo: &str, number: u64, reviewer: &str, commit: &str) -> Value {
    let mut v = shaped_like("pull_request_review/submitted.payload.json");
    v["action"] = json!("submitted");
    v["pull_request"]["number"] = json!(number);
    v["review"]["user"]["login"] = json!(reviewer);
    v["review"]["state"] = json!("approved");
    v["review"]["commit_id"] = json!(commit);
    with_repo(v, repo)
}

fn status_event(repo: &str, sha: &str, context: &str, state: &str) -> Value {
    let mut v = shaped_like("status/with-installation.payload.json");
    v["sha"] = json!(sha);
    v["context"] = json!(context);
    v["state"] = json!(state);
    with_repo(v, repo)
}

fn push_event(repo: &str, modified: &[&str]) -> Value {
    let mut v = shaped_like("push/with-installation.payload.json");
    v["ref"] = json!("refs/heads/main");
    v["deleted"] = json!(false);
    v["forced"] = json!(false);
    v["created"] = json!(false);
    v["after"] = json!(sha(0xaf7e));
    v["commits"] = json!([{
        "id": sha(0xaf7e), "message": "update", "distinct": true,
        "added": [], "removed": [], "modified": modified
    }]);
    with_repo(v, repo)
}

impl World {
    /// The one `sdl-gate` run on `head` (fails when there are none or several).
    fn run(&self, repo: &str, head: &str) -> CheckRunRec {
        let runs = self.fake.check_runs(repo, head, "sdl-gate");
        assert_eq!(
            runs.len(),
            1,
            "exactly one sdl-gate run on {repo}@{head}: {runs:?}"
        );
        runs[0].clone()
    }

    /// Sends a `pull_request` `action` delivery for `repo`#`number` at `head`, waits until
    /// the queue is idle, and returns the head's `sdl-gate` run.
    async fn on_pull(&self, repo: &str, action: &str, number: u64, head: &str) -> CheckRunRec {
        self.send("pull_request", &pull_event(repo, action, number, head))
            .await;
        self.drain().await;
        self.run(repo, head)
    }

    /// How many evaluations of `repo`#`number` are stored.
    async fn evaluation_count(&self, repo: &str, number: u64) -> usize {
        self.store
            .evaluations(ForgeName::GitHub, repo, number, 1000)
            .await
            .unwrap_or_else(|e| panic!("evaluations: {e}"))
            .len()
    }

    /// The newest stored evaluation's per-gate verdicts, e.g. `{"sast": "fail", …}`.
    async fn gate_verdicts(&self, repo: &str, number: u64) -> Value {
        let evals = self
            .store
            .evaluations(ForgeName::GitHub, repo, number, 1)
            .await
            .unwrap_or_else(|e| panic!("evaluations: {e}"));
        let eval = evals
            .first()
            .unwrap_or_else(|| panic!("no stored evaluation for {repo}#{number}"));
        let mut out = serde_json::Map::new();
        for g in eval.result["gates"].as_array().into_iter().flatten() {
            if let Some(name) = g["gate"].as_str() {
                out.insert(name.to_owned(), g["verdict"].clone());
            }
        }
        Value::Object(out)
    }

    fn reconciler(&self, max_pulls: usize) -> Reconciler {
        Reconciler::new(
            Arc::new(forge(&self.fake)),
            self.store.clone(),
            ReconcileSettings {
                interval: Duration::ZERO,
                max_pulls,
                debounce: Duration::ZERO,
            },
        )
    }

    async fn stop(mut self) {
        self.fake.assert_no_unknown();
        if let Some(svc) = self.svc.take() {
            svc.shutdown().await;
        }
    }
}

/// A pull request on `repo` that passes every gate of [`POLICY`], as the builder and the
/// fake state; callers break one thing each.
fn passing(repo: &str, number: u64, head: &str) -> PullBuilder {
    let mut b = PullBuilder::new(repo, number, "bob", head)
        .file("src/auth/login.rs")
        .file("Cargo.lock")
        .file("sbom/plc.cdx.json")
        .review("carol", "APPROVED", head);
    b.pull.body = Some(TM_LINK.into());
    b
}

fn arrange_checks(fake: &FakeGithub, repo: &str, head: &str) {
    fake.put_file(repo, head, "sbom/plc.cdx.json", SBOM.as_bytes());
    fake.ci_run(repo, head, "CodeQL", "completed", Some("success"));
    fake.ci_run(repo, head, "cargo-audit", "completed", Some("success"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passing_pull_request_succeeds_on_every_database() {
    for db in all_dbs("passing_pull_request_succeeds_on_every_database").await {
        let label = db.label;
        let w = world_on(db).await;
        w.fake
            .put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
        let head = sha(0x1001);
        passing(REPO, 1, &head).install(&w.fake);
        arrange_checks(&w.fake, REPO, &head);
        for action in ["opened", "labeled", "synchronize"] {
            w.send("pull_request", &pull_event(REPO, action, 1, &head))
                .await;
        }
        w.drain().await;
        let run = w.run(REPO, &head);
        assert_eq!(
            run.conclusion.as_deref(),
            Some("success"),
            "{label}: {run:?}"
        );
        assert!(
            w.fake.comments(REPO, 1).is_empty(),
            "{label}: no comment for a pass (report.comment: on_failure)"
        );
        let verdicts = w.gate_verdicts(REPO, 1).await;
        for gate in [
            "threat_model",
            "security_review",
            "sast",
            "dependencies",
            "sbom",
        ] {
            assert_eq!(verdicts[gate], "pass", "{label}: {gate} in {verdicts}");
        }
        // Every answer from GitHub was counted.
        let metrics = sdl_gate::server::metrics::render(None);
        assert!(
            metrics.contains("sdl_gate_forge_requests_total{forge=\"github\",status=\"200\"}"),
            "{label}: {metrics}"
        );
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_gate_failing_fails_the_check_and_names_the_gate() {
    let w = world().await;
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    let cases: [(u64, &str); 5] = [
        (11, "threat_model"),
        (12, "security_review"),
        (13, "sast"),
        (14, "dependencies"),
        (15, "sbom"),
    ];
    for (number, gate) in cases {
        let head = sha(0x2000 + number);
        let mut b = passing(REPO, number, &head);
        match gate {
            "threat_model" => b.pull.body = Some("No link here.".into()),
            "security_review" => b.pull.reviews.clear(),
            "sbom" => b.pull.files.retain(|f| !f.filename.starts_with("sbom/")),
            _ => {}
        }
        b.install(&w.fake);
        w.fake
            .put_file(REPO, &head, "sbom/plc.cdx.json", SBOM.as_bytes());
        let codeql = if gate == "sast" { "failure" } else { "success" };
        w.fake
            .ci_run(REPO, &head, "CodeQL", "completed", Some(codeql));
        let audit = if gate == "dependencies" {
            "failure"
        } else {
            "success"
        };
        w.fake
            .ci_run(REPO, &head, "cargo-audit", "completed", Some(audit));
        w.send("pull_request", &pull_event(REPO, "opened", number, &head))
            .await;
    }
    w.drain().await;
    for (number, gate) in cases {
        let head = sha(0x2000 + number);
        let run = w.run(REPO, &head);
        // A missing review is waited for (pending → `action_required`, which blocks too);
        // every other broken gate fails.
        let (conclusion, verdict) = if gate == "security_review" {
            ("action_required", "pending")
        } else {
            ("failure", "fail")
        };
        assert_eq!(
            run.conclusion.as_deref(),
            Some(conclusion),
            "{gate}: {run:?}"
        );
        assert!(
            run.title.as_deref().is_some_and(|t| t.contains(gate)),
            "{gate}: the title names the gate: {:?}",
            run.title
        );
        let verdicts = w.gate_verdicts(REPO, number).await;
        for (_, other) in cases {
            let expected = if other == gate { verdict } else { "pass" };
            assert_eq!(
                verdicts[other], expected,
                "#{number} breaks {gate}: {other} in {verdicts}"
            );
        }
        let comments = w.fake.comments(REPO, number);
        if verdict == "fail" {
            assert_eq!(comments.len(), 1, "{gate}: one sticky comment");
            assert!(
                comments[0].body.contains(gate),
                "{gate}: the comment names the gate:\n{}",
                comments[0].body
            );
        }
    }
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_and_self_approvals_do_not_count() {
    let w = world().await;
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    // #21: carol approved an older commit; #22: the author approved their own change.
    let old = sha(0x2100);
    let head21 = sha(0x2101);
    let mut b = passing(REPO, 21, &head21);
    b.pull.reviews.clear();
    b.review("carol", "APPROVED", &old).install(&w.fake);
    arrange_checks(&w.fake, REPO, &head21);
    let head22 = sha(0x2202);
    w.fake.team("acme", "security", &["bob"]);
    let mut b = passing(REPO, 22, &head22);
    b.pull.reviews.clear();
    b.review("bob", "APPROVED", &head22).install(&w.fake);
    arrange_checks(&w.fake, REPO, &head22);
    w.send(
        "pull_request",
        &pull_event(REPO, "synchronize", 21, &head21),
    )
    .await;
    w.send(
        "pull_request_review",
        &review_event(REPO, 22, "bob", &head22),
    )
    .await;
    w.drain().await;
    for (n, head) in [(21, &head21), (22, &head22)] {
        assert_eq!(
            w.run(REPO, head).conclusion.as_deref(),
            Some("action_required"),
            "#{n}: still waiting for a review that counts"
        );
        let verdicts = w.gate_verdicts(REPO, n).await;
        assert_eq!(verdicts["security_review"], "pending", "#{n}: {verdicts}");
        assert_eq!(verdicts["threat_model"], "pass", "#{n}: {verdicts}");
    }
    let text21 = w.run(REPO, &head21).text.unwrap_or_default()
        + &w.run(REPO, &head21).summary.unwrap_or_default();
    assert!(text21.contains("not the head commit"), "{text21}");
    let text22 = w.run(REPO, &head22).text.unwrap_or_default()
        + &w.run(REPO, &head22).summary.unwrap_or_default();
    assert!(text22.contains("their own change"), "{text22}");

    // carol approves the head of #21: the same run turns green.
    {
        let mut st = w.fake.state();
        if let Some(p) = st.repo(REPO).pulls.get_mut(&21) {
            p.reviews.push(fake_github::ReviewRec {
                id: 99,
                user: "carol".into(),
                state: "APPROVED".into(),
                commit_id: head21.clone(),
                submitted_at: chrono::Utc::now(),
            });
        }
    }
    w.send(
        "pull_request_review",
        &review_event(REPO, 21, "carol", &head21),
    )
    .await;
    w.drain().await;
    assert_eq!(w.run(REPO, &head21).conclusion.as_deref(), Some("success"));
    w.stop().await;
}

/// The change's files with `login` as given: the security-relevant file's hunk is `login`,
/// placed at `at` (a rebase moves it without changing it).
fn rebase_files(login: &str, at: u32) -> Vec<fake_github::FileRec> {
    let file = |name: &str, patch: String| fake_github::FileRec {
        filename: name.into(),
        status: "modified".into(),
        previous_filename: None,
        patch: Some(patch),
    };
    vec![
        file(
            "src/auth/login.rs",
            format!(
                "@@ -{at},3 +{at},3 @@ fn login() {{\n ctx\n-    check(user)\n+    {login}\n ctx"
            ),
        ),
        file(
            "Cargo.lock",
            "@@ -1,2 +1,3 @@\n ctx\n+serde 1.0.200\n ctx".into(),
        ),
        file(
            "sbom/plc.cdx.json",
            "@@ -1,2 +1,3 @@\n ctx\n+{}\n ctx".into(),
        ),
    ]
}

/// Moves pull request `n` to `head` with `files` (a force-push) and says so.
async fn force_push(w: &World, n: u64, head: &str, files: Vec<fake_github::FileRec>) {
    {
        let mut st = w.fake.state();
        if let Some(p) = st.repo(REPO).pulls.get_mut(&n) {
            p.head_sha = head.to_string();
            p.files = files;
        }
    }
    arrange_checks(&w.fake, REPO, head);
    w.send("pull_request", &pull_event(REPO, "synchronize", n, head))
        .await;
    w.drain().await;
}

fn run_text(w: &World, head: &str) -> String {
    let run = w.run(REPO, head);
    run.summary.unwrap_or_default() + &run.text.unwrap_or_default()
}

fn compares_since(w: &World, mark: usize) -> Vec<String> {
    w.fake
        .calls_since(mark)
        .into_iter()
        .filter(|c| c.method == "GET" && c.path.contains("/compare/"))
        .map(|c| c.path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approval_survives_a_rebase_with_the_same_patch_and_not_a_changed_line() {
    let w = world().await;
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    // carol approves A.
    let (a, b, c) = (sha(0x4101), sha(0x4102), sha(0x4103));
    let mut pr = passing(REPO, 41, &a);
    pr.pull.files = rebase_files("check(user, role)", 10);
    pr.install(&w.fake);
    arrange_checks(&w.fake, REPO, &a);
    w.fake
        .commit_files(REPO, &a, rebase_files("check(user, role)", 10));
    let mark = w.fake.mark();
    w.send("pull_request", &pull_event(REPO, "opened", 41, &a))
        .await;
    w.drain().await;
    assert_eq!(w.run(REPO, &a).conclusion.as_deref(), Some("success"));
    assert!(
        compares_since(&w, mark).is_empty(),
        "an approval of the head needs no comparison"
    );

    // B: rebased onto a newer main, the same patch 30 lines further down.
    let mark = w.fake.mark();
    force_push(&w, 41, &b, rebase_files("check(user, role)", 40)).await;
    let run = w.run(REPO, &b);
    let text = run_text(&w, &b);
    assert_eq!(run.conclusion.as_deref(), Some("success"), "{text}");
    assert_eq!(w.gate_verdicts(REPO, 41).await["security_review"], "pass");
    assert!(
        text.contains(&format!(
            "carol (member of acme/security) approved {}, a commit with the same patch as the head {} (patch-id ",
            &a[..7],
            &b[..7]
        )) && text.contains("): counts"),
        "{text}"
    );
    assert_eq!(
        compares_since(&w, mark),
        vec![format!("/repos/{REPO}/compare/main...{a}")],
        "one comparison, of the approved commit"
    );

    // C: one changed line. The approval of A no longer counts.
    let mark = w.fake.mark();
    force_push(&w, 41, &c, rebase_files("check(user, any_role)", 40)).await;
    let run = w.run(REPO, &c);
    let text = run_text(&w, &c);
    assert_eq!(run.conclusion.as_deref(), Some("action_required"), "{text}");
    assert_eq!(
        w.gate_verdicts(REPO, 41).await["security_review"],
        "pending"
    );
    assert!(
        text.contains(&format!(
            "carol (member of acme/security) approved {}, not the head commit {}, and its patch differs from the head's: approve again",
            &a[..7],
            &c[..7]
        )),
        "{text}"
    );
    assert!(
        compares_since(&w, mark).is_empty(),
        "the patch of A is known from before: {:?}",
        compares_since(&w, mark)
    );

    // D: A's patch again, plus a binary file GitHub shows no patch for. Fail closed: the
    // head's patch is unknown, nothing is compared, and the explanation says why.
    let d = sha(0x4104);
    let mut files = rebase_files("check(user, role)", 40);
    files.push(fake_github::FileRec {
        filename: "docs/flow.png".into(),
        status: "added".into(),
        previous_filename: None,
        patch: None,
    });
    let mark = w.fake.mark();
    force_push(&w, 41, &d, files).await;
    let text = run_text(&w, &d);
    assert_eq!(
        w.gate_verdicts(REPO, 41).await["security_review"],
        "pending"
    );
    assert!(
        text.contains("whether its patch is the head's is unknown (at the head: the forge gives no patch for docs/flow.png: binary, too large or a mode change only): approve again"),
        "{text}"
    );
    assert!(compares_since(&w, mark).is_empty());
    w.fake.assert_conforms();
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn policy_edited_in_the_pull_request_is_judged_by_the_base_policy() {
    let w = world().await;
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    let head = sha(0x3001);
    let weakened = "version: 1\ngates:\n  threat_model: { enabled: false }\n  security_review: { enabled: false }\n  sast: { enabled: false }\n  dependencies: { enabled: false }\n";
    w.fake
        .put_file(REPO, &head, ".github/sdl-gate.yml", weakened.as_bytes());
    PullBuilder::new(REPO, 31, "mallory", &head)
        .file(".github/sdl-gate.yml")
        .file("README.md")
        .install(&w.fake);
    w.fake
        .ci_run(REPO, &head, "CodeQL", "completed", Some("success"));
    let mark = w.fake.mark();
    w.send("pull_request", &pull_event(REPO, "opened", 31, &head))
        .await;
    w.drain().await;
    let run = w.run(REPO, &head);
    // The head's policy would disable every gate and pass; the base policy requires a
    // security review of the policy edit.
    assert_eq!(
        run.conclusion.as_deref(),
        Some("action_required"),
        "{run:?}"
    );
    let verdicts = w.gate_verdicts(REPO, 31).await;
    assert_eq!(
        verdicts["security_review"], "pending",
        "a policy edit needs a security review: {verdicts}"
    );
    assert!(
        run.text
            .unwrap_or_default()
            .contains("changes the sdl-gate policy itself")
    );
    // The policy was only ever read from the base branch: in the GraphQL query (which reads
    // it at `baseRef`), or through REST with `ref=main`.
    let calls = w.fake.calls_since(mark);
    let policy_reads: Vec<String> = calls
        .iter()
        .filter(|c| c.path.ends_with("/contents/.github/sdl-gate.yml"))
        .map(|c| c.query.clone())
        .collect();
    let queries: Vec<&serde_json::Value> = calls
        .iter()
        .filter(|c| c.path == "/graphql")
        .filter_map(|c| c.body.as_ref())
        .collect();
    assert!(!policy_reads.is_empty() || !queries.is_empty());
    assert!(
        queries
            .iter()
            .all(|q| q["variables"]["policy0"] == ".github/sdl-gate.yml"
                && q["query"].as_str().is_some_and(|t| t.contains("baseRef"))),
        "{queries:?}"
    );
    assert!(
        policy_reads.iter().all(|q| q == "ref=main"),
        "{policy_reads:?}"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_policy_is_neutral_and_drafts_are_neutral_unless_enforced() {
    let w = world().await;
    // No policy anywhere in acme/bare.
    let head = sha(0x4001);
    PullBuilder::new("acme/bare", 1, "bob", &head)
        .file("src/auth/x.rs")
        .install(&w.fake);
    w.send("pull_request", &pull_event("acme/bare", "opened", 1, &head))
        .await;
    // A failing draft under POLICY; and one under a policy that enforces drafts.
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    let draft = sha(0x4002);
    let mut b = PullBuilder::new(REPO, 41, "bob", &draft).file("src/auth/x.rs");
    b.pull.draft = true;
    b.install(&w.fake);
    w.send("pull_request", &pull_event(REPO, "opened", 41, &draft))
        .await;
    let strict = format!("{POLICY}report:\n  enforce_on_drafts: true\n");
    w.fake.put_file(
        "acme/strict",
        "main",
        ".github/sdl-gate.yml",
        strict.as_bytes(),
    );
    let draft2 = sha(0x4003);
    let mut b = PullBuilder::new("acme/strict", 42, "bob", &draft2).file("src/auth/x.rs");
    b.pull.draft = true;
    b.install(&w.fake);
    w.send(
        "pull_request",
        &pull_event("acme/strict", "opened", 42, &draft2),
    )
    .await;
    w.drain().await;

    let run = w.run("acme/bare", &head);
    assert_eq!(run.conclusion.as_deref(), Some("neutral"));
    assert_eq!(
        run.title.as_deref(),
        Some("No sdl-gate policy in this repository")
    );
    assert!(
        run.summary
            .unwrap_or_default()
            .contains(".github/sdl-gate.yml"),
        "says where to add one"
    );
    let run = w.run(REPO, &draft);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("neutral"),
        "a failing draft is neutral"
    );
    let verdicts = w.gate_verdicts(REPO, 41).await;
    assert_eq!(
        verdicts["threat_model"], "fail",
        "but evaluated: {verdicts}"
    );
    assert!(
        w.fake.comments(REPO, 41).is_empty(),
        "no new comment on a draft"
    );
    let run = w.run("acme/strict", &draft2);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "enforce_on_drafts reports the real verdict"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_percent_server_errors_converge_without_duplicates() {
    let w = world().await;
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    let mut heads = Vec::new();
    for n in 51..=56u64 {
        let head = sha(0x5000 + n);
        let mut b = passing(REPO, n, &head);
        if n % 2 == 0 {
            b.pull.body = Some(String::new()); // threat model missing: fails, gets a comment
        }
        b.install(&w.fake);
        arrange_checks(&w.fake, REPO, &head);
        heads.push((n, head));
    }
    // 30% of every request fails with 502; the first check-run creation and the first
    // comment are applied but their answers lost.
    w.fake.fault(
        None,
        "",
        usize::MAX,
        FaultKind::Random {
            percent: 30,
            status: 502,
        },
    );
    w.fake.fault(
        Some(Method::POST),
        "/check-runs",
        1,
        FaultKind::StatusAfterApply(502),
    );
    w.fake.fault(
        Some(Method::POST),
        "/comments",
        1,
        FaultKind::StatusAfterApply(504),
    );
    for (n, head) in &heads {
        for action in ["opened", "labeled", "edited"] {
            w.send("pull_request", &pull_event(REPO, action, *n, head))
                .await;
        }
    }
    w.drain().await;
    let failures = w.fake.journal().iter().filter(|c| c.status >= 500).count();
    assert!(failures > 5, "faults were injected ({failures})");
    for (n, head) in &heads {
        let run = w.run(REPO, head);
        let expected = if n % 2 == 0 { "failure" } else { "success" };
        assert_eq!(run.conclusion.as_deref(), Some(expected), "#{n}");
        let comments = w.fake.comments(REPO, *n);
        let expected = usize::from(n % 2 == 0);
        assert_eq!(comments.len(), expected, "#{n}: {comments:?}");
    }
    w.fake.clear_faults();
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limit_waits_for_the_reset_then_finishes() {
    let w = world().await;
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    let head = sha(0x6001);
    passing(REPO, 61, &head).install(&w.fake);
    arrange_checks(&w.fake, REPO, &head);
    w.fake.fault(
        Some(Method::GET),
        "/pulls/61/files",
        1,
        FaultKind::PrimaryRateLimit { reset_in: 3 },
    );
    w.send("pull_request", &pull_event(REPO, "opened", 61, &head))
        .await;
    // Wait for the 403, then the job must be scheduled no earlier than the reset.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if w.fake.journal().iter().any(|c| c.status == 403) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no 403 seen");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let limited_at = chrono::Utc::now();
    let job = loop {
        let jobs = w.store.list_jobs(None, 10).await.unwrap_or_default();
        if let Some(j) = jobs
            .into_iter()
            .find(|j| j.key == format!("github:{REPO}#61") && j.state == "pending")
        {
            break j;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job not rescheduled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        job.run_after >= limited_at + chrono::Duration::milliseconds(1500),
        "retried at {} though the limit resets ~3 s after {limited_at}",
        job.run_after
    );
    assert!(job.last_error.unwrap_or_default().contains("rate limited"));
    w.drain().await;
    assert_eq!(w.run(REPO, &head).conclusion.as_deref(), Some("success"));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_token_is_renewed_once() {
    let w = world().await;
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    let head = sha(0x7001);
    let mut b = passing(REPO, 71, &head);
    b.pull.reviews.clear();
    b.install(&w.fake);
    arrange_checks(&w.fake, REPO, &head);
    w.send("pull_request", &pull_event(REPO, "opened", 71, &head))
        .await;
    w.drain().await;
    assert_eq!(
        w.run(REPO, &head).conclusion.as_deref(),
        Some("action_required")
    );
    let issued = w.fake.state().tokens_issued;
    assert_eq!(issued, 1, "one token for the first evaluation");

    // The token expires (GitHub answers 401); carol approves.
    w.fake.revoke_tokens();
    {
        let mut st = w.fake.state();
        if let Some(p) = st.repo(REPO).pulls.get_mut(&71) {
            p.reviews.push(fake_github::ReviewRec {
                id: 7,
                user: "carol".into(),
                state: "APPROVED".into(),
                commit_id: head.clone(),
                submitted_at: chrono::Utc::now(),
            });
        }
    }
    let mark = w.fake.mark();
    w.send(
        "pull_request_review",
        &review_event(REPO, 71, "carol", &head),
    )
    .await;
    w.drain().await;
    assert_eq!(w.run(REPO, &head).conclusion.as_deref(), Some("success"));
    let calls = w.fake.calls_since(mark);
    let unauthorized = calls.iter().filter(|c| c.status == 401).count();
    let tokens = calls
        .iter()
        .filter(|c| c.path.ends_with("/access_tokens"))
        .count();
    assert_eq!(unauthorized, 1, "one 401: {calls:#?}");
    assert_eq!(tokens, 1, "renewed once");
    assert_eq!(w.fake.state().tokens_issued, 2);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconciliation_finds_pull_requests_whose_webhooks_were_lost() {
    for db in all_dbs("reconciliation_finds_pull_requests_whose_webhooks_were_lost").await {
        let label = db.label;
        let w = world_on(db).await;
        w.fake
            .put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
        // Three open pull requests and one closed, no webhook ever delivered.
        for n in 81..=83u64 {
            let head = sha(0x8000 + n);
            passing(REPO, n, &head).install(&w.fake);
            arrange_checks(&w.fake, REPO, &head);
        }
        let mut closed = passing(REPO, 80, &sha(0x8080));
        closed.pull.state = "closed".into();
        closed.install(&w.fake);
        // A second repository without a policy.
        PullBuilder::new("acme/bare", 5, "bob", &sha(0x8005)).install(&w.fake);

        // A bound of 2 pull requests per sweep: the first sweep is cut, the second goes on.
        let r = w.reconciler(2);
        let first = r.sweep().await;
        assert!(first.stopped.is_none(), "{label}: {first:?}");
        assert!(first.cut, "{label}: {first:?}");
        assert_eq!(first.enqueued.len(), 2, "{label}: {first:?}");
        w.drain().await;
        let second = r.sweep().await;
        assert!(second.stopped.is_none(), "{label}: {second:?}");
        let mut all: Vec<String> = first.enqueued.clone();
        all.extend(second.enqueued.clone());
        all.sort();
        all.dedup();
        let mut wanted: Vec<String> = (81..=83).map(|n| format!("{REPO}#{n}")).collect();
        wanted.push("acme/bare#5".into());
        wanted.sort();
        // The second sweep may cut again; a third finishes.
        w.drain().await;
        let third = r.sweep().await;
        all.extend(third.enqueued.clone());
        all.sort();
        all.dedup();
        assert_eq!(all, wanted, "{label}: every open pull request once");
        w.drain().await;
        for n in 81..=83u64 {
            assert_eq!(
                w.run(REPO, &sha(0x8000 + n)).conclusion.as_deref(),
                Some("success"),
                "{label}: #{n}"
            );
        }
        assert_eq!(
            w.run("acme/bare", &sha(0x8005)).conclusion.as_deref(),
            Some("neutral")
        );
        assert!(w.fake.check_runs(REPO, &sha(0x8080), "sdl-gate").is_empty());

        // Everything has its run now: a sweep enqueues nothing.
        let big = w.reconciler(100);
        let quiet = big.sweep().await;
        assert!(quiet.enqueued.is_empty(), "{label}: {quiet:?}");
        assert!(!quiet.cut);

        // A rate limit stops a sweep; the next one continues.
        let head = sha(0x8084);
        passing(REPO, 84, &head).install(&w.fake);
        arrange_checks(&w.fake, REPO, &head);
        w.fake.fault(
            Some(Method::GET),
            "/repos/acme/plc/pulls",
            1,
            FaultKind::PrimaryRateLimit { reset_in: 60 },
        );
        let limited = big.sweep().await;
        assert!(
            limited
                .stopped
                .as_deref()
                .is_some_and(|s| s.contains("rate limited")),
            "{label}: {limited:?}"
        );
        assert!(!limited.enqueued.contains(&format!("{REPO}#84")));
        let after = big.sweep().await;
        assert!(after.stopped.is_none(), "{label}: {after:?}");
        assert_eq!(after.enqueued, vec![format!("{REPO}#84")], "{label}");
        w.drain().await;
        assert_eq!(w.run(REPO, &head).conclusion.as_deref(), Some("success"));
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_periodic_reconciler_sweeps_at_start_and_stops() {
    let w = world().await;
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    let head = sha(0x8501);
    passing(REPO, 85, &head).install(&w.fake);
    arrange_checks(&w.fake, REPO, &head);
    let r = Arc::new(Reconciler::new(
        Arc::new(forge(&w.fake)),
        w.store.clone(),
        ReconcileSettings {
            interval: Duration::from_secs(3600),
            max_pulls: 10,
            debounce: Duration::ZERO,
        },
    ));
    let task = r.spawn();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while w.fake.check_runs(REPO, &head, "sdl-gate").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the start-up sweep evaluated nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.stop().await;
    w.drain().await;
    assert_eq!(w.run(REPO, &head).conclusion.as_deref(), Some("success"));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_status_event_reevaluates_the_pull_request_with_that_head() {
    for db in all_dbs("a_status_event_reevaluates_the_pull_request_with_that_head").await {
        let label = db.label;
        let w = world_on(db).await;
        let policy = "version: 1\ngates:\n  sast:\n    checks: [\"ci/jenkins\"]\n";
        w.fake
            .put_file(REPO, "main", ".github/sdl-gate.yml", policy.as_bytes());
        let head = sha(0x9001);
        PullBuilder::new(REPO, 91, "bob", &head)
            .file("src/lib.rs")
            .install(&w.fake);
        // Another open pull request on another head: untouched by the status.
        let other = sha(0x9002);
        PullBuilder::new(REPO, 92, "bob", &other)
            .file("src/lib.rs")
            .install(&w.fake);
        w.fake.status(REPO, &head, "ci/jenkins", "pending");
        w.send("pull_request", &pull_event(REPO, "opened", 91, &head))
            .await;
        w.drain().await;
        assert_eq!(
            w.run(REPO, &head).conclusion.as_deref(),
            Some("action_required"),
            "{label}: waiting for ci/jenkins"
        );

        w.fake.status(REPO, &head, "ci/jenkins", "success");
        let mark = w.fake.mark();
        w.send(
            "status",
            &status_event(REPO, &head, "ci/jenkins", "success"),
        )
        .await;
        w.drain().await;
        assert_eq!(
            w.run(REPO, &head).conclusion.as_deref(),
            Some("success"),
            "{label}"
        );
        let calls = w.fake.calls_since(mark);
        assert!(
            calls
                .iter()
                .any(|c| c.path == format!("/repos/{REPO}/commits/{head}/pulls")),
            "{label}: the commit was resolved to its pull requests"
        );
        assert!(
            !calls.iter().any(|c| c.path.contains("/pulls/92")),
            "{label}: #92 has another head"
        );
        assert!(w.fake.check_runs(REPO, &other, "sdl-gate").is_empty());
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_changing_the_policy_reevaluates_open_pull_requests() {
    for db in all_dbs("a_push_changing_the_policy_reevaluates_open_pull_requests").await {
        let label = db.label;
        let w = world_on(db).await;
        let strict = "version: 1\ngates:\n  sast:\n    checks: [\"CodeQL\"]\n";
        w.fake
            .put_file(REPO, "main", ".github/sdl-gate.yml", strict.as_bytes());
        let heads: Vec<(u64, String)> = (101..=103u64).map(|n| (n, sha(0xa000 + n))).collect();
        for (n, head) in &heads {
            PullBuilder::new(REPO, *n, "bob", head)
                .file("src/lib.rs")
                .install(&w.fake);
            w.send("pull_request", &pull_event(REPO, "opened", *n, head))
                .await;
        }
        let mut closed = PullBuilder::new(REPO, 100, "bob", &sha(0xa100)).file("src/lib.rs");
        closed.pull.state = "closed".into();
        closed.install(&w.fake);
        w.drain().await;
        for (n, head) in &heads {
            assert_eq!(
                w.run(REPO, head).conclusion.as_deref(),
                Some("action_required"),
                "{label}: #{n} waits for CodeQL"
            );
        }

        // A push that leaves the policy alone: nothing is listed or re-evaluated.
        let mark = w.fake.mark();
        w.send("push", &push_event(REPO, &["src/lib.rs"])).await;
        w.drain().await;
        assert!(
            w.fake.calls_since(mark).is_empty(),
            "{label}: {:?}",
            w.fake.calls_since(mark)
        );

        // The policy drops the CodeQL requirement on main: every open pull request passes.
        let relaxed = "version: 1\ngates:\n  sast:\n    enabled: false\n";
        w.fake
            .put_file(REPO, "main", ".github/sdl-gate.yml", relaxed.as_bytes());
        // GitHub serves a file at any commit; the fake at the refs it is given.
        w.fake.put_file(
            REPO,
            &sha(0xaf7e),
            ".github/sdl-gate.yml",
            relaxed.as_bytes(),
        );
        let mark = w.fake.mark();
        w.send("push", &push_event(REPO, &[".github/sdl-gate.yml"]))
            .await;
        w.drain().await;
        // The evidence ledger records the new policy once, with who pushed it.
        let changes = w
            .store
            .ledger_entries_of_kind(ForgeName::GitHub, REPO, "policy_changed", None)
            .await
            .expect("ledger");
        assert_eq!(
            changes.len(),
            1,
            "{label}: the push that left the policy alone records nothing"
        );
        let sealed: sdl_gate::ledger::Sealed = serde_json::from_str(&changes[0].body).unwrap();
        let sdl_gate::ledger::Entry::PolicyChanged(change) = sealed.entry else {
            panic!("{label}: a policy change")
        };
        assert_eq!(change.commit, sha(0xaf7e));
        assert_eq!(change.branch, "main");
        assert_eq!(change.by.as_deref(), Some("Codertocat"));
        let policy = change.policy.expect("the new policy");
        assert_eq!(policy.path, ".github/sdl-gate.yml");
        assert_eq!(
            policy.sha256,
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(relaxed.as_bytes()))
        );
        for (n, head) in &heads {
            assert_eq!(
                w.run(REPO, head).conclusion.as_deref(),
                Some("success"),
                "{label}: #{n} re-evaluated under the new policy"
            );
        }
        let calls = w.fake.calls_since(mark);
        assert!(
            calls
                .iter()
                .any(|c| c.path == format!("/repos/{REPO}/pulls") && c.query.contains("state=open")),
            "{label}: listed open pull requests"
        );
        assert!(
            !calls.iter().any(|c| c.path.contains("/pulls/100")),
            "{label}: the closed pull request is left alone"
        );
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_installation_reconciles_its_repositories() {
    let w = world().await;
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    let head = sha(0xb001);
    passing(REPO, 111, &head).install(&w.fake);
    arrange_checks(&w.fake, REPO, &head);
    // `installation.created` with its repositories.
    let mut v = shaped_like("installation/created.payload.json");
    v["action"] = json!("created");
    v["installation"]["id"] = json!(INSTALLATION);
    v["installation"]["account"]["login"] = json!("acme");
    v["repositories"] =
        json!([{"id": 1, "node_id": "R_1", "name": "plc", "full_name": REPO, "private": false}]);
    w.send("installation", &v).await;
    w.drain().await;
    assert_eq!(w.run(REPO, &head).conclusion.as_deref(), Some("success"));

    // Repositories added later are reconciled too.
    let head2 = sha(0xb002);
    passing("acme/hmi", 5, &head2).install(&w.fake);
    w.fake.put_file(
        "acme/hmi",
        "main",
        ".github/sdl-gate.yml",
        POLICY.as_bytes(),
    );
    arrange_checks(&w.fake, "acme/hmi", &head2);
    let mut v = shaped_like("installation_repositories/added.payload.json");
    v["action"] = json!("added");
    v["installation"]["id"] = json!(INSTALLATION);
    v["repositories_added"] = json!([{"id": 2, "node_id": "R_2", "name": "hmi", "full_name": "acme/hmi", "private": false}]);
    w.send("installation_repositories", &v).await;
    w.drain().await;
    assert_eq!(
        w.run("acme/hmi", &head2).conclusion.as_deref(),
        Some("success")
    );
    w.stop().await;
}

/// `gates.sast.code_scanning`: the open alerts of the pull request's merge ref decide the
/// SAST gate. A high alert blocks (named in the comment, annotated on its line) while low
/// ones do not, 150 open alerts are read over two pages, a pull request with no analysis yet
/// waits and turns green once a clean analysis exists, and a repository whose code scanning
/// cannot be read fails closed, saying which permission is needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn code_scanning_alerts_decide_the_sast_gate() {
    let w = world().await;
    let policy = code_scanning_policy();
    for repo in [REPO, "acme/noscan"] {
        w.fake
            .put_file(repo, "main", ".github/sdl-gate.yml", policy.as_bytes());
    }
    let low = |i: u32| {
        AlertRec::open(
            "rust/unused-variable",
            "low",
            "src/api/handler.rs",
            i,
            "unused",
        )
    };

    // #41: one high alert among 149 low ones and a dismissed critical one.
    let head41 = sha(0xc041);
    passing(REPO, 41, &head41).install(&w.fake);
    arrange_checks(&w.fake, REPO, &head41);
    let mut alerts = vec![sql_injection_alert()];
    alerts.extend((1..150).map(low));
    let mut dismissed = AlertRec::open(
        "rust/hardcoded-key",
        "critical",
        "src/auth/login.rs",
        9,
        "key",
    );
    dismissed.state = "dismissed".into();
    alerts.push(dismissed);
    w.fake
        .code_scanning_analysis(REPO, "refs/pull/41/merge", alerts);
    // #42: no analysis yet.
    let head42 = sha(0xc042);
    passing(REPO, 42, &head42).install(&w.fake);
    arrange_checks(&w.fake, REPO, &head42);
    // #43: code scanning is off for the repository.
    let head43 = sha(0xc043);
    passing("acme/noscan", 43, &head43).install(&w.fake);
    arrange_checks(&w.fake, "acme/noscan", &head43);
    w.fake.code_scanning_disabled("acme/noscan");

    let mark = w.fake.mark();
    w.send("pull_request", &pull_event(REPO, "opened", 41, &head41))
        .await;
    w.send("pull_request", &pull_event(REPO, "opened", 42, &head42))
        .await;
    w.send(
        "pull_request",
        &pull_event("acme/noscan", "opened", 43, &head43),
    )
    .await;
    w.drain().await;

    let run = w.run(REPO, &head41);
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{run:?}");
    let verdicts = w.gate_verdicts(REPO, 41).await;
    assert_eq!(verdicts["sast"], "fail", "{verdicts}");
    assert_eq!(verdicts["security_review"], "pass", "{verdicts}");
    let comments = w.fake.comments(REPO, 41);
    assert_eq!(comments.len(), 1);
    let body = &comments[0].body;
    assert!(body.contains("rust/sql-injection"), "{body}");
    assert!(
        !body.contains("rust/hardcoded-key"),
        "a dismissed alert is no finding: {body}"
    );
    assert!(
        run.annotations
            .iter()
            .any(|a| a["path"] == "src/auth/login.rs" && a["start_line"] == 3),
        "the alert is annotated on its line: {:?}",
        run.annotations
    );
    let reads: Vec<_> = w
        .fake
        .calls_since(mark)
        .into_iter()
        .filter(|c| c.path == format!("/repos/{REPO}/code-scanning/alerts") && c.status == 200)
        .filter(|c| c.query.contains("41"))
        .collect();
    assert_eq!(reads.len(), 2, "150 open alerts are two pages: {reads:?}");
    assert!(
        reads.iter().all(|c| c.query.contains("state=open")),
        "{reads:?}"
    );

    let run = w.run(REPO, &head42);
    assert_eq!(
        run.conclusion.as_deref(),
        Some("action_required"),
        "{run:?}"
    );
    let verdicts = w.gate_verdicts(REPO, 42).await;
    assert_eq!(verdicts["sast"], "pending", "{verdicts}");
    // The analysis lands (only a low alert); the next event turns the run green.
    w.fake
        .code_scanning_analysis(REPO, "refs/pull/42/merge", vec![low(1)]);
    w.send("pull_request", &pull_event(REPO, "labeled", 42, &head42))
        .await;
    w.drain().await;
    let run = w.run(REPO, &head42);
    assert_eq!(run.conclusion.as_deref(), Some("success"), "{run:?}");

    let run = w.run("acme/noscan", &head43);
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{run:?}");
    let verdicts = w.gate_verdicts("acme/noscan", 43).await;
    assert_eq!(verdicts["sast"], "fail", "{verdicts}");
    let comments = w.fake.comments("acme/noscan", 43);
    assert!(
        comments
            .first()
            .is_some_and(|c| c.body.contains("security_events")),
        "the comment names the missing permission: {comments:?}"
    );
    let stored = w
        .store
        .evaluations(ForgeName::GitHub, "acme/noscan", 43, 1)
        .await
        .unwrap_or_else(|e| panic!("evaluations: {e}"));
    let sast = stored[0].result["gates"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["gate"] == "sast"))
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(sast.contains("cannot check"), "{sast}");
    assert!(
        !sast.contains("alerts not read"),
        "the App tried code scanning and could not: it is no front end without it: {sast}"
    );
    w.stop().await;
}

/// [`POLICY`] with `gates.sast.code_scanning: true`.
fn code_scanning_policy() -> String {
    let policy = POLICY.replace(
        "checks: [\"CodeQL\"]",
        "checks: [\"CodeQL\"]\n    code_scanning: true",
    );
    assert!(policy.contains("code_scanning: true"), "{policy}");
    policy
}

/// An open high-severity SQL-injection alert on the security path's line 3.
fn sql_injection_alert() -> AlertRec {
    AlertRec::open(
        "rust/sql-injection",
        "high",
        "src/auth/login.rs",
        3,
        "This query depends on a user-provided value.",
    )
}

/// The stored `sast` result of the newest evaluation of `REPO`#`number`, as JSON text.
async fn stored_sast(w: &World, number: u64) -> String {
    let stored = w
        .store
        .evaluations(ForgeName::GitHub, REPO, number, 1)
        .await
        .unwrap_or_else(|e| panic!("evaluations: {e}"));
    stored
        .first()
        .and_then(|e| e.result["gates"].as_array())
        .and_then(|gs| gs.iter().find(|g| g["gate"] == "sast"))
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// `gates.sast.code_scanning` after a push: GitHub still holds the alerts of the previous
/// head's analysis, so the gate waits (the run is not green, even with the required CodeQL
/// check done) until the analysis of the new head lands, and then judges its alerts. A base
/// branch that moves on does not make that analysis stale (its merge commit still contains
/// the head: one `git/commits` read, then cached), and an analysis that failed fails closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn code_scanning_waits_for_the_analysis_of_the_new_head() {
    let w = world().await;
    let policy = code_scanning_policy();
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", policy.as_bytes());
    let git_ref = "refs/pull/44/merge";
    let first = sha(0xc441);
    passing(REPO, 44, &first).install(&w.fake);
    arrange_checks(&w.fake, REPO, &first);
    w.fake.code_scanning_analysis(REPO, git_ref, Vec::new());
    let run = w.on_pull(REPO, "opened", 44, &first).await;
    assert_eq!(run.conclusion.as_deref(), Some("success"), "{run:?}");

    // A push; the CodeQL check of the new head is done, its upload has not landed yet.
    let (first_merge, _) = w.fake.test_merge(REPO, 44);
    let second = sha(0xc442);
    passing(REPO, 44, &second).install(&w.fake);
    arrange_checks(&w.fake, REPO, &second);
    let run = w.on_pull(REPO, "synchronize", 44, &second).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("action_required"),
        "{run:?}"
    );
    let verdicts = w.gate_verdicts(REPO, 44).await;
    assert_eq!(verdicts["sast"], "pending", "{verdicts}");
    let sast = stored_sast(&w, 44).await;
    assert!(
        sast.contains("waiting for code scanning") && sast.contains(&first_merge[..7]),
        "{sast}"
    );

    // The analysis of the new head lands, with a high alert.
    w.fake
        .code_scanning_analysis(REPO, git_ref, vec![sql_injection_alert()]);
    let run = w.on_pull(REPO, "labeled", 44, &second).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{run:?}");

    // The base branch moves on: GitHub's test merge changes, the analysis does not. It still
    // judges the head; its merge commit is read once and then remembered.
    let (analysed, parents) = w.fake.test_merge(REPO, 44);
    if let Some(p) = w.fake.state().repo(REPO).pulls.get_mut(&44) {
        p.base_sha = sha(0xba5f);
    }
    assert_ne!(w.fake.test_merge(REPO, 44).0, analysed);
    let mark = w.fake.mark();
    for _ in 0..2 {
        w.send("pull_request", &pull_event(REPO, "labeled", 44, &second))
            .await;
        w.drain().await;
    }
    let verdicts = w.gate_verdicts(REPO, 44).await;
    assert_eq!(verdicts["sast"], "fail", "{verdicts}");
    let evaluations = w
        .fake
        .calls_since(mark)
        .into_iter()
        .filter(|c| c.path == format!("/repos/{REPO}/code-scanning/analyses"))
        .count();
    let commit_reads: Vec<_> = w
        .fake
        .calls_since(mark)
        .into_iter()
        .filter(|c| c.path.starts_with(&format!("/repos/{REPO}/git/commits/")))
        .collect();
    assert_eq!(evaluations, 2, "two evaluations");
    assert_eq!(commit_reads.len(), 1, "{commit_reads:?}");
    assert!(
        commit_reads[0].path.ends_with(&analysed),
        "{commit_reads:?}"
    );

    // The next upload failed: its alerts cannot be trusted, so the gate fails closed.
    let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
    let mut failed = Upload::codeql(&analysed, &parents);
    failed.error = "CodeQL ran out of memory".into();
    w.fake
        .code_scanning_upload(REPO, git_ref, failed, Vec::new());
    let run = w.on_pull(REPO, "labeled", 44, &second).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{run:?}");
    let sast = stored_sast(&w, 44).await;
    assert!(sast.contains("ran out of memory"), "{sast}");
    w.stop().await;
}

/// A repository that scans pushes to its branches but not pull requests: with no analysis of
/// the merge ref, the head branch's analysis serves when it is of the head commit itself, so
/// its alerts block; after a push it is stale (pending) until the branch is scanned again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_scan_of_the_head_branch_serves_when_the_merge_ref_has_none() {
    let w = world().await;
    let policy = code_scanning_policy();
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", policy.as_bytes());
    let branch_ref = "refs/heads/feature-49";
    let first = sha(0xb491);
    passing(REPO, 49, &first).install(&w.fake);
    arrange_checks(&w.fake, REPO, &first);
    w.fake.code_scanning_upload(
        REPO,
        branch_ref,
        Upload::codeql(&first, &[]),
        vec![sql_injection_alert()],
    );
    let run = w.on_pull(REPO, "opened", 49, &first).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{run:?}");
    assert!(
        run.text
            .as_deref()
            .unwrap_or_default()
            .contains("rust/sql-injection"),
        "{run:?}"
    );

    // A push: the branch's analysis is of the previous head.
    let second = sha(0xb492);
    passing(REPO, 49, &second).install(&w.fake);
    arrange_checks(&w.fake, REPO, &second);
    let run = w.on_pull(REPO, "synchronize", 49, &second).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("action_required"),
        "{run:?}"
    );
    let sast = stored_sast(&w, 49).await;
    assert!(sast.contains(branch_ref), "{sast}");

    // The branch is scanned at the new head, clean.
    w.fake
        .code_scanning_upload(REPO, branch_ref, Upload::codeql(&second, &[]), Vec::new());
    let run = w.on_pull(REPO, "labeled", 49, &second).await;
    assert_eq!(run.conclusion.as_deref(), Some("success"), "{run:?}");

    // A fork's branch is not this repository's: its name here may be anyone's branch, so
    // only the merge ref counts and the gate waits for it.
    let fork_head = sha(0xb501);
    let mut b = passing(REPO, 50, &fork_head);
    b.pull.head_repo = Some("mallory/plc".into());
    b.pull.head_ref = "feature-49".into();
    b.install(&w.fake);
    arrange_checks(&w.fake, REPO, &fork_head);
    w.fake.code_scanning_upload(
        REPO,
        branch_ref,
        Upload::codeql(&fork_head, &[]),
        Vec::new(),
    );
    let mark = w.fake.mark();
    let run = w.on_pull(REPO, "opened", 50, &fork_head).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("action_required"),
        "{run:?}"
    );
    let branch_reads = w
        .fake
        .calls_since(mark)
        .into_iter()
        .filter(|c| c.query.contains("refs%2Fheads") || c.query.contains("refs/heads"))
        .count();
    assert_eq!(branch_reads, 0, "a fork's branch is never read");
    w.stop().await;
}

/// A `code_scanning_alert` delivery for alert `number` with `action` on `git_ref` (empty for
/// the actions a person takes), its repository and sender taken from a recorded delivery
/// (there is no recorded `code_scanning_alert` one); checked against GitHub's description
/// of the webhook when that delivery is present.
fn alert_event(repo: &str, action: &str, git_ref: &str, number: u64, state: &str) -> Value {
    let recorded = shaped_like("pull_request/opened.payload.json");
    let base = "https://api.github.com";
    let dismissed = state == "dismissed";
    let sender = recorded["sender"].clone();
    let v = with_repo(
        json!({
            "action": action,
            "ref": git_ref,
            "commit_oid": if git_ref.is_empty() { String::new() } else { sha(0xa1e7) },
            "alert": {
                "number": number,
                "created_at": "2026-11-20T10:00:00Z",
                "url": format!("{base}/repos/{repo}/code-scanning/alerts/{number}"),
                "html_url": format!("https://github.com/{repo}/security/code-scanning/{number}"),
                "state": state,
                "dismissed_by": if dismissed { sender.clone() } else { Value::Null },
                "dismissed_at": if dismissed { json!("2026-11-21T10:00:00Z") } else { Value::Null },
                "dismissed_reason": if dismissed { json!("false positive") } else { Value::Null },
                "rule": {"id": "rust/sql-injection", "severity": "error",
                         "description": "Database query built from user-controlled sources"},
                "tool": {"name": "CodeQL", "version": "2.19.0"}
            },
            "repository": recorded["repository"],
            "sender": sender
        }),
        repo,
    );
    if recorded["repository"].get("id").is_some() {
        let name = format!("code-scanning-alert-{}", action.replace('_', "-"));
        let wrong = fake_github::openapi::webhook_violations(&name, &v);
        assert!(
            wrong.is_empty(),
            "our {name} delivery is not GitHub's: {wrong:#?}"
        );
    } else {
        eprintln!(
            "note: no recorded delivery to shape the code_scanning_alert payload on; it is not checked against GitHub's description"
        );
    }
    v
}

/// A false positive dismissed in GitHub's UI turns the check green by itself, and reopening
/// it turns it red again: the `code_scanning_alert` delivery names no ref, so every open pull
/// request of the repository is re-evaluated (the default branch's policy reads code
/// scanning). An analysis's alert on a pull request's ref re-evaluates that pull request only,
/// and one on a branch none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dismissed_alert_turns_the_check_green_and_reopening_it_red() {
    let w = world().await;
    let policy = code_scanning_policy();
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", policy.as_bytes());
    let head = sha(0xd151);
    passing(REPO, 46, &head).install(&w.fake);
    arrange_checks(&w.fake, REPO, &head);
    let numbers =
        w.fake
            .code_scanning_analysis(REPO, "refs/pull/46/merge", vec![sql_injection_alert()]);
    let alert = numbers[0];
    // A second open pull request, clean, to see the fan-out reach it too.
    let other = sha(0xd152);
    passing(REPO, 47, &other).install(&w.fake);
    arrange_checks(&w.fake, REPO, &other);
    w.fake
        .code_scanning_analysis(REPO, "refs/pull/47/merge", Vec::new());
    w.send("pull_request", &pull_event(REPO, "opened", 46, &head))
        .await;
    w.send("pull_request", &pull_event(REPO, "opened", 47, &other))
        .await;
    w.drain().await;
    assert_eq!(w.run(REPO, &head).conclusion.as_deref(), Some("failure"));
    let before_47 = w.evaluation_count(REPO, 47).await;

    // An analysis of a branch concerns no pull request: nothing is re-evaluated.
    let before_46 = w.evaluation_count(REPO, 46).await;
    w.send(
        "code_scanning_alert",
        &alert_event(REPO, "created", "refs/heads/main", alert, "open"),
    )
    .await;
    w.drain().await;
    assert_eq!(w.evaluation_count(REPO, 46).await, before_46);

    // The security lead dismisses it as a false positive.
    w.fake.code_scanning_alert_state(REPO, alert, "dismissed");
    w.send(
        "code_scanning_alert",
        &alert_event(REPO, "closed_by_user", "", alert, "dismissed"),
    )
    .await;
    w.drain().await;
    let run = w.run(REPO, &head);
    assert_eq!(run.conclusion.as_deref(), Some("success"), "{run:?}");
    assert!(
        w.evaluation_count(REPO, 47).await > before_47,
        "every open pull request is re-evaluated"
    );

    // Reopened: red again, with no push and no command.
    w.fake.code_scanning_alert_state(REPO, alert, "open");
    w.send(
        "code_scanning_alert",
        &alert_event(REPO, "reopened_by_user", "", alert, "open"),
    )
    .await;
    w.drain().await;
    let run = w.run(REPO, &head);
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{run:?}");

    // An analysis's alert on #46's merge ref re-evaluates #46 alone.
    let (n46, n47) = (
        w.evaluation_count(REPO, 46).await,
        w.evaluation_count(REPO, 47).await,
    );
    w.send(
        "code_scanning_alert",
        &alert_event(
            REPO,
            "appeared_in_branch",
            "refs/pull/46/merge",
            alert,
            "open",
        ),
    )
    .await;
    w.drain().await;
    assert_eq!(w.evaluation_count(REPO, 46).await, n46 + 1);
    assert_eq!(w.evaluation_count(REPO, 47).await, n47);

    // Where the default branch's policy does not read code scanning, a dismissal costs one
    // policy read and re-evaluates nothing.
    let plain = "acme/plain";
    w.fake
        .put_file(plain, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    let head_plain = sha(0xd153);
    passing(plain, 48, &head_plain).install(&w.fake);
    arrange_checks(&w.fake, plain, &head_plain);
    w.send(
        "pull_request",
        &pull_event(plain, "opened", 48, &head_plain),
    )
    .await;
    w.drain().await;
    let before = w.evaluation_count(plain, 48).await;
    let mark = w.fake.mark();
    w.send(
        "code_scanning_alert",
        &alert_event(plain, "closed_by_user", "", 1, "dismissed"),
    )
    .await;
    w.drain().await;
    assert_eq!(w.evaluation_count(plain, 48).await, before);
    let calls: Vec<String> = w
        .fake
        .calls_since(mark)
        .into_iter()
        .map(|c| format!("{} {}", c.method, c.path))
        .collect();
    assert!(
        calls.iter().any(|c| c.contains("/contents/"))
            && !calls.iter().any(|c| c.contains("/pulls")),
        "{calls:?}"
    );
    w.stop().await;
}

/// `sdl-gate serve` itself: with GitHub configured it sweeps at start-up (a pull request
/// whose webhooks never arrived gets its check run) and SIGTERM stops it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_reconciles_at_start_up_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let fake = FakeGithub::start().await;
    fake.team("acme", "security", &["carol"]);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    let head = sha(0xc001);
    passing(REPO, 121, &head).install(&fake);
    arrange_checks(&fake, REPO, &head);

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let key = dir.path().join("app-key.pem");
    std::fs::write(&key, TEST_KEY_PEM).unwrap_or_else(|e| panic!("key: {e}"));
    let db = format!("sqlite://{}", dir.path().join("serve.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn,sdl_gate=info")
        .env("SDL_GATE_LISTEN", "127.0.0.1:0")
        .env("SDL_GATE_DATABASE_URL", &db)
        .env("SDL_GATE_POLL_INTERVAL_MS", "50")
        .env("SDL_GATE_SHUTDOWN_GRACE_SECS", "5")
        .env("SDL_GATE_GITHUB_APP_ID", APP_ID.to_string())
        .env("SDL_GATE_GITHUB_PRIVATE_KEY_PATH", &key)
        .env("SDL_GATE_GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
        .env("SDL_GATE_GITHUB_API_URL", &fake.url)
        .env("SDL_GATE_RECONCILE_INTERVAL", "15")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start sdl-gate serve: {e}"));
    let stderr = child.stderr.take();
    let log = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in stderr
            .map(BufReader::new)
            .into_iter()
            .flat_map(|r| r.lines().map_while(Result::ok))
        {
            if let Ok(mut l) = sink.lock() {
                l.push(line);
            }
        }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while fake
        .check_runs(REPO, &head, "sdl-gate")
        .iter()
        .all(|r| r.status != "completed")
    {
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "no check run from the start-up sweep; log:\n{}",
                log.lock().map(|l| l.join("\n")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill -TERM: {e}"));
    assert!(killed.success());
    let t = std::time::Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(
        fake.check_runs(REPO, &head, "sdl-gate")[0]
            .conclusion
            .as_deref(),
        Some("success")
    );
    let log = log.lock().map(|l| l.join("\n")).unwrap_or_default();
    assert!(log.contains("reconciliation sweep done"), "{log}");
    fake.assert_no_unknown();
}

/// The organisation's policy in `acme/.github`: its floor keeps `sast` at `high` with CodeQL.
const ORG_POLICY: &str = r#"
version: 1
floor:
  gates:
    sast:
      threshold: high
      checks: ["CodeQL"]
"#;

/// A repository policy that turns every gate off.
const ALL_OFF: &str = r#"
version: 1
gates:
  threat_model: { enabled: false }
  security_review: { enabled: false }
  sast: { enabled: false }
  dependencies: { enabled: false }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_org_floor_keeps_a_gate_the_repository_disabled_and_is_the_default_elsewhere() {
    let w = world().await;
    w.fake.put_file(
        "acme/.github",
        "main",
        "sdl-gate.yml",
        ORG_POLICY.as_bytes(),
    );
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", ALL_OFF.as_bytes());
    // acme/plc disabled sast; its CodeQL run failed: the floor keeps the gate, so it blocks.
    let red = sha(0x6001);
    PullBuilder::new(REPO, 61, "bob", &red)
        .file("src/main.rs")
        .install(&w.fake);
    w.fake
        .ci_run(REPO, &red, "CodeQL", "completed", Some("failure"));
    // The same with CodeQL green passes: the floor adds nothing else.
    let green = sha(0x6002);
    PullBuilder::new(REPO, 62, "bob", &green)
        .file("src/main.rs")
        .install(&w.fake);
    w.fake
        .ci_run(REPO, &green, "CodeQL", "completed", Some("success"));
    // acme/bare has no policy of its own: the organisation's applies (with its floor).
    let bare = sha(0x6003);
    PullBuilder::new("acme/bare", 63, "bob", &bare)
        .file("src/main.rs")
        .install(&w.fake);
    w.fake
        .ci_run("acme/bare", &bare, "CodeQL", "completed", Some("failure"));
    // beta's organisation policy does not load: fail closed, naming it and the error.
    w.fake.put_file(
        "beta/.github",
        "main",
        "sdl-gate.yml",
        b"version: 1\nfloor:\n  gates:\n    sast:\n      treshold: high\n",
    );
    w.fake.put_file(
        "beta/app",
        "main",
        ".github/sdl-gate.yml",
        ALL_OFF.as_bytes(),
    );
    let beta = sha(0x6004);
    PullBuilder::new("beta/app", 64, "bob", &beta)
        .file("src/main.rs")
        .install(&w.fake);
    for (repo, number, head) in [
        (REPO, 61, &red),
        (REPO, 62, &green),
        ("acme/bare", 63, &bare),
        ("beta/app", 64, &beta),
    ] {
        w.send("pull_request", &pull_event(repo, "opened", number, head))
            .await;
    }
    w.drain().await;

    let run = w.run(REPO, &red);
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{run:?}");
    assert!(
        run.title.as_deref().is_some_and(|t| t.contains("sast")),
        "{:?}",
        run.title
    );
    let kept = "the org floor keeps `sast` enabled (the repository disabled it)";
    let summary = run.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("Org floor") && summary.contains("acme/.github/sdl-gate.yml"),
        "{summary}"
    );
    assert!(summary.contains(kept), "{summary}");
    assert!(
        run.text.clone().unwrap_or_default().contains(kept),
        "the gate's own explanation says it too: {:?}",
        run.text
    );
    let comments = w.fake.comments(REPO, 61);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.contains(kept), "{}", comments[0].body);
    let verdicts = w.gate_verdicts(REPO, 61).await;
    assert_eq!(verdicts["sast"], "fail", "{verdicts}");
    assert_eq!(verdicts["threat_model"], "not_applicable", "{verdicts}");

    let run = w.run(REPO, &green);
    assert_eq!(run.conclusion.as_deref(), Some("success"), "{run:?}");

    let run = w.run("acme/bare", &bare);
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{run:?}");
    let summary = run.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("no sdl-gate policy of its own")
            && summary.contains("acme/.github/sdl-gate.yml"),
        "{summary}"
    );

    let run = w.run("beta/app", &beta);
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{run:?}");
    assert_eq!(
        run.title.as_deref(),
        Some("The organisation's sdl-gate policy cannot be used")
    );
    let summary = run.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("beta/.github/sdl-gate.yml:5:7") && summary.contains("treshold"),
        "names the file, the place and the error: {summary}"
    );

    // No extra request: the evaluation's GraphQL query reads the organisation's file, at its
    // default branch.
    let org_reads = w
        .fake
        .journal()
        .iter()
        .filter(|c| c.path.contains("/.github/contents/sdl-gate.yml"))
        .count();
    assert_eq!(org_reads, 0, "the query carries the org policy");
    w.stop().await;
}
