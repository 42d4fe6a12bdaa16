//! Conditional GETs: the last `ETag` of each GitHub REST read, with its answer, so that the
//! next read of the same resource sends `If-None-Match` and a `304 Not Modified` (which
//! GitHub does not count against the primary rate limit) is answered from here.
//!
//! - Keyed by (installation, path and query): an installation's token never reads another
//!   installation's entries, and every page of a list is its own entry.
//! - Only `GET` answers with a 2xx status and an `ETag` are kept; nothing else (writes, error
//!   answers, answers without a validator, App-level JWT calls) is.
//! - Bounded by entries ([`MAX_ENTRIES`]) and bytes ([`MAX_BYTES`]); the least recently used
//!   entry goes first, and an answer larger than [`MAX_ENTRY_BYTES`] is not kept.
//! - In memory, per process: each replica has its own cache, and a restart starts empty (the
//!   first read of each resource after it is counted again). Nothing here is needed for
//!   correctness: a 304 means GitHub vouches that the kept answer is still current.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use http::HeaderMap;

/// At most this many answers are kept.
pub const MAX_ENTRIES: usize = 10_000;
/// At most this many body bytes are kept in all (64 MiB: about 500 pull requests' file lists
/// of 50 files with their patches).
pub const MAX_BYTES: usize = 64 * 1024 * 1024;
/// An answer larger than this is not kept.
pub const MAX_ENTRY_BYTES: usize = 4 * 1024 * 1024;

/// One kept answer.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The validator to send back in `If-None-Match`, verbatim.
    pub etag: String,
    /// The answer's headers (its `Link` pages the list on a 304, too).
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

type Key = (u64, String);

#[derive(Debug, Default)]
struct Inner {
    /// Key → (last use, entry).
    map: HashMap<Key, (u64, Entry)>,
    /// Last use → key: the oldest first, for eviction.
    order: BTreeMap<u64, Key>,
    bytes: usize,
    tick: u64,
}

/// The cache; cheap to share behind the HTTP layer.
#[derive(Debug, Default)]
pub(crate) struct EtagCache {
    inner: Mutex<Inner>,
}

impl EtagCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The kept answer for `path` of `installation`, marked as just used.
    pub fn get(&self, installation: u64, path: &str) -> Option<Entry> {
        let mut inner = self.lock();
        let key = (installation, path.to_string());
        inner.tick += 1;
        let tick = inner.tick;
        let (old, entry) = {
            let (used, entry) = inner.map.get_mut(&key)?;
            let old = *used;
            *used = tick;
            (old, entry.clone())
        };
        inner.order.remove(&old);
        inner.order.insert(tick, key);
        Some(entry)
    }

    /// Keeps `entry` for `path` of `installation` (replacing what was kept), then evicts the
    /// least recently used entries beyond the bounds. An oversized answer is not kept, and
    /// drops what was kept for the path.
    pub fn put(&self, installation: u64, path: &str, entry: Entry) {
        let mut inner = self.lock();
        let key = (installation, path.to_string());
        if let Some((used, old)) = inner.map.remove(&key) {
            inner.order.remove(&used);
            inner.bytes -= old.body.len();
        }
        if entry.body.len() > MAX_ENTRY_BYTES {
            return;
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.bytes += entry.body.len();
        inner.order.insert(tick, key.clone());
        inner.map.insert(key, (tick, entry));
        while inner.map.len() > MAX_ENTRIES || inner.bytes > MAX_BYTES {
            let Some((_, oldest)) = inner.order.pop_first() else {
                break;
            };
            if let Some((_, gone)) = inner.map.remove(&oldest) {
                inner.bytes -= gone.body.len();
            }
        }
    }

    /// Forgets what was kept for `path` of `installation`.
    pub fn forget(&self, installation: u64, path: &str) {
        let mut inner = self.lock();
        if let Some((used, old)) = inner.map.remove(&(installation, path.to_string())) {
            inner.order.remove(&used);
            inner.bytes -= old.body.len();
        }
    }

    /// (entries, body bytes) kept now.
    #[cfg(test)]
    pub fn size(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.map.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tag: &str, len: usize) -> Entry {
        Entry {
            etag: tag.into(),
            headers: HeaderMap::new(),
            body: vec![b'x'; len],
        }
    }

    #[test]
    fn keyed_by_installation_and_path() {
        let c = EtagCache::default();
        c.put(1, "/repos/o/r/pulls/1", entry("\"a\"", 3));
        assert_eq!(
            c.get(1, "/repos/o/r/pulls/1").map(|e| e.etag),
            Some("\"a\"".into())
        );
        assert!(c.get(2, "/repos/o/r/pulls/1").is_none());
        assert!(c.get(1, "/repos/o/r/pulls/1?page=2").is_none());
        c.put(1, "/repos/o/r/pulls/1", entry("\"b\"", 5));
        assert_eq!(c.size(), (1, 5));
        c.forget(1, "/repos/o/r/pulls/1");
        assert_eq!(c.size(), (0, 0));
    }

    #[test]
    fn least_recently_used_goes_first_and_bytes_are_bounded() {
        let c = EtagCache::default();
        for i in 0..MAX_ENTRIES {
            c.put(1, &format!("/p/{i}"), entry("t", 1));
        }
        // Use the first, so the second is the oldest.
        assert!(c.get(1, "/p/0").is_some());
        c.put(1, "/p/new", entry("t", 1));
        assert_eq!(c.size().0, MAX_ENTRIES);
        assert!(c.get(1, "/p/0").is_some());
        assert!(c.get(1, "/p/1").is_none());

        let c = EtagCache::default();
        let big = MAX_ENTRY_BYTES;
        for i in 0..(MAX_BYTES / big + 3) {
            c.put(1, &format!("/big/{i}"), entry("t", big));
        }
        let (n, bytes) = c.size();
        assert!(bytes <= MAX_BYTES, "{bytes}");
        assert_eq!(n, MAX_BYTES / big);
        assert!(c.get(1, "/big/0").is_none());
        c.put(1, "/huge", entry("t", MAX_ENTRY_BYTES + 1));
        assert!(c.get(1, "/huge").is_none());
    }
}
