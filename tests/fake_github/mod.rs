//! An in-process fake GitHub for integration tests: real HTTP on 127.0.0.1, answered from
//! state (repositories, pull requests, files, reviews, check runs, statuses, comments, team
//! members, file contents per ref, App installations) that its handlers change, so tests
//! assert outcomes rather than call sequences.
//!
//! - Every request is journaled (method, path, query, body, status).
//! - GETs are conditional as on GitHub: a 200 answer carries a weak `ETag` of its body, and a
//!   GET whose `If-None-Match` names it is answered `304` with an empty body (journaled as
//!   304; [`FakeGithub::counted_since`] leaves those out, as GitHub's rate limit does).
//! - `POST /graphql` answers sdl-gate's one query from the same state, and each query text is
//!   validated against GitHub's GraphQL schema (see [`graphql`]); it is left out of the REST
//!   description's check.
//! - A request it does not know is answered `599` and recorded; [`FakeGithub::assert_no_unknown`]
//!   fails the test.
//! - Faults are scripted per route: 5xx N times (before or after the change is applied),
//!   403/429 with rate-limit headers, delays, bodies that are not JSON, random 5xx.
//! - Authentication is real: installation tokens are only issued for an RS256 JWT signed by
//!   the test App key (`iss` = App id, at most 10 minutes), and API calls need a live token.
//!
//! Answers follow the shapes of GitHub's REST API (see `../shared/fixtures/github-api` for
//! recorded responses): the required fields of the OpenAPI schemas with the right types.

#![allow(
    dead_code,
    reason = "shared by several test binaries; each uses a part of it"
)]

mod code_scanning;
mod compare;
pub mod graphql;
mod interactions;
mod listing;
mod merge_queue;
pub mod openapi;
mod web_flow;

#[allow(unused_imports, reason = "only the code-scanning tests name alerts")]
pub use code_scanning::{AlertRec, Upload};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// How long a test's GitHub client should wait for this fake: generous, because the fake checks
/// each new GraphQL query text against GitHub's schema with a Python validator inside the
/// request, which takes seconds on a loaded machine (a 5 s client timeout made the client fall
/// back to REST there, and a test counting GraphQL queries failed).
pub const CLIENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The test App's id.
pub const APP_ID: u64 = 4242;
/// The test App's slug; its bot is `sdl-gate-test[bot]`.
pub const APP_SLUG: &str = "sdl-gate-test";
/// Another App (GitHub Actions) that owns CI check runs.
pub const ACTIONS_APP_ID: u64 = 15368;
/// The installation the tests use.
pub const INSTALLATION: u64 = 777;

/// The test-only private key of the App (generated for these tests; not a secret).
pub const TEST_KEY_PEM: &str = include_str!("../data/test-only-github-app-key.pem");
const TEST_PUB_PEM: &str = include_str!("../data/test-only-github-app-key.pub.pem");

use crate::fake_forge::take_fault;
pub use crate::fake_forge::{Call, Fault, FaultKind};

/// A changed file of a pull request.
#[derive(Debug, Clone)]
pub struct FileRec {
    pub filename: String,
    pub status: String,
    pub previous_filename: Option<String>,
    pub patch: Option<String>,
}

/// A review.
#[derive(Debug, Clone)]
pub struct ReviewRec {
    pub id: u64,
    pub user: String,
    pub state: String,
    pub commit_id: String,
    pub submitted_at: DateTime<Utc>,
}

/// One `files[]` item (a pull request's files, a comparison's), as GitHub's `diff-entry`.
pub(crate) fn file_json(base: &str, full: &str, head: &str, i: usize, f: &FileRec) -> Value {
    let mut v = json!({
        "sha": format!("{:040x}", i + 1), "filename": f.filename, "status": f.status,
        "additions": 2, "deletions": 0, "changes": 2,
        "blob_url": format!("https://github.com/{full}/blob/{head}/{}", f.filename),
        "raw_url": format!("https://github.com/{full}/raw/{head}/{}", f.filename),
        "contents_url": format!("{base}/repos/{full}/contents/{}?ref={head}", f.filename)
    });
    if let Some(pt) = &f.patch {
        v["patch"] = json!(pt);
    }
    if let Some(prev) = &f.previous_filename {
        v["previous_filename"] = json!(prev);
    }
    v
}

/// A pull request.
#[derive(Debug, Clone)]
pub struct PullRec {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub author: String,
    pub labels: Vec<String>,
    pub draft: bool,
    pub state: String,
    pub head_sha: String,
    pub head_ref: String,
    /// The fork the head branch is in; `None`: this repository.
    pub head_repo: Option<String>,
    pub base_ref: String,
    pub base_sha: String,
    pub files: Vec<FileRec>,
    pub reviews: Vec<ReviewRec>,
}

/// A check run.
#[derive(Debug, Clone)]
pub struct CheckRunRec {
    pub id: u64,
    pub app_id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub annotations: Vec<Value>,
    /// The buttons (`actions`) the run offers, as last written.
    pub actions: Vec<Value>,
}

/// A commit status.
#[derive(Debug, Clone)]
pub struct StatusRec {
    pub id: u64,
    pub sha: String,
    pub context: String,
    pub state: String,
}

/// An issue comment.
#[derive(Debug, Clone)]
pub struct CommentRec {
    pub id: u64,
    pub issue: u64,
    pub user: String,
    pub user_type: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A repository.
#[derive(Debug, Clone, Default)]
pub struct RepoRec {
    pub id: u64,
    pub pulls: BTreeMap<u64, PullRec>,
    /// ref (branch name or sha) → path → bytes.
    pub contents: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    pub check_runs: Vec<CheckRunRec>,
    pub statuses: Vec<StatusRec>,
    pub comments: Vec<CommentRec>,
    /// tag → (commit, the annotated tag object's sha when it is one).
    pub tags: BTreeMap<String, (String, Option<String>)>,
    /// commit → the files of the change at that commit (its diff from where it left the
    /// base), for `GET /compare/{base}...{commit}`; a pull request's head needs none.
    pub commits: BTreeMap<String, Vec<FileRec>>,
}

/// Everything the fake knows.
#[derive(Debug, Default)]
pub struct State {
    pub repos: BTreeMap<String, RepoRec>,
    /// (org, team slug) → active members.
    pub teams: BTreeMap<(String, String), BTreeSet<String>>,
    pub installations: BTreeSet<u64>,
    /// Tokens issued and still accepted.
    pub tokens: BTreeSet<String>,
    /// Workflow tokens (`GITHUB_TOKEN` of a run): what they write belongs to GitHub Actions.
    pub workflow_tokens: BTreeSet<String>,
    pub tokens_issued: usize,
    pub journal: Vec<Call>,
    pub unknown: Vec<Call>,
    /// What GitHub's REST description rejects in requests and answers (see [`openapi`]).
    pub violations: Vec<String>,
    pub faults: Vec<Fault>,
    /// Reactions and collaborator roles (see `interactions`).
    pub interactions: interactions::Interactions,
    /// Code-scanning analyses (see `code_scanning`).
    pub code_scanning: code_scanning::CodeScanningState,
    /// The App's OAuth web flow and the user tokens it issued (see `web_flow`).
    pub oauth: crate::fake_forge::oauth::OAuthApp,
    /// The next GraphQL queries answered `200` with a `RATE_LIMITED` error, as GitHub does
    /// when the GraphQL points budget is spent (see `graphql`).
    pub graphql_rate_limited: usize,
    /// Merge queue groups by (repository, head sha) (see `merge_queue`).
    pub merge_groups: BTreeMap<(String, String), merge_queue::GroupRec>,
    next_id: u64,
    rng: u64,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        1_000_000 + self.next_id
    }

    fn roll(&mut self) -> u32 {
        // xorshift64: deterministic per test.
        let mut x = self.rng.max(1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x % 100) as u32
    }

    /// The repository `owner/name` (created empty when new).
    pub fn repo(&mut self, full: &str) -> &mut RepoRec {
        if !self.repos.contains_key(full) {
            let id = self.id();
            self.repos.insert(
                full.to_string(),
                RepoRec {
                    id,
                    ..RepoRec::default()
                },
            );
        }
        self.repos.get_mut(full).expect("inserted above")
    }
}

/// The running fake.
pub struct FakeGithub {
    /// Base URL (`http://127.0.0.1:port`).
    pub url: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        self.server.abort();
        // Every test that uses the fake is held to GitHub's REST description.
        if !std::thread::panicking() {
            self.assert_conforms();
        }
    }
}

fn user_json(base: &str, login: &str, kind: &str) -> Value {
    let id = login
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
        % 100_000_000;
    // GitHub percent-encodes the brackets of a bot's login in URLs
    // (`/users/dependabot%5Bbot%5D`), and a bot's page is its App's.
    let path = login.replace('[', "%5B").replace(']', "%5D");
    let html = match login.strip_suffix("[bot]") {
        Some(slug) => format!("https://github.com/apps/{slug}"),
        None => format!("https://github.com/{login}"),
    };
    json!({
        "login": login, "id": id, "node_id": format!("U_{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "", "url": format!("{base}/users/{path}"),
        "html_url": html,
        "followers_url": format!("{base}/users/{path}/followers"),
        "following_url": format!("{base}/users/{path}/following{{/other_user}}"),
        "gists_url": format!("{base}/users/{path}/gists{{/gist_id}}"),
        "starred_url": format!("{base}/users/{path}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{base}/users/{path}/subscriptions"),
        "organizations_url": format!("{base}/users/{path}/orgs"),
        "repos_url": format!("{base}/users/{path}/repos"),
        "events_url": format!("{base}/users/{path}/events{{/privacy}}"),
        "received_events_url": format!("{base}/users/{path}/received_events"),
        "type": kind, "site_admin": false
    })
}

fn app_json(base: &str, id: u64) -> Value {
    let (slug, name) = if id == APP_ID {
        (APP_SLUG, "sdl-gate (test)")
    } else {
        ("github-actions", "GitHub Actions")
    };
    json!({
        "id": id, "slug": slug, "node_id": format!("A_{id}"), "client_id": format!("Iv1.{id}"),
        "owner": user_json(base, "acme", "Organization"), "name": name,
        "description": "", "external_url": "https://example.com", "html_url": format!("https://github.com/apps/{slug}"),
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        "permissions": {"checks": "write", "contents": "read", "pull_requests": "write", "members": "read", "metadata": "read", "statuses": "read"},
        "events": ["pull_request", "pull_request_review", "issue_comment", "check_run"]
    })
}

fn repo_json(base: &str, full: &str, id: u64) -> Value {
    let (owner, name) = full.split_once('/').unwrap_or((full, full));
    let api = format!("{base}/repos/{full}");
    let mut v = json!({
        "id": id, "node_id": format!("R_{id}"), "name": name, "full_name": full,
        "owner": user_json(base, owner, "Organization"), "private": false,
        "html_url": format!("https://github.com/{full}"), "description": null, "fork": false,
        "url": api, "default_branch": "main",
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z", "pushed_at": "2024-01-01T00:00:00Z",
        "visibility": "public", "archived": false, "disabled": false,
        "git_url": format!("git://github.com/{full}.git"), "ssh_url": format!("git@github.com:{full}.git"),
        "clone_url": format!("https://github.com/{full}.git"), "svn_url": format!("https://github.com/{full}"),
        "mirror_url": null, "homepage": null, "language": "Rust", "license": null,
        "forks": 0, "forks_count": 0, "stargazers_count": 0, "watchers": 0, "watchers_count": 0,
        "open_issues": 0, "open_issues_count": 0, "size": 0,
        "has_issues": true, "has_projects": true, "has_downloads": true, "has_wiki": true,
        "has_pages": false
    });
    // The URL templates every full repository object carries.
    let urls = [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ];
    if let Some(obj) = v.as_object_mut() {
        for (k, tail) in urls {
            obj.insert(k.to_string(), json!(format!("{api}{tail}")));
        }
    }
    v
}

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn check_run_json(base: &str, full: &str, r: &CheckRunRec) -> Value {
    json!({
        "id": r.id, "node_id": format!("CR_{}", r.id), "head_sha": r.head_sha,
        "external_id": r.external_id, "url": format!("{base}/repos/{full}/check-runs/{}", r.id),
        "html_url": format!("https://github.com/{full}/runs/{}", r.id),
        "details_url": r.details_url.clone().unwrap_or_else(|| format!("https://github.com/{full}/runs/{}", r.id)),
        "status": r.status, "conclusion": r.conclusion,
        "started_at": ts(r.started_at), "completed_at": r.completed_at.map(ts),
        "output": {
            "title": r.title, "summary": r.summary, "text": r.text,
            "annotations_count": r.annotations.len(),
            "annotations_url": format!("{base}/repos/{full}/check-runs/{}/annotations", r.id)
        },
        "name": r.name, "check_suite": {"id": r.id + 7},
        "app": app_json(base, r.app_id), "pull_requests": []
    })
}

fn comment_json(base: &str, full: &str, c: &CommentRec) -> Value {
    json!({
        "id": c.id, "node_id": format!("IC_{}", c.id),
        "url": format!("{base}/repos/{full}/issues/comments/{}", c.id),
        "html_url": format!("https://github.com/{full}/pull/{}#issuecomment-{}", c.issue, c.id),
        "body": c.body, "user": user_json(base, &c.user, &c.user_type),
        "created_at": ts(c.created_at), "updated_at": ts(c.updated_at),
        "issue_url": format!("{base}/repos/{full}/issues/{}", c.issue),
        "author_association": if c.user_type == "Bot" { "NONE" } else { "MEMBER" },
        "performed_via_github_app": null
    })
}

fn pull_json(base: &str, full: &str, repo_id: u64, p: &PullRec, comments: usize) -> Value {
    let labels: Vec<Value> = p.labels.iter().enumerate().map(|(i, l)| json!({
        "id": 5000 + i, "node_id": format!("LA_{i}"), "url": format!("{base}/repos/{full}/labels/{l}"),
        "name": l, "description": null, "color": "ededed", "default": false
    })).collect();
    let owner = full.split('/').next().unwrap_or(full);
    let n = p.number;
    let (head_full, head_id) = match &p.head_repo {
        Some(fork) => (fork.as_str(), repo_id + 500_000),
        None => (full, repo_id),
    };
    let head_owner = head_full.split('/').next().unwrap_or(head_full);
    let head = json!({"label": format!("{head_owner}:{}", p.head_ref), "ref": p.head_ref, "sha": p.head_sha,
                 "user": user_json(base, head_owner, "Organization"), "repo": repo_json(base, head_full, head_id)});
    let base_ref = json!({"label": format!("{owner}:{}", p.base_ref), "ref": p.base_ref, "sha": p.base_sha,
                 "user": user_json(base, owner, "Organization"), "repo": repo_json(base, full, repo_id)});
    let links = json!({
        "self": {"href": format!("{base}/repos/{full}/pulls/{n}")},
        "html": {"href": format!("https://github.com/{full}/pull/{n}")},
        "issue": {"href": format!("{base}/repos/{full}/issues/{n}")},
        "comments": {"href": format!("{base}/repos/{full}/issues/{n}/comments")},
        "review_comments": {"href": format!("{base}/repos/{full}/pulls/{n}/comments")},
        "review_comment": {"href": format!("{base}/repos/{full}/pulls/comments{{/number}}")},
        "commits": {"href": format!("{base}/repos/{full}/pulls/{n}/commits")},
        "statuses": {"href": format!("{base}/repos/{full}/statuses/{}", p.head_sha)}
    });
    let mut v = json!({
        "url": format!("{base}/repos/{full}/pulls/{n}"), "id": 9_000_000 + n, "node_id": format!("PR_{n}"),
        "html_url": format!("https://github.com/{full}/pull/{n}"),
        "diff_url": format!("https://github.com/{full}/pull/{n}.diff"),
        "patch_url": format!("https://github.com/{full}/pull/{n}.patch"),
        "issue_url": format!("{base}/repos/{full}/issues/{n}"),
        "commits_url": format!("{base}/repos/{full}/pulls/{n}/commits"),
        "review_comments_url": format!("{base}/repos/{full}/pulls/{n}/comments"),
        "review_comment_url": format!("{base}/repos/{full}/pulls/comments{{/number}}"),
        "comments_url": format!("{base}/repos/{full}/issues/{n}/comments"),
        "statuses_url": format!("{base}/repos/{full}/statuses/{}", p.head_sha),
    });
    let rest = json!({
        "number": n, "state": p.state, "locked": false, "title": p.title,
        "user": user_json(base, &p.author, "User"), "body": p.body, "labels": labels,
        "milestone": null, "active_lock_reason": null,
        "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-27T10:00:00Z",
        "closed_at": null, "merged_at": null,
        "merge_commit_sha": test_merge_sha(&p.base_sha, &p.head_sha),
        "assignee": null, "assignees": [], "requested_reviewers": [], "requested_teams": [],
        "head": head, "base": base_ref,
        "_links": links,
        "author_association": "MEMBER", "auto_merge": null, "draft": p.draft,
        "merged": false, "mergeable": true, "rebaseable": true, "mergeable_state": "clean",
        "merged_by": null, "comments": comments, "review_comments": 0,
        "maintainer_can_modify": false, "commits": 1,
        "additions": p.files.len() * 2, "deletions": 0, "changed_files": p.files.len()
    });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), rest) {
        obj.extend(more);
    }
    v
}

fn not_found() -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
    )
}

fn unprocessable(msg: &str) -> (StatusCode, Value) {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"message": "Validation Failed", "errors": [{"resource": "CheckRun", "code": "invalid", "message": msg}],
               "documentation_url": "https://docs.github.com/rest", "status": "422"}),
    )
}

/// The query as pairs.
fn query_pairs(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
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
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a handler answers: status, JSON body and extra headers.
struct Answer {
    status: StatusCode,
    body: Value,
    headers: Vec<(String, String)>,
}

impl From<(StatusCode, Value)> for Answer {
    fn from((status, body): (StatusCode, Value)) -> Self {
        Answer {
            status,
            body,
            headers: Vec::new(),
        }
    }
}

/// One page of `items` per GitHub's `per_page`/`page`, with a `Link` header.
fn paginate(
    base: &str,
    path: &str,
    q: &BTreeMap<String, String>,
    items: Vec<Value>,
    wrap: impl Fn(Vec<Value>, usize) -> Value,
) -> Answer {
    let per_page = q
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = q
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total = items.len();
    let last = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut links = Vec::new();
    let link = |p: usize, rel: &str| {
        let mut qq = q.clone();
        qq.insert("per_page".into(), per_page.to_string());
        qq.insert("page".into(), p.to_string());
        let qs: Vec<String> = qq.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("<{base}{path}?{}>; rel=\"{rel}\"", qs.join("&"))
    };
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
        links.push(link(page - 1, "prev"));
    }
    let mut headers = Vec::new();
    if !links.is_empty() {
        headers.push(("link".to_string(), links.join(", ")));
    }
    Answer {
        status: StatusCode::OK,
        body: wrap(slice, total),
        headers,
    }
}

fn verify_jwt(auth: &str) -> Result<(), String> {
    let token = auth.strip_prefix("Bearer ").ok_or("no bearer token")?;
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_PUB_PEM.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_required_spec_claims(&["exp", "iat", "iss"]);
    v.set_issuer(&[APP_ID.to_string()]);
    v.leeway = 0;
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| e.to_string())?;
    let iat = data.claims["iat"].as_i64().ok_or("iat")?;
    let exp = data.claims["exp"].as_i64().ok_or("exp")?;
    let now = Utc::now().timestamp();
    if exp - iat > 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future".into());
    }
    if iat > now + 1 {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past".into(),
        );
    }
    Ok(())
}

fn bad_credentials() -> Answer {
    (
        StatusCode::UNAUTHORIZED,
        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
    )
        .into()
}

const ALLOWED_CONCLUSIONS: [&str; 8] = [
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
];

fn validate_run_body(body: &Value) -> Result<(), String> {
    if let Some(c) = body.get("conclusion").and_then(Value::as_str)
        && !ALLOWED_CONCLUSIONS.contains(&c)
    {
        return Err(format!(
            "conclusion {c} is not a member of {ALLOWED_CONCLUSIONS:?}"
        ));
    }
    if let Some(s) = body.get("status").and_then(Value::as_str)
        && ![
            "queued",
            "in_progress",
            "completed",
            "waiting",
            "requested",
            "pending",
        ]
        .contains(&s)
    {
        return Err(format!("status {s} is invalid"));
    }
    if body.get("status").and_then(Value::as_str) == Some("completed")
        && body.get("conclusion").is_none()
    {
        return Err("conclusion is required when status is completed".into());
    }
    if let Some(actions) = body.get("actions") {
        // GitHub's limits: at most 3 buttons; label ≤ 20, identifier ≤ 20, description ≤ 40.
        let arr = actions.as_array().ok_or("actions must be an array")?;
        if arr.len() > 3 {
            return Err("at most 3 actions".into());
        }
        for a in arr {
            for (field, max) in [("label", 20), ("identifier", 20), ("description", 40)] {
                match a.get(field).and_then(Value::as_str) {
                    None => return Err(format!("action lacks {field}")),
                    Some(v) if v.chars().count() > max => {
                        return Err(format!("action {field} is longer than {max} characters"));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    if let Some(out) = body.get("output") {
        if out.get("title").and_then(Value::as_str).is_none()
            || out.get("summary").and_then(Value::as_str).is_none()
        {
            return Err("output requires title and summary".into());
        }
        for field in ["summary", "text"] {
            if out
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|s| s.chars().count() > 65535)
            {
                return Err(format!("output.{field} is longer than 65535 characters"));
            }
        }
        if let Some(a) = out.get("annotations") {
            let arr = a.as_array().ok_or("annotations must be an array")?;
            if arr.len() > 50 {
                return Err("at most 50 annotations per request".into());
            }
            for an in arr {
                for f in [
                    "path",
                    "start_line",
                    "end_line",
                    "annotation_level",
                    "message",
                ] {
                    if an.get(f).is_none() {
                        return Err(format!("annotation lacks {f}"));
                    }
                }
            }
        }
    }
    Ok(())
}

fn apply_run_body(r: &mut CheckRunRec, body: &Value) {
    if let Some(s) = body.get("status").and_then(Value::as_str) {
        r.status = s.to_string();
    }
    if let Some(c) = body.get("conclusion").and_then(Value::as_str) {
        r.conclusion = Some(c.to_string());
        r.status = "completed".into();
        r.completed_at = Some(Utc::now());
    }
    if let Some(e) = body.get("external_id").and_then(Value::as_str) {
        r.external_id = Some(e.to_string());
    }
    if let Some(d) = body.get("details_url").and_then(Value::as_str) {
        r.details_url = Some(d.to_string());
    }
    if let Some(a) = body.get("actions").and_then(Value::as_array) {
        r.actions = a.clone();
    }
    if let Some(out) = body.get("output") {
        r.title = out.get("title").and_then(Value::as_str).map(str::to_string);
        r.summary = out
            .get("summary")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(t) = out.get("text").and_then(Value::as_str) {
            r.text = Some(t.to_string());
        }
        if let Some(a) = out.get("annotations").and_then(Value::as_array) {
            // GitHub appends annotations on every request.
            r.annotations.extend(a.iter().cloned());
        }
    }
}

/// Handles one request against the state. `None`: the fake does not know the route.
fn route(
    st: &mut State,
    base: &str,
    method: &Method,
    path: &str,
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &Option<Value>,
) -> Option<Answer> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(a) = listing::route(st, base, method, path, q, auth) {
        return Some(a);
    }
    if let Some(a) = merge_queue::route(st, base, method, path, q, auth) {
        return Some(a);
    }
    if let Some(a) = code_scanning::route(st, base, method, path, q, auth) {
        return Some(a);
    }
    if let Some(a) = compare::route(st, base, method, path, auth) {
        return Some(a);
    }
    if let Some(a) = web_flow::route(st, base, method, &segs, auth) {
        return Some(a);
    }
    if method == Method::POST && path == "/graphql" {
        return graphql::route(st, auth, body);
    }

    // App-level endpoints: JWT.
    match (method.as_str(), segs.as_slice()) {
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            if let Err(e) = verify_jwt(auth) {
                return Some(
                    (
                        StatusCode::UNAUTHORIZED,
                        json!({"message": e, "documentation_url": "https://docs.github.com/rest"}),
                    )
                        .into(),
                );
            }
            let Ok(id) = id.parse::<u64>() else {
                return Some(not_found().into());
            };
            if !st.installations.contains(&id) {
                return Some(not_found().into());
            }
            st.tokens_issued += 1;
            let token = format!("ghs_fake{}x{}", id, st.tokens_issued);
            st.tokens.insert(token.clone());
            return Some((StatusCode::CREATED, json!({
                "token": token, "expires_at": ts(Utc::now() + chrono::Duration::hours(1)),
                "permissions": {"checks": "write", "contents": "read", "pull_requests": "write", "members": "read", "metadata": "read", "statuses": "read"},
                "repository_selection": "all"
            })).into());
        }
        ("GET", ["app"]) => {
            if verify_jwt(auth).is_err() {
                return Some(bad_credentials());
            }
            return Some((StatusCode::OK, app_json(base, APP_ID)).into());
        }
        _ => {}
    }

    if let Some(a) = interactions::route(st, base, method, path, q, headers, body) {
        return Some(a);
    }
    let known = matches!(
        (method.as_str(), segs.as_slice()),
        ("GET", ["repos", _, _, "pulls", _])
            | ("GET", ["repos", _, _, "pulls", _, "files"])
            | ("GET", ["repos", _, _, "pulls", _, "reviews"])
            | ("GET", ["repos", _, _, "commits", _, "check-runs"])
            | ("GET", ["repos", _, _, "commits", _, "status"])
            | ("GET", ["repos", _, _, "contents", ..])
            | ("GET", ["repos", _, _, "git", "ref", "tags", ..])
            | ("GET", ["repos", _, _, "git", "tags", _])
            | ("GET", ["orgs", _, "teams", _, "memberships", _])
            | ("POST", ["repos", _, _, "check-runs"])
            | ("PATCH", ["repos", _, _, "check-runs", _])
            | ("GET", ["repos", _, _, "issues", _, "comments"])
            | ("POST", ["repos", _, _, "issues", _, "comments"])
            | ("PATCH", ["repos", _, _, "issues", "comments", _])
    );
    if !known {
        return None;
    }
    let token = auth.strip_prefix("Bearer ").unwrap_or("");
    if !st.tokens.contains(token) {
        return Some(bad_credentials());
    }

    let full = if segs.first() == Some(&"repos") && segs.len() > 2 {
        format!("{}/{}", segs[1], segs[2])
    } else {
        String::new()
    };
    let num = |s: &str| s.parse::<u64>().ok();

    Some(match (method.as_str(), segs.as_slice()) {
        ("GET", ["orgs", org, "teams", team, "memberships", user]) => {
            let key = (org.to_ascii_lowercase(), team.to_ascii_lowercase());
            let member = st
                .teams
                .get(&key)
                .is_some_and(|m| m.iter().any(|u| u.eq_ignore_ascii_case(user)));
            if member {
                (StatusCode::OK, json!({"url": format!("{base}/organizations/1/team/2/memberships/{user}"), "role": "member", "state": "active"})).into()
            } else {
                not_found().into()
            }
        }
        ("GET", ["repos", _, _, "pulls", n]) => {
            let Some(repo) = st.repos.get(&full) else {
                return Some(not_found().into());
            };
            let Some(p) = num(n).and_then(|n| repo.pulls.get(&n)) else {
                return Some(not_found().into());
            };
            let comments = repo.comments.iter().filter(|c| c.issue == p.number).count();
            (StatusCode::OK, pull_json(base, &full, repo.id, p, comments)).into()
        }
        ("GET", ["repos", _, _, "pulls", n, "files"]) => {
            let Some(p) = st
                .repos
                .get(&full)
                .and_then(|r| num(n).and_then(|n| r.pulls.get(&n)))
            else {
                return Some(not_found().into());
            };
            let items: Vec<Value> = p
                .files
                .iter()
                .take(3000)
                .enumerate()
                .map(|(i, f)| file_json(base, &full, &p.head_sha, i, f))
                .collect();
            paginate(base, path, q, items, |s, _| Value::Array(s))
        }
        ("GET", ["repos", _, _, "pulls", n, "reviews"]) => {
            let Some(p) = st
                .repos
                .get(&full)
                .and_then(|r| num(n).and_then(|n| r.pulls.get(&n)))
            else {
                return Some(not_found().into());
            };
            let items: Vec<Value> = p.reviews.iter().map(|r| json!({
                "id": r.id, "node_id": format!("PRR_{}", r.id), "user": user_json(base, &r.user, "User"),
                "body": "", "state": r.state,
                "html_url": format!("https://github.com/{full}/pull/{}#pullrequestreview-{}", p.number, r.id),
                "pull_request_url": format!("{base}/repos/{full}/pulls/{}", p.number),
                "_links": {"html": {"href": format!("https://github.com/{full}/pull/{}#pullrequestreview-{}", p.number, r.id)},
                           "pull_request": {"href": format!("{base}/repos/{full}/pulls/{}", p.number)}},
                "submitted_at": ts(r.submitted_at), "commit_id": r.commit_id, "author_association": "MEMBER"
            })).collect();
            paginate(base, path, q, items, |s, _| Value::Array(s))
        }
        ("GET", ["repos", _, _, "commits", sha, "check-runs"]) => {
            let Some(repo) = st.repos.get(&full) else {
                return Some(not_found().into());
            };
            let mut runs: Vec<&CheckRunRec> = repo
                .check_runs
                .iter()
                .filter(|r| r.head_sha == *sha)
                .collect();
            if let Some(name) = q.get("check_name") {
                runs.retain(|r| &r.name == name);
            }
            if let Some(app) = q.get("app_id").and_then(|a| a.parse::<u64>().ok()) {
                runs.retain(|r| r.app_id == app);
            }
            if q.get("filter").map(String::as_str) != Some("all") {
                // latest per (app, name)
                let mut latest: BTreeMap<(u64, String), &CheckRunRec> = BTreeMap::new();
                for r in runs {
                    let e = latest.entry((r.app_id, r.name.clone())).or_insert(r);
                    if r.id > e.id {
                        *e = r;
                    }
                }
                runs = latest.into_values().collect();
            }
            runs.sort_by_key(|r| std::cmp::Reverse(r.id));
            let items: Vec<Value> = runs
                .iter()
                .map(|r| check_run_json(base, &full, r))
                .collect();
            paginate(
                base,
                path,
                q,
                items,
                |s, total| json!({"total_count": total, "check_runs": s}),
            )
        }
        ("GET", ["repos", _, _, "commits", sha, "status"]) => {
            let Some(repo) = st.repos.get(&full) else {
                return Some(not_found().into());
            };
            let mut latest: BTreeMap<String, &StatusRec> = BTreeMap::new();
            for s in repo.statuses.iter().filter(|s| s.sha == *sha) {
                latest.insert(s.context.clone(), s);
            }
            let states: Vec<&str> = latest.values().map(|s| s.state.as_str()).collect();
            let overall = if states.iter().any(|s| *s == "failure" || *s == "error") {
                "failure"
            } else if states.is_empty() || states.contains(&"pending") {
                "pending"
            } else {
                "success"
            };
            let items: Vec<Value> = latest.values().map(|s| json!({
                "url": format!("{base}/repos/{full}/statuses/{sha}"), "avatar_url": null, "id": s.id, "node_id": format!("SC_{}", s.id),
                "state": s.state, "description": "", "target_url": null, "context": s.context,
                "created_at": "2026-11-27T10:00:00Z", "updated_at": "2026-11-27T10:00:00Z"
            })).collect();
            let repo_v = repo_json(base, &full, repo.id);
            let sha_s = sha.to_string();
            paginate(base, path, q, items, move |s, total| {
                json!({
                    "state": overall, "statuses": s, "sha": sha_s, "total_count": total, "repository": repo_v,
                    "commit_url": format!("{base}/repos/{full}/commits/{sha_s}"), "url": format!("{base}/repos/{full}/commits/{sha_s}/status")
                })
            })
        }
        ("GET", ["repos", _, _, "git", "ref", "tags", rest @ ..]) => {
            let tag = rest.iter().map(|s| decode(s)).collect::<Vec<_>>().join("/");
            let Some((commit, object)) = st.repos.get(&full).and_then(|r| r.tags.get(&tag)) else {
                return Some(not_found().into());
            };
            let (kind, sha) = match object {
                Some(o) => ("tag", o.clone()),
                None => ("commit", commit.clone()),
            };
            (
                StatusCode::OK,
                json!({
                    "ref": format!("refs/tags/{tag}"),
                    "node_id": format!("REF_{tag}"),
                    "url": format!("{base}/repos/{full}/git/refs/tags/{tag}"),
                    "object": {"type": kind, "sha": sha,
                               "url": format!("{base}/repos/{full}/git/{kind}s/{sha}")}
                }),
            )
                .into()
        }
        ("GET", ["repos", _, _, "git", "tags", sha]) => {
            let found = st.repos.get(&full).and_then(|r| {
                r.tags
                    .iter()
                    .find(|(_, (_, o))| o.as_deref() == Some(*sha))
                    .map(|(t, (c, _))| (t.clone(), c.clone()))
            });
            let Some((tag, commit)) = found else {
                return Some(not_found().into());
            };
            (StatusCode::OK, json!({
                "node_id": format!("TAG_{tag}"),
                "tag": tag,
                "sha": sha,
                "url": format!("{base}/repos/{full}/git/tags/{sha}"),
                "message": "release",
                "tagger": {"date": "2026-12-04T13:00:00Z", "email": "rel@example.com", "name": "rel-eng"},
                "object": {"type": "commit", "sha": commit,
                           "url": format!("{base}/repos/{full}/git/commits/{commit}")},
                "verification": {"verified": false, "reason": "unsigned", "signature": null,
                                 "payload": null, "verified_at": null}
            }))
                .into()
        }
        ("GET", ["repos", _, _, "contents", rest @ ..]) => {
            let Some(repo) = st.repos.get(&full) else {
                return Some(not_found().into());
            };
            let file_path = rest.iter().map(|s| decode(s)).collect::<Vec<_>>().join("/");
            let git_ref = q.get("ref").cloned().unwrap_or_else(|| "main".into());
            let Some(files) = repo.contents.get(&git_ref) else {
                return Some(not_found().into());
            };
            match files.get(&file_path) {
                Some(bytes) => {
                    let large = bytes.len() > 1024 * 1024;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
                    // GitHub wraps base64 content at 60 characters.
                    let wrapped: Vec<String> = b64
                        .as_bytes()
                        .chunks(60)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    let name = file_path
                        .rsplit('/')
                        .next()
                        .unwrap_or(&file_path)
                        .to_string();
                    (StatusCode::OK, json!({
                        "type": "file", "encoding": if large { "none" } else { "base64" }, "size": bytes.len(),
                        "name": name, "path": file_path, "content": if large { String::new() } else { wrapped.join("\n") + "\n" },
                        "sha": format!("{:040x}", bytes.len()),
                        "url": format!("{base}/repos/{full}/contents/{file_path}?ref={git_ref}"),
                        "git_url": format!("{base}/repos/{full}/git/blobs/{:040x}", bytes.len()),
                        "html_url": format!("https://github.com/{full}/blob/{git_ref}/{file_path}"),
                        "download_url": format!("https://raw.githubusercontent.com/{full}/{git_ref}/{file_path}"),
                        "_links": {"self": format!("{base}/repos/{full}/contents/{file_path}?ref={git_ref}"),
                                   "git": format!("{base}/repos/{full}/git/blobs/{:040x}", bytes.len()),
                                   "html": format!("https://github.com/{full}/blob/{git_ref}/{file_path}")}
                    })).into()
                }
                None => {
                    let prefix = format!("{file_path}/");
                    let entries: Vec<Value> = files.keys().filter(|k| k.starts_with(&prefix)).map(|k| json!({
                        "type": "file", "size": 1, "name": k, "path": k, "sha": "0", "url": "", "git_url": null, "html_url": null, "download_url": null,
                        "_links": {"self": "", "git": null, "html": null}
                    })).collect();
                    if entries.is_empty() {
                        not_found().into()
                    } else {
                        (StatusCode::OK, Value::Array(entries)).into()
                    }
                }
            }
        }
        ("POST", ["repos", _, _, "check-runs"]) => {
            let Some(body) = body else {
                return Some(
                    (
                        StatusCode::BAD_REQUEST,
                        json!({"message": "Problems parsing JSON"}),
                    )
                        .into(),
                );
            };
            let (Some(name), Some(head_sha)) = (
                body.get("name").and_then(Value::as_str),
                body.get("head_sha").and_then(Value::as_str),
            ) else {
                return Some(unprocessable("name and head_sha are required").into());
            };
            if let Err(e) = validate_run_body(body) {
                return Some(unprocessable(&e).into());
            }
            let id = st.id();
            let mut run = CheckRunRec {
                id,
                app_id: if st.workflow_tokens.contains(token) {
                    ACTIONS_APP_ID
                } else {
                    APP_ID
                },
                name: name.to_string(),
                head_sha: head_sha.to_string(),
                status: "queued".into(),
                conclusion: None,
                external_id: None,
                details_url: None,
                started_at: Utc::now(),
                completed_at: None,
                title: None,
                summary: None,
                text: None,
                annotations: Vec::new(),
                actions: Vec::new(),
            };
            apply_run_body(&mut run, body);
            let v = check_run_json(base, &full, &run);
            st.repo(&full).check_runs.push(run);
            (StatusCode::CREATED, v).into()
        }
        ("PATCH", ["repos", _, _, "check-runs", id]) => {
            let Some(body) = body else {
                return Some(
                    (
                        StatusCode::BAD_REQUEST,
                        json!({"message": "Problems parsing JSON"}),
                    )
                        .into(),
                );
            };
            if let Err(e) = validate_run_body(body) {
                return Some(unprocessable(&e).into());
            }
            let id = num(id);
            let Some(repo) = st.repos.get_mut(&full) else {
                return Some(not_found().into());
            };
            let Some(run) = repo
                .check_runs
                .iter_mut()
                .find(|r| Some(r.id) == id && r.app_id == APP_ID)
            else {
                return Some(not_found().into());
            };
            apply_run_body(run, body);
            let v = check_run_json(base, &full, run);
            (StatusCode::OK, v).into()
        }
        ("GET", ["repos", _, _, "issues", n, "comments"]) => {
            let Some(repo) = st.repos.get(&full) else {
                return Some(not_found().into());
            };
            let n = num(n);
            let items: Vec<Value> = repo
                .comments
                .iter()
                .filter(|c| Some(c.issue) == n)
                .map(|c| comment_json(base, &full, c))
                .collect();
            paginate(base, path, q, items, |s, _| Value::Array(s))
        }
        ("POST", ["repos", _, _, "issues", n, "comments"]) => {
            let Some(text) = body
                .as_ref()
                .and_then(|b| b.get("body"))
                .and_then(Value::as_str)
            else {
                return Some(unprocessable("body is required").into());
            };
            if text.chars().count() > 65536 {
                return Some(
                    unprocessable("Body is too long (maximum is 65536 characters)").into(),
                );
            }
            let Some(n) = num(n) else {
                return Some(not_found().into());
            };
            if !st
                .repos
                .get(&full)
                .is_some_and(|r| r.pulls.contains_key(&n))
            {
                return Some(not_found().into());
            }
            let id = st.id();
            let c = CommentRec {
                id,
                issue: n,
                user: if st.workflow_tokens.contains(token) {
                    "github-actions[bot]".to_string()
                } else {
                    format!("{APP_SLUG}[bot]")
                },
                user_type: "Bot".into(),
                body: text.to_string(),
                created_at: Utc::now(),
                updated_at: Utc::now(),
            };
            let v = comment_json(base, &full, &c);
            st.repo(&full).comments.push(c);
            (StatusCode::CREATED, v).into()
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            let Some(text) = body
                .as_ref()
                .and_then(|b| b.get("body"))
                .and_then(Value::as_str)
            else {
                return Some(unprocessable("body is required").into());
            };
            if text.chars().count() > 65536 {
                return Some(
                    unprocessable("Body is too long (maximum is 65536 characters)").into(),
                );
            }
            let id = num(id);
            let Some(repo) = st.repos.get_mut(&full) else {
                return Some(not_found().into());
            };
            let Some(c) = repo.comments.iter_mut().find(|c| Some(c.id) == id) else {
                return Some(not_found().into());
            };
            if c.user != format!("{APP_SLUG}[bot]") {
                return Some(
                    (
                        StatusCode::FORBIDDEN,
                        json!({"message": "Resource not accessible by integration"}),
                    )
                        .into(),
                );
            }
            c.body = text.to_string();
            c.updated_at = Utc::now();
            let v = comment_json(base, &full, c);
            (StatusCode::OK, v).into()
        }
        _ => return None,
    })
}

fn to_response(a: Answer) -> Response {
    let mut resp = (a.status, a.body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
    for (k, v) in a.headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::try_from(k),
            HeaderValue::from_str(&v),
        ) {
            h.insert(k, v);
        }
    }
    resp
}

fn fault_answer(kind: &FaultKind) -> Option<Answer> {
    let now = Utc::now().timestamp();
    Some(match kind {
        FaultKind::Status(s) | FaultKind::Random { status: s, .. } => Answer {
            status: StatusCode::from_u16(*s).unwrap_or(StatusCode::BAD_GATEWAY),
            body: json!({"message": "Server Error"}),
            headers: vec![],
        },
        FaultKind::PrimaryRateLimit { reset_in } => Answer {
            status: StatusCode::FORBIDDEN,
            body: json!({"message": "API rate limit exceeded for installation ID 777.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api", "status": "403"}),
            headers: vec![
                ("x-ratelimit-limit".into(), "5000".into()),
                ("x-ratelimit-remaining".into(), "0".into()),
                ("x-ratelimit-used".into(), "5000".into()),
                ("x-ratelimit-reset".into(), (now + reset_in).to_string()),
            ],
        },
        FaultKind::TooManyRequests { retry_after } => Answer {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: json!({"message": "Too Many Requests"}),
            headers: vec![("retry-after".into(), retry_after.to_string())],
        },
        FaultKind::SecondaryRateLimit { retry_after } => Answer {
            status: StatusCode::FORBIDDEN,
            body: json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits", "status": "403"}),
            headers: vec![("retry-after".into(), retry_after.to_string())],
        },
        FaultKind::Unauthorized => bad_credentials(),
        FaultKind::BadBody => Answer {
            status: StatusCode::OK,
            body: Value::String("<html>upstream proxy error</html>".into()),
            headers: vec![],
        },
        FaultKind::Delay(_) | FaultKind::StatusAfterApply(_) => return None,
    })
}

async fn handle(
    state: Arc<Mutex<State>>,
    base: String,
    prefix: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The OAuth web flow lives on the host itself (github.com, or GHES without `/api/v3`).
    if uri.path().starts_with("/login/oauth/") {
        return web_flow::handle(&state, &method, &uri, &headers, &body);
    }
    // GitHub Enterprise Server serves the API under `/api/v3`; a request without the prefix
    // is unknown there.
    let path = match uri.path().strip_prefix(prefix.as_str()) {
        Some(rest) if rest.starts_with('/') || prefix.is_empty() => rest.to_string(),
        _ => format!("/missing-prefix{}", uri.path()),
    };
    let query = uri.query().unwrap_or("").to_string();
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };

    // Faults first (delays outside the lock).
    let fault = {
        let mut st = lock(&state);
        // Taken out for the call, so that `roll` may borrow the state.
        let mut faults = std::mem::take(&mut st.faults);
        let chosen = take_fault(&mut faults, &method, &path, || st.roll());
        st.faults = faults;
        chosen
    };
    if let Some(FaultKind::Delay(d)) = &fault {
        tokio::time::sleep(*d).await;
    }

    // A GraphQL query is held to GitHub's GraphQL schema (checked once per query text, outside
    // the lock: the first check loads the schema).
    let graphql_violation = match (&method, path.as_str(), &json_body) {
        (&Method::POST, "/graphql", Some(b)) => {
            let text = b
                .get("query")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            tokio::task::spawn_blocking(move || graphql::validate(&text).err())
                .await
                .unwrap_or_else(|e| Some(format!("the schema check panicked: {e}")))
        }
        _ => None,
    };

    let mut st = lock(&state);
    if let Some(v) = graphql_violation {
        st.violations.push(format!("{method} {path}: {v}"));
    }
    let q = query_pairs(&query);
    let answer = match fault.as_ref().and_then(fault_answer) {
        Some(a) => Some(a),
        None => {
            let a = route(&mut st, &base, &method, &path, &q, &headers, &json_body);
            match (&fault, a) {
                (Some(FaultKind::StatusAfterApply(s)), Some(_)) => Some(Answer {
                    status: StatusCode::from_u16(*s).unwrap_or(StatusCode::BAD_GATEWAY),
                    body: json!({"message": "Server Error"}),
                    headers: vec![],
                }),
                (_, a) => a,
            }
        }
    };
    // Conditional GETs, as GitHub answers them: every 200 answer to a GET carries a (weak)
    // `ETag` of its body and headers, and a GET whose `If-None-Match` names the current one
    // gets `304 Not Modified` with an empty body (not counted against the rate limit).
    let mut not_modified = None;
    let answer = match answer {
        Some(mut a)
            if method == Method::GET && a.status == StatusCode::OK && !a.body.is_string() =>
        {
            let tag = etag_of(&a);
            if if_none_match(&headers, &tag) {
                not_modified = Some(tag);
            } else {
                a.headers.push(("etag".into(), tag));
            }
            Some(a)
        }
        a => a,
    };
    let call = Call {
        method: method.to_string(),
        path: path.clone(),
        query,
        body: json_body,
        status: if not_modified.is_some() {
            304
        } else {
            answer.as_ref().map_or(599, |a| a.status.as_u16())
        },
    };
    st.journal.push(call.clone());
    // Held to GitHub's REST description: the request, and the answer when it is JSON.
    let answer_json = answer
        .as_ref()
        .map(|a| &a.body)
        .filter(|b| !b.is_string() && not_modified.is_none());
    // GraphQL is not in the REST description; its query is checked above.
    let found = if call.path == "/graphql" {
        Vec::new()
    } else {
        openapi::violations(
            &call.method,
            &call.path,
            &call.query,
            call.body.as_ref(),
            call.status,
            answer_json,
        )
    };
    st.violations
        .extend(found.into_iter().map(|v| format!("{}: {v}", call.line())));
    if let Some(tag) = not_modified {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&tag) {
            resp.headers_mut().insert("etag", v);
        }
        return resp;
    }
    match answer {
        Some(a) => {
            if let Value::String(raw) = &a.body
                && a.status == StatusCode::OK
            {
                return (StatusCode::OK, raw.clone()).into_response();
            }
            to_response(a)
        }
        None => {
            st.unknown.push(call);
            (
                StatusCode::from_u16(599).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                format!("{{\"message\":\"fake GitHub does not know {method} {path}\"}}"),
            )
                .into_response()
        }
    }
}

/// A weak `ETag` (as GitHub sends for JSON) of an answer's body and headers (`Link`).
fn etag_of(a: &Answer) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    a.body.to_string().hash(&mut h);
    a.headers.hash(&mut h);
    format!("W/\"{:016x}\"", h.finish())
}

/// Whether the request's `If-None-Match` names `tag` (weak comparison, RFC 9110 13.1.2).
fn if_none_match(headers: &HeaderMap, tag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let want = strip(tag);
    headers
        .get_all("if-none-match")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || strip(t) == want)
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl FakeGithub {
    /// Starts the fake on a free loopback port, with the test App installed as
    /// [`INSTALLATION`].
    pub async fn start() -> FakeGithub {
        FakeGithub::start_at("").await
    }

    /// Starts the fake serving the API under `prefix` (`/api/v3`, as GitHub Enterprise
    /// Server does); [`FakeGithub::url`] includes the prefix.
    pub async fn start_at(prefix: &str) -> FakeGithub {
        // GitHub's REST description is large: read it before serving, not on the first
        // request (a client's timeout would expire).
        let _ = tokio::task::spawn_blocking(|| openapi::description().is_ok()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let url = format!("http://{addr}{prefix}");
        let prefix = prefix.to_string();
        let state = Arc::new(Mutex::new(State {
            rng: 0x9E37_79B9_7F4A_7C15,
            ..State::default()
        }));
        lock(&state).installations.insert(INSTALLATION);
        let st = state.clone();
        let base = url.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let st = st.clone();
                let base = base.clone();
                let prefix = prefix.clone();
                async move { handle(st, base, prefix, method, uri, headers, body).await }
            },
        );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGithub { url, state, server }
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

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Revokes every token issued so far (the next API call answers 401).
    pub fn revoke_tokens(&self) {
        self.state().tokens.clear();
    }

    /// The journal length, to count requests from here on.
    pub fn mark(&self) -> usize {
        self.state().journal.len()
    }

    /// Requests since `mark`.
    pub fn calls_since(&self, mark: usize) -> Vec<Call> {
        self.state().journal[mark..].to_vec()
    }

    /// Requests since `mark` that GitHub counts against the installation's rate limits: every
    /// one but the `304 Not Modified` answers to conditional GETs, and but the installation
    /// token requests (made with the App's JWT, not the installation's token). GraphQL
    /// queries are in it (GitHub counts them in GraphQL's own points budget; see
    /// [`Self::rest_counted_since`] and [`Self::graphql_since`]).
    pub fn counted_since(&self, mark: usize) -> Vec<Call> {
        self.calls_since(mark)
            .into_iter()
            .filter(|c| c.status != 304 && !c.path.ends_with("/access_tokens"))
            .collect()
    }

    /// Of [`Self::counted_since`], the REST requests (GitHub's primary limit of 5,000 requests
    /// an hour per installation).
    pub fn rest_counted_since(&self, mark: usize) -> Vec<Call> {
        self.counted_since(mark)
            .into_iter()
            .filter(|c| c.path != "/graphql")
            .collect()
    }

    /// GraphQL queries since `mark` (GitHub counts them against GraphQL's own budget of
    /// 5,000 points an hour; each of the fake's answers costs 1 point).
    pub fn graphql_since(&self, mark: usize) -> Vec<Call> {
        self.calls_since(mark)
            .into_iter()
            .filter(|c| c.path == "/graphql")
            .collect()
    }

    /// Requests since `mark` answered `304 Not Modified`.
    pub fn not_modified_since(&self, mark: usize) -> usize {
        self.calls_since(mark)
            .iter()
            .filter(|c| c.status == 304)
            .count()
    }

    /// Every request so far.
    pub fn journal(&self) -> Vec<Call> {
        self.state().journal.clone()
    }

    /// Fails the test when a request or an answer so far is one GitHub's REST description
    /// rejects (also checked when the fake is dropped).
    pub fn assert_conforms(&self) {
        let found = std::mem::take(&mut self.state().violations);
        assert!(
            found.is_empty(),
            "{} exchange(s) with the fake GitHub break GitHub's REST description:\n{}",
            found.len(),
            found.join("\n")
        );
    }

    /// Takes the violations so far (for tests that provoke them on purpose).
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut self.state().violations)
    }

    /// Fails the test when a request hit a route the fake does not know, or broke GitHub's
    /// REST description.
    pub fn assert_no_unknown(&self) {
        self.assert_conforms();
        let unknown = self.state().unknown.clone();
        assert!(
            unknown.is_empty(),
            "the client sent requests the fake GitHub does not know:\n{}",
            unknown
                .iter()
                .map(Call::line)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Check runs on `sha` of `repo` named `name` (all apps).
    pub fn check_runs(&self, repo: &str, sha: &str, name: &str) -> Vec<CheckRunRec> {
        self.state()
            .repos
            .get(repo)
            .map(|r| {
                r.check_runs
                    .iter()
                    .filter(|c| c.head_sha == sha && c.name == name)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Comments on issue/PR `n` of `repo`.
    pub fn comments(&self, repo: &str, n: u64) -> Vec<CommentRec> {
        self.state()
            .repos
            .get(repo)
            .map(|r| {
                r.comments
                    .iter()
                    .filter(|c| c.issue == n)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Builder for a pull request and its repository state.
pub struct PullBuilder {
    pub repo: String,
    pub pull: PullRec,
}

/// A 40-hex sha from a seed.
pub fn sha(seed: u64) -> String {
    format!("{seed:040x}")
}

/// The fake's test merge commit of `head` into `base`: 40 hex digits derived from both, so
/// it changes when either moves, as GitHub's `merge_commit_sha` does.
pub fn test_merge_sha(base: &str, head: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("merge {base} {head}").as_bytes());
    let mut hex = hex::encode(digest);
    hex.truncate(40);
    hex
}

impl PullBuilder {
    /// PR `number` by `author` on `repo`, head `head_sha`, base `main`.
    pub fn new(repo: &str, number: u64, author: &str, head_sha: &str) -> Self {
        PullBuilder {
            repo: repo.to_string(),
            pull: PullRec {
                number,
                title: format!("Change {number}"),
                body: Some(String::new()),
                author: author.to_string(),
                labels: Vec::new(),
                draft: false,
                state: "open".into(),
                head_sha: head_sha.to_string(),
                head_ref: format!("feature-{number}"),
                head_repo: None,
                base_ref: "main".into(),
                base_sha: sha(0xba5e),
                files: Vec::new(),
                reviews: Vec::new(),
            },
        }
    }

    /// A modified file with a two-line addition at line `at`.
    pub fn file(mut self, path: &str) -> Self {
        self.pull.files.push(FileRec {
            filename: path.to_string(),
            status: "modified".into(),
            previous_filename: None,
            patch: Some("@@ -1,2 +1,4 @@\n ctx\n+added one\n+added two\n ctx".into()),
        });
        self
    }

    /// A review.
    pub fn review(mut self, user: &str, state: &str, commit: &str) -> Self {
        let id = 70_000 + self.pull.reviews.len() as u64;
        self.pull.reviews.push(ReviewRec {
            id,
            user: user.to_string(),
            state: state.to_string(),
            commit_id: commit.to_string(),
            submitted_at: Utc::now(),
        });
        self
    }

    /// Stores the pull request in the fake.
    pub fn install(self, fake: &FakeGithub) {
        let mut st = fake.state();
        st.repo(&self.repo)
            .pulls
            .insert(self.pull.number, self.pull);
    }
}

impl FakeGithub {
    /// Puts `text` at `path` on `git_ref` of `repo`.
    pub fn put_file(&self, repo: &str, git_ref: &str, path: &str, text: &[u8]) {
        self.state()
            .repo(repo)
            .contents
            .entry(git_ref.to_string())
            .or_default()
            .insert(path.to_string(), text.to_vec());
    }

    /// Tag `tag` on `commit`, annotated (through a tag object) or lightweight.
    pub fn tag(&self, repo: &str, tag: &str, commit: &str, annotated: bool) {
        let object = annotated.then(|| format!("{:040x}", tag.len() as u64 * 7919 + 1));
        self.state()
            .repo(repo)
            .tags
            .insert(tag.to_string(), (commit.to_string(), object));
    }

    /// A merge queue group of `repo`: `commits` (oldest first, the last is the group's head)
    /// on top of `base_sha`, changing `files` (modified) relative to it.
    pub fn merge_group(&self, repo: &str, base_sha: &str, commits: &[&str], files: &[&str]) {
        let head = commits.last().map(|c| (*c).to_owned()).unwrap_or_default();
        let group = merge_queue::GroupRec {
            base_sha: base_sha.to_owned(),
            head_sha: head.clone(),
            commits: commits.iter().map(|c| (*c).to_owned()).collect(),
            files: files
                .iter()
                .map(|f| FileRec {
                    filename: (*f).to_owned(),
                    status: "modified".into(),
                    previous_filename: None,
                    patch: None,
                })
                .collect(),
        };
        let mut st = self.state();
        st.repo(repo);
        st.merge_groups.insert((repo.to_owned(), head), group);
    }

    /// A check run of another App (CI) on `sha`.
    pub fn ci_run(
        &self,
        repo: &str,
        sha: &str,
        name: &str,
        status: &str,
        conclusion: Option<&str>,
    ) {
        let mut st = self.state();
        let id = st.id();
        st.repo(repo).check_runs.push(CheckRunRec {
            id,
            app_id: ACTIONS_APP_ID,
            name: name.to_string(),
            head_sha: sha.to_string(),
            status: status.to_string(),
            conclusion: conclusion.map(str::to_string),
            external_id: None,
            details_url: None,
            started_at: Utc::now(),
            completed_at: conclusion.map(|_| Utc::now()),
            title: None,
            summary: None,
            text: None,
            annotations: Vec::new(),
            actions: Vec::new(),
        });
    }

    /// A commit status on `sha`.
    pub fn status(&self, repo: &str, sha: &str, context: &str, state: &str) {
        let mut st = self.state();
        let id = st.id();
        st.repo(repo).statuses.push(StatusRec {
            id,
            sha: sha.to_string(),
            context: context.to_string(),
            state: state.to_string(),
        });
    }

    /// Makes `logins` active members of `org/team`.
    pub fn team(&self, org: &str, team: &str, logins: &[&str]) {
        self.state()
            .teams
            .entry((org.to_ascii_lowercase(), team.to_ascii_lowercase()))
            .or_default()
            .extend(logins.iter().map(|s| s.to_string()));
    }

    /// A comment by a human (or anyone) on PR `n`.
    pub fn human_comment(&self, repo: &str, n: u64, user: &str, body: &str) {
        let mut st = self.state();
        let id = st.id();
        st.repo(repo).comments.push(CommentRec {
            id,
            issue: n,
            user: user.to_string(),
            user_type: "User".into(),
            body: body.to_string(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        });
    }
}
