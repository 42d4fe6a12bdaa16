//! SBOMs: CycloneDX (JSON, XML) and SPDX (JSON 2.x, JSON-LD 3.0, tag-value).
//!
//! An SBOM is evidence for the `sbom` gate, so it is recognised and returned as a report with
//! format `CycloneDx`/`Spdx`. CycloneDX may also carry vulnerabilities (VEX, or a scanner such
//! as Trivy writing its results as CycloneDX): those become dependency findings, one per
//! affected component, EXCEPT when the VEX analysis states `not_affected`, `false_positive`,
//! `resolved` or `resolved_with_pedigree` — that statement is exactly what VEX is for; such a
//! vulnerability is kept in the report's [`Coverage::suppressed`] with its justification and
//! detail, so that the gate can count and list it. A vulnerability whose ratings give no
//! severity is rated high (fail closed). SPDX documents carry no findings (their security
//! external references are pointers, not results). Every SBOM's component (CycloneDX) or
//! package (SPDX) count goes to [`Coverage::components`]: an SBOM listing none describes no
//! product.

use std::collections::HashMap;

use serde_json::Value;

use super::coverage::{Coverage, SetAside};
use super::error::ReportError;
use super::finding::{Finding, FindingKind, Package, Severity};
use super::json::{Ctx, Draft, idx, join, num, s, strs};
use super::normalise::{clip, parse_cwe, push_unique, vuln_severity, vuln_word};

/// VEX analysis states that mean "this product is not exposed".
const NOT_EXPOSED: &[&str] = &[
    "not_affected",
    "false_positive",
    "resolved",
    "resolved_with_pedigree",
];

fn purl_type(purl: &str) -> Option<String> {
    let rest = purl.strip_prefix("pkg:")?;
    rest.split('/')
        .next()
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Tools named in CycloneDX `metadata.tools` (1.4 array or 1.5+ `{components, services}`).
pub(crate) fn cyclonedx_tools(root: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let tools = root.get("metadata").and_then(|m| m.get("tools"));
    let list: Vec<&Value> = match tools {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Object(o)) => o.values().filter_map(Value::as_array).flatten().collect(),
        _ => Vec::new(),
    };
    for t in list {
        if let Some(n) = s(t, "name") {
            push_unique(&mut out, n);
        }
    }
    if out.is_empty() {
        out.push("CycloneDX".to_owned());
    }
    out
}

/// Components in `list` and, recursively, their `components` (the JSON parser's nesting limit
/// bounds the recursion).
fn count_components(list: &[&Value]) -> usize {
    list.iter()
        .map(|c| {
            let children: Vec<&Value> = c
                .get("components")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            1 + count_components(&children)
        })
        .sum()
}

/// The affected components of a VEX statement as `name@version` (the `bom-ref` when the
/// document does not list the component).
fn affected_labels(refs: &[&str], components: &HashMap<String, &Value>) -> Vec<String> {
    refs.iter()
        .map(|r| match components.get(*r) {
            Some(c) => {
                let name = s(c, "name").unwrap_or(r);
                s(c, "version").map_or(name.to_owned(), |v| format!("{name}@{v}"))
            }
            None => (*r).to_owned(),
        })
        .collect()
}

/// CycloneDX JSON.
pub(crate) fn cyclonedx_json(
    ctx: Ctx<'_>,
    root: &Value,
    coverage: &mut Coverage,
) -> Result<Vec<Finding>, ReportError> {
    // bom-ref → component, through nested components.
    let mut components: HashMap<String, &Value> = HashMap::new();
    let mut stack: Vec<&Value> = ctx.array(root, "components", "")?.iter().collect();
    // The components the SBOM lists, nested ones included; `metadata.component` is the
    // product the SBOM describes, not one of its parts.
    coverage.components = Some(count_components(&stack));
    if let Some(c) = root.get("metadata").and_then(|m| m.get("component")) {
        stack.push(c);
    }
    while let Some(c) = stack.pop() {
        if let Some(r) = s(c, "bom-ref") {
            components.insert(r.to_owned(), c);
        }
        if let Some(children) = c.get("components").and_then(Value::as_array) {
            stack.extend(children);
        }
    }
    let tool = cyclonedx_tools(root).join(", ");
    let mut out = Vec::new();
    let vulnerabilities = ctx.array(root, "vulnerabilities", "")?;
    coverage.vulnerability_analysis = !vulnerabilities.is_empty();
    for (i, v) in vulnerabilities.iter().enumerate() {
        let path = idx("vulnerabilities", i);
        ctx.expect_object(v, &path)?;
        let analysis = v.get("analysis");
        let state = analysis.and_then(|a| s(a, "state")).unwrap_or("");
        let id = s(v, "id").ok_or_else(|| ctx.err(&join(&path, "id"), "is missing"))?;
        if NOT_EXPOSED.iter().any(|x| x.eq_ignore_ascii_case(state)) {
            let refs: Vec<&str> = ctx
                .array(v, "affects", &path)?
                .iter()
                .filter_map(|a| s(a, "ref"))
                .collect();
            coverage.suppressed.push(SetAside {
                id: id.to_owned(),
                packages: affected_labels(&refs, &components),
                state: state.to_owned(),
                justification: analysis
                    .and_then(|a| s(a, "justification"))
                    .map(str::to_owned),
                detail: analysis.and_then(|a| s(a, "detail")).map(clip),
            });
            continue;
        }
        let mut advisories = vec![id.to_owned()];
        for r in ctx.array(v, "references", &path)? {
            if let Some(rid) = s(r, "id") {
                push_unique(&mut advisories, rid);
            }
        }
        let mut word: Option<Severity> = None;
        let mut scores = Vec::new();
        let mut vectors = Vec::new();
        for r in ctx.array(v, "ratings", &path)? {
            if let Some(w) = vuln_word(s(r, "severity")) {
                word = Some(word.map_or(w, |cur| cur.max(w)));
            }
            scores.extend(num(r, "score"));
            vectors.extend(s(r, "vector"));
        }
        let cwe: Vec<u32> = v
            .get("cwes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| {
                c.as_u64()
                    .map(|n| n.to_string())
                    .or_else(|| c.as_str().map(str::to_owned))
            })
            .filter_map(|c| parse_cwe(&c))
            .collect();
        let severity = vuln_severity(word, &scores, &vectors);
        let desc = s(v, "description")
            .or_else(|| s(v, "detail"))
            .unwrap_or("known vulnerability");
        let refs: Vec<&str> = ctx
            .array(v, "affects", &path)?
            .iter()
            .filter_map(|a| s(a, "ref"))
            .collect();
        let targets: Vec<Option<&str>> = if refs.is_empty() {
            vec![None]
        } else {
            refs.into_iter().map(Some).collect()
        };
        for target in targets {
            let comp = target.and_then(|r| components.get(r).copied());
            let package = match (comp, target) {
                (Some(c), _) => Some(Package {
                    name: s(c, "name").unwrap_or("(unnamed component)").to_owned(),
                    version: s(c, "version").map(str::to_owned),
                    fixed_version: None,
                    ecosystem: s(c, "purl").and_then(purl_type),
                }),
                (None, Some(r)) => Some(Package {
                    name: r.to_owned(),
                    version: None,
                    fixed_version: None,
                    ecosystem: None,
                }),
                (None, None) => None,
            };
            let at = package
                .as_ref()
                .map(|p| {
                    p.version
                        .as_deref()
                        .map_or(p.name.clone(), |ver| format!("{}@{ver}", p.name))
                })
                .unwrap_or_default();
            out.push(
                Draft {
                    tool: tool.clone(),
                    rule: id.to_owned(),
                    severity,
                    kind: FindingKind::Dependency,
                    cwe: cwe.clone(),
                    file: None,
                    line: None,
                    message: clip(&if at.is_empty() {
                        desc.to_owned()
                    } else {
                        format!("{at}: {desc}")
                    }),
                    package,
                    advisories: advisories.clone(),
                    help_uri: v
                        .get("source")
                        .and_then(|src| s(src, "url"))
                        .map(str::to_owned),
                }
                .finish(),
            );
        }
    }
    Ok(out)
}

/// CycloneDX XML (`<bom xmlns="http://cyclonedx.org/schema/bom/1.x">`), same rules as JSON.
pub(crate) fn cyclonedx_xml(
    doc: &roxmltree::Document<'_>,
    coverage: &mut Coverage,
) -> (Vec<String>, Vec<Finding>) {
    let root = doc.root_element();
    // Components under `<components>` at any depth; the `<metadata><component>` is the
    // product itself.
    coverage.components = Some(
        root.descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == "component")
            .filter(|n| {
                n.parent_element()
                    .is_some_and(|p| p.tag_name().name() == "components")
            })
            .count(),
    );
    let mut components: HashMap<String, roxmltree::Node<'_, '_>> = HashMap::new();
    for c in root
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "component")
    {
        if let Some(r) = c.attribute("bom-ref") {
            components.insert(r.to_owned(), c);
        }
    }
    let mut tools: Vec<String> = root
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "tool")
        .filter_map(|t| text_of(t, "name"))
        .collect();
    if tools.is_empty() {
        tools.push("CycloneDX".to_owned());
    }
    let tool = tools.join(", ");
    let mut out = Vec::new();
    for v in root
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "vulnerability")
    {
        coverage.vulnerability_analysis = true;
        let analysis = child(v, "analysis");
        let state = analysis
            .and_then(|a| text_of(a, "state"))
            .unwrap_or_default();
        let Some(id) = text_of(v, "id") else { continue };
        if NOT_EXPOSED.iter().any(|x| x.eq_ignore_ascii_case(&state)) {
            let packages = v
                .descendants()
                .filter(|n| n.is_element() && n.tag_name().name() == "target")
                .filter_map(|t| text_of(t, "ref"))
                .map(|r| match components.get(&r) {
                    Some(c) => {
                        let name = text_of(*c, "name").unwrap_or_else(|| r.clone());
                        text_of(*c, "version").map_or(name.clone(), |ver| format!("{name}@{ver}"))
                    }
                    None => r,
                })
                .collect();
            coverage.suppressed.push(SetAside {
                id,
                packages,
                state,
                justification: analysis.and_then(|a| text_of(a, "justification")),
                detail: analysis
                    .and_then(|a| text_of(a, "detail"))
                    .map(|d| clip(&d)),
            });
            continue;
        }
        let mut word: Option<Severity> = None;
        let mut scores = Vec::new();
        for r in v
            .descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == "rating")
        {
            if let Some(w) = vuln_word(text_of(r, "severity").as_deref()) {
                word = Some(word.map_or(w, |cur| cur.max(w)));
            }
            scores.extend(text_of(r, "score").and_then(|x| x.parse::<f64>().ok()));
        }
        let cwe: Vec<u32> = v
            .descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == "cwe")
            .filter_map(|n| n.text().and_then(parse_cwe))
            .collect();
        let desc = text_of(v, "description").unwrap_or_else(|| "known vulnerability".to_owned());
        let refs: Vec<String> = v
            .descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == "target")
            .filter_map(|t| text_of(t, "ref"))
            .collect();
        let targets: Vec<Option<String>> = if refs.is_empty() {
            vec![None]
        } else {
            refs.into_iter().map(Some).collect()
        };
        for target in targets {
            let package = target.as_ref().map(|r| match components.get(r) {
                Some(c) => Package {
                    name: text_of(*c, "name").unwrap_or_else(|| r.clone()),
                    version: text_of(*c, "version"),
                    fixed_version: None,
                    ecosystem: text_of(*c, "purl").as_deref().and_then(purl_type),
                },
                None => Package {
                    name: r.clone(),
                    version: None,
                    fixed_version: None,
                    ecosystem: None,
                },
            });
            out.push(
                Draft {
                    tool: tool.clone(),
                    rule: id.clone(),
                    severity: vuln_severity(word, &scores, &[]),
                    kind: FindingKind::Dependency,
                    cwe: cwe.clone(),
                    file: None,
                    line: None,
                    message: clip(&desc),
                    package,
                    advisories: vec![id.clone()],
                    help_uri: None,
                }
                .finish(),
            );
        }
    }
    (tools, out)
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text_of(n: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    child(n, name)
        .and_then(|c| c.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Tools named in an SPDX 2.x JSON document (`creationInfo.creators`: `Tool: name-version`).
pub(crate) fn spdx_tools(root: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(ci) = root.get("creationInfo") {
        for c in strs(ci, "creators") {
            if let Some(t) = c.strip_prefix("Tool:") {
                push_unique(&mut out, t.trim());
            }
        }
    }
    if out.is_empty() {
        out.push("SPDX".to_owned());
    }
    out
}

/// Packages in an SPDX JSON document: 2.x `packages`, or 3.0 JSON-LD `@graph` elements of a
/// package type.
pub(crate) fn spdx_json_packages(root: &Value) -> usize {
    let v2 = root
        .get("packages")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let v3 = root
        .get("@graph")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            s(e, "type")
                .or_else(|| s(e, "@type"))
                .is_some_and(|t| t.ends_with("Package"))
        })
        .count();
    v2 + v3
}

/// Packages in an SPDX RDF/XML document (`<spdx:Package>` elements).
pub(crate) fn spdx_rdf_packages(doc: &roxmltree::Document<'_>) -> usize {
    doc.root_element()
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "Package")
        .count()
}

/// Packages in an SPDX tag-value document (`PackageName:` lines).
pub(crate) fn spdx_tag_value_packages(text: &str) -> usize {
    text.lines()
        .filter(|l| l.trim_start().starts_with("PackageName:"))
        .count()
}

/// True when `text` is an SPDX tag-value document.
pub(crate) fn is_spdx_tag_value(text: &str) -> bool {
    text.lines()
        .take(50)
        .any(|l| l.trim_start().starts_with("SPDXVersion:"))
}

/// Tools named in an SPDX tag-value document (`Creator: Tool: name`).
pub(crate) fn spdx_tag_value_tools(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for l in text.lines() {
        if let Some(rest) = l.trim().strip_prefix("Creator:")
            && let Some(t) = rest.trim().strip_prefix("Tool:")
        {
            push_unique(&mut out, t.trim());
        }
    }
    if out.is_empty() {
        out.push("SPDX".to_owned());
    }
    out
}
