//! The environment variables each sub-command reads, with their defaults, printed at the end of
//! its `--help`. One table per sub-command so that the help cannot fall behind the code:
//! `tests/cli_help.rs` compares each table with the variable names the sub-command's sources
//! read.

use sdl_gate::settings::{
    DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_CAP_SECS, DEFAULT_DATABASE_URL, DEFAULT_DEBOUNCE_MS,
    DEFAULT_FANOUT_MAX_PULLS, DEFAULT_GITHUB_API_URL, DEFAULT_GITHUB_OAUTH_URL,
    DEFAULT_HEADER_READ_TIMEOUT_SECS, DEFAULT_LEASE_SECS, DEFAULT_LEDGER_CHECKPOINT_ENTRIES,
    DEFAULT_LEDGER_CHECKPOINT_SECS, DEFAULT_LEDGER_KEY_PATH, DEFAULT_LISTEN, DEFAULT_MAX_ATTEMPTS,
    DEFAULT_POLL_INTERVAL_MS, DEFAULT_RECONCILE_INTERVAL_MINUTES, DEFAULT_RETENTION_DAYS,
    DEFAULT_SESSION_KEY_PATH, DEFAULT_SHUTDOWN_GRACE_SECS, DEFAULT_WORKERS,
};

/// One variable: its name, its default as the user would write it (empty: none), and what it
/// does.
pub struct EnvVar {
    /// The variable's name.
    pub name: &'static str,
    /// The value used when it is unset or empty; `None` when there is none.
    pub default: Option<String>,
    /// One line on what it does.
    pub meaning: &'static str,
}

fn var(name: &'static str, default: Option<String>, meaning: &'static str) -> EnvVar {
    EnvVar {
        name,
        default,
        meaning,
    }
}

fn some(value: impl ToString) -> Option<String> {
    Some(value.to_string())
}

/// What `sdl-gate serve` reads (besides `--config`/`SDL_GATE_CONFIG`, which clap lists).
pub fn serve() -> Vec<EnvVar> {
    vec![
        var(
            "SDL_GATE_LISTEN",
            some(DEFAULT_LISTEN),
            "address:port to bind (loopback by default; use 0.0.0.0:8080 in a container)",
        ),
        var(
            "SDL_GATE_DATABASE_URL",
            some(DEFAULT_DATABASE_URL),
            "sqlite://FILE, or postgres://… for several replicas",
        ),
        var(
            "SDL_GATE_PUBLIC_URL",
            None,
            "the service's public base URL: links in check runs and statuses, the pages' sign-in (https: Secure cookies)",
        ),
        var(
            "SDL_GATE_WORKERS",
            some(DEFAULT_WORKERS),
            "worker tasks per process",
        ),
        var("SDL_GATE_LOG_FORMAT", some("text"), "text or json"),
        var(
            "RUST_LOG",
            some("info"),
            "log filter (tracing EnvFilter syntax)",
        ),
        var(
            "HOSTNAME",
            some("sdl-gate"),
            "names this replica in job leases",
        ),
        var(
            "SDL_GATE_DEBOUNCE_MS",
            some(DEFAULT_DEBOUNCE_MS),
            "wait for a burst of events to settle before evaluating",
        ),
        var(
            "SDL_GATE_LEASE_SECS",
            some(DEFAULT_LEASE_SECS),
            "how long a worker's claim on a job lasts (at least 1)",
        ),
        var(
            "SDL_GATE_MAX_ATTEMPTS",
            some(DEFAULT_MAX_ATTEMPTS),
            "attempts before a job is parked",
        ),
        var(
            "SDL_GATE_BACKOFF_BASE_MS",
            some(DEFAULT_BACKOFF_BASE_MS),
            "first retry delay (doubles, with jitter)",
        ),
        var(
            "SDL_GATE_BACKOFF_CAP_SECS",
            some(DEFAULT_BACKOFF_CAP_SECS),
            "longest retry delay",
        ),
        var(
            "SDL_GATE_POLL_INTERVAL_MS",
            some(DEFAULT_POLL_INTERVAL_MS),
            "how often idle workers look for due jobs",
        ),
        var(
            "SDL_GATE_SHUTDOWN_GRACE_SECS",
            some(DEFAULT_SHUTDOWN_GRACE_SECS),
            "time in-flight jobs get on SIGTERM",
        ),
        var(
            "SDL_GATE_HEADER_READ_TIMEOUT_SECS",
            some(DEFAULT_HEADER_READ_TIMEOUT_SECS),
            "time a request head, or an idle kept-alive connection, gets before it is closed",
        ),
        var(
            "SDL_GATE_MAX_CONNECTIONS",
            None,
            "open connections before the oldest is closed (default: the fd limit minus a margin)",
        ),
        var(
            "SDL_GATE_RETENTION_DAYS",
            some(DEFAULT_RETENTION_DAYS),
            "days raw deliveries and handled job events are kept (0: for ever); evidence is never pruned",
        ),
        var(
            "SDL_GATE_LEDGER_KEY_PATH",
            Some(DEFAULT_LEDGER_KEY_PATH.to_owned()),
            "Ed25519 key that signs the evidence ledger's checkpoints (generated if absent)",
        ),
        var(
            "SDL_GATE_LEDGER_ORIGIN",
            None,
            "the ledger's name in checkpoints (default: the public URL's host + /ledger)",
        ),
        var(
            "SDL_GATE_LEDGER_CHECKPOINT_ENTRIES",
            some(DEFAULT_LEDGER_CHECKPOINT_ENTRIES),
            "new ledger entries before a checkpoint is signed",
        ),
        var(
            "SDL_GATE_LEDGER_CHECKPOINT_SECS",
            some(DEFAULT_LEDGER_CHECKPOINT_SECS),
            "seconds after the last checkpoint before new entries are signed anyway",
        ),
        var(
            "SDL_GATE_LEDGER_TSA_URL",
            None,
            "RFC 3161 time-stamping authority that also stamps every checkpoint (none: not stamped)",
        ),
        var(
            "SDL_GATE_GITHUB_APP_ID",
            None,
            "GitHub App id (the App is on when this, the key and the secret are set)",
        ),
        var(
            "SDL_GATE_GITHUB_PRIVATE_KEY_PATH",
            None,
            "the App's PEM private key file (readable by the service's user)",
        ),
        var(
            "SDL_GATE_GITHUB_WEBHOOK_SECRET",
            None,
            "webhook secret; comma-separated for rotation",
        ),
        var(
            "SDL_GATE_GITHUB_API_URL",
            some(DEFAULT_GITHUB_API_URL),
            "REST API base (GitHub Enterprise Server: https://HOST/api/v3)",
        ),
        var(
            "SDL_GATE_GITHUB_GRAPHQL",
            some("on"),
            "`off`: read pull requests, policy, reviews and check runs through REST, not one GraphQL query",
        ),
        var(
            "SDL_GATE_RECONCILE_INTERVAL",
            some(DEFAULT_RECONCILE_INTERVAL_MINUTES),
            "minutes between reconciliation sweeps; 0 turns them off",
        ),
        var(
            "SDL_GATE_FANOUT_MAX_PULLS",
            some(DEFAULT_FANOUT_MAX_PULLS),
            "most pull requests one policy change or sweep re-evaluates",
        ),
        var(
            "SDL_GATE_GITLAB_URL",
            None,
            "GitLab base URL (the bot is on when this, the token and the secret are set)",
        ),
        var(
            "SDL_GATE_GITLAB_TOKEN",
            None,
            "the bot's token (api scope, Developer role)",
        ),
        var(
            "SDL_GATE_GITLAB_WEBHOOK_SECRET",
            None,
            "webhook secret token; comma-separated for rotation",
        ),
        var(
            "SDL_GATE_GITLAB_POLICY_PROJECT",
            None,
            "project (group/policies) whose sdl-gate.yml is every project's default and floor",
        ),
        var(
            "SDL_GATE_GITHUB_CLIENT_ID",
            None,
            "the GitHub App's OAuth client id: people sign in to the pages with GitHub",
        ),
        var(
            "SDL_GATE_GITHUB_CLIENT_SECRET",
            None,
            "the GitHub App's OAuth client secret",
        ),
        var(
            "SDL_GATE_GITHUB_OAUTH_URL",
            some(DEFAULT_GITHUB_OAUTH_URL),
            "where GitHub's /login/oauth lives (GitHub Enterprise Server: https://HOST)",
        ),
        var(
            "SDL_GATE_GITLAB_CLIENT_ID",
            None,
            "a GitLab OAuth application's id (scope read_api): people sign in with GitLab",
        ),
        var(
            "SDL_GATE_GITLAB_CLIENT_SECRET",
            None,
            "the GitLab OAuth application's secret",
        ),
        var(
            "SDL_GATE_SESSION_KEY_PATH",
            some(DEFAULT_SESSION_KEY_PATH),
            "32-byte key that signs the pages' session cookies (generated if absent)",
        ),
    ]
}

/// What `sdl-gate action` reads: the runner's `GITHUB_*` context and the step's `INPUT_*`.
pub fn action() -> Vec<EnvVar> {
    vec![
        var(
            "GITHUB_EVENT_NAME",
            None,
            "required: pull_request, pull_request_target or workflow_dispatch",
        ),
        var(
            "GITHUB_EVENT_PATH",
            None,
            "required: the event payload file",
        ),
        var("GITHUB_REPOSITORY", None, "required: owner/name"),
        var(
            "GITHUB_API_URL",
            some(DEFAULT_GITHUB_API_URL),
            "REST API base",
        ),
        var(
            "GITHUB_WORKSPACE",
            some("."),
            "the checkout: report globs and repository-relative paths start here",
        ),
        var(
            "GITHUB_STEP_SUMMARY",
            None,
            "file the job summary is appended to",
        ),
        var(
            "GITHUB_OUTPUT",
            None,
            "file the step outputs are appended to",
        ),
        var(
            "RUNNER_TEMP",
            some("$GITHUB_WORKSPACE"),
            "folder of sdl-gate-result.json",
        ),
        var(
            "INPUT_POLICY",
            some(".github/sdl-gate.yml"),
            "policy path, read from the base branch",
        ),
        var("INPUT_SARIF", None, "newline-separated SARIF globs"),
        var(
            "INPUT_REPORTS",
            None,
            "newline-separated globs of other scanner reports and SBOMs",
        ),
        var(
            "INPUT_GITHUB-TOKEN",
            None,
            "API token (the workflow's github.token by default in action.yml)",
        ),
        var(
            "INPUT_COMMENT",
            some("on-failure"),
            "always, on-failure (or on_failure) or never",
        ),
        var(
            "INPUT_CHECK-RUN",
            some("false"),
            "also create an sdl-gate check run",
        ),
        var(
            "INPUT_FAIL-ON-PENDING",
            some("true"),
            "fail the step when the verdict is pending",
        ),
        var(
            "INPUT_PR-NUMBER",
            None,
            "the pull request, for workflow_dispatch",
        ),
    ]
}

/// What `sdl-gate gitlab-ci` reads: GitLab's predefined `CI_*` variables and the job's
/// `SDL_GATE_*` settings.
pub fn gitlab_ci() -> Vec<EnvVar> {
    vec![
        var(
            "CI_MERGE_REQUEST_IID",
            None,
            "required: the merge request (merge request pipelines only)",
        ),
        var(
            "CI_PIPELINE_SOURCE",
            None,
            "named in the error outside merge request pipelines",
        ),
        var(
            "GITLAB_CI",
            None,
            "tells a GitLab job from elsewhere, for that error",
        ),
        var(
            "CI_MERGE_REQUEST_PROJECT_PATH",
            some("$CI_PROJECT_PATH"),
            "the merge request's project",
        ),
        var("CI_PROJECT_PATH", None, "required when the above is unset"),
        var(
            "CI_MERGE_REQUEST_PROJECT_ID",
            some("$CI_PROJECT_ID"),
            "the merge request's project id",
        ),
        var("CI_PROJECT_ID", None, "project id"),
        var("CI_API_V4_URL", some("$CI_SERVER_URL/api/v4"), "API base"),
        var("CI_SERVER_URL", None, "GitLab base URL"),
        var("CI_COMMIT_SHA", None, "required: the commit under test"),
        var(
            "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA",
            None,
            "the head of the source branch",
        ),
        var(
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
            None,
            "required: the policy is read from this branch",
        ),
        var(
            "CI_MERGE_REQUEST_TARGET_BRANCH_SHA",
            None,
            "the target branch's commit",
        ),
        var("CI_MERGE_REQUEST_DIFF_BASE_SHA", None, "the merge base"),
        var(
            "CI_MERGE_REQUEST_EVENT_TYPE",
            None,
            "detached, merged_result or merge_train",
        ),
        var("CI_MERGE_REQUEST_LABELS", None, "comma-separated labels"),
        var(
            "CI_MERGE_REQUEST_DRAFT",
            None,
            "whether the merge request is a draft",
        ),
        var("CI_MERGE_REQUEST_TITLE", None, "title"),
        var(
            "CI_MERGE_REQUEST_DESCRIPTION",
            None,
            "description (searched for Threat-Model: lines)",
        ),
        var(
            "CI_MERGE_REQUEST_DESCRIPTION_IS_TRUNCATED",
            some("false"),
            "a truncated description is re-read through the API",
        ),
        var("GITLAB_USER_LOGIN", None, "who started the pipeline"),
        var(
            "CI_PROJECT_DIR",
            None,
            "the checkout: report globs and repository-relative paths start here",
        ),
        var("CI_JOB_URL", None, "linked from the status and note"),
        var(
            "SDL_GATE_REPORTS",
            some("GitLab's security report names"),
            "newline-separated report globs",
        ),
        var(
            "SDL_GATE_COMMENT",
            some("on-failure"),
            "always, on-failure (or on_failure) or never",
        ),
        var(
            "SDL_GATE_STATUS",
            some("true"),
            "publish the sdl-gate commit status",
        ),
        var(
            "SDL_GATE_FAIL_ON_PENDING",
            some("true"),
            "fail the job when the verdict is pending",
        ),
        var(
            "SDL_GATE_GITLAB_TOKEN_VARIABLE",
            some("SDL_GATE_GITLAB_TOKEN"),
            "name of the variable that holds the API token",
        ),
        var(
            "SDL_GATE_GITLAB_TOKEN",
            None,
            "API token (api scope); without one, git and the job's files are read",
        ),
        var(
            "SDL_GATE_OUTPUT_DIR",
            some("$CI_PROJECT_DIR"),
            "where the JUnit, code-quality and result files are written",
        ),
    ]
}

/// The `--help` epilogue for a table: a heading and one aligned line per variable.
pub fn help(vars: &[EnvVar]) -> String {
    let width = vars.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut text = String::from("Environment variables (default in brackets):\n");
    for v in vars {
        let default = v
            .default
            .as_deref()
            .map(|d| format!(" [{d}]"))
            .unwrap_or_default();
        text.push_str(&format!(
            "  {:width$}  {}{default}\n",
            v.name,
            v.meaning,
            width = width
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_names_each_variable_once() {
        for (name, table) in [
            ("serve", serve()),
            ("action", action()),
            ("gitlab-ci", gitlab_ci()),
        ] {
            let mut names: Vec<&str> = table.iter().map(|v| v.name).collect();
            let total = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), total, "{name} lists a variable twice");
        }
    }

    #[test]
    fn help_shows_the_default_beside_the_name() {
        let text = help(&serve());
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("SDL_GATE_LISTEN "))
            .expect("SDL_GATE_LISTEN is listed");
        assert!(line.ends_with(&format!("[{DEFAULT_LISTEN}]")), "{line}");
    }
}
