//! What one claim costs as a job's backlog grows: fills a job with N open events (a pull
//! request's pushes, a label now and then, a comment every 400th), then claims and releases it
//! repeatedly and prints the claim's time and the heap it allocates, for each N.
//!
//! ```text
//! cargo run --example claim_cost                          # SQLite, 10 and 100,000 events
//! cargo run --example claim_cost -- --events 10,1000,100000 \
//!     --database-url postgres://postgres@127.0.0.1:5432/claim_cost   # an empty database
//! ```
//! Each size gets its own job in one database, so the other backlogs are there too (as in
//! production). On PostgreSQL the tables are analysed after each fill, as autovacuum would. Times are medians of `--claims` claims; "allocated" is every byte the claim
//! asked the allocator for (freed or not), "peak" the most it held at once above its start.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use sdl_gate::events::{Target, WorkItem, WorkKey};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::store::{NewDelivery, Store};
use serde_json::json;

/// Counts the heap: bytes asked for in all, bytes held now and the most held.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    ALLOCATED.fetch_add(n, Ordering::Relaxed);
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        grew(new_size);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static HEAP: Counting = Counting;

#[derive(Debug, Parser)]
#[command(about = "Measure a job claim against the size of the job's backlog")]
struct Args {
    /// Backlog sizes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,100000")]
    events: Vec<usize>,
    /// Database (default: SQLite in a temporary directory). Must be empty.
    #[arg(long)]
    database_url: Option<String>,
    /// Claims per size (the median is printed).
    #[arg(long, default_value_t = 25)]
    claims: usize,
}

fn event(pr: u64, i: usize) -> NewDelivery {
    let (event, action, detail) = if i % 400 == 7 {
        let body =
            json!({"comment_id": i, "author": "dev", "body": "/sdl recheck", "action": "created"});
        ("issue_comment", "created", body)
    } else if i % 1000 == 3 {
        ("pull_request", "labeled", json!({}))
    } else {
        (
            "pull_request",
            "synchronize",
            json!({"head": format!("{i:040x}")}),
        )
    };
    NewDelivery {
        forge: ForgeName::GitHub,
        delivery_id: format!("pr{pr}-{i}"),
        event: event.into(),
        action: Some(action.into()),
        payload: json!({"number": pr, "installation": {"id": 1}}).to_string(),
        items: vec![WorkItem {
            key: WorkKey {
                forge: ForgeName::GitHub,
                repository: "cost/repo".into(),
                target: Target::Change(pr),
            },
            detail: Some(detail),
        }],
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("cost.db").display()));
    let store = Store::connect(&url, 4).await?;
    store.migrate().await?;
    println!("database: {:?}", store.backend());
    println!(
        "| open events | claim (median) | allocated per claim | peak heap of a claim | rows |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for (n, &size) in args.events.iter().enumerate() {
        let pr = n as u64 + 1;
        for start in (0..size).step_by(5_000) {
            let batch: Vec<_> = (start..(start + 5_000).min(size))
                .map(|i| event(pr, i))
                .collect();
            store.record_deliveries(&batch, Duration::ZERO).await?;
        }
        if let Some(url) = args
            .database_url
            .as_deref()
            .filter(|u| u.starts_with("postgres"))
        {
            // What autovacuum does within a minute of such a burst: new statistics, which also
            // replace plans that were cached while the table was small.
            let pool = sqlx::PgPool::connect(url).await?;
            sqlx::query("ANALYZE").execute(&pool).await?;
            pool.close().await;
        }
        let (mut times, mut allocated, mut peak, mut rows) =
            (Vec::new(), Vec::new(), Vec::new(), 0);
        for _ in 0..args.claims {
            let base_alloc = ALLOCATED.load(Ordering::Relaxed);
            let base_live = LIVE.load(Ordering::Relaxed);
            PEAK.store(base_live, Ordering::Relaxed);
            let started = Instant::now();
            let job = store
                .claim("cost", Duration::from_secs(60))
                .await?
                .ok_or_else(|| anyhow::anyhow!("the job of {size} events is not due"))?;
            times.push(started.elapsed());
            allocated.push(ALLOCATED.load(Ordering::Relaxed) - base_alloc);
            peak.push(PEAK.load(Ordering::Relaxed).saturating_sub(base_live));
            rows = job.events.len();
            anyhow::ensure!(job.key.target == Target::Change(pr), "claimed another job");
            store.release(&job).await?;
        }
        allocated.sort_unstable();
        peak.sort_unstable();
        println!(
            "| {size} | {:.2} ms | {:.1} KiB | {:.1} KiB | {rows} |",
            median(times).as_secs_f64() * 1e3,
            allocated[allocated.len() / 2] as f64 / 1024.0,
            peak[peak.len() / 2] as f64 / 1024.0,
        );
        // Park this size's job so the next size's job is the one claimed.
        let job = store
            .claim("cost", Duration::from_secs(60))
            .await?
            .ok_or_else(|| anyhow::anyhow!("the job of {size} events is not due"))?;
        store
            .complete_failure(&job, "measured", true, Duration::ZERO, 1)
            .await?;
    }
    store.close().await;
    Ok(())
}
