//! The `security_review` gate: designated reviewers approved the head commit, none of them the
//! author, and no security reviewer asks for changes (62443-4-1 SI-1, SD-3, SM-2, SM-4).

use std::collections::BTreeMap;

use crate::policy::{GlobList, Reviewers, SecurityReviewGate};
use crate::snapshot::{Login, Review, ReviewState, Snapshot};

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

/// Judges one reviewer set: `needed` approvals from `reviewers` on the head commit; returns
/// the verdict and the node explaining it.
fn judge_set(
    name: &str,
    needed: u32,
    reviewers: &Reviewers,
    snapshot: &Snapshot,
    errors: &mut Vec<String>,
    unblock: &mut Vec<String>,
) -> (Verdict, Node) {
    let mut children = Vec::new();
    let mut count = 0u32;
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
                        let sha = review.commit.as_ref().map(|c| c.short()).unwrap_or("?");
                        children.push(Node::leaf(
                            NodeStatus::Info,
                            format!(
                                "{login} ({why}) approved {sha}, not the head commit {}: approve again",
                                snapshot.head_sha.short()
                            ),
                        ));
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
    (verdict, node)
}

pub(crate) fn evaluate(gate: &SecurityReviewGate, snapshot: &Snapshot) -> Outcome {
    let mut errors = Vec::new();
    let mut unblock = Vec::new();
    let (first, node) = judge_set(
        "security review",
        gate.approvals,
        &gate.reviewers,
        snapshot,
        &mut errors,
        &mut unblock,
    );
    let mut verdicts = vec![first];
    let mut nodes = vec![node];
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
            let (verdict, mut node) = judge_set(
                &format!("reviewers for {name}"),
                set.approvals,
                &set.reviewers,
                snapshot,
                &mut errors,
                &mut unblock,
            );
            node.description = format!("{} (because {} changed)", node.description, q(&file.path));
            verdicts.push(verdict);
            nodes.push(node);
        }
    }
    let verdict = worst(verdicts);
    let explanation = match verdict {
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
