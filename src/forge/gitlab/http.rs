//! One request to the GitLab REST API through the `gitlab` crate's async client, with a
//! timeout, paging by `x-next-page`, and the HTTP status mapped onto [`ForgeError`].
//!
//! The crate's typed endpoints cover only part of what the gate reads (artifacts by path,
//! award emoji on notes, group members by user id), so every request goes through
//! [`gitlab::api::AsyncClient::rest_async`]: the crate's authentication, TLS and base URL,
//! with our own status handling (it must see `Retry-After`).

use std::time::Duration;

use gitlab::AsyncGitlab;
use gitlab::api::{AsyncClient, RestClient};
use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::forge::ForgeError;
/// The one percent-encoding (`crate::percent`), where this module's callers look for it.
pub(crate) use crate::percent::encode;

/// One answer: status, headers, body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as `T`, or a [`ForgeError::BadResponse`] naming the request.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, ForgeError> {
        let de = &mut serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(de).map_err(|e| ForgeError::BadResponse {
            what: format!("{what}: field `{}`: {}", e.path(), e.inner()),
        })
    }

    fn next_page(&self) -> Option<u32> {
        self.headers
            .get("x-next-page")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    }
}

/// The authenticated client and its per-request timeout.
#[derive(Clone)]
pub(crate) struct Http {
    client: AsyncGitlab,
    timeout: Duration,
    sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("client", &self.client)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The wait a `429` asks for: `Retry-After` seconds, else `RateLimit-Reset` (epoch), else a
/// minute.
fn retry_after(headers: &HeaderMap) -> Duration {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    if let Some(s) = num("retry-after") {
        return Duration::from_secs(s.clamp(1, 3600) as u64);
    }
    if let Some(reset) = num("ratelimit-reset") {
        let wait = reset - chrono::Utc::now().timestamp();
        return Duration::from_secs(wait.clamp(1, 3600) as u64);
    }
    Duration::from_secs(60)
}

/// GitLab's error message from a body (`message` or `error`), shortened.
fn message(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(v) => match v.get("message").or_else(|| v.get("error")) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => v.to_string(),
        },
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    text.chars().take(300).collect()
}

/// Maps a non-success status onto a [`ForgeError`].
pub(crate) fn status_error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
) -> ForgeError {
    let what = format!("{what}: {status} {}", message(body));
    match status {
        401 => ForgeError::Unauthorized { what },
        403 => ForgeError::Forbidden { what },
        404 | 410 => ForgeError::NotFound { what },
        429 => ForgeError::RateLimited {
            retry_after: retry_after(headers),
        },
        s if s >= 500 => ForgeError::Transient { what },
        s => ForgeError::Rejected { status: s, what },
    }
}

impl Http {
    pub fn new(client: AsyncGitlab, timeout: Duration) -> Self {
        Http {
            client,
            timeout,
            sent: Default::default(),
        }
    }

    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `method` on `path` (relative to `/api/v4/`, with its query) with an optional JSON
    /// body; a non-2xx answer is an error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Reply, ForgeError> {
        let url = self
            .client
            .rest_endpoint(path.trim_start_matches('/'))
            .map_err(|e| ForgeError::Config {
                what: format!("{what}: bad URL: {e}"),
            })?;
        let mut req = http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .header(http::header::ACCEPT, "application/json");
        let data = match body {
            Some(v) => {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
                serde_json::to_vec(v).map_err(|e| ForgeError::Config {
                    what: format!("{what}: body: {e}"),
                })?
            }
            None => Vec::new(),
        };
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rsp = match tokio::time::timeout(self.timeout, self.client.rest_async(req, data)).await
        {
            Err(_) => {
                return Err(ForgeError::Transient {
                    what: format!("{what}: no answer within {}s", self.timeout.as_secs()),
                });
            }
            Ok(Err(e)) => {
                return Err(ForgeError::Transient {
                    what: format!("{what}: {e}"),
                });
            }
            Ok(Ok(r)) => r,
        };
        let status = rsp.status().as_u16();
        crate::metrics::forge_request("gitlab", status);
        let headers = rsp.headers().clone();
        let body = rsp.into_body().to_vec();
        if !(200..300).contains(&status) {
            return Err(status_error(status, &headers, &body, what));
        }
        Ok(Reply { headers, body })
    }

    /// A JSON GET.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, ForgeError> {
        self.call(Method::GET, path, None, what).await?.json(what)
    }

    /// Every page of a list (`path` without `page`/`per_page`), at most `max_pages` pages of
    /// 100.
    pub async fn pages<T: DeserializeOwned>(
        &self,
        path: &str,
        max_pages: u32,
        what: &str,
    ) -> Result<Vec<T>, ForgeError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let url = format!("{path}{sep}per_page=100&page={page}");
            let reply = self.call(Method::GET, &url, None, what).await?;
            let items: Vec<T> = reply.json(what)?;
            out.extend(items);
            match reply.next_page() {
                Some(next) if next > page && next <= max_pages => page = next,
                _ => break,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_forge_errors() {
        let h = HeaderMap::new();
        assert!(matches!(
            status_error(401, &h, b"{}", "x"),
            ForgeError::Unauthorized { .. }
        ));
        assert!(matches!(
            status_error(404, &h, b"{\"message\":\"404 Not found\"}", "x"),
            ForgeError::NotFound { .. }
        ));
        assert!(status_error(502, &h, b"<html>", "x").is_retryable());
        let mut h = HeaderMap::new();
        h.insert("retry-after", http::HeaderValue::from_static("7"));
        match status_error(429, &h, b"", "x") {
            ForgeError::RateLimited { retry_after } => {
                assert_eq!(retry_after, Duration::from_secs(7))
            }
            other => panic!("{other}"),
        }
        assert!(matches!(
            status_error(400, &h, b"{\"message\":{\"name\":[\"taken\"]}}", "x"),
            ForgeError::Rejected { status: 400, .. }
        ));
    }

    #[test]
    fn project_paths_are_one_segment() {
        assert_eq!(encode("grp/sub/proj"), "grp%2Fsub%2Fproj");
        assert_eq!(encode("docs/tm.md"), "docs%2Ftm.md");
    }
}
