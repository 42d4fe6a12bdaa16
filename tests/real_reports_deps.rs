//! Gates on reports written by the real tools (issue 12): pip-audit 2.10.1, npm 11, checkov
//! 3.3.30, pytm 1.4.0, cyclonedx-bom 4.6.1 / cyclonedx-python-lib 7.6.2.
//!
//! The reports under `tests/data/real/` come from `tests/real-tools/deps.sh` run on the sample
//! projects in `tests/real-tools/sample-deps/` (versions in `tests/data/real/VERSIONS.deps`). Each
//! test reads one of them through the public API and asserts the outcome a defect got wrong:
//! counts are compared with what the tool itself reports, computed here from its own output.

mod common;

use std::path::PathBuf;

use common::*;
use sdl_gate::gates::{GateKind, Verdict};
use sdl_gate::reports::{Report, ReportFormat, Severity, parse_report};
use sdl_gate::snapshot::{FileStatus, Snapshot};
use serde_json::Value;

fn data(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/real")).join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// A file of the sample projects the tools ran on (`tests/real-tools/sample-deps/`).
fn sample(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/real-tools/sample-deps"
    ))
    .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn report(rel: &str) -> Report {
    parse_report(rel, &data(rel)).unwrap_or_else(|e| panic!("{rel} does not parse: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_slice(&data(rel)).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
}

/// All explanation text of a gate (details with children, unblock, warnings), for asserts.
fn all_text(g: &sdl_gate::gates::GateResult) -> String {
    fn walk(n: &sdl_gate::gates::Node, out: &mut String) {
        out.push_str(&n.description);
        out.push('\n');
        for c in &n.children {
            walk(c, out);
        }
    }
    let mut out = format!("{}\n", g.explanation);
    for n in &g.details {
        walk(n, &mut out);
    }
    out.push_str(&g.unblock.join("\n"));
    out.push_str(&g.warnings.join("\n"));
    out
}

const DEPS_POLICY: &str = r##"
version: 1
security_paths: ["src/auth/**"]
gates:
  threat_model: { enabled: false }
  security_review: { enabled: false }
  sast: { enabled: false }
  dependencies:
    manifests: ["**/requirements.txt", "**/package-lock.json"]
    threshold: high
    FAIL_MODE
"##;

fn deps_policy(fail_mode: &str) -> sdl_gate::policy::Policy {
    policy(&DEPS_POLICY.replace("FAIL_MODE", &format!("fail_mode: {fail_mode}")))
}

fn deps_change(reports: Vec<Report>) -> Snapshot {
    let mut s = change(&["requirements.txt"]);
    s.reports = reports;
    s
}

// ---- 3: pip-audit that audited nothing ------------------------------------------------------

#[test]
fn pip_audit_that_skipped_every_dependency_is_no_evidence() {
    // pip-audit printed "No known vulnerabilities found" and exited 0 on both files (see
    // EXIT_CODES): it could not reach PyPI's vulnerability data and skipped every dependency.
    for (rel, count) in [
        ("pip-audit/unauditable.json", 1),
        ("pip-audit/vulnerable.json", 7),
        ("pip-audit/partial.json", 3),
    ] {
        let tool_says = json(rel)["dependencies"]
            .as_array()
            .map(|d| d.iter().filter(|x| x.get("skip_reason").is_some()).count())
            .unwrap_or(0);
        assert_eq!(
            tool_says, count,
            "{rel}: skipped dependencies per pip-audit"
        );
        let r = report(rel);
        assert!(r.findings.is_empty(), "{rel}");
        assert_eq!(r.coverage.skipped.len(), count, "{rel}");
        assert_eq!(r.coverage.audited, Some(0), "{rel}");
        assert!(r.coverage.audited_nothing(), "{rel}");

        let closed = gate(
            &eval(&deps_policy("closed"), &deps_change(vec![r.clone()])),
            GateKind::Dependencies,
        );
        assert_eq!(
            closed.verdict,
            Verdict::Fail,
            "{rel}: {}",
            closed.explanation
        );
        let text = all_text(&closed);
        assert!(text.contains("audited no dependency"), "{text}");
        for s in &r.coverage.skipped {
            assert!(
                text.contains(&s.name),
                "{rel}: {} not named in {text}",
                s.name
            );
        }
        assert!(!text.contains("no known vulnerability"), "{text}");

        let open = gate(
            &eval(&deps_policy("open"), &deps_change(vec![r.clone()])),
            GateKind::Dependencies,
        );
        assert_eq!(
            open.verdict,
            Verdict::Pending,
            "{rel}: {}",
            open.explanation
        );
        assert!(
            open.explanation.contains("audited no dependency"),
            "{}",
            open.explanation
        );
        assert!(
            open.warnings
                .iter()
                .any(|w| w.contains(&r.coverage.skipped[0].name)),
            "{:?}",
            open.warnings
        );
    }
}

#[test]
fn a_partial_skip_is_named_but_does_not_block() {
    // The real partial.json had every dependency skipped (no vulnerability service); make one
    // of its entries audited, as pip-audit writes it when PyPI answers, to get a partial skip.
    let mut doc = json("pip-audit/partial.json");
    doc["dependencies"][1] = serde_json::json!({"name": "jinja2", "version": "2.10", "vulns": []});
    let bytes = serde_json::to_vec(&doc).unwrap_or_default();
    let r = parse_report("partial-audited.json", &bytes).expect("parses");
    assert_eq!(r.coverage.audited, Some(1));
    assert_eq!(r.coverage.skipped.len(), 2);
    let g = gate(
        &eval(&deps_policy("closed"), &deps_change(vec![r])),
        GateKind::Dependencies,
    );
    assert_eq!(g.verdict, Verdict::Pass, "{}", g.explanation);
    let text = all_text(&g);
    assert!(
        text.contains("could not audit 2 of 3 dependencies")
            && text.contains("sdl-gate-sample-private"),
        "{text}"
    );
}

// ---- 4: checkov's GitLab report and its SARIF agree -----------------------------------------

#[test]
fn checkov_gitlab_and_sarif_give_the_same_blocking_verdict() {
    let native = json("checkov/checkov.json");
    let tool_failed: u64 = native
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["summary"]["failed"].as_u64())
        .sum();
    assert_eq!(tool_failed, 43, "checkov's own summary of failed checks");
    let gitlab = report("checkov/gitlab_sast.json");
    let sarif = report("checkov/results.sarif");
    assert_eq!(gitlab.format, ReportFormat::GitlabSast);
    for r in [&gitlab, &sarif] {
        assert_eq!(r.findings.len() as u64, tool_failed, "{}", r.source);
        assert!(
            r.findings.iter().all(|f| f.severity == Severity::High),
            "{}: GitLab `Unknown` and SARIF `error` both rate high",
            r.source
        );
    }
    let p = policy(
        r##"
version: 1
security_paths: ["iac/**"]
gates:
  threat_model: { enabled: false }
  security_review: { enabled: false }
  dependencies: { enabled: false }
  sast: { threshold: high }
"##,
    );
    let verdict = |r: &Report| {
        let mut s = change(&["iac/terraform/main.tf", "iac/k8s/deployment.yaml"]);
        s.reports = vec![r.clone()];
        let g = gate(&eval(&p, &s), GateKind::Sast);
        (g.verdict, g.findings.len())
    };
    let (gv, gn) = verdict(&gitlab);
    let (sv, sn) = verdict(&sarif);
    assert_eq!(gv, Verdict::Fail);
    assert_eq!((gv, gn), (sv, sn), "GitLab report and SARIF of one scan");
    assert_eq!(gn, 43);
}

// ---- 5: CycloneDX VEX is dependency evidence ------------------------------------------------

#[test]
fn cyclonedx_vex_is_dependency_evidence_and_its_analysis_is_honoured() {
    let doc = json("cyclonedx/vex.cdx.json");
    let vulns = doc["vulnerabilities"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let set_aside = vulns
        .iter()
        .filter(|v| {
            matches!(
                v["analysis"]["state"].as_str(),
                Some("not_affected" | "false_positive" | "resolved")
            )
        })
        .count();
    assert_eq!((vulns.len(), set_aside), (6, 3), "what the document states");
    let r = report("cyclonedx/vex.cdx.json");
    assert_eq!(r.findings.len(), vulns.len() - set_aside);
    assert_eq!(r.coverage.suppressed.len(), set_aside);
    let unrated = r
        .findings
        .iter()
        .find(|f| f.rule == "CVE-2019-10906")
        .expect("the in-triage advisory is a finding");
    assert_eq!(unrated.severity, Severity::High, "no rating: fail closed");

    let g = gate(
        &eval(&deps_policy("closed"), &deps_change(vec![r])),
        GateKind::Dependencies,
    );
    assert_eq!(g.verdict, Verdict::Fail, "{}", g.explanation);
    assert_eq!(
        g.findings.len(),
        2,
        "high + unrated; the medium one is below the threshold"
    );
    let text = all_text(&g);
    assert!(!text.contains("no scanner report was provided"), "{text}");
    assert!(
        text.contains("3 vulnerabilit(ies) set aside by the VEX analysis"),
        "{text}"
    );
    assert!(
        text.contains("not_affected — code_not_reachable: The service renders no template"),
        "{text}"
    );
    assert!(
        text.contains("false_positive — urllib3 is vendored"),
        "{text}"
    );
    assert!(text.contains("resolved — no justification given"), "{text}");
}

#[test]
fn a_cyclonedx_inventory_without_vulnerabilities_is_no_scan_evidence() {
    // pip-audit's CycloneDX output when it audited nothing: no components, no vulnerabilities.
    let r = report("cyclonedx/pip-audit-vulnerable.cdx.json");
    assert!(!r.coverage.vulnerability_analysis);
    let g = gate(
        &eval(&deps_policy("closed"), &deps_change(vec![r])),
        GateKind::Dependencies,
    );
    assert_eq!(g.verdict, Verdict::Pending, "{}", g.explanation);
}

// ---- 9: an SBOM with no components ----------------------------------------------------------

#[test]
fn an_sbom_with_no_components_does_not_satisfy_the_sbom_gate() {
    let p = policy(
        r##"
version: 1
security_paths: ["src/auth/**"]
gates:
  threat_model: { enabled: false }
  security_review: { enabled: false }
  sast: { enabled: false }
  dependencies: { enabled: false }
  sbom: { enabled: true, paths: ["sbom/**"] }
"##,
    );
    for rel in [
        "cyclonedx/empty.cdx.json",
        "cyclonedx/pip-audit-vulnerable.cdx.json",
    ] {
        let r = report(rel);
        assert_eq!(r.coverage.components, Some(0), "{rel}");
        let mut s = change(&["Cargo.lock"]);
        file(&mut s, "sbom/bom.cdx.json", FileStatus::Modified, None);
        content(&mut s, "sbom/bom.cdx.json", Some(&data(rel)));
        let g = gate(&eval(&p, &s), GateKind::Sbom);
        assert_eq!(g.verdict, Verdict::Fail, "{rel}: {}", g.explanation);
        assert!(
            g.explanation.contains("lists no components"),
            "{}",
            g.explanation
        );
    }
    // The VEX document lists three components: it is an SBOM of the sample product.
    let mut s = change(&["Cargo.lock"]);
    file(&mut s, "sbom/bom.cdx.json", FileStatus::Modified, None);
    content(
        &mut s,
        "sbom/bom.cdx.json",
        Some(&data("cyclonedx/vex.cdx.json")),
    );
    let g = gate(&eval(&p, &s), GateKind::Sbom);
    assert_eq!(g.verdict, Verdict::Pass, "{}", g.explanation);
    assert!(all_text(&g).contains("CycloneDX SBOM, 3 component(s)"));
    // 11: formats by their user-facing name.
    let mut s = change(&["Cargo.lock"]);
    file(&mut s, "sbom/audit.json", FileStatus::Modified, None);
    content(
        &mut s,
        "sbom/audit.json",
        Some(&data("pip-audit/unauditable.json")),
    );
    let text = all_text(&gate(&eval(&p, &s), GateKind::Sbom));
    assert!(
        text.contains("is a pip-audit JSON report, not an SBOM"),
        "{text}"
    );
    assert!(!text.contains("PipAudit"), "{text}");
}

// ---- 11: npm's error JSON -------------------------------------------------------------------

#[test]
fn npm_audit_error_output_says_the_audit_failed() {
    for (rel, what) in [
        ("npm-audit/enolock.json", "ENOLOCK"),
        ("npm-audit/with-lockfile.json", "405 Method Not Allowed"),
    ] {
        let err = parse_report(rel, &data(rel)).expect_err(rel).to_string();
        assert!(err.contains("the audit itself failed"), "{rel}: {err}");
        assert!(err.contains(what), "{rel}: {err}");
        assert_eq!(err.matches(rel).count(), 1, "path printed once: {err}");
        // In a snapshot the error fails the dependencies gate closed.
        let mut s = change(&["package-lock.json"]);
        s.report_errors.push(err);
        let g = gate(&eval(&deps_policy("closed"), &s), GateKind::Dependencies);
        assert_eq!(g.verdict, Verdict::Fail, "{}", g.explanation);
    }
}

// ---- 6: pytm companions ---------------------------------------------------------------------

fn tm_policy() -> sdl_gate::policy::Policy {
    policy(
        r##"
version: 1
security_paths: ["src/auth/**"]
gates:
  threat_model:
    paths: ["docs/threat-model/**"]
    link_patterns: ["https://tm.example.com/*", "#*"]
  security_review: { enabled: false }
  sast: { enabled: false }
  dependencies: { enabled: false }
"##,
    )
}

fn tm_change(files: &[(&str, Vec<u8>)]) -> Snapshot {
    let mut s = change(&["src/auth/login.rs"]);
    for (path, bytes) in files {
        file(&mut s, path, FileStatus::Modified, None);
        content(&mut s, path, Some(bytes));
    }
    s
}

#[test]
fn pytm_companion_files_are_attachments() {
    let model = data("pytm/tm.json");
    assert_eq!(
        sdl_gate::reports::parse_threat_model("tm.json", &model).ok(),
        Some(sdl_gate::reports::ThreatModelKind::Pytm)
    );
    let companions = [
        ("docs/threat-model/tm.py", sample("threat-model/tm.py")),
        ("docs/threat-model/tm.dot", data("pytm/tm.dot")),
        ("docs/threat-model/tm.png", data("pytm/tm.png")),
    ];
    let mut with_model = companions.to_vec();
    with_model.push(("docs/threat-model/tm.json", model.clone()));
    let g = gate(
        &eval(&tm_policy(), &tm_change(&with_model)),
        GateKind::ThreatModel,
    );
    assert_eq!(g.verdict, Verdict::Pass, "{}", g.explanation);
    assert!(all_text(&g).contains("attachment(s) of the threat model"));

    // Attachments alone are no update of the model.
    let g = gate(
        &eval(&tm_policy(), &tm_change(&companions)),
        GateKind::ThreatModel,
    );
    assert_eq!(g.verdict, Verdict::Fail, "{}", g.explanation);
    assert!(g.explanation.contains("not updated"), "{}", g.explanation);

    // A recognised model format that no longer parses still fails.
    let mut broken = companions.to_vec();
    broken.push((
        "docs/threat-model/tm.json",
        model[..model.len() / 2].to_vec(),
    ));
    let g = gate(
        &eval(&tm_policy(), &tm_change(&broken)),
        GateKind::ThreatModel,
    );
    assert_eq!(g.verdict, Verdict::Fail, "{}", g.explanation);
    assert!(
        g.explanation.contains("no longer parse"),
        "{}",
        g.explanation
    );
}

// ---- 10: URL link patterns through the gate -------------------------------------------------

#[test]
fn link_patterns_follow_url_rules_in_the_gate() {
    let verdict = |reference: &str| {
        let mut s = change(&["src/auth/login.rs"]);
        s.body = format!("Adds login.\n\nThreat-Model: {reference}\n");
        gate(&eval(&tm_policy(), &s), GateKind::ThreatModel)
    };
    for ok in ["https://tm.example.com/models/42", "#12"] {
        let g = verdict(ok);
        assert_eq!(g.verdict, Verdict::Pass, "{ok}: {}", g.explanation);
    }
    for (bad, part) in [
        ("https://tm.example.com@evil.example/", "user information"),
        (
            "https://tm.example.com.evil.example/models/1",
            "host `tm.example.com.evil.example`",
        ),
        ("https://tm.example.com:8443/models/1", "port 8443"),
        ("https://tm.example.com/models%2F..%2Fadmin", "hides"),
    ] {
        let g = verdict(bad);
        assert_eq!(g.verdict, Verdict::Fail, "{bad}");
        let text = all_text(&g);
        assert!(text.contains(part), "{bad}: {text}");
    }
}

#[test]
fn versions_of_the_tools_are_recorded() {
    let versions = String::from_utf8(data("VERSIONS.deps")).unwrap_or_default();
    for tool in ["pip-audit 2.10.1", "checkov 3.3.30", "pytm 1.4.0", "npm "] {
        assert!(versions.contains(tool), "{tool} missing from VERSIONS.deps");
    }
}
