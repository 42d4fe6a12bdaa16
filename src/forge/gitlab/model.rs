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

#[cfg(test)]
mod tests {
    //! The model reads GitLab's recorded API answers (`../shared/fixtures/gitlab-webhooks/api`):
    //! the client's types must accept GitLab's real shapes, not only the fake's.

    use super::*;
    use serde::de::DeserializeOwned;
    use std::path::PathBuf;

    fn fixture(rel: &str) -> Option<serde_json::Value> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures/gitlab-webhooks/api")
            .join(rel);
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(
                serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display())),
            ),
            Err(e) => {
                eprintln!("skipping: fixture {} unavailable: {e}", path.display());
                None
            }
        }
    }

    fn read<T: DeserializeOwned>(rel: &str, v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// The `response` of a recorded danger-js exchange.
    fn danger(rel: &str) -> Option<serde_json::Value> {
        let v = fixture(rel)?;
        Some(v[0]["response"].clone())
    }

    #[test]
    fn merge_requests_read() {
        for rel in [
            "rust-gitlab/merge_request.json",
            "go-gitlab/get_merge_request.json",
        ] {
            if let Some(v) = fixture(rel) {
                let mr: MergeRequest = read(rel, v);
                assert!(!mr.author.username.is_empty(), "{rel}");
                assert!(!mr.target_branch.is_empty(), "{rel}");
            }
        }
        if let Some(v) = danger("danger-js/getMergeRequestInfo.json") {
            let _: MergeRequest = read("danger-js/getMergeRequestInfo.json", v);
        }
    }

    #[test]
    fn diffs_approvals_jobs_notes_statuses_read() {
        if let Some(v) = fixture("go-gitlab/list_merge_request_diff.json") {
            let d: Vec<Diff> = read("list_merge_request_diff", v);
            assert!(!d.is_empty() && !d[0].new_path.is_empty());
        }
        if let Some(v) = danger("danger-js/getMergeRequestDiffs.json") {
            let _: Vec<Diff> = read("getMergeRequestDiffs", v);
        }
        if let Some(v) = fixture("gitlab4j/approvals.json") {
            let a: Approvals = read("gitlab4j/approvals", v);
            assert!(a.approved_by.iter().all(|x| !x.user.username.is_empty()));
        }
        if let Some(v) = danger("danger-js/getMergeRequestApprovals.json") {
            let _: Approvals = read("getMergeRequestApprovals", v);
        }
        if let Some(v) = fixture("rust-gitlab/job.json") {
            let jobs: Vec<Job> = read("rust-gitlab/job", v);
            assert!(jobs.iter().all(|j| !j.name.is_empty()));
        }
        if let Some(v) = fixture("rust-gitlab/note.json") {
            let n: Note = read("rust-gitlab/note", v);
            assert!(n.id > 0);
        }
        if let Some(v) = danger("danger-js/getMergeRequestNotes.json") {
            let _: Vec<Note> = read("getMergeRequestNotes", v);
        }
        for rel in [
            "rust-gitlab/commit_status.json",
            "gitlab4j/commit-status.json",
        ] {
            if let Some(v) = fixture(rel) {
                let s: CommitStatus = read(rel, v);
                assert!(!s.name.is_empty(), "{rel}");
            }
        }
    }
}
