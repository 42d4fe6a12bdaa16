//! pip-audit JSON → findings.
//!
//! Current shape `{"dependencies": [...]}` and the pre-2.5 top-level array. One finding per
//! `vulns[]` entry. pip-audit reports no severity at all, so its findings are rated high (fail
//! closed: a known vulnerability nobody rated must not slip under a `high` threshold); teams
//! that want CVSS-based severities can run OSV-Scanner instead. Dependencies pip-audit could
//! not audit (`skip_reason`: not on PyPI, a local path, an editable install) are not findings:
//! they go to the report's [`Coverage`], which counts the audited ones too, so that a run that
//! audited nothing is not taken for a clean one.

use serde_json::Value;

use super::coverage::{Coverage, Skipped};
use super::finding::{Finding, FindingKind, Package, Severity};
use super::json::{Ctx, Draft, idx, join, s, strs};
use super::normalise::{clip, push_unique};

pub(crate) const TOOL: &str = "pip-audit";

pub(crate) fn parse(
    ctx: Ctx<'_>,
    root: &Value,
    coverage: &mut Coverage,
) -> Result<Vec<Finding>, super::ReportError> {
    let (deps, base): (&[Value], &str) = match root {
        Value::Array(a) => (a, ""),
        _ => (ctx.array(root, "dependencies", "")?, "dependencies"),
    };
    let mut out = Vec::new();
    let mut audited = 0usize;
    for (i, dep) in deps.iter().enumerate() {
        let path = idx(base, i);
        ctx.expect_object(dep, &path)?;
        let name = s(dep, "name").ok_or_else(|| ctx.err(&join(&path, "name"), "is missing"))?;
        let version = s(dep, "version");
        if let Some(reason) = s(dep, "skip_reason") {
            coverage.skipped.push(Skipped {
                name: name.to_owned(),
                version: version.map(str::to_owned),
                reason: reason.to_owned(),
            });
            continue;
        }
        audited += 1;
        for v in ctx.array(dep, "vulns", &path)? {
            let Some(id) = s(v, "id") else { continue };
            let mut advisories = vec![id.to_owned()];
            for a in strs(v, "aliases") {
                push_unique(&mut advisories, a);
            }
            let desc = s(v, "description").unwrap_or("known vulnerability");
            let at = version
                .map(|x| format!("{name}@{x}"))
                .unwrap_or_else(|| name.to_owned());
            out.push(
                Draft {
                    tool: TOOL.to_owned(),
                    rule: id.to_owned(),
                    severity: Severity::High,
                    kind: FindingKind::Dependency,
                    cwe: Vec::new(),
                    file: None,
                    line: None,
                    message: clip(&format!("{at}: {desc}")),
                    package: Some(Package {
                        name: name.to_owned(),
                        version: version.map(str::to_owned),
                        fixed_version: strs(v, "fix_versions").first().map(|x| (*x).to_owned()),
                        ecosystem: Some("PyPI".to_owned()),
                    }),
                    advisories,
                    help_uri: Some(format!("https://osv.dev/vulnerability/{id}")),
                }
                .finish(),
            );
        }
    }
    coverage.audited = Some(audited);
    Ok(out)
}
