//! Sign-in and access for the service's pages, failing closed: no page shows anything
//! without a signed-in viewer who may read that repository on its forge.
//!
//! - People sign in with GitHub (the App's OAuth user flow) or GitLab (an OAuth application);
//!   the OAuth `state` is random, bound to the browser by a short-lived signed cookie, checked
//!   in constant time, and works once ([`oauth`], [`session`]).
//! - Auditors without forge accounts sign in with a read-only token scoped to repositories
//!   and an expiry ([`auditor`]).
//! - The session cookie carries a random id and its HMAC only; the session (login, the user's
//!   forge token, encrypted, expiry) is a `web_sessions` row, so the token never reaches the
//!   browser and a copy of the database alone holds no usable token.
//!   Cookies are `HttpOnly; SameSite=Lax; Path=/`, and `Secure` (with the `__Host-` prefix)
//!   when the public URL is https. POSTs must come from the public URL's origin.
//! - Whether a viewer may read a repository is asked of the forge with the viewer's own token
//!   and cached briefly ([`access`]); any doubt is a no.
//!
//! The pages use [`Auth::viewer`], [`Auth::may_read`] and [`Auth::login_redirect`]: no viewer
//! → the sign-in page; a viewer without access → the same 404 as a missing repository.

pub mod access;
pub mod auditor;
pub mod oauth;
pub mod session;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use self::access::{AccessCache, Decision};
use self::oauth::{Provider, encode};
use self::session::{CookieJar, LOGIN, RANDOM_BYTES, SESSION, random_b64, same, sha256_hex};
use crate::forge_name::ForgeName;
use crate::settings::{GitHubLogin, GitLabLogin, Settings};
use crate::store::{NewWebSession, Store, StoreError, now_ms};

pub use access::{ACCESS_TTL, valid_repository};
pub use auditor::{NewAuditorToken, RepoScope, TOKEN_PREFIX, parse_expiry};
pub use oauth::OAuthError;
pub use session::SessionKey;

/// How long a session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// How long a browser has to come back from the forge with the OAuth `state`.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);
/// How long the forge may take to answer a sign-in or access request.
pub const FORGE_TIMEOUT: Duration = Duration::from_secs(10);
/// The Content-Security-Policy of the sign-in page: no script, styles from the service only,
/// forms post only to the service, no framing.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What can go wrong setting sign-in up or managing auditor tokens.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The session key file cannot be read, written or understood.
    #[error("SDL_GATE_SESSION_KEY_PATH: {path}: {why}")]
    SessionKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A repository given for an auditor token is not one.
    #[error("repository `{given}`: {why}")]
    BadRepository {
        /// What was given (shortened).
        given: String,
        /// What is wrong.
        why: String,
    },
    /// An expiry is not a date or time in the future.
    #[error("expiry `{0}` is not a future day (YYYY-MM-DD) or RFC 3339 time")]
    BadExpiry(String),
    /// A token's note is too long or holds control characters (it is printed to terminals).
    #[error("the note must be one line of at most {0} characters")]
    BadNote(usize),
    /// The HTTP client for the forges could not be built.
    #[error("the HTTP client for sign-in cannot be built: {0}")]
    Http(String),
}

/// What [`Auth`] is built from.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The service's public base URL (`SDL_GATE_PUBLIC_URL`): the OAuth redirect address and
    /// the only origin POSTs are accepted from. Without it nobody can sign in.
    pub public_url: Option<String>,
    /// GitHub sign-in, when configured.
    pub github: Option<GitHubLogin>,
    /// GitLab sign-in, when configured.
    pub gitlab: Option<GitLabLogin>,
    /// The key that signs cookies.
    pub session_key: SessionKey,
    /// How long a session lasts ([`SESSION_TTL`]).
    pub session_ttl: Duration,
    /// How long an access answer is reused ([`ACCESS_TTL`]).
    pub access_ttl: Duration,
}

impl AuthConfig {
    /// No provider, the default lifetimes.
    pub fn new(public_url: Option<String>, session_key: SessionKey) -> AuthConfig {
        AuthConfig {
            public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
            github: None,
            gitlab: None,
            session_key,
            session_ttl: SESSION_TTL,
            access_ttl: ACCESS_TTL,
        }
    }

    /// From the service settings; reads the session key file, or generates it (and says so).
    pub fn from_settings(settings: &Settings) -> Result<AuthConfig, AuthError> {
        let path = &settings.web.session_key_path;
        let (key, generated) = SessionKey::load_or_generate(path)?;
        if generated {
            tracing::warn!(
                path = %path.display(),
                "pages: no session key was found, so a new one was generated (replicas must share it)"
            );
        }
        let mut config = AuthConfig::new(settings.public_url.clone(), key);
        config.github = settings.web.github.clone();
        config.gitlab = settings.web.gitlab.clone();
        if config.public_url.is_none() && (config.github.is_some() || config.gitlab.is_some()) {
            tracing::warn!(
                "pages: SDL_GATE_PUBLIC_URL is not set, so nobody can sign in (it is the OAuth redirect address)"
            );
        }
        Ok(config)
    }
}

/// Sign-in and access checks for the pages; cheap to clone.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.inner.config;
        f.debug_struct("Auth")
            .field("public_url", &c.public_url)
            .field("github", &c.github.is_some())
            .field("gitlab", &c.gitlab.is_some())
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: AuthConfig,
    store: Store,
    http: reqwest::Client,
    cache: AccessCache,
    jar: CookieJar,
    /// `scheme://host[:port]` of the public URL.
    origin: Option<String>,
}

/// Who is looking, as the session says.
#[derive(Clone)]
pub struct Viewer {
    /// The forge login, or `auditor #N`.
    pub login: String,
    /// How they signed in.
    pub kind: ViewerKind,
    /// The session id's hash (the cache key; not the cookie).
    session: String,
    /// The user's forge token.
    token: Option<SecretString>,
    /// An auditor's repositories.
    repos: Vec<RepoScope>,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("login", &self.login)
            .field("kind", &self.kind)
            .field("repos", &self.repos)
            .finish_non_exhaustive()
    }
}

/// How a viewer signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewerKind {
    /// With their account on this forge.
    Forge(ForgeName),
    /// With auditor token `token_id`.
    Auditor {
        /// The token's id (`sdl-gate auditor-token list`).
        token_id: i64,
    },
}

impl Viewer {
    /// The repositories an auditor's token opens (empty for forge users, whose access the
    /// forge decides).
    pub fn auditor_repositories(&self) -> &[RepoScope] {
        &self.repos
    }
}

/// The pre-login cookie's content.
#[derive(Serialize, Deserialize)]
struct LoginCookie {
    /// Forge.
    f: String,
    /// The state.
    s: String,
    /// Where to go afterwards.
    n: String,
    /// Expiry, Unix milliseconds.
    e: i64,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct AuditorForm {
    token: String,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "html/login.html")]
struct LoginPage<'a> {
    github: Option<String>,
    gitlab: Option<String>,
    next: &'a str,
    message: Option<&'a str>,
}

/// `next` when it is a path on this site (`/…`, not `//…`, no backslash, no control
/// character or space); `/` otherwise, so sign-in never redirects elsewhere.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.len() <= 2048
                && !n
                    .chars()
                    .any(|c| c == '\\' || c.is_control() || c.is_whitespace()) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    (!host.is_empty()).then(|| {
        format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase()
        )
    })
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The headers of the sign-in page and its answers.
fn page_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
}

fn text(status: StatusCode, message: &str) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response();
    page_headers(&mut response);
    response
}

impl Auth {
    /// Sign-in over `store` (migrated) with `config`.
    pub fn new(config: AuthConfig, store: Store) -> Result<Auth, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(FORGE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sdl-gate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AuthError::Http(e.to_string()))?;
        let secure = config
            .public_url
            .as_deref()
            .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"));
        let origin = config.public_url.as_deref().and_then(origin_of);
        Ok(Auth {
            inner: Arc::new(Inner {
                cache: AccessCache::new(config.access_ttl),
                config,
                store,
                http,
                jar: CookieJar { secure },
                origin,
            }),
        })
    }

    /// The sign-in routes, state applied: `GET /login`, `GET /login/github`,
    /// `GET /login/gitlab`, `GET /oauth/github/callback`, `GET /oauth/gitlab/callback`,
    /// `POST /login/auditor`, `POST /logout`.
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/login", get(login_page))
            .route("/login/github", get(start_github))
            .route("/login/gitlab", get(start_gitlab))
            .route("/oauth/github/callback", get(callback_github))
            .route("/oauth/gitlab/callback", get(callback_gitlab))
            .route("/login/auditor", post(auditor_login))
            .route("/logout", post(logout))
            .with_state(self.clone())
    }

    /// The signed-in viewer: a cookie with a valid MAC naming a live session (not expired;
    /// for an auditor, the token neither expired nor revoked). Anything else, including a
    /// database error, is nobody.
    pub async fn viewer(&self, headers: &HeaderMap) -> Option<Viewer> {
        let inner = &self.inner;
        let raw = session::cookie(headers, &inner.jar.name(SESSION))?;
        let id = inner.config.session_key.verify(SESSION, raw)?;
        let id_hash = sha256_hex(id);
        let row = match inner.store.web_session(&id_hash).await {
            Ok(row) => row?,
            Err(e) => {
                tracing::error!(error = %e, "pages: reading the session failed; treating the visitor as signed out");
                return None;
            }
        };
        let kind = match (row.kind.as_str(), row.auditor_token_id) {
            ("auditor", Some(token_id)) => ViewerKind::Auditor { token_id },
            (forge, None) => ViewerKind::Forge(ForgeName::parse(forge)?),
            _ => return None,
        };
        let repos = match &kind {
            ViewerKind::Auditor { .. } => {
                let stored: Vec<String> = row
                    .auditor_repos
                    .as_deref()
                    .and_then(|r| serde_json::from_str(r).ok())
                    .unwrap_or_default();
                auditor::scopes(&stored)
            }
            ViewerKind::Forge(_) => Vec::new(),
        };
        let token = row
            .forge_token
            .as_deref()
            .and_then(|sealed| inner.config.session_key.open(&id_hash, sealed))
            .map(SecretString::from);
        if matches!(kind, ViewerKind::Forge(_)) && token.is_none() {
            return None;
        }
        Some(Viewer {
            login: row.login,
            kind,
            session: id_hash,
            token,
            repos,
        })
    }

    /// Whether `viewer` may read `repository` on `forge`: an auditor when the token names
    /// it; a forge user when the forge answers 200 to the repository read with the user's
    /// token (cached for [`AuthConfig::access_ttl`]). Every other case, including a forge
    /// that does not answer, is false; when the forge answers 401 (the token was revoked)
    /// the session also ends, so the next [`Auth::viewer`] is nobody.
    pub async fn may_read(&self, viewer: &Viewer, forge: ForgeName, repository: &str) -> bool {
        if !valid_repository(forge, repository) {
            return false;
        }
        let inner = &self.inner;
        match viewer.kind {
            ViewerKind::Auditor { .. } => viewer
                .repos
                .iter()
                .any(|r| r.forge == forge && r.repository.eq_ignore_ascii_case(repository)),
            ViewerKind::Forge(own) if own != forge => false,
            ViewerKind::Forge(_) => {
                let Some(token) = &viewer.token else {
                    return false;
                };
                let base = match forge {
                    ForgeName::GitHub => inner.config.github.as_ref().map(|g| g.api_url.as_str()),
                    ForgeName::GitLab => inner.config.gitlab.as_ref().map(|g| g.url.as_str()),
                };
                let Some(base) = base else {
                    return false;
                };
                if let Some(answer) = inner.cache.get(&viewer.session, forge, repository) {
                    return answer;
                }
                match access::ask(&inner.http, forge, base, token, repository).await {
                    Decision::Yes => {
                        inner.cache.put(&viewer.session, forge, repository, true);
                        true
                    }
                    Decision::No => {
                        inner.cache.put(&viewer.session, forge, repository, false);
                        false
                    }
                    Decision::TokenRejected => {
                        tracing::info!(forge = %forge, login = viewer.login, "pages: the forge no longer takes the viewer's token; ending the session");
                        inner.cache.forget(&viewer.session);
                        if let Err(e) = inner.store.delete_web_session(&viewer.session).await {
                            tracing::error!(error = %e, "pages: ending the session failed");
                        }
                        false
                    }
                    Decision::Unknown => false,
                }
            }
        }
    }

    /// Sends a visitor who is not signed in to the sign-in page, to come back to `next`
    /// (a path on this site; anything else comes back to `/`).
    pub fn login_redirect(next: &str) -> Response {
        redirect(&format!("/login?next={}", encode(&safe_next(Some(next)))))
    }

    /// Whether a state-changing request comes from the public URL's origin: its `Origin`
    /// header names it; or, when `Origin` is absent or `null` (a page under
    /// `Referrer-Policy: no-referrer` posts with `Origin: null`), the browser's
    /// `Sec-Fetch-Site` says `same-origin`; or, from a browser sending neither, the `Referer`
    /// is on the public URL. Without a public URL, never. The pages call it for their own
    /// POSTs.
    pub fn same_origin(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = &self.inner.origin else {
            return false;
        };
        let value = |name: header::HeaderName| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap_or("\u{0}").to_owned())
        };
        match value(header::ORIGIN) {
            Some(given) if given != "null" => return given.eq_ignore_ascii_case(origin),
            _ => {}
        }
        if let Some(site) = value(header::HeaderName::from_static("sec-fetch-site")) {
            return site == "same-origin";
        }
        value(header::REFERER)
            .as_deref()
            .and_then(origin_of)
            .is_some_and(|r| &r == origin)
    }

    fn provider(&self, forge: ForgeName) -> Option<Provider<'_>> {
        let c = &self.inner.config;
        match forge {
            ForgeName::GitHub => c.github.as_ref().map(Provider::GitHub),
            ForgeName::GitLab => c.gitlab.as_ref().map(Provider::GitLab),
        }
    }

    fn redirect_uri(&self, forge: ForgeName) -> Option<String> {
        let base = self.inner.config.public_url.as_deref()?;
        Some(format!("{base}/oauth/{forge}/callback"))
    }

    fn login_href(&self, forge: ForgeName, next: &str) -> Option<String> {
        self.provider(forge)?;
        self.redirect_uri(forge)?;
        Some(format!("/login/{forge}?next={}", encode(next)))
    }

    fn page(&self, status: StatusCode, next: &str, message: Option<&str>) -> Response {
        let page = LoginPage {
            github: self.login_href(ForgeName::GitHub, next),
            gitlab: self.login_href(ForgeName::GitLab, next),
            next,
            message,
        };
        match page.render() {
            Ok(html) => {
                let mut response = (
                    status,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    html,
                )
                    .into_response();
                page_headers(&mut response);
                response
            }
            Err(e) => {
                tracing::error!(error = %e, "pages: the sign-in page did not render");
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The sign-in page failed.",
                )
            }
        }
    }

    async fn start(&self, forge: ForgeName, next: Option<&str>) -> Response {
        let (Some(provider), Some(redirect_uri)) = (self.provider(forge), self.redirect_uri(forge))
        else {
            return text(StatusCode::NOT_FOUND, "This sign-in is not configured.");
        };
        let inner = &self.inner;
        let state = random_b64(RANDOM_BYTES);
        let expires = now_ms().saturating_add(crate::store::ms(LOGIN_TTL));
        if let Err(e) = inner
            .store
            .put_oauth_state(&sha256_hex(&state), expires)
            .await
        {
            tracing::error!(error = %e, "pages: storing the sign-in state failed");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable; try again.",
            );
        }
        let cookie = LoginCookie {
            f: forge.as_str().to_owned(),
            s: state.clone(),
            n: safe_next(next),
            e: expires,
        };
        let Ok(json) = serde_json::to_vec(&cookie) else {
            return text(StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed.");
        };
        let signed = inner.config.session_key.sign(LOGIN, &B64.encode(json));
        with_cookie(
            redirect(&provider.authorize_url(&redirect_uri, &state)),
            &inner.jar.set(LOGIN, &signed, LOGIN_TTL.as_secs()),
        )
    }

    /// The pre-login cookie's content when its MAC is right, it is for `forge` and it has not
    /// expired.
    fn login_cookie(&self, headers: &HeaderMap, forge: ForgeName) -> Option<LoginCookie> {
        let inner = &self.inner;
        let raw = session::cookie(headers, &inner.jar.name(LOGIN))?;
        let value = inner.config.session_key.verify(LOGIN, raw)?;
        let json = B64.decode(value).ok()?;
        let cookie: LoginCookie = serde_json::from_slice(&json).ok()?;
        (cookie.f == forge.as_str() && cookie.e > now_ms()).then_some(cookie)
    }

    async fn callback(&self, forge: ForgeName, headers: &HeaderMap, q: CallbackQuery) -> Response {
        let inner = &self.inner;
        let clear = inner.jar.clear(LOGIN);
        let refuse = |why: &str| {
            tracing::info!(forge = %forge, why, "pages: sign-in refused");
            with_cookie(
                text(
                    StatusCode::BAD_REQUEST,
                    "Sign-in failed: this sign-in request is not valid, has expired or was already used. Start again at /login.",
                ),
                &clear,
            )
        };
        let (Some(provider), Some(redirect_uri)) = (self.provider(forge), self.redirect_uri(forge))
        else {
            return text(StatusCode::NOT_FOUND, "This sign-in is not configured.");
        };
        if q.error.is_some() {
            return refuse("the forge reported an error (the user may have declined)");
        }
        let (Some(code), Some(state)) = (q.code.as_deref(), q.state.as_deref()) else {
            return refuse("no code or state");
        };
        if code.is_empty() || code.len() > 512 || state.len() > 512 {
            return refuse("malformed code or state");
        }
        let Some(cookie) = self.login_cookie(headers, forge) else {
            return refuse("no valid pre-login cookie");
        };
        if !same(&cookie.s, state) {
            return refuse("the state does not match this browser's");
        }
        match inner.store.take_oauth_state(&sha256_hex(state)).await {
            Ok(true) => {}
            Ok(false) => return refuse("the state was already used or has expired"),
            Err(e) => {
                tracing::error!(error = %e, "pages: checking the sign-in state failed");
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in is unavailable; try again.",
                );
            }
        }
        let (token, token_life) = match provider.exchange(&inner.http, code, &redirect_uri).await {
            Ok(t) => (t.token, t.expires_in),
            Err(e) => return self.forge_failed(e, &clear),
        };
        let login = match provider.login(&inner.http, &token).await {
            Ok(login) => login,
            Err(e) => return self.forge_failed(e, &clear),
        };
        // The session ends when the forge token does, so a viewer is never signed in with a
        // token the forge refuses.
        let life = token_life.map_or(inner.config.session_ttl, |t| {
            t.min(inner.config.session_ttl)
        });
        let expires = now_ms().saturating_add(crate::store::ms(life));
        let response = {
            use secrecy::ExposeSecret;
            self.open_session(NewSessionOf {
                kind: forge.as_str(),
                login: &login,
                forge_token: Some(token.expose_secret()),
                auditor_token_id: None,
                expires_at: expires,
                next: &cookie.n,
            })
            .await
        };
        tracing::info!(forge = %forge, login, "pages: signed in");
        with_cookie(response, &clear)
    }

    fn forge_failed(&self, e: OAuthError, clear: &str) -> Response {
        tracing::warn!(error = %e, "pages: sign-in with the forge failed");
        let status = match e {
            OAuthError::Unreachable { .. } => StatusCode::BAD_GATEWAY,
            OAuthError::Refused { .. } => StatusCode::BAD_REQUEST,
        };
        with_cookie(
            text(
                status,
                "Sign-in failed: the forge did not confirm it. Start again at /login.",
            ),
            clear,
        )
    }

    async fn open_session(&self, s: NewSessionOf<'_>) -> Response {
        let inner = &self.inner;
        let id = random_b64(RANDOM_BYTES);
        let id_hash = sha256_hex(&id);
        let sealed = match s.forge_token {
            None => None,
            Some(token) => match inner.config.session_key.seal(&id_hash, token) {
                Some(sealed) => Some(sealed),
                None => {
                    tracing::error!("pages: encrypting the forge token failed");
                    return text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Sign-in is unavailable; try again.",
                    );
                }
            },
        };
        let stored = inner
            .store
            .create_web_session(&NewWebSession {
                id_hash: &id_hash,
                kind: s.kind,
                login: s.login,
                forge_token: sealed.as_deref(),
                auditor_token_id: s.auditor_token_id,
                expires_at: s.expires_at,
            })
            .await;
        if let Err(e) = stored {
            tracing::error!(error = %e, "pages: storing the session failed");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable; try again.",
            );
        }
        let max_age = u64::try_from((s.expires_at - now_ms()) / 1000).unwrap_or(0);
        let signed = inner.config.session_key.sign(SESSION, &id);
        with_cookie(
            redirect(&safe_next(Some(s.next))),
            &inner.jar.set(SESSION, &signed, max_age),
        )
    }

    async fn auditor(&self, headers: &HeaderMap, form: AuditorForm) -> Response {
        let next = safe_next(form.next.as_deref());
        if !self.same_origin(headers) {
            return text(
                StatusCode::FORBIDDEN,
                "Refused: the form was not sent from this site.",
            );
        }
        let found = match auditor::find(&self.inner.store, form.token.trim()).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "pages: checking an auditor token failed");
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in is unavailable; try again.",
                );
            }
        };
        let Some(token) = found else {
            tracing::info!(
                "pages: an auditor sign-in with an unknown, expired or revoked token was refused"
            );
            return self.page(
                StatusCode::UNAUTHORIZED,
                &next,
                Some("That auditor token is not valid (unknown, expired or revoked)."),
            );
        };
        let expires = now_ms()
            .saturating_add(crate::store::ms(self.inner.config.session_ttl))
            .min(token.expires_at);
        let login = format!("auditor #{}", token.id);
        tracing::info!(token_id = token.id, "pages: auditor signed in");
        self.open_session(NewSessionOf {
            kind: "auditor",
            login: &login,
            forge_token: None,
            auditor_token_id: Some(token.id),
            expires_at: expires,
            next: &next,
        })
        .await
    }

    async fn logout(&self, headers: &HeaderMap) -> Response {
        if !self.same_origin(headers) {
            return text(
                StatusCode::FORBIDDEN,
                "Refused: the form was not sent from this site.",
            );
        }
        let inner = &self.inner;
        if let Some(id) = session::cookie(headers, &inner.jar.name(SESSION))
            .and_then(|raw| inner.config.session_key.verify(SESSION, raw))
        {
            let id_hash = sha256_hex(id);
            inner.cache.forget(&id_hash);
            if let Err(e) = inner.store.delete_web_session(&id_hash).await {
                tracing::error!(error = %e, "pages: ending the session failed");
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Signing out failed; try again.",
                );
            }
        }
        with_cookie(redirect("/login"), &inner.jar.clear(SESSION))
    }
}

struct NewSessionOf<'a> {
    kind: &'a str,
    login: &'a str,
    forge_token: Option<&'a str>,
    auditor_token_id: Option<i64>,
    expires_at: i64,
    next: &'a str,
}

async fn login_page(State(auth): State<Auth>, Query(q): Query<NextQuery>) -> Response {
    auth.page(StatusCode::OK, &safe_next(q.next.as_deref()), None)
}

async fn start_github(State(auth): State<Auth>, Query(q): Query<NextQuery>) -> Response {
    auth.start(ForgeName::GitHub, q.next.as_deref()).await
}

async fn start_gitlab(State(auth): State<Auth>, Query(q): Query<NextQuery>) -> Response {
    auth.start(ForgeName::GitLab, q.next.as_deref()).await
}

async fn callback_github(
    State(auth): State<Auth>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    auth.callback(ForgeName::GitHub, &headers, q).await
}

async fn callback_gitlab(
    State(auth): State<Auth>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    auth.callback(ForgeName::GitLab, &headers, q).await
}

async fn auditor_login(
    State(auth): State<Auth>,
    headers: HeaderMap,
    Form(form): Form<AuditorForm>,
) -> Response {
    auth.auditor(&headers, form).await
}

async fn logout(State(auth): State<Auth>, headers: HeaderMap) -> Response {
    auth.logout(&headers).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_site_paths_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/github/acme/app/pull/7")),
            "/github/acme/app/pull/7"
        );
        assert_eq!(safe_next(Some("/a?b=c&d=%2F")), "/a?b=c&d=%2F");
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/a b",
            "/a\nLocation: x",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_login_redirect_encodes_next() {
        let r = Auth::login_redirect("/github/acme/app?x=1&y=2");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()[header::LOCATION],
            "/login?next=%2Fgithub%2Facme%2Fapp%3Fx%3D1%26y%3D2"
        );
        let r = Auth::login_redirect("//evil.example");
        assert_eq!(r.headers()[header::LOCATION], "/login?next=%2F");
    }

    #[test]
    fn origins_are_scheme_and_host() {
        assert_eq!(
            origin_of("https://Gate.Example:8443/sub/path").as_deref(),
            Some("https://gate.example:8443")
        );
        assert_eq!(origin_of("nonsense"), None);
    }
}
