//! Command-line parsing and dispatch. Each sub-command lives in its own module; they return
//! `anyhow` errors, which `main` prints and turns into exit code 2.

mod jobs;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Enforce the IEC 62443-4-1 secure development lifecycle on pull and merge requests.
#[derive(Debug, Parser)]
#[command(name = "sdl-gate", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the webhook service (GitHub App / GitLab bot).
    Serve(serve::ServeArgs),
    /// Inspect and retry jobs of the service's durable queue.
    Jobs(jobs::JobsArgs),
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Jobs(args) => jobs::run(args),
    }
}
