//! Command-line parsing and dispatch. Each sub-command lives in its own module; they return
//! `anyhow` errors, which `main` prints and turns into exit code 2.

mod action;
mod auditor_token;
mod check;
mod config;
mod demo;
mod env_vars;
mod gitlab_ci;
mod jobs;
mod ledger;
mod practices;
mod report;
mod serve;
mod serve_gitlab;
mod workspace;

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
    /// Run as a GitHub Action step (reads `GITHUB_*` and `INPUT_*` variables).
    #[command(after_help = env_vars::help(&env_vars::action()))]
    Action,
    /// Run as a GitLab CI job in a merge request pipeline (reads `CI_*` and `SDL_GATE_*`
    /// variables; see templates/sdl-gate.gitlab-ci.yml).
    #[command(after_help = env_vars::help(&env_vars::gitlab_ci()))]
    GitlabCi,
    /// Evaluate a change offline from files given on the command line.
    #[command(after_help = check::after_help())]
    Check(check::CheckArgs),
    /// Validate a policy file, or print the policy's JSON Schema.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// List the IEC 62443-4-1 requirements, or explain one id (SR-2, SM, FR3, CWE-79, sast,
    /// I.2(1)).
    Practices(practices::PracticesArgs),
    /// Run the webhook service (GitHub App / GitLab bot).
    #[command(after_help = env_vars::help(&env_vars::serve()))]
    Serve(serve::ServeArgs),
    /// See it work in a minute: a local GitHub with a sample pull request, this binary's
    /// `serve` against it, and the check run and comment it writes (no network).
    Demo(demo::DemoArgs),
    /// Inspect and retry jobs of the service's durable queue.
    Jobs(jobs::JobsArgs),
    /// Verify, export and show the evidence ledger.
    Ledger(ledger::LedgerArgs),
    /// Create, list and revoke read-only sign-in tokens for external auditors.
    AuditorToken(auditor_token::AuditorTokenArgs),
    /// The auditor report of a release or a range of merges, from the evidence ledger:
    /// every merge with its gates and exceptions, coverage per 62443-4-1 requirement, CRA
    /// references, findings (Markdown, HTML or JSON).
    Report(report::ReportArgs),
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Action => action::run(),
        Command::GitlabCi => gitlab_ci::run(),
        Command::Check(args) => check::run(args),
        Command::Config(cmd) => config::run(cmd),
        Command::Practices(args) => practices::run(&args),
        Command::Serve(args) => serve::run(args),
        Command::Jobs(args) => jobs::run(args),
        Command::Ledger(args) => ledger::run(args),
        Command::Report(args) => report::run(args),
        Command::Demo(args) => demo::run(args),
        Command::AuditorToken(args) => auditor_token::run(args),
    }
}
