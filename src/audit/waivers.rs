//! The waivers of a report's merged changes, from their granted, revoked and expired entries
//! and from the evaluations they were merged with, each with what became of it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::model::{WaiverRecord, WaiverStatus};
use crate::gate_kind::GateKind;
use crate::ledger::entry::{EvaluationEntry, WaiverEvidence, WaiverRevokedEntry};
use crate::ledger::{Entry, Sealed};

/// A waiver's identity across its granted, revoked and expired entries.
type WaiverKey = (u64, GateKind, DateTime<Utc>, String);

fn key_of(number: u64, w: &WaiverEvidence) -> WaiverKey {
    (number, w.gate, w.granted_at, w.by.clone())
}

fn record_of(number: u64, w: &WaiverEvidence) -> WaiverRecord {
    WaiverRecord {
        number,
        gate: w.gate,
        by: w.by.clone(),
        reason: w.reason.clone(),
        granted_at: w.granted_at,
        until: w.until,
        sha: w.sha.clone(),
        status: WaiverStatus::InForce,
        revoked: None,
        granted_seq: None,
        ended_seq: None,
    }
}

fn revoked_text(r: &WaiverRevokedEntry) -> String {
    let why = match r.reason {
        crate::ledger::entry::RevokedBecause::Unwaived => "/sdl unwaive",
        crate::ledger::entry::RevokedBecause::CommentEdited => "the waiving comment was edited",
        crate::ledger::entry::RevokedBecause::CommentDeleted => "the waiving comment was deleted",
    };
    match &r.by {
        Some(by) => format!("by {by} ({why})"),
        None => why.to_owned(),
    }
}

/// The waivers of the merged changes: from their waiver entries, and from the evaluations
/// they were merged with (a waiver an evaluation names but no entry granted is still listed).
pub(super) fn waivers(
    entries: &[Sealed],
    merged: &BTreeSet<u64>,
    evaluations: &HashMap<u64, &EvaluationEntry>,
    now: DateTime<Utc>,
) -> Vec<WaiverRecord> {
    let mut found: BTreeMap<WaiverKey, WaiverRecord> = BTreeMap::new();
    for s in entries {
        match &s.entry {
            Entry::WaiverGranted(w) if merged.contains(&w.subject.number) => {
                let rec = found
                    .entry(key_of(w.subject.number, &w.waiver))
                    .or_insert_with(|| record_of(w.subject.number, &w.waiver));
                rec.granted_seq.get_or_insert(s.seq);
            }
            Entry::WaiverExpired(w) if merged.contains(&w.subject.number) => {
                let rec = found
                    .entry(key_of(w.subject.number, &w.waiver))
                    .or_insert_with(|| record_of(w.subject.number, &w.waiver));
                if rec.status == WaiverStatus::InForce {
                    rec.status = WaiverStatus::Expired;
                    rec.ended_seq = Some(s.seq);
                }
            }
            Entry::WaiverRevoked(r) if merged.contains(&r.subject.number) => {
                let rec = found
                    .entry(key_of(r.subject.number, &r.waiver))
                    .or_insert_with(|| record_of(r.subject.number, &r.waiver));
                if rec.status == WaiverStatus::InForce {
                    rec.status = WaiverStatus::Revoked;
                    rec.revoked = Some(revoked_text(r));
                    rec.ended_seq = Some(s.seq);
                }
            }
            _ => {}
        }
    }
    for e in evaluations.values() {
        for w in &e.waivers {
            found
                .entry(key_of(e.subject.number, w))
                .or_insert_with(|| record_of(e.subject.number, w));
        }
    }
    let mut out: Vec<WaiverRecord> = found.into_values().collect();
    for w in &mut out {
        if w.status == WaiverStatus::InForce && w.until <= now {
            w.status = WaiverStatus::Expired;
        }
    }
    out.sort_by_key(|w| (w.number, w.granted_at));
    out
}
