//! Read-only tokens for external auditors without forge accounts: `sga_` and 32 random bytes
//! (base64url). Only the token's SHA-256 is stored, with the repositories it opens, its expiry,
//! a note on whom it was made for, and when it was revoked. An auditor signs in by posting the
//! token to `POST /login/auditor` (a form field, never the URL) and gets a session that ends
//! when the token expires or is revoked.

use chrono::{DateTime, NaiveDate, Utc};

use super::AuthError;
use super::session::{RANDOM_BYTES, random_b64, sha256_hex};
use crate::forge_name::ForgeName;
use crate::store::{Store, StoredAuditorToken};

use super::access::valid_repository;

/// What every auditor token starts with (so secret scanners can spot one).
pub const TOKEN_PREFIX: &str = "sga_";

/// The longest note on a token (one line, shown by `auditor-token list`).
pub const MAX_NOTE: usize = 200;

/// A repository an auditor token opens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoScope {
    /// Its forge.
    pub forge: ForgeName,
    /// `owner/name` or the GitLab project path.
    pub repository: String,
}

impl RepoScope {
    /// Parses `github:owner/name` or `gitlab:group/project`.
    pub fn parse(text: &str) -> Result<RepoScope, AuthError> {
        let bad = |why: &str| AuthError::BadRepository {
            given: text.chars().take(200).collect(),
            why: why.to_owned(),
        };
        let (forge, repository) = text
            .split_once(':')
            .ok_or_else(|| bad("expected github:OWNER/NAME or gitlab:GROUP/PROJECT"))?;
        let forge = ForgeName::parse(forge).ok_or_else(|| bad("the forge is github or gitlab"))?;
        if !valid_repository(forge, repository) {
            return Err(bad("not a repository path (letters, digits, . - _ and /)"));
        }
        Ok(RepoScope {
            forge,
            repository: repository.to_owned(),
        })
    }

    /// `forge:path`, as stored.
    pub fn as_stored(&self) -> String {
        format!("{}:{}", self.forge, self.repository)
    }
}

/// A newly made token: shown once, then only its hash exists.
pub struct NewAuditorToken {
    /// Its id (for `revoke`).
    pub id: i64,
    /// The token itself; give it to the auditor.
    pub token: String,
}

impl std::fmt::Debug for NewAuditorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAuditorToken")
            .field("id", &self.id)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

/// The expiry named on the command line: a day (`2027-03-31`: the token works through that
/// day, UTC) or an RFC 3339 time.
pub fn parse_expiry(text: &str) -> Result<DateTime<Utc>, AuthError> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let next = day.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0));
        if let Some(next) = next {
            return Ok(next.and_utc());
        }
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| AuthError::BadExpiry(text.chars().take(64).collect()))
}

/// Makes a token for `repos` that expires at `expires`, stores its hash, and returns it.
pub async fn create(
    store: &Store,
    repos: &[RepoScope],
    expires: DateTime<Utc>,
    note: &str,
) -> Result<NewAuditorToken, AuthError> {
    if repos.is_empty() {
        return Err(AuthError::BadRepository {
            given: String::new(),
            why: "a token needs at least one repository".to_owned(),
        });
    }
    if expires <= Utc::now() {
        return Err(AuthError::BadExpiry(expires.to_rfc3339()));
    }
    if note.chars().count() > MAX_NOTE || note.chars().any(char::is_control) {
        return Err(AuthError::BadNote(MAX_NOTE));
    }
    let token = format!("{TOKEN_PREFIX}{}", random_b64(RANDOM_BYTES));
    let stored: Vec<String> = repos.iter().map(RepoScope::as_stored).collect();
    let id = store
        .create_auditor_token(
            &sha256_hex(&token),
            &stored,
            note,
            expires.timestamp_millis(),
        )
        .await?;
    Ok(NewAuditorToken { id, token })
}

/// Whether `text` looks like an auditor token at all (checked before any database work).
pub(crate) fn well_formed(text: &str) -> bool {
    text.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// The usable token (not expired, not revoked) that `text` is, if any.
pub(crate) async fn find(
    store: &Store,
    text: &str,
) -> Result<Option<StoredAuditorToken>, AuthError> {
    if !well_formed(text) {
        return Ok(None);
    }
    Ok(store.usable_auditor_token(&sha256_hex(text)).await?)
}

/// The repositories of a stored token (entries that no longer parse are left out).
pub(crate) fn scopes(repos: &[String]) -> Vec<RepoScope> {
    repos
        .iter()
        .filter_map(|r| RepoScope::parse(r).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_and_expiries_parse_or_say_why() {
        let r = RepoScope::parse("github:acme/app").expect("parses");
        assert_eq!(
            (r.forge, r.repository.as_str()),
            (ForgeName::GitHub, "acme/app")
        );
        assert_eq!(r.as_stored(), "github:acme/app");
        assert!(RepoScope::parse("gitlab:grp/sub/proj").is_ok());
        for bad in ["acme/app", "bitbucket:a/b", "github:a/b/c", "github:../x"] {
            assert!(RepoScope::parse(bad).is_err(), "{bad}");
        }
        let t = parse_expiry("2027-03-31").expect("a day");
        assert_eq!(t.to_rfc3339(), "2027-04-01T00:00:00+00:00");
        assert!(parse_expiry("2027-03-31T12:00:00Z").is_ok());
        assert!(parse_expiry("next week").is_err());
    }

    #[test]
    fn token_shape() {
        let token = format!("{TOKEN_PREFIX}{}", random_b64(RANDOM_BYTES));
        assert!(well_formed(&token), "{token}");
        assert!(!well_formed("sga_short"));
        assert!(!well_formed(&token.replace("sga_", "xyz_")));
    }
}
