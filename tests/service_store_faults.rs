//! The store's fault suite, over real HTTP on loopback against a real SQLite file: a locked
//! database file and a full disk (a small tmpfs). Each asserts the answer (503 with a reason),
//! the time to answer (within 2 s), recovery without a restart once the cause is gone, and that
//! every acknowledged delivery is stored.

mod service_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sdl_gate::store::Store;
use service_support::*;
use sqlx::ConnectOptions;

/// The longest a sender may wait for a refusal.
const ANSWER_BUDGET: Duration = Duration::from_secs(2);

async fn readyz(client: &reqwest::Client, base: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let r = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    let status = r.status().as_u16();
    (
        status,
        r.text().await.unwrap_or_default(),
        started.elapsed(),
    )
}

/// Sends deliveries until one is accepted (202) or `within` passes; returns how long it took.
async fn until_accepted(
    client: &reqwest::Client,
    base: &str,
    prefix: &str,
    body: &str,
    acked: &mut Vec<String>,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        let id = format!("{prefix}-{n}");
        let (status, text) =
            send_github(client, base, GITHUB_SECRET, "pull_request", &id, body).await;
        if status == 202 {
            acked.push(id);
            return started.elapsed();
        }
        assert_eq!(status, 503, "{text}");
        assert!(
            started.elapsed() < within,
            "not recovered within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks, on a connection of its own to the same file, that every acknowledged delivery is there.
async fn assert_all_stored(url: &str, acked: &[String]) {
    let mut conn = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .expect("url")
        .connect()
        .await
        .expect("reader");
    for id in acked {
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE delivery_id = $1")
                .bind(id)
                .fetch_one(&mut conn)
                .await
                .expect("count");
        assert_eq!(stored, 1, "acknowledged delivery {id} is not stored");
    }
}

#[tokio::test]
async fn a_locked_sqlite_file_is_refused_fast_and_heals_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("locked.db");
    let url = format!("sqlite://{}", file.display());
    let store = Store::connect(&url, 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    let svc = spawn(store.clone(), Recorder::new(), config(fast_queue(), 1)).await;
    let base = format!("http://{}", svc.addr);
    let client = reqwest::Client::new();
    let body = pr_payload("octo/repo", 1, "opened");
    let mut acked = Vec::new();

    until_accepted(&client, &base, "before", &body, &mut acked, ANSWER_BUDGET).await;
    assert_eq!(readyz(&client, &base).await.0, 200);

    // Another connection takes the write lock and keeps it.
    let mut holder = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&file)
        .connect()
        .await
        .expect("lock holder");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .expect("lock");

    let started = Instant::now();
    let (status, text) = send_github(
        &client,
        &base,
        GITHUB_SECRET,
        "pull_request",
        "locked-1",
        &body,
    )
    .await;
    let answer = started.elapsed();
    assert_eq!(status, 503, "{text}");
    assert!(answer < ANSWER_BUDGET, "503 took {answer:?}");
    let (ready, why, took) = readyz(&client, &base).await;
    assert_eq!(ready, 503, "{why}");
    assert!(why.contains("locked"), "{why}");
    assert!(took < ANSWER_BUDGET, "readyz took {took:?}");
    println!(
        "locked: webhook 503 in {answer:?}, readyz 503 in {took:?}: {}",
        why.trim()
    );

    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("unlock");
    let recovered = until_accepted(
        &client,
        &base,
        "after",
        &body,
        &mut acked,
        Duration::from_secs(15),
    )
    .await;
    println!("locked: accepted again {recovered:?} after the lock was released");
    assert_eq!(readyz(&client, &base).await.0, 200);
    assert_all_stored(&url, &acked).await;
    svc.shutdown().await;
}

/// A tmpfs mounted for one test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?.keep();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs(dir))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[tokio::test]
async fn a_full_disk_is_refused_fast_and_heals_without_a_restart() {
    let fs = match Tmpfs::mount("8m") {
        Ok(fs) => fs,
        Err(why) => {
            println!("SKIP full-disk test: cannot mount a tmpfs here ({why})");
            return;
        }
    };
    let file = fs.path().join("full.db");
    let url = format!("sqlite://{}", file.display());
    let store = Store::connect(&url, 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    let svc = spawn(store.clone(), Recorder::new(), config(fast_queue(), 1)).await;
    let base = format!("http://{}", svc.addr);
    let client = reqwest::Client::new();
    // Payloads big enough to need new pages on every commit.
    let mut payload: serde_json::Value =
        serde_json::from_str(&pr_payload("octo/repo", 1, "opened")).expect("json");
    payload["padding"] = serde_json::Value::String("x".repeat(64 * 1024));
    let body = payload.to_string();
    let mut acked = Vec::new();
    until_accepted(&client, &base, "before", &body, &mut acked, ANSWER_BUDGET).await;

    // Fill the disk: a filler file takes whatever space is left.
    let filler = fs.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }

    // Deliveries now fail to commit: each must be refused (503) within the budget.
    let mut refused = None;
    for n in 0..40 {
        let id = format!("full-{n}");
        let started = Instant::now();
        let (status, text) =
            send_github(&client, &base, GITHUB_SECRET, "pull_request", &id, &body).await;
        let took = started.elapsed();
        assert!(
            took < ANSWER_BUDGET,
            "answer took {took:?} ({status} {text})"
        );
        match status {
            202 => acked.push(id),
            503 => {
                refused = Some(took);
                break;
            }
            other => panic!("unexpected {other}: {text}"),
        }
    }
    let refused = refused.expect("a delivery on a full disk was refused");
    let (ready, why, took) = readyz(&client, &base).await;
    assert_eq!(ready, 503, "{why}");
    assert!(took < ANSWER_BUDGET, "readyz took {took:?}");
    println!(
        "full disk: webhook 503 in {refused:?}, readyz 503 in {took:?}: {}",
        why.trim()
    );

    std::fs::remove_file(&filler).expect("free the space");
    let freed = Instant::now();
    let recovered = until_accepted(
        &client,
        &base,
        "after",
        &body,
        &mut acked,
        Duration::from_secs(15),
    )
    .await;
    println!("full disk: accepted again {recovered:?} after the space was freed");
    let (ready, why, _) = readyz(&client, &base).await;
    assert_eq!(ready, 200, "{why}");
    assert!(freed.elapsed() < Duration::from_secs(15));
    assert_all_stored(&url, &acked).await;
    svc.shutdown().await;
    store.close().await;
}

/// A PostgreSQL 15 instance of the test's own (initdb + pg_ctl, on a free loopback port), never
/// the machine's shared one; stopped and removed on drop.
struct OwnPostgres {
    dir: PathBuf,
    port: u16,
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn as_postgres(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(format!("{PG_BIN}/{cmd}"))
        .args(args)
        .output()
        .map_err(|e| format!("running {cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl OwnPostgres {
    fn create() -> Result<OwnPostgres, String> {
        if !Path::new(PG_BIN).join("initdb").exists() {
            return Err(format!("no {PG_BIN}/initdb"));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?.keep();
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("chown to postgres failed (not root?)".into());
        }
        let pg = OwnPostgres { dir, port };
        let data = pg.data();
        as_postgres("initdb", &["-D", &data, "-A", "trust", "-U", "postgres"])?;
        pg.start()?;
        Ok(pg)
    }
    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }
    fn start(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        as_postgres(
            "pg_ctl",
            &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"],
        )
    }
    fn stop(&self) -> Result<(), String> {
        as_postgres("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"])
    }
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = as_postgres(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_postgres_outage_is_refused_fast_and_heals_without_a_restart() {
    let pg = match OwnPostgres::create() {
        Ok(pg) => pg,
        Err(why) => {
            println!("SKIP PostgreSQL outage test: cannot run a PostgreSQL of its own ({why})");
            return;
        }
    };
    let url = pg.url();
    let store = Store::connect(&url, 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    let svc = spawn(store.clone(), Recorder::new(), config(fast_queue(), 1)).await;
    let base = format!("http://{}", svc.addr);
    let client = reqwest::Client::new();
    let body = pr_payload("octo/repo", 1, "opened");
    let mut acked = Vec::new();
    until_accepted(&client, &base, "before", &body, &mut acked, ANSWER_BUDGET).await;
    assert_eq!(readyz(&client, &base).await.0, 200);

    pg.stop().expect("stop PostgreSQL");
    let mut worst = Duration::ZERO;
    for n in 0..3 {
        let id = format!("down-{n}");
        let started = Instant::now();
        let (status, text) =
            send_github(&client, &base, GITHUB_SECRET, "pull_request", &id, &body).await;
        let took = started.elapsed();
        worst = worst.max(took);
        assert_eq!(status, 503, "{text}");
        assert!(took < ANSWER_BUDGET, "503 took {took:?}");
    }
    let (ready, why, took) = readyz(&client, &base).await;
    assert_eq!(ready, 503, "{why}");
    assert!(took < ANSWER_BUDGET, "readyz took {took:?}");
    assert!(why.contains("refused"), "the cause is named: {why}");
    println!(
        "postgres down: webhook 503 in at most {worst:?}, readyz 503 in {took:?}: {}",
        why.trim()
    );

    pg.start().expect("start PostgreSQL");
    let recovered = until_accepted(
        &client,
        &base,
        "after",
        &body,
        &mut acked,
        Duration::from_secs(20),
    )
    .await;
    println!("postgres: accepted again {recovered:?} after it was started");
    let (ready, why, _) = readyz(&client, &base).await;
    assert_eq!(ready, 200, "{why}");

    let mut conn = url
        .parse::<sqlx::postgres::PgConnectOptions>()
        .expect("url")
        .connect()
        .await
        .expect("check connection");
    for id in &acked {
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE delivery_id = $1")
                .bind(id)
                .fetch_one(&mut conn)
                .await
                .expect("count");
        assert_eq!(stored, 1, "acknowledged delivery {id} is not stored");
    }
    svc.shutdown().await;
    store.close().await;
}

#[tokio::test]
async fn an_unreachable_postgres_at_start_up_names_the_host_and_the_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("postgres://someone:hunter2@127.0.0.1:{port}/db");
    let started = Instant::now();
    let err = Store::connect(&url, 2)
        .await
        .expect_err("nothing listens there");
    let message = err.to_string();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("hunter2"), "password in {message}");
    assert!(!message.contains("pool timed out"), "{message}");
    println!(
        "unreachable at start-up ({:?}): {message}",
        started.elapsed()
    );
}
