//! The GitLab CI job's pure parts: reading the merge request pipeline's `CI_*` variables and
//! the job's `SDL_GATE_*` settings, reading `git diff` output, and producing what the job
//! leaves behind — the JUnit report (one test case per gate), the code quality report (one
//! entry per located finding), and the exit code.
//!
//! `sdl-gate gitlab-ci` (in the binary) does the I/O around these: it runs git, reads the
//! report artifacts earlier stages left in the project directory, asks the GitLab API when a
//! token is given, and writes the files `templates/sdl-gate.gitlab-ci.yml` declares.

mod code_quality;
mod context;
mod diff;
mod junit;

pub use code_quality::{Issue, Lines, Location, code_quality, severity};
pub use context::{CiContext, DEFAULT_REPORTS, Settings, TOKEN_VARIABLE};
pub use diff::{DiffError, fill_changed_lines, parse_name_status};
pub use junit::{
    CLASSNAME, FINDINGS_LISTED, case_name, escape_attr, escape_text, gate_text, junit, junit_error,
};

pub use crate::action::{ConfigError, exit_code};

use crate::reports::Report;

/// The JUnit report the job writes (declared as `artifacts:reports:junit`).
pub const JUNIT_FILE: &str = "sdl-gate-junit.xml";
/// The code quality report the job writes (declared as `artifacts:reports:codequality`).
pub const CODE_QUALITY_FILE: &str = "gl-code-quality-report.json";
/// The JSON result (the same document `sdl-gate check --format json` prints).
pub const RESULT_FILE: &str = "sdl-gate-result.json";
/// The Markdown summary (the same text as the Action's job summary).
pub const SUMMARY_FILE: &str = "sdl-gate-summary.md";

/// Every file the job writes, which the report search never reads back.
pub const OUTPUT_FILES: [&str; 4] = [JUNIT_FILE, CODE_QUALITY_FILE, RESULT_FILE, SUMMARY_FILE];

/// The reports the forge found (artifacts of the MR's pipeline, read through the API) plus
/// those found in the project directory, without counting one report twice: a forge report
/// with the same format and the same findings as a local one is the same artifact.
pub fn merge_reports(from_forge: Vec<Report>, local: Vec<Report>) -> Vec<Report> {
    let key = |r: &Report| {
        let mut prints: Vec<&str> = r.findings.iter().map(|f| f.fingerprint.as_str()).collect();
        prints.sort_unstable();
        (r.format, prints.join("\n"))
    };
    let local_keys: Vec<_> = local.iter().map(key).collect();
    let mut out: Vec<Report> = from_forge
        .into_iter()
        .filter(|r| !local_keys.contains(&key(r)))
        .collect();
    out.extend(local);
    out
}
