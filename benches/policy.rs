//! Benchmarks of the policy loader and the practice catalog: loading the documented example
//! policy, loading a 1 MB policy (the size limit), a 200-glob policy the first time and from
//! the cache (`parse_policy_cached`), and a policy with thousands of errors,
//! building the embedded catalog and explaining an id.
//!
//! Run with `cargo bench --bench policy`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use sdl_gate::policy::{check_policy, parse_policy, parse_policy_cached};
use sdl_gate::practices::{CWE_FR_YAML, PRACTICES_YAML, explain, parse_catalog};

const EXAMPLE: &str = include_str!("../config/sdl-gate.example.yml");

/// A policy just under the 1 MiB limit: ~31,000 labels.
fn big_policy() -> String {
    let mut text = String::from("version: 1\n");
    text.push_str("waivers: { teams: [acme/security] }\n");
    text.push_str("gates:\n  security_review:\n    reviewers: { teams: [acme/security] }\n");
    text.push_str("security_labels:\n");
    while text.len() < 1_000_000 {
        text.push_str("  - a-label-that-is-fairly-long\n");
    }
    text
}

/// A policy with one semantic error per line (users written with `@`): every error must be
/// located, so this measures the position index under load.
fn many_errors() -> String {
    let mut text = String::from("version: 1\nwaivers:\n  users:\n");
    for i in 0..5_000 {
        text.push_str(&format!("    - \"@user{i}\"\n"));
    }
    text
}

/// A policy whose `security_paths` holds `globs` patterns unique to `round`.
fn globs_policy(globs: usize, round: u64) -> String {
    let mut text = String::from("version: 1\nsecurity_paths:\n");
    for i in 0..globs {
        text.push_str(&format!("  - \"src/r{round}/module_{i}/**/*.rs\"\n"));
    }
    text.push_str("gates: { security_review: { reviewers: { users: [alice] } } }\n");
    text
}

fn benches(c: &mut Criterion) {
    c.bench_function("parse_policy(example, 7 KB)", |b| {
        b.iter(|| parse_policy("example", black_box(EXAMPLE)))
    });
    let big = big_policy();
    assert!(
        parse_policy("big", &big).is_ok(),
        "the big policy must be valid"
    );
    c.bench_function("parse_policy(1 MB, 31k labels)", |b| {
        b.iter(|| parse_policy("big", black_box(&big)))
    });
    let bad = many_errors();
    c.bench_function("check_policy(5k located errors)", |b| {
        b.iter(|| check_policy("bad", black_box(&bad), None))
    });
    // 200 globs never seen before in this process (each iteration's differ), so the glob set is
    // compiled every time: what the service pays once per policy content.
    let mut round = 0_u64;
    c.bench_function("parse_policy(200 globs, first load)", |b| {
        b.iter_batched(
            || {
                round += 1;
                globs_policy(200, round)
            },
            |text| parse_policy("globs", black_box(&text)),
            criterion::BatchSize::SmallInput,
        )
    });
    let warm = globs_policy(200, 0);
    assert!(parse_policy_cached("globs", &warm).is_ok());
    c.bench_function("parse_policy_cached(200 globs, seen before)", |b| {
        b.iter(|| parse_policy_cached("globs", black_box(&warm)))
    });
    c.bench_function("parse_catalog(embedded)", |b| {
        b.iter(|| parse_catalog(black_box(PRACTICES_YAML), black_box(CWE_FR_YAML)))
    });
    c.bench_function("explain(SR-2)", |b| b.iter(|| explain(black_box("SR-2"))));
}

criterion_group! {
    name = policy;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(policy);
