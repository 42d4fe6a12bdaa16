//! Webhook ingestion as one pipeline: content type and body limit → (GitLab) the token, before
//! any body is read → a share of the in-flight byte budget → the body, read under a timeout →
//! (GitHub) constant-time signature → required headers → JSON parse (keeping only the fields
//! the extractors read) → domain event. Nothing is stored unless every step passed; an event
//! the product does not act on comes out as `event: None`, not as an error.
//!
//! Everything before authentication is bounded: a body larger than the limit is refused from
//! its `Content-Length` without reading it, all bodies being read at once share one byte budget
//! (a request that cannot get its share within [`BUDGET_WAIT`] is told to retry, 503), and a
//! body that does not arrive within [`BODY_READ_TIMEOUT`] is dropped (408). So unauthenticated
//! clients cannot make the service hold more than [`Limits::in_flight_bytes`] of bodies.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::events::{self, DomainEvent, EventError};
use crate::forge_name::ForgeName;

use super::signature;

/// Largest accepted body: GitHub caps payloads at 25 MiB.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// Bytes of bodies that may be read at once, across all connections, before authentication:
/// five bodies at the 25 MiB limit, or thousands of ordinary (30 KB) deliveries.
pub const IN_FLIGHT_BYTES: usize = 5 * MAX_BODY_BYTES;

/// How long a body may take to arrive once its headers are in. GitHub gives up on a delivery
/// after 10 s.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request waits for its share of the in-flight budget before it is told to retry.
pub const BUDGET_WAIT: Duration = Duration::from_secs(2);

/// The bounds on reading bodies, shared by every request of one service.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted body.
    pub body: usize,
    /// The budget of body bytes being read at once.
    pub in_flight: Arc<Semaphore>,
    /// The budget's size (for messages).
    pub in_flight_bytes: usize,
    /// See [`BODY_READ_TIMEOUT`].
    pub read_timeout: Duration,
    /// See [`BUDGET_WAIT`].
    pub budget_wait: Duration,
}

impl Limits {
    /// Limits with a body limit and an in-flight budget (at least one body's worth), and the
    /// default timeouts.
    pub fn new(body: usize, in_flight_bytes: usize) -> Limits {
        let in_flight_bytes = in_flight_bytes.max(body).min(Semaphore::MAX_PERMITS);
        Limits {
            body,
            in_flight: Arc::new(Semaphore::new(in_flight_bytes)),
            in_flight_bytes,
            read_timeout: BODY_READ_TIMEOUT,
            budget_wait: BUDGET_WAIT,
        }
    }
}

/// An authenticated, parsed delivery.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The forge.
    pub forge: ForgeName,
    /// The forge's delivery id (dedupe key).
    pub delivery_id: String,
    /// The event name header.
    pub event: String,
    /// The raw body (valid UTF-8 JSON), read once and stored as is.
    pub body: String,
    /// The acted-on event, or `None` when the product does not act on it (ping included).
    pub domain: Option<DomainEvent>,
}

impl Verified {
    /// The body as the payload to store (it parsed as JSON, so it is UTF-8).
    pub fn into_payload(self) -> String {
        self.body
    }
}

/// Why a delivery was refused. Each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The forge is not configured on this service (404).
    #[error("{0} webhooks are not enabled on this service")]
    Disabled(ForgeName),
    /// The body exceeds [`MAX_BODY_BYTES`] (413).
    #[error("payload larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body could not be read (client went away) (400).
    #[error("cannot read the request body: {0}")]
    BodyRead(String),
    /// The body did not arrive in time (408).
    #[error("the request body did not arrive within {0:?}")]
    BodyTimeout(Duration),
    /// Too many bodies are being read at once (503, retry).
    #[error("too many webhook bodies are being read at once; retry")]
    Busy,
    /// The body is form-encoded or multipart, not JSON (415).
    #[error(
        "Content-Type `{0}` is not accepted: sdl-gate reads JSON deliveries; set the webhook's content type to application/json (GitHub: the webhook's \"Content type\" setting; GitLab always sends JSON)"
    )]
    UnsupportedContentType(String),
    /// Missing or wrong signature / token (401). Deliberately says no more.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A required header is absent or empty (400).
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The body is not JSON (400), with the position of the error.
    #[error("malformed JSON: {message}")]
    MalformedJson {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message (which repeats the position).
        message: String,
    },
    /// The JSON is an acted-on event lacking what is needed to key it (400).
    #[error(transparent)]
    Event(#[from] EventError),
}

impl IngestError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::Disabled(_) => StatusCode::NOT_FOUND,
            IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            IngestError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            IngestError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::UnsupportedContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::BodyRead(_)
            | IngestError::MissingHeader(_)
            | IngestError::MalformedJson { .. }
            | IngestError::Event(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The metrics outcome label.
    pub fn outcome(&self) -> &'static str {
        match self {
            IngestError::Disabled(_) => "disabled",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::Unauthorized(_) => "unauthorized",
            IngestError::BodyTimeout(_) => "timeout",
            IngestError::Busy => "busy",
            IngestError::UnsupportedContentType(_) => "unsupported_content_type",
            _ => "bad_request",
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.to_string() }));
        if matches!(self, IngestError::Busy) {
            (self.status(), [("retry-after", "1")], body).into_response()
        } else {
            (self.status(), body).into_response()
        }
    }
}

/// Refuses form-encoded and multipart bodies, naming the content type (GitHub offers
/// `application/x-www-form-urlencoded` for webhooks; its `payload=` body is not JSON).
fn check_content_type(headers: &HeaderMap) -> Result<(), IngestError> {
    if let Some(ct) = header(headers, "content-type") {
        let media = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if media == "application/x-www-form-urlencoded" || media.starts_with("multipart/") {
            return Err(IngestError::UnsupportedContentType(media));
        }
    }
    Ok(())
}

/// The body length the request announces in `Content-Length`, when it sends a valid one.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    header(headers, "content-length").and_then(|v| v.parse::<u64>().ok())
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Reads the body frame by frame into one buffer sized from `Content-Length` (413 past
/// `limit`, for a chunked body that does not announce its length), handing each frame to
/// `on_frame` (the streaming signature check) as it arrives.
async fn read_limited(
    mut body: Body,
    limit: usize,
    announced: Option<u64>,
    on_frame: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<Vec<u8>, IngestError> {
    use http_body_util::BodyExt;
    let capacity = announced.map_or(16 * 1024, |len| usize::try_from(len).unwrap_or(limit));
    let mut buf = Vec::with_capacity(capacity.min(limit));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| IngestError::BodyRead(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if buf.len() + data.len() > limit {
            return Err(IngestError::TooLarge { limit });
        }
        on_frame(&data);
        buf.extend_from_slice(&data);
    }
    Ok(buf)
}

/// Reads the body within the limits. A body whose `Content-Length` is over the limit is
/// refused without reading it. Otherwise the request first takes its share of the in-flight
/// budget — the announced length, or the whole limit for a chunked body — waiting at most
/// [`Limits::budget_wait`], then reads the bytes under [`Limits::read_timeout`]. The share is
/// given back when the body is read (or refused).
async fn read_bounded(
    headers: &HeaderMap,
    body: Body,
    limits: &Limits,
    on_frame: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<Vec<u8>, IngestError> {
    let announced = content_length(headers);
    if announced.is_some_and(|len| len > limits.body as u64) {
        return Err(IngestError::TooLarge { limit: limits.body });
    }
    let share = announced.map_or(limits.body as u64, |len| len.max(1));
    let share = u32::try_from(share).unwrap_or(u32::MAX);
    let _permit = match tokio::time::timeout(
        limits.budget_wait,
        limits.in_flight.acquire_many(share),
    )
    .await
    {
        Ok(Ok(permit)) => permit,
        // Timed out, or the budget was closed: either way not now.
        Ok(Err(_)) | Err(_) => return Err(IngestError::Busy),
    };
    let read = read_limited(body, limits.body, announced, on_frame);
    match tokio::time::timeout(limits.read_timeout, read).await {
        Ok(read) => read,
        Err(_) => Err(IngestError::BodyTimeout(limits.read_timeout)),
    }
}

/// The whole ingestion pipeline for one request. `secrets` is `None` when the forge is
/// disabled.
pub async fn ingest(
    forge: ForgeName,
    secrets: Option<&[SecretString]>,
    headers: &HeaderMap,
    body: Body,
    limits: &Limits,
) -> Result<Verified, IngestError> {
    let secrets = secrets.ok_or(IngestError::Disabled(forge))?;
    check_content_type(headers)?;
    // GitLab authenticates with a header: check it before reading any body.
    if forge == ForgeName::GitLab {
        let token = header(headers, "x-gitlab-token")
            .ok_or(IngestError::Unauthorized("missing X-Gitlab-Token"))?;
        if !signature::verify_gitlab(secrets, token) {
            return Err(IngestError::Unauthorized("token does not match"));
        }
    }
    // GitHub signs the body: a missing or malformed signature is refused before reading it,
    // a well-formed one is checked over the body as it arrives.
    let mut verifier = match forge {
        ForgeName::GitHub => {
            let signature = header(headers, "x-hub-signature-256")
                .ok_or(IngestError::Unauthorized("missing X-Hub-Signature-256"))?;
            Some(
                signature::GithubVerifier::new(secrets, signature)
                    .ok_or(IngestError::Unauthorized("signature does not match"))?,
            )
        }
        ForgeName::GitLab => None,
    };
    let body = read_bounded(headers, body, limits, &mut |frame| {
        if let Some(v) = verifier.as_mut() {
            v.update(frame);
        }
    })
    .await?;
    if let Some(v) = verifier
        && !v.verify()
    {
        return Err(IngestError::Unauthorized("signature does not match"));
    }
    let (event, delivery_id) = match forge {
        ForgeName::GitHub => {
            let event = header(headers, "x-github-event")
                .ok_or(IngestError::MissingHeader("X-GitHub-Event"))?;
            let delivery = header(headers, "x-github-delivery")
                .ok_or(IngestError::MissingHeader("X-GitHub-Delivery"))?;
            (event, delivery)
        }
        ForgeName::GitLab => {
            let event = header(headers, "x-gitlab-event")
                .ok_or(IngestError::MissingHeader("X-Gitlab-Event"))?;
            // `Idempotency-Key` stays the same across GitLab's retries of one delivery;
            // `X-Gitlab-Event-UUID` (older GitLab) identifies the event. NOT
            // `X-Gitlab-Webhook-UUID`, which identifies the hook and is the same for every
            // delivery of that hook.
            let delivery = header(headers, "idempotency-key")
                .or_else(|| header(headers, "x-gitlab-event-uuid"))
                .ok_or(IngestError::MissingHeader(
                    "Idempotency-Key (or X-Gitlab-Event-UUID)",
                ))?;
            (event, delivery)
        }
    };
    if delivery_id.len() > 200 {
        return Err(IngestError::MissingHeader(
            "delivery id of at most 200 characters",
        ));
    }
    let malformed = |e: serde_json::Error| IngestError::MalformedJson {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    // UTF-8 first, once: the parse of a `&str` then need not check each string again. A body
    // that is not UTF-8 is not JSON either; the full parse says where, as it always did.
    let body = match String::from_utf8(body) {
        Ok(body) => body,
        Err(e) => {
            return Err(match serde_json::from_slice::<Value>(e.as_bytes()) {
                Err(e) => malformed(e),
                Ok(_) => IngestError::BodyRead("the body is not UTF-8".to_owned()),
            });
        }
    };
    // Only the fields the extractors read are kept (no DOM of the whole delivery); the parse
    // still checks all of it, refusing exactly what a full parse refuses, with the same error.
    let parse = match forge {
        ForgeName::GitHub => events::github::parse,
        ForgeName::GitLab => events::gitlab::parse,
    };
    let payload = parse(&body).map_err(malformed)?;
    let domain = match forge {
        ForgeName::GitHub if event == "ping" => None,
        ForgeName::GitHub => events::github::extract(event, &payload)?,
        ForgeName::GitLab => events::gitlab::extract(event, &payload)?,
    };
    Ok(Verified {
        forge,
        delivery_id: delivery_id.to_owned(),
        event: event.to_owned(),
        body,
        domain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ingests `body` as a signed GitHub `pull_request` delivery.
    async fn deliver(body: &[u8]) -> Result<Verified, IngestError> {
        let secrets = [SecretString::from("s3cret")];
        let mut headers = HeaderMap::new();
        headers.insert("x-github-event", "pull_request".parse().expect("header"));
        headers.insert("x-github-delivery", "d-1".parse().expect("header"));
        let signature = signature::github_signature("s3cret", body);
        headers.insert("x-hub-signature-256", signature.parse().expect("header"));
        let limits = Limits::new(MAX_BODY_BYTES, IN_FLIGHT_BYTES);
        ingest(
            ForgeName::GitHub,
            Some(&secrets),
            &headers,
            Body::from(body.to_vec()),
            &limits,
        )
        .await
    }

    #[tokio::test]
    async fn bodies_the_full_parse_refuses_are_refused_with_its_error() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let bodies: Vec<Vec<u8>> = vec![
            b"{\"action\": \"opened\",\n  oops}".to_vec(),
            // Refused by the full parse though syntactically JSON, in fields not read.
            br#"{"action": "opened", "zen": 1e400}"#.to_vec(),
            br#"{"action": "opened", "zen": "\ud800"}"#.to_vec(),
            format!(r#"{{"action": "opened", "zen": {deep}}}"#).into_bytes(),
            // Not UTF-8, in a string not read and outside strings.
            b"{\"action\": \"opened\", \"zen\": \"\xff\"}".to_vec(),
            b"{\"action\": \"opened\", \xc3\xa9}".to_vec(),
            b"{\"action\": \"opened\"} \xff".to_vec(),
        ];
        for body in &bodies {
            let expected = serde_json::from_slice::<Value>(body).expect_err("refused");
            match deliver(body).await {
                Err(IngestError::MalformedJson {
                    line,
                    column,
                    message,
                }) => {
                    assert_eq!(
                        (line, column, message),
                        (expected.line(), expected.column(), expected.to_string()),
                        "{}",
                        String::from_utf8_lossy(body)
                    );
                }
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }

    #[tokio::test]
    async fn an_accepted_body_is_stored_whole_and_keyed() {
        let body = br#"{"action": "opened", "number": 7, "zen": {"deep": [1, "x"]},
            "pull_request": {"number": 7, "title": "t", "head": {"sha": "abc"}},
            "repository": {"full_name": "octo/repo", "id": 1}}"#;
        let verified = deliver(body).await.expect("accepted");
        let domain = verified.domain.as_ref().expect("acted on");
        assert_eq!(domain.items[0].key.to_key_string(), "github:octo/repo#7");
        assert_eq!(domain.items[0].detail, Some(json!({"head_sha": "abc"})));
        assert_eq!(verified.into_payload().as_bytes(), body);
    }
}
