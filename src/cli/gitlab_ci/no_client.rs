//! The stand-in for the GitLab API client until `sdl_gate::forge::gitlab` is built in: a type
//! that cannot be constructed, so the job's forge-generic code compiles and every method is
//! unreachable. Delete this file when the real client lands (see `client.rs`).

use sdl_gate::forge::{
    ChangeHead, ChangeRef, Forge, ForgeError, Needs, Notice, PolicyFile, PublishOptions, Published,
};
use sdl_gate::gates::Evaluation;
use sdl_gate::snapshot::{Login, Sha, Snapshot, TeamSlug};

/// The stand-in for the GitLab client until it is built in: it cannot be constructed, so
/// every method is unreachable.
pub(super) enum NoGitlabClient {}

impl Forge for NoGitlabClient {
    async fn head(&self, _: &ChangeRef) -> Result<ChangeHead, ForgeError> {
        match *self {}
    }
    async fn policy(&self, _: &ChangeRef, _: &str) -> Result<Option<PolicyFile>, ForgeError> {
        match *self {}
    }
    async fn snapshot(
        &self,
        _: &ChangeRef,
        _: &ChangeHead,
        _: &Needs,
    ) -> Result<Snapshot, ForgeError> {
        match *self {}
    }
    async fn publish(
        &self,
        _: &ChangeRef,
        _: &Evaluation,
        _: &PublishOptions,
    ) -> Result<Published, ForgeError> {
        match *self {}
    }
    async fn publish_notice(
        &self,
        _: &ChangeRef,
        _: &Sha,
        _: &Notice,
        _: &PublishOptions,
    ) -> Result<Published, ForgeError> {
        match *self {}
    }
    async fn team_member(
        &self,
        _: &ChangeRef,
        _: &TeamSlug,
        _: &Login,
    ) -> Result<bool, ForgeError> {
        match *self {}
    }
}
