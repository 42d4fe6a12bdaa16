//! The demo's local GitHub: just enough of GitHub's REST API, on 127.0.0.1, for `sdl-gate
//! serve` to evaluate one pull request as it would on github.com — App JWTs checked against
//! the key the demo generated, installation tokens, the pull request and its files, reviews,
//! CI check runs, file contents per ref, team membership, and the check run and comment the
//! service writes. Every request is logged, so the demo can show what the service asked, and a
//! request it does not know is answered 404 and counted, so the demo fails loudly instead of
//! showing a half-run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

/// The demo App's id (what the service is configured with).
pub const APP_ID: u64 = 1;
/// The demo App's slug: the service posts as `sdl-gate-demo[bot]`.
pub const APP_SLUG: &str = "sdl-gate-demo";
/// The demo installation.
pub const INSTALLATION: u64 = 100;

/// A file changed by the pull request.
#[derive(Debug, Clone)]
pub struct File {
    pub filename: String,
    pub patch: String,
}

/// A review of the pull request.
#[derive(Debug, Clone)]
pub struct Review {
    pub user: String,
    pub state: String,
    pub commit_id: String,
}

/// A check run, written by CI or by the service.
#[derive(Debug, Clone, Default)]
pub struct CheckRun {
    pub id: u64,
    pub app_id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub details_url: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub annotations: usize,
}

/// An issue comment on the pull request.
#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub user: String,
    pub body: String,
}

/// The one repository and pull request the demo shows, and everything written to them.
#[derive(Debug, Default)]
pub struct Repo {
    /// `owner/name`.
    pub full_name: String,
    pub number: u64,
    pub title: String,
    pub author: String,
    pub body: String,
    pub base_sha: String,
    pub head_sha: String,
    pub files: Vec<File>,
    pub reviews: Vec<Review>,
    /// File contents by git ref (branch name or sha), then path.
    pub contents: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// Team members by `org/team`.
    pub teams: BTreeMap<String, Vec<String>>,
    pub check_runs: Vec<CheckRun>,
    pub comments: Vec<Comment>,
}

/// The forge's whole state.
#[derive(Debug, Default)]
pub struct ForgeState {
    pub repo: Repo,
    /// `METHOD /path -> status`, in order.
    pub log: Vec<String>,
    /// Requests the demo forge does not serve.
    pub unknown: Vec<String>,
    tokens: Vec<String>,
    next_id: u64,
}

impl ForgeState {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id + 1000
    }
}

/// A handle on the running local forge.
#[derive(Clone)]
pub struct LocalForge {
    state: Arc<Mutex<ForgeState>>,
    /// The base URL the service is pointed at.
    pub url: String,
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<ForgeState>>,
    jwt_key: Arc<jsonwebtoken::DecodingKey>,
}

impl LocalForge {
    /// Serves `repo` on a free loopback port; JWTs must verify with `jwt_key` (the public half
    /// of the App key the demo gave the service).
    pub async fn start(repo: Repo, jwt_key: jsonwebtoken::DecodingKey) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(ForgeState {
            repo,
            ..ForgeState::default()
        }));
        let shared = Shared {
            state: state.clone(),
            jwt_key: Arc::new(jwt_key),
        };
        let app = Router::new().fallback(handle).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(LocalForge { state, url })
    }

    /// The state, to read what the service wrote or to change the pull request.
    pub fn state(&self) -> MutexGuard<'_, ForgeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query: BTreeMap<String, String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    let (status, answer) = match route(&mut st, &shared, &method, &path, &query, &auth, &body) {
        Some(a) => a,
        None => {
            st.unknown.push(format!("{method} {path}"));
            not_found()
        }
    };
    st.log
        .push(format!("{method} {path} -> {}", status.as_u16()));
    (
        status,
        [("content-type", "application/json")],
        answer.to_string(),
    )
        .into_response()
}

type Answer = (StatusCode, Value);

fn not_found() -> Answer {
    (
        StatusCode::NOT_FOUND,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
    )
}

fn unauthorized() -> Answer {
    (
        StatusCode::UNAUTHORIZED,
        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
    )
}

/// Checks the App JWT as GitHub does: RS256 with the App's key, `iss` = the App id.
fn jwt_ok(shared: &Shared, auth: &str) -> bool {
    let Some(token) = auth.strip_prefix("Bearer ") else {
        return false;
    };
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_required_spec_claims(&["exp", "iat", "iss"]);
    v.set_issuer(&[APP_ID.to_string()]);
    jsonwebtoken::decode::<Value>(token, &shared.jwt_key, &v).is_ok()
}

fn user(login: &str) -> Value {
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    json!({"login": login, "id": login.len() as u64 * 7919, "type": kind})
}

fn check_run_json(r: &CheckRun) -> Value {
    json!({
        "id": r.id, "name": r.name, "head_sha": r.head_sha, "status": r.status,
        "conclusion": r.conclusion, "details_url": r.details_url, "app": {"id": r.app_id},
        "output": {"title": r.title, "summary": r.summary, "annotations_count": r.annotations}
    })
}

fn comment_json(c: &Comment) -> Value {
    json!({"id": c.id, "body": c.body, "user": user(&c.user)})
}

fn route(
    st: &mut ForgeState,
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    auth: &str,
    body: &Option<Value>,
) -> Option<Answer> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            if !jwt_ok(shared, auth) {
                return Some(unauthorized());
            }
            if id.parse::<u64>().ok() != Some(INSTALLATION) {
                return Some(not_found());
            }
            let token = format!("ghs_demo{}", st.id());
            st.tokens.push(token.clone());
            let expires = chrono::Utc::now() + chrono::Duration::hours(1);
            return Some((
                StatusCode::CREATED,
                json!({"token": token, "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}),
            ));
        }
        ("GET", ["app"]) => {
            if !jwt_ok(shared, auth) {
                return Some(unauthorized());
            }
            return Some((
                StatusCode::OK,
                json!({"id": APP_ID, "slug": APP_SLUG, "name": "sdl-gate (demo)"}),
            ));
        }
        _ => {}
    }
    let token = auth.strip_prefix("Bearer ").unwrap_or("");
    if !st.tokens.iter().any(|t| t == token) {
        return Some(unauthorized());
    }
    if let ["orgs", org, "teams", team, "memberships", login] = segs.as_slice() {
        let member = st
            .repo
            .teams
            .get(&format!("{org}/{team}"))
            .is_some_and(|m| m.iter().any(|u| u.eq_ignore_ascii_case(login)));
        return Some(if member && method == Method::GET {
            (StatusCode::OK, json!({"state": "active", "role": "member"}))
        } else {
            not_found()
        });
    }
    let ["repos", owner, name, rest @ ..] = segs.as_slice() else {
        return None;
    };
    if format!("{owner}/{name}") != st.repo.full_name {
        return Some(not_found());
    }
    repo_route(st, method, rest, query, body)
}

fn repo_route(
    st: &mut ForgeState,
    method: &Method,
    rest: &[&str],
    query: &BTreeMap<String, String>,
    body: &Option<Value>,
) -> Option<Answer> {
    let number = st.repo.number.to_string();
    let is_pr = |n: &str| n == number;
    let ok = |v: Value| Some((StatusCode::OK, v));
    let r = &st.repo;
    match (method.as_str(), rest) {
        ("GET", ["pulls", n]) if is_pr(n) => ok(json!({
            "number": r.number, "state": "open", "title": r.title, "body": r.body,
            "user": user(&r.author), "labels": [], "draft": false,
            "head": {"ref": "badge-login", "sha": r.head_sha, "repo": {"full_name": r.full_name}},
            "base": {"ref": "main", "sha": r.base_sha, "repo": {"full_name": r.full_name}},
            "merged_at": null, "changed_files": r.files.len(),
            "comments": r.comments.len(), "merge_commit_sha": null
        })),
        ("GET", ["pulls", n, "files"]) if is_pr(n) => ok(r
            .files
            .iter()
            .map(|f| json!({"filename": f.filename, "status": "modified", "patch": f.patch}))
            .collect()),
        ("GET", ["pulls", n, "reviews"]) if is_pr(n) => ok(r
            .reviews
            .iter()
            .map(|v| {
                json!({"user": user(&v.user), "state": v.state, "commit_id": v.commit_id,
                       "submitted_at": "2026-12-01T09:00:00Z"})
            })
            .collect()),
        ("GET", ["commits", sha, "check-runs"]) => {
            let runs: Vec<Value> = r
                .check_runs
                .iter()
                .filter(|c| c.head_sha == *sha)
                .filter(|c| query.get("check_name").is_none_or(|n| *n == c.name))
                .map(check_run_json)
                .collect();
            ok(json!({"total_count": runs.len(), "check_runs": runs}))
        }
        ("GET", ["commits", sha, "status"]) => {
            ok(json!({"state": "pending", "sha": sha, "statuses": [], "total_count": 0}))
        }
        ("GET", ["contents", file @ ..]) => {
            let file = file.join("/");
            let git_ref = query.get("ref").map_or("main", String::as_str);
            let Some(bytes) = r.contents.get(git_ref).and_then(|f| f.get(&file)) else {
                return Some(not_found());
            };
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            ok(
                json!({"type": "file", "encoding": "base64", "path": file, "size": bytes.len(),
                      "content": encoded}),
            )
        }
        ("GET", ["issues", n, "comments"]) if is_pr(n) => {
            ok(r.comments.iter().map(comment_json).collect())
        }
        ("POST", ["issues", n, "comments"]) if is_pr(n) => {
            let text = body.as_ref()?.get("body")?.as_str()?.to_owned();
            let c = Comment {
                id: st.id(),
                user: format!("{APP_SLUG}[bot]"),
                body: text,
            };
            let v = comment_json(&c);
            st.repo.comments.push(c);
            Some((StatusCode::CREATED, v))
        }
        ("PATCH", ["issues", "comments", id]) => {
            let text = body.as_ref()?.get("body")?.as_str()?.to_owned();
            let id: u64 = id.parse().ok()?;
            let c = st.repo.comments.iter_mut().find(|c| c.id == id)?;
            c.body = text;
            ok(comment_json(c))
        }
        ("POST", ["check-runs"]) => {
            let body = body.as_ref()?;
            let mut run = CheckRun {
                id: st.id(),
                app_id: APP_ID,
                name: body.get("name")?.as_str()?.to_owned(),
                head_sha: body.get("head_sha")?.as_str()?.to_owned(),
                status: "queued".to_owned(),
                ..CheckRun::default()
            };
            apply(&mut run, body);
            let v = check_run_json(&run);
            st.repo.check_runs.push(run);
            Some((StatusCode::CREATED, v))
        }
        ("PATCH", ["check-runs", id]) => {
            let id: u64 = id.parse().ok()?;
            let run = st
                .repo
                .check_runs
                .iter_mut()
                .find(|c| c.id == id && c.app_id == APP_ID)?;
            apply(run, body.as_ref()?);
            ok(check_run_json(run))
        }
        _ => None,
    }
}

/// Applies a check-run create or update body, as GitHub does (annotations accumulate).
fn apply(run: &mut CheckRun, body: &Value) {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Some(s) = text(body, "status") {
        run.status = s;
    }
    if let Some(c) = text(body, "conclusion") {
        run.conclusion = Some(c);
        run.status = "completed".to_owned();
    }
    if let Some(d) = text(body, "details_url") {
        run.details_url = Some(d);
    }
    if let Some(out) = body.get("output") {
        run.title = text(out, "title");
        run.summary = text(out, "summary");
        run.annotations += out
            .get("annotations")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
    }
}
