//! The GitHub App end to end through the service: signed `pull_request` webhooks in over real
//! HTTP, the durable queue, the GitHub processor with the real octocrab client against the
//! fake GitHub, and out come one `sdl-gate` check run, one sticky comment and a stored
//! evaluation — and a re-evaluation after an approval and a threat-model link turns it green.

mod fake_forge;
mod fake_github;
mod service_support;

use std::sync::Arc;
use std::time::Duration;

use fake_github::{APP_ID, FakeGithub, INSTALLATION, PullBuilder, TEST_KEY_PEM, sha};
use sdl_gate::engine::GithubProcessor;
use sdl_gate::forge::github::{GithubConfig, GithubForge};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::gates::OverallVerdict;
use secrecy::SecretString;
use service_support::{
    GITHUB_SECRET, config, fast_queue, open, send_github, spawn, sqlite_db, wait_drained,
};

const REPO: &str = "acme/plc";

const POLICY: &str = r##"
version: 1
security_paths: ["src/auth/**"]
gates:
  threat_model:
    paths: ["docs/threat-model/**"]
    link_patterns: ["https://tm.example.com/*"]
  security_review:
    approvals: 1
    reviewers: { teams: ["acme/security"] }
  sast:
    checks: ["CodeQL"]
waivers: { teams: ["acme/security"] }
"##;

fn delivery(number: u64, action: &str, head: &str) -> String {
    serde_json::json!({
        "action": action,
        "number": number,
        "pull_request": {"number": number, "head": {"sha": head}, "base": {"ref": "main"}},
        "repository": {"full_name": REPO, "id": 1, "default_branch": "main"},
        "installation": {"id": INSTALLATION}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_in_check_run_comment_and_stored_evaluation_out() {
    let fake = FakeGithub::start().await;
    let head = sha(0xe2e);
    PullBuilder::new(REPO, 21, "bob", &head)
        .file("src/auth/login.rs")
        .install(&fake);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    fake.ci_run(REPO, &head, "CodeQL", "completed", Some("success"));
    fake.team("acme", "security", &["carol"]);

    let db = sqlite_db();
    let store = open(&db).await;
    let mut cfg = GithubConfig::new(APP_ID, SecretString::from(TEST_KEY_PEM));
    cfg.api_url = fake.url.clone();
    cfg.timeout = fake_github::CLIENT_TIMEOUT;
    let forge = GithubForge::new(cfg).unwrap_or_else(|e| panic!("forge: {e}"));
    let processor = Arc::new(GithubProcessor::new(
        forge,
        store.clone(),
        Some("https://sdl.example.com".into()),
    ));
    let svc = spawn(store.clone(), processor, config(fast_queue(), 2)).await;
    let base = format!("http://{}", svc.addr);
    let client = reqwest::Client::new();

    // A burst of events for one pull request: one evaluation.
    for (i, action) in ["opened", "labeled", "synchronize", "edited"]
        .iter()
        .enumerate()
    {
        let (status, body) = send_github(
            &client,
            &base,
            GITHUB_SECRET,
            "pull_request",
            &format!("e2e-{i}"),
            &delivery(21, action, &head),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    let depth = wait_drained(&store, Duration::from_secs(30)).await;
    assert_eq!(depth.parked, 0, "no job parked");

    let runs = fake.check_runs(REPO, &head, "sdl-gate");
    assert_eq!(runs.len(), 1, "exactly one check run");
    assert_eq!(
        runs[0].conclusion.as_deref(),
        Some("failure"),
        "threat model missing, review missing"
    );
    assert_eq!(
        runs[0].details_url.as_deref(),
        Some("https://sdl.example.com/changes/github/acme/plc/21")
    );
    let comments = fake.comments(REPO, 21);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.starts_with("<!-- sdl-gate:summary -->"));
    let evals = store
        .evaluations(ForgeName::GitHub, REPO, 21, 10)
        .await
        .unwrap_or_default();
    assert!(!evals.is_empty(), "the evaluation is stored");
    assert_eq!(evals[0].verdict, OverallVerdict::Fail);

    // carol approves and the description links the threat model: the next event turns it green.
    {
        let mut st = fake.state();
        if let Some(pr) = st.repo(REPO).pulls.get_mut(&21) {
            pr.body = Some("Threat-Model: https://tm.example.com/mfa".into());
        }
    }
    {
        let mut st = fake.state();
        if let Some(pr) = st.repo(REPO).pulls.get_mut(&21) {
            pr.reviews.push(fake_github::ReviewRec {
                id: 99,
                user: "carol".into(),
                state: "APPROVED".into(),
                commit_id: head.clone(),
                submitted_at: chrono::Utc::now(),
            });
        }
    }
    let (status, _) = send_github(
        &client,
        &base,
        GITHUB_SECRET,
        "pull_request_review",
        "e2e-review",
        &delivery(21, "submitted", &head),
    )
    .await;
    assert_eq!(status, 202);
    wait_drained(&store, Duration::from_secs(30)).await;
    let runs = fake.check_runs(REPO, &head, "sdl-gate");
    assert_eq!(runs.len(), 1, "the same check run is updated");
    assert_eq!(runs[0].conclusion.as_deref(), Some("success"));
    let comments = fake.comments(REPO, 21);
    assert_eq!(
        comments.len(),
        1,
        "the sticky comment is edited, not duplicated"
    );
    assert!(
        comments[0].body.contains("All SDL gates pass"),
        "{}",
        comments[0].body
    );
    let evals = store
        .evaluations(ForgeName::GitHub, REPO, 21, 10)
        .await
        .unwrap_or_default();
    assert_eq!(evals.first().map(|e| e.verdict), Some(OverallVerdict::Pass));
    fake.assert_no_unknown();
    svc.shutdown().await;
}
