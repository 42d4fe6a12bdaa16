//! The auditor report of a release as a page (`…/-/releases/{tag}`, with `.md` and `.json`
//! beside it): the very report `sdl-gate report --release TAG` writes, loaded and verified the
//! same way ([`crate::audit::load::load_report`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Mutex;

use super::Web;
use super::auth::Viewer;
use super::pages::{html, not_found};
use crate::audit::build::RangeSpec;
use crate::audit::build::Verification;
use crate::audit::html::{HtmlMode, render_html};
use crate::audit::load::{AuditError, ReportQuery, load_report_with, verify};
use crate::audit::markdown::render_markdown;
use crate::audit::model::render_json;
use crate::forge_name::ForgeName;

/// How long a report page reuses a verification of the whole ledger. Verifying reads every
/// entry (about 1 s per 100,000 on SQLite); the report says what was checked ("N entries"),
/// so a minute-old verification is stated, not hidden.
pub const VERIFY_TTL: Duration = Duration::from_secs(60);

/// The last verification and when it was made.
#[derive(Clone, Default)]
pub struct VerifyCache(Arc<Mutex<Option<(Instant, Verification)>>>);

impl VerifyCache {
    /// A verification at most [`VERIFY_TTL`] old, made now when there is none; one request
    /// verifies while the others wait for it.
    async fn get(&self, web: &Web) -> Result<Verification, crate::store::StoreError> {
        let mut slot = self.0.lock().await;
        if let Some((at, v)) = slot.as_ref()
            && at.elapsed() < VERIFY_TTL
        {
            return Ok(v.clone());
        }
        let fresh = verify(&web.store, &web.ledger_keys).await?;
        *slot = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }
}

/// Which form of the report a path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Html,
    Markdown,
    Json,
}

fn form_of(tag: &str) -> (&str, Form) {
    if let Some(t) = tag.strip_suffix(".json") {
        (t, Form::Json)
    } else if let Some(t) = tag.strip_suffix(".md") {
        (t, Form::Markdown)
    } else {
        (tag, Form::Html)
    }
}

fn typed(body: String, content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    response
}

/// The report page of release `tag` (the viewer is already admitted).
pub async fn page(
    web: &Web,
    viewer: &Viewer,
    forge: ForgeName,
    repository: &str,
    tag: &str,
) -> Response {
    let (tag, form) = form_of(tag);
    let query = ReportQuery {
        forge,
        repository: repository.to_owned(),
        range: RangeSpec::Release(tag.to_owned()),
        keys: web.ledger_keys.clone(),
        now: None,
    };
    let loaded = match web.verified.get(web).await {
        Ok(verification) => load_report_with(&web.store, &query, verification).await,
        Err(e) => Err(AuditError::Store(e)),
    };
    let report = match loaded {
        Ok(r) => r,
        Err(AuditError::Range(_) | AuditError::NoEntries { .. }) => {
            return not_found(Some(viewer));
        }
        Err(err) => {
            tracing::error!(error = %err, "a report could not be built");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the report could not be built; the service log says why\n",
            )
                .into_response();
        }
    };
    match form {
        Form::Json => typed(render_json(&report), "application/json"),
        Form::Markdown => typed(render_markdown(&report), "text/markdown; charset=utf-8"),
        Form::Html => match render_html(&report, HtmlMode::Served) {
            Ok(body) => html(StatusCode::OK, body),
            Err(err) => {
                tracing::error!(error = %err, "a report page could not be rendered");
                (StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n").into_response()
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_path_names_its_form() {
        assert_eq!(form_of("v4.2"), ("v4.2", Form::Html));
        assert_eq!(form_of("v4.2.md"), ("v4.2", Form::Markdown));
        assert_eq!(form_of("v4.2.json"), ("v4.2", Form::Json));
    }
}
