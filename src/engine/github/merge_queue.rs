//! GitHub's merge queue: a `merge_group` (`checks_requested`) job publishes the `sdl-gate`
//! check run on the group's head commit, so that a repository that requires `sdl-gate` can
//! merge through the queue at all.
//!
//! The job reads, and [`crate::merge_group::judge`] decides:
//!
//! 1. the policy of the base branch (`merge_group.base_ref`), as for every pull request — none:
//!    a neutral run; one that does not parse: a failing run;
//! 2. the group's diff, `GET …/compare/{base_sha}...{head_sha}` (commits and files);
//! 3. the group's pull requests: the one its ref names (`…/pr-123-<sha>`, the newest entry),
//!    and the open pull requests whose head is one of the group's newest
//!    [`MAX_COMMIT_LOOKUPS`] commits and whose base is the group's base branch
//!    (`GET …/commits/{sha}/pulls`), which finds earlier entries when the group holds their
//!    commits;
//! 4. per pull request: its current head (`GET …/pulls/{n}`), its latest stored evaluation
//!    (`Store::evaluations`) and the paths it changes (`GET …/pulls/{n}/files`).
//!
//! The group passes when every pull request passed at its current head and no path the group
//! changes beyond them is security-relevant; what cannot be read blocks. The verdict is not
//! recorded as an evaluation (it has no change of its own); the check run and the log hold it.

use std::collections::BTreeSet;

use crate::events::MergeGroupDetail;
use crate::forge::{ChangeRef, ChangeState, Forge as _, ForgeError, Publication};
use crate::forge_name::ForgeName;
use crate::merge_group::{GroupInputs, GroupPull, judge};
use crate::policy::GlobList;
use crate::publication::{Conclusion, StickyPlan};
use crate::queue::{Job, ProcessError};
use crate::render::merge_group as text;
use crate::snapshot::Sha;

use super::GithubProcessor;
use crate::engine::to_process_error;

/// At most this many of the group's newest commits are looked up for the pull requests they
/// head (one request each); changes in older commits must be covered by the pull requests
/// found, or they count as beyond them.
pub const MAX_COMMIT_LOOKUPS: usize = 20;

/// A check run for the group's head, without a sticky comment or a button.
fn run(head_sha: &str, conclusion: Conclusion, title: String, summary: String) -> Publication {
    Publication {
        head_sha: Sha::new(head_sha),
        conclusion,
        title,
        summary,
        text: String::new(),
        annotations: Vec::new(),
        sticky: StickyPlan::Skip,
        sticky_body: String::new(),
        details_url: None,
        skip_check_run: false,
        new_check_run: false,
        offer_reevaluate: false,
    }
}

impl GithubProcessor {
    /// Judges the merge group whose head is `head_sha` and publishes its check run.
    pub(super) async fn merge_group_job(
        &self,
        job: &Job,
        head_sha: &str,
    ) -> Result<(), ProcessError> {
        let repository = &job.key.repository;
        let Some(group) = job
            .events
            .iter()
            .rev()
            .find_map(|e| MergeGroupDetail::of(e.detail.as_ref()))
        else {
            return Err(ProcessError::permanent(format!(
                "{}: no `merge_group` in its events",
                job.key
            )));
        };
        let Some(installation) = self.installation(job).await? else {
            return Err(ProcessError::permanent(format!(
                "{}: no GitHub App installation id in its deliveries",
                job.key
            )));
        };
        let group_ref = ChangeRef::new(repository.clone(), 0, Some(installation));
        let base_branch = group.base_branch().to_owned();
        let publication = match self
            .judge_group(installation, &group_ref, &group, head_sha, &base_branch)
            .await
        {
            Ok(p) => p,
            Err(ForgeError::NotFound { what }) => {
                // The group was dissolved (a pull request left the queue): its branch and
                // commit are gone, and nobody waits for its check.
                tracing::info!(job = %job.key, %what, "merge group gone; job ends");
                return Ok(());
            }
            Err(e) => return Err(to_process_error(e)),
        };
        tracing::info!(
            job = %job.key,
            conclusion = ?publication.conclusion,
            title = %publication.title,
            "merge group judged"
        );
        match self.forge.publish(&group_ref, &publication).await {
            Ok(_) => Ok(()),
            Err(ForgeError::NotFound { what }) => {
                tracing::info!(job = %job.key, %what, "merge group gone; check not published");
                Ok(())
            }
            Err(e) => Err(to_process_error(e)),
        }
    }

    /// Reads what the verdict needs and renders it as the group's check run.
    async fn judge_group(
        &self,
        installation: u64,
        group_ref: &ChangeRef,
        group: &MergeGroupDetail,
        head_sha: &str,
        base_branch: &str,
    ) -> Result<Publication, ForgeError> {
        let repository = &group_ref.repository;
        // The policy pull requests are evaluated under: the repository's under the
        // organisation's floor, or the organisation's.
        let policy =
            match crate::engine::org_policy::effective_policy(&self.forge, group_ref, base_branch)
                .await?
            {
                crate::engine::org_policy::Effective::Missing => {
                    return Ok(run(
                        head_sha,
                        Conclusion::Neutral,
                        text::NO_POLICY_TITLE.to_owned(),
                        text::no_policy(base_branch),
                    ));
                }
                crate::engine::org_policy::Effective::Broken(notice) => {
                    return Ok(run(
                        head_sha,
                        Conclusion::Failure,
                        notice.title.clone(),
                        notice.summary.clone(),
                    ));
                }
                crate::engine::org_policy::Effective::Ready(e) => e.policy,
            };
        let diff = self
            .forge
            .compare(
                installation,
                repository,
                &Sha::new(&group.base_sha),
                &Sha::new(head_sha),
            )
            .await?;
        // The pull request the ref names belongs to the group whatever its base; those found
        // by commit only when they target the group's branch.
        let named: BTreeSet<u64> = group.named_pull().into_iter().collect();
        let mut found: BTreeSet<u64> = BTreeSet::new();
        for sha in diff.commits.iter().rev().take(MAX_COMMIT_LOOKUPS) {
            for pull in self
                .forge
                .open_pulls_with_head(installation, repository, sha)
                .await?
            {
                if !named.contains(&pull.number) {
                    found.insert(pull.number);
                }
            }
        }
        let mut pulls = Vec::new();
        for (number, by_ref) in named
            .iter()
            .map(|n| (*n, true))
            .chain(found.iter().map(|n| (*n, false)))
        {
            let change = ChangeRef::new(repository.clone(), number, Some(installation));
            let head = match self.forge.head(&change).await {
                Ok(h) => Some(h),
                Err(ForgeError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            if !by_ref && head.as_ref().is_none_or(|h| h.base_ref != base_branch) {
                continue;
            }
            let head_sha = head
                .filter(|h| h.state == ChangeState::Open)
                .map(|h| h.head_sha.as_str().to_owned());
            let last = match self
                .store
                .evaluations(ForgeName::GitHub, repository, number, 1)
                .await
            {
                Ok(evals) => evals
                    .into_iter()
                    .next()
                    .map(|e| (e.head_sha.as_str().to_owned(), e.verdict)),
                Err(e) => {
                    return Err(ForgeError::Transient {
                        what: format!("reading the evaluations of #{number}: {e}"),
                    });
                }
            };
            let files = match head_sha {
                Some(_) => {
                    self.forge
                        .pull_paths(installation, repository, number)
                        .await?
                }
                None => Some(Vec::new()),
            };
            pulls.push(GroupPull {
                number,
                head_sha,
                last,
                files,
            });
        }
        let verdict = judge(&GroupInputs {
            pulls,
            group_files: diff.files,
            security_paths: GlobList::new(&policy.security_paths),
        });
        let conclusion = if verdict.passes() {
            Conclusion::Success
        } else {
            Conclusion::Failure
        };
        Ok(run(
            head_sha,
            conclusion,
            text::title(&verdict),
            text::summary(&verdict, base_branch),
        ))
    }
}
