//! The engine's side of the evidence ledger: one place that turns what a job did — a waiver
//! granted, revoked or expired, a threat-model reference recorded, a merge — into a ledger
//! entry, with the key that makes it once-only, so a job re-run after a crash or a webhook
//! delivered twice records it once, on both forges.

use chrono::{DateTime, Utc};

use crate::forge::ChangeRef;
use crate::forge_name::ForgeName;
use crate::ledger::Entry;
use crate::ledger::entry::{
    MergeEntry, RevokedBecause, Subject, ThreatModelEntry, WaiverEntry, WaiverRevokedEntry,
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
    fn subject(&self, change: &ChangeRef) -> Subject {
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
}
