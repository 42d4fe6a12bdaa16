//! Required CI checks, shared by the `sast` and `dependencies` gates: each named check run or
//! status must have concluded successfully on the head commit.

use crate::snapshot::{CheckState, Snapshot};

use super::outcome::{q, status_of};
use super::result::{Node, Verdict};

/// Judges the required checks `names`: missing or running → pending, failed (or neutral /
/// skipped: no evidence) → fail. Several runs of one name: any pending → pending, else any
/// success → pass (a re-run that succeeded), else fail.
pub(crate) fn judge(
    names: &[String],
    snapshot: &Snapshot,
    unblock: &mut Vec<String>,
) -> (Verdict, Vec<Node>) {
    let mut nodes = Vec::new();
    let mut verdicts = Vec::new();
    for name in names {
        let runs: Vec<CheckState> = snapshot
            .checks
            .iter()
            .filter(|c| c.name.eq_ignore_ascii_case(name))
            .map(|c| c.state)
            .collect();
        let qn = q(name);
        let (verdict, text) = if runs.is_empty() {
            unblock.push(format!("Wait for the required check {qn} to run on the head commit (or make sure the workflow that runs it is triggered)."));
            (
                Verdict::Pending,
                format!("required check {qn} has not reported on the head commit"),
            )
        } else if runs.contains(&CheckState::Pending) {
            (
                Verdict::Pending,
                format!("required check {qn} is still running"),
            )
        } else if runs.contains(&CheckState::Success) {
            (Verdict::Pass, format!("required check {qn} succeeded"))
        } else if runs.contains(&CheckState::Failure) {
            unblock.push(format!("Make the required check {qn} pass."));
            (Verdict::Fail, format!("required check {qn} failed"))
        } else {
            unblock.push(format!("Make the required check {qn} run to success (it was skipped or neutral, which is no evidence)."));
            (
                Verdict::Fail,
                format!("required check {qn} was skipped or neutral"),
            )
        };
        nodes.push(Node::leaf(status_of(verdict), text));
        verdicts.push(verdict);
    }
    (super::outcome::worst(verdicts), nodes)
}
