//! Parsed policies, kept by content: the service reads the same base-branch policy for every
//! evaluation of every change of a repository, and parsing it (YAML, validation, the glob
//! sets) used to be paid each time. [`parse_policy_cached`] keys a small process-wide cache by
//! the SHA-256 of the file's path and text, so a policy is parsed once per content, whichever
//! ref or change it was read for, and an edited policy (new text) is parsed afresh. The key
//! is the content, not a blob id a forge reports, so a stale or missing id can never hand
//! out another file's policy.
//!
//! Invalid policies are kept too (as their first error): a broken policy on the default
//! branch is reported on every open change, and each report would otherwise parse it again.

use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

use super::load::{PolicyError, parse_policy};
use super::model::Policy;
use super::recent::Recent;

/// How many distinct policies the process keeps (one per repository or organisation policy
/// in use; the oldest unused one goes first).
pub const CACHED_POLICIES: usize = 256;

/// A parsed policy or why it cannot be used, shared between evaluations.
pub type CachedPolicy = Result<Arc<Policy>, Arc<PolicyError>>;

type Key = [u8; 32];

fn cache() -> &'static Recent<Key, CachedPolicy> {
    static CACHE: OnceLock<Recent<Key, CachedPolicy>> = OnceLock::new();
    CACHE.get_or_init(|| Recent::new(CACHED_POLICIES))
}

/// The SHA-256 of `path` and `text`, which identifies a policy (the path appears in its error
/// messages, so the same text at another path is another entry).
fn key(path: &str, text: &str) -> Key {
    let mut hash = Sha256::new();
    hash.update((path.len() as u64).to_le_bytes());
    hash.update(path.as_bytes());
    hash.update(text.as_bytes());
    hash.finalize().into()
}

/// [`parse_policy`] of `text` read from `path`, parsed once per distinct content in this
/// process (see the module documentation).
pub fn parse_policy_cached(path: &str, text: &str) -> CachedPolicy {
    let key = key(path, text);
    if let Some(policy) = cache().get(&key) {
        return policy;
    }
    // Parsed outside the lock: another thread may parse the same policy meanwhile, which costs
    // time but never a wrong answer.
    let parsed: CachedPolicy = parse_policy(path, text).map(Arc::new).map_err(Arc::new);
    cache().put(key, parsed.clone());
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "version: 1\nsecurity_paths: [\"src/**\"]\n\
        gates: { security_review: { reviewers: { users: [alice] } } }\n";

    #[test]
    fn the_same_content_is_parsed_once_and_shared() {
        let a =
            parse_policy_cached(".github/sdl-gate.yml", POLICY).unwrap_or_else(|e| panic!("{e}"));
        let b =
            parse_policy_cached(".github/sdl-gate.yml", POLICY).unwrap_or_else(|e| panic!("{e}"));
        assert!(Arc::ptr_eq(&a, &b), "the second read is the cached policy");
        assert_eq!(
            *a,
            parse_policy(".github/sdl-gate.yml", POLICY).unwrap_or_else(|e| panic!("{e}"))
        );
    }

    #[test]
    fn other_text_or_path_is_another_policy() {
        let a = parse_policy_cached(".sdl-gate.yml", POLICY).unwrap_or_else(|e| panic!("{e}"));
        let edited = format!("{POLICY}security_labels: [security]\n");
        let b = parse_policy_cached(".sdl-gate.yml", &edited).unwrap_or_else(|e| panic!("{e}"));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(b.security_labels, vec!["security".to_owned()]);
        assert!(a.security_labels.is_empty(), "the first is unchanged");
        let c =
            parse_policy_cached(".gitlab/sdl-gate.yml", POLICY).unwrap_or_else(|e| panic!("{e}"));
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn an_invalid_policy_keeps_its_error_and_its_path() {
        let bad = "version: 1\ngates:\n  nonsense: {}\n";
        for path in ["a/sdl-gate.yml", "b/sdl-gate.yml"] {
            for _ in 0..2 {
                let err = match parse_policy_cached(path, bad) {
                    Err(e) => e,
                    Ok(_) => panic!("{path}: an unknown gate must be refused"),
                };
                assert_eq!(err.file, path);
                assert_eq!(err.line, 3, "{err}");
            }
        }
    }

    #[test]
    fn the_cache_stays_bounded_and_still_answers_after_turning_over() {
        let first = parse_policy_cached("turnover.yml", POLICY).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..CACHED_POLICIES + 10 {
            let text = format!("{POLICY}security_labels: [l{i}]\n");
            let p = parse_policy_cached("turnover.yml", &text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.security_labels, vec![format!("l{i}")]);
        }
        let len = cache().len();
        assert!(len <= CACHED_POLICIES, "{len}");
        let again = parse_policy_cached("turnover.yml", POLICY).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            *first, *again,
            "evicted and parsed again, to the same policy"
        );
    }
}
