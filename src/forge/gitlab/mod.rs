//! GitLab as a [`Forge`]: a bot user's access token against gitlab.com or a self-managed
//! instance, through the `gitlab` crate's async client.
//!
//! - `http`: one authenticated request, paging, and status → [`ForgeError`] mapping;
//! - `snapshot`: the merge request → [`Snapshot`] (diffs, approvals, head pipeline jobs and
//!   their security report artifacts, group memberships, the policy from the target branch);
//! - `publish`: the `sdl-gate` commit status and the sticky note, idempotently; award emoji
//!   and reply notes for `/sdl` commands.
//!
//! A change is named by its project path (`group/sub/project`) and MR IID; the path is sent
//! URL-encoded as the project id, so no project-id lookup is needed.

mod http;
mod interact;
mod model;
mod publish;
mod snapshot;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use crate::snapshot::{Login, Sha, Snapshot, TeamSlug};

use super::{
    ChangeHead, ChangeRef, Forge, ForgeError, Needs, Notice, PolicyFile, Publication,
    PublishOptions, Published,
};

pub use publish::Emoji;

/// The name of sdl-gate's commit status.
pub const STATUS_NAME: &str = "sdl-gate";

/// GitLab limits a commit status description to this many characters.
pub const DESCRIPTION_LIMIT: usize = 255;

/// How long a status listing made by the snapshot is trusted by the publish that follows.
const STATUS_HINT: Duration = Duration::from_secs(10);

/// How long membership and user-id answers are reused.
pub const MEMBERSHIP_TTL: Duration = Duration::from_secs(60);

/// How to reach GitLab as the bot.
#[derive(Debug, Clone)]
pub struct GitlabConfig {
    /// Base URL of the instance (`SDL_GATE_GITLAB_URL`): `https://gitlab.com`,
    /// `https://git.example.com/gitlab`, `http://127.0.0.1:port` for the test fake. A trailing
    /// `/api/v4` is accepted.
    pub url: String,
    /// The bot's access token with the `api` scope (`SDL_GATE_GITLAB_TOKEN`).
    pub token: SecretString,
    /// Per-request timeout.
    pub timeout: Duration,
    /// The project holding the organisation's policy (`SDL_GATE_GITLAB_POLICY_PROJECT`,
    /// `group/policies`): its `sdl-gate.yml` at the default branch is the default of every
    /// project without a policy and the floor of every project's. `None`: no such policy.
    pub policy_project: Option<String>,
}

impl GitlabConfig {
    /// A configuration with a 30 s timeout.
    pub fn new(url: impl Into<String>, token: SecretString) -> Self {
        GitlabConfig {
            url: url.into(),
            token,
            timeout: Duration::from_secs(30),
            policy_project: None,
        }
    }
}

/// Our commit status on one head commit, as last listed or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusHint {
    pub status: String,
    pub description: String,
    pub target_url: Option<String>,
}

type StatusHints = HashMap<(String, Sha), (Option<StatusHint>, Instant)>;
type TimedHints<K, V> = HashMap<K, (V, Instant)>;

#[derive(Debug, Default)]
pub(crate) struct Hints {
    /// Our status per (project, sha): `None` = none a moment ago.
    pub statuses: Mutex<StatusHints>,
    /// The sticky note per (project, iid): (id, body).
    pub sticky: Mutex<HashMap<(String, u64), (u64, String)>>,
    /// Head pipeline and diff-limit flag of the last `head` per (project, iid).
    pub pipelines: Mutex<HashMap<(String, u64), snapshot::MrExtras>>,
    /// Notes count of the last `head` per (project, iid).
    pub note_count: Mutex<HashMap<(String, u64), u64>>,
    /// username (lower case) → user id (`None`: no such user).
    pub users: Mutex<TimedHints<String, Option<u64>>>,
    /// (group, user id) → member.
    pub members: Mutex<TimedHints<(String, u64), bool>>,
}

// The bounded hint maps work as on GitHub: one lock-and-remember for both forges.
pub(crate) use super::github::{lock, remember};

/// A GitLab bot client implementing [`Forge`].
#[derive(Debug)]
pub struct GitlabForge {
    http: http::Http,
    hints: Hints,
    bot: Login,
    bot_id: u64,
    policy_project: Option<String>,
}

/// `scheme://host[:port][/prefix]` → (secure, `host[:port][/prefix]`).
fn split_url(url: &str) -> Result<(bool, String), ForgeError> {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix("/api/v4").unwrap_or(url);
    let (secure, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(ForgeError::Config {
            what: format!("SDL_GATE_GITLAB_URL `{url}` must start with https:// (or http://)"),
        });
    };
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(ForgeError::Config {
            what: format!("SDL_GATE_GITLAB_URL `{url}` has no host, or has a query or fragment"),
        });
    }
    Ok((secure, rest.to_string()))
}

/// Connects to GitLab: builds the `gitlab` crate's async client (which checks the token
/// with `GET /api/v4/user`) and learns the bot's own user name for finding its notes.
pub async fn connect(config: GitlabConfig) -> Result<GitlabForge, ForgeError> {
    let policy_project = config
        .policy_project
        .as_deref()
        .map(|p| p.trim_matches('/').to_string())
        .filter(|p| !p.is_empty());
    let (secure, host) = split_url(&config.url)?;
    let mut builder = gitlab::GitlabBuilder::new(host, config.token.expose_secret());
    if !secure {
        builder.insecure();
    }
    let client = match tokio::time::timeout(config.timeout, builder.build_async()).await {
        Err(_) => {
            return Err(ForgeError::Transient {
                what: format!(
                    "GitLab at {} did not answer within {}s",
                    config.url,
                    config.timeout.as_secs()
                ),
            });
        }
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(connect_error(&config.url, e)),
    };
    let http = http::Http::new(client, config.timeout);
    let me: model::User = http.get("user", "GET /user").await?;
    Ok(GitlabForge {
        http,
        hints: Hints::default(),
        bot: Login::new(me.username),
        bot_id: me.id,
        policy_project,
    })
}

/// Maps the crate's construction error (its `GET /user` check) onto a [`ForgeError`].
fn connect_error(url: &str, e: gitlab::GitlabError) -> ForgeError {
    use gitlab::api::ApiError;
    let what = format!("connecting to GitLab at {url}: {e}");
    match e {
        gitlab::GitlabError::Api { source } => match source {
            ApiError::GitlabWithStatus { status, .. }
            | ApiError::GitlabService { status, .. }
            | ApiError::GitlabObjectWithStatus { status, .. } => {
                http::status_error(status.as_u16(), &Default::default(), what.as_bytes(), &what)
            }
            ApiError::Client { .. } => ForgeError::Transient { what },
            _ => ForgeError::BadResponse { what },
        },
        gitlab::GitlabError::Communication { .. } => ForgeError::Transient { what },
        _ => ForgeError::Config { what },
    }
}

impl GitlabForge {
    /// The bot's user name (its notes and statuses are found by it).
    pub fn bot(&self) -> &Login {
        &self.bot
    }

    /// The bot's user id.
    pub fn bot_id(&self) -> u64 {
        self.bot_id
    }

    /// HTTP requests sent so far (not counting the crate's own `GET /user` check).
    pub fn requests_sent(&self) -> u64 {
        self.http.sent()
    }

    /// Forgets every hint, as after a restart.
    pub fn forget_hints(&self) {
        lock(&self.hints.statuses).clear();
        lock(&self.hints.sticky).clear();
        lock(&self.hints.note_count).clear();
        lock(&self.hints.pipelines).clear();
        lock(&self.hints.users).clear();
        lock(&self.hints.members).clear();
    }

    /// The user id of `login`, `None` when GitLab knows no such user.
    pub async fn user_id(&self, login: &Login) -> Result<Option<u64>, ForgeError> {
        snapshot::user_id(self, login).await
    }

    /// Sets the `sdl-gate` status of `sha` to `pending` unless the commit already has one.
    pub async fn mark_pending(&self, change: &ChangeRef, sha: &Sha) -> Result<(), ForgeError> {
        publish::mark_pending(self, change, sha).await
    }
}

impl Forge for GitlabForge {
    fn capabilities(&self) -> super::Capabilities {
        super::Capabilities::GITLAB
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

    fn org_policy_location(&self, _change: &ChangeRef, path: &str) -> Option<String> {
        self.policy_project.as_ref().map(|p| format!("{p}/{path}"))
    }

    async fn org_policy(
        &self,
        _change: &ChangeRef,
        path: &str,
    ) -> Result<Option<super::OrgPolicyFile>, ForgeError> {
        match &self.policy_project {
            Some(project) => snapshot::org_policy(self, project, path).await,
            None => Ok(None),
        }
    }

    async fn snapshot(
        &self,
        change: &ChangeRef,
        head: &ChangeHead,
        needs: &Needs,
    ) -> Result<Snapshot, ForgeError> {
        let snap = snapshot::snapshot(self, change, head, needs).await?;
        publish::mark_pending(self, change, &head.head_sha).await?;
        Ok(snap)
    }

    async fn publish(
        &self,
        change: &ChangeRef,
        publication: &Publication,
    ) -> Result<Published, ForgeError> {
        publish::publish(self, change, publication).await
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

    async fn team_member(
        &self,
        change: &ChangeRef,
        team: &TeamSlug,
        login: &Login,
    ) -> Result<bool, ForgeError> {
        let _ = change;
        snapshot::group_member(self, team, login).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_urls() {
        assert_eq!(
            split_url("https://gitlab.com/").unwrap(),
            (true, "gitlab.com".into())
        );
        assert_eq!(
            split_url("http://127.0.0.1:8080/api/v4").unwrap(),
            (false, "127.0.0.1:8080".into())
        );
        assert_eq!(
            split_url("https://git.example.com/gitlab").unwrap(),
            (true, "git.example.com/gitlab".into())
        );
        assert!(split_url("gitlab.com").is_err());
        assert!(split_url("https://").is_err());
    }
}
