//! The policy file's data model: every key a product security officer may write, with its
//! default. Strict: unknown keys are rejected (`deny_unknown_fields`) so that a misspelt gate
//! setting can never silently fall back to a weaker default.
//!
//! Every gate shares [`Common`] settings (`enabled`, `fail_mode`, `trigger`), written in the
//! file directly beside the gate's own keys. serde's `flatten` cannot be combined with
//! `deny_unknown_fields` (the flattened part is buffered, so an unknown key can slip through and
//! errors lose their line and column), so each gate is read through a private `Raw…` struct
//! that lists all its keys flat and is converted into the public struct with its `common` part
//! (`#[serde(from, into)]`). The public shape stays `gate.common.enabled`.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::reports::Severity;
use crate::snapshot::TeamSlug;

use super::glob::GlobPattern;

/// The policy file (`.github/sdl-gate.yml`, `.gitlab/sdl-gate.yml` or `.sdl-gate.yml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Policy format version; must be 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// Globs of security-relevant paths: the default trigger of the threat-model and
    /// security-review gates.
    #[serde(default)]
    pub security_paths: Vec<GlobPattern>,
    /// Labels that make a change security-relevant whatever it touches.
    #[serde(default)]
    pub security_labels: Vec<String>,
    /// The gates and their settings.
    #[serde(default)]
    pub gates: Gates,
    /// Who may waive gates and how.
    #[serde(default)]
    pub waivers: WaiverPolicy,
    /// How results are reported on the change.
    #[serde(default)]
    pub report: ReportSettings,
    /// The organisation's floor: rules every repository's policy may tighten but not loosen.
    /// Read only from the organisation's policy (the `.github` repository's `sdl-gate.yml`,
    /// or the GitLab policy project); a repository's own `floor` has no effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<super::floor::Floor>,
}

/// Settings of every gate.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// Threat model must be kept current when security-relevant code changes.
    #[serde(default)]
    pub threat_model: ThreatModelGate,
    /// Designated reviewers must approve the head commit.
    #[serde(default)]
    pub security_review: SecurityReviewGate,
    /// Static analysis checks must pass with no findings at or above the threshold.
    #[serde(default)]
    pub sast: SastGate,
    /// Dependency scans must pass with no known vulnerability at or above the threshold.
    #[serde(default)]
    pub dependencies: DependenciesGate,
    /// An SBOM must accompany manifest changes.
    #[serde(default)]
    pub sbom: SbomGate,
}

/// What a gate does when it cannot evaluate its own inputs (a report that does not parse, a
/// team that cannot be resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// The gate fails (default; sdl-gate never passes what it could not check).
    #[default]
    Closed,
    /// The gate's own error becomes a warning and the gate is judged on what it could read.
    Open,
}

/// When a gate applies to a change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// Changed paths that trigger the gate. Absent: the gate's default (usually
    /// `security_paths`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<GlobPattern>>,
    /// Labels that trigger the gate. Absent: `security_labels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Apply to every change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always: Option<bool>,
}

/// Settings every gate shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Common {
    /// Whether the gate runs.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What happens when the gate cannot evaluate its inputs.
    #[serde(default)]
    pub fail_mode: FailMode,
    /// When the gate applies.
    #[serde(default)]
    pub trigger: Trigger,
}

fn yes() -> bool {
    true
}

impl Default for Common {
    fn default() -> Self {
        Common {
            enabled: true,
            fail_mode: FailMode::Closed,
            trigger: Trigger::default(),
        }
    }
}

/// `gates.threat_model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(from = "RawThreatModelGate", into = "RawThreatModelGate")]
pub struct ThreatModelGate {
    /// Shared gate settings (default trigger: `security_paths` / `security_labels`).
    pub common: Common,
    /// Files whose change counts as a threat-model update.
    pub paths: Vec<GlobPattern>,
    /// Accepted `Threat-Model:` references: URL match patterns (see `policy::link`: scheme and
    /// host exact, `*.` for subdomains, `*` in the path crossing `/`), or `#*` for an issue.
    pub link_patterns: Vec<GlobPattern>,
}

/// `gates.threat_model` as written: the shared settings flat beside the gate's own keys.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "ThreatModelGate")]
struct RawThreatModelGate {
    /// Whether the gate runs (default true).
    #[serde(default = "yes")]
    enabled: bool,
    /// What happens when the gate cannot evaluate its inputs (default `closed`).
    #[serde(default)]
    fail_mode: FailMode,
    /// When the gate applies (default: `security_paths` and `security_labels`).
    #[serde(default)]
    trigger: Trigger,
    /// Files whose change counts as a threat-model update.
    #[serde(default = "default_tm_paths")]
    paths: Vec<GlobPattern>,
    /// Accepted `Threat-Model:` references in the change description (URL globs, or `#*` for
    /// an issue of this repository).
    #[serde(default)]
    link_patterns: Vec<GlobPattern>,
}

impl From<RawThreatModelGate> for ThreatModelGate {
    fn from(r: RawThreatModelGate) -> Self {
        ThreatModelGate {
            common: Common {
                enabled: r.enabled,
                fail_mode: r.fail_mode,
                trigger: r.trigger,
            },
            paths: r.paths,
            link_patterns: r.link_patterns,
        }
    }
}

impl From<ThreatModelGate> for RawThreatModelGate {
    fn from(g: ThreatModelGate) -> Self {
        RawThreatModelGate {
            enabled: g.common.enabled,
            fail_mode: g.common.fail_mode,
            trigger: g.common.trigger,
            paths: g.paths,
            link_patterns: g.link_patterns,
        }
    }
}

fn default_tm_paths() -> Vec<GlobPattern> {
    vec![
        GlobPattern::new_unchecked("docs/threat-model/**"),
        GlobPattern::new_unchecked("**/*.tm7"),
        GlobPattern::new_unchecked("**/threagile.yaml"),
    ]
}

impl Default for ThreatModelGate {
    fn default() -> Self {
        ThreatModelGate {
            common: Common::default(),
            paths: default_tm_paths(),
            link_patterns: Vec::new(),
        }
    }
}

/// A set of reviewers: users and teams.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reviewers {
    /// Teams (`org/team` on GitHub, group path on GitLab) whose members count.
    #[serde(default)]
    pub teams: Vec<TeamSlug>,
    /// Individual users who count.
    #[serde(default)]
    pub users: Vec<String>,
}

impl Reviewers {
    /// True when no reviewer is named at all.
    pub fn is_empty(&self) -> bool {
        self.teams.is_empty() && self.users.is_empty()
    }
}

/// Extra reviewers required when certain paths change (e.g. crypto code needs the crypto team).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathReviewers {
    /// Name shown in reports (defaults to the first glob).
    #[serde(default)]
    pub name: Option<String>,
    /// The paths that call for these reviewers.
    pub paths: Vec<GlobPattern>,
    /// Approvals needed from them.
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    pub approvals: u32,
    /// Who counts.
    pub reviewers: Reviewers,
}

fn one() -> u32 {
    1
}

/// `gates.security_review`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(from = "RawSecurityReviewGate", into = "RawSecurityReviewGate")]
pub struct SecurityReviewGate {
    /// Shared gate settings (default trigger: `security_paths` / `security_labels`).
    pub common: Common,
    /// Approvals needed on the head commit.
    pub approvals: u32,
    /// Who counts as a security reviewer.
    pub reviewers: Reviewers,
    /// Additional reviewer sets for particular paths.
    pub path_reviewers: Vec<PathReviewers>,
    /// Whether an approval of an earlier commit counts when the change's patch there is the
    /// head's (`git patch-id --stable` of the diff against the base: a rebase).
    pub approvals_survive_rebase: bool,
}

/// `gates.security_review` as written.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "SecurityReviewGate")]
struct RawSecurityReviewGate {
    /// Whether the gate runs (default true).
    #[serde(default = "yes")]
    enabled: bool,
    /// What happens when the gate cannot evaluate its inputs (default `closed`).
    #[serde(default)]
    fail_mode: FailMode,
    /// When the gate applies (default: `security_paths` and `security_labels`).
    #[serde(default)]
    trigger: Trigger,
    /// Approvals needed on the head commit from `reviewers` (at least 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    approvals: u32,
    /// Who counts as a security reviewer; never the change's author.
    #[serde(default)]
    reviewers: Reviewers,
    /// Additional reviewer sets for particular paths.
    #[serde(default)]
    path_reviewers: Vec<PathReviewers>,
    /// An approval of an earlier commit counts for the head when the change's diff against
    /// its base is the same patch there (`git patch-id --stable`: a rebase); any difference
    /// in content drops it (default true). GitHub only: GitLab approvals name no commit.
    #[serde(default = "yes")]
    approvals_survive_rebase: bool,
}

impl From<RawSecurityReviewGate> for SecurityReviewGate {
    fn from(r: RawSecurityReviewGate) -> Self {
        SecurityReviewGate {
            common: Common {
                enabled: r.enabled,
                fail_mode: r.fail_mode,
                trigger: r.trigger,
            },
            approvals: r.approvals,
            reviewers: r.reviewers,
            path_reviewers: r.path_reviewers,
            approvals_survive_rebase: r.approvals_survive_rebase,
        }
    }
}

impl From<SecurityReviewGate> for RawSecurityReviewGate {
    fn from(g: SecurityReviewGate) -> Self {
        RawSecurityReviewGate {
            enabled: g.common.enabled,
            fail_mode: g.common.fail_mode,
            trigger: g.common.trigger,
            approvals: g.approvals,
            reviewers: g.reviewers,
            path_reviewers: g.path_reviewers,
            approvals_survive_rebase: g.approvals_survive_rebase,
        }
    }
}

impl Default for SecurityReviewGate {
    fn default() -> Self {
        SecurityReviewGate {
            common: Common::default(),
            approvals: 1,
            reviewers: Reviewers::default(),
            path_reviewers: Vec::new(),
            approvals_survive_rebase: true,
        }
    }
}

/// `gates.sast`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(from = "RawSastGate", into = "RawSastGate")]
pub struct SastGate {
    /// Shared gate settings (default trigger: always).
    pub common: Common,
    /// Check runs / statuses that must conclude successfully.
    pub checks: Vec<String>,
    /// Findings at or above this severity block.
    pub threshold: Severity,
    /// Count only findings on lines the change touched.
    pub new_only: bool,
    /// Also read GitHub code-scanning alerts of the pull request (GitHub App only).
    pub code_scanning: bool,
}

/// `gates.sast` as written.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "SastGate")]
struct RawSastGate {
    /// Whether the gate runs (default true).
    #[serde(default = "yes")]
    enabled: bool,
    /// What happens when the gate cannot evaluate its inputs (default `closed`).
    #[serde(default)]
    fail_mode: FailMode,
    /// When the gate applies (default: every change).
    #[serde(default)]
    trigger: Trigger,
    /// Check runs / commit statuses that must conclude successfully.
    #[serde(default)]
    checks: Vec<String>,
    /// Findings at or above this severity block (default `high`).
    #[serde(default = "high")]
    threshold: Severity,
    /// Count only findings on lines the change touched (default false).
    #[serde(default)]
    new_only: bool,
    /// The GitHub App also reads the open code-scanning alerts of the pull request
    /// (`refs/pull/<n>/merge`) as findings, and waits while no analysis exists (default false).
    /// Elsewhere uploaded SARIF files are the evidence.
    #[serde(default)]
    code_scanning: bool,
}

impl From<RawSastGate> for SastGate {
    fn from(r: RawSastGate) -> Self {
        SastGate {
            common: Common {
                enabled: r.enabled,
                fail_mode: r.fail_mode,
                trigger: r.trigger,
            },
            checks: r.checks,
            threshold: r.threshold,
            new_only: r.new_only,
            code_scanning: r.code_scanning,
        }
    }
}

impl From<SastGate> for RawSastGate {
    fn from(g: SastGate) -> Self {
        RawSastGate {
            enabled: g.common.enabled,
            fail_mode: g.common.fail_mode,
            trigger: g.common.trigger,
            checks: g.checks,
            threshold: g.threshold,
            new_only: g.new_only,
            code_scanning: g.code_scanning,
        }
    }
}

fn high() -> Severity {
    Severity::High
}

impl Default for SastGate {
    fn default() -> Self {
        SastGate {
            common: Common::default(),
            checks: Vec::new(),
            threshold: Severity::High,
            new_only: false,
            code_scanning: false,
        }
    }
}

/// An accepted vulnerability: ignored until a date, with a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IgnoreEntry {
    /// Advisory id or alias (CVE, GHSA, OSV, RUSTSEC, PYSEC…).
    pub id: String,
    /// Why the risk is accepted.
    pub reason: String,
    /// Last day the ignore counts (inclusive, UTC).
    pub until: NaiveDate,
}

/// `gates.dependencies`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(from = "RawDependenciesGate", into = "RawDependenciesGate")]
pub struct DependenciesGate {
    /// Shared gate settings (default trigger: `manifests`).
    pub common: Common,
    /// Manifests and lockfiles whose change triggers the gate.
    pub manifests: Vec<GlobPattern>,
    /// Check runs / statuses that must conclude successfully.
    pub checks: Vec<String>,
    /// Vulnerabilities at or above this severity block.
    pub threshold: Severity,
    /// Accepted vulnerabilities.
    pub ignore: Vec<IgnoreEntry>,
}

/// `gates.dependencies` as written.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "DependenciesGate")]
struct RawDependenciesGate {
    /// Whether the gate runs (default true).
    #[serde(default = "yes")]
    enabled: bool,
    /// What happens when the gate cannot evaluate its inputs (default `closed`).
    #[serde(default)]
    fail_mode: FailMode,
    /// When the gate applies (default: a change to one of `manifests`).
    #[serde(default)]
    trigger: Trigger,
    /// Manifests and lockfiles whose change triggers the gate.
    #[serde(default = "default_manifests")]
    manifests: Vec<GlobPattern>,
    /// Check runs / commit statuses that must conclude successfully.
    #[serde(default)]
    checks: Vec<String>,
    /// Vulnerabilities at or above this severity block (default `high`).
    #[serde(default = "high")]
    threshold: Severity,
    /// Accepted vulnerabilities, each with a reason and an expiry date.
    #[serde(default)]
    ignore: Vec<IgnoreEntry>,
}

impl From<RawDependenciesGate> for DependenciesGate {
    fn from(r: RawDependenciesGate) -> Self {
        DependenciesGate {
            common: Common {
                enabled: r.enabled,
                fail_mode: r.fail_mode,
                trigger: r.trigger,
            },
            manifests: r.manifests,
            checks: r.checks,
            threshold: r.threshold,
            ignore: r.ignore,
        }
    }
}

impl From<DependenciesGate> for RawDependenciesGate {
    fn from(g: DependenciesGate) -> Self {
        RawDependenciesGate {
            enabled: g.common.enabled,
            fail_mode: g.common.fail_mode,
            trigger: g.common.trigger,
            manifests: g.manifests,
            checks: g.checks,
            threshold: g.threshold,
            ignore: g.ignore,
        }
    }
}

/// The manifests and lockfiles of the common ecosystems.
pub fn default_manifests() -> Vec<GlobPattern> {
    [
        "**/Cargo.toml",
        "**/Cargo.lock",
        "**/package.json",
        "**/package-lock.json",
        "**/yarn.lock",
        "**/pnpm-lock.yaml",
        "**/requirements*.txt",
        "**/poetry.lock",
        "**/Pipfile.lock",
        "**/pyproject.toml",
        "**/go.mod",
        "**/go.sum",
        "**/pom.xml",
        "**/build.gradle",
        "**/build.gradle.kts",
        "**/gradle.lockfile",
        "**/Gemfile.lock",
        "**/composer.lock",
        "**/packages.lock.json",
        "**/conanfile.txt",
        "**/vcpkg.json",
    ]
    .into_iter()
    .map(GlobPattern::new_unchecked)
    .collect()
}

impl Default for DependenciesGate {
    fn default() -> Self {
        DependenciesGate {
            common: Common::default(),
            manifests: default_manifests(),
            checks: Vec::new(),
            threshold: Severity::High,
            ignore: Vec::new(),
        }
    }
}

/// `gates.sbom`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(from = "RawSbomGate", into = "RawSbomGate")]
pub struct SbomGate {
    /// Shared gate settings (default: disabled; trigger: the dependency manifests).
    pub common: Common,
    /// Where SBOM files live in the repository.
    pub paths: Vec<GlobPattern>,
}

/// `gates.sbom` as written. Unlike the other gates it is off unless `enabled: true` is written.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "SbomGate")]
struct RawSbomGate {
    /// Whether the gate runs (default **false** for this gate).
    #[serde(default)]
    enabled: bool,
    /// What happens when the gate cannot evaluate its inputs (default `closed`).
    #[serde(default)]
    fail_mode: FailMode,
    /// When the gate applies (default: a change to one of `gates.dependencies.manifests`).
    #[serde(default)]
    trigger: Trigger,
    /// Where SBOM files (CycloneDX, SPDX) live in the repository.
    #[serde(default = "default_sbom_paths")]
    paths: Vec<GlobPattern>,
}

impl From<RawSbomGate> for SbomGate {
    fn from(r: RawSbomGate) -> Self {
        SbomGate {
            common: Common {
                enabled: r.enabled,
                fail_mode: r.fail_mode,
                trigger: r.trigger,
            },
            paths: r.paths,
        }
    }
}

impl From<SbomGate> for RawSbomGate {
    fn from(g: SbomGate) -> Self {
        RawSbomGate {
            enabled: g.common.enabled,
            fail_mode: g.common.fail_mode,
            trigger: g.common.trigger,
            paths: g.paths,
        }
    }
}

fn default_sbom_paths() -> Vec<GlobPattern> {
    vec![
        GlobPattern::new_unchecked("sbom/**"),
        GlobPattern::new_unchecked("**/*.cdx.json"),
        GlobPattern::new_unchecked("**/*.spdx.json"),
        GlobPattern::new_unchecked("**/bom.json"),
    ]
}

impl Default for SbomGate {
    fn default() -> Self {
        SbomGate {
            common: Common {
                enabled: false,
                ..Common::default()
            },
            paths: default_sbom_paths(),
        }
    }
}

/// `waivers`: who may waive gates with `/sdl waive`, and the limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaiverPolicy {
    /// Teams whose members may waive.
    #[serde(default)]
    pub teams: Vec<TeamSlug>,
    /// Users who may waive.
    #[serde(default)]
    pub users: Vec<String>,
    /// Minimum repository permission (`admin`, `maintain`, `write`; GitLab `maintainer`,
    /// `developer`) that also allows waiving. Absent: only the named teams and users.
    #[serde(default)]
    pub min_permission: Option<String>,
    /// Gates that may be waived. Absent: all.
    #[serde(default)]
    pub gates: Option<Vec<crate::gates::GateKind>>,
    /// Longest waiver, in days.
    #[serde(default = "thirty")]
    #[schemars(range(min = 1, max = 365))]
    pub max_days: u32,
    /// Shortest acceptable reason, in characters.
    #[serde(default = "twenty")]
    #[schemars(range(min = 1, max = 1000))]
    pub min_reason_length: u32,
    /// Whether a waiver still counts after new commits are pushed (it is always shown with
    /// the commit it was given on).
    #[serde(default = "yes")]
    pub survive_push: bool,
}

fn thirty() -> u32 {
    30
}
fn twenty() -> u32 {
    20
}

impl Default for WaiverPolicy {
    fn default() -> Self {
        WaiverPolicy {
            teams: Vec::new(),
            users: Vec::new(),
            min_permission: None,
            gates: None,
            max_days: 30,
            min_reason_length: 20,
            survive_push: true,
        }
    }
}

/// When to post the sticky comment. The policy, the Action's `comment` input and
/// `SDL_GATE_COMMENT` all accept both spellings `on_failure` and `on-failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentMode {
    /// After every evaluation.
    Always,
    /// When a gate fails, and once more when the verdict turns from fail to pass (default).
    #[default]
    #[serde(alias = "on-failure")]
    OnFailure,
    /// Never; the check run alone reports.
    Never,
}

impl CommentMode {
    /// Every accepted spelling, as the schema and error messages list them.
    pub const SPELLINGS: [&'static str; 4] = ["always", "on_failure", "on-failure", "never"];

    /// Reads a spelling (any case; `on_failure` and `on-failure` are the same); `None` for
    /// anything else.
    pub fn parse(text: &str) -> Option<CommentMode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "always" => Some(CommentMode::Always),
            "on_failure" | "on-failure" => Some(CommentMode::OnFailure),
            "never" => Some(CommentMode::Never),
            _ => None,
        }
    }
}

impl JsonSchema for CommentMode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CommentMode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "enum": CommentMode::SPELLINGS,
            "description": "When to post the sticky comment: always, on_failure (or on-failure; the default) or never."
        })
    }
}

/// `report`: how results are published.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// When to post the sticky comment.
    #[serde(default)]
    pub comment: CommentMode,
    /// Report draft changes with their real verdict instead of neutral.
    #[serde(default)]
    pub enforce_on_drafts: bool,
}
