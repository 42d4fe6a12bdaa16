//! GitHub App authentication: a short-lived RS256 JWT signed with the App's private key
//! proves we are the App; it buys installation access tokens (one hour) that every API call
//! then uses. Tokens are cached per installation until shortly before they expire, and
//! refreshed once when GitHub answers 401 anyway (revoked, clock skew).
//!
//! The private key and the tokens are kept in [`SecretString`]s, so neither `Debug` nor a
//! log line can show them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::forge::ForgeError;

/// How long before `expires_at` a cached installation token is renewed.
pub const TOKEN_RENEW_MARGIN: ChronoDuration = ChronoDuration::minutes(5);

/// How far in the past the JWT's `iat` is set, against clock drift (GitHub's advice).
pub const JWT_BACKDATE: ChronoDuration = ChronoDuration::seconds(60);

/// How long a JWT is valid counted from now (GitHub allows at most 10 minutes from `iat`).
pub const JWT_LIFETIME: ChronoDuration = ChronoDuration::minutes(8);

/// The App's identity: its id and RS256 signing key.
pub struct AppCredentials {
    app_id: u64,
    key: EncodingKey,
    /// The PEM, kept only to prove in tests and `Debug` that it never shows.
    _pem: SecretString,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("app_id", &self.app_id)
            .field("key", &"[redacted]")
            .finish()
    }
}

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

impl AppCredentials {
    /// Reads the App's private key (PKCS#1 `RSA PRIVATE KEY` as GitHub issues it, or PKCS#8).
    pub fn from_pem(app_id: u64, pem: SecretString) -> Result<Self, ForgeError> {
        let key = EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes()).map_err(|e| {
            ForgeError::Config {
                what: format!("the GitHub App private key is not an RSA PEM key: {e}"),
            }
        })?;
        Ok(AppCredentials {
            app_id,
            key,
            _pem: pem,
        })
    }

    /// The App id (`iss` of the JWT).
    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// A JWT valid from 60 s ago for [`JWT_LIFETIME`], signed RS256, `iss` = the App id.
    pub fn jwt(&self, now: DateTime<Utc>) -> Result<SecretString, ForgeError> {
        let claims = Claims {
            iat: (now - JWT_BACKDATE).timestamp(),
            exp: (now + JWT_LIFETIME).timestamp(),
            iss: self.app_id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map(SecretString::from)
            .map_err(|e| ForgeError::Config {
                what: format!("cannot sign the GitHub App JWT: {e}"),
            })
    }
}

/// An installation access token and its expiry.
#[derive(Clone)]
pub struct InstallationToken {
    /// The token.
    pub token: SecretString,
    /// When GitHub stops accepting it.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationToken")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The body of `POST /app/installations/{id}/access_tokens` (fields we read).
#[derive(Deserialize)]
pub(crate) struct AccessTokenBody {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl InstallationToken {
    /// Whether the token is still good at `now` with the renewal margin.
    pub fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        now + TOKEN_RENEW_MARGIN < self.expires_at
    }
}

/// The per-installation token cache. Each installation has its own async lock so that a burst
/// of jobs for one installation fetches one token, not one each.
#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<Option<InstallationToken>>>>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenCache { .. }")
    }
}

impl TokenCache {
    /// The lock slot of one installation.
    pub fn slot(&self, installation: u64) -> Arc<tokio::sync::Mutex<Option<InstallationToken>>> {
        let mut slots = match self.slots.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots.entry(installation).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = include_str!("../../../tests/data/test-only-github-app-key.pem");
    const PUB: &str = include_str!("../../../tests/data/test-only-github-app-key.pub.pem");

    #[test]
    fn jwt_has_github_claims_and_verifies_with_the_public_key() {
        let creds = AppCredentials::from_pem(4242, SecretString::from(PEM)).unwrap();
        let now = Utc::now();
        let jwt = creds.jwt(now).unwrap();
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUB.as_bytes()).unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
        v.set_required_spec_claims(&["exp", "iat", "iss"]);
        v.set_issuer(&["4242"]);
        let data =
            jsonwebtoken::decode::<serde_json::Value>(jwt.expose_secret(), &key, &v).unwrap();
        let iat = data.claims["iat"].as_i64().unwrap();
        let exp = data.claims["exp"].as_i64().unwrap();
        assert_eq!(iat, now.timestamp() - 60);
        assert!(
            exp - iat <= 600,
            "GitHub rejects JWTs living over 10 minutes"
        );
        assert!(exp > now.timestamp());
    }

    #[test]
    fn debug_never_shows_key_or_token() {
        let creds = AppCredentials::from_pem(1, SecretString::from(PEM)).unwrap();
        let shown = format!("{creds:?}");
        assert!(!shown.contains("MII"), "{shown}");
        let token = InstallationToken {
            token: SecretString::from("ghs_supersecret"),
            expires_at: Utc::now(),
        };
        assert!(!format!("{token:?}").contains("supersecret"));
    }

    #[test]
    fn a_bad_key_is_a_config_error() {
        let err = AppCredentials::from_pem(1, SecretString::from("not a key")).unwrap_err();
        assert!(matches!(err, ForgeError::Config { .. }), "{err}");
    }

    #[test]
    fn tokens_renew_five_minutes_early() {
        let now = Utc::now();
        let t = InstallationToken {
            token: SecretString::from("x"),
            expires_at: now + ChronoDuration::minutes(4),
        };
        assert!(!t.is_fresh(now));
        let t = InstallationToken {
            expires_at: now + ChronoDuration::minutes(30),
            ..t
        };
        assert!(t.is_fresh(now));
    }
}
