//! The ledger's attestations as the supply-chain ecosystem reads them: `ledger export` writes
//! one DSSE envelope per merge (an in-toto Statement v1 with a SLSA verification summary),
//! `ledger verify --bundle` checks them, and securesystemslib — the in-toto project's own
//! library, installed from PyPI by `tests/real-tools/sslib.sh` — verifies their signatures.

mod service_support;

use std::process::Command;

use chrono::{TimeZone, Utc};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::gate_kind::GateKind;
use sdl_gate::gates::{OverallVerdict, Verdict};
use sdl_gate::ledger::Entry;
use sdl_gate::ledger::entry::{
    EvaluationEntry, FindingCounts, GateEvidence, MergeEntry, PolicyEvidence, Subject,
};
use sdl_gate::ledger::keys;
use sdl_gate::store::Store;
use serde_json::Value;

const ORIGIN: &str = "sdl.example.com/ledger";

fn subject(number: u64) -> Subject {
    Subject {
        forge: ForgeName::GitLab,
        repository: "group/plc".into(),
        number,
    }
}

fn evaluation(number: u64, verdict: OverallVerdict) -> Entry {
    Entry::Evaluation(Box::new(EvaluationEntry {
        subject: subject(number),
        head_sha: format!("{number:040x}"),
        base_ref: "main".into(),
        policy: PolicyEvidence {
            path: ".gitlab/sdl-gate.yml".into(),
            git_ref: "main".into(),
            blob_sha: "ce013625030ba8dba906f756967f9e9ca394464a".into(),
            sha256: "ab".repeat(32),
        },
        org_policy: None,
        verdict,
        standard: "IEC 62443-4-1:2018 (edition 1.0)".into(),
        gates: vec![
            GateEvidence {
                gate: GateKind::ThreatModel,
                verdict: Verdict::Pass,
                requirements: vec!["SR-2".into(), "SD-1".into()],
                cra: vec![],
                findings: FindingCounts::default(),
            },
            GateEvidence {
                gate: GateKind::Sast,
                verdict: if verdict == OverallVerdict::Pass {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                },
                requirements: vec!["SI-1".into(), "SI-2".into()],
                cra: vec![],
                findings: FindingCounts::default(),
            },
        ],
        approvals: vec![],
        threat_model_refs: vec![],
        waivers: vec![],
        artifacts: vec![],
        unknowns: vec![],
        evaluated_at: Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap(),
        sdl_gate: "0.1.0".into(),
    }))
}

fn merge(number: u64, evaluation_seq: u64, verdict: OverallVerdict) -> Entry {
    Entry::Merge(MergeEntry {
        subject: subject(number),
        head_sha: format!("{number:040x}"),
        merge_commit: Some(format!("{:040x}", number + 1000)),
        merged_by: Some("carol".into()),
        merged_at: Some(Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()),
        verdict: Some(verdict),
        evaluation_seq: Some(evaluation_seq),
        bypassed: verdict != OverallVerdict::Pass,
        title: None,
    })
}

fn sslib_python() -> Option<String> {
    match std::env::var("SDL_GATE_SSLIB_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "CI=true but SDL_GATE_SSLIB_PYTHON is not set: .ci/test.sh installs securesystemslib with tests/real-tools/sslib.sh"
        ),
        _ => {
            eprintln!(
                "skipping the securesystemslib check: SDL_GATE_SSLIB_PYTHON is not set (bash tests/real-tools/sslib.sh prints it)"
            );
            None
        }
    }
}

#[tokio::test]
async fn merges_are_exported_as_dsse_signed_verification_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sdl-gate.db").display());
    let key = dir.path().join("ledger.pem");
    let (signer, _) = keys::load_or_generate(&key, ORIGIN).unwrap();
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
    let green = store
        .append_ledger(&evaluation(7, OverallVerdict::Pass), at)
        .await
        .unwrap();
    store
        .append_ledger(&merge(7, green.seq, OverallVerdict::Pass), at)
        .await
        .unwrap();
    let red = store
        .append_ledger(&evaluation(8, OverallVerdict::Fail), at)
        .await
        .unwrap();
    store
        .append_ledger(&merge(8, red.seq, OverallVerdict::Fail), at)
        .await
        .unwrap();
    store.close().await;

    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
            .arg("ledger")
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SDL_GATE_DATABASE_URL", &url)
            .env("SDL_GATE_LEDGER_KEY_PATH", &key)
            .env("SDL_GATE_LEDGER_ORIGIN", ORIGIN)
            .env("SDL_GATE_GITLAB_URL", "https://gitlab.example.com")
            .env("SDL_GATE_GITLAB_TOKEN", "glpat-test")
            .env("SDL_GATE_GITLAB_WEBHOOK_SECRET", "s")
            .output()
            .expect("runs")
    };
    let out = run(&["export", "--repo", "group/plc", "--out", "bundle"]);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("4 entries of group/plc and 2 attestations"),
        "{said}"
    );
    let attestations = dir.path().join("bundle/attestations");
    let green_file = attestations.join("gitlab-group_plc-7.dsse.json");
    let red_file = attestations.join("gitlab-group_plc-8.dsse.json");
    let envelope: Value =
        serde_json::from_str(&std::fs::read_to_string(&green_file).unwrap()).unwrap();
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    let payload = base64_decode(envelope["payload"].as_str().unwrap());
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        statement["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    let p = &statement["predicate"];
    assert_eq!(p["verificationResult"], "PASSED");
    assert_eq!(
        p["resourceUri"],
        format!("git+https://gitlab.example.com/group/plc@{:040x}", 1007)
    );
    assert_eq!(
        p["policy"]["uri"],
        "https://gitlab.example.com/group/plc/blob/main/.gitlab/sdl-gate.yml"
    );
    assert_eq!(p["policy"]["digest"]["sha256"], "ab".repeat(32));
    let levels: Vec<&str> = p["verifiedLevels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        levels,
        [
            "IEC_62443_4_1_SD-1",
            "IEC_62443_4_1_SI-1",
            "IEC_62443_4_1_SI-2",
            "IEC_62443_4_1_SR-2"
        ]
    );
    assert_eq!(p["sdlGate"]["standard"], "IEC 62443-4-1:2018 (edition 1.0)");
    assert_eq!(p["verifier"]["id"], format!("https://{ORIGIN}"));
    let red_statement: Value =
        serde_json::from_slice(
            &base64_decode(
                serde_json::from_str::<Value>(&std::fs::read_to_string(&red_file).unwrap())
                    .unwrap()["payload"]
                    .as_str()
                    .unwrap(),
            ),
        )
        .unwrap();
    assert_eq!(red_statement["predicate"]["verificationResult"], "FAILED");
    assert_eq!(red_statement["predicate"]["sdlGate"]["bypassed"], true);
    assert_eq!(
        red_statement["predicate"]["verifiedLevels"],
        serde_json::json!([])
    );

    let out = run(&[
        "verify",
        "--bundle",
        "bundle",
        "--key",
        &signer.verifier().to_string(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("2 attestations signed and matching"),
        "{said}"
    );

    // An attestation that says PASSED for the red merge is caught by its signature…
    let forged = std::fs::read_to_string(&red_file).unwrap();
    let mut env: Value = serde_json::from_str(&forged).unwrap();
    let lying = String::from_utf8(base64_decode(env["payload"].as_str().unwrap()))
        .unwrap()
        .replace("\"FAILED\"", "\"PASSED\"");
    env["payload"] = Value::String(base64_encode(lying.as_bytes()));
    std::fs::write(&red_file, serde_json::to_string(&env).unwrap()).unwrap();
    let out = run(&[
        "verify",
        "--bundle",
        "bundle",
        "--key",
        &signer.verifier().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "attestations/gitlab-group_plc-8.dsse.json: no signature by a trusted key verifies"
        ),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // …and securesystemslib, which we did not write, agrees on both.
    let Some(python) = sslib_python() else {
        return;
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/real-tools/dsse_verify.py"
    );
    let public = hex::encode(signer.verifier().public);
    let keyid = hex::encode(signer.verifier().id);
    let ok = Command::new(&python)
        .args([script, &public, &keyid])
        .arg(&green_file)
        .output()
        .expect("python runs");
    let said =
        String::from_utf8_lossy(&ok.stdout).into_owned() + &String::from_utf8_lossy(&ok.stderr);
    assert!(
        ok.status.success(),
        "securesystemslib verifies the envelope: {said}"
    );
    assert!(
        said.contains("verified application/vnd.in-toto+json PASSED"),
        "{said}"
    );
    let bad = Command::new(&python)
        .args([script, &public, &keyid])
        .arg(&red_file)
        .output()
        .expect("python runs");
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bad.stdout)
    );
    assert!(String::from_utf8_lossy(&bad.stdout).contains("FAILED"));
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
