//! The service's pages for people: the change page every check run and status links to, the
//! repository dashboard and the auditor report of each release — each behind a login that
//! fails closed ([`auth`]). Pages are rendered on the server by the pure templates of
//! [`crate::render::html`]; this layer reads the store, asks [`auth::Auth`] who is looking
//! and what they may read, and sets the headers (a strict Content-Security-Policy, no
//! caching).

pub mod auth;
pub mod pages;
mod report;
pub mod views;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::store::Store;

/// What the pages need.
#[derive(Clone)]
pub struct Web {
    /// The service's store (evaluations, waivers, the ledger).
    pub store: Store,
    /// Who is signed in and what they may read.
    pub auth: auth::Auth,
    /// The ledger's checkpoint keys, for the report's `ledger verify`.
    pub ledger_keys: Vec<crate::ledger::note::VerifierKey>,
    /// The last whole-ledger verification, reused by report pages for [`report::VERIFY_TTL`].
    verified: report::VerifyCache,
}

impl Web {
    /// The pages over `store`, signed in by `auth`, verifying the ledger with `ledger_keys`.
    pub fn new(
        store: Store,
        auth: auth::Auth,
        ledger_keys: Vec<crate::ledger::note::VerifierKey>,
    ) -> Web {
        Web {
            store,
            auth,
            ledger_keys,
            verified: report::VerifyCache::default(),
        }
    }
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web").finish_non_exhaustive()
    }
}

/// The pages' routes, the login routes and the style sheets, state applied.
pub fn routes(web: Web) -> Router {
    let login = web.auth.routes();
    Router::new()
        .route("/", get(pages::home))
        .route("/changes/{forge}/{*rest}", get(pages::change))
        .route("/repos/{forge}/{*rest}", get(pages::repository))
        .route(
            "/assets/site.css",
            get(|| async { css(crate::render::html::SITE_CSS) }),
        )
        .route(
            "/assets/report.css",
            get(|| async { css(crate::audit::REPORT_CSS) }),
        )
        .with_state(web)
        .merge(login)
}

fn css(text: &'static str) -> Response {
    let mut response = text.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
