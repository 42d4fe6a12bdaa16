//! The `threat_model` gate: a security-relevant change must keep the threat model current
//! (62443-4-1 SR-2, SD-1..SD-3) — by updating a threat-model file that still parses, or by
//! referencing an accepted threat-model record.
//!
//! Files under the threat-model paths that are in no threat-model format (a pytm `tm.py`, a
//! `.dot` diagram, a `.png`) are attachments: listed, not read, and neither an update nor a
//! breakage. A file in a recognised format that no longer parses still fails the gate.

use crate::policy::{FailMode, GlobList, ThreatModelGate, check_link, describe_misses};
use crate::reports::{is_threat_model_attachment, parse_threat_model};
use crate::snapshot::{FileStatus, Snapshot};

use super::outcome::{Outcome, q};
use super::result::{Node, NodeStatus, Verdict};

/// The trailer that links a change to a threat-model record in its description.
pub const TRAILER: &str = "Threat-Model:";

/// The references a change makes to threat-model records: `Threat-Model:` lines in the
/// description and `/sdl threat-model` records.
pub fn references(snapshot: &Snapshot) -> Vec<String> {
    let mut refs: Vec<String> = snapshot
        .body
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let head = line.get(..TRAILER.len())?;
            head.eq_ignore_ascii_case(TRAILER)
                .then(|| line[TRAILER.len()..].trim().to_string())
        })
        .filter(|r| !r.is_empty())
        .collect();
    refs.extend(snapshot.threat_model_refs.iter().cloned());
    refs.dedup();
    refs
}

pub(crate) fn evaluate(gate: &ThreatModelGate, snapshot: &Snapshot) -> Outcome {
    let tm_paths = GlobList::new(&gate.paths);
    let patterns = &gate.link_patterns;
    let mut details = Vec::new();
    let mut errors = Vec::new();
    let mut updated = Vec::new();
    let mut broken = Vec::new();
    let mut attachments = Vec::new();

    for file in &snapshot.files {
        let now_in = tm_paths.is_match(&file.path);
        let was_in = file
            .previous_path
            .as_deref()
            .is_some_and(|p| tm_paths.is_match(p));
        if !now_in && !was_in {
            continue;
        }
        if is_threat_model_attachment(&file.path)
            && file
                .previous_path
                .as_deref()
                .is_none_or(is_threat_model_attachment)
        {
            attachments.push(q(&file.path));
            continue;
        }
        if file.status == FileStatus::Removed {
            details.push(Node::leaf(
                NodeStatus::Fail,
                format!(
                    "{} was deleted: removing a threat model does not update it",
                    q(&file.path)
                ),
            ));
            continue;
        }
        if !now_in {
            details.push(Node::leaf(
                NodeStatus::Fail,
                format!(
                    "{} was moved out of the threat-model paths (from {})",
                    q(&file.path),
                    q(file.previous_path.as_deref().unwrap_or_default())
                ),
            ));
            continue;
        }
        match snapshot.content(&file.path) {
            None => {
                errors.push(format!(
                    "could not read {} at the head commit to check that it still parses",
                    q(&file.path)
                ));
                // Fail-open judges on what it could see: the file was touched.
                if gate.common.fail_mode == FailMode::Open {
                    updated.push(file.path.clone());
                }
            }
            Some(bytes) => match parse_threat_model(&file.path, bytes) {
                Ok(kind) => {
                    let how = match &file.previous_path {
                        Some(old) if file.status == FileStatus::Renamed => {
                            format!("renamed from {} and ", q(old))
                        }
                        _ => String::new(),
                    };
                    details.push(Node::leaf(
                        NodeStatus::Pass,
                        format!(
                            "{} {how}updated ({}), and it parses",
                            q(&file.path),
                            kind.name()
                        ),
                    ));
                    updated.push(file.path.clone());
                }
                Err(err) => {
                    details.push(Node::leaf(
                        NodeStatus::Fail,
                        format!("{} no longer parses: {err}", q(&file.path)),
                    ));
                    broken.push(file.path.clone());
                }
            },
        }
    }

    if !attachments.is_empty() {
        details.push(Node::leaf(
            NodeStatus::Info,
            format!(
                "{} changed: attachment(s) of the threat model (no threat-model format), not read and not counted as an update",
                attachments.join(", ")
            ),
        ));
    }

    let mut accepted = Vec::new();
    for r in references(snapshot) {
        let matched = check_link(patterns, &r);
        if !patterns.is_empty() && matched.is_ok() {
            details.push(Node::leaf(
                NodeStatus::Pass,
                format!("references threat-model record {}", q(&r)),
            ));
            accepted.push(r);
        } else if patterns.is_empty() {
            details.push(Node::leaf(
                NodeStatus::Fail,
                format!("reference {} not accepted: the policy allows no threat-model links (`link_patterns` is empty)", q(&r)),
            ));
        } else {
            details.push(Node::leaf(
                NodeStatus::Fail,
                format!(
                    "reference {} does not match an accepted pattern ({})",
                    q(&r),
                    matched
                        .err()
                        .map(|m| describe_misses(&m))
                        .unwrap_or_default()
                ),
            ));
        }
    }

    let paths_list = gate
        .paths
        .iter()
        .map(|g| q(g.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = if !broken.is_empty() {
        let mut o = Outcome::new(
            Verdict::Fail,
            format!(
                "{} threat-model file(s) changed but no longer parse",
                broken.len()
            ),
        );
        o.unblock.push(format!(
            "Fix {} so that it parses again (open it in its threat-modelling tool and save it).",
            broken.iter().map(|p| q(p)).collect::<Vec<_>>().join(", ")
        ));
        o
    } else if !updated.is_empty() || !accepted.is_empty() {
        Outcome::new(
            Verdict::Pass,
            if updated.is_empty() {
                "the change references an accepted threat-model record".to_string()
            } else {
                format!("the threat model was updated ({})", updated.join(", "))
            },
        )
    } else {
        let mut o = Outcome::new(
            Verdict::Fail,
            "security-relevant code changed but the threat model was not updated",
        );
        o.unblock.push(format!(
            "Update the threat model in this change (a file under {paths_list})."
        ));
        if patterns.is_empty() {
            o.unblock.push(
                "Or ask the policy owner to allow threat-model references (`gates.threat_model.link_patterns`)."
                    .into(),
            );
        } else {
            let allowed = gate
                .link_patterns
                .iter()
                .map(|g| q(g.as_str()))
                .collect::<Vec<_>>()
                .join(", ");
            o.unblock.push(format!(
                "Or add a line `{TRAILER} <reference>` to the description, or comment `/sdl threat-model <reference>`, with a reference matching {allowed}."
            ));
        }
        o
    };
    out.details = details;
    out.errors = errors;
    out
}
