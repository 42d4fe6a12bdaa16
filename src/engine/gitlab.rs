//! The GitLab processor: a queued job for a merge request runs through the same change path as
//! a GitHub pull request ([`crate::engine`]: the `/sdl` commands of its Note Hooks through the
//! one command loop, then one evaluation, recorded). GitLab access levels
//! (`/projects/:id/members/all/:user_id`) stand for repository permissions, groups for teams,
//! award emoji for reactions and notes for replies ([`crate::forge::Interact`]).
//!
//! What GitLab cannot do is said once, here: it sends no hook when a note is deleted, so a
//! deleted note that granted a waiver is not noticed (an edit is); and it has no per-commit
//! check runs, so the verdict is a commit status plus the sticky note.

use crate::events::Target;
use crate::forge::ChangeRef;
use crate::forge::gitlab::GitlabForge;
use crate::forge_name::ForgeName;
use crate::queue::{Job, ProcessError, Processor};
use crate::store::Store;

use super::{ChangeJob, Clock, ExpiryHandle};

/// Evaluates GitLab merge request jobs and runs their `/sdl` commands with the bot's client.
#[derive(Debug)]
pub struct GitlabProcessor {
    forge: GitlabForge,
    store: Store,
    public_url: Option<String>,
    clock: Clock,
    expiry: Option<ExpiryHandle>,
}

impl GitlabProcessor {
    /// A processor acting through `forge` and recording in `store`; `public_url` is the
    /// service's address for links (`SDL_GATE_PUBLIC_URL`).
    pub fn new(forge: GitlabForge, store: Store, public_url: Option<String>) -> Self {
        GitlabProcessor {
            forge,
            store,
            public_url,
            clock: Clock::system(),
            expiry: None,
        }
    }

    /// Reads time from `clock` (waiver grants and expiry, evaluation stamps) instead of the
    /// system clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Tells `expiry` of every waiver granted or seen, so the merge request is evaluated
    /// again when it expires.
    pub fn with_expiry(mut self, expiry: ExpiryHandle) -> Self {
        self.expiry = Some(expiry);
        self
    }

    /// The forge client (for tests and metrics).
    pub fn forge(&self) -> &GitlabForge {
        &self.forge
    }
}

impl Processor for GitlabProcessor {
    async fn process(&self, job: &Job) -> Result<(), ProcessError> {
        if job.key.forge != ForgeName::GitLab {
            tracing::warn!(job = %job.key, "not a GitLab job; completed without action");
            return Ok(());
        }
        let iid = match job.key.target {
            Target::Change(iid) => iid,
            Target::Repository => {
                // Releases and policy pushes: recorded in the evidence ledger, nothing to
                // evaluate.
                let releases = super::record::releases_of(job);
                super::record::releases(
                    &self.store,
                    ForgeName::GitLab,
                    job,
                    &releases,
                    self.clock.now(),
                )
                .await?;
                let ledger = super::record::LedgerRecorder {
                    store: &self.store,
                    forge: ForgeName::GitLab,
                };
                for event in &job.events {
                    if let Some(push) = crate::events::PolicyPush::of(event.detail.as_ref()) {
                        super::record::record_policy(
                            &self.forge,
                            &ledger,
                            &job.key.repository,
                            None,
                            &push,
                            self.clock.now(),
                        )
                        .await?;
                    }
                }
                return Ok(());
            }
            _ => {
                tracing::info!(job = %job.key, "not a merge request job; nothing to evaluate");
                return Ok(());
            }
        };
        let change = ChangeRef::new(job.key.repository.clone(), iid, None);
        ChangeJob {
            forge: &self.forge,
            store: &self.store,
            clock: &self.clock,
            expiry: self.expiry.as_ref(),
            public_url: self.public_url.as_deref(),
            forge_name: ForgeName::GitLab,
        }
        .run(job, &change)
        .await
    }
}
