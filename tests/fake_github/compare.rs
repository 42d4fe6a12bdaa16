//! `GET /repos/{o}/{r}/compare/{base}...{head}`: the change's files at a commit, as GitHub's
//! `commit-comparison` (its `files[]` are the diff from where the commit left the base, which
//! sdl-gate reads to tell whether an approval of an earlier commit has the head's patch).
//!
//! The head may be a commit recorded with [`FakeGithub::commit_files`] or the head of an open
//! pull request (its files); anything else is 404, as GitHub answers for a commit it does
//! not have.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::listing::token_ok;
use super::{Answer, FakeGithub, FileRec, State, bad_credentials, file_json, not_found};

/// The `commit` schema with the fields GitHub requires (author and committer unlinked).
fn commit_json(base: &str, full: &str, sha: &str) -> Value {
    json!({
        "url": format!("{base}/repos/{full}/commits/{sha}"),
        "sha": sha,
        "node_id": format!("C_{sha}"),
        "html_url": format!("https://github.com/{full}/commit/{sha}"),
        "comments_url": format!("{base}/repos/{full}/commits/{sha}/comments"),
        "commit": {
            "author": null,
            "committer": null,
            "comment_count": 0,
            "message": "change",
            "tree": {"sha": sha, "url": format!("{base}/repos/{full}/git/trees/{sha}")},
            "url": format!("{base}/repos/{full}/git/commits/{sha}")
        },
        "author": null,
        "committer": null,
        "parents": []
    })
}

/// Answers the compare route, or `None` when `path` is not it.
pub(super) fn route(
    st: &mut State,
    base: &str,
    method: &Method,
    path: &str,
    auth: &str,
) -> Option<Answer> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["repos", owner, name, "compare", basehead] = segs.as_slice() else {
        return None;
    };
    if method != Method::GET {
        return None;
    }
    if !token_ok(st, auth) {
        return Some(bad_credentials());
    }
    let full = format!("{owner}/{name}");
    let Some(repo) = st.repos.get(&full) else {
        return Some(not_found().into());
    };
    let Some((base_ref, head)) = basehead.split_once("...") else {
        return Some(not_found().into());
    };
    let files: Option<&Vec<FileRec>> = repo.commits.get(head).or_else(|| {
        repo.pulls
            .values()
            .find(|p| p.head_sha == head && p.base_ref == base_ref)
            .map(|p| &p.files)
    });
    let Some(files) = files else {
        return Some(not_found().into());
    };
    let files: Vec<Value> = files
        .iter()
        .take(300)
        .enumerate()
        .map(|(i, f)| file_json(base, &full, head, i, f))
        .collect();
    let merge_base = format!("{:040x}", 0xba5e);
    Some(
        (
            StatusCode::OK,
            json!({
                "url": format!("{base}/repos/{full}/compare/{basehead}"),
                "html_url": format!("https://github.com/{full}/compare/{basehead}"),
                "permalink_url": format!("https://github.com/{full}/compare/{merge_base}...{head}"),
                "diff_url": format!("https://github.com/{full}/compare/{basehead}.diff"),
                "patch_url": format!("https://github.com/{full}/compare/{basehead}.patch"),
                "base_commit": commit_json(base, &full, &merge_base),
                "merge_base_commit": commit_json(base, &full, &merge_base),
                "status": "ahead",
                "ahead_by": 1,
                "behind_by": 0,
                "total_commits": 1,
                "commits": [commit_json(base, &full, head)],
                "files": files
            }),
        )
            .into(),
    )
}

impl FakeGithub {
    /// Records the change's files at `commit` of `repo` (an earlier head of a pull request),
    /// for the compare route.
    pub fn commit_files(&self, repo: &str, commit: &str, files: Vec<FileRec>) {
        self.state()
            .repo(repo)
            .commits
            .insert(commit.to_string(), files);
    }
}
