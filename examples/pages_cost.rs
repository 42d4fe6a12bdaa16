//! What the pages and the auditor report cost on a large repository: a SQLite store holding
//! 10,000 evaluations of 625 changes (16 each) (each made by the real `evaluate` and recorded in the
//! ledger as the engine does), 500 merges (one in ten bypassed, one in ten with a waived
//! review) in one release, and a signed checkpoint; then the change page, the dashboard (with
//! its requirement coverage) and the release's report (`load_report`: verify the whole ledger,
//! read, build; then each render) are built again and again, and the wall time (p50, p95, max)
//! and the process CPU per operation are printed. Targets: page p95 ≤ 100 ms, the report of a
//! 500-merge release ≤ 2 s.
//!
//! `cargo run --release --example pages_cost [-- CHANGES EVALS_PER_CHANGE MERGES RUNS]`

#[path = "../tests/pages_data/mod.rs"]
mod pages_data;

use std::time::{Duration, Instant};

use chrono::{Duration as Days, Utc};

use pages_data::{Shape, record_evaluation, record_merge, record_release, record_waiver, sha};
use sdl_gate::audit::{
    HtmlMode, RangeSpec, ReportQuery, load_report, render_html, render_json, render_markdown,
};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::ledger::note::NoteSigner;
use sdl_gate::render::html::Chrome;
use sdl_gate::store::Store;
use sdl_gate::web::views;

const REPO: &str = "acme/plant";

fn cpu() -> Duration {
    // SAFETY: getrusage writes into the struct we pass and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

async fn measure<F, Fut>(name: &str, runs: u64, mut page: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let _ = page().await; // warm the caches once
    let mut times = Vec::new();
    let cpu0 = cpu();
    let mut bytes = 0;
    for _ in 0..runs {
        let t = Instant::now();
        bytes = page().await;
        times.push(t.elapsed());
    }
    let cpu_per = (cpu() - cpu0) / u32::try_from(runs.max(1)).unwrap_or(1);
    times.sort();
    println!(
        "{name:<40} p50 {:>7.2} ms  p95 {:>7.2} ms  max {:>7.2} ms  CPU {:>7.2} ms/op  output {bytes}",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.95).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        cpu_per.as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() {
    let changes = arg(1, 625);
    let per_change = arg(2, 16);
    let merges = arg(3, 500).min(changes);
    let runs = arg(4, 100);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("pages.db").display());
    let store = Store::connect(&url, 8).await.expect("connect");
    store.migrate().await.expect("migrate");
    let now = Utc::now();
    let forge = ForgeName::GitHub;

    let t = Instant::now();
    let mut released = Vec::new();
    for n in 1..=changes {
        let mut last = None;
        for k in 0..per_change {
            let at = now
                - Days::minutes(
                    i64::try_from((changes - n) * per_change + (per_change - k)).unwrap_or(0),
                );
            let shape = match (n % 10, k + 1 == per_change) {
                (0, true) => Shape::Waived,
                (3, true) | (_, false) => Shape::Failing,
                _ => Shape::Passing,
            };
            if shape == Shape::Waived {
                record_waiver(&store, forge, REPO, n, &sha(n * 1000 + k), at).await;
            }
            last = Some(
                record_evaluation(&store, forge, REPO, n, &sha(n * 1000 + k), shape, at).await,
            );
        }
        if n <= merges
            && let Some(evaluation) = last
        {
            let head = sha(n * 1000 + per_change - 1);
            released.push(record_merge(&store, forge, REPO, n, &head, evaluation, now).await);
        }
    }
    record_release(&store, forge, REPO, "v4.2", released, now).await;
    let signer = NoteSigner::generate("sdl.example.com/ledger").expect("a ledger key");
    store.checkpoint_ledger(&signer).await.expect("checkpoint");
    println!(
        "seeded {} evaluations of {changes} changes, {merges} merges and a release in {:.1} s",
        changes * per_change,
        t.elapsed().as_secs_f64()
    );

    let chrome = Chrome {
        title: "bench".into(),
        viewer: Some("alice".into()),
        crumbs: vec![],
    };
    let blocked = changes; // the last change is not merged while merges < changes
    measure("change page (16 evaluations)", runs, || async {
        views::change(&store, &chrome, forge, REPO, blocked, Utc::now())
            .await
            .expect("change page")
            .map_or(0, |h| h.len())
    })
    .await;
    measure("dashboard (with coverage)", runs, || async {
        views::dashboard(&store, &chrome, forge, REPO, Utc::now())
            .await
            .expect("dashboard")
            .map_or(0, |h| h.len())
    })
    .await;
    let query = ReportQuery {
        forge,
        repository: REPO.into(),
        range: RangeSpec::Release("v4.2".into()),
        keys: vec![signer.verifier().clone()],
        now: None,
    };
    let report = load_report(&store, &query).await.expect("report");
    assert!(report.ledger.verified, "{}", report.ledger.verification);
    assert_eq!(
        report.merges.len() as u64,
        merges,
        "every merge of the release"
    );
    let report_runs = (runs / 10).max(3);
    measure(
        "report: load_report (verify+read+build)",
        report_runs,
        || async {
            load_report(&store, &query)
                .await
                .expect("report")
                .merges
                .len()
        },
    )
    .await;
    measure("report: render JSON", runs, || async {
        render_json(&report).len()
    })
    .await;
    measure("report: render Markdown", runs, || async {
        render_markdown(&report).len()
    })
    .await;
    measure("report: render HTML", runs, || async {
        render_html(&report, HtmlMode::Standalone)
            .expect("html")
            .len()
    })
    .await;
}
