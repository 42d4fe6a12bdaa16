//! `sdl-gate check`: evaluate a change offline, from files given on the command line.
//!
//! This is the local, forge-free way to run the same evaluation the App and the Action run,
//! and the interface acceptance tests use. Exit 0 when the verdict is pass, 1 when it is fail
//! or pending, 2 on a usage or input error.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};

use sdl_gate::gates::{OverallVerdict, evaluate};
use sdl_gate::policy::{GlobList, Policy, check_policy};
use sdl_gate::render;
use sdl_gate::reports::{ReportFormat, parse_report};
use sdl_gate::snapshot::{
    ChangedFile, Check, CheckState, FileContent, FileStatus, Login, Review, ReviewState, Snapshot,
};

/// The largest file `check` reads (policy, reports, touched files), in bytes.
const MAX_FILE: u64 = 256 * 1024 * 1024;

/// Output format of `check`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// The Markdown job summary.
    Markdown,
    /// The JSON result.
    Json,
}

/// Arguments of `sdl-gate check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The policy file (YAML).
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// The organisation's policy (its `floor:` binds `--policy`, as the service applies the
    /// `.github` repository's `sdl-gate.yml`); the result names every rule the floor kept.
    #[arg(long, value_name = "FILE")]
    org_policy: Option<PathBuf>,
    /// Changed files, one path a line (`-` for stdin). `git diff --name-status` lines
    /// (`M\tpath`, `R100\told\tnew`, `D\tpath`) are understood too.
    #[arg(long, value_name = "FILE")]
    changed_files: String,
    /// A SARIF report (repeatable).
    #[arg(long, value_name = "FILE")]
    sarif: Vec<PathBuf>,
    /// A scanner report in any supported format, or an SBOM (repeatable).
    #[arg(long, value_name = "FILE")]
    report: Vec<PathBuf>,
    /// The change's author.
    #[arg(long, value_name = "LOGIN", default_value = "unknown-author")]
    author: String,
    /// A user who approved the head commit (repeatable).
    #[arg(long, value_name = "LOGIN")]
    approved_by: Vec<String>,
    /// A user who requested changes (repeatable).
    #[arg(long, value_name = "LOGIN")]
    changes_requested_by: Vec<String>,
    /// Team members: `org/team=login,login` (repeatable).
    #[arg(long, value_name = "TEAM=LOGIN,LOGIN")]
    team: Vec<String>,
    /// A CI check and its state: `NAME=STATE` (repeatable; the states are listed below).
    #[arg(long, value_name = "NAME=STATE")]
    check: Vec<String>,
    /// A label on the change (repeatable).
    #[arg(long, value_name = "LABEL")]
    label: Vec<String>,
    /// The change's description (searched for `Threat-Model:` references).
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// Where touched files (threat models, SBOMs) are read.
    #[arg(long, value_name = "DIR", default_value = ".")]
    repo: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    format: Format,
    /// The head commit to report.
    #[arg(
        long,
        value_name = "SHA",
        default_value = "0000000000000000000000000000000000000000"
    )]
    head: String,
    /// The evaluation time (RFC 3339), for reproducible expiry of ignores and waivers.
    #[arg(long, value_name = "TIME")]
    at: Option<DateTime<Utc>>,
}

/// The `--help` epilogue of `check`: the words `--check` accepts, from the same table the
/// parser reads, and the exit codes.
pub fn after_help() -> String {
    let mut text = String::from("Check states (--check NAME=STATE, case-insensitive):\n");
    for state in [
        CheckState::Success,
        CheckState::Failure,
        CheckState::Pending,
        CheckState::Neutral,
    ] {
        let words: Vec<&str> = CheckState::WORDS
            .iter()
            .filter(|(_, s)| *s == state)
            .map(|(w, _)| *w)
            .collect();
        text.push_str(&format!("  {:8} {}\n", state.name(), words.join(", ")));
    }
    text.push_str(
        "\nExit codes:\n  0  the verdict is pass\n  1  the verdict is fail or pending\n  2  usage or input error (the message names the file and place)\n",
    );
    text
}

fn read_limited(path: &Path) -> anyhow::Result<Vec<u8>> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > MAX_FILE {
        bail!(
            "{} is {} bytes; the limit is {MAX_FILE}",
            path.display(),
            meta.len()
        );
    }
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Parses one line of `--changed-files`.
fn changed_line(line: &str, lineno: usize, repo: &Path) -> anyhow::Result<Option<ChangedFile>> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    let fields: Vec<&str> = line.split('\t').collect();
    let code = fields[0];
    let is_status = fields.len() >= 2
        && code.chars().next().is_some_and(|c| "AMDRCTU".contains(c))
        && code.chars().skip(1).all(|c| c.is_ascii_digit());
    if !is_status {
        let path = line.trim().to_string();
        let status = if repo.join(&path).exists() {
            FileStatus::Modified
        } else {
            FileStatus::Removed
        };
        return Ok(Some(ChangedFile {
            path,
            previous_path: None,
            status,
            changed_lines: None,
        }));
    }
    let (status, previous, path) = match code.chars().next() {
        Some('R') | Some('C') => {
            let [_, old, new] = fields[..] else {
                bail!(
                    "--changed-files line {lineno}: `{code}` needs an old and a new path separated by tabs"
                );
            };
            let st = if code.starts_with('R') {
                FileStatus::Renamed
            } else {
                FileStatus::Copied
            };
            (st, Some(old.to_string()), new.to_string())
        }
        Some('A') => (FileStatus::Added, None, fields[1].to_string()),
        Some('D') => (FileStatus::Removed, None, fields[1].to_string()),
        Some('T') => (FileStatus::Changed, None, fields[1].to_string()),
        _ => (FileStatus::Modified, None, fields[1].to_string()),
    };
    Ok(Some(ChangedFile {
        path,
        previous_path: previous,
        status,
        changed_lines: None,
    }))
}

fn changed_files(arg: &str, repo: &Path) -> anyhow::Result<Vec<ChangedFile>> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the changed files from stdin")?;
        s
    } else {
        let bytes = read_limited(Path::new(arg))?;
        String::from_utf8(bytes).with_context(|| format!("{arg} is not UTF-8 text"))?
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(f) = changed_line(line, i + 1, repo)? {
            out.push(f);
        }
    }
    Ok(out)
}

fn split_pair<'a>(flag: &str, value: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    match value.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v.trim())),
        _ => bail!("{flag} `{value}`: expected NAME=VALUE"),
    }
}

/// Reads the touched files that gates look inside: threat models and SBOMs.
fn contents(policy: &Policy, files: &[ChangedFile], repo: &Path) -> Vec<FileContent> {
    let mut globs = policy.gates.threat_model.paths.clone();
    globs.extend(policy.gates.sbom.paths.iter().cloned());
    let interesting = GlobList::new(&globs);
    files
        .iter()
        .filter(|f| f.status != FileStatus::Removed && interesting.is_match(&f.path))
        .map(|f| FileContent {
            path: f.path.clone(),
            bytes: read_limited(&repo.join(&f.path)).ok(),
        })
        .collect()
}

/// The repository root as scanners may have written it: `--repo` as given when absolute, and
/// resolved (symbolic links followed), so absolute report paths under it become relative.
fn repo_roots(repo: &Path) -> Vec<String> {
    let mut roots = Vec::new();
    if repo.is_absolute() {
        roots.push(repo.display().to_string());
    }
    if let Ok(canonical) = repo.canonicalize() {
        let c = canonical.display().to_string();
        if !roots.contains(&c) {
            roots.push(c);
        }
    }
    roots
}

fn build_snapshot(args: &CheckArgs, policy: &Policy) -> anyhow::Result<Snapshot> {
    let repo_name = args
        .repo
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "local".into());
    let mut snap = Snapshot::new(None, &repo_name, 0, &args.author, &args.head);
    snap.files = changed_files(&args.changed_files, &args.repo)?;
    snap.contents = contents(policy, &snap.files, &args.repo);
    snap.labels = args.label.clone();
    if let Some(body) = &args.body_file {
        let bytes = read_limited(body)?;
        snap.body = String::from_utf8(bytes)
            .with_context(|| format!("{} is not UTF-8 text", body.display()))?;
    }
    for (logins, state) in [
        (&args.approved_by, ReviewState::Approved),
        (&args.changes_requested_by, ReviewState::ChangesRequested),
    ] {
        for login in logins {
            snap.reviews.push(Review {
                author: Login::new(login.as_str()),
                state,
                commit: Some(snap.head_sha.clone()),
                submitted_at: None,
            });
        }
    }
    let mut teams: BTreeMap<String, BTreeSet<Login>> = BTreeMap::new();
    for t in &args.team {
        let (team, members) = split_pair("--team", t)?;
        teams.entry(team.to_string()).or_default().extend(
            members
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(Login::new),
        );
    }
    snap.teams = teams;
    for c in &args.check {
        let (name, state) = split_pair("--check", c)?;
        let state = CheckState::parse(state).with_context(|| {
            format!(
                "--check `{c}`: unknown state `{state}` (use success, failure, pending or neutral; `sdl-gate check --help` lists every word accepted)"
            )
        })?;
        snap.checks.push(Check {
            name: name.to_string(),
            state,
        });
    }
    let roots = repo_roots(&args.repo);
    for path in &args.sarif {
        // The error names the file already: the flag is the only context to add.
        let mut report =
            parse_report(&path.display().to_string(), &read_limited(path)?).context("--sarif")?;
        if report.format != ReportFormat::Sarif {
            bail!(
                "--sarif {}: this is a {}, not SARIF; pass it with --report",
                path.display(),
                report.format.name()
            );
        }
        report.relative_to(&roots);
        snap.reports.push(report);
    }
    for path in &args.report {
        let mut report =
            parse_report(&path.display().to_string(), &read_limited(path)?).context("--report")?;
        report.relative_to(&roots);
        snap.reports.push(report);
    }
    Ok(snap)
}

/// Runs `sdl-gate check`.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let text = read_limited(&args.policy)?;
    let text = String::from_utf8(text)
        .with_context(|| format!("{} is not UTF-8 text", args.policy.display()))?;
    let now = args.at.unwrap_or_else(Utc::now);
    let checked = check_policy(
        &args.policy.display().to_string(),
        &text,
        Some(now.date_naive()),
    )?;
    for w in &checked.warnings {
        eprintln!("{w}");
    }
    let (policy, org) = match &args.org_policy {
        None => (checked.policy, None),
        Some(path) => {
            let name = path.display().to_string();
            let text = String::from_utf8(read_limited(path)?)
                .with_context(|| format!("{name} is not UTF-8 text"))?;
            let org = check_policy(&name, &text, Some(now.date_naive()))?;
            for w in &org.warnings {
                eprintln!("{w}");
            }
            let floor = org.policy.floor.clone().unwrap_or_default();
            let (policy, notes) = sdl_gate::policy::apply_floor(checked.policy, &floor);
            let evidence = sdl_gate::ledger::evidence::policy_evidence(&name, "", &text);
            let usage = sdl_gate::gates::OrgPolicyUse {
                location: name,
                as_default: false,
                sha256: evidence.sha256,
                blob_sha: evidence.blob_sha,
                floor: notes,
            };
            (policy, Some(usage))
        }
    };
    let snapshot = build_snapshot(&args, &policy)?;
    let eval = evaluate(&policy, &snapshot, now).with_org_policy(org);
    let text = match args.format {
        Format::Json => {
            let mut json = render::json_pretty(&eval)?;
            json.push(b'\n');
            json
        }
        Format::Markdown => render::job_summary(&eval).into_bytes(),
    };
    // One write of the whole result (a large JSON result is megabytes), not line by line.
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&text)
        .and_then(|()| stdout.flush())
        .context("cannot write the result to stdout")?;
    Ok(match eval.verdict {
        OverallVerdict::Pass => ExitCode::SUCCESS,
        OverallVerdict::Fail | OverallVerdict::Pending => ExitCode::from(1),
    })
}
