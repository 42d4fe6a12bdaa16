//! GitLab's OAuth authorization-code flow and what its user tokens may read:
//! `GET /oauth/authorize` (redirects the fake browser straight back with a code for the user
//! the test made approve; `response_type=code` and a `scope` are required),
//! `POST /oauth/token` (`grant_type=authorization_code`, client secret and single-use code
//! checked), and, with `Authorization: Bearer <user token>`, `GET /api/v4/user` and
//! `GET /api/v4/projects/:id`, which answers 200 only for a member of the project (see
//! [`FakeGitlab::member`]) and 404 otherwise, as GitLab hides private projects.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Answer, FakeGitlab, State, json_response, lock, not_found, user_json};
use crate::fake_forge::oauth::{authorize_answer, journal, pairs, unknown_route};

/// What the fake's user tokens look like.
pub const USER_TOKEN_PREFIX: &str = "gloas-";

/// Answers `/oauth/*` and journals it.
pub(super) fn handle(
    state: &std::sync::Mutex<State>,
    method: &Method,
    uri: &Uri,
    body: &Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let mut st = lock(state);
    let (status, response) = match (method.as_str(), path.as_str()) {
        ("GET", "/oauth/authorize") => {
            let q = pairs(&query);
            let checked = if q.get("response_type").map(String::as_str) != Some("code") {
                Err("response_type must be code".to_owned())
            } else if q.get("scope").is_none_or(|s| s.is_empty()) {
                Err("a scope is required".to_owned())
            } else {
                st.oauth.authorize(&q)
            };
            authorize_answer(checked, StatusCode::BAD_REQUEST, "GitLab")
        }
        ("POST", "/oauth/token") => {
            let form = pairs(&String::from_utf8_lossy(body));
            let answer = if form.get("grant_type").map(String::as_str) != Some("authorization_code")
            {
                Err("unsupported_grant_type")
            } else {
                st.oauth.exchange(&form, USER_TOKEN_PREFIX)
            };
            let (code, body) = match answer {
                Ok(token) => (
                    200,
                    json!({"access_token": token, "token_type": "Bearer", "expires_in": 7200,
                                          "refresh_token": "fake-refresh", "scope": "read_api", "created_at": 1_764_000_000}),
                ),
                Err(e) => (
                    if e == "incorrect_client_credentials" {
                        401
                    } else {
                        400
                    },
                    json!({"error": if e == "incorrect_client_credentials" { "invalid_client" } else { "invalid_grant" },
                                  "error_description": format!("fake GitLab: {e}")}),
                ),
            };
            let r = (
                StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
                [("content-type", "application/json; charset=utf-8")],
                body.to_string(),
            )
                .into_response();
            (code, r)
        }
        _ => unknown_route(),
    };
    let st = &mut *st;
    journal(
        &mut st.journal,
        &mut st.unknown,
        method,
        path,
        query,
        status,
    );
    response
}

/// The user a `Bearer` user token belongs to.
pub(super) fn user_of(st: &State, headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    st.oauth.login_of(auth.strip_prefix("Bearer ")?)
}

/// What a user token may do: `GET /user`, `GET /projects/:id` (members only).
pub(super) fn route(st: &mut State, login: &str, method: &Method, segs: &[String]) -> Answer {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (method.as_str(), s.as_slice()) {
        ("GET", ["user"]) => {
            st.user(login);
            json_response(200, user_json(st, login))
        }
        ("GET", ["projects", pid]) => {
            let found = st
                .projects
                .values()
                .find(|p| p.path == *pid || p.id.to_string() == *pid)
                .filter(|p| p.members.contains_key(login))
                .map(|p| (p.id, p.path.clone()));
            match found {
                Some((id, path)) => {
                    let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
                    let namespace = path.rsplit_once('/').map_or("", |(n, _)| n).to_owned();
                    json_response(
                        200,
                        json!({"id": id, "name": name, "path": name, "path_with_namespace": path,
                               "name_with_namespace": path.replace('/', " / "), "visibility": "private",
                               "default_branch": "main", "namespace": {"full_path": namespace},
                               "web_url": format!("https://gitlab.example.com/{path}")}),
                    )
                }
                None => not_found("Project"),
            }
        }
        _ => json_response(403, json!({"message": "403 Forbidden"})),
    }
}

impl FakeGitlab {
    /// Registers the OAuth application: its id, secret, and the callback address prefix
    /// `redirect_uri` must start with.
    pub fn oauth_app(&self, client_id: &str, client_secret: &str, callback_prefix: &str) {
        let mut st = self.state();
        st.oauth.client_id = client_id.to_owned();
        st.oauth.client_secret = client_secret.to_owned();
        st.oauth.callback_prefix = callback_prefix.to_owned();
    }

    /// The user who approves the next authorizations in the fake browser.
    pub fn set_oauth_user(&self, username: &str) {
        let mut st = self.state();
        st.user(username);
        st.oauth.user = Some(username.to_owned());
    }

    /// Revokes every user token (the next use answers 401).
    pub fn revoke_user_tokens(&self) {
        self.state().oauth.tokens.clear();
    }

    /// A user token for `username`, as if they had signed in.
    pub fn user_token(&self, username: &str) -> String {
        self.state().oauth.token_for(username, USER_TOKEN_PREFIX)
    }
}
