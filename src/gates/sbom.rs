//! The `sbom` gate: when dependency manifests change, an SBOM (CycloneDX or SPDX) comes with
//! the change or its reports (62443-4-1 SM-9, SM-1; CRA Annex I Part II (1)).

use crate::policy::{FailMode, GlobList, SbomGate};
use crate::reports::parse_report;
use crate::snapshot::{FileStatus, Snapshot};

use super::outcome::{Outcome, q};
use super::result::{Node, NodeStatus, Verdict};

pub(crate) fn evaluate(gate: &SbomGate, snapshot: &Snapshot) -> Outcome {
    let paths = GlobList::new(&gate.paths);
    let mut details = Vec::new();
    let mut errors = Vec::new();
    let mut found = Vec::new();
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
                Ok(r) if r.is_sbom() => {
                    details.push(Node::leaf(
                        NodeStatus::Pass,
                        format!("{} updated ({:?} SBOM)", q(&file.path), r.format),
                    ));
                    found.push(file.path.clone());
                }
                Ok(r) => details.push(Node::leaf(
                    NodeStatus::Fail,
                    format!("{} is a {:?} report, not an SBOM", q(&file.path), r.format),
                )),
                Err(e) => details.push(Node::leaf(
                    NodeStatus::Fail,
                    format!("{} is not a readable SBOM: {e}", q(&file.path)),
                )),
            },
        }
    }
    for r in snapshot.reports.iter().filter(|r| r.is_sbom()) {
        details.push(Node::leaf(
            NodeStatus::Pass,
            format!("SBOM report {} ({:?})", q(&r.source), r.format),
        ));
        found.push(r.source.clone());
    }
    let mut out = if found.is_empty() {
        let mut o = Outcome::new(
            Verdict::Fail,
            "dependency manifests changed but no updated SBOM came with the change",
        );
        o.unblock.push(format!(
            "Regenerate the SBOM (CycloneDX or SPDX) and commit it under {}, or provide it as a report.",
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
