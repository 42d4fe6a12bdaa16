//! Trivy JSON (schema version 2) → findings.
//!
//! `Results[]` per target: `Vulnerabilities` become dependency findings (except those with
//! `Status: not_affected`, which a VEX statement or the vendor ruled out), `Misconfigurations`
//! with `Status: FAIL` become config findings (PASS and EXCEPTION results are not findings),
//! `Secrets` become secret findings. Secret findings never carry Trivy's `Match` text: even
//! masked, it is a piece of the secret's line. Licence results are not security findings.

use serde_json::Value;

use super::finding::{Finding, FindingKind, Package, Severity};
use super::json::{Ctx, Draft, idx, join, line, num, s, strs};
use super::normalise::{
    clip, is_advisory_id, normalise_path, parse_cwe, push_unique, vuln_severity, vuln_word,
};

pub(crate) const TOOL: &str = "Trivy";

pub(crate) fn parse(ctx: Ctx<'_>, root: &Value) -> Result<Vec<Finding>, super::ReportError> {
    let mut out = Vec::new();
    for (ri, result) in ctx.array(root, "Results", "")?.iter().enumerate() {
        let rpath = idx("Results", ri);
        let target = s(result, "Target").unwrap_or("");
        let class = s(result, "Class").unwrap_or("");
        let ty = s(result, "Type");
        // OS package targets are image names ("alpine:3.10 (alpine 3.10.2)"), not files.
        let file = (!target.is_empty() && class != "os-pkgs").then(|| normalise_path(target, None));
        for (i, v) in ctx
            .array(result, "Vulnerabilities", &rpath)?
            .iter()
            .enumerate()
        {
            ctx.expect_object(v, &idx(&join(&rpath, "Vulnerabilities"), i))?;
            if s(v, "Status").is_some_and(|st| st.eq_ignore_ascii_case("not_affected")) {
                continue;
            }
            out.push(vulnerability(v, file.clone(), ty));
        }
        for (i, m) in ctx
            .array(result, "Misconfigurations", &rpath)?
            .iter()
            .enumerate()
        {
            ctx.expect_object(m, &idx(&join(&rpath, "Misconfigurations"), i))?;
            let status = s(m, "Status").unwrap_or("FAIL");
            if !status.eq_ignore_ascii_case("FAIL") {
                continue;
            }
            let rule = s(m, "AVDID").or_else(|| s(m, "ID")).unwrap_or("(no id)");
            let msg = [s(m, "Title"), s(m, "Message")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            let cause = m.get("CauseMetadata").unwrap_or(&Value::Null);
            out.push(
                Draft {
                    tool: TOOL.to_owned(),
                    rule: rule.to_owned(),
                    severity: Severity::from_word_or_high(s(m, "Severity")),
                    kind: FindingKind::Config,
                    cwe: Vec::new(),
                    file: file
                        .clone()
                        .or_else(|| (!target.is_empty()).then(|| target.to_owned())),
                    line: line(cause, "StartLine"),
                    message: clip(if msg.is_empty() { rule } else { &msg }),
                    package: None,
                    advisories: Vec::new(),
                    help_uri: s(m, "PrimaryURL").map(str::to_owned),
                }
                .finish(),
            );
        }
        for (i, sec) in ctx.array(result, "Secrets", &rpath)?.iter().enumerate() {
            ctx.expect_object(sec, &idx(&join(&rpath, "Secrets"), i))?;
            let rule = s(sec, "RuleID").unwrap_or("(no rule id)");
            let title = s(sec, "Title").unwrap_or(rule);
            out.push(
                Draft {
                    tool: TOOL.to_owned(),
                    rule: rule.to_owned(),
                    severity: Severity::from_word_or_high(s(sec, "Severity")),
                    kind: FindingKind::Secret,
                    cwe: vec![798],
                    file: (!target.is_empty()).then(|| normalise_path(target, None)),
                    line: line(sec, "StartLine"),
                    message: clip(&format!("{title} (secret found by rule {rule})")),
                    package: None,
                    advisories: Vec::new(),
                    help_uri: None,
                }
                .finish(),
            );
        }
    }
    Ok(out)
}

fn vulnerability(v: &Value, file: Option<String>, ty: Option<&str>) -> Finding {
    let id = s(v, "VulnerabilityID").unwrap_or("(no id)");
    let mut advisories = Vec::new();
    push_unique(&mut advisories, id);
    for alias in strs(v, "VendorIDs") {
        push_unique(&mut advisories, alias);
    }
    for url in strs(v, "References") {
        if url.contains("/advisories/GHSA-")
            && let Some(tail) = url.rsplit('/').next().filter(|t| is_advisory_id(t))
        {
            push_unique(&mut advisories, tail);
        }
    }
    let mut scores = Vec::new();
    let mut vectors = Vec::new();
    if let Some(cvss) = v.get("CVSS").and_then(Value::as_object) {
        for src in cvss.values() {
            scores.extend(num(src, "V3Score").or_else(|| num(src, "V2Score")));
            vectors.extend(s(src, "V3Vector"));
        }
    }
    let pkg = s(v, "PkgName").unwrap_or("(unnamed package)");
    let installed = s(v, "InstalledVersion");
    let fixed = s(v, "FixedVersion")
        .and_then(|f| f.split(',').next())
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty());
    let title = s(v, "Title")
        .or_else(|| s(v, "Description"))
        .unwrap_or("known vulnerability");
    let at = installed
        .map(|i| format!("{pkg}@{i}"))
        .unwrap_or_else(|| pkg.to_owned());
    Draft {
        tool: TOOL.to_owned(),
        rule: id.to_owned(),
        severity: vuln_severity(vuln_word(s(v, "Severity")), &scores, &vectors),
        kind: FindingKind::Dependency,
        cwe: strs(v, "CweIDs")
            .into_iter()
            .filter_map(parse_cwe)
            .collect(),
        file: s(v, "PkgPath").map(|p| normalise_path(p, None)).or(file),
        line: None,
        message: clip(&format!("{at}: {title}")),
        package: Some(Package {
            name: pkg.to_owned(),
            version: installed.map(str::to_owned),
            fixed_version: fixed,
            ecosystem: ty.map(str::to_owned),
        }),
        advisories,
        help_uri: s(v, "PrimaryURL").map(str::to_owned),
    }
    .finish()
}
