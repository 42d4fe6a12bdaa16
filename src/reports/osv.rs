//! OSV-Scanner JSON → findings.
//!
//! Shape: `results[].packages[]` with `package`, `vulnerabilities` (full OSV records) and
//! `groups` (sets of ids OSV-Scanner judged to be the same vulnerability, e.g. a GO- id, its
//! GHSA and its CVE). One finding per group, so one vulnerability reported by two databases
//! counts once; a vulnerability in no group is its own finding. Severity is the highest of the
//! group: `groups[].max_severity`, the records' `database_specific.severity`, or the CVSS
//! vectors in `severity[]`; a `MAL-` (malicious package) record is critical; otherwise
//! high (fail closed).

use serde_json::Value;

use super::finding::{Finding, FindingKind, Package, Severity};
use super::json::{Ctx, Draft, idx, join, num, s, strs};
use super::normalise::{clip, normalise_path, parse_cwe, push_unique, vuln_severity, vuln_word};

pub(crate) const TOOL: &str = "OSV-Scanner";

pub(crate) fn parse(ctx: Ctx<'_>, root: &Value) -> Result<Vec<Finding>, super::ReportError> {
    let mut out = Vec::new();
    for (ri, result) in ctx.array(root, "results", "")?.iter().enumerate() {
        let rpath = idx("results", ri);
        let file = result
            .get("source")
            .and_then(|src| s(src, "path"))
            .map(|p| normalise_path(p, None));
        for (pi, pkg) in ctx.array(result, "packages", &rpath)?.iter().enumerate() {
            let ppath = idx(&join(&rpath, "packages"), pi);
            let info = pkg.get("package").unwrap_or(&Value::Null);
            let name = s(info, "name").unwrap_or("(unnamed package)");
            let version = s(info, "version");
            let ecosystem = s(info, "ecosystem");
            let vulns = ctx.array(pkg, "vulnerabilities", &ppath)?;
            let groups = ctx.array(pkg, "groups", &ppath)?;
            let mut used = vec![false; vulns.len()];
            let mut sets: Vec<(Vec<usize>, Vec<String>, Option<f64>)> = Vec::new();
            for g in groups {
                let mut ids = Vec::new();
                for id in strs(g, "ids").into_iter().chain(strs(g, "aliases")) {
                    push_unique(&mut ids, id);
                }
                let members: Vec<usize> = vulns
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| {
                        s(v, "id").is_some_and(|id| ids.iter().any(|x| x.eq_ignore_ascii_case(id)))
                    })
                    .map(|(i, _)| i)
                    .collect();
                for &m in &members {
                    used[m] = true;
                }
                if !ids.is_empty() {
                    sets.push((members, ids, num(g, "max_severity")));
                }
            }
            for (i, v) in vulns.iter().enumerate() {
                if !used[i] {
                    let ids = s(v, "id").map(|x| vec![x.to_owned()]).unwrap_or_default();
                    sets.push((vec![i], ids, None));
                }
            }
            for (members, ids, max_sev) in sets {
                let records: Vec<&Value> = members.iter().map(|&m| &vulns[m]).collect();
                out.push(finding(
                    name,
                    version,
                    ecosystem,
                    file.clone(),
                    &records,
                    ids,
                    max_sev,
                ));
            }
        }
    }
    Ok(out)
}

fn finding(
    name: &str,
    version: Option<&str>,
    ecosystem: Option<&str>,
    file: Option<String>,
    records: &[&Value],
    ids: Vec<String>,
    max_sev: Option<f64>,
) -> Finding {
    let mut advisories = Vec::new();
    for id in &ids {
        push_unique(&mut advisories, id);
    }
    let mut cwe = Vec::new();
    let mut severity: Option<Severity> = max_sev.filter(|x| *x > 0.0).map(Severity::from_cvss);
    let mut fixed = None;
    for r in records {
        for id in s(r, "id").into_iter().chain(strs(r, "aliases")) {
            push_unique(&mut advisories, id);
        }
        let db = r.get("database_specific").unwrap_or(&Value::Null);
        cwe.extend(strs(db, "cwe_ids").into_iter().filter_map(parse_cwe));
        let vectors: Vec<&str> = r
            .get("severity")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| s(x, "score")).collect())
            .unwrap_or_default();
        let this = if s(r, "id").is_some_and(|id| id.starts_with("MAL-")) {
            Severity::Critical
        } else {
            vuln_severity(vuln_word(s(db, "severity")), &[], &vectors)
        };
        severity = Some(severity.map_or(this, |cur| cur.max(this)));
        for aff in r
            .get("affected")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let same = aff
                .get("package")
                .and_then(|p| s(p, "name"))
                .is_some_and(|n| n == name);
            if !same {
                continue;
            }
            if let Some(cwes) = aff
                .get("database_specific")
                .and_then(|d| d.get("cwes"))
                .and_then(Value::as_array)
            {
                cwe.extend(
                    cwes.iter()
                        .filter_map(|c| s(c, "cweId"))
                        .filter_map(parse_cwe),
                );
            }
            if fixed.is_none() {
                fixed = aff
                    .get("ranges")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .flat_map(|rg| {
                        rg.get("events")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                    })
                    .find_map(|ev| s(ev, "fixed"))
                    .map(str::to_owned);
            }
        }
    }
    let rule = ids.first().cloned().unwrap_or_else(|| "(no id)".to_owned());
    let summary = records
        .iter()
        .find_map(|r| s(r, "summary").or_else(|| s(r, "details")))
        .unwrap_or("known vulnerability");
    let at = version
        .map(|v| format!("{name}@{v}"))
        .unwrap_or_else(|| name.to_owned());
    Draft {
        tool: TOOL.to_owned(),
        help_uri: Some(format!("https://osv.dev/vulnerability/{rule}")),
        rule,
        severity: severity.unwrap_or(Severity::High),
        kind: FindingKind::Dependency,
        cwe,
        file,
        line: None,
        message: clip(&format!("{at}: {summary}")),
        package: Some(Package {
            name: name.to_owned(),
            version: version.map(str::to_owned),
            fixed_version: fixed,
            ecosystem: ecosystem.map(str::to_owned),
        }),
        advisories,
    }
    .finish()
}
