//! `sdl-gate auditor-token`: read-only sign-in tokens for external auditors without forge
//! accounts, scoped to repositories and an expiry. `create` prints the token once (only its
//! SHA-256 is stored), `list` shows every token without it, `revoke` ends one and its
//! sessions. Exit codes: 0 done, 1 nothing to revoke, 2 usage errors.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use sdl_gate::settings::Settings;
use sdl_gate::store::{Store, time_of};
use sdl_gate::web::auth::{AuthError, RepoScope, auditor, parse_expiry};
use secrecy::ExposeSecret;

/// Arguments of `sdl-gate auditor-token`.
#[derive(Debug, Args)]
pub struct AuditorTokenArgs {
    /// TOML settings file; SDL_GATE_DATABASE_URL overrides it.
    #[arg(long, value_name = "FILE", env = "SDL_GATE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// The service's database (default: SDL_GATE_DATABASE_URL).
    #[arg(long, value_name = "URL", global = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: AuditorTokenCommand,
}

#[derive(Debug, Subcommand)]
enum AuditorTokenCommand {
    /// Make a token and print it (once: only its hash is kept).
    Create {
        /// A repository it opens, `github:OWNER/NAME` or `gitlab:GROUP/PROJECT`; repeatable.
        #[arg(long = "repo", value_name = "FORGE:PATH", required = true)]
        repos: Vec<String>,
        /// Last day it works (YYYY-MM-DD, through the end of that day UTC) or an RFC 3339 time.
        #[arg(long, value_name = "DATE")]
        expires: String,
        /// Whom it is for (shown by `list`).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Every token: id, state, expiry, repositories, note (never the token).
    List,
    /// Revoke token ID; its sessions end at once.
    Revoke {
        /// The id `create` or `list` printed.
        id: i64,
    },
}

/// Runs `sdl-gate auditor-token …`.
pub fn run(args: AuditorTokenArgs) -> anyhow::Result<ExitCode> {
    let url = match args.database {
        Some(url) => url,
        None => Settings::load(args.config.as_deref())?
            .database_url
            .expose_secret()
            .to_owned(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match args.command {
            AuditorTokenCommand::Create {
                repos,
                expires,
                note,
            } => {
                let mut scopes = Vec::new();
                for r in &repos {
                    match RepoScope::parse(r) {
                        Ok(s) => scopes.push(s),
                        Err(e) => {
                            eprintln!("sdl-gate: --repo {e}");
                            return Ok(ExitCode::from(2));
                        }
                    }
                }
                let expires = match parse_expiry(&expires) {
                    Ok(t) if t > chrono::Utc::now() => t,
                    Ok(_) => {
                        eprintln!("sdl-gate: --expires {expires} is in the past");
                        return Ok(ExitCode::from(2));
                    }
                    Err(e) => {
                        eprintln!("sdl-gate: --expires: {e}");
                        return Ok(ExitCode::from(2));
                    }
                };
                let Some(store) = open(&url).await? else {
                    return Ok(ExitCode::from(2));
                };
                let made = match auditor::create(&store, &scopes, expires, &note).await {
                    Ok(made) => made,
                    Err(e @ AuthError::Store(_)) => {
                        return Err(e).context("storing the auditor token");
                    }
                    Err(e) => {
                        eprintln!("sdl-gate: {e}");
                        return Ok(ExitCode::from(2));
                    }
                };
                let names: Vec<String> = scopes.iter().map(RepoScope::as_stored).collect();
                eprintln!(
                    "auditor token {} for {}, valid until {}; it is shown this once (only its hash is kept):",
                    made.id,
                    names.join(", "),
                    expires.to_rfc3339()
                );
                println!("{}", made.token);
                store.close().await;
                Ok(ExitCode::SUCCESS)
            }
            AuditorTokenCommand::List => {
                let Some(store) = open(&url).await? else {
                    return Ok(ExitCode::from(2));
                };
                let tokens = store.auditor_tokens().await.context("reading the tokens")?;
                let now = sdl_gate::store::now_ms();
                println!("{:>5}  {:<8}  {:<25}  {:<40}  note", "id", "state", "expires", "repositories");
                for t in tokens {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else if t.expires_at <= now {
                        "expired"
                    } else {
                        "active"
                    };
                    println!(
                        "{:>5}  {:<8}  {:<25}  {:<40}  {}",
                        t.id,
                        state,
                        time_of(t.expires_at).to_rfc3339(),
                        t.repos.join(","),
                        t.note
                    );
                }
                store.close().await;
                Ok(ExitCode::SUCCESS)
            }
            AuditorTokenCommand::Revoke { id } => {
                let Some(store) = open(&url).await? else {
                    return Ok(ExitCode::from(2));
                };
                let revoked = store
                    .revoke_auditor_token(id)
                    .await
                    .context("revoking the token")?;
                store.close().await;
                if revoked {
                    println!("auditor token {id} revoked; its sessions have ended");
                    Ok(ExitCode::SUCCESS)
                } else {
                    eprintln!("sdl-gate: no active auditor token {id}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    })
}

/// Connects to `url` without creating a database (`None` after saying why).
async fn open(url: &str) -> anyhow::Result<Option<Store>> {
    if let Some(missing) = super::jobs::missing_sqlite_file(url) {
        eprintln!(
            "sdl-gate: no database: {url} names {}, which does not exist; point at the \
             service's database with --database or SDL_GATE_DATABASE_URL",
            missing.display()
        );
        return Ok(None);
    }
    let store = Store::connect(url, 2)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("migrating the database")?;
    Ok(Some(store))
}
