//! `sdl-gate action`: the GitHub Action's entry point.
//!
//! Reads the inputs and the workflow context from the environment, the pull request from the
//! event file and the API (the same client code as the App, with the workflow token), the
//! policy from the BASE branch through the API, and the scan reports the job produced; then
//! writes the job summary, the outputs, the annotations and — when asked and permitted — the
//! check run and the sticky comment. Exit 0 pass, 1 blocked, 2 misconfiguration.
//!
//! Without a token, or with a fork's read-only token, it evaluates what it can and says in
//! the summary what it could not check; a gate that cannot decide fails closed.

use sdl_gate::forge_name::ForgeName;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use chrono::Utc;
use secrecy::SecretString;

use sdl_gate::action::{self, Context, EventPr, Inputs};
use sdl_gate::forge::github::GithubForge;
use sdl_gate::forge::{ChangeHead, ChangeRef, ChangeState, Forge, Needs, PublishOptions};
use sdl_gate::gates::evaluate;
use sdl_gate::policy::check_policy;
use sdl_gate::render;
use sdl_gate::reports::parse_report;
use sdl_gate::snapshot::{Login, Sha, Snapshot};

use super::workspace::find_files;

/// The login that owns what the workflow token writes.
const ACTIONS_BOT: &str = "github-actions[bot]";

/// Runs `sdl-gate action` with the process environment.
pub fn run() -> anyhow::Result<ExitCode> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let token = action::input(&env, "github-token").map(|t| SecretString::from(t.to_string()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match runtime.block_on(run_with(&env, token)) {
        Ok(code) => Ok(ExitCode::from(code)),
        Err(Misconfigured(msg)) => {
            eprintln!("sdl-gate: {msg}");
            println!(
                "::error title=sdl-gate misconfiguration::{}",
                msg.replace('\n', "%0A")
            );
            Ok(ExitCode::from(2))
        }
    }
}

/// A misconfiguration: the message names the input or variable; exit code 2.
struct Misconfigured(String);

impl<E: std::fmt::Display> From<E> for Misconfigured {
    fn from(e: E) -> Self {
        Misconfigured(e.to_string())
    }
}

/// What the event alone says, for when the API cannot be asked.
fn head_from_event(pr: &EventPr) -> Option<ChangeHead> {
    Some(ChangeHead {
        title: pr.title.clone(),
        author: Login::new(pr.author.clone()?),
        body: pr.body.clone(),
        labels: pr.labels.clone(),
        draft: pr.draft,
        head_sha: Sha::new(pr.head_sha.clone()?),
        base_ref: pr.base_ref.clone()?,
        state: ChangeState::Open,
        changed_files: None,
        comments: None,
        merge_commit_sha: None,
        head_branch: None,
    })
}

async fn run_with(
    env: &BTreeMap<String, String>,
    token: Option<SecretString>,
) -> Result<u8, Misconfigured> {
    let inputs = Inputs::from_env(env)?;
    let ctx = Context::from_env(env)?;
    let payload = fs::read(&ctx.event_path).map_err(|e| {
        Misconfigured(format!(
            "GITHUB_EVENT_PATH: cannot read {}: {e}",
            ctx.event_path
        ))
    })?;
    let pr = action::event_pr(&ctx.event_name, &payload, inputs.pr_number)?;
    let forge = GithubForge::with_token(&ctx.api_url, token, ACTIONS_BOT, Duration::from_secs(30))
        .map_err(|e| Misconfigured(format!("GITHUB_API_URL: {e}")))?;
    // The installation id is not used with a plain token.
    let change = ChangeRef::new(ctx.repository.clone(), pr.number, Some(0));
    let mut unknowns = Vec::new();
    if !inputs.has_token {
        unknowns.push("no `github-token`: the API was asked anonymously (public repositories only, low rate limit)".to_string());
    }

    let head = match forge.head(&change).await {
        Ok(h) => h,
        Err(e) => {
            let Some(h) = head_from_event(&pr) else {
                return Err(Misconfigured(format!(
                    "cannot read pull request #{} through the API ({e}), and the event payload does not describe it",
                    pr.number
                )));
            };
            unknowns.push(format!(
                "could not read the pull request through the API ({e}); used the event payload"
            ));
            h
        }
    };

    // The policy: from the BASE branch, through the API. Never from the checked-out head.
    let file = forge
        .policy_file(&change, &head.base_ref, &inputs.policy)
        .await
        .map_err(|e| Misconfigured(format!("input `policy`: cannot read {} from the base branch {} ({e})", inputs.policy, head.base_ref)))?
        .ok_or_else(|| {
            Misconfigured(format!(
                "input `policy`: {} does not exist on the base branch {}; add it there (see config/sdl-gate.example.yml)",
                inputs.policy, head.base_ref
            ))
        })?;
    let checked =
        check_policy(&file.path, &file.text, Some(Utc::now().date_naive())).map_err(|e| {
            Misconfigured(format!(
                "the policy on {} does not load:\n{e}",
                head.base_ref
            ))
        })?;
    for w in &checked.warnings {
        println!(
            "::warning title=sdl-gate policy::{}",
            w.to_string().replace('\n', "%0A")
        );
    }
    let policy = checked.policy;

    let mut needs = Needs::from_policy(&policy);
    // The Action judges the SARIF files in its workspace, the same results a workflow uploads
    // to code scanning: reading the alerts too would count each finding twice, and a fork's
    // workflow token cannot read security events. Code scanning is the App's evidence.
    needs.code_scanning = false;
    let mut snapshot = match forge.snapshot(&change, &head, &needs).await {
        Ok(s) => s,
        Err(e) => {
            unknowns.push(format!(
                "could not read files, reviews and checks through the API ({e}): the gates that need them cannot pass"
            ));
            let mut s = Snapshot::new(
                Some(ForgeName::GitHub),
                &ctx.repository,
                pr.number,
                head.author.as_str(),
                head.head_sha.as_str(),
            );
            s.title = head.title.clone();
            s.body = head.body.clone();
            s.labels = head.labels.clone();
            s.draft = head.draft;
            s.base_ref = head.base_ref.clone();
            s.files_known = false;
            s
        }
    };
    snapshot.unknowns.extend(unknowns);

    let workspace = PathBuf::from(&ctx.workspace);
    let search = |globs: &[String], name: &str| {
        find_files(&workspace, globs, &[])
            .map_err(|e| Misconfigured(format!("input `{name}`: {e}")))
    };
    let sarif = search(&inputs.sarif, "sarif")?;
    let others = search(&inputs.reports, "reports")?;
    for (globs, found, name) in [
        (&inputs.sarif, &sarif, "sarif"),
        (&inputs.reports, &others, "reports"),
    ] {
        if !globs.is_empty() && found.files.is_empty() {
            snapshot.unknowns.push(format!(
                "input `{name}` matched no file in the workspace ({})",
                globs.join(", ")
            ));
        }
        snapshot
            .unknowns
            .extend(found.cut_note(&format!("input `{name}`")));
    }
    let (sarif, others) = (sarif.files, others.files);
    for path in sarif.iter().chain(others.iter()) {
        let rel = path
            .strip_prefix(&workspace)
            .unwrap_or(path)
            .display()
            .to_string();
        match fs::read(path)
            .map_err(|e| format!("{rel}: {e}"))
            .and_then(|b| parse_report(&rel, &b).map_err(|e| e.to_string()))
        {
            Ok(mut r) => {
                // ruff and ESLint write absolute URIs under GITHUB_WORKSPACE.
                r.relative_to(std::slice::from_ref(&ctx.workspace));
                snapshot.reports.push(r)
            }
            // A parse error names the file already (`rel: …`).
            Err(e) => snapshot.report_errors.push(e),
        }
    }

    let now = Utc::now();
    // Approvals of earlier commits count when the patch there is the head's (a rebase).
    let commits = sdl_gate::gates::commits_to_compare(&policy, &snapshot, now);
    if !commits.is_empty() {
        match forge.patch_ids(&change, &head.base_ref, &commits).await {
            Ok(ids) => snapshot.patch_ids.extend(ids),
            Err(e) => snapshot.unknowns.push(format!(
                "could not compare the commits of earlier approvals with {} ({e}): they do not count",
                head.base_ref
            )),
        }
    }
    let eval = evaluate(&policy, &snapshot, now);

    // Publish when asked and permitted; a read-only token is reported, not fatal.
    let mut notes = Vec::new();
    if inputs.check_run || inputs.comment != sdl_gate::policy::CommentMode::Never {
        let opts = PublishOptions {
            comment: inputs.comment,
            enforce_on_drafts: policy.report.enforce_on_drafts,
            details_url: None,
            skip_check_run: !inputs.check_run,
            capabilities: sdl_gate::publication::Capabilities::GITHUB,
        };
        let publication = sdl_gate::publication::Publication::of(&eval, &opts);
        if let Err(e) = forge.publish(&change, &publication).await {
            notes.push(format!("could not post the check run or comment ({e}); on pull requests from forks the token is read-only"));
        }
    }

    let result_path = env
        .get("RUNNER_TEMP")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.clone())
        .join("sdl-gate-result.json");
    let json = serde_json::to_string_pretty(&render::json(&eval))?;
    fs::write(&result_path, json)
        .map_err(|e| Misconfigured(format!("cannot write {}: {e}", result_path.display())))?;

    let (commands, rest) = action::capped_annotations(&eval);
    let mut stdout = std::io::stdout().lock();
    for c in &commands {
        let _ = writeln!(stdout, "{c}");
    }
    let _ = writeln!(
        stdout,
        "sdl-gate: {} — {}",
        eval.verdict.as_str(),
        render::title(&eval)
    );

    if let Some(summary) = &ctx.step_summary {
        let mut text = render::job_summary(&eval);
        text.push_str(&action::overflow_summary(&rest));
        for n in &notes {
            text.push_str(&format!("\n> ⚠️ {}\n", render::escape::line(n, 600)));
        }
        append(summary, &text, "GITHUB_STEP_SUMMARY")?;
    }
    if let Some(output) = &ctx.output {
        append(
            output,
            &action::outputs(&eval, &result_path.display().to_string()),
            "GITHUB_OUTPUT",
        )?;
    }
    Ok(action::exit_code(eval.verdict, inputs.fail_on_pending))
}

fn append(path: &str, text: &str, var: &str) -> Result<(), Misconfigured> {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow!("{var}: cannot open {path}: {e}"))?;
    f.write_all(text.as_bytes())
        .map_err(|e| anyhow!("{var}: cannot write {path}: {e}"))?;
    Ok(())
}
