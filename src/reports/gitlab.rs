//! GitLab security reports → findings.
//!
//! Reads the report types GitLab's merge-request widget shows for security: `sast`,
//! `dependency_scanning`, `secret_detection` and `container_scanning` (schema 2.x to 15.x).
//! The type comes from `scan.type`; older (2.x) reports have no `scan` and carry `category`
//! per vulnerability instead. The per-vulnerability `category` wins, since some tools write a
//! secret report with `scan.type: sast`. Identifiers of type `cwe` give the CWE, types `cve`,
//! `ghsa`… and values shaped like advisory ids give the advisories. Severity `Unknown` (checkov writes
//! it on every finding) or no severity is rated high on every kind of finding (fail closed).

use serde_json::Value;

use super::ReportFormat;
use super::finding::{Finding, FindingKind, Package, Severity};
use super::json::{Ctx, Draft, best_fix, idx, join, line, s};
use super::normalise::{
    clip, is_advisory_id, normalise_path, parse_cwe, push_unique, vuln_severity, vuln_word,
};

fn kind_of(category: Option<&str>, format: ReportFormat, identifiers: &[Value]) -> FindingKind {
    let by_category = match category.map(str::to_ascii_lowercase).as_deref() {
        Some("dependency_scanning")
        | Some("container_scanning")
        | Some("cluster_image_scanning") => Some(FindingKind::Dependency),
        Some("secret_detection") => Some(FindingKind::Secret),
        Some("sast") => Some(FindingKind::Code),
        _ => None,
    };
    let kind = by_category.unwrap_or(match format {
        ReportFormat::GitlabDependencyScanning | ReportFormat::GitlabContainerScanning => {
            FindingKind::Dependency
        }
        ReportFormat::GitlabSecretDetection => FindingKind::Secret,
        _ => FindingKind::Code,
    });
    // Secret scanners inside a SAST report (gitleaks, trufflehog) name their identifiers so.
    let secret_ids = identifiers.iter().any(|i| {
        s(i, "type").is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            t.contains("gitleaks") || t.contains("trufflehog") || t.contains("secret")
        })
    });
    if kind == FindingKind::Code && secret_ids {
        FindingKind::Secret
    } else {
        kind
    }
}

/// The version a `solution` text says to upgrade to: "Upgrade to version 1.2.3 or above.",
/// "Upgrade to versions 2.8.11.1, 2.9.5 or above.", "Upgrade libcrypto1.1 to 1.1.1d-r0".
/// With several candidates, the lowest one above the installed version.
fn fixed_from_solution(solution: &str, installed: Option<&str>) -> Option<String> {
    let lower = solution.to_ascii_lowercase();
    if !lower.starts_with("upgrade") {
        return None;
    }
    let at = lower.rfind(" to ")?;
    let candidates: Vec<String> = solution[at + 4..]
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == 'v')
                && w.chars().any(|c| c.is_ascii_digit())
        })
        .map(str::to_owned)
        .collect();
    let ranges: Vec<String> = candidates.iter().map(|c| format!(">={c}")).collect();
    let refs: Vec<&str> = ranges.iter().map(String::as_str).collect();
    if candidates.len() > 1 {
        return best_fix(installed, &refs);
    }
    candidates.into_iter().next()
}

/// The rule id from GitLab identifiers: the first identifier's `value`, unless that is prose
/// (some writers put the description there) and `name` is an id.
fn rule_from_identifier(ident: &Value) -> Option<String> {
    let value = s(ident, "value");
    let name = s(ident, "name");
    match (value, name) {
        (Some(v), Some(n))
            if v.contains(char::is_whitespace) && !n.contains(char::is_whitespace) =>
        {
            Some(n.to_owned())
        }
        (Some(v), _) => Some(v.to_owned()),
        (None, n) => n.map(str::to_owned),
    }
}

pub(crate) fn parse(
    ctx: Ctx<'_>,
    root: &Value,
    format: ReportFormat,
    tools: &mut Vec<String>,
) -> Result<Vec<Finding>, super::ReportError> {
    let report_scanner = root
        .get("scan")
        .and_then(|sc| sc.get("scanner"))
        .and_then(|sc| s(sc, "name"));
    let mut out = Vec::new();
    for (i, v) in ctx.array(root, "vulnerabilities", "")?.iter().enumerate() {
        let path = idx("vulnerabilities", i);
        ctx.expect_object(v, &path)?;
        let identifiers = ctx.array(v, "identifiers", &path)?;
        let tool = v
            .get("scanner")
            .and_then(|sc| s(sc, "name"))
            .or(report_scanner)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("GitLab {}", ctx.format.trim_start_matches("GitLab ")));
        if !tools.contains(&tool) {
            tools.push(tool.clone());
        }
        let kind = kind_of(s(v, "category"), format, identifiers);
        let mut cwe = Vec::new();
        let mut advisories = Vec::new();
        for ident in identifiers {
            let ty = s(ident, "type").unwrap_or("").to_ascii_lowercase();
            let (name, value) = (
                s(ident, "name").unwrap_or(""),
                s(ident, "value").unwrap_or(""),
            );
            if ty == "cwe" {
                cwe.extend(parse_cwe(name).or_else(|| parse_cwe(value)));
            } else if kind == FindingKind::Dependency {
                for cand in [value, name] {
                    if is_advisory_id(cand) {
                        push_unique(&mut advisories, cand);
                    }
                }
            }
        }
        let rule = advisories
            .first()
            .cloned()
            .or_else(|| identifiers.first().and_then(rule_from_identifier))
            .or_else(|| s(v, "cve").map(str::to_owned))
            .ok_or_else(|| {
                ctx.err(
                    &join(&path, "identifiers"),
                    "is empty: a GitLab finding needs at least one identifier",
                )
            })?;
        let loc = v.get("location").unwrap_or(&Value::Null);
        let dep = loc.get("dependency");
        let package = dep.and_then(|d| {
            let name = d.get("package").and_then(|p| s(p, "name"))?;
            Some(Package {
                name: name.to_owned(),
                version: s(d, "version").map(str::to_owned),
                fixed_version: s(v, "solution")
                    .and_then(|sol| fixed_from_solution(sol, s(d, "version"))),
                ecosystem: s(loc, "operating_system")
                    .and_then(|o| o.split_whitespace().next())
                    .filter(|o| !o.eq_ignore_ascii_case("unknown"))
                    .map(str::to_owned),
            })
        });
        let word = s(v, "severity");
        let severity = if kind == FindingKind::Dependency {
            vuln_severity(vuln_word(word), &[], &[])
        } else {
            Severity::from_word_or_high(word)
        };
        // `name` is a title for most analysers, but some write their rule id there.
        let title = s(v, "name").filter(|n| n.contains(char::is_whitespace));
        let text = s(v, "message")
            .or(title)
            .or_else(|| s(v, "description"))
            .or_else(|| s(v, "name"))
            .unwrap_or(&rule);
        let message = match (&package, kind) {
            (Some(p), FindingKind::Dependency) => {
                let at = p
                    .version
                    .as_deref()
                    .map(|x| format!("{}@{x}", p.name))
                    .unwrap_or_else(|| p.name.clone());
                format!("{at}: {text}")
            }
            _ => text.to_owned(),
        };
        out.push(
            Draft {
                tool,
                rule,
                severity,
                kind,
                cwe,
                file: s(loc, "file").map(|f| normalise_path(f, None)),
                line: line(loc, "start_line"),
                message: clip(&message),
                package: if kind == FindingKind::Dependency {
                    package
                } else {
                    None
                },
                advisories,
                help_uri: identifiers
                    .first()
                    .and_then(|i| s(i, "url"))
                    .map(str::to_owned),
            }
            .finish(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::fixed_from_solution;

    #[test]
    fn solutions() {
        assert_eq!(
            fixed_from_solution("Upgrade to version 1.2.3 or above.", None),
            Some("1.2.3".into())
        );
        assert_eq!(
            fixed_from_solution(
                "Upgrade to versions 2.8.11.1, 2.9.5 or above.",
                Some("2.9.2")
            ),
            Some("2.9.5".into())
        );
        assert_eq!(
            fixed_from_solution(
                "Upgrade to versions 2.8.11.1, 2.9.5 or above.",
                Some("2.8.1")
            ),
            Some("2.8.11.1".into())
        );
        assert_eq!(
            fixed_from_solution("Upgrade libcrypto1.1 to 1.1.1d-r0", None),
            Some("1.1.1d-r0".into())
        );
        assert_eq!(
            fixed_from_solution(
                "Upgrade to version v0.0.0-20201216223049-8b5274cf687f or above.",
                None
            ),
            Some("v0.0.0-20201216223049-8b5274cf687f".into())
        );
        assert_eq!(fixed_from_solution("Remove it", None), None);
    }
}
