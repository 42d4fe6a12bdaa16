//! Readiness of the parts of the service other than the store: a part that is not usable yet
//! (today: the GitLab connection, made in the background at start-up) is registered here, and
//! `/readyz` answers 503 naming it until it is marked ready. The store's own check stays in the
//! `/readyz` handler; this is only the list of the other parts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Shared, cheap to clone: the start-up code marks parts, the `/readyz` handler reads them.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    /// Parts that are not ready, with why (shown in `/readyz`; must hold no secret).
    pending: Arc<Mutex<BTreeMap<&'static str, String>>>,
}

impl Readiness {
    /// A registry where every part is ready.
    pub fn new() -> Readiness {
        Readiness::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<&'static str, String>> {
        // A panic while holding the lock cannot leave the map half-updated: take it as is.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks `part` not ready, with a short reason for `/readyz` (no secrets, no URLs).
    pub fn not_ready(&self, part: &'static str, why: impl Into<String>) {
        self.lock().insert(part, why.into());
    }

    /// Marks `part` ready.
    pub fn ready(&self, part: &'static str) {
        self.lock().remove(part);
    }

    /// `None` when every part is ready, else one line per part that is not: `part: why`.
    pub fn report(&self) -> Option<String> {
        let pending = self.lock();
        if pending.is_empty() {
            return None;
        }
        Some(
            pending
                .iter()
                .map(|(part, why)| format!("{part}: {why}\n"))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_reported_until_it_is_ready() {
        let r = Readiness::new();
        assert_eq!(r.report(), None);
        r.not_ready("gitlab", "not connected yet");
        let clone = r.clone();
        assert_eq!(
            clone.report().as_deref(),
            Some("gitlab: not connected yet\n")
        );
        r.ready("gitlab");
        assert_eq!(clone.report(), None);
    }
}
