//! Listing routes of the fake GitHub, for fan-out and reconciliation:
//!
//! - `GET /app/installations` (App JWT) — `installation` objects;
//! - `GET /installation/repositories` (installation token) — every repository of the fake;
//! - `GET /repos/{o}/{r}/pulls?state=open|closed|all` — `pull-request-simple` objects,
//!   newest first;
//! - `GET /repos/{o}/{r}/commits/{sha}/pulls` — the pull requests whose head is `sha`.
//!
//! All paginated like GitHub (`per_page`, `page`, `Link`).

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    APP_ID, APP_SLUG, Answer, State, bad_credentials, not_found, paginate, pull_json, repo_json,
    user_json, verify_jwt,
};

fn installation_json(base: &str, id: u64) -> Value {
    json!({
        "id": id,
        "account": user_json(base, "acme", "Organization"),
        "repository_selection": "all",
        "access_tokens_url": format!("{base}/app/installations/{id}/access_tokens"),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("https://github.com/organizations/acme/settings/installations/{id}"),
        "app_id": APP_ID,
        "app_slug": APP_SLUG,
        "target_id": 1,
        "target_type": "Organization",
        "permissions": {"checks": "write", "contents": "read", "pull_requests": "write", "issues": "write",
                        "members": "read", "metadata": "read", "statuses": "read", "security_events": "read"},
        "events": ["pull_request", "pull_request_review", "issue_comment", "check_run", "check_suite", "status", "push"],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "single_file_name": null,
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "suspended_by": null,
        "suspended_at": null
    })
}

/// `pull-request-simple`: the full pull request minus the fields only the single-PR answer has.
fn simple_pull_json(base: &str, full: &str, repo_id: u64, p: &super::PullRec) -> Value {
    let mut v = pull_json(base, full, repo_id, p, 0);
    if let Some(obj) = v.as_object_mut() {
        for only_full in [
            "merged",
            "mergeable",
            "rebaseable",
            "mergeable_state",
            "merged_by",
            "comments",
            "review_comments",
            "maintainer_can_modify",
            "commits",
            "additions",
            "deletions",
            "changed_files",
        ] {
            obj.remove(only_full);
        }
    }
    v
}

/// Answers a listing route, or `None` when `path` is not one (the caller goes on).
pub(super) fn route(
    st: &mut State,
    base: &str,
    method: &Method,
    path: &str,
    q: &BTreeMap<String, String>,
    auth: &str,
) -> Option<Answer> {
    if method != Method::GET {
        return None;
    }
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["app", "installations"] => {
            if verify_jwt(auth).is_err() {
                return Some(bad_credentials());
            }
            let items: Vec<Value> = st
                .installations
                .iter()
                .map(|id| installation_json(base, *id))
                .collect();
            Some(paginate(base, path, q, items, |s, _| Value::Array(s)))
        }
        ["installation", "repositories"] => {
            if !token_ok(st, auth) {
                return Some(bad_credentials());
            }
            let items: Vec<Value> = st
                .repos
                .iter()
                .map(|(full, r)| repo_json(base, full, r.id))
                .collect();
            Some(paginate(
                base,
                path,
                q,
                items,
                |s, total| json!({"total_count": total, "repository_selection": "all", "repositories": s}),
            ))
        }
        ["repos", owner, name, "pulls"] => {
            if !token_ok(st, auth) {
                return Some(bad_credentials());
            }
            let full = format!("{owner}/{name}");
            let Some(repo) = st.repos.get(&full) else {
                return Some(not_found().into());
            };
            let wanted = q.get("state").map(String::as_str).unwrap_or("open");
            if !["open", "closed", "all"].contains(&wanted) {
                return Some(
                    (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        json!({"message": "Validation Failed", "status": "422"}),
                    )
                        .into(),
                );
            }
            // Default sort: created, descending (numbers grow with creation here).
            let items: Vec<Value> = repo
                .pulls
                .values()
                .rev()
                .filter(|p| wanted == "all" || p.state == wanted)
                .map(|p| simple_pull_json(base, &full, repo.id, p))
                .collect();
            Some(paginate(base, path, q, items, |s, _| Value::Array(s)))
        }
        ["repos", owner, name, "commits", sha, "pulls"] => {
            if !token_ok(st, auth) {
                return Some(bad_credentials());
            }
            let full = format!("{owner}/{name}");
            let Some(repo) = st.repos.get(&full) else {
                return Some(not_found().into());
            };
            let items: Vec<Value> = repo
                .pulls
                .values()
                .rev()
                .filter(|p| p.head_sha == *sha)
                .map(|p| simple_pull_json(base, &full, repo.id, p))
                .collect();
            Some(paginate(base, path, q, items, |s, _| Value::Array(s)))
        }
        _ => None,
    }
}

pub(super) fn token_ok(st: &State, auth: &str) -> bool {
    st.tokens
        .contains(auth.strip_prefix("Bearer ").unwrap_or(""))
}
