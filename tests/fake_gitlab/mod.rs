//! An in-process fake GitLab for integration tests: real HTTP on 127.0.0.1 under `/api/v4`,
//! answered from state (projects, merge requests, diffs, approvals, members, groups,
//! pipelines, jobs and their artifacts, notes, commit statuses, award emoji, repository files
//! per ref) that its handlers change, so tests assert outcomes rather than call sequences.
//!
//! - Every request is journaled (method, path, query, body, status).
//! - A request it does not know is answered `599` and recorded; [`FakeGitlab::assert_no_unknown`]
//!   fails the test.
//! - Faults are scripted per route with the fault kinds the fake GitHub has (`fake_forge`):
//!   5xx before or after the change is applied, rate limits, 401, delays, bodies that are not
//!   JSON.
//! - Authentication is real: every request needs `PRIVATE-TOKEN: `[`BOT_TOKEN`]; `GET /user`
//!   (which the `gitlab` crate calls when it connects) answers the bot user.
//!
//! Answers follow the shapes of GitLab's REST API (docs.gitlab.com/api; recorded answers in
//! `../shared/fixtures/gitlab-webhooks/api`) for the fields clients read.

#![allow(
    dead_code,
    reason = "shared by several test binaries; each uses a part of it"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

/// The bot's access token.
pub const BOT_TOKEN: &str = "glpat-test-only-bot-token";
/// The bot's user name.
pub const BOT: &str = "sdl-gate-bot";

mod web_flow;

use crate::fake_forge::take_fault;
pub use crate::fake_forge::{Call, Fault, FaultKind};

/// A file of a merge request's diff.
#[derive(Debug, Clone)]
pub struct DiffRec {
    pub old_path: String,
    pub new_path: String,
    pub diff: String,
    pub new_file: bool,
    pub deleted_file: bool,
    pub renamed_file: bool,
}

/// A merge request.
#[derive(Debug, Clone)]
pub struct MrRec {
    pub iid: u64,
    pub title: String,
    pub description: String,
    pub author: String,
    pub state: String,
    pub draft: bool,
    pub labels: Vec<String>,
    pub sha: String,
    pub target_branch: String,
    pub source_branch: String,
    pub diffs: Vec<DiffRec>,
    /// Who approved, in order.
    pub approved_by: Vec<String>,
    pub head_pipeline: Option<u64>,
}

/// A job of a pipeline.
#[derive(Debug, Clone)]
pub struct JobRec {
    pub id: u64,
    pub name: String,
    pub status: String,
    /// (file_type, filename) of report artifacts.
    pub reports: Vec<(String, String)>,
    /// Files in the job's artifacts archive.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// A pipeline.
#[derive(Debug, Clone)]
pub struct PipelineRec {
    pub id: u64,
    pub sha: String,
    pub status: String,
    pub jobs: Vec<JobRec>,
}

/// A note on a merge request.
#[derive(Debug, Clone)]
pub struct NoteRec {
    pub id: u64,
    pub iid: u64,
    pub author: String,
    pub body: String,
    pub system: bool,
    pub updated: u32,
    /// Award emoji names with who gave them.
    pub awards: Vec<(String, String)>,
}

/// A commit status.
#[derive(Debug, Clone)]
pub struct StatusRec {
    pub id: u64,
    pub sha: String,
    pub name: String,
    pub status: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub author: String,
}

/// A project.
#[derive(Debug, Clone, Default)]
pub struct ProjectRec {
    pub id: u64,
    pub path: String,
    pub mrs: BTreeMap<u64, MrRec>,
    /// (ref, path) → bytes.
    pub files: BTreeMap<(String, String), Vec<u8>>,
    pub pipelines: BTreeMap<u64, PipelineRec>,
    pub notes: Vec<NoteRec>,
    pub statuses: Vec<StatusRec>,
    /// username → access level.
    pub members: BTreeMap<String, u64>,
}

/// The whole fake's state.
#[derive(Debug, Default)]
pub struct State {
    pub projects: BTreeMap<String, ProjectRec>,
    /// username → id.
    pub users: BTreeMap<String, u64>,
    /// group path → usernames.
    pub groups: BTreeMap<String, BTreeSet<String>>,
    pub journal: Vec<Call>,
    pub unknown: Vec<Call>,
    pub faults: Vec<Fault>,
    pub next_id: u64,
    /// The OAuth application and the user tokens it issued (see `web_flow`).
    pub oauth: crate::fake_forge::oauth::OAuthApp,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        1000 + self.next_id
    }

    /// The user id of `name`, creating the user.
    pub fn user(&mut self, name: &str) -> u64 {
        if let Some(id) = self.users.get(name) {
            return *id;
        }
        let id = 100 + self.users.len() as u64;
        self.users.insert(name.to_string(), id);
        id
    }

    fn username(&self, id: u64) -> Option<String> {
        self.users
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.clone())
    }

    /// The project `path`, created on first use.
    pub fn project(&mut self, path: &str) -> &mut ProjectRec {
        let n = self.projects.len() as u64;
        self.projects
            .entry(path.to_string())
            .or_insert_with(|| ProjectRec {
                id: 50 + n,
                path: path.to_string(),
                ..ProjectRec::default()
            })
    }
}

/// The running fake.
pub struct FakeGitlab {
    /// Base URL (`http://127.0.0.1:port`), without `/api/v4`.
    pub url: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGitlab {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A test commit id from a seed.
pub fn sha(seed: u64) -> String {
    let x = u128::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    format!("{x:040x}")
}

fn user_json(st: &State, name: &str) -> Value {
    let id = st.users.get(name).copied().unwrap_or(0);
    json!({
        "id": id, "username": name, "name": name, "state": "active", "locked": false,
        "avatar_url": format!("https://gitlab.example.com/uploads/{id}.png"),
        "web_url": format!("https://gitlab.example.com/{name}")
    })
}

fn pct_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_map(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (pct_decode(k), pct_decode(&v.replace('+', " ")))
        })
        .collect()
}

fn ts() -> String {
    "2026-11-27T10:00:00.000Z".to_string()
}

fn mr_json(st: &State, p: &ProjectRec, mr: &MrRec) -> Value {
    let pipeline = mr.head_pipeline.and_then(|id| p.pipelines.get(&id)).map(|pl| {
        json!({"id": pl.id, "iid": pl.id, "project_id": p.id, "sha": pl.sha, "ref": mr.source_branch,
               "status": pl.status, "source": "merge_request_event",
               "web_url": format!("https://gitlab.example.com/{}/-/pipelines/{}", p.path, pl.id)})
    });
    let notes = p
        .notes
        .iter()
        .filter(|n| n.iid == mr.iid && !n.system)
        .count();
    json!({
        "id": 9000 + mr.iid, "iid": mr.iid, "project_id": p.id, "title": mr.title,
        "description": mr.description, "state": mr.state, "created_at": ts(), "updated_at": ts(),
        "target_branch": mr.target_branch, "source_branch": mr.source_branch,
        "author": user_json(st, &mr.author), "assignees": [], "reviewers": [],
        "source_project_id": p.id, "target_project_id": p.id, "labels": mr.labels,
        "draft": mr.draft, "work_in_progress": mr.draft, "merge_when_pipeline_succeeds": false,
        "merge_status": "can_be_merged", "detailed_merge_status": "mergeable",
        "sha": mr.sha, "merge_commit_sha": null, "squash_commit_sha": null,
        "user_notes_count": notes, "changes_count": mr.diffs.len().to_string(),
        "head_pipeline": pipeline, "pipeline": pipeline,
        "diff_refs": {"base_sha": sha(1), "head_sha": mr.sha, "start_sha": sha(1)},
        "references": {"short": format!("!{}", mr.iid), "full": format!("{}!{}", p.path, mr.iid)},
        "web_url": format!("https://gitlab.example.com/{}/-/merge_requests/{}", p.path, mr.iid)
    })
}

fn note_json(st: &State, n: &NoteRec) -> Value {
    json!({
        "id": n.id, "type": null, "body": n.body, "attachment": null,
        "author": user_json(st, &n.author), "created_at": ts(), "updated_at": ts(),
        "system": n.system, "noteable_id": 9000 + n.iid, "noteable_type": "MergeRequest",
        "noteable_iid": n.iid, "resolvable": false, "confidential": false, "internal": false
    })
}

fn status_json(st: &State, s: &StatusRec) -> Value {
    json!({
        "id": s.id, "sha": s.sha, "ref": "feature", "status": s.status, "name": s.name,
        "target_url": s.target_url, "description": s.description, "created_at": ts(),
        "started_at": null, "finished_at": null, "allow_failure": false, "coverage": null,
        "pipeline_id": null, "author": user_json(st, &s.author)
    })
}

fn job_json(p: &ProjectRec, pl: &PipelineRec, j: &JobRec) -> Value {
    let mut artifacts: Vec<Value> = j
        .reports
        .iter()
        .map(|(t, f)| json!({"file_type": t, "size": 1000, "filename": f, "file_format": "raw"}))
        .collect();
    artifacts.push(json!({"file_type": "archive", "size": 2000, "filename": "artifacts.zip", "file_format": "zip"}));
    json!({
        "id": j.id, "status": j.status, "stage": "test", "name": j.name, "ref": "feature",
        "tag": false, "allow_failure": false, "created_at": ts(), "started_at": ts(),
        "finished_at": ts(), "duration": 12.5, "user": null,
        "commit": {"id": pl.sha, "short_id": &pl.sha[..8], "title": "change"},
        "pipeline": {"id": pl.id, "project_id": p.id, "ref": "feature", "sha": pl.sha, "status": pl.status},
        "web_url": format!("https://gitlab.example.com/{}/-/jobs/{}", p.path, j.id),
        "artifacts": artifacts, "artifacts_expire_at": null
    })
}

/// Authenticates and routes one request against the state.
fn route_request(
    g: &mut State,
    method: &Method,
    raw: &str,
    query: &str,
    headers: &HeaderMap,
    body: Option<&Value>,
) -> Answer {
    let user = web_flow::user_of(g, headers);
    if user.is_none()
        && headers.get("private-token").and_then(|v| v.to_str().ok()) != Some(BOT_TOKEN)
    {
        return json_response(401, json!({"message": "401 Unauthorized"}));
    }
    let Some(rest) = raw.strip_prefix("/api/v4/") else {
        return (599, Vec::new(), b"unknown".to_vec());
    };
    let segs: Vec<String> = rest.split('/').map(pct_decode).collect();
    if let Some(login) = user {
        return web_flow::route(g, &login, method, &segs);
    }
    let q = query_map(query);
    match route(g, method, &segs, &q, body.unwrap_or(&Value::Null)) {
        Some(a) => a,
        None => (599, Vec::new(), b"unknown route".to_vec()),
    }
}

fn json_response(status: u16, body: Value) -> (u16, Vec<(String, String)>, Vec<u8>) {
    (status, Vec::new(), body.to_string().into_bytes())
}

fn not_found(what: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    json_response(404, json!({"message": format!("404 {what} Not Found")}))
}

/// A page of `items` as GitLab pages lists.
fn paged(items: Vec<Value>, q: &BTreeMap<String, String>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let per: usize = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let page: usize = q
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let total = items.len();
    let pages = total.div_ceil(per).max(1);
    let slice: Vec<Value> = items.into_iter().skip((page - 1) * per).take(per).collect();
    let next = if page < pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    (
        200,
        vec![
            ("x-next-page".into(), next),
            ("x-page".into(), page.to_string()),
            ("x-per-page".into(), per.to_string()),
            ("x-total".into(), total.to_string()),
            ("x-total-pages".into(), pages.to_string()),
        ],
        Value::Array(slice).to_string().into_bytes(),
    )
}

type Answer = (u16, Vec<(String, String)>, Vec<u8>);

fn route(
    st: &mut State,
    method: &Method,
    segs: &[String],
    q: &BTreeMap<String, String>,
    body: &Value,
) -> Option<Answer> {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let get = method == Method::GET;
    let post = method == Method::POST;
    let put = method == Method::PUT;
    match s.as_slice() {
        ["user"] if get => {
            st.user(BOT);
            Some(json_response(200, user_json(st, BOT)))
        }
        ["users"] if get => {
            let name = q.get("username").cloned().unwrap_or_default();
            let found: Vec<Value> = st
                .users
                .keys()
                .filter(|u| u.eq_ignore_ascii_case(&name))
                .map(|u| user_json(st, u))
                .collect();
            Some(json_response(200, Value::Array(found)))
        }
        ["groups", group, "members", "all", uid] if get => {
            let uid: u64 = uid.parse().ok()?;
            let name = st.username(uid)?;
            let member = st.groups.get(*group).is_some_and(|m| m.contains(&name));
            if !st.groups.contains_key(*group) {
                return Some(not_found("Group"));
            }
            if member {
                let mut u = user_json(st, &name);
                u["access_level"] = json!(30);
                u["membership_state"] = json!("active");
                Some(json_response(200, u))
            } else {
                Some(not_found("Member"))
            }
        }
        ["projects", pid, rest @ ..] => {
            let key = st
                .projects
                .values()
                .find(|p| p.path == *pid || p.id.to_string() == *pid)
                .map(|p| p.path.clone());
            let Some(key) = key else {
                return Some(not_found("Project"));
            };
            project_route(st, &key, method, get, post, put, rest, q, body)
        }
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn project_route(
    st: &mut State,
    key: &str,
    method: &Method,
    get: bool,
    post: bool,
    put: bool,
    rest: &[&str],
    q: &BTreeMap<String, String>,
    body: &Value,
) -> Option<Answer> {
    let _ = method;
    let snapshot = st.projects.get(key)?.clone();
    let p = &snapshot;
    match rest {
        ["merge_requests", iid] if get => {
            let mr = p.mrs.get(&iid.parse().ok()?)?;
            Some(json_response(200, mr_json(st, p, mr)))
        }
        ["merge_requests", iid, "diffs"] if get => {
            let mr = p.mrs.get(&iid.parse().ok()?)?;
            let items = mr
                .diffs
                .iter()
                .map(|d| json!({"old_path": d.old_path, "new_path": d.new_path, "a_mode": "100644", "b_mode": "100644",
                    "diff": d.diff, "new_file": d.new_file, "renamed_file": d.renamed_file, "deleted_file": d.deleted_file,
                    "generated_file": false}))
                .collect();
            Some(paged(items, q))
        }
        ["merge_requests", iid, "approvals"] if get => {
            let mr = p.mrs.get(&iid.parse().ok()?)?;
            let by: Vec<Value> = mr
                .approved_by
                .iter()
                .map(|u| json!({"user": user_json(st, u)}))
                .collect();
            Some(json_response(
                200,
                json!({
                    "id": 9000 + mr.iid, "iid": mr.iid, "project_id": p.id, "title": mr.title,
                    "state": mr.state, "approved": !by.is_empty(), "approvals_required": 0,
                    "approvals_left": 0, "approved_by": by
                }),
            ))
        }
        ["merge_requests", iid, "notes"] => {
            let iid: u64 = iid.parse().ok()?;
            p.mrs.get(&iid)?;
            if get {
                let items = p
                    .notes
                    .iter()
                    .filter(|n| n.iid == iid)
                    .map(|n| note_json(st, n))
                    .collect();
                Some(paged(items, q))
            } else if post {
                let text = body.get("body")?.as_str()?.to_string();
                let id = st.id();
                let note = NoteRec {
                    id,
                    iid,
                    author: BOT.into(),
                    body: text,
                    system: false,
                    updated: 0,
                    awards: Vec::new(),
                };
                let out = note_json(st, &note);
                st.project(key).notes.push(note);
                Some(json_response(201, out))
            } else {
                None
            }
        }
        ["merge_requests", iid, "notes", nid] if put => {
            let iid: u64 = iid.parse().ok()?;
            let nid: u64 = nid.parse().ok()?;
            let text = body.get("body")?.as_str()?.to_string();
            let proj = st.project(key);
            let Some(n) = proj.notes.iter_mut().find(|n| n.id == nid && n.iid == iid) else {
                return Some(not_found("Note"));
            };
            n.body = text;
            n.updated += 1;
            let n = n.clone();
            Some(json_response(200, note_json(st, &n)))
        }
        ["merge_requests", iid, "notes", nid, "award_emoji"] if post => {
            let iid: u64 = iid.parse().ok()?;
            let nid: u64 = nid.parse().ok()?;
            let name = body.get("name")?.as_str()?.to_string();
            let id = st.id();
            let proj = st.project(key);
            let Some(n) = proj.notes.iter_mut().find(|n| n.id == nid && n.iid == iid) else {
                return Some(not_found("Note"));
            };
            if n.awards.iter().any(|(e, u)| *e == name && u == BOT) {
                return Some(json_response(
                    404,
                    json!({"message": {"name": ["has already been taken"]}}),
                ));
            }
            n.awards.push((name.clone(), BOT.into()));
            let user = user_json(st, BOT);
            Some(json_response(
                201,
                json!({"id": id, "name": name, "user": user, "created_at": ts(),
                "updated_at": ts(), "awardable_id": nid, "awardable_type": "Note"}),
            ))
        }
        ["repository", "files", path] if get => {
            // `HEAD` is the default branch (`main` in the fake).
            let git_ref = match q.get("ref")?.as_str() {
                "HEAD" => "main".to_owned(),
                other => other.to_owned(),
            };
            match p.files.get(&(git_ref.clone(), path.to_string())) {
                Some(bytes) => Some(json_response(
                    200,
                    json!({
                        "file_name": path.rsplit('/').next(), "file_path": path, "size": bytes.len(),
                        "encoding": "base64", "content": base64::engine::general_purpose::STANDARD.encode(bytes),
                        "content_sha256": "0", "ref": git_ref, "blob_id": "0", "commit_id": "0", "last_commit_id": "0"
                    }),
                )),
                None => Some(not_found("File")),
            }
        }
        ["repository", "commits", sha, "statuses"] if get => {
            let name = q.get("name");
            let mut latest: BTreeMap<String, &StatusRec> = BTreeMap::new();
            for s in p
                .statuses
                .iter()
                .filter(|s| s.sha == *sha && name.is_none_or(|n| *n == s.name))
            {
                latest.insert(s.name.clone(), s);
            }
            let items = latest.values().map(|s| status_json(st, s)).collect();
            Some(paged(items, q))
        }
        ["statuses", sha] if post => {
            let state = body.get("state")?.as_str()?.to_string();
            if ![
                "pending", "running", "success", "failed", "canceled", "skipped",
            ]
            .contains(&state.as_str())
            {
                return Some(json_response(
                    400,
                    json!({"error": "state does not have a valid value"}),
                ));
            }
            let name = body
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string();
            // GitLab refuses a transition to the state a status already has.
            if let Some(last) = p
                .statuses
                .iter()
                .rev()
                .find(|s| s.sha == *sha && s.name == name)
                && last.status == state
                && state == "pending"
            {
                return Some(json_response(
                    400,
                    json!({"message": format!("Cannot transition status via :enqueue from :{state}")}),
                ));
            }
            let id = st.id();
            let rec = StatusRec {
                id,
                sha: sha.to_string(),
                name,
                status: state,
                description: body
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                target_url: body
                    .get("target_url")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                author: BOT.into(),
            };
            let out = status_json(st, &rec);
            st.project(key).statuses.push(rec);
            Some(json_response(201, out))
        }
        ["pipelines", pid, "jobs"] if get => {
            let pl = p.pipelines.get(&pid.parse().ok()?)?;
            let items = pl.jobs.iter().map(|j| job_json(p, pl, j)).collect();
            Some(paged(items, q))
        }
        ["jobs", jid, "artifacts", path @ ..] if get && !path.is_empty() => {
            let jid: u64 = jid.parse().ok()?;
            let file = path.join("/");
            let job = p
                .pipelines
                .values()
                .flat_map(|pl| pl.jobs.iter())
                .find(|j| j.id == jid)?;
            match job.files.get(&file) {
                Some(bytes) => Some((
                    200,
                    vec![("content-type".into(), "application/octet-stream".into())],
                    bytes.clone(),
                )),
                None => Some(not_found("File")),
            }
        }
        ["members", "all", uid] if get => {
            let uid: u64 = uid.parse().ok()?;
            let Some(name) = st.username(uid) else {
                return Some(not_found("User"));
            };
            match p.members.get(&name) {
                Some(level) => {
                    let mut u = user_json(st, &name);
                    u["access_level"] = json!(level);
                    u["membership_state"] = json!("active");
                    Some(json_response(200, u))
                }
                None => Some(not_found("Member")),
            }
        }
        _ => None,
    }
}

async fn handle(
    st: Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path().starts_with("/oauth/") {
        return web_flow::handle(&st, &method, &uri, &body);
    }
    let raw = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let parsed: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let fault = {
        let mut g = lock(&st);
        take_fault(&mut g.faults, &method, &raw, || 0)
    };
    if let Some(FaultKind::Delay(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let mut g = lock(&st);
    let mut call = Call {
        method: method.to_string(),
        path: raw.clone(),
        query: query.clone(),
        body: parsed.clone(),
        status: 0,
    };
    let retry_after = |secs: u64| {
        (
            429,
            vec![("retry-after".into(), secs.to_string())],
            b"Retry later".to_vec(),
        )
    };
    let mut lost: Option<u16> = None;
    let answer: Answer = match fault {
        Some(FaultKind::Status(s)) => json_response(s, json!({"message": "scripted fault"})),
        Some(FaultKind::StatusAfterApply(s)) => {
            lost = Some(s);
            route_request(&mut g, &method, &raw, &query, &headers, parsed.as_ref())
        }
        Some(FaultKind::TooManyRequests { retry_after: secs })
        | Some(FaultKind::SecondaryRateLimit { retry_after: secs }) => retry_after(secs),
        // GitLab's own limit: 429 with the `RateLimit-*` headers and `Retry-After`.
        Some(FaultKind::PrimaryRateLimit { reset_in }) => {
            let reset = chrono::Utc::now().timestamp() + reset_in;
            let mut a = retry_after(u64::try_from(reset_in.max(0)).unwrap_or(0));
            a.1.extend([
                ("ratelimit-limit".into(), "2000".into()),
                ("ratelimit-remaining".into(), "0".into()),
                ("ratelimit-reset".into(), reset.to_string()),
            ]);
            a
        }
        Some(FaultKind::Unauthorized) => json_response(401, json!({"message": "401 Unauthorized"})),
        Some(FaultKind::BadBody) => (
            200,
            vec![("content-type".into(), "text/html".into())],
            b"<html>upstream proxy error</html>".to_vec(),
        ),
        Some(FaultKind::Random { status, .. }) => {
            json_response(status, json!({"message": "scripted fault"}))
        }
        Some(FaultKind::Delay(_)) | None => {
            route_request(&mut g, &method, &raw, &query, &headers, parsed.as_ref())
        }
    };
    // The request took effect; its answer is replaced, as by a proxy that lost it.
    let answer = match lost {
        Some(s) if answer.0 < 300 => json_response(s, json!({"message": "answer lost"})),
        _ => answer,
    };
    call.status = answer.0;
    if answer.0 == 599 {
        g.unknown.push(call.clone());
    }
    g.journal.push(call);
    drop(g);
    let mut resp = (
        StatusCode::from_u16(answer.0).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        answer.2,
    )
        .into_response();
    let is_json = !answer.1.iter().any(|(k, _)| k == "content-type");
    for (k, v) in answer.1 {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(k),
            HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(name, value);
        }
    }
    if is_json {
        resp.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
    }
    resp
}

impl FakeGitlab {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> FakeGitlab {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        FakeGitlab::start_on(listener)
    }

    /// Starts the fake on a listener the test bound (e.g. a port a service was already told).
    pub fn start_on(listener: tokio::net::TcpListener) -> FakeGitlab {
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State::default()));
        lock(&state).user(BOT);
        let st = state.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let st = st.clone();
                async move { handle(st, method, uri, headers, body).await }
            },
        );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGitlab {
            url: format!("http://{addr}"),
            state,
            server,
        }
    }

    /// The state, to arrange or inspect.
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Adds a scripted fault.
    pub fn fault(&self, method: Option<Method>, path: &str, times: usize, kind: FaultKind) {
        self.state().faults.push(Fault {
            method,
            path: path.to_string(),
            times,
            kind,
        });
    }

    /// Every request so far.
    pub fn journal(&self) -> Vec<Call> {
        self.state().journal.clone()
    }

    /// Fails the test when a request hit a route the fake does not know.
    pub fn assert_no_unknown(&self) {
        let unknown = self.state().unknown.clone();
        assert!(
            unknown.is_empty(),
            "the client sent requests the fake GitLab does not know:\n{}",
            unknown
                .iter()
                .map(Call::line)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// A merge request `iid` of `project` by `author` at `head`, touching `paths`.
    pub fn merge_request(&self, project: &str, iid: u64, author: &str, head: &str, paths: &[&str]) {
        let mut st = self.state();
        st.user(author);
        let diffs = paths
            .iter()
            .map(|p| DiffRec {
                old_path: p.to_string(),
                new_path: p.to_string(),
                diff: "@@ -1,2 +1,3 @@\n line\n+added\n line\n".into(),
                new_file: false,
                deleted_file: false,
                renamed_file: false,
            })
            .collect();
        st.project(project).mrs.insert(
            iid,
            MrRec {
                iid,
                title: format!("Change {iid}"),
                description: String::new(),
                author: author.into(),
                state: "opened".into(),
                draft: false,
                labels: Vec::new(),
                sha: head.into(),
                target_branch: "main".into(),
                source_branch: format!("feature-{iid}"),
                diffs,
                approved_by: Vec::new(),
                head_pipeline: None,
            },
        );
    }

    /// A file at `git_ref` (a branch name or a commit id).
    pub fn put_file(&self, project: &str, git_ref: &str, path: &str, bytes: &[u8]) {
        self.state()
            .project(project)
            .files
            .insert((git_ref.into(), path.into()), bytes.to_vec());
    }

    /// `user` approves the merge request.
    pub fn approve(&self, project: &str, iid: u64, user: &str) {
        let mut st = self.state();
        st.user(user);
        if let Some(mr) = st.project(project).mrs.get_mut(&iid) {
            mr.approved_by.push(user.into());
        }
    }

    /// A group with members.
    pub fn group(&self, path: &str, members: &[&str]) {
        let mut st = self.state();
        for m in members {
            st.user(m);
        }
        st.groups
            .insert(path.into(), members.iter().map(|m| m.to_string()).collect());
    }

    /// `user` gets `level` access to the project (30 developer, 40 maintainer).
    pub fn member(&self, project: &str, user: &str, level: u64) {
        let mut st = self.state();
        st.user(user);
        st.project(project).members.insert(user.into(), level);
    }

    /// A successful head pipeline for the merge request with one successful job `job`
    /// whose report artifact of `file_type` is `file` with `bytes`. Returns the pipeline id.
    pub fn pipeline_with_report(
        &self,
        project: &str,
        iid: u64,
        job: &str,
        file_type: &str,
        file: &str,
        bytes: &[u8],
    ) -> u64 {
        let status = "success";
        let mut st = self.state();
        let pid = st.id();
        let jid = st.id();
        let proj = st.project(project);
        let sha = proj
            .mrs
            .get(&iid)
            .map(|m| m.sha.clone())
            .unwrap_or_default();
        proj.pipelines.insert(
            pid,
            PipelineRec {
                id: pid,
                sha,
                status: status.into(),
                jobs: vec![JobRec {
                    id: jid,
                    name: job.into(),
                    status: status.into(),
                    reports: vec![(file_type.into(), file.into())],
                    files: [(file.to_string(), bytes.to_vec())].into_iter().collect(),
                }],
            },
        );
        if let Some(mr) = proj.mrs.get_mut(&iid) {
            mr.head_pipeline = Some(pid);
        }
        pid
    }

    /// A note by a person; returns its id.
    pub fn human_note(&self, project: &str, iid: u64, user: &str, body: &str) -> u64 {
        let mut st = self.state();
        st.user(user);
        let id = st.id();
        st.project(project).notes.push(NoteRec {
            id,
            iid,
            author: user.into(),
            body: body.into(),
            system: false,
            updated: 0,
            awards: Vec::new(),
        });
        id
    }

    /// Notes of the merge request by the bot.
    pub fn bot_notes(&self, project: &str, iid: u64) -> Vec<NoteRec> {
        self.state()
            .project(project)
            .notes
            .iter()
            .filter(|n| n.iid == iid && n.author == BOT)
            .cloned()
            .collect()
    }

    /// A note by id.
    pub fn note(&self, project: &str, id: u64) -> Option<NoteRec> {
        self.state()
            .project(project)
            .notes
            .iter()
            .find(|n| n.id == id)
            .cloned()
    }

    /// Every status named `name` on `sha`, oldest first.
    pub fn statuses(&self, project: &str, sha: &str, name: &str) -> Vec<StatusRec> {
        self.state()
            .project(project)
            .statuses
            .iter()
            .filter(|s| s.sha == sha && s.name == name)
            .cloned()
            .collect()
    }
}
