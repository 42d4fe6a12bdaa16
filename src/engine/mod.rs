//! The engine: one change request's job, the same on both forges. Its `/sdl` commands first
//! (one command loop, `commands`), then — when an event or a command asks for it — one
//! evaluation: the store's records (waivers, whose expiries are scheduled on the way by
//! [`expiry`], and threat-model references), [`evaluate_change`] (head, base policy, snapshot,
//! evaluate, publish a rendered `Publication`), and the evaluation recorded; then 👍 on the
//! commands that waited for it (`status`, `recheck`). Time comes from a [`Clock`].
//!
//! The shared path knows forges only through the `Forge` and `Interact` adapters. Beside it:
//! [`gitlab::GitlabProcessor`] and [`github::GithubProcessor`] say which forge a job is for and
//! how it reaches the change (GitHub: as which App installation); what only GitHub does —
//! fan-out of commit, repository and installation jobs, reconciliation — lives in [`github`]
//! and is never called from the shared path; [`dispatch::ForgeProcessor`] sends each job to
//! the processor of its forge.

use chrono::{DateTime, Utc};

use crate::events::MergeDetail;
use crate::forge::{
    ChangeHead, ChangeRef, ChangeState, Forge, ForgeError, Interact, Needs, Notice, Publication,
    PublishOptions, Published,
};
use crate::forge_name::ForgeName;
use crate::gates::{Evaluation, OverallVerdict};
use crate::ledger::entry::{MergeEntry, PolicyEvidence};
use crate::ledger::evidence;
use crate::policy::CommentMode;
use crate::queue::{Job, ProcessError};
use crate::snapshot::Sha;
use crate::store::{NewEvaluation, Store};
use crate::waivers::Waiver;

pub mod clock;
mod commands;
pub mod dispatch;
pub mod expiry;
pub mod github;
pub mod gitlab;
mod org_policy;
mod record;
pub mod wiring;

pub use clock::Clock;
pub use dispatch::ForgeProcessor;
pub use expiry::{Due, ExpiryHandle, ExpiryScheduler};
pub use github::GithubProcessor;
pub use gitlab::GitlabProcessor;
pub use wiring::Wiring;

/// What a change's job runs with: the forge client and the service's parts.
pub struct ChangeJob<'a, F> {
    /// The forge, for reading, conversing and publishing.
    pub forge: &'a F,
    /// Records and the queue.
    pub store: &'a Store,
    /// Now.
    pub clock: &'a Clock,
    /// Told of every waiver in force, so the change is evaluated again when one expires.
    pub expiry: Option<&'a ExpiryHandle>,
    /// The service's address for the details link (`SDL_GATE_PUBLIC_URL`).
    pub public_url: Option<&'a str>,
    /// Which forge.
    pub forge_name: ForgeName,
}

impl<F: Forge + Interact> ChangeJob<'_, F> {
    fn commands(&self) -> commands::Context<'_, F> {
        commands::Context {
            forge: self.forge,
            store: self.store,
            clock: self.clock,
            forge_name: self.forge_name,
        }
    }

    /// Runs the job of `change`: its commands, then the evaluation they or its other events
    /// ask for.
    pub(crate) async fn run(&self, job: &Job, change: &ChangeRef) -> Result<(), ProcessError> {
        for event in &job.events {
            if let Some(merge) = MergeDetail::of(event.detail.as_ref()) {
                self.merged(change, &merge).await?;
            }
        }
        let commands = self.commands();
        let after = commands.handle(job, change).await?;
        if !after.evaluate {
            return Ok(());
        }
        let mode = after.force_comment.then_some(CommentMode::Always);
        if self.evaluate(job, change, mode).await? {
            commands.acknowledge(change, &after.ack_after).await?;
        }
        Ok(())
    }

    /// Records a merge in the ledger with the verdict of the last evaluation of the merged
    /// head; a merge without a passing one is a bypass, which the sticky comment then says.
    async fn merged(&self, change: &ChangeRef, merge: &MergeDetail) -> Result<(), ProcessError> {
        let last = self
            .store
            .last_evaluation_entry(self.forge_name, &change.repository, change.number)
            .await
            .map_err(|e| ProcessError::retry_because("reading the ledger", e))?;
        let head = merge
            .head_sha
            .clone()
            .or_else(|| last.as_ref().map(|l| l.head_sha.clone()))
            .unwrap_or_default();
        let of_head = last.filter(|l| l.head_sha.eq_ignore_ascii_case(&head));
        let verdict = of_head.as_ref().map(|l| l.verdict);
        let ledger = self.ledger();
        let entry = MergeEntry {
            subject: ledger.subject(change),
            head_sha: head,
            merge_commit: merge.merge_commit.clone(),
            merged_by: merge.merged_by.clone(),
            // GitLab's hooks write times as `2026-12-04 10:00:00 UTC`.
            merged_at: merge.merged_at.as_deref().and_then(record::parse_time),
            verdict,
            evaluation_seq: of_head.map(|l| l.seq),
            bypassed: verdict != Some(OverallVerdict::Pass),
            title: merge.title.clone(),
        };
        let (entry, new) = ledger.merge(entry, self.clock.now()).await?;
        tracing::info!(
            repository = %change.repository,
            number = change.number,
            bypassed = entry.bypassed,
            new,
            "merge recorded in the ledger"
        );
        if entry.bypassed {
            self.announce_bypass(change, &entry).await?;
        }
        Ok(())
    }

    /// Puts the bypass notice into the sticky comment (the last evaluation's comment with the
    /// notice after its marker); the same edit again changes nothing, so a merge seen twice
    /// says it once. The check run is left as it was.
    async fn announce_bypass(
        &self,
        change: &ChangeRef,
        merge: &MergeEntry,
    ) -> Result<(), ProcessError> {
        let last = self
            .store
            .evaluations(self.forge_name, &change.repository, change.number, 1)
            .await
            .map_err(|e| ProcessError::retry_because("reading the last evaluation", e))?;
        let details_url = self.details_url(change);
        let sticky = last
            .first()
            .and_then(|e| serde_json::from_value::<Evaluation>(e.result.clone()).ok())
            .map_or_else(
                || format!("{}\n", crate::render::COMMENT_MARKER),
                |eval| crate::render::comment(&eval, details_url.as_deref()),
            );
        let publication = Publication {
            head_sha: Sha::new(&merge.head_sha),
            conclusion: crate::publication::Conclusion::Neutral,
            title: String::new(),
            summary: String::new(),
            text: String::new(),
            annotations: Vec::new(),
            sticky: crate::publication::StickyPlan::Post,
            sticky_body: crate::render::replies::merged_bypassing(&sticky, merge),
            details_url,
            skip_check_run: true,
            new_check_run: false,
            offer_reevaluate: false,
        };
        match self.forge.publish(change, &publication).await {
            Ok(_) => Ok(()),
            Err(ForgeError::NotFound { what }) => {
                // The change is gone from the forge: the ledger has the bypass; nobody to tell.
                tracing::info!(number = change.number, %what, "merged change gone; bypass not announced");
                Ok(())
            }
            Err(e) => Err(to_process_error(e)),
        }
    }

    /// Where this forge's ledger entries are appended.
    fn ledger(&self) -> record::LedgerRecorder<'_> {
        record::LedgerRecorder {
            store: self.store,
            forge: self.forge_name,
        }
    }

    /// The service's page for the change (`SDL_GATE_PUBLIC_URL/changes/…`).
    fn details_url(&self, change: &ChangeRef) -> Option<String> {
        self.public_url.map(|u| {
            format!(
                "{}/changes/{}/{}/{}",
                u.trim_end_matches('/'),
                self.forge_name.as_str(),
                change.repository,
                change.number
            )
        })
    }

    /// What the store holds for the change, read before each evaluation at `now`; its future
    /// waivers are scheduled for expiry on the way.
    async fn records(
        &self,
        change: &ChangeRef,
        now: DateTime<Utc>,
        comment_mode: Option<CommentMode>,
    ) -> Result<Records, ProcessError> {
        let (repository, number) = (change.repository.as_str(), change.number);
        let waivers: Vec<_> = self
            .store
            .waivers(self.forge_name, repository, number)
            .await
            .map_err(|e| ProcessError::retry_because("reading waivers", e))?
            .into_iter()
            .map(|w| w.waiver)
            .collect();
        let ledger = self.ledger();
        for w in waivers
            .iter()
            .filter(|w| w.revoked.is_none() && w.expires_at <= now)
        {
            ledger.waiver_expired(change, w, now).await?;
        }
        if let Some(expiry) = self.expiry {
            let due = Due {
                forge: self.forge_name,
                repository: repository.to_owned(),
                number,
                at: now,
                installation: change.installation,
            };
            expiry.schedule_waivers(&due, &waivers, now);
        }
        let threat_model_refs = self
            .store
            .threat_model_refs(self.forge_name, repository, number)
            .await
            .map_err(|e| ProcessError::retry_because("reading threat-model references", e))?
            .into_iter()
            .filter(|r| r.reference.revoked.is_none())
            .map(|r| r.reference.reference)
            .collect();
        Ok(Records {
            details_url: self.details_url(change),
            waivers,
            threat_model_refs,
            comment_mode,
            rerun: false,
        })
    }

    /// Evaluates the change, records the evaluation in the ledger, publishes it and stores
    /// the result, the sticky comment as `comment_mode` says when given (`/sdl status`).
    /// Evidence first: nothing is published until its ledger entry is committed, and a
    /// failed append retries the job. `false` when the change is gone (the job then ends).
    pub(crate) async fn evaluate(
        &self,
        job: &Job,
        change: &ChangeRef,
        comment_mode: Option<CommentMode>,
    ) -> Result<bool, ProcessError> {
        let now = self.clock.now();
        let mut records = self.records(change, now, comment_mode).await?;
        records.rerun = job
            .events
            .iter()
            .any(|e| crate::events::is_rerun(e.detail.as_ref()));
        let prepared = match prepare_change(self.forge, change, &records, now).await {
            Ok(p) => p,
            Err(ForgeError::NotFound { what }) => {
                tracing::info!(job = %job.key, %what, "change request gone; job ends");
                return Ok(false);
            }
            Err(e) => return Err(to_process_error(e)),
        };
        if let Prepared::Evaluated {
            evaluation,
            snapshot,
            policy,
            ..
        } = &prepared
        {
            let appended = self
                .ledger()
                .evaluation(change, evaluation, snapshot, policy, now)
                .await?;
            tracing::debug!(job = %job.key, seq = appended.seq, "evaluation recorded in the ledger");
        }
        let outcome = publish_prepared(self.forge, change, prepared)
            .await
            .map_err(to_process_error)?;
        if let Outcome::Evaluated { evaluation, .. } = outcome {
            let result = crate::render::json(&evaluation);
            let head = Sha::new(evaluation.head_sha.as_str());
            self.store
                .insert_evaluation(&NewEvaluation {
                    forge: self.forge_name,
                    repository: &change.repository,
                    number: change.number,
                    head_sha: &head,
                    verdict: evaluation.verdict,
                    evaluated_at: evaluation.evaluated_at,
                    result: &result,
                })
                .await
                .map_err(|e| ProcessError::retry_because("recording the evaluation", e))?;
        }
        Ok(true)
    }
}

/// One evaluation made and rendered, not yet published: what [`prepare_change`] returns so
/// the engine can record it before anyone sees it.
#[derive(Debug)]
pub enum Prepared {
    /// The change is closed or merged; nothing to publish.
    Closed,
    /// No policy: a neutral check run will say how to add one.
    NoPolicy {
        /// The change's head.
        head: Box<ChangeHead>,
        /// How to publish.
        options: PublishOptions,
    },
    /// The policy does not parse: a failing check run will say why.
    InvalidPolicy {
        /// The commit the notice is for.
        head_sha: Sha,
        /// What it says.
        notice: Box<Notice>,
        /// How to publish.
        options: PublishOptions,
    },
    /// Evaluated and rendered.
    Evaluated {
        /// The evaluation.
        evaluation: Box<Evaluation>,
        /// What it was made from.
        snapshot: Box<crate::snapshot::Snapshot>,
        /// The policy file it was made under.
        policy: PolicyEvidence,
        /// What to publish.
        publication: Box<Publication>,
    },
}

/// What [`evaluate_change`] did.
#[derive(Debug)]
pub enum Outcome {
    /// The change is closed or merged; nothing was published.
    Closed,
    /// No policy: a neutral check run says how to add one.
    NoPolicy(Published),
    /// The policy does not parse: a failing check run says why.
    InvalidPolicy(Published),
    /// Evaluated and published.
    Evaluated {
        /// The evaluation (for the evidence ledger).
        evaluation: Box<Evaluation>,
        /// What was published.
        published: Published,
    },
}

/// What the service knows about a change beyond the forge: its own records.
#[derive(Debug, Clone, Default)]
pub struct Records {
    /// The service's page for this evaluation, linked from the check run and the comment.
    pub details_url: Option<String>,
    /// Waivers given on this change (from the store).
    pub waivers: Vec<Waiver>,
    /// Threat-model references recorded with `/sdl threat-model` (from the store).
    pub threat_model_refs: Vec<String>,
    /// Publish the sticky comment this way instead of as the policy says (`/sdl status`
    /// forces `always`).
    pub comment_mode: Option<CommentMode>,
    /// A person asked for a re-run in the forge's UI (GitHub's Re-run or "Re-evaluate"):
    /// the verdict goes into a new check run, so the click visibly does something.
    pub rerun: bool,
}

/// One evaluation of one change: head → base policy → snapshot (plus the service's
/// `records`) → evaluate → render; nothing is published yet.
pub async fn prepare_change<F: Forge>(
    forge: &F,
    change: &ChangeRef,
    records: &Records,
    now: DateTime<Utc>,
) -> Result<Prepared, ForgeError> {
    let details_url = records.details_url.clone();
    let head = forge.head(change).await?;
    if head.state != ChangeState::Open {
        return Ok(Prepared::Closed);
    }
    let capabilities = forge.capabilities();
    let defaults = PublishOptions {
        details_url: details_url.clone(),
        capabilities,
        ..PublishOptions::default()
    };
    let effective = match org_policy::effective_policy(forge, change, &head.base_ref).await? {
        org_policy::Effective::Missing => {
            return Ok(Prepared::NoPolicy {
                head: Box::new(head),
                options: defaults,
            });
        }
        org_policy::Effective::Broken(notice) => {
            return Ok(Prepared::InvalidPolicy {
                head_sha: head.head_sha.clone(),
                notice,
                options: defaults,
            });
        }
        org_policy::Effective::Ready(e) => *e,
    };
    let org_policy::EffectivePolicy {
        policy,
        file,
        org: org_use,
    } = effective;
    let needs = Needs::from_policy(&policy);
    let mut snapshot = forge.snapshot(change, &head, &needs).await?;
    snapshot.waivers.extend(records.waivers.iter().cloned());
    snapshot
        .threat_model_refs
        .extend(records.threat_model_refs.iter().cloned());
    // Approvals of earlier commits count when the patch there is the head's (a rebase): the
    // gates name the commits that could change the verdict, one request each.
    let commits = crate::gates::commits_to_compare(&policy, &snapshot, now);
    if !commits.is_empty() {
        let ids = forge.patch_ids(change, &head.base_ref, &commits).await?;
        snapshot.patch_ids.extend(ids);
    }
    let evaluation = crate::gates::evaluate(&policy, &snapshot, now).with_org_policy(org_use);
    let mut opts = PublishOptions::from_policy(&policy, details_url);
    opts.capabilities = capabilities;
    if let Some(mode) = records.comment_mode {
        opts.comment = mode;
    }
    let mut publication = Publication::of(&evaluation, &opts);
    publication.new_check_run = records.rerun;
    Ok(Prepared::Evaluated {
        evaluation: Box::new(evaluation),
        snapshot: Box::new(snapshot),
        policy: evidence::policy_evidence(&file.path, &file.git_ref, &file.text),
        publication: Box::new(publication),
    })
}

/// Publishes what [`prepare_change`] made.
pub async fn publish_prepared<F: Forge>(
    forge: &F,
    change: &ChangeRef,
    prepared: Prepared,
) -> Result<Outcome, ForgeError> {
    Ok(match prepared {
        Prepared::Closed => Outcome::Closed,
        Prepared::NoPolicy { head, options } => {
            Outcome::NoPolicy(forge.publish_no_policy(change, &head, &options).await?)
        }
        Prepared::InvalidPolicy {
            head_sha,
            notice,
            options,
        } => Outcome::InvalidPolicy(
            forge
                .publish_notice(change, &head_sha, &notice, &options)
                .await?,
        ),
        Prepared::Evaluated {
            evaluation,
            publication,
            ..
        } => Outcome::Evaluated {
            published: forge.publish(change, &publication).await?,
            evaluation,
        },
    })
}

/// One evaluation of one change, prepared and published at once (no ledger entry: for
/// callers outside the service, such as tests of the forge adapters).
pub async fn evaluate_change<F: Forge>(
    forge: &F,
    change: &ChangeRef,
    records: &Records,
    now: DateTime<Utc>,
) -> Result<Outcome, ForgeError> {
    let prepared = prepare_change(forge, change, records, now).await?;
    publish_prepared(forge, change, prepared).await
}

/// The raw delivery behind `event` as JSON (`Null` when it is gone — retention prunes handled
/// deliveries — or does not parse): the fallback for events stored before their detail
/// carried what the engine reads.
pub(crate) async fn raw_delivery(
    store: &Store,
    event: &crate::queue::JobEvent,
) -> Result<serde_json::Value, ProcessError> {
    let payload = store
        .delivery_payload(event.delivery_pk)
        .await
        .map_err(|e| {
            ProcessError::retry_because(format!("reading delivery {}", event.delivery_id), e)
        })?;
    Ok(payload
        .and_then(|p| serde_json::from_str(&p).ok())
        .unwrap_or(serde_json::Value::Null))
}

/// Maps a forge error onto the queue, keeping it as the cause: rate limits wait as told,
/// transient errors back off, the rest park the job (they need a person).
pub(crate) fn to_process_error(e: ForgeError) -> ProcessError {
    match e {
        ForgeError::RateLimited { retry_after } => ProcessError::Retry {
            after: Some(retry_after),
            reason: "rate limited".into(),
            source: Some(crate::queue::Cause::new(e)),
        },
        e if e.is_retryable() => ProcessError::retry_because("calling the forge", e),
        e => ProcessError::permanent_because("calling the forge", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forge_failure_keeps_its_error_as_the_cause() {
        let err = to_process_error(ForgeError::Transient {
            what: "GET /projects/1: 502".into(),
        });
        let ProcessError::Retry {
            after: None,
            source: Some(cause),
            ..
        } = &err
        else {
            panic!("a transient forge error is retried with its cause: {err:?}");
        };
        assert!(matches!(
            cause.error().downcast_ref::<ForgeError>(),
            Some(ForgeError::Transient { what }) if what == "GET /projects/1: 502"
        ));
        assert_eq!(
            err.describe(),
            "calling the forge: transient forge failure: GET /projects/1: 502"
        );

        let limited = to_process_error(ForgeError::RateLimited {
            retry_after: std::time::Duration::from_secs(7),
        });
        assert!(matches!(
            limited,
            ProcessError::Retry { after: Some(d), .. } if d.as_secs() == 7
        ));
        let parked = to_process_error(ForgeError::Unauthorized {
            what: "token".into(),
        });
        assert!(matches!(
            parked,
            ProcessError::Permanent {
                source: Some(_),
                ..
            }
        ));
        assert_eq!(parked.describe(), "calling the forge: unauthorized: token");
    }
}
