//! `sdl-gate jobs`: inspect the durable queue from the database (parked jobs above all) and
//! put a parked job back in line, or prune what retention would.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use sdl_gate::settings::Settings;
use sdl_gate::store::{DEFAULT_PRUNE_BATCH, Store, now_ms, time_of};
use secrecy::ExposeSecret;
use std::time::Duration;

/// Arguments of `sdl-gate jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// TOML settings file; SDL_GATE_DATABASE_URL overrides its database_url.
    #[arg(long, value_name = "FILE", env = "SDL_GATE_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// List jobs, most recently changed first.
    List {
        /// Only jobs in this state.
        #[arg(long, value_parser = ["pending", "running", "done", "parked"])]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make a parked job due now with fresh attempts.
    Retry {
        /// The job id shown by `jobs list`.
        id: i64,
    },
    /// Delete the raw deliveries and handled job events older than the retention period now
    /// (the service does it hourly). Open events and their deliveries, evaluations, waivers and
    /// threat-model references are kept.
    Prune {
        /// Keep this many days (a fraction is allowed) instead of SDL_GATE_RETENTION_DAYS.
        #[arg(long, value_name = "DAYS")]
        older_than_days: Option<f64>,
    },
}

/// Runs `sdl-gate jobs …`.
pub fn run(args: JobsArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(args.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let url = settings.database_url.expose_secret();
    if let Some(missing) = missing_sqlite_file(url) {
        eprintln!(
            "sdl-gate: no database: {url} names {} (from the current folder {}), which does not \
             exist. `sdl-gate jobs` reads the service's database and never creates one: run it \
             in the service's folder, or point at the database with SDL_GATE_DATABASE_URL \
             (sqlite:///path/to/sdl-gate.db or postgres://…) or the database_url of a settings \
             file given with --config / SDL_GATE_CONFIG.",
            missing.display(),
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| "?".to_owned()),
        );
        return Ok(ExitCode::from(2));
    }
    runtime.block_on(async {
        let store = Store::connect(url, 2)
            .await
            .context("connecting to SDL_GATE_DATABASE_URL")?;
        store.migrate().await.context("migrating the database")?;
        let code = match args.command {
            JobsCommand::List { state, limit, json } => {
                let jobs = store.list_jobs(state.as_deref(), limit).await?;
                if json {
                    for job in &jobs {
                        println!("{}", serde_json::to_string(job)?);
                    }
                } else {
                    println!(
                        "{:>6}  {:<8} {:>8} {:>6} {:>5}  {:<20}  {:<40}  LAST ERROR",
                        "ID", "STATE", "ATTEMPTS", "EVENTS", "RUNS", "DUE", "KEY"
                    );
                    for j in &jobs {
                        println!(
                            "{:>6}  {:<8} {:>8} {:>6} {:>5}  {:<20}  {:<40}  {}",
                            j.id,
                            j.state,
                            j.attempts,
                            j.open_events,
                            j.runs,
                            j.run_after.format("%Y-%m-%d %H:%M:%S"),
                            j.key,
                            j.last_error.as_deref().unwrap_or("")
                        );
                    }
                }
                ExitCode::SUCCESS
            }
            JobsCommand::Prune { older_than_days } => {
                let keep = match older_than_days {
                    // The range SDL_GATE_RETENTION_DAYS accepts (and no overflow to panic on).
                    Some(days) if (0.0..=36_500.0).contains(&days) => {
                        Some(Duration::from_secs_f64(days * 86_400.0))
                    }
                    Some(days) => {
                        eprintln!("sdl-gate: --older-than-days {days}: expected a number of days from 0 to 36500");
                        return Ok(ExitCode::from(2));
                    }
                    None => settings.retention,
                };
                match keep {
                    None => {
                        println!(
                            "retention is off (SDL_GATE_RETENTION_DAYS=0): nothing pruned; \
                             give --older-than-days to prune anyway"
                        );
                    }
                    Some(keep) => {
                        let cutoff = now_ms()
                            .saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX));
                        let pruned = store
                            .prune(cutoff, DEFAULT_PRUNE_BATCH, Duration::ZERO)
                            .await
                            .context("pruning")?;
                        println!(
                            "pruned {} handled job events and {} deliveries from before {} \
                             ({} batches); evaluations and waivers are kept",
                            pruned.job_events,
                            pruned.deliveries,
                            time_of(cutoff).format("%Y-%m-%d %H:%M:%S UTC"),
                            pruned.batches
                        );
                    }
                }
                ExitCode::SUCCESS
            }
            JobsCommand::Retry { id } => {
                if store.retry_parked(id).await? {
                    println!("job {id} is due again");
                    ExitCode::SUCCESS
                } else {
                    eprintln!("sdl-gate: no parked job with id {id}");
                    ExitCode::from(1)
                }
            }
        };
        store.close().await;
        Ok(code)
    })
}

/// The file a `sqlite:` URL names when it does not exist (the store would create it), so that
/// `jobs` run in the wrong folder says so instead of reading a new, empty database. `None` for
/// PostgreSQL, in-memory databases, existing files and URLs sqlx cannot read (the connection
/// then reports those).
pub(super) fn missing_sqlite_file(url: &str) -> Option<PathBuf> {
    use sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr;

    if !url.starts_with("sqlite:") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    let text = path.to_string_lossy();
    if text.is_empty() || text.starts_with(':') || text.contains("mode=memory") {
        return None;
    }
    (!path.exists()).then(|| path.to_path_buf())
}
