//! The GitHub Action's pure parts: reading its inputs and context from the environment,
//! reading the pull request from the event payload, and producing what a workflow step
//! writes back — outputs, annotations within GitHub's per-step caps, and the exit code.
//!
//! `sdl-gate action` (in the binary) does the I/O around these: it reads files, calls the
//! GitHub API with the same client code as the App, and writes the files GitHub gives it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use crate::gates::{Evaluation, OverallVerdict, Verdict};
use crate::policy::CommentMode;
use crate::render::annotations::{Annotation, Level, annotations, workflow_command};

/// Every input `action.yml` declares, in the order it declares them.
pub const INPUTS: [&str; 8] = [
    "policy",
    "sarif",
    "reports",
    "github-token",
    "comment",
    "check-run",
    "fail-on-pending",
    "pr-number",
];

/// Every output `action.yml` declares.
pub const OUTPUTS: [&str; 3] = ["verdict", "failed-gates", "result-json"];

/// GitHub shows at most this many error annotations from one step (and as many warnings and
/// notices); the rest are listed in the job summary.
pub const ANNOTATIONS_PER_LEVEL: usize = 10;

/// A misconfiguration: which input or variable, and what is wrong. Exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct ConfigError {
    /// The input (`with: comment`) or environment variable (`GITHUB_EVENT_PATH`) at fault.
    pub name: String,
    /// What is wrong and what is expected.
    pub message: String,
}

fn config_err(name: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        name: name.to_string(),
        message: message.into(),
    }
}

/// The Action's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// Path of the policy file in the base branch.
    pub policy: String,
    /// Globs of SARIF files in the workspace.
    pub sarif: Vec<String>,
    /// Globs of other scanner reports (any supported format) in the workspace.
    pub reports: Vec<String>,
    /// Whether a token was given (the token itself is read by the binary and kept secret).
    pub has_token: bool,
    /// When to post the sticky comment.
    pub comment: CommentMode,
    /// Whether to create the `sdl-gate` check run.
    pub check_run: bool,
    /// Whether a pending verdict fails the step.
    pub fail_on_pending: bool,
    /// The pull request, for `workflow_dispatch`.
    pub pr_number: Option<u64>,
}

/// Reads an input as GitHub passes it: `INPUT_<NAME>` with the name upper-cased (hyphens
/// kept); some runners also pass the name with hyphens turned into underscores.
pub fn input<'a>(env: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    let upper = name.to_ascii_uppercase();
    env.get(&format!("INPUT_{upper}"))
        .or_else(|| env.get(&format!("INPUT_{}", upper.replace('-', "_"))))
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
}

fn boolean(env: &BTreeMap<String, String>, name: &str, default: bool) -> Result<bool, ConfigError> {
    match input(env, name) {
        None => Ok(default),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            other => Err(config_err(
                &format!("input `{name}`"),
                format!("`{other}` is not a boolean; use true or false"),
            )),
        },
    }
}

fn list(env: &BTreeMap<String, String>, name: &str) -> Vec<String> {
    input(env, name)
        .map(|v| {
            v.lines()
                .flat_map(|l| l.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.starts_with('#'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Inputs {
    /// Reads and checks the inputs.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Inputs, ConfigError> {
        let comment = match input(env, "comment") {
            None => CommentMode::OnFailure,
            Some(text) => CommentMode::parse(text).ok_or_else(|| {
                config_err(
                    "input `comment`",
                    format!("`{text}` is not one of always, on-failure (or on_failure), never"),
                )
            })?,
        };
        let pr_number = match input(env, "pr-number") {
            None => None,
            Some(v) => Some(v.trim_start_matches('#').parse::<u64>().map_err(|_| {
                config_err(
                    "input `pr-number`",
                    format!("`{v}` is not a pull request number"),
                )
            })?),
        };
        Ok(Inputs {
            policy: input(env, "policy")
                .unwrap_or(".github/sdl-gate.yml")
                .to_string(),
            sarif: list(env, "sarif"),
            reports: list(env, "reports"),
            has_token: input(env, "github-token").is_some(),
            comment,
            check_run: boolean(env, "check-run", false)?,
            fail_on_pending: boolean(env, "fail-on-pending", true)?,
            pr_number,
        })
    }
}

/// The workflow run's context, from the `GITHUB_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// `GITHUB_EVENT_NAME`.
    pub event_name: String,
    /// `GITHUB_EVENT_PATH`.
    pub event_path: String,
    /// `GITHUB_REPOSITORY` (`owner/name`).
    pub repository: String,
    /// `GITHUB_API_URL`.
    pub api_url: String,
    /// `GITHUB_WORKSPACE`.
    pub workspace: String,
    /// `GITHUB_STEP_SUMMARY`, when set.
    pub step_summary: Option<String>,
    /// `GITHUB_OUTPUT`, when set.
    pub output: Option<String>,
}

/// The events the Action works for.
pub const EVENTS: [&str; 3] = ["pull_request", "pull_request_target", "workflow_dispatch"];

impl Context {
    /// Reads and checks the context variables.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Context, ConfigError> {
        let req = |name: &str| {
            env.get(name)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    config_err(name, "not set; is this running as a GitHub Actions step?")
                })
        };
        let event_name = req("GITHUB_EVENT_NAME")?;
        if !EVENTS.contains(&event_name.as_str()) {
            return Err(config_err(
                "GITHUB_EVENT_NAME",
                format!(
                    "sdl-gate runs on pull_request, pull_request_target or workflow_dispatch (with the `pr-number` input), not `{event_name}`"
                ),
            ));
        }
        let repository = req("GITHUB_REPOSITORY")?;
        if repository.split('/').filter(|p| !p.is_empty()).count() != 2 {
            return Err(config_err(
                "GITHUB_REPOSITORY",
                format!("`{repository}` is not owner/name"),
            ));
        }
        let opt = |name: &str| {
            env.get(name)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        Ok(Context {
            event_name,
            event_path: req("GITHUB_EVENT_PATH")?,
            repository,
            api_url: opt("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            workspace: opt("GITHUB_WORKSPACE").unwrap_or_else(|| ".".into()),
            step_summary: opt("GITHUB_STEP_SUMMARY"),
            output: opt("GITHUB_OUTPUT"),
        })
    }
}

/// What the event payload says about the pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPr {
    /// PR number.
    pub number: u64,
    /// Head commit, when the payload has it.
    pub head_sha: Option<String>,
    /// Base branch, when the payload has it.
    pub base_ref: Option<String>,
    /// Author login.
    pub author: Option<String>,
    /// Description.
    pub body: String,
    /// Title.
    pub title: String,
    /// Labels.
    pub labels: Vec<String>,
    /// Draft.
    pub draft: bool,
    /// Opened from a fork (its token is read-only).
    pub from_fork: bool,
}

#[derive(Deserialize)]
struct Payload {
    pull_request: Option<PrPayload>,
    inputs: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct PrPayload {
    number: u64,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    draft: Option<bool>,
    #[serde(default)]
    user: Option<UserPayload>,
    #[serde(default)]
    labels: Vec<LabelPayload>,
    head: RefPayload,
    base: RefPayload,
}

#[derive(Deserialize)]
struct UserPayload {
    login: String,
}

#[derive(Deserialize)]
struct LabelPayload {
    name: String,
}

#[derive(Deserialize)]
struct RefPayload {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    sha: Option<String>,
    repo: Option<RepoPayload>,
}

#[derive(Deserialize)]
struct RepoPayload {
    full_name: Option<String>,
}

/// Reads the pull request from the event payload. For `workflow_dispatch`, the number comes
/// from the `pr-number` input (or a `pr-number`/`pr_number` dispatch input) and the rest from
/// the API.
pub fn event_pr(
    event_name: &str,
    payload: &[u8],
    pr_input: Option<u64>,
) -> Result<EventPr, ConfigError> {
    let p: Payload = serde_json::from_slice(payload).map_err(|e| {
        config_err(
            "GITHUB_EVENT_PATH",
            format!(
                "the event payload is not valid JSON: line {}, column {}: {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    if let Some(pr) = p.pull_request {
        let from_fork = match (&pr.head.repo, &pr.base.repo) {
            (Some(h), Some(b)) => h.full_name != b.full_name,
            // A deleted fork has no head repo: treat as a fork (read-only token).
            (None, _) => true,
            _ => false,
        };
        return Ok(EventPr {
            number: pr.number,
            head_sha: pr.head.sha,
            base_ref: pr.base.git_ref,
            author: pr.user.map(|u| u.login),
            body: pr.body.unwrap_or_default(),
            title: pr.title.unwrap_or_default(),
            labels: pr.labels.into_iter().map(|l| l.name).collect(),
            draft: pr.draft.unwrap_or(false),
            from_fork,
        });
    }
    if event_name != "workflow_dispatch" {
        return Err(config_err(
            "GITHUB_EVENT_PATH",
            format!("the `{event_name}` payload has no `pull_request`"),
        ));
    }
    let from_inputs = p.inputs.as_ref().and_then(|i| {
        ["pr-number", "pr_number", "pull_request", "pr"]
            .iter()
            .find_map(|k| match i.get(*k) {
                Some(serde_json::Value::String(s)) => s.trim_start_matches('#').parse().ok(),
                Some(serde_json::Value::Number(n)) => n.as_u64(),
                _ => None,
            })
    });
    let number = pr_input.or(from_inputs).ok_or_else(|| {
        config_err("input `pr-number`", "workflow_dispatch needs the pull request number: pass `pr-number: ${{ inputs.pr-number }}`")
    })?;
    Ok(EventPr {
        number,
        head_sha: None,
        base_ref: None,
        author: None,
        body: String::new(),
        title: String::new(),
        labels: Vec::new(),
        draft: false,
        from_fork: false,
    })
}

/// The workflow commands for the annotations GitHub will show (at most
/// [`ANNOTATIONS_PER_LEVEL`] per level), and the annotations left over, for the summary.
pub fn capped_annotations(eval: &Evaluation) -> (Vec<String>, Vec<Annotation>) {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut shown = Vec::new();
    let mut rest = Vec::new();
    for a in annotations(eval) {
        let key = match a.annotation_level {
            Level::Failure => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        };
        let n = counts.entry(key).or_default();
        if *n < ANNOTATIONS_PER_LEVEL {
            *n += 1;
            shown.push(workflow_command(&a));
        } else {
            rest.push(a);
        }
    }
    (shown, rest)
}

/// The Markdown list of annotations GitHub could not show, for the end of the job summary.
pub fn overflow_summary(rest: &[Annotation]) -> String {
    if rest.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n<details><summary>{} more finding location(s) (GitHub shows {} annotations per level and step)</summary>\n\n",
        rest.len(),
        ANNOTATIONS_PER_LEVEL
    );
    for a in rest.iter().take(1000) {
        let _ = writeln!(
            out,
            "- {} {}",
            crate::render::escape::code(&format!("{}:{}", a.path, a.start_line)),
            crate::render::escape::line(&a.title, 300)
        );
    }
    if rest.len() > 1000 {
        let _ = writeln!(
            out,
            "- … and {} more (see the result JSON)",
            rest.len() - 1000
        );
    }
    out.push_str("\n</details>\n");
    out
}

/// The `GITHUB_OUTPUT` lines: `verdict`, `failed-gates` and `result-json`.
pub fn outputs(eval: &Evaluation, result_path: &str) -> String {
    let failed: Vec<&str> = eval
        .gates
        .iter()
        .filter(|g| g.verdict == Verdict::Fail)
        .map(|g| g.gate.as_str())
        .collect();
    format!(
        "verdict={}\nfailed-gates={}\nresult-json={}\n",
        eval.verdict.as_str(),
        failed.join(","),
        result_path.replace(['\n', '\r'], "")
    )
}

/// The step's exit code: 0 pass, 1 blocked (fail, or pending when `fail_on_pending`).
pub fn exit_code(verdict: OverallVerdict, fail_on_pending: bool) -> u8 {
    match verdict {
        OverallVerdict::Pass => 0,
        OverallVerdict::Pending if !fail_on_pending => 0,
        _ => 1,
    }
}
