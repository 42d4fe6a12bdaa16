//! `sdl-gate config validate FILE` and `sdl-gate config schema`: let a product security
//! officer check a policy before committing it, and give editors the JSON Schema.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use sdl_gate::policy::{MAX_POLICY_BYTES, check_policy, json_schema};

/// `sdl-gate config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a policy file: prints `FILE: ok` and any warnings (exit 0), or every error as
    /// `file:line:col: message` on stderr (exit 2).
    Validate {
        /// The policy file (e.g. `.github/sdl-gate.yml`).
        file: std::path::PathBuf,
        /// Treat warnings as errors (exit 2 when there is any).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Print the policy's JSON Schema (for editors and `yaml-language-server`).
    Schema,
}

/// Runs a `config` sub-command.
pub fn run(cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Validate {
            file,
            deny_warnings,
        } => validate(&file, deny_warnings),
        ConfigCommand::Schema => {
            let text = serde_json::to_string_pretty(&json_schema())
                .context("rendering the JSON Schema")?;
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads at most one byte more than the limit, so a huge file is refused without loading it.
fn read_limited(path: &std::path::Path) -> anyhow::Result<String> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_POLICY_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(limit)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() > MAX_POLICY_BYTES {
        anyhow::bail!(
            "{}: policy file is larger than the limit of {MAX_POLICY_BYTES} bytes",
            path.display()
        );
    }
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not valid UTF-8 (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

fn validate(path: &std::path::Path, deny_warnings: bool) -> anyhow::Result<ExitCode> {
    let name = path.display().to_string();
    let text = read_limited(path)?;
    let today = chrono::Utc::now().date_naive();
    match check_policy(&name, &text, Some(today)) {
        Ok(report) => {
            for w in &report.warnings {
                eprintln!("{w}");
            }
            if deny_warnings && !report.warnings.is_empty() {
                eprintln!(
                    "{name}: {} warning(s), rejected because of --deny-warnings",
                    report.warnings.len()
                );
                return Ok(ExitCode::from(2));
            }
            match report.warnings.len() {
                0 => println!("{name}: ok"),
                n => println!("{name}: ok ({n} warning(s))"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            Ok(ExitCode::from(2))
        }
    }
}
