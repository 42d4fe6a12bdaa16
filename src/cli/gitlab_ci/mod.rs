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

mod checkout;
mod client;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use secrecy::SecretString;

use sdl_gate::forge::{ChangeRef, Forge, Needs, PublishOptions};
use sdl_gate::gates::{Evaluation, evaluate};
use sdl_gate::gitlab_ci::{
    self as ci, CODE_QUALITY_FILE, CiContext, JUNIT_FILE, RESULT_FILE, SUMMARY_FILE, Settings,
};
use sdl_gate::policy::{CommentMode, POLICY_PATHS, check_policy};
use sdl_gate::render;
use sdl_gate::snapshot::Sha;

use checkout::{Git, head_from_ci, policy_from_git, read_reports, snapshot_from_git};
use client::connect_forge;

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
    let git = Git::new(workdir.canonicalize().unwrap_or_else(|_| workdir.clone()));
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
        Some(f) => match f
            .policy(&change, &head.base_ref, &sdl_gate::policy::POLICY_PATHS)
            .await
        {
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
            let (p, how, warning) = policy_from_git(&git, ctx, &head.base_ref)
                .map_err(|e| Misconfigured(format!("CI_MERGE_REQUEST_TARGET_BRANCH_NAME: {e}")))?;
            unknowns.extend(warning);
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
            capabilities: sdl_gate::publication::Capabilities::GITLAB,
        };
        let publication = sdl_gate::publication::Publication::of(&eval, &opts);
        match f.publish(&change, &publication).await {
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
