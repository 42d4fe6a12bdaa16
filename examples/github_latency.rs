//! Measures the GitHub App end to end on loopback: starts the fake GitHub (the test suite's,
//! with 50-file pull requests) and the service (SQLite, production queue settings), opens
//! `--prs` pull requests with bursts of signed webhook events, and prints per pull request
//! the latency from its last event to its completed `sdl-gate` check run (p50, p95, max)
//! against the target of debounce + 500 ms. Then it evaluates fresh pull requests one at a
//! time and prints the median number of GitHub requests per evaluation (from the fake's
//! journal), for a passing and for a failing 50-file pull request.
//!
//! ```text
//! cargo run --release --example github_latency                   # 200 PRs, 4 events each
//! cargo run --release --example github_latency -- --prs 500 --debounce-ms 500
//! cargo run --release --example github_latency -- --code-scanning       # + code-scanning alerts
//! ```
//! A measurement, not a test: it asserts nothing and prints numbers.

#[path = "../tests/fake_forge/mod.rs"]
mod fake_forge;
#[path = "../tests/fake_github/mod.rs"]
mod fake_github;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Parser;
use fake_github::{APP_ID, FakeGithub, INSTALLATION, PullBuilder, TEST_KEY_PEM, sha};
use sdl_gate::engine::GithubProcessor;
use sdl_gate::forge::github::{GithubConfig, GithubForge};
use sdl_gate::server::{self, ServiceConfig};
use sdl_gate::settings::QueueSettings;
use sdl_gate::store::Store;
use secrecy::SecretString;

#[derive(Debug, Parser)]
#[command(about = "Latency and request count of the GitHub App against the fake GitHub")]
struct Args {
    /// Pull requests to open.
    #[arg(long, default_value_t = 200)]
    prs: u64,
    /// Webhook events per pull request, sent as a burst.
    #[arg(long, default_value_t = 4)]
    events: usize,
    /// Spread of one burst, in milliseconds.
    #[arg(long, default_value_t = 300)]
    burst_ms: u64,
    /// Changed files per pull request.
    #[arg(long, default_value_t = 50)]
    files: usize,
    /// Queue debounce in milliseconds (the service default is 1000).
    #[arg(long, default_value_t = sdl_gate::settings::DEFAULT_DEBOUNCE_MS)]
    debounce_ms: u64,
    /// Worker tasks (the service default is 4).
    #[arg(long, default_value_t = sdl_gate::settings::DEFAULT_WORKERS)]
    workers: usize,
    /// Fresh pull requests evaluated one at a time for the request count.
    #[arg(long, default_value_t = 21)]
    samples: u64,
    /// Turn on `gates.sast.code_scanning`: every pull request has a clean code-scanning
    /// analysis of its merge ref, read as one more request.
    #[arg(long)]
    code_scanning: bool,
}

const REPO: &str = "acme/plc";
const SECRET: &str = "latency-secret";
const POLICY: &str = r##"
version: 1
security_paths: ["src/auth/**"]
gates:
  threat_model:
    paths: ["docs/threat-model/**"]
    link_patterns: ["https://tm.example.com/*"]
  security_review:
    approvals: 1
    reviewers: { teams: ["acme/security"] }
  sast:
    checks: ["CodeQL"]
  dependencies:
    manifests: ["**/Cargo.lock"]
    checks: ["cargo-audit"]
  sbom:
    enabled: true
    paths: ["sbom/**"]
"##;
const SBOM: &str =
    r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": []}"#;

/// A 50-file pull request; `passing` decides whether it links a threat model.
fn arrange(fake: &FakeGithub, args: &Args, number: u64, head: &str, passing: bool) {
    let files = args.files;
    let mut b = PullBuilder::new(REPO, number, "bob", head)
        .file("src/auth/login.rs")
        .file("Cargo.lock")
        .file("sbom/plc.cdx.json")
        .review("carol", "APPROVED", head);
    for i in 3..files {
        b = b.file(&format!("src/module_{}/file_{i}.rs", i % 7));
    }
    b.pull.body = Some(if passing {
        "Threat-Model: https://tm.example.com/login".into()
    } else {
        "no threat model".into()
    });
    b.install(fake);
    fake.put_file(REPO, head, "sbom/plc.cdx.json", SBOM.as_bytes());
    fake.ci_run(REPO, head, "CodeQL", "completed", Some("success"));
    fake.ci_run(REPO, head, "cargo-audit", "completed", Some("success"));
    if args.code_scanning {
        fake.code_scanning_analysis(REPO, &format!("refs/pull/{number}/merge"), Vec::new());
    }
}

fn event(number: u64, action: &str, head: &str) -> String {
    serde_json::json!({
        "action": action,
        "number": number,
        "pull_request": {"number": number, "head": {"sha": head}, "base": {"ref": "main"}},
        "repository": {"full_name": REPO, "id": 1, "default_branch": "main"},
        "installation": {"id": INSTALLATION}
    })
    .to_string()
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    event_name: &str,
    id: &str,
    body: String,
) -> anyhow::Result<()> {
    let sig = sdl_gate::server::signature::github_signature(SECRET, body.as_bytes());
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-github-event", event_name)
        .header("x-github-delivery", id)
        .header("x-hub-signature-256", sig)
        .body(body)
        .send()
        .await
        .context("sending a webhook")?;
    anyhow::ensure!(
        resp.status().as_u16() == 202,
        "webhook answered {}",
        resp.status()
    );
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(mut v: Vec<usize>) -> usize {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fake = FakeGithub::start().await;
    fake.team("acme", "security", &["carol"]);
    let policy = if args.code_scanning {
        POLICY.replace(
            "checks: [\"CodeQL\"]",
            "checks: [\"CodeQL\"]\n    code_scanning: true",
        )
    } else {
        POLICY.to_string()
    };
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", policy.as_bytes());

    let dir = tempfile::tempdir()?;
    let store = Store::connect(
        &format!("sqlite://{}", dir.path().join("latency.db").display()),
        u32::try_from(args.workers + 4).unwrap_or(8),
    )
    .await?;
    store.migrate().await?;
    let mut cfg = GithubConfig::new(APP_ID, SecretString::from(TEST_KEY_PEM));
    cfg.api_url = fake.url.clone();
    let forge = GithubForge::new(cfg)?;
    let processor = Arc::new(GithubProcessor::new(forge, store.clone(), None));
    let queue = QueueSettings {
        debounce: Duration::from_millis(args.debounce_ms),
        ..QueueSettings::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let svc = server::start(
        listener,
        store.clone(),
        processor,
        ServiceConfig {
            queue,
            workers: args.workers,
            github_secrets: Some(vec![SecretString::from(SECRET)]),
            gitlab_secrets: None,
            shutdown_grace: Duration::from_secs(5),
            body_limit: sdl_gate::server::ingest::MAX_BODY_BYTES,
            in_flight_bytes: sdl_gate::server::ingest::IN_FLIGHT_BYTES,
            body_read_timeout: sdl_gate::server::ingest::BODY_READ_TIMEOUT,
            readiness: sdl_gate::server::readiness::Readiness::new(),
            connections: sdl_gate::server::conn::ConnLimits::for_process(),
            retention: None,
            pages: None,
        },
    )?;
    let url = format!("http://{}/webhooks/github", svc.addr);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    // Part 1: latency under bursts.
    let heads: Vec<(u64, String)> = (1..=args.prs).map(|n| (n, sha(0x10_0000 + n))).collect();
    for (n, head) in &heads {
        arrange(&fake, &args, *n, head, n % 4 != 0);
    }
    let actions = ["opened", "labeled", "synchronize", "edited", "unlabeled"];
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, (n, head)) in heads.iter().enumerate() {
        let (client, url, head, n) = (client.clone(), url.clone(), head.clone(), *n);
        let (events, burst) = (args.events.max(1), args.burst_ms);
        // Pull requests start over about two seconds; each burst spreads over `burst_ms`.
        let offset = Duration::from_millis((i as u64 * 2000) / args.prs.max(1));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut last: DateTime<Utc> = Utc::now();
            for e in 0..events {
                if e > 0 {
                    tokio::time::sleep(Duration::from_millis(burst / events as u64)).await;
                }
                last = Utc::now();
                send(
                    &client,
                    &url,
                    "pull_request",
                    &format!("lat-{n}-{e}"),
                    event(n, actions[e % actions.len()], &head),
                )
                .await?;
            }
            Ok::<_, anyhow::Error>((n, last))
        }));
    }
    let mut last_event: BTreeMap<u64, DateTime<Utc>> = BTreeMap::new();
    for t in tasks {
        let (n, at) = t.await??;
        last_event.insert(n, at);
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    let done: BTreeMap<u64, DateTime<Utc>> = loop {
        let runs: BTreeMap<u64, DateTime<Utc>> = heads
            .iter()
            .filter_map(|(n, head)| {
                fake.check_runs(REPO, head, "sdl-gate")
                    .iter()
                    .filter_map(|r| r.completed_at)
                    .max()
                    .map(|t| (*n, t))
            })
            .collect();
        if runs.len() == heads.len() {
            break runs;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {} check runs completed",
            runs.len(),
            heads.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let wall = started.elapsed();
    let mut latencies: Vec<f64> = done
        .iter()
        .filter_map(|(n, at)| {
            last_event
                .get(n)
                .map(|last| (*at - *last).num_milliseconds() as f64)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let duplicates = heads
        .iter()
        .filter(|(_, h)| fake.check_runs(REPO, h, "sdl-gate").len() > 1)
        .count();
    let target = args.debounce_ms as f64 + 500.0;
    println!(
        "latency, last event → completed check run, {} PRs × {} events ({} files each), debounce {} ms, {} workers, SQLite:",
        args.prs, args.events, args.files, args.debounce_ms, args.workers
    );
    println!(
        "  p50 {:.0} ms   p95 {:.0} ms   max {:.0} ms   target (debounce + 500 ms) {:.0} ms   p95 {} target",
        percentile(&latencies, 50.0),
        percentile(&latencies, 95.0),
        percentile(&latencies, 100.0),
        target,
        if percentile(&latencies, 95.0) <= target {
            "within"
        } else {
            "OVER"
        }
    );
    println!(
        "  wall time {:.1} s, {} GitHub requests, {} PRs with more than one check run",
        wall.as_secs_f64(),
        fake.journal().len(),
        duplicates
    );

    // Let the first part's last writes (sticky comments) finish before counting.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !store.queue_depth().await?.is_drained() {
        anyhow::ensure!(Instant::now() < deadline, "the queue did not drain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Part 2: requests per evaluation, one fresh pull request at a time.
    let mut counts: BTreeMap<bool, Vec<usize>> = BTreeMap::new();
    for i in 0..args.samples * 2 {
        let n = 10_000 + i;
        let passing = i % 2 == 0;
        let head = sha(0x20_0000 + n);
        arrange(&fake, &args, n, &head, passing);
        let mark = fake.mark();
        send(
            &client,
            &url,
            "pull_request",
            &format!("count-{n}"),
            event(n, "opened", &head),
        )
        .await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let depth = store.queue_depth().await?;
            if depth.is_drained() && !fake.check_runs(REPO, &head, "sdl-gate").is_empty() {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "PR {n} was not evaluated");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let calls = fake.calls_since(mark);
        counts.entry(passing).or_default().push(calls.len());
        if i == 0 || i == 1 {
            println!(
                "  requests of one {} evaluation: {}",
                if passing { "passing" } else { "failing" },
                calls
                    .iter()
                    .map(|c| format!("{} {}", c.method, c.path))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    for (passing, v) in counts {
        println!(
            "requests per evaluation of a {}-file PR ({}, {} samples): median {}, min {}, max {}",
            args.files,
            if passing {
                "passing, no comment"
            } else {
                "failing, sticky comment created"
            },
            v.len(),
            median(v.clone()),
            v.iter().min().copied().unwrap_or(0),
            v.iter().max().copied().unwrap_or(0)
        );
    }
    svc.shutdown().await;
    store.close().await;
    Ok(())
}
