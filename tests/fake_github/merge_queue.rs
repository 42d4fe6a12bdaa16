//! Merge queue routes of the fake GitHub:
//!
//! - `GET /repos/{o}/{r}/compare/{base}...{head}` — `commit-comparison` for a merge group the
//!   test declared with [`FakeGithub::merge_group`](super::FakeGithub::merge_group): its
//!   commits (oldest first) and the files the group changes; any other range is `404`.
//!
//! The pull requests a group's commits head are found by the listing route
//! `GET /repos/{o}/{r}/commits/{sha}/pulls`, as on GitHub.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Answer, FileRec, State, bad_credentials};

/// A merge group: the queue's temporary commit on top of `base_sha`.
#[derive(Debug, Clone, Default)]
pub struct GroupRec {
    pub base_sha: String,
    pub head_sha: String,
    /// The commits from base to head, oldest first (the last is `head_sha`).
    pub commits: Vec<String>,
    /// What the group changes relative to `base_sha`.
    pub files: Vec<FileRec>,
}

fn commit_json(base: &str, full: &str, sha: &str, message: &str) -> Value {
    let person =
        json!({"name": "Mona Lisa", "email": "mona@example.com", "date": "2026-11-20T10:00:00Z"});
    json!({
        "url": format!("{base}/repos/{full}/commits/{sha}"),
        "sha": sha,
        "node_id": format!("C_{sha}"),
        "html_url": format!("https://github.com/{full}/commit/{sha}"),
        "comments_url": format!("{base}/repos/{full}/commits/{sha}/comments"),
        "commit": {
            "url": format!("{base}/repos/{full}/git/commits/{sha}"),
            "author": person,
            "committer": person,
            "message": message,
            "comment_count": 0,
            "tree": {"sha": sha, "url": format!("{base}/repos/{full}/git/trees/{sha}")}
        },
        "author": null,
        "committer": null,
        "parents": []
    })
}

/// Answers a merge queue route, or `None` when `path` is not one (the caller goes on).
pub(super) fn route(
    st: &mut State,
    base: &str,
    method: &Method,
    path: &str,
    _q: &BTreeMap<String, String>,
    auth: &str,
) -> Option<Answer> {
    if method != Method::GET {
        return None;
    }
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["repos", owner, name, "compare", range] = segs.as_slice() else {
        return None;
    };
    let full = format!("{owner}/{name}");
    let (from, to) = range.split_once("...")?;
    // Not a merge group's range: the pull-request compare route (`compare.rs`) answers it.
    let group = st
        .merge_groups
        .get(&(full.clone(), to.to_owned()))
        .filter(|g| g.base_sha == from)?;
    if !super::listing::token_ok(st, auth) {
        return Some(bad_credentials());
    }
    let commits: Vec<Value> = group
        .commits
        .iter()
        .enumerate()
        .map(|(i, c)| commit_json(base, &full, c, &format!("commit {i}")))
        .collect();
    let files: Vec<Value> = group
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut v = json!({
                "sha": format!("{:040x}", i + 1), "filename": f.filename, "status": f.status,
                "additions": 1, "deletions": 0, "changes": 1,
                "blob_url": format!("https://github.com/{full}/blob/{to}/{}", f.filename),
                "raw_url": format!("https://github.com/{full}/raw/{to}/{}", f.filename),
                "contents_url": format!("{base}/repos/{full}/contents/{}?ref={to}", f.filename)
            });
            if let Some(prev) = &f.previous_filename {
                v["previous_filename"] = json!(prev);
            }
            v
        })
        .collect();
    let base_commit = commit_json(base, &full, from, "base");
    Some(
        (
            StatusCode::OK,
            json!({
                "url": format!("{base}/repos/{full}/compare/{range}"),
                "html_url": format!("https://github.com/{full}/compare/{range}"),
                "permalink_url": format!("https://github.com/{full}/compare/{range}"),
                "diff_url": format!("https://github.com/{full}/compare/{range}.diff"),
                "patch_url": format!("https://github.com/{full}/compare/{range}.patch"),
                "base_commit": base_commit,
                "merge_base_commit": base_commit,
                "status": "ahead",
                "ahead_by": commits.len(),
                "behind_by": 0,
                "total_commits": commits.len(),
                "commits": commits,
                "files": files
            }),
        )
            .into(),
    )
}
