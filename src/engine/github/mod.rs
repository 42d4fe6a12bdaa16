//! What only GitHub has, beside the shared change path: the GitHub App's [`GithubProcessor`]
//! (which App installation a job acts as, remembered apart from the deliveries retention
//! prunes), the fan-out of jobs that are not one pull request — a commit, a repository, an
//! installation — into pull request jobs ([`fanout`]), and the periodic sweep of installed
//! repositories for pull requests whose webhooks were lost ([`reconcile`]), and the merge
//! queue's groups, judged from their pull requests' evaluations ([`merge_queue`]).
//!
//! A pull request job itself runs through [`crate::engine::ChangeJob`], as a GitLab merge
//! request does.

pub mod fanout;
pub mod merge_queue;
pub mod reconcile;

use crate::engine::{Clock, ExpiryHandle};

use crate::events::Target;
use crate::forge::ChangeRef;
use crate::forge::github::GithubForge;
use crate::forge_name::ForgeName;
use crate::queue::{Job, ProcessError, Processor};
use crate::store::Store;

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
                named = crate::engine::raw_delivery(&self.store, event)
                    .await?
                    .pointer("/installation/id")
                    .and_then(serde_json::Value::as_u64);
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
                .map_err(|e| ProcessError::retry_because("remembering the installation", e))?;
            return Ok(Some(id));
        }
        // Work the service gave itself may not name one (a waiver expiring after a restart):
        // the repository's last delivery does.
        self.store
            .installation_of(ForgeName::GitHub, &job.key.repository)
            .await
            .map_err(|e| ProcessError::retry_because("looking up the installation", e))
    }
}

impl GithubProcessor {
    /// The job's releases, each with its commit: a `release` event names a branch when the
    /// release was made from one, so the tag is looked up (`git/ref/tags/…`).
    async fn release_commits(
        &self,
        job: &Job,
    ) -> Result<Vec<crate::events::ReleaseDetail>, ProcessError> {
        let mut releases = Vec::new();
        for event in &job.events {
            let Some(mut release) = crate::events::ReleaseDetail::of(event.detail.as_ref()) else {
                continue;
            };
            let installation = event
                .detail
                .as_ref()
                .and_then(|d| d.get("installation"))
                .and_then(serde_json::Value::as_u64);
            if let (None, Some(installation)) = (&release.commit, installation) {
                release.commit = self
                    .forge
                    .tag_commit(installation, &job.key.repository, &release.tag)
                    .await
                    .map_err(super::to_process_error)?;
            }
            releases.push(release);
        }
        Ok(releases)
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
            Target::Repository => {
                // Releases go to the evidence ledger; the fan-out skips them.
                let releases = self.release_commits(job).await?;
                super::record::releases(
                    &self.store,
                    ForgeName::GitHub,
                    job,
                    &releases,
                    self.clock.now(),
                )
                .await?;
                self.repository_job(job).await
            }
            Target::Installation(id) => self.installation_job(job, *id).await,
            Target::MergeGroup(sha) => self.merge_group_job(job, sha).await,
        }
    }
}
