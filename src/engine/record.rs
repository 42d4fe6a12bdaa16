//! The engine's side of the evidence ledger: one place that turns what a job did — a waiver
//! granted, revoked or expired, a threat-model reference recorded, a merge — into a ledger
//! entry, with the key that makes it once-only, so a job re-run after a crash or a webhook
//! delivered twice records it once, on both forges.

use chrono::{DateTime, Utc};

use crate::events::ReleaseDetail;
use crate::forge::ChangeRef;
use crate::forge_name::ForgeName;
use crate::ledger::Entry;
use crate::ledger::Sealed;
use crate::ledger::entry::{
    MergeEntry, PolicyChangedEntry, PolicyEvidence, PreviousRelease, ReleaseEntry, ReleasedMerge,
    RevokedBecause, Subject, ThreatModelEntry, WaiverEntry, WaiverRevokedEntry,
};
use crate::ledger::evidence::waiver_evidence;
use crate::queue::ProcessError;
use crate::store::{Appended, Store, ThreatModelRef};
use crate::waivers::Waiver;

/// Appends the engine's once-only entries for one forge.
pub(crate) struct LedgerRecorder<'a> {
    /// Where the ledger is.
    pub store: &'a Store,
    /// Which forge the changes are on.
    pub forge: ForgeName,
}

impl LedgerRecorder<'_> {
    /// The change as ledger entries name it.
    pub fn subject(&self, change: &ChangeRef) -> Subject {
        Subject {
            forge: self.forge,
            repository: change.repository.clone(),
            number: change.number,
        }
    }

    /// What names one waiver for good: its change, gate, author and the moment it was given.
    fn waiver_key(&self, change: &ChangeRef, w: &Waiver) -> String {
        format!(
            "{}:{}#{}:{}:{}:{}",
            self.forge.as_str(),
            change.repository,
            change.number,
            w.gate,
            w.author.as_str(),
            w.created_at.timestamp_millis()
        )
    }

    async fn once(
        &self,
        entry: Entry,
        at: DateTime<Utc>,
        key: String,
    ) -> Result<Appended, ProcessError> {
        self.store
            .append_ledger_once(&entry, at, &key)
            .await
            .map_err(|e| {
                ProcessError::retry_because(format!("recording {} in the ledger", entry.kind()), e)
            })
    }

    /// An evaluation about to be published (every evaluation is its own entry).
    pub async fn evaluation(
        &self,
        change: &ChangeRef,
        evaluation: &crate::gates::Evaluation,
        snapshot: &crate::snapshot::Snapshot,
        policy: &PolicyEvidence,
        at: DateTime<Utc>,
    ) -> Result<Appended, ProcessError> {
        let entry = crate::ledger::evidence::evaluation_entry(
            self.subject(change),
            evaluation,
            snapshot,
            policy.clone(),
        );
        self.store
            .append_ledger(&Entry::Evaluation(Box::new(entry)), at)
            .await
            .map_err(|e| ProcessError::retry_because("recording the evaluation in the ledger", e))
    }

    /// A waiver took effect.
    pub async fn waiver_granted(
        &self,
        change: &ChangeRef,
        w: &Waiver,
        at: DateTime<Utc>,
    ) -> Result<(), ProcessError> {
        let entry = Entry::WaiverGranted(WaiverEntry {
            subject: self.subject(change),
            waiver: waiver_evidence(w),
        });
        let key = format!("waiver_granted:{}", self.waiver_key(change, w));
        self.once(entry, at, key).await.map(|_| ())
    }

    /// A waiver was revoked before its expiry.
    pub async fn waiver_revoked(
        &self,
        change: &ChangeRef,
        w: &Waiver,
        reason: RevokedBecause,
        by: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), ProcessError> {
        let entry = Entry::WaiverRevoked(WaiverRevokedEntry {
            subject: self.subject(change),
            waiver: waiver_evidence(w),
            reason,
            by: by.map(str::to_owned),
        });
        let key = format!("waiver_revoked:{}", self.waiver_key(change, w));
        self.once(entry, at, key).await.map(|_| ())
    }

    /// A waiver reached its expiry (recorded by the first evaluation after it).
    pub async fn waiver_expired(
        &self,
        change: &ChangeRef,
        w: &Waiver,
        at: DateTime<Utc>,
    ) -> Result<(), ProcessError> {
        let entry = Entry::WaiverExpired(WaiverEntry {
            subject: self.subject(change),
            waiver: waiver_evidence(w),
        });
        let key = format!("waiver_expired:{}", self.waiver_key(change, w));
        self.once(entry, at, key).await.map(|_| ())
    }

    /// `/sdl threat-model` recorded a reference from comment `comment`.
    pub async fn threat_model_recorded(
        &self,
        change: &ChangeRef,
        r: &ThreatModelRef,
        comment: u64,
        at: DateTime<Utc>,
    ) -> Result<(), ProcessError> {
        let entry = Entry::ThreatModelRecorded(ThreatModelEntry {
            subject: self.subject(change),
            reference: r.reference.clone(),
            by: r.author.as_str().to_owned(),
            sha: r.sha.as_str().to_owned(),
        });
        let key = format!(
            "threat_model_recorded:{}:{}#{}:{comment}",
            self.forge.as_str(),
            change.repository,
            change.number
        );
        self.once(entry, at, key).await.map(|_| ())
    }

    /// The change was merged; returns the entry (with whether it bypassed the gate) and
    /// whether this call appended it (a redelivered merge finds the first one).
    pub async fn merge(
        &self,
        merge: MergeEntry,
        at: DateTime<Utc>,
    ) -> Result<(MergeEntry, bool), ProcessError> {
        let key = format!(
            "merge:{}:{}#{}",
            merge.subject.forge.as_str(),
            merge.subject.repository,
            merge.subject.number
        );
        let appended = self.once(Entry::Merge(merge.clone()), at, key).await?;
        Ok((merge, appended.new))
    }

    /// A release of `repository`: recorded once per tag, naming the release before it and
    /// every merge recorded since that one.
    pub async fn release(
        &self,
        repository: &str,
        release: &ReleaseDetail,
        at: DateTime<Utc>,
    ) -> Result<ReleaseEntry, ProcessError> {
        let read = |e| ProcessError::retry_because("reading the ledger", e);
        let previous = self
            .store
            .ledger_entries_of_kind(self.forge, repository, "release", None)
            .await
            .map_err(read)?
            .into_iter()
            .rev()
            .filter_map(|e| serde_json::from_str::<Sealed>(&e.body).ok())
            .find_map(|s| match s.entry {
                Entry::Release(r) if r.tag != release.tag => Some(PreviousRelease {
                    tag: r.tag,
                    commit: r.commit,
                    seq: s.seq,
                }),
                _ => None,
            });
        let merges = self
            .store
            .ledger_entries_of_kind(
                self.forge,
                repository,
                "merge",
                previous.as_ref().map(|p| p.seq),
            )
            .await
            .map_err(read)?
            .into_iter()
            .filter_map(|e| serde_json::from_str::<Sealed>(&e.body).ok())
            .filter_map(|s| match s.entry {
                Entry::Merge(m) => Some(ReleasedMerge {
                    number: m.subject.number,
                    merge_commit: m.merge_commit,
                    bypassed: m.bypassed,
                    seq: s.seq,
                }),
                _ => None,
            })
            .collect();
        let entry = ReleaseEntry {
            forge: self.forge,
            repository: repository.to_owned(),
            tag: release.tag.clone(),
            commit: release.commit.clone(),
            target: release.target.clone(),
            by: release.by.clone(),
            released_at: release.at.as_deref().and_then(parse_time),
            previous,
            merges,
        };
        let key = format!(
            "release:{}:{repository}:{}",
            self.forge.as_str(),
            release.tag
        );
        self.once(Entry::Release(entry.clone()), at, key).await?;
        Ok(entry)
    }
}

/// RFC 3339, or GitLab's `2026-12-04 10:00:00 UTC`.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S UTC")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// The releases among `job`'s events (a repository job, on either forge), in order.
pub(crate) fn releases_of(job: &crate::queue::Job) -> Vec<ReleaseDetail> {
    job.events
        .iter()
        .filter_map(|e| ReleaseDetail::of(e.detail.as_ref()))
        .collect()
}

/// Records `releases` of `job`'s repository.
pub(crate) async fn releases(
    store: &Store,
    forge: ForgeName,
    job: &crate::queue::Job,
    releases: &[ReleaseDetail],
    at: DateTime<Utc>,
) -> Result<(), ProcessError> {
    let ledger = LedgerRecorder { store, forge };
    for release in releases {
        let entry = ledger.release(&job.key.repository, release, at).await?;
        tracing::info!(
            job = %job.key,
            tag = %entry.tag,
            merges = entry.merges.len(),
            bypassed = entry.merges.iter().filter(|m| m.bypassed).count(),
            "release recorded in the ledger"
        );
    }
    Ok(())
}

impl LedgerRecorder<'_> {
    /// The default branch's policy as a push left it, when it differs from the one the
    /// ledger recorded last (a push that only may have touched it records nothing).
    pub async fn policy_changed(
        &self,
        repository: &str,
        branch: &str,
        commit: &str,
        by: Option<&str>,
        policy: Option<PolicyEvidence>,
        at: DateTime<Utc>,
    ) -> Result<bool, ProcessError> {
        let last = self
            .store
            .ledger_entries_of_kind(self.forge, repository, "policy_changed", None)
            .await
            .map_err(|e| ProcessError::retry_because("reading the ledger", e))?
            .into_iter()
            .rev()
            .filter_map(|e| serde_json::from_str::<Sealed>(&e.body).ok())
            .find_map(|s| match s.entry {
                Entry::PolicyChanged(p) => Some(p.policy.map(|p| p.sha256)),
                _ => None,
            });
        let now = policy.as_ref().map(|p| p.sha256.clone());
        if last.as_ref() == Some(&now) {
            return Ok(false);
        }
        let entry = Entry::PolicyChanged(PolicyChangedEntry {
            forge: self.forge,
            repository: repository.to_owned(),
            branch: branch.to_owned(),
            commit: commit.to_owned(),
            by: by.map(str::to_owned),
            policy,
            previous_sha256: last.flatten(),
        });
        let key = format!(
            "policy_changed:{}:{repository}:{commit}",
            self.forge.as_str()
        );
        self.once(entry, at, key).await.map(|a| a.new)
    }
}

/// Reads the policy as `push` left the default branch and records it when it changed (the
/// same on both forges; `installation` is GitHub's way in). A commit the forge no longer has
/// records nothing.
pub(crate) async fn record_policy<F: crate::forge::Forge>(
    forge: &F,
    ledger: &LedgerRecorder<'_>,
    repository: &str,
    installation: Option<u64>,
    push: &crate::events::PolicyPush,
    at: DateTime<Utc>,
) -> Result<bool, ProcessError> {
    let change = ChangeRef::new(repository, 0, installation);
    let policy = match forge
        .policy(&change, &push.commit, &crate::policy::POLICY_PATHS)
        .await
    {
        Ok(file) => {
            file.map(|f| crate::ledger::evidence::policy_evidence(&f.path, &push.branch, &f.text))
        }
        Err(crate::forge::ForgeError::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(super::to_process_error(e)),
    };
    ledger
        .policy_changed(
            repository,
            &push.branch,
            &push.commit,
            push.by.as_deref(),
            policy,
            at,
        )
        .await
}
