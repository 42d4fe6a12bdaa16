//! `sdl-gate report` as an auditor runs it, on a real SQLite ledger written through the
//! store's append API: a release with a green merge, a bypassed merge and a merge with a
//! waived gate and a dependency ignore. Each format shows the three merges, the bypass first,
//! and the waiver's who, why and until; the JSON validates against `--schema`; a ledger that
//! does not verify is said loudly and exits 1; hostile titles and reasons are inert; and the
//! library call the service's page makes (`load_report` + `render_html`) gives the same.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use chrono::{DateTime, TimeZone, Utc};
use sdl_gate::audit::model::{CoverageStatus, PROCESS_EVIDENCE};
use sdl_gate::audit::{HtmlMode, RangeSpec, ReportQuery, load_report, render_html};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::gate_kind::GateKind;
use sdl_gate::gates::{OverallVerdict, Verdict};
use sdl_gate::ledger::Entry;
use sdl_gate::ledger::entry::{
    EvaluationEntry, FindingCounts, GateEvidence, IgnoredFinding, MergeEntry, PolicyEvidence,
    ReleaseEntry, ReleasedMerge, Subject, WaiverEntry, WaiverEvidence,
};
use sdl_gate::ledger::keys;
use sdl_gate::store::Store;

const ORIGIN: &str = "sdl.example.com/ledger";
const REPO: &str = "acme/plant";

/// Hostile strings a title or a reason may hold (those of tests/render.rs and more).
const HOSTILE: &str = "<script>alert(1)</script> ping @acme/security and @everyone \
     <img src=x onerror=alert(1)> | col \n\n# Heading [click](javascript:alert(1)) \
     <!-- sdl-gate:summary --> #1";

fn t(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0).unwrap()
}

fn subject(number: u64) -> Subject {
    Subject {
        forge: ForgeName::GitHub,
        repository: REPO.into(),
        number,
    }
}

fn gate(kind: GateKind, verdict: Verdict, sev: &[(&str, u64)]) -> GateEvidence {
    let m = sdl_gate::practices::catalog().gate(kind.as_str()).unwrap();
    let by_severity: BTreeMap<String, u64> = sev.iter().map(|(s, n)| ((*s).into(), *n)).collect();
    let fingerprints = by_severity
        .iter()
        .flat_map(|(s, n)| (0..*n).map(move |i| format!("{kind}-{s}-{i}")))
        .collect();
    GateEvidence {
        gate: kind,
        verdict,
        requirements: m.practices.clone(),
        cra: m.cra.clone(),
        findings: FindingCounts {
            by_severity,
            not_blocking: 0,
            fingerprints,
            ignored: Vec::new(),
        },
    }
}

fn evaluation(
    number: u64,
    verdict: OverallVerdict,
    gates: Vec<GateEvidence>,
    waivers: Vec<WaiverEvidence>,
) -> Entry {
    Entry::Evaluation(Box::new(EvaluationEntry {
        subject: subject(number),
        head_sha: format!("{number:040x}"),
        base_ref: "main".into(),
        policy: PolicyEvidence {
            path: ".github/sdl-gate.yml".into(),
            git_ref: "main".into(),
            blob_sha: "b".repeat(40),
            sha256: "5".repeat(64),
        },
        org_policy: None,
        verdict,
        standard: sdl_gate::practices::EDITION.into(),
        gates,
        approvals: Vec::new(),
        threat_model_refs: Vec::new(),
        waivers,
        artifacts: Vec::new(),
        unknowns: Vec::new(),
        evaluated_at: t(2, 10),
        sdl_gate: "0.1.0".into(),
    }))
}

fn merge(number: u64, eval: u64, verdict: OverallVerdict, title: &str) -> Entry {
    Entry::Merge(MergeEntry {
        subject: subject(number),
        head_sha: format!("{number:040x}"),
        merge_commit: Some(format!("{:040x}", number + 100)),
        merged_by: Some("maintainer".into()),
        merged_at: Some(t(3, number as u32)),
        verdict: Some(verdict),
        evaluation_seq: Some(eval),
        bypassed: verdict != OverallVerdict::Pass,
        title: Some(title.into()),
    })
}

struct Ledger {
    dir: tempfile::TempDir,
    url: String,
    key: std::path::PathBuf,
}

/// Change 1 green, change 2 merged while failing (a bypass), change 3 with sast waived by
/// alice and a dependency finding ignored; release v4.2 lists the three; v4.1 before them.
async fn ledger(title: &str, reason: &str) -> Ledger {
    use GateKind::*;
    use Verdict::*;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sdl-gate.db").display());
    let key = dir.path().join("ledger.pem");
    let (signer, _) = keys::load_or_generate(&key, ORIGIN).unwrap();
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let append = |e: Entry, at| {
        let store = store.clone();
        async move { store.append_ledger(&e, at).await.unwrap().seq }
    };
    let v41 = append(
        Entry::Release(ReleaseEntry {
            forge: ForgeName::GitHub,
            repository: REPO.into(),
            tag: "v4.1".into(),
            commit: Some("a".repeat(40)),
            target: None,
            by: Some("releaser".into()),
            released_at: Some(t(1, 9)),
            previous: None,
            merges: Vec::new(),
        }),
        t(1, 9),
    )
    .await;
    let e1 = append(
        evaluation(
            1,
            OverallVerdict::Pass,
            vec![
                gate(ThreatModel, Pass, &[]),
                gate(SecurityReview, Pass, &[]),
                gate(Sast, Pass, &[]),
            ],
            vec![],
        ),
        t(2, 10),
    )
    .await;
    let e2 = append(
        evaluation(
            2,
            OverallVerdict::Fail,
            vec![gate(Sast, Fail, &[("critical", 1)])],
            vec![],
        ),
        t(2, 10),
    )
    .await;
    let w = WaiverEvidence {
        gate: Sast,
        by: "alice".into(),
        reason: reason.into(),
        granted_at: t(2, 9),
        until: t(30, 0),
        sha: "c".repeat(40),
    };
    append(
        Entry::WaiverGranted(WaiverEntry {
            subject: subject(3),
            waiver: w.clone(),
        }),
        t(2, 9),
    )
    .await;
    let mut deps = gate(Dependencies, Pass, &[("high", 1)]);
    deps.findings.ignored.push(IgnoredFinding {
        fingerprint: "GHSA-xxxx-yyyy-zzzz".into(),
        note: format!("ignored: {reason} (until 2027-01-31)"),
        expired: false,
    });
    let e3 = append(
        evaluation(
            3,
            OverallVerdict::Pass,
            vec![gate(Sast, Waived, &[("high", 2)]), deps],
            vec![w],
        ),
        t(2, 11),
    )
    .await;
    let m1 = append(
        merge(1, e1, OverallVerdict::Pass, "Add login rate limit"),
        t(3, 1),
    )
    .await;
    let m2 = append(
        merge(2, e2, OverallVerdict::Fail, "Hotfix the parser"),
        t(3, 2),
    )
    .await;
    let m3 = append(merge(3, e3, OverallVerdict::Pass, title), t(3, 3)).await;
    let released = |seq, number, bypassed| ReleasedMerge {
        number,
        merge_commit: None,
        bypassed,
        seq,
    };
    append(
        Entry::Release(ReleaseEntry {
            forge: ForgeName::GitHub,
            repository: REPO.into(),
            tag: "v4.2".into(),
            commit: Some("d".repeat(40)),
            target: None,
            by: Some("releaser".into()),
            released_at: Some(t(4, 9)),
            previous: Some(sdl_gate::ledger::entry::PreviousRelease {
                tag: "v4.1".into(),
                commit: None,
                seq: v41,
            }),
            merges: vec![
                released(m1, 1, false),
                released(m2, 2, true),
                released(m3, 3, false),
            ],
        }),
        t(4, 9),
    )
    .await;
    store.checkpoint_ledger(&signer).await.unwrap();
    store.close().await;
    Ledger { dir, url, key }
}

impl Ledger {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
            .arg("report")
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SDL_GATE_DATABASE_URL", &self.url)
            .env("SDL_GATE_LEDGER_KEY_PATH", &self.key)
            .env("SDL_GATE_LEDGER_ORIGIN", ORIGIN)
            .output()
            .expect("the binary runs")
    }

    fn report(&self, format: &str) -> (i32, String) {
        let out = self.run(&["--repo", REPO, "--release", "v4.2", "--format", format]);
        let code = out.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 1,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (code, String::from_utf8(out.stdout).unwrap())
    }
}

fn order(text: &str, titles: &[&str]) -> Vec<usize> {
    titles
        .iter()
        .map(|t| {
            text.find(t)
                .unwrap_or_else(|| panic!("{t:?} is not in\n{text}"))
        })
        .collect()
}

#[tokio::test]
async fn a_release_shows_green_bypassed_and_waived_merges_in_every_format() {
    let l = ledger(
        "Waive the generated parser",
        "false positive in generated code",
    )
    .await;
    let (code, md) = l.report("markdown");
    assert_eq!(code, 0, "{md}");
    let at = order(
        &md,
        &[
            "Hotfix the parser",
            "Add login rate limit",
            "Waive the generated parser",
        ],
    );
    assert!(at[0] < at[1] && at[1] < at[2], "bypassed first:\n{md}");
    assert!(md.contains("**⛔ BYPASSED** (fail)"), "{md}");
    assert!(
        md.contains("| 3 | sast | alice | false positive in generated code | 2026-12-02 09:00 UTC | 2026-12-30 00:00 UTC |"),
        "{md}"
    );
    assert!(md.contains("release v4.2: the 3 merges recorded since release v4.1"));
    assert!(md.contains("| Ledger verify | passed"), "{md}");
    assert!(md.contains("GHSA-xxxx-yyyy-zzzz"));

    let (code, html) = l.report("html");
    assert_eq!(code, 0);
    let at = order(
        &html,
        &[
            "Hotfix the parser",
            "Add login rate limit",
            "Waive the generated parser",
        ],
    );
    assert!(at[0] < at[1] && at[1] < at[2], "bypassed first");
    assert!(
        html.contains(r#"<tr class="bypassed">"#)
            && html.contains(r#"<span class="badge bad">BYPASSED</span>"#)
    );
    assert!(html.contains("<td>alice</td><td>false positive in generated code</td><td>2026-12-02 09:00 UTC</td><td>2026-12-30 00:00 UTC</td>"), "{html}");
    assert!(html.contains("<style>") && html.contains("@media print"));

    let (code, json) = l.report("json");
    assert_eq!(code, 0);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let numbers: Vec<u64> = value["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, vec![2, 1, 3]);
    assert_eq!(value["merges"][0]["bypassed"], true);
    let w = &value["exceptions"]["waivers"][0];
    assert_eq!(w["by"], "alice");
    assert_eq!(w["reason"], "false positive in generated code");
    assert_eq!(w["until"], "2026-12-30T00:00:00Z");
    assert_eq!(value["ledger"]["verified"], true);
    assert_eq!(value["ledger"]["checkpoint"]["size"], 9);
    assert_eq!(value["ledger"]["unsealed_cited"], serde_json::json!([]));

    // The JSON validates against the published schema, and a report missing a field does not.
    let out = l.run(&["--schema"]);
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut broken = value.clone();
    broken["merges"][0]
        .as_object_mut()
        .unwrap()
        .remove("bypassed");
    assert!(!validator.is_valid(&broken));
    let mut broken = value.clone();
    broken["coverage"][0]["status"] = "probably_fine".into();
    assert!(!validator.is_valid(&broken));
}

#[tokio::test]
async fn coverage_claims_only_what_entries_back() {
    let l = ledger("t", "a long enough reason for the waiver").await;
    let (_, json) = l.report("json");
    let report: sdl_gate::audit::AuditReport = serde_json::from_str(&json).unwrap();
    assert_eq!(report.coverage.len(), 47);
    let merges: std::collections::HashMap<u64, &sdl_gate::audit::model::MergedChange> =
        report.merges.iter().map(|m| (m.number, m)).collect();
    for c in &report.coverage {
        match c.status {
            CoverageStatus::Covered => {
                assert!(
                    !c.evidence_seqs.is_empty(),
                    "{} covered without an entry",
                    c.id
                );
                assert_eq!(c.evidenced, c.applicable, "{}", c.id);
                // Every change counted as evidence passed a gate mapped to it (or holds a
                // recorded waiver, for the waiver record), and its entry is listed.
                for n in &c.evidenced_changes {
                    let m = merges[n];
                    let passed = m.gates.iter().any(|g| {
                        g.verdict == sdl_gate::audit::model::GateVerdict::Pass
                            && g.requirements.contains(&c.id)
                    });
                    let waived = c.gates.iter().any(|g| g == "waiver")
                        && report.exceptions.waivers.iter().any(|w| w.number == *n);
                    assert!(passed || waived, "{}: change {n} is no evidence", c.id);
                }
            }
            CoverageStatus::ProcessEvidenceNeeded => {
                assert!(c.statement.starts_with(PROCESS_EVIDENCE), "{}", c.id);
                assert!(c.gates.is_empty() && c.evidence_seqs.is_empty(), "{}", c.id);
            }
            _ => assert!(c.evidenced < c.applicable || c.applicable == 0, "{}", c.id),
        }
        assert_eq!(c.evidenced as usize, c.evidenced_changes.len(), "{}", c.id);
    }
    // SUM and SG have no pull-request gate; SM-3 neither.
    for c in report
        .coverage
        .iter()
        .filter(|c| c.practice == "SUM" || c.practice == "SG" || c.id == "SM-3")
    {
        assert_eq!(c.status, CoverageStatus::ProcessEvidenceNeeded, "{}", c.id);
    }
    // sast: passed on 1, failed on the bypassed 2, waived on 3.
    let si2 = report.coverage.iter().find(|c| c.id == "SI-2").unwrap();
    assert_eq!(si2.status, CoverageStatus::Partial);
    assert_eq!((si2.applicable, si2.evidenced, si2.waived), (3, 1, 1));
    // The CRA references carry the entries behind them.
    let art = report.cra.iter().find(|c| c.reference == "I.2(3)").unwrap();
    assert_eq!(art.evidence_seqs.len() as u64, art.changes);
    assert!(art.changes >= 1);
}

#[tokio::test]
async fn hostile_titles_and_reasons_are_inert_in_html_and_markdown() {
    let l = ledger(HOSTILE, HOSTILE).await;
    let (_, md) = l.report("markdown");
    assert!(!md.contains("<script"), "{md}");
    assert!(!md.contains("<img"), "{md}");
    assert!(!md.contains("<!--"), "{md}");
    assert!(!md.contains("@everyone") && !md.contains("@acme"), "{md}");
    assert!(!md.replace("\\]", "").contains("](javascript:"), "{md}");
    for line in md.lines().filter(|l| l.starts_with("| 3 | ")) {
        // Escaped pipes and folded newlines keep the row one row of its table.
        let cells = line.replace("\\|", "").matches('|').count();
        assert!(cells == 9 || cells == 6 || cells == 7, "{cells}: {line}");
    }
    let (_, html) = l.report("html");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<!--"), "{html}");
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
}

#[tokio::test]
async fn a_ledger_that_does_not_verify_is_said_loudly_and_exits_1() {
    let l = ledger("t", "a long enough reason for the waiver").await;
    let other = sdl_gate::ledger::note::NoteSigner::generate(ORIGIN).unwrap();
    let other = other.verifier().to_string();
    for format in ["markdown", "html", "json"] {
        let out = l.run(&[
            "--repo",
            REPO,
            "--release",
            "v4.2",
            "--format",
            format,
            "--key",
            &other,
        ]);
        assert_eq!(out.status.code(), Some(1), "{format}");
        let text = String::from_utf8_lossy(&out.stdout);
        match format {
            "markdown" => assert!(
                text.lines()
                    .find(|l| l.starts_with('>'))
                    .is_some_and(|l| l.contains("LEDGER VERIFICATION FAILED")),
                "{text}"
            ),
            "html" => assert!(text.contains(r#"id="ledger-failed""#), "{text}"),
            _ => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["ledger"]["verified"], false);
                assert!(
                    v["ledger"]["verification"]
                        .as_str()
                        .unwrap()
                        .contains("signed by no known key"),
                    "{v}"
                );
            }
        }
        assert!(String::from_utf8_lossy(&out.stderr).contains("LEDGER VERIFICATION FAILED"));
    }
}

#[tokio::test]
async fn ranges_out_file_and_input_errors() {
    let l = ledger("t", "a long enough reason for the waiver").await;
    let out_file = l.dir.path().join("report.json");
    let out = l.run(&[
        "--repo",
        REPO,
        "--since",
        "v4.1",
        "--until",
        "2026-12-03T02:30:00Z",
        "--format",
        "json",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    let mut numbers: Vec<u64> = v["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["number"].as_u64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, vec![1, 2], "merged at 01:00 and 02:00, not 03:00");
    let leftovers: Vec<_> = std::fs::read_dir(l.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());

    let out = l.run(&["--repo", REPO, "--release", "v9.9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no release entry for tag v9.9 in github acme/plant"),
        "{out:?}"
    );
    let out = l.run(&["--repo", "acme/nothing", "--release", "v4.2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no entry of acme/nothing"));
    let out = l.run(&["--repo", REPO, "--since", "last tuesday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since last tuesday"));
}

#[tokio::test]
async fn the_service_page_call_gives_the_same_report() {
    let l = ledger(
        "Waive the generated parser",
        "false positive in generated code",
    )
    .await;
    let store = Store::connect(&l.url, 2).await.unwrap();
    let (signer, _) = keys::load_or_generate(&l.key, ORIGIN).unwrap();
    let query = ReportQuery {
        forge: ForgeName::GitHub,
        repository: REPO.into(),
        range: RangeSpec::Release("v4.2".into()),
        keys: vec![signer.verifier().clone()],
        now: Some(t(5, 0)),
    };
    let report = load_report(&store, &query).await.unwrap();
    store.close().await;
    assert!(report.ledger.verified);
    assert_eq!(report.merges.len(), 3);
    let page = render_html(&report, HtmlMode::Served).unwrap();
    assert!(page.contains(r#"href="/assets/report.css""#));
    assert!(!page.contains("<style") && !page.contains("style="));
    assert!(page.contains("Waive the generated parser"));
}
