//! Waivers: a recorded risk decision to let one gate pass on one change despite its findings.
//!
//! A waiver is evidence for 62443-4-1 DM-4 (deferral or acceptance of residual risk, with
//! reasons) and SM-11, so it always carries who, why, until when and on which commit. This
//! module holds the data only; who may waive is decided in `commands`, and whether a waiver is
//! in force is decided here, purely, against a given clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::gate_kind::GateKind;
use crate::snapshot::{Login, Sha};

/// One waiver of one gate on one change request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiver {
    /// The gate waived.
    pub gate: GateKind,
    /// Why the risk is accepted (required; minimum length set by the policy).
    pub reason: String,
    /// Who granted it.
    pub author: Login,
    /// When it was granted.
    pub created_at: DateTime<Utc>,
    /// When it stops counting.
    pub expires_at: DateTime<Utc>,
    /// The head commit it was granted on.
    pub sha: Sha,
    /// The comment or note that carried the command, if any.
    #[serde(default)]
    pub comment_id: Option<u64>,
    /// Set when the waiver was withdrawn (`/sdl unwaive`, or its comment was edited/deleted).
    #[serde(default)]
    pub revoked: Option<String>,
}

/// Whether a waiver counts at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaiverState {
    /// In force.
    Active,
    /// Past its expiry.
    Expired,
    /// Withdrawn.
    Revoked,
    /// Given on an older commit and the policy does not let waivers survive pushes.
    Stale,
}

impl Waiver {
    /// The state of this waiver at `now`, for a change whose head is `head`;
    /// `survives_push` is the policy's choice for waivers given on older commits.
    pub fn state(&self, now: DateTime<Utc>, head: &Sha, survives_push: bool) -> WaiverState {
        if self.revoked.is_some() {
            WaiverState::Revoked
        } else if now >= self.expires_at {
            WaiverState::Expired
        } else if !survives_push && &self.sha != head {
            WaiverState::Stale
        } else {
            WaiverState::Active
        }
    }
}
