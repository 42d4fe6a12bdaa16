//! Deciding whether a gate applies to a change: by changed paths, by labels, or always.

use crate::policy::{GlobList, GlobPattern, Trigger};
use crate::snapshot::{ChangedFile, Snapshot};

use super::outcome::q;
use super::result::{Node, NodeStatus};

/// A trigger with the gate's defaults filled in and its globs compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledTrigger {
    always: bool,
    what: &'static str,
    paths: GlobList,
    labels: Vec<String>,
}

impl CompiledTrigger {
    /// Compiles `trigger`, using the defaults (`what` names the default paths in
    /// explanations) where the policy left a field out. A trigger
    /// that names paths or labels explicitly is never "always" unless it says so.
    pub fn new(
        trigger: &Trigger,
        default_paths: &[GlobPattern],
        default_labels: &[String],
        default_always: bool,
        what: &'static str,
    ) -> CompiledTrigger {
        let explicit = trigger.paths.is_some() || trigger.labels.is_some();
        let always = trigger.always.unwrap_or(default_always && !explicit);
        let paths = trigger.paths.as_deref().unwrap_or(default_paths);
        let labels = trigger.labels.as_deref().unwrap_or(default_labels);
        CompiledTrigger {
            always,
            what,
            paths: GlobList::new(paths),
            labels: labels.to_vec(),
        }
    }

    /// Why the gate applies, or `None` when it does not. `extra` names changed files that
    /// trigger it whatever the globs say (the policy file itself, for reviews).
    pub fn check(&self, snapshot: &Snapshot, extra: &[&ChangedFile]) -> Option<Node> {
        if self.always {
            return Some(Node::leaf(NodeStatus::Info, "applies to every change"));
        }
        if !snapshot.files_known {
            return Some(Node::leaf(
                NodeStatus::Warning,
                "applies because the changed files could not be listed (fail closed)",
            ));
        }
        let mut reasons = Vec::new();
        for file in extra {
            reasons.push(Node::leaf(
                NodeStatus::Info,
                format!("{} changes the sdl-gate policy itself", q(&file.path)),
            ));
        }
        let mut matched = 0usize;
        for file in &snapshot.files {
            let hit = self.paths.is_match(&file.path)
                || file
                    .previous_path
                    .as_deref()
                    .is_some_and(|p| self.paths.is_match(p));
            if !hit {
                continue;
            }
            matched += 1;
            // Naming the glob costs a full set match; only the listed files need it.
            if matched <= MAX_LISTED {
                let glob = self.paths.first_match(&file.path).or_else(|| {
                    file.previous_path
                        .as_deref()
                        .and_then(|p| self.paths.first_match(p))
                });
                let via = glob
                    .map(|g| format!(" matches {}", q(g.as_str())))
                    .unwrap_or_default();
                reasons.push(Node::leaf(
                    NodeStatus::Info,
                    format!("{}{via}", q(&file.path)),
                ));
            }
        }
        if matched > MAX_LISTED {
            reasons.push(Node::leaf(
                NodeStatus::Info,
                format!("… and {} more matching files", matched - MAX_LISTED),
            ));
        }
        for label in &snapshot.labels {
            if self.labels.iter().any(|l| l.eq_ignore_ascii_case(label)) {
                reasons.push(Node::leaf(
                    NodeStatus::Info,
                    format!("labelled {}", q(label)),
                ));
            }
        }
        if reasons.is_empty() {
            None
        } else {
            Some(Node::with_children(
                NodeStatus::Info,
                "applies because:",
                reasons,
            ))
        }
    }

    /// A sentence saying what would trigger the gate, for "not applicable" explanations.
    pub fn describe(&self) -> String {
        if self.always {
            return "applies to every change".into();
        }
        let mut parts = Vec::new();
        if !self.paths.is_empty() {
            parts.push(self.what.to_string());
        }
        if !self.labels.is_empty() {
            parts.push(format!("labels {}", self.labels.join(", ")));
        }
        if parts.is_empty() {
            "nothing triggers it (no paths or labels configured)".into()
        } else {
            format!(
                "no changed file or label matches its trigger ({})",
                parts.join(" or ")
            )
        }
    }
}

/// How many matching files an explanation lists before summarising.
const MAX_LISTED: usize = 5;
