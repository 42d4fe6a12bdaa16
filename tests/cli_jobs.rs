//! `sdl-gate jobs` reads the service's database and never creates one: run where there is no
//! database, it says so (naming the URL, the file and how to point at one) and leaves no file.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sdl-gate");

fn jobs(dir: &Path, args: &[&str], database_url: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("jobs").args(args).current_dir(dir);
    cmd.env_remove("SDL_GATE_DATABASE_URL")
        .env_remove("SDL_GATE_CONFIG");
    if let Some(url) = database_url {
        cmd.env("SDL_GATE_DATABASE_URL", url);
    }
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("running {BIN}: {e}"),
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn jobs_in_a_folder_without_a_database_says_so_and_creates_none() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for args in [&["list"][..], &["retry", "7"][..]] {
        let o = jobs(dir.path(), args, None);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "jobs {args:?}: {err}");
        assert!(err.contains("no database"), "{err}");
        assert!(err.contains("sqlite://sdl-gate.db"), "names the URL: {err}");
        assert!(
            err.contains("SDL_GATE_DATABASE_URL"),
            "says how to point: {err}"
        );
        assert!(err.contains("--config"), "{err}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "jobs created {left:?}");

    // An explicit URL to a missing file: the same, naming that file.
    let missing = dir.path().join("elsewhere").join("sdl-gate.db");
    let url = format!("sqlite://{}", missing.display());
    let o = jobs(dir.path(), &["list"], Some(&url));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(!missing.exists());
}

#[test]
fn jobs_reads_an_existing_database() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = dir.path().join("sdl-gate.db");
    // The service's store creates and migrates it; `jobs` then lists its (empty) queue.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        let store = sdl_gate::store::Store::connect(&format!("sqlite://{}", db.display()), 2)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store.migrate().await.unwrap_or_else(|e| panic!("{e}"));
        store.close().await;
    });
    let o = jobs(dir.path(), &["list"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("    ID  STATE"), "{out}");
    assert_eq!(out.lines().count(), 1, "an empty queue: {out}");
}
