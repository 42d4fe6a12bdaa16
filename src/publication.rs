//! What the engine hands a forge adapter, in terms that need no policy, gate or renderer on
//! the adapter's side: what to fetch for the snapshot ([`Needs`]), and what to publish — an
//! already rendered [`Publication`] (conclusion, title, summary, annotations, the sticky
//! comment's body and whether to post it, by the one rule [`StickyPlan::of`]) or a
//! [`Notice`] (no policy, invalid policy). Built here, in the pure core, from the policy and
//! the evaluation; `forge/` only sends it.

use crate::gates::{Evaluation, OverallVerdict};
use crate::policy::{CommentMode, GlobList, GlobPattern, Policy};
use crate::snapshot::{FileContent, FileStatus, Sha, Snapshot, TeamSlug};

pub use crate::capabilities::Capabilities;
pub use crate::render::annotations::{Annotation, Level};
pub use crate::render::{COMMENT_MARKER, same_report};

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
    pub fn contents_to_read(&self, snap: &mut Snapshot) -> Vec<String> {
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
    /// What the forge published to can show.
    pub capabilities: Capabilities,
}

impl PublishOptions {
    /// The options a policy asks for, with the service's details page.
    pub fn from_policy(policy: &Policy, details_url: Option<String>) -> Self {
        PublishOptions {
            comment: policy.report.comment,
            enforce_on_drafts: policy.report.enforce_on_drafts,
            details_url,
            skip_check_run: false,
            capabilities: Capabilities::default(),
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

    /// The failing check run of an organisation policy that cannot be used: it does not
    /// parse, is too large, or may not be read (fail closed; `location` names it).
    pub fn unusable_org_policy(location: &str, error: &str) -> Notice {
        Notice {
            conclusion: Conclusion::Failure,
            title: "The organisation's sdl-gate policy cannot be used".into(),
            summary: format!(
                "The organisation's policy `{}` (its default policy and floor) cannot be used, so sdl-gate cannot decide and blocks:\n\n```\n{}\n```\n\n\
                 Fix it on the default branch of its repository; this pull request is evaluated again on its next event or with `/sdl recheck`.\n",
                crate::render::escape::line(location, 200),
                error.replace("```", "'''")
            ),
        }
    }

    /// The failing check run of a policy that does not parse (fail closed).
    pub fn invalid_policy(path: &str, git_ref: &str, error: &str) -> Notice {
        Notice {
            conclusion: Conclusion::Failure,
            title: "The sdl-gate policy does not parse".into(),
            summary: format!(
                "The policy `{}` on the base branch `{}` is invalid, so sdl-gate cannot decide and blocks:\n\n```\n{}\n```\n\n\
                 Fix the policy on the base branch; this pull request is evaluated again on its next event or with `/sdl recheck`.\n",
                crate::render::escape::line(path, 200),
                crate::render::escape::line(git_ref, 200),
                error.replace("```", "'''")
            ),
        }
    }
}

/// An evaluation rendered for publishing: everything a forge adapter sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    /// The commit the verdict is for.
    pub head_sha: Sha,
    /// How the check concludes.
    pub conclusion: Conclusion,
    /// One line (check run title, GitLab status description).
    pub title: String,
    /// The check run's summary (Markdown).
    pub summary: String,
    /// The check run's text (Markdown).
    pub text: String,
    /// Line annotations, in batches of what GitHub takes per request.
    pub annotations: Vec<Vec<Annotation>>,
    /// What to do with the sticky comment.
    pub sticky: StickyPlan,
    /// The sticky comment's body (starts with [`COMMENT_MARKER`]).
    pub sticky_body: String,
    /// The details page, linked from the check and the comment.
    pub details_url: Option<String>,
    /// Leave the check run alone (the Action without `check-run: true`).
    pub skip_check_run: bool,
    /// Publish a new check run instead of updating the head's (a person asked for a re-run
    /// in the forge's UI, which expects a new run).
    pub new_check_run: bool,
    /// Offer the "Re-evaluate" button on the check run (a pull request's run; a merge
    /// group's run has no pull request to re-evaluate).
    pub offer_reevaluate: bool,
}

impl Publication {
    /// `eval` rendered as `opts` asks, and only what the forge can show: without check runs
    /// the summary, text and annotations stay empty (the sticky comment carries them).
    pub fn of(eval: &Evaluation, opts: &PublishOptions) -> Publication {
        let check_runs = opts.capabilities.check_runs;
        Publication {
            head_sha: Sha::new(&eval.head_sha),
            conclusion: Conclusion::of(eval, opts),
            title: crate::render::title(eval),
            summary: if check_runs {
                crate::render::check_summary(eval)
            } else {
                String::new()
            },
            text: if check_runs {
                crate::render::check_text(eval)
            } else {
                String::new()
            },
            annotations: if check_runs {
                crate::render::annotations::batches(eval)
            } else {
                Vec::new()
            },
            sticky: StickyPlan::of(eval, opts),
            sticky_body: crate::render::comment(eval, opts.details_url.as_deref()),
            details_url: opts.details_url.clone(),
            skip_check_run: opts.skip_check_run,
            new_check_run: false,
            offer_reevaluate: check_runs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge_name::ForgeName;
    use crate::snapshot::ChangedFile;

    #[test]
    fn one_rule_decides_the_sticky_comment() {
        let policy =
            crate::policy::parse_policy("p", "version: 1\n").unwrap_or_else(|e| panic!("{e}"));
        let snap = Snapshot::new(Some(ForgeName::GitHub), "acme/plc", 1, "bob", "abc");
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
    fn a_forge_without_check_runs_gets_no_check_run_text() {
        let policy =
            crate::policy::parse_policy("p", "version: 1\n").unwrap_or_else(|e| panic!("{e}"));
        let snap = Snapshot::new(Some(ForgeName::GitLab), "grp/plc", 1, "bob", "abc");
        let eval = crate::gates::evaluate(&policy, &snap, chrono::Utc::now());
        let on = |capabilities| {
            Publication::of(
                &eval,
                &PublishOptions {
                    capabilities,
                    ..PublishOptions::default()
                },
            )
        };
        let (github, gitlab) = (on(Capabilities::GITHUB), on(Capabilities::GITLAB));
        assert!(!github.summary.is_empty() && !github.text.is_empty());
        assert!(gitlab.summary.is_empty() && gitlab.text.is_empty());
        assert!(gitlab.annotations.is_empty());
        // What both forges show is the same.
        assert_eq!(github.title, gitlab.title);
        assert_eq!(github.sticky_body, gitlab.sticky_body);
        assert_eq!(github.conclusion, gitlab.conclusion);
        assert_eq!(github.sticky, gitlab.sticky);
    }

    #[test]
    fn contents_beyond_the_bound_are_recorded_as_unread() {
        let needs = Needs {
            contents: vec![GlobPattern::new("docs/tm/**").unwrap_or_else(|e| panic!("{e}"))],
            ..Needs::default()
        };
        let mut snap = Snapshot::new(Some(ForgeName::GitHub), "acme/plc", 1, "bob", "abc");
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
