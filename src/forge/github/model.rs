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
