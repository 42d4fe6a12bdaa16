//! All user-facing text: check-run titles, summaries and texts, the sticky comment, job
//! summaries, annotations and the JSON result. Everything that came from users or scanners is
//! escaped here (see [`escape`]), and every surface stays within its forge's size limits.

pub mod annotations;
pub mod escape;
pub mod html;
mod markdown;
pub mod merge_group;
pub mod replies;
mod sorted_json;

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

/// [`json`] printed pretty: the bytes of `serde_json::to_vec_pretty(&json(eval))` (keys
/// sorted, two-space indent), written straight from the evaluation without building the
/// `serde_json::Value` first — for a large evaluation that tree cost more than the evaluation
/// itself. Falls back to the `Value` path for anything the direct writer does not model.
pub fn json_pretty(eval: &Evaluation) -> Result<Vec<u8>, serde_json::Error> {
    sorted_json::to_vec_pretty_sorted(eval).or_else(|_| serde_json::to_vec_pretty(&json(eval)))
}
