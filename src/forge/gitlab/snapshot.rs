//! A merge request → the forge-neutral [`Snapshot`], reading only what the policy needs.
//!
//! | request | when |
//! | --- | --- |
//! | `GET /projects/:id/merge_requests/:iid` | always ([`head`]) |
//! | `GET /projects/:id/repository/files/:path?ref=:target` | the policy, first of `POLICY_PATHS` found |
//! | `GET /projects/:policy_project/repository/files/sdl-gate.yml?ref=HEAD` | the organisation's policy, when `SDL_GATE_GITLAB_POLICY_PROJECT` is set |
//! | `GET /projects/:id/merge_requests/:iid/diffs` | always, 100 files a page |
//! | `GET /projects/:id/merge_requests/:iid/approvals` | when the review gate is on |
//! | `GET /projects/:id/pipelines/:pid/jobs` | when the MR has a head pipeline on the head commit |
//! | `GET /projects/:id/jobs/:job/artifacts/:file` | each security report artifact of those jobs |
//! | `GET /projects/:id/repository/commits/:sha/statuses` | always (external CI, and our own status) |
//! | `GET /projects/:id/repository/files/:path?ref=:head` | each touched threat model / SBOM the policy names |
//! | `GET /groups/:group/members/all/:user_id` | per approver, per policy group; cached 60 s |
//!
//! Approvals become [`ReviewState::Approved`] reviews with no commit: GitLab itself resets
//! approvals on push when the project asks it to, so the forge's list is taken as current.
//! For the same reason `gates.security_review.approvals_survive_rebase` does not apply here:
//! an approval names no commit whose patch could be compared with the head's, so the adapter
//! fills no `patch_ids` and the default [`crate::forge::Forge::patch_ids`] answers none.
//! Security report artifacts (`sast`, `dependency_scanning`, `secret_detection`,
//! `container_scanning`, `cyclonedx`) of the head pipeline's jobs are parsed with
//! [`parse_report`]; one that is declared but cannot be read is a report error (fail closed).

use crate::forge_name::ForgeName;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use base64::Engine as _;

use crate::commands::Permission;
use crate::forge::{
    ChangeHead, ChangeRef, ChangeState, ForgeError, Needs, OrgPolicyFile, PolicyFile, changed_lines,
};
use crate::reports::parse_report;
use crate::snapshot::{
    ChangedFile, Check, CheckState, FileContent, FileStatus, Login, Review, ReviewState, Sha,
    Snapshot, TeamSlug,
};

use super::http::encode;
use super::{GitlabForge, MEMBERSHIP_TTL, STATUS_NAME, StatusHint, lock, model, remember};
use crate::percent::encode_path;

/// Diffs are read up to this many pages of 100 files.
pub const MAX_DIFF_PAGES: u32 = 30;

/// At most this many report artifacts are read from one pipeline.
pub const MAX_REPORTS: usize = 30;

/// Report artifact types the gates read.
pub const REPORT_TYPES: [&str; 5] = [
    "sast",
    "dependency_scanning",
    "secret_detection",
    "container_scanning",
    "cyclonedx",
];

/// The project part of a URL.
fn project(change: &ChangeRef) -> Result<String, ForgeError> {
    let p = change.repository.trim_matches('/');
    if p.is_empty() || !p.contains('/') {
        return Err(ForgeError::Config {
            what: format!("`{}` is not a GitLab project path", change.repository),
        });
    }
    Ok(format!("projects/{}", encode(p)))
}

/// What `head` learnt beyond [`ChangeHead`], for the snapshot that follows.
#[derive(Debug, Clone)]
pub(crate) struct MrExtras {
    pub sha: Sha,
    pub head_pipeline: Option<model::Pipeline>,
    pub changes_over_limit: bool,
}

/// [`head`], for the snapshot when no fresh head is remembered.
async fn head_of(forge: &GitlabForge, change: &ChangeRef) -> Result<ChangeHead, ForgeError> {
    Box::pin(head(forge, change)).await
}

/// `GET /projects/:id/merge_requests/:iid` → [`ChangeHead`].
pub(crate) async fn head(
    forge: &GitlabForge,
    change: &ChangeRef,
) -> Result<ChangeHead, ForgeError> {
    let path = format!("{}/merge_requests/{}", project(change)?, change.number);
    let what = format!("GET /{path}");
    let mr: model::MergeRequest = forge.http.get(&path, &what).await?;
    let state = match mr.state.as_str() {
        "opened" => ChangeState::Open,
        "merged" => ChangeState::Merged,
        _ => ChangeState::Closed,
    };
    let sha = mr
        .sha
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ForgeError::BadResponse {
            what: format!("{what}: field `sha` is missing"),
        })?;
    remember(
        &forge.hints.pipelines,
        (change.repository.clone(), change.number),
        MrExtras {
            sha: Sha::new(&sha),
            head_pipeline: mr.head_pipeline.clone(),
            changes_over_limit: mr
                .changes_count
                .as_deref()
                .is_some_and(|c| c.ends_with('+')),
        },
    );
    if let Some(n) = mr.user_notes_count {
        remember(
            &forge.hints.note_count,
            (change.repository.clone(), change.number),
            n,
        );
    }
    Ok(ChangeHead {
        title: mr.title,
        author: Login::new(mr.author.username),
        body: mr.description.unwrap_or_default(),
        labels: mr.labels,
        draft: mr.draft.or(mr.work_in_progress).unwrap_or(false),
        head_sha: Sha::new(sha),
        base_ref: mr.target_branch,
        state,
        changed_files: mr
            .changes_count
            .as_deref()
            .and_then(|c| c.trim_end_matches('+').parse().ok()),
        comments: mr.user_notes_count,
        merge_commit_sha: None,
        head_branch: None,
    })
}

/// A file through the repository files API: `Ok(None)` when it is not there.
async fn read_file(
    forge: &GitlabForge,
    change: &ChangeRef,
    path: &str,
    git_ref: &str,
) -> Result<Option<Vec<u8>>, ForgeError> {
    let url = format!(
        "{}/repository/files/{}?ref={}",
        project(change)?,
        encode(path),
        encode(git_ref)
    );
    let what = format!("GET /{url}");
    let file: model::RepoFile = match forge.http.get(&url, &what).await {
        Ok(f) => f,
        Err(ForgeError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let content = file.content.unwrap_or_default();
    match file.encoding.as_deref() {
        Some("base64") | None => {
            let compact: String = content
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map(Some)
                .map_err(|e| ForgeError::BadResponse {
                    what: format!("{what}: `content` is not base64: {e}"),
                })
        }
        Some("text") => Ok(Some(content.into_bytes())),
        Some(other) => Err(ForgeError::BadResponse {
            what: format!("{what}: unknown `encoding` {other}"),
        }),
    }
}

/// The policy on the target branch: the first of `paths` that exists.
pub(crate) async fn policy(
    forge: &GitlabForge,
    change: &ChangeRef,
    base_ref: &str,
    paths: &[&str],
) -> Result<Option<PolicyFile>, ForgeError> {
    for path in paths {
        if let Some(bytes) = read_file(forge, change, path, base_ref).await? {
            return Ok(Some(PolicyFile {
                path: path.to_string(),
                git_ref: base_ref.to_string(),
                text: String::from_utf8_lossy(&bytes).into_owned(),
            }));
        }
    }
    Ok(None)
}

/// The organisation's policy: `path` of the configured policy `project` at its
/// default branch (`ref=HEAD`), one request. `None` when GitLab answers 404 (no such project
/// or file, or the bot may not read it).
pub(crate) async fn org_policy(
    forge: &GitlabForge,
    project: &str,
    path: &str,
) -> Result<Option<OrgPolicyFile>, ForgeError> {
    let at = ChangeRef::new(project, 0, None);
    Ok(read_file(forge, &at, path, "HEAD")
        .await?
        .map(|bytes| OrgPolicyFile {
            repository: project.trim_matches('/').to_string(),
            file: PolicyFile {
                path: path.to_string(),
                git_ref: "HEAD".to_string(),
                text: String::from_utf8_lossy(&bytes).into_owned(),
            },
        }))
}

/// A job's or status's state as the gates see it.
fn job_state(status: &str) -> CheckState {
    CheckState::parse(status).unwrap_or(CheckState::Pending)
}

/// The user id of `login` (`GET /users?username=`), cached.
pub(crate) async fn user_id(forge: &GitlabForge, login: &Login) -> Result<Option<u64>, ForgeError> {
    let key = login.as_str().to_ascii_lowercase();
    if let Some((id, at)) = lock(&forge.hints.users).get(&key)
        && at.elapsed() < MEMBERSHIP_TTL
    {
        return Ok(*id);
    }
    let url = format!("users?username={}", encode(login.as_str()));
    let users: Vec<model::User> = forge.http.get(&url, &format!("GET /{url}")).await?;
    let id = users
        .into_iter()
        .find(|u| u.username.eq_ignore_ascii_case(login.as_str()))
        .map(|u| u.id);
    remember(&forge.hints.users, key, (id, Instant::now()));
    Ok(id)
}

/// Whether user `id` is an active member of `group` (inherited memberships included).
async fn is_member(forge: &GitlabForge, group: &str, id: u64) -> Result<bool, ForgeError> {
    let key = (group.to_ascii_lowercase(), id);
    if let Some((member, at)) = lock(&forge.hints.members).get(&key)
        && at.elapsed() < MEMBERSHIP_TTL
    {
        return Ok(*member);
    }
    let url = format!("groups/{}/members/all/{id}", encode(group));
    let member = match forge
        .http
        .get::<model::Member>(&url, &format!("GET /{url}"))
        .await
    {
        Ok(m) => m.state.as_deref().is_none_or(|s| s == "active"),
        Err(ForgeError::NotFound { .. }) => false,
        Err(e) => return Err(e),
    };
    remember(&forge.hints.members, key, (member, Instant::now()));
    Ok(member)
}

/// Whether `login` is an active member of the group `team` (a full group path).
pub(crate) async fn group_member(
    forge: &GitlabForge,
    team: &TeamSlug,
    login: &Login,
) -> Result<bool, ForgeError> {
    match user_id(forge, login).await? {
        Some(id) => is_member(forge, team.as_str(), id).await,
        None => Ok(false),
    }
}

/// `login`'s access level on the project.
pub(crate) async fn permission(
    forge: &GitlabForge,
    change: &ChangeRef,
    login: &Login,
) -> Result<Option<Permission>, ForgeError> {
    let Some(id) = user_id(forge, login).await? else {
        return Ok(None);
    };
    let url = format!("{}/members/all/{id}", project(change)?);
    match forge
        .http
        .get::<model::Member>(&url, &format!("GET /{url}"))
        .await
    {
        Ok(m) if m.state.as_deref().is_none_or(|s| s == "active") => {
            Ok(Some(Permission::from_gitlab_level(m.access_level)))
        }
        Ok(_) | Err(ForgeError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn file_of(d: model::Diff) -> ChangedFile {
    let status = if d.new_file {
        FileStatus::Added
    } else if d.deleted_file {
        FileStatus::Removed
    } else if d.renamed_file {
        FileStatus::Renamed
    } else {
        FileStatus::Modified
    };
    let truncated = d.too_large == Some(true) || d.collapsed == Some(true);
    let changed = match d.diff.as_deref() {
        Some(p) if !truncated && !p.is_empty() => changed_lines(p).ok(),
        _ => None,
    };
    ChangedFile {
        previous_path: (d.renamed_file && d.old_path != d.new_path).then_some(d.old_path),
        path: d.new_path,
        status,
        changed_lines: changed,
    }
}

/// Everything the gates look at, for the change at `head`.
pub(crate) async fn snapshot(
    forge: &GitlabForge,
    change: &ChangeRef,
    head: &ChangeHead,
    needs: &Needs,
) -> Result<Snapshot, ForgeError> {
    let proj = project(change)?;
    let n = change.number;
    let sha = head.head_sha.as_str();

    let diffs_path = format!("{proj}/merge_requests/{n}/diffs");
    let diffs_what = format!("GET /{diffs_path}");
    let diffs = forge
        .http
        .pages::<model::Diff>(&diffs_path, MAX_DIFF_PAGES, &diffs_what);
    let approvals_path = format!("{proj}/merge_requests/{n}/approvals");
    let approvals_what = format!("GET /{approvals_path}");
    let approvals = async {
        if needs.reviews {
            forge
                .http
                .get::<model::Approvals>(&approvals_path, &approvals_what)
                .await
                .map(|a| a.approved_by)
        } else {
            Ok(Vec::new())
        }
    };
    let statuses_path = format!("{proj}/repository/commits/{sha}/statuses");
    let statuses_what = format!("GET /{statuses_path}");
    let statuses = forge
        .http
        .pages::<model::CommitStatus>(&statuses_path, 10, &statuses_what);
    let extras = async {
        let known = lock(&forge.hints.pipelines)
            .get(&(change.repository.clone(), n))
            .filter(|x| x.sha == head.head_sha)
            .cloned();
        match known {
            Some(x) => Ok(x),
            None => {
                head_of(forge, change).await?;
                lock(&forge.hints.pipelines)
                    .get(&(change.repository.clone(), n))
                    .cloned()
                    .ok_or_else(|| ForgeError::Transient {
                        what: format!("merge request !{n} changed while it was read"),
                    })
            }
        }
    };
    let (diffs, approvals, statuses, mr) = tokio::join!(diffs, approvals, statuses, extras);
    let (diffs, approvals, statuses, mr) = (diffs?, approvals?, statuses?, mr?);

    let mut snap = Snapshot::new(
        Some(ForgeName::GitLab),
        &change.repository,
        n,
        head.author.as_str(),
        sha,
    );
    snap.title = head.title.clone();
    snap.body = head.body.clone();
    snap.labels = head.labels.clone();
    snap.draft = head.draft;
    snap.base_ref = head.base_ref.clone();

    snap.files = diffs.into_iter().map(file_of).collect();
    if let Some(total) = head.changed_files
        && total as usize > snap.files.len()
    {
        snap.unknowns.push(format!(
            "the merge request touches {total} files but GitLab lists only {}; the other files were not checked",
            snap.files.len()
        ));
    }
    if mr.changes_over_limit {
        snap.unknowns.push(
            "GitLab lists only part of this merge request's changes (over its diff limit); the other files were not checked".into(),
        );
    }

    let mut approver_ids: BTreeMap<Login, u64> = BTreeMap::new();
    for a in approvals {
        let login = Login::new(a.user.username);
        approver_ids.insert(login.clone(), a.user.id);
        snap.reviews.push(Review {
            author: login,
            state: ReviewState::Approved,
            commit: None,
            submitted_at: None,
        });
    }

    // Commit statuses: external CI, and our own (remembered for publishing).
    let mut ours: Option<&model::CommitStatus> = None;
    for s in &statuses {
        let mine = s.name == STATUS_NAME && s.author.as_ref().is_none_or(|a| a.id == forge.bot_id);
        if mine {
            if ours.is_none_or(|o| s.id > o.id) {
                ours = Some(s);
            }
            continue;
        }
        snap.checks.push(Check {
            name: s.name.clone(),
            state: job_state(&s.status),
        });
    }
    remember(
        &forge.hints.statuses,
        (change.repository.clone(), head.head_sha.clone()),
        (
            ours.map(|s| StatusHint {
                status: s.status.clone(),
                description: s.description.clone().unwrap_or_default(),
                target_url: s.target_url.clone(),
            }),
            Instant::now(),
        ),
    );

    // The head pipeline's jobs (checks) and their security report artifacts (reports).
    match mr.head_pipeline {
        Some(p) if p.sha.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(sha)) => {
            let jobs_path = format!("{proj}/pipelines/{}/jobs", p.id);
            let jobs_what = format!("GET /{jobs_path}");
            let jobs: Vec<model::Job> = forge.http.pages(&jobs_path, 10, &jobs_what).await?;
            let mut read = 0usize;
            for job in &jobs {
                // Statuses posted to the pipeline by name are already among the checks.
                if !snap.checks.iter().any(|c| c.name == job.name) {
                    snap.checks.push(Check {
                        name: job.name.clone(),
                        state: job_state(&job.status),
                    });
                }
                for a in job
                    .artifacts
                    .iter()
                    .filter(|a| REPORT_TYPES.contains(&a.file_type.as_str()))
                {
                    let file = a
                        .filename
                        .as_deref()
                        .map(|f| f.strip_suffix(".gz").unwrap_or(f))
                        .unwrap_or_default();
                    let source = format!("{} ({}) {file}", job.name, a.file_type);
                    if file.is_empty() {
                        snap.report_errors
                            .push(format!("{source}: the artifact has no file name"));
                        continue;
                    }
                    if read >= MAX_REPORTS {
                        snap.report_errors.push(format!(
                            "{source}: not read, the pipeline has more than {MAX_REPORTS} reports"
                        ));
                        continue;
                    }
                    read += 1;
                    let url = format!("{proj}/jobs/{}/artifacts/{}", job.id, encode_path(file));
                    let what = format!("GET /{url}");
                    match forge.http.call(http::Method::GET, &url, None, &what).await {
                        Ok(reply) => match parse_report(&source, &reply.body) {
                            Ok(report) => snap.reports.push(report),
                            Err(e) => snap.report_errors.push(format!("{source}: {e}")),
                        },
                        Err(ForgeError::NotFound { .. }) => snap.report_errors.push(format!(
                            "{source}: not in the job's artifacts archive (list it under `artifacts:paths` too)"
                        )),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Some(p) => snap.unknowns.push(format!(
            "the head pipeline {} is not for the head commit {}; its jobs and reports were not used",
            p.id,
            head.head_sha.short()
        )),
        None => {}
    }

    // Contents of touched files the gates read.
    for path in needs.contents_to_read(&mut snap) {
        let bytes = read_file(forge, change, &path, sha).await?;
        snap.contents.push(FileContent { path, bytes });
    }

    // Group memberships, only of approvers whose approval could count.
    let deciders: BTreeSet<(Login, u64)> = approver_ids
        .into_iter()
        .filter(|(l, _)| *l != snap.author && !l.is_bot())
        .collect();
    let mut teams: BTreeMap<String, BTreeSet<Login>> = BTreeMap::new();
    'teams: for team in &needs.teams {
        let mut members = BTreeSet::new();
        for (login, id) in &deciders {
            match is_member(forge, team.as_str(), *id).await {
                Ok(true) => {
                    members.insert(login.clone());
                }
                Ok(false) => {}
                Err(e @ (ForgeError::Forbidden { .. } | ForgeError::Rejected { .. })) => {
                    snap.unknowns.push(format!(
                        "membership of group {team} could not be read ({e}); the bot needs at least Reporter access to the group"
                    ));
                    continue 'teams;
                }
                Err(e) => return Err(e),
            }
        }
        teams.insert(team.as_str().to_string(), members);
    }
    snap.teams = teams;
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_states() {
        assert_eq!(job_state("success"), CheckState::Success);
        assert_eq!(job_state("failed"), CheckState::Failure);
        assert_eq!(job_state("running"), CheckState::Pending);
        assert_eq!(job_state("manual"), CheckState::Pending);
        assert_eq!(job_state("skipped"), CheckState::Neutral);
        assert_eq!(job_state("something-new"), CheckState::Pending);
    }

    #[test]
    fn diffs_map_to_changed_files() {
        let d: model::Diff = serde_json::from_value(serde_json::json!({
            "old_path": "a.rs", "new_path": "b.rs", "renamed_file": true,
            "diff": "@@ -1,2 +1,3 @@\n x\n+y\n z\n"
        }))
        .unwrap();
        let f = file_of(d);
        assert_eq!(f.status, FileStatus::Renamed);
        assert_eq!(f.previous_path.as_deref(), Some("a.rs"));
        assert_eq!(f.changed_lines, Some(vec![(2, 2)]));
    }
}
