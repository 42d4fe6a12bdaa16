//! The merge request pipeline's context, from GitLab's predefined `CI_*` variables, and the
//! job's own settings, from `SDL_GATE_*` variables. Errors name the variable at fault.
//!
//! Variables (docs.gitlab.com, "Predefined CI/CD variables", merge request pipelines):
//! `CI_MERGE_REQUEST_IID`, `CI_MERGE_REQUEST_PROJECT_PATH` (the project the MR lives in; a
//! fork's pipeline runs in the fork, whose path is `CI_PROJECT_PATH`), `CI_COMMIT_SHA` (the
//! MR head, or the merge commit in a merged-results pipeline, where the head is
//! `CI_MERGE_REQUEST_SOURCE_BRANCH_SHA`), `CI_MERGE_REQUEST_TARGET_BRANCH_NAME`,
//! `CI_MERGE_REQUEST_DIFF_BASE_SHA`, `CI_API_V4_URL`, `GITLAB_USER_LOGIN` (who started the
//! pipeline), `CI_MERGE_REQUEST_TITLE`, `CI_MERGE_REQUEST_DESCRIPTION` (GitLab 16.7+, cut at
//! 2,700 characters with `CI_MERGE_REQUEST_DESCRIPTION_IS_TRUNCATED`),
//! `CI_MERGE_REQUEST_LABELS` (comma-separated), `CI_MERGE_REQUEST_DRAFT` (GitLab 17.10+).

use std::collections::BTreeMap;

use crate::action::ConfigError;
use crate::policy::CommentMode;

/// The variable that holds the GitLab token unless `SDL_GATE_GITLAB_TOKEN_VARIABLE` names
/// another one.
pub const TOKEN_VARIABLE: &str = "SDL_GATE_GITLAB_TOKEN";

/// The report globs searched when `SDL_GATE_REPORTS` is not set: GitLab's security report
/// names wherever a job left them, CycloneDX SBOMs from GitLab's scanners, and SARIF files.
pub const DEFAULT_REPORTS: [&str; 6] = [
    "**/gl-sast-report.json",
    "**/gl-secret-detection-report.json",
    "**/gl-dependency-scanning-report.json",
    "**/gl-container-scanning-report.json",
    "**/gl-sbom-*.cdx.json",
    "**/*.sarif",
];

fn config_err(name: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        name: name.to_string(),
        message: message.into(),
    }
}

fn opt<'a>(env: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// A commit id as GitLab gives it: 40 (SHA-1) or 64 (SHA-256) hex digits.
fn sha(env: &BTreeMap<String, String>, name: &str) -> Result<Option<String>, ConfigError> {
    match opt(env, name) {
        None => Ok(None),
        Some(v) if (v.len() == 40 || v.len() == 64) && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Some(v.to_ascii_lowercase()))
        }
        Some(v) => Err(config_err(
            name,
            format!(
                "`{}` is not a commit id (40 or 64 hex digits)",
                v.chars().take(80).collect::<String>()
            ),
        )),
    }
}

fn boolean(env: &BTreeMap<String, String>, name: &str, default: bool) -> Result<bool, ConfigError> {
    match opt(env, name) {
        None => Ok(default),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            other => Err(config_err(
                name,
                format!("`{other}` is not a boolean; use true or false"),
            )),
        },
    }
}

/// The merge request pipeline, as the predefined variables describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiContext {
    /// `CI_MERGE_REQUEST_IID`.
    pub mr_iid: u64,
    /// The project the merge request lives in: `CI_MERGE_REQUEST_PROJECT_PATH`, else
    /// `CI_PROJECT_PATH`.
    pub project_path: String,
    /// `CI_MERGE_REQUEST_PROJECT_ID`, else `CI_PROJECT_ID`, when set.
    pub project_id: Option<u64>,
    /// `CI_API_V4_URL`, when set.
    pub api_url: Option<String>,
    /// The instance's base URL (`CI_API_V4_URL` without `/api/v4`, else `CI_SERVER_URL`).
    pub server_url: Option<String>,
    /// `CI_COMMIT_SHA`: the commit the pipeline checked out.
    pub commit_sha: String,
    /// The merge request's head: `CI_MERGE_REQUEST_SOURCE_BRANCH_SHA` in merged-results
    /// pipelines, else `CI_COMMIT_SHA`.
    pub head_sha: String,
    /// `CI_MERGE_REQUEST_TARGET_BRANCH_NAME`: the policy is read from it.
    pub target_branch: String,
    /// `CI_MERGE_REQUEST_DIFF_BASE_SHA`: the target-branch commit the change is compared with.
    pub diff_base_sha: Option<String>,
    /// `CI_MERGE_REQUEST_TARGET_BRANCH_SHA` (merged-results pipelines only).
    pub target_branch_sha: Option<String>,
    /// `CI_MERGE_REQUEST_EVENT_TYPE`: `detached`, `merged_result` or `merge_train`.
    pub event_type: Option<String>,
    /// `GITLAB_USER_LOGIN`: who started the pipeline (not necessarily the MR's author).
    pub user_login: Option<String>,
    /// `CI_MERGE_REQUEST_TITLE`.
    pub title: String,
    /// `CI_MERGE_REQUEST_DESCRIPTION`, when the GitLab version provides it.
    pub description: Option<String>,
    /// `CI_MERGE_REQUEST_DESCRIPTION_IS_TRUNCATED`.
    pub description_truncated: bool,
    /// `CI_MERGE_REQUEST_LABELS`, split at commas.
    pub labels: Vec<String>,
    /// `CI_MERGE_REQUEST_DRAFT`, when the GitLab version provides it.
    pub draft: Option<bool>,
    /// `CI_PROJECT_DIR`: the checkout, where earlier jobs' artifacts are extracted.
    pub project_dir: Option<String>,
    /// `CI_JOB_URL`: linked from the commit status and the note.
    pub job_url: Option<String>,
}

impl CiContext {
    /// Reads and checks the predefined variables of a merge request pipeline.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<CiContext, ConfigError> {
        let Some(iid) = opt(env, "CI_MERGE_REQUEST_IID") else {
            let why = match opt(env, "CI_PIPELINE_SOURCE") {
                Some(source) => format!(
                    "not set: this pipeline's source is `{}`, and sdl-gate gitlab-ci runs in merge request pipelines only (rules: - if: $CI_PIPELINE_SOURCE == \"merge_request_event\")",
                    source.chars().take(60).collect::<String>()
                ),
                None if opt(env, "GITLAB_CI").is_none() => {
                    "not set; is this running as a GitLab CI job in a merge request pipeline?"
                        .to_string()
                }
                None => "not set: sdl-gate gitlab-ci runs in merge request pipelines only (rules: - if: $CI_PIPELINE_SOURCE == \"merge_request_event\")".to_string(),
            };
            return Err(config_err("CI_MERGE_REQUEST_IID", why));
        };
        let mr_iid = iid.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            config_err(
                "CI_MERGE_REQUEST_IID",
                format!(
                    "`{}` is not a merge request IID",
                    iid.chars().take(40).collect::<String>()
                ),
            )
        })?;
        let project_var = if opt(env, "CI_MERGE_REQUEST_PROJECT_PATH").is_some() {
            "CI_MERGE_REQUEST_PROJECT_PATH"
        } else {
            "CI_PROJECT_PATH"
        };
        let project_path = opt(env, project_var)
            .ok_or_else(|| config_err("CI_PROJECT_PATH", "not set; it names the project"))?;
        if project_path.split('/').filter(|p| !p.is_empty()).count() < 2
            || project_path
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(config_err(
                project_var,
                format!("`{project_path}` is not a project path (group/project)"),
            ));
        }
        let id_var = if opt(env, "CI_MERGE_REQUEST_PROJECT_ID").is_some() {
            "CI_MERGE_REQUEST_PROJECT_ID"
        } else {
            "CI_PROJECT_ID"
        };
        let project_id = match opt(env, id_var) {
            None => None,
            Some(v) => Some(
                v.parse::<u64>()
                    .map_err(|_| config_err(id_var, format!("`{v}` is not a project id")))?,
            ),
        };
        let api_url = match opt(env, "CI_API_V4_URL") {
            None => None,
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
                Some(u.trim_end_matches('/').to_string())
            }
            Some(u) => {
                return Err(config_err(
                    "CI_API_V4_URL",
                    format!("`{u}` is not an http(s) URL"),
                ));
            }
        };
        let server_url = api_url
            .as_deref()
            .and_then(|u| u.strip_suffix("/api/v4"))
            .map(str::to_string)
            .or_else(|| {
                opt(env, "CI_SERVER_URL")
                    .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                    .map(|u| u.trim_end_matches('/').to_string())
            });
        let commit_sha = sha(env, "CI_COMMIT_SHA")?.ok_or_else(|| {
            config_err("CI_COMMIT_SHA", "not set; it names the commit under test")
        })?;
        let source_sha = sha(env, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA")?;
        let target_branch = opt(env, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
            .ok_or_else(|| {
                config_err(
                    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
                    "not set; the policy is read from the target branch",
                )
            })?
            .to_string();
        if target_branch.starts_with('-')
            || target_branch.contains("..")
            || target_branch
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
        {
            return Err(config_err(
                "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
                format!("`{target_branch}` is not a branch name git accepts"),
            ));
        }
        let labels = opt(env, "CI_MERGE_REQUEST_LABELS")
            .map(|l| {
                l.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let draft = match opt(env, "CI_MERGE_REQUEST_DRAFT") {
            None => None,
            Some(_) => Some(boolean(env, "CI_MERGE_REQUEST_DRAFT", false)?),
        };
        Ok(CiContext {
            mr_iid,
            project_path: project_path.to_string(),
            project_id,
            api_url,
            server_url,
            head_sha: source_sha.unwrap_or_else(|| commit_sha.clone()),
            commit_sha,
            target_branch,
            diff_base_sha: sha(env, "CI_MERGE_REQUEST_DIFF_BASE_SHA")?,
            target_branch_sha: sha(env, "CI_MERGE_REQUEST_TARGET_BRANCH_SHA")?,
            event_type: opt(env, "CI_MERGE_REQUEST_EVENT_TYPE").map(str::to_string),
            user_login: opt(env, "GITLAB_USER_LOGIN").map(str::to_string),
            title: opt(env, "CI_MERGE_REQUEST_TITLE")
                .unwrap_or_default()
                .to_string(),
            // The description keeps its own whitespace; only an empty one is absent.
            description: env
                .get("CI_MERGE_REQUEST_DESCRIPTION")
                .filter(|d| !d.trim().is_empty())
                .cloned(),
            description_truncated: boolean(
                env,
                "CI_MERGE_REQUEST_DESCRIPTION_IS_TRUNCATED",
                false,
            )?,
            labels,
            draft,
            project_dir: opt(env, "CI_PROJECT_DIR").map(str::to_string),
            job_url: opt(env, "CI_JOB_URL")
                .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                .map(str::to_string),
        })
    }
}

/// The job's settings, from `SDL_GATE_*` variables (set them in the job's `variables:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `SDL_GATE_REPORTS`: globs of report files in the project directory (newline- or
    /// comma-separated); [`DEFAULT_REPORTS`] when unset.
    pub reports: Vec<String>,
    /// Whether `SDL_GATE_REPORTS` was set (a glob that matches nothing is then reported).
    pub reports_explicit: bool,
    /// `SDL_GATE_COMMENT`: `always`, `on-failure` or `never`; the policy's `report.comment`
    /// when unset.
    pub comment: Option<CommentMode>,
    /// `SDL_GATE_STATUS`: post the `sdl-gate` commit status when a token allows (default
    /// true).
    pub status: bool,
    /// `SDL_GATE_FAIL_ON_PENDING`: a pending verdict fails the job (default true).
    pub fail_on_pending: bool,
    /// `SDL_GATE_GITLAB_TOKEN_VARIABLE`: the variable holding the token (default
    /// [`TOKEN_VARIABLE`]), for a project or group access token kept under another name.
    pub token_variable: String,
    /// `SDL_GATE_OUTPUT_DIR`: where the reports are written (default: the project directory).
    pub output_dir: Option<String>,
}

impl Settings {
    /// Reads and checks the settings.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Settings, ConfigError> {
        let reports: Vec<String> = opt(env, "SDL_GATE_REPORTS")
            .map(|v| {
                v.lines()
                    .flat_map(|l| l.split(','))
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && !s.starts_with('#'))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let reports_explicit = !reports.is_empty();
        let comment = match opt(env, "SDL_GATE_COMMENT") {
            None => None,
            Some(text) => Some(CommentMode::parse(text).ok_or_else(|| {
                config_err(
                    "SDL_GATE_COMMENT",
                    format!("`{text}` is not one of always, on-failure (or on_failure), never"),
                )
            })?),
        };
        let token_variable = opt(env, "SDL_GATE_GITLAB_TOKEN_VARIABLE")
            .unwrap_or(TOKEN_VARIABLE)
            .to_string();
        if !token_variable
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(config_err(
                "SDL_GATE_GITLAB_TOKEN_VARIABLE",
                format!("`{token_variable}` is not a variable name"),
            ));
        }
        Ok(Settings {
            reports: if reports_explicit {
                reports
            } else {
                DEFAULT_REPORTS.iter().map(|s| s.to_string()).collect()
            },
            reports_explicit,
            comment,
            status: boolean(env, "SDL_GATE_STATUS", true)?,
            fail_on_pending: boolean(env, "SDL_GATE_FAIL_ON_PENDING", true)?,
            token_variable,
            output_dir: opt(env, "SDL_GATE_OUTPUT_DIR").map(str::to_string),
        })
    }

    /// The token, when the variable named by `token_variable` is set and not empty.
    pub fn token<'a>(&self, env: &'a BTreeMap<String, String>) -> Option<&'a str> {
        opt(env, &self.token_variable)
    }
}
