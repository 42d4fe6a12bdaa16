//! Listings the service needs beyond one pull request: which open pull requests a commit
//! heads, a repository's open pull requests, the App's installations and their
//! repositories, and whether a head commit already has a completed `sdl-gate` run. They feed
//! the fan-out of `status` and `push` events and the periodic reconciliation (GitHub does not
//! redeliver failed webhooks).
//!
//! | request | used for |
//! | --- | --- |
//! | `GET /repos/{o}/{r}/commits/{sha}/pulls` | a `status` event → the open pull requests whose head is `sha` |
//! | `GET /repos/{o}/{r}/pulls?state=open&per_page=100` | a policy change on the default branch, reconciliation |
//! | `GET /app/installations?per_page=100` (App JWT) | reconciliation |
//! | `GET /installation/repositories?per_page=100` | reconciliation, a new installation |
//! | `GET /repos/{o}/{r}/commits/{sha}/check-runs?check_name=sdl-gate` | reconciliation: is the head evaluated? |

use http::Method;
use serde::Deserialize;

use crate::forge::ForgeError;
use crate::snapshot::Sha;

use super::http::encode;
use super::model;
use super::{CHECK_NAME, GithubForge, split_repo};

/// An open pull request as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPull {
    /// Its number.
    pub number: u64,
    /// Its head commit.
    pub head_sha: Sha,
    /// Whether it is a draft.
    pub draft: bool,
}

/// One App installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationRef {
    /// The installation id.
    pub id: u64,
    /// The account it is installed on (organisation or user login), empty when unknown.
    pub account: String,
    /// Whether GitHub suspended it (a suspended installation gets no tokens).
    pub suspended: bool,
}

/// A page of open pull requests, and whether more were left unlisted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullListing {
    /// The open pull requests, newest first, at most the asked maximum.
    pub pulls: Vec<OpenPull>,
    /// True when the repository has more open pull requests than were listed.
    pub truncated: bool,
}

/// `pull-request-simple`, only what a listing needs.
#[derive(Debug, Deserialize)]
struct SimplePull {
    number: u64,
    state: String,
    head: model::GitRef,
    #[serde(default)]
    draft: Option<bool>,
}

impl SimplePull {
    fn open(self) -> Option<OpenPull> {
        (self.state == "open").then(|| OpenPull {
            number: self.number,
            head_sha: Sha::new(self.head.sha),
            draft: self.draft.unwrap_or(false),
        })
    }
}

#[derive(Debug, Deserialize)]
struct Installation {
    id: u64,
    #[serde(default)]
    account: Option<model::User>,
    #[serde(default)]
    suspended_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
    #[serde(default)]
    archived: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct RepositoryList {
    repositories: Vec<Repository>,
}

/// Pages per listing at most (100 items each).
const MAX_PAGES: usize = 50;

impl GithubForge {
    /// The open pull requests of `repository` whose head commit is `sha` (a `status` event
    /// names only the commit).
    pub async fn open_pulls_with_head(
        &self,
        installation: u64,
        repository: &str,
        sha: &Sha,
    ) -> Result<Vec<OpenPull>, ForgeError> {
        let (owner, repo) = split_repo(repository)?;
        if !sha.as_str().bytes().all(|b| b.is_ascii_hexdigit()) || sha.as_str().is_empty() {
            return Err(ForgeError::Config {
                what: format!("`{}` is not a commit sha", sha.as_str()),
            });
        }
        let path = format!(
            "/repos/{}/{}/commits/{}/pulls?per_page=100",
            encode(owner),
            encode(repo),
            sha.as_str()
        );
        let what = format!(
            "GET /repos/{}/{}/commits/{}/pulls",
            encode(owner),
            encode(repo),
            sha.as_str()
        );
        let pulls = self
            .http
            .pages(installation, &path, 10, &what, |r| {
                r.json::<Vec<SimplePull>>(&what)
            })
            .await?;
        Ok(pulls
            .into_iter()
            .filter_map(SimplePull::open)
            .filter(|p| p.head_sha == *sha)
            .collect())
    }

    /// The commit tag `tag` of `repository` names (through an annotated tag object when it is
    /// one); `None` when there is no such tag. For releases, whose event names a branch.
    pub async fn tag_commit(
        &self,
        installation: u64,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, ForgeError> {
        let (owner, repo) = split_repo(repository)?;
        let (o, r) = (encode(owner), encode(repo));
        let what = format!("GET /repos/{o}/{r}/git/ref/tags/{{tag}}");
        let path = format!("/repos/{o}/{r}/git/ref/tags/{}", encode(tag));
        let mut pointer: model::GitPointer = match self
            .http
            .call(installation, Method::GET, &path, None, &what)
            .await
        {
            Ok(reply) => reply.json(&what)?,
            Err(ForgeError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        // A tag may point at a tag; a few hops at most.
        for _ in 0..4 {
            match pointer.object.kind.as_str() {
                "commit" => return Ok(Some(pointer.object.sha)),
                "tag" => {
                    let what = format!("GET /repos/{o}/{r}/git/tags/{{sha}}");
                    let path = format!("/repos/{o}/{r}/git/tags/{}", encode(&pointer.object.sha));
                    pointer = self
                        .http
                        .call(installation, Method::GET, &path, None, &what)
                        .await?
                        .json(&what)?;
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The open pull requests of `repository`, newest first, at most `max`.
    pub async fn open_pulls(
        &self,
        installation: u64,
        repository: &str,
        max: usize,
    ) -> Result<PullListing, ForgeError> {
        let (owner, repo) = split_repo(repository)?;
        let path = format!(
            "/repos/{}/{}/pulls?state=open&per_page=100",
            encode(owner),
            encode(repo)
        );
        let what = format!(
            "GET /repos/{}/{}/pulls?state=open",
            encode(owner),
            encode(repo)
        );
        // One page more than needed tells whether anything was cut.
        let pages = (max / 100 + 1).clamp(1, MAX_PAGES);
        let mut pulls: Vec<OpenPull> = self
            .http
            .pages(installation, &path, pages, &what, |r| {
                r.json::<Vec<SimplePull>>(&what)
            })
            .await?
            .into_iter()
            .filter_map(SimplePull::open)
            .collect();
        let truncated = pulls.len() > max;
        pulls.truncate(max);
        Ok(PullListing { pulls, truncated })
    }

    /// Every installation of the App (authenticated as the App itself).
    pub async fn installations(&self) -> Result<Vec<InstallationRef>, ForgeError> {
        let mut out = Vec::new();
        let mut next = Some("/app/installations?per_page=100".to_string());
        let mut pages = 0;
        while let Some(path) = next.take() {
            let what = "GET /app/installations";
            let reply = self.http.app_call(Method::GET, &path, None, what).await?;
            out.extend(reply.json::<Vec<Installation>>(what)?.into_iter().map(|i| {
                InstallationRef {
                    id: i.id,
                    account: i.account.map(|a| a.login).unwrap_or_default(),
                    suspended: i.suspended_at.is_some(),
                }
            }));
            pages += 1;
            if pages < MAX_PAGES {
                next = reply.next_page();
            }
        }
        Ok(out)
    }

    /// The repositories `installation` can access (`owner/name`), archived ones left out.
    pub async fn installation_repositories(
        &self,
        installation: u64,
    ) -> Result<Vec<String>, ForgeError> {
        let what = "GET /installation/repositories";
        let repos = self
            .http
            .pages(
                installation,
                "/installation/repositories?per_page=100",
                MAX_PAGES,
                what,
                |r| Ok(r.json::<RepositoryList>(what)?.repositories),
            )
            .await?;
        Ok(repos
            .into_iter()
            .filter(|r| !r.archived.unwrap_or(false))
            .map(|r| r.full_name)
            .collect())
    }

    /// Whether `sha` of `repository` has a completed `sdl-gate` check run of this App.
    pub async fn has_completed_run(
        &self,
        installation: u64,
        repository: &str,
        sha: &Sha,
    ) -> Result<bool, ForgeError> {
        let (owner, repo) = split_repo(repository)?;
        let path = format!(
            "/repos/{}/{}/commits/{}/check-runs?check_name={CHECK_NAME}&per_page=100",
            encode(owner),
            encode(repo),
            encode(sha.as_str())
        );
        let what = format!(
            "GET /repos/{}/{}/commits/{}/check-runs?check_name={CHECK_NAME}",
            encode(owner),
            encode(repo),
            sha.as_str()
        );
        let runs = self
            .http
            .pages(installation, &path, 10, &what, |r| {
                Ok(r.json::<model::CheckRunList>(&what)?.check_runs)
            })
            .await?;
        let app_id = self.http.app_id();
        Ok(runs.iter().any(|r| {
            r.name == CHECK_NAME
                && r.status == "completed"
                && r.app
                    .as_ref()
                    .is_some_and(|a| app_id.is_none_or(|id| a.id == id))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_open_pulls_are_kept() {
        let v = serde_json::json!([
            {"number": 1, "state": "open", "head": {"ref": "a", "sha": "aa"}, "draft": true},
            {"number": 2, "state": "closed", "head": {"ref": "b", "sha": "bb"}}
        ]);
        let pulls: Vec<SimplePull> = serde_json::from_value(v).unwrap();
        let open: Vec<OpenPull> = pulls.into_iter().filter_map(SimplePull::open).collect();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].number, 1);
        assert!(open[0].draft);
    }

    #[test]
    fn recorded_installation_parses() {
        let path = format!(
            "{}/../shared/fixtures/github-api/pygithub-replay/GithubIntegration.testGetRepoInstallation.0.GET.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipped: fixture {path} is absent");
            return;
        };
        let i: Installation = serde_json::from_str(&text).unwrap();
        assert_eq!(i.id, 30614431);
        assert_eq!(i.account.map(|a| a.login).as_deref(), Some("ammarmallik"));
    }

    #[test]
    fn recorded_pull_list_parses() {
        let path = format!(
            "{}/../shared/fixtures/github-api/octocrab/pull_requests_list.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipped: fixture {path} is absent");
            return;
        };
        let pulls: Vec<SimplePull> = serde_json::from_str(&text).unwrap();
        assert!(!pulls.is_empty());
        assert!(pulls.iter().all(|p| p.head.sha.len() == 40));
    }
}
