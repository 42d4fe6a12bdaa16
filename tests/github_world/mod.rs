//! The GitHub App through the whole service, as the scenario tests drive it: the fake GitHub
//! (real octocrab client, every request checked against GitHub's REST description), a store,
//! the GitHub processor behind the durable queue and real HTTP in. Shared by
//! `github_scenarios` and `github_merge_queue`; each adds the `impl World` helpers it needs.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sdl_gate::engine::GithubProcessor;
use sdl_gate::engine::github::fanout::FanoutSettings;
use sdl_gate::forge::github::{GithubConfig, GithubForge};
use sdl_gate::server::RunningService;
use sdl_gate::settings::QueueSettings;
use sdl_gate::store::Store;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::fake_github::{APP_ID, FakeGithub, INSTALLATION, TEST_KEY_PEM};
use crate::service_support::{
    GITHUB_SECRET, TestDb, config, fixture, open, send_github, spawn, wait_drained,
};

pub const REPO: &str = "acme/plc";

/// Every gate on: a change under `src/auth/` needs a threat model and a security review,
/// CodeQL must pass, a `Cargo.lock` change needs `cargo-audit` and an SBOM.
pub const POLICY: &str = r##"
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
  dependencies:
    manifests: ["**/Cargo.lock"]
    checks: ["cargo-audit"]
  sbom:
    enabled: true
    paths: ["sbom/**"]
"##;

pub const SBOM: &str = r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
  "metadata": {"component": {"type": "application", "name": "plc"}},
  "components": [{"type": "library", "name": "serde", "version": "1.0.200", "purl": "pkg:cargo/serde@1.0.200"}]}"#;

/// Queue settings for scenarios: fast, and patient enough for injected faults.
pub fn queue() -> QueueSettings {
    QueueSettings {
        debounce: Duration::from_millis(50),
        lease: Duration::from_secs(10),
        max_attempts: 60,
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(100),
        poll_interval: Duration::from_millis(20),
    }
}

/// The real GitHub client pointed at the fake.
pub fn forge(fake: &FakeGithub) -> GithubForge {
    let mut cfg = GithubConfig::new(APP_ID, SecretString::from(TEST_KEY_PEM));
    cfg.api_url = fake.url.clone();
    cfg.timeout = Duration::from_secs(5);
    GithubForge::new(cfg).unwrap_or_else(|e| panic!("forge: {e}"))
}

/// The fake GitHub, a store and the running service.
pub struct World {
    pub fake: FakeGithub,
    pub store: Store,
    pub svc: Option<RunningService>,
    pub base: String,
    pub client: reqwest::Client,
    pub deliveries: AtomicUsize,
    pub _db: TestDb,
}

/// The service on `db`, in front of a fake GitHub where carol is in `acme/security`.
pub async fn world_on(db: TestDb) -> World {
    let fake = FakeGithub::start().await;
    fake.team("acme", "security", &["carol"]);
    let store = open(&db).await;
    let processor =
        GithubProcessor::new(forge(&fake), store.clone(), None).with_fanout(FanoutSettings {
            max_pulls: 50,
            ..FanoutSettings::default()
        });
    let svc = spawn(store.clone(), Arc::new(processor), config(queue(), 3)).await;
    World {
        base: format!("http://{}", svc.addr),
        fake,
        store,
        svc: Some(svc),
        client: reqwest::Client::new(),
        deliveries: AtomicUsize::new(0),
        _db: db,
    }
}

impl World {
    /// Sends a signed delivery and expects it accepted.
    pub async fn send(&self, event: &str, body: &Value) {
        let n = self.deliveries.fetch_add(1, Ordering::Relaxed);
        let (status, text) = send_github(
            &self.client,
            &self.base,
            GITHUB_SECRET,
            event,
            &format!("scenario-{n}-{}", std::process::id()),
            &body.to_string(),
        )
        .await;
        assert!(status == 202, "{event} answered {status}: {text}");
    }

    /// Waits until the queue is idle, with no job parked.
    pub async fn drain(&self) {
        let depth = wait_drained(&self.store, Duration::from_secs(90)).await;
        assert_eq!(depth.parked, 0, "no job parked");
    }
}

/// A webhook fixture as JSON, or `{}` when the fixtures are absent: the fields the scenarios
/// need are set on top either way.
pub fn shaped_like(rel: &str) -> Value {
    fixture(&format!("github-webhooks/octokit-webhooks/{rel}"))
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({}))
}

/// `v` about `repo` on its `main` branch, from the fake's installation.
pub fn with_repo(mut v: Value, repo: &str) -> Value {
    v["repository"]["full_name"] = json!(repo);
    v["repository"]["name"] = json!(repo.split('/').nth(1).unwrap_or(repo));
    v["repository"]["default_branch"] = json!("main");
    v["repository"]["master_branch"] = json!("main");
    v["installation"] =
        json!({"id": INSTALLATION, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNzc3"});
    v
}
