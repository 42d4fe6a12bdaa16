//! The `sdl-gate` command line: `check`, `config`, `practices` (and, as they land, `serve`,
//! `action`, `gitlab-ci`, `report`, `ledger`).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("sdl-gate: {err:#}");
            ExitCode::from(2)
        }
    }
}
