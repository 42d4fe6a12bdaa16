//! Grype JSON → findings.
//!
//! One finding per `matches[]` entry: the vulnerability, its related vulnerabilities (NVD
//! records for a distro CVE, the CVE behind a GHSA) as aliases, the matched artifact as the
//! package, and the suggested or first fix version.

use serde_json::Value;

use super::finding::{Finding, FindingKind, Package};
use super::json::{Ctx, Draft, idx, s, strs};
use super::normalise::{clip, normalise_path, push_unique, vuln_severity, vuln_word};

pub(crate) const TOOL: &str = "Grype";

pub(crate) fn parse(ctx: Ctx<'_>, root: &Value) -> Result<Vec<Finding>, super::ReportError> {
    let mut out = Vec::new();
    for (i, m) in ctx.array(root, "matches", "")?.iter().enumerate() {
        let path = idx("matches", i);
        ctx.expect_object(m, &path)?;
        let vuln = m.get("vulnerability").unwrap_or(&Value::Null);
        let art = m.get("artifact").unwrap_or(&Value::Null);
        let id = s(vuln, "id")
            .ok_or_else(|| ctx.err(&format!("{path}.vulnerability.id"), "is missing"))?;
        let mut advisories = vec![id.to_owned()];
        let mut scores = Vec::new();
        let mut vectors = Vec::new();
        let mut collect_cvss = |v: &Value| {
            for c in v
                .get("cvss")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(score) = c
                    .get("metrics")
                    .and_then(|m| m.get("baseScore"))
                    .and_then(Value::as_f64)
                {
                    scores.push(score);
                } else if let Some(vec) = s(c, "vector") {
                    vectors.push(vec.to_owned());
                }
            }
        };
        collect_cvss(vuln);
        let related = m
            .get("relatedVulnerabilities")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for r in related {
            if let Some(rid) = s(r, "id") {
                push_unique(&mut advisories, rid);
            }
            collect_cvss(r);
        }
        let vectors: Vec<&str> = vectors.iter().map(String::as_str).collect();
        let name = s(art, "name").unwrap_or("(unnamed package)");
        let version = s(art, "version");
        let suggested = m
            .get("matchDetails")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|d| d.get("fix").and_then(|f| s(f, "suggestedVersion")));
        let fixed = suggested.or_else(|| {
            vuln.get("fix")
                .and_then(|f| strs(f, "versions").into_iter().next())
        });
        let file = art
            .get("locations")
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .and_then(|l| s(l, "path"))
            .map(|p| normalise_path(p, None));
        let desc = s(vuln, "description")
            .or_else(|| related.iter().find_map(|r| s(r, "description")))
            .unwrap_or("known vulnerability");
        let at = version
            .map(|v| format!("{name}@{v}"))
            .unwrap_or_else(|| name.to_owned());
        out.push(
            Draft {
                tool: TOOL.to_owned(),
                rule: id.to_owned(),
                severity: vuln_severity(vuln_word(s(vuln, "severity")), &scores, &vectors),
                kind: FindingKind::Dependency,
                cwe: Vec::new(),
                file,
                line: None,
                message: clip(&format!("{at}: {desc}")),
                package: Some(Package {
                    name: name.to_owned(),
                    version: version.map(str::to_owned),
                    fixed_version: fixed.map(str::to_owned),
                    ecosystem: s(art, "type").map(str::to_owned),
                }),
                advisories,
                help_uri: s(vuln, "dataSource").map(str::to_owned),
            }
            .finish(),
        );
    }
    Ok(out)
}
