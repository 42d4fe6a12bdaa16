//! All user-facing text: check-run titles, summaries and texts, the sticky comment, job
//! summaries, annotations and the JSON result. Everything that came from users or scanners is
//! escaped here (see [`escape`]), and every surface stays within its forge's size limits.

pub mod annotations;
pub mod escape;
pub mod html;
mod markdown;
pub mod merge_group;
pub mod replies;

pub use markdown::{
    CHECK_RUN_TEXT_LIMIT, COMMENT_FINDINGS, COMMENT_LIMIT, COMMENT_MARKER, TEXT_FINDINGS,
    check_summary, check_text, comment, fit, job_summary, same_report, title,
};

use crate::gates::Evaluation;

/// The machine-readable result: the evaluation as JSON (`verdict`, `gates[]` with `gate`,
/// `verdict`, `requirements`, `findings[]` with `severity`, `rule`, `file`, `line`,
/// `message`, `requirements`, `cwe`, and `explanation`, among more).
pub fn json(eval: &Evaluation) -> serde_json::Value {
    serde_json::to_value(eval).unwrap_or_else(|e| {
        serde_json::json!({ "verdict": "fail", "error": format!("could not serialise the evaluation: {e}") })
    })
}
