//! A pull request → the forge-neutral [`Snapshot`], reading only what the policy needs.
//!
//! Endpoints, and when they are called (a 50-file pull request costs one request each):
//!
//! | request | when |
//! | --- | --- |
//! | `POST /graphql` | always for the App on api.github.com ([`head`]): the pull request, the policy on the base branch, the reviews, the head's check runs and the organisation's policy in one query (see `graphql`); the REST reads below marked "(REST)" are then made only for what the query could not carry, or all of them when it failed for another reason than a rate limit |
//! | `GET /repos/{o}/{r}/pulls/{n}` | (REST) always ([`head`]) |
//! | `GET /repos/{o}/{r}/contents/{path}?ref={base}` | (REST) the policy, first of `POLICY_PATHS` found |
//! | `GET /repos/{o}/.github/contents/sdl-gate.yml` | (REST, conditional) the organisation's policy (default and floor), at the default branch, when the query did not carry it (GraphQL off, failed, or a blob it truncates or calls binary); a 404 is trusted for `NO_ORG_POLICY_HINT` |
//! | `GET /repos/{o}/{r}/pulls/{n}/files?per_page=100` | always; one page per 100 files, up to GitHub's 3,000 |
//! | `GET /repos/{o}/{r}/pulls/{n}/reviews?per_page=100` | (REST) when the review gate is on |
//! | `GET /repos/{o}/{r}/commits/{sha}/check-runs?per_page=100` | (REST) always (it also finds our own run) |
//! | `GET /repos/{o}/{r}/commits/{sha}/status?per_page=100` | only when a required check is not a check run |
//! | `GET /repos/{o}/{r}/contents/{path}?ref={head}` | each touched threat model / SBOM the policy names |
//! | `GET /repos/{o}/{r}/compare/{base}...{sha}` | per earlier commit whose approval would count if its patch were the head's, only while the review gate waits for it ([`patch_ids`], asked by the engine after [`snapshot`]); cached per commit |
//! | `GET /orgs/{org}/teams/{team}/memberships/{user}` | per reviewer who approved or requested changes, per policy team; cached 60 s |
//! | `GET /repos/{o}/{r}/code-scanning/analyses?ref=refs/pull/{n}/merge&per_page=100` | when `gates.sast.code_scanning` is on (see [`code_scanning`]); when there is none, `ref=refs/heads/{branch}` for a head branch in this repository |
//! | `GET /repos/{o}/{r}/git/commits/{sha}` | then, only when an analysis is not of GitHub's current test merge; cached |
//! | `GET /repos/{o}/{r}/code-scanning/alerts?ref=refs/pull/{n}/merge&state=open&per_page=100` | then, when every analysis is of the head; one page per 100 open alerts, up to 3,000 |

use crate::forge_name::ForgeName;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::Method;

use crate::forge::{
    ChangeHead, ChangeRef, ChangeState, ForgeError, Needs, OrgPolicyFile, PolicyFile, changed_lines,
};
use crate::patch_id::{self, FilePatch};
use crate::snapshot::{
    ChangedFile, Check, CheckState, FileContent, FileStatus, Login, PatchIdentity, Review,
    ReviewState, Sha, Snapshot, TeamSlug,
};

use super::http::{encode, encode_path};
use super::{CHECK_NAME, GithubForge, RunHint, installation, lock, remember, split_repo};
use super::{code_scanning, graphql, model};

/// GitHub lists at most this many files of a pull request.
pub const MAX_FILES: usize = 3000;

/// GitHub lists at most this many files of a comparison.
pub const MAX_COMPARE_FILES: usize = 300;

/// How long a team membership answer is reused.
pub const MEMBERSHIP_TTL: Duration = Duration::from_secs(60);

/// The pull request → [`ChangeHead`]: through the GraphQL query when it is on (keeping what
/// else it read for the `policy` and `snapshot` of this evaluation), else, or when it fails for
/// another reason than a rate limit, `GET /repos/{o}/{r}/pulls/{n}`.
pub(crate) async fn head(
    forge: &GithubForge,
    change: &ChangeRef,
) -> Result<ChangeHead, ForgeError> {
    use std::sync::atomic::Ordering;
    let key = (change.repository.clone(), change.number);
    lock(&forge.hints.prefetch).remove(&key);
    if forge.graphql.is_some() {
        match graphql::read(forge, change).await {
            Ok(pre) => {
                forge.graphql_queries.fetch_add(1, Ordering::Relaxed);
                forge.graphql_points.fetch_add(pre.cost, Ordering::Relaxed);
                if let Some(n) = pre.head.comments {
                    remember(&forge.hints.comment_count, key.clone(), n);
                }
                let head = pre.head.clone();
                remember(&forge.hints.prefetch, key, (pre, Instant::now()));
                return Ok(head);
            }
            Err(e @ ForgeError::RateLimited { .. }) => return Err(e),
            Err(e) => {
                forge.graphql_fallbacks.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    repository = %change.repository,
                    number = change.number,
                    error = %e,
                    "the GraphQL read failed; reading through REST"
                );
            }
        }
    }
    rest_head(forge, change).await
}

/// What the GraphQL query of this evaluation's `head` read, when it is still current.
fn prefetched(forge: &GithubForge, change: &ChangeRef) -> Option<graphql::Prefetch> {
    let key = (change.repository.clone(), change.number);
    lock(&forge.hints.prefetch)
        .get(&key)
        .filter(|(_, at)| at.elapsed() < super::PREFETCH_TTL)
        .map(|(p, _)| p.clone())
}

/// `GET /repos/{o}/{r}/pulls/{n}` → [`ChangeHead`].
async fn rest_head(forge: &GithubForge, change: &ChangeRef) -> Result<ChangeHead, ForgeError> {
    let inst = installation(change)?;
    let (owner, repo) = split_repo(&change.repository)?;
    let path = format!(
        "/repos/{}/{}/pulls/{}",
        encode(owner),
        encode(repo),
        change.number
    );
    let what = format!("GET {path}");
    let pr: model::PullRequest = forge
        .http
        .call(inst, Method::GET, &path, None, &what)
        .await?
        .json(&what)?;
    let state = if pr.merged_at.is_some() {
        ChangeState::Merged
    } else if pr.state == "open" {
        ChangeState::Open
    } else {
        ChangeState::Closed
    };
    if let Some(n) = pr.comments {
        remember(
            &forge.hints.comment_count,
            (change.repository.clone(), change.number),
            n,
        );
    }
    Ok(ChangeHead {
        title: pr.title,
        author: Login::new(pr.user.login),
        body: pr.body.unwrap_or_default(),
        labels: pr.labels.into_iter().map(|l| l.name).collect(),
        draft: pr.draft.unwrap_or(false),
        head_sha: Sha::new(pr.head.sha),
        base_ref: pr.base.git_ref,
        state,
        changed_files: pr.changed_files,
        comments: pr.comments,
        merge_commit_sha: pr.merge_commit_sha.map(Sha::new),
        head_branch: pr
            .head
            .repo
            .as_ref()
            .filter(|r| r.full_name.eq_ignore_ascii_case(&change.repository))
            .map(|_| pr.head.git_ref.clone()),
    })
}

/// A file read through the contents API: `Ok(None)` when it is not there (404, a directory,
/// a symlink or submodule); `bytes: None` when it is too large to be served inline (> 1 MB).
async fn read_file(
    forge: &GithubForge,
    inst: u64,
    owner: &str,
    repo: &str,
    path: &str,
    git_ref: &str,
) -> Result<Option<Option<Vec<u8>>>, ForgeError> {
    let url = format!(
        "/repos/{}/{}/contents/{}?ref={}",
        encode(owner),
        encode(repo),
        encode_path(path),
        encode(git_ref)
    );
    read_contents(forge, inst, url).await
}

/// [`read_file`] of a contents URL (`ref` given or left to the default branch).
async fn read_contents(
    forge: &GithubForge,
    inst: u64,
    url: String,
) -> Result<Option<Option<Vec<u8>>>, ForgeError> {
    let what = format!("GET {url}");
    let reply = match forge.http.call(inst, Method::GET, &url, None, &what).await {
        Ok(r) => r,
        Err(ForgeError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let value: serde_json::Value = reply.json(&what)?;
    if value.is_array() {
        return Ok(None);
    }
    let content: model::Content =
        serde_json::from_value(value).map_err(|e| ForgeError::BadResponse {
            what: format!("{what}: {e}"),
        })?;
    if content.kind != "file" {
        return Ok(None);
    }
    match (content.encoding.as_deref(), content.content.as_deref()) {
        (Some("base64"), Some(text)) => {
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map_err(|e| ForgeError::BadResponse {
                    what: format!("{what}: `content` is not base64: {e}"),
                })?;
            Ok(Some(Some(bytes)))
        }
        // Files over 1 MB come with `encoding: none` and empty content.
        _ => Ok(Some(None)),
    }
}

/// The policy on `base_ref`: the first of `paths` that exists.
pub(crate) async fn policy(
    forge: &GithubForge,
    change: &ChangeRef,
    base_ref: &str,
    paths: &[&str],
) -> Result<Option<PolicyFile>, ForgeError> {
    if paths == graphql::POLICY_PATHS
        && let Some(pre) = prefetched(forge, change)
        && pre.head.base_ref == base_ref
        && let Some(file) = pre.policy
    {
        return Ok(file);
    }
    policy_at(forge, change, base_ref, paths).await
}

/// The first of `paths` that exists on `base_ref`.
pub(crate) async fn policy_at(
    forge: &GithubForge,
    change: &ChangeRef,
    base_ref: &str,
    paths: &[&str],
) -> Result<Option<PolicyFile>, ForgeError> {
    let inst = installation(change)?;
    let (owner, repo) = split_repo(&change.repository)?;
    for path in paths {
        match read_file(forge, inst, owner, repo, path, base_ref).await? {
            None => continue,
            Some(None) => {
                return Err(ForgeError::Rejected {
                    status: 413,
                    what: format!("the policy {path} on {base_ref} is larger than 1 MB"),
                });
            }
            Some(Some(bytes)) => {
                return Ok(Some(PolicyFile {
                    path: path.to_string(),
                    git_ref: base_ref.to_string(),
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                }));
            }
        }
    }
    Ok(None)
}

/// The organisation's policy: what this evaluation's GraphQL query read of it, when it could;
/// else `GET /repos/{owner}/.github/contents/{path}` at the
/// default branch of the owner's `.github` repository, with the installation token (one
/// request per evaluation; a 200 is re-read conditionally, a 404 is trusted for
/// [`super::NO_ORG_POLICY_HINT`]). `None` when GitHub answers 404: no such repository or file,
/// or the installation does not include the `.github` repository. A file over 1 MB is an error
/// (the caller fails closed and names the file).
pub(crate) async fn org_policy(
    forge: &GithubForge,
    change: &ChangeRef,
    path: &str,
) -> Result<Option<OrgPolicyFile>, ForgeError> {
    let inst = installation(change)?;
    let (owner, _) = split_repo(&change.repository)?;
    let key = (inst, owner.to_ascii_lowercase());
    if path == graphql::ORG_POLICY_PATH
        && let Some(pre) = prefetched(forge, change)
        && let Some(read) = pre.org_policy
    {
        if read.is_none() {
            remember(&forge.hints.no_org_policy, key, std::time::Instant::now());
        } else {
            lock(&forge.hints.no_org_policy).remove(&key);
        }
        return Ok(read);
    }
    if lock(&forge.hints.no_org_policy)
        .get(&key)
        .is_some_and(|at| at.elapsed() < super::NO_ORG_POLICY_HINT)
    {
        return Ok(None);
    }
    let url = format!(
        "/repos/{}/{ORG_POLICY_REPO}/contents/{}",
        encode(owner),
        encode_path(path)
    );
    let repository = format!("{owner}/{ORG_POLICY_REPO}");
    let read = read_contents(forge, inst, url).await?;
    if read.is_none() {
        remember(&forge.hints.no_org_policy, key, std::time::Instant::now());
    } else {
        lock(&forge.hints.no_org_policy).remove(&key);
    }
    match read {
        None => Ok(None),
        Some(None) => Err(ForgeError::Rejected {
            status: 413,
            what: format!("the organisation policy {repository}/{path} is larger than 1 MB"),
        }),
        Some(Some(bytes)) => Ok(Some(OrgPolicyFile {
            repository,
            file: PolicyFile {
                path: path.to_string(),
                git_ref: DEFAULT_BRANCH.to_string(),
                text: String::from_utf8_lossy(&bytes).into_owned(),
            },
        })),
    }
}

/// The repository of an organisation that holds its community files, and sdl-gate's org policy.
pub(crate) const ORG_POLICY_REPO: &str = ".github";

/// How the default branch is named where a file was read without a `ref`.
pub(crate) const DEFAULT_BRANCH: &str = "the default branch";

fn file_status(s: &str) -> FileStatus {
    match s {
        "added" => FileStatus::Added,
        "removed" => FileStatus::Removed,
        "renamed" => FileStatus::Renamed,
        "copied" => FileStatus::Copied,
        "modified" => FileStatus::Modified,
        // `changed` (mode only), `unchanged`, and anything GitHub adds later.
        _ => FileStatus::Changed,
    }
}

/// The change's patch from GitHub's files (of a pull request or a comparison); `listed_all`
/// false when GitHub left files out.
fn patch_identity(files: &[model::PullFile], listed_all: bool) -> PatchIdentity {
    if !listed_all {
        return PatchIdentity::Unknown {
            reason: "GitHub does not list all its files".into(),
        };
    }
    let described: Vec<FilePatch<'_>> = files
        .iter()
        .map(|f| FilePatch {
            path: &f.filename,
            previous_path: f.previous_filename.as_deref(),
            status: file_status(&f.status),
            patch: f.patch.as_deref(),
        })
        .collect();
    match patch_id::of_files(&described, patch_id::Mode::Verbatim) {
        Ok(id) => PatchIdentity::Known { id },
        Err(e) => PatchIdentity::Unknown {
            reason: e.to_string(),
        },
    }
}

/// `GET /repos/{o}/{r}/compare/{base}...{sha}` per commit → the change's patch at that commit
/// (its diff from where it left `base_ref`). Known ids are cached per (repository, base,
/// commit); a commit GitHub cannot compare (gone, unrelated) is unknown, not an error.
pub(crate) async fn patch_ids(
    forge: &GithubForge,
    change: &ChangeRef,
    base_ref: &str,
    commits: &[Sha],
) -> Result<BTreeMap<Sha, PatchIdentity>, ForgeError> {
    let inst = installation(change)?;
    let (owner, repo) = split_repo(&change.repository)?;
    let mut out = BTreeMap::new();
    for sha in commits {
        let key = (
            change.repository.to_ascii_lowercase(),
            base_ref.to_string(),
            sha.as_str().to_string(),
        );
        if let Some(id) = lock(&forge.hints.patch_ids).get(&key) {
            out.insert(sha.clone(), PatchIdentity::Known { id: id.clone() });
            continue;
        }
        let path = format!(
            "/repos/{}/{}/compare/{}...{}",
            encode(owner),
            encode(repo),
            encode(base_ref),
            encode(sha.as_str())
        );
        let what = format!("GET {path}");
        let identity = match forge.http.call(inst, Method::GET, &path, None, &what).await {
            Ok(reply) => {
                let files = reply
                    .json::<model::Comparison>(&what)?
                    .files
                    .unwrap_or_default();
                patch_identity(&files, files.len() < MAX_COMPARE_FILES)
            }
            Err(e @ (ForgeError::NotFound { .. } | ForgeError::Rejected { .. })) => {
                PatchIdentity::Unknown {
                    reason: format!("GitHub cannot compare it with {base_ref}: {e}"),
                }
            }
            Err(e) => return Err(e),
        };
        if let PatchIdentity::Known { id } = &identity {
            remember(&forge.hints.patch_ids, key, id.clone());
        }
        out.insert(sha.clone(), identity);
    }
    Ok(out)
}

fn review_state(s: &str) -> Option<ReviewState> {
    match s {
        "APPROVED" => Some(ReviewState::Approved),
        "CHANGES_REQUESTED" => Some(ReviewState::ChangesRequested),
        "COMMENTED" => Some(ReviewState::Commented),
        "DISMISSED" => Some(ReviewState::Dismissed),
        "PENDING" => Some(ReviewState::Pending),
        _ => None,
    }
}

/// A check run's state: not completed → pending; conclusions as GitHub names them.
fn run_state(status: &str, conclusion: Option<&str>) -> CheckState {
    if status != "completed" {
        return CheckState::Pending;
    }
    match conclusion {
        Some("success") => CheckState::Success,
        Some("neutral") | Some("skipped") => CheckState::Neutral,
        // failure, cancelled, timed_out, action_required, startup_failure, stale, or none.
        _ => CheckState::Failure,
    }
}

fn status_state(state: &str) -> CheckState {
    match state {
        "success" => CheckState::Success,
        "pending" => CheckState::Pending,
        _ => CheckState::Failure,
    }
}

/// `org/team` → (org, team); a bare slug belongs to the repository owner's organisation.
fn team_parts<'a>(team: &'a TeamSlug, owner: &'a str) -> (&'a str, &'a str) {
    match team.as_str().split_once('/') {
        Some((org, slug)) => (org, slug),
        None => (owner, team.as_str()),
    }
}

async fn is_member(
    forge: &GithubForge,
    inst: u64,
    org: &str,
    team: &str,
    login: &str,
) -> Result<bool, ForgeError> {
    let key = (
        org.to_ascii_lowercase(),
        team.to_ascii_lowercase(),
        login.to_ascii_lowercase(),
    );
    if let Some((member, at)) = lock(&forge.hints.members).get(&key)
        && at.elapsed() < MEMBERSHIP_TTL
    {
        return Ok(*member);
    }
    let url = format!(
        "/orgs/{}/teams/{}/memberships/{}",
        encode(org),
        encode(team),
        encode(login)
    );
    let what = format!("GET {url}");
    let member = match forge.http.call(inst, Method::GET, &url, None, &what).await {
        Ok(reply) => reply.json::<model::Membership>(&what)?.state == "active",
        Err(ForgeError::NotFound { .. }) => false,
        Err(e) => return Err(e),
    };
    remember(&forge.hints.members, key, (member, Instant::now()));
    Ok(member)
}

/// Whether `login` is an active member of `team`, for command authorisation.
pub(crate) async fn team_member(
    forge: &GithubForge,
    change: &ChangeRef,
    team: &TeamSlug,
    login: &Login,
) -> Result<bool, ForgeError> {
    let inst = installation(change)?;
    let (owner, _) = split_repo(&change.repository)?;
    let (org, slug) = team_parts(team, owner);
    is_member(forge, inst, org, slug, login.as_str()).await
}

/// Everything the gates look at, for the change at `head`.
pub(crate) async fn snapshot(
    forge: &GithubForge,
    change: &ChangeRef,
    head: &ChangeHead,
    needs: &Needs,
) -> Result<Snapshot, ForgeError> {
    let inst = installation(change)?;
    let (owner, repo) = split_repo(&change.repository)?;
    let (o, r) = (encode(owner), encode(repo));
    let n = change.number;
    let sha = head.head_sha.as_str();

    let files_path = format!("/repos/{o}/{r}/pulls/{n}/files?per_page=100");
    let files_what = format!("GET /repos/{o}/{r}/pulls/{n}/files");
    let files = forge
        .http
        .pages(inst, &files_path, MAX_FILES / 100, &files_what, |reply| {
            reply.json::<Vec<model::PullFile>>(&files_what)
        });
    let pre = prefetched(forge, change).filter(|p| p.head.head_sha == head.head_sha);
    let pre_reviews = pre.as_ref().and_then(|p| p.reviews.clone());
    let pre_runs = pre.as_ref().and_then(|p| p.runs.clone());
    let reviews_path = format!("/repos/{o}/{r}/pulls/{n}/reviews?per_page=100");
    let reviews_what = format!("GET /repos/{o}/{r}/pulls/{n}/reviews");
    let reviews = async {
        if !needs.reviews {
            Ok(Vec::new())
        } else if let Some(list) = pre_reviews {
            Ok(list
                .into_iter()
                .map(|r| model::Review {
                    user: r.login.map(|login| model::User { login }),
                    state: r.state,
                    commit_id: r.commit,
                    submitted_at: r.submitted_at,
                })
                .collect())
        } else {
            forge
                .http
                .pages(inst, &reviews_path, 30, &reviews_what, |reply| {
                    reply.json::<Vec<model::Review>>(&reviews_what)
                })
                .await
        }
    };
    let runs_path = format!("/repos/{o}/{r}/commits/{sha}/check-runs?per_page=100");
    let runs_what = format!("GET /repos/{o}/{r}/commits/{sha}/check-runs");
    let runs = async {
        match pre_runs {
            Some(list) => Ok(list.into_iter().map(model::CheckRun::from).collect()),
            None => {
                forge
                    .http
                    .pages(inst, &runs_path, 30, &runs_what, |reply| {
                        Ok(reply.json::<model::CheckRunList>(&runs_what)?.check_runs)
                    })
                    .await
            }
        }
    };
    let scanning = async {
        if needs.code_scanning {
            code_scanning::read(forge, inst, &o, &r, n, head)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    };
    let (files, reviews, runs, scanning) = tokio::join!(files, reviews, runs, scanning);
    let (files, reviews, runs, scanning) = (files?, reviews?, runs?, scanning?);
    let (reviews, runs): (Vec<model::Review>, Vec<model::CheckRun>) = (reviews, runs);

    let mut snap = Snapshot::new(
        Some(ForgeName::GitHub),
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
    if let Some(scanned) = scanning {
        scanned.apply(&mut snap);
    }

    let listed_all = head
        .changed_files
        .is_none_or(|total| total as usize <= files.len());
    if needs.reviews {
        snap.patch_ids
            .insert(head.head_sha.clone(), patch_identity(&files, listed_all));
    }
    snap.files = files
        .into_iter()
        .map(|f| ChangedFile {
            changed_lines: f.patch.as_deref().and_then(|p| changed_lines(p).ok()),
            status: file_status(&f.status),
            previous_path: f.previous_filename,
            path: f.filename,
        })
        .collect();
    if let Some(total) = head.changed_files
        && total as usize > snap.files.len()
    {
        snap.unknowns.push(format!(
            "the pull request touches {total} files but GitHub lists only {}; the other files were not checked",
            snap.files.len()
        ));
    }

    snap.reviews = reviews
        .into_iter()
        .filter_map(|rv| {
            Some(Review {
                author: Login::new(rv.user?.login),
                state: review_state(&rv.state)?,
                commit: rv.commit_id.map(Sha::new),
                submitted_at: rv.submitted_at,
            })
        })
        .collect();

    // Checks: every run but our own; remember our own for publishing.
    let app_id = forge.http.app_id();
    let mut ours: Option<&model::CheckRun> = None;
    for run in &runs {
        let mine = run.name == CHECK_NAME
            && run
                .app
                .as_ref()
                .is_some_and(|a| app_id.is_none_or(|id| a.id == id));
        if mine {
            if ours.is_none_or(|o| run.id > o.id) {
                ours = Some(run);
            }
            continue;
        }
        snap.checks.push(Check {
            name: run.name.clone(),
            state: run_state(&run.status, run.conclusion.as_deref()),
        });
    }
    let run_key = (change.repository.clone(), head.head_sha.clone());
    if let Some(run) = ours {
        forge.remember_run(
            run_key,
            Some(RunHint {
                id: run.id,
                conclusion: run.conclusion.clone(),
                external_id: run.external_id.clone(),
                title: run.output.title.clone(),
                summary: run.output.summary.clone(),
                text: run.output.text.clone(),
                details_url: run.details_url.clone(),
            }),
        );
    } else {
        forge.remember_run(run_key, None);
    }
    let missing = needs.checks.iter().any(|name| {
        !snap
            .checks
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(name))
    });
    if missing {
        let path = format!("/repos/{o}/{r}/commits/{sha}/status?per_page=100");
        let what = format!("GET /repos/{o}/{r}/commits/{sha}/status");
        let statuses = forge
            .http
            .pages(inst, &path, 10, &what, |reply| {
                Ok(reply.json::<model::CombinedStatus>(&what)?.statuses)
            })
            .await?;
        snap.checks.extend(statuses.into_iter().map(|s| Check {
            state: status_state(&s.state),
            name: s.context,
        }));
    }

    // Contents of touched files the gates read.
    for path in needs.contents_to_read(&mut snap) {
        let bytes = read_file(forge, inst, owner, repo, &path, sha)
            .await?
            .flatten();
        snap.contents.push(FileContent { path, bytes });
    }

    // Team memberships, only of people whose review could count.
    let mut deciders: BTreeSet<Login> = BTreeSet::new();
    for rv in &snap.reviews {
        if matches!(
            rv.state,
            ReviewState::Approved | ReviewState::ChangesRequested
        ) && rv.author != snap.author
            && !rv.author.is_bot()
        {
            deciders.insert(rv.author.clone());
        }
    }
    let mut teams: BTreeMap<String, BTreeSet<Login>> = BTreeMap::new();
    'teams: for team in &needs.teams {
        let (org, slug) = team_parts(team, owner);
        let mut members = BTreeSet::new();
        for login in &deciders {
            match is_member(forge, inst, org, slug, login.as_str()).await {
                Ok(true) => {
                    members.insert(login.clone());
                }
                Ok(false) => {}
                Err(e @ (ForgeError::Forbidden { .. } | ForgeError::Rejected { .. })) => {
                    snap.unknowns.push(format!(
                        "membership of team {team} could not be read ({e}); grant the App the organization `members: read` permission"
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
    fn run_states() {
        assert_eq!(run_state("in_progress", None), CheckState::Pending);
        assert_eq!(run_state("completed", Some("success")), CheckState::Success);
        assert_eq!(run_state("completed", Some("skipped")), CheckState::Neutral);
        assert_eq!(
            run_state("completed", Some("timed_out")),
            CheckState::Failure
        );
        assert_eq!(status_state("error"), CheckState::Failure);
    }

    #[test]
    fn bare_team_slugs_belong_to_the_owner() {
        let t = TeamSlug::new("security");
        assert_eq!(team_parts(&t, "acme"), ("acme", "security"));
        let t = TeamSlug::new("other/crypto");
        assert_eq!(team_parts(&t, "acme"), ("other", "crypto"));
    }
}
