//! May this viewer read that repository? Asked of the forge with the viewer's own token
//! (GitHub `GET {api}/repos/{owner}/{repo}`, GitLab `GET /api/v4/projects/{path}`): 200 is
//! yes; 403 and 404 are no; 401 is no and ends the session (the forge no longer takes the
//! token, so the viewer must sign in again); anything else, or no answer, is no as well (fail closed, and
//! logged) but is not remembered. Answers are cached per (session, forge, repository) for a
//! short time, in a bounded map. An auditor's repositories come from the token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::SecretString;

use super::oauth::{encode, forge_get};
use crate::forge_name::ForgeName;

/// How long an access answer is reused.
pub const ACCESS_TTL: Duration = Duration::from_secs(60);
/// Most answers kept; when full, expired ones are dropped, then everything.
pub const ACCESS_CACHE_MAX: usize = 10_000;

/// What the forge said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// 200.
    Yes,
    /// 403, 404.
    No,
    /// 401: the user's token is no longer good (expired or revoked on the forge).
    TokenRejected,
    /// Anything else: not known, so no, and not cached.
    Unknown,
}

type Key = (String, ForgeName, String);

/// The bounded, time-limited cache of answers.
#[derive(Debug)]
pub(crate) struct AccessCache {
    ttl: Duration,
    entries: Mutex<HashMap<Key, (bool, Instant)>>,
}

impl AccessCache {
    pub(crate) fn new(ttl: Duration) -> AccessCache {
        AccessCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, session: &str, forge: ForgeName, repo: &str) -> Option<bool> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (answer, at) = entries.get(&(session.to_owned(), forge, repo.to_owned()))?;
        (at.elapsed() < self.ttl).then_some(*answer)
    }

    pub(crate) fn put(&self, session: &str, forge: ForgeName, repo: &str, answer: bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= ACCESS_CACHE_MAX {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= ACCESS_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(
            (session.to_owned(), forge, repo.to_owned()),
            (answer, Instant::now()),
        );
    }

    /// Forgets a session's answers (logout).
    pub(crate) fn forget(&self, session: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(s, _, _), _| s != session);
    }
}

/// Whether `repo` is a well-formed repository name for `forge`: GitHub `owner/name`, GitLab
/// `group[/subgroup…]/project`, each part of letters, digits, `.`, `-`, `_` and not `.` or `..`.
/// Anything else is never sent to the forge.
pub fn valid_repository(forge: ForgeName, repo: &str) -> bool {
    let parts: Vec<&str> = repo.split('/').collect();
    let count_ok = match forge {
        ForgeName::GitHub => parts.len() == 2,
        ForgeName::GitLab => (2..=20).contains(&parts.len()),
    };
    count_ok
        && repo.len() <= 512
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        })
}

/// Asks the forge whether the token may read `repo` (a valid name).
pub(crate) async fn ask(
    http: &reqwest::Client,
    forge: ForgeName,
    base: &str,
    token: &SecretString,
    repo: &str,
) -> Decision {
    let url = match forge {
        ForgeName::GitHub => format!("{base}/repos/{repo}"),
        ForgeName::GitLab => format!("{base}/api/v4/projects/{}", encode(repo)),
    };
    match forge_get(http, forge, &url, token).send().await {
        Ok(response) => match response.status().as_u16() {
            200 => Decision::Yes,
            401 => Decision::TokenRejected,
            403 | 404 => Decision::No,
            other => {
                tracing::warn!(
                    forge = %forge,
                    repository = repo,
                    status = other,
                    "access check: the forge answered neither yes nor no; refusing"
                );
                Decision::Unknown
            }
        },
        Err(e) => {
            tracing::warn!(
                forge = %forge,
                repository = repo,
                error = %e.without_url(),
                "access check: the forge did not answer; refusing"
            );
            Decision::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_are_checked_before_anything_is_sent() {
        assert!(valid_repository(ForgeName::GitHub, "acme/app"));
        assert!(valid_repository(ForgeName::GitHub, "acme-1/app.rs_x"));
        assert!(!valid_repository(ForgeName::GitHub, "acme/app/extra"));
        assert!(!valid_repository(ForgeName::GitHub, "acme/.."));
        assert!(!valid_repository(ForgeName::GitHub, "acme/a?b"));
        assert!(!valid_repository(ForgeName::GitHub, "/app"));
        assert!(valid_repository(ForgeName::GitLab, "group/sub/project"));
        assert!(!valid_repository(ForgeName::GitLab, "project"));
        assert!(!valid_repository(ForgeName::GitLab, "g/%2e%2e"));
    }

    #[test]
    fn answers_expire_and_the_cache_stays_bounded() {
        let cache = AccessCache::new(Duration::from_millis(30));
        cache.put("s", ForgeName::GitHub, "a/b", true);
        assert_eq!(cache.get("s", ForgeName::GitHub, "a/b"), Some(true));
        assert_eq!(cache.get("t", ForgeName::GitHub, "a/b"), None);
        assert_eq!(cache.get("s", ForgeName::GitLab, "a/b"), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get("s", ForgeName::GitHub, "a/b"), None);
        for i in 0..ACCESS_CACHE_MAX + 5 {
            cache.put("s", ForgeName::GitHub, &format!("a/{i}"), false);
        }
        let len = cache.entries.lock().map(|e| e.len()).unwrap_or(usize::MAX);
        assert!(len <= ACCESS_CACHE_MAX, "{len}");
        cache.forget("s");
        assert_eq!(cache.get("s", ForgeName::GitHub, "a/1"), None);
    }
}
