//! GitHub webhook events → work items.
//!
//! Which (event, action) pairs the product acts on, and how each is keyed:
//!
//! | event | actions | key |
//! | --- | --- | --- |
//! | `pull_request` | opened, synchronize, reopened, edited, ready_for_review, labeled, unlabeled | repo + number |
//! | `pull_request` | closed with `merged: true` (for the evidence ledger) | repo + number; the merge goes in `detail` |
//! | `pull_request_review` | submitted, edited, dismissed | repo + number |
//! | `issue_comment` (on a PR) | created, edited, deleted | repo + number; the comment goes in `detail` |
//! | `check_run`, `check_suite` | completed | repo + each number in `pull_requests[]` (none → not acted on) |
//! | `check_run` (ours, `sdl-gate`), `check_suite` | rerequested (the Re-run buttons) | repo + each number in `pull_requests[]`; `rerun` in `detail` |
//! | `check_run` (ours) | requested_action with identifier `reevaluate` (the "Re-evaluate" button) | repo + each number in `pull_requests[]`; `rerun` in `detail` |
//! | `check_run` (ours), `check_suite` | rerequested / requested_action with an empty `pull_requests[]` (a fork's pull request) | repo + the run's or suite's **head sha**, resolved like `status`; `rerun` in `detail` |
//! | `merge_group` | checks_requested | repo + the group's **head sha**; the group (`head_ref`, `base_sha`, `base_ref`) goes in `detail` |
//! | `status` | any state | repo + **sha**: the payload names no PR; the processor resolves the sha |
//! | `push` | to the default branch, not a deletion | the repository |
//! | `push` | of a tag, not a deletion (for the evidence ledger) | the repository; the release goes in `detail` |
//! | `release` | published (for the evidence ledger) | the repository; the release goes in `detail` |
//! | `code_scanning_alert` | created, appeared_in_branch, fixed, reopened — on a pull request ref | repo + number (from `ref`, `refs/pull/{n}/…`) |
//! | `code_scanning_alert` | closed_by_user, reopened_by_user (a dismissal holds repository-wide; the payload names no ref) | the repository |
//! | `installation`, `installation_repositories` | any | the installation (bookkeeping) |
//!
//! Everything else, `ping` included, is `Ok(None)`.
//!
//! The ingest parses a delivery with [`parse`], which keeps only [`KEPT_PATHS`]: the table
//! lists every path read here, and reading one it lacks fails a debug assertion.

use std::sync::LazyLock;

use serde_json::{Value, json};

use crate::policy::POLICY_PATHS;

use super::pruned::KeptPaths;
use super::{DomainEvent, EventError, Fields, ForgeName, Target, WorkItem, WorkKey};

/// Every payload path the GitHub extractors read (a path keeps the whole value under it),
/// besides [`POLICY_PUSH_PATHS`].
pub const KEPT_PATHS: &[&str] = &[
    // Every event.
    "action",
    "repository.full_name",
    "repository.id",
    "installation.id",
    // pull_request.
    "number",
    "pull_request.number",
    "pull_request.head.sha",
    "pull_request.merged",
    "pull_request.merge_commit_sha",
    "pull_request.merged_by.login",
    "pull_request.merged_at",
    "pull_request.title",
    // pull_request_review.
    "review.id",
    "review.user.login",
    "review.state",
    "review.commit_id",
    // issue_comment.
    "issue.pull_request",
    "issue.number",
    "comment.id",
    "comment.user.login",
    "comment.user.type",
    "comment.body",
    "comment.created_at",
    "comment.updated_at",
    "changes",
    // check_run, check_suite: the pull request lists are walked whole.
    "check_run.name",
    "check_run.pull_requests",
    "check_run.head_sha",
    "check_suite.pull_requests",
    "check_suite.head_sha",
    "requested_action.identifier",
    // merge_group.
    "merge_group.head_sha",
    "merge_group.head_ref",
    "merge_group.base_sha",
    "merge_group.base_ref",
    // status.
    "sha",
    "state",
    "context",
    // push (and POLICY_PUSH_PATHS).
    "ref",
    "deleted",
    "after",
    "repository.default_branch",
    "repository.master_branch",
    "head_commit.id",
    "head_commit.timestamp",
    "pusher.name",
    "sender.login",
    // release.
    "release.tag_name",
    "release.target_commitish",
    "release.author.login",
    "release.published_at",
    // code_scanning_alert.
    "alert.number",
    // installation, installation_repositories.
    "installation.account.login",
    "repositories",
    "repositories_added",
];

/// The paths [`push_touches_policy`] reads, shared by both forges' tables.
pub const POLICY_PUSH_PATHS: &[&str] = &["forced", "created", "commits"];

/// The pruned parse of GitHub deliveries.
static KEPT: LazyLock<KeptPaths> =
    LazyLock::new(|| KeptPaths::new(&[KEPT_PATHS, POLICY_PUSH_PATHS]));

/// Parses a GitHub delivery's body keeping only what [`extract`] reads
/// ([`KeptPaths::parse`]): `extract` answers the same on it as on the fully parsed body, and
/// it fails exactly when `serde_json::from_str::<Value>` fails, with the same error.
pub fn parse(body: &str) -> Result<Value, serde_json::Error> {
    KEPT.parse(body)
}

const PULL_REQUEST_ACTIONS: &[&str] = &[
    "opened",
    "synchronize",
    "reopened",
    "edited",
    "ready_for_review",
    "labeled",
    "unlabeled",
];
const REVIEW_ACTIONS: &[&str] = &["submitted", "edited", "dismissed"];
const COMMENT_ACTIONS: &[&str] = &["created", "edited", "deleted"];
/// Code-scanning alert changes an analysis made, on the ref it analysed.
const ALERT_ANALYSIS_ACTIONS: &[&str] = &["created", "appeared_in_branch", "fixed", "reopened"];
/// Code-scanning alert changes a person made (dismissed or reopened in the UI): they hold for
/// every ref the alert is on.
const ALERT_USER_ACTIONS: &[&str] = &["closed_by_user", "reopened_by_user"];

/// The name of our check run: a Re-run of another App's run is not ours to answer (its
/// completion re-evaluates anyway).
const OUR_CHECK: &str = "sdl-gate";

/// The identifier of the check run's "Re-evaluate" button (`actions[].identifier`).
pub const REEVALUATE_ACTION: &str = "reevaluate";

/// The pull request number of `refs/pull/{n}/merge` or `refs/pull/{n}/head`.
fn pull_of_ref(git_ref: &str) -> Option<u64> {
    let rest = git_ref.strip_prefix("refs/pull/")?;
    let (number, kind) = rest.split_once('/')?;
    matches!(kind, "merge" | "head")
        .then(|| number.parse().ok())
        .flatten()
}

/// Maps one GitHub delivery (the `X-GitHub-Event` name and the parsed body) to the work it
/// causes; `Ok(None)` when the product does not act on it.
pub fn extract(event: &str, payload: &Value) -> Result<Option<DomainEvent>, EventError> {
    let f = Fields::new(event, payload, &KEPT)?;
    let action = f.str_opt("action").map(str::to_owned);
    let acted = |allowed: &[&str]| action.as_deref().is_some_and(|a| allowed.contains(&a));
    let items = match event {
        "pull_request" if acted(PULL_REQUEST_ACTIONS) => {
            let number = match f.get("number") {
                Some(_) => f.change_number("number")?,
                None => f.change_number("pull_request.number")?,
            };
            let detail = f
                .str_opt("pull_request.head.sha")
                .map(|sha| json!({ "head_sha": sha }));
            vec![change(&f, number, detail)?]
        }
        "pull_request" if acted(&["closed"]) => {
            if f.get("pull_request.merged").and_then(Value::as_bool) != Some(true) {
                return Ok(None);
            }
            let number = match f.get("number") {
                Some(_) => f.change_number("number")?,
                None => f.change_number("pull_request.number")?,
            };
            let merge = super::MergeDetail {
                head_sha: f.str_opt("pull_request.head.sha").map(str::to_owned),
                merge_commit: f
                    .str_opt("pull_request.merge_commit_sha")
                    .map(str::to_owned),
                merged_by: f.str_opt("pull_request.merged_by.login").map(str::to_owned),
                merged_at: f.str_opt("pull_request.merged_at").map(str::to_owned),
                title: f.str_opt("pull_request.title").map(str::to_owned),
            };
            vec![change(&f, number, Some(merge.to_detail()))?]
        }
        "pull_request_review" if acted(REVIEW_ACTIONS) => {
            let number = f.change_number("pull_request.number")?;
            let detail = json!({
                "review_id": f.get("review.id"),
                "author": f.get("review.user.login"),
                "state": f.get("review.state"),
                "commit_id": f.get("review.commit_id"),
            });
            vec![change(&f, number, Some(detail))?]
        }
        "issue_comment" if acted(COMMENT_ACTIONS) => {
            if f.get("issue.pull_request").is_none() {
                return Ok(None);
            }
            let number = f.change_number("issue.number")?;
            let detail = json!({
                "comment_id": f.number("comment.id")?,
                "author": f.get("comment.user.login"),
                // Bots (the App itself among them) never run commands.
                "bot": f.get("comment.user.type").and_then(|t| t.as_str())
                    .map(|t| t.eq_ignore_ascii_case("bot")),
                "body": f.get("comment.body"),
                "created_at": f.get("comment.created_at"),
                "updated_at": f.get("comment.updated_at"),
                "changes": f.get("changes"),
                "action": action,
            });
            vec![change(&f, number, Some(detail))?]
        }
        "check_run" | "check_suite" if acted(&["completed", "rerequested", "requested_action"]) => {
            let rerun = action.as_deref() != Some("completed");
            if rerun && event == "check_run" {
                if f.str_opt("check_run.name") != Some(OUR_CHECK) {
                    return Ok(None);
                }
                if action.as_deref() == Some("requested_action")
                    && f.str_opt("requested_action.identifier") != Some(REEVALUATE_ACTION)
                {
                    return Ok(None);
                }
            }
            if event == "check_suite" && action.as_deref() == Some("requested_action") {
                return Ok(None);
            }
            let field = if event == "check_run" {
                "check_run.pull_requests"
            } else {
                "check_suite.pull_requests"
            };
            let repo_id = f.get("repository.id").and_then(Value::as_u64);
            let prs = f.get(field).and_then(Value::as_array);
            let mut items = Vec::new();
            for pr in prs.into_iter().flatten() {
                let base_repo = pr.pointer("/base/repo/id").and_then(Value::as_u64);
                if repo_id.is_some() && base_repo.is_some() && repo_id != base_repo {
                    // A PR in another repository (its base is elsewhere): not ours to key here.
                    continue;
                }
                let Some(number) = pr
                    .get("number")
                    .and_then(Value::as_u64)
                    .filter(|n| (1..=super::MAX_CHANGE_NUMBER).contains(n))
                else {
                    return Err(EventError::InvalidField {
                        event: event.to_owned(),
                        field,
                        expected: "a list of pull requests with numbers",
                    });
                };
                let head = pr.pointer("/head/sha").and_then(Value::as_str);
                let detail = match (head, rerun) {
                    (Some(sha), true) => Some(json!({ "head_sha": sha, super::RERUN_KEY: true })),
                    (None, true) => Some(json!({ super::RERUN_KEY: true })),
                    (Some(sha), false) => Some(json!({ "head_sha": sha })),
                    (None, false) => None,
                };
                items.push(change(&f, number, detail)?);
            }
            if rerun && items.is_empty() {
                // GitHub lists no pull request from a fork in `pull_requests`: a Re-run there
                // names only the commit, resolved to the open pull requests it heads.
                let head = if event == "check_run" {
                    "check_run.head_sha"
                } else {
                    "check_suite.head_sha"
                };
                if f.get(head).is_some() {
                    let sha = commit_sha(&f, head)?;
                    let detail = json!({ super::RERUN_KEY: true });
                    items.push(item(&f, Target::Commit(sha), Some(detail))?);
                }
            }
            items
        }
        "merge_group" if acted(&["checks_requested"]) => {
            let group = super::MergeGroupDetail {
                head_sha: commit_sha(&f, "merge_group.head_sha")?,
                head_ref: f.string("merge_group.head_ref")?.to_owned(),
                base_sha: commit_sha(&f, "merge_group.base_sha")?,
                base_ref: f.string("merge_group.base_ref")?.to_owned(),
            };
            let detail = json!({ super::MERGE_GROUP_KEY: group });
            vec![item(
                &f,
                Target::MergeGroup(group.head_sha.clone()),
                Some(detail),
            )?]
        }
        "status" => {
            let sha = f.string("sha")?.to_owned();
            let detail = json!({
                "state": f.get("state"),
                "context": f.get("context"),
            });
            vec![item(&f, Target::Commit(sha), Some(detail))?]
        }
        "push" => {
            let git_ref = f.string("ref")?;
            let deleted = f.get("deleted").and_then(Value::as_bool).unwrap_or(false);
            let default = f
                .str_opt("repository.default_branch")
                .or_else(|| f.str_opt("repository.master_branch"));
            if let Some(tag) = git_ref.strip_prefix("refs/tags/").filter(|_| !deleted) {
                // An annotated tag's `after` is the tag object; its head commit is the commit.
                let release = super::ReleaseDetail {
                    tag: tag.to_owned(),
                    commit: f
                        .str_opt("head_commit.id")
                        .or_else(|| f.str_opt("after"))
                        .map(str::to_owned),
                    target: None,
                    by: f
                        .str_opt("pusher.name")
                        .or_else(|| f.str_opt("sender.login"))
                        .map(str::to_owned),
                    at: f.str_opt("head_commit.timestamp").map(str::to_owned),
                };
                return Ok(Some(DomainEvent {
                    event: event.to_owned(),
                    action,
                    items: vec![item(
                        &f,
                        Target::Repository,
                        Some(release_detail(&f, &release)),
                    )?],
                }));
            }
            match default {
                Some(branch) if !deleted && git_ref.strip_prefix("refs/heads/") == Some(branch) => {
                    let mut detail = inputs(&f);
                    if let (Some(sha), Some(d)) = (f.str_opt("after"), detail.as_object_mut()) {
                        d.insert("after".to_owned(), json!(sha));
                        d.insert("branch".to_owned(), json!(branch));
                        if let Some(by) = f
                            .str_opt("pusher.name")
                            .or_else(|| f.str_opt("sender.login"))
                        {
                            d.insert("pusher".to_owned(), json!(by));
                        }
                    }
                    vec![item(&f, Target::Repository, Some(detail))?]
                }
                _ => Vec::new(),
            }
        }
        "release" if acted(&["published"]) => {
            let tag = f.string("release.tag_name")?.to_owned();
            // `target_commitish` is a branch or a commit; only a commit id is a commit.
            let target = f.str_opt("release.target_commitish");
            let is_commit =
                target.is_some_and(|t| t.len() == 40 && t.bytes().all(|b| b.is_ascii_hexdigit()));
            let release = super::ReleaseDetail {
                tag,
                commit: target.filter(|_| is_commit).map(str::to_owned),
                target: target.filter(|_| !is_commit).map(str::to_owned),
                by: f.str_opt("release.author.login").map(str::to_owned),
                at: f.str_opt("release.published_at").map(str::to_owned),
            };
            vec![item(
                &f,
                Target::Repository,
                Some(release_detail(&f, &release)),
            )?]
        }
        "code_scanning_alert" if acted(ALERT_USER_ACTIONS) => {
            let mut detail = inputs(&f);
            if let Some(d) = detail.as_object_mut() {
                d.insert("alert".to_owned(), f.get("alert.number").cloned().into());
                d.insert("action".to_owned(), json!(action));
            }
            vec![item(&f, Target::Repository, Some(detail))?]
        }
        "code_scanning_alert" if acted(ALERT_ANALYSIS_ACTIONS) => {
            // Alerts on branches are not any pull request's; the merge ref's are.
            match pull_of_ref(f.str_opt("ref").unwrap_or_default()) {
                Some(number) => {
                    let detail = json!({ "alert": f.get("alert.number"), "action": action });
                    vec![change(&f, number, Some(detail))?]
                }
                None => Vec::new(),
            }
        }
        "installation" | "installation_repositories" => {
            let id = f.number("installation.id")?;
            let account = f
                .str_opt("installation.account.login")
                .unwrap_or_default()
                .to_owned();
            vec![WorkItem {
                key: WorkKey {
                    forge: ForgeName::GitHub,
                    repository: account,
                    target: Target::Installation(id),
                },
                detail: Some(inputs(&f)),
            }]
        }
        _ => Vec::new(),
    };
    Ok((!items.is_empty()).then(|| DomainEvent {
        event: event.to_owned(),
        action,
        items,
    }))
}

/// A release's detail: the release, and the fan-out's inputs saying it touches no policy (a
/// tag is not the default branch), so the repository job records it and fans out nothing.
fn release_detail(f: &Fields<'_>, release: &super::ReleaseDetail) -> Value {
    let mut detail = inputs(f);
    if let Some(d) = detail.as_object_mut() {
        d.insert(super::RELEASE_KEY.to_owned(), json!(release));
        d.insert("touches_policy".to_owned(), json!(false));
    }
    detail
}

/// The key in a work item's detail that says it carries the fan-out's inputs.
pub const FANOUT_INPUTS: &str = "fanout";

/// What the fan-out of a repository or installation job needs from a delivery, read once
/// here instead of from the raw delivery later (which retention prunes): the installation,
/// for `push` whether it may have touched the policy, for `code_scanning_alert` the default
/// branch, for `installation` / `installation_repositories` the repositories it names (absent
/// when the payload lists none). Marked with [`FANOUT_INPUTS`].
pub fn fanout_inputs(event: &str, payload: &Value) -> Value {
    inputs(&Fields {
        event,
        root: payload,
        kept: &KEPT,
    })
}

/// [`fanout_inputs`] of the payload `f` reads.
fn inputs(f: &Fields<'_>) -> Value {
    let mut d = serde_json::Map::new();
    d.insert(FANOUT_INPUTS.to_owned(), json!(1));
    if let Some(id) = f.raw("installation.id").and_then(Value::as_u64) {
        d.insert("installation".to_owned(), json!(id));
    }
    match f.event {
        "push" => {
            d.insert("touches_policy".to_owned(), json!(touches_policy(f)));
        }
        "code_scanning_alert" => {
            if let Some(b) = f.raw("repository.default_branch") {
                d.insert("default_branch".to_owned(), b.clone());
            }
        }
        "installation" | "installation_repositories" => {
            let field = if f.event == "installation" {
                "repositories"
            } else {
                "repositories_added"
            };
            if let Some(names) = names(f, field) {
                d.insert("repositories".to_owned(), json!(names));
            }
        }
        _ => {}
    }
    Value::Object(d)
}

/// GitHub lists at most this many commits in a push payload we trust as complete; a push
/// with this many or more may have touched the policy in a commit not shown.
pub const PUSH_COMMITS_SHOWN: usize = 20;

/// Whether a `push` payload may have changed the policy file: a listed commit added,
/// modified or removed one of [`POLICY_PATHS`], or the payload cannot tell (no commit
/// list, a file list missing, a force push, a new branch, a list that may be cut) — then
/// the answer is yes, since re-evaluating costs requests but missing a change costs
/// correctness.
pub fn push_touches_policy(payload: &Value) -> bool {
    touches_policy(&Fields {
        event: "push",
        root: payload,
        kept: &KEPT,
    })
}

/// [`push_touches_policy`] of the payload `f` reads (GitLab's push hook has the same
/// fields); it reads only [`POLICY_PUSH_PATHS`].
pub(crate) fn touches_policy(f: &Fields<'_>) -> bool {
    let flag = |name: &str| f.raw(name).and_then(Value::as_bool).unwrap_or(false);
    if flag("forced") || flag("created") {
        return true;
    }
    let Some(commits) = f.raw("commits").and_then(Value::as_array) else {
        return true;
    };
    if commits.is_empty() || commits.len() >= PUSH_COMMITS_SHOWN {
        return true;
    }
    commits.iter().any(|c| {
        ["added", "modified", "removed"].iter().any(|field| {
            match c.get(*field).and_then(Value::as_array) {
                None => true,
                Some(paths) => paths
                    .iter()
                    .any(|p| p.as_str().is_some_and(|p| POLICY_PATHS.contains(&p))),
            }
        })
    })
}

/// The `owner/name` of each repository object in `list` (`repositories`,
/// `repositories_added`); `None` when the field is absent.
pub fn repository_names(payload: &Value, field: &str) -> Option<Vec<String>> {
    names(
        &Fields {
            event: "installation",
            root: payload,
            kept: &KEPT,
        },
        field,
    )
}

/// [`repository_names`] of the payload `f` reads.
fn names(f: &Fields<'_>, field: &str) -> Option<Vec<String>> {
    let list = f.raw(field)?.as_array()?;
    Some(
        list.iter()
            .filter_map(|r| r.get("full_name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect(),
    )
}

/// A commit id at `path`: 40 (SHA-1) or 64 (SHA-256) hexadecimal digits, since it becomes
/// part of a job key and of request paths.
fn commit_sha(f: &Fields<'_>, path: &'static str) -> Result<String, EventError> {
    let sha = f.string(path)?;
    if matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha.to_ascii_lowercase())
    } else {
        Err(EventError::InvalidField {
            event: f.event.to_owned(),
            field: path,
            expected: "a commit sha (40 or 64 hexadecimal digits)",
        })
    }
}

fn change(f: &Fields<'_>, number: u64, detail: Option<Value>) -> Result<WorkItem, EventError> {
    if number == 0 {
        return Err(EventError::InvalidField {
            event: f.event.to_owned(),
            field: "number",
            expected: "a positive pull request number",
        });
    }
    item(f, Target::Change(number), detail)
}

/// A work item for `target`. Every App delivery names its installation; it goes into the
/// detail (`installation`), so the processor knows which installation to act through without
/// reading the raw delivery back.
fn item(f: &Fields<'_>, target: Target, detail: Option<Value>) -> Result<WorkItem, EventError> {
    let detail = match f.get("installation.id").and_then(Value::as_u64) {
        None => detail,
        Some(id) => {
            let mut d = match detail {
                Some(Value::Object(map)) => map,
                Some(other) => {
                    let mut map = serde_json::Map::new();
                    map.insert("value".to_owned(), other);
                    map
                }
                None => serde_json::Map::new(),
            };
            d.insert("installation".to_owned(), Value::from(id));
            Some(Value::Object(d))
        }
    };
    Ok(WorkItem {
        key: WorkKey {
            forge: ForgeName::GitHub,
            repository: f.string("repository.full_name")?.to_owned(),
            target,
        },
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_inputs_travel_in_the_detail() {
        let detail = |event: &str, payload: Value| {
            let ev = extract(event, &payload)
                .unwrap_or_else(|e| panic!("{event}: {e}"))
                .unwrap_or_else(|| panic!("{event} is acted on"));
            ev.items[0]
                .detail
                .clone()
                .unwrap_or_else(|| panic!("{event} has a detail"))
        };
        let repo = json!({"full_name": "octo/repo", "id": 1, "default_branch": "main"});
        let push = |paths: &[&str]| {
            json!({"ref": "refs/heads/main", "after": "abc", "repository": repo,
                   "installation": {"id": 9},
                   "commits": [{"added": [], "modified": paths, "removed": []}]})
        };
        let quiet = detail("push", push(&["src/lib.rs"]));
        assert_eq!(quiet["touches_policy"], false);
        assert_eq!(quiet["installation"], 9);
        assert_eq!(quiet["after"], "abc");
        assert_eq!(
            detail("push", push(&[".github/sdl-gate.yml"]))["touches_policy"],
            true
        );
        let alert = detail(
            "code_scanning_alert",
            json!({"action": "closed_by_user", "alert": {"number": 4}, "ref": "",
                   "repository": repo, "installation": {"id": 9}}),
        );
        assert_eq!(alert["default_branch"], "main");
        assert_eq!(alert["alert"], 4);
        let installed = detail(
            "installation",
            json!({"action": "created", "installation": {"id": 9, "account": {"login": "octo"}},
                   "repositories": [{"full_name": "octo/a"}, {"full_name": "octo/b"}]}),
        );
        assert_eq!(installed["repositories"], json!(["octo/a", "octo/b"]));
        let all = detail(
            "installation",
            json!({"action": "created", "installation": {"id": 9, "account": {"login": "octo"}}}),
        );
        assert!(
            all.get("repositories").is_none(),
            "no list: every repository"
        );
        for d in [quiet, alert, installed, all] {
            assert!(d.get(FANOUT_INPUTS).is_some(), "{d}");
        }
    }

    fn pr(action: &str) -> Value {
        json!({"action": action, "number": 7, "pull_request": {"number": 7, "head": {"sha": "abc"}},
               "repository": {"full_name": "octo/repo", "id": 1}})
    }

    #[test]
    fn acted_on_pull_request_actions_key_the_pr() {
        for action in PULL_REQUEST_ACTIONS {
            let ev = extract("pull_request", &pr(action)).unwrap().unwrap();
            assert_eq!(ev.items.len(), 1);
            assert_eq!(ev.items[0].key.to_key_string(), "github:octo/repo#7");
        }
    }

    fn alert(action: &str, git_ref: &str) -> Value {
        json!({"action": action, "ref": git_ref, "commit_oid": "abc",
               "alert": {"number": 12, "state": "open"},
               "repository": {"full_name": "octo/repo", "id": 1, "default_branch": "main"}})
    }

    #[test]
    fn code_scanning_alerts_key_their_pull_request_or_the_repository() {
        for action in ALERT_ANALYSIS_ACTIONS {
            let ev = extract("code_scanning_alert", &alert(action, "refs/pull/31/merge"))
                .unwrap()
                .unwrap();
            assert_eq!(ev.items.len(), 1);
            assert_eq!(ev.items[0].key.to_key_string(), "github:octo/repo#31");
            // On a branch an analysis concerns no pull request.
            assert_eq!(
                extract("code_scanning_alert", &alert(action, "refs/heads/main")).unwrap(),
                None
            );
        }
        let ev = extract("code_scanning_alert", &alert("created", "refs/pull/8/head"))
            .unwrap()
            .unwrap();
        assert_eq!(ev.items[0].key.to_key_string(), "github:octo/repo#8");
        // A dismissal names no ref and holds everywhere: the repository is re-evaluated.
        for action in ALERT_USER_ACTIONS {
            let ev = extract("code_scanning_alert", &alert(action, ""))
                .unwrap()
                .unwrap();
            assert_eq!(ev.items[0].key.target, Target::Repository);
            assert_eq!(ev.items[0].detail.as_ref().unwrap()["alert"], 12);
        }
        assert_eq!(
            extract(
                "code_scanning_alert",
                &alert("updated_assignment", "refs/pull/31/merge")
            )
            .unwrap(),
            None
        );
        for bad in [
            "refs/pull/x/merge",
            "refs/pull/3/other",
            "refs/pull/",
            "pull/3/merge",
        ] {
            assert_eq!(pull_of_ref(bad), None, "{bad}");
        }
    }

    #[test]
    fn change_numbers_beyond_the_forges_range_are_refused_naming_the_field() {
        for n in [json!(0), json!(2_147_483_648u64), json!(u64::MAX)] {
            let mut body = pr("opened");
            body["number"] = n.clone();
            let err = extract("pull_request", &body).expect_err("refused");
            assert!(
                err.to_string().contains("`number`") && err.to_string().contains("2147483647"),
                "{n}: {err}"
            );
        }
        let mut body = pr("opened");
        body["number"] = json!(2_147_483_647u64);
        body["pull_request"]["number"] = json!(2_147_483_647u64);
        assert!(
            extract("pull_request", &body)
                .expect("the largest is accepted")
                .is_some()
        );
    }

    #[test]
    fn closed_and_assigned_are_not_acted_on() {
        assert_eq!(extract("pull_request", &pr("closed")).unwrap(), None);
        let mut merged = pr("closed");
        merged["pull_request"]["merged"] = json!(true);
        merged["pull_request"]["merge_commit_sha"] = json!("m3rge");
        merged["pull_request"]["merged_by"] = json!({"login": "maintainer"});
        merged["pull_request"]["title"] = json!("Harden the login <form>");
        let event = extract("pull_request", &merged).unwrap().unwrap();
        let merge = super::super::MergeDetail::of(event.items[0].detail.as_ref()).unwrap();
        assert_eq!(merge.merge_commit.as_deref(), Some("m3rge"));
        assert_eq!(merge.title.as_deref(), Some("Harden the login <form>"));
        assert_eq!(merge.merged_by.as_deref(), Some("maintainer"));
        assert_eq!(extract("pull_request", &pr("assigned")).unwrap(), None);
        assert_eq!(extract("ping", &json!({"zen": "x"})).unwrap(), None);
    }

    #[test]
    fn acted_on_event_without_repository_is_an_error_naming_the_field() {
        let err = extract("pull_request", &json!({"action": "opened", "number": 3})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pull_request event: missing field `repository.full_name`"
        );
    }

    #[test]
    fn comment_on_plain_issue_is_not_acted_on_but_on_pr_carries_the_comment() {
        let mut body = json!({"action": "created", "issue": {"number": 4},
            "comment": {"id": 99, "body": "/sdl waive sast", "user": {"login": "alice"}},
            "repository": {"full_name": "octo/repo"}});
        assert_eq!(extract("issue_comment", &body).unwrap(), None);
        body["issue"]["pull_request"] = json!({"url": "x"});
        let ev = extract("issue_comment", &body).unwrap().unwrap();
        let detail = ev.items[0].detail.as_ref().unwrap();
        assert_eq!(detail["body"], "/sdl waive sast");
        assert_eq!(detail["comment_id"], 99);
        assert_eq!(detail["author"], "alice");
        assert_eq!(
            detail["bot"],
            serde_json::Value::Null,
            "no user type: unknown"
        );
        assert_eq!(
            detail["installation"],
            serde_json::Value::Null,
            "none named"
        );
        body["installation"] = json!({"id": 4242});
        let ev = extract("issue_comment", &body).unwrap().unwrap();
        let detail = ev.items[0].detail.as_ref().unwrap();
        assert_eq!(
            detail["installation"], 4242,
            "the installation travels in the detail"
        );
        assert_eq!(detail["comment_id"], 99, "beside the comment");
        body["comment"]["user"]["type"] = json!("Bot");
        let ev = extract("issue_comment", &body).unwrap().unwrap();
        assert_eq!(ev.items[0].detail.as_ref().unwrap()["bot"], true);
    }

    #[test]
    fn check_suite_without_pull_requests_is_not_acted_on() {
        let body = json!({"action": "completed", "check_suite": {"pull_requests": []},
            "repository": {"full_name": "octo/repo", "id": 1}});
        assert_eq!(extract("check_suite", &body).unwrap(), None);
    }

    fn merge_group(action: &str) -> Value {
        json!({"action": action, "merge_group": {
                "head_sha": "a".repeat(40),
                "head_ref": format!("refs/heads/gh-readonly-queue/main/pr-42-{}", "b".repeat(40)),
                "base_sha": "b".repeat(40),
                "base_ref": "refs/heads/main"},
               "repository": {"full_name": "octo/repo", "id": 1}, "installation": {"id": 9}})
    }

    #[test]
    fn merge_group_checks_requested_keys_the_group_head() {
        let ev = extract("merge_group", &merge_group("checks_requested"))
            .unwrap()
            .unwrap();
        assert_eq!(ev.items.len(), 1);
        let item = &ev.items[0];
        assert_eq!(item.key.target, Target::MergeGroup("a".repeat(40)));
        assert_eq!(
            item.key.to_key_string(),
            format!("github:octo/repo@merge-group/{}", "a".repeat(40))
        );
        let group = super::super::MergeGroupDetail::of(item.detail.as_ref()).unwrap();
        assert_eq!(group.base_sha, "b".repeat(40));
        assert_eq!(group.base_branch(), "main");
        assert_eq!(group.named_pull(), Some(42));
        assert_eq!(item.detail.as_ref().unwrap()["installation"], 9);
        assert_eq!(
            extract("merge_group", &merge_group("destroyed")).unwrap(),
            None
        );
    }

    #[test]
    fn a_malformed_merge_group_is_refused_naming_the_field() {
        for (field, value, named) in [
            ("head_sha", json!(null), "merge_group.head_sha"),
            ("head_sha", json!("main"), "merge_group.head_sha"),
            ("head_sha", json!(7), "merge_group.head_sha"),
            ("base_sha", json!("../../x"), "merge_group.base_sha"),
            ("head_ref", json!(""), "merge_group.head_ref"),
            ("base_ref", json!(null), "merge_group.base_ref"),
        ] {
            let mut body = merge_group("checks_requested");
            body["merge_group"][field] = value.clone();
            let err = extract("merge_group", &body).expect_err("refused");
            assert!(err.to_string().contains(named), "{field}={value}: {err}");
        }
        let err = extract(
            "merge_group",
            &json!({"action": "checks_requested",
            "repository": {"full_name": "octo/repo"}}),
        )
        .expect_err("refused");
        assert!(err.to_string().contains("merge_group.head_sha"), "{err}");
    }

    #[test]
    fn named_pull_reads_the_queue_ref_only() {
        let group = |r: &str| super::super::MergeGroupDetail {
            head_ref: r.into(),
            ..Default::default()
        };
        assert_eq!(
            group("refs/heads/gh-readonly-queue/main/pr-7-abc").named_pull(),
            Some(7)
        );
        assert_eq!(
            group("refs/heads/gh-readonly-queue/release/1.x/pr-12-abc").named_pull(),
            Some(12)
        );
        for bad in [
            "refs/heads/main",
            "pr-x-abc",
            "pr-0-abc",
            "pr-99999999999-a",
            "pr-5",
        ] {
            assert_eq!(group(bad).named_pull(), None, "{bad}");
        }
    }

    fn rerun(event: &str, action: &str) -> Value {
        let object = json!({"name": "sdl-gate", "pull_requests": [
            {"number": 5, "head": {"sha": "abc"}, "base": {"repo": {"id": 1}}}]});
        json!({"action": action, event: object,
               "requested_action": {"identifier": REEVALUATE_ACTION},
               "repository": {"full_name": "octo/repo", "id": 1}})
    }

    #[test]
    fn re_run_and_re_evaluate_re_evaluate_the_pull_requests() {
        for (event, action) in [
            ("check_run", "rerequested"),
            ("check_run", "requested_action"),
            ("check_suite", "rerequested"),
        ] {
            let ev = extract(event, &rerun(event, action)).unwrap().unwrap();
            assert_eq!(
                ev.items[0].key.target,
                Target::Change(5),
                "{event}/{action}"
            );
            let detail = ev.items[0].detail.as_ref();
            assert!(super::super::is_rerun(detail), "{event}/{action}");
            assert_eq!(detail.unwrap()["head_sha"], "abc");
        }
        // Another App's run, another button, a suite has no buttons.
        let mut theirs = rerun("check_run", "rerequested");
        theirs["check_run"]["name"] = json!("CodeQL");
        assert_eq!(extract("check_run", &theirs).unwrap(), None);
        let mut other = rerun("check_run", "requested_action");
        other["requested_action"]["identifier"] = json!("something-else");
        assert_eq!(extract("check_run", &other).unwrap(), None);
        assert_eq!(
            extract("check_suite", &rerun("check_suite", "requested_action")).unwrap(),
            None
        );
        // A fork's pull request is not listed: the head commit is resolved instead.
        for (event, action) in [("check_run", "rerequested"), ("check_suite", "rerequested")] {
            let mut body = rerun(event, action);
            body[event]["pull_requests"] = json!([]);
            body[event]["head_sha"] = json!("c".repeat(40));
            let ev = extract(event, &body).unwrap().unwrap();
            assert_eq!(ev.items[0].key.target, Target::Commit("c".repeat(40)));
            assert!(super::super::is_rerun(ev.items[0].detail.as_ref()));
            body[event]["head_sha"] = json!("not a sha");
            let err = extract(event, &body).expect_err("refused");
            assert!(
                err.to_string().contains(&format!("{event}.head_sha")),
                "{err}"
            );
        }
        // A completed run is not a re-run.
        let done = extract("check_run", &rerun("check_run", "completed"))
            .unwrap()
            .unwrap();
        assert!(!super::super::is_rerun(done.items[0].detail.as_ref()));
    }

    #[test]
    fn push_to_other_branch_or_tag_is_not_acted_on() {
        let mut body = json!({"ref": "refs/heads/feature", "repository": {"full_name": "o/r", "default_branch": "main"}});
        assert_eq!(extract("push", &body).unwrap(), None);
        body["ref"] = json!("refs/heads/main");
        let ev = extract("push", &body).unwrap().unwrap();
        assert_eq!(ev.items[0].key.target, Target::Repository);
    }

    #[test]
    fn non_object_payload_is_an_error() {
        assert!(matches!(
            extract("pull_request", &json!([1, 2])),
            Err(EventError::NotAnObject { .. })
        ));
    }
}
