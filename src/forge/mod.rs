//! The forge seam: what the service's worker needs from GitHub (and later GitLab), in terms
//! that know no forge.
//!
//! A worker evaluates one change request in five steps, each a call on [`Forge`]:
//!
//! 1. [`Forge::head`] — the change at its current head (author, head commit, base branch…);
//! 2. [`Forge::policy`] — the policy file read from the **base** branch, so a change cannot
//!    weaken its own gates;
//! 3. [`Forge::snapshot`] — files, reviews, checks and the contents and team memberships the
//!    policy needs ([`Needs`]), as a forge-neutral [`Snapshot`];
//! 4. `gates::evaluate` (pure, not here);
//! 5. [`Forge::publish`] — the check run and the sticky comment, idempotently.
//!
//! [`evaluate_change`] strings these together. Errors are a [`ForgeError`] the queue can
//! branch on (retry later, retry after a delay, drop the job…).

pub mod github;
pub mod gitlab;
mod interact;

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::gates::{Evaluation, OverallVerdict};
use crate::policy::{CommentMode, GlobList, GlobPattern, Policy, parse_policy_cached};
use crate::snapshot::{FileContent, FileStatus, Login, Sha, Snapshot, TeamSlug};
use crate::waivers::Waiver;

pub use crate::patch::{PatchError, changed_lines};
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

/// What the snapshot must contain for a given policy beyond the change's files: the forge
/// layer fetches only this, to keep requests (and rate limit) low.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    /// Whether reviews matter (the security-review gate is enabled).
    pub reviews: bool,
    /// Touched files whose head content the gates read (threat models, SBOMs).
    pub contents: Vec<GlobPattern>,
    /// Teams whose membership decides whether a reviewer counts.
    pub teams: Vec<TeamSlug>,
    /// Check runs / statuses the gates require by name; commit statuses are read only when a
    /// name is not among the check runs.
    pub checks: Vec<String>,
    /// Whether the SAST gate reads GitHub code-scanning alerts (`gates.sast.code_scanning`).
    pub code_scanning: bool,
}

/// At most this many touched files are read for the gates; more are reported as unknown.
pub const MAX_CONTENTS: usize = 50;

impl Needs {
    /// The touched files whose head content the gates read, in the snapshot's order, at most
    /// [`MAX_CONTENTS`]. Those beyond are recorded in `snap` as unread (`bytes: None`, which
    /// the gates treat as unreadable) with a note saying so; the caller reads the rest.
    pub(crate) fn contents_to_read(&self, snap: &mut Snapshot) -> Vec<String> {
        let wanted = GlobList::new(&self.contents);
        let mut to_read: Vec<String> = snap
            .files
            .iter()
            .filter(|f| f.status != FileStatus::Removed && wanted.is_match(&f.path))
            .map(|f| f.path.clone())
            .collect();
        if to_read.len() > MAX_CONTENTS {
            snap.unknowns.push(format!(
                "{} threat-model/SBOM files were touched; only the first {MAX_CONTENTS} were read",
                to_read.len()
            ));
            for path in to_read.drain(MAX_CONTENTS..) {
                snap.contents.push(FileContent { path, bytes: None });
            }
        }
        to_read
    }

    /// What `policy` needs: contents under the threat-model paths (and SBOM paths when the
    /// SBOM gate is on), reviews and the reviewer teams when the review gate is on, and the
    /// required checks of the SAST and dependency gates.
    pub fn from_policy(policy: &Policy) -> Needs {
        let g = &policy.gates;
        let mut needs = Needs::default();
        if g.threat_model.common.enabled {
            needs.contents.extend(g.threat_model.paths.iter().cloned());
        }
        if g.sbom.common.enabled {
            needs.contents.extend(g.sbom.paths.iter().cloned());
        }
        if g.security_review.common.enabled {
            needs.reviews = true;
            let sr = &g.security_review;
            let teams = sr.reviewers.teams.iter().chain(
                sr.path_reviewers
                    .iter()
                    .flat_map(|p| p.reviewers.teams.iter()),
            );
            for t in teams {
                if !needs.teams.contains(t) {
                    needs.teams.push(t.clone());
                }
            }
        }
        if g.sast.common.enabled {
            needs.checks.extend(g.sast.checks.iter().cloned());
            needs.code_scanning = g.sast.code_scanning;
        }
        if g.dependencies.common.enabled {
            needs.checks.extend(g.dependencies.checks.iter().cloned());
        }
        needs.checks.sort();
        needs.checks.dedup();
        needs
    }
}

/// How to publish an evaluation (from the policy's `report` section and the service
/// configuration).
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// When to post the sticky comment.
    pub comment: CommentMode,
    /// Report drafts with their real verdict instead of neutral.
    pub enforce_on_drafts: bool,
    /// A public page with the full details, linked from the check run and the comment.
    pub details_url: Option<String>,
    /// Leave the check run alone (the Action without `check-run: true`: the workflow job's
    /// own status is the check).
    pub skip_check_run: bool,
}

impl PublishOptions {
    /// The options a policy asks for, with the service's details page.
    pub fn from_policy(policy: &Policy, details_url: Option<String>) -> Self {
        PublishOptions {
            comment: policy.report.comment,
            enforce_on_drafts: policy.report.enforce_on_drafts,
            details_url,
            skip_check_run: false,
        }
    }
}

/// What to do with the sticky comment for one evaluation: the one rule both forges follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StickyPlan {
    /// Leave it alone (`comment: never`).
    Skip,
    /// Update it if it exists, post none (a passing change under `on_failure`, a quiet draft:
    /// an existing comment must not keep saying the change fails).
    UpdateOnly,
    /// Update it, or post it when there is none.
    Post,
}

impl StickyPlan {
    /// The plan for `eval` under `opts`.
    pub fn of(eval: &Evaluation, opts: &PublishOptions) -> StickyPlan {
        let quiet_draft = eval.draft && !opts.enforce_on_drafts;
        let post = match opts.comment {
            CommentMode::Never => return StickyPlan::Skip,
            CommentMode::Always => true,
            CommentMode::OnFailure => eval.verdict == OverallVerdict::Fail,
        };
        if post && !quiet_draft {
            StickyPlan::Post
        } else {
            StickyPlan::UpdateOnly
        }
    }
}

/// The conclusion of the `sdl-gate` check, forge-neutral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conclusion {
    /// Every gate passes, is waived or does not apply.
    Success,
    /// A gate blocks.
    Failure,
    /// A gate waits for a check, report or review (GitHub `action_required`).
    ActionRequired,
    /// Reported for information only (drafts, no policy).
    Neutral,
}

impl Conclusion {
    /// The conclusion for `eval` under `opts`: drafts are neutral unless the policy enforces
    /// them.
    pub fn of(eval: &Evaluation, opts: &PublishOptions) -> Conclusion {
        if eval.draft && !opts.enforce_on_drafts {
            return Conclusion::Neutral;
        }
        match eval.verdict {
            OverallVerdict::Pass => Conclusion::Success,
            OverallVerdict::Fail => Conclusion::Failure,
            OverallVerdict::Pending => Conclusion::ActionRequired,
        }
    }

    /// GitHub's name for it.
    pub fn as_github(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::ActionRequired => "action_required",
            Conclusion::Neutral => "neutral",
        }
    }
}

/// A check run that is not an evaluation: no policy, or a policy that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// How the check concludes.
    pub conclusion: Conclusion,
    /// One line.
    pub title: String,
    /// Markdown.
    pub summary: String,
}

impl Notice {
    /// The neutral check run of a repository without a policy, saying how to add one.
    pub fn no_policy(base_ref: &str) -> Notice {
        let paths = crate::policy::POLICY_PATHS
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ");
        Notice {
            conclusion: Conclusion::Neutral,
            title: "No sdl-gate policy in this repository".into(),
            summary: format!(
                "sdl-gate found no policy on the base branch `{}`, so no SDL gate was evaluated.\n\n\
                 **To enable the gates**, commit a policy file to the base branch at one of {paths} \
                 (the first one found wins), for example:\n\n\
                 ```yaml\nversion: 1\nsecurity_paths: [\"src/auth/**\", \"src/crypto/**\"]\n\
                 gates:\n  security_review:\n    approvals: 1\n    reviewers:\n      teams: [\"my-org/security\"]\n  \
                 sast:\n    checks: [\"CodeQL\"]\n```\n\n\
                 The policy is always read from the base branch, so a pull request cannot weaken its own gates. \
                 `sdl-gate config validate` checks a policy before you commit it.\n",
                crate::render::escape::line(base_ref, 200)
            ),
        }
    }

    /// The failing check run of a policy that does not parse (fail closed).
    pub fn invalid_policy(file: &PolicyFile, error: &str) -> Notice {
        Notice {
            conclusion: Conclusion::Failure,
            title: "The sdl-gate policy does not parse".into(),
            summary: format!(
                "The policy `{}` on the base branch `{}` is invalid, so sdl-gate cannot decide and blocks:\n\n```\n{}\n```\n\n\
                 Fix the policy on the base branch; this pull request is evaluated again on its next event or with `/sdl recheck`.\n",
                crate::render::escape::line(&file.path, 200),
                crate::render::escape::line(&file.git_ref, 200),
                error.replace("```", "'''")
            ),
        }
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
    /// The change at its current head.
    fn head(
        &self,
        change: &ChangeRef,
    ) -> impl Future<Output = Result<ChangeHead, ForgeError>> + Send;

    /// The policy file on `base_ref`, trying `POLICY_PATHS` in order; `None` when none
    /// exists.
    fn policy(
        &self,
        change: &ChangeRef,
        base_ref: &str,
    ) -> impl Future<Output = Result<Option<PolicyFile>, ForgeError>> + Send;

    /// The change as the gates see it, with what `needs` asks for.
    fn snapshot(
        &self,
        change: &ChangeRef,
        head: &ChangeHead,
        needs: &Needs,
    ) -> impl Future<Output = Result<Snapshot, ForgeError>> + Send;

    /// Creates or updates the `sdl-gate` check for `eval.head_sha` and the sticky comment.
    fn publish(
        &self,
        change: &ChangeRef,
        eval: &Evaluation,
        opts: &PublishOptions,
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

/// What [`evaluate_change`] did.
#[derive(Debug)]
pub enum Outcome {
    /// The change is closed or merged; nothing was published.
    Closed,
    /// No policy: a neutral check run says how to add one.
    NoPolicy(Published),
    /// The policy does not parse: a failing check run says why.
    InvalidPolicy(Published),
    /// Evaluated and published.
    Evaluated {
        /// The evaluation (for the evidence ledger).
        evaluation: Box<Evaluation>,
        /// What was published.
        published: Published,
    },
}

/// What the service knows about a change beyond the forge: its own records.
#[derive(Debug, Clone, Default)]
pub struct Records {
    /// The service's page for this evaluation, linked from the check run and the comment.
    pub details_url: Option<String>,
    /// Waivers given on this change (from the store).
    pub waivers: Vec<Waiver>,
    /// Threat-model references recorded with `/sdl threat-model` (from the store).
    pub threat_model_refs: Vec<String>,
    /// Publish the sticky comment this way instead of as the policy says (`/sdl status`
    /// forces `always`).
    pub comment_mode: Option<CommentMode>,
}

/// One evaluation of one change, as the worker runs it: head → base policy → snapshot (plus
/// the service's `records`) → evaluate → publish.
pub async fn evaluate_change<F: Forge>(
    forge: &F,
    change: &ChangeRef,
    records: &Records,
    now: DateTime<Utc>,
) -> Result<Outcome, ForgeError> {
    let details_url = records.details_url.clone();
    let head = forge.head(change).await?;
    if head.state != ChangeState::Open {
        return Ok(Outcome::Closed);
    }
    let defaults = PublishOptions {
        details_url: details_url.clone(),
        ..PublishOptions::default()
    };
    let Some(file) = forge.policy(change, &head.base_ref).await? else {
        return Ok(Outcome::NoPolicy(
            forge.publish_no_policy(change, &head, &defaults).await?,
        ));
    };
    let policy = match parse_policy_cached(&file.path, &file.text) {
        Ok(p) => p,
        Err(e) => {
            let notice = Notice::invalid_policy(&file, &e.to_string());
            let published = forge
                .publish_notice(change, &head.head_sha, &notice, &defaults)
                .await?;
            return Ok(Outcome::InvalidPolicy(published));
        }
    };
    let needs = Needs::from_policy(&policy);
    let mut snapshot = forge.snapshot(change, &head, &needs).await?;
    snapshot.waivers.extend(records.waivers.iter().cloned());
    snapshot
        .threat_model_refs
        .extend(records.threat_model_refs.iter().cloned());
    let evaluation = crate::gates::evaluate(&policy, &snapshot, now);
    let mut opts = PublishOptions::from_policy(&policy, details_url);
    if let Some(mode) = records.comment_mode {
        opts.comment = mode;
    }
    let published = forge.publish(change, &evaluation, &opts).await?;
    Ok(Outcome::Evaluated {
        evaluation: Box::new(evaluation),
        published,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{ChangedFile, ForgeKind};

    #[test]
    fn one_rule_decides_the_sticky_comment() {
        let policy =
            crate::policy::parse_policy("p", "version: 1\n").unwrap_or_else(|e| panic!("{e}"));
        let snap = Snapshot::new(ForgeKind::Github, "acme/plc", 1, "bob", "abc");
        let mut eval = crate::gates::evaluate(&policy, &snap, chrono::Utc::now());
        let opts = |comment, enforce_on_drafts| PublishOptions {
            comment,
            enforce_on_drafts,
            ..PublishOptions::default()
        };
        for (verdict, draft, mode, enforce, plan) in [
            (
                OverallVerdict::Fail,
                false,
                CommentMode::OnFailure,
                false,
                StickyPlan::Post,
            ),
            (
                OverallVerdict::Pass,
                false,
                CommentMode::OnFailure,
                false,
                StickyPlan::UpdateOnly,
            ),
            (
                OverallVerdict::Pending,
                false,
                CommentMode::OnFailure,
                false,
                StickyPlan::UpdateOnly,
            ),
            (
                OverallVerdict::Pass,
                false,
                CommentMode::Always,
                false,
                StickyPlan::Post,
            ),
            (
                OverallVerdict::Fail,
                false,
                CommentMode::Never,
                false,
                StickyPlan::Skip,
            ),
            (
                OverallVerdict::Fail,
                true,
                CommentMode::OnFailure,
                false,
                StickyPlan::UpdateOnly,
            ),
            (
                OverallVerdict::Fail,
                true,
                CommentMode::OnFailure,
                true,
                StickyPlan::Post,
            ),
            (
                OverallVerdict::Pass,
                true,
                CommentMode::Always,
                false,
                StickyPlan::UpdateOnly,
            ),
        ] {
            eval.verdict = verdict;
            eval.draft = draft;
            assert_eq!(
                StickyPlan::of(&eval, &opts(mode, enforce)),
                plan,
                "{verdict:?} draft={draft} {mode:?} enforce={enforce}"
            );
        }
    }

    #[test]
    fn contents_beyond_the_bound_are_recorded_as_unread() {
        let needs = Needs {
            contents: vec![GlobPattern::new("docs/tm/**").unwrap_or_else(|e| panic!("{e}"))],
            ..Needs::default()
        };
        let mut snap = Snapshot::new(ForgeKind::Github, "acme/plc", 1, "bob", "abc");
        snap.files.push(ChangedFile::modified("src/main.rs"));
        let mut gone = ChangedFile::modified("docs/tm/old.md");
        gone.status = FileStatus::Removed;
        snap.files.push(gone);
        for i in 0..MAX_CONTENTS + 2 {
            snap.files
                .push(ChangedFile::modified(format!("docs/tm/{i:03}.md")));
        }
        let to_read = needs.contents_to_read(&mut snap);
        assert_eq!(to_read.len(), MAX_CONTENTS);
        assert_eq!(to_read[0], "docs/tm/000.md", "in the change's order");
        assert!(
            !to_read
                .iter()
                .any(|p| p == "docs/tm/old.md" || p == "src/main.rs")
        );
        assert_eq!(snap.contents.len(), 2, "the two beyond the bound");
        assert!(snap.contents.iter().all(|c| c.bytes.is_none()));
        assert_eq!(snap.unknowns.len(), 1, "{:?}", snap.unknowns);
        assert!(snap.unknowns[0].contains("52 threat-model/SBOM files"));
    }
}
