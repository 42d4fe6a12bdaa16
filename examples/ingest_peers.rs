//! Webhook ingestion side by side with the peer, in one run: `sdl-gate serve` on SQLite and on
//! PostgreSQL against Probot 14.3.2 (`examples/peers/probot`, a `pull_request` handler that does
//! nothing and stores nothing), each fed the same unique, signed deliveries of a real 28 KB
//! `pull_request` payload over keep-alive connections at 32 and at 128 connections.
//!
//! For every run it prints throughput, acknowledgement latency (p50, p99, max), the CPU each
//! durably acknowledged delivery cost the service (user + system of its process, from
//! `/proc/PID/stat`) and, on PostgreSQL, the database's CPU as well (every `postgres` process of
//! the cluster), peak RSS, and then each figure as a ratio to Probot's of the same round. After
//! every sdl-gate run it counts the stored deliveries: each acknowledged one must be there.
//!
//! ```text
//! cargo build --profile profiling --bin sdl-gate --example ingest_peers
//! target/profiling/examples/ingest_peers --bin target/profiling/sdl-gate
//! ```
//!
//! Options: `--deliveries N` per run (20,000), `--connections 32,128`, `--rounds R` (runs are
//! interleaved round by round so a busy machine slows every contender alike), `--only
//! probot,sqlite,postgres`, `--postgres-url` (a server whose `postgres` database may create and
//! drop `sdl_gate_ingest_peers`). Probot is installed with `npm ci` into `target/peers/probot`
//! on first use. The load generator is a single-threaded client writing pre-built requests, so
//! it takes at most one of the machine's cores and spends its time on the server's answers.
//! sdl-gate runs with a 10-minute debounce and the recording processor, so no job runs while a
//! round is measured: the figures are the ingestion (verify, parse, store) alone, as Probot's are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "ingest-peers-secret";
const FIXTURE: &str = "github-webhooks/octokit-webhooks/pull_request/synchronize.payload.json";
/// Placeholders in the payload template, replaced per delivery (same width as what replaces
/// them would need not hold: `Content-Length` is computed per request).
const NUMBER_MARK: &str = "987654321";
const SHA_MARK: &str = "ffffffffffffffffffffffffffffffffffffffff";

#[derive(Debug, Parser)]
#[command(about = "Measure webhook ingestion of sdl-gate (SQLite, PostgreSQL) beside Probot")]
struct Args {
    /// The sdl-gate binary.
    #[arg(long, default_value = "target/release/sdl-gate")]
    bin: PathBuf,
    /// Deliveries per measured run (after a warm-up of a tenth of it).
    #[arg(long, default_value_t = 20_000)]
    deliveries: usize,
    /// Connections per run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "32,128")]
    connections: Vec<usize>,
    /// Rounds; each round runs every contender once per connection count.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Contenders, comma-separated: probot, sqlite, postgres.
    #[arg(long, value_delimiter = ',', default_value = "probot,sqlite,postgres")]
    only: Vec<String>,
    /// Pull requests the deliveries are spread over.
    #[arg(long, default_value_t = 500)]
    prs: u64,
    /// PostgreSQL server (its `postgres` database) for the PostgreSQL runs.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Where Probot is installed (`npm ci` of examples/peers/probot).
    #[arg(long, default_value = "target/peers/probot")]
    probot_dir: PathBuf,
    /// The shared fixtures (for the real payload; a generated one of the same size otherwise).
    #[arg(long, default_value = "../shared/fixtures")]
    fixtures: PathBuf,
}

/// One contender's process(es) under measurement.
struct Server {
    child: Child,
    port: u16,
    path: &'static str,
    /// Whether to add the PostgreSQL cluster's CPU.
    postgres: bool,
    database: Option<String>,
    /// Its files (key, database, log); kept past the process for the stored-count check.
    work: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) of one process, all threads, from `/proc/PID/stat`.
fn cpu_of(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may contain spaces: fields start after the last ')'.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of every `postgres` process on the machine (the cluster's backends, WAL writer,
/// checkpointer…).
fn postgres_cpu() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(cpu_of)
        .sum()
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn private_key(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("key.pem");
    let status = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&path)
        .arg("2048")
        .stderr(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "openssl genrsa failed");
    Ok(path)
}

async fn wait_ready(port: u16, path: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await {
            let req =
                format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
            if s.write_all(req.as_bytes()).await.is_ok() {
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf).await;
                if buf.starts_with(b"HTTP/1.1 200") {
                    return Ok(());
                }
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not ready on port {port} in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_probot(args: &Args) -> anyhow::Result<Server> {
    let dir = &args.probot_dir;
    if !dir.join("node_modules/.bin/probot").exists() {
        std::fs::create_dir_all(dir)?;
        for f in ["package.json", "package-lock.json", "app.js"] {
            std::fs::copy(Path::new("examples/peers/probot").join(f), dir.join(f))?;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .status()?;
        anyhow::ensure!(status.success(), "npm ci in {} failed", dir.display());
    }
    let dir = &std::fs::canonicalize(dir)?;
    let work = tempfile::tempdir()?;
    let key = private_key(work.path())?;
    let port = free_port()?;
    let child = Command::new(dir.join("node_modules/.bin/probot"))
        .args(["run", "./app.js"])
        .current_dir(dir)
        .env("APP_ID", "1")
        .env("PRIVATE_KEY_PATH", &key)
        .env("WEBHOOK_SECRET", SECRET)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        // Its best case: no line per request (its default, info, logs every request).
        .env("LOG_LEVEL", "warn")
        .env("NODE_ENV", "production")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.path().join("probot.log"))?)
        .spawn()?;
    let server = Server {
        child,
        port,
        path: "/api/github/webhooks",
        postgres: false,
        database: None,
        work: Some(work),
    };
    wait_ready(port, "/ping").await?;
    Ok(server)
}

async fn start_sdl_gate(args: &Args, postgres: bool) -> anyhow::Result<Server> {
    let work = tempfile::tempdir()?;
    let key = private_key(work.path())?;
    let port = free_port()?;
    let database = if postgres {
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&args.postgres_url)
            .await?;
        sqlx::query("DROP DATABASE IF EXISTS sdl_gate_ingest_peers WITH (FORCE)")
            .execute(&admin)
            .await?;
        sqlx::query("CREATE DATABASE sdl_gate_ingest_peers")
            .execute(&admin)
            .await?;
        let base = args
            .postgres_url
            .rsplit_once('/')
            .map_or(args.postgres_url.as_str(), |(b, _)| b);
        format!("{base}/sdl_gate_ingest_peers")
    } else {
        format!("sqlite://{}", work.path().join("sdl-gate.db").display())
    };
    let child = Command::new(&args.bin)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", work.path())
        .env("SDL_GATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("SDL_GATE_DATABASE_URL", &database)
        .env("SDL_GATE_GITHUB_APP_ID", "1")
        .env("SDL_GATE_GITHUB_PRIVATE_KEY_PATH", &key)
        .env("SDL_GATE_GITHUB_WEBHOOK_SECRET", SECRET)
        .env("SDL_GATE_GITHUB_API_URL", "http://127.0.0.1:1")
        .env("SDL_GATE_RECONCILE_INTERVAL", "0")
        .env("SDL_GATE_DEBOUNCE_MS", "600000")
        .env("SDL_GATE_LEDGER_KEY_PATH", work.path().join("ledger.pem"))
        .env("SDL_GATE_SESSION_KEY_PATH", work.path().join("session.key"))
        .env(
            "SDL_GATE_TEST_PROCESSOR",
            format!("record:{}", work.path().join("record.log").display()),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.path().join("serve.log"))?)
        .spawn()?;
    let server = Server {
        child,
        port,
        path: "/webhooks/github",
        postgres,
        database: Some(database),
        work: Some(work),
    };
    wait_ready(port, "/healthz").await?;
    Ok(server)
}

/// The payload: the real `synchronize` delivery from the shared fixtures (28 KB), with its
/// number, pull request number and head sha turned into placeholders.
fn template(args: &Args) -> anyhow::Result<String> {
    let path = args.fixtures.join(FIXTURE);
    let mut value: serde_json::Value = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)?,
        Err(err) => {
            eprintln!(
                "note: {} unreadable ({err}); using a generated payload of the same size",
                path.display()
            );
            let filler = "x".repeat(26_000);
            serde_json::json!({
                "action": "synchronize", "number": 1,
                "pull_request": {"number": 1, "head": {"sha": "0"}, "body": filler},
                "repository": {"full_name": "peers/repo", "id": 1, "default_branch": "main"},
                "installation": {"id": 1}, "sender": {"login": "peer"},
            })
        }
    };
    value["number"] = serde_json::json!(987_654_321u64);
    value["pull_request"]["number"] = serde_json::json!(987_654_321u64);
    value["pull_request"]["head"]["sha"] = serde_json::json!(SHA_MARK);
    Ok(value.to_string())
}

/// Builds `count` complete HTTP/1.1 requests, each a distinct delivery, signed.
fn requests(template: &str, path: &str, tag: &str, count: usize, prs: u64) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let number = (i as u64 % prs) + 1;
            let body = template
                .replace(NUMBER_MARK, &number.to_string())
                .replace(SHA_MARK, &format!("{:040x}", i));
            let sig = sdl_gate::server::signature::github_signature(SECRET, body.as_bytes());
            let mut req = format!(
                "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nuser-agent: GitHub-Hookshot/peers\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\n\
                 x-github-event: pull_request\r\nx-github-delivery: {tag}-{i}\r\n\
                 x-github-hook-id: 1\r\nx-hub-signature-256: {sig}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            req.extend_from_slice(body.as_bytes());
            req
        })
        .collect()
}

/// Reads one response; returns its status and whether the server will close the connection.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<(u16, bool)> {
    buf.clear();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])?.to_ascii_lowercase();
    let status: u16 = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("bad status line"))?;
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().strip_prefix(':'))
            .map(str::trim)
    };
    let close = header("connection") == Some("close");
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "connection closed in a body");
            buf.extend_from_slice(&chunk[..n]);
        }
    } else if header("transfer-encoding") == Some("chunked") {
        while !buf[head_end..].ends_with(b"0\r\n\r\n") {
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "connection closed in a chunked body");
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    Ok((status, close))
}

/// Sends every request over `connections` keep-alive connections; latencies and statuses.
async fn drive(
    port: u16,
    requests: Arc<Vec<Vec<u8>>>,
    connections: usize,
) -> (Vec<Duration>, BTreeMap<u16, usize>, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (next, requests) = (Arc::clone(&next), Arc::clone(&requests));
        tasks.spawn(async move {
            let mut out = Vec::new();
            let mut buf = Vec::with_capacity(8192);
            let mut stream: Option<TcpStream> = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = requests.get(i) else { break };
                let t0 = Instant::now();
                let mut result = Err(anyhow::anyhow!("not sent"));
                for _attempt in 0..2 {
                    let s = match stream.as_mut() {
                        Some(s) => s,
                        None => match TcpStream::connect(("127.0.0.1", port)).await {
                            Ok(s) => {
                                let _ = s.set_nodelay(true);
                                stream.insert(s)
                            }
                            Err(e) => {
                                result = Err(e.into());
                                continue;
                            }
                        },
                    };
                    let sent = s.write_all(req).await;
                    result = match sent {
                        Ok(()) => read_response(s, &mut buf).await,
                        Err(e) => Err(e.into()),
                    };
                    match &result {
                        Ok((_, close)) => {
                            if *close {
                                stream = None;
                            }
                            break;
                        }
                        // A kept-alive connection the server closed: reconnect once.
                        Err(_) => stream = None,
                    }
                }
                out.push((result.map_or(0, |(status, _)| status), t0.elapsed()));
            }
            out
        });
    }
    let mut latencies = Vec::with_capacity(requests.len());
    let mut statuses = BTreeMap::new();
    while let Some(Ok(out)) = tasks.join_next().await {
        for (status, latency) in out {
            *statuses.entry(status).or_insert(0) += 1;
            latencies.push(latency);
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    (latencies, statuses, elapsed)
}

/// What one run measured.
#[derive(Debug, Clone)]
struct Run {
    contender: String,
    connections: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Service CPU per acknowledged delivery.
    cpu_us: f64,
    /// Database CPU per acknowledged delivery (PostgreSQL).
    db_cpu_us: Option<f64>,
    rss_mb: f64,
    statuses: BTreeMap<u16, usize>,
}

async fn count_stored(database: &str) -> anyhow::Result<i64> {
    if database.starts_with("postgres") {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(database)
            .await?;
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM deliveries")
            .fetch_one(&pool)
            .await?)
    } else {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(database)
            .await?;
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM deliveries")
            .fetch_one(&pool)
            .await?)
    }
}

async fn measure(
    args: &Args,
    contender: &str,
    connections: usize,
    round: usize,
    template: &str,
) -> anyhow::Result<Run> {
    let server = match contender {
        "probot" => start_probot(args).await?,
        "sqlite" => start_sdl_gate(args, false).await?,
        "postgres" => start_sdl_gate(args, true).await?,
        other => anyhow::bail!("unknown contender {other} (probot, sqlite, postgres)"),
    };
    let tag = format!("{}-{contender}-{connections}-{round}", std::process::id());
    let warmup = (args.deliveries / 10).max(100);
    let warm = Arc::new(requests(
        template,
        server.path,
        &format!("{tag}-warm"),
        warmup,
        args.prs,
    ));
    let measured = Arc::new(requests(
        template,
        server.path,
        &tag,
        args.deliveries,
        args.prs,
    ));
    let (_, warm_statuses, _) = drive(server.port, warm, connections).await;
    let pid = server.child.id();
    let (cpu0, db0) = (cpu_of(pid), server.postgres.then(postgres_cpu));
    let (latencies, statuses, elapsed) = drive(server.port, measured, connections).await;
    let (cpu1, db1) = (cpu_of(pid), server.postgres.then(postgres_cpu));
    let acked: usize = statuses
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1e3
    };
    let per = |cpu: f64| cpu * 1e6 / acked.max(1) as f64;
    let run = Run {
        contender: contender.to_owned(),
        connections,
        per_second: acked as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        cpu_us: per(cpu1 - cpu0),
        db_cpu_us: db0.zip(db1).map(|(a, b)| per(b - a)),
        rss_mb: peak_rss_mb(pid),

        statuses,
    };
    if let Some(database) = server.database.clone() {
        let warm_acked: usize = warm_statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum();
        let mut server = server;
        let _work = server.work.take();
        drop(server); // stopped: everything acknowledged must be on disk
        let stored = count_stored(&database).await?;
        let expected = (warm_acked + acked) as i64;
        anyhow::ensure!(
            stored >= expected,
            "{contender}: {expected} deliveries acknowledged, only {stored} stored"
        );
        println!("  {contender}: {stored} deliveries stored, {expected} acknowledged");
    }
    Ok(run)
}

fn print_run(run: &Run, probot: Option<&Run>) {
    let db = run
        .db_cpu_us
        .map_or(String::new(), |d| format!(" + db {d:>5.0}"));
    let ratio = probot.map_or(String::new(), |p| {
        let total = run.cpu_us + run.db_cpu_us.unwrap_or(0.0);
        format!(
            "   vs Probot: throughput {:.2}x, CPU/delivery {:.2}x",
            run.per_second / p.per_second,
            total / p.cpu_us
        )
    });
    println!(
        "{:<9} {:>4} conn  {:>7.0}/s  p50 {:>6.2} ms  p99 {:>7.2} ms  max {:>7.1} ms  CPU {:>5.0} µs{db}  RSS {:>6.1} MB{ratio}",
        run.contender,
        run.connections,
        run.per_second,
        run.p50_ms,
        run.p99_ms,
        run.max_ms,
        run.cpu_us,
        run.rss_mb,
    );
    if run.statuses.keys().any(|s| !(200..300).contains(s)) {
        println!(
            "          statuses (0 = connection error): {:?}",
            run.statuses
        );
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.bin.exists(),
        "{} not found: build it first (see --help)",
        args.bin.display()
    );
    // One thread for the load: the rest of the machine is the servers'.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let template = template(&args)?;
    println!(
        "payload {} bytes; {} deliveries per run over {} pull requests; load {}",
        template.len(),
        args.deliveries,
        args.prs,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let mut all: Vec<Run> = Vec::new();
    for round in 0..args.rounds {
        for &connections in &args.connections {
            let mut probot: Option<Run> = None;
            for contender in &args.only {
                let run = rt.block_on(measure(&args, contender, connections, round, &template))?;
                print_run(&run, probot.as_ref().filter(|_| contender != "probot"));
                if contender == "probot" {
                    probot = Some(run.clone());
                }
                all.push(run);
            }
        }
    }
    if args.rounds > 1 {
        println!("\nmedians over {} rounds:", args.rounds);
        for &connections in &args.connections {
            let mut probot: Option<Run> = None;
            for contender in &args.only {
                let mut runs: Vec<&Run> = all
                    .iter()
                    .filter(|r| &r.contender == contender && r.connections == connections)
                    .collect();
                runs.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
                let median = (*runs[runs.len() / 2]).clone();
                print_run(&median, probot.as_ref().filter(|_| contender != "probot"));
                if contender == "probot" {
                    probot = Some(median);
                }
            }
        }
    }
    Ok(())
}
