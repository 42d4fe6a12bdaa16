//! The conversation on a merge request for `/sdl` commands ([`Interact`]): reactions are award
//! emoji on the command's note, replies are notes, and a commenter's permission is their
//! access level on the project (inherited from groups included).

use crate::commands::Permission;
use crate::forge::{ChangeRef, ForgeError, Interact, Reaction};
use crate::snapshot::Login;

use super::publish::{self, Emoji};
use super::{GitlabForge, snapshot};

impl From<Reaction> for Emoji {
    fn from(r: Reaction) -> Emoji {
        match r {
            Reaction::Eyes => Emoji::Eyes,
            Reaction::PlusOne => Emoji::ThumbsUp,
            Reaction::Confused => Emoji::Confused,
        }
    }
}

impl Interact for GitlabForge {
    async fn react(
        &self,
        change: &ChangeRef,
        comment_id: u64,
        reaction: Reaction,
    ) -> Result<(), ForgeError> {
        publish::award(self, change, comment_id, reaction.into()).await
    }

    async fn reply(&self, change: &ChangeRef, body: &str) -> Result<u64, ForgeError> {
        publish::post_note(self, change, body).await
    }

    async fn find_reply(
        &self,
        change: &ChangeRef,
        marker: &str,
    ) -> Result<Option<u64>, ForgeError> {
        publish::find_note(self, change, marker).await
    }

    async fn permission(
        &self,
        change: &ChangeRef,
        login: &Login,
    ) -> Result<Option<Permission>, ForgeError> {
        snapshot::permission(self, change, login).await
    }

    fn is_self(&self, login: &Login) -> bool {
        login.as_str().eq_ignore_ascii_case(self.bot().as_str())
    }
}
