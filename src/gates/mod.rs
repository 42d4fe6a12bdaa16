//! Pure evaluation of the SDL gates: `Policy × Snapshot × clock → Evaluation`.
//!
//! One file per gate, plus the engine that runs them and combines their verdicts. No I/O, no
//! forge: everything a gate needs is in the snapshot, so every way of running sdl-gate gives
//! the same verdict for the same change.

mod result;

pub use result::*;

use chrono::{DateTime, Utc};

use crate::policy::Policy;
use crate::snapshot::Snapshot;

/// Evaluates every gate of `policy` against `snapshot` at time `now`.
pub fn evaluate(_policy: &Policy, snapshot: &Snapshot, now: DateTime<Utc>) -> Evaluation {
    Evaluation {
        verdict: OverallVerdict::Pending,
        gates: Vec::new(),
        repository: snapshot.repository.clone(),
        number: snapshot.number,
        head_sha: snapshot.head_sha.to_string(),
        evaluated_at: now,
        standard: crate::practices::EDITION.to_string(),
        unknowns: snapshot.unknowns.clone(),
        draft: snapshot.draft,
        worst_severity: None,
    }
}
