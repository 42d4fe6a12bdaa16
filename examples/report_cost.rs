//! What the auditor report costs: a SQLite ledger holding a release of 500 merges (each with
//! its evaluation of five gates, one in ten with a waiver, one in twenty bypassed) beside
//! another repository's 1,000 entries, then `load_report` (which verifies the whole ledger
//! and reads the repository's entries) and each render, timed over several runs (p50 and
//! max). Target: the report of a 500-merge release in at most 2 s.
//!
//! `cargo run --release --example report_cost [MERGES] [RUNS]`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use sdl_gate::audit::{
    HtmlMode, RangeSpec, ReportQuery, load_report, render_html, render_json, render_markdown,
};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::gate_kind::GateKind;
use sdl_gate::gates::{OverallVerdict, Verdict};
use sdl_gate::ledger::Entry;
use sdl_gate::ledger::entry::{
    EvaluationEntry, FindingCounts, GateEvidence, MergeEntry, PolicyEvidence, ReleaseEntry,
    ReleasedMerge, Subject, ThreatModelEntry, WaiverEntry, WaiverEvidence,
};
use sdl_gate::store::Store;

const REPO: &str = "acme/plant";

fn subject(repository: &str, number: u64) -> Subject {
    Subject {
        forge: ForgeName::GitHub,
        repository: repository.into(),
        number,
    }
}

fn gates(waived: bool, failing: bool) -> Vec<GateEvidence> {
    GateKind::ALL
        .iter()
        .map(|&kind| {
            let m = sdl_gate::practices::catalog()
                .gate(kind.as_str())
                .expect("every gate is in the catalog");
            let verdict = match kind {
                GateKind::Sast if waived => Verdict::Waived,
                GateKind::Sast if failing => Verdict::Fail,
                GateKind::Sbom => Verdict::NotApplicable,
                _ => Verdict::Pass,
            };
            let mut by_severity = BTreeMap::new();
            let mut fingerprints = Vec::new();
            if kind == GateKind::Sast {
                by_severity.insert("medium".to_owned(), 2);
                fingerprints = vec![format!("{:064x}", 1), format!("{:064x}", 2)];
            }
            GateEvidence {
                gate: kind,
                verdict,
                requirements: m.practices.clone(),
                cra: m.cra.clone(),
                findings: FindingCounts {
                    by_severity,
                    not_blocking: 3,
                    fingerprints,
                    ignored: Vec::new(),
                },
            }
        })
        .collect()
}

fn p50(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(times[times.len() / 2]), ms(times[times.len() - 1]))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let merges: u64 = args.next().map_or(Ok(500), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("sdl-gate.db").display());
    let signer = sdl_gate::ledger::note::NoteSigner::generate("sdl.example.com/ledger")?;
    let store = Store::connect(&url, 4).await?;
    store.migrate().await?;

    let at = Utc
        .with_ymd_and_hms(2026, 12, 1, 9, 0, 0)
        .single()
        .ok_or("time")?;
    let started = Instant::now();
    let mut released = Vec::with_capacity(merges as usize);
    for n in 1..=merges {
        // Another repository's entries in between: verification reads the whole ledger.
        for k in 0..2 {
            let other = Entry::ThreatModelRecorded(ThreatModelEntry {
                subject: subject("acme/other", n),
                reference: format!("docs/tm/{n}-{k}.json"),
                by: "bob".into(),
                sha: format!("{n:040x}"),
            });
            store.append_ledger(&other, at).await?;
        }
        let waived = n % 10 == 0;
        let bypassed = n % 20 == 7;
        let waiver = WaiverEvidence {
            gate: GateKind::Sast,
            by: "alice".into(),
            reason: format!("false positive in generated code of change {n}"),
            granted_at: at,
            until: at + chrono::Duration::days(30),
            sha: format!("{n:040x}"),
        };
        if waived {
            let w = Entry::WaiverGranted(WaiverEntry {
                subject: subject(REPO, n),
                waiver: waiver.clone(),
            });
            store.append_ledger(&w, at).await?;
        }
        let verdict = if bypassed {
            OverallVerdict::Fail
        } else {
            OverallVerdict::Pass
        };
        let evaluation = Entry::Evaluation(Box::new(EvaluationEntry {
            subject: subject(REPO, n),
            head_sha: format!("{n:040x}"),
            base_ref: "main".into(),
            policy: PolicyEvidence {
                path: ".github/sdl-gate.yml".into(),
                git_ref: "main".into(),
                blob_sha: "b".repeat(40),
                sha256: "5".repeat(64),
            },
            verdict,
            standard: sdl_gate::practices::EDITION.into(),
            gates: gates(waived, bypassed),
            approvals: Vec::new(),
            threat_model_refs: vec!["docs/threat-model/plant.json".into()],
            waivers: if waived { vec![waiver] } else { Vec::new() },
            artifacts: Vec::new(),
            unknowns: Vec::new(),
            evaluated_at: at,
            sdl_gate: "0.1.0".into(),
        }));
        let eval_seq = store.append_ledger(&evaluation, at).await?.seq;
        let merge = Entry::Merge(MergeEntry {
            subject: subject(REPO, n),
            head_sha: format!("{n:040x}"),
            merge_commit: Some(format!("{:040x}", n + 1_000_000)),
            merged_by: Some("maintainer".into()),
            merged_at: Some(at),
            verdict: Some(verdict),
            evaluation_seq: Some(eval_seq),
            bypassed,
            title: Some(format!("Change {n}: harden the <input> parser")),
        });
        let seq = store.append_ledger(&merge, at).await?.seq;
        released.push(ReleasedMerge {
            number: n,
            merge_commit: None,
            bypassed,
            seq,
        });
    }
    let release = Entry::Release(ReleaseEntry {
        forge: ForgeName::GitHub,
        repository: REPO.into(),
        tag: "v4.2".into(),
        commit: Some("d".repeat(40)),
        target: None,
        by: Some("releaser".into()),
        released_at: Some(at),
        previous: None,
        merges: released,
    });
    store.append_ledger(&release, at).await?;
    store.checkpoint_ledger(&signer).await?;
    let size = store.ledger_size().await?;
    println!(
        "ledger: {size} entries ({merges} merges of {REPO} in release v4.2), written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let query = ReportQuery {
        forge: ForgeName::GitHub,
        repository: REPO.into(),
        range: RangeSpec::Release("v4.2".into()),
        keys: vec![signer.verifier().clone()],
        now: None,
    };
    let (mut load, mut json, mut md, mut html, mut total) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut sizes = (0, 0, 0);
    for _ in 0..runs {
        let t0 = Instant::now();
        let report = load_report(&store, &query).await?;
        let t1 = Instant::now();
        let j = render_json(&report);
        let t2 = Instant::now();
        let m = render_markdown(&report);
        let t3 = Instant::now();
        let h = render_html(&report, HtmlMode::Standalone)?;
        let t4 = Instant::now();
        assert!(report.ledger.verified && report.merges.len() as u64 == merges);
        load.push(t1 - t0);
        json.push(t2 - t1);
        md.push(t3 - t2);
        html.push(t4 - t3);
        // What `sdl-gate report` does for one format: load and render it.
        total.push((t1 - t0) + (t4 - t3));
        sizes = (j.len(), m.len(), h.len());
    }
    store.close().await;
    for (what, times) in [
        ("load_report (verify + read + build)", load),
        ("render_json", json),
        ("render_markdown", md),
        ("render_html", html),
        ("load + html (one report)", total),
    ] {
        let (p50, max) = p50(times);
        println!("{what:<38} p50 {p50:>8.1} ms   max {max:>8.1} ms   ({runs} runs)");
    }
    println!(
        "sizes: json {} KB, markdown {} KB, html {} KB",
        sizes.0 / 1024,
        sizes.1 / 1024,
        sizes.2 / 1024
    );
    Ok(())
}
