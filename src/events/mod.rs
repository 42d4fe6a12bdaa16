//! Webhook payload → work item extraction, as pure functions.
//!
//! The server verifies a delivery and then asks this module one question: "which change
//! requests does this event concern?". The answer is a [`DomainEvent`] listing one or more
//! [`WorkItem`]s, or `Ok(None)` when the product does not act on the event (a closed PR, a
//! tag push, a job hook...). Only a payload that claims to be an acted-on event but lacks the
//! fields needed to key it is an [`EventError`]. No I/O happens here, so every published
//! fixture can be run through it in a unit test.

pub mod github;
pub mod gitlab;
pub mod pruned;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::forge_name::ForgeName;

use pruned::KeptPaths;

/// The largest pull request number or merge request IID accepted: GitHub and GitLab number
/// changes with signed 32-bit integers.
pub const MAX_CHANGE_NUMBER: u64 = i32::MAX as u64;

/// What a unit of work is about, inside one repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Target {
    /// A pull request / merge request, by its number (GitHub) or IID (GitLab).
    Change(u64),
    /// A commit, when the event names no change request. GitHub `status` events carry only
    /// the sha; the processor resolves it to the open pull requests whose head it is.
    Commit(String),
    /// The repository as a whole (a push to its default branch: the policy may have changed).
    Repository,
    /// An app installation (bookkeeping: installed, removed, repositories added/removed).
    Installation(u64),
    /// A merge queue's group, by its head commit (GitHub `merge_group`): the commit on the
    /// queue's temporary branch that gets the `sdl-gate` check.
    MergeGroup(String),
}

impl Target {
    /// The stored kind column.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Change(_) => "change",
            Target::Commit(_) => "commit",
            Target::Repository => "repository",
            Target::Installation(_) => "installation",
            Target::MergeGroup(_) => "merge_group",
        }
    }

    /// The stored value column (number, sha, empty, installation id).
    pub fn value(&self) -> String {
        match self {
            Target::Change(n) | Target::Installation(n) => n.to_string(),
            Target::Commit(sha) | Target::MergeGroup(sha) => sha.clone(),
            Target::Repository => String::new(),
        }
    }

    /// Rebuilds a target from its stored columns.
    pub fn from_parts(kind: &str, value: &str) -> Option<Target> {
        match kind {
            "change" => value.parse().ok().map(Target::Change),
            "commit" => Some(Target::Commit(value.to_owned())),
            "repository" => Some(Target::Repository),
            "installation" => value.parse().ok().map(Target::Installation),
            "merge_group" => Some(Target::MergeGroup(value.to_owned())),
            _ => None,
        }
    }
}

/// The key work is coalesced under: one pending job per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkKey {
    /// Which forge.
    pub forge: ForgeName,
    /// `owner/name` (GitHub) or `group/project` path (GitLab); for installations, the
    /// account the app is installed on.
    pub repository: String,
    /// What inside the repository.
    pub target: Target,
}

impl WorkKey {
    /// The unique text form stored in the jobs table, e.g. `github:octo/repo#12`.
    pub fn to_key_string(&self) -> String {
        match &self.target {
            Target::Change(n) => format!("{}:{}#{n}", self.forge, self.repository),
            Target::Commit(sha) => format!("{}:{}@{sha}", self.forge, self.repository),
            Target::Repository => format!("{}:{}", self.forge, self.repository),
            Target::Installation(id) => format!("{}:installation/{id}", self.forge),
            Target::MergeGroup(sha) => {
                format!("{}:{}@merge-group/{sha}", self.forge, self.repository)
            }
        }
    }
}

impl fmt::Display for WorkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_key_string())
    }
}

/// One change request (or commit, repository, installation) an event asks us to re-evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    /// Where the work is coalesced.
    pub key: WorkKey,
    /// Event-specific data the processor needs beyond the key. For comments this is the
    /// comment itself (id, author, body, action), since `/sdl` commands are read from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

/// The typed detail under `key` of an event's detail, if it has one that reads as `T`.
fn typed_detail<T: serde::de::DeserializeOwned>(detail: Option<&Value>, key: &str) -> Option<T> {
    T::deserialize(detail?.get(key)?).ok()
}

/// What a merge event says about the merge, carried in its detail under [`MERGE_KEY`] (the
/// forges name these fields differently; the engine reads only this).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeDetail {
    /// The head commit that was merged.
    pub head_sha: Option<String>,
    /// The merge (or squash) commit on the target branch.
    pub merge_commit: Option<String>,
    /// Who merged.
    pub merged_by: Option<String>,
    /// When (RFC 3339, as the forge sent it).
    pub merged_at: Option<String>,
    /// The change's title (GitHub `pull_request.title`, GitLab `object_attributes.title`);
    /// absent in details queued before titles were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// The detail key of a [`MergeDetail`].
pub const MERGE_KEY: &str = "merge";

impl MergeDetail {
    /// The merge in an event's detail, if it is a merge event.
    pub fn of(detail: Option<&Value>) -> Option<MergeDetail> {
        typed_detail(detail, MERGE_KEY)
    }

    /// This merge as an event detail (`head_sha` beside it, as every change event has).
    pub fn to_detail(&self) -> Value {
        serde_json::json!({ "head_sha": self.head_sha, MERGE_KEY: self })
    }
}

/// What a release event says (a GitHub release published or tag pushed, a GitLab tag push or
/// release hook), carried in its detail under [`RELEASE_KEY`] for the evidence ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseDetail {
    /// The tag (`v4.2.0`).
    pub tag: String,
    /// The commit the tag names, when the event says.
    pub commit: Option<String>,
    /// What the release was made from when the event names no commit (a branch).
    pub target: Option<String>,
    /// Who released or pushed the tag.
    pub by: Option<String>,
    /// When (RFC 3339, as the forge sent it).
    pub at: Option<String>,
}

/// The detail key of a [`ReleaseDetail`].
pub const RELEASE_KEY: &str = "release";

impl ReleaseDetail {
    /// The release in an event's detail, if it is a release event.
    pub fn of(detail: Option<&Value>) -> Option<ReleaseDetail> {
        typed_detail(detail, RELEASE_KEY)
    }
}

/// What a merge queue's `merge_group` event says about the group, carried in its detail
/// under [`MERGE_GROUP_KEY`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeGroupDetail {
    /// The group's commit (`merge_group.head_sha`): the check goes on it.
    pub head_sha: String,
    /// The group's temporary branch (`merge_group.head_ref`,
    /// `refs/heads/gh-readonly-queue/main/pr-123-<sha>`).
    pub head_ref: String,
    /// The commit the group was built on (`merge_group.base_sha`).
    pub base_sha: String,
    /// The branch the group merges into (`merge_group.base_ref`, `refs/heads/main`).
    pub base_ref: String,
}

/// The detail key of a [`MergeGroupDetail`].
pub const MERGE_GROUP_KEY: &str = "merge_group";

impl MergeGroupDetail {
    /// The merge group in an event's detail, if it is a merge group event.
    pub fn of(detail: Option<&Value>) -> Option<MergeGroupDetail> {
        typed_detail(detail, MERGE_GROUP_KEY)
    }

    /// The branch the group merges into, without `refs/heads/`.
    pub fn base_branch(&self) -> &str {
        self.base_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(&self.base_ref)
    }

    /// The pull request the group's ref names (`…/pr-123-<sha>`): the newest entry of the
    /// group. `None` when the ref is not shaped so.
    pub fn named_pull(&self) -> Option<u64> {
        let last = self.head_ref.rsplit('/').next()?;
        let rest = last.strip_prefix("pr-")?;
        let (number, _sha) = rest.split_once('-')?;
        number
            .parse()
            .ok()
            .filter(|n| (1..=MAX_CHANGE_NUMBER).contains(n))
    }
}

/// The detail key saying a person asked for a fresh evaluation from GitHub's UI (the check
/// run's Re-run, the check suite's Re-run, or the check run's "Re-evaluate" button): the
/// evaluation then publishes a new check run, as GitHub expects of a re-requested run.
pub const RERUN_KEY: &str = "rerun";

/// Whether an event's detail carries [`RERUN_KEY`].
pub fn is_rerun(detail: Option<&Value>) -> bool {
    detail
        .and_then(|d| d.get(RERUN_KEY))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// A push to the default branch that may have changed the policy file, for the evidence
/// ledger's `policy_changed` (GitLab carries it under [`POLICY_PUSH`]; GitHub's fan-out inputs
/// hold the same three fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyPush {
    /// The default branch.
    pub branch: String,
    /// The commit the push left it at.
    pub commit: String,
    /// Who pushed.
    pub by: Option<String>,
}

/// The detail key of a [`PolicyPush`].
pub const POLICY_PUSH: &str = "policy_push";

impl PolicyPush {
    /// The push in an event's detail, if it carries one.
    pub fn of(detail: Option<&Value>) -> Option<PolicyPush> {
        typed_detail(detail, POLICY_PUSH)
    }
}

/// An acted-on event: its name, action and the work it causes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    /// The event name (`pull_request`, `Merge Request Hook`, ...).
    pub event: String,
    /// The action within the event, when the forge sends one.
    pub action: Option<String>,
    /// The work items, never empty.
    pub items: Vec<WorkItem>,
}

/// A payload that claims to be an acted-on event but cannot be keyed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A field needed to key the event is absent or null.
    #[error("{event} event: missing field `{field}`")]
    MissingField {
        /// The event name.
        event: String,
        /// The JSON path of the field, e.g. `pull_request.number`.
        field: &'static str,
    },
    /// A field has the wrong JSON type or an impossible value.
    #[error("{event} event: field `{field}` is not {expected}")]
    InvalidField {
        /// The event name.
        event: String,
        /// The JSON path of the field.
        field: &'static str,
        /// What was expected, e.g. "a positive integer".
        expected: &'static str,
    },
    /// The body is JSON but not an object.
    #[error("{event} event: the payload is not a JSON object")]
    NotAnObject {
        /// The event name.
        event: String,
    },
}

/// Small helpers to walk a JSON payload with errors naming the path.
///
/// Every path read goes through [`Fields::raw`], which in debug builds asserts that the
/// forge's pruned parse keeps it ([`KeptPaths::covers`]): the ingest hands the extractors a
/// payload holding only those paths, so a path missing from the table would read as absent
/// in production while reading fine from a fully parsed test payload.
pub(crate) struct Fields<'a> {
    pub(crate) event: &'a str,
    pub(crate) root: &'a Value,
    /// The paths the forge's pruned parse keeps.
    pub(crate) kept: &'a KeptPaths,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(
        event: &'a str,
        root: &'a Value,
        kept: &'a KeptPaths,
    ) -> Result<Self, EventError> {
        if root.is_object() {
            Ok(Fields { event, root, kept })
        } else {
            Err(EventError::NotAnObject {
                event: event.to_owned(),
            })
        }
    }

    /// The value at a dotted path, `null` included; `None` when absent.
    pub(crate) fn raw(&self, path: &str) -> Option<&'a Value> {
        debug_assert!(
            self.kept.covers(path),
            "{} extractor reads `{path}`, which the pruned parse does not keep: add it to the forge's KEPT_PATHS",
            self.event
        );
        path.split('.').try_fold(self.root, |v, part| v.get(part))
    }

    /// The value at a dotted path, `None` when absent or null.
    pub(crate) fn get(&self, path: &str) -> Option<&'a Value> {
        self.raw(path).filter(|v| !v.is_null())
    }

    pub(crate) fn str_opt(&self, path: &str) -> Option<&'a str> {
        self.get(path).and_then(Value::as_str)
    }

    pub(crate) fn string(&self, path: &'static str) -> Result<&'a str, EventError> {
        match self.get(path) {
            None => Err(self.missing(path)),
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(_) => Err(EventError::InvalidField {
                event: self.event.to_owned(),
                field: path,
                expected: "a non-empty string",
            }),
        }
    }

    pub(crate) fn number(&self, path: &'static str) -> Result<u64, EventError> {
        match self.get(path) {
            None => Err(self.missing(path)),
            Some(v) => v.as_u64().ok_or_else(|| EventError::InvalidField {
                event: self.event.to_owned(),
                field: path,
                expected: "a non-negative integer",
            }),
        }
    }

    /// A pull request number or merge request IID: from 1 to [`MAX_CHANGE_NUMBER`]. Both forges
    /// number changes with 32-bit integers, so anything beyond is not a change of theirs.
    pub(crate) fn change_number(&self, path: &'static str) -> Result<u64, EventError> {
        let n = self.number(path)?;
        if (1..=MAX_CHANGE_NUMBER).contains(&n) {
            Ok(n)
        } else {
            Err(EventError::InvalidField {
                event: self.event.to_owned(),
                field: path,
                expected: "a change number from 1 to 2147483647",
            })
        }
    }

    pub(crate) fn missing(&self, path: &'static str) -> EventError {
        EventError::MissingField {
            event: self.event.to_owned(),
            field: path,
        }
    }
}
