//! The normalised finding: what every scanner format is turned into, so that gates, renderers
//! and the evidence ledger deal with one shape and one severity scale.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The one severity scale of sdl-gate, lowest first (so `>=` means "at least as severe").
///
/// Mapping from the scanners' own scales (documented in the README):
/// - CVSS base score or SARIF `security-severity`: ≥ 9.0 critical, ≥ 7.0 high, ≥ 4.0 medium,
///   > 0.0 low, 0.0 note — the same bands as CVSS v3 and GitHub code scanning.
/// - SARIF `level` when no `security-severity` is given: `error` high, `warning` medium,
///   `note` low, `none` note.
/// - Scanner words: `critical` critical; `high`/`error` high; `medium`/`moderate` medium;
///   `low` low; `info`/`informational`/`negligible`/`none` note.
/// - Fail closed, one rule for every kind of finding: a finding whose report states no
///   severity — no word, or the word `unknown` (GitLab's `Unknown`, Trivy's `UNKNOWN`), and
///   no CVSS score or vector (pip-audit, unrated OSV records, VEX without ratings) — is rated
///   `high`, never `note`. SARIF's `level` is always a rating (`none` and `note` included; an
///   absent level is `warning` by the SARIF specification), so it never falls under this rule.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational; never blocks unless the threshold is `note`.
    Note,
    /// Low.
    Low,
    /// Medium (npm's "moderate").
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// All severities, most severe first.
    pub const ALL_DESC: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Note,
    ];

    /// The band a CVSS base score (0.0–10.0) falls in.
    pub fn from_cvss(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::Note
        }
    }

    /// Parses a scanner's severity word (case-insensitive); `None` for a word that is no
    /// rating, `unknown` included — callers then rate the finding high (fail closed, see
    /// [`Severity::from_word_or_high`]).
    pub fn from_word(word: &str) -> Option<Severity> {
        match word.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(Severity::Critical),
            "high" | "error" | "severe" | "important" => Some(Severity::High),
            "medium" | "moderate" | "warning" => Some(Severity::Medium),
            "low" | "minor" => Some(Severity::Low),
            "note" | "info" | "informational" | "negligible" | "none" => Some(Severity::Note),
            _ => None,
        }
    }

    /// The severity a scanner's word states, or [`Severity::High`] when the report gives no
    /// word, `unknown`, or a word that is no rating: what nobody rated must not slip under a
    /// `high` threshold (fail closed).
    pub fn from_word_or_high(word: Option<&str>) -> Severity {
        word.and_then(Severity::from_word).unwrap_or(Severity::High)
    }

    /// The lower-case name used in policies and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Note => "note",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of weakness a finding is, which decides the gate that counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A weakness in the project's own code (SAST). Counted by the `sast` gate.
    Code,
    /// A committed secret. Counted by the `sast` gate.
    Secret,
    /// A known vulnerability in a dependency or image package. Counted by `dependencies`.
    Dependency,
    /// A misconfiguration (IaC, Dockerfile). Counted by the `sast` gate.
    Config,
}

/// The vulnerable package behind a dependency finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Package name as the ecosystem spells it.
    pub name: String,
    /// The installed version, when known.
    #[serde(default)]
    pub version: Option<String>,
    /// The first version that fixes it, when known.
    #[serde(default)]
    pub fixed_version: Option<String>,
    /// Ecosystem (`npm`, `crates.io`, `PyPI`, `deb`, …), when known.
    #[serde(default)]
    pub ecosystem: Option<String>,
}

/// One normalised finding from any supported scanner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The tool that reported it (`CodeQL`, `Trivy`, `npm audit`…).
    pub tool: String,
    /// Rule or advisory id as the tool names it.
    pub rule: String,
    /// Severity on sdl-gate's scale.
    pub severity: Severity,
    /// Which gate counts it.
    pub kind: FindingKind,
    /// CWE numbers (`79` for CWE-79), deduplicated and sorted.
    #[serde(default)]
    pub cwe: Vec<u32>,
    /// Repository-relative file, when located.
    #[serde(default)]
    pub file: Option<String>,
    /// 1-based line, when located.
    #[serde(default)]
    pub line: Option<u32>,
    /// The tool's message, plain text (escaped only when rendered).
    pub message: String,
    /// Stable identity across runs: the tool's own fingerprint when it gives one, otherwise a
    /// hash of tool, rule, file, package and advisory ids (never of the line number alone).
    pub fingerprint: String,
    /// For dependency findings, the package.
    #[serde(default)]
    pub package: Option<Package>,
    /// Advisory ids and aliases (CVE-…, GHSA-…, RUSTSEC-…, PYSEC-…, OSV ids).
    #[serde(default)]
    pub advisories: Vec<String>,
    /// A link to the rule or advisory.
    #[serde(default)]
    pub help_uri: Option<String>,
}

impl Finding {
    /// True when the finding's file is an absolute path: a location outside the repository
    /// root (or one the root was not known for), which no change can touch.
    pub fn is_outside_repository(&self) -> bool {
        self.file.as_deref().is_some_and(|f| {
            f.starts_with('/') || (f.as_bytes().get(1) == Some(&b':') && f.get(2..3) == Some("/"))
        })
    }

    /// True when `id` names this finding: its rule or any advisory id or alias
    /// (case-insensitive).
    pub fn matches_id(&self, id: &str) -> bool {
        self.rule.eq_ignore_ascii_case(id)
            || self.advisories.iter().any(|a| a.eq_ignore_ascii_case(id))
    }
}
