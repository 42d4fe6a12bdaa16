//! The forge-neutral picture of one change request (a GitHub pull request or a GitLab merge
//! request) at one head commit.
//!
//! Every way of running sdl-gate — the App, the GitLab bot, the Action, the GitLab CI job and
//! the offline `check` command — builds one of these and hands it to the same pure evaluation.
//! Nothing here knows which forge it came from or does any I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::forge_name::ForgeName;

use crate::reports::Report;
use crate::waivers::Waiver;

/// A forge user name. Compared case-insensitively, as GitHub and GitLab do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Login(String);

impl Login {
    /// Wraps a user name as given by the forge.
    pub fn new(name: impl Into<String>) -> Self {
        Login(name.into())
    }

    /// The name as the forge spelt it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for bot accounts: GitHub Apps (`dependabot[bot]`) and GitLab's project and group
    /// access-token bots, named `project_123_bot` before GitLab 16 and
    /// `project_123_bot_<hex>` / `group_45_bot_<hex>` since.
    pub fn is_bot(&self) -> bool {
        let lower = self.0.to_ascii_lowercase();
        lower.ends_with("[bot]") || is_gitlab_token_bot(&lower)
    }

    fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl PartialEq for Login {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for Login {}
impl PartialOrd for Login {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Login {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}
impl std::hash::Hash for Login {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state)
    }
}
impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `project_<id>_bot`, `project_<id>_bot_<hex>` or `group_<id>_bot_<hex>` (lower-case).
fn is_gitlab_token_bot(lower: &str) -> bool {
    let Some(rest) = lower
        .strip_prefix("project_")
        .or_else(|| lower.strip_prefix("group_"))
    else {
        return false;
    };
    let Some((id, tail)) = rest.split_once("_bot") else {
        return false;
    };
    let suffix_ok = match tail.strip_prefix('_') {
        None => tail.is_empty(),
        Some(hex) => !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()),
    };
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && suffix_ok
}

/// A team (`org/team-slug` on GitHub) or group path (`group/subgroup` on GitLab).
/// Compared case-insensitively.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct TeamSlug(String);

impl TeamSlug {
    /// Wraps a team slug or group path.
    pub fn new(name: impl Into<String>) -> Self {
        TeamSlug(name.into())
    }

    /// The slug as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl PartialEq for TeamSlug {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for TeamSlug {}
impl PartialOrd for TeamSlug {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TeamSlug {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}
impl fmt::Display for TeamSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A commit id (hex). Compared case-insensitively; short and full forms are not mixed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sha(String);

impl Sha {
    /// Wraps a commit id, lower-casing it.
    pub fn new(sha: impl Into<String>) -> Self {
        Sha(sha.into().to_ascii_lowercase())
    }

    /// The hex string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first seven characters, for display.
    pub fn short(&self) -> &str {
        self.0.get(..7).unwrap_or(&self.0)
    }
}

impl fmt::Display for Sha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a file was touched by the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// New file.
    Added,
    /// Content changed.
    Modified,
    /// File removed.
    Removed,
    /// Moved (possibly with changes); `previous_path` holds the old name.
    Renamed,
    /// Copied from another file.
    Copied,
    /// Mode or type change only.
    Changed,
}

/// One file the change touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedFile {
    /// Path in the head commit (for a removed file, the path it had).
    pub path: String,
    /// The old path of a renamed or copied file.
    #[serde(default)]
    pub previous_path: Option<String>,
    /// What happened to the file.
    pub status: FileStatus,
    /// Line ranges (1-based, inclusive) of added or changed lines in the head version, when
    /// the forge gave a patch. `None` means "unknown": `new_only` then counts the whole file.
    #[serde(default)]
    pub changed_lines: Option<Vec<(u32, u32)>>,
}

impl ChangedFile {
    /// A modified file with unknown changed lines.
    pub fn modified(path: impl Into<String>) -> Self {
        ChangedFile {
            path: path.into(),
            previous_path: None,
            status: FileStatus::Modified,
            changed_lines: None,
        }
    }

    /// True when `line` is among the lines this change touched (or when that is unknown).
    pub fn touches_line(&self, line: u32) -> bool {
        match &self.changed_lines {
            None => true,
            Some(ranges) => ranges.iter().any(|(a, b)| *a <= line && line <= *b),
        }
    }
}

/// The state of a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Approved.
    Approved,
    /// Changes requested (blocks when given by a security reviewer).
    ChangesRequested,
    /// A comment-only review.
    Commented,
    /// An approval or request that was dismissed.
    Dismissed,
    /// Not submitted yet.
    Pending,
}

/// One review of the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Who reviewed.
    pub author: Login,
    /// The verdict of the review.
    pub state: ReviewState,
    /// The commit the review was given on; `None` when the forge does not say (GitLab
    /// approvals are reset on push by the forge itself, so they count as on the head).
    pub commit: Option<Sha>,
    /// When it was submitted.
    #[serde(default)]
    pub submitted_at: Option<DateTime<Utc>>,
}

/// The outcome of a CI check run or commit status, reduced to what the gates need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    /// Concluded successfully.
    Success,
    /// Concluded with failure, error, timed out, cancelled or action required.
    Failure,
    /// Queued or in progress.
    Pending,
    /// Neutral or skipped: ran but gave no verdict.
    Neutral,
}

impl CheckState {
    /// Every word [`CheckState::parse`] accepts (case-insensitive), with the state it means:
    /// the names the CLI documents and the forges send.
    pub const WORDS: &'static [(&'static str, CheckState)] = &[
        ("success", CheckState::Success),
        ("passed", CheckState::Success),
        ("pass", CheckState::Success),
        ("failure", CheckState::Failure),
        ("failed", CheckState::Failure),
        ("fail", CheckState::Failure),
        ("error", CheckState::Failure),
        ("timed_out", CheckState::Failure),
        ("cancelled", CheckState::Failure),
        ("canceled", CheckState::Failure),
        ("action_required", CheckState::Failure),
        ("stale", CheckState::Failure),
        ("pending", CheckState::Pending),
        ("queued", CheckState::Pending),
        ("in_progress", CheckState::Pending),
        ("running", CheckState::Pending),
        ("created", CheckState::Pending),
        ("waiting", CheckState::Pending),
        ("requested", CheckState::Pending),
        ("preparing", CheckState::Pending),
        ("scheduled", CheckState::Pending),
        ("manual", CheckState::Pending),
        ("neutral", CheckState::Neutral),
        ("skipped", CheckState::Neutral),
    ];

    /// Parses the names the CLI and the forges use (`success`, `failure`, `pending`, …; see
    /// [`CheckState::WORDS`]).
    pub fn parse(s: &str) -> Option<CheckState> {
        let word = s.to_ascii_lowercase();
        Self::WORDS
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, state)| *state)
    }

    /// The state's own name (`success`, `failure`, `pending`, `neutral`).
    pub fn name(self) -> &'static str {
        match self {
            CheckState::Success => "success",
            CheckState::Failure => "failure",
            CheckState::Pending => "pending",
            CheckState::Neutral => "neutral",
        }
    }
}

/// A named CI check (GitHub check run or commit status context, GitLab job or status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The check run name or status context.
    pub name: String,
    /// Where it stands.
    pub state: CheckState,
}

/// The content of a file the change touched, read at the head commit, for gates that must
/// look inside (a threat model must still parse; an SBOM must be an SBOM).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileContent {
    /// Path in the head commit.
    pub path: String,
    /// The bytes, or `None` when the file could not be read (too large, binary, gone).
    pub bytes: Option<Vec<u8>>,
}

/// What became of GitHub code scanning for this change, when the policy asks for it
/// (`gates.sast.code_scanning`). The alerts themselves, once read, are one of the `reports`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum CodeScanning {
    /// Not read: not asked for, or this way of running has no code-scanning API (the GitLab
    /// bot, the GitLab CI job, the Action, `check`), where uploaded SARIF files are the evidence.
    #[default]
    NotRead,
    /// Asked for, but GitHub has no code-scanning analysis of `git_ref` yet.
    NoAnalysis {
        /// The ref that was asked about (`refs/pull/{n}/merge`).
        git_ref: String,
    },
    /// Asked for, but the alerts of `git_ref` could not be read; why is among the
    /// `report_errors`, so the gate fails closed.
    Unreadable {
        /// The ref that was asked about.
        git_ref: String,
    },
    /// Asked for, but the newest analysis of `git_ref` by `tool` is of a commit that does not
    /// contain the head commit: code scanning has not caught up with the last push, so its
    /// alerts say nothing about the head yet and the gate waits.
    Stale {
        /// The ref that was asked about.
        git_ref: String,
        /// The tool (and category, when the analysis has one) whose analysis is behind.
        tool: String,
        /// The commit that tool analysed last.
        analysed: String,
    },
    /// The open alerts of `git_ref` are among the `reports`; every tool's newest analysis is
    /// of the head commit (or of a test merge of it).
    Read {
        /// The ref that was read.
        git_ref: String,
    },
}

/// Everything the gates look at, for one change request at one head commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// Which forge; `None` for a local check (`sdl-gate check` on the command line).
    pub forge: Option<ForgeName>,
    /// `owner/name` on GitHub, the project path on GitLab.
    pub repository: String,
    /// PR or MR number (IID on GitLab); 0 for a local check.
    pub number: u64,
    /// Title of the change.
    #[serde(default)]
    pub title: String,
    /// Who opened it.
    pub author: Login,
    /// Description of the change (searched for `Threat-Model:` references).
    #[serde(default)]
    pub body: String,
    /// Labels on the change.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Whether it is a draft.
    #[serde(default)]
    pub draft: bool,
    /// The head commit.
    pub head_sha: Sha,
    /// The target branch.
    #[serde(default)]
    pub base_ref: String,
    /// The files touched.
    pub files: Vec<ChangedFile>,
    /// False when the list of touched files could not be read at all: every gate with a
    /// path trigger then applies (fail closed) instead of silently not applying.
    #[serde(default = "known")]
    pub files_known: bool,
    /// The contents of touched files that gates must inspect (threat models, SBOMs).
    #[serde(default)]
    pub contents: Vec<FileContent>,
    /// Reviews, in submission order.
    #[serde(default)]
    pub reviews: Vec<Review>,
    /// Members of the teams the policy names, as far as they were resolved. A team that is
    /// missing here is unknown (its members cannot count), not empty.
    #[serde(default)]
    pub teams: BTreeMap<String, BTreeSet<Login>>,
    /// CI checks on the head commit.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Scanner reports that belong to this head commit.
    #[serde(default)]
    pub reports: Vec<Report>,
    /// Whether GitHub code scanning was read (`gates.sast.code_scanning`).
    #[serde(default)]
    pub code_scanning: CodeScanning,
    /// Reports that were found but could not be read, as `source: reason`. The gates that
    /// read reports treat them as their own errors (fail closed unless `fail_mode: open`).
    #[serde(default)]
    pub report_errors: Vec<String>,
    /// Threat-model references recorded with `/sdl threat-model`.
    #[serde(default)]
    pub threat_model_refs: Vec<String>,
    /// Waivers in force or once given on this change.
    #[serde(default)]
    pub waivers: Vec<Waiver>,
    /// Things the snapshot builder could not find out (fork token, API denied…), named so
    /// that the report can say what was not checked.
    #[serde(default)]
    pub unknowns: Vec<String>,
    /// The patch of the change (its diff against the base, as `git patch-id --stable` names
    /// it) at some commits: the head's, and the commits of approvals that count only if their
    /// patch is the head's. A commit missing here was not looked at; GitLab fills none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub patch_ids: BTreeMap<Sha, PatchIdentity>,
}

/// What is known of the change's patch at one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PatchIdentity {
    /// `git patch-id --stable` of the change's diff against its base at that commit (hex).
    Known {
        /// 40 hex digits.
        id: String,
    },
    /// The patch could not be named (a file without a patch, a truncated list, a commit the
    /// forge cannot compare), so an approval on it does not carry over.
    Unknown {
        /// Why, as a sentence fragment.
        reason: String,
    },
}

fn known() -> bool {
    true
}

impl Snapshot {
    /// An empty change by `author` at `head_sha`, for builders and tests to fill in.
    pub fn new(
        forge: Option<ForgeName>,
        repository: &str,
        number: u64,
        author: &str,
        head: &str,
    ) -> Self {
        Snapshot {
            forge,
            repository: repository.to_string(),
            number,
            title: String::new(),
            author: Login::new(author),
            body: String::new(),
            labels: Vec::new(),
            draft: false,
            head_sha: Sha::new(head),
            base_ref: String::new(),
            files: Vec::new(),
            files_known: true,
            contents: Vec::new(),
            reviews: Vec::new(),
            teams: BTreeMap::new(),
            checks: Vec::new(),
            reports: Vec::new(),
            code_scanning: CodeScanning::NotRead,
            report_errors: Vec::new(),
            threat_model_refs: Vec::new(),
            waivers: Vec::new(),
            unknowns: Vec::new(),
            patch_ids: BTreeMap::new(),
        }
    }

    /// Is `login` a member of `team` as far as the snapshot knows? `None` when the team's
    /// membership was not resolved.
    pub fn is_member(&self, team: &str, login: &Login) -> Option<bool> {
        self.teams
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(team))
            .map(|(_, members)| members.contains(login))
    }

    /// The content of a touched file, when it was read.
    pub fn content(&self, path: &str) -> Option<&[u8]> {
        self.contents
            .iter()
            .find(|c| c.path == path)
            .and_then(|c| c.bytes.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::Login;

    #[test]
    fn bots_of_both_forges_are_recognised() {
        for bot in [
            "dependabot[bot]",
            "sdl-gate[BOT]",
            "project_123_bot",
            "project_278964_bot_0c3a9e1f2b7d",
            "group_45_bot_ab12",
            "Project_9_Bot",
        ] {
            assert!(Login::new(bot).is_bot(), "{bot}");
        }
        for human in [
            "bob",
            "project_lead",
            "project__bot",
            "project_12_bot_",
            "project_12_bot_xyz",
            "project_12_bottle",
            "group_admin_bot",
            "robot",
        ] {
            assert!(!Login::new(human).is_bot(), "{human}");
        }
    }
}
