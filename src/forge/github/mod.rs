//! GitHub as a [`Forge`]: a GitHub App (installation tokens) talking to api.github.com or a
//! GitHub Enterprise Server, through `octocrab`.
//!
//! - [`auth`]: the App's JWT and the installation token cache;
//! - `http`: one authenticated request, paging, and status → [`ForgeError`] mapping;
//! - `etag`: the bounded, per-process cache of GET answers that makes reads conditional;
//! - `snapshot`: the pull request → [`Snapshot`], with few requests;
//! - `graphql`: one GraphQL query for the pull request, its policy, reviews and check runs,
//!   and the organisation's policy (the App on api.github.com), falling back to the REST reads when it fails;
//! - `publish`: the `sdl-gate` check run and the sticky comment, idempotently;
//! - `listing`: open pull requests by head or repository, installations and their
//!   repositories (fan-out and reconciliation).
//! - `interact`: reactions, replies and permissions for `/sdl` commands;
//! - `merge_group`: a merge queue group's diff and its pull requests' paths.
//!
//! The forge keeps small in-memory hints between calls (the `sdl-gate` check run id per head
//! commit, the sticky comment per pull request, the comment count of the last `head`), so
//! that publishing right after a snapshot needs no extra lookups. A hint that turns out wrong
//! (a deleted comment) is dropped and the lookup done again; nothing depends on hints for
//! correctness across restarts.

pub mod auth;
mod code_scanning;
mod etag;
mod graphql;
mod http;
mod interact;
mod listing;
mod merge_group;
mod model;
mod publish;
mod snapshot;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use secrecy::SecretString;

/// The organisation's policy file the GraphQL query reads (equal to the policy's).
pub use graphql::ORG_POLICY_PATH as GRAPHQL_ORG_POLICY_PATH;
/// The policy paths the GraphQL query reads on the base branch (equal to the policy's).
pub use graphql::POLICY_PATHS as GRAPHQL_POLICY_PATHS;
pub use listing::{InstallationRef, OpenPull, PullListing};
pub use merge_group::{COMPARE_FILES_MAX, GroupDiff};

use crate::snapshot::{Login, Sha, Snapshot, TeamSlug};

use super::{
    ChangeHead, ChangeRef, Forge, ForgeError, Needs, Notice, PolicyFile, Publication,
    PublishOptions, Published,
};

/// The default API base URL.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The name of sdl-gate's check run.
pub const CHECK_NAME: &str = "sdl-gate";

/// How long "no sdl-gate run on this commit" from a snapshot's listing is trusted, so that
/// publishing in the same job needs no second listing.
pub const NEGATIVE_RUN_HINT: Duration = Duration::from_secs(10);

/// How long GitHub's 404 for an organisation's policy (`{org}/.github/sdl-gate.yml`) is
/// trusted: the most common answer, and one that 304s cannot make free, so without this every
/// evaluation of every pull request in an organisation without a policy would spend a counted
/// request on it. A newly added organisation policy applies within this time.
pub const NO_ORG_POLICY_HINT: Duration = Duration::from_secs(60);

/// Hint caches hold at most this many entries each before they are emptied.
const HINT_LIMIT: usize = 10_000;

/// How to reach GitHub as the App.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// REST API base URL (`SDL_GATE_GITHUB_API_URL`); `https://ghe.example.com/api/v3` for
    /// GitHub Enterprise Server, `http://127.0.0.1:port` for the test fake.
    pub api_url: String,
    /// The App id (`SDL_GATE_GITHUB_APP_ID`).
    pub app_id: u64,
    /// The App's private key, PEM (a file named by `SDL_GATE_GITHUB_PRIVATE_KEY_PATH`, or the
    /// PEM itself in `SDL_GATE_GITHUB_PRIVATE_KEY`).
    pub private_key: SecretString,
    /// The App's bot login (`my-app[bot]`, `SDL_GATE_GITHUB_BOT_LOGIN`); looked up once with
    /// `GET /app` when absent.
    pub bot_login: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Whether an evaluation's reads go through the one GraphQL query (on by default;
    /// `SDL_GATE_GITHUB_GRAPHQL=off` keeps them REST). Never on for GitHub Enterprise Server.
    pub graphql: bool,
}

impl GithubConfig {
    /// A configuration with the default URL and timeout.
    pub fn new(app_id: u64, private_key: SecretString) -> Self {
        GithubConfig {
            api_url: DEFAULT_API_URL.to_string(),
            app_id,
            private_key,
            bot_login: None,
            timeout: Duration::from_secs(30),
            graphql: true,
        }
    }

    /// Reads the configuration from the environment (names above).
    pub fn from_env() -> Result<Self, ForgeError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let app_id = var("SDL_GATE_GITHUB_APP_ID")
            .ok_or_else(|| ForgeError::Config {
                what: "SDL_GATE_GITHUB_APP_ID is not set".into(),
            })?
            .trim()
            .parse::<u64>()
            .map_err(|e| ForgeError::Config {
                what: format!("SDL_GATE_GITHUB_APP_ID is not a number: {e}"),
            })?;
        // `SDL_GATE_GITHUB_PRIVATE_KEY_PATH` is the service's documented name; `_FILE` is
        // accepted as an alias.
        let key = match (
            var("SDL_GATE_GITHUB_PRIVATE_KEY"),
            var("SDL_GATE_GITHUB_PRIVATE_KEY_PATH")
                .or_else(|| var("SDL_GATE_GITHUB_PRIVATE_KEY_FILE")),
        ) {
            (Some(pem), _) => SecretString::from(pem),
            (None, Some(path)) => {
                SecretString::from(std::fs::read_to_string(&path).map_err(|e| {
                    ForgeError::Config {
                        what: format!("cannot read SDL_GATE_GITHUB_PRIVATE_KEY_PATH {path}: {e}"),
                    }
                })?)
            }
            (None, None) => {
                return Err(ForgeError::Config {
                    what: "set SDL_GATE_GITHUB_PRIVATE_KEY_PATH (or SDL_GATE_GITHUB_PRIVATE_KEY)"
                        .into(),
                });
            }
        };
        let mut config = GithubConfig::new(app_id, key);
        if let Some(url) = var("SDL_GATE_GITHUB_API_URL") {
            config.api_url = url;
        }
        config.bot_login = var("SDL_GATE_GITHUB_BOT_LOGIN");
        if let Some(v) = var("SDL_GATE_GITHUB_GRAPHQL") {
            config.graphql = match v.trim().to_ascii_lowercase().as_str() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                other => {
                    return Err(ForgeError::Config {
                        what: format!("SDL_GATE_GITHUB_GRAPHQL is `{other}`, not `on` or `off`"),
                    });
                }
            };
        }
        Ok(config)
    }
}

/// What an earlier call learnt about our check run on one head commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunHint {
    pub id: u64,
    pub conclusion: Option<String>,
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub details_url: Option<String>,
}

/// The sticky comment of one pull request as last seen or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StickyHint {
    pub id: u64,
    pub body: String,
}

/// Our run per (repository, head commit), with when that was learnt.
type RunHints = HashMap<(String, Sha), (Option<RunHint>, std::time::Instant)>;

/// Team membership per (org, team, login), with when it was learnt.
type MemberHints = HashMap<(String, String, String), (bool, std::time::Instant)>;

#[derive(Debug, Default)]
pub(crate) struct Hints {
    /// Our check run per head commit: `Some` once known; `None` = the listing a moment ago
    /// showed none (trusted for [`NEGATIVE_RUN_HINT`] only).
    pub runs: Mutex<RunHints>,
    pub sticky: Mutex<HashMap<(String, u64), StickyHint>>,
    pub comment_count: Mutex<HashMap<(String, u64), u64>>,
    /// (org, team, login) → (member, when learnt).
    pub members: Mutex<MemberHints>,
    /// (repository, commit) → the commit's parents; commits never change.
    pub parents: Mutex<HashMap<(String, String), Vec<String>>>,
    /// (repository, base branch, commit) → the change's `git patch-id --verbatim` there, once
    /// known; a commit's diff against where it left the base does not change.
    pub patch_ids: Mutex<HashMap<(String, String, String), String>>,
    /// (installation, owner) → when GitHub last answered 404 for the organisation's policy
    /// (trusted for [`NO_ORG_POLICY_HINT`]).
    pub no_org_policy: Mutex<HashMap<(u64, String), std::time::Instant>>,
    pub bot_login: tokio::sync::OnceCell<String>,
    /// (repository, number) → what the last `head` read through GraphQL, for the `policy`
    /// and `snapshot` of the same evaluation (trusted for [`PREFETCH_TTL`] and the same head).
    pub prefetch: Mutex<HashMap<(String, u64), (graphql::Prefetch, std::time::Instant)>>,
}

/// How long the GraphQL reads of a `head` are used by the `policy` and `snapshot` after it.
pub const PREFETCH_TTL: Duration = Duration::from_secs(10);

/// Locks a hint map, surviving a poisoned lock (hints are only hints).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Inserts into a hint map, emptying it first when it grew past [`HINT_LIMIT`].
pub(crate) fn remember<K: std::hash::Hash + Eq, V>(m: &Mutex<HashMap<K, V>>, k: K, v: V) {
    let mut g = lock(m);
    if g.len() >= HINT_LIMIT {
        g.clear();
    }
    g.insert(k, v);
}

/// A GitHub App installation client implementing [`Forge`].
#[derive(Debug)]
pub struct GithubForge {
    http: http::Http,
    hints: Hints,
    bot_login: Option<String>,
    /// The GraphQL endpoint's path when the evaluation's reads go through GraphQL.
    graphql: Option<&'static str>,
    graphql_queries: std::sync::atomic::AtomicU64,
    graphql_points: std::sync::atomic::AtomicU64,
    graphql_fallbacks: std::sync::atomic::AtomicU64,
}

/// `owner/name` split, or a configuration error.
pub(crate) fn split_repo(repository: &str) -> Result<(&str, &str), ForgeError> {
    match repository.split_once('/') {
        Some((o, r)) if !o.is_empty() && !r.is_empty() && !r.contains('/') => Ok((o, r)),
        _ => Err(ForgeError::Config {
            what: format!("`{repository}` is not a GitHub `owner/name` repository"),
        }),
    }
}

/// The installation id of a change, required on GitHub.
pub(crate) fn installation(change: &ChangeRef) -> Result<u64, ForgeError> {
    change.installation.ok_or_else(|| ForgeError::Config {
        what: format!(
            "no GitHub App installation id for {}#{}",
            change.repository, change.number
        ),
    })
}

impl GithubForge {
    /// A client for the App described by `config`.
    pub fn new(config: GithubConfig) -> Result<Self, ForgeError> {
        let creds = auth::AppCredentials::from_pem(config.app_id, config.private_key)?;
        let auth = http::Auth::App {
            creds,
            tokens: auth::TokenCache::default(),
        };
        Ok(GithubForge {
            http: http::Http::new(&config.api_url, auth, config.timeout)?,
            hints: Hints::default(),
            bot_login: config.bot_login,
            graphql: graphql::endpoint(&config.api_url).filter(|_| config.graphql),
            graphql_queries: Default::default(),
            graphql_points: Default::default(),
            graphql_fallbacks: Default::default(),
        })
    }

    /// A client that authenticates with one token (the Action's `GITHUB_TOKEN`), or
    /// anonymously when `token` is `None`. Check runs and comments then belong to
    /// `bot_login` (`github-actions[bot]` for the workflow token). The installation id of a
    /// [`ChangeRef`] is ignored in this mode.
    pub fn with_token(
        api_url: &str,
        token: Option<SecretString>,
        bot_login: &str,
        timeout: Duration,
    ) -> Result<Self, ForgeError> {
        Ok(GithubForge {
            http: http::Http::new(api_url, http::Auth::Token(token), timeout)?,
            hints: Hints::default(),
            bot_login: Some(bot_login.to_string()),
            graphql: None,
            graphql_queries: Default::default(),
            graphql_points: Default::default(),
            graphql_fallbacks: Default::default(),
        })
    }

    /// HTTP requests sent so far (every attempt, token requests included): for metrics and
    /// the request-budget tests.
    pub fn requests_sent(&self) -> u64 {
        self.http.sent()
    }

    /// Of [`Self::requests_sent`], the conditional GETs GitHub answered `304 Not Modified`
    /// (answered from the ETag cache; GitHub does not count them against the rate limit).
    pub fn requests_not_modified(&self) -> u64 {
        self.http.not_modified()
    }

    /// Turns the GraphQL reads off (`false`): every read of an evaluation is REST, as for the
    /// Action and GitHub Enterprise Server. On by default for the App on api.github.com.
    pub fn with_graphql(mut self, on: bool) -> Self {
        self.graphql = if on { Some("/graphql") } else { None };
        self
    }

    /// GraphQL queries answered so far (each counted against GraphQL's own points budget,
    /// not REST's requests).
    pub fn graphql_queries(&self) -> u64 {
        self.graphql_queries
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// GraphQL points spent so far (the answers' `rateLimit.cost`).
    pub fn graphql_points(&self) -> u64 {
        self.graphql_points
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// GraphQL queries that failed (not on a rate limit) and were replaced by REST reads.
    pub fn graphql_fallbacks(&self) -> u64 {
        self.graphql_fallbacks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What we know of our run on a commit (`Some(None)`: none, freshly listed).
    pub(crate) fn run_hint(&self, key: &(String, Sha)) -> Option<Option<RunHint>> {
        let g = lock(&self.hints.runs);
        match g.get(key) {
            Some((Some(h), _)) => Some(Some(h.clone())),
            Some((None, at)) if at.elapsed() < NEGATIVE_RUN_HINT => Some(None),
            _ => None,
        }
    }

    pub(crate) fn remember_run(&self, key: (String, Sha), hint: Option<RunHint>) {
        remember(&self.hints.runs, key, (hint, std::time::Instant::now()));
    }

    /// The policy at one given path on `base_ref` (the Action's `policy` input), `None`
    /// when the file does not exist there.
    pub async fn policy_file(
        &self,
        change: &ChangeRef,
        base_ref: &str,
        path: &str,
    ) -> Result<Option<PolicyFile>, ForgeError> {
        snapshot::policy_at(self, change, base_ref, &[path]).await
    }

    /// Forgets every hint, as after a restart.
    pub fn forget_hints(&self) {
        lock(&self.hints.runs).clear();
        lock(&self.hints.sticky).clear();
        lock(&self.hints.comment_count).clear();
        lock(&self.hints.members).clear();
        lock(&self.hints.parents).clear();
        lock(&self.hints.no_org_policy).clear();
        lock(&self.hints.prefetch).clear();
    }
}

impl Forge for GithubForge {
    fn capabilities(&self) -> super::Capabilities {
        super::Capabilities::GITHUB
    }

    async fn head(&self, change: &ChangeRef) -> Result<ChangeHead, ForgeError> {
        snapshot::head(self, change).await
    }

    async fn policy(
        &self,
        change: &ChangeRef,
        base_ref: &str,
        paths: &[&str],
    ) -> Result<Option<PolicyFile>, ForgeError> {
        snapshot::policy(self, change, base_ref, paths).await
    }

    fn org_policy_location(&self, change: &ChangeRef, path: &str) -> Option<String> {
        let (owner, _) = split_repo(&change.repository).ok()?;
        Some(format!("{owner}/{}/{path}", snapshot::ORG_POLICY_REPO))
    }

    async fn org_policy(
        &self,
        change: &ChangeRef,
        path: &str,
    ) -> Result<Option<super::OrgPolicyFile>, ForgeError> {
        snapshot::org_policy(self, change, path).await
    }

    async fn snapshot(
        &self,
        change: &ChangeRef,
        head: &ChangeHead,
        needs: &Needs,
    ) -> Result<Snapshot, ForgeError> {
        snapshot::snapshot(self, change, head, needs).await
    }

    async fn patch_ids(
        &self,
        change: &ChangeRef,
        base_ref: &str,
        commits: &[Sha],
    ) -> Result<std::collections::BTreeMap<Sha, crate::snapshot::PatchIdentity>, ForgeError> {
        snapshot::patch_ids(self, change, base_ref, commits).await
    }

    async fn publish(
        &self,
        change: &ChangeRef,
        publication: &Publication,
    ) -> Result<Published, ForgeError> {
        publish::publish(self, change, publication).await
    }

    async fn team_member(
        &self,
        change: &ChangeRef,
        team: &TeamSlug,
        login: &Login,
    ) -> Result<bool, ForgeError> {
        snapshot::team_member(self, change, team, login).await
    }

    async fn publish_notice(
        &self,
        change: &ChangeRef,
        head_sha: &Sha,
        notice: &Notice,
        opts: &PublishOptions,
    ) -> Result<Published, ForgeError> {
        publish::publish_notice(self, change, head_sha, notice, opts).await
    }
}
