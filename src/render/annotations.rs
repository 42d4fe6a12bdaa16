//! Findings as line annotations: check-run annotations (GitHub accepts at most 50 per
//! request) and workflow commands (`::error file=…,line=…::`) for the Action.

use serde::Serialize;

use crate::gates::{Evaluation, FindingStatus, GateFinding, Verdict};

/// GitHub's limit of annotations per check-run request.
pub const BATCH: usize = 50;

/// The level of an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Blocks the change.
    Failure,
    /// Does not block (accepted, or waived gate).
    Warning,
    /// Informational.
    Notice,
}

/// One annotation, in the shape of GitHub's check-run annotation object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    /// Repository-relative path.
    pub path: String,
    /// First line (1-based).
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// `failure`, `warning` or `notice`.
    pub annotation_level: Level,
    /// Short title.
    pub title: String,
    /// The message (plain text; GitHub does not render Markdown here).
    pub message: String,
}

/// GitHub's limit for an annotation message, in bytes.
const MESSAGE_LIMIT: usize = 64 * 1024 - 1;

fn cut(s: &str, limit: usize) -> String {
    if s.len() <= limit {
        return s.to_string();
    }
    let mut end = limit.saturating_sub(3);
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

fn annotation(gate_verdict: Verdict, f: &GateFinding) -> Option<Annotation> {
    let path = f.finding.file.clone()?;
    let line = f.finding.line.unwrap_or(1).max(1);
    let level = match (gate_verdict, f.status) {
        (Verdict::Fail, FindingStatus::Blocking | FindingStatus::IgnoreExpired) => Level::Failure,
        (_, FindingStatus::Ignored) => Level::Notice,
        _ => Level::Warning,
    };
    let mut msg = f.finding.message.clone();
    if !f.requirements.is_empty() {
        msg.push_str(&format!("\nIEC 62443-4-1: {}", f.requirements.join(", ")));
    }
    if !f.finding.cwe.is_empty() {
        let cwes: Vec<String> = f.finding.cwe.iter().map(|c| format!("CWE-{c}")).collect();
        msg.push_str(&format!("\nWeakness: {}", cwes.join(", ")));
        if !f.foundational_requirements.is_empty() {
            msg.push_str(&format!(
                " (threatens {})",
                f.foundational_requirements.join(", ")
            ));
        }
    }
    Some(Annotation {
        path,
        start_line: line,
        end_line: line,
        annotation_level: level,
        title: cut(
            &format!(
                "[{}] {}: {}",
                f.finding.severity, f.finding.tool, f.finding.rule
            ),
            255,
        ),
        message: cut(&msg, MESSAGE_LIMIT),
    })
}

/// Every located finding of the gates that apply, failures first.
pub fn annotations(eval: &Evaluation) -> Vec<Annotation> {
    let mut out: Vec<Annotation> = eval
        .gates
        .iter()
        .flat_map(|g| {
            g.findings
                .iter()
                .filter_map(move |f| annotation(g.verdict, f))
        })
        .collect();
    out.sort_by_key(|a| match a.annotation_level {
        Level::Failure => 0,
        Level::Warning => 1,
        Level::Notice => 2,
    });
    out
}

/// The annotations in batches of at most [`BATCH`].
pub fn batches(eval: &Evaluation) -> Vec<Vec<Annotation>> {
    annotations(eval)
        .chunks(BATCH)
        .map(<[Annotation]>::to_vec)
        .collect()
}

/// Escapes a workflow-command property value (`file=`, `title=`).
fn prop(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
        .replace(':', "%3A")
        .replace(',', "%2C")
}

/// Escapes a workflow-command message.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A GitHub Actions workflow command for one annotation (`::error file=…,line=…,title=…::msg`).
pub fn workflow_command(a: &Annotation) -> String {
    let cmd = match a.annotation_level {
        Level::Failure => "error",
        Level::Warning => "warning",
        Level::Notice => "notice",
    };
    format!(
        "::{cmd} file={},line={},endLine={},title={}::{}",
        prop(&a.path),
        a.start_line,
        a.end_line,
        prop(&a.title),
        data(&a.message)
    )
}
