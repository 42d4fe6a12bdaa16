//! Signed cookies: the session cookie (a random id whose SHA-256 keys the `web_sessions` row,
//! plus an HMAC-SHA256 of the id under the service's session key) and the short-lived pre-login
//! cookie that binds an OAuth `state` to the browser that asked for it. MACs are compared in
//! constant time; expiry is checked on the server, never trusted from the cookie alone.

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AuthError;

/// Bytes of a session id, an OAuth state and an auditor token's secret part.
pub(crate) const RANDOM_BYTES: usize = 32;

/// What a sealed forge token starts with (the format's version).
const SEALED_PREFIX: &str = "v1.";

/// The key that signs cookies (32 random bytes). Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([REDACTED])")
    }
}

impl SessionKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> SessionKey {
        SessionKey(bytes)
    }

    /// A fresh random key.
    pub fn generate() -> SessionKey {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        SessionKey(bytes)
    }

    /// The key in `path` (64 hexadecimal digits), generated and written (mode 0600, whole)
    /// when the file does not exist; `true` when it was generated.
    pub fn load_or_generate(path: &Path) -> Result<(SessionKey, bool), AuthError> {
        let io = |e: std::io::Error| AuthError::SessionKey {
            path: path.to_owned(),
            why: e.to_string(),
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::parse(path, &text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SessionKey::generate();
                match crate::ledger::keys::write_whole(path, &format!("{}\n", hex::encode(key.0))) {
                    Ok(()) => Ok((key, true)),
                    // Another replica wrote one first: use it, so all sign alike.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text = std::fs::read_to_string(path).map_err(io)?;
                        Ok((Self::parse(path, &text)?, false))
                    }
                    Err(e) => Err(io(e)),
                }
            }
            Err(e) => Err(io(e)),
        }
    }

    fn parse(path: &Path, text: &str) -> Result<SessionKey, AuthError> {
        let bytes = hex::decode(text.trim()).ok();
        let bytes: Option<[u8; 32]> = bytes.and_then(|b| b.try_into().ok());
        bytes.map(SessionKey).ok_or_else(|| AuthError::SessionKey {
            path: path.to_owned(),
            why: "not a session key (64 hexadecimal digits)".to_owned(),
        })
    }

    fn mac(&self, purpose: &str, value: &str) -> [u8; 32] {
        // HMAC takes a key of any length; this cannot fail.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(purpose.as_bytes());
        mac.update(b"\n");
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Encrypts a user's forge token for the `web_sessions` row `id_hash` (AES-256-GCM under
    /// a key derived from this one, the row's id as associated data): a copy of the database
    /// without the key file holds no usable token, and a token cannot be moved to another row.
    pub(crate) fn seal(&self, id_hash: &str, token: &str) -> Option<String> {
        let key = self.aead_key()?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut in_out = token.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(id_hash.as_bytes()),
            &mut in_out,
        )
        .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&in_out);
        Some(format!("{SEALED_PREFIX}{}", B64.encode(out)))
    }

    /// The token [`SessionKey::seal`] encrypted for `id_hash`; `None` when it was sealed
    /// under another key or for another row, or is not sealed at all.
    pub(crate) fn open(&self, id_hash: &str, sealed: &str) -> Option<String> {
        let bytes = B64.decode(sealed.strip_prefix(SEALED_PREFIX)?).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let mut in_out = body.to_vec();
        let plain = self
            .aead_key()?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(id_hash.as_bytes()),
                &mut in_out,
            )
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }

    fn aead_key(&self) -> Option<LessSafeKey> {
        let derived = self.mac("forge-token-encryption", "");
        UnboundKey::new(&AES_256_GCM, &derived)
            .ok()
            .map(LessSafeKey::new)
    }

    /// `value.MAC` for a cookie of this `purpose` (the purpose keeps one kind of cookie from
    /// being replayed as another). `value` must not contain `.`.
    pub(crate) fn sign(&self, purpose: &str, value: &str) -> String {
        format!("{value}.{}", B64.encode(self.mac(purpose, value)))
    }

    /// The value of a signed cookie when its MAC is right (compared in constant time).
    pub(crate) fn verify<'a>(&self, purpose: &str, signed: &'a str) -> Option<&'a str> {
        let (value, mac) = signed.rsplit_once('.')?;
        let given = B64.decode(mac).ok()?;
        let expected = self.mac(purpose, value);
        if given.len() == expected.len() && bool::from(given.ct_eq(&expected)) {
            Some(value)
        } else {
            None
        }
    }
}

/// `n` random bytes, base64url without padding.
pub(crate) fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// SHA-256 of `text`, hexadecimal: what is stored instead of ids, states and tokens.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Whether two strings are equal, in time that depends only on their lengths.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// How this service's cookies are set: `Secure` (and the `__Host-` name prefix, which
/// browsers only accept from HTTPS with `Path=/` and no `Domain`) when the public URL is
/// https.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CookieJar {
    pub(crate) secure: bool,
}

/// The session cookie's base name.
pub(crate) const SESSION: &str = "sdl_gate_session";
/// The pre-login cookie's base name.
pub(crate) const LOGIN: &str = "sdl_gate_login";

impl CookieJar {
    /// The name a cookie goes by.
    pub(crate) fn name(self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// A `Set-Cookie` value.
    pub(crate) fn set(self, base: &str, value: &str, max_age_secs: u64) -> String {
        format!(
            "{}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{}",
            self.name(base),
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// A `Set-Cookie` value that deletes the cookie.
    pub(crate) fn clear(self, base: &str) -> String {
        self.set(base, "", 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_value_verifies_and_a_changed_one_does_not() {
        let key = SessionKey::from_bytes([7; 32]);
        let signed = key.sign("session", "abc");
        assert_eq!(key.verify("session", &signed), Some("abc"));
        assert_eq!(key.verify("login", &signed), None, "purpose is bound");
        let forged = signed.replacen("abc", "abd", 1);
        assert_eq!(key.verify("session", &forged), None);
        let other = SessionKey::from_bytes([8; 32]);
        assert_eq!(other.verify("session", &signed), None);
        assert_eq!(key.verify("session", "abc"), None);
        assert_eq!(key.verify("session", "abc.!!"), None);
    }

    #[test]
    fn a_sealed_token_opens_only_for_its_row_under_its_key() {
        let key = SessionKey::from_bytes([7; 32]);
        let sealed = key.seal("row1", "ghu_secret").expect("sealed");
        assert!(!sealed.contains("ghu_secret"));
        assert_eq!(key.open("row1", &sealed).as_deref(), Some("ghu_secret"));
        assert_eq!(key.open("row2", &sealed), None);
        assert_eq!(SessionKey::from_bytes([8; 32]).open("row1", &sealed), None);
        assert_eq!(key.open("row1", "ghu_secret"), None);
        assert_ne!(key.seal("row1", "ghu_secret"), Some(sealed), "fresh nonce");
    }

    #[test]
    fn the_key_file_is_generated_once_owner_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys/session.key");
        let (a, generated) = SessionKey::load_or_generate(&path).expect("generated");
        assert!(generated);
        let (b, generated) = SessionKey::load_or_generate(&path).expect("read");
        assert!(!generated);
        assert_eq!(a.0, b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "nope").expect("write");
        let err = SessionKey::load_or_generate(&path).expect_err("refused");
        assert!(err.to_string().contains("64 hexadecimal digits"), "{err}");
        assert!(!format!("{a:?}").contains("07"));
    }

    #[test]
    fn cookies_are_found_among_others_and_flags_follow_https() {
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            "a=1; sdl_gate_session=x.y; b=2".parse().expect("header"),
        );
        assert_eq!(cookie(&h, SESSION), Some("x.y"));
        assert_eq!(cookie(&h, LOGIN), None);
        let plain = CookieJar { secure: false }.set(SESSION, "v", 60);
        assert_eq!(
            plain,
            "sdl_gate_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
        );
        let secure = CookieJar { secure: true }.set(SESSION, "v", 60);
        assert!(secure.starts_with("__Host-sdl_gate_session=v;") && secure.ends_with("; Secure"));
    }
}
