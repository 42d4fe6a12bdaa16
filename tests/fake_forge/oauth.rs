//! The OAuth authorization-code flow as both fakes play it (the forges differ only in their
//! paths and token shapes): a registered application (client id and secret, an optional
//! callback prefix), the "browser user" who approves (set by the test), single-use codes,
//! and the user tokens issued for them.

use std::collections::BTreeMap;

/// The OAuth application the service is registered as, and the flow's state.
#[derive(Debug, Default)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: String,
    /// `redirect_uri` must start with this (empty: any).
    pub callback_prefix: String,
    /// The user who approves in the fake browser; `None`: nobody is signed in to the forge.
    pub user: Option<String>,
    /// code → (login, redirect_uri); taken when exchanged.
    codes: BTreeMap<String, (String, String)>,
    /// user token → login.
    pub tokens: BTreeMap<String, String>,
    issued: u64,
}

/// Percent-decodes a query or form value (`+` is a space).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 3 <= bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=2` as a map.
pub fn pairs(s: &str) -> BTreeMap<String, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl OAuthApp {
    /// The approval: where the browser is sent back (`redirect_uri?code=…&state=…`), or why
    /// the forge refuses (unknown client, a redirect elsewhere, nobody signed in).
    pub fn authorize(&mut self, q: &BTreeMap<String, String>) -> Result<String, String> {
        let client = q.get("client_id").map(String::as_str).unwrap_or("");
        if self.client_id.is_empty() || client != self.client_id {
            return Err(format!("unknown client_id `{client}`"));
        }
        let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
        if redirect.is_empty() || !redirect.starts_with(&self.callback_prefix) {
            return Err(format!(
                "redirect_uri `{redirect}` is not the application's callback"
            ));
        }
        let Some(user) = self.user.clone() else {
            return Err("nobody is signed in to the forge in the fake browser".into());
        };
        let state = q.get("state").cloned().unwrap_or_default();
        self.issued += 1;
        let code = format!("code{:08x}", self.issued.wrapping_mul(0x9E37_79B9));
        self.codes.insert(code.clone(), (user, redirect.clone()));
        let sep = if redirect.contains('?') { '&' } else { '?' };
        Ok(format!(
            "{redirect}{sep}code={code}&state={}",
            encode(&state)
        ))
    }

    /// The token for a code (single use), or the OAuth error code.
    pub fn exchange(
        &mut self,
        form: &BTreeMap<String, String>,
        token_prefix: &str,
    ) -> Result<String, &'static str> {
        let id = form.get("client_id").map(String::as_str).unwrap_or("");
        let secret = form.get("client_secret").map(String::as_str).unwrap_or("");
        if id != self.client_id || secret != self.client_secret || secret.is_empty() {
            return Err("incorrect_client_credentials");
        }
        let code = form.get("code").map(String::as_str).unwrap_or("");
        let Some((login, redirect)) = self.codes.remove(code) else {
            return Err("bad_verification_code");
        };
        if form.get("redirect_uri").is_some_and(|r| *r != redirect) {
            return Err("redirect_uri_mismatch");
        }
        self.issued += 1;
        let token = format!(
            "{token_prefix}{:016x}",
            self.issued.wrapping_mul(0x2545_F491_4F6C_DD1D)
        );
        self.tokens.insert(token.clone(), login);
        Ok(token)
    }

    /// The login a user token belongs to.
    pub fn login_of(&self, token: &str) -> Option<String> {
        self.tokens.get(token).cloned()
    }

    /// A user token for `login` without the browser dance (for access checks).
    pub fn token_for(&mut self, login: &str, token_prefix: &str) -> String {
        self.issued += 1;
        let token = format!(
            "{token_prefix}{:016x}",
            self.issued.wrapping_mul(0x2545_F491_4F6C_DD1D)
        );
        self.tokens.insert(token.clone(), login.to_owned());
        token
    }
}

/// The authorize endpoint's answer: a redirect back to the client with the code, or the
/// forge's refusal with `refusal` naming `forge` and why.
pub fn authorize_answer(
    checked: Result<String, String>,
    refusal: axum::http::StatusCode,
    forge: &str,
) -> (u16, axum::response::Response) {
    use axum::response::IntoResponse;
    match checked {
        Ok(location) => {
            let mut r = axum::http::StatusCode::FOUND.into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&location) {
                r.headers_mut().insert("location", v);
            }
            (302, r)
        }
        Err(why) => (
            refusal.as_u16(),
            (
                refusal,
                format!("fake {forge} refuses the authorization: {why}"),
            )
                .into_response(),
        ),
    }
}

/// The answer to a web-flow path the fake does not know: 599, which fails the test.
pub fn unknown_route() -> (u16, axum::response::Response) {
    use axum::response::IntoResponse;
    (
        599,
        (
            axum::http::StatusCode::from_u16(599)
                .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
            "unknown",
        )
            .into_response(),
    )
}

/// Journals a web-flow call, and lists it as unknown when it was.
pub fn journal(
    journal: &mut Vec<super::Call>,
    unknown: &mut Vec<super::Call>,
    method: &axum::http::Method,
    path: String,
    query: String,
    status: u16,
) {
    let call = super::Call {
        method: method.to_string(),
        path,
        query,
        body: None,
        status,
    };
    if status == 599 {
        unknown.push(call.clone());
    }
    journal.push(call);
}
