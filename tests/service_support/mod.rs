//! Shared helpers for the service and store tests: fresh databases on SQLite and PostgreSQL,
//! a recording processor double, signed deliveries, and waiting for the queue to drain.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sdl_gate::queue::{Job, ProcessError, Processor};
use sdl_gate::server::{self, RunningService, ServiceConfig};
use sdl_gate::settings::QueueSettings;
use sdl_gate::store::{QueueDepth, Store};
use secrecy::SecretString;

/// The published fixtures, next to the crate.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures");

/// A database made for one test.
pub struct TestDb {
    pub url: String,
    pub label: &'static str,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for TestDb {
    /// Drops a PostgreSQL test database (best effort, via psql; FORCE ends open connections).
    fn drop(&mut self) {
        if self.label != "postgres" {
            return;
        }
        if let Some((server, name)) = self.url.rsplit_once('/') {
            let _ = std::process::Command::new("psql")
                .arg(format!("{server}/postgres"))
                .args([
                    "-qAtc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// The PostgreSQL server URL for tests: `SDL_GATE_TEST_DATABASE_URL`. With `CI=true` and no
/// URL this panics (the suite must not silently skip in CI); elsewhere it prints why it skips.
pub fn postgres_base_url(test: &str) -> Option<String> {
    match std::env::var("SDL_GATE_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!(
                    "{test}: CI=true but SDL_GATE_TEST_DATABASE_URL is not set; source .ci/services.sh to start PostgreSQL"
                );
            }
            eprintln!(
                "{test}: skipping the PostgreSQL run: SDL_GATE_TEST_DATABASE_URL is not set (source .ci/services.sh)"
            );
            None
        }
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{}_{n}", std::process::id(), nanos)
}

/// A fresh SQLite database file in a temporary directory.
pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    TestDb {
        url,
        label: "sqlite",
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database (created on the test server), or `None` when skipping.
pub async fn postgres_db(test: &str) -> Option<TestDb> {
    let base = postgres_base_url(test)?;
    let name = unique_name("sdl_gate_t");
    let admin = sqlx::PgPool::connect(&base)
        .await
        .expect("connect to SDL_GATE_TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create test database");
    admin.close().await;
    let url = match base.rsplit_once('/') {
        Some((server, _db)) => format!("{server}/{name}"),
        None => panic!("SDL_GATE_TEST_DATABASE_URL has no database path: {base}"),
    };
    Some(TestDb {
        url,
        label: "postgres",
        _dir: None,
    })
}

/// Every backend available for `test`: SQLite always, PostgreSQL when configured.
pub async fn all_dbs(test: &str) -> Vec<TestDb> {
    let mut dbs = vec![sqlite_db()];
    if let Some(pg) = postgres_db(test).await {
        dbs.push(pg);
    }
    dbs
}

/// Connects and migrates.
pub async fn open(db: &TestDb) -> Store {
    let store = Store::connect(&db.url, 8).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// Queue settings fast enough for tests.
pub fn fast_queue() -> QueueSettings {
    QueueSettings {
        debounce: Duration::from_millis(50),
        lease: Duration::from_secs(5),
        max_attempts: 3,
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(200),
        poll_interval: Duration::from_millis(25),
    }
}

pub const GITHUB_SECRET: &str = "test-secret-current";
pub const GITHUB_OLD_SECRET: &str = "test-secret-previous";
pub const GITLAB_TOKEN: &str = "gitlab-test-token";

pub fn config(queue: QueueSettings, workers: usize) -> ServiceConfig {
    ServiceConfig {
        queue,
        workers,
        github_secrets: Some(vec![
            SecretString::from(GITHUB_SECRET),
            SecretString::from(GITHUB_OLD_SECRET),
        ]),
        gitlab_secrets: Some(vec![SecretString::from(GITLAB_TOKEN)]),
        shutdown_grace: Duration::from_secs(2),
        body_limit: sdl_gate::server::ingest::MAX_BODY_BYTES,
        in_flight_bytes: sdl_gate::server::ingest::IN_FLIGHT_BYTES,
        body_read_timeout: sdl_gate::server::ingest::BODY_READ_TIMEOUT,
        readiness: sdl_gate::server::readiness::Readiness::new(),
        connections: sdl_gate::server::conn::ConnLimits::for_process(),
        retention: None,
        pages: None,
    }
}

/// Sends the service's logs (warnings and errors by default, `RUST_LOG` to change) to the
/// test's captured output, so a test that fails in CI shows what the service was doing.
pub fn capture_logs() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_test_writer()
        .with_ansi(false)
        .try_init();
}

/// Starts the service on a random loopback port.
pub async fn spawn<P: Processor>(
    store: Store,
    processor: Arc<P>,
    config: ServiceConfig,
) -> RunningService {
    capture_logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    server::start(listener, store, processor, config).expect("start")
}

/// Polls the queue until nothing is pending or running (panics after `timeout`).
pub async fn wait_drained(store: &Store, timeout: Duration) -> QueueDepth {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let depth = store.queue_depth().await.expect("queue depth");
        if depth.is_drained() {
            return depth;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("queue did not drain within {timeout:?}: {depth:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What the double should do on its next calls for a key.
#[derive(Debug, Clone)]
pub enum Behaviour {
    Succeed,
    Retry(Option<Duration>),
    Permanent,
    /// Never finishes (a hung worker).
    Hang,
}

/// A processor double that records what it was asked, can be told to fail or be slow, and
/// detects two runs of the same key at once.
#[derive(Default)]
pub struct Recorder {
    pub runs: Mutex<Vec<(Job, std::time::Instant)>>,
    script: Mutex<HashMap<String, Vec<Behaviour>>>,
    running: Mutex<HashMap<String, usize>>,
    pub overlaps: AtomicUsize,
    pub delay: Mutex<Duration>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    /// Queues behaviours for a job key (consumed in order; then it succeeds).
    pub fn script(&self, key: &str, behaviours: Vec<Behaviour>) {
        self.script
            .lock()
            .unwrap()
            .insert(key.to_owned(), behaviours);
    }

    pub fn jobs(&self) -> Vec<Job> {
        self.runs
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.0.clone())
            .collect()
    }

    pub fn runs_for(&self, key: &str) -> Vec<Job> {
        self.jobs()
            .into_iter()
            .filter(|j| j.key.to_key_string() == key)
            .collect()
    }
}

impl Processor for Recorder {
    async fn process(&self, job: &Job) -> Result<(), ProcessError> {
        let key = job.key.to_key_string();
        {
            let mut running = self.running.lock().unwrap();
            let n = running.entry(key.clone()).or_default();
            if *n > 0 {
                self.overlaps.fetch_add(1, Ordering::SeqCst);
            }
            *n += 1;
        }
        // Decrements the running count even when the run is abandoned (future dropped).
        struct Running<'a>(&'a Mutex<HashMap<String, usize>>, String);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                if let Ok(mut map) = self.0.lock() {
                    *map.entry(self.1.clone()).or_default() -= 1;
                }
            }
        }
        let _running = Running(&self.running, key.clone());
        self.runs
            .lock()
            .unwrap()
            .push((job.clone(), std::time::Instant::now()));
        let behaviour = {
            let mut script = self.script.lock().unwrap();
            match script.get_mut(&key) {
                Some(list) if !list.is_empty() => list.remove(0),
                _ => Behaviour::Succeed,
            }
        };
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if matches!(behaviour, Behaviour::Hang) {
            std::future::pending::<()>().await;
        }
        match behaviour {
            Behaviour::Succeed | Behaviour::Hang => Ok(()),
            Behaviour::Retry(after) => Err(ProcessError::Retry {
                after,
                reason: "scripted transient failure".to_owned(),
                source: None,
            }),
            Behaviour::Permanent => Err(ProcessError::permanent("scripted permanent failure")),
        }
    }
}

/// A small `pull_request` payload for `repo` and `number`.
pub fn pr_payload(repo: &str, number: u64, action: &str) -> String {
    serde_json::json!({
        "action": action,
        "number": number,
        "pull_request": {"number": number, "head": {"sha": "0123456789abcdef0123456789abcdef01234567"}},
        "repository": {"full_name": repo, "id": 1, "default_branch": "main"}
    })
    .to_string()
}

/// Sends a signed GitHub delivery; returns the status and body.
pub async fn send_github(
    client: &reqwest::Client,
    base: &str,
    secret: &str,
    event: &str,
    delivery: &str,
    body: &str,
) -> (u16, String) {
    let sig = sdl_gate::server::signature::github_signature(secret, body.as_bytes());
    let resp = client
        .post(format!("{base}/webhooks/github"))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", sig)
        .body(body.to_owned())
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// Reads a fixture file, or `None` (with a printed reason) when the fixtures are absent.
pub fn fixture(rel: &str) -> Option<String> {
    let path = Path::new(FIXTURES).join(rel);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            eprintln!("skipping: fixture {} unavailable: {e}", path.display());
            None
        }
    }
}

pub fn fixtures_dir(rel: &str) -> Option<PathBuf> {
    let path = Path::new(FIXTURES).join(rel);
    if path.is_dir() {
        Some(path)
    } else {
        eprintln!("skipping: fixture folder {} is absent", path.display());
        None
    }
}
