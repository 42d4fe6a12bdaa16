//! The parts of GitLab's REST answers the gate reads (docs.gitlab.com/api), lenient about
//! everything else: unknown fields are ignored, optional ones default.

use serde::Deserialize;

/// A user as embedded in other objects.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct User {
    pub id: u64,
    pub username: String,
}

/// `GET /projects/:id/merge_requests/:iid`.
#[derive(Debug, Deserialize)]
pub(crate) struct MergeRequest {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub state: String,
    #[serde(default)]
    pub draft: Option<bool>,
    #[serde(default)]
    pub work_in_progress: Option<bool>,
    pub author: User,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub sha: Option<String>,
    pub target_branch: String,
    #[serde(default)]
    pub user_notes_count: Option<u64>,
    /// `"12"`, or `"1000+"` past GitLab's limit.
    #[serde(default)]
    pub changes_count: Option<String>,
    #[serde(default)]
    pub head_pipeline: Option<Pipeline>,
}

/// A pipeline as embedded in a merge request.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Pipeline {
    pub id: u64,
    #[serde(default)]
    pub sha: Option<String>,
}

/// One file of `GET /projects/:id/merge_requests/:iid/diffs`.
#[derive(Debug, Deserialize)]
pub(crate) struct Diff {
    pub old_path: String,
    pub new_path: String,
    #[serde(default)]
    pub diff: Option<String>,
    #[serde(default)]
    pub new_file: bool,
    #[serde(default)]
    pub renamed_file: bool,
    #[serde(default)]
    pub deleted_file: bool,
    #[serde(default)]
    pub too_large: Option<bool>,
    #[serde(default)]
    pub collapsed: Option<bool>,
}

/// `GET /projects/:id/merge_requests/:iid/approvals`.
#[derive(Debug, Deserialize)]
pub(crate) struct Approvals {
    #[serde(default)]
    pub approved_by: Vec<Approver>,
}

/// One approval.
#[derive(Debug, Deserialize)]
pub(crate) struct Approver {
    pub user: User,
}

/// One job of `GET /projects/:id/pipelines/:pid/jobs`.
#[derive(Debug, Deserialize)]
pub(crate) struct Job {
    pub id: u64,
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
}

/// An artifact of a job (`file_type` names report artifacts: `sast`, `cyclonedx`…).
#[derive(Debug, Deserialize)]
pub(crate) struct Artifact {
    pub file_type: String,
    #[serde(default)]
    pub filename: Option<String>,
}

/// One commit status of `GET /projects/:id/repository/commits/:sha/statuses`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CommitStatus {
    pub id: u64,
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub target_url: Option<String>,
    #[serde(default)]
    pub author: Option<User>,
}

/// `GET /projects/:id/repository/files/:path`.
#[derive(Debug, Deserialize)]
pub(crate) struct RepoFile {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
}

/// A member (`/projects/:id/members/all/:user_id`, `/groups/:id/members/all/:user_id`).
#[derive(Debug, Deserialize)]
pub(crate) struct Member {
    pub access_level: u64,
    #[serde(default)]
    pub state: Option<String>,
}

/// A note of a merge request.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Note {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub author: User,
    #[serde(default)]
    pub system: bool,
}

/// Anything created, for its id.
#[derive(Debug, Deserialize)]
pub(crate) struct Created {
    pub id: u64,
}
