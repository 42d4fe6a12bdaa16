//! What the evidence ledger costs: append latency (p50/p99) and CPU per append, bytes per
//! evaluation entry, signing a checkpoint, `verify` speed (entries per second, from the
//! database and in memory), and exporting one repository's bundle out of the whole ledger.
//!
//! ```text
//! cargo run --release --example ledger_cost                      # SQLite, 100,000 entries
//! cargo run --release --example ledger_cost -- \
//!     --database-url postgres://postgres@127.0.0.1:5432/ledger_cost  # an empty database
//! ```
//! Entries are realistic evaluation entries: five gates with their requirement ids, twelve
//! finding fingerprints, an approval, a waiver and three reports. Every tenth entry is of the
//! exported repository.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use clap::Parser;
use sdl_gate::forge_name::ForgeName;
use sdl_gate::gate_kind::GateKind;
use sdl_gate::gates::{OverallVerdict, Verdict};
use sdl_gate::ledger::Entry;
use sdl_gate::ledger::entry::{
    Approval, ArtifactEvidence, EvaluationEntry, FindingCounts, GateEvidence, PolicyEvidence,
    Sealed, Subject, WaiverEvidence,
};
use sdl_gate::ledger::note::NoteSigner;
use sdl_gate::ledger::verify::{ChainVerifier, verify_all};
use sdl_gate::store::{BundleSelection, Store};

#[derive(Debug, Parser)]
#[command(about = "Measure the evidence ledger: append, checkpoint, verify, export")]
struct Args {
    /// Entries in the ledger.
    #[arg(long, default_value_t = 100_000)]
    entries: u64,
    /// Database (default: SQLite in a temporary directory). Must be empty.
    #[arg(long)]
    database_url: Option<String>,
}

fn evaluation(i: u64) -> Entry {
    let repo = if i.is_multiple_of(10) {
        "acme/plc".to_owned()
    } else {
        format!("acme/repo-{}", i % 97)
    };
    let t = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
    let gate = |gate, verdict, reqs: &[&str], n: u64| GateEvidence {
        gate,
        verdict,
        requirements: reqs.iter().map(|s| s.to_string()).collect(),
        cra: vec!["Art. 13(2)".into(), "I.1(1)".into()],
        findings: FindingCounts {
            by_severity: [("high".to_owned(), n), ("medium".to_owned(), n)].into(),
            not_blocking: 3,
            fingerprints: (0..2 * n).map(|k| format!("{:064x}", i * 31 + k)).collect(),
            ignored: Vec::new(),
        },
    };
    Entry::Evaluation(Box::new(EvaluationEntry {
        subject: Subject {
            forge: ForgeName::GitHub,
            repository: repo,
            number: 1 + i % 500,
        },
        head_sha: format!("{i:040x}"),
        base_ref: "main".into(),
        policy: PolicyEvidence {
            path: ".github/sdl-gate.yml".into(),
            git_ref: "main".into(),
            blob_sha: format!("{:040x}", 7),
            sha256: format!("{:064x}", 9),
        },
        org_policy: None,
        verdict: OverallVerdict::Fail,
        standard: "IEC 62443-4-1:2018 (edition 1.0)".into(),
        gates: vec![
            gate(
                GateKind::ThreatModel,
                Verdict::Pass,
                &["SR-2", "SD-1", "SD-2", "SD-3"],
                0,
            ),
            gate(
                GateKind::SecurityReview,
                Verdict::Waived,
                &["SI-1", "SD-3", "SM-2", "SM-4"],
                0,
            ),
            gate(GateKind::Sast, Verdict::Fail, &["SI-1", "SI-2"], 4),
            gate(
                GateKind::Dependencies,
                Verdict::Pass,
                &["SM-9", "SVV-3", "DM-3", "DM-4"],
                2,
            ),
            gate(GateKind::Sbom, Verdict::NotApplicable, &["SM-9", "SM-1"], 0),
        ],
        approvals: vec![Approval {
            by: "dave".into(),
            commit: Some(format!("{i:040x}")),
            at: Some(t),
        }],
        threat_model_refs: vec!["https://tm.example.com/plc/42".into()],
        waivers: vec![WaiverEvidence {
            gate: GateKind::SecurityReview,
            by: "carol".into(),
            reason: "reviewed in the design meeting".into(),
            granted_at: t,
            until: t + chrono::Duration::days(30),
            sha: format!("{i:040x}"),
        }],
        artifacts: ["semgrep 1.185.0", "pip-audit 2.10.1", "cyclonedx-bom 4.6.1"]
            .iter()
            .map(|tool| ArtifactEvidence {
                source: format!("{}.json", tool.split(' ').next().unwrap_or("report")),
                format: "sarif".into(),
                tools: vec![tool.to_string()],
                sha256: format!("{:064x}", i),
            })
            .collect(),
        unknowns: Vec::new(),
        evaluated_at: t,
        sdl_gate: env!("CARGO_PKG_VERSION").into(),
    }))
}

fn cpu() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we pass; RUSAGE_SELF is valid.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut u) != 0 {
            return Duration::ZERO;
        }
        let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        Duration::from_micros(us(u.ru_utime) + us(u.ru_stime))
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("ledger.db").display()));
    let store = Store::connect(&url, 4).await?;
    store.migrate().await?;
    let signer = NoteSigner::generate("bench.example/ledger")?;
    println!("database: {:?}, {} entries", store.backend(), args.entries);

    let sample = Sealed {
        v: 1,
        seq: 0,
        prev: "0".repeat(64),
        at: Utc::now(),
        entry: evaluation(1),
    };
    println!(
        "bytes per evaluation entry (canonical JSON): {}",
        sample.canonical()?.len()
    );

    let mut latencies = Vec::with_capacity(args.entries as usize);
    let (wall, cpu0) = (Instant::now(), cpu());
    for i in 0..args.entries {
        let entry = evaluation(i);
        let t = Instant::now();
        store.append_ledger(&entry, Utc::now()).await?;
        latencies.push(t.elapsed());
        if i % 256 == 255 {
            store.checkpoint_ledger(&signer).await?;
        }
    }
    let (wall, spent) = (wall.elapsed(), cpu() - cpu0);
    latencies.sort();
    println!(
        "append: p50 {:?}, p99 {:?}, max {:?}; {:.0} appends/s; CPU {:.1} µs per append (with a checkpoint every 256)",
        pct(&latencies, 0.5),
        pct(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
        args.entries as f64 / wall.as_secs_f64(),
        spent.as_secs_f64() * 1e6 / args.entries as f64
    );

    let t = Instant::now();
    store.checkpoint_ledger(&signer).await?;
    println!("checkpoint after the last append: {:?}", t.elapsed());

    // verify from the database, streamed as `sdl-gate ledger verify` does
    let (t, c) = (Instant::now(), cpu());
    let checkpoints = store.ledger_checkpoints().await?;
    let verifier = ChainVerifier::new(&checkpoints, &[], std::slice::from_ref(signer.verifier()))?;
    let v = store.verify_ledger(verifier).await??;
    let (w, c) = (t.elapsed(), cpu() - c);
    println!(
        "verify from the database: {} entries, {} checkpoints in {:?} = {:.0} entries/s (CPU {:.1} µs per entry)",
        v.entries,
        v.checkpoints,
        w,
        v.entries as f64 / w.as_secs_f64(),
        c.as_secs_f64() * 1e6 / v.entries as f64
    );
    let all = store.ledger_entries(0, i64::MAX).await?;
    let t = Instant::now();
    let v = verify_all(
        &all,
        &checkpoints,
        &[],
        std::slice::from_ref(signer.verifier()),
    )?;
    let w = t.elapsed();
    println!(
        "verify in memory: {:.0} entries/s",
        v.entries as f64 / w.as_secs_f64()
    );

    let t = Instant::now();
    let bundle = store
        .ledger_bundle(
            &BundleSelection {
                repository: "acme/plc".into(),
                ..BundleSelection::default()
            },
            vec![signer.verifier().clone()],
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("no checkpoint"))?;
    let out = dir.path().join("bundle");
    bundle.write(&out)?;
    let w = t.elapsed();
    let bytes: u64 = std::fs::read_dir(&out)?
        .flatten()
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "export: {} of {} entries (one repository) with proofs in {:?}, {:.1} MB",
        bundle.manifest.entries,
        bundle.manifest.tree_size,
        w,
        bytes as f64 / 1e6
    );
    let t = Instant::now();
    let read = sdl_gate::ledger::bundle::Bundle::read(&out)?;
    read.verify(std::slice::from_ref(signer.verifier()), &[])?;
    println!("verify the bundle offline: {:?}", t.elapsed());
    store.close().await;
    Ok(())
}
