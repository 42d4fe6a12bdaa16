//! GitLab webhook events → work items.
//!
//! | `X-Gitlab-Event` | acted on when | key |
//! | --- | --- | --- |
//! | `Merge Request Hook` | action is open, reopen, update, approved, unapproved, approval, unapproval | project + MR IID |
//! | `Merge Request Hook` | action is merge (for the evidence ledger) | project + MR IID; the merge goes in `detail` |
//! | `Note Hook` | the note is on a merge request | project + MR IID; the note goes in `detail` |
//! | `Push Hook` | to the default branch, not a deletion, touching the policy (for the evidence ledger) | the project; the push goes in `detail` |
//! | `Tag Push Hook` | a tag was pushed, not deleted (for the evidence ledger) | the project; the release goes in `detail` |
//! | `Release Hook` | action is create (for the evidence ledger) | the project; the release goes in `detail` |
//! | `Pipeline Hook` | the pipeline finished (success, failed, canceled, skipped) and belongs to an MR | project + MR IID |
//!
//! The project is `project.path_with_namespace`, or the MR's target project when the hook
//! omits `project` (older GitLab versions). Everything else is `Ok(None)`.
//!
//! The ingest parses a delivery with [`parse`], which keeps only [`KEPT_PATHS`]: the table
//! lists every path read here, and reading one it lacks fails a debug assertion.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::pruned::KeptPaths;
use super::{DomainEvent, EventError, Fields, ForgeName, Target, WorkItem, WorkKey};

/// Every payload path the GitLab extractors read (a path keeps the whole value under it),
/// besides [`POLICY_PUSH_PATHS`](super::github::POLICY_PUSH_PATHS).
pub const KEPT_PATHS: &[&str] = &[
    // Every hook: the project (or, from older GitLab, the MR's target project).
    "project.path_with_namespace",
    "object_attributes.target.path_with_namespace",
    // Merge Request Hook.
    "object_attributes.action",
    "object_attributes.iid",
    "object_attributes.last_commit.id",
    "object_attributes.merge_commit_sha",
    "object_attributes.updated_at",
    "object_attributes.title",
    "user.username",
    // Note Hook.
    "object_attributes.noteable_type",
    "object_attributes.id",
    "object_attributes.note",
    "object_attributes.created_at",
    "object_attributes.system",
    "merge_request.iid",
    // Pipeline Hook.
    "object_attributes.status",
    "object_attributes.sha",
    // Push Hook, Tag Push Hook (and POLICY_PUSH_PATHS).
    "ref",
    "project.default_branch",
    "checkout_sha",
    "user_username",
    // Release Hook.
    "action",
    "tag",
    "commit.id",
    "released_at",
];

/// The pruned parse of GitLab deliveries.
static KEPT: LazyLock<KeptPaths> =
    LazyLock::new(|| KeptPaths::new(&[KEPT_PATHS, super::github::POLICY_PUSH_PATHS]));

/// Parses a GitLab delivery's body keeping only what [`extract`] reads
/// ([`KeptPaths::parse`]): `extract` answers the same on it as on the fully parsed body, and
/// it fails exactly when `serde_json::from_str::<Value>` fails, with the same error.
pub fn parse(body: &str) -> Result<Value, serde_json::Error> {
    KEPT.parse(body)
}

const MR_ACTIONS: &[&str] = &[
    "open",
    "reopen",
    "update",
    "approved",
    "unapproved",
    "approval",
    "unapproval",
];
/// Pipeline statuses that mean "finished" (GitLab says `failed`; some tooling sends `failure`).
const PIPELINE_DONE: &[&str] = &["success", "failed", "failure", "canceled", "skipped"];

/// Maps one GitLab delivery (the `X-Gitlab-Event` name and the parsed body) to the work it
/// causes; `Ok(None)` when the product does not act on it.
pub fn extract(event: &str, payload: &Value) -> Result<Option<DomainEvent>, EventError> {
    let f = Fields::new(event, payload, &KEPT)?;
    let (action, items) = match event {
        "Merge Request Hook" => {
            let action = f.str_opt("object_attributes.action");
            if action == Some("merge") {
                let iid = f.change_number("object_attributes.iid")?;
                let merge = super::MergeDetail {
                    head_sha: f
                        .str_opt("object_attributes.last_commit.id")
                        .map(str::to_owned),
                    merge_commit: f
                        .str_opt("object_attributes.merge_commit_sha")
                        .map(str::to_owned),
                    merged_by: f.str_opt("user.username").map(str::to_owned),
                    // The hook has no merge time; the MR was last updated by the merge.
                    merged_at: f.str_opt("object_attributes.updated_at").map(str::to_owned),
                    title: f.str_opt("object_attributes.title").map(str::to_owned),
                };
                return Ok(Some(DomainEvent {
                    event: event.to_owned(),
                    action: action.map(str::to_owned),
                    items: vec![change(&f, iid, Some(merge.to_detail()))?],
                }));
            }
            if !action.is_some_and(|a| MR_ACTIONS.contains(&a)) {
                return Ok(None);
            }
            let iid = f.change_number("object_attributes.iid")?;
            let detail = f
                .str_opt("object_attributes.last_commit.id")
                .map(|sha| json!({ "head_sha": sha }));
            (action.map(str::to_owned), vec![change(&f, iid, detail)?])
        }
        "Note Hook" => {
            if f.str_opt("object_attributes.noteable_type") != Some("MergeRequest") {
                return Ok(None);
            }
            let iid = f.change_number("merge_request.iid")?;
            let action = f.str_opt("object_attributes.action").map(str::to_owned);
            let detail = json!({
                "note_id": f.number("object_attributes.id")?,
                "author": f.get("user.username"),
                "body": f.get("object_attributes.note"),
                "created_at": f.get("object_attributes.created_at"),
                "updated_at": f.get("object_attributes.updated_at"),
                "system": f.get("object_attributes.system"),
                "action": action,
            });
            (action, vec![change(&f, iid, Some(detail))?])
        }
        "Pipeline Hook" => {
            let status = f.str_opt("object_attributes.status");
            if !status.is_some_and(|s| PIPELINE_DONE.contains(&s)) {
                return Ok(None);
            }
            let Some(iid) = f.get("merge_request.iid") else {
                return Ok(None);
            };
            let iid = iid.as_u64().ok_or_else(|| EventError::InvalidField {
                event: event.to_owned(),
                field: "merge_request.iid",
                expected: "a non-negative integer",
            })?;
            let detail = json!({
                "pipeline_id": f.get("object_attributes.id"),
                "status": status,
                "sha": f.get("object_attributes.sha"),
            });
            (
                status.map(str::to_owned),
                vec![change(&f, iid, Some(detail))?],
            )
        }
        "Push Hook" => {
            let git_ref = f.string("ref")?;
            let default = f.str_opt("project.default_branch");
            let (Some(branch), Some(commit)) = (
                git_ref
                    .strip_prefix("refs/heads/")
                    .filter(|b| Some(*b) == default),
                f.str_opt("checkout_sha"),
            ) else {
                return Ok(None);
            };
            if !super::github::touches_policy(&f) {
                return Ok(None);
            }
            let push = super::PolicyPush {
                branch: branch.to_owned(),
                commit: commit.to_owned(),
                by: f.str_opt("user_username").map(str::to_owned),
            };
            let push = json!({ super::POLICY_PUSH: push });
            (
                None,
                vec![WorkItem {
                    key: WorkKey {
                        forge: ForgeName::GitLab,
                        repository: f.string("project.path_with_namespace")?.to_owned(),
                        target: Target::Repository,
                    },
                    detail: Some(push),
                }],
            )
        }
        "Tag Push Hook" => {
            let git_ref = f.string("ref")?;
            let Some(tag) = git_ref.strip_prefix("refs/tags/") else {
                return Ok(None);
            };
            // A deleted tag has no checkout commit.
            let Some(commit) = f.str_opt("checkout_sha") else {
                return Ok(None);
            };
            let release = super::ReleaseDetail {
                tag: tag.to_owned(),
                commit: Some(commit.to_owned()),
                target: None,
                by: f.str_opt("user_username").map(str::to_owned),
                at: None,
            };
            (None, vec![project(&f, &release)?])
        }
        "Release Hook" => {
            let action = f.str_opt("action");
            if action != Some("create") {
                return Ok(None);
            }
            let release = super::ReleaseDetail {
                tag: f.string("tag")?.to_owned(),
                commit: f.str_opt("commit.id").map(str::to_owned),
                target: None,
                by: None,
                at: f.str_opt("released_at").map(str::to_owned),
            };
            (action.map(str::to_owned), vec![project(&f, &release)?])
        }
        _ => return Ok(None),
    };
    Ok(Some(DomainEvent {
        event: event.to_owned(),
        action,
        items,
    }))
}

/// The project's work item carrying a release.
fn project(f: &Fields<'_>, release: &super::ReleaseDetail) -> Result<WorkItem, EventError> {
    Ok(WorkItem {
        key: WorkKey {
            forge: ForgeName::GitLab,
            repository: f.string("project.path_with_namespace")?.to_owned(),
            target: Target::Repository,
        },
        detail: Some(json!({ super::RELEASE_KEY: release })),
    })
}

fn change(f: &Fields<'_>, iid: u64, detail: Option<Value>) -> Result<WorkItem, EventError> {
    let repository = match f.str_opt("project.path_with_namespace") {
        Some(path) if !path.is_empty() => path,
        _ => f.string("object_attributes.target.path_with_namespace")?,
    };
    Ok(WorkItem {
        key: WorkKey {
            forge: ForgeName::GitLab,
            repository: repository.to_owned(),
            target: Target::Change(iid),
        },
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_iid_beyond_the_forges_range_is_refused_naming_the_field() {
        let body = json!({"object_kind": "merge_request",
            "project": {"path_with_namespace": "grp/proj"},
            "object_attributes": {"iid": 4_294_967_296u64, "action": "open"}});
        let err = extract("Merge Request Hook", &body).expect_err("refused");
        assert!(err.to_string().contains("object_attributes.iid"), "{err}");
    }

    #[test]
    fn merge_request_actions() {
        let mut body = json!({"object_kind": "merge_request",
            "project": {"path_with_namespace": "grp/proj"},
            "object_attributes": {"iid": 5, "action": "approved"}});
        let ev = extract("Merge Request Hook", &body).unwrap().unwrap();
        assert_eq!(ev.items[0].key.to_key_string(), "gitlab:grp/proj#5");
        body["object_attributes"]["action"] = json!("close");
        assert_eq!(extract("Merge Request Hook", &body).unwrap(), None);
        body["object_attributes"]["action"] = json!("merge");
        body["object_attributes"]["merge_commit_sha"] = json!("m3rge");
        body["user"] = json!({"username": "maintainer"});
        let ev = extract("Merge Request Hook", &body).unwrap().unwrap();
        let merge = super::super::MergeDetail::of(ev.items[0].detail.as_ref()).unwrap();
        assert_eq!(merge.merge_commit.as_deref(), Some("m3rge"));
        assert_eq!(merge.merged_by.as_deref(), Some("maintainer"));
        assert_eq!(merge.title, None, "no title in the hook: none recorded");
        body["object_attributes"]["title"] = json!("Harden the login <form>");
        let ev = extract("Merge Request Hook", &body).unwrap().unwrap();
        let merge = super::super::MergeDetail::of(ev.items[0].detail.as_ref()).unwrap();
        assert_eq!(merge.title.as_deref(), Some("Harden the login <form>"));
    }

    #[test]
    fn tag_pushes_and_created_releases_carry_the_release() {
        let tag = json!({"object_kind": "tag_push", "ref": "refs/tags/v4.2.0",
            "checkout_sha": "c0ffee", "user_username": "rel-eng",
            "project": {"path_with_namespace": "grp/proj"}});
        let ev = extract("Tag Push Hook", &tag).unwrap().unwrap();
        assert_eq!(ev.items[0].key.to_key_string(), "gitlab:grp/proj");
        let r = super::super::ReleaseDetail::of(ev.items[0].detail.as_ref()).unwrap();
        assert_eq!(
            (r.tag.as_str(), r.commit.as_deref(), r.by.as_deref()),
            ("v4.2.0", Some("c0ffee"), Some("rel-eng"))
        );
        let mut deleted = tag.clone();
        deleted["checkout_sha"] = Value::Null;
        assert_eq!(extract("Tag Push Hook", &deleted).unwrap(), None);
        let release = json!({"object_kind": "release", "action": "create", "tag": "v4.2.0",
            "released_at": "2026-12-04 10:00:00 UTC", "commit": {"id": "c0ffee"},
            "project": {"path_with_namespace": "grp/proj"}});
        let ev = extract("Release Hook", &release).unwrap().unwrap();
        let r = super::super::ReleaseDetail::of(ev.items[0].detail.as_ref()).unwrap();
        assert_eq!(r.commit.as_deref(), Some("c0ffee"));
        let mut updated = release;
        updated["action"] = json!("update");
        assert_eq!(extract("Release Hook", &updated).unwrap(), None);
    }

    #[test]
    fn running_pipeline_or_pipeline_without_mr_is_not_acted_on() {
        let mut body = json!({"project": {"path_with_namespace": "g/p"},
            "object_attributes": {"status": "running", "id": 1}, "merge_request": {"iid": 3}});
        assert_eq!(extract("Pipeline Hook", &body).unwrap(), None);
        body["object_attributes"]["status"] = json!("failed");
        assert!(extract("Pipeline Hook", &body).unwrap().is_some());
        body["merge_request"] = Value::Null;
        assert_eq!(extract("Pipeline Hook", &body).unwrap(), None);
    }

    #[test]
    fn note_on_mr_without_iid_is_an_error() {
        let body = json!({"project": {"path_with_namespace": "g/p"},
            "object_attributes": {"noteable_type": "MergeRequest", "id": 1, "note": "hi"}});
        let err = extract("Note Hook", &body).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Note Hook event: missing field `merge_request.iid`"
        );
    }
}
