//! The conversation side of a forge, for `/sdl` comment commands: acknowledge a comment with
//! a reaction, reply on the change, find an earlier reply, and read a commenter's repository
//! permission. Kept apart from [`super::Forge`] (which evaluates and publishes) so a forge
//! can evaluate without conversing; GitHub comments and GitLab notes implement the same calls,
//! so one command loop (`engine::commands`) serves both forges.

use std::future::Future;

use crate::commands::Permission;
use crate::snapshot::Login;

use super::{ChangeRef, ForgeError};

/// An acknowledgement on a command's comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// 👀 received.
    Eyes,
    /// 👍 done.
    PlusOne,
    /// 😕 refused or malformed.
    Confused,
}

impl Reaction {
    /// GitHub's `content` name (`eyes`, `+1`, `confused`).
    pub fn as_github(self) -> &'static str {
        match self {
            Reaction::Eyes => "eyes",
            Reaction::PlusOne => "+1",
            Reaction::Confused => "confused",
        }
    }
}

/// What the command handler needs from a forge besides evaluating. Every call is safe to
/// repeat: a reaction that exists is not added twice; replies are found again by a marker.
pub trait Interact: Send + Sync {
    /// Adds `reaction` to conversation comment `comment_id` of the change.
    fn react(
        &self,
        change: &ChangeRef,
        comment_id: u64,
        reaction: Reaction,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// Posts a new conversation comment (not the sticky one); returns its id.
    fn reply(
        &self,
        change: &ChangeRef,
        body: &str,
    ) -> impl Future<Output = Result<u64, ForgeError>> + Send;

    /// The id of a comment of ours on the change whose body starts with `marker`, if any.
    fn find_reply(
        &self,
        change: &ChangeRef,
        marker: &str,
    ) -> impl Future<Output = Result<Option<u64>, ForgeError>> + Send;

    /// `login`'s permission on the change's repository; `None` when the forge says they are
    /// no collaborator or will not tell.
    fn permission(
        &self,
        change: &ChangeRef,
        login: &Login,
    ) -> impl Future<Output = Result<Option<Permission>, ForgeError>> + Send;

    /// Whether `login` is this service's own account on the forge (its comments are never
    /// commands). GitHub marks the App's comments as a bot's in the delivery instead.
    fn is_self(&self, login: &Login) -> bool {
        let _ = login;
        false
    }
}
