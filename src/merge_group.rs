//! The verdict on a merge queue's group, as a pure function.
//!
//! GitHub's merge queue tests a temporary commit (the group's head) that holds the base
//! branch plus the queued pull requests; a required `sdl-gate` check must be published on
//! that commit or the queue never merges. The group passes only when (1) it names at least
//! one pull request, (2) every one of them is open and its latest stored evaluation is of its
//! current head and passed, and (3) nothing in the group's diff (`base_sha...head_sha`) that
//! none of those pull requests changes touches a security path of the base branch's policy
//! or a policy file. Anything the service could not read is a blocker of its own: the group
//! never passes by default.
//!
//! The engine gathers the inputs (`engine::github::merge_queue`), this module decides, and
//! `render::merge_group` says it.

use std::collections::BTreeSet;

use crate::gates::OverallVerdict;
use crate::policy::{GlobList, POLICY_PATHS};

/// What the service knows of one pull request of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPull {
    /// Its number.
    pub number: u64,
    /// Its current head commit; `None` when it is closed (or gone).
    pub head_sha: Option<String>,
    /// Its latest stored evaluation: the head it judged and the verdict.
    pub last: Option<(String, OverallVerdict)>,
    /// The paths it changes (new and previous names); `None` when GitHub could not list them
    /// all.
    pub files: Option<Vec<String>>,
}

/// Everything the verdict is made from.
#[derive(Debug, Clone)]
pub struct GroupInputs {
    /// The group's pull requests, as found.
    pub pulls: Vec<GroupPull>,
    /// The paths the group's diff changes (new and previous names); `None` when GitHub could
    /// not list them all.
    pub group_files: Option<Vec<String>>,
    /// The base branch policy's `security_paths`.
    pub security_paths: GlobList,
}

/// Why a merge group does not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// Neither the group's ref nor its commits name a pull request.
    NoPullRequest,
    /// The pull request is not open.
    NotOpen {
        /// The pull request.
        number: u64,
    },
    /// The pull request has never been evaluated.
    NotEvaluated {
        /// The pull request.
        number: u64,
        /// Its head.
        head_sha: String,
    },
    /// The latest evaluation is of another commit than the current head.
    StaleEvaluation {
        /// The pull request.
        number: u64,
        /// Its head.
        head_sha: String,
        /// The commit the latest evaluation judged.
        evaluated: String,
    },
    /// The latest evaluation of the head did not pass.
    NotPassing {
        /// The pull request.
        number: u64,
        /// Its head.
        head_sha: String,
        /// The verdict.
        verdict: OverallVerdict,
    },
    /// GitHub did not list every file of the pull request.
    PullFilesUnknown {
        /// The pull request.
        number: u64,
    },
    /// GitHub did not list every file of the group's diff.
    GroupFilesUnknown,
    /// A path the group changes beyond its pull requests is security-relevant.
    SecurityPathBeyond {
        /// The path.
        path: String,
        /// The pattern it matches (or the policy file's own name).
        pattern: String,
    },
}

/// The group's verdict: passing when nothing blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupVerdict {
    /// The pull requests judged, in number order.
    pub pulls: Vec<u64>,
    /// What blocks the group; empty when it passes.
    pub blockers: Vec<Blocker>,
    /// The paths the group changes that none of its pull requests changes (blocking or not).
    pub beyond: Vec<String>,
}

impl GroupVerdict {
    /// Whether the group passes.
    pub fn passes(&self) -> bool {
        self.blockers.is_empty()
    }
}

/// Judges a merge group (see the module documentation).
pub fn judge(inputs: &GroupInputs) -> GroupVerdict {
    let mut blockers = Vec::new();
    let mut pulls: Vec<&GroupPull> = inputs.pulls.iter().collect();
    pulls.sort_by_key(|p| p.number);
    pulls.dedup_by_key(|p| p.number);
    if pulls.is_empty() {
        blockers.push(Blocker::NoPullRequest);
    }
    let mut covered: BTreeSet<&str> = BTreeSet::new();
    let mut coverage_known = true;
    for pull in &pulls {
        let number = pull.number;
        match (&pull.head_sha, &pull.last) {
            (None, _) => blockers.push(Blocker::NotOpen { number }),
            (Some(head), None) => blockers.push(Blocker::NotEvaluated {
                number,
                head_sha: head.clone(),
            }),
            (Some(head), Some((evaluated, _))) if !evaluated.eq_ignore_ascii_case(head) => {
                blockers.push(Blocker::StaleEvaluation {
                    number,
                    head_sha: head.clone(),
                    evaluated: evaluated.clone(),
                });
            }
            (Some(head), Some((_, verdict))) if *verdict != OverallVerdict::Pass => {
                blockers.push(Blocker::NotPassing {
                    number,
                    head_sha: head.clone(),
                    verdict: *verdict,
                });
            }
            _ => {}
        }
        match &pull.files {
            Some(files) => covered.extend(files.iter().map(String::as_str)),
            None => {
                coverage_known = false;
                blockers.push(Blocker::PullFilesUnknown { number });
            }
        }
    }
    let mut beyond = Vec::new();
    match &inputs.group_files {
        None => blockers.push(Blocker::GroupFilesUnknown),
        Some(files) => {
            let unique: BTreeSet<&str> = files.iter().map(String::as_str).collect();
            for path in unique {
                if coverage_known && covered.contains(path) {
                    continue;
                }
                beyond.push(path.to_owned());
                let pattern = if POLICY_PATHS.contains(&path) {
                    Some(path.to_owned())
                } else {
                    inputs
                        .security_paths
                        .first_match(path)
                        .map(|p| p.as_str().to_owned())
                };
                if let Some(pattern) = pattern {
                    blockers.push(Blocker::SecurityPathBeyond {
                        path: path.to_owned(),
                        pattern,
                    });
                }
            }
        }
    }
    GroupVerdict {
        pulls: pulls.iter().map(|p| p.number).collect(),
        blockers,
        beyond,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::GlobPattern;

    fn paths() -> GlobList {
        GlobList::new(&[GlobPattern::new("src/auth/**").unwrap()])
    }

    fn pull(
        number: u64,
        head: &str,
        last: Option<(&str, OverallVerdict)>,
        files: &[&str],
    ) -> GroupPull {
        GroupPull {
            number,
            head_sha: Some(head.into()),
            last: last.map(|(s, v)| (s.into(), v)),
            files: Some(files.iter().map(|f| (*f).to_owned()).collect()),
        }
    }

    fn inputs(pulls: Vec<GroupPull>, group: &[&str]) -> GroupInputs {
        GroupInputs {
            pulls,
            group_files: Some(group.iter().map(|f| (*f).to_owned()).collect()),
            security_paths: paths(),
        }
    }

    #[test]
    fn passing_pulls_and_nothing_security_relevant_beyond_them_pass() {
        let v = judge(&inputs(
            vec![
                pull(
                    2,
                    "b",
                    Some(("b", OverallVerdict::Pass)),
                    &["src/auth/a.rs"],
                ),
                pull(1, "a", Some(("A", OverallVerdict::Pass)), &["README.md"]),
            ],
            &["src/auth/a.rs", "README.md", "CHANGELOG.md"],
        ));
        assert!(v.passes(), "{v:?}");
        assert_eq!(v.pulls, vec![1, 2]);
        assert_eq!(v.beyond, vec!["CHANGELOG.md".to_owned()]);
    }

    #[test]
    fn each_reason_blocks_and_is_named() {
        let closed = GroupPull {
            head_sha: None,
            ..pull(5, "e", None, &[])
        };
        let unknown_files = GroupPull {
            files: None,
            ..pull(6, "f", Some(("f", OverallVerdict::Pass)), &[])
        };
        let v = judge(&inputs(
            vec![
                pull(1, "a", None, &[]),
                pull(2, "b", Some(("old", OverallVerdict::Pass)), &[]),
                pull(3, "c", Some(("c", OverallVerdict::Fail)), &[]),
                pull(4, "d", Some(("d", OverallVerdict::Pending)), &[]),
                closed,
                unknown_files,
            ],
            &["docs/x.md"],
        ));
        assert_eq!(
            v.blockers,
            vec![
                Blocker::NotEvaluated {
                    number: 1,
                    head_sha: "a".into()
                },
                Blocker::StaleEvaluation {
                    number: 2,
                    head_sha: "b".into(),
                    evaluated: "old".into()
                },
                Blocker::NotPassing {
                    number: 3,
                    head_sha: "c".into(),
                    verdict: OverallVerdict::Fail
                },
                Blocker::NotPassing {
                    number: 4,
                    head_sha: "d".into(),
                    verdict: OverallVerdict::Pending
                },
                Blocker::NotOpen { number: 5 },
                Blocker::PullFilesUnknown { number: 6 },
            ]
        );
    }

    #[test]
    fn security_paths_and_the_policy_beyond_the_pulls_block() {
        let v = judge(&inputs(
            vec![pull(
                1,
                "a",
                Some(("a", OverallVerdict::Pass)),
                &["src/lib.rs"],
            )],
            &["src/lib.rs", "src/auth/login.rs", ".github/sdl-gate.yml"],
        ));
        assert_eq!(
            v.blockers,
            vec![
                Blocker::SecurityPathBeyond {
                    path: ".github/sdl-gate.yml".into(),
                    pattern: ".github/sdl-gate.yml".into()
                },
                Blocker::SecurityPathBeyond {
                    path: "src/auth/login.rs".into(),
                    pattern: "src/auth/**".into()
                },
            ]
        );
    }

    #[test]
    fn what_cannot_be_read_never_passes() {
        let mut i = inputs(vec![], &[]);
        assert_eq!(judge(&i).blockers, vec![Blocker::NoPullRequest]);
        i.pulls = vec![pull(1, "a", Some(("a", OverallVerdict::Pass)), &[])];
        i.group_files = None;
        assert_eq!(judge(&i).blockers, vec![Blocker::GroupFilesUnknown]);
        // A pull request whose files are unknown attributes nothing: every security path of
        // the group counts as beyond.
        let i = inputs(
            vec![GroupPull {
                files: None,
                ..pull(1, "a", Some(("a", OverallVerdict::Pass)), &[])
            }],
            &["src/auth/a.rs"],
        );
        assert_eq!(judge(&i).blockers.len(), 2);
    }
}
