//! The GitLab code quality report: the located findings of every gate as a JSON array in
//! GitLab's format (a subset of the Code Climate spec), so the merge request's diff and
//! widget mark the lines.
//!
//! Each entry has `description`, `check_name`, `fingerprint`, `severity` (`info`, `minor`,
//! `major`, `critical`, `blocker`) and `location.path` / `location.lines.begin`. GitLab keeps
//! one entry per fingerprint and compares fingerprints between the target branch and the MR,
//! so a fingerprint is a hash of gate, the finding's own stable fingerprint and path — never
//! of the line alone — made unique within one report by the line and then a counter.

use std::collections::BTreeSet;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::gates::{Evaluation, FindingStatus, GateFinding};
use crate::reports::Severity;

/// Characters of a description at most.
const DESCRIPTION_CHARS: usize = 1000;

/// One code quality entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// Always `issue` (Code Climate).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What was found, with the requirement ids it is evidence against.
    pub description: String,
    /// `sdl-gate/<gate>/<rule>`.
    pub check_name: String,
    /// Stable identity (see the module documentation).
    pub fingerprint: String,
    /// GitLab's severity word.
    pub severity: &'static str,
    /// Always `["Security"]`.
    pub categories: [&'static str; 1],
    /// Where.
    pub location: Location,
}

/// Where an entry points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Repository-relative path.
    pub path: String,
    /// The line.
    pub lines: Lines,
}

/// The line of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lines {
    /// 1-based.
    pub begin: u32,
}

/// GitLab's severity for a finding: blocking findings by their severity (critical →
/// `blocker`, high → `critical`, medium → `major`, low → `minor`, note → `info`); an
/// ignored one is `info`.
pub fn severity(f: &GateFinding) -> &'static str {
    if f.status == FindingStatus::Ignored {
        return "info";
    }
    match f.finding.severity {
        Severity::Critical => "blocker",
        Severity::High => "critical",
        Severity::Medium => "major",
        Severity::Low => "minor",
        Severity::Note => "info",
    }
}

fn hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

fn clip(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        let mut t: String = flat.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        flat
    }
}

/// The code quality entries of `eval`: every finding a gate listed that has a file (a
/// finding without a line points at line 1).
pub fn code_quality(eval: &Evaluation) -> Vec<Issue> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for gate in &eval.gates {
        for f in &gate.findings {
            let fnd = &f.finding;
            let Some(path) = fnd.file.as_deref().filter(|p| !p.is_empty()) else {
                continue;
            };
            let line = fnd.line.unwrap_or(1).max(1);
            let base = [gate.gate.as_str(), fnd.fingerprint.as_str(), path];
            let mut fingerprint = hash(&base);
            if seen.contains(&fingerprint) {
                let line_s = line.to_string();
                fingerprint = hash(&[base[0], base[1], base[2], &line_s]);
                let mut n = 2u32;
                while seen.contains(&fingerprint) {
                    let n_s = n.to_string();
                    fingerprint = hash(&[base[0], base[1], base[2], &line_s, &n_s]);
                    n += 1;
                }
            }
            seen.insert(fingerprint.clone());
            let mut tags: Vec<String> = fnd.cwe.iter().map(|c| format!("CWE-{c}")).collect();
            tags.extend(fnd.advisories.iter().take(3).cloned());
            tags.push(format!("IEC 62443-4-1 {}", f.requirements.join(", ")));
            let ignored = match f.status {
                FindingStatus::Ignored => " (ignored by policy)",
                FindingStatus::IgnoreExpired => " (ignore expired)",
                FindingStatus::Blocking => "",
            };
            let description = clip(
                &format!(
                    "[sdl-gate {}] {}{ignored}: {} ({})",
                    gate.gate.as_str(),
                    fnd.tool,
                    fnd.message,
                    tags.join("; ")
                ),
                DESCRIPTION_CHARS,
            );
            out.push(Issue {
                kind: "issue",
                description,
                check_name: clip(
                    &format!("sdl-gate/{}/{}", gate.gate.as_str(), fnd.rule),
                    200,
                ),
                fingerprint,
                severity: severity(f),
                categories: ["Security"],
                location: Location {
                    path: path.to_string(),
                    lines: Lines { begin: line },
                },
            });
        }
    }
    out
}
