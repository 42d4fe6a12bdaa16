//! The GitLab merge request bot end to end through the service: GitLab webhooks
//! (`X-Gitlab-Token`, `Idempotency-Key`) in over real HTTP, the durable queue, the forge
//! dispatcher and the GitLab processor with the real `gitlab` crate client against the fake
//! GitLab, and out come the `sdl-gate` commit status, one sticky note, command replies and
//! award emoji, stored waivers and evaluations.
//!
//! Time: the processor and the waiver expiry scheduler read a [`Clock`] a test can shift
//! forward (a waiver's expiry is days away), as in `github_commands.rs`.

mod fake_forge;
mod fake_gitlab;
mod service_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::Utc;

use fake_gitlab::{BOT, BOT_TOKEN, FakeGitlab, sha};
use sdl_gate::engine::{Clock, ExpiryScheduler, ForgeProcessor, GitlabProcessor};
use sdl_gate::forge::gitlab::{GitlabConfig, connect};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::gates::OverallVerdict;
use sdl_gate::server::RunningService;
use sdl_gate::store::Store;
use secrecy::SecretString;
use serde_json::{Value, json};
use service_support::{
    GITLAB_TOKEN, TestDb, config, fast_queue, open, spawn, sqlite_db, wait_drained,
};

const PROJECT: &str = "acme/plc";

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
    checks: ["semgrep-sast"]
    threshold: high
waivers:
  min_permission: maintain
"##;

/// A GitLab SAST report with one finding of `severity` in `file`, or none.
fn sast_report(finding: Option<(&str, &str)>) -> Vec<u8> {
    let vulns: Vec<Value> = finding
        .into_iter()
        .map(|(severity, file)| {
            json!({
                "id": "5d2a4f1c", "category": "sast", "name": "SQL injection in login",
                "description": "User input reaches a SQL query.", "severity": severity,
                "scanner": {"id": "semgrep", "name": "Semgrep"},
                "location": {"file": file, "start_line": 2, "end_line": 2},
                "identifiers": [{"type": "cwe", "name": "CWE-89", "value": "89"}]
            })
        })
        .collect();
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
    .into_bytes()
}

struct Bot {
    fake: FakeGitlab,
    store: Store,
    svc: RunningService,
    client: reqwest::Client,
    /// Milliseconds the service's clock runs ahead of the system clock.
    offset: Arc<AtomicI64>,
    _scheduler: ExpiryScheduler,
    _db: TestDb,
}

impl Bot {
    async fn start(fake: FakeGitlab) -> Bot {
        let db = sqlite_db();
        let store = open(&db).await;
        let mut cfg = GitlabConfig::new(fake.url.clone(), SecretString::from(BOT_TOKEN));
        cfg.timeout = Duration::from_secs(5);
        let forge = connect(cfg)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        assert_eq!(
            forge.bot().as_str(),
            BOT,
            "the bot learns its own name from GET /user"
        );
        let offset = Arc::new(AtomicI64::new(0));
        let o = Arc::clone(&offset);
        let clock = Clock::from_fn(move || {
            Utc::now() + chrono::Duration::milliseconds(o.load(Ordering::SeqCst))
        });
        // A 50 ms tick: a moved clock is noticed at once rather than within the minute.
        let (scheduler, handle) = ExpiryScheduler::spawn(
            store.clone(),
            clock.clone(),
            Duration::from_millis(50),
            Vec::new(),
        );
        let processor = Arc::new(ForgeProcessor {
            github: None,
            gitlab: Some(
                GitlabProcessor::new(forge, store.clone(), Some("https://sdl.example.com".into()))
                    .with_clock(clock)
                    .with_expiry(handle),
            ),
        });
        let svc = spawn(store.clone(), processor, config(fast_queue(), 2)).await;
        Bot {
            fake,
            store,
            svc,
            client: reqwest::Client::new(),
            offset,
            _scheduler: scheduler,
            _db: db,
        }
    }

    /// Moves the service's clock forward by `by`.
    fn advance(&self, by: chrono::Duration) {
        self.offset
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }

    /// Sends one GitLab delivery and waits until the queue is drained.
    async fn hook(&self, event: &str, key: &str, body: &Value) {
        let resp = self
            .client
            .post(format!("http://{}/webhooks/gitlab", self.svc.addr))
            .header("content-type", "application/json")
            .header("x-gitlab-token", GITLAB_TOKEN)
            .header("x-gitlab-event", event)
            .header("idempotency-key", key)
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("send {event}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert!(
            (200..300).contains(&status),
            "{event} {key}: {status} {text}"
        );
        let depth = wait_drained(&self.store, Duration::from_secs(30)).await;
        assert_eq!(depth.parked, 0, "no job parked after {event} {key}");
    }

    /// The newest `sdl-gate` status on `head`.
    fn status(&self, head: &str) -> fake_gitlab::StatusRec {
        self.fake
            .statuses(PROJECT, head, "sdl-gate")
            .pop()
            .unwrap_or_else(|| panic!("no sdl-gate status on {head}"))
    }

    /// The bot's sticky notes on the merge request.
    fn sticky(&self, iid: u64) -> Vec<fake_gitlab::NoteRec> {
        self.fake
            .bot_notes(PROJECT, iid)
            .into_iter()
            .filter(|n| n.body.starts_with("<!-- sdl-gate:summary -->"))
            .collect()
    }

    async fn latest_verdict(&self, iid: u64) -> (OverallVerdict, Value) {
        let evals = self
            .store
            .evaluations(ForgeName::GitLab, PROJECT, iid, 50)
            .await
            .unwrap_or_else(|e| panic!("evaluations: {e}"));
        let newest = evals
            .into_iter()
            .max_by_key(|e| e.id)
            .unwrap_or_else(|| panic!("no evaluation stored for !{iid}"));
        (newest.verdict, newest.result)
    }
}

fn gate_verdict(result: &Value, gate: &str) -> String {
    result["gates"]
        .as_array()
        .and_then(|gates| gates.iter().find(|g| g["gate"] == gate))
        .and_then(|g| g["verdict"].as_str())
        .unwrap_or("absent")
        .to_string()
}

fn mr_hook(iid: u64, action: &str, head: &str) -> Value {
    json!({
        "object_kind": "merge_request", "event_type": "merge_request",
        "user": {"id": 1, "username": "bob", "name": "Bob"},
        "project": {"id": 50, "path_with_namespace": PROJECT, "default_branch": "main"},
        "object_attributes": {"iid": iid, "action": action, "state": "opened",
            "target_branch": "main", "source_branch": format!("feature-{iid}"),
            "last_commit": {"id": head}}
    })
}

fn note_hook(iid: u64, note_id: u64, user: &str, body: &str) -> Value {
    json!({
        "object_kind": "note", "event_type": "note",
        "user": {"id": 2, "username": user, "name": user},
        "project": {"id": 50, "path_with_namespace": PROJECT},
        "object_attributes": {"id": note_id, "note": body, "noteable_type": "MergeRequest",
            "action": "create", "system": false,
            "created_at": "2026-11-27 10:00:00 UTC", "updated_at": "2026-11-27 10:00:00 UTC"},
        "merge_request": {"iid": iid}
    })
}

fn pipeline_hook(iid: u64, pipeline: u64, status: &str, head: &str) -> Value {
    json!({
        "object_kind": "pipeline",
        "project": {"id": 50, "path_with_namespace": PROJECT},
        "object_attributes": {"id": pipeline, "status": status, "sha": head, "ref": format!("feature-{iid}")},
        "merge_request": {"iid": iid}
    })
}

fn post_notes(fake: &FakeGitlab) -> usize {
    fake.journal()
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/notes"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_request_from_red_to_green_through_approvals_and_a_maintainers_waiver() {
    let fake = FakeGitlab::start().await;
    let head = sha(0x61);
    fake.merge_request(PROJECT, 7, "bob", &head, &["src/auth/login.rs"]);
    fake.put_file(PROJECT, "main", ".gitlab/sdl-gate.yml", POLICY.as_bytes());
    fake.pipeline_with_report(
        PROJECT,
        7,
        "semgrep-sast",
        "sast",
        "gl-sast-report.json",
        &sast_report(None),
    );
    // bob is in the security group too: only the rule against own approvals keeps his out.
    fake.group("acme/security", &["dave", "bob"]);
    fake.member(PROJECT, "bob", 30);
    fake.member(PROJECT, "carol", 40);
    let bot = Bot::start(fake).await;

    // Opened without a threat model, delivered twice with one Idempotency-Key.
    bot.hook(
        "Merge Request Hook",
        "mr-7-open",
        &mr_hook(7, "open", &head),
    )
    .await;
    bot.hook(
        "Merge Request Hook",
        "mr-7-open",
        &mr_hook(7, "open", &head),
    )
    .await;
    let statuses = bot.fake.statuses(PROJECT, &head, "sdl-gate");
    assert_eq!(
        statuses.first().map(|s| s.status.as_str()),
        Some("pending"),
        "pending while evaluating"
    );
    let st = bot.status(&head);
    assert_eq!(st.status, "failed");
    let desc = st.description.clone().unwrap_or_default();
    assert!(
        desc.contains("threat_model"),
        "the description names the blocking gate: {desc}"
    );
    assert!(desc.chars().count() <= 255);
    assert_eq!(
        st.target_url.as_deref(),
        Some("https://sdl.example.com/changes/gitlab/acme/plc/7")
    );
    assert_eq!(bot.sticky(7).len(), 1, "one sticky note");
    assert_eq!(
        post_notes(&bot.fake),
        1,
        "the duplicate delivery posted no second note"
    );
    let evaluations = bot
        .store
        .evaluations(ForgeName::GitLab, PROJECT, 7, 50)
        .await
        .unwrap_or_default();
    assert_eq!(
        evaluations.len(),
        1,
        "the duplicate delivery was not evaluated again"
    );
    let (verdict, result) = bot.latest_verdict(7).await;
    assert_eq!(verdict, OverallVerdict::Fail);
    assert_eq!(
        gate_verdict(&result, "sast"),
        "pass",
        "the clean SAST report and job count: {result}"
    );

    // The author approves their own merge request: it does not count.
    bot.fake.approve(PROJECT, 7, "bob");
    bot.hook(
        "Merge Request Hook",
        "mr-7-approved-bob",
        &mr_hook(7, "approved", &head),
    )
    .await;
    let (_, result) = bot.latest_verdict(7).await;
    assert_ne!(
        gate_verdict(&result, "security_review"),
        "pass",
        "own approval counted: {result}"
    );
    assert_eq!(bot.status(&head).status, "failed");

    // dave, of acme/security, approves: the review gate passes; the threat model still blocks.
    bot.fake.approve(PROJECT, 7, "dave");
    bot.hook(
        "Merge Request Hook",
        "mr-7-approved-dave",
        &mr_hook(7, "approved", &head),
    )
    .await;
    let (verdict, result) = bot.latest_verdict(7).await;
    assert_eq!(gate_verdict(&result, "security_review"), "pass", "{result}");
    assert_eq!(verdict, OverallVerdict::Fail);
    assert_eq!(bot.status(&head).status, "failed");

    // The author tries to waive: refused, 😕 and a reply saying why.
    let text = "/sdl waive threat_model The platform threat model TM-12 covers the login flow";
    let own = bot.fake.human_note(PROJECT, 7, "bob", text);
    bot.hook("Note Hook", "note-own", &note_hook(7, own, "bob", text))
        .await;
    let awards: Vec<String> = bot
        .fake
        .note(PROJECT, own)
        .map(|n| n.awards.into_iter().map(|a| a.0).collect())
        .unwrap_or_default();
    assert!(
        awards.contains(&"eyes".to_string()) && awards.contains(&"confused".to_string()),
        "{awards:?}"
    );
    assert!(
        bot.fake
            .bot_notes(PROJECT, 7)
            .iter()
            .any(|n| n.body.contains("Refused") && n.body.contains("author")),
        "a refusal reply names the rule"
    );
    assert!(
        bot.store
            .waivers(ForgeName::GitLab, PROJECT, 7)
            .await
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(bot.status(&head).status, "failed");

    // carol, a maintainer, waives: stored, acknowledged, and the merge request passes.
    let waive = bot.fake.human_note(PROJECT, 7, "carol", text);
    bot.hook(
        "Note Hook",
        "note-waive",
        &note_hook(7, waive, "carol", text),
    )
    .await;
    let waivers = bot
        .store
        .waivers(ForgeName::GitLab, PROJECT, 7)
        .await
        .unwrap_or_default();
    assert_eq!(waivers.len(), 1, "one waiver stored");
    assert_eq!(waivers[0].waiver.author.as_str(), "carol");
    assert_eq!(waivers[0].waiver.comment_id, Some(waive));
    let awards: Vec<String> = bot
        .fake
        .note(PROJECT, waive)
        .map(|n| n.awards.into_iter().map(|a| a.0).collect())
        .unwrap_or_default();
    assert!(
        awards.contains(&"eyes".to_string()) && awards.contains(&"thumbsup".to_string()),
        "{awards:?}"
    );
    let st = bot.status(&head);
    assert_eq!(st.status, "success", "{:?}", st.description);
    let (verdict, result) = bot.latest_verdict(7).await;
    assert_eq!(verdict, OverallVerdict::Pass);
    assert_eq!(gate_verdict(&result, "threat_model"), "waived");
    let sticky = bot.sticky(7);
    assert_eq!(sticky.len(), 1, "the sticky note is edited in place");
    assert!(sticky[0].updated > 0);

    // GitLab retries the note delivery: nothing happens twice.
    let evals_before = bot
        .store
        .evaluations(ForgeName::GitLab, PROJECT, 7, 50)
        .await
        .unwrap_or_default()
        .len();
    let notes_before = bot.fake.bot_notes(PROJECT, 7).len();
    let posts_before = post_notes(&bot.fake);
    bot.hook(
        "Note Hook",
        "note-waive",
        &note_hook(7, waive, "carol", text),
    )
    .await;
    assert_eq!(
        bot.store
            .waivers(ForgeName::GitLab, PROJECT, 7)
            .await
            .unwrap_or_default()
            .len(),
        1
    );
    assert_eq!(bot.fake.bot_notes(PROJECT, 7).len(), notes_before);
    assert_eq!(post_notes(&bot.fake), posts_before);
    let evals_after = bot
        .store
        .evaluations(ForgeName::GitLab, PROJECT, 7, 50)
        .await
        .unwrap_or_default()
        .len();
    assert_eq!(
        evals_after, evals_before,
        "the retried delivery was deduplicated"
    );

    // carol edits the note that granted the waiver: the waiver is revoked and it blocks again.
    let mut edited = note_hook(7, waive, "carol", "(edited)");
    edited["object_attributes"]["action"] = json!("update");
    bot.hook("Note Hook", "note-waive-edit", &edited).await;
    let waivers = bot
        .store
        .waivers(ForgeName::GitLab, PROJECT, 7)
        .await
        .unwrap_or_default();
    assert!(
        waivers[0].waiver.revoked.is_some(),
        "the edited note's waiver is revoked"
    );
    assert_eq!(bot.status(&head).status, "failed");
    assert_eq!(bot.sticky(7).len(), 1);
    bot.fake.assert_no_unknown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_with_a_failing_sast_report_blocks_and_a_clean_one_passes() {
    let fake = FakeGitlab::start().await;
    let head = sha(0x62);
    fake.merge_request(PROJECT, 8, "bob", &head, &["src/api/handler.rs"]);
    fake.put_file(PROJECT, "main", ".gitlab/sdl-gate.yml", POLICY.as_bytes());
    let bad = sast_report(Some(("Critical", "src/api/handler.rs")));
    let p1 = fake.pipeline_with_report(
        PROJECT,
        8,
        "semgrep-sast",
        "sast",
        "gl-sast-report.json",
        &bad,
    );
    let bot = Bot::start(fake).await;
    let before = bot.fake.journal().len();

    bot.hook(
        "Pipeline Hook",
        "pipeline-1",
        &pipeline_hook(8, p1, "success", &head),
    )
    .await;
    let calls = bot.fake.journal()[before..].to_vec();
    let writes = calls.iter().filter(|c| c.method != "GET").count();
    eprintln!(
        "one first evaluation of a 1-file merge request with one report: {} requests ({writes} writes):\n{}",
        calls.len(),
        calls
            .iter()
            .map(|c| c.line())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let st = bot.status(&head);
    assert_eq!(st.status, "failed");
    assert!(
        st.description
            .as_deref()
            .unwrap_or_default()
            .contains("sast"),
        "{:?}",
        st.description
    );
    let sticky = bot.sticky(8);
    assert_eq!(sticky.len(), 1);
    assert!(
        sticky[0].body.contains("SQL injection in login"),
        "the finding is shown: {}",
        sticky[0].body
    );
    let (verdict, result) = bot.latest_verdict(8).await;
    assert_eq!(verdict, OverallVerdict::Fail);
    assert_eq!(gate_verdict(&result, "sast"), "fail", "{result}");

    // A new pipeline on the same commit with a clean report: green, same note.
    let p2 = bot.fake.pipeline_with_report(
        PROJECT,
        8,
        "semgrep-sast",
        "sast",
        "gl-sast-report.json",
        &sast_report(None),
    );
    bot.hook(
        "Pipeline Hook",
        "pipeline-2",
        &pipeline_hook(8, p2, "success", &head),
    )
    .await;
    assert_eq!(bot.status(&head).status, "success");
    assert_eq!(
        bot.sticky(8).len(),
        1,
        "the sticky note is kept current, not duplicated"
    );
    let (verdict, _) = bot.latest_verdict(8).await;
    assert_eq!(verdict, OverallVerdict::Pass);
    bot.fake.assert_no_unknown();
}

/// A waiver ends without any GitLab event: the expiry scheduler enqueues the merge request at
/// the waiver's expiry and the bot turns the status red again by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_waiver_turns_the_status_red_again_without_any_hook() {
    let fake = FakeGitlab::start().await;
    let head = sha(0x66);
    // Outside the security paths, so only the SAST finding blocks and waiving it passes.
    fake.merge_request(PROJECT, 12, "bob", &head, &["src/api/handler.rs"]);
    fake.put_file(PROJECT, "main", ".gitlab/sdl-gate.yml", POLICY.as_bytes());
    let pipeline = fake.pipeline_with_report(
        PROJECT,
        12,
        "semgrep-sast",
        "sast",
        "gl-sast-report.json",
        &sast_report(Some(("Critical", "src/api/handler.rs"))),
    );
    fake.member(PROJECT, "carol", 40);
    let bot = Bot::start(fake).await;
    bot.hook(
        "Pipeline Hook",
        "pipeline-12",
        &pipeline_hook(12, pipeline, "success", &head),
    )
    .await;
    assert_eq!(bot.status(&head).status, "failed");

    // carol, a maintainer, waives the SAST gate for one day: green.
    let text = "/sdl waive sast --for 1d The injection is unreachable behind the admin proxy";
    let waive = bot.fake.human_note(PROJECT, 12, "carol", text);
    bot.hook(
        "Note Hook",
        "note-waive-12",
        &note_hook(12, waive, "carol", text),
    )
    .await;
    let st = bot.status(&head);
    assert_eq!(st.status, "success", "{:?}", st.description);
    let (_, result) = bot.latest_verdict(12).await;
    assert_eq!(gate_verdict(&result, "sast"), "waived", "{result}");

    // Half a day later nothing changes.
    bot.advance(chrono::Duration::hours(12));
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_drained(&bot.store, Duration::from_secs(30)).await;
    assert_eq!(
        bot.status(&head).status,
        "success",
        "still waived after half a day"
    );

    // Past the day, with no hook sent, the status turns red again.
    bot.advance(chrono::Duration::hours(12) + chrono::Duration::minutes(1));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while bot.status(&head).status != "failed" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expiry did not re-evaluate the merge request: {:?}",
            bot.status(&head)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let depth = wait_drained(&bot.store, Duration::from_secs(30)).await;
    assert_eq!(depth.parked, 0);
    let (verdict, result) = bot.latest_verdict(12).await;
    assert_eq!(verdict, OverallVerdict::Fail);
    assert_eq!(gate_verdict(&result, "sast"), "fail", "{result}");
    let sticky = bot.sticky(12);
    assert_eq!(sticky.len(), 1, "the sticky note is edited in place");
    assert!(
        sticky[0].body.contains("the waiver by carol expired on"),
        "the note says the waiver expired: {}",
        sticky[0].body
    );
    bot.fake.assert_no_unknown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_refused_at_connect() {
    let fake = FakeGitlab::start().await;
    let cfg = GitlabConfig::new(fake.url.clone(), SecretString::from("wrong"));
    match connect(cfg).await {
        Err(sdl_gate::forge::ForgeError::Unauthorized { what }) => {
            assert!(!what.contains("wrong"), "the token is not echoed: {what}")
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_publish_once() {
    let fake = FakeGitlab::start().await;
    let head = sha(0x63);
    fake.merge_request(PROJECT, 9, "bob", &head, &["src/auth/login.rs"]);
    fake.put_file(PROJECT, "main", ".gitlab/sdl-gate.yml", POLICY.as_bytes());
    // The first diff listing fails with 502; the job is retried.
    fake.fault(
        None,
        "/merge_requests/9/diffs",
        1,
        fake_gitlab::FaultKind::Status(502),
    );
    let bot = Bot::start(fake).await;
    bot.hook(
        "Merge Request Hook",
        "mr-9-open",
        &mr_hook(9, "open", &head),
    )
    .await;
    assert_eq!(bot.status(&head).status, "failed");
    assert_eq!(bot.sticky(9).len(), 1);
    let diffs = bot
        .fake
        .journal()
        .iter()
        .filter(|c| c.path.ends_with("/merge_requests/9/diffs"))
        .count();
    assert_eq!(diffs, 2, "one failed attempt and one retry");
    bot.fake.assert_no_unknown();
}

/// `sdl-gate serve` itself, configured for GitLab only through its environment: it connects
/// to the fake GitLab at start-up and evaluates a merge request from a webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_gitlab_settings_evaluates_merge_requests() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let fake = FakeGitlab::start().await;
    let head = sha(0x64);
    fake.merge_request(PROJECT, 10, "bob", &head, &["src/auth/login.rs"]);
    fake.put_file(PROJECT, "main", ".gitlab/sdl-gate.yml", POLICY.as_bytes());
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));

    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("SDL_GATE_LISTEN", "127.0.0.1:0")
            .env("SDL_GATE_DATABASE_URL", &db.url)
            .env("SDL_GATE_DEBOUNCE_MS", "20")
            .env("SDL_GATE_POLL_INTERVAL_MS", "50")
            .env("SDL_GATE_GITLAB_URL", &fake.url)
            .env("SDL_GATE_GITLAB_TOKEN", BOT_TOKEN)
            .env("SDL_GATE_GITLAB_WEBHOOK_SECRET", GITLAB_TOKEN)
            .env("SDL_GATE_PUBLIC_URL", "https://sdl.example.com")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start sdl-gate serve: {e}")),
    );
    let stderr = child.0.stderr.take().unwrap_or_else(|| panic!("stderr"));
    let (tx, rx) = std::sync::mpsc::channel();
    let leaked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let leak_flag = Arc::clone(&leaked);
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(BOT_TOKEN) || line.contains(GITLAB_TOKEN) {
                leak_flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            if let Some(pos) = line.find("listening on http://")
                && let Some(tx) = tx.take()
            {
                let addr = line[pos + "listening on http://".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("sdl-gate serve did not report its address: {e}"));

    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/gitlab"))
        .header("content-type", "application/json")
        .header("x-gitlab-token", GITLAB_TOKEN)
        .header("x-gitlab-event", "Merge Request Hook")
        .header("idempotency-key", "serve-mr-10")
        .body(mr_hook(10, "open", &head).to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
    assert!(resp.status().is_success(), "{}", resp.status());

    // Wait (bounded) for the worker to publish.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done = fake
            .statuses(PROJECT, &head, "sdl-gate")
            .last()
            .is_some_and(|s| s.status != "pending")
            // The status is written before the note: wait for both.
            && !fake.bot_notes(PROJECT, 10).is_empty();
        if done || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let st = fake
        .statuses(PROJECT, &head, "sdl-gate")
        .pop()
        .unwrap_or_else(|| panic!("serve published no status"));
    assert_eq!(st.status, "failed");
    assert_eq!(
        st.target_url.as_deref(),
        Some("https://sdl.example.com/changes/gitlab/acme/plc/10")
    );
    assert_eq!(fake.bot_notes(PROJECT, 10).len(), 1);
    assert!(
        fake.journal().iter().any(|c| c.path == "/api/v4/user"),
        "serve checked the token at start-up"
    );
    assert!(
        !leaked.load(std::sync::atomic::Ordering::SeqCst),
        "a token appeared in the service's log"
    );
    fake.assert_no_unknown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_request_is_retried_after_the_wait_gitlab_asks_for() {
    let fake = FakeGitlab::start().await;
    let head = sha(0x65);
    fake.merge_request(PROJECT, 11, "bob", &head, &["src/auth/login.rs"]);
    fake.put_file(PROJECT, "main", ".gitlab/sdl-gate.yml", POLICY.as_bytes());
    fake.fault(
        Some(axum::http::Method::GET),
        "/merge_requests/11/approvals",
        1,
        fake_gitlab::FaultKind::TooManyRequests { retry_after: 1 },
    );
    let bot = Bot::start(fake).await;
    bot.hook(
        "Merge Request Hook",
        "mr-11-open",
        &mr_hook(11, "open", &head),
    )
    .await;
    let journal = bot.fake.journal();
    assert!(
        journal.iter().any(|c| c.status == 429),
        "the fault fired: {:?}",
        journal.iter().map(|c| c.line()).collect::<Vec<_>>()
    );
    assert_eq!(bot.status(&head).status, "failed");
    assert_eq!(bot.sticky(11).len(), 1, "one note despite the retry");
    bot.fake.assert_no_unknown();
}

/// The group's policy project: its `sdl-gate.yml` (read at the default branch, `ref=HEAD`) is
/// the floor of every project's policy and the policy of a project without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_policy_project_floors_and_defaults_merge_requests() {
    use sdl_gate::engine::{Outcome, Records, evaluate_change};
    use sdl_gate::forge::ChangeRef;
    use sdl_gate::gates::{GateKind, Verdict};

    let fake = FakeGitlab::start().await;
    fake.put_file(
        "acme/policies",
        "main",
        "sdl-gate.yml",
        b"version: 1\nfloor:\n  gates:\n    sast:\n      threshold: high\n",
    );
    fake.put_file(
        PROJECT,
        "main",
        ".gitlab/sdl-gate.yml",
        b"version: 1\ngates:\n  threat_model: {enabled: false}\n  security_review: {enabled: false}\n  sast: {enabled: false, threshold: critical}\n  dependencies: {enabled: false}\n",
    );
    let head = sha(0x71);
    fake.merge_request(PROJECT, 9, "bob", &head, &["src/api/handler.rs"]);
    let bad = sast_report(Some(("High", "src/api/handler.rs")));
    fake.pipeline_with_report(
        PROJECT,
        9,
        "semgrep-sast",
        "sast",
        "gl-sast-report.json",
        &bad,
    );
    let bare_head = sha(0x72);
    fake.merge_request("acme/bare", 3, "bob", &bare_head, &["src/x.rs"]);

    let mut cfg = GitlabConfig::new(fake.url.clone(), SecretString::from(BOT_TOKEN));
    cfg.timeout = Duration::from_secs(5);
    cfg.policy_project = Some("acme/policies".into());
    let forge = connect(cfg)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));

    let out = evaluate_change(
        &forge,
        &ChangeRef::new(PROJECT, 9, None),
        &Records::default(),
        Utc::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("evaluate: {e}"));
    let Outcome::Evaluated { evaluation, .. } = out else {
        panic!("not evaluated: {out:?}")
    };
    assert_eq!(
        evaluation.gate(GateKind::Sast).map(|g| g.verdict),
        Some(Verdict::Fail),
        "the floor keeps sast, at high: {evaluation:?}"
    );
    let org = evaluation
        .org_policy
        .clone()
        .unwrap_or_else(|| panic!("no org policy"));
    assert_eq!(org.location, "acme/policies/sdl-gate.yml");
    assert!(!org.as_default);
    let notes: Vec<String> = org.floor.iter().map(|n| n.message.clone()).collect();
    assert!(
        notes.contains(&"the org floor keeps `sast` enabled (the repository disabled it)".into()),
        "{notes:?}"
    );
    assert!(
        notes.contains(
            &"the org floor keeps `sast` at threshold `high` (the repository asked `critical`)"
                .into()
        ),
        "{notes:?}"
    );
    assert!(
        fake.journal().iter().any(|c| c
            .path
            .contains("/projects/acme%2Fpolicies/repository/files/sdl-gate.yml")
            && c.query.contains("ref=HEAD")),
        "read at the default branch"
    );

    // A project without a policy of its own takes the group's.
    let out = evaluate_change(
        &forge,
        &ChangeRef::new("acme/bare", 3, None),
        &Records::default(),
        Utc::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("evaluate: {e}"));
    let Outcome::Evaluated { evaluation, .. } = out else {
        panic!("not evaluated: {out:?}")
    };
    assert!(evaluation.org_policy.as_ref().is_some_and(|o| o.as_default));
    fake.assert_no_unknown();
}
