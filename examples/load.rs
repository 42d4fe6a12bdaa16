//! Load generator for `sdl-gate serve`: sends N signed GitHub `pull_request` deliveries
//! (spread over P pull requests) at a set concurrency — or at a fixed rate — and prints the
//! acknowledgement throughput and latency percentiles.
//!
//! ```text
//! cargo run --release --example load -- --url http://127.0.0.1:8080 --secret S \
//!     --count 20000 --concurrency 64            # closed loop: max throughput
//! cargo run --release --example load -- --url … --secret S --count 10000 --rate 1000
//!                                               # open loop: latency at 1,000/s
//! ```
//! Bodies are built and signed before the clock starts, so the figures measure the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::sync::Semaphore;

#[derive(Debug, Parser)]
#[command(about = "Send signed webhook deliveries to sdl-gate and measure acknowledgements")]
struct Args {
    /// Base URL of the service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// GitHub webhook secret the service is configured with.
    #[arg(long, env = "SDL_GATE_GITHUB_WEBHOOK_SECRET")]
    secret: String,
    /// Deliveries to send.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Open loop: send at this many deliveries per second (default: as fast as acknowledged).
    #[arg(long)]
    rate: Option<u64>,
    /// Distinct pull requests the deliveries are spread over.
    #[arg(long, default_value_t = 500)]
    prs: u64,
    /// Name this GitHub App installation in every payload, as GitHub does (the processor
    /// reads it; without it a job looks its installation up in the store).
    #[arg(long)]
    installation: Option<u64>,
    /// Prefix of delivery ids (change it between runs; equal ids are duplicates).
    #[arg(long, default_value = "load")]
    id_prefix: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let url = format!("{}/webhooks/github", args.url.trim_end_matches('/'));
    let run = std::process::id();
    let requests: Vec<_> = (0..args.count)
        .map(|i| {
            let pr = (i as u64 % args.prs) + 1;
            let mut body = serde_json::json!({
                "action": "synchronize",
                "number": pr,
                "pull_request": {"number": pr, "head": {"sha": format!("{:040x}", i)}},
                "repository": {"full_name": "load/repo", "id": 1, "default_branch": "main"},
                "sender": {"login": "load-tester"},
            });
            if let Some(id) = args.installation {
                body["installation"] = serde_json::json!({ "id": id });
            }
            let body = body.to_string();
            let sig = sdl_gate::server::signature::github_signature(&args.secret, body.as_bytes());
            (format!("{}-{run}-{i}", args.id_prefix), body, sig)
        })
        .collect();

    let limit = Arc::new(Semaphore::new(args.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let mut ticker = args.rate.map(|r| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / r.max(1) as f64));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        t
    });
    let started = Instant::now();
    for (id, body, sig) in requests {
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        }
        let permit = Arc::clone(&limit).acquire_owned().await?;
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            let t0 = Instant::now();
            let status = client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-github-event", "pull_request")
                .header("x-github-delivery", id)
                .header("x-hub-signature-256", sig)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            drop(permit);
            (status, t0.elapsed())
        });
    }
    let mut latencies = Vec::with_capacity(args.count);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    while let Some(r) = tasks.join_next().await {
        let (status, latency) = r?;
        *statuses.entry(status).or_default() += 1;
        latencies.push(latency);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1e3
    };
    println!(
        "sent {} deliveries in {:.2} s: {:.0} deliveries/s (concurrency {}, rate {})",
        args.count,
        elapsed.as_secs_f64(),
        args.count as f64 / elapsed.as_secs_f64(),
        args.concurrency,
        args.rate
            .map_or("unlimited".to_owned(), |r| format!("{r}/s"))
    );
    println!(
        "ack latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    println!("statuses (0 = connection error): {statuses:?}");
    Ok(())
}
