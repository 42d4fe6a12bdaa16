//! What the checkout says when the API cannot be asked (or in addition to it): `git` runs for
//! the target branch's policy, the changed files and lines against the diff base, and the
//! touched threat models at the head commit; and the report artifacts earlier jobs left in
//! the project directory, minus files committed in the repository.

use sdl_gate::forge_name::ForgeName;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sdl_gate::forge::{ChangeHead, ChangeState, Needs, PolicyFile};
use sdl_gate::gitlab_ci::{self as ci, CiContext, OUTPUT_FILES, Settings};
use sdl_gate::policy::{GlobList, POLICY_PATHS, Policy};
use sdl_gate::reports::{MAX_REPORT_BYTES, parse_report};
use sdl_gate::snapshot::{FileContent, FileStatus, Login, Sha, Snapshot};

use super::Misconfigured;
use crate::cli::workspace::find_files;

/// The largest touched file read for the gates that look inside (threat models, SBOMs).
const MAX_CONTENT: usize = 16 * 1024 * 1024;

/// Runs `git` in the checkout, without prompts; the checkout is the runner's, so its
/// ownership is trusted for this process.
pub(super) struct Git {
    dir: PathBuf,
}

impl Git {
    /// Git in `dir` (the project directory).
    pub(super) fn new(dir: PathBuf) -> Git {
        Git { dir }
    }
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

    /// `git fetch origin <what>`, shallow (depth 1) only when the clone already is: a full
    /// clone the runner reuses for later jobs must not become shallow.
    fn fetch(&self, what: &str) -> Result<(), String> {
        let shallow = self
            .run(&["rev-parse", "--is-shallow-repository"])
            .map(|o| String::from_utf8_lossy(&o).trim() == "true")
            .unwrap_or(true);
        let mut args = vec!["fetch", "--quiet", "--no-tags"];
        if shallow {
            args.push("--depth=1");
        }
        args.extend(["origin", what]);
        self.run(&args).map(|_| ())
    }

    /// Makes `sha` available, fetching it from `origin` when the clone is too shallow.
    fn ensure_commit(&self, sha: &str) -> Result<(), String> {
        if self.has_commit(sha) {
            return Ok(());
        }
        self.fetch(sha)?;
        if self.has_commit(sha) {
            Ok(())
        } else {
            Err(format!("commit {sha} is not in the checkout"))
        }
    }
}

/// The policy from the target branch in the checkout: `origin/<target>`, fetched now (a
/// runner that reuses its build directory may hold an old copy), else the copy already there
/// (with a warning), else the target-branch commit the MR is compared with. Returns the file,
/// where it was read from, and a warning when that may not be the branch's current state.
pub(super) fn policy_from_git(
    git: &Git,
    ctx: &CiContext,
    base_ref: &str,
) -> Result<(PolicyFile, String, Option<String>), String> {
    let remote = format!("origin/{base_ref}");
    let mut tried = Vec::new();
    let mut revs: Vec<(String, String)> = Vec::new();
    let mut warning = None;
    let spec = format!("+refs/heads/{base_ref}:refs/remotes/origin/{base_ref}");
    let fetched = git.fetch(&spec);
    if git.has_commit(&remote) {
        let how = match &fetched {
            Ok(()) => format!("`{remote}`, fetched now"),
            Err(e) => {
                warning = Some(format!(
                    "could not fetch the target branch ({e}); the policy was read from the copy of `{remote}` already in the checkout, which may be older"
                ));
                format!("`{remote}` as found in the checkout")
            }
        };
        revs.push((remote.clone(), how));
    } else {
        if let Err(e) = fetched {
            tried.push(e);
        }
        tried.push(format!("`{remote}` is not in the checkout"));
        for sha in [&ctx.target_branch_sha, &ctx.diff_base_sha]
            .into_iter()
            .flatten()
        {
            match git.ensure_commit(sha) {
                Ok(()) => {
                    let short = &sha[..12.min(sha.len())];
                    warning = Some(format!(
                        "the policy was read from the target-branch commit {short}, which may be older than `{base_ref}`"
                    ));
                    revs.push((
                        sha.clone(),
                        format!("the target-branch commit {short} in the checkout"),
                    ));
                }
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
                warning,
            ));
        }
    }
    Err(format!(
        "no policy on the target branch `{base_ref}` (read {how}); commit one at one of {} on `{base_ref}` (see config/sdl-gate.example.yml)",
        POLICY_PATHS.join(", ")
    ))
}

/// The MR as the CI variables describe it, for when the API cannot be asked.
pub(super) fn head_from_ci(ctx: &CiContext, unknowns: &mut Vec<String>) -> ChangeHead {
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
        merge_commit_sha: None,
        head_branch: None,
    }
}

/// The snapshot from the checkout: changed files and lines from `git diff` against the diff
/// base, touched threat models and SBOMs from the head commit; no reviews, checks or teams.
pub(super) fn snapshot_from_git(
    git: &Git,
    ctx: &CiContext,
    head: &ChangeHead,
    policy: &Policy,
    needs: &Needs,
) -> Snapshot {
    let mut s = Snapshot::new(
        Some(ForgeName::GitLab),
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

/// Files committed in the checkout and not changed since: a report among them was not
/// produced by this pipeline (an MR could commit a clean one). `None` when git cannot say.
pub(super) fn committed_files(git: &Git) -> Option<BTreeSet<String>> {
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
pub(super) fn read_reports(
    git: &Git,
    workdir: &Path,
    out_dir: &Path,
    settings: &Settings,
    snapshot: &mut Snapshot,
) -> Result<(), Misconfigured> {
    let skip: Vec<PathBuf> = OUTPUT_FILES.iter().map(|f| out_dir.join(f)).collect();
    let found = find_files(workdir, &settings.reports, &skip)
        .map_err(|e| Misconfigured(format!("SDL_GATE_REPORTS: {e}")))?;
    snapshot.unknowns.extend(found.cut_note("SDL_GATE_REPORTS"));
    let found = found.files;
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
        // Every error names the file once: parse errors start with it already.
        let read = fs::metadata(path)
            .map_err(|e| format!("{rel}: {e}"))
            .and_then(|m| {
                if m.len() > MAX_REPORT_BYTES as u64 {
                    Err(format!(
                        "{rel}: {} bytes; the limit is {MAX_REPORT_BYTES}",
                        m.len()
                    ))
                } else {
                    fs::read(path).map_err(|e| format!("{rel}: {e}"))
                }
            })
            .and_then(|b| parse_report(&rel, &b).map_err(|e| e.to_string()));
        match read {
            Ok(mut r) => {
                // Absolute URIs under CI_PROJECT_DIR (ruff, ESLint) become relative.
                r.relative_to(&[workdir.display().to_string()]);
                local.push(r)
            }
            Err(e) => snapshot.report_errors.push(e),
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
    let mut from_forge = std::mem::take(&mut snapshot.reports);
    // Artifacts read through the API were written in a checkout at the same CI_PROJECT_DIR.
    for r in &mut from_forge {
        r.relative_to(&[workdir.display().to_string()]);
    }
    snapshot.reports = ci::merge_reports(from_forge, local);
    Ok(())
}
