//! `sdl-gate report`: the auditor report of one repository over a release or a range of
//! merges, from the evidence ledger, as Markdown, HTML (prints to PDF) or JSON (with
//! `--schema` for its JSON Schema). Exit codes: 0 written, 1 written but the ledger failed
//! verification (the report says so first), 2 usage or input errors (a tag or date that is
//! not there, no such repository).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use sdl_gate::audit::{
    AuditError, AuditReport, HtmlMode, RangeSpec, ReportQuery, json_schema, load_report,
    render_html, render_json, render_markdown,
};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::settings::Settings;
use secrecy::ExposeSecret;

/// The form of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Markdown (for a wiki, a ticket or a pull request).
    Markdown,
    /// One HTML file with its style sheet; prints cleanly to PDF.
    Html,
    /// The report's data (`--schema` prints its JSON Schema).
    Json,
}

/// Arguments of `sdl-gate report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Print the JSON Schema of `--format json` and exit.
    #[arg(long, exclusive = true)]
    schema: bool,
    /// `owner/name` (GitHub) or the project path (GitLab).
    #[arg(long, required_unless_present = "schema")]
    repo: Option<String>,
    /// The forge (default: whichever has entries of the repository, GitHub first).
    #[arg(long, value_enum)]
    forge: Option<ForgeArg>,
    /// The merges the ledger's release entry of this tag lists (since the release before).
    #[arg(long, value_name = "TAG", conflicts_with_all = ["since", "until"])]
    release: Option<String>,
    /// Merges from this day (YYYY-MM-DD), RFC 3339 time, or after this release tag.
    #[arg(long, value_name = "DATE|TAG")]
    since: Option<String>,
    /// Merges before this day (YYYY-MM-DD), RFC 3339 time, or before this release tag.
    #[arg(long, value_name = "DATE|TAG")]
    until: Option<String>,
    /// The form of the report.
    #[arg(long, value_enum, default_value = "markdown")]
    format: Format,
    /// Write the report to this file (whole: a temporary file renamed) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The database (default: the service's, SDL_GATE_DATABASE_URL).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// A public key to trust for the checkpoints (`name+id+key`); repeat for keys used
    /// before a rotation. Default: the key of SDL_GATE_LEDGER_KEY_PATH.
    #[arg(long = "key", value_name = "VKEY")]
    keys: Vec<String>,
    /// TOML settings file; SDL_GATE_DATABASE_URL and SDL_GATE_LEDGER_KEY_PATH override it.
    #[arg(long, value_name = "FILE", env = "SDL_GATE_CONFIG")]
    config: Option<PathBuf>,
}

/// A forge on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForgeArg {
    /// GitHub.
    Github,
    /// GitLab.
    Gitlab,
}

impl From<ForgeArg> for ForgeName {
    fn from(f: ForgeArg) -> ForgeName {
        match f {
            ForgeArg::Github => ForgeName::GitHub,
            ForgeArg::Gitlab => ForgeName::GitLab,
        }
    }
}

/// The report in the asked form.
pub fn render(report: &AuditReport, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Markdown => render_markdown(report),
        Format::Json => render_json(report),
        Format::Html => render_html(report, HtmlMode::Standalone)?,
    })
}

/// Writes `text` to `path` whole: into a temporary file beside it, then renamed over it.
fn write_whole(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("--out {}: not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Runs `sdl-gate report …`.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if args.schema {
        println!("{}", serde_json::to_string_pretty(&json_schema())?);
        return Ok(ExitCode::SUCCESS);
    }
    let Some(repo) = args.repo.clone() else {
        eprintln!("sdl-gate: --repo is required");
        return Ok(ExitCode::from(2));
    };
    let range = match &args.release {
        Some(tag) => RangeSpec::Release(tag.clone()),
        None => RangeSpec::Between {
            since: args.since.clone(),
            until: args.until.clone(),
        },
    };
    let settings = Settings::load(args.config.as_deref())?;
    let keys = match super::ledger::parse_keys(&args.keys) {
        Ok(k) if !k.is_empty() => k,
        Ok(_) => match super::ledger::signer(&settings) {
            Ok(s) => vec![s.verifier().clone()],
            Err(code) => return Ok(code),
        },
        Err(code) => return Ok(code),
    };
    let url = args
        .database
        .clone()
        .unwrap_or_else(|| settings.database_url.expose_secret().to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let Some(store) = super::ledger::open(&url).await? else {
            return Ok(ExitCode::from(2));
        };
        let forges: Vec<ForgeName> = match args.forge {
            Some(f) => vec![f.into()],
            None => vec![ForgeName::GitHub, ForgeName::GitLab],
        };
        let mut loaded = None;
        for (i, forge) in forges.iter().enumerate() {
            let query = ReportQuery {
                forge: *forge,
                repository: repo.clone(),
                range: range.clone(),
                keys: keys.clone(),
                now: None,
            };
            match load_report(&store, &query).await {
                Err(AuditError::NoEntries { .. }) if i + 1 < forges.len() => continue,
                other => {
                    loaded = Some(other);
                    break;
                }
            }
        }
        store.close().await;
        let report = match loaded {
            Some(Ok(r)) => r,
            Some(Err(AuditError::Store(e))) => return Err(e).context("reading the ledger"),
            Some(Err(AuditError::NoEntries { .. })) if args.forge.is_none() => {
                eprintln!("sdl-gate: the ledger holds no entry of {repo} on github or gitlab");
                return Ok(ExitCode::from(2));
            }
            Some(Err(e)) => {
                eprintln!("sdl-gate: {e}");
                return Ok(ExitCode::from(2));
            }
            None => {
                eprintln!("sdl-gate: the ledger holds no entry of {repo}");
                return Ok(ExitCode::from(2));
            }
        };
        let text = render(&report, args.format)?;
        match &args.out {
            Some(path) => {
                write_whole(path, &text)?;
                eprintln!(
                    "wrote the report of {} merges of {repo} to {}",
                    report.summary.merges,
                    path.display()
                );
            }
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()?;
            }
        }
        if report.ledger.verified {
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!(
                "sdl-gate: LEDGER VERIFICATION FAILED: {}",
                report.ledger.verification
            );
            Ok(ExitCode::from(1))
        }
    })
}
