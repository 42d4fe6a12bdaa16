//! One authenticated request to the GitHub REST API, and its failure mapped to a
//! [`ForgeError`] the queue can act on.
//!
//! Requests go through one shared `octocrab` client (its connection pool, TLS via rustls with
//! aws-lc-rs, and its base-URI handling for GitHub Enterprise Server's `/api/v3` prefix); the
//! `Authorization` header is set per request from the installation token cache, so one client
//! serves every installation. octocrab's own retry layer is not compiled in: the durable queue
//! owns retries and their backoff.
//!
//! Installation GETs are conditional (see [`super::etag`]): the `ETag` of the last answer to
//! the same path goes out as `If-None-Match`, and a `304 Not Modified`, which GitHub does not
//! count against the rate limit, is answered with the kept body.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::{HeaderMap, Method, StatusCode, header};
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::auth::{AccessTokenBody, AppCredentials, InstallationToken, TokenCache};
use super::etag::{Entry, EtagCache};
use crate::forge::ForgeError;
/// The one percent-encoding (`crate::percent`), where this module's callers look for it.
pub(crate) use crate::percent::{encode, encode_path};

/// The media type and API version every request asks for.
const ACCEPT: &str = "application/vnd.github+json";
const API_VERSION: &str = "2022-11-28";

/// How long to wait after a rate-limit answer that names no time.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// An answer with a 2xx status.
#[derive(Debug)]
pub(crate) struct Reply {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as `T`, or a [`ForgeError::BadResponse`] naming `what` and the field at
    /// fault.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, ForgeError> {
        serde_json::from_slice(&self.body).map_err(|e| ForgeError::BadResponse {
            what: format!("{what}: {e}"),
        })
    }

    /// The path and query of the `rel="next"` page, when there is one.
    pub fn next_page(&self) -> Option<String> {
        let link = self.headers.get(header::LINK)?.to_str().ok()?;
        link.split(',').find_map(|part| {
            let (url, params) = part.split_once(';')?;
            if !params.split(';').any(|p| p.trim() == "rel=\"next\"") {
                return None;
            }
            let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
            // Keep only path and query: the next page is always asked of our own base URL,
            // so a forged Link header cannot send our token to another host.
            let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
            let start = after_scheme.find('/')?;
            Some(after_scheme[start..].to_string())
        })
    }
}

/// Reads a whole response body.
async fn collect<B>(body: B) -> Result<Vec<u8>, String>
where
    B: http_body::Body,
    B::Error: std::fmt::Display,
{
    use http_body_util::BodyExt;
    body.collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .map_err(|e| e.to_string())
}

/// Maps a non-2xx answer to the error the queue branches on.
pub(crate) fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
    now: DateTime<Utc>,
) -> ForgeError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let what_msg = if message.is_empty() {
        format!("{what} answered {status}")
    } else {
        format!("{what} answered {status}: {message}")
    };
    if matches!(status.as_u16(), 403 | 429) {
        if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
            return ForgeError::RateLimited {
                retry_after: Duration::from_secs(secs.max(1)),
            };
        }
        if header("x-ratelimit-remaining") == Some("0") {
            let wait = header("x-ratelimit-reset")
                .and_then(|v| v.parse::<i64>().ok())
                .map(|reset| Duration::from_secs((reset - now.timestamp()).max(1) as u64))
                .unwrap_or(DEFAULT_RATE_LIMIT_WAIT);
            return ForgeError::RateLimited { retry_after: wait };
        }
        if status.as_u16() == 429 || message.to_ascii_lowercase().contains("rate limit") {
            return ForgeError::RateLimited {
                retry_after: DEFAULT_RATE_LIMIT_WAIT,
            };
        }
        return ForgeError::Forbidden { what: what_msg };
    }
    match status.as_u16() {
        401 => ForgeError::Unauthorized { what: what_msg },
        404 | 410 => ForgeError::NotFound { what: what_msg },
        400 | 409 | 422 => ForgeError::Rejected {
            status: status.as_u16(),
            what: what_msg,
        },
        500..=599 => ForgeError::Transient { what: what_msg },
        _ => ForgeError::BadResponse { what: what_msg },
    }
}

/// How requests authenticate.
#[derive(Debug)]
pub(crate) enum Auth {
    /// As a GitHub App: installation tokens issued with the App's JWT, cached.
    App {
        creds: AppCredentials,
        tokens: TokenCache,
    },
    /// With one given token (the Action's `GITHUB_TOKEN`), or anonymously when `None`
    /// (public repositories, low rate limit).
    Token(Option<SecretString>),
}

/// The authenticated HTTP layer shared by snapshot and publish.
#[derive(Debug)]
pub(crate) struct Http {
    octo: Octocrab,
    auth: Auth,
    timeout: Duration,
    sent: AtomicU64,
    /// Answers of GETs not modified since (`304`), kept with their ETag.
    etags: EtagCache,
    not_modified: AtomicU64,
}

impl Http {
    pub fn new(api_url: &str, auth: Auth, timeout: Duration) -> Result<Self, ForgeError> {
        let octo = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| ForgeError::Config {
                what: format!("invalid GitHub API URL `{api_url}`: {e}"),
            })?
            .set_connect_timeout(Some(timeout))
            .set_read_timeout(Some(timeout))
            .set_write_timeout(Some(timeout))
            .build()
            .map_err(|e| ForgeError::Config {
                what: format!("cannot build the GitHub client: {e}"),
            })?;
        Ok(Http {
            octo,
            auth,
            timeout,
            sent: AtomicU64::new(0),
            etags: EtagCache::default(),
            not_modified: AtomicU64::new(0),
        })
    }

    /// Requests sent so far (every attempt, token requests included).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Requests answered `304 Not Modified` from the ETag cache so far (not counted by
    /// GitHub against the rate limit).
    pub fn not_modified(&self) -> u64 {
        self.not_modified.load(Ordering::Relaxed)
    }

    /// The App's id; `None` with a plain token, where check runs belong to whatever app
    /// issued the token (GitHub Actions) and are recognised by name alone.
    pub fn app_id(&self) -> Option<u64> {
        match &self.auth {
            Auth::App { creds, .. } => Some(creds.app_id()),
            Auth::Token(_) => None,
        }
    }

    /// Sends one request with `auth` as bearer; any status comes back.
    async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Option<&SecretString>,
        body: Option<&serde_json::Value>,
        if_none_match: Option<&str>,
        what: &str,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), ForgeError> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::ACCEPT, ACCEPT)
            .header("x-github-api-version", API_VERSION);
        // A kept ETag that is not a valid header value (it came from a header) is not sent.
        if let Some(tag) = if_none_match.and_then(|t| http::HeaderValue::from_str(t).ok()) {
            builder = builder.header(header::IF_NONE_MATCH, tag);
        }
        if let Some(auth) = auth {
            let mut value =
                http::HeaderValue::from_str(&format!("Bearer {}", auth.expose_secret())).map_err(
                    |_| ForgeError::Config {
                        what: "a GitHub token holds characters not allowed in a header".into(),
                    },
                )?;
            value.set_sensitive(true);
            builder = builder.header(header::AUTHORIZATION, value);
        }
        let request = self
            .octo
            .build_request(builder, body)
            .map_err(|e| ForgeError::Config {
                what: format!("cannot build the request for {what}: {e}"),
            })?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        let fut = async {
            let response = self
                .octo
                .execute(request)
                .await
                .map_err(|e| ForgeError::Transient {
                    what: format!("{what}: {e}"),
                })?;
            let (parts, body) = response.into_parts();
            // Every answer is counted, whatever its status (`sdl_gate_forge_requests_total`).
            crate::metrics::forge_request("github", parts.status.as_u16());
            let bytes = collect(body).await.map_err(|e| ForgeError::Transient {
                what: format!("{what}: reading the body: {e}"),
            })?;
            Ok::<_, ForgeError>((parts.status, parts.headers, bytes))
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ForgeError::Transient {
                what: format!("{what}: no answer within {}s", self.timeout.as_secs()),
            }),
        }
    }

    /// Sends one request with the App's JWT (App-level endpoints).
    pub async fn app_call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        what: &str,
    ) -> Result<Reply, ForgeError> {
        let Auth::App { creds, .. } = &self.auth else {
            return Err(ForgeError::Config {
                what: format!("{what} needs GitHub App credentials, not a plain token"),
            });
        };
        let jwt = creds.jwt(Utc::now())?;
        let (status, headers, bytes) = self
            .send(method, path, Some(&jwt), body, None, what)
            .await?;
        if status.is_success() {
            Ok(Reply {
                headers,
                body: bytes,
            })
        } else {
            Err(classify(status, &headers, &bytes, what, Utc::now()))
        }
    }

    /// A token for `installation`, from the cache or freshly issued (App), or the given
    /// token (`None`: anonymous).
    async fn token(
        &self,
        installation: u64,
        renew: bool,
    ) -> Result<Option<SecretString>, ForgeError> {
        let tokens = match &self.auth {
            Auth::Token(t) => return Ok(t.clone()),
            Auth::App { tokens, .. } => tokens,
        };
        let slot = tokens.slot(installation);
        let mut guard = slot.lock().await;
        let now = Utc::now();
        if !renew && let Some(t) = guard.as_ref().filter(|t| t.is_fresh(now)) {
            return Ok(Some(t.token.clone()));
        }
        let what = format!("POST /app/installations/{installation}/access_tokens");
        let reply = self
            .app_call(
                Method::POST,
                &format!("/app/installations/{installation}/access_tokens"),
                None,
                &what,
            )
            .await?;
        let body: AccessTokenBody = reply.json(&what)?;
        let token = InstallationToken {
            token: SecretString::from(body.token),
            expires_at: body.expires_at,
        };
        let secret = token.token.clone();
        *guard = Some(token);
        Ok(Some(secret))
    }

    /// Sends one request as `installation`; a 401 renews the token once and tries again.
    /// Only 2xx answers are `Ok`; a GET is conditional when an earlier answer to the same
    /// path is kept, and its `304` comes back as that answer.
    pub async fn call(
        &self,
        installation: u64,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        what: &str,
    ) -> Result<Reply, ForgeError> {
        let get = method == Method::GET && body.is_none();
        let mut renew = false;
        loop {
            let token = self.token(installation, renew).await?;
            let kept = if get {
                self.etags.get(installation, path)
            } else {
                None
            };
            let (status, headers, bytes) = self
                .send(
                    method.clone(),
                    path,
                    token.as_ref(),
                    body,
                    kept.as_ref().map(|e| e.etag.as_str()),
                    what,
                )
                .await?;
            if status == StatusCode::NOT_MODIFIED
                && let Some(kept) = kept
            {
                self.not_modified.fetch_add(1, Ordering::Relaxed);
                return Ok(Reply {
                    headers: kept.headers,
                    body: kept.body,
                });
            }
            if status.is_success() {
                if get {
                    match etag_of(&headers) {
                        Some(etag) => self.etags.put(
                            installation,
                            path,
                            Entry {
                                etag,
                                headers: headers.clone(),
                                body: bytes.clone(),
                            },
                        ),
                        // No validator: whatever was kept is stale now.
                        None => self.etags.forget(installation, path),
                    }
                }
                return Ok(Reply {
                    headers,
                    body: bytes,
                });
            }
            if status == StatusCode::UNAUTHORIZED && !renew && matches!(self.auth, Auth::App { .. })
            {
                renew = true;
                continue;
            }
            return Err(classify(status, &headers, &bytes, what, Utc::now()));
        }
    }

    /// GETs `first` and every following page (`Link: rel="next"`), at most `max_pages`,
    /// handing each page's body to `items`.
    pub async fn pages<T>(
        &self,
        installation: u64,
        first: &str,
        max_pages: usize,
        what: &str,
        items: impl FnMut(&Reply) -> Result<Vec<T>, ForgeError>,
    ) -> Result<Vec<T>, ForgeError> {
        let (out, _) = self
            .pages_bounded(installation, first, max_pages, what, items)
            .await?;
        Ok(out)
    }

    /// Like [`Self::pages`], and says whether pages were left unread at the bound (`true`:
    /// the list is longer than what was returned).
    pub async fn pages_bounded<T>(
        &self,
        installation: u64,
        first: &str,
        max_pages: usize,
        what: &str,
        mut items: impl FnMut(&Reply) -> Result<Vec<T>, ForgeError>,
    ) -> Result<(Vec<T>, bool), ForgeError> {
        let mut out = Vec::new();
        let mut next = Some(first.to_string());
        let mut pages = 0;
        let mut cut = false;
        while let Some(path) = next.take() {
            let reply = self
                .call(installation, Method::GET, &path, None, what)
                .await?;
            out.extend(items(&reply)?);
            pages += 1;
            let more = reply.next_page();
            if pages < max_pages {
                next = more;
            } else {
                cut = more.is_some();
            }
        }
        Ok((out, cut))
    }
}

/// The answer's `ETag`, when it has a usable one.
fn etag_of(headers: &HeaderMap) -> Option<String> {
    let tag = headers.get(header::ETAG)?.to_str().ok()?.trim();
    (!tag.is_empty()).then(|| tag.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn primary_rate_limit_waits_until_reset() {
        let now = Utc::now();
        let reset = (now.timestamp() + 120).to_string();
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]);
        let e = classify(
            StatusCode::FORBIDDEN,
            &h,
            b"{\"message\":\"API rate limit exceeded\"}",
            "GET x",
            now,
        );
        match e {
            ForgeError::RateLimited { retry_after } => assert_eq!(retry_after.as_secs(), 120),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_wins_and_plain_403_is_forbidden() {
        let now = Utc::now();
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "7")]),
            b"",
            "x",
            now,
        );
        assert!(matches!(e, ForgeError::RateLimited { retry_after } if retry_after.as_secs() == 7));
        let e = classify(
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            b"{\"message\":\"Resource not accessible by integration\"}",
            "GET /orgs/o/teams/t/memberships/u",
            now,
        );
        match e {
            ForgeError::Forbidden { what } => {
                assert!(what.contains("Resource not accessible"), "{what}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses_map_to_what_the_queue_does() {
        let now = Utc::now();
        let h = HeaderMap::new();
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, &h, b"", "x", now),
            ForgeError::Transient { .. }
        ));
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, &h, b"", "x", now),
            ForgeError::NotFound { .. }
        ));
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, &h, b"", "x", now),
            ForgeError::Unauthorized { .. }
        ));
        assert!(matches!(
            classify(StatusCode::UNPROCESSABLE_ENTITY, &h, b"", "x", now),
            ForgeError::Rejected { status: 422, .. }
        ));
    }

    #[test]
    fn next_link_keeps_path_only() {
        let r = Reply {
            headers: headers(&[(
                "link",
                "<https://evil.example/repos/o/r/pulls/1/files?per_page=100&page=2>; rel=\"next\", <https://api.github.com/repos/o/r/pulls/1/files?page=5>; rel=\"last\"",
            )]),
            body: vec![],
        };
        assert_eq!(
            r.next_page().as_deref(),
            Some("/repos/o/r/pulls/1/files?per_page=100&page=2")
        );
        let r = Reply {
            headers: headers(&[("link", "<https://x/a?page=1>; rel=\"prev\"")]),
            body: vec![],
        };
        assert_eq!(r.next_page(), None);
    }
}
