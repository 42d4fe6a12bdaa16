//! Webhook ingestion as one pipeline: body limit → constant-time authentication → required
//! headers → JSON parse → domain event. Nothing is stored unless every step passed; an event
//! the product does not act on comes out as `event: None`, not as an error.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::events::{self, DomainEvent, EventError, Forge};

use super::signature;

/// Largest accepted body: GitHub caps payloads at 25 MiB.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// An authenticated, parsed delivery.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The forge.
    pub forge: Forge,
    /// The forge's delivery id (dedupe key).
    pub delivery_id: String,
    /// The event name header.
    pub event: String,
    /// The raw body (valid UTF-8 JSON).
    pub body: Bytes,
    /// The acted-on event, or `None` when the product does not act on it (ping included).
    pub domain: Option<DomainEvent>,
}

/// Why a delivery was refused. Each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The forge is not configured on this service (404).
    #[error("{0} webhooks are not enabled on this service")]
    Disabled(Forge),
    /// The body exceeds [`MAX_BODY_BYTES`] (413).
    #[error("payload larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body could not be read (client went away) (400).
    #[error("cannot read the request body: {0}")]
    BodyRead(String),
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
            _ => "bad_request",
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        (self.status(), Json(json!({ "error": self.to_string() }))).into_response()
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Reads at most `limit` bytes of body; larger bodies are refused without reading them all
/// when `Content-Length` says so up front.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, IngestError> {
    if let Some(len) = header(headers, "content-length").and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(IngestError::TooLarge { limit });
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(err) => {
            let inner = err.into_inner();
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&*inner);
            while let Some(e) = source {
                if e.is::<http_body_util::LengthLimitError>() {
                    return Err(IngestError::TooLarge { limit });
                }
                source = e.source();
            }
            Err(IngestError::BodyRead(inner.to_string()))
        }
    }
}

/// The whole ingestion pipeline for one request. `secrets` is `None` when the forge is
/// disabled.
pub async fn ingest(
    forge: Forge,
    secrets: Option<&[SecretString]>,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Verified, IngestError> {
    let secrets = secrets.ok_or(IngestError::Disabled(forge))?;
    let body = read_body(headers, body, limit).await?;
    let (event, delivery_id) = match forge {
        Forge::GitHub => {
            let signature = header(headers, "x-hub-signature-256")
                .ok_or(IngestError::Unauthorized("missing X-Hub-Signature-256"))?;
            if !signature::verify_github(secrets, signature, &body) {
                return Err(IngestError::Unauthorized("signature does not match"));
            }
            let event = header(headers, "x-github-event")
                .ok_or(IngestError::MissingHeader("X-GitHub-Event"))?;
            let delivery = header(headers, "x-github-delivery")
                .ok_or(IngestError::MissingHeader("X-GitHub-Delivery"))?;
            (event, delivery)
        }
        Forge::GitLab => {
            let token = header(headers, "x-gitlab-token")
                .ok_or(IngestError::Unauthorized("missing X-Gitlab-Token"))?;
            if !signature::verify_gitlab(secrets, token) {
                return Err(IngestError::Unauthorized("token does not match"));
            }
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
    let payload: Value = serde_json::from_slice(&body).map_err(|e| IngestError::MalformedJson {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let domain = match forge {
        Forge::GitHub if event == "ping" => None,
        Forge::GitHub => events::github::extract(event, &payload)?,
        Forge::GitLab => events::gitlab::extract(event, &payload)?,
    };
    Ok(Verified {
        forge,
        delivery_id: delivery_id.to_owned(),
        event: event.to_owned(),
        body,
        domain,
    })
}
