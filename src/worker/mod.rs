//! The glue between the durable queue and a forge: a [`Processor`] per forge that turns one
//! queued job for a pull or merge request into its `/sdl` commands and one evaluation — head,
//! base-branch policy, snapshot, the store's waivers, evaluate, publish — recorded for
//! `/sdl status` and the evidence ledger. That path is one for both forges, the
//! [`crate::engine`]; the processors only add what one forge alone has.
//!
//! The queue knows no forge and the forge knows no queue; the engine and this module are where
//! they meet (the engine maps forge errors onto the queue's retry rules). GitLab merge requests have
//! their own processor in [`gitlab`] (the same change path); [`dispatch::ForgeProcessor`] sends
//! each job to the processor of its forge.
//!
//! Jobs that are not one pull request (a commit, a repository, an installation) are fanned
//! out into pull request jobs by [`fanout`]; [`reconcile`] sweeps installed repositories for
//! pull requests whose webhooks were lost.
//!
//! The engine's clock and waiver-expiry scheduler are re-exported here ([`Clock`], [`expiry`])
//! for the service's wiring.

pub mod dispatch;
pub mod fanout;
pub mod gitlab;
pub mod reconcile;

pub use crate::engine::{Clock, Due, ExpiryHandle, ExpiryScheduler};
pub use crate::engine::{Outcome, Records, clock, evaluate_change, expiry};
pub(crate) use crate::engine::{retry, to_process_error};

use crate::events::{Forge as ForgeName, Target};
use crate::forge::ChangeRef;
use crate::forge::github::GithubForge;
use crate::queue::{Job, ProcessError, Processor};
use crate::store::Store;

pub use dispatch::ForgeProcessor;
pub use gitlab::GitlabProcessor;

/// Evaluates GitHub pull request jobs with the App's client.
#[derive(Debug)]
pub struct GithubProcessor {
    forge: GithubForge,
    store: Store,
    public_url: Option<String>,
    fanout: fanout::FanoutSettings,
    clock: Clock,
    expiry: Option<ExpiryHandle>,
}

impl GithubProcessor {
    /// A processor publishing through `forge` and recording in `store`; `public_url` is the
    /// service's address for links (`SDL_GATE_PUBLIC_URL`).
    pub fn new(forge: GithubForge, store: Store, public_url: Option<String>) -> Self {
        GithubProcessor {
            forge,
            store,
            public_url,
            fanout: fanout::FanoutSettings::default(),
            clock: Clock::system(),
            expiry: None,
        }
    }

    /// Reads time from `clock` (waiver expiry, evaluation stamps) instead of the system
    /// clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Tells `expiry` of every waiver granted or seen, so the change is evaluated again when
    /// it expires.
    pub fn with_expiry(mut self, expiry: ExpiryHandle) -> Self {
        self.expiry = Some(expiry);
        self
    }

    fn change_job(&self) -> crate::engine::ChangeJob<'_, GithubForge> {
        crate::engine::ChangeJob {
            forge: &self.forge,
            store: &self.store,
            clock: &self.clock,
            expiry: self.expiry.as_ref(),
            public_url: self.public_url.as_deref(),
            forge_name: ForgeName::GitHub,
        }
    }

    /// The same processor with other fan-out bounds (`SDL_GATE_FANOUT_MAX_PULLS`).
    pub fn with_fanout(mut self, settings: fanout::FanoutSettings) -> Self {
        self.fanout = settings;
        self
    }

    /// The App installation of the job: the `installation` its newest event's detail names
    /// (every App delivery has one), else `installation.id` of its newest stored delivery that
    /// names one (events stored before the detail carried it), else the one remembered for the
    /// repository.
    async fn installation(&self, job: &Job) -> Result<Option<u64>, ProcessError> {
        let mut named = job.events.iter().rev().find_map(|e| {
            e.detail
                .as_ref()
                .and_then(|d| d.get("installation"))
                .and_then(serde_json::Value::as_u64)
        });
        if named.is_none() {
            for event in job.events.iter().rev() {
                let payload = self
                    .store
                    .delivery_payload(event.delivery_pk)
                    .await
                    .map_err(|e| retry(format!("reading delivery {}: {e}", event.delivery_id)))?;
                named = payload
                    .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
                    .and_then(|v| v.pointer("/installation/id").and_then(|i| i.as_u64()));
                if named.is_some() {
                    break;
                }
            }
        }
        if let Some(id) = named {
            // Kept apart from the deliveries, which retention prunes.
            self.store
                .remember_installation(ForgeName::GitHub, &job.key.repository, id)
                .await
                .map_err(|e| retry(format!("remembering the installation: {e}")))?;
            return Ok(Some(id));
        }
        // Work the service gave itself may not name one (a waiver expiring after a restart):
        // the repository's last delivery does.
        self.store
            .installation_of(ForgeName::GitHub, &job.key.repository)
            .await
            .map_err(|e| retry(format!("looking up the installation: {e}")))
    }
}

impl Processor for GithubProcessor {
    async fn process(&self, job: &Job) -> Result<(), ProcessError> {
        if job.key.forge != ForgeName::GitHub {
            tracing::warn!(job = %job.key, "not a GitHub job; completed without action");
            return Ok(());
        }
        match &job.key.target {
            Target::Change(number) => {
                let installation = self.installation(job).await?;
                let change = ChangeRef::new(job.key.repository.clone(), *number, installation);
                self.change_job().run(job, &change).await
            }
            Target::Commit(sha) => self.commit_job(job, sha).await,
            Target::Repository => self.repository_job(job).await,
            Target::Installation(id) => self.installation_job(job, *id).await,
        }
    }
}
