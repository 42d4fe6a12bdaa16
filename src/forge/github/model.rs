//! The parts of GitHub's REST responses sdl-gate reads, as serde types. Only the fields we
//! use are declared (unknown ones are ignored), and fields GitHub documents as nullable are
//! `Option`s, so a schema addition never breaks us and a missing required field is a clear
//! [`ForgeError::BadResponse`](crate::forge::ForgeError::BadResponse).

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// `simple-user` (only the login).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct User {
    pub login: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Label {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GitRef {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub sha: String,
    /// The repository the branch is in; `null` when a fork was deleted.
    #[serde(default)]
    pub repo: Option<RepoRef>,
}

/// A repository named in a pull request's head or base.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RepoRef {
    pub full_name: String,
}

/// `GET /repos/{o}/{r}/pulls/{n}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PullRequest {
    pub state: String,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub user: User,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub draft: Option<bool>,
    pub head: GitRef,
    pub base: GitRef,
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub changed_files: Option<u64>,
    #[serde(default)]
    pub comments: Option<u64>,
    /// GitHub's test merge of head into base; `null` while mergeability is being computed.
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
}

/// The tool of a code-scanning analysis.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AnalysisTool {
    #[serde(default)]
    pub name: Option<String>,
}

/// One item of `GET /repos/{o}/{r}/code-scanning/analyses` (newest first).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Analysis {
    pub id: u64,
    /// The commit analysed: for a pull request's merge ref, the test merge commit.
    pub commit_sha: String,
    /// Tells apart several analyses of one tool (languages, workflows).
    #[serde(default)]
    pub category: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Empty unless the analysis failed.
    #[serde(default)]
    pub error: String,
    pub tool: AnalysisTool,
}

/// A parent of a Git commit.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Parent {
    pub sha: String,
}

/// `GET /repos/{o}/{r}/git/commits/{sha}`: only its parents are read.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GitCommit {
    pub parents: Vec<Parent>,
}

/// The object a git ref or an annotated tag points at.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GitObject {
    #[serde(rename = "type")]
    pub kind: String,
    pub sha: String,
}

/// `GET /repos/{o}/{r}/git/ref/tags/{tag}` and `GET /repos/{o}/{r}/git/tags/{sha}`: what they
/// point at.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GitPointer {
    pub object: GitObject,
}

/// One item of `GET /repos/{o}/{r}/pulls/{n}/files`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PullFile {
    pub filename: String,
    pub status: String,
    #[serde(default)]
    pub previous_filename: Option<String>,
    #[serde(default)]
    pub patch: Option<String>,
}

/// `GET /repos/{o}/{r}/compare/{base}...{head}`: only the files (GitHub lists at most 300).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Comparison {
    #[serde(default)]
    pub files: Option<Vec<PullFile>>,
}

/// One item of `GET /repos/{o}/{r}/pulls/{n}/reviews`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Review {
    /// Null for a deleted ("ghost") user.
    #[serde(default)]
    pub user: Option<User>,
    pub state: String,
    #[serde(default)]
    pub commit_id: Option<String>,
    #[serde(default)]
    pub submitted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AppRef {
    pub id: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct CheckOutput {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

/// A check run.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CheckRun {
    pub id: u64,
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub app: Option<AppRef>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub details_url: Option<String>,
    #[serde(default)]
    pub output: CheckOutput,
}

/// `GET /repos/{o}/{r}/commits/{sha}/check-runs`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CheckRunList {
    pub check_runs: Vec<CheckRun>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Status {
    pub context: String,
    pub state: String,
}

/// `GET /repos/{o}/{r}/commits/{sha}/status`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CombinedStatus {
    pub statuses: Vec<Status>,
}

/// `GET /repos/{o}/{r}/contents/{path}` for a file.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Content {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
}

/// `GET /orgs/{org}/teams/{team}/memberships/{user}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Membership {
    pub state: String,
}

/// An issue comment.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub user: Option<User>,
}

/// `GET /app`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct App {
    pub slug: String,
}

/// A created or updated resource: only its id.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Created {
    pub id: u64,
}

#[cfg(test)]
mod tests {
    //! Our response types read real recorded GitHub answers (`../shared/fixtures/github-api`).

    use super::*;
    use serde::de::DeserializeOwned;

    fn fixture<T: DeserializeOwned>(name: &str) -> Option<T> {
        let path = format!(
            "{}/../shared/fixtures/github-api/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipped: fixture {path} is absent");
            return None;
        };
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
        if name.starts_with("triagebot/") {
            v = v["response_body"].take();
        }
        Some(serde_json::from_value(v).unwrap_or_else(|e| panic!("{name}: {e}")))
    }

    #[test]
    fn recorded_pull_requests_parse() {
        let Some(pr) = fixture::<PullRequest>(
            "triagebot/files__01-GET-repos_ehuss_triagebot-test_pulls_115.json",
        ) else {
            return;
        };
        assert_eq!(pr.base.git_ref, "main");
        assert_eq!(pr.head.sha.len(), 40);
        assert_eq!(pr.state, "open");
        if let Some(pr) = fixture::<PullRequest>("pygithub-replay/PullRequest.setUp.1.GET.json") {
            assert!(!pr.user.login.is_empty());
        }
    }

    #[test]
    fn recorded_files_reviews_runs_statuses_comments_parse() {
        if let Some(files) = fixture::<Vec<PullFile>>(
            "triagebot/files__02-GET-repos_ehuss_triagebot-test_pulls_115_files.json",
        ) {
            assert_eq!(files[0].filename, "README.md");
            let ranges = crate::forge::changed_lines(files[0].patch.as_deref().unwrap_or(""));
            assert_eq!(ranges, Ok(vec![(3, 4)]));
        }
        if let Some(files) =
            fixture::<Vec<PullFile>>("pygithub-replay/PullRequest.testGetFiles.0.GET.json")
        {
            assert!(files.len() > 10);
            for f in &files {
                if let Some(p) = &f.patch {
                    assert!(crate::forge::changed_lines(p).is_ok(), "{}", f.filename);
                }
            }
        }
        if let Some(reviews) = fixture::<Vec<Review>>(
            "hub4j-wiremock/GHPullRequestTest.pullRequestReviews.7-r_h_g_pulls_482_reviews.json",
        ) {
            assert!(reviews.iter().all(|r| r.commit_id.is_some()));
        }
        if let Some(runs) = fixture::<CheckRunList>("octocrab/commit_check_runs.json") {
            assert!(runs.check_runs.iter().all(|r| r.app.is_some()));
        }
        if let Some(runs) = fixture::<CheckRunList>(
            "hub4j-wiremock/GHRepositoryTest.getCheckRuns.3-r_h_g_commits_78b9ff49_check-runs.json",
        ) {
            assert_eq!(runs.check_runs[0].conclusion.as_deref(), Some("success"));
        }
        if let Some(status) =
            fixture::<CombinedStatus>("pygithub-replay/CommitCombinedStatus.setUp.0.GET.json")
        {
            assert!(status.statuses.iter().any(|s| s.context == "jenkins/js"));
        }
        if let Some(m) = fixture::<Membership>(
            "hub4j-wiremock/AppTest.testMyTeamsShouldIncludeMyself.11-organizations_43133889_team_3522544_memberships_gsmet.json",
        ) {
            assert_eq!(m.state, "active");
        }
        if let Some(comments) = fixture::<Vec<Comment>>(
            "triagebot/get_comments__02-GET-repos_ehuss_triagebot-test_issues_115_comments.json",
        ) {
            assert!(comments.iter().all(|c| c.user.is_some()));
        }
        if let Some(created) = fixture::<Created>(
            "hub4j-wiremock/GHCheckRunBuilderTest.createCheckRun.5-r_h_t_check-runs.json",
        ) {
            assert_eq!(created.id, 1424883286);
        }
        if let Some(token) = fixture::<crate::forge::github::auth::AccessTokenBody>(
            "hub4j-wiremock/GHAppTest.createTokenWithRepositories.3-a_i_27419505_access_tokens.json",
        ) {
            assert_eq!(token.expires_at.to_rfc3339(), "2022-07-27T21:38:33+00:00");
        }
    }
}
