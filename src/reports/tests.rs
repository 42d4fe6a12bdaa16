//! Per-format unit tests with small invented inputs: detection, counting rules, normalised
//! values and error paths. Real tool output is covered by `tests/conformance_reports.rs`.

use super::*;

fn parse(json: &str) -> Report {
    match parse_report("test.json", json.as_bytes()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

fn only(json: &str) -> Finding {
    let mut r = parse(json);
    assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
    r.findings.remove(0)
}

#[test]
fn osv_groups_count_once_and_merge_aliases() {
    let r = parse(
        r#"{"results":[{"source":{"path":"./go.mod","type":"lockfile"},"packages":[{
          "package":{"name":"example.com/lib","version":"1.0.0","ecosystem":"Go"},
          "groups":[{"ids":["GO-2024-0001","GHSA-aaaa-bbbb-cccc"]}],
          "vulnerabilities":[
            {"id":"GO-2024-0001","aliases":["CVE-2024-1111"],"summary":"Bad parse",
             "affected":[{"package":{"name":"example.com/lib","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.3"}]}]}]},
            {"id":"GHSA-aaaa-bbbb-cccc","aliases":["CVE-2024-1111"],"database_specific":{"severity":"MODERATE","cwe_ids":["CWE-20"]}},
            {"id":"PYSEC-2024-9","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}]}]}]}"#,
    );
    assert_eq!(r.format, ReportFormat::OsvScanner);
    assert_eq!(r.findings.len(), 2, "one group + one ungrouped record");
    let g = &r.findings[0];
    assert_eq!(g.rule, "GO-2024-0001");
    assert_eq!(
        g.advisories,
        vec!["GO-2024-0001", "GHSA-aaaa-bbbb-cccc", "CVE-2024-1111"]
    );
    assert_eq!(
        g.severity,
        Severity::High,
        "GO record unrated (high, fail closed) beats MODERATE"
    );
    assert_eq!(g.cwe, vec![20]);
    assert_eq!(g.file.as_deref(), Some("go.mod"));
    let p = g.package.as_ref().expect("package");
    assert_eq!(
        (p.fixed_version.as_deref(), p.ecosystem.as_deref()),
        (Some("1.0.3"), Some("Go"))
    );
    assert_eq!(
        r.findings[1].severity,
        Severity::Critical,
        "9.8 from the vector"
    );
}

#[test]
fn trivy_vulnerabilities_misconfigurations_secrets() {
    let r = parse(
        r#"{"SchemaVersion":2,"ArtifactName":".","Results":[
          {"Target":"package-lock.json","Class":"lang-pkgs","Type":"npm","Vulnerabilities":[
            {"VulnerabilityID":"CVE-2024-0001","PkgName":"lodash","InstalledVersion":"4.17.0","FixedVersion":"4.17.21, 5.0.0",
             "Severity":"UNKNOWN","CVSS":{"nvd":{"V3Score":5.3}},"CweIDs":["CWE-1321"],"VendorIDs":["GHSA-aaaa-bbbb-cccc"]},
            {"VulnerabilityID":"CVE-2024-0002","PkgName":"x","Status":"not_affected","Severity":"CRITICAL"}]},
          {"Target":"Dockerfile","Class":"config","Misconfigurations":[
            {"ID":"DS002","AVDID":"AVD-DS-0002","Title":"Root user","Message":"Specify USER","Severity":"HIGH","Status":"FAIL","CauseMetadata":{"StartLine":7}},
            {"ID":"DS001","Title":"ok","Severity":"LOW","Status":"PASS"}]},
          {"Target":"app/.env","Class":"secret","Secrets":[{"RuleID":"github-pat","Title":"GitHub PAT","Severity":"CRITICAL","StartLine":2,"Match":"GITHUB=ghp_realsecret"}]}]}"#,
    );
    assert_eq!(r.format, ReportFormat::Trivy);
    assert_eq!(r.findings.len(), 3);
    let v = &r.findings[0];
    assert_eq!(
        v.severity,
        Severity::Medium,
        "UNKNOWN word falls back to CVSS 5.3"
    );
    assert_eq!(
        v.package.as_ref().and_then(|p| p.fixed_version.as_deref()),
        Some("4.17.21")
    );
    assert!(v.matches_id("ghsa-aaaa-bbbb-cccc"));
    assert_eq!(v.file.as_deref(), Some("package-lock.json"));
    let m = &r.findings[1];
    assert_eq!(
        (m.kind, m.rule.as_str(), m.line),
        (FindingKind::Config, "AVD-DS-0002", Some(7))
    );
    let s = &r.findings[2];
    assert_eq!(
        (s.kind, s.severity, s.line),
        (FindingKind::Secret, Severity::Critical, Some(2))
    );
    assert!(
        !s.message.contains("ghp_"),
        "never copy the secret: {}",
        s.message
    );
}

#[test]
fn grype_match_with_related_and_fix() {
    let f = only(
        r#"{"matches":[{"vulnerability":{"id":"GHSA-aaaa-bbbb-cccc","severity":"Unknown","cvss":[],"fix":{"versions":["2.0.0"],"state":"fixed"}},
          "relatedVulnerabilities":[{"id":"CVE-2024-2222","cvss":[{"version":"3.1","vector":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H","metrics":{"baseScore":7.5}}]}],
          "artifact":{"name":"pkg","version":"1.0.0","type":"npm","locations":[{"path":"./package-lock.json"}]}}],"source":{},"descriptor":{"name":"grype"}}"#,
    );
    assert_eq!(f.severity, Severity::High, "Unknown word, related CVSS 7.5");
    assert_eq!(f.advisories, vec!["GHSA-aaaa-bbbb-cccc", "CVE-2024-2222"]);
    assert_eq!(f.file.as_deref(), Some("package-lock.json"));
    assert_eq!(
        f.package.as_ref().and_then(|p| p.fixed_version.as_deref()),
        Some("2.0.0")
    );
}

#[test]
fn npm7_counts_advisory_objects_not_transitive_names() {
    let r = parse(
        r#"{"auditReportVersion":2,"vulnerabilities":{
          "parent":{"name":"parent","severity":"high","via":["child"],"fixAvailable":true},
          "child":{"name":"child","severity":"high","via":[
            {"source":1,"name":"child","title":"Proto pollution","url":"https://github.com/advisories/GHSA-aaaa-bbbb-cccc","severity":"high","cwe":["CWE-1321"],"range":"<2.0.0"},
            {"source":2,"name":"child","title":"ReDoS","url":"https://github.com/advisories/GHSA-dddd-eeee-ffff","severity":"moderate","range":"<1.5.0"}],
           "fixAvailable":{"name":"child","version":"2.0.1","isSemVerMajor":true}}},"metadata":{}}"#,
    );
    assert_eq!(r.format, ReportFormat::NpmAuditV7);
    let rules: Vec<&str> = r.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, vec!["GHSA-aaaa-bbbb-cccc", "GHSA-dddd-eeee-ffff"]);
    assert_eq!(
        r.findings[0]
            .package
            .as_ref()
            .and_then(|p| p.fixed_version.as_deref()),
        Some("2.0.1")
    );
    assert_eq!(r.findings[1].severity, Severity::Medium);
    assert_eq!(r.findings[0].cwe, vec![1321]);
}

#[test]
fn npm6_one_finding_per_installed_version() {
    let r = parse(
        r#"{"actions":[],"advisories":{"7":{"module_name":"minimist","severity":"low","github_advisory_id":"GHSA-aaaa-bbbb-cccc",
          "cves":["CVE-2020-7598"],"patched_versions":">=1.2.3","title":"Prototype Pollution","cwe":"CWE-1321",
          "findings":[{"version":"0.0.8","paths":["a>minimist"]},{"version":"1.2.0","paths":["b>minimist"]}]}},"muted":[],"metadata":{}}"#,
    );
    assert_eq!(r.format, ReportFormat::NpmAuditV6);
    assert_eq!(r.findings.len(), 2);
    let f = &r.findings[1];
    assert_eq!(
        f.package
            .as_ref()
            .map(|p| (p.version.as_deref(), p.fixed_version.as_deref())),
        Some((Some("1.2.0"), Some("1.2.3")))
    );
    assert_eq!(f.advisories, vec!["GHSA-aaaa-bbbb-cccc", "CVE-2020-7598"]);
    assert_ne!(r.findings[0].fingerprint, r.findings[1].fingerprint);
}

#[test]
fn cargo_audit_ignores_warnings() {
    let r = parse(
        r#"{"database":{},"lockfile":{"dependency-count":3},"settings":{},
          "vulnerabilities":{"found":true,"count":1,"list":[{"advisory":{"id":"RUSTSEC-2024-0001","package":"foo","title":"Oops",
            "aliases":["CVE-2024-3333"],"cvss":null},"versions":{"patched":[">=0.3.1"]},"package":{"name":"foo","version":"0.3.0"}}]},
          "warnings":{"unmaintained":[{"kind":"unmaintained","advisory":{"id":"RUSTSEC-2024-0002"},"package":{"name":"bar","version":"1.0.0"}}]}}"#,
    );
    assert_eq!(r.format, ReportFormat::CargoAudit);
    assert_eq!(r.findings.len(), 1);
    let f = &r.findings[0];
    assert_eq!(
        (f.severity, f.file.as_deref()),
        (Severity::High, Some("Cargo.lock"))
    );
    assert!(f.matches_id("CVE-2024-3333"));
}

#[test]
fn pip_audit_current_format() {
    let f = only(
        r#"{"dependencies":[{"name":"jinja2","version":"2.0","vulns":[{"id":"PYSEC-2019-1","fix_versions":["2.10.1"],"aliases":["CVE-2019-10906"],"description":"Sandbox escape"}]},
          {"name":"x","skip_reason":"not on PyPI"}]}"#,
    );
    assert_eq!(
        (f.rule.as_str(), f.severity),
        ("PYSEC-2019-1", Severity::High)
    );
    assert_eq!(
        f.package.as_ref().and_then(|p| p.ecosystem.as_deref()),
        Some("PyPI")
    );
}

#[test]
fn gitlab_types_and_identifiers() {
    let sast = only(
        r#"{"version":"15.0.0","scan":{"type":"sast","scanner":{"id":"semgrep","name":"Semgrep"}},"vulnerabilities":[
          {"id":"1","name":"SQL injection","description":"d","severity":"Critical","location":{"file":"./app/db.py","start_line":12},
           "identifiers":[{"type":"semgrep_id","name":"python.sqli","value":"python.sqli"},{"type":"cwe","name":"CWE-89","value":"89"}]}]}"#,
    );
    assert_eq!(
        (sast.kind, sast.severity, sast.rule.as_str()),
        (FindingKind::Code, Severity::Critical, "python.sqli")
    );
    assert_eq!(
        (sast.cwe.clone(), sast.file.as_deref(), sast.line),
        (vec![89], Some("app/db.py"), Some(12))
    );
    assert_eq!(sast.tool, "Semgrep");

    let dep = only(
        r#"{"version":"15.0.0","scan":{"type":"dependency_scanning"},"vulnerabilities":[
          {"id":"2","name":"Bad lib","severity":"Unknown","solution":"Upgrade to version 1.2.3 or above.",
           "location":{"file":"package-lock.json","dependency":{"package":{"name":"lib"},"version":"1.0.0"}},
           "identifiers":[{"type":"gemnasium","name":"Gemnasium-x","value":"x"},{"type":"ghsa","name":"GHSA-aaaa-bbbb-cccc","value":"GHSA-aaaa-bbbb-cccc"},{"type":"cve","name":"CVE-2024-4444","value":"CVE-2024-4444"}]}]}"#,
    );
    assert_eq!(
        (dep.kind, dep.severity, dep.rule.as_str()),
        (
            FindingKind::Dependency,
            Severity::High,
            "GHSA-aaaa-bbbb-cccc"
        )
    );
    assert_eq!(
        dep.package
            .as_ref()
            .and_then(|p| p.fixed_version.as_deref()),
        Some("1.2.3")
    );

    let r =
        parse(r#"{"version":"15.0.0","scan":{"type":"secret_detection"},"vulnerabilities":[]}"#);
    assert_eq!(r.format, ReportFormat::GitlabSecretDetection);
    match parse_report(
        "dast.json",
        br#"{"version":"15.0.0","scan":{"type":"dast"},"vulnerabilities":[]}"#,
    ) {
        Err(ReportError::Unsupported { what, .. }) => assert!(what.contains("dast")),
        other => panic!("{other:?}"),
    }
    match parse_report("gl.json", br#"{"version":"15.0.0","scan":{"type":"sast"},"vulnerabilities":[{"id":"1","identifiers":[]}]}"#) {
        Err(ReportError::Structure { path, .. }) => assert_eq!(path, "vulnerabilities[0].identifiers"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cyclonedx_vex_and_sbom() {
    let r = parse(
        r#"{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"tools":{"components":[{"name":"scanner-x"}]}},
          "components":[{"bom-ref":"c1","name":"lib","version":"1.0","purl":"pkg:maven/org/lib@1.0"}],
          "vulnerabilities":[
            {"id":"CVE-2024-5555","ratings":[{"severity":"medium"},{"score":9.8,"severity":"critical"}],"cwes":[79],"affects":[{"ref":"c1"},{"ref":"unknown-ref"}]},
            {"id":"CVE-2024-6666","analysis":{"state":"not_affected"},"affects":[{"ref":"c1"}]}]}"#,
    );
    assert_eq!(
        (r.format, r.tools.clone()),
        (ReportFormat::CycloneDx, vec!["scanner-x".to_owned()])
    );
    assert!(r.is_sbom());
    assert_eq!(
        r.findings.len(),
        2,
        "one per affected ref; not_affected dropped"
    );
    let f = &r.findings[0];
    assert_eq!((f.severity, f.cwe.clone()), (Severity::Critical, vec![79]));
    assert_eq!(
        f.package
            .as_ref()
            .map(|p| (p.name.as_str(), p.ecosystem.as_deref())),
        Some(("lib", Some("maven")))
    );
}

#[test]
fn spdx_documents() {
    let r = parse(
        r#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","creationInfo":{"creators":["Tool: syft-1.0","Organization: X"]},"packages":[]}"#,
    );
    assert_eq!(
        (r.format, r.tools.clone(), r.findings.len()),
        (ReportFormat::Spdx, vec!["syft-1.0".to_owned()], 0)
    );
    let r = parse(r#"{"@context":"https://spdx.org/rdf/3.0.1/spdx-context.jsonld","@graph":[]}"#);
    assert_eq!(r.format, ReportFormat::Spdx);
}

#[test]
fn detection_is_by_content_and_sniff_agrees() {
    assert_eq!(
        sniff(br#"{"version":"2.1.0","runs":[]}"#),
        Some(ReportFormat::Sarif)
    );
    assert_eq!(sniff(b"\xEF\xBB\xBF {\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"runs\":[]}"), Some(ReportFormat::Sarif));
    assert_eq!(
        sniff(br#"{"matches":[],"descriptor":{}}"#),
        Some(ReportFormat::Grype)
    );
    assert_eq!(
        sniff(br#"[{"name":"a","version":"1","vulns":[]}]"#),
        Some(ReportFormat::PipAudit)
    );
    assert_eq!(sniff(br#"{"hello":"world"}"#), None);
    assert_eq!(
        sniff(b"SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n"),
        Some(ReportFormat::Spdx)
    );
    assert_eq!(
        sniff(br#"<bom xmlns="http://cyclonedx.org/schema/bom/1.4"/>"#),
        Some(ReportFormat::CycloneDx)
    );
    // A SARIF log with no runs is an empty report, not an error.
    let r = parse(r#"{"version":"2.1.0","runs":null}"#);
    assert!(r.findings.is_empty() && r.tools.is_empty());
}

#[test]
fn errors_name_source_and_place() {
    let e = parse_report("scan/out.json", b"{\"a\": tru}").expect_err("syntax");
    assert_eq!(
        e.to_string(),
        "scan/out.json: invalid JSON at line 1, column 10: expected ident"
    );
    let e = parse_report(
        "x.json",
        br#"{"threagile": 1, "otmVersion": "0.1", "project": {}}"#,
    )
    .expect_err("threat model");
    assert!(e.to_string().contains("threat_model gate"), "{e}");
    let e = parse_report("x.xml", b"<root><a></root>").expect_err("xml");
    assert!(matches!(e, ReportError::Xml { line: 1, .. }), "{e:?}");
    let e = parse_report("x.txt", b"hello\x07 world\nmore").expect_err("text");
    assert!(
        e.to_string().contains("text starting with `hello world`"),
        "{e}"
    );
}
