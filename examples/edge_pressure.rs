//! The webhook edge under unauthenticated pressure, on the real binary: 80 clients that each
//! keep uploading 25 MiB bodies with a wrong (well-formed) signature, and 1,000 slow clients
//! that drip a request head a byte a second (reconnecting when they are closed), for a while;
//! meanwhile `/healthz` is asked every 100 ms on a new connection and the service's RSS read
//! every 100 ms. Prints RSS at the start, its peak and at the end, `/healthz` latency
//! (p50/p99/max and failures), and what the uploads were answered.
//!
//! ```text
//! cargo build --profile profiling --bin sdl-gate --example edge_pressure
//! target/profiling/examples/edge_pressure --bin target/profiling/sdl-gate [--seconds 30]
//! ```
//! The target (issue 17): RSS ≤ 200 MB and `/healthz` within 100 ms throughout.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

#[derive(Debug, Parser)]
#[command(about = "Unauthenticated uploads and slow clients against sdl-gate serve")]
struct Args {
    /// The sdl-gate binary.
    #[arg(long, default_value = "target/release/sdl-gate")]
    bin: PathBuf,
    /// How long the pressure lasts.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Concurrent uploaders of 25 MiB bodies.
    #[arg(long, default_value_t = 80)]
    uploads: usize,
    /// Slow clients dripping a request head.
    #[arg(long, default_value_t = 1_000)]
    slow: usize,
}

const BODY: usize = 25 * 1024 * 1024;

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One upload: headers announcing 25 MiB with a well-formed wrong signature, then the body as
/// fast as the server takes it. Returns the status (0 when the connection was cut).
async fn upload(port: u16, chunk: &[u8]) -> u16 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return 0;
    };
    let head = format!(
        "POST /webhooks/github HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {BODY}\r\nx-github-event: push\r\nx-github-delivery: pressure\r\n\
         x-hub-signature-256: sha256={}\r\nconnection: close\r\n\r\n",
        "0".repeat(64)
    );
    if s.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let mut sent = 0;
    while sent < BODY {
        let n = chunk.len().min(BODY - sent);
        if s.write_all(&chunk[..n]).await.is_err() {
            break; // answered early (503, 413) and closed
        }
        sent += n;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut answer)).await;
    std::str::from_utf8(answer.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A slow client: connects and sends a request head one byte a second until closed.
async fn drip(port: u16, stop: Arc<AtomicBool>) {
    let head = b"POST /webhooks/github HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n";
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        for b in head.iter().cycle() {
            if stop.load(Ordering::Relaxed) || s.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn healthz(port: u16) -> Option<Duration> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    buf.starts_with(b"HTTP/1.1 200").then(|| t0.elapsed())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let work = tempfile::tempdir()?;
    let key = work.path().join("key.pem");
    let ok = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .stderr(Stdio::null())
        .status()?
        .success();
    anyhow::ensure!(ok, "openssl genrsa failed");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = Command::new(&args.bin)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", work.path())
        .env("SDL_GATE_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "SDL_GATE_DATABASE_URL",
            format!("sqlite://{}", work.path().join("db.sqlite").display()),
        )
        .env("SDL_GATE_GITHUB_APP_ID", "1")
        .env("SDL_GATE_GITHUB_PRIVATE_KEY_PATH", &key)
        .env("SDL_GATE_GITHUB_WEBHOOK_SECRET", "pressure-secret")
        .env("SDL_GATE_GITHUB_API_URL", "http://127.0.0.1:1")
        .env("SDL_GATE_RECONCILE_INTERVAL", "0")
        .env("SDL_GATE_LEDGER_KEY_PATH", work.path().join("ledger.pem"))
        .env("SDL_GATE_SESSION_KEY_PATH", work.path().join("session.key"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.path().join("serve.log"))?)
        .spawn()?;
    let pid = child.id();
    let ready = Instant::now() + Duration::from_secs(20);
    while healthz(port).await.is_none() {
        anyhow::ensure!(Instant::now() < ready, "the service did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_start = rss_mb(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, usize>::new()));
    let chunk: Arc<[u8]> = vec![b'a'; 256 * 1024].into();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.slow {
        tasks.spawn(drip(port, Arc::clone(&stop)));
    }
    for _ in 0..args.uploads {
        let (stop, statuses, chunk) = (Arc::clone(&stop), Arc::clone(&statuses), chunk.clone());
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let status = upload(port, &chunk).await;
                *statuses.lock().await.entry(status).or_insert(0) += 1;
            }
        });
    }
    let (mut peak, mut latencies, mut failures) = (rss_start, Vec::new(), 0usize);
    let end = Instant::now() + Duration::from_secs(args.seconds);
    while Instant::now() < end {
        peak = peak.max(rss_mb(pid));
        match tokio::time::timeout(Duration::from_secs(5), healthz(port)).await {
            Ok(Some(latency)) => latencies.push(latency),
            _ => failures += 1,
        }
        peak = peak.max(rss_mb(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let rss_under = rss_mb(pid);
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(12)).await;
    let rss_after = rss_mb(pid);
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{} uploaders of 25 MiB with a wrong signature + {} slow clients for {} s (load {})",
        args.uploads,
        args.slow,
        args.seconds,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "RSS: start {rss_start:.1} MB, peak {peak:.1} MB, at the end {rss_under:.1} MB, 12 s after {rss_after:.1} MB"
    );
    println!(
        "/healthz: {} answers, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {failures} failed or over 5 s",
        latencies.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!("uploads answered (0 = cut): {:?}", statuses.lock().await);
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = child.wait();
    Ok(())
}
