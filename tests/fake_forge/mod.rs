//! What the fake GitHub and the fake GitLab share, so that one scenario can script and read
//! either: the request journal ([`Call`]) and the faults ([`Fault`], [`FaultKind`], chosen by
//! [`take_fault`]). Each fake answers a fault in its forge's own words (GitHub's rate-limit
//! headers, GitLab's `Retry-After` and `RateLimit-Reset`), but the fault a test asks for is the
//! same value on both.

#![allow(
    dead_code,
    reason = "shared by several test binaries; each uses a part of it"
)]

pub mod oauth;

use std::time::Duration;

use axum::http::Method;
use serde_json::Value;

/// One journaled request.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
    pub status: u16,
}

impl Call {
    /// `METHOD /path?query -> status` for messages.
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {} -> {}", self.method, self.path, self.status)
        } else {
            format!(
                "{} {}?{} -> {}",
                self.method, self.path, self.query, self.status
            )
        }
    }

    /// Whether the forge changed something for this request (a write that it accepted).
    pub fn is_write(&self) -> bool {
        self.method != "GET" && self.status < 300
    }
}

/// What a scripted fault does.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// Answer this status (5xx) without touching state.
    Status(u16),
    /// Apply the request, then answer this status (the response is "lost").
    StatusAfterApply(u16),
    /// The forge's primary rate limit is spent and resets this many seconds ahead (GitHub:
    /// `403` with `x-ratelimit-remaining: 0`; GitLab: `429` with `RateLimit-Reset`).
    PrimaryRateLimit { reset_in: i64 },
    /// `429` with `Retry-After`.
    TooManyRequests { retry_after: u64 },
    /// GitHub's secondary rate limit (`403` with `retry-after`); GitLab has none and answers
    /// it as `429` with `Retry-After`.
    SecondaryRateLimit { retry_after: u64 },
    /// `401` (a revoked token).
    Unauthorized,
    /// Wait before answering.
    Delay(Duration),
    /// `200` with a body that is not JSON.
    BadBody,
    /// With probability `percent`/100 answer `status` (deterministic pseudo-random).
    Random { percent: u32, status: u16 },
}

/// A scripted fault on requests whose method matches and whose path contains `path`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Option<Method>,
    pub path: String,
    /// How many times it fires (`usize::MAX`: always).
    pub times: usize,
    pub kind: FaultKind,
}

/// The first fault of `faults` that fires for `method` `path`, counted down; `roll` answers
/// 0..100 for [`FaultKind::Random`].
pub fn take_fault(
    faults: &mut [Fault],
    method: &Method,
    path: &str,
    mut roll: impl FnMut() -> u32,
) -> Option<FaultKind> {
    for f in faults.iter_mut() {
        let hit =
            f.times > 0 && f.method.as_ref().is_none_or(|m| m == method) && path.contains(&f.path);
        if !hit {
            continue;
        }
        let fire = match f.kind {
            FaultKind::Random { percent, .. } => roll() < percent,
            _ => true,
        };
        if fire {
            if f.times != usize::MAX {
                f.times -= 1;
            }
            return Some(f.kind.clone());
        }
    }
    None
}
