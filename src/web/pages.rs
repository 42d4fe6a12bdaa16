//! The page routes: `/changes/{forge}/{repository}/{number}` (the link check runs and statuses
//! already carry), `/repos/{forge}/{repository}` (the dashboard) and
//! `/repos/{forge}/{repository}/-/releases/{tag}[.md|.json]` (the auditor report of a release).
//! Every one asks [`Auth`] first: no signed-in viewer → the login page; a viewer who may not
//! read the repository → the very same 404 as a repository sdl-gate has never seen.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::Web;
use super::auth::{Auth, Viewer};
use super::views;
use crate::forge_name::ForgeName;
use crate::render::html::{Chrome, Crumb, message_page, repo_href};

/// The pages' Content-Security-Policy: nothing but the service's own style sheet; no script,
/// no frame, forms only to the service.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                            form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The largest change number a forge uses (both store them as 32-bit integers).
const MAX_NUMBER: u64 = i32::MAX as u64;

/// An HTML answer with the pages' headers.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The one "not found" answer: for a missing page, an unknown repository and a repository the
/// viewer may not read alike.
pub fn not_found(viewer: Option<&Viewer>) -> Response {
    let chrome = Chrome {
        title: "Not found".into(),
        viewer: viewer.map(|v| v.login.clone()),
        crumbs: Vec::new(),
    };
    let body = message_page(
        &chrome,
        "Not found",
        "There is no such page, or you may not read it.",
    )
    .unwrap_or_else(|_| "Not found".into());
    html(StatusCode::NOT_FOUND, body)
}

fn server_error(viewer: &Viewer, err: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %err, "a page could not be built");
    let chrome = Chrome {
        title: "Error".into(),
        viewer: Some(viewer.login.clone()),
        crumbs: Vec::new(),
    };
    let body = message_page(
        &chrome,
        "This page cannot be shown",
        "sdl-gate could not read what this page shows; the service log says why.",
    )
    .unwrap_or_else(|_| "error".into());
    html(StatusCode::INTERNAL_SERVER_ERROR, body)
}

/// The viewer if signed in and allowed to read the repository; otherwise the answer to give.
async fn admit(
    auth: &Auth,
    headers: &HeaderMap,
    uri: &Uri,
    forge: ForgeName,
    repository: &str,
) -> Result<Viewer, Response> {
    let Some(viewer) = auth.viewer(headers).await else {
        let next = uri.path_and_query().map_or("/", |p| p.as_str());
        return Err(Auth::login_redirect(next));
    };
    if !auth.may_read(&viewer, forge, repository).await {
        return Err(not_found(Some(&viewer)));
    }
    Ok(viewer)
}

fn forge_of(name: &str) -> Option<ForgeName> {
    ForgeName::parse(name)
}

/// Splits `owner/name/42` (or `group/sub/app/42`) into the repository and the number.
fn repository_and_number(rest: &str) -> Option<(&str, u64)> {
    let (repository, number) = rest.trim_end_matches('/').rsplit_once('/')?;
    let number: u64 = number.parse().ok()?;
    if repository.is_empty() || number == 0 || number > MAX_NUMBER {
        return None;
    }
    Some((repository, number))
}

fn chrome(viewer: &Viewer, title: String, forge: ForgeName, repository: &str) -> Chrome {
    Chrome {
        title,
        viewer: Some(viewer.login.clone()),
        crumbs: vec![Crumb {
            label: format!("{} · {repository}", forge.as_str()),
            href: repo_href(forge, repository),
        }],
    }
}

/// `GET /changes/{forge}/{*rest}`.
pub async fn change(
    State(web): State<Web>,
    Path((forge, rest)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let target = forge_of(&forge).zip(repository_and_number(&rest));
    let Some((forge, (repository, number))) = target else {
        let viewer = web.auth.viewer(&headers).await;
        return match viewer {
            Some(v) => not_found(Some(&v)),
            None => Auth::login_redirect(uri.path()),
        };
    };
    let viewer = match admit(&web.auth, &headers, &uri, forge, repository).await {
        Ok(v) => v,
        Err(answer) => return answer,
    };
    let chrome = chrome(
        &viewer,
        format!("{repository} #{number}"),
        forge,
        repository,
    );
    match views::change(&web.store, &chrome, forge, repository, number, Utc::now()).await {
        Ok(Some(body)) => html(StatusCode::OK, body),
        Ok(None) => not_found(Some(&viewer)),
        Err(err) => server_error(&viewer, &err),
    }
}

/// `GET /repos/{forge}/{*rest}`: the dashboard, or a release's report under `/-/releases/`.
pub async fn repository(
    State(web): State<Web>,
    Path((forge, rest)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let rest = rest.trim_end_matches('/');
    let (repository, release) = match rest.split_once("/-/releases/") {
        Some((repo, tag)) => (repo, Some(tag)),
        None => (rest, None),
    };
    let Some(forge) = forge_of(&forge).filter(|_| !repository.is_empty()) else {
        return match web.auth.viewer(&headers).await {
            Some(v) => not_found(Some(&v)),
            None => Auth::login_redirect(uri.path()),
        };
    };
    let viewer = match admit(&web.auth, &headers, &uri, forge, repository).await {
        Ok(v) => v,
        Err(answer) => return answer,
    };
    if let Some(tag) = release {
        return super::report::page(&web, &viewer, forge, repository, tag).await;
    }
    let chrome = chrome(&viewer, repository.to_owned(), forge, repository);
    match views::dashboard(&web.store, &chrome, forge, repository, Utc::now()).await {
        Ok(Some(body)) => html(StatusCode::OK, body),
        Ok(None) => not_found(Some(&viewer)),
        Err(err) => server_error(&viewer, &err),
    }
}

/// `GET /`: where to go from here.
pub async fn home(State(web): State<Web>, headers: HeaderMap) -> Response {
    let Some(viewer) = web.auth.viewer(&headers).await else {
        return Auth::login_redirect("/");
    };
    let chrome = Chrome {
        title: "sdl-gate".into(),
        viewer: Some(viewer.login.clone()),
        crumbs: Vec::new(),
    };
    match message_page(
        &chrome,
        "sdl-gate",
        "Open a change from the Details link of its sdl-gate check, or a repository's dashboard at /repos/{forge}/{owner}/{name}.",
    ) {
        Ok(body) => html(StatusCode::OK, body),
        Err(err) => server_error(&viewer, &err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_path_ends_in_its_number() {
        assert_eq!(repository_and_number("acme/app/7"), Some(("acme/app", 7)));
        assert_eq!(
            repository_and_number("group/sub/app/12/"),
            Some(("group/sub/app", 12))
        );
        assert_eq!(repository_and_number("acme/app/x"), None);
        assert_eq!(repository_and_number("7"), None);
        assert_eq!(repository_and_number("acme/app/0"), None);
        assert_eq!(
            repository_and_number("acme/app/99999999999"),
            None,
            "beyond what forges use"
        );
    }
}
