//! Conformance of the report and threat-model readers against real published tool output.
//!
//! Walks every file under `../shared/fixtures/{sarif,dependency-scans,threat-models}` and
//! checks that each one either parses or is rejected with an actionable reason, and that the
//! number of findings equals a count computed independently from a `serde_json::Value` with
//! the documented counting rules. Also pins a handful of normalised values on real fixtures,
//! reads the small invented inputs under `tests/data/reports`, and property-tests that no
//! input makes the parsers panic.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sdl_gate::reports::{
    FindingKind, ReportError, ReportFormat, Severity, ThreatModelKind, parse_report,
    parse_threat_model, sniff,
};
use serde_json::Value;

fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: fixtures folder {} is absent", dir.display());
        None
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.file_name().is_some_and(|n| n != "SOURCES.md") {
            out.push(p);
        }
    }
    out.sort();
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn json_value(bytes: &[u8]) -> Value {
    let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    serde_json::from_slice(b).expect("fixture is JSON")
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

// ---- independent counts -------------------------------------------------------------------

fn sarif_count(v: &Value) -> usize {
    let mut n = 0;
    for run in arr(v, "runs") {
        for r in arr(run, "results") {
            let kind = r.get("kind").and_then(Value::as_str).unwrap_or("fail");
            if kind == "pass" || kind == "notApplicable" {
                continue;
            }
            if r.get("baselineState").and_then(Value::as_str) == Some("absent") {
                continue;
            }
            let statuses: Vec<&str> = arr(r, "suppressions")
                .iter()
                .map(|s| {
                    s.get("status")
                        .and_then(Value::as_str)
                        .unwrap_or("accepted")
                })
                .collect();
            let suppressed = statuses.contains(&"accepted") && !statuses.contains(&"underReview");
            if !suppressed {
                n += 1;
            }
        }
    }
    n
}

fn trivy_count(v: &Value) -> usize {
    arr(v, "Results")
        .iter()
        .map(|r| {
            arr(r, "Vulnerabilities")
                .iter()
                .filter(|x| x["Status"] != "not_affected")
                .count()
                + arr(r, "Misconfigurations")
                    .iter()
                    .filter(|x| x["Status"] == "FAIL")
                    .count()
                + arr(r, "Secrets").len()
        })
        .sum()
}

fn osv_count(v: &Value) -> usize {
    let mut n = 0;
    for r in arr(v, "results") {
        for p in arr(r, "packages") {
            let groups = arr(p, "groups");
            let grouped: Vec<&str> = groups
                .iter()
                .flat_map(|g| arr(g, "ids"))
                .filter_map(Value::as_str)
                .collect();
            n += groups.len();
            n += arr(p, "vulnerabilities")
                .iter()
                .filter(|x| !grouped.contains(&x["id"].as_str().unwrap_or("")))
                .count();
        }
    }
    n
}

fn npm7_count(v: &Value) -> usize {
    let mut seen = std::collections::HashSet::new();
    for (_, entry) in v["vulnerabilities"].as_object().into_iter().flatten() {
        for via in arr(entry, "via").iter().filter(|x| x.is_object()) {
            seen.insert((via["name"].to_string(), via["source"].to_string()));
        }
    }
    seen.len()
}

fn npm6_count(v: &Value) -> usize {
    v["advisories"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, a)| {
            let mut versions: Vec<String> = arr(a, "findings")
                .iter()
                .map(|f| f["version"].to_string())
                .collect();
            versions.dedup();
            versions.len().max(1)
        })
        .sum()
}

fn cyclonedx_count(v: &Value) -> usize {
    arr(v, "vulnerabilities")
        .iter()
        .filter(|x| {
            let state = x["analysis"]["state"].as_str().unwrap_or("");
            ![
                "not_affected",
                "false_positive",
                "resolved",
                "resolved_with_pedigree",
            ]
            .contains(&state)
        })
        .map(|x| arr(x, "affects").len().max(1))
        .sum()
}

fn pip_count(v: &Value) -> usize {
    let deps = if v.is_array() {
        v.as_array().map(Vec::as_slice).unwrap_or(&[])
    } else {
        arr(v, "dependencies")
    };
    deps.iter().map(|d| arr(d, "vulns").len()).sum()
}

/// The expected finding count for a fixture, by the format the fixture is documented to be.
fn expected_count(format: ReportFormat, v: &Value) -> usize {
    match format {
        ReportFormat::Sarif => sarif_count(v),
        ReportFormat::Trivy => trivy_count(v),
        ReportFormat::Grype => arr(v, "matches").len(),
        ReportFormat::OsvScanner => osv_count(v),
        ReportFormat::NpmAuditV7 => npm7_count(v),
        ReportFormat::NpmAuditV6 => npm6_count(v),
        ReportFormat::CargoAudit => arr(&v["vulnerabilities"], "list").len(),
        ReportFormat::PipAudit => pip_count(v),
        ReportFormat::GitlabSast
        | ReportFormat::GitlabDependencyScanning
        | ReportFormat::GitlabSecretDetection
        | ReportFormat::GitlabContainerScanning => arr(v, "vulnerabilities").len(),
        ReportFormat::CycloneDx => cyclonedx_count(v),
        ReportFormat::Spdx => 0,
        ReportFormat::GithubCodeScanning => v
            .as_array()
            .map(|a| a.iter().filter(|x| x["state"] == "open").count())
            .unwrap_or(0),
    }
}

/// The format a fixture is documented to be (SOURCES.md), from its folder.
fn documented_format(rel: &str, v: &Value) -> Option<ReportFormat> {
    let dir = rel.split('/').nth(1).unwrap_or("");
    Some(match (rel.split('/').next()?, dir) {
        ("sarif", _) => ReportFormat::Sarif,
        (_, "trivy") => ReportFormat::Trivy,
        (_, "grype") => ReportFormat::Grype,
        (_, "osv-scanner") => ReportFormat::OsvScanner,
        (_, "cargo-audit") => ReportFormat::CargoAudit,
        (_, "pip-audit") => ReportFormat::PipAudit,
        (_, "npm-audit") if v.get("auditReportVersion").is_some() => ReportFormat::NpmAuditV7,
        (_, "npm-audit") => ReportFormat::NpmAuditV6,
        (_, "sbom") if rel.contains("/cyclonedx/") => ReportFormat::CycloneDx,
        (_, "sbom") => ReportFormat::Spdx,
        (_, "gitlab-reports") => match v["scan"]["type"].as_str() {
            Some("dependency_scanning") => ReportFormat::GitlabDependencyScanning,
            Some("secret_detection") => ReportFormat::GitlabSecretDetection,
            Some("container_scanning") => ReportFormat::GitlabContainerScanning,
            Some(_) => ReportFormat::GitlabSast,
            None if v.get("dependency_files").is_some() => ReportFormat::GitlabDependencyScanning,
            None if v.get("licenses").is_some() => return None,
            None => ReportFormat::GitlabSast,
        },
        _ => return None,
    })
}

/// GitHub's code-scanning alert list (a real answer recorded for octocrab's tests) is
/// recognised by content; its dismissed alerts are not findings, and the same alerts open
/// keep rule, severity, CWE, place and link.
#[test]
fn github_code_scanning_alerts_read_like_github_shows_them() {
    let Some(dir) = fixtures() else { return };
    let path = dir.join("github-api/octocrab/codescanning_alerts_multiple.json");
    let bytes = read(&path);
    assert_eq!(sniff(&bytes), Some(ReportFormat::GithubCodeScanning));
    let report = parse_report("alerts.json", &bytes).unwrap_or_else(|e| panic!("{e}"));
    let mut v = json_value(&bytes);
    assert_eq!(report.findings.len(), expected_count(report.format, &v));
    assert!(report.findings.is_empty(), "both alerts are dismissed");

    let alerts = v.as_array_mut().expect("an array of alerts");
    let n = alerts.len();
    for a in alerts.iter_mut() {
        a["state"] = Value::from("open");
        a["most_recent_instance"]["state"] = Value::from("open");
    }
    let opened = serde_json::to_vec(&v).expect("serialise");
    let report = parse_report("alerts.json", &opened).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.findings.len(), n);
    assert_eq!(report.tools, vec!["CodeQL".to_string()]);
    let f = &report.findings[0];
    assert_eq!(f.rule, "js/zipslip");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.kind, FindingKind::Code);
    assert_eq!(f.cwe, vec![22]);
    assert_eq!(f.file.as_deref(), Some("spec-main/api-session-spec.ts"));
    assert_eq!(f.line, Some(917));
    assert_eq!(f.help_uri.as_deref(), Some("https://codeql.github.com/"));
    assert_ne!(
        report.findings[0].fingerprint, report.findings[1].fingerprint,
        "two alerts at one place stay two findings"
    );
}

/// Fixture files that are deliberately rejected, with a word the reason must contain.
const REJECTED_REPORTS: &[(&str, &str)] = &[(
    "dependency-scans/gitlab-reports/gitlab-java-maven-gl-license-scanning-report.json",
    "not a security report",
)];

#[test]
fn every_report_fixture_parses_with_the_independent_count() {
    let Some(root) = fixtures() else { return };
    let mut files = Vec::new();
    walk(&root.join("sarif"), &mut files);
    walk(&root.join("dependency-scans"), &mut files);
    assert!(
        files.len() >= 90,
        "expected the full fixture set, found {} files",
        files.len()
    );
    let mut rejected = Vec::new();
    let mut total = 0;
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = read(path);
        match parse_report(&rel, &bytes) {
            Ok(report) => {
                let v = json_value(&bytes);
                let format = documented_format(&rel, &v)
                    .unwrap_or_else(|| panic!("{rel}: parsed but documented as unsupported"));
                assert_eq!(report.format, format, "{rel}: detected format");
                assert_eq!(sniff(&bytes), Some(format), "{rel}: sniff agrees");
                if format == ReportFormat::Sarif {
                    // 5000 leading spaces hide the SARIF hints from the fast path: the general
                    // detect-then-parse path must give the same report.
                    let mut padded = vec![b' '; 5000];
                    padded.extend_from_slice(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes));
                    let general = parse_report(&rel, &padded)
                        .unwrap_or_else(|e| panic!("{rel}: general path: {e}"));
                    assert_ne!(
                        general.sha256, report.sha256,
                        "{rel}: the digest is of the bytes read"
                    );
                    let general = sdl_gate::reports::Report {
                        sha256: report.sha256.clone(),
                        ..general
                    };
                    assert_eq!(general, report, "{rel}: fast and general SARIF paths agree");
                }
                let expected = expected_count(format, &v);
                assert_eq!(
                    report.findings.len(),
                    expected,
                    "{rel}: finding count vs independent count"
                );
                assert!(
                    !report.tools.is_empty() || arr(&v, "runs").is_empty(),
                    "{rel}: names its tool"
                );
                for f in &report.findings {
                    assert!(!f.rule.is_empty() && !f.message.is_empty(), "{rel}: {f:?}");
                    assert_eq!(f.fingerprint.len(), 64, "{rel}: fingerprint is a sha256");
                    if f.kind == FindingKind::Dependency && format != ReportFormat::Sarif {
                        assert!(
                            f.package.is_some(),
                            "{rel}: dependency finding without package: {f:?}"
                        );
                    }
                }
                let mut fps: Vec<&str> = report
                    .findings
                    .iter()
                    .map(|f| f.fingerprint.as_str())
                    .collect();
                fps.sort_unstable();
                fps.dedup();
                assert_eq!(
                    fps.len(),
                    report.findings.len(),
                    "{rel}: fingerprints unique within a report"
                );
                total += report.findings.len();
            }
            Err(err) => {
                let msg = err.to_string();
                assert!(
                    msg.contains(&rel) && msg.len() > rel.len() + 20,
                    "{rel}: reason too thin: {msg}"
                );
                rejected.push((rel.clone(), msg));
            }
        }
    }
    eprintln!(
        "{} report fixtures, {} findings, {} rejected",
        files.len(),
        total,
        rejected.len()
    );
    for (rel, msg) in &rejected {
        eprintln!("rejected {rel}: {msg}");
    }
    let rejected_names: Vec<&str> = rejected.iter().map(|(r, _)| r.as_str()).collect();
    let expected_names: Vec<&str> = REJECTED_REPORTS.iter().map(|(r, _)| *r).collect();
    assert_eq!(
        rejected_names, expected_names,
        "exactly the documented fixtures are rejected"
    );
    for ((_, msg), (_, word)) in rejected.iter().zip(REJECTED_REPORTS) {
        assert!(msg.contains(word), "{msg}");
    }
}

fn report(rel: &str) -> Option<sdl_gate::reports::Report> {
    let root = fixtures()?;
    let bytes = read(&root.join(rel));
    Some(parse_report(rel, &bytes).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn codeql_values_are_normalised() {
    let Some(r) = report("sarif/codeql/webgoat-v2023.8-ghas-codeql-2.17.3.sarif") else {
        return;
    };
    let f = &r.findings[0];
    assert_eq!(f.tool, "CodeQL");
    assert_eq!(f.rule, "java/insecure-cookie");
    assert_eq!(f.cwe, vec![614]);
    assert_eq!(
        f.file.as_deref(),
        Some("src/main/java/org/owasp/webgoat/lessons/jwt/JWTVotesEndpoint.java")
    );
    assert_eq!(f.line, Some(135));
    assert_eq!(
        f.severity,
        Severity::Medium,
        "security-severity 5 is medium"
    );
    assert_eq!(f.kind, FindingKind::Code);

    // The same tool's output in the snake_case spelling of GitHub's API, rules in extensions.
    let Some(r) = report("sarif/codeql/webgoat-v8.2.2-codeql-2.8.0.sarif") else {
        return;
    };
    let f = &r.findings[0];
    assert_eq!(f.rule, "java/ssrf");
    assert_eq!(f.cwe, vec![918]);
    assert_eq!(f.severity, Severity::Critical, "security-severity 9.1");
    assert_eq!(
        f.file.as_deref(),
        Some("webgoat-lessons/ssrf/src/main/java/org/owasp/webgoat/ssrf/SSRFTask2.java")
    );
    assert_eq!(f.line, Some(53));
}

#[test]
fn sarif_edge_cases_from_real_tools() {
    // UTF-8 BOM, locations through run.artifacts[index].
    let Some(r) = report("sarif/appscan/appscan-webgoat-2023.8-binary.sarif") else {
        return;
    };
    assert_eq!(r.findings.len(), 88);
    assert!(
        r.findings[0]
            .file
            .as_deref()
            .is_some_and(|f| f.ends_with("jwt/js/jwt-refresh.js")),
        "{:?}",
        r.findings[0].file
    );
    // Flawfinder: CWE through rule relationships; `kind: pass` results dropped.
    let Some(r) = report("sarif/misc-tools/flawfinder-2.0.19.sarif") else {
        return;
    };
    assert!(r.findings.iter().any(|f| f.cwe.contains(&327)));
    // SpotBugs: message from messageStrings + arguments.
    let Some(r) = report("sarif/misc-tools/spotbugs-4.4.0.sarif") else {
        return;
    };
    assert_eq!(
        r.findings[0].message,
        "Hard coded reference to an absolute pathname in Boot.main(String[])."
    );
    // Tool classification.
    let Some(r) = report("sarif/gitleaks/gitleaks-simple.sarif") else {
        return;
    };
    assert!(r.findings.iter().all(|f| f.kind == FindingKind::Secret));
    let Some(r) = report("sarif/misc-tools/dockle-0.3.15.sarif") else {
        return;
    };
    assert!(r.findings.iter().all(|f| f.kind == FindingKind::Config));
    let Some(r) = report("sarif/trivy/trivy-alpine-310-image.sarif") else {
        return;
    };
    let f = &r.findings[0];
    assert_eq!(f.kind, FindingKind::Dependency);
    let p = f.package.as_ref().expect("trivy sarif package");
    assert_eq!(
        (p.name.as_str(), p.fixed_version.as_deref()),
        ("libcrypto1.1", Some("1.1.1d-r0"))
    );
    assert!(f.matches_id("CVE-2019-1549"));
    let Some(r) = report("sarif/osv-scanner/osv-scanner-1.7.1-vuln-results-a.sarif") else {
        return;
    };
    assert!(r.findings.iter().all(|f| f.kind == FindingKind::Dependency));
    assert!(r.findings.iter().any(|f| f.matches_id("RUSTSEC-2022-0013")));
    // Several runs, no results: tools still named.
    let Some(r) = report("sarif/multi-tool/codeql-action-tool-names.sarif") else {
        return;
    };
    assert!(r.findings.is_empty());
    assert!(r.tools.iter().any(|t| t == "ESLint"));
}

#[test]
fn dependency_values_are_normalised() {
    let Some(r) = report("dependency-scans/npm-audit/audit-ci-npm-critical-npm7-output.json")
    else {
        return;
    };
    let f = &r.findings[0];
    let p = f.package.as_ref().expect("package");
    assert_eq!(
        (p.name.as_str(), p.fixed_version.as_deref()),
        ("open", Some("8.4.0"))
    );
    assert_eq!(f.rule, "GHSA-28xh-wpgr-7fm8");
    assert_eq!(f.severity, Severity::Critical);

    let Some(r) = report("dependency-scans/npm-audit/audit-ci-npm-critical-npm-output.json") else {
        return;
    };
    let f = &r.findings[0];
    assert_eq!(
        f.package.as_ref().and_then(|p| p.fixed_version.as_deref()),
        Some("6.0.0")
    );
    assert_eq!(
        f.package.as_ref().and_then(|p| p.version.as_deref()),
        Some("0.0.5")
    );
    assert_eq!(f.cwe, vec![77]);

    let Some(r) =
        report("dependency-scans/cargo-audit/defectdojo-cargo-audit-many-findings-cvss.json")
    else {
        return;
    };
    let f = r
        .findings
        .iter()
        .find(|f| f.rule == "RUSTSEC-2026-0047")
        .expect("RUSTSEC-2026-0047");
    assert!(f.advisories.iter().any(|a| a == "CVE-2026-3338"));
    assert!(f.matches_id("GHSA-hfpc-8r3f-gw53"));
    assert_eq!(
        f.severity,
        Severity::High,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N is 7.5"
    );
    let p = f.package.as_ref().expect("package");
    assert_eq!(
        (p.version.as_deref(), p.fixed_version.as_deref()),
        (Some("0.36.0"), Some("0.38.0"))
    );

    let Some(r) = report("dependency-scans/cargo-audit/defectdojo-cargo-audit-many-findings.json")
    else {
        return;
    };
    let f = r
        .findings
        .iter()
        .find(|f| f.rule == "RUSTSEC-2020-0091")
        .expect("arc-swap");
    assert_eq!(
        f.package.as_ref().and_then(|p| p.fixed_version.as_deref()),
        Some("0.4.8"),
        "lowest patch above 0.4.7"
    );
    assert_eq!(f.severity, Severity::High, "no CVSS: fail closed");

    let Some(r) = report("dependency-scans/osv-scanner/osv-scanner-vuln-results-a.json") else {
        return;
    };
    let regex: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.package.as_ref().is_some_and(|p| p.name == "regex"))
        .collect();
    assert_eq!(
        regex.len(),
        1,
        "the GHSA and RUSTSEC records of one group count once"
    );
    assert!(regex[0].matches_id("RUSTSEC-2022-0013") && regex[0].matches_id("GHSA-m5pq-gvj9-9vr8"));
    assert_eq!(regex[0].severity, Severity::High);

    let Some(r) =
        report("dependency-scans/trivy/defectdojo-trivy-misconfigurations-and-secrets.json")
    else {
        return;
    };
    let kinds: Vec<FindingKind> = r.findings.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&FindingKind::Config) && kinds.contains(&FindingKind::Secret));
    let secret = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Secret)
        .expect("secret");
    assert!(
        !secret.message.contains("GITHUB_PAT"),
        "secret text never copied: {}",
        secret.message
    );

    let Some(r) = report("dependency-scans/gitlab-reports/defectdojo-gl-sast-report-cwe_v15.json")
    else {
        return;
    };
    let f = &r.findings[0];
    assert_eq!(f.cwe, vec![79]);
    assert_eq!(
        (f.file.as_deref(), f.line),
        (
            Some("src/main/java/servlets/module/lesson/XssLesson.java"),
            Some(96)
        )
    );

    let Some(r) = report("dependency-scans/gitlab-reports/semgrep-gl-secrets.json") else {
        return;
    };
    assert_eq!(
        r.findings[0].kind,
        FindingKind::Secret,
        "category wins over scan.type"
    );

    let Some(r) = report(
        "dependency-scans/sbom/cyclonedx/VEX__CISA-Use-Cases__Case-1__vex-not_affected.json",
    ) else {
        return;
    };
    assert!(r.findings.is_empty(), "VEX not_affected is no finding");
    let Some(r) =
        report("dependency-scans/sbom/cyclonedx/VEX__CISA-Use-Cases__Case-1__vex-affected.json")
    else {
        return;
    };
    assert_eq!(r.findings.len(), 1);
    assert_eq!(
        r.findings[0].severity,
        Severity::High,
        "no ratings: fail closed"
    );
}

// ---- threat models ------------------------------------------------------------------------

fn expected_threat_model(rel: &str) -> Option<ThreatModelKind> {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if rel.contains("/schema") || name.contains("schema") {
        return None;
    }
    Some(match name {
        "defectdojo-threagile-risks.json" | "pytm-threatlib-threats.json" => return None,
        n if n.ends_with(".tm7") => ThreatModelKind::MicrosoftTmt,
        n if n.starts_with("v1-") => ThreatModelKind::ThreatDragonV1,
        n if n.starts_with("v2-") => ThreatModelKind::ThreatDragonV2,
        n if n.ends_with(".cdx.json") => ThreatModelKind::CycloneDxThreatModel,
        n if n.starts_with("threagile-") => ThreatModelKind::Threagile,
        n if n.starts_with("pytm-") => ThreatModelKind::Pytm,
        _ if rel.contains("threat-composer/") => ThreatModelKind::ThreatComposer,
        _ if rel.contains("otm") || rel.contains("OpenThreatModel") => ThreatModelKind::Otm,
        _ => return None,
    })
}

#[test]
fn every_threat_model_fixture_is_recognised_or_rejected_with_a_reason() {
    let Some(root) = fixtures() else { return };
    let mut files = Vec::new();
    walk(&root.join("threat-models"), &mut files);
    assert!(
        files.len() >= 29,
        "found {} threat-model fixtures",
        files.len()
    );
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let got = parse_threat_model(&rel, &read(path));
        match (expected_threat_model(&rel), got) {
            (Some(want), Ok(kind)) => assert_eq!(kind, want, "{rel}"),
            (None, Err(err)) => {
                let msg = err.to_string();
                eprintln!("rejected {rel}: {msg}");
                assert!(
                    matches!(err, ReportError::NotAThreatModel { .. }),
                    "{rel}: {msg}"
                );
                assert!(msg.len() > rel.len() + 40, "{rel}: reason too thin: {msg}");
            }
            (want, got) => panic!("{rel}: expected {want:?}, got {got:?}"),
        }
    }
}

// ---- invented inputs under tests/data/reports -----------------------------------------------

fn data(name: &str) -> Vec<u8> {
    read(&PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/reports")).join(name))
}

#[test]
fn invented_inputs_in_other_syntaxes() {
    let r =
        parse_report("yarn.json", &data("yarn-classic-audit.jsonl")).expect("yarn classic lines");
    assert_eq!(r.format, ReportFormat::NpmAuditV6);
    assert_eq!(
        r.findings.len(),
        2,
        "two installed versions of one advisory"
    );
    assert!(
        r.findings
            .iter()
            .all(|f| f.matches_id("GHSA-xvch-5gv4-984h") && f.matches_id("CVE-2021-44906"))
    );

    let r = parse_report("bom.xml", &data("cyclonedx-vex.xml")).expect("CycloneDX XML");
    assert_eq!(r.format, ReportFormat::CycloneDx);
    assert_eq!(r.findings.len(), 1, "the not_affected statement is dropped");
    let f = &r.findings[0];
    assert_eq!(f.rule, "CVE-2022-0001");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.cwe, vec![502]);
    assert_eq!(
        f.package
            .as_ref()
            .map(|p| (p.name.as_str(), p.ecosystem.as_deref())),
        Some(("left-pad", Some("npm")))
    );

    let r = parse_report("sbom.spdx", &data("sbom.spdx")).expect("SPDX tag-value");
    assert_eq!(r.format, ReportFormat::Spdx);
    assert_eq!(r.tools, vec!["example-sbom-tool-1.2"]);

    let r = parse_report("legacy.json", &data("pip-audit-legacy.json")).expect("pip-audit legacy");
    assert_eq!(r.format, ReportFormat::PipAudit);
    assert_eq!(r.findings.len(), 2);
    assert!(
        r.findings.iter().all(|f| f.severity == Severity::High),
        "pip-audit has no severity: fail closed"
    );
    assert_eq!(
        r.findings[0]
            .package
            .as_ref()
            .and_then(|p| p.fixed_version.as_deref()),
        Some("2.0.1")
    );
}

#[test]
fn bad_inputs_get_precise_errors() {
    match parse_report(
        "broken.sarif",
        b"{\n  \"version\": \"2.1.0\",\n  \"runs\": [,]\n}",
    ) {
        Err(ReportError::Json {
            line,
            column,
            source_name,
            ..
        }) => {
            assert_eq!(
                (line, column, source_name.as_str()),
                (3, 12, "broken.sarif")
            );
        }
        other => panic!("{other:?}"),
    }
    // 100k unclosed `[`: the shallow probe skips nested values iteratively, so this is a clean
    // syntax error at the end of input, not a stack overflow.
    let deep = "[".repeat(100_000);
    match parse_report("deep.json", deep.as_bytes()) {
        Err(ReportError::Json {
            line: 1, column, ..
        }) => assert_eq!(column, 100_000),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_threat_model("deep.json", deep.as_bytes()),
        Err(ReportError::Json { .. })
    ));
    // Balanced deep nesting inside a recognised format hits serde_json's recursion limit.
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let trivy = format!(
        r#"{{"SchemaVersion": 2, "Results": [{{"Target": "x", "Vulnerabilities": [{nested}]}}]}}"#
    );
    assert!(matches!(
        parse_report("deep.json", trivy.as_bytes()),
        Err(ReportError::TooDeep { .. })
    ));
    let sarif = format!(
        r#"{{"version": "2.1.0", "runs": [{{"results": [{{"message": {{"text": "m"}}, "codeFlows": {nested}}}]}}]}}"#
    );
    assert_eq!(
        parse_report("deep.sarif", sarif.as_bytes()).map(|r| r.findings.len()),
        Ok(1),
        "skipped parts may nest deeply"
    );
    let sarif_bad =
        format!(r#"{{"version": "2.1.0", "runs": [{{"results": [{{"message": {nested}}}]}}]}}"#);
    assert!(parse_report("deep.sarif", sarif_bad.as_bytes()).is_err());
    let yaml = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_threat_model("deep.yaml", yaml.as_bytes()).is_err());
    let xml = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    assert!(parse_report("deep.xml", xml.as_bytes()).is_err());
    assert!(parse_threat_model("deep.tm7", xml.as_bytes()).is_err());
    assert!(matches!(
        parse_report("e.json", b" \n\t"),
        Err(ReportError::Empty { .. })
    ));
    match parse_report("x.json", br#"{"foo": 1, "bar": []}"#) {
        Err(ReportError::UnknownFormat {
            seen, supported, ..
        }) => {
            assert!(seen.contains("`foo`") && seen.contains("`bar`"), "{seen}");
            assert!(supported.contains("SARIF 2.1.0"));
        }
        other => panic!("{other:?}"),
    }
    match parse_report(
        "t.json",
        br#"{"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": "oops"}]}"#,
    ) {
        Err(ReportError::Structure { path, .. }) => assert_eq!(path, "Results[0].Vulnerabilities"),
        other => panic!("{other:?}"),
    }
    match parse_report("old.sarif", br#"{"version": "1.0.0", "runs": []}"#) {
        Err(ReportError::Unsupported { reason, .. }) => assert!(reason.contains("2.1.0")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_report("u16.json", b"\xFF\xFE{\0}\0"),
        Err(ReportError::Unsupported { .. })
    ));
    assert!(matches!(
        parse_report("bin", b"\x00\x9f\x92\x96"),
        Err(ReportError::NotUtf8 { .. })
    ));
    let big = vec![b' '; sdl_gate::reports::MAX_REPORT_BYTES + 1];
    assert!(matches!(
        parse_report("big.json", &big),
        Err(ReportError::TooLarge { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_report("fuzz", &bytes);
        let _ = parse_threat_model("fuzz.json", &bytes);
        let _ = parse_threat_model("fuzz.md", &bytes);
        let _ = sniff(&bytes);
    }

    #[test]
    fn random_text_never_panics(text in "[ -~\\n\\t\\[\\]{}:,'\"&*!|>#%<@-]{0,300}") {
        // Printable text exercises the YAML, XML, tag-value and JSON-lines paths.
        let _ = parse_report("fuzz.txt", text.as_bytes());
        let _ = parse_threat_model("fuzz.yaml", text.as_bytes());
        let with_xml = format!("<ThreatModel>{text}</ThreatModel>");
        let _ = parse_threat_model("fuzz.tm7", with_xml.as_bytes());
        let lines = format!("{{\"type\":\"auditAdvisory\",\"data\":{{\"advisory\":{text}}}}}\n{text}");
        let _ = parse_report("fuzz.jsonl", lines.as_bytes());
    }

    #[test]
    fn random_json_in_report_shapes_never_panics(v in arb_json(), key in prop::sample::select(vec![
        "runs", "Results", "matches", "results", "vulnerabilities", "advisories", "dependencies", "components",
    ])) {
        // Put random JSON where each format expects its main collection, with the detection keys.
        for wrapper in [
            serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x", "rules": [v.clone()]}}, "results": [v.clone()]}]}),
            serde_json::json!({"SchemaVersion": 2, "Results": [{"Vulnerabilities": [v.clone()], "Misconfigurations": [v.clone()], "Secrets": [v.clone()]}]}),
            serde_json::json!({"matches": [v.clone()], "descriptor": {}}),
            serde_json::json!({"results": [{"packages": [{"package": v.clone(), "vulnerabilities": [v.clone()], "groups": [v.clone()]}]}]}),
            serde_json::json!({"auditReportVersion": 2, "vulnerabilities": {"p": {"via": [v.clone()], "fixAvailable": v.clone()}}}),
            serde_json::json!({"advisories": {"1": v.clone()}, "actions": []}),
            serde_json::json!({"database": {}, "lockfile": {}, "vulnerabilities": {"list": [v.clone()]}}),
            serde_json::json!({"dependencies": [{"name": "a", "vulns": [v.clone()]}]}),
            serde_json::json!({"version": "15.0.0", "scan": {"type": "sast"}, "vulnerabilities": [v.clone()]}),
            serde_json::json!({"bomFormat": "CycloneDX", "components": [v.clone()], "vulnerabilities": [v.clone()]}),
            serde_json::json!({ key: v.clone() }),
        ] {
            let bytes = serde_json::to_vec(&wrapper).unwrap_or_default();
            let _ = parse_report("fuzz.json", &bytes);
        }
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "CVE-2021-1",
            "GHSA-aaaa-bbbb-cccc",
            "fail",
            "pass",
            "absent",
            "error",
            "CRITICAL",
            "UNKNOWN",
            "not_affected",
            "FAIL",
            "file:///a%2",
            "%SRCROOT%",
            "{0}",
            "CWE-",
            "CVSS:3.1/AV:N",
            ">=",
            "Upgrade to ",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "ruleId",
                    "ruleIndex",
                    "rule",
                    "level",
                    "kind",
                    "message",
                    "text",
                    "id",
                    "arguments",
                    "locations",
                    "physicalLocation",
                    "artifactLocation",
                    "uri",
                    "index",
                    "region",
                    "startLine",
                    "suppressions",
                    "status",
                    "baselineState",
                    "properties",
                    "security-severity",
                    "tags",
                    "fingerprints",
                    "partialFingerprints",
                    "name",
                    "version",
                    "severity",
                    "cvss",
                    "via",
                    "findings",
                    "advisory",
                    "package",
                    "aliases",
                    "affects",
                    "ref",
                    "ratings",
                    "analysis",
                    "state",
                    "identifiers",
                    "location",
                    "VulnerabilityID",
                    "Status",
                    "PkgName",
                    "CVSS",
                    "ids",
                    "vulnerability",
                    "artifact",
                    "fix",
                    "messageStrings",
                    "relationships",
                    "target",
                    "toolComponent",
                    "bom-ref",
                    "cwes",
                    "solution",
                ])
                .prop_map(str::to_owned),
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
