//! The organisation's floor: rules a repository's own policy may tighten but never loosen.
//!
//! Product security writes one file for the organisation (the `.github` repository's
//! `sdl-gate.yml` on GitHub, a configured policy project on GitLab). It is an ordinary policy
//! — the default of every repository without a policy of its own — with an optional
//! top-level `floor:` section. [`apply_floor`] combines a repository's policy with that floor,
//! purely: every floored rule ends at least as strict as the floor says, whatever the
//! repository wrote, and each rule the floor had to keep yields a [`FloorNote`] that the check
//! run and the comment show, so a developer sees why the gate they disabled still runs.
//!
//! Tightening is always allowed: a lower threshold, more approvals, fewer people who count as
//! reviewers, more security paths, more required checks, `fail_mode: closed`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::gates::GateKind;
use crate::reports::Severity;

use super::glob::GlobPattern;
use super::model::{Common, FailMode, PathReviewers, Policy, Reviewers, Trigger, WaiverPolicy};

/// `floor`: the organisation's minimum. Only read from the organisation's policy; a floor in a
/// repository's own file has no effect.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Floor {
    /// Globs that are always security-relevant, added to the repository's `security_paths`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_paths: Vec<GlobPattern>,
    /// Labels that always make a change security-relevant, added to `security_labels`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_labels: Vec<String>,
    /// The gates the floor keeps. A gate named here always runs (`enabled: true`), fails
    /// closed unless the floor says `fail_mode: open`, and applies at least to the changes
    /// its floor trigger (default: the gate's default trigger) selects.
    #[serde(default)]
    pub gates: FloorGates,
    /// Limits on waivers.
    #[serde(default)]
    pub waivers: WaiversFloor,
}

/// `floor.gates`: one optional entry per gate.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FloorGates {
    /// Keeps the threat-model gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threat_model: Option<GateFloor>,
    /// Keeps the security-review gate, with at least these approvals and reviewers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_review: Option<ReviewFloor>,
    /// Keeps the static-analysis gate, at this threshold or lower.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sast: Option<ScanFloor>,
    /// Keeps the dependency gate, at this threshold or lower.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<ScanFloor>,
    /// Keeps the SBOM gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<GateFloor>,
}

/// The floor of a gate with no settings of its own (threat model, SBOM).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateFloor {
    /// `closed` (default) keeps the gate failing closed; `open` leaves the repository's choice.
    #[serde(default)]
    pub fail_mode: FailMode,
    /// The changes the gate applies to at least (default: the gate's default trigger).
    #[serde(default)]
    pub trigger: Trigger,
}

/// The floor of `gates.sast` or `gates.dependencies`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanFloor {
    /// `closed` (default) keeps the gate failing closed; `open` leaves the repository's choice.
    #[serde(default)]
    pub fail_mode: FailMode,
    /// The changes the gate applies to at least (default: the gate's default trigger).
    #[serde(default)]
    pub trigger: Trigger,
    /// The highest threshold a repository may set (it may set a lower one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Severity>,
    /// Checks that must pass in every repository, added to the repository's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// `false` counts every finding even when the repository asked for `new_only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_only: Option<bool>,
    /// `true` keeps code-scanning alerts read (`sast` only; GitHub App only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_scanning: Option<bool>,
    /// Manifests that always trigger the dependency gate, added to the repository's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<GlobPattern>,
}

/// The floor of `gates.security_review`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewFloor {
    /// `closed` (default) keeps the gate failing closed; `open` leaves the repository's choice.
    #[serde(default)]
    pub fail_mode: FailMode,
    /// The changes the gate applies to at least (default: the gate's default trigger).
    #[serde(default)]
    pub trigger: Trigger,
    /// The fewest approvals a repository may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub approvals: Option<u32>,
    /// Who counts as a security reviewer. A repository may name a subset; anyone else it
    /// names is required in addition, never instead.
    #[serde(default)]
    pub reviewers: Reviewers,
    /// Reviewer sets for particular paths, added to the repository's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_reviewers: Vec<PathReviewers>,
    /// `false` drops approvals of earlier commits even when the repository keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals_survive_rebase: Option<bool>,
}

/// `floor.waivers`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaiversFloor {
    /// The longest waiver a repository may allow, in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 365))]
    pub max_days: Option<u32>,
    /// The shortest reason a repository may accept, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_reason_length: Option<u32>,
}

/// One rule the floor kept against the repository's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloorNote {
    /// The gate the rule belongs to; `None` for policy-wide rules (security paths, waivers).
    pub gate: Option<GateKind>,
    /// The policy key, e.g. `gates.sast.threshold`.
    pub key: String,
    /// What the floor kept, in a sentence.
    pub message: String,
}

impl fmt::Display for FloorNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

struct Notes(Vec<FloorNote>);

impl Notes {
    fn push(&mut self, gate: Option<GateKind>, key: &str, message: String) {
        self.0.push(FloorNote {
            gate,
            key: key.to_string(),
            message,
        });
    }
}

fn severity(s: Severity) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{s:?}").to_lowercase())
}

fn mode(m: FailMode) -> &'static str {
    match m {
        FailMode::Closed => "closed",
        FailMode::Open => "open",
    }
}

/// Adds the items of `extra` missing from `list`; the ones added.
fn union_into<T: PartialEq + Clone>(list: &mut Vec<T>, extra: &[T]) -> Vec<T> {
    let mut added = Vec::new();
    for item in extra {
        if !list.contains(item) {
            list.push(item.clone());
            added.push(item.clone());
        }
    }
    added
}

fn names<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn reviewer_names(r: &Reviewers) -> String {
    let mut all: Vec<String> = r.teams.iter().map(|t| t.as_str().to_string()).collect();
    all.extend(r.users.iter().cloned());
    names(&all)
}

/// A trigger with its defaults filled in (as `gates::trigger::CompiledTrigger` reads it).
#[derive(Debug, Clone, PartialEq)]
struct Resolved {
    always: bool,
    paths: Vec<GlobPattern>,
    labels: Vec<String>,
}

/// The gate's defaults: paths, labels, always.
fn defaults(kind: GateKind, p: &Policy) -> (Vec<GlobPattern>, Vec<String>, bool) {
    match kind {
        GateKind::ThreatModel | GateKind::SecurityReview => {
            (p.security_paths.clone(), p.security_labels.clone(), false)
        }
        GateKind::Sast => (p.security_paths.clone(), p.security_labels.clone(), true),
        GateKind::Dependencies | GateKind::Sbom => {
            (p.gates.dependencies.manifests.clone(), Vec::new(), false)
        }
    }
}

fn resolve(t: &Trigger, kind: GateKind, p: &Policy) -> Resolved {
    let (paths, labels, always) = defaults(kind, p);
    let explicit = t.paths.is_some() || t.labels.is_some();
    Resolved {
        always: t.always.unwrap_or(always && !explicit),
        paths: t.paths.clone().unwrap_or(paths),
        labels: t.labels.clone().unwrap_or(labels),
    }
}

/// Whether `repo` selects at least every change `floor` selects.
fn covers(repo: &Resolved, floor: &Resolved) -> bool {
    repo.always
        || (!floor.always
            && floor.paths.iter().all(|g| repo.paths.contains(g))
            && floor.labels.iter().all(|l| repo.labels.contains(l)))
}

fn describe(r: &Resolved) -> String {
    if r.always {
        return "every change".into();
    }
    let mut parts = Vec::new();
    if !r.paths.is_empty() {
        parts.push(format!("paths {}", names(&r.paths)));
    }
    if !r.labels.is_empty() {
        parts.push(format!("labels {}", names(&r.labels)));
    }
    if parts.is_empty() {
        "no change".into()
    } else {
        parts.join(" and ")
    }
}

fn common_mut(kind: GateKind, p: &mut Policy) -> &mut Common {
    let g = &mut p.gates;
    match kind {
        GateKind::ThreatModel => &mut g.threat_model.common,
        GateKind::SecurityReview => &mut g.security_review.common,
        GateKind::Sast => &mut g.sast.common,
        GateKind::Dependencies => &mut g.dependencies.common,
        GateKind::Sbom => &mut g.sbom.common,
    }
}

/// Keeps the gate on, closed and triggered at least as the floor says.
fn keep_gate(
    kind: GateKind,
    p: &mut Policy,
    fail_mode: FailMode,
    trigger: &Trigger,
    notes: &mut Notes,
) {
    let name = kind.as_str();
    let floor_trigger = resolve(trigger, kind, p);
    let own = common_mut(kind, p).trigger.clone();
    let repo_trigger = resolve(&own, kind, p);
    let common = common_mut(kind, p);
    if !common.enabled {
        common.enabled = true;
        notes.push(
            Some(kind),
            &format!("gates.{name}.enabled"),
            format!("the org floor keeps `{name}` enabled (the repository disabled it)"),
        );
    }
    if fail_mode == FailMode::Closed && common.fail_mode != FailMode::Closed {
        notes.push(
            Some(kind),
            &format!("gates.{name}.fail_mode"),
            format!(
                "the org floor keeps `{name}` failing closed (the repository asked `fail_mode: {}`)",
                mode(common.fail_mode)
            ),
        );
        common.fail_mode = FailMode::Closed;
    }
    if !covers(&repo_trigger, &floor_trigger) {
        let mut paths = repo_trigger.paths.clone();
        union_into(&mut paths, &floor_trigger.paths);
        let mut labels = repo_trigger.labels.clone();
        union_into(&mut labels, &floor_trigger.labels);
        let merged = Resolved {
            always: repo_trigger.always || floor_trigger.always,
            paths,
            labels,
        };
        notes.push(
            Some(kind),
            &format!("gates.{name}.trigger"),
            format!(
                "the org floor keeps `{name}` applying to {} (the repository narrowed it to {})",
                describe(&floor_trigger),
                describe(&repo_trigger)
            ),
        );
        common.trigger = Trigger {
            paths: Some(merged.paths),
            labels: Some(merged.labels),
            always: Some(merged.always),
        };
    }
}

fn keep_threshold(
    kind: GateKind,
    threshold: &mut Severity,
    floor: Option<Severity>,
    notes: &mut Notes,
) {
    if let Some(max) = floor
        && *threshold > max
    {
        notes.push(
            Some(kind),
            &format!("gates.{}.threshold", kind.as_str()),
            format!(
                "the org floor keeps `{}` at threshold `{}` (the repository asked `{}`)",
                kind.as_str(),
                severity(max),
                severity(*threshold)
            ),
        );
        *threshold = max;
    }
}

fn keep_checks(kind: GateKind, checks: &mut Vec<String>, floor: &[String], notes: &mut Notes) {
    let added = union_into(checks, floor);
    if !added.is_empty() {
        notes.push(
            Some(kind),
            &format!("gates.{}.checks", kind.as_str()),
            format!(
                "the org floor requires the check(s) {} for `{}`",
                names(&added),
                kind.as_str()
            ),
        );
    }
}

fn keep_review(p: &mut Policy, floor: &ReviewFloor, notes: &mut Notes) {
    let kind = GateKind::SecurityReview;
    let gate = &mut p.gates.security_review;
    let repo_approvals = gate.approvals;
    if let Some(min) = floor.approvals
        && gate.approvals < min
    {
        notes.push(
            Some(kind),
            "gates.security_review.approvals",
            format!(
                "the org floor keeps `approvals: {min}` (the repository asked {repo_approvals})"
            ),
        );
        gate.approvals = min;
    }
    let f = &floor.reviewers;
    if !f.is_empty() {
        let r = &gate.reviewers;
        let subset = !r.is_empty()
            && r.teams.iter().all(|t| f.teams.contains(t))
            && r.users.iter().all(|u| f.users.contains(u));
        if !subset {
            let own = std::mem::replace(&mut gate.reviewers, f.clone());
            let mut message = format!("the org floor keeps reviewers {}", reviewer_names(f));
            if !own.is_empty() {
                message.push_str(&format!(
                    " (the repository named {}; their approval is required in addition)",
                    reviewer_names(&own)
                ));
                gate.path_reviewers.push(PathReviewers {
                    name: Some("the repository's own reviewers".into()),
                    paths: vec![GlobPattern::new_unchecked("**")],
                    approvals: repo_approvals.max(1),
                    reviewers: own,
                });
            }
            notes.push(Some(kind), "gates.security_review.reviewers", message);
        }
    }
    for set in &floor.path_reviewers {
        if !gate.path_reviewers.contains(set) {
            let name = set
                .name
                .clone()
                .or_else(|| set.paths.first().map(|g| g.to_string()))
                .unwrap_or_default();
            notes.push(
                Some(kind),
                "gates.security_review.path_reviewers",
                format!(
                    "the org floor requires {} for `{name}`",
                    reviewer_names(&set.reviewers)
                ),
            );
            gate.path_reviewers.push(set.clone());
        }
    }
    if floor.approvals_survive_rebase == Some(false) && gate.approvals_survive_rebase {
        gate.approvals_survive_rebase = false;
        notes.push(
            Some(kind),
            "gates.security_review.approvals_survive_rebase",
            "the org floor keeps `approvals_survive_rebase: false`".into(),
        );
    }
}

fn keep_waivers(w: &mut WaiverPolicy, floor: &WaiversFloor, notes: &mut Notes) {
    if let Some(max) = floor.max_days
        && w.max_days > max
    {
        notes.push(
            None,
            "waivers.max_days",
            format!(
                "the org floor keeps `waivers.max_days: {max}` (the repository asked {})",
                w.max_days
            ),
        );
        w.max_days = max;
    }
    if let Some(min) = floor.min_reason_length
        && w.min_reason_length < min
    {
        notes.push(
            None,
            "waivers.min_reason_length",
            format!(
                "the org floor keeps `waivers.min_reason_length: {min}` (the repository asked {})",
                w.min_reason_length
            ),
        );
        w.min_reason_length = min;
    }
}

/// The effective policy of a repository under the organisation's `floor`, and a note for every
/// rule the floor kept. Pure and idempotent: applying the same floor again changes nothing and
/// notes nothing. A repository's own `floor:` section is dropped (only the organisation's
/// counts).
pub fn apply_floor(repo: Policy, floor: &Floor) -> (Policy, Vec<FloorNote>) {
    let mut p = repo;
    p.floor = None;
    let mut notes = Notes(Vec::new());

    let added = union_into(&mut p.security_paths, &floor.security_paths);
    if !added.is_empty() {
        notes.push(
            None,
            "security_paths",
            format!("the org floor adds the security paths {}", names(&added)),
        );
    }
    let added = union_into(&mut p.security_labels, &floor.security_labels);
    if !added.is_empty() {
        notes.push(
            None,
            "security_labels",
            format!("the org floor adds the security labels {}", names(&added)),
        );
    }
    // Manifests first: they are the default trigger of the dependency and SBOM gates.
    if let Some(deps) = &floor.gates.dependencies {
        let added = union_into(&mut p.gates.dependencies.manifests, &deps.manifests);
        if !added.is_empty() {
            notes.push(
                Some(GateKind::Dependencies),
                "gates.dependencies.manifests",
                format!("the org floor adds the manifests {}", names(&added)),
            );
        }
    }

    let g = &floor.gates;
    if let Some(tm) = &g.threat_model {
        keep_gate(
            GateKind::ThreatModel,
            &mut p,
            tm.fail_mode,
            &tm.trigger,
            &mut notes,
        );
    }
    if let Some(sr) = &g.security_review {
        keep_gate(
            GateKind::SecurityReview,
            &mut p,
            sr.fail_mode,
            &sr.trigger,
            &mut notes,
        );
        keep_review(&mut p, sr, &mut notes);
    }
    if let Some(sast) = &g.sast {
        let kind = GateKind::Sast;
        keep_gate(kind, &mut p, sast.fail_mode, &sast.trigger, &mut notes);
        let gate = &mut p.gates.sast;
        keep_threshold(kind, &mut gate.threshold, sast.threshold, &mut notes);
        keep_checks(kind, &mut gate.checks, &sast.checks, &mut notes);
        if sast.new_only == Some(false) && gate.new_only {
            gate.new_only = false;
            notes.push(
                Some(kind),
                "gates.sast.new_only",
                "the org floor counts every finding (the repository asked `new_only`)".into(),
            );
        }
        if sast.code_scanning == Some(true) && !gate.code_scanning {
            gate.code_scanning = true;
            notes.push(
                Some(kind),
                "gates.sast.code_scanning",
                "the org floor keeps code-scanning alerts read".into(),
            );
        }
    }
    if let Some(deps) = &g.dependencies {
        let kind = GateKind::Dependencies;
        keep_gate(kind, &mut p, deps.fail_mode, &deps.trigger, &mut notes);
        let gate = &mut p.gates.dependencies;
        keep_threshold(kind, &mut gate.threshold, deps.threshold, &mut notes);
        keep_checks(kind, &mut gate.checks, &deps.checks, &mut notes);
    }
    if let Some(sbom) = &g.sbom {
        keep_gate(
            GateKind::Sbom,
            &mut p,
            sbom.fail_mode,
            &sbom.trigger,
            &mut notes,
        );
    }
    keep_waivers(&mut p.waivers, &floor.waivers, &mut notes);
    (p, notes.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::parse_policy;

    fn policy(text: &str) -> Policy {
        match parse_policy("test.yml", text) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    fn floor_of(text: &str) -> Floor {
        match policy(text).floor {
            Some(f) => f,
            None => panic!("no floor"),
        }
    }

    const ORG: &str = "version: 1
floor:
  security_paths: ['src/auth/**']
  gates:
    sast:
      threshold: high
      checks: [codeql]
    security_review:
      approvals: 2
      reviewers:
        teams: [acme/security]
";

    #[test]
    fn a_disabled_gate_is_kept_with_its_threshold() {
        let repo = policy(
            "version: 1
gates:
  sast:
    enabled: false
    threshold: critical
    fail_mode: open
  security_review:
    reviewers:
      users: [alice]
",
        );
        let (eff, notes) = apply_floor(repo, &floor_of(ORG));
        assert!(eff.gates.sast.common.enabled);
        assert_eq!(eff.gates.sast.threshold, Severity::High);
        assert_eq!(eff.gates.sast.common.fail_mode, FailMode::Closed);
        assert_eq!(eff.gates.sast.checks, vec!["codeql".to_string()]);
        assert_eq!(eff.gates.security_review.approvals, 2);
        assert_eq!(
            eff.gates.security_review.reviewers.teams,
            vec![crate::snapshot::TeamSlug::new("acme/security")]
        );
        // alice is still required, in addition.
        assert_eq!(eff.gates.security_review.path_reviewers.len(), 1);
        let text: Vec<String> = notes.iter().map(|n| n.message.clone()).collect();
        assert!(
            text.contains(
                &"the org floor keeps `sast` enabled (the repository disabled it)".to_string()
            ),
            "{text:?}"
        );
        assert!(
            text.contains(
                &"the org floor keeps `sast` at threshold `high` (the repository asked `critical`)"
                    .to_string()
            ),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("`approvals: 2` (the repository asked 1)"))
        );
        assert!(text.iter().any(|t| t.contains("reviewers `acme/security`")));
    }

    #[test]
    fn tightening_is_kept_and_noted_nowhere() {
        let repo = policy(
            "version: 1
security_paths: ['src/auth/**', 'src/**']
gates:
  sast:
    threshold: medium
    checks: [codeql, semgrep]
  security_review:
    approvals: 3
    reviewers:
      teams: [acme/security]
",
        );
        let (eff, notes) = apply_floor(repo.clone(), &floor_of(ORG));
        assert_eq!(notes, Vec::new());
        assert_eq!(eff, repo);
    }

    #[test]
    fn a_narrowed_trigger_is_widened_back() {
        let repo = policy(
            "version: 1
gates:
  sast:
    trigger:
      paths: ['nothing/**']
",
        );
        let (eff, notes) = apply_floor(repo, &floor_of(ORG));
        assert_eq!(eff.gates.sast.common.trigger.always, Some(true));
        assert!(notes.iter().any(|n| n.key == "gates.sast.trigger"));
    }

    #[test]
    fn applying_twice_changes_nothing_more() {
        let repo = policy("version: 1\ngates:\n  sast:\n    enabled: false\n");
        let floor = floor_of(ORG);
        let (once, _) = apply_floor(repo, &floor);
        let (twice, notes) = apply_floor(once.clone(), &floor);
        assert_eq!(once, twice);
        assert_eq!(notes, Vec::new());
    }
}

#[cfg(test)]
mod validation {
    use crate::policy::parse_policy;

    #[test]
    fn a_floor_error_names_its_line() {
        let text = "version: 1\nfloor:\n  gates:\n    security_review:\n      approvals: 0\n";
        match parse_policy("sdl-gate.yml", text) {
            Ok(_) => panic!("approvals 0 accepted"),
            Err(e) => {
                assert_eq!((e.line, e.column), (5, 18), "{e}");
                assert!(e.message.contains("at least 1"), "{e}");
            }
        }
    }

    #[test]
    fn a_misplaced_key_is_pointed_to_its_section_inside_the_floor_or_outside() {
        let inside = "version: 1\nfloor:\n  gates:\n    approvals: 2\n";
        match parse_policy("sdl-gate.yml", inside) {
            Ok(_) => panic!("misplaced key accepted"),
            Err(e) => assert!(
                e.message
                    .contains("belongs in `floor.gates.security_review`"),
                "{e}"
            ),
        }
        let outside = "version: 1\ngates:\n  approvals: 2\n";
        match parse_policy("sdl-gate.yml", outside) {
            Ok(_) => panic!("misplaced key accepted"),
            Err(e) => assert!(!e.message.contains("floor"), "{e}"),
        }
    }

    #[test]
    fn a_misspelt_floor_key_is_refused_with_a_suggestion() {
        let text = "version: 1\nfloor:\n  gates:\n    sast:\n      treshold: high\n";
        match parse_policy("sdl-gate.yml", text) {
            Ok(_) => panic!("unknown key accepted"),
            Err(e) => {
                assert_eq!(e.line, 5, "{e}");
                assert_eq!(e.suggestion.as_deref(), Some("threshold"), "{e}");
            }
        }
    }
}
