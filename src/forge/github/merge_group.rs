//! What a merge queue's group needs from GitHub beyond a pull request's reads: the group's
//! diff and commits (`GET /repos/{o}/{r}/compare/{base}...{head}`) and the paths a pull
//! request changes (`GET /repos/{o}/{r}/pulls/{n}/files`). Both say when GitHub's answer may
//! be cut short, so the caller can fail closed instead of judging half a list.

use http::Method;
use serde::Deserialize;

use crate::snapshot::Sha;

use super::http::encode;
use super::{GithubForge, model, split_repo};
use crate::forge::ForgeError;

/// GitHub's compare lists at most this many files.
pub const COMPARE_FILES_MAX: usize = 300;
/// GitHub lists at most this many files of a pull request.
const PULL_FILES_MAX: usize = 3_000;

/// A merge group's diff as GitHub's compare shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupDiff {
    /// The commits between base and head, oldest first (at most the first 100).
    pub commits: Vec<Sha>,
    /// True when `commits` holds every commit of the range.
    pub all_commits: bool,
    /// The paths changed (new names, and previous names of renames); `None` when GitHub may
    /// have cut the list (it lists at most [`COMPARE_FILES_MAX`]).
    pub files: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct CompareCommit {
    sha: String,
}

#[derive(Debug, Deserialize)]
struct Compare {
    #[serde(default)]
    total_commits: Option<u64>,
    #[serde(default)]
    commits: Vec<CompareCommit>,
    #[serde(default)]
    files: Option<Vec<model::PullFile>>,
}

fn paths(files: Vec<model::PullFile>) -> Vec<String> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        if let Some(previous) = f.previous_filename {
            out.push(previous);
        }
        out.push(f.filename);
    }
    out
}

fn check_sha(sha: &Sha) -> Result<(), ForgeError> {
    if sha.as_str().is_empty() || !sha.as_str().bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ForgeError::Config {
            what: format!("`{}` is not a commit sha", sha.as_str()),
        });
    }
    Ok(())
}

impl GithubForge {
    /// The diff of `base...head` in `repository`: its commits and changed paths.
    pub async fn compare(
        &self,
        installation: u64,
        repository: &str,
        base: &Sha,
        head: &Sha,
    ) -> Result<GroupDiff, ForgeError> {
        let (owner, repo) = split_repo(repository)?;
        check_sha(base)?;
        check_sha(head)?;
        let (o, r) = (encode(owner), encode(repo));
        let path = format!(
            "/repos/{o}/{r}/compare/{}...{}?per_page=100",
            base.as_str(),
            head.as_str()
        );
        let what = format!(
            "GET /repos/{o}/{r}/compare/{}...{}",
            base.as_str(),
            head.as_str()
        );
        let compare: Compare = self
            .http
            .call(installation, Method::GET, &path, None, &what)
            .await?
            .json(&what)?;
        let all_commits = compare
            .total_commits
            .is_some_and(|t| t as usize <= compare.commits.len());
        Ok(GroupDiff {
            commits: compare.commits.iter().map(|c| Sha::new(&c.sha)).collect(),
            all_commits,
            files: compare
                .files
                .filter(|f| f.len() < COMPARE_FILES_MAX)
                .map(paths),
        })
    }

    /// The paths pull request `number` changes (new names, and previous names of renames);
    /// `None` when GitHub may have cut the list.
    pub async fn pull_paths(
        &self,
        installation: u64,
        repository: &str,
        number: u64,
    ) -> Result<Option<Vec<String>>, ForgeError> {
        let (owner, repo) = split_repo(repository)?;
        let (o, r) = (encode(owner), encode(repo));
        let path = format!("/repos/{o}/{r}/pulls/{number}/files?per_page=100");
        let what = format!("GET /repos/{o}/{r}/pulls/{number}/files");
        let (files, cut) = self
            .http
            .pages_bounded(installation, &path, PULL_FILES_MAX / 100, &what, |reply| {
                reply.json::<Vec<model::PullFile>>(&what)
            })
            .await?;
        if cut || files.len() >= PULL_FILES_MAX {
            return Ok(None);
        }
        Ok(Some(paths(files)))
    }
}
