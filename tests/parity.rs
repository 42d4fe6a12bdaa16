//! One table of command and evaluation scenarios, run on both forges: each row is a scenario
//! written once against [`App`], which is the service as `serve` wires it (`engine::Wiring`,
//! the forge dispatcher, the durable queue on a real SQLite file, real HTTP in) in front of the
//! fake GitHub (real `octocrab`) or the fake GitLab (real `gitlab` crate), both scripted with
//! the one fault type of `fake_forge`. The `parity!` table at the end turns every row into a
//! test per forge, `row::github` and `row::gitlab`.
//!
//! GitHub's behaviour is the rule. Where a forge cannot do something, the row asserts the
//! documented difference (its `Capabilities`): GitLab sends no hook when a note is deleted,
//! so its `/sdl help` says only an edit revokes.

mod fake_forge;
mod fake_github;
mod fake_gitlab;
mod service_support;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};

use fake_forge::{Call, FaultKind};
use fake_github::{APP_ID, APP_SLUG, FakeGithub, INSTALLATION, PullBuilder, TEST_KEY_PEM};
use fake_gitlab::{BOT, BOT_TOKEN, FakeGitlab};
use sdl_gate::engine::github::fanout::FanoutSettings;
use sdl_gate::engine::{Clock, ExpiryScheduler, ForgeProcessor, Wiring};
use sdl_gate::forge::github::{GithubConfig, GithubForge};
use sdl_gate::forge::gitlab::{GitlabConfig, connect};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::server::RunningService;
use sdl_gate::store::{CommentClaim, Store};
use secrecy::SecretString;
use service_support::{
    GITHUB_SECRET, GITLAB_TOKEN, TestDb, config, fast_queue, open, send_github, spawn, sqlite_db,
    wait_drained,
};

const REPO: &str = "acme/plc";
const N: u64 = 40;

/// A change outside the security paths passes; security reviewers are named users, waivers
/// need maintain.
const PASSING: &str = r##"
version: 1
security_paths: ["src/auth/**"]
gates:
  threat_model:
    link_patterns: ["https://tm.example.com/*"]
  security_review:
    reviewers: { users: ["dave"] }
  sast:
    enabled: false
waivers:
  min_permission: maintain
"##;

/// [`PASSING`], with the sticky comment on every evaluation.
const ALWAYS_COMMENT: &str = r##"
version: 1
security_paths: ["src/auth/**"]
gates:
  security_review:
    reviewers: { users: ["dave"] }
  sast:
    enabled: false
report:
  comment: always
"##;

const WAIVE: &str = "/sdl waive security_review reviewed in the design meeting of 2026-11-30";

/// The fake a scenario runs against.
enum Fake {
    GitHub(FakeGithub),
    GitLab(FakeGitlab),
}

/// The service as `serve` wires it, in front of one fake forge, with change `N` by `bob`
/// touching `docs/readme.md`; `carol` may maintain, `dave` is in `acme/security`.
struct App {
    forge: ForgeName,
    fake: Fake,
    store: Store,
    svc: RunningService,
    client: reqwest::Client,
    head: String,
    deliveries: usize,
    _scheduler: ExpiryScheduler,
    _db: TestDb,
}

impl App {
    async fn start(forge: ForgeName, policy: Option<&str>) -> App {
        Self::start_with(forge, policy, |_| {}).await
    }

    /// Starts with `script` run on the fake first (faults that must hit the first request).
    async fn start_with(forge: ForgeName, policy: Option<&str>, script: impl FnOnce(&Fake)) -> App {
        let db = sqlite_db();
        let store = open(&db).await;
        let (wiring, scheduler) = Wiring::start(
            store.clone(),
            Clock::system(),
            Some("https://sdl.example.com".into()),
            Duration::from_millis(50),
        )
        .await
        .unwrap_or_else(|e| panic!("wiring: {e}"));
        let (fake, head, processor) = match forge {
            ForgeName::GitHub => {
                let fake = FakeGithub::start().await;
                let head = fake_github::sha(0x9a1);
                PullBuilder::new(REPO, N, "bob", &head)
                    .file("docs/readme.md")
                    .install(&fake);
                if let Some(p) = policy {
                    fake.put_file(REPO, "main", ".github/sdl-gate.yml", p.as_bytes());
                }
                fake.collaborator(REPO, "carol", "maintain");
                fake.collaborator(REPO, "mallory", "write");
                fake.team("acme", "security", &["dave"]);
                let mut cfg = GithubConfig::new(APP_ID, SecretString::from(TEST_KEY_PEM));
                cfg.api_url = fake.url.clone();
                cfg.timeout = fake_github::CLIENT_TIMEOUT;
                let client = GithubForge::new(cfg).unwrap_or_else(|e| panic!("forge: {e}"));
                let processor = ForgeProcessor {
                    github: Some(wiring.github(client, FanoutSettings::default())),
                    gitlab: None,
                };
                (Fake::GitHub(fake), head, processor)
            }
            ForgeName::GitLab => {
                let fake = FakeGitlab::start().await;
                let head = fake_gitlab::sha(0x9a1);
                fake.merge_request(REPO, N, "bob", &head, &["docs/readme.md"]);
                if let Some(p) = policy {
                    fake.put_file(REPO, "main", ".gitlab/sdl-gate.yml", p.as_bytes());
                }
                fake.member(REPO, "carol", 40);
                fake.member(REPO, "mallory", 30);
                fake.group("acme/security", &["dave"]);
                let mut cfg = GitlabConfig::new(fake.url.clone(), SecretString::from(BOT_TOKEN));
                cfg.timeout = Duration::from_secs(5);
                let client = connect(cfg)
                    .await
                    .unwrap_or_else(|e| panic!("connect: {e}"));
                let processor = ForgeProcessor {
                    github: None,
                    gitlab: Some(wiring.gitlab(client)),
                };
                (Fake::GitLab(fake), head, processor)
            }
        };
        script(&fake);
        let svc = spawn(store.clone(), Arc::new(processor), config(fast_queue(), 2)).await;
        App {
            forge,
            fake,
            store,
            svc,
            client: reqwest::Client::new(),
            head,
            deliveries: 0,
            _scheduler: scheduler,
            _db: db,
        }
    }

    /// Delivers one webhook as the forge would and waits until the queue is drained.
    async fn deliver(&mut self, event: &str, body: &Value) {
        self.send(event, body).await;
        let depth = wait_drained(&self.store, Duration::from_secs(30)).await;
        if depth.parked > 0 {
            let parked = self
                .store
                .list_jobs(Some("parked"), 10)
                .await
                .unwrap_or_default();
            panic!("a job parked after {event}: {parked:#?}");
        }
    }

    /// Delivers one webhook as the forge would and waits only for its acknowledgement.
    async fn send(&mut self, event: &str, body: &Value) {
        self.deliveries += 1;
        let id = format!("parity-{}-{}", self.forge, self.deliveries);
        let base = format!("http://{}", self.svc.addr);
        let (status, text) = match self.forge {
            ForgeName::GitHub => {
                send_github(
                    &self.client,
                    &base,
                    GITHUB_SECRET,
                    event,
                    &id,
                    &body.to_string(),
                )
                .await
            }
            ForgeName::GitLab => {
                let resp = self
                    .client
                    .post(format!("{base}/webhooks/gitlab"))
                    .header("content-type", "application/json")
                    .header("x-gitlab-token", GITLAB_TOKEN)
                    .header("x-gitlab-event", event)
                    .header("idempotency-key", &id)
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("send {event}: {e}"));
                let status = resp.status().as_u16();
                (status, resp.text().await.unwrap_or_default())
            }
        };
        assert!(
            (200..300).contains(&status),
            "{event} {id}: {status} {text}"
        );
    }

    /// The change was opened.
    async fn open(&mut self) {
        let (event, body) = self.open_hook();
        self.deliver(event, &body).await;
    }

    /// The hook announcing that the change was opened.
    fn open_hook(&self) -> (&'static str, Value) {
        let body = match self.forge {
            ForgeName::GitHub => json!({
                "action": "opened", "number": N,
                "pull_request": {"number": N, "head": {"sha": self.head}, "base": {"ref": "main"}},
                "repository": {"full_name": REPO, "id": 1, "default_branch": "main"},
                "installation": {"id": INSTALLATION}
            }),
            ForgeName::GitLab => json!({
                "object_kind": "merge_request", "event_type": "merge_request",
                "user": {"id": 1, "username": "bob", "name": "Bob"},
                "project": {"id": 50, "path_with_namespace": REPO, "default_branch": "main"},
                "object_attributes": {"iid": N, "action": "open", "state": "opened",
                    "target_branch": "main", "source_branch": "feature",
                    "last_commit": {"id": self.head}}
            }),
        };
        let event = match self.forge {
            ForgeName::GitHub => "pull_request",
            ForgeName::GitLab => "Merge Request Hook",
        };
        (event, body)
    }

    /// Posts `body` as `user` on the fake (no hook).
    fn post(&self, user: &str, body: &str) -> u64 {
        match &self.fake {
            Fake::GitHub(f) => f.post_comment(REPO, N, user, body).id,
            Fake::GitLab(f) => f.human_note(REPO, N, user, body),
        }
    }

    /// The hook announcing comment `id` by `user` (`action`: created or edited).
    fn comment_hook(&self, action: &str, id: u64, user: &str, body: &str) -> (String, Value) {
        match self.forge {
            ForgeName::GitHub => {
                let kind = if user.ends_with("[bot]") {
                    "Bot"
                } else {
                    "User"
                };
                let mut v = json!({
                    "action": action,
                    "comment": {"id": id, "body": body, "user": {"login": user, "type": kind},
                        "created_at": "2026-12-03T10:00:00Z", "updated_at": "2026-12-03T10:00:00Z",
                        "html_url": format!("https://github.com/{REPO}/pull/{N}#issuecomment-{id}")},
                    "issue": {"number": N, "pull_request": {"url": format!("https://api.github.com/repos/{REPO}/pulls/{N}")}},
                    "repository": {"full_name": REPO, "id": 1},
                    "sender": {"login": user, "type": kind},
                    "installation": {"id": INSTALLATION}
                });
                if action == "edited" {
                    v["changes"] = json!({"body": {"from": "(before)"}});
                }
                ("issue_comment".into(), v)
            }
            ForgeName::GitLab => {
                let action = if action == "edited" {
                    "update"
                } else {
                    "create"
                };
                let v = json!({
                    "object_kind": "note", "event_type": "note",
                    "user": {"id": 2, "username": user, "name": user},
                    "project": {"id": 50, "path_with_namespace": REPO},
                    "object_attributes": {"id": id, "note": body, "noteable_type": "MergeRequest",
                        "action": action, "system": false,
                        "created_at": "2026-12-03 10:00:00 UTC", "updated_at": "2026-12-03 10:00:00 UTC"},
                    "merge_request": {"iid": N}
                });
                ("Note Hook".into(), v)
            }
        }
    }

    /// Posts a comment as `user` and delivers its hook; its id.
    async fn comment(&mut self, user: &str, body: &str) -> u64 {
        let id = self.post(user, body);
        let (event, hook) = self.comment_hook("created", id, user, body);
        self.deliver(&event, &hook).await;
        id
    }

    /// Edits comment `id` (by `user`) to `body` and delivers the hook.
    async fn edit(&mut self, id: u64, user: &str, body: &str) {
        match &self.fake {
            Fake::GitHub(f) => {
                f.edit_comment(REPO, id, body);
            }
            Fake::GitLab(f) => {
                if let Some(n) = f
                    .state()
                    .project(REPO)
                    .notes
                    .iter_mut()
                    .find(|n| n.id == id)
                {
                    n.body = body.to_string();
                }
            }
        }
        let (event, hook) = self.comment_hook("edited", id, user, body);
        self.deliver(&event, &hook).await;
    }

    /// The bot's own login.
    fn bot(&self) -> String {
        match self.forge {
            ForgeName::GitHub => format!("{APP_SLUG}[bot]"),
            ForgeName::GitLab => BOT.to_owned(),
        }
    }

    /// A bot that is not ours (a token or App bot).
    fn other_bot(&self) -> &'static str {
        match self.forge {
            ForgeName::GitHub => "renovate[bot]",
            ForgeName::GitLab => "project_50_bot_0123abcd",
        }
    }

    /// Every comment the bot wrote on the change, oldest first.
    fn bot_comments(&self) -> Vec<String> {
        match &self.fake {
            Fake::GitHub(f) => f
                .comments(REPO, N)
                .into_iter()
                .filter(|c| c.user == self.bot())
                .map(|c| c.body)
                .collect(),
            Fake::GitLab(f) => f.bot_notes(REPO, N).into_iter().map(|n| n.body).collect(),
        }
    }

    /// The bot's answers to commands: every comment of its but the sticky one (and the
    /// commands a row posts in the bot's name).
    fn replies(&self) -> Vec<String> {
        self.bot_comments()
            .into_iter()
            .filter(|b| !b.starts_with("<!-- sdl-gate:summary -->") && !b.starts_with("/sdl"))
            .collect()
    }

    /// The sticky comments (at most one, ever).
    fn stickies(&self) -> usize {
        self.bot_comments()
            .iter()
            .filter(|b| b.starts_with("<!-- sdl-gate:summary -->"))
            .count()
    }

    /// The bot's reactions on comment `id`, in GitHub's names (GitLab's `thumbsup` is `+1`).
    fn reactions(&self, id: u64) -> Vec<String> {
        match &self.fake {
            Fake::GitHub(f) => f
                .reactions(REPO, id)
                .into_iter()
                .filter(|(user, _)| *user == self.bot())
                .map(|(_, content)| content)
                .collect(),
            Fake::GitLab(f) => f
                .note(REPO, id)
                .map(|n| n.awards)
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, user)| user == BOT)
                .map(|(name, _)| {
                    if name == "thumbsup" {
                        "+1".into()
                    } else {
                        name
                    }
                })
                .collect(),
        }
    }

    /// The newest `sdl-gate` verdict on the head in GitHub's words (GitLab's `failed` is
    /// `failure`), if any.
    fn verdict(&self) -> Option<String> {
        match &self.fake {
            Fake::GitHub(f) => f
                .check_runs(REPO, &self.head, "sdl-gate")
                .pop()
                .and_then(|r| r.conclusion),
            Fake::GitLab(f) => {
                f.statuses(REPO, &self.head, "sdl-gate")
                    .pop()
                    .map(|s| match s.status.as_str() {
                        "failed" => "failure".to_owned(),
                        other => other.to_owned(),
                    })
            }
        }
    }

    fn journal(&self) -> Vec<Call> {
        match &self.fake {
            Fake::GitHub(f) => f.journal(),
            Fake::GitLab(f) => f.journal(),
        }
    }

    /// Requests whose path contains `part`.
    fn requests(&self, method: &str, part: &str) -> Vec<Call> {
        self.journal()
            .into_iter()
            .filter(|c| c.method == method && c.path.contains(part))
            .collect()
    }

    /// The change was merged by `user` as commit `merge_commit`.
    async fn merge(&mut self, user: &str, merge_commit: &str) {
        let head = self.head.clone();
        self.merge_change(N, &head, user, merge_commit).await;
    }

    /// A second change `number` with head `head`, by `bob`, touching `docs/other.md`.
    fn add_change(&self, number: u64, head: &str) {
        match &self.fake {
            Fake::GitHub(f) => {
                PullBuilder::new(REPO, number, "bob", head)
                    .file("docs/other.md")
                    .install(f);
            }
            Fake::GitLab(f) => f.merge_request(REPO, number, "bob", head, &["docs/other.md"]),
        }
    }

    /// A release of tag `tag` at `commit`, as each forge announces one (GitHub: a release
    /// published from the branch, its tag — annotated when `annotated` — resolved through
    /// the API; GitLab: the tag push).
    async fn release(&mut self, tag: &str, commit: &str, annotated: bool) {
        if let Fake::GitHub(f) = &self.fake {
            f.tag(REPO, tag, commit, annotated);
        }
        let (event, body) = match self.forge {
            ForgeName::GitHub => (
                "release",
                json!({
                    "action": "published",
                    "release": {"tag_name": tag, "target_commitish": "main",
                        "author": {"login": "rel-eng"}, "published_at": "2026-12-04T13:00:00Z"},
                    "repository": {"full_name": REPO, "id": 1, "default_branch": "main"},
                    "installation": {"id": INSTALLATION}
                }),
            ),
            ForgeName::GitLab => (
                "Tag Push Hook",
                json!({
                    "object_kind": "tag_push", "ref": format!("refs/tags/{tag}"),
                    "checkout_sha": commit, "user_username": "rel-eng",
                    "project": {"id": 50, "path_with_namespace": REPO}
                }),
            ),
        };
        self.deliver(event, &body).await;
    }

    /// Change `number` with head `head` was merged by `user` as commit `merge_commit`.
    async fn merge_change(&mut self, number: u64, head: &str, user: &str, merge_commit: &str) {
        let (event, body) = match self.forge {
            ForgeName::GitHub => (
                "pull_request",
                json!({
                    "action": "closed", "number": number,
                    "pull_request": {"number": number, "merged": true, "state": "closed",
                        "title": "Badge login <rate limit>",
                        "merge_commit_sha": merge_commit, "merged_by": {"login": user},
                        "merged_at": "2026-12-04T12:00:00Z",
                        "head": {"sha": head}, "base": {"ref": "main"}},
                    "repository": {"full_name": REPO, "id": 1, "default_branch": "main"},
                    "installation": {"id": INSTALLATION}
                }),
            ),
            ForgeName::GitLab => (
                "Merge Request Hook",
                json!({
                    "object_kind": "merge_request", "event_type": "merge_request",
                    "user": {"id": 3, "username": user, "name": user},
                    "project": {"id": 50, "path_with_namespace": REPO, "default_branch": "main"},
                    "object_attributes": {"iid": number, "action": "merge", "state": "merged",
                        "title": "Badge login <rate limit>",
                        "target_branch": "main", "source_branch": "feature",
                        "merge_commit_sha": merge_commit,
                        "updated_at": "2026-12-04T12:00:00Z",
                        "last_commit": {"id": head}}
                }),
            ),
        };
        self.deliver(event, &body).await;
    }

    /// The ledger's entries of the change, oldest first.
    async fn ledger(&self) -> Vec<sdl_gate::ledger::Sealed> {
        self.store
            .ledger_entries_of(Some(self.forge), REPO, Some(N))
            .await
            .unwrap_or_else(|e| panic!("ledger: {e}"))
            .into_iter()
            .map(|e| serde_json::from_str(&e.body).unwrap_or_else(|e| panic!("entry: {e}")))
            .collect()
    }

    /// Signs a checkpoint over the whole ledger and verifies it from the first entry.
    async fn verify_ledger(&self) -> sdl_gate::ledger::Verified {
        let signer =
            sdl_gate::ledger::note::NoteSigner::generate("sdl.example.com/ledger").expect("signer");
        self.store
            .checkpoint_ledger(&signer)
            .await
            .unwrap_or_else(|e| panic!("checkpoint: {e}"));
        let size = self.store.ledger_size().await.expect("size");
        let entries = self
            .store
            .ledger_entries(0, 100_000)
            .await
            .expect("entries");
        assert_eq!(entries.len() as u64, size);
        let checkpoints = self.store.ledger_checkpoints().await.expect("checkpoints");
        sdl_gate::ledger::verify::verify_all(
            &entries,
            &checkpoints,
            &[],
            std::slice::from_ref(signer.verifier()),
        )
        .unwrap_or_else(|t| panic!("the ledger verifies: {t}"))
    }

    async fn waivers(&self) -> Vec<sdl_gate::waivers::Waiver> {
        self.store
            .waivers(self.forge, REPO, N)
            .await
            .unwrap_or_else(|e| panic!("waivers: {e}"))
            .into_iter()
            .map(|w| w.waiver)
            .collect()
    }

    fn done(&self) {
        match &self.fake {
            Fake::GitHub(f) => {
                f.assert_no_unknown();
                f.assert_conforms();
            }
            Fake::GitLab(f) => f.assert_no_unknown(),
        }
    }
}

/// Where each forge keeps what a row scripts faults on or counts.
struct Paths;

impl Paths {
    fn reactions(fake: &Fake) -> &'static str {
        match fake {
            Fake::GitHub(_) => "/reactions",
            Fake::GitLab(_) => "/award_emoji",
        }
    }

    fn comments(fake: &Fake) -> String {
        match fake {
            Fake::GitHub(_) => format!("/issues/{N}/comments"),
            Fake::GitLab(_) => format!("/merge_requests/{N}/notes"),
        }
    }

    fn verdict(fake: &Fake) -> &'static str {
        match fake {
            Fake::GitHub(_) => "/check-runs",
            Fake::GitLab(_) => "/statuses/",
        }
    }

    fn head(fake: &Fake) -> String {
        match fake {
            Fake::GitHub(_) => format!("/pulls/{N}"),
            Fake::GitLab(_) => format!("/merge_requests/{N}"),
        }
    }

    fn permission(fake: &Fake) -> &'static str {
        match fake {
            Fake::GitHub(_) => "/collaborators/",
            Fake::GitLab(_) => "/members/",
        }
    }
}

fn fault(fake: &Fake, method: Method, path: &str, times: usize, kind: FaultKind) {
    match fake {
        Fake::GitHub(f) => f.fault(Some(method), path, times, kind),
        Fake::GitLab(f) => f.fault(Some(method), path, times, kind),
    }
}

/// A change that needs a security review it does not have: it fails until waived.
const NEEDS_REVIEW: &str = r##"
version: 1
security_paths: ["docs/**"]
gates:
  threat_model:
    enabled: false
  security_review:
    reviewers: { users: ["dave"] }
  sast:
    enabled: false
waivers:
  min_permission: maintain
"##;

// ---- the rows ----

/// A push to the default branch that changes the policy is recorded with the new file's
/// digest and who pushed; a push that leaves its content alone records nothing more.
async fn a_policy_change_on_the_default_branch_is_recorded(forge: ForgeName) {
    let mut app = App::start(forge, Some(PASSING)).await;
    let (path, event) = match forge {
        ForgeName::GitHub => (".github/sdl-gate.yml", "push"),
        ForgeName::GitLab => (".gitlab/sdl-gate.yml", "Push Hook"),
    };
    let stricter = PASSING.replace("min_permission: maintain", "min_permission: admin");
    let push = |commit: &str| match forge {
        ForgeName::GitHub => json!({
            "ref": "refs/heads/main", "before": "0".repeat(40), "after": commit,
            "created": false, "deleted": false, "forced": false,
            "commits": [{"id": commit, "added": [], "removed": [], "modified": [path]}],
            "pusher": {"name": "carol"},
            "repository": {"full_name": REPO, "id": 1, "default_branch": "main"},
            "installation": {"id": INSTALLATION}
        }),
        ForgeName::GitLab => json!({
            "object_kind": "push", "ref": "refs/heads/main", "after": commit,
            "checkout_sha": commit, "user_username": "carol",
            "project": {"id": 50, "path_with_namespace": REPO, "default_branch": "main"},
            "commits": [{"id": commit, "added": [], "removed": [], "modified": [path]}]
        }),
    };
    let (first, second) = ("c".repeat(40), "d".repeat(40));
    for commit in [&first, &second] {
        match &app.fake {
            Fake::GitHub(f) => f.put_file(REPO, commit, path, stricter.as_bytes()),
            Fake::GitLab(f) => f.put_file(REPO, commit, path, stricter.as_bytes()),
        }
    }
    app.deliver(event, &push(&first)).await;
    app.deliver(event, &push(&second)).await;
    let changes = app
        .store
        .ledger_entries_of_kind(forge, REPO, "policy_changed", None)
        .await
        .expect("ledger");
    assert_eq!(changes.len(), 1, "the second push left the content alone");
    let sealed: sdl_gate::ledger::Sealed = serde_json::from_str(&changes[0].body).unwrap();
    let sdl_gate::ledger::Entry::PolicyChanged(change) = sealed.entry else {
        panic!("a policy change")
    };
    assert_eq!(
        (change.commit.as_str(), change.by.as_deref()),
        (first.as_str(), Some("carol"))
    );
    let policy = change.policy.expect("the file");
    assert_eq!(policy.path, path);
    assert_eq!(
        policy.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(stricter.as_bytes()))
    );
    assert_eq!(change.previous_sha256, None, "the first the ledger saw");
    app.verify_ledger().await;
    app.done();
}

/// Evidence first: while the ledger cannot take the evaluation's entry, the job fails and is
/// retried, and no verdict is published; once it can, the verdict goes out with its entry.
async fn no_verdict_goes_out_unrecorded(forge: ForgeName) {
    let mut app = App::start(forge, Some(NEEDS_REVIEW)).await;
    let pool = sqlx::SqlitePool::connect(&app._db.url)
        .await
        .expect("the test database");
    sqlx::query(
        "CREATE TRIGGER ledger_refuses BEFORE INSERT ON ledger_entries \
         BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END",
    )
    .execute(&pool)
    .await
    .expect("trigger");
    let (event, body) = app.open_hook();
    app.send(event, &body).await;
    let depth = wait_drained(&app.store, Duration::from_secs(30)).await;
    assert_eq!(depth.parked, 1, "retried, then parked: {depth:?}");
    let jobs = app.store.list_jobs(Some("parked"), 10).await.expect("jobs");
    let error = jobs[0].last_error.clone().unwrap_or_default();
    assert!(
        error.contains("recording the evaluation in the ledger"),
        "{error}"
    );
    assert!(jobs[0].attempts >= 2, "it was tried again: {:?}", jobs[0]);
    // GitLab's status is set to pending before an evaluation (fail closed); no verdict.
    let shown = app.verdict();
    assert!(
        shown.is_none() || shown.as_deref() == Some("pending"),
        "no verdict went out: {shown:?}"
    );
    assert!(
        !app.bot_comments()
            .iter()
            .any(|c| c.starts_with("<!-- sdl-gate:summary -->")),
        "no sticky comment either"
    );
    assert!(
        app.store
            .evaluations(forge, REPO, N, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The cause gone, the parked job put back (`sdl-gate jobs retry`): published, recorded.
    sqlx::query("DROP TRIGGER ledger_refuses")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert!(app.store.retry_parked(jobs[0].id).await.unwrap());
    let depth = wait_drained(&app.store, Duration::from_secs(30)).await;
    assert_eq!(depth.parked, 0);
    assert!(app.verdict().is_some(), "the verdict went out");
    let kinds: Vec<&str> = app.ledger().await.iter().map(|e| e.entry.kind()).collect();
    assert_eq!(kinds, ["evaluation"]);
    app.done();
}

/// A release after two merges — one green, one that bypassed the gate — names both, and the
/// release before it; the same tag announced again is recorded once.
async fn a_release_after_two_merges_names_both(forge: ForgeName) {
    let mut app = App::start(forge, Some(NEEDS_REVIEW)).await;
    app.release("v1.0.0", &"1".repeat(40), false).await;
    app.open().await;
    app.comment("carol", WAIVE).await;
    app.merge("carol", &"a".repeat(40)).await;
    let other_head = match forge {
        ForgeName::GitHub => fake_github::sha(0x9b2),
        ForgeName::GitLab => fake_gitlab::sha(0x9b2),
    };
    app.add_change(N + 1, &other_head);
    app.merge_change(N + 1, &other_head, "mallory", &"b".repeat(40))
        .await;
    app.release("v1.1.0", &"b".repeat(40), true).await;
    app.release("v1.1.0", &"b".repeat(40), true).await;
    let releases: Vec<_> = app
        .store
        .ledger_entries_of_kind(forge, REPO, "release", None)
        .await
        .expect("releases")
        .into_iter()
        .map(|e| serde_json::from_str::<sdl_gate::ledger::Sealed>(&e.body).expect("entry"))
        .collect();
    assert_eq!(releases.len(), 2, "{releases:#?}");
    let sdl_gate::ledger::Entry::Release(first) = &releases[0].entry else {
        panic!("a release")
    };
    assert_eq!(first.tag, "v1.0.0");
    assert_eq!(
        first.commit.as_deref(),
        Some("1".repeat(40).as_str()),
        "a lightweight tag"
    );
    assert!(
        first.previous.is_none() && first.merges.is_empty(),
        "{first:?}"
    );
    let sdl_gate::ledger::Entry::Release(second) = &releases[1].entry else {
        panic!("a release")
    };
    assert_eq!(second.tag, "v1.1.0");
    assert_eq!(second.commit.as_deref(), Some("b".repeat(40).as_str()));
    assert_eq!(second.by.as_deref(), Some("rel-eng"));
    assert_eq!(
        second.previous.as_ref().map(|p| p.tag.as_str()),
        Some("v1.0.0")
    );
    let shipped: Vec<(u64, bool)> = second
        .merges
        .iter()
        .map(|m| (m.number, m.bypassed))
        .collect();
    assert_eq!(shipped, [(N, false), (N + 1, true)]);
    app.verify_ledger().await;
    app.done();
}

/// Evaluated three times, waived, merged green: the ledger holds every step in order, the
/// merge is not a bypass, and the whole chain verifies.
async fn a_change_merged_green_is_recorded_in_order(forge: ForgeName) {
    let mut app = App::start(forge, Some(NEEDS_REVIEW)).await;
    app.open().await;
    app.comment("bob", "/sdl recheck").await;
    app.comment("carol", WAIVE).await;
    assert_eq!(
        app.verdict().as_deref(),
        Some("success"),
        "{:#?}",
        app.bot_comments()
    );
    app.merge("carol", "4e7c0ffee").await;
    let entries = app.ledger().await;
    let kinds: Vec<&str> = entries.iter().map(|e| e.entry.kind()).collect();
    assert_eq!(
        kinds,
        [
            "evaluation",
            "evaluation",
            "waiver_granted",
            "evaluation",
            "merge"
        ],
        "{entries:#?}"
    );
    use sdl_gate::gates::OverallVerdict;
    use sdl_gate::ledger::Entry;
    let verdicts: Vec<OverallVerdict> = entries
        .iter()
        .filter_map(|e| match &e.entry {
            Entry::Evaluation(ev) => Some(ev.verdict),
            _ => None,
        })
        .collect();
    assert_eq!(
        verdicts,
        // Waiting for the review, then waived.
        [
            OverallVerdict::Pending,
            OverallVerdict::Pending,
            OverallVerdict::Pass
        ]
    );
    let Entry::Evaluation(last) = &entries[3].entry else {
        panic!("an evaluation")
    };
    assert_eq!(last.head_sha, app.head);
    assert_eq!(
        last.policy.path,
        match forge {
            ForgeName::GitHub => ".github/sdl-gate.yml",
            ForgeName::GitLab => ".gitlab/sdl-gate.yml",
        }
    );
    assert_eq!(
        last.policy.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            NEEDS_REVIEW.as_bytes()
        ))
    );
    assert_eq!(last.waivers.len(), 1, "the waiver in force is in the entry");
    assert_eq!(last.waivers[0].by, "carol");
    let review = last
        .gates
        .iter()
        .find(|g| g.gate == sdl_gate::gates::GateKind::SecurityReview)
        .expect("the review gate");
    assert_eq!(review.verdict, sdl_gate::gates::Verdict::Waived);
    assert!(
        review.requirements.iter().any(|r| r == "SI-1"),
        "{review:?}"
    );
    assert!(last.standard.contains("62443-4-1"), "{}", last.standard);
    let Entry::Merge(merge) = &entries[4].entry else {
        panic!("a merge")
    };
    assert!(!merge.bypassed, "{merge:?}");
    assert_eq!(merge.verdict, Some(OverallVerdict::Pass));
    assert_eq!(merge.evaluation_seq, Some(entries[3].seq));
    assert_eq!(merge.merged_by.as_deref(), Some("carol"));
    assert_eq!(merge.merge_commit.as_deref(), Some("4e7c0ffee"));
    assert_eq!(
        merge.title.as_deref(),
        Some("Badge login <rate limit>"),
        "the title the webhook gave, for the auditor report"
    );
    // The chain, numbered without gaps from the first entry, verifies.
    let verified = app.verify_ledger().await;
    assert_eq!(verified.entries, entries.len() as u64);
    assert_eq!(verified.unsealed, 0);
    assert!(
        !app.bot_comments()
            .iter()
            .any(|c| c.contains("Merged bypassing")),
        "a green merge is no bypass"
    );
    app.done();
}

/// Merged while red: the merge is a bypass, the sticky comment says so once, and a merge
/// delivered twice is recorded once.
async fn a_change_merged_red_is_a_recorded_bypass(forge: ForgeName) {
    let mut app = App::start(forge, Some(NEEDS_REVIEW)).await;
    app.open().await;
    assert_ne!(app.verdict().as_deref(), Some("success"));
    app.merge("mallory", "bad0c0de").await;
    app.merge("mallory", "bad0c0de").await;
    let entries = app.ledger().await;
    let merges: Vec<_> = entries
        .iter()
        .filter_map(|e| match &e.entry {
            sdl_gate::ledger::Entry::Merge(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(merges.len(), 1, "one merge entry: {entries:#?}");
    assert!(merges[0].bypassed);
    assert_eq!(
        merges[0].verdict,
        Some(sdl_gate::gates::OverallVerdict::Pending),
        "still waiting for the security review"
    );
    let notices: Vec<String> = app
        .bot_comments()
        .into_iter()
        .filter(|c| c.contains("Merged bypassing sdl-gate"))
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].matches("Merged bypassing sdl-gate").count(), 1);
    assert!(
        notices[0].starts_with("<!-- sdl-gate:summary -->"),
        "in the sticky comment"
    );
    assert!(notices[0].contains("mallory"), "{}", notices[0]);
    assert_eq!(app.stickies(), 1);
    app.verify_ledger().await;
    app.done();
}

/// `/sdl help` without a policy shows the defaults, needs no permission look-up, and says
/// what revokes a waiver on this forge.
async fn help_without_a_policy_shows_the_defaults(forge: ForgeName) {
    let mut app = App::start(forge, None).await;
    let help = app.comment("carol", "/sdl help").await;
    let answers = app.replies();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert!(answers[0].starts_with(&format!("<!-- sdl-gate:reply:{help} -->")));
    assert!(
        answers[0].contains("the table shows the defaults"),
        "{}",
        answers[0]
    );
    assert_eq!(app.reactions(help), ["eyes", "+1"]);
    assert!(
        app.requests("GET", Paths::permission(&app.fake)).is_empty(),
        "help needs no permission look-up"
    );
    // The documented difference: GitLab reports no deleted note.
    let deleting =
        answers[0].contains("Editing or deleting a comment that granted a waiver revokes");
    assert_eq!(deleting, forge == ForgeName::GitHub, "{}", answers[0]);
    if forge == ForgeName::GitLab {
        assert!(
            answers[0].contains("deleting it does not"),
            "{}",
            answers[0]
        );
    }
    app.done();
}

/// The bot's own comments and other bots' are never commands.
async fn comments_by_bots_are_never_commands(forge: ForgeName) {
    let mut app = App::start(forge, Some(PASSING)).await;
    for user in [app.bot(), app.other_bot().to_owned()] {
        let id = app.comment(&user, "/sdl recheck").await;
        assert!(
            app.reactions(id).is_empty(),
            "{user}: {:?}",
            app.reactions(id)
        );
    }
    assert!(app.replies().is_empty(), "{:?}", app.replies());
    assert_eq!(app.verdict(), None, "no evaluation was asked for");
    app.done();
}

/// A passing change gets no sticky comment by default; `/sdl status` posts it anyway and
/// acknowledges after the evaluation; `/sdl recheck` needs no permission look-up.
async fn status_forces_the_sticky_comment(forge: ForgeName) {
    let mut app = App::start(forge, Some(PASSING)).await;
    app.open().await;
    assert_eq!(app.verdict().as_deref(), Some("success"));
    assert_eq!(app.stickies(), 0, "comment: on_failure");
    let recheck = app.comment("mallory", "/sdl recheck").await;
    assert_eq!(app.reactions(recheck), ["eyes", "+1"]);
    assert_eq!(app.stickies(), 0, "recheck does not force the comment");
    let status = app.comment("carol", "/sdl status").await;
    assert_eq!(app.stickies(), 1, "status forces the sticky comment");
    assert_eq!(app.reactions(status), ["eyes", "+1"]);
    assert!(
        app.requests("GET", Paths::permission(&app.fake)).is_empty(),
        "recheck and status need no permission look-up"
    );
    app.done();
}

/// Editing the comment that granted a waiver revokes it, warns, and replies once for any
/// number of edits.
async fn an_edited_waiver_comment_revokes_and_replies_once(forge: ForgeName) {
    let mut app = App::start(forge, Some(PASSING)).await;
    app.open().await;
    let waive = app.comment("carol", WAIVE).await;
    let waivers = app.waivers().await;
    assert_eq!(waivers.len(), 1, "granted: {:?}", app.replies());
    assert!(waivers[0].revoked.is_none());
    assert!(
        !app.requests("GET", Paths::permission(&app.fake)).is_empty(),
        "a waiver needs the permission"
    );
    let before = app.replies().len();
    app.edit(waive, "carol", "(edited)").await;
    app.edit(waive, "carol", "(edited again)").await;
    let waivers = app.waivers().await;
    assert_eq!(waivers[0].revoked.as_deref(), Some("comment edited"));
    let after = app.replies();
    assert_eq!(
        after.len(),
        before + 1,
        "one reply for two edits: {after:?}"
    );
    assert!(after[after.len() - 1].contains(&format!("Comment {waive} was edited")));
    app.done();
}

/// Someone without the permission is refused with the reason, and nothing is granted.
async fn a_waiver_without_the_permission_is_refused(forge: ForgeName) {
    let mut app = App::start(forge, Some(PASSING)).await;
    let id = app.comment("mallory", WAIVE).await;
    assert!(app.waivers().await.is_empty());
    let answers = app.replies();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert!(
        answers[0].contains("maintain"),
        "names what is needed: {}",
        answers[0]
    );
    assert_eq!(app.reactions(id), ["eyes", "confused"]);
    app.done();
}

/// `/sdl threat-model` is recorded with the comment that gave it and fed to the gate.
async fn a_threat_model_reference_is_recorded(forge: ForgeName) {
    let mut app = App::start(forge, Some(PASSING)).await;
    let id = app
        .comment("carol", "/sdl threat-model https://tm.example.com/TM-20")
        .await;
    let refs = app
        .store
        .threat_model_refs(forge, REPO, N)
        .await
        .unwrap_or_default();
    assert_eq!(refs.len(), 1, "{:?}", app.replies());
    assert_eq!(refs[0].reference.reference, "https://tm.example.com/TM-20");
    assert_eq!(refs[0].reference.comment_id, Some(id));
    assert_eq!(app.reactions(id), ["eyes", "+1"]);
    app.done();
}

/// A refused reaction does not stop the command.
async fn a_refused_reaction_does_not_stop_the_command(forge: ForgeName) {
    let mut app = App::start(forge, Some(PASSING)).await;
    let path = Paths::reactions(&app.fake);
    fault(&app.fake, Method::POST, path, 10, FaultKind::Status(403));
    let waive = app.comment("carol", WAIVE).await;
    assert_eq!(
        app.waivers().await.len(),
        1,
        "granted although every reaction was refused"
    );
    assert!(app.reactions(waive).is_empty());
    assert!(
        !app.requests("POST", path).is_empty(),
        "reactions were tried"
    );
    app.done();
}

/// The crash-resume rule: a comment claimed by an earlier run whose reply exists gets no
/// second reply, and the run finishes.
async fn a_resumed_comment_posts_no_second_reply(forge: ForgeName) {
    let mut app = App::start(forge, Some(PASSING)).await;
    let help = app.post("carol", "/sdl help");
    let claim = app
        .store
        .claim_comment(forge, REPO, N, help, Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claim, CommentClaim::New);
    let bot = app.bot();
    app.post(
        &bot,
        &format!("<!-- sdl-gate:reply:{help} -->\nthe earlier run's reply"),
    );
    let (event, hook) = app.comment_hook("created", help, "carol", "/sdl help");
    app.deliver(&event, &hook).await;
    assert_eq!(
        app.replies().len(),
        1,
        "no second reply: {:?}",
        app.replies()
    );
    assert_eq!(app.reactions(help), ["eyes", "+1"], "the run finished");
    // Done now: a redelivery runs nothing again.
    app.deliver(&event, &hook).await;
    assert_eq!(app.replies().len(), 1);
    app.done();
}

/// A lost answer to a write (it took effect, the bot saw a 502): the retry finds what the lost
/// request made instead of making it twice.
async fn a_lost_answer_to_a_write_makes_no_duplicate(forge: ForgeName) {
    let mut app = App::start_with(forge, Some(ALWAYS_COMMENT), |fake| {
        fault(
            fake,
            Method::POST,
            &Paths::comments(fake),
            1,
            FaultKind::StatusAfterApply(502),
        )
    })
    .await;
    app.open().await;
    assert_eq!(app.verdict().as_deref(), Some("success"));
    assert_eq!(
        app.stickies(),
        1,
        "one sticky comment despite the lost answer"
    );
    let posts = app.requests("POST", &Paths::comments(&app.fake));
    assert_eq!(posts.len(), 1, "the retry found the comment: {posts:?}");
    assert_eq!(posts[0].status, 502, "the answer was lost");
    let evaluations = app
        .store
        .evaluations(forge, REPO, N, 10)
        .await
        .unwrap_or_default();
    assert_eq!(evaluations.len(), 1, "recorded once");
    app.done();
}

/// Server errors on the verdict are retried and the verdict is published once.
async fn server_errors_are_retried_and_publish_once(forge: ForgeName) {
    let mut app = App::start_with(forge, Some(PASSING), |fake| {
        fault(
            fake,
            Method::POST,
            Paths::verdict(fake),
            2,
            FaultKind::Status(502),
        )
    })
    .await;
    app.open().await;
    assert_eq!(app.verdict().as_deref(), Some("success"));
    let writes = app.requests("POST", Paths::verdict(&app.fake));
    let statuses: Vec<u16> = writes.iter().map(|c| c.status).collect();
    assert_eq!(statuses[..2], [502, 502], "{statuses:?}");
    // GitLab first marks the commit `pending` (a commit status has no "in progress with
    // output"); the verdict itself is written once on both.
    let verdicts = writes
        .iter()
        .filter(|c| c.status < 300)
        .filter(|c| {
            let body = c.body.as_ref();
            body.and_then(|b| b.get("state"))
                .is_none_or(|s| s != "pending")
        })
        .count();
    assert_eq!(verdicts, 1, "published once: {writes:?}");
    app.done();
}

/// A rate limit is waited out for as long as the forge says, then the job goes on.
async fn a_rate_limit_is_waited_out(forge: ForgeName) {
    let mut app = App::start_with(forge, Some(PASSING), |fake| {
        let kind = FaultKind::TooManyRequests { retry_after: 1 };
        fault(fake, Method::GET, &Paths::head(fake), 1, kind)
    })
    .await;
    let started = std::time::Instant::now();
    app.open().await;
    assert_eq!(app.verdict().as_deref(), Some("success"));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited as told: {:?}",
        started.elapsed()
    );
    let limited = app.journal().iter().filter(|c| c.status == 429).count();
    assert_eq!(limited, 1);
    app.done();
}

/// Every row, as one test per forge.
macro_rules! parity {
    ($($row:ident),* $(,)?) => {
        $(
            mod $row {
                use sdl_gate::forge_name::ForgeName;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn github() {
                    super::$row(ForgeName::GitHub).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn gitlab() {
                    super::$row(ForgeName::GitLab).await;
                }
            }
        )*
    };
}

parity! {
    no_verdict_goes_out_unrecorded,
    a_policy_change_on_the_default_branch_is_recorded,
    a_change_merged_green_is_recorded_in_order,
    a_release_after_two_merges_names_both,
    a_change_merged_red_is_a_recorded_bypass,
    help_without_a_policy_shows_the_defaults,
    comments_by_bots_are_never_commands,
    status_forces_the_sticky_comment,
    an_edited_waiver_comment_revokes_and_replies_once,
    a_waiver_without_the_permission_is_refused,
    a_threat_model_reference_is_recorded,
    a_refused_reaction_does_not_stop_the_command,
    a_resumed_comment_posts_no_second_reply,
    a_lost_answer_to_a_write_makes_no_duplicate,
    server_errors_are_retried_and_publish_once,
    a_rate_limit_is_waited_out,
}
