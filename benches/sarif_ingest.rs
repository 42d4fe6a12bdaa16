//! SARIF ingestion throughput and peak memory.
//!
//! Takes the largest SARIF fixture under `../shared/fixtures/sarif` (or, when the fixtures are
//! absent, a generated CodeQL-like log — it says so), repeats its results until the log is
//! about 50 MB, and measures `parse_report` on it: criterion's throughput, plus a plain
//! timing loop that prints MB/s, and the peak heap allocated during one parse, measured with
//! a counting global allocator (targets: ≥ 100 MB/s, peak ≤ 3× the input size).
//!
//! The largest fixture's results carry long code flows that the parser skips cheaply, so the
//! same is also measured on the fixture with the most results (short results, one finding per
//! ~1 KB: the worst case per byte).
//!
//! Run: `cargo bench --bench sarif_ingest`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use sdl_gate::reports::parse_report;
use serde_json::Value;

/// Counts live heap bytes and the high-water mark.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const TARGET_BYTES: usize = 50 * 1_000_000;

/// Which fixture to repeat.
#[derive(Clone, Copy)]
enum Pick {
    /// The largest file.
    Largest,
    /// The file with the most results.
    MostResults,
}

fn result_count(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap_or_default();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let log: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    log["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["results"].as_array().map_or(0, Vec::len) as u64)
        .sum()
}

fn pick_sarif(dir: &Path, pick: Pick) -> Option<PathBuf> {
    let mut best: Option<(u64, PathBuf)> = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "sarif") {
                let len = match pick {
                    Pick::Largest => e.metadata().map(|m| m.len()).unwrap_or(0),
                    Pick::MostResults => result_count(&p),
                };
                if best.as_ref().is_none_or(|(b, _)| len > *b) {
                    best = Some((len, p));
                }
            }
        }
    }
    best.map(|(_, p)| p)
}

/// A CodeQL-like run used when the fixtures are not there.
fn generated_run() -> Value {
    let results: Vec<Value> = (0..50)
        .map(|i| {
            serde_json::json!({
                "ruleId": "js/xss", "ruleIndex": 0, "level": "error",
                "message": {"text": format!("Cross-site scripting vulnerability due to [user-provided value]({i}).")},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": format!("src/handlers/h{i}.js"), "uriBaseId": "%SRCROOT%", "index": i},
                    "region": {"startLine": 10 + i, "startColumn": 5, "endColumn": 30}}}],
                "partialFingerprints": {"primaryLocationLineHash": format!("{i:016x}:1"), "primaryLocationStartColumnFingerprint": "4"},
                "codeFlows": [{"threadFlows": [{"locations": [{"location": {"physicalLocation": {"artifactLocation": {"uri": "src/a.js"}, "region": {"startLine": 3}}, "message": {"text": "source"}}}]}]}]
            })
        })
        .collect();
    serde_json::json!({
        "tool": {"driver": {"name": "CodeQL", "rules": [{"id": "js/xss", "shortDescription": {"text": "XSS"},
            "properties": {"security-severity": "6.1", "tags": ["security", "external/cwe/cwe-079"]}}]}},
        "results": results
    })
}

/// Builds a ~50 MB SARIF log by repeating the results of the fixture's largest run.
fn build_input(pick: Pick) -> (String, Vec<u8>) {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/sarif"
    ));
    let (name, run) = match pick_sarif(&dir, pick) {
        Some(path) => {
            let bytes = std::fs::read(&path).unwrap_or_default();
            let bytes = bytes
                .strip_prefix(b"\xEF\xBB\xBF")
                .unwrap_or(&bytes)
                .to_vec();
            let log: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let run = log["runs"]
                .as_array()
                .and_then(|runs| {
                    runs.iter()
                        .max_by_key(|r| r["results"].as_array().map_or(0, Vec::len))
                })
                .cloned()
                .unwrap_or_else(generated_run);
            (path.display().to_string(), run)
        }
        None => {
            eprintln!(
                "fixtures absent at {}: using a generated CodeQL-like run",
                dir.display()
            );
            ("generated CodeQL-like run".to_owned(), generated_run())
        }
    };
    let results: Vec<String> = run["results"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| serde_json::to_string(r).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    let mut head = run.clone();
    if let Some(obj) = head.as_object_mut() {
        obj.remove("results");
    }
    let head = serde_json::to_string(&head).unwrap_or_else(|_| "{}".to_owned());
    // `{"version":"2.1.0","runs":[{ <run fields>, "results":[ ... ]}]}`
    let mut out = String::with_capacity(TARGET_BYTES + 1_000_000);
    out.push_str(
        r#"{"version":"2.1.0","$schema":"https://json.schemastore.org/sarif-2.1.0.json","runs":["#,
    );
    out.push_str(&head[..head.len() - 1]);
    out.push_str(if head.len() > 2 {
        r#","results":["#
    } else {
        r#""results":["#
    });
    let mut n = 0usize;
    'fill: loop {
        for r in &results {
            if n > 0 {
                out.push(',');
            }
            out.push_str(r);
            n += 1;
            if out.len() >= TARGET_BYTES {
                break 'fill;
            }
        }
        if results.is_empty() {
            break;
        }
    }
    out.push_str("]}]}");
    println!(
        "input: {n} results repeated from {name} ({} results in the run), {:.1} MB",
        results.len(),
        out.len() as f64 / 1e6
    );
    (name, out.into_bytes())
}

/// Prints peak heap and MB/s for one input.
fn measure(label: &str, input: &[u8]) {
    let mb = input.len() as f64 / 1e6;
    // Peak heap during one parse (the input itself is allocated before and not counted).
    let baseline = CURRENT.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let report = parse_report("bench.sarif", input);
    let peak = PEAK.load(Ordering::Relaxed) - baseline;
    let findings = report.as_ref().map_or(0, |r| r.findings.len());
    if let Err(e) = &report {
        eprintln!("parse failed: {e}");
    }
    drop(report);
    println!(
        "[{label}] peak heap during one parse: {:.1} MB = {:.2}x the input ({findings} findings)",
        peak as f64 / 1e6,
        peak as f64 / input.len() as f64
    );
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let r = parse_report("bench.sarif", input);
        times.push(t.elapsed());
        drop(r);
    }
    let best = times
        .iter()
        .min()
        .copied()
        .unwrap_or(Duration::from_secs(1));
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    println!(
        "[{label}] parse_report throughput: best {:.0} MB/s, mean {:.0} MB/s ({mb:.1} MB in {:.0} ms best)",
        mb / best.as_secs_f64(),
        mb / mean.as_secs_f64(),
        best.as_secs_f64() * 1e3
    );
}

fn main() {
    let (_, largest) = build_input(Pick::Largest);
    measure("largest fixture", &largest);
    let (_, dense) = build_input(Pick::MostResults);
    measure("most results", &dense);

    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    let mut group = c.benchmark_group("sarif_ingest");
    group.throughput(Throughput::Bytes(largest.len() as u64));
    group.bench_function("parse_report_50MB_largest_fixture", |b| {
        b.iter(|| parse_report("bench.sarif", std::hint::black_box(&largest)))
    });
    group.throughput(Throughput::Bytes(dense.len() as u64));
    group.bench_function("parse_report_50MB_most_results", |b| {
        b.iter(|| parse_report("bench.sarif", std::hint::black_box(&dense)))
    });
    group.finish();
    c.final_summary();
}
