//! The text of a merge group's `sdl-gate` check run: a title that says pass or which pull
//! request or path blocks, and a summary listing every blocker with what to do about it.
//! Paths and refs are user data, so they go through [`escape::code`].

use std::fmt::Write as _;

use crate::merge_group::{Blocker, GroupVerdict};

use super::escape;

/// At most this many blockers are listed in the summary (the rest are counted).
pub const MAX_BLOCKERS_LISTED: usize = 50;

/// The first seven characters of a commit id.
fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn pulls_list(pulls: &[u64]) -> String {
    pulls
        .iter()
        .map(|n| format!("#{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One blocker as a sentence (Markdown, user data in code spans).
pub fn blocker(b: &Blocker) -> String {
    match b {
        Blocker::NoPullRequest => "the merge group names no pull request (neither its ref nor its commits); it cannot be attributed, so it does not pass".into(),
        Blocker::NotOpen { number } => format!("#{number} is not open"),
        Blocker::NotEvaluated { number, head_sha } => format!(
            "#{number} has no sdl-gate evaluation of its head {}: comment `/sdl recheck` on it",
            escape::code(short(head_sha))
        ),
        Blocker::StaleEvaluation { number, head_sha, evaluated } => format!(
            "#{number} was last evaluated at {}, not at its head {}: comment `/sdl recheck` on it",
            escape::code(short(evaluated)),
            escape::code(short(head_sha))
        ),
        Blocker::NotPassing { number, head_sha, verdict } => format!(
            "#{number} does not pass sdl-gate at its head {} (verdict: {})",
            escape::code(short(head_sha)),
            verdict.as_str()
        ),
        Blocker::PullFilesUnknown { number } => format!(
            "the files of #{number} could not all be listed, so the group's changes cannot be attributed to it"
        ),
        Blocker::GroupFilesUnknown => "the files the merge group changes could not all be listed".into(),
        Blocker::SecurityPathBeyond { path, pattern } => format!(
            "{} is changed by the merge group but by none of its pull requests, and matches the security path {}",
            escape::code(path),
            escape::code(pattern)
        ),
    }
}

/// The check run's title.
pub fn title(v: &GroupVerdict) -> String {
    match v.blockers.first() {
        None => format!("Merge group passes: {}", pulls_list(&v.pulls)),
        Some(first) => {
            let what = match first {
                Blocker::NoPullRequest => "no pull request named".to_owned(),
                Blocker::NotOpen { number }
                | Blocker::NotEvaluated { number, .. }
                | Blocker::StaleEvaluation { number, .. }
                | Blocker::NotPassing { number, .. }
                | Blocker::PullFilesUnknown { number } => format!("#{number}"),
                Blocker::GroupFilesUnknown => "its files are unknown".to_owned(),
                Blocker::SecurityPathBeyond { path, .. } => escape::line(path, 80),
            };
            let more = v.blockers.len() - 1;
            if more == 0 {
                format!("Merge group blocked: {what}")
            } else {
                format!("Merge group blocked: {what} and {more} more")
            }
        }
    }
}

/// The check run's summary.
pub fn summary(v: &GroupVerdict, base_branch: &str) -> String {
    let mut out = String::new();
    if v.passes() {
        let _ = writeln!(
            out,
            "Every pull request of this merge group ({}) passed sdl-gate at its head, and nothing the group changes beyond them is security-relevant under the policy of {}.",
            pulls_list(&v.pulls),
            escape::code(base_branch)
        );
    } else {
        let _ = writeln!(
            out,
            "This merge group ({}) does not pass sdl-gate under the policy of {}:\n",
            if v.pulls.is_empty() {
                "no pull request".to_owned()
            } else {
                pulls_list(&v.pulls)
            },
            escape::code(base_branch)
        );
        for b in v.blockers.iter().take(MAX_BLOCKERS_LISTED) {
            let _ = writeln!(out, "- {}", blocker(b));
        }
        if v.blockers.len() > MAX_BLOCKERS_LISTED {
            let _ = writeln!(out, "- and {} more", v.blockers.len() - MAX_BLOCKERS_LISTED);
        }
    }
    if !v.beyond.is_empty() {
        let _ = writeln!(
            out,
            "\n{} path(s) changed by the group but by none of its pull requests were checked against the security paths.",
            v.beyond.len()
        );
    }
    out
}

/// The check run's title when the base branch has no policy.
pub const NO_POLICY_TITLE: &str = "No sdl-gate policy on the base branch";

/// The check run's summary when the base branch has no policy.
pub fn no_policy(base_branch: &str) -> String {
    format!(
        "The base branch {} has no sdl-gate policy (`.github/sdl-gate.yml` or `.sdl-gate.yml`), so nothing is enforced on this merge group.\n",
        escape::code(base_branch)
    )
}

/// The check run's title when the base branch's policy does not parse.
pub const INVALID_POLICY_TITLE: &str = "The sdl-gate policy of the base branch is invalid";

/// The check run's summary when the base branch's policy does not parse.
pub fn invalid_policy(base_branch: &str, error: &str) -> String {
    format!(
        "The policy of {} does not parse, so this merge group cannot be judged:\n\n```text\n{}\n```\n",
        escape::code(base_branch),
        error.replace("```", "'''")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::OverallVerdict;

    #[test]
    fn titles_name_the_first_blocker() {
        let pass = GroupVerdict {
            pulls: vec![3, 4],
            blockers: vec![],
            beyond: vec![],
        };
        assert_eq!(title(&pass), "Merge group passes: #3, #4");
        let fail = GroupVerdict {
            pulls: vec![3],
            blockers: vec![
                Blocker::NotPassing {
                    number: 3,
                    head_sha: "abcdef0123".into(),
                    verdict: OverallVerdict::Fail,
                },
                Blocker::SecurityPathBeyond {
                    path: "src/auth/`x`.rs".into(),
                    pattern: "src/auth/**".into(),
                },
            ],
            beyond: vec!["src/auth/`x`.rs".into()],
        };
        assert_eq!(title(&fail), "Merge group blocked: #3 and 1 more");
        let s = summary(&fail, "main");
        assert!(
            s.contains("#3 does not pass sdl-gate at its head `abcdef0`"),
            "{s}"
        );
        assert!(s.contains("``src/auth/`x`.rs``"), "{s}");
    }
}
