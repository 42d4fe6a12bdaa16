//! The `security_review` gate: designated reviewers approved the head commit, none of them the
//! author, and no security reviewer asks for changes (62443-4-1 SI-1, SD-3, SM-2, SM-4).
//!
//! An approval of an earlier commit counts too when the change's patch there is the head's
//! (`snapshot.patch_ids`, `git patch-id --verbatim` of the diff against the base: a rebase),
//! unless `approvals_survive_rebase` is off; a different or unknown patch does not, and each
//! approval's line in the explanation says which rule applied. [`commits_to_compare`] names
//! the earlier commits whose patch could change the verdict, so the forge fetches no other.

use std::collections::BTreeMap;

use crate::policy::{GlobList, Reviewers, SecurityReviewGate};
use crate::snapshot::{Login, PatchIdentity, Review, ReviewState, Sha, Snapshot};

use super::outcome::{Outcome, q, status_of, worst};
use super::result::{Node, NodeStatus, Verdict};

/// Whether a login counts as one of `reviewers`.
enum Qualifies {
    Yes(String),
    No,
    /// A team that could qualify them was not resolved.
    Unknown(Vec<String>),
}

fn qualifies(reviewers: &Reviewers, login: &Login, snapshot: &Snapshot) -> Qualifies {
    if reviewers
        .users
        .iter()
        .any(|u| Login::new(u.as_str()) == *login)
    {
        return Qualifies::Yes(format!("listed reviewer {login}"));
    }
    let mut unknown = Vec::new();
    for team in &reviewers.teams {
        match snapshot.is_member(team.as_str(), login) {
            Some(true) => return Qualifies::Yes(format!("member of {team}")),
            Some(false) => {}
            None => unknown.push(team.to_string()),
        }
    }
    if unknown.is_empty() {
        Qualifies::No
    } else {
        Qualifies::Unknown(unknown)
    }
}

/// The latest deciding review of each reviewer: comments and pending reviews do not change
/// a reviewer's state; a dismissal withdraws it.
fn latest_states(reviews: &[Review]) -> BTreeMap<Login, &Review> {
    let mut latest: BTreeMap<Login, &Review> = BTreeMap::new();
    for r in reviews {
        if matches!(r.state, ReviewState::Commented | ReviewState::Pending) {
            continue;
        }
        latest.insert(r.author.clone(), r);
    }
    latest
}

fn describe_set(reviewers: &Reviewers) -> String {
    let mut parts: Vec<String> = reviewers
        .teams
        .iter()
        .map(|t| format!("team {t}"))
        .collect();
    parts.extend(reviewers.users.iter().map(|u| u.to_string()));
    if parts.is_empty() {
        "nobody (no reviewers configured)".into()
    } else {
        parts.join(", ")
    }
}

/// Whether an approval of `commit` (not the head) carries over to the head.
enum Carry<'a> {
    /// The rule is off, or the commit's patch was not looked at.
    NotLooked,
    /// Same patch as the head: it counts.
    Same(&'a str),
    /// Another patch.
    Differs,
    /// The head's or the commit's patch is unknown, and why.
    Unknown(String),
}

fn carry<'a>(snapshot: &'a Snapshot, commit: &Sha, survive: bool) -> Carry<'a> {
    if !survive {
        return Carry::NotLooked;
    }
    // The head's patch first: when it is unknown, no earlier commit is looked at.
    let head = match snapshot.patch_ids.get(&snapshot.head_sha) {
        None => return Carry::NotLooked,
        Some(PatchIdentity::Unknown { reason }) => {
            return Carry::Unknown(format!("at the head: {reason}"));
        }
        Some(PatchIdentity::Known { id }) => id,
    };
    match snapshot.patch_ids.get(commit) {
        None => Carry::NotLooked,
        Some(PatchIdentity::Unknown { reason }) => {
            Carry::Unknown(format!("at {}: {reason}", commit.short()))
        }
        Some(PatchIdentity::Known { id }) => {
            if head.eq_ignore_ascii_case(id) {
                Carry::Same(id)
            } else {
                Carry::Differs
            }
        }
    }
}

/// What judging one reviewer set found.
struct Judged {
    verdict: Verdict,
    node: Node,
    /// Some approval counted only because its commit has the head's patch.
    carried: bool,
    /// Commits of qualifying approvals whose patch was not looked at.
    unlooked: Vec<Sha>,
}

/// Judges one reviewer set: `needed` approvals from `reviewers` on the head commit (or, with
/// `survive`, on a commit with the head's patch).
fn judge_set(
    name: &str,
    needed: u32,
    reviewers: &Reviewers,
    survive: bool,
    snapshot: &Snapshot,
    errors: &mut Vec<String>,
    unblock: &mut Vec<String>,
) -> Judged {
    let mut children = Vec::new();
    let mut count = 0u32;
    let mut carried = false;
    let mut unlooked = Vec::new();
    let mut blocked_by = Vec::new();
    let mut unresolved = Vec::new();
    for (login, review) in latest_states(&snapshot.reviews) {
        let q = qualifies(reviewers, &login, snapshot);
        match review.state {
            ReviewState::Approved => {
                if login == snapshot.author {
                    children.push(Node::leaf(
                        NodeStatus::Info,
                        format!("{login} approved their own change: does not count"),
                    ));
                    continue;
                }
                if login.is_bot() {
                    children.push(Node::leaf(
                        NodeStatus::Info,
                        format!("{login} is a bot: its approval does not count"),
                    ));
                    continue;
                }
                let on_head = review
                    .commit
                    .as_ref()
                    .is_none_or(|c| *c == snapshot.head_sha);
                match q {
                    Qualifies::Yes(why) if on_head => {
                        count += 1;
                        children.push(Node::leaf(
                            NodeStatus::Pass,
                            format!("{login} ({why}) approved the head commit"),
                        ));
                    }
                    Qualifies::Yes(why) => {
                        let Some(commit) = review.commit.as_ref() else {
                            continue;
                        };
                        let sha = commit.short();
                        let head = snapshot.head_sha.short();
                        let (status, text) = match carry(snapshot, commit, survive) {
                            Carry::Same(id) => {
                                count += 1;
                                carried = true;
                                (
                                    NodeStatus::Pass,
                                    format!(
                                        "{login} ({why}) approved {sha}, a commit with the same patch as the head {head} (patch-id {}…): counts",
                                        id.get(..12).unwrap_or(id)
                                    ),
                                )
                            }
                            Carry::Differs => (
                                NodeStatus::Info,
                                format!(
                                    "{login} ({why}) approved {sha}, not the head commit {head}, and its patch differs from the head's: approve again"
                                ),
                            ),
                            Carry::Unknown(reason) => (
                                NodeStatus::Info,
                                format!(
                                    "{login} ({why}) approved {sha}, not the head commit {head}, and whether its patch is the head's is unknown ({reason}): approve again"
                                ),
                            ),
                            Carry::NotLooked => {
                                if survive {
                                    unlooked.push(commit.clone());
                                }
                                (
                                    NodeStatus::Info,
                                    format!(
                                        "{login} ({why}) approved {sha}, not the head commit {head}: approve again"
                                    ),
                                )
                            }
                        };
                        children.push(Node::leaf(status, text));
                    }
                    Qualifies::No => children.push(Node::leaf(
                        NodeStatus::Info,
                        format!("{login} approved but is not a designated reviewer for {name}"),
                    )),
                    Qualifies::Unknown(teams) => {
                        unresolved.push(format!(
                            "could not resolve whether {login} is a member of {}",
                            teams.join(", ")
                        ));
                        children.push(Node::leaf(
                            NodeStatus::Warning,
                            format!(
                                "{login} approved; membership of {} unknown",
                                teams.join(", ")
                            ),
                        ));
                    }
                }
            }
            ReviewState::ChangesRequested => {
                if let Qualifies::Yes(why) = q {
                    children.push(Node::leaf(
                        NodeStatus::Fail,
                        format!("{login} ({why}) requested changes"),
                    ));
                    blocked_by.push(login.to_string());
                }
            }
            _ => {}
        }
    }
    let verdict = if !blocked_by.is_empty() {
        unblock.push(format!(
            "Address the changes requested by {} and ask them to approve.",
            blocked_by.join(", ")
        ));
        Verdict::Fail
    } else if count >= needed {
        Verdict::Pass
    } else {
        unblock.push(format!(
            "Get {} more approval(s) on the head commit from {} (the author's own approval does not count).",
            needed - count,
            describe_set(reviewers)
        ));
        Verdict::Pending
    };
    // Unresolved membership only matters when the known approvals do not suffice.
    if verdict != Verdict::Pass {
        errors.extend(unresolved);
    }
    let node = Node::with_children(
        status_of(verdict),
        format!(
            "{name}: {count} of {needed} approval(s) from {}",
            describe_set(reviewers)
        ),
        children,
    );
    Judged {
        verdict,
        node,
        carried,
        unlooked,
    }
}

/// Judges the reviewer set and every path reviewer set a touched file calls for.
fn judge_all(
    gate: &SecurityReviewGate,
    snapshot: &Snapshot,
    errors: &mut Vec<String>,
    unblock: &mut Vec<String>,
) -> Vec<Judged> {
    let survive = gate.approvals_survive_rebase;
    let mut judged = vec![judge_set(
        "security review",
        gate.approvals,
        &gate.reviewers,
        survive,
        snapshot,
        errors,
        unblock,
    )];
    for set in &gate.path_reviewers {
        let globs = GlobList::new(&set.paths);
        let hit = snapshot.files.iter().find(|f| {
            globs.is_match(&f.path)
                || f.previous_path
                    .as_deref()
                    .is_some_and(|p| globs.is_match(p))
        });
        if let Some(file) = hit {
            let name = set
                .name
                .clone()
                .or_else(|| set.paths.first().map(|g| g.to_string()))
                .unwrap_or_default();
            let mut one = judge_set(
                &format!("reviewers for {name}"),
                set.approvals,
                &set.reviewers,
                survive,
                snapshot,
                errors,
                unblock,
            );
            one.node.description = format!(
                "{} (because {} changed)",
                one.node.description,
                q(&file.path)
            );
            judged.push(one);
        }
    }
    judged
}

/// The commits whose patch could decide the gate: approvals of designated reviewers on an
/// earlier commit, in a reviewer set that is still waiting, when the head's patch is known
/// and theirs was not looked at. Empty when the rule is off.
pub(crate) fn commits_to_compare(gate: &SecurityReviewGate, snapshot: &Snapshot) -> Vec<Sha> {
    if !gate.approvals_survive_rebase
        || !matches!(
            snapshot.patch_ids.get(&snapshot.head_sha),
            Some(PatchIdentity::Known { .. })
        )
    {
        return Vec::new();
    }
    let mut commits: Vec<Sha> = judge_all(gate, snapshot, &mut Vec::new(), &mut Vec::new())
        .into_iter()
        .filter(|j| j.verdict == Verdict::Pending)
        .flat_map(|j| j.unlooked)
        .collect();
    commits.sort();
    commits.dedup();
    commits
}

pub(crate) fn evaluate(gate: &SecurityReviewGate, snapshot: &Snapshot) -> Outcome {
    let mut errors = Vec::new();
    let mut unblock = Vec::new();
    let judged = judge_all(gate, snapshot, &mut errors, &mut unblock);
    let carried = judged.iter().any(|j| j.carried);
    let verdict = worst(judged.iter().map(|j| j.verdict));
    let nodes: Vec<Node> = judged.into_iter().map(|j| j.node).collect();
    let explanation = match verdict {
        Verdict::Pass if carried => {
            "designated reviewers approved the head commit or a commit with the same patch (a rebase)"
                .to_string()
        }
        Verdict::Pass => "designated reviewers approved the head commit".to_string(),
        Verdict::Fail => "a security reviewer requested changes".to_string(),
        _ => "waiting for approval from designated reviewers on the head commit".to_string(),
    };
    let mut out = Outcome::new(verdict, explanation);
    out.details = nodes;
    out.unblock = unblock;
    out.errors = errors;
    out
}
