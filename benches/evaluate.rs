//! Benchmark of the full evaluation: a 3,000-file change, a policy with 200 globs and a
//! 25,000-result SARIF log. Prints the time of `evaluate` alone, of parse + evaluate + render,
//! and the peak heap of one such run against the size of its input.
//!
//! Run with `cargo bench --bench evaluate`.

use sdl_gate::forge_name::ForgeName;
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

use sdl_gate::gates::evaluate;
use sdl_gate::policy::parse_policy;
use sdl_gate::render;
use sdl_gate::reports::parse_report;
use sdl_gate::snapshot::{
    ChangedFile, Check, CheckState, Login, Review, ReviewState, Sha, Snapshot,
};

/// Counts live and peak heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwards to the system allocator with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwards to the system allocator with the pointer it gave out.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const FILES: usize = 3_000;
const GLOBS: usize = 200;
const RESULTS: usize = 25_000;

fn policy_text() -> String {
    let mut globs = String::new();
    for i in 0..GLOBS {
        let _ = write!(globs, "\"src/module_{i}/**/*.rs\", ");
    }
    format!(
        r##"version: 1
security_paths: [{globs} "src/auth/**"]
gates:
  threat_model:
    paths: ["docs/threat-model/**"]
    link_patterns: ["https://tm.example.com/*", "#*"]
  security_review:
    approvals: 1
    reviewers: {{ teams: ["acme/security"], users: ["alice"] }}
  sast:
    checks: ["CodeQL"]
    threshold: high
  dependencies:
    threshold: high
"##
    )
}

fn sarif_text() -> String {
    let mut results = String::with_capacity(RESULTS * 400);
    for i in 0..RESULTS {
        if i > 0 {
            results.push(',');
        }
        let level = ["note", "warning", "error"][i % 3];
        let _ = write!(
            results,
            r#"{{"ruleId":"rule-{r}","level":"{level}","message":{{"text":"Possible injection of untrusted data number {i}"}},"locations":[{{"physicalLocation":{{"artifactLocation":{{"uri":"src/module_{m}/file_{f}.rs"}},"region":{{"startLine":{l}}}}}}}],"partialFingerprints":{{"primaryLocationLineHash":"{i:016x}"}}}}"#,
            r = i % 40,
            m = i % GLOBS,
            f = i % FILES,
            l = 1 + i % 500
        );
    }
    let mut rules = String::new();
    for r in 0..40 {
        if r > 0 {
            rules.push(',');
        }
        let _ = write!(
            rules,
            r#"{{"id":"rule-{r}","properties":{{"tags":["security","external/cwe/cwe-{cwe}"]}}}}"#,
            cwe = [79, 89, 22, 78][r % 4]
        );
    }
    format!(
        r#"{{"version":"2.1.0","runs":[{{"tool":{{"driver":{{"name":"CodeQL","rules":[{rules}]}}}},"results":[{results}]}}]}}"#
    )
}

fn snapshot() -> Snapshot {
    let mut s = Snapshot::new(
        Some(ForgeName::GitHub),
        "acme/plc",
        1,
        "bob",
        "1111111111111111111111111111111111111111",
    );
    s.files = (0..FILES)
        .map(|i| ChangedFile::modified(format!("src/module_{}/file_{i}.rs", i % GLOBS)))
        .collect();
    s.reviews.push(Review {
        author: Login::new("alice"),
        state: ReviewState::Approved,
        commit: Some(Sha::new("1111111111111111111111111111111111111111")),
        submitted_at: None,
    });
    s.checks.push(Check {
        name: "CodeQL".into(),
        state: CheckState::Success,
    });
    s
}

fn bench(c: &mut Criterion) {
    let now = Utc
        .with_ymd_and_hms(2026, 6, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let policy_yaml = policy_text();
    let policy = match parse_policy("bench.yml", &policy_yaml) {
        Ok(p) => p,
        Err(e) => panic!("bench policy: {e}"),
    };
    let sarif = sarif_text();
    let mut snap = snapshot();
    match parse_report("codeql.sarif", sarif.as_bytes()) {
        Ok(r) => snap.reports.push(r),
        Err(e) => panic!("bench SARIF: {e}"),
    }

    // One measured run of the whole path, with its peak heap.
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = Instant::now();
    let mut s2 = snapshot();
    let report = parse_report("codeql.sarif", sarif.as_bytes());
    if let Ok(r) = report {
        s2.reports.push(r);
    }
    let after_parse = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let e = evaluate(&policy, &s2, now);
    let after_eval = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let md = render::check_text(&e);
    let elapsed = t.elapsed();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let blocking: usize = e.gates.iter().map(|g| g.findings.len()).sum();
    println!(
        "peak heap after parse {:.1} MB, after evaluate {:.1} MB",
        after_parse as f64 / 1e6,
        after_eval as f64 / 1e6
    );
    println!(
        "evaluate: {FILES} files, {GLOBS}+ globs, {RESULTS} SARIF results ({:.1} MB): parse+evaluate+render {:.1} ms, peak heap {:.1} MB = {:.2}x input; {} blocking findings, text {} bytes",
        sarif.len() as f64 / 1e6,
        elapsed.as_secs_f64() * 1e3,
        peak as f64 / 1e6,
        peak as f64 / sarif.len() as f64,
        blocking,
        md.len()
    );
    drop((s2, e, md));

    let t = Instant::now();
    let e = evaluate(&policy, &snap, now);
    println!(
        "evaluate alone (one cold run): {:.1} ms, verdict {}",
        t.elapsed().as_secs_f64() * 1e3,
        e.verdict.as_str()
    );

    let mut group = c.benchmark_group("evaluate");
    group.sample_size(20);
    group.bench_function("evaluate_3000_files_200_globs_25000_results", |b| {
        b.iter(|| black_box(evaluate(black_box(&policy), black_box(&snap), now)))
    });
    group.bench_function("parse_evaluate_render_3000_files_25000_results", |b| {
        b.iter(|| {
            let mut s = snapshot();
            if let Ok(r) = parse_report("codeql.sarif", black_box(sarif.as_bytes())) {
                s.reports.push(r);
            }
            let e = evaluate(&policy, &s, now);
            black_box(render::check_text(&e))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
