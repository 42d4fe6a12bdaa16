//! Turning normalised findings into gate findings: deduplication across reports, the
//! threshold, the requirement and FR mapping, and the order renderers show them in.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use crate::practices::catalog;
use crate::reports::{Finding, Severity};

use super::result::{FindingStatus, GateFinding};

/// Findings from all reports of the kinds `keep` accepts, each once.
///
/// Two findings are one when their fingerprint, rule, file and line agree: a fingerprint
/// alone is no identity when a tool writes the same placeholder on every result (semgrep
/// OSS), and findings at different places or of different rules are different whatever
/// their fingerprint says. Of duplicates the most severe is kept, so neither the count nor
/// the verdict depends on the order of the reports.
pub(crate) fn collect(
    reports: &[crate::reports::Report],
    keep: impl Fn(&Finding) -> bool,
) -> Vec<&Finding> {
    type Key<'k> = (&'k str, &'k str, Option<&'k str>, Option<u32>);
    // Sized for every finding up front and probed once per finding (the entry API): a
    // 25,000-finding log otherwise rehashes the map a dozen times and hashes each key twice.
    let total: usize = reports.iter().map(|r| r.findings.len()).sum();
    let mut at: HashMap<Key<'_>, usize> = HashMap::with_capacity(total);
    let mut out: Vec<&Finding> = Vec::with_capacity(total);
    for f in reports.iter().flat_map(|r| r.findings.iter()) {
        if !keep(f) {
            continue;
        }
        let key = (
            f.fingerprint.as_str(),
            f.rule.as_str(),
            f.file.as_deref(),
            f.line,
        );
        match at.entry(key) {
            Entry::Occupied(e) => {
                let i = *e.get();
                if f.severity > out[i].severity {
                    out[i] = f;
                }
            }
            Entry::Vacant(e) => {
                e.insert(out.len());
                out.push(f);
            }
        }
    }
    out
}

/// Wraps a finding with the gate's requirement ids and the FRs its CWEs threaten.
pub(crate) fn judged(
    finding: &Finding,
    status: FindingStatus,
    requirements: &Arc<[String]>,
    ignore_note: Option<String>,
) -> GateFinding {
    let cat = catalog();
    let mut frs: Vec<Cow<'static, str>> = finding
        .cwe
        .iter()
        .flat_map(|c| {
            cat.frs_for_cwe(*c)
                .iter()
                .map(|s| Cow::Borrowed(s.as_str()))
        })
        .collect();
    frs.sort();
    frs.dedup();
    GateFinding {
        finding: finding.clone(),
        status,
        requirements: Arc::clone(requirements),
        foundational_requirements: frs,
        ignore_note,
    }
}

/// Orders findings for display: blocking first, then most severe, then by place.
pub(crate) fn sort(findings: &mut [GateFinding]) {
    // Unstable sort with a total order (the fingerprint last): no scratch buffer.
    findings.sort_unstable_by(|a, b| {
        let rank = |f: &GateFinding| match f.status {
            FindingStatus::Blocking | FindingStatus::IgnoreExpired => 0,
            FindingStatus::Ignored => 1,
        };
        rank(a)
            .cmp(&rank(b))
            .then_with(|| by_place(&a.finding, &b.finding))
    });
}

/// [`sort`]'s order for findings of one status, on references: a gate whose findings all get
/// the same status sorts these before wrapping them, so the sort moves pointers instead of
/// gate findings of a few hundred bytes each, and [`sort`] then finds them in order (one
/// linear pass).
pub(crate) fn sort_refs(findings: &mut [&Finding]) {
    findings.sort_unstable_by(|a, b| by_place(a, b));
}

/// Most severe first, then by file, line, rule and fingerprint.
fn by_place(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| a.file.cmp(&b.file))
        .then_with(|| a.line.cmp(&b.line))
        .then_with(|| a.rule.cmp(&b.rule))
        .then_with(|| a.fingerprint.cmp(&b.fingerprint))
}

/// "3 critical, 2 high" for the blocking findings.
pub(crate) fn tally(findings: &[GateFinding]) -> String {
    let mut parts = Vec::new();
    for sev in Severity::ALL_DESC {
        let n = findings
            .iter()
            .filter(|f| f.status != FindingStatus::Ignored && f.finding.severity == sev)
            .count();
        if n > 0 {
            parts.push(format!("{n} {sev}"));
        }
    }
    parts.join(", ")
}
