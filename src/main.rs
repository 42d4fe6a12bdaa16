//! The `sdl-gate` command line: `check`, `config`, `practices` (and, as they land, `serve`,
//! `action`, `gitlab-ci`, `report`, `ledger`).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    pin_mmap_threshold();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("sdl-gate: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Large request bodies (up to 25 MiB each, 125 MiB being read at once before they are
/// authenticated) are freed as soon as they are refused. glibc's malloc raises its mmap
/// threshold after the first such free and serves later ones from the heap, where freed memory
/// stays resident: an upload flood left 233 MB held (`examples/edge_pressure.rs`). A fixed
/// threshold keeps every allocation over 1 MiB in its own mapping, returned to the system when
/// freed. musl, the release images' libc, maps large allocations anyway.
#[cfg(target_env = "gnu")]
fn pin_mmap_threshold() {
    // SAFETY: `mallopt` only sets a malloc tunable; it is called first thing in `main`, before
    // any other thread exists or anything is allocated by this program's code.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(target_env = "gnu"))]
fn pin_mmap_threshold() {}
