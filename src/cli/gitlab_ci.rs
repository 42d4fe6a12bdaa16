//! `sdl-gate gitlab-ci`: the GitLab CI job's entry point.
//!
//! Reads the merge request pipeline's `CI_*` variables and the job's `SDL_GATE_*` settings,
//! takes the policy from the **target** branch (through the API when a token is given,
//! otherwise from the target branch in the checkout, never from the MR's head), the changed
//! files (API, or `git diff` against `CI_MERGE_REQUEST_DIFF_BASE_SHA`), and the report
//! artifacts earlier stages left in the project directory; evaluates; writes the JUnit and
//! code quality reports, the JSON result and a Markdown summary; and, when a token allows,
//! the `sdl-gate` commit status and the sticky MR note. Exit 0 pass, 1 blocked, 2
//! misconfiguration — the same as the GitHub Action.
//!
//! What cannot be found out is named in the result, and a gate that cannot decide fails
//! closed: without a token no approval is read, so the security review gate cannot pass.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context as _;
use chrono::Utc;
use secrecy::SecretString;

use sdl_gate::forge::{
    ChangeHead, ChangeRef, ChangeState, Forge, ForgeError, Needs, Notice, PolicyFile,
    PublishOptions, Published,
};
use sdl_gate::gates::{Evaluation, evaluate};
use sdl_gate::gitlab_ci::{
    self as ci, CODE_QUALITY_FILE, CiContext, JUNIT_FILE, OUTPUT_FILES, RESULT_FILE, SUMMARY_FILE,
    Settings,
};
use sdl_gate::policy::{CommentMode, GlobList, GlobPattern, POLICY_PATHS, Policy, check_policy};
use sdl_gate::render;
use sdl_gate::reports::{MAX_REPORT_BYTES, parse_report};
use sdl_gate::snapshot::{FileContent, FileStatus, ForgeKind, Login, Sha, Snapshot, TeamSlug};

/// Folders never searched for reports.
const SKIP_DIRS: [&str; 4] = [".git", "node_modules", "target", ".venv"];

/// Files searched for reports at most.
const MAX_SCANNED: usize = 200_000;

/// The largest touched file read for the gates that look inside (threat models, SBOMs).
const MAX_CONTENT: usize = 16 * 1024 * 1024;

/// Runs `sdl-gate gitlab-ci` with the process environment.
pub fn run() -> anyhow::Result<ExitCode> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match runtime.block_on(run_with(&env)) {
        Ok(code) => Ok(ExitCode::from(code)),
        Err(Misconfigured(msg)) => {
            eprintln!("sdl-gate: {msg}");
            write_error_reports(&env, &msg);
            Ok(ExitCode::from(2))
        }
    }
}

/// A misconfiguration: the message names the variable; exit code 2.
struct Misconfigured(String);

impl<E: std::fmt::Display> From<E> for Misconfigured {
    fn from(e: E) -> Self {
        Misconfigured(e.to_string())
    }
}

/// The GitLab API client of this build.
///
/// COORDINATOR: when `sdl_gate::forge::gitlab` lands, replace this alias with
/// `sdl_gate::forge::gitlab::GitlabForge` and the body of [`connect_forge`] with the code in
/// its comment; nothing else changes (everything below is generic over `F: Forge`).
type GitlabClient = NoGitlabClient;

/// Connects to the GitLab API with the job's token. `Ok(None)` when the API cannot be used
/// and the job should evaluate from the checkout (said in `unknowns`); `Err` when the token
/// or URL is wrong (exit 2).
async fn connect_forge(
    ctx: &CiContext,
    settings: &Settings,
    token: SecretString,
    unknowns: &mut Vec<String>,
) -> Result<Option<GitlabClient>, Misconfigured> {
    let Some(url) = ctx.server_url.clone() else {
        return Err(Misconfigured(format!(
            "CI_API_V4_URL: not set, and {} is given; the GitLab URL is needed to use the token",
            settings.token_variable
        )));
    };
    // COORDINATOR: replace from here to the end of the function with:
    //
    //     let config = sdl_gate::forge::gitlab::GitlabConfig {
    //         url,
    //         token,
    //         timeout: std::time::Duration::from_secs(30),
    //     };
    //     match sdl_gate::forge::gitlab::GitlabForge::connect(config).await {
    //         Ok(forge) => Ok(Some(forge)),
    //         Err(e) => connect_failed(e, &settings.token_variable, unknowns),
    //     }
    let _ = (url, token);
    unknowns.push(format!(
        "{} is set, but this build of sdl-gate has no GitLab API client yet: evaluated from the checkout, and no note or status was written",
        settings.token_variable
    ));
    Ok(None)
}

/// What a failed connection means: a refused token or a bad URL is a misconfiguration; a
/// network or server failure leaves the job to evaluate from the checkout.
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "used once the GitLab client is built in; see connect_forge"
    )
)]
fn connect_failed(
    e: ForgeError,
    token_variable: &str,
    unknowns: &mut Vec<String>,
) -> Result<Option<GitlabClient>, Misconfigured> {
    match e {
        ForgeError::Unauthorized { .. } | ForgeError::Forbidden { .. } => {
            Err(Misconfigured(format!(
                "{token_variable}: GitLab refused the token ({e}); it needs the `api` scope (or `read_api` with SDL_GATE_STATUS=false and SDL_GATE_COMMENT=never)"
            )))
        }
        ForgeError::Config { .. } | ForgeError::NotFound { .. } => Err(Misconfigured(format!(
            "CI_API_V4_URL: cannot use the GitLab API ({e})"
        ))),
        other => {
            unknowns.push(format!(
                "could not reach the GitLab API ({other}): evaluated from the checkout"
            ));
            Ok(None)
        }
    }
}

/// The stand-in for the GitLab client until it is built in: it cannot be constructed, so
/// every method is unreachable.
enum NoGitlabClient {}

impl Forge for NoGitlabClient {
    async fn head(&self, _: &ChangeRef) -> Result<ChangeHead, ForgeError> {
        match *self {}
    }
    async fn policy(&self, _: &ChangeRef, _: &str) -> Result<Option<PolicyFile>, ForgeError> {
        match *self {}
    }
    async fn snapshot(
        &self,
        _: &ChangeRef,
        _: &ChangeHead,
        _: &Needs,
    ) -> Result<Snapshot, ForgeError> {
        match *self {}
    }
    async fn publish(
        &self,
        _: &ChangeRef,
        _: &Evaluation,
        _: &PublishOptions,
    ) -> Result<Published, ForgeError> {
        match *self {}
    }
    async fn publish_notice(
        &self,
        _: &ChangeRef,
        _: &Sha,
        _: &Notice,
        _: &PublishOptions,
    ) -> Result<Published, ForgeError> {
        match *self {}
    }
    async fn team_member(
        &self,
        _: &ChangeRef,
        _: &TeamSlug,
        _: &Login,
    ) -> Result<bool, ForgeError> {
        match *self {}
    }
}

async fn run_with(env: &BTreeMap<String, String>) -> Result<u8, Misconfigured> {
    let ctx = CiContext::from_env(env)?;
    let settings = Settings::from_env(env)?;
    let mut unknowns = Vec::new();
    let forge = match settings.token(env) {
        Some(t) => {
            connect_forge(
                &ctx,
                &settings,
                SecretString::from(t.to_string()),
                &mut unknowns,
            )
            .await?
        }
        None => {
            unknowns.push(format!(
                "no GitLab token ({} is not set): the policy, changes and MR details were read from the checkout and CI variables, approvals and pipeline checks were not read, and no note or status was written",
                settings.token_variable
            ));
            None
        }
    };
    job(&ctx, &settings, forge.as_ref(), unknowns).await
}

/// Runs `git` in the checkout, without prompts; the checkout is the runner's, so its
/// ownership is trusted for this process.
struct Git {
    dir: PathBuf,
}

impl Git {
    fn run(&self, args: &[&str]) -> Result<Vec<u8>, String> {
        let safe = format!("safe.directory={}", self.dir.display());
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["-c", &safe, "-c", "core.quotepath=off"])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(format!(
                "`git {}` failed: {}",
                args.join(" "),
                err.trim().chars().take(300).collect::<String>()
            ))
        }
    }

    fn has_commit(&self, rev: &str) -> bool {
        self.run(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .is_ok()
    }

    /// Makes `sha` available, fetching it from `origin` when the clone is too shallow.
    fn ensure_commit(&self, sha: &str) -> Result<(), String> {
        if self.has_commit(sha) {
            return Ok(());
        }
        self.run(&["fetch", "--quiet", "--no-tags", "--depth=1", "origin", sha])?;
        if self.has_commit(sha) {
            Ok(())
        } else {
            Err(format!("commit {sha} is not in the checkout"))
        }
    }
}

/// The policy from the target branch in the checkout: `origin/<target>` (fetched when the
/// MR pipeline's clone lacks it), else the target-branch commit the MR is compared with.
fn policy_from_git(
    git: &Git,
    ctx: &CiContext,
    base_ref: &str,
) -> Result<(PolicyFile, String), String> {
    let remote = format!("origin/{base_ref}");
    let mut tried = Vec::new();
    let mut revs: Vec<(String, String)> = Vec::new();
    if !git.has_commit(&remote) {
        let spec = format!("+refs/heads/{base_ref}:refs/remotes/origin/{base_ref}");
        if let Err(e) = git.run(&[
            "fetch",
            "--quiet",
            "--no-tags",
            "--depth=1",
            "origin",
            &spec,
        ]) {
            tried.push(e);
        }
    }
    if git.has_commit(&remote) {
        revs.push((remote.clone(), format!("`{remote}` in the checkout")));
    } else {
        tried.push(format!("`{remote}` is not in the checkout"));
        for sha in [&ctx.target_branch_sha, &ctx.diff_base_sha]
            .into_iter()
            .flatten()
        {
            match git.ensure_commit(sha) {
                Ok(()) => revs.push((
                    sha.clone(),
                    format!(
                        "the target-branch commit {} in the checkout",
                        &sha[..12.min(sha.len())]
                    ),
                )),
                Err(e) => tried.push(e),
            }
        }
    }
    let Some((rev, how)) = revs.into_iter().next() else {
        return Err(format!(
            "cannot read the target branch `{base_ref}` from the checkout ({}); give the job a token ({}) or fetch the target branch",
            tried.join("; "),
            ci::TOKEN_VARIABLE
        ));
    };
    for path in POLICY_PATHS {
        if let Ok(bytes) = git.run(&["show", &format!("{rev}:{path}")]) {
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("{path} on `{base_ref}` is not UTF-8 text"))?;
            return Ok((
                PolicyFile {
                    path: path.to_string(),
                    git_ref: base_ref.to_string(),
                    text,
                },
                how,
            ));
        }
    }
    Err(format!(
        "no policy on the target branch `{base_ref}` (read {how}); commit one at one of {} on `{base_ref}` (see config/sdl-gate.example.yml)",
        POLICY_PATHS.join(", ")
    ))
}

/// The MR as the CI variables describe it, for when the API cannot be asked.
fn head_from_ci(ctx: &CiContext, unknowns: &mut Vec<String>) -> ChangeHead {
    let author = match &ctx.user_login {
        Some(login) => {
            unknowns.push(format!(
                "the author is taken from GITLAB_USER_LOGIN (`{login}`, who started the pipeline), which may not be who opened the merge request"
            ));
            login.clone()
        }
        None => {
            unknowns.push("GITLAB_USER_LOGIN is not set: the author is unknown".to_string());
            "unknown-author".to_string()
        }
    };
    match (&ctx.description, ctx.description_truncated) {
        (None, _) => unknowns.push(
            "CI_MERGE_REQUEST_DESCRIPTION is not set (GitLab before 16.7, or an empty description): no Threat-Model reference was read from it".to_string(),
        ),
        (Some(_), true) => unknowns.push(
            "CI_MERGE_REQUEST_DESCRIPTION is truncated: a Threat-Model reference past its end was not read".to_string(),
        ),
        _ => {}
    }
    ChangeHead {
        title: ctx.title.clone(),
        author: Login::new(author),
        body: ctx.description.clone().unwrap_or_default(),
        labels: ctx.labels.clone(),
        // Older GitLab versions have no CI_MERGE_REQUEST_DRAFT: the title prefix says it.
        draft: ctx.draft.unwrap_or_else(|| {
            let t = ctx.title.trim_start().to_ascii_lowercase();
            ["draft:", "[draft]", "(draft)"]
                .iter()
                .any(|p| t.starts_with(p))
        }),
        head_sha: Sha::new(ctx.head_sha.clone()),
        base_ref: ctx.target_branch.clone(),
        state: ChangeState::Open,
        changed_files: None,
        comments: None,
    }
}

/// The snapshot from the checkout: changed files and lines from `git diff` against the diff
/// base, touched threat models and SBOMs from the head commit; no reviews, checks or teams.
fn snapshot_from_git(
    git: &Git,
    ctx: &CiContext,
    head: &ChangeHead,
    policy: &Policy,
    needs: &Needs,
) -> Snapshot {
    let mut s = Snapshot::new(
        ForgeKind::Gitlab,
        &ctx.project_path,
        ctx.mr_iid,
        head.author.as_str(),
        head.head_sha.as_str(),
    );
    s.title = head.title.clone();
    s.body = head.body.clone();
    s.labels = head.labels.clone();
    s.draft = head.draft;
    s.base_ref = head.base_ref.clone();
    let head_sha = head.head_sha.as_str().to_string();
    let files = match &ctx.diff_base_sha {
        None => Err("CI_MERGE_REQUEST_DIFF_BASE_SHA is not set".to_string()),
        Some(base) => git
            .ensure_commit(base)
            .and_then(|()| git.ensure_commit(&head_sha))
            .and_then(|()| {
                git.run(&[
                    "diff",
                    "--name-status",
                    "-z",
                    "-M",
                    "--no-ext-diff",
                    base,
                    &head_sha,
                ])
            })
            .and_then(|out| ci::parse_name_status(&out).map_err(|e| e.to_string()))
            .map(|mut files| {
                let patch = git.run(&[
                    "diff",
                    "-U0",
                    "-M",
                    "--no-color",
                    "--no-ext-diff",
                    "--no-textconv",
                    base,
                    &head_sha,
                ]);
                if let Ok(p) = patch {
                    ci::fill_changed_lines(&mut files, &String::from_utf8_lossy(&p));
                }
                files
            }),
    };
    match files {
        Ok(files) => s.files = files,
        Err(e) => {
            s.files_known = false;
            s.unknowns.push(format!(
                "could not list the changed files ({e}): every gate with a path trigger applies"
            ));
        }
    }
    let interesting = GlobList::new(&needs.contents);
    s.contents = s
        .files
        .iter()
        .filter(|f| f.status != FileStatus::Removed && interesting.is_match(&f.path))
        .map(|f| FileContent {
            path: f.path.clone(),
            bytes: git
                .run(&["show", &format!("{head_sha}:{}", f.path)])
                .ok()
                .filter(|b| b.len() <= MAX_CONTENT),
        })
        .collect();
    let g = &policy.gates;
    if g.security_review.common.enabled {
        s.unknowns.push(
            "approvals were not read (no GitLab API): the security review gate cannot pass here"
                .to_string(),
        );
    }
    if !needs.checks.is_empty() {
        s.unknowns.push(format!(
            "pipeline jobs were not read (no GitLab API): the required checks {} count as not reported",
            needs.checks.join(", ")
        ));
    }
    s
}

/// Walks `root` for files matching `globs` (relative paths), skipping VCS and build folders
/// and the files this job writes.
fn find_files(
    root: &Path,
    globs: &[String],
    skip: &[PathBuf],
) -> Result<Vec<PathBuf>, Misconfigured> {
    let patterns = globs
        .iter()
        .map(|g| GlobPattern::new(g.trim_start_matches("./")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Misconfigured(format!("SDL_GATE_REPORTS: {e}")))?;
    let list = GlobList::new(&patterns);
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_SCANNED {
                out.sort();
                return Ok(out);
            }
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !SKIP_DIRS.iter().any(|s| entry.file_name() == *s) {
                    stack.push(path);
                }
            } else if kind.is_file() && !skip.contains(&path) {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                if list.is_match(&rel) {
                    out.push(path);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Files committed in the checkout and not changed since: a report among them was not
/// produced by this pipeline (an MR could commit a clean one). `None` when git cannot say.
fn committed_files(git: &Git) -> Option<BTreeSet<String>> {
    let split = |b: Vec<u8>| -> BTreeSet<String> {
        b.split(|c| *c == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    };
    let cached = split(git.run(&["ls-files", "-z", "--cached"]).ok()?);
    let modified = split(git.run(&["ls-files", "-z", "--modified"]).ok()?);
    Some(cached.difference(&modified).cloned().collect())
}

/// Reads the report artifacts in the project directory into the snapshot.
fn read_reports(
    git: &Git,
    workdir: &Path,
    out_dir: &Path,
    settings: &Settings,
    snapshot: &mut Snapshot,
) -> Result<(), Misconfigured> {
    let skip: Vec<PathBuf> = OUTPUT_FILES.iter().map(|f| out_dir.join(f)).collect();
    let found = find_files(workdir, &settings.reports, &skip)?;
    let committed = committed_files(git);
    if committed.is_none() {
        snapshot.unknowns.push(
            "git could not list the committed files: reports in the project directory were read without checking that this pipeline produced them".to_string(),
        );
    }
    let mut local = Vec::new();
    let mut ignored = Vec::new();
    for path in &found {
        let rel = path
            .strip_prefix(workdir)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        if committed.as_ref().is_some_and(|c| c.contains(&rel)) {
            ignored.push(rel);
            continue;
        }
        let read = fs::metadata(path)
            .map_err(|e| e.to_string())
            .and_then(|m| {
                if m.len() > MAX_REPORT_BYTES as u64 {
                    Err(format!(
                        "{} bytes; the limit is {MAX_REPORT_BYTES}",
                        m.len()
                    ))
                } else {
                    fs::read(path).map_err(|e| e.to_string())
                }
            })
            .and_then(|b| parse_report(&rel, &b).map_err(|e| e.to_string()));
        match read {
            Ok(r) => local.push(r),
            Err(e) => snapshot.report_errors.push(format!("{rel}: {e}")),
        }
    }
    if !ignored.is_empty() {
        let shown: Vec<String> = ignored.iter().take(5).map(|r| format!("`{r}`")).collect();
        let more = if ignored.len() > 5 {
            format!(" and {} more", ignored.len() - 5)
        } else {
            String::new()
        };
        snapshot.unknowns.push(format!(
            "ignored {}{more}: committed in the repository, not produced by this pipeline",
            shown.join(", ")
        ));
    }
    if found.len() == ignored.len() {
        snapshot.unknowns.push(format!(
            "no report artifact found in the project directory ({}{})",
            settings.reports.join(", "),
            if settings.reports_explicit {
                ", from SDL_GATE_REPORTS"
            } else {
                "; set SDL_GATE_REPORTS, and give the scanner jobs `artifacts: paths:` so later jobs receive their reports"
            }
        ));
    }
    let from_forge = std::mem::take(&mut snapshot.reports);
    snapshot.reports = ci::merge_reports(from_forge, local);
    Ok(())
}

/// One evaluation of the pipeline's merge request: head → target-branch policy → snapshot
/// plus local reports → evaluate → publish (when `forge` is given) → reports and exit code.
async fn job<F: Forge>(
    ctx: &CiContext,
    settings: &Settings,
    forge: Option<&F>,
    mut unknowns: Vec<String>,
) -> Result<u8, Misconfigured> {
    let workdir = PathBuf::from(ctx.project_dir.as_deref().unwrap_or("."));
    let out_dir = settings
        .output_dir
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(|| workdir.clone());
    let git = Git {
        dir: workdir.canonicalize().unwrap_or_else(|_| workdir.clone()),
    };
    let change = ChangeRef::new(ctx.project_path.clone(), ctx.mr_iid, None);

    // The merge request, through the API when possible.
    let api_head = match forge {
        Some(f) => match f.head(&change).await {
            Ok(h) => Some(h),
            Err(e) => {
                unknowns.push(format!(
                    "could not read merge request !{} through the API ({e}); used the CI variables",
                    ctx.mr_iid
                ));
                None
            }
        },
        None => None,
    };
    let from_api = api_head.is_some();
    let mut head = match api_head {
        Some(h) => h,
        None => head_from_ci(ctx, &mut unknowns),
    };
    if head.head_sha.as_str() != ctx.head_sha {
        unknowns.push(format!(
            "the merge request's head moved on to {} after this pipeline started; this evaluation is for the pipeline's commit {}",
            head.head_sha.short(),
            &ctx.head_sha[..7]
        ));
        head.head_sha = Sha::new(ctx.head_sha.clone());
    }

    // The policy: from the target branch, never from the MR's head.
    let api_policy = match forge {
        Some(f) => match f.policy(&change, &head.base_ref).await {
            Ok(Some(p)) => Some(p),
            Ok(None) => {
                return Err(Misconfigured(format!(
                    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME: no policy on the target branch `{}` (looked at {}); commit one there (see config/sdl-gate.example.yml)",
                    head.base_ref,
                    POLICY_PATHS.join(", ")
                )));
            }
            Err(e) => {
                unknowns.push(format!(
                    "could not read the policy through the API ({e}); read it from the target branch in the checkout"
                ));
                None
            }
        },
        None => None,
    };
    let file = match api_policy {
        Some(p) => {
            println!(
                "sdl-gate: policy {} from the target branch `{}` (GitLab API)",
                p.path, head.base_ref
            );
            p
        }
        None => {
            let (p, how) = policy_from_git(&git, ctx, &head.base_ref)
                .map_err(|e| Misconfigured(format!("CI_MERGE_REQUEST_TARGET_BRANCH_NAME: {e}")))?;
            println!(
                "sdl-gate: policy {} from the target branch `{}`, read from {how} (no API)",
                p.path, head.base_ref
            );
            p
        }
    };
    let checked =
        check_policy(&file.path, &file.text, Some(Utc::now().date_naive())).map_err(|e| {
            Misconfigured(format!(
                "the policy {} on the target branch `{}` does not load:\n{e}",
                file.path, head.base_ref
            ))
        })?;
    for w in &checked.warnings {
        println!("sdl-gate: policy warning: {w}");
    }
    let policy = checked.policy;

    // The change as the gates see it.
    let needs = Needs::from_policy(&policy);
    let api_snapshot = match forge {
        Some(f) if from_api => match f.snapshot(&change, &head, &needs).await {
            Ok(s) => Some(s),
            Err(e) => {
                unknowns.push(format!(
                    "could not read files, approvals and jobs through the API ({e}); used the checkout"
                ));
                None
            }
        },
        _ => None,
    };
    let mut snapshot = match api_snapshot {
        Some(s) => s,
        None => snapshot_from_git(&git, ctx, &head, &policy, &needs),
    };
    let mut all_unknowns = unknowns;
    all_unknowns.append(&mut snapshot.unknowns);
    snapshot.unknowns = all_unknowns;
    read_reports(&git, &workdir, &out_dir, settings, &mut snapshot)?;

    let eval = evaluate(&policy, &snapshot, Utc::now());

    // Publish when a token allows; a refusal is reported, not fatal.
    let mut notes = Vec::new();
    let comment = settings.comment.unwrap_or(policy.report.comment);
    if let Some(f) = forge
        && (settings.status || comment != CommentMode::Never)
    {
        let opts = PublishOptions {
            comment,
            enforce_on_drafts: policy.report.enforce_on_drafts,
            details_url: ctx.job_url.clone(),
            skip_check_run: !settings.status,
        };
        match f.publish(&change, &eval, &opts).await {
            Ok(p) => println!(
                "sdl-gate: published the commit status{} and the note ({:?})",
                p.check_id.map(|id| format!(" {id}")).unwrap_or_default(),
                p.comment
            ),
            Err(e) => notes.push(format!(
                "could not write the commit status or MR note ({e}); the token needs the `api` scope and at least the Developer role"
            )),
        }
    }

    write_reports(&out_dir, &eval, settings, &notes)?;
    print_result(&eval, &notes);
    Ok(ci::exit_code(eval.verdict, settings.fail_on_pending))
}

fn write(path: &Path, text: &str) -> Result<(), Misconfigured> {
    fs::write(path, text).map_err(|e| {
        Misconfigured(format!(
            "SDL_GATE_OUTPUT_DIR: cannot write {}: {e}",
            path.display()
        ))
    })
}

fn write_reports(
    out_dir: &Path,
    eval: &Evaluation,
    settings: &Settings,
    notes: &[String],
) -> Result<(), Misconfigured> {
    fs::create_dir_all(out_dir).map_err(|e| {
        Misconfigured(format!(
            "SDL_GATE_OUTPUT_DIR: cannot create {}: {e}",
            out_dir.display()
        ))
    })?;
    write(
        &out_dir.join(JUNIT_FILE),
        &ci::junit(eval, settings.fail_on_pending),
    )?;
    write(
        &out_dir.join(CODE_QUALITY_FILE),
        &serde_json::to_string_pretty(&ci::code_quality(eval))?,
    )?;
    write(
        &out_dir.join(RESULT_FILE),
        &serde_json::to_string_pretty(&render::json(eval))?,
    )?;
    let mut summary = render::job_summary(eval);
    for n in notes {
        summary.push_str(&format!("\n> ⚠️ {}\n", render::escape::line(n, 600)));
    }
    write(&out_dir.join(SUMMARY_FILE), &summary)
}

fn print_result(eval: &Evaluation, notes: &[String]) {
    for g in &eval.gates {
        println!(
            "sdl-gate: {:<16} {:<14} {}",
            g.gate.as_str(),
            g.verdict.as_str(),
            g.explanation.replace(['\n', '\r'], " ")
        );
    }
    for u in &eval.unknowns {
        println!("sdl-gate: not checked: {}", u.replace(['\n', '\r'], " "));
    }
    for n in notes {
        println!("sdl-gate: warning: {}", n.replace(['\n', '\r'], " "));
    }
    println!(
        "sdl-gate: {} — {}",
        eval.verdict.as_str(),
        render::title(eval)
    );
}

/// On a misconfiguration, still leave a JUnit report saying why (the MR widget shows it) and
/// an empty code quality report, where the job would have written them.
fn write_error_reports(env: &BTreeMap<String, String>, msg: &str) {
    let pick = |k: &str| env.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
    let Some(dir) = pick("SDL_GATE_OUTPUT_DIR").or_else(|| pick("CI_PROJECT_DIR")) else {
        return;
    };
    let dir = Path::new(dir);
    if fs::create_dir_all(dir).is_err() {
        return;
    }
    let _ = fs::write(dir.join(JUNIT_FILE), ci::junit_error(msg));
    let _ = fs::write(dir.join(CODE_QUALITY_FILE), "[]\n");
}

#[cfg(test)]
mod tests {
    //! The forge-generic path with a recording stand-in for the GitLab client (until the
    //! real client and the fake GitLab over loopback land, which should replace it): what is
    //! read through the API, what is published, and that a refused write does not change the
    //! verdict.

    use std::sync::Mutex;

    use sdl_gate::forge::CommentAction;
    use sdl_gate::gates::OverallVerdict;
    use sdl_gate::snapshot::ChangedFile;

    use super::*;

    const HEAD: &str = "1111111111111111111111111111111111111111";
    const MOVED: &str = "2222222222222222222222222222222222222222";
    const POLICY: &str = "version: 1\nsecurity_paths: [\"src/auth/**\"]\ngates:\n  security_review: { reviewers: { users: [\"carol\"] } }\n  sast: { threshold: high }\n";
    const SARIF_CLEAN: &str =
        r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Semgrep"}},"results":[]}]}"#;

    struct Recording {
        api_head: String,
        policy: Option<PolicyFile>,
        files: Vec<&'static str>,
        publish_fails: bool,
        published: Mutex<Vec<(ChangeRef, String, OverallVerdict, PublishOptions)>>,
    }

    impl Recording {
        fn new(api_head: &str) -> Self {
            Recording {
                api_head: api_head.to_string(),
                policy: Some(PolicyFile {
                    path: ".gitlab/sdl-gate.yml".into(),
                    git_ref: "main".into(),
                    text: POLICY.into(),
                }),
                files: vec!["docs/guide.md"],
                publish_fails: false,
                published: Mutex::new(Vec::new()),
            }
        }
    }

    impl Forge for Recording {
        async fn head(&self, _: &ChangeRef) -> Result<ChangeHead, ForgeError> {
            Ok(ChangeHead {
                title: "From the API".into(),
                author: Login::new("bob"),
                body: String::new(),
                labels: Vec::new(),
                draft: false,
                head_sha: Sha::new(self.api_head.clone()),
                base_ref: "main".into(),
                state: ChangeState::Open,
                changed_files: Some(self.files.len() as u64),
                comments: Some(0),
            })
        }
        async fn policy(&self, _: &ChangeRef, _: &str) -> Result<Option<PolicyFile>, ForgeError> {
            Ok(self.policy.clone())
        }
        async fn snapshot(
            &self,
            change: &ChangeRef,
            head: &ChangeHead,
            _: &Needs,
        ) -> Result<Snapshot, ForgeError> {
            let mut s = Snapshot::new(
                ForgeKind::Gitlab,
                &change.repository,
                change.number,
                head.author.as_str(),
                head.head_sha.as_str(),
            );
            s.files = self
                .files
                .iter()
                .map(|f| ChangedFile::modified(*f))
                .collect();
            Ok(s)
        }
        async fn publish(
            &self,
            change: &ChangeRef,
            eval: &Evaluation,
            opts: &PublishOptions,
        ) -> Result<Published, ForgeError> {
            if self.publish_fails {
                return Err(ForgeError::Forbidden {
                    what: "POST /projects/acme%2Fplc/statuses/1111111: 403".into(),
                });
            }
            if let Ok(mut p) = self.published.lock() {
                p.push((
                    change.clone(),
                    eval.head_sha.clone(),
                    eval.verdict,
                    opts.clone(),
                ));
            }
            Ok(Published {
                check_id: Some(1),
                check_created: true,
                conclusion: sdl_gate::forge::Conclusion::of(eval, opts),
                comment_id: None,
                comment: CommentAction::Skipped,
            })
        }
        async fn publish_notice(
            &self,
            _: &ChangeRef,
            _: &Sha,
            _: &Notice,
            _: &PublishOptions,
        ) -> Result<Published, ForgeError> {
            Err(ForgeError::Config {
                what: "not used by the CI job".into(),
            })
        }
        async fn team_member(
            &self,
            _: &ChangeRef,
            _: &TeamSlug,
            _: &Login,
        ) -> Result<bool, ForgeError> {
            Ok(false)
        }
    }

    fn setup(dir: &Path, extra: &[(&str, &str)]) -> (CiContext, Settings) {
        let mut env: BTreeMap<String, String> = [
            ("CI_MERGE_REQUEST_IID", "7"),
            ("CI_PROJECT_PATH", "acme/plc"),
            ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
            ("CI_COMMIT_SHA", HEAD),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
            ("CI_JOB_URL", "https://gitlab.example.com/acme/plc/-/jobs/9"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.insert("CI_PROJECT_DIR".into(), dir.display().to_string());
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        let ctx = CiContext::from_env(&env).unwrap_or_else(|e| panic!("{e}"));
        let settings = Settings::from_env(&env).unwrap_or_else(|e| panic!("{e}"));
        (ctx, settings)
    }

    fn tempdir_with_report() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        fs::write(dir.path().join("semgrep.sarif"), SARIF_CLEAN)
            .unwrap_or_else(|e| panic!("write: {e}"));
        dir
    }

    #[tokio::test]
    async fn api_policy_and_snapshot_are_used_and_the_status_is_published_for_the_pipeline_commit()
    {
        let dir = tempdir_with_report();
        let (ctx, settings) = setup(dir.path(), &[]);
        let forge = Recording::new(MOVED);
        let code = match job(&ctx, &settings, Some(&forge), Vec::new()).await {
            Ok(c) => c,
            Err(Misconfigured(m)) => panic!("{m}"),
        };
        assert_eq!(code, 0);
        let published = forge
            .published
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        assert_eq!(published.len(), 1);
        let (change, sha, verdict, opts) = &published[0];
        assert_eq!(change.repository, "acme/plc");
        assert_eq!(change.number, 7);
        assert_eq!(
            sha, HEAD,
            "the status goes on the commit the pipeline tested"
        );
        assert_eq!(*verdict, OverallVerdict::Pass);
        assert!(!opts.skip_check_run);
        assert_eq!(opts.comment, CommentMode::OnFailure, "the policy's default");
        assert_eq!(
            opts.details_url.as_deref(),
            Some("https://gitlab.example.com/acme/plc/-/jobs/9")
        );
        let result = fs::read_to_string(dir.path().join(RESULT_FILE)).unwrap_or_default();
        assert!(result.contains("moved on to 2222222"), "{result}");
    }

    #[tokio::test]
    async fn settings_decide_what_is_published_and_a_refused_write_keeps_the_verdict() {
        let dir = tempdir_with_report();
        let (ctx, settings) = setup(
            dir.path(),
            &[("SDL_GATE_STATUS", "false"), ("SDL_GATE_COMMENT", "never")],
        );
        let forge = Recording::new(HEAD);
        let code = match job(&ctx, &settings, Some(&forge), Vec::new()).await {
            Ok(c) => c,
            Err(Misconfigured(m)) => panic!("{m}"),
        };
        assert_eq!(code, 0);
        assert!(
            forge
                .published
                .lock()
                .map(|p| p.is_empty())
                .unwrap_or(false),
            "nothing asked to be published"
        );

        let (ctx, settings) = setup(dir.path(), &[("SDL_GATE_COMMENT", "always")]);
        let mut forge = Recording::new(HEAD);
        forge.publish_fails = true;
        forge.files = vec!["src/auth/login.rs"];
        let code = match job(&ctx, &settings, Some(&forge), Vec::new()).await {
            Ok(c) => c,
            Err(Misconfigured(m)) => panic!("{m}"),
        };
        assert_eq!(
            code, 1,
            "the threat model gate fails whether or not the status is written"
        );
        let summary = fs::read_to_string(dir.path().join(SUMMARY_FILE)).unwrap_or_default();
        assert!(
            summary.contains("could not write the commit status or MR note"),
            "{summary}"
        );
    }

    #[tokio::test]
    async fn no_policy_on_the_target_branch_is_a_misconfiguration() {
        let dir = tempdir_with_report();
        let (ctx, settings) = setup(dir.path(), &[]);
        let mut forge = Recording::new(HEAD);
        forge.policy = None;
        match job(&ctx, &settings, Some(&forge), Vec::new()).await {
            Ok(c) => panic!("exit {c} without a policy"),
            Err(Misconfigured(m)) => {
                assert!(m.starts_with("CI_MERGE_REQUEST_TARGET_BRANCH_NAME:"), "{m}")
            }
        }
    }

    #[test]
    fn refused_token_is_a_misconfiguration_and_outage_falls_back() {
        let mut unknowns = Vec::new();
        let e = ForgeError::Unauthorized {
            what: "GET /user".into(),
        };
        match connect_failed(e, "SDL_GATE_GITLAB_TOKEN", &mut unknowns) {
            Err(Misconfigured(m)) => assert!(m.starts_with("SDL_GATE_GITLAB_TOKEN:"), "{m}"),
            Ok(_) => panic!("a refused token must not be ignored"),
        }
        let e = ForgeError::Transient {
            what: "connection refused".into(),
        };
        match connect_failed(e, "SDL_GATE_GITLAB_TOKEN", &mut unknowns) {
            Ok(None) => assert!(unknowns[0].contains("connection refused"), "{unknowns:?}"),
            _ => panic!("an outage falls back to the checkout"),
        }
    }
}
