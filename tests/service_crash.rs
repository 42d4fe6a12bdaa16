//! The real `sdl-gate serve` binary under crashes and replicas. It runs with the TEST-ONLY
//! recording processor (`SDL_GATE_TEST_PROCESSOR=record:<file>`), which appends every processed
//! job (key, delivery ids, pid, start/end time) to a file.
//!
//! - Crash: 2,000 signed deliveries for 200 PRs, `kill -9` mid-burst, restart, redeliver what
//!   was not acknowledged: every acknowledged delivery is processed, and nothing is processed
//!   twice except the few jobs in flight at the kill (at most one per worker). SQLite and
//!   PostgreSQL.
//! - Replicas: two processes on one PostgreSQL share a burst; no PR's job ever runs in both at
//!   once, and every delivery is processed exactly once.

mod service_support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use service_support::*;

const WORKERS: usize = 4;
const PRS: u64 = 200;
const DELIVERIES: usize = 2_000;

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path, db_url: &str, record: &Path, delay_ms: u64) -> Server {
    let key = dir.join("app-key.pem");
    std::fs::write(
        &key,
        "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn,sdl_gate::cli=info")
        .env("SDL_GATE_LISTEN", "127.0.0.1:0")
        .env("SDL_GATE_DATABASE_URL", db_url)
        .env("SDL_GATE_WORKERS", WORKERS.to_string())
        .env("SDL_GATE_DEBOUNCE_MS", "20")
        .env("SDL_GATE_POLL_INTERVAL_MS", "50")
        .env("SDL_GATE_LEASE_SECS", "2")
        .env("SDL_GATE_SHUTDOWN_GRACE_SECS", "5")
        .env("SDL_GATE_GITHUB_APP_ID", "1")
        .env("SDL_GATE_GITHUB_PRIVATE_KEY_PATH", &key)
        .env("SDL_GATE_GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
        .env(
            "SDL_GATE_TEST_PROCESSOR",
            format!("record:{};delay_ms={delay_ms}", record.display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sdl-gate serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(pos) = line.find("listening on http://")
                && let Some(tx) = tx.take()
            {
                let addr = line[pos + "listening on http://".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let _ = tx.send(addr);
            } else if line.contains("ERROR") || line.contains("panicked") {
                eprintln!("sdl-gate: {line}");
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server did not report its address");
    Server { child, addr }
}

fn deliveries() -> Vec<(String, u64, String)> {
    (0..DELIVERIES)
        .map(|i| {
            let pr = (i as u64 % PRS) + 1;
            let action = ["synchronize", "labeled", "edited", "opened"][i % 4];
            (
                format!("delivery-{i:05}"),
                pr,
                pr_payload("crash/repo", pr, action),
            )
        })
        .collect()
}

/// Sends the given deliveries with `concurrency` in flight; returns the ids answered 2xx.
async fn send_all(
    base: String,
    items: Vec<(String, u64, String)>,
    concurrency: usize,
    acked_counter: Arc<AtomicUsize>,
) -> Vec<(String, u16)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let items = Arc::new(Mutex::new(items.into_iter()));
    let results = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, items, results, base, acked) = (
            client.clone(),
            Arc::clone(&items),
            Arc::clone(&results),
            base.to_owned(),
            Arc::clone(&acked_counter),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let next = items.lock().unwrap().next();
                let Some((id, _pr, body)) = next else { break };
                let sig =
                    sdl_gate::server::signature::github_signature(GITHUB_SECRET, body.as_bytes());
                let status = match client
                    .post(format!("{base}/webhooks/github"))
                    .header("x-github-event", "pull_request")
                    .header("x-github-delivery", &id)
                    .header("x-hub-signature-256", sig)
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                if (200..300).contains(&status) {
                    acked.fetch_add(1, Ordering::SeqCst);
                }
                results.lock().unwrap().push((id, status));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    std::mem::take(&mut *results.lock().unwrap())
}

#[derive(Debug)]
struct Line {
    pid: u64,
    key: String,
    deliveries: Vec<String>,
    start: u128,
    end: u128,
}

fn read_record(path: &Path) -> Vec<Line> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad record line {l}: {e}"));
            Line {
                pid: v["pid"].as_u64().unwrap(),
                key: v["key"].as_str().unwrap().to_owned(),
                deliveries: v["deliveries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap().to_owned())
                    .collect(),
                start: v["start_us"].as_str().unwrap().parse().unwrap(),
                end: v["end_us"].as_str().unwrap().parse().unwrap(),
            }
        })
        .collect()
}

async fn crash_and_recover(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("processed.jsonl");
    let store = open(&db).await;
    let all = deliveries();

    let mut first = start_server(dir.path(), &db.url, &record, 1);
    let first_pid = u64::from(first.child.id());
    let acked = Arc::new(AtomicUsize::new(0));
    let base = format!("http://{}", first.addr);
    let sender = tokio::spawn(send_all(base, all.clone(), 24, Arc::clone(&acked)));
    // kill -9 mid-burst.
    while acked.load(Ordering::SeqCst) < DELIVERIES / 3 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.child.kill().expect("kill -9");
    first.child.wait().unwrap();
    let results = sender.await.unwrap();
    let acked_ids: HashSet<String> = results
        .iter()
        .filter(|r| (200..300).contains(&r.1))
        .map(|r| r.0.clone())
        .collect();
    assert!(
        acked_ids.len() >= DELIVERIES / 3 && acked_ids.len() < DELIVERIES,
        "{}: acked {} before the kill",
        db.label,
        acked_ids.len()
    );

    // Restart; the forge redelivers what was not acknowledged, plus some that were (dupes).
    let second = start_server(dir.path(), &db.url, &record, 1);
    let second_pid = u64::from(second.child.id());
    let base = format!("http://{}", second.addr);
    let resend: Vec<_> = all
        .iter()
        .filter(|d| !acked_ids.contains(&d.0))
        .cloned()
        .collect();
    let some_acked: Vec<_> = all
        .iter()
        .filter(|d| acked_ids.contains(&d.0))
        .take(100)
        .cloned()
        .collect();
    let resent = send_all(base.clone(), resend, 24, Arc::new(AtomicUsize::new(0))).await;
    assert!(
        resent.iter().all(|r| (200..300).contains(&r.1)),
        "{}: redelivery refused: {:?}",
        db.label,
        resent.iter().find(|r| !(200..300).contains(&r.1))
    );
    let dupes = send_all(base, some_acked, 8, Arc::new(AtomicUsize::new(0))).await;
    assert!(
        dupes.iter().all(|r| r.1 == 200),
        "{}: acknowledged deliveries are duplicates after the crash",
        db.label
    );
    wait_drained(&store, Duration::from_secs(120)).await;
    drop(second);

    let lines = read_record(&record);
    let mut seen: HashMap<&str, Vec<u64>> = HashMap::new();
    for line in &lines {
        for d in &line.deliveries {
            seen.entry(d.as_str()).or_default().push(line.pid);
        }
    }
    // Every delivery acknowledged before the kill was processed...
    let lost: Vec<_> = acked_ids
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{}: {} acknowledged deliveries lost, e.g. {:?}",
        db.label,
        lost.len(),
        lost.first()
    );
    // ...and so was every delivery in the end.
    assert_eq!(seen.len(), DELIVERIES, "{}", db.label);
    // Nothing twice within one process; across the crash only the jobs in flight at the kill.
    for (id, pids) in &seen {
        let per_pid: HashSet<_> = pids.iter().collect();
        assert_eq!(
            per_pid.len(),
            pids.len(),
            "{}: {id} processed twice by one process",
            db.label
        );
    }
    let repeated_jobs: HashSet<&str> = lines
        .iter()
        .filter(|l| l.pid == first_pid && l.deliveries.iter().any(|d| seen[d.as_str()].len() > 1))
        .map(|l| l.key.as_str())
        .collect();
    assert!(
        repeated_jobs.len() <= WORKERS,
        "{}: {} jobs re-run after the crash",
        db.label,
        repeated_jobs.len()
    );
    let first_runs = lines.iter().filter(|l| l.pid == first_pid).count();
    let second_runs = lines.iter().filter(|l| l.pid == second_pid).count();
    eprintln!(
        "{}: {} acked before kill -9, {} job runs before / {} after, {} jobs re-run across the crash",
        db.label,
        acked_ids.len(),
        first_runs,
        second_runs,
        repeated_jobs.len()
    );
    assert!(second_runs > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_loses_no_acknowledged_delivery_sqlite() {
    crash_and_recover(sqlite_db()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_loses_no_acknowledged_delivery_postgres() {
    let Some(db) = postgres_db("kill_dash_nine_loses_no_acknowledged_delivery_postgres").await
    else {
        return;
    };
    crash_and_recover(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_a_burst_without_running_a_pr_twice_at_once() {
    let Some(db) = postgres_db("two_replicas_share_a_burst").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db).await;
    let (rec_a, rec_b): (PathBuf, PathBuf) =
        (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let a = start_server(dir.path(), &db.url, &rec_a, 15);
    let b = start_server(dir.path(), &db.url, &rec_b, 15);
    let all = deliveries();
    // Half of the burst to each replica, interleaved per PR, in three waves so PRs get new
    // events while their job runs elsewhere.
    let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
    for (i, d) in all.into_iter().enumerate() {
        if (i / PRS as usize).is_multiple_of(2) {
            to_a.push(d)
        } else {
            to_b.push(d)
        }
    }
    let ack = Arc::new(AtomicUsize::new(0));
    let (ra, rb) = tokio::join!(
        send_all(format!("http://{}", a.addr), to_a, 12, Arc::clone(&ack)),
        send_all(format!("http://{}", b.addr), to_b, 12, Arc::clone(&ack)),
    );
    assert!(
        ra.iter().chain(rb.iter()).all(|r| r.1 == 202),
        "every delivery queued"
    );
    wait_drained(&store, Duration::from_secs(120)).await;
    drop((a, b));

    let mut lines = read_record(&rec_a);
    let from_a = lines.len();
    lines.extend(read_record(&rec_b));
    let from_b = lines.len() - from_a;
    assert!(
        from_a > 0 && from_b > 0,
        "both replicas worked: {from_a} / {from_b}"
    );
    let mut by_key: HashMap<&str, Vec<(u128, u128, u64)>> = HashMap::new();
    let mut seen = HashMap::new();
    for l in &lines {
        by_key
            .entry(l.key.as_str())
            .or_default()
            .push((l.start, l.end, l.pid));
        for d in &l.deliveries {
            *seen.entry(d.as_str()).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), DELIVERIES);
    assert!(
        seen.values().all(|n| *n == 1),
        "every delivery processed exactly once"
    );
    let mut cross = 0;
    for (key, runs) in &mut by_key {
        runs.sort();
        for w in runs.windows(2) {
            assert!(
                w[0].1 <= w[1].0,
                "{key}: runs overlap: {:?} and {:?}",
                w[0],
                w[1]
            );
            if w[0].2 != w[1].2 {
                cross += 1;
            }
        }
    }
    eprintln!(
        "replicas: {from_a} runs on A, {from_b} on B, {} PRs, {cross} hand-overs between replicas",
        by_key.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_zero() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("processed.jsonl");
    let store = open(&db).await;
    // Slow jobs (300 ms each), so some are in flight when the signal arrives.
    let mut server = start_server(dir.path(), &db.url, &record, 300);
    let items: Vec<_> = deliveries().into_iter().take(40).collect();
    let results = send_all(
        format!("http://{}", server.addr),
        items,
        8,
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    assert!(results.iter().all(|r| r.1 == 202));
    while read_record(&record).is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t = std::time::Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(killed.success());
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no exit within the grace period"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status:?}");
    // Nothing is left claimed: in-flight jobs finished (or were released to pending).
    let depth = store.queue_depth().await.unwrap();
    assert_eq!(depth.running, 0, "{depth:?}");
    assert!(depth.done > 0, "{depth:?}");
}
