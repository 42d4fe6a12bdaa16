//! cargo-audit JSON → findings.
//!
//! `vulnerabilities.list[]`: one finding per advisory and crate version. The RustSec id is the
//! rule, its `aliases` (CVE, GHSA) are advisories too. Severity comes from the advisory's CVSS
//! vector; RustSec advisories without one are rated high (fail closed). `warnings`
//! (unmaintained, yanked, unsound crates) are not vulnerabilities and are not findings:
//! cargo-audit itself only fails on them with `--deny warnings`.

use serde_json::Value;

use super::finding::{Finding, FindingKind, Package};
use super::json::{Ctx, Draft, best_fix, idx, s, strs};
use super::normalise::{clip, push_unique, vuln_severity};

pub(crate) const TOOL: &str = "cargo-audit";

pub(crate) fn parse(ctx: Ctx<'_>, root: &Value) -> Result<Vec<Finding>, super::ReportError> {
    let mut out = Vec::new();
    if ctx.object(root, "vulnerabilities", "")?.is_none() {
        return Ok(out);
    }
    let list = ctx.array(&root["vulnerabilities"], "list", "vulnerabilities")?;
    for (i, v) in list.iter().enumerate() {
        let path = idx("vulnerabilities.list", i);
        ctx.expect_object(v, &path)?;
        let adv = v
            .get("advisory")
            .ok_or_else(|| ctx.err(&format!("{path}.advisory"), "is missing"))?;
        let id =
            s(adv, "id").ok_or_else(|| ctx.err(&format!("{path}.advisory.id"), "is missing"))?;
        let pkg = v.get("package").unwrap_or(&Value::Null);
        let name = s(pkg, "name")
            .or_else(|| s(adv, "package"))
            .unwrap_or("(unnamed crate)");
        let version = s(pkg, "version");
        let mut advisories = vec![id.to_owned()];
        for a in strs(adv, "aliases") {
            push_unique(&mut advisories, a);
        }
        let patched = v
            .get("versions")
            .map(|x| strs(x, "patched"))
            .unwrap_or_default();
        let vectors: Vec<&str> = s(adv, "cvss").into_iter().collect();
        let title = s(adv, "title").unwrap_or("known vulnerability");
        let at = version
            .map(|x| format!("{name}@{x}"))
            .unwrap_or_else(|| name.to_owned());
        out.push(
            Draft {
                tool: TOOL.to_owned(),
                rule: id.to_owned(),
                severity: vuln_severity(None, &[], &vectors),
                kind: FindingKind::Dependency,
                cwe: Vec::new(),
                file: Some("Cargo.lock".to_owned()),
                line: None,
                message: clip(&format!("{at}: {title}")),
                package: Some(Package {
                    name: name.to_owned(),
                    version: version.map(str::to_owned),
                    fixed_version: best_fix(version, &patched),
                    ecosystem: Some("crates.io".to_owned()),
                }),
                advisories,
                help_uri: Some(format!("https://rustsec.org/advisories/{id}")),
            }
            .finish(),
        );
    }
    Ok(out)
}
