//! The glue between the durable queue and a forge: a [`Processor`] that turns one queued job
//! for a GitHub pull request into one evaluation — head, base-branch policy, snapshot, the
//! store's waivers, evaluate, publish — and records the result for `/sdl status` and the
//! evidence ledger.
//!
//! The queue knows no forge and the forge knows no queue; this module is the only place that
//! knows both, and maps forge errors onto the queue's retry rules. GitLab merge requests have
//! their own processor in [`gitlab`]; [`dispatch::ForgeProcessor`] sends each job to the
//! processor of its forge.
//!
//! Jobs that are not one pull request (a commit, a repository, an installation) are fanned
//! out into pull request jobs by [`fanout`]; [`reconcile`] sweeps installed repositories for
//! pull requests whose webhooks were lost.
//!
//! Before a pull request is evaluated, its `issue_comment` events run as `/sdl` commands
//! ([`commands`]); waivers' expiries are scheduled with [`expiry`]; time comes from a
//! [`Clock`] so tests can move it.

pub mod dispatch;
pub mod fanout;
pub mod gitlab;
pub mod reconcile;

pub mod clock;
mod commands;
pub mod expiry;

pub use clock::Clock;
pub use expiry::{Due, ExpiryHandle, ExpiryScheduler};

use crate::events::{Forge as ForgeName, Target};
use crate::forge::github::GithubForge;
use crate::forge::{ChangeRef, ForgeError, Outcome, Records, evaluate_change};
use crate::policy::CommentMode;
use crate::queue::{Job, ProcessError, Processor};
use crate::snapshot::ForgeKind;
use crate::store::{NewEvaluation, Store};

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

    fn commands(&self) -> commands::Context<'_, GithubForge> {
        commands::Context {
            forge: &self.forge,
            store: &self.store,
            clock: &self.clock,
            forge_name: ForgeName::GitHub,
            forge_kind: ForgeKind::Github,
        }
    }

    /// The same processor with other fan-out bounds (`SDL_GATE_FANOUT_MAX_PULLS`).
    pub fn with_fanout(mut self, settings: fanout::FanoutSettings) -> Self {
        self.fanout = settings;
        self
    }

    /// The App installation of the job: `installation.id` of its newest delivery that names
    /// one (every App delivery does).
    async fn installation(&self, job: &Job) -> Result<Option<u64>, ProcessError> {
        for event in job.events.iter().rev() {
            let payload = self
                .store
                .delivery_payload(event.delivery_pk)
                .await
                .map_err(|e| retry(format!("reading delivery {}: {e}", event.delivery_id)))?;
            let id = payload
                .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
                .and_then(|v| v.pointer("/installation/id").and_then(|i| i.as_u64()));
            if let Some(id) = id {
                // Kept apart from the deliveries, which retention prunes.
                self.store
                    .remember_installation(ForgeName::GitHub, &job.key.repository, id)
                    .await
                    .map_err(|e| retry(format!("remembering the installation: {e}")))?;
                return Ok(Some(id));
            }
        }
        // Work the service gave itself may not name one (a waiver expiring after a restart):
        // the repository's last delivery does.
        self.store
            .installation_of(ForgeName::GitHub, &job.key.repository)
            .await
            .map_err(|e| retry(format!("looking up the installation: {e}")))
    }
}

pub(crate) fn retry(reason: String) -> ProcessError {
    ProcessError::Retry {
        after: None,
        reason,
    }
}

/// Maps a forge error onto the queue: rate limits wait as told, transient errors back off,
/// the rest park the job (they need a person).
pub(crate) fn to_process_error(e: ForgeError) -> ProcessError {
    match e {
        ForgeError::RateLimited { retry_after } => ProcessError::Retry {
            after: Some(retry_after),
            reason: "rate limited".into(),
        },
        e if e.is_retryable() => retry(e.to_string()),
        e => ProcessError::Permanent(e.to_string()),
    }
}

impl GithubProcessor {
    /// Evaluates one pull request and publishes and records the result; a pull request that
    /// is gone ends the job.
    async fn evaluate_pull(
        &self,
        job: &Job,
        number: u64,
        installation: Option<u64>,
    ) -> Result<(), ProcessError> {
        self.evaluate_pull_with(job, number, installation, None)
            .await
    }

    /// [`Self::evaluate_pull`], publishing the sticky comment as `comment_mode` says when
    /// given (`/sdl status`).
    async fn evaluate_pull_with(
        &self,
        job: &Job,
        number: u64,
        installation: Option<u64>,
        comment_mode: Option<CommentMode>,
    ) -> Result<(), ProcessError> {
        let repository = &job.key.repository;
        let change = ChangeRef::new(repository.clone(), number, installation);
        let now = self.clock.now();
        let waivers: Vec<_> = self
            .store
            .waivers(ForgeName::GitHub, repository, number)
            .await
            .map_err(|e| retry(format!("reading waivers: {e}")))?
            .into_iter()
            .map(|w| w.waiver)
            .collect();
        if let Some(expiry) = &self.expiry {
            let change = Due {
                forge: ForgeName::GitHub,
                repository: repository.clone(),
                number,
                at: now,
                installation,
            };
            expiry.schedule_waivers(&change, &waivers, now);
        }
        let threat_model_refs = self
            .store
            .threat_model_refs(ForgeName::GitHub, repository, number)
            .await
            .map_err(|e| retry(format!("reading threat-model references: {e}")))?
            .into_iter()
            .filter(|r| r.reference.revoked.is_none())
            .map(|r| r.reference.reference)
            .collect();
        let records = Records {
            details_url: self.public_url.as_ref().map(|u| {
                format!(
                    "{}/changes/github/{repository}/{number}",
                    u.trim_end_matches('/'),
                )
            }),
            waivers,
            threat_model_refs,
            comment_mode,
        };
        let outcome = match evaluate_change(&self.forge, &change, &records, now).await {
            Ok(o) => o,
            Err(ForgeError::NotFound { what }) => {
                tracing::info!(job = %job.key, %what, "pull request gone; job ends");
                return Ok(());
            }
            Err(e) => return Err(to_process_error(e)),
        };
        if let Outcome::Evaluated { evaluation, .. } = outcome {
            let result = crate::render::json(&evaluation);
            let head = crate::snapshot::Sha::new(evaluation.head_sha.as_str());
            self.store
                .insert_evaluation(&NewEvaluation {
                    forge: ForgeName::GitHub,
                    repository,
                    number,
                    head_sha: &head,
                    verdict: evaluation.verdict,
                    evaluated_at: evaluation.evaluated_at,
                    result: &result,
                })
                .await
                .map_err(|e| retry(format!("recording the evaluation: {e}")))?;
        }
        Ok(())
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
                let commands = self.commands();
                let after = commands.handle(job, &change).await?;
                if !after.evaluate {
                    return Ok(());
                }
                if after.force_comment {
                    self.evaluate_pull_with(job, *number, installation, Some(CommentMode::Always))
                        .await?;
                } else {
                    self.evaluate_pull(job, *number, installation).await?;
                }
                commands.acknowledge(&change, &after.ack_after).await
            }
            Target::Commit(sha) => self.commit_job(job, sha).await,
            Target::Repository => self.repository_job(job).await,
            Target::Installation(id) => self.installation_job(job, *id).await,
        }
    }
}
