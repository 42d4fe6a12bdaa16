//! npm audit JSON (npm 6 and npm 7+), pnpm audit, yarn berry and yarn classic → findings.
//!
//! - npm 7+ (`auditReportVersion: 2`): `vulnerabilities` is keyed by package; each `via` entry
//!   that is an object is an advisory against that package and becomes one finding. `via`
//!   entries that are plain strings only say "vulnerable because it depends on X" — X has its
//!   own entry, so they are not counted again. The fix is `fixAvailable.version` when the fix
//!   is an upgrade of that same package.
//! - npm 6, pnpm and yarn berry (`advisories` keyed by advisory id): one finding per advisory
//!   and installed version (`findings[].version`); the fix is the lower bound of
//!   `patched_versions`.
//! - yarn classic (`yarn audit --json`, JSON lines of `auditAdvisory` events): the advisories
//!   are gathered and read as npm 6.

use std::collections::BTreeMap;

use serde_json::Value;

use super::finding::{Finding, FindingKind, Package};
use super::json::{Ctx, Draft, first_patched, idx, join, num, s, strs};
use super::normalise::{clip, parse_cwe, push_unique, vuln_severity, vuln_word};

pub(crate) const TOOL: &str = "npm audit";

fn ghsa_from_url(url: &str) -> Option<&str> {
    let tail = url.trim_end_matches('/').rsplit('/').next()?;
    tail.to_ascii_uppercase()
        .starts_with("GHSA-")
        .then_some(tail)
}

/// npm 7+ report.
pub(crate) fn parse_v7(ctx: Ctx<'_>, root: &Value) -> Result<Vec<Finding>, super::ReportError> {
    let mut out = Vec::new();
    let Some(vulns) = ctx.object(root, "vulnerabilities", "")? else {
        return Ok(out);
    };
    let mut seen = std::collections::HashSet::new();
    for (key, entry) in vulns {
        let path = join("vulnerabilities", key);
        ctx.expect_object(entry, &path)?;
        let name = s(entry, "name").unwrap_or(key);
        let fix = match entry.get("fixAvailable") {
            Some(f @ Value::Object(_)) if s(f, "name") == Some(name) => {
                s(f, "version").map(str::to_owned)
            }
            _ => None,
        };
        for (i, via) in ctx.array(entry, "via", &path)?.iter().enumerate() {
            if !via.is_object() {
                continue; // a package name: the advisory is counted at that package
            }
            let vpath = idx(&join(&path, "via"), i);
            let pkg = s(via, "name").unwrap_or(name);
            let url = s(via, "url");
            let source = via.get("source").map(|x| x.to_string()).unwrap_or_default();
            if !seen.insert((pkg.to_owned(), source.clone(), url.map(str::to_owned))) {
                continue;
            }
            let ghsa = url.and_then(ghsa_from_url);
            let rule = ghsa
                .map(str::to_owned)
                .or_else(|| (!source.is_empty()).then(|| format!("npm-advisory-{source}")))
                .ok_or_else(|| ctx.err(&vpath, "names neither an advisory url nor a source id"))?;
            let mut advisories = Vec::new();
            if let Some(g) = ghsa {
                push_unique(&mut advisories, g);
            }
            let score = via
                .get("cvss")
                .and_then(|c| num(c, "score"))
                .into_iter()
                .collect::<Vec<_>>();
            let title = s(via, "title").unwrap_or("known vulnerability");
            out.push(
                Draft {
                    tool: TOOL.to_owned(),
                    rule,
                    severity: vuln_severity(vuln_word(s(via, "severity")), &score, &[]),
                    kind: FindingKind::Dependency,
                    cwe: strs(via, "cwe").into_iter().filter_map(parse_cwe).collect(),
                    file: None,
                    line: None,
                    message: clip(&format!("{pkg} {}: {title}", s(via, "range").unwrap_or(""))),
                    package: Some(Package {
                        name: pkg.to_owned(),
                        version: None,
                        fixed_version: if pkg == name { fix.clone() } else { None },
                        ecosystem: Some("npm".to_owned()),
                    }),
                    advisories,
                    help_uri: url.map(str::to_owned),
                }
                .finish(),
            );
        }
    }
    Ok(out)
}

/// npm 6 / pnpm / yarn berry report (`advisories` object).
pub(crate) fn parse_v6(ctx: Ctx<'_>, root: &Value) -> Result<Vec<Finding>, super::ReportError> {
    let mut out = Vec::new();
    let Some(advisories) = ctx.object(root, "advisories", "")? else {
        return Ok(out);
    };
    for (key, adv) in advisories {
        let path = join("advisories", key);
        ctx.expect_object(adv, &path)?;
        let module = s(adv, "module_name")
            .ok_or_else(|| ctx.err(&join(&path, "module_name"), "is missing"))?;
        let mut ids = Vec::new();
        if let Some(g) = s(adv, "github_advisory_id") {
            push_unique(&mut ids, g);
        }
        if let Some(g) = s(adv, "url").and_then(ghsa_from_url) {
            push_unique(&mut ids, g);
        }
        for cve in strs(adv, "cves") {
            push_unique(&mut ids, cve);
        }
        let rule = ids
            .first()
            .cloned()
            .unwrap_or_else(|| format!("npm-advisory-{key}"));
        let score: Vec<f64> = adv
            .get("cvss")
            .and_then(|c| num(c, "score"))
            .into_iter()
            .collect();
        let fixed = s(adv, "patched_versions").and_then(first_patched);
        let title = s(adv, "title").unwrap_or("known vulnerability");
        let mut versions: Vec<Option<String>> = ctx
            .array(adv, "findings", &path)?
            .iter()
            .map(|f| s(f, "version").map(str::to_owned))
            .collect();
        versions.dedup();
        if versions.is_empty() {
            versions.push(None);
        }
        for version in versions {
            let at = version
                .as_deref()
                .map(|v| format!("{module}@{v}"))
                .unwrap_or_else(|| module.to_owned());
            out.push(
                Draft {
                    tool: TOOL.to_owned(),
                    rule: rule.clone(),
                    severity: vuln_severity(vuln_word(s(adv, "severity")), &score, &[]),
                    kind: FindingKind::Dependency,
                    cwe: strs(adv, "cwe").into_iter().filter_map(parse_cwe).collect(),
                    file: None,
                    line: None,
                    message: clip(&format!("{at}: {title}")),
                    package: Some(Package {
                        name: module.to_owned(),
                        version,
                        fixed_version: fixed.clone(),
                        ecosystem: Some("npm".to_owned()),
                    }),
                    advisories: ids.clone(),
                    help_uri: s(adv, "url").map(str::to_owned),
                }
                .finish(),
            );
        }
    }
    Ok(out)
}

/// True when `text` looks like yarn classic's JSON-lines audit output.
pub(crate) fn looks_like_yarn_lines(text: &str) -> bool {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    first.starts_with('{')
        && (first.contains("\"type\":\"auditAdvisory\"")
            || first.contains("\"type\":\"auditSummary\"")
            || first.contains("\"type\":\"auditAction\"")
            || first.contains("\"type\":\"info\"")
            || first.contains("\"type\":\"warning\""))
}

/// Gathers yarn classic `auditAdvisory` lines into an npm 6 style `advisories` object.
pub(crate) fn yarn_lines_to_v6(source: &str, text: &str) -> Result<Value, super::ReportError> {
    let mut advisories: BTreeMap<String, Value> = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let event: Value = serde_json::from_str(raw).map_err(|e| super::ReportError::Json {
            source_name: source.to_owned(),
            line: n + 1,
            column: e.column(),
            message: super::error::strip_position(&e.to_string()),
        })?;
        if s(&event, "type") != Some("auditAdvisory") {
            continue;
        }
        let Some(adv) = event.get("data").and_then(|d| d.get("advisory")) else {
            continue;
        };
        let id = adv
            .get("id")
            .map(|x| x.to_string().trim_matches('"').to_owned())
            .unwrap_or_else(|| n.to_string());
        let entry = advisories.entry(id).or_insert_with(|| adv.clone());
        // Merge the installed versions of repeated advisories.
        if let (Some(existing), Some(more)) = (
            entry.get("findings").and_then(Value::as_array).cloned(),
            adv.get("findings").and_then(Value::as_array),
        ) {
            let mut all = existing;
            for f in more {
                if !all.contains(f) {
                    all.push(f.clone());
                }
            }
            if let Some(obj) = entry.as_object_mut() {
                obj.insert("findings".to_owned(), Value::Array(all));
            }
        }
    }
    let map: serde_json::Map<String, Value> = advisories.into_iter().collect();
    Ok(serde_json::json!({ "advisories": map }))
}
