//! What one gate function returns before the engine adds the parts every gate shares
//! (requirement ids, waivers, fail mode).

use super::result::{GateFinding, Node, NodeStatus, Verdict};

/// A gate's own judgement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    /// The verdict on what the gate could read.
    pub verdict: Verdict,
    /// One sentence.
    pub explanation: String,
    /// The explanation tree.
    pub details: Vec<Node>,
    /// Findings the gate lists.
    pub findings: Vec<GateFinding>,
    /// Findings counted but not blocking (below threshold, outside the change).
    pub not_blocking: usize,
    /// What unblocks it.
    pub unblock: Vec<String>,
    /// Errors of the gate itself: inputs it could not read or resolve. The engine turns
    /// them into a failure (`fail_mode: closed`) or warnings (`open`).
    pub errors: Vec<String>,
}

impl Outcome {
    /// The gate does not apply to this change.
    pub fn not_applicable(explanation: impl Into<String>, details: Vec<Node>) -> Outcome {
        Outcome {
            verdict: Verdict::NotApplicable,
            explanation: explanation.into(),
            details,
            findings: Vec::new(),
            not_blocking: 0,
            unblock: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// An outcome with the given verdict and no findings yet.
    pub fn new(verdict: Verdict, explanation: impl Into<String>) -> Outcome {
        Outcome {
            verdict,
            explanation: explanation.into(),
            details: Vec::new(),
            findings: Vec::new(),
            not_blocking: 0,
            unblock: Vec::new(),
            errors: Vec::new(),
        }
    }
}

/// Combines verdicts of sub-conditions: any fail fails, else any pending is pending, else pass.
pub(crate) fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    let mut out = Verdict::Pass;
    for v in verdicts {
        match v {
            Verdict::Fail => return Verdict::Fail,
            Verdict::Pending => out = Verdict::Pending,
            _ => {}
        }
    }
    out
}

/// The node status that shows a verdict.
pub(crate) fn status_of(v: Verdict) -> NodeStatus {
    match v {
        Verdict::Pass | Verdict::Waived => NodeStatus::Pass,
        Verdict::Fail => NodeStatus::Fail,
        Verdict::Pending => NodeStatus::Pending,
        Verdict::NotApplicable => NodeStatus::Skipped,
    }
}

/// Wraps an untrusted value (a path, a reference, a check name) in a code span for
/// explanation text: backticks in it are replaced, so it cannot end the span early and the
/// renderer's `escape::rich` keeps it inert.
pub(crate) fn q(value: &str) -> String {
    format!("`{}`", value.replace('`', "'"))
}
