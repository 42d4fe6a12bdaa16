//! `/sdl` comment commands end to end: signed `issue_comment` webhooks in over real HTTP, the
//! durable queue on a real SQLite file, the GitHub processor with the real octocrab client
//! against the fake GitHub, and out come reactions, replies, waivers and the `sdl-gate` check
//! run turning green or red.
//!
//! Time: the processor and the expiry scheduler read a [`Clock`] the tests shift forward (a
//! waiver's expiry is days away). tokio's paused time is not used here: with real HTTP and
//! sqlx connection pools under a paused clock their timeouts fire at once; the scheduler's
//! timing itself is tested under `tokio::time::pause` in `src/engine/expiry.rs`.

mod fake_forge;
mod fake_github;
mod service_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::Utc;
use fake_github::{
    APP_ID, APP_SLUG, CommentRec, FakeGithub, FaultKind, INSTALLATION, PullBuilder, TEST_KEY_PEM,
    sha,
};
use sdl_gate::engine::{Clock, ExpiryScheduler, GithubProcessor};
use sdl_gate::forge::github::{GithubConfig, GithubForge};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::gates::GateKind;
use sdl_gate::server::RunningService;
use sdl_gate::store::Store;
use secrecy::SecretString;
use serde_json::{Value, json};
use service_support::{
    FIXTURES, GITHUB_SECRET, TestDb, config, fast_queue, open, send_github, spawn, sqlite_db,
    wait_drained,
};

const REPO: &str = "acme/plc";
const PR: u64 = 31;

/// Only the SAST gate, so that waiving it turns the check green; security reviewers (and
/// maintainers) may waive for at most 14 days with a reason of 20 characters or more.
const POLICY: &str = r##"
version: 1
security_paths: ["src/auth/**"]
gates:
  threat_model: { enabled: false }
  security_review: { enabled: false }
  dependencies: { enabled: false }
  sast:
    checks: ["CodeQL"]
waivers:
  teams: ["acme/security"]
  min_permission: maintain
  max_days: 14
  min_reason_length: 20
"##;

/// One running service with its fake GitHub, store and shiftable clock.
struct Env {
    fake: FakeGithub,
    store: Store,
    svc: Option<RunningService>,
    scheduler: Option<ExpiryScheduler>,
    base: String,
    client: reqwest::Client,
    head: String,
    /// Milliseconds the service's clock runs ahead of the system clock.
    offset: Arc<AtomicI64>,
    deliveries: usize,
    _db: TestDb,
}

impl Env {
    async fn start(policy: &str) -> Env {
        Env::start_in_org(policy, None).await
    }

    /// [`Env::start`] with the organisation's policy (`acme/.github`'s `sdl-gate.yml`) in
    /// place from the first evaluation on.
    async fn start_in_org(policy: &str, org_policy: Option<&str>) -> Env {
        let fake = FakeGithub::start().await;
        if let Some(org) = org_policy {
            fake.put_file("acme/.github", "main", "sdl-gate.yml", org.as_bytes());
        }
        let head = sha(0xc0de);
        PullBuilder::new(REPO, PR, "bob", &head)
            .file("src/auth/login.rs")
            .install(&fake);
        fake.put_file(REPO, "main", ".github/sdl-gate.yml", policy.as_bytes());
        fake.ci_run(REPO, &head, "CodeQL", "completed", Some("failure"));
        fake.team("acme", "security", &["carol"]);
        fake.collaborator(REPO, "dave", "maintain");
        fake.collaborator(REPO, "mallory", "write");

        let db = sqlite_db();
        let store = open(&db).await;
        let offset = Arc::new(AtomicI64::new(0));
        let mut env = Env {
            fake,
            store,
            svc: None,
            scheduler: None,
            base: String::new(),
            client: reqwest::Client::new(),
            head,
            offset,
            deliveries: 0,
            _db: db,
        };
        env.start_service().await;
        env.opened().await;
        env
    }

    /// Starts the service (and its expiry scheduler, loaded from the store as `serve` does
    /// at start-up) on the environment's store, fake and clock.
    async fn start_service(&mut self) {
        let o = Arc::clone(&self.offset);
        let clock = Clock::from_fn(move || {
            Utc::now() + chrono::Duration::milliseconds(o.load(Ordering::SeqCst))
        });
        let mut cfg = GithubConfig::new(APP_ID, SecretString::from(TEST_KEY_PEM));
        cfg.api_url = self.fake.url.clone();
        cfg.timeout = fake_github::CLIENT_TIMEOUT;
        let forge = GithubForge::new(cfg).unwrap_or_else(|e| panic!("forge: {e}"));
        let dues = sdl_gate::engine::expiry::load(&self.store, clock.now())
            .await
            .unwrap_or_else(|e| panic!("loading expiries: {e}"));
        let (scheduler, handle) = ExpiryScheduler::spawn(
            self.store.clone(),
            clock.clone(),
            Duration::from_millis(50),
            dues,
        );
        let processor = Arc::new(
            GithubProcessor::new(forge, self.store.clone(), None)
                .with_clock(clock)
                .with_expiry(handle),
        );
        let svc = spawn(self.store.clone(), processor, config(fast_queue(), 2)).await;
        self.base = format!("http://{}", svc.addr);
        self.svc = Some(svc);
        self.scheduler = Some(scheduler);
    }

    /// Stops the service and its scheduler; the store and the fake stay.
    async fn stop_service(&mut self) {
        if let Some(svc) = self.svc.take() {
            svc.shutdown().await;
        }
        if let Some(s) = self.scheduler.take() {
            s.shutdown().await;
        }
    }

    async fn send(&mut self, event: &str, body: &Value) -> String {
        self.deliveries += 1;
        let id = format!("cmd-{}-{}", event, self.deliveries);
        self.send_as(event, &id, body, 202).await;
        id
    }

    async fn send_as(&self, event: &str, delivery: &str, body: &Value, expect: u16) {
        let (status, text) = send_github(
            &self.client,
            &self.base,
            GITHUB_SECRET,
            event,
            delivery,
            &body.to_string(),
        )
        .await;
        assert_eq!(status, expect, "{event} {delivery}: {text}");
        self.drained().await;
    }

    async fn drained(&self) {
        let depth = wait_drained(&self.store, Duration::from_secs(30)).await;
        assert_eq!(depth.parked, 0, "no job parked");
    }

    async fn opened(&mut self) {
        let body = json!({
            "action": "opened", "number": PR,
            "pull_request": {"number": PR, "head": {"sha": self.head}, "base": {"ref": "main"}},
            "repository": {"full_name": REPO, "id": 1, "default_branch": "main"},
            "installation": {"id": INSTALLATION}
        });
        self.send("pull_request", &body).await;
        assert_eq!(
            self.conclusion(),
            Some("failure".into()),
            "CodeQL fails: sast blocks"
        );
    }

    /// Posts `body` as `user` on the fake and delivers the `created` webhook.
    async fn comment(&mut self, user: &str, body: &str) -> CommentRec {
        self.comment_delivered(user, body).await.0
    }

    /// [`Env::comment`], with the delivery id used.
    async fn comment_delivered(&mut self, user: &str, body: &str) -> (CommentRec, String) {
        let c = self.fake.post_comment(REPO, PR, user, body);
        let payload = comment_payload("created", &c, None);
        let id = self.send("issue_comment", &payload).await;
        (c, id)
    }

    fn conclusion(&self) -> Option<String> {
        let runs = self.fake.check_runs(REPO, &self.head, "sdl-gate");
        assert_eq!(runs.len(), 1, "one sdl-gate check run");
        runs[0].conclusion.clone()
    }

    fn check_text(&self) -> String {
        let runs = self.fake.check_runs(REPO, &self.head, "sdl-gate");
        runs.first()
            .map(|r| {
                format!(
                    "{}\n{}\n{}",
                    r.title.clone().unwrap_or_default(),
                    r.summary.clone().unwrap_or_default(),
                    r.text.clone().unwrap_or_default()
                )
            })
            .unwrap_or_default()
    }

    fn reactions(&self, c: &CommentRec) -> Vec<String> {
        self.fake
            .reactions(REPO, c.id)
            .into_iter()
            .map(|(user, content)| {
                assert_eq!(user, format!("{APP_SLUG}[bot]"), "reactions are the App's");
                content
            })
            .collect()
    }

    /// The App's replies to comment `c` (found by the marker that starts them).
    fn replies_to(&self, c: &CommentRec) -> Vec<String> {
        let marker = format!("<!-- sdl-gate:reply:{} -->", c.id);
        self.fake
            .replies(REPO, PR)
            .into_iter()
            .filter(|r| r.body.starts_with(&marker))
            .map(|r| r.body)
            .collect()
    }

    async fn waivers(&self) -> Vec<sdl_gate::waivers::Waiver> {
        self.store
            .waivers(ForgeName::GitHub, REPO, PR)
            .await
            .unwrap_or_else(|e| panic!("waivers: {e}"))
            .into_iter()
            .map(|w| w.waiver)
            .collect()
    }

    /// Moves the service's clock forward.
    fn advance(&self, by: chrono::Duration) {
        self.offset
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }

    async fn stop(mut self) {
        self.fake.assert_no_unknown();
        self.stop_service().await;
    }

    /// Waits until the `sdl-gate` run of the head concludes `failure` (at most 30 s, else
    /// panics with `why`) and checks that it says a waiver expired.
    async fn until_red_with_an_expired_waiver(&self, why: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.conclusion().as_deref() != Some("failure") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{why}: {}",
                self.check_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.drained().await;
        assert!(
            self.check_text().contains("expired"),
            "the check says the waiver expired: {}",
            self.check_text()
        );
    }
}

/// An `issue_comment` delivery for comment `c` on the pull request, in the shape of the
/// recorded delivery `triagebot/payloads/ready__00-webhook-issue105_comment_created` (a
/// comment on a pull request), with our repository, installation and comment put in.
fn comment_payload(action: &str, c: &CommentRec, old_body: Option<&str>) -> Value {
    let rel = "github-webhooks/triagebot/payloads/ready__00-webhook-issue105_comment_created.payload.json";
    let mut v: Value = std::fs::read_to_string(format!("{FIXTURES}/{rel}"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| {
            eprintln!("fixture {rel} unavailable: building the delivery from its documented fields only");
            json!({"comment": {"user": {}}, "issue": {"pull_request": {}}, "repository": {}, "sender": {}})
        });
    let kind = if c.user.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    v["action"] = json!(action);
    v["comment"]["id"] = json!(c.id);
    v["comment"]["body"] = json!(c.body);
    v["comment"]["user"]["login"] = json!(c.user);
    v["comment"]["user"]["type"] = json!(kind);
    v["comment"]["created_at"] = json!(c.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    v["comment"]["updated_at"] = json!(c.updated_at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    v["comment"]["html_url"] = json!(format!(
        "https://github.com/{REPO}/pull/{PR}#issuecomment-{}",
        c.id
    ));
    v["issue"]["number"] = json!(PR);
    v["issue"]["pull_request"]["url"] =
        json!(format!("https://api.github.com/repos/{REPO}/pulls/{PR}"));
    v["repository"]["full_name"] = json!(REPO);
    v["repository"]["id"] = json!(1);
    v["sender"]["login"] = json!(c.user);
    v["sender"]["type"] = json!(kind);
    v["installation"] =
        json!({"id": INSTALLATION, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNzc3"});
    if let Some(old) = old_body {
        v["changes"] = json!({"body": {"from": old}});
    }
    v
}

const REASON: &str = "false positive in the generated parser, tracked in SEC-42";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviewer_waives_sast_once_and_editing_the_comment_revokes_it() {
    let mut env = Env::start(POLICY).await;

    // carol (acme/security) waives sast with a reason: the check turns green.
    let (c, delivery) = env
        .comment_delivered(
            "carol",
            &format!("LGTM otherwise.\n/sdl waive sast --for 7d {REASON}"),
        )
        .await;
    assert_eq!(
        env.conclusion(),
        Some("success".into()),
        "{}",
        env.check_text()
    );
    let text = env.check_text();
    assert!(
        text.contains("waived"),
        "the check shows the waiver: {text}"
    );
    assert!(text.contains("carol"), "the check names who waived: {text}");
    assert_eq!(env.reactions(&c), ["eyes", "+1"]);
    let replies = env.replies_to(&c);
    assert_eq!(replies.len(), 1, "one reply: {replies:?}");
    assert!(
        replies[0].contains("`sast` waived by carol"),
        "{}",
        replies[0]
    );
    let waivers = env.waivers().await;
    assert_eq!(waivers.len(), 1);
    let w = &waivers[0];
    assert_eq!(
        (
            w.gate,
            w.author.as_str(),
            w.sha.as_str(),
            w.comment_id,
            w.reason.as_str()
        ),
        (
            GateKind::Sast,
            "carol",
            env.head.as_str(),
            Some(c.id),
            REASON
        )
    );
    let days = (w.expires_at - w.created_at).num_hours();
    assert_eq!(days, 7 * 24, "--for 7d");

    // The same comment delivered again (a redelivery with the same id, and a second
    // delivery with a new id): still one waiver and one reply.
    let payload = comment_payload("created", &c, None);
    env.send_as("issue_comment", &delivery, &payload, 200).await;
    env.send("issue_comment", &payload).await;
    assert_eq!(env.waivers().await.len(), 1, "one waiver");
    assert_eq!(env.replies_to(&c).len(), 1, "one reply");
    assert_eq!(env.conclusion(), Some("success".into()));

    // carol edits the comment: the waiver is revoked and the check fails again.
    let (edited, old) = env
        .fake
        .edit_comment(REPO, c.id, &format!("/sdl waive sast --for 14d {REASON}"))
        .unwrap_or_else(|| panic!("comment {} exists", c.id));
    let payload = comment_payload("edited", &edited, Some(&old));
    env.send("issue_comment", &payload).await;
    assert_eq!(
        env.conclusion(),
        Some("failure".into()),
        "{}",
        env.check_text()
    );
    let waivers = env.waivers().await;
    assert_eq!(
        waivers.len(),
        1,
        "an edited comment is never run: no new waiver"
    );
    assert_eq!(waivers[0].revoked.as_deref(), Some("comment edited"));
    let notices: Vec<_> = env
        .fake
        .replies(REPO, PR)
        .into_iter()
        .filter(|r| r.body.contains(&format!("Comment {} was edited", c.id)))
        .collect();
    assert_eq!(notices.len(), 1, "the revocation is announced once");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn author_outsider_bot_and_bad_waivers_are_refused_and_the_check_stays_red() {
    let mut env = Env::start(POLICY).await;

    // The author of the pull request.
    let by_author = env
        .comment("bob", &format!("/sdl waive sast {REASON}"))
        .await;
    let r = env.replies_to(&by_author);
    assert_eq!(r.len(), 1);
    assert!(r[0].contains("Refused"), "{}", r[0]);
    assert!(
        r[0].contains("the author of a change may not waive"),
        "{}",
        r[0]
    );
    assert_eq!(env.reactions(&by_author), ["eyes", "confused"]);

    // Someone with write permission who is not in acme/security (maintain needed).
    let outsider = env
        .comment("mallory", &format!("/sdl waive sast {REASON}"))
        .await;
    let r = env.replies_to(&outsider);
    assert_eq!(r.len(), 1);
    assert!(r[0].contains("only members of acme/security"), "{}", r[0]);
    assert!(r[0].contains("maintain permission"), "{}", r[0]);
    assert_eq!(env.reactions(&outsider), ["eyes", "confused"]);

    // A reviewer without a reason: malformed, with a suggestion.
    let no_reason = env.comment("carol", "/sdl waive sast --for 3d").await;
    let r = env.replies_to(&no_reason);
    assert_eq!(r.len(), 1);
    assert!(r[0].contains("needs a reason"), "{}", r[0]);
    assert!(r[0].contains("Did you mean"), "{}", r[0]);
    assert_eq!(env.reactions(&no_reason), ["eyes", "confused"]);

    // A reason too short, then a waiver too long.
    let short = env.comment("carol", "/sdl waive sast it is fine").await;
    let r = env.replies_to(&short);
    assert!(r[0].contains("at least 20 characters"), "{}", r[0]);
    let long = env
        .comment("carol", &format!("/sdl waive sast --for 60d {REASON}"))
        .await;
    let r = env.replies_to(&long);
    assert!(r[0].contains("at most 14 days"), "{}", r[0]);
    assert_eq!(env.reactions(&long), ["eyes", "confused"]);

    // A bot (even one quoting a valid waiver) is not a commenter at all.
    let bot = env
        .comment("dependabot[bot]", &format!("/sdl waive sast {REASON}"))
        .await;
    assert!(env.reactions(&bot).is_empty(), "bots get no reaction");
    assert!(env.replies_to(&bot).is_empty(), "bots get no reply");

    // A typo gets the closest command suggested.
    let typo = env.comment("carol", "/sdl wave sast").await;
    let r = env.replies_to(&typo);
    assert!(r[0].contains("unknown command"), "{}", r[0]);
    assert!(r[0].contains("/sdl waive"), "{}", r[0]);

    assert!(env.waivers().await.is_empty(), "nothing was waived");
    assert_eq!(env.conclusion(), Some("failure".into()));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_waiver_turns_the_check_red_again_without_any_event() {
    let mut env = Env::start(POLICY).await;
    // dave is no team member but a maintainer: the policy's min_permission lets him waive.
    let c = env
        .comment("dave", &format!("/sdl waive sast --for 2d {REASON}"))
        .await;
    assert_eq!(
        env.conclusion(),
        Some("success".into()),
        "{}",
        env.check_text()
    );
    assert_eq!(env.reactions(&c), ["eyes", "+1"]);

    // A day later nothing changes; after the second day the scheduler enqueues the change.
    env.advance(chrono::Duration::days(1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.drained().await;
    assert_eq!(
        env.conclusion(),
        Some("success".into()),
        "still waived after one day"
    );

    env.advance(chrono::Duration::days(1) + chrono::Duration::minutes(1));
    env.until_red_with_an_expired_waiver("the expiry did not re-evaluate the change")
        .await;
    env.stop().await;
}

/// A waiver that expires while the service is down: nothing was scheduled to fire, and no
/// event comes; the service finds the missed expiry when it starts again (the waiver expired,
/// the change has no evaluation since) and turns the check red by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiver_that_expired_while_the_service_was_down_is_caught_at_start_up() {
    let mut env = Env::start(POLICY).await;
    env.comment("dave", &format!("/sdl waive sast --for 2d {REASON}"))
        .await;
    assert_eq!(
        env.conclusion(),
        Some("success".into()),
        "{}",
        env.check_text()
    );
    env.stop_service().await;
    env.advance(chrono::Duration::days(3));
    env.start_service().await;
    env.until_red_with_an_expired_waiver("the missed expiry was not caught at start-up")
        .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_blocks_are_ignored_explain_replies_and_status_reposts() {
    let policy = format!("{POLICY}report:\n  comment: never\n");
    let mut env = Env::start(&policy).await;
    assert!(
        env.fake.comments(REPO, PR).is_empty(),
        "the policy asks for no sticky comment"
    );

    // A waiver shown in a code block, and one quoted, run nothing.
    let shown = env
        .comment(
            "carol",
            &format!("To waive, write:\n\n```\n/sdl waive sast {REASON}\n```\n\n> /sdl waive sast {REASON}\n"),
        )
        .await;
    assert!(env.reactions(&shown).is_empty(), "no command: no reaction");
    assert!(env.replies_to(&shown).is_empty());
    assert!(env.waivers().await.is_empty());

    // Anyone may ask what SR-2 is.
    let q = env.comment("erin", "/sdl explain SR-2").await;
    let r = env.replies_to(&q);
    assert_eq!(r.len(), 1);
    assert!(r[0].contains("SR-2"), "{}", r[0]);
    assert!(
        r[0].contains("Threat model"),
        "names the requirement: {}",
        r[0]
    );
    assert_eq!(env.reactions(&q), ["eyes", "+1"]);

    // `/sdl help` lists who may waive under this policy.
    let h = env.comment("erin", "/sdl help").await;
    let r = env.replies_to(&h);
    assert!(r[0].contains("members of acme/security"), "{}", r[0]);

    // `/sdl status` posts the sticky comment although the policy says never.
    let s = env.comment("erin", "/sdl status").await;
    let sticky: Vec<_> = env
        .fake
        .comments(REPO, PR)
        .into_iter()
        .filter(|c| c.body.starts_with("<!-- sdl-gate:summary -->"))
        .collect();
    assert_eq!(sticky.len(), 1, "status re-posts the evaluation");
    assert_eq!(env.reactions(&s), ["eyes", "+1"]);
    assert!(
        env.replies_to(&s).is_empty(),
        "the sticky comment is the answer"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_fails_after_replying_is_resumed_without_a_second_waiver_or_reply() {
    let mut env = Env::start(POLICY).await;
    // The reply is stored by GitHub but its answer is lost: the job fails and runs again.
    env.fake.fault(
        Some(axum::http::Method::POST),
        &format!("/repos/{REPO}/issues/{PR}/comments"),
        1,
        FaultKind::StatusAfterApply(502),
    );
    let mark = env.fake.mark();
    let c = env
        .comment("carol", &format!("/sdl waive sast {REASON}"))
        .await;
    let posts = env
        .fake
        .calls_since(mark)
        .iter()
        .filter(|call| {
            call.method == "POST" && call.path.ends_with(&format!("/issues/{PR}/comments"))
        })
        .count();
    assert_eq!(posts, 1, "the reply was posted once (the retry found it)");
    assert!(
        env.fake
            .calls_since(mark)
            .iter()
            .any(|call| call.method == "POST" && call.status == 502),
        "the reply's answer was lost, so the job ran again"
    );
    assert_eq!(env.waivers().await.len(), 1, "one waiver");
    assert_eq!(env.replies_to(&c).len(), 1, "one reply");
    assert_eq!(env.reactions(&c), ["eyes", "+1"]);
    assert_eq!(
        env.conclusion(),
        Some("success".into()),
        "{}",
        env.check_text()
    );

    // Deleting the comment revokes the waiver.
    let gone = env
        .fake
        .delete_comment(REPO, c.id)
        .unwrap_or_else(|| panic!("comment {} exists", c.id));
    env.send("issue_comment", &comment_payload("deleted", &gone, None))
        .await;
    assert_eq!(env.conclusion(), Some("failure".into()));
    assert_eq!(
        env.waivers().await[0].revoked.as_deref(),
        Some("comment deleted")
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_author_records_a_threat_model_reference_the_policy_accepts() {
    let policy = r##"
version: 1
security_paths: ["src/auth/**"]
gates:
  threat_model:
    paths: ["docs/threat-model/**"]
    link_patterns: ["https://tm.example.com/*"]
  security_review: { enabled: false }
  dependencies: { enabled: false }
  sast: { enabled: false }
"##;
    let mut env = Env::start(policy).await;
    let wrong = env
        .comment("bob", "/sdl threat-model https://evil.example.com/tm")
        .await;
    let r = env.replies_to(&wrong);
    assert!(
        r[0].contains("does not match the accepted threat-model references"),
        "{}",
        r[0]
    );
    assert_eq!(env.reactions(&wrong), ["eyes", "confused"]);
    assert_eq!(env.conclusion(), Some("failure".into()));

    let right = env
        .comment("bob", "/sdl threat-model https://tm.example.com/plc-auth")
        .await;
    assert_eq!(env.reactions(&right), ["eyes", "+1"]);
    assert_eq!(
        env.conclusion(),
        Some("success".into()),
        "{}",
        env.check_text()
    );
    let refs = env
        .store
        .threat_model_refs(ForgeName::GitHub, REPO, PR)
        .await
        .unwrap_or_default();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].reference.author.as_str(), "bob");
    assert_eq!(refs[0].reference.sha.as_str(), env.head);
    env.stop().await;
}

/// The organisation's floor limits waivers too: the repository allows 14 days, the floor 5,
/// so a 7-day waiver is refused under the floor's limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_org_floor_limits_how_long_a_waiver_may_last() {
    let mut env = Env::start_in_org(
        POLICY,
        Some("version: 1\nfloor:\n  waivers:\n    max_days: 5\n"),
    )
    .await;
    let long = env
        .comment("carol", &format!("/sdl waive sast --for 7d {REASON}"))
        .await;
    let r = env.replies_to(&long);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].contains("at most 5 days"), "{}", r[0]);
    assert!(env.waivers().await.is_empty(), "nothing was waived");
    let ok = env
        .comment("carol", &format!("/sdl waive sast --for 5d {REASON}"))
        .await;
    assert_eq!(env.reactions(&ok), ["eyes", "+1"]);
    assert_eq!(env.waivers().await.len(), 1);
    env.stop().await;
}
