//! The forge seam: adapters for GitHub and GitLab that read and publish, and know no policy,
//! gate or renderer (nothing here imports `gates`, `policy`, `render` or `server`).
//!
//! The engine (`engine`) evaluates one change request with these calls on [`Forge`]:
//!
//! 1. [`Forge::head`] — the change at its current head (author, head commit, base branch…);
//! 2. [`Forge::policy`] — the first of the given policy paths on the **base** branch, so a
//!    change cannot weaken its own gates;
//! 3. [`Forge::snapshot`] — files, reviews, checks and the contents and team memberships the
//!    policy needs ([`Needs`]), as a forge-neutral [`Snapshot`];
//! 4. `gates::evaluate` and rendering (pure, not here), giving a [`Publication`];
//! 5. [`Forge::publish`] — that publication as the check run (GitLab: commit status) and the
//!    sticky comment, idempotently.
//!
//! The conversation for `/sdl` commands is [`Interact`]. Errors are a [`ForgeError`] the queue
//! can branch on (retry later, retry after a delay, drop the job…).

pub mod github;
pub mod gitlab;
mod interact;

use std::future::Future;
use std::time::Duration;

use crate::snapshot::{Login, PatchIdentity, Sha, Snapshot, TeamSlug};
use std::collections::BTreeMap;

pub use crate::patch::{PatchError, changed_lines};
pub use crate::publication::{
    Capabilities, Conclusion, MAX_CONTENTS, Needs, Notice, Publication, PublishOptions, StickyPlan,
};
pub use interact::{Interact, Reaction};

/// Which change request to work on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChangeRef {
    /// `owner/name` on GitHub, the project path on GitLab.
    pub repository: String,
    /// PR number (MR IID on GitLab).
    pub number: u64,
    /// The GitHub App installation that received the event (required on GitHub; unused on
    /// GitLab).
    pub installation: Option<u64>,
}

impl ChangeRef {
    /// A change of `repository` with `number`, seen through `installation`.
    pub fn new(repository: impl Into<String>, number: u64, installation: Option<u64>) -> Self {
        ChangeRef {
            repository: repository.into(),
            number,
            installation,
        }
    }
}

/// Whether a change request is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeState {
    /// Open: evaluate and publish.
    Open,
    /// Closed without merging.
    Closed,
    /// Merged.
    Merged,
}

/// The change at its current head: what one request for the change itself tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeHead {
    /// Title.
    pub title: String,
    /// Who opened it.
    pub author: Login,
    /// Description (empty when none).
    pub body: String,
    /// Label names.
    pub labels: Vec<String>,
    /// Draft or not.
    pub draft: bool,
    /// The head commit the evaluation is for.
    pub head_sha: Sha,
    /// The target branch (the policy is read from it).
    pub base_ref: String,
    /// Open, closed or merged.
    pub state: ChangeState,
    /// How many files the forge says the change touches (for paging and limits).
    pub changed_files: Option<u64>,
    /// How many conversation comments the change has (0 lets publishing skip the search for
    /// a sticky comment).
    pub comments: Option<u64>,
    /// The forge's test merge of the head into the target branch, when it has one ready
    /// (GitHub's `merge_commit_sha`): code scanning analyses pull requests at this commit.
    pub merge_commit_sha: Option<Sha>,
    /// The head branch, when it is in the change's own repository (`None` for a fork):
    /// code scanning of pushes to it is also about the head.
    pub head_branch: Option<String>,
}

/// A policy file as read from the forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFile {
    /// The path it was found at (one of `POLICY_PATHS`).
    pub path: String,
    /// The ref it was read from (the base branch).
    pub git_ref: String,
    /// Its text.
    pub text: String,
}

/// The organisation's policy file as read from the forge: the default of every repository
/// without a policy of its own, and the floor of every repository's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgPolicyFile {
    /// Where it lives: the organisation's `.github` repository (GitHub) or the configured
    /// policy project (GitLab).
    pub repository: String,
    /// The file (read at the default branch).
    pub file: PolicyFile,
}

impl OrgPolicyFile {
    /// How messages name it: `acme/.github/sdl-gate.yml`.
    pub fn location(&self) -> String {
        format!("{}/{}", self.repository, self.file.path)
    }
}

/// What happened to the sticky comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentAction {
    /// Posted a new one.
    Created,
    /// Edited the existing one.
    Updated,
    /// The existing one already said the same.
    Unchanged,
    /// None exists and the policy did not ask for one.
    Skipped,
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The check run (GitHub) or commit status id; `None` when asked to skip it.
    pub check_id: Option<u64>,
    /// Whether the check run was created now (false: an existing one was updated).
    pub check_created: bool,
    /// The conclusion published.
    pub conclusion: Conclusion,
    /// The sticky comment, when there is one.
    pub comment_id: Option<u64>,
    /// What happened to it.
    pub comment: CommentAction,
}

/// Why a forge call failed, in the terms the queue decides on.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The forge's rate limit is exhausted (`429`, or `403` with `x-ratelimit-remaining: 0`,
    /// or a secondary limit with `retry-after`). Retry the job after `retry_after`.
    #[error("rate limited by the forge; retry after {}s", retry_after.as_secs())]
    RateLimited {
        /// How long to wait, from `retry-after` or `x-ratelimit-reset`.
        retry_after: Duration,
    },
    /// A passing failure: `5xx`, a timeout, a connection error. Retry with backoff.
    #[error("transient forge failure: {what}")]
    Transient {
        /// What failed.
        what: String,
    },
    /// The forge refused our credentials even after one token refresh. Retrying will not
    /// help until the App's key or installation is fixed; alert the operator.
    #[error("unauthorized: {what}")]
    Unauthorized {
        /// Which request.
        what: String,
    },
    /// The change, repository or installation is gone (`404`/`410`): end the job cleanly.
    #[error("not found: {what}")]
    NotFound {
        /// Which resource.
        what: String,
    },
    /// The App lacks a permission for this request (`403` that is not a rate limit). Do not
    /// retry; report what permission is missing.
    #[error("forbidden: {what}")]
    Forbidden {
        /// Which request, and the forge's message.
        what: String,
    },
    /// The forge rejected a request as invalid (`400`, `409`, `422`). A bug on our side or
    /// a state the forge does not allow; do not retry.
    #[error("rejected by the forge ({status}): {what}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Which request, and the forge's message.
        what: String,
    },
    /// The forge answered something we cannot read (not JSON, missing fields, wrong types).
    /// Retry with backoff a few times; it may be a proxy or an outage page.
    #[error("unexpected response: {what}")]
    BadResponse {
        /// What was wrong, naming the request and field.
        what: String,
    },
    /// The service is misconfigured (bad private key, missing installation id, bad URL).
    /// Do not retry; fix the configuration.
    #[error("forge configuration: {what}")]
    Config {
        /// What is wrong.
        what: String,
    },
}

impl ForgeError {
    /// Whether the queue should try the job again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ForgeError::RateLimited { .. }
                | ForgeError::Transient { .. }
                | ForgeError::BadResponse { .. }
        )
    }
}

/// A forge the worker can evaluate changes on. Implemented by [`github::GithubForge`] and
/// [`gitlab::GitlabForge`].
///
/// Every method is safe to call again after any error: reads have no effect and publishing
/// finds what an earlier attempt created instead of creating it twice.
pub trait Forge: Send + Sync {
    /// What this forge can show and tell (check runs, hooks for deleted comments).
    fn capabilities(&self) -> Capabilities;

    /// The change at its current head.
    fn head(
        &self,
        change: &ChangeRef,
    ) -> impl Future<Output = Result<ChangeHead, ForgeError>> + Send;

    /// The policy file on `base_ref`: the first of `paths` that exists; `None` when none
    /// does.
    fn policy(
        &self,
        change: &ChangeRef,
        base_ref: &str,
        paths: &[&str],
    ) -> impl Future<Output = Result<Option<PolicyFile>, ForgeError>> + Send;

    /// The organisation's policy file `path` for `change`'s repository ([`OrgPolicyFile`]),
    /// at the default branch of where the organisation keeps it; `None` when there is none.
    /// One request at most. The default reads none (a forge without organisation policies).
    fn org_policy(
        &self,
        change: &ChangeRef,
        path: &str,
    ) -> impl Future<Output = Result<Option<OrgPolicyFile>, ForgeError>> + Send {
        let _ = (change, path);
        async { Ok(None) }
    }

    /// How messages name the organisation's policy file `path` for `change`'s repository (for
    /// a notice when it cannot be read); `None` when this forge reads none.
    fn org_policy_location(&self, change: &ChangeRef, path: &str) -> Option<String> {
        let _ = (change, path);
        None
    }

    /// The change as the gates see it, with what `needs` asks for.
    fn snapshot(
        &self,
        change: &ChangeRef,
        head: &ChangeHead,
        needs: &Needs,
    ) -> impl Future<Output = Result<Snapshot, ForgeError>> + Send;

    /// The change's patch (`git patch-id --verbatim` of its diff against `base_ref`) at each
    /// of `commits`, for approvals given before a rebase. A commit the forge cannot compare
    /// is [`PatchIdentity::Unknown`]; only rate limits and outages are errors. The default
    /// knows none: GitLab's approvals name no commit, so the rule does not apply there.
    fn patch_ids(
        &self,
        change: &ChangeRef,
        base_ref: &str,
        commits: &[Sha],
    ) -> impl Future<Output = Result<BTreeMap<Sha, PatchIdentity>, ForgeError>> + Send {
        let _ = (change, base_ref, commits);
        async { Ok(BTreeMap::new()) }
    }

    /// Creates or updates the `sdl-gate` check for `publication.head_sha` and, as
    /// `publication.sticky` says, the sticky comment.
    fn publish(
        &self,
        change: &ChangeRef,
        publication: &Publication,
    ) -> impl Future<Output = Result<Published, ForgeError>> + Send;

    /// Creates or updates the `sdl-gate` check for `head_sha` with a notice instead of an
    /// evaluation (no sticky comment).
    fn publish_notice(
        &self,
        change: &ChangeRef,
        head_sha: &Sha,
        notice: &Notice,
        opts: &PublishOptions,
    ) -> impl Future<Output = Result<Published, ForgeError>> + Send;

    /// Whether `login` is an active member of `team` (`org/team`; a bare slug is in the
    /// repository owner's organisation), for authorising `/sdl waive`.
    fn team_member(
        &self,
        change: &ChangeRef,
        team: &TeamSlug,
        login: &Login,
    ) -> impl Future<Output = Result<bool, ForgeError>> + Send;

    /// The neutral check run of a repository without a policy, saying how to add one.
    fn publish_no_policy(
        &self,
        change: &ChangeRef,
        head: &ChangeHead,
        opts: &PublishOptions,
    ) -> impl Future<Output = Result<Published, ForgeError>> + Send {
        let notice = Notice::no_policy(&head.base_ref);
        async move {
            self.publish_notice(change, &head.head_sha, &notice, opts)
                .await
        }
    }
}
