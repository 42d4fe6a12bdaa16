//! Builders shared by the integration tests: policies from YAML, snapshots, findings and
//! waivers, so each test states only what it is about.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the helpers"
)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use sdl_gate::forge_name::ForgeName;

use sdl_gate::gates::{Evaluation, GateKind, GateResult, evaluate};
use sdl_gate::policy::{Policy, parse_policy};
use sdl_gate::reports::{Finding, FindingKind, Package, Report, ReportFormat, Severity};
use sdl_gate::snapshot::{
    ChangedFile, Check, CheckState, FileContent, FileStatus, Login, Review, ReviewState, Sha,
    Snapshot,
};
use sdl_gate::waivers::Waiver;

/// The head commit of test changes.
pub const HEAD: &str = "1111111111111111111111111111111111111111";
/// An older commit.
pub const OLD: &str = "2222222222222222222222222222222222222222";

/// A fixed clock: 2026-06-15 12:00 UTC.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Parses a policy written in the test, failing the test with the loader's message.
pub fn policy(yaml: &str) -> Policy {
    match parse_policy("test-policy.yml", yaml) {
        Ok(p) => p,
        Err(e) => panic!("test policy does not load: {e}"),
    }
}

/// The policy most tests use: auth and crypto code are security-relevant.
pub fn base_policy() -> Policy {
    policy(
        r##"
version: 1
security_paths: ["src/auth/**", "src/crypto/**"]
security_labels: ["security"]
gates:
  threat_model:
    paths: ["docs/threat-model/**"]
    link_patterns: ["https://tm.example.com/*", "#*"]
  security_review:
    approvals: 1
    reviewers: { teams: ["acme/security"], users: ["alice"] }
  sast:
    checks: ["CodeQL"]
    threshold: high
  dependencies:
    manifests: ["**/Cargo.lock", "**/package-lock.json"]
    threshold: high
    ignore:
      - { id: "CVE-2026-0001", reason: "not reachable: the parser is never fed input", until: 2026-12-31 }
      - { id: "GHSA-aaaa-bbbb-cccc", reason: "vendor fix pending, mitigated by WAF rule 12", until: 2026-01-31 }
waivers: { teams: ["acme/security"], users: [], max_days: 30, min_reason_length: 20 }
"##,
    )
}

/// A change by `bob` at [`HEAD`] touching `paths` (modified).
pub fn change(paths: &[&str]) -> Snapshot {
    let mut s = Snapshot::new(Some(ForgeName::GitHub), "acme/plc", 7, "bob", HEAD);
    s.files = paths.iter().map(|p| ChangedFile::modified(*p)).collect();
    s.teams.insert(
        "acme/security".into(),
        ["carol", "dave", "bob"]
            .into_iter()
            .map(Login::new)
            .collect(),
    );
    s
}

/// Adds a file with a status and optional old path.
pub fn file(s: &mut Snapshot, path: &str, status: FileStatus, previous: Option<&str>) {
    s.files.push(ChangedFile {
        path: path.into(),
        previous_path: previous.map(str::to_string),
        status,
        changed_lines: None,
    });
}

/// Records the content of a touched file.
pub fn content(s: &mut Snapshot, path: &str, bytes: Option<&[u8]>) {
    s.contents.push(FileContent {
        path: path.into(),
        bytes: bytes.map(<[u8]>::to_vec),
    });
}

/// A review by `who` with `state` on `commit`.
pub fn review(s: &mut Snapshot, who: &str, state: ReviewState, commit: &str) {
    s.reviews.push(Review {
        author: Login::new(who),
        state,
        commit: Some(Sha::new(commit)),
        submitted_at: None,
    });
}

/// A check with a state.
pub fn check(s: &mut Snapshot, name: &str, state: CheckState) {
    s.checks.push(Check {
        name: name.into(),
        state,
    });
}

/// A code finding.
pub fn code_finding(rule: &str, severity: Severity, file: &str, line: u32) -> Finding {
    Finding {
        tool: "CodeQL".into(),
        rule: rule.into(),
        severity,
        kind: FindingKind::Code,
        cwe: vec![89],
        file: Some(file.into()),
        line: Some(line),
        message: format!("{rule} at {file}:{line}"),
        fingerprint: format!("{rule}|{file}|{line}"),
        package: None,
        advisories: Vec::new(),
        help_uri: None,
    }
}

/// A dependency finding with advisory ids.
pub fn vuln(package: &str, severity: Severity, ids: &[&str]) -> Finding {
    Finding {
        tool: "OSV-Scanner".into(),
        rule: ids.first().copied().unwrap_or("OSV-0").into(),
        severity,
        kind: FindingKind::Dependency,
        cwe: Vec::new(),
        file: Some("Cargo.lock".into()),
        line: None,
        message: format!("{package} is vulnerable"),
        fingerprint: format!("{package}|{}", ids.join(",")),
        package: Some(Package {
            name: package.into(),
            version: Some("1.0.0".into()),
            fixed_version: Some("1.0.1".into()),
            ecosystem: Some("crates.io".into()),
        }),
        advisories: ids.iter().map(|s| s.to_string()).collect(),
        help_uri: None,
    }
}

/// A report holding findings.
pub fn report(format: ReportFormat, tool: &str, findings: Vec<Finding>) -> Report {
    Report {
        source: format!("{tool}.json"),
        format,
        tools: vec![tool.into()],
        findings,
        suppressed: Vec::new(),
        failures: Vec::new(),
        coverage: Default::default(),
        sha256: String::new(),
        tool_versions: Vec::new(),
    }
}

/// A waiver of `gate` by carol, given `days_ago` days before [`now`] and lasting `days`.
pub fn waiver(gate: GateKind, days_ago: i64, days: i64, sha: &str) -> Waiver {
    let created = now() - Duration::days(days_ago);
    Waiver {
        gate,
        reason: "accepted for the 4.2 release; fix tracked in SEC-123".into(),
        author: Login::new("carol"),
        created_at: created,
        expires_at: created + Duration::days(days),
        sha: Sha::new(sha),
        comment_id: Some(99),
        revoked: None,
    }
}

/// Evaluates at [`now`].
pub fn eval(p: &Policy, s: &Snapshot) -> Evaluation {
    evaluate(p, s, now())
}

/// One gate's result.
pub fn gate(e: &Evaluation, kind: GateKind) -> GateResult {
    match e.gate(kind) {
        Some(g) => g.clone(),
        None => panic!("no result for {kind}"),
    }
}
