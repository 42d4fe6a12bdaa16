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

#[test]
fn jobs_prune_deletes_handled_deliveries_and_keeps_open_ones() {
    use sdl_gate::events::{Target, WorkItem, WorkKey};
    use sdl_gate::forge_name::ForgeName;
    use sdl_gate::store::NewDelivery;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = dir.path().join("sdl-gate.db");
    let url = format!("sqlite://{}", db.display());
    let delivery = |id: &str, number: u64| NewDelivery {
        forge: ForgeName::GitHub,
        delivery_id: id.to_owned(),
        event: "pull_request".to_owned(),
        action: Some("opened".to_owned()),
        payload: "{}".to_owned(),
        items: vec![WorkItem {
            key: WorkKey {
                forge: ForgeName::GitHub,
                repository: "o/r".to_owned(),
                target: Target::Change(number),
            },
            detail: None,
        }],
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        let store = sdl_gate::store::Store::connect(&url, 2)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store.migrate().await.unwrap_or_else(|e| panic!("{e}"));
        let batch = [delivery("a", 1), delivery("b", 1), delivery("c", 2)];
        store
            .record_deliveries(&batch, std::time::Duration::ZERO)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let lease = std::time::Duration::from_secs(30);
        // #1 is handled, #2 still waits.
        while let Some(job) = store
            .claim("t", lease)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
        {
            if job.key.target == Target::Change(1) {
                store
                    .complete_success(&job, lease)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            } else {
                store.release(&job).await.unwrap_or_else(|e| panic!("{e}"));
                break;
            }
        }
        store.close().await;
    });
    // The default retention (30 days) keeps everything this fresh.
    let o = jobs(dir.path(), &["prune"], Some(&url));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        out.contains("pruned 0 handled job events and 0 deliveries"),
        "{out}"
    );

    let o = jobs(dir.path(), &["prune", "--older-than-days", "0"], Some(&url));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        out.contains("pruned 2 handled job events and 2 deliveries"),
        "{out}"
    );

    for bad in [
        "--older-than-days=-1",
        "--older-than-days=1e300",
        "--older-than-days=NaN",
    ] {
        let o = jobs(dir.path(), &["prune", bad], Some(&url));
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("--older-than-days"), "{}", stderr(&o));
    }

    let o = jobs(dir.path(), &["list"], Some(&url));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.contains("github:o/r#2") || l.contains("o/r") && l.contains("pending")),
        "#2 is still queued: {out}"
    );
}
