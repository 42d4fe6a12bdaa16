//! The `sbom` gate: when dependency manifests change, an SBOM (CycloneDX or SPDX) comes with
//! the change or its reports (62443-4-1 SM-9, SM-1; CRA Annex I Part II (1)).
//!
//! An SBOM that lists no component (CycloneDX `components`, SPDX packages) does not count: it
//! is the output of a generator that found nothing, not a bill of materials of the product.

use crate::policy::{FailMode, GlobList, SbomGate};
use crate::reports::{Report, parse_report};
use crate::snapshot::{FileStatus, Snapshot};

use super::outcome::{Outcome, q};
use super::result::{Node, NodeStatus, Verdict};

pub(crate) fn evaluate(gate: &SbomGate, snapshot: &Snapshot) -> Outcome {
    let paths = GlobList::new(&gate.paths);
    let mut details = Vec::new();
    let mut errors = Vec::new();
    let mut found = Vec::new();
    let mut empty = Vec::new();
    for file in snapshot
        .files
        .iter()
        .filter(|f| f.status != FileStatus::Removed && paths.is_match(&f.path))
    {
        match snapshot.content(&file.path) {
            None => {
                errors.push(format!(
                    "could not read {} to check that it is an SBOM",
                    q(&file.path)
                ));
                if gate.common.fail_mode == FailMode::Open {
                    found.push(file.path.clone());
                }
            }
            Some(bytes) => match parse_report(&file.path, bytes) {
                Ok(r) if r.is_sbom() => match empty_sbom(&r) {
                    Some(why) => {
                        details.push(Node::leaf(
                            NodeStatus::Fail,
                            format!("{} updated, but {why}", q(&file.path)),
                        ));
                        empty.push(q(&file.path));
                    }
                    None => {
                        details.push(Node::leaf(
                            NodeStatus::Pass,
                            format!(
                                "{} updated ({} SBOM{})",
                                q(&file.path),
                                r.format,
                                listed(&r)
                            ),
                        ));
                        found.push(file.path.clone());
                    }
                },
                Ok(r) => details.push(Node::leaf(
                    NodeStatus::Fail,
                    format!("{} is a {} report, not an SBOM", q(&file.path), r.format),
                )),
                Err(e) => details.push(Node::leaf(
                    NodeStatus::Fail,
                    format!("{} is not a readable SBOM: {e}", q(&file.path)),
                )),
            },
        }
    }
    for r in snapshot.reports.iter().filter(|r| r.is_sbom()) {
        if let Some(why) = empty_sbom(r) {
            details.push(Node::leaf(
                NodeStatus::Fail,
                format!("SBOM report {}: {why}", q(&r.source)),
            ));
            empty.push(q(&r.source));
            continue;
        }
        details.push(Node::leaf(
            NodeStatus::Pass,
            format!("SBOM report {} ({}{})", q(&r.source), r.format, listed(r)),
        ));
        found.push(r.source.clone());
    }
    let mut out = if found.is_empty() {
        let mut o = Outcome::new(
            Verdict::Fail,
            if empty.is_empty() {
                "dependency manifests changed but no updated SBOM came with the change".to_string()
            } else {
                format!(
                    "dependency manifests changed but the SBOM that came with the change lists no components ({})",
                    empty.join(", ")
                )
            },
        );
        o.unblock.push(format!(
            "Regenerate the SBOM (CycloneDX or SPDX) from the product's installed dependencies or lockfile, so that it lists its components, and commit it under {}, or provide it as a report.",
            gate.paths.iter().map(|g| q(g.as_str())).collect::<Vec<_>>().join(", ")
        ));
        o
    } else {
        Outcome::new(Verdict::Pass, format!("SBOM present: {}", found.join(", ")))
    };
    out.details = details;
    out.errors = errors;
    out
}

/// Why an SBOM does not describe the product, when it lists no component.
fn empty_sbom(r: &Report) -> Option<String> {
    (r.coverage.components == Some(0)).then(|| {
        format!(
            "the {} SBOM lists no components, so it is no bill of materials of the product (was it generated from an empty environment or an empty requirements file?)",
            r.format
        )
    })
}

/// ", N components" when the SBOM says how many it lists.
fn listed(r: &Report) -> String {
    r.coverage
        .components
        .map(|n| format!(", {n} component(s)"))
        .unwrap_or_default()
}
