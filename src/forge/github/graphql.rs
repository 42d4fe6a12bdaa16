//! One GraphQL query (`POST /graphql`) for the reads of one evaluation that GraphQL can carry
//! with the meaning of the REST reads it replaces: the pull request (`GET /pulls/{n}`), the
//! policy file on the base branch (`GET /contents/{path}?ref={base}`, first of
//! [`POLICY_PATHS`]), the reviews (`GET /pulls/{n}/reviews`) and the head's check runs
//! (`GET /commits/{sha}/check-runs`), and the organisation's policy
//! (`GET /repos/{owner}/.github/contents/sdl-gate.yml`, [`ORG_POLICY_PATH`] at the default
//! branch of the owner's `.github` repository). The changed files stay REST: GraphQL gives a
//! changed file no patch and no previous path.
//!
//! GraphQL has its own points-based rate limit (5,000 points an hour per installation, apart
//! from REST's 5,000 requests); this query costs 1 point. Each part that GraphQL would cut
//! short (more than 100 labels, reviews, check suites or runs of a suite; a truncated or binary
//! policy blob) is left out of the [`Prefetch`], and the REST read is made for it instead:
//! nothing is ever read from a first page only. Bots are named `dependabot` by GraphQL and
//! `dependabot[bot]` by REST: logins are normalised to REST's form.

use chrono::{DateTime, Utc};
use http::Method;
use serde::Deserialize;

use crate::forge::{ChangeHead, ChangeRef, ChangeState, ForgeError, OrgPolicyFile, PolicyFile};
use crate::snapshot::{Login, Sha};

use super::http::DEFAULT_RATE_LIMIT_WAIT;
use super::snapshot::{DEFAULT_BRANCH, ORG_POLICY_REPO};
use super::{GithubForge, installation, split_repo};

/// The policy paths the query reads on the base branch, in order; must equal
/// `crate::policy::POLICY_PATHS` (a test holds them equal; the forge imports no policy). A
/// `policy` call with other paths reads through REST.
pub const POLICY_PATHS: [&str; 3] = [
    ".github/sdl-gate.yml",
    ".gitlab/sdl-gate.yml",
    ".sdl-gate.yml",
];

/// The organisation's policy file the query reads at the default branch of the owner's
/// `.github` repository; must equal `crate::policy::ORG_POLICY_PATH` (a test holds them equal).
/// An `org_policy` call for another path reads through REST.
pub const ORG_POLICY_PATH: &str = "sdl-gate.yml";

/// The query, sent verbatim with variables; the fake GitHub validates it against GitHub's
/// published GraphQL schema (`@octokit/graphql-schema`).
pub const QUERY: &str = r#"query SdlGateEvaluation($owner: String!, $name: String!, $number: Int!, $policy0: String!, $policy1: String!, $policy2: String!, $orgRepo: String!, $orgPolicy: String!) {
  rateLimit { cost remaining resetAt }
  orgPolicy: repository(owner: $owner, name: $orgRepo) {
    defaultBranchRef {
      target {
        __typename
        ... on Commit {
          file(path: $orgPolicy) { type mode object { __typename ... on Blob { text isBinary isTruncated byteSize } } }
        }
      }
    }
  }
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      title
      body
      isDraft
      state
      author { __typename login }
      labels(first: 100) { totalCount nodes { name } }
      headRefOid
      headRefName
      baseRefName
      headRepository { nameWithOwner }
      changedFiles
      comments { totalCount }
      mergeCommit { oid }
      potentialMergeCommit { oid }
      baseRef {
        target {
          __typename
          ... on Commit {
            policy0: file(path: $policy0) { type object { __typename ... on Blob { text isBinary isTruncated } } }
            policy1: file(path: $policy1) { type object { __typename ... on Blob { text isBinary isTruncated } } }
            policy2: file(path: $policy2) { type object { __typename ... on Blob { text isBinary isTruncated } } }
          }
        }
      }
      reviews(first: 100) {
        totalCount
        nodes { author { __typename login } state commit { oid } submittedAt }
      }
      commits(last: 1) {
        nodes {
          commit {
            oid
            checkSuites(first: 100) {
              totalCount
              nodes {
                app { databaseId }
                checkRuns(first: 100, filterBy: {checkType: LATEST}) {
                  totalCount
                  nodes { databaseId name status conclusion externalId title summary text detailsUrl }
                }
              }
            }
          }
        }
      }
    }
  }
}"#;

/// A check run as the snapshot reads it (REST's names and lowercase values).
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub id: u64,
    pub app_id: Option<u64>,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub details_url: Option<String>,
}

impl From<Run> for super::model::CheckRun {
    fn from(r: Run) -> Self {
        super::model::CheckRun {
            id: r.id,
            name: r.name,
            status: r.status,
            conclusion: r.conclusion,
            app: r.app_id.map(|id| super::model::AppRef { id }),
            external_id: r.external_id,
            details_url: r.details_url,
            output: super::model::CheckOutput {
                title: r.title,
                summary: r.summary,
                text: r.text,
            },
        }
    }
}

/// A review as the snapshot reads it.
#[derive(Debug, Clone)]
pub(crate) struct Reviewed {
    pub login: Option<String>,
    pub state: String,
    pub commit: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
}

/// What the query read for one pull request at one head; `None` parts are read through REST.
#[derive(Debug, Clone)]
pub(crate) struct Prefetch {
    pub head: ChangeHead,
    /// The policy on `head.base_ref` at the moment of the query: `Some(None)` = none of
    /// [`POLICY_PATHS`] exists there.
    pub policy: Option<Option<PolicyFile>>,
    pub reviews: Option<Vec<Reviewed>>,
    pub runs: Option<Vec<Run>>,
    /// The organisation's policy ([`ORG_POLICY_PATH`] in the owner's `.github` repository):
    /// `Some(None)` = none (no such repository or file, or a repository outside the
    /// installation, as REST's 404); `None` = read it through REST (a truncated or binary
    /// blob, not a regular file, an error or an answer not understood).
    pub org_policy: Option<Option<OrgPolicyFile>>,
    /// GraphQL points the query cost (`rateLimit.cost`).
    pub cost: u64,
}

#[derive(Deserialize)]
struct Answer {
    data: Option<Data>,
    #[serde(default)]
    errors: Vec<GqlError>,
}

#[derive(Deserialize)]
struct GqlError {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    path: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    rate_limit: Option<RateLimit>,
    repository: Option<Repository>,
    /// Absent: `None`; `null`: `Some(None)`. Read apart, so that an answer not understood
    /// leaves only the organisation's policy to REST.
    #[serde(default, deserialize_with = "present")]
    org_policy: Option<Option<serde_json::Value>>,
}

/// A field that is there (`null` included) is `Some`; a missing one is `None` (by `default`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrgRepo {
    default_branch_ref: Option<OrgBranch>,
}

#[derive(Deserialize)]
struct OrgBranch {
    target: OrgTarget,
}

#[derive(Deserialize)]
struct OrgTarget {
    #[serde(rename = "__typename")]
    typename: String,
    #[serde(default, deserialize_with = "present")]
    file: Option<Option<OrgEntry>>,
}

#[derive(Deserialize)]
struct OrgEntry {
    #[serde(rename = "type")]
    kind: String,
    mode: u32,
    object: Option<OrgBlob>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrgBlob {
    #[serde(rename = "__typename")]
    typename: String,
    text: Option<String>,
    is_binary: Option<bool>,
    is_truncated: Option<bool>,
    byte_size: Option<u64>,
}

#[derive(Deserialize)]
struct RateLimit {
    cost: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Repository {
    pull_request: Option<Pull>,
}

#[derive(Deserialize)]
struct Actor {
    #[serde(rename = "__typename")]
    typename: String,
    login: String,
}

impl Actor {
    /// REST's login: a bot is `name[bot]`.
    fn rest_login(self) -> String {
        if self.typename == "Bot" && !self.login.ends_with("[bot]") {
            format!("{}[bot]", self.login)
        } else {
            self.login
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Count {
    total_count: u64,
}

#[derive(Deserialize)]
struct Labels {
    #[serde(rename = "totalCount")]
    total_count: u64,
    nodes: Vec<Label>,
}

#[derive(Deserialize)]
struct Label {
    name: String,
}

#[derive(Deserialize)]
struct Oid {
    oid: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameWithOwner {
    name_with_owner: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pull {
    title: String,
    body: String,
    is_draft: bool,
    state: String,
    author: Option<Actor>,
    labels: Labels,
    head_ref_oid: String,
    head_ref_name: String,
    base_ref_name: String,
    head_repository: Option<NameWithOwner>,
    changed_files: u64,
    comments: Count,
    merge_commit: Option<Oid>,
    potential_merge_commit: Option<Oid>,
    base_ref: Option<BaseRef>,
    reviews: Reviews,
    commits: Commits,
}

#[derive(Deserialize)]
struct BaseRef {
    target: Target,
}

#[derive(Deserialize)]
struct Target {
    #[serde(rename = "__typename")]
    typename: String,
    policy0: Option<TreeEntry>,
    policy1: Option<TreeEntry>,
    policy2: Option<TreeEntry>,
}

#[derive(Deserialize)]
struct TreeEntry {
    #[serde(rename = "type")]
    kind: String,
    object: Option<Blob>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Blob {
    #[serde(rename = "__typename")]
    typename: String,
    text: Option<String>,
    is_binary: Option<bool>,
    is_truncated: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reviews {
    total_count: u64,
    nodes: Vec<ReviewNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewNode {
    author: Option<Actor>,
    state: String,
    commit: Option<Oid>,
    submitted_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Commits {
    nodes: Vec<CommitNode>,
}

#[derive(Deserialize)]
struct CommitNode {
    commit: HeadCommit,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeadCommit {
    oid: String,
    check_suites: Option<Suites>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Suites {
    total_count: u64,
    nodes: Vec<Suite>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Suite {
    app: Option<App>,
    check_runs: Option<Runs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct App {
    database_id: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Runs {
    total_count: u64,
    nodes: Vec<RunNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunNode {
    database_id: Option<u64>,
    name: String,
    status: String,
    conclusion: Option<String>,
    external_id: Option<String>,
    title: Option<String>,
    summary: Option<String>,
    text: Option<String>,
    details_url: Option<String>,
}

/// The GraphQL endpoint's path for a REST base URL: `/graphql` on api.github.com (and the
/// fake). `None` for GitHub Enterprise Server (`…/api/v3`), whose endpoint (`…/api/graphql`)
/// lies outside the REST base the client joins paths to: there the reads stay REST.
pub(crate) fn endpoint(api_url: &str) -> Option<&'static str> {
    if api_url.trim_end_matches('/').ends_with("/api/v3") {
        None
    } else {
        Some("/graphql")
    }
}

/// Sends the query for `change`; every `errors` entry, missing field or answer that is not
/// the pull request is an error (a rate-limit error is [`ForgeError::RateLimited`]).
pub(crate) async fn read(forge: &GithubForge, change: &ChangeRef) -> Result<Prefetch, ForgeError> {
    let inst = installation(change)?;
    let (owner, repo) = split_repo(&change.repository)?;
    let body = serde_json::json!({
        "query": QUERY,
        "operationName": "SdlGateEvaluation",
        "variables": {
            "owner": owner, "name": repo, "number": change.number,
            "policy0": POLICY_PATHS[0], "policy1": POLICY_PATHS[1], "policy2": POLICY_PATHS[2],
            "orgRepo": ORG_POLICY_REPO, "orgPolicy": ORG_POLICY_PATH,
        }
    });
    let what = format!(
        "POST /graphql (pull request {}#{})",
        change.repository, change.number
    );
    let path = forge.graphql.ok_or_else(|| ForgeError::Config {
        what: "GraphQL reads are off for this client".into(),
    })?;
    let reply = forge
        .http
        .call(inst, Method::POST, path, Some(&body), &what)
        .await?;
    let answer: Answer = reply.json(&what)?;
    // Errors about the organisation's repository alone do not fail the query: GitHub answers
    // `NOT_FOUND` for a repository that does not exist or is outside the installation (REST's
    // 404: no organisation policy); any other leaves the organisation's policy to REST.
    let (org_errors, errors): (Vec<GqlError>, Vec<GqlError>) = answer
        .errors
        .into_iter()
        .partition(|e| e.path.first().and_then(|p| p.as_str()) == Some("orgPolicy"));
    if let Some(e) = errors.first() {
        let at = e
            .path
            .iter()
            .map(|p| match p {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(".");
        return Err(match e.kind.as_deref() {
            Some("RATE_LIMITED") => ForgeError::RateLimited {
                retry_after: reset_wait(&reply.headers).unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
            },
            Some("NOT_FOUND") => ForgeError::NotFound {
                what: format!("{what}: `{at}`: {}", e.message),
            },
            Some("FORBIDDEN") => ForgeError::Forbidden {
                what: format!("{what}: `{at}`: {}", e.message),
            },
            kind => ForgeError::BadResponse {
                what: format!(
                    "{what}: error {} at `{at}`: {}",
                    kind.unwrap_or("(untyped)"),
                    e.message
                ),
            },
        });
    }
    let missing = |field: &str| ForgeError::BadResponse {
        what: format!("{what}: the answer has no `{field}`"),
    };
    let data = answer.data.ok_or_else(|| missing("data"))?;
    let cost = data.rate_limit.map_or(1, |r| r.cost);
    let org_not_found = !org_errors.is_empty()
        && org_errors
            .iter()
            .all(|e| e.kind.as_deref() == Some("NOT_FOUND") && e.path.len() == 1);
    let org_policy = match data.org_policy {
        // The query always asks for it: absent is unexpected.
        None => None,
        Some(None) if org_errors.is_empty() || org_not_found => Some(None),
        Some(None) => None,
        Some(Some(_)) if !org_errors.is_empty() => None,
        Some(Some(v)) => serde_json::from_value::<OrgRepo>(v)
            .ok()
            .and_then(|r| org_policy_of(r, owner)),
    };
    if org_policy.is_none() {
        tracing::debug!(
            repository = %change.repository,
            "the organisation's policy is left to REST by the GraphQL read"
        );
    }
    let pr = data
        .repository
        .ok_or_else(|| missing("data.repository"))?
        .pull_request
        .ok_or_else(|| missing("data.repository.pullRequest"))?;
    let mut pre = prefetch(change, pr, cost, &what)?;
    pre.org_policy = org_policy;
    Ok(pre)
}

/// The organisation's policy as the query read it; `None` = read it through REST (a
/// truncated, binary or oddly sized blob, a symlink, a submodule, a directory, or an answer
/// that is not a commit's tree entry). A directory there is REST's "not a file": REST says so.
fn org_policy_of(repo: OrgRepo, owner: &str) -> Option<Option<OrgPolicyFile>> {
    // An empty repository has no default branch: REST answers 404.
    let Some(branch) = repo.default_branch_ref else {
        return Some(None);
    };
    if branch.target.typename != "Commit" {
        return None;
    }
    let entry = match branch.target.file? {
        None => return Some(None),
        Some(e) => e,
    };
    // A regular file (0o100644, or 0o100755), nothing else: REST follows a symlink.
    if entry.kind != "blob" || !matches!(entry.mode, 0o100644 | 0o100755) {
        return None;
    }
    let blob = entry.object?;
    if blob.typename != "Blob" || blob.is_truncated != Some(false) || blob.is_binary != Some(false)
    {
        return None;
    }
    let text = blob.text?;
    // The text must be the blob's bytes as they are (REST decodes them the same way).
    if blob.byte_size != Some(text.len() as u64) {
        return None;
    }
    Some(Some(OrgPolicyFile {
        repository: format!("{owner}/{ORG_POLICY_REPO}"),
        file: PolicyFile {
            path: ORG_POLICY_PATH.to_string(),
            git_ref: DEFAULT_BRANCH.to_string(),
            text,
        },
    }))
}

/// `x-ratelimit-reset` (epoch seconds) as a wait from now.
fn reset_wait(headers: &http::HeaderMap) -> Option<std::time::Duration> {
    let reset: i64 = headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let wait = reset - Utc::now().timestamp();
    Some(std::time::Duration::from_secs(wait.clamp(1, 3600) as u64))
}

fn prefetch(change: &ChangeRef, pr: Pull, cost: u64, what: &str) -> Result<Prefetch, ForgeError> {
    let state = match pr.state.as_str() {
        "MERGED" => ChangeState::Merged,
        "OPEN" => ChangeState::Open,
        _ => ChangeState::Closed,
    };
    if pr.labels.total_count as usize > pr.labels.nodes.len() {
        // Not read from a first page only: the caller reads the pull request through REST.
        return Err(ForgeError::BadResponse {
            what: format!(
                "{what}: `labels` lists {} of {} labels",
                pr.labels.nodes.len(),
                pr.labels.total_count
            ),
        });
    }
    let head = ChangeHead {
        title: pr.title,
        // REST names a deleted account `ghost`.
        author: Login::new(
            pr.author
                .map_or_else(|| "ghost".to_string(), Actor::rest_login),
        ),
        body: pr.body,
        labels: pr.labels.nodes.into_iter().map(|l| l.name).collect(),
        draft: pr.is_draft,
        head_sha: Sha::new(pr.head_ref_oid.clone()),
        base_ref: pr.base_ref_name.clone(),
        state,
        changed_files: Some(pr.changed_files),
        comments: Some(pr.comments.total_count),
        // REST's `merge_commit_sha`: the merge commit once merged, else the test merge.
        merge_commit_sha: pr
            .merge_commit
            .or(pr.potential_merge_commit)
            .map(|c| Sha::new(c.oid)),
        head_branch: pr
            .head_repository
            .filter(|r| r.name_with_owner.eq_ignore_ascii_case(&change.repository))
            .map(|_| pr.head_ref_name.clone()),
    };
    let policy = pr
        .base_ref
        .and_then(|b| policy_of(b.target, &pr.base_ref_name));
    let reviews = (pr.reviews.total_count as usize <= pr.reviews.nodes.len()).then(|| {
        pr.reviews
            .nodes
            .into_iter()
            .map(|r| Reviewed {
                login: r.author.map(Actor::rest_login),
                state: r.state,
                commit: r.commit.map(|c| c.oid),
                submitted_at: r.submitted_at,
            })
            .collect()
    });
    let runs = pr
        .commits
        .nodes
        .into_iter()
        .next_back()
        .filter(|c| c.commit.oid == pr.head_ref_oid)
        .and_then(|c| runs_of(c.commit.check_suites?));
    Ok(Prefetch {
        head,
        policy,
        reviews,
        runs,
        org_policy: None,
        cost,
    })
}

fn policy_of(target: Target, base_ref: &str) -> Option<Option<PolicyFile>> {
    if target.typename != "Commit" {
        return None;
    }
    for (path, entry) in POLICY_PATHS
        .iter()
        .zip([target.policy0, target.policy1, target.policy2])
    {
        let Some(entry) = entry else { continue };
        // REST's contents API reads a directory, a symlink or a submodule as "not a file".
        if entry.kind != "blob" {
            continue;
        }
        let blob = entry.object?;
        if blob.typename != "Blob" {
            continue;
        }
        if blob.is_truncated != Some(false) || blob.is_binary == Some(true) {
            // Too large or binary: REST reads it (and says so).
            return None;
        }
        return Some(Some(PolicyFile {
            path: path.to_string(),
            git_ref: base_ref.to_string(),
            text: blob.text?,
        }));
    }
    Some(None)
}

fn runs_of(suites: Suites) -> Option<Vec<Run>> {
    if suites.total_count as usize > suites.nodes.len() {
        return None;
    }
    let mut out = Vec::new();
    for suite in suites.nodes {
        let app_id = suite.app.and_then(|a| a.database_id);
        let Some(runs) = suite.check_runs else {
            continue;
        };
        if runs.total_count as usize > runs.nodes.len() {
            return None;
        }
        for r in runs.nodes {
            out.push(Run {
                id: r.database_id?,
                app_id,
                name: r.name,
                status: r.status.to_ascii_lowercase(),
                conclusion: r.conclusion.map(|c| c.to_ascii_lowercase()),
                external_id: r.external_id,
                title: r.title,
                summary: r.summary,
                text: r.text,
                details_url: r.details_url,
            });
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bots_get_rest_logins() {
        let bot = Actor {
            typename: "Bot".into(),
            login: "dependabot".into(),
        };
        assert_eq!(bot.rest_login(), "dependabot[bot]");
        let user = Actor {
            typename: "User".into(),
            login: "alice".into(),
        };
        assert_eq!(user.rest_login(), "alice");
    }

    #[test]
    fn a_missing_field_is_named() {
        let answer = r#"{"data": {"repository": {"pullRequest": {"title": "t"}}}}"#;
        let err = serde_json::from_str::<Answer>(answer)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("missing field `body`"), "{err}");
    }

    #[test]
    fn long_lists_are_left_to_rest() {
        let runs = |total: u64| Suites {
            total_count: 1,
            nodes: vec![Suite {
                app: Some(App {
                    database_id: Some(7),
                }),
                check_runs: Some(Runs {
                    total_count: total,
                    nodes: vec![RunNode {
                        database_id: Some(1),
                        name: "ci".into(),
                        status: "COMPLETED".into(),
                        conclusion: Some("SUCCESS".into()),
                        external_id: None,
                        title: None,
                        summary: None,
                        text: None,
                        details_url: None,
                    }],
                }),
            }],
        };
        let read = runs_of(runs(1)).unwrap_or_default();
        assert_eq!(read.len(), 1);
        assert_eq!(
            (read[0].status.as_str(), read[0].conclusion.as_deref()),
            ("completed", Some("success"))
        );
        assert_eq!(read[0].app_id, Some(7));
        assert!(
            runs_of(runs(101)).is_none(),
            "a second page is read by REST"
        );
    }

    #[test]
    fn the_org_policy_is_read_only_from_a_regular_text_blob() {
        let repo = |mode: u32, size: u64, binary: bool| -> OrgRepo {
            serde_json::from_value(serde_json::json!({"defaultBranchRef": {"target": {
                "__typename": "Commit",
                "file": {"type": "blob", "mode": mode, "object": {"__typename": "Blob",
                    "text": "version: 1\n", "isBinary": binary, "isTruncated": false,
                    "byteSize": size}}}}}))
            .unwrap_or(OrgRepo {
                default_branch_ref: None,
            })
        };
        let read = org_policy_of(repo(0o100644, 11, false), "acme");
        let file = read.flatten().map(|f| (f.location(), f.file.text));
        assert_eq!(
            file,
            Some(("acme/.github/sdl-gate.yml".into(), "version: 1\n".into()))
        );
        assert!(
            org_policy_of(repo(0o120000, 11, false), "acme").is_none(),
            "a symlink"
        );
        assert!(
            org_policy_of(repo(0o100644, 12, false), "acme").is_none(),
            "size"
        );
        assert!(
            org_policy_of(repo(0o100644, 11, true), "acme").is_none(),
            "binary"
        );
        let no_file: OrgRepo = serde_json::from_value(serde_json::json!(
            {"defaultBranchRef": {"target": {"__typename": "Commit", "file": null}}}
        ))
        .unwrap_or(OrgRepo {
            default_branch_ref: None,
        });
        assert!(matches!(org_policy_of(no_file, "acme"), Some(None)));
        let missing: OrgRepo = serde_json::from_value(serde_json::json!(
            {"defaultBranchRef": {"target": {"__typename": "Commit"}}}
        ))
        .unwrap_or(OrgRepo {
            default_branch_ref: None,
        });
        assert!(org_policy_of(missing, "acme").is_none(), "an absent field");
    }

    #[test]
    fn enterprise_endpoint() {
        assert_eq!(endpoint("https://api.github.com"), Some("/graphql"));
        assert_eq!(endpoint("https://ghe.example.com/api/v3/"), None);
    }
}
