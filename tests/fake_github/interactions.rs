//! The fake GitHub's conversation routes for `/sdl` commands: reactions on issue comments
//! (`POST`, and `GET` for assertions), a collaborator's permission, and helpers to post,
//! edit and delete comments as humans the way the webhooks tests send describe them.
//!
//! Shapes follow GitHub's REST API: a reaction is `{id, node_id, user, content, created_at}`
//! (201 when added, 200 when the same user already left that reaction); the permission answer
//! is `{permission, role_name, user}` where `permission` is the legacy name (`maintain`
//! shows as `write`, `triage` as `read`) — see
//! `../shared/fixtures/github-api/pygithub-replay/Repository.testCollaboratorRoleName.0.GET.json`.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{
    APP_SLUG, Answer, CommentRec, FakeGithub, State, bad_credentials, not_found, paginate, ts,
    user_json,
};

/// Reaction contents GitHub accepts.
const CONTENTS: [&str; 8] = [
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

/// A reaction on an issue comment.
#[derive(Debug, Clone)]
pub struct ReactionRec {
    pub id: u64,
    pub repo: String,
    pub comment_id: u64,
    pub user: String,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

/// What the conversation routes keep.
#[derive(Debug, Default)]
pub struct Interactions {
    pub reactions: Vec<ReactionRec>,
    /// (repo, login lower-case) → role (`admin`, `maintain`, `write`, `triage`, `read`).
    pub roles: BTreeMap<(String, String), String>,
}

fn reaction_json(base: &str, r: &ReactionRec) -> Value {
    let kind = if r.user.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    json!({
        "id": r.id, "node_id": format!("REA_{}", r.id),
        "user": user_json(base, &r.user, kind),
        "content": r.content, "created_at": ts(r.created_at)
    })
}

/// GitHub's legacy `permission` for a role.
fn legacy(role: &str) -> &'static str {
    match role {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        _ => "none",
    }
}

/// Answers the conversation routes; `None` for any other request.
pub(super) fn route(
    st: &mut State,
    base: &str,
    method: &Method,
    path: &str,
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &Option<Value>,
) -> Option<Answer> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let known = matches!(
        (method.as_str(), segs.as_slice()),
        (
            "POST",
            ["repos", _, _, "issues", "comments", _, "reactions"]
        ) | ("GET", ["repos", _, _, "issues", "comments", _, "reactions"])
            | ("GET", ["repos", _, _, "collaborators", _, "permission"])
    );
    if !known {
        return None;
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = auth.strip_prefix("Bearer ").unwrap_or("");
    if !st.tokens.contains(token) {
        return Some(bad_credentials());
    }
    let full = format!("{}/{}", segs[1], segs[2]);
    if !st.repos.contains_key(&full) {
        return Some(not_found().into());
    }
    Some(match (method.as_str(), segs.as_slice()) {
        ("POST", [.., id, "reactions"]) => {
            let Some(comment_id) = id.parse::<u64>().ok().filter(|id| {
                st.repos
                    .get(&full)
                    .is_some_and(|r| r.comments.iter().any(|c| c.id == *id))
            }) else {
                return Some(not_found().into());
            };
            let Some(content) = body
                .as_ref()
                .and_then(|b| b.get("content"))
                .and_then(Value::as_str)
            else {
                return Some(unprocessable("content is required"));
            };
            if !CONTENTS.contains(&content) {
                return Some(unprocessable(&format!(
                    "content is not included in the list {CONTENTS:?}"
                )));
            }
            let user = format!("{APP_SLUG}[bot]");
            let existing = st.interactions.reactions.iter().find(|r| {
                r.repo == full
                    && r.comment_id == comment_id
                    && r.user == user
                    && r.content == content
            });
            if let Some(r) = existing {
                return Some((StatusCode::OK, reaction_json(base, r)).into());
            }
            let id = st.id();
            let r = ReactionRec {
                id,
                repo: full.clone(),
                comment_id,
                user,
                content: content.to_string(),
                created_at: Utc::now(),
            };
            let v = reaction_json(base, &r);
            st.interactions.reactions.push(r);
            (StatusCode::CREATED, v).into()
        }
        ("GET", [.., id, "reactions"]) => {
            let Some(comment_id) = id.parse::<u64>().ok() else {
                return Some(not_found().into());
            };
            let items: Vec<Value> = st
                .interactions
                .reactions
                .iter()
                .filter(|r| r.repo == full && r.comment_id == comment_id)
                .filter(|r| q.get("content").is_none_or(|c| *c == r.content))
                .map(|r| reaction_json(base, r))
                .collect();
            paginate(base, path, q, items, |s, _| Value::Array(s))
        }
        ("GET", [.., user, "permission"]) => {
            // On a public repository anyone may read; collaborators have their role.
            let role = st
                .interactions
                .roles
                .get(&(full.clone(), user.to_ascii_lowercase()))
                .cloned()
                .unwrap_or_else(|| "read".into());
            let mut u = user_json(base, user, "User");
            let rank = ["read", "triage", "write", "maintain", "admin"]
                .iter()
                .position(|r| *r == role)
                .unwrap_or(0);
            u["permissions"] = json!({
                "pull": true, "triage": rank >= 1, "push": rank >= 2,
                "maintain": rank >= 3, "admin": rank >= 4
            });
            u["role_name"] = json!(role);
            (
                StatusCode::OK,
                json!({"permission": legacy(&role), "role_name": role, "user": u}),
            )
                .into()
        }
        _ => return None,
    })
}

fn unprocessable(msg: &str) -> Answer {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"message": "Validation Failed", "errors": [{"resource": "Reaction", "code": "custom", "field": "content", "message": msg}],
               "documentation_url": "https://docs.github.com/rest/reactions/reactions#create-reaction-for-an-issue-comment", "status": "422"}),
    )
        .into()
}

impl FakeGithub {
    /// Gives `login` role `role` (`admin`, `maintain`, `write`, `triage`, `read`) on `repo`.
    pub fn collaborator(&self, repo: &str, login: &str, role: &str) {
        self.state().interactions.roles.insert(
            (repo.to_string(), login.to_ascii_lowercase()),
            role.to_string(),
        );
    }

    /// Posts a comment on PR `n` as `user` (`User`, or `Bot` for a `[bot]` login) and
    /// returns it, for the `issue_comment` webhook that announces it.
    pub fn post_comment(&self, repo: &str, n: u64, user: &str, body: &str) -> CommentRec {
        let mut st = self.state();
        let id = st.id();
        let c = CommentRec {
            id,
            issue: n,
            user: user.to_string(),
            user_type: if user.ends_with("[bot]") {
                "Bot"
            } else {
                "User"
            }
            .into(),
            body: body.to_string(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        st.repo(repo).comments.push(c.clone());
        c
    }

    /// Edits comment `id` (as its author would) and returns it with the old body.
    pub fn edit_comment(&self, repo: &str, id: u64, body: &str) -> Option<(CommentRec, String)> {
        let mut st = self.state();
        let c = st.repo(repo).comments.iter_mut().find(|c| c.id == id)?;
        let old = std::mem::replace(&mut c.body, body.to_string());
        c.updated_at = Utc::now();
        Some((c.clone(), old))
    }

    /// Deletes comment `id` and returns it.
    pub fn delete_comment(&self, repo: &str, id: u64) -> Option<CommentRec> {
        let mut st = self.state();
        let comments = &mut st.repo(repo).comments;
        let i = comments.iter().position(|c| c.id == id)?;
        Some(comments.remove(i))
    }

    /// The reactions on comment `id` as (user, content), oldest first.
    pub fn reactions(&self, repo: &str, id: u64) -> Vec<(String, String)> {
        self.state()
            .interactions
            .reactions
            .iter()
            .filter(|r| r.repo == repo && r.comment_id == id)
            .map(|r| (r.user.clone(), r.content.clone()))
            .collect()
    }

    /// The App's comments on PR `n` other than the sticky summary: its replies.
    pub fn replies(&self, repo: &str, n: u64) -> Vec<CommentRec> {
        self.comments(repo, n)
            .into_iter()
            .filter(|c| {
                c.user == format!("{APP_SLUG}[bot]")
                    && !c.body.starts_with("<!-- sdl-gate:summary -->")
            })
            .collect()
    }
}
