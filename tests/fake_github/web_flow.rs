//! GitHub's OAuth web flow for a GitHub App's user tokens, and what those tokens may read:
//! `GET /login/oauth/authorize` (on the github.com host, not the REST API: it redirects the
//! fake browser straight back with a code for the user the test made approve),
//! `POST /login/oauth/access_token` (client secret and single-use code checked; JSON with
//! `Accept: application/json`, as GitHub does), and, with a user token, `GET /user` and
//! `GET /repos/{owner}/{repo}`, which answers 200 only for a collaborator (a role given with
//! [`FakeGithub::collaborator`]) and 404 otherwise, as GitHub hides private repositories.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Answer, FakeGithub, State, bad_credentials, lock, not_found, repo_json, user_json};
use crate::fake_forge::oauth::{authorize_answer, journal, pairs, unknown_route};

/// What GitHub's user tokens of an App look like.
pub const USER_TOKEN_PREFIX: &str = "ghu_";

/// Answers `/login/oauth/*` (the web flow, outside the REST API) and journals it.
pub(super) fn handle(
    state: &std::sync::Mutex<State>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let mut st = lock(state);
    let (status, response) = match (method.as_str(), path.as_str()) {
        ("GET", "/login/oauth/authorize") => authorize_answer(
            st.oauth.authorize(&pairs(&query)),
            StatusCode::NOT_FOUND,
            "GitHub",
        ),
        ("POST", "/login/oauth/access_token") => {
            let mut form = pairs(&query);
            form.extend(pairs(&String::from_utf8_lossy(body)));
            let answer = match st.oauth.exchange(&form, USER_TOKEN_PREFIX) {
                Ok(token) => json!({"access_token": token, "token_type": "bearer", "scope": "",
                                     "expires_in": 28800, "refresh_token": "ghr_fake", "refresh_token_expires_in": 15897600}),
                // GitHub answers a refused exchange with 200 and an `error`.
                Err(code) => {
                    json!({"error": code, "error_description": format!("fake GitHub: {code}"),
                                     "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"})
                }
            };
            let wants_json = headers
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("application/json"));
            let r = if wants_json {
                (
                    StatusCode::OK,
                    [("content-type", "application/json; charset=utf-8")],
                    answer.to_string(),
                )
                    .into_response()
            } else {
                let text = answer
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| {
                                format!(
                                    "{k}={}",
                                    v.as_str()
                                        .map(str::to_owned)
                                        .unwrap_or_else(|| v.to_string())
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("&")
                    })
                    .unwrap_or_default();
                (
                    StatusCode::OK,
                    [("content-type", "application/x-www-form-urlencoded")],
                    text,
                )
                    .into_response()
            };
            (200, r)
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

fn private_user_json(base: &str, login: &str) -> Value {
    let mut u = user_json(base, login, "User");
    if let Some(o) = u.as_object_mut() {
        for (k, v) in [
            ("name", json!(login)),
            ("company", Value::Null),
            ("blog", json!("")),
            ("location", Value::Null),
            ("email", Value::Null),
            ("hireable", Value::Null),
            ("bio", Value::Null),
            ("public_repos", json!(1)),
            ("public_gists", json!(0)),
            ("followers", json!(0)),
            ("following", json!(0)),
            ("created_at", json!("2024-01-01T00:00:00Z")),
            ("updated_at", json!("2024-01-01T00:00:00Z")),
        ] {
            o.insert(k.to_owned(), v);
        }
    }
    u
}

fn full_repo_json(base: &str, full: &str, id: u64) -> Value {
    let mut v = repo_json(base, full, id);
    if let Some(o) = v.as_object_mut() {
        o.insert("private".into(), json!(true));
        o.insert("visibility".into(), json!("private"));
        o.insert("has_discussions".into(), json!(false));
        o.insert("network_count".into(), json!(0));
        o.insert("subscribers_count".into(), json!(1));
    }
    v
}

/// `GET /user` and `GET /repos/{owner}/{repo}` for user tokens (and the repository read for
/// installation tokens); `None` for every other request.
pub(super) fn route(
    st: &mut State,
    base: &str,
    method: &Method,
    segs: &[&str],
    auth: &str,
) -> Option<Answer> {
    let known = matches!(
        (method.as_str(), segs),
        ("GET", ["user"]) | ("GET", ["repos", _, _])
    );
    if !known {
        return None;
    }
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("token "))
        .unwrap_or("");
    let user = st.oauth.login_of(token);
    let installation = st.tokens.contains(token);
    Some(match (segs, user) {
        (["user"], Some(login)) => (StatusCode::OK, private_user_json(base, &login)).into(),
        (["user"], None) if installation => (
            StatusCode::FORBIDDEN,
            json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user", "status": "403"}),
        )
            .into(),
        (["repos", owner, name], Some(login)) => {
            let full = format!("{owner}/{name}");
            let member = st
                .interactions
                .roles
                .contains_key(&(full.clone(), login.to_ascii_lowercase()));
            if member {
                let id = st.repo(&full).id;
                (StatusCode::OK, full_repo_json(base, &full, id)).into()
            } else {
                not_found().into()
            }
        }
        (["repos", owner, name], None) if installation => {
            let full = format!("{owner}/{name}");
            match st.repos.get(&full) {
                Some(r) => (StatusCode::OK, full_repo_json(base, &full, r.id)).into(),
                None => not_found().into(),
            }
        }
        _ => bad_credentials(),
    })
}

impl FakeGithub {
    /// Registers the App's OAuth client: its id, secret, and the callback address prefix
    /// `redirect_uri` must start with.
    pub fn oauth_app(&self, client_id: &str, client_secret: &str, callback_prefix: &str) {
        let mut st = self.state();
        st.oauth.client_id = client_id.to_owned();
        st.oauth.client_secret = client_secret.to_owned();
        st.oauth.callback_prefix = callback_prefix.to_owned();
    }

    /// The user who approves the next authorizations in the fake browser.
    pub fn set_oauth_user(&self, login: &str) {
        self.state().oauth.user = Some(login.to_owned());
    }

    /// Revokes every user token (the next use answers 401).
    pub fn revoke_user_tokens(&self) {
        self.state().oauth.tokens.clear();
    }

    /// A user token for `login`, as if it had signed in.
    pub fn user_token(&self, login: &str) -> String {
        self.state().oauth.token_for(login, USER_TOKEN_PREFIX)
    }
}
