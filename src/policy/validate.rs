//! The rules a policy must follow beyond its types: settings that parse but that no change
//! could ever satisfy, or that would quietly weaken a gate.
//!
//! Errors make the policy unusable (the gates would fail closed on every change anyway, so
//! the author must hear about it when the file is written, not on the next pull request).
//! Warnings are reported by `sdl-gate config validate` but do not stop the policy from loading.
//!
//! Decisions worth knowing:
//! - A duplicate `ignore` id is an **error**: two entries with different reasons or expiry
//!   dates leave it unclear which risk acceptance an auditor should see.
//! - An `ignore` entry past its `until` date is a **warning**: it simply stops suppressing the
//!   finding, which is fail-closed already.
//! - Reviewer teams must be written `org/team` (GitHub) or `group/subgroup` (GitLab).
//! - A minimum permission that lets read-only or triage users waive gates is an error.

use std::collections::HashSet;

use chrono::NaiveDate;

use super::glob::GlobPattern;
use super::model::{Common, Policy, Reviewers};
use super::positions::{PositionIndex, Seg};
use super::suggest::did_you_mean;

/// Longest waiver a policy may allow, in days.
pub const MAX_WAIVER_DAYS: u32 = 365;

/// Shortest reason accepted for an `ignore` entry when `waivers.min_reason_length` is lower.
pub const MIN_IGNORE_REASON: usize = 10;

/// Permissions that may be given the right to waive (GitHub, then GitLab).
const WAIVE_PERMISSIONS: [&str; 6] = [
    "admin",
    "maintain",
    "write",
    "owner",
    "maintainer",
    "developer",
];

/// Permissions that exist but are too weak to waive a security gate.
const WEAK_PERMISSIONS: [&str; 5] = ["triage", "read", "reporter", "guest", "planner"];

/// How bad an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// The policy cannot be used.
    Error,
    /// Worth fixing; the policy still loads.
    Warning,
}

/// Which position of an entry an issue points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// The key (`approvals:`).
    Key,
    /// The value (`0`).
    Value,
}

/// One finding of the semantic checks.
#[derive(Debug, Clone)]
pub(crate) struct Issue {
    /// Error or warning.
    pub level: Level,
    /// The key at fault (it may not be written when the value is a default).
    pub path: Vec<Seg>,
    /// Point at the key or at its value.
    pub at: At,
    /// What is wrong and how to fix it.
    pub message: String,
    /// A corrected value, when there is an obvious one.
    pub suggestion: Option<String>,
}

struct Checker<'a> {
    index: &'a PositionIndex,
    issues: Vec<Issue>,
}

fn path(keys: &[&str]) -> Vec<Seg> {
    keys.iter().map(|k| Seg::Key((*k).to_string())).collect()
}

fn with(mut base: Vec<Seg>, seg: Seg) -> Vec<Seg> {
    base.push(seg);
    base
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

impl Checker<'_> {
    fn push(&mut self, level: Level, path: Vec<Seg>, at: At, message: String) {
        self.issues.push(Issue {
            level,
            path,
            at,
            message,
            suggestion: None,
        });
    }

    fn error(&mut self, path: Vec<Seg>, at: At, message: String) {
        self.push(Level::Error, path, at, message);
    }

    fn warn(&mut self, path: Vec<Seg>, at: At, message: String) {
        self.push(Level::Warning, path, at, message);
    }

    fn written(&self, p: &[Seg]) -> bool {
        self.index.get(p).is_some()
    }

    fn team_slugs(&mut self, base: Vec<Seg>, teams: &[crate::snapshot::TeamSlug]) {
        for (i, team) in teams.iter().enumerate() {
            let t = team.as_str();
            let segments: Vec<&str> = t.split('/').collect();
            let bad = segments.len() < 2
                || segments.iter().any(|s| s.is_empty())
                || t.chars().any(|c| c.is_whitespace() || c == '@');
            if bad {
                self.error(
                    with(base.clone(), Seg::Index(i)),
                    At::Value,
                    format!(
                        "team `{t}` must be written `org/team` (GitHub) or `group/subgroup` (GitLab)"
                    ),
                );
            }
        }
    }

    fn users(&mut self, base: Vec<Seg>, users: &[String]) {
        let mut seen = HashSet::new();
        for (i, user) in users.iter().enumerate() {
            let p = with(base.clone(), Seg::Index(i));
            if let Some(stripped) = user.strip_prefix('@') {
                self.issues.push(Issue {
                    level: Level::Error,
                    path: p,
                    at: At::Value,
                    message: format!("user `{user}`: write the login without `@`"),
                    suggestion: Some(stripped.to_string()),
                });
            } else if user.trim().is_empty() || user.chars().any(char::is_whitespace) {
                self.error(p, At::Value, format!("user `{user}` is not a login"));
            } else if !seen.insert(user.to_ascii_lowercase()) {
                self.warn(p, At::Value, format!("user `{user}` is listed twice"));
            }
        }
    }

    fn reviewers(&mut self, base: Vec<Seg>, reviewers: &Reviewers) {
        self.team_slugs(with(base.clone(), key("teams")), &reviewers.teams);
        self.users(with(base, key("users")), &reviewers.users);
    }

    /// Approvals that only named users can give cannot exceed the number of those users.
    fn approvals_reachable(&mut self, base: &[Seg], approvals: u32, reviewers: &Reviewers) {
        if reviewers.teams.is_empty()
            && !reviewers.users.is_empty()
            && usize::try_from(approvals).unwrap_or(usize::MAX) > reviewers.users.len()
        {
            self.error(
                with(base.to_vec(), key("approvals")),
                At::Value,
                format!(
                    "{approvals} approvals required but only {} reviewer(s) named; nobody could ever satisfy it",
                    reviewers.users.len()
                ),
            );
        }
    }

    fn labels(&mut self, base: Vec<Seg>, labels: &[String]) {
        for (i, label) in labels.iter().enumerate() {
            if label.trim().is_empty() {
                self.error(
                    with(base.clone(), Seg::Index(i)),
                    At::Value,
                    "empty label".to_string(),
                );
            }
        }
    }

    fn checks(&mut self, base: Vec<Seg>, checks: &[String]) {
        let mut seen = HashSet::new();
        for (i, check) in checks.iter().enumerate() {
            let p = with(base.clone(), Seg::Index(i));
            if check.trim().is_empty() {
                self.error(p, At::Value, "empty check name".to_string());
            } else if !seen.insert(check.as_str()) {
                self.warn(p, At::Value, format!("check `{check}` is listed twice"));
            }
        }
    }

    fn trigger(&mut self, base: &[Seg], common: &Common) {
        let t = with(base.to_vec(), key("trigger"));
        if let Some(labels) = &common.trigger.labels {
            self.labels(with(t, key("labels")), labels);
        }
    }
}

/// Can a gate whose default trigger is `default_paths`/`default_labels` ever apply?
fn can_trigger(common: &Common, default_paths: &[GlobPattern], default_labels: &[String]) -> bool {
    let t = &common.trigger;
    if t.always == Some(true) {
        return true;
    }
    let paths = t.paths.as_deref().unwrap_or(default_paths);
    let labels = t.labels.as_deref().unwrap_or(default_labels);
    !paths.is_empty() || !labels.is_empty()
}

/// Runs every rule. `today` enables the date checks (expired ignores); without it they are
/// skipped, which keeps parsing a pure function of the text.
pub(crate) fn validate(
    policy: &Policy,
    index: &PositionIndex,
    today: Option<NaiveDate>,
) -> Vec<Issue> {
    let mut c = Checker {
        index,
        issues: Vec::new(),
    };

    if policy.version != 1 {
        c.error(
            path(&["version"]),
            At::Value,
            format!(
                "unsupported policy version {}; this sdl-gate reads version 1",
                policy.version
            ),
        );
    }
    c.labels(path(&["security_labels"]), &policy.security_labels);

    let g = &policy.gates;

    // threat_model
    let tm = path(&["gates", "threat_model"]);
    c.trigger(&tm, &g.threat_model.common);
    if g.threat_model.common.enabled {
        if !can_trigger(
            &g.threat_model.common,
            &policy.security_paths,
            &policy.security_labels,
        ) {
            c.warn(
                tm.clone(),
                At::Key,
                "gates.threat_model never applies: `security_paths`, `security_labels` and its own `trigger` are all empty".into(),
            );
        } else if g.threat_model.paths.is_empty() && g.threat_model.link_patterns.is_empty() {
            c.error(
                with(tm.clone(), key("paths")),
                At::Key,
                "gates.threat_model has neither `paths` nor `link_patterns`; nobody could ever satisfy it".into(),
            );
        }
    }

    // security_review
    let sr = path(&["gates", "security_review"]);
    let review = &g.security_review;
    c.trigger(&sr, &review.common);
    c.reviewers(with(sr.clone(), key("reviewers")), &review.reviewers);
    if review.approvals == 0 {
        c.error(
            with(sr.clone(), key("approvals")),
            At::Value,
            "approvals must be at least 1 (to turn the gate off, write `enabled: false`)".into(),
        );
    }
    if review.common.enabled {
        let triggers = can_trigger(
            &review.common,
            &policy.security_paths,
            &policy.security_labels,
        );
        if !triggers && review.path_reviewers.is_empty() {
            c.warn(
                sr.clone(),
                At::Key,
                "gates.security_review never applies: `security_paths`, `security_labels` and its own `trigger` are all empty".into(),
            );
        } else if triggers && review.reviewers.is_empty() {
            c.error(
                with(sr.clone(), key("reviewers")),
                At::Key,
                "gates.security_review is enabled and triggered but names no reviewers (teams or users); nobody could ever satisfy it".into(),
            );
        } else if triggers {
            c.approvals_reachable(&sr, review.approvals, &review.reviewers);
        }
    }
    for (i, pr) in review.path_reviewers.iter().enumerate() {
        let base = with(with(sr.clone(), key("path_reviewers")), Seg::Index(i));
        if pr.paths.is_empty() {
            c.error(
                with(base.clone(), key("paths")),
                At::Key,
                "path_reviewers entry has no paths; it would never apply".into(),
            );
        }
        if pr.approvals == 0 {
            c.error(
                with(base.clone(), key("approvals")),
                At::Value,
                "approvals must be at least 1".into(),
            );
        }
        if pr.reviewers.is_empty() {
            c.error(
                with(base.clone(), key("reviewers")),
                At::Key,
                "path_reviewers entry names no reviewers (teams or users); nobody could ever satisfy it".into(),
            );
        } else {
            c.approvals_reachable(&base, pr.approvals, &pr.reviewers);
        }
        c.reviewers(with(base, key("reviewers")), &pr.reviewers);
    }

    // sast
    let sast = path(&["gates", "sast"]);
    c.trigger(&sast, &g.sast.common);
    c.checks(with(sast, key("checks")), &g.sast.checks);

    // dependencies
    let deps = path(&["gates", "dependencies"]);
    let d = &g.dependencies;
    c.trigger(&deps, &d.common);
    c.checks(with(deps.clone(), key("checks")), &d.checks);
    if d.common.enabled && !can_trigger(&d.common, &d.manifests, &[]) {
        c.warn(
            deps.clone(),
            At::Key,
            "gates.dependencies never applies: `manifests` and its own `trigger` are empty".into(),
        );
    }
    let min_reason = usize::try_from(policy.waivers.min_reason_length)
        .unwrap_or(usize::MAX)
        .max(MIN_IGNORE_REASON);
    let mut ids: HashSet<String> = HashSet::new();
    for (i, entry) in d.ignore.iter().enumerate() {
        let base = with(with(deps.clone(), key("ignore")), Seg::Index(i));
        let id = entry.id.trim();
        if id.is_empty() || id.chars().any(char::is_whitespace) {
            c.error(
                with(base.clone(), key("id")),
                At::Value,
                format!(
                    "`{}` is not an advisory id (CVE-…, GHSA-…, RUSTSEC-…)",
                    entry.id
                ),
            );
        } else if !ids.insert(id.to_ascii_uppercase()) {
            c.error(
                with(base.clone(), key("id")),
                At::Value,
                format!("`{id}` is ignored twice; keep one entry with one reason and one date"),
            );
        }
        let len = entry.reason.trim().chars().count();
        if len < min_reason {
            c.error(
                with(base.clone(), key("reason")),
                At::Value,
                format!(
                    "reason is {len} characters; an accepted risk needs at least {min_reason} (say why it is acceptable)"
                ),
            );
        }
        if let Some(today) = today {
            if entry.until < today {
                c.warn(
                    with(base.clone(), key("until")),
                    At::Value,
                    format!(
                        "ignore of `{id}` expired on {}; it no longer suppresses anything — renew or remove it",
                        entry.until
                    ),
                );
            } else if (entry.until - today).num_days() > i64::from(MAX_WAIVER_DAYS) {
                c.warn(
                    with(base.clone(), key("until")),
                    At::Value,
                    format!(
                        "ignore of `{id}` runs until {}, more than a year ahead; accepted risks should be re-assessed at least yearly",
                        entry.until
                    ),
                );
            }
        }
    }

    // sbom
    let sbom = path(&["gates", "sbom"]);
    c.trigger(&sbom, &g.sbom.common);
    if c.written(&sbom) && !c.written(&with(sbom.clone(), key("enabled"))) && !g.sbom.common.enabled
    {
        c.warn(
            sbom.clone(),
            At::Key,
            "gates.sbom is configured but off: unlike the other gates it needs `enabled: true`"
                .into(),
        );
    }
    if g.sbom.common.enabled && g.sbom.paths.is_empty() {
        c.error(
            with(sbom, key("paths")),
            At::Key,
            "gates.sbom has no `paths`; no SBOM could ever be found".into(),
        );
    }

    // waivers
    let w = path(&["waivers"]);
    let wp = &policy.waivers;
    c.team_slugs(with(w.clone(), key("teams")), &wp.teams);
    c.users(with(w.clone(), key("users")), &wp.users);
    if wp.max_days == 0 || wp.max_days > MAX_WAIVER_DAYS {
        c.error(
            with(w.clone(), key("max_days")),
            At::Value,
            format!(
                "max_days must be between 1 and {MAX_WAIVER_DAYS}; a waiver is a temporary risk acceptance"
            ),
        );
    }
    if wp.min_reason_length == 0 {
        c.error(
            with(w.clone(), key("min_reason_length")),
            At::Value,
            "min_reason_length must be at least 1; a waiver needs a reason".into(),
        );
    } else if wp.min_reason_length > 1000 {
        c.error(
            with(w.clone(), key("min_reason_length")),
            At::Value,
            "min_reason_length above 1000 characters cannot be written in a comment command".into(),
        );
    }
    if let Some(perm) = &wp.min_permission {
        let p = with(w.clone(), key("min_permission"));
        let lower = perm.to_ascii_lowercase();
        if WEAK_PERMISSIONS.contains(&lower.as_str()) {
            c.error(
                p,
                At::Value,
                format!(
                    "`{perm}` is too weak to waive security gates; use one of: {}",
                    WAIVE_PERMISSIONS.join(", ")
                ),
            );
        } else if !WAIVE_PERMISSIONS.contains(&lower.as_str()) {
            c.issues.push(Issue {
                level: Level::Error,
                path: p,
                at: At::Value,
                message: format!(
                    "unknown permission `{perm}`; expected one of: {}",
                    WAIVE_PERMISSIONS.join(", ")
                ),
                suggestion: did_you_mean(perm, WAIVE_PERMISSIONS).map(str::to_string),
            });
        }
    }
    if wp.teams.is_empty() && wp.users.is_empty() && wp.min_permission.is_none() {
        c.warn(
            w,
            At::Key,
            "nobody may waive a gate (no `waivers.teams`, `users` or `min_permission`); every `/sdl waive` will be refused".into(),
        );
    }

    if let Some(floor) = &policy.floor {
        validate_floor(&mut c, floor);
    }

    c.issues
}

/// The floor's own rules: what types cannot say (approvals ≥ 1, valid slugs, sane limits).
fn validate_floor(c: &mut Checker<'_>, floor: &super::floor::Floor) {
    c.labels(path(&["floor", "security_labels"]), &floor.security_labels);
    let g = &floor.gates;
    if let Some(sr) = &g.security_review {
        let base = path(&["floor", "gates", "security_review"]);
        c.reviewers(with(base.clone(), key("reviewers")), &sr.reviewers);
        if sr.approvals == Some(0) {
            c.error(
                with(base.clone(), key("approvals")),
                At::Value,
                "the floor's approvals must be at least 1".into(),
            );
        }
        for (i, pr) in sr.path_reviewers.iter().enumerate() {
            let at = with(with(base.clone(), key("path_reviewers")), Seg::Index(i));
            if pr.paths.is_empty() || pr.reviewers.is_empty() || pr.approvals == 0 {
                c.error(
                    at.clone(),
                    At::Key,
                    "a floor path_reviewers entry needs paths, reviewers and at least 1 approval"
                        .into(),
                );
            }
            c.reviewers(with(at, key("reviewers")), &pr.reviewers);
        }
    }
    for (name, scan) in [("sast", &g.sast), ("dependencies", &g.dependencies)] {
        if let Some(scan) = scan {
            let base = path(&["floor", "gates", name]);
            c.checks(with(base, key("checks")), &scan.checks);
        }
    }
    if let Some(days) = floor.waivers.max_days
        && (days == 0 || days > MAX_WAIVER_DAYS)
    {
        c.error(
            path(&["floor", "waivers", "max_days"]),
            At::Value,
            format!("the floor's max_days must be between 1 and {MAX_WAIVER_DAYS}"),
        );
    }
}
