//! A small process-wide cache of recently used values, for what the policy layer compiles once
//! and reuses (glob sets, parsed policies): a bounded list, most recently used last, the
//! oldest dropped when full. Lookups are linear, which at these sizes (tens to hundreds of
//! entries, compared with the cost of compiling one) is cheaper than hashing the keys.

use std::collections::VecDeque;
use std::sync::Mutex;

/// At most `capacity` values by key.
pub(crate) struct Recent<K, V> {
    capacity: usize,
    entries: Mutex<VecDeque<(K, V)>>,
}

impl<K: PartialEq, V: Clone> Recent<K, V> {
    /// An empty cache of `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        Recent {
            capacity: capacity.max(1),
            entries: Mutex::new(VecDeque::with_capacity(capacity)),
        }
    }

    /// The value for `key`, made the most recently used; `None` when absent.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let i = entries.iter().position(|(k, _)| k == key)?;
        let hit = entries.remove(i)?;
        let value = hit.1.clone();
        entries.push_back(hit);
        Some(value)
    }

    /// Keeps `value` for `key` (unless another thread kept one meanwhile), dropping the least
    /// recently used entry when full.
    pub(crate) fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.iter().any(|(k, _)| *k == key) {
            return;
        }
        if entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back((key, value));
    }

    /// How many values it holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
