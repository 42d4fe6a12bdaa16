//! Which of a job's events coalesce: a claim loads the oldest events of a job's backlog in
//! full, and of the rest only the newest of each kind, so a job that keeps failing while its
//! events pile up costs the same to claim whatever the size of its backlog.
//!
//! The rule follows what the processors read (see [`crate::worker`]): for a change request
//! (or a commit, or a merge group) any event other than a comment only says "evaluate again", and the newest of
//! a kind says it as well as all of them; a comment is a command, and each one must be handled.
//! A repository's or an installation's events are each read in full (a push that touched the
//! policy, the repositories an installation added), so none of them coalesces.

use crate::events::Target;

/// The most events a claim loads in full, oldest first. Events that must each be handled
/// beyond these are left for the next run, which is due at once.
pub const CLAIM_EVENTS_MAX: i64 = 100;

/// The most coalesced kinds a claim loads the newest event of; beyond them, the backlog is
/// handed over in full-event windows only (which is always correct, only slower).
pub const CLAIM_KINDS_MAX: i64 = 64;

/// Events that are commands, each to be handled by the processor of its forge.
const COMMAND_EVENTS: &[&str] = &["issue_comment", "Note Hook"];

/// The coalescing kind of an event stored for a job with `target` (`event/action`), or
/// `None` when each event of this kind must be loaded (comments; repository and installation
/// jobs).
pub fn coalescing_kind(target: &Target, event: &str, action: Option<&str>) -> Option<String> {
    match target {
        Target::Change(_) | Target::Commit(_) | Target::MergeGroup(_)
            if !COMMAND_EVENTS.contains(&event) =>
        {
            Some(format!("{event}/{}", action.unwrap_or_default()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_repository_events_never_coalesce() {
        let change = Target::Change(7);
        assert_eq!(
            coalescing_kind(&change, "pull_request", Some("synchronize")).as_deref(),
            Some("pull_request/synchronize")
        );
        assert_eq!(
            coalescing_kind(&change, "sdl-gate.policy", None).as_deref(),
            Some("sdl-gate.policy/")
        );
        assert_eq!(
            coalescing_kind(&change, "issue_comment", Some("created")),
            None
        );
        assert_eq!(coalescing_kind(&change, "Note Hook", None), None);
        assert_eq!(coalescing_kind(&Target::Repository, "push", None), None);
        assert_eq!(
            coalescing_kind(&Target::Installation(3), "installation", Some("created")),
            None
        );
        assert!(coalescing_kind(&Target::Commit("abc".into()), "status", None).is_some());
    }
}
