//! A repository's history written into a real store the way the engine writes it: each
//! evaluation is made by the real `gates::evaluate` from a policy and a snapshot, stored as the
//! engine stores it (`insert_evaluation` with the JSON result) and recorded in the ledger with
//! the engine's own `evaluation_entry`; waivers, merges and a release are appended as the
//! engine appends them. The page tests, the browser tests and `examples/pages_cost.rs` read it.

#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};

use sdl_gate::forge_name::ForgeName;
use sdl_gate::gates::{Evaluation, GateKind, OverallVerdict, evaluate};
use sdl_gate::ledger::entry::{
    Entry, MergeEntry, ReleaseEntry, ReleasedMerge, Subject, WaiverEntry,
};
use sdl_gate::ledger::evidence::{evaluation_entry, policy_evidence, waiver_evidence};
use sdl_gate::policy::parse_policy;
use sdl_gate::render;
use sdl_gate::reports::parse_report;
use sdl_gate::snapshot::{ChangedFile, Login, Review, ReviewState, Sha, Snapshot};
use sdl_gate::store::{NewEvaluation, Store};
use sdl_gate::waivers::Waiver;

/// The policy every change is evaluated under.
pub const POLICY: &str = r##"version: 1
security_paths: ["src/auth/**"]
gates:
  threat_model:
    paths: ["docs/threat-model/**"]
    link_patterns: ["https://tm.example.com/*"]
  security_review:
    approvals: 1
    reviewers: { users: ["alice"] }
  sast:
    threshold: high
waivers:
  users: ["alice"]
  max_days: 30
  min_reason_length: 10
"##;

/// Text a hostile author or scanner writes: the string `tests/render.rs` holds the Markdown
/// renderer to (mentions, markup, a `javascript:` link, the sticky comment's marker, a table
/// pipe, an issue reference), with a script element in front.
pub const HOSTILE: &str = "<script>alert('x')</script> ping @acme/security and @everyone \
     <img src=x onerror=alert(1)> | col \n\n# Heading [click](javascript:alert(1)) \
     <!-- sdl-gate:summary --> #1";

/// How one change is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Touches a security path with no threat model, no review and a high SAST finding.
    Failing,
    /// Threat model linked, alice approved, clean SAST.
    Passing,
    /// As passing, but nobody reviewed: the review gate is waived by alice.
    Waived,
}

/// A realistic 40-hex sha from a number.
pub fn sha(n: u64) -> String {
    format!("{n:040x}")
}

fn sarif(finding: bool) -> Vec<u8> {
    let results = if finding {
        serde_json::json!([{
            "ruleId": "rust/sql-injection",
            "level": "error",
            "message": { "text": format!("Query built from user input {HOSTILE}") },
            "locations": [{ "physicalLocation": {
                "artifactLocation": { "uri": "src/auth/login.rs" },
                "region": { "startLine": 42 }
            }}]
        }])
    } else {
        serde_json::json!([])
    };
    serde_json::json!({
        "version": "2.1.0",
        "runs": [{ "tool": { "driver": { "name": "CodeQL", "version": "2.19.0" } }, "results": results }]
    })
    .to_string()
    .into_bytes()
}

/// The snapshot and evaluation of change `number` at head `head`.
pub fn evaluated(
    forge: ForgeName,
    repository: &str,
    number: u64,
    head: &str,
    shape: Shape,
    now: DateTime<Utc>,
) -> (Snapshot, Evaluation) {
    let policy = parse_policy(".github/sdl-gate.yml", POLICY).expect("the seed policy parses");
    let mut s = Snapshot::new(Some(forge), repository, number, "bob", head);
    s.title = format!("Change {number}: {HOSTILE}");
    s.files = vec![ChangedFile::modified("src/auth/login.rs")];
    let failing = shape == Shape::Failing;
    s.reports
        .push(parse_report("codeql.sarif", &sarif(failing)).expect("the seed SARIF parses"));
    if !failing {
        s.body = "Threat-Model: https://tm.example.com/plant/42".into();
    }
    if shape == Shape::Passing {
        s.reviews.push(Review {
            author: Login::new("alice"),
            state: ReviewState::Approved,
            commit: Some(Sha::new(head)),
            submitted_at: Some(now),
        });
    }
    if shape == Shape::Waived {
        s.waivers.push(waiver(head, now));
    }
    let e = evaluate(&policy, &s, now);
    (s, e)
}

/// The waiver alice gives the review gate of a [`Shape::Waived`] change: three days left.
pub fn waiver(head: &str, now: DateTime<Utc>) -> Waiver {
    Waiver {
        gate: GateKind::SecurityReview,
        reason: format!("reviewed in the design meeting {HOSTILE}"),
        author: Login::new("alice"),
        created_at: now - Duration::hours(1),
        expires_at: now + Duration::days(3),
        sha: Sha::new(head),
        comment_id: Some(1),
        revoked: None,
    }
}

/// Evaluates change `number` as `shape` and records it as the engine does; returns the
/// evaluation's ledger sequence number and its verdict.
pub async fn record_evaluation(
    store: &Store,
    forge: ForgeName,
    repository: &str,
    number: u64,
    head: &str,
    shape: Shape,
    at: DateTime<Utc>,
) -> (u64, OverallVerdict) {
    let (snapshot, evaluation) = evaluated(forge, repository, number, head, shape, at);
    let subject = Subject {
        forge,
        repository: repository.to_owned(),
        number,
    };
    let entry = evaluation_entry(
        subject,
        &evaluation,
        &snapshot,
        policy_evidence(".github/sdl-gate.yml", "main", POLICY),
    );
    let appended = store
        .append_ledger(&Entry::Evaluation(Box::new(entry)), at)
        .await
        .expect("append the evaluation");
    let result = render::json(&evaluation);
    store
        .insert_evaluation(&NewEvaluation {
            forge,
            repository,
            number,
            head_sha: &Sha::new(head),
            verdict: evaluation.verdict,
            evaluated_at: at,
            result: &result,
        })
        .await
        .expect("store the evaluation");
    (appended.seq, evaluation.verdict)
}

/// Stores and records alice's waiver on change `number`.
pub async fn record_waiver(
    store: &Store,
    forge: ForgeName,
    repository: &str,
    number: u64,
    head: &str,
    at: DateTime<Utc>,
) {
    let w = waiver(head, at);
    store
        .insert_waiver(forge, repository, number, &w)
        .await
        .expect("store the waiver");
    let entry = Entry::WaiverGranted(WaiverEntry {
        subject: Subject {
            forge,
            repository: repository.to_owned(),
            number,
        },
        waiver: waiver_evidence(&w),
    });
    store
        .append_ledger(&entry, at)
        .await
        .expect("append the waiver");
}

/// Records the merge of change `number` after its evaluation `seq` with `verdict`; returns the
/// merge's sequence number.
pub async fn record_merge(
    store: &Store,
    forge: ForgeName,
    repository: &str,
    number: u64,
    head: &str,
    evaluation: (u64, OverallVerdict),
    at: DateTime<Utc>,
) -> ReleasedMerge {
    let bypassed = evaluation.1 != OverallVerdict::Pass;
    let merge_commit = sha(0xc0_0000 + number);
    let entry = Entry::Merge(MergeEntry {
        subject: Subject {
            forge,
            repository: repository.to_owned(),
            number,
        },
        head_sha: head.to_owned(),
        merge_commit: Some(merge_commit.clone()),
        merged_by: Some("carol".into()),
        merged_at: Some(at),
        verdict: Some(evaluation.1),
        evaluation_seq: Some(evaluation.0),
        bypassed,
        title: Some(format!("Change {number}: {HOSTILE}")),
    });
    let appended = store
        .append_ledger(&entry, at)
        .await
        .expect("append the merge");
    ReleasedMerge {
        number,
        merge_commit: Some(merge_commit),
        bypassed,
        seq: appended.seq,
    }
}

/// Records release `tag` shipping `merges`.
pub async fn record_release(
    store: &Store,
    forge: ForgeName,
    repository: &str,
    tag: &str,
    merges: Vec<ReleasedMerge>,
    at: DateTime<Utc>,
) {
    let entry = Entry::Release(ReleaseEntry {
        forge,
        repository: repository.to_owned(),
        tag: tag.to_owned(),
        commit: Some(sha(0xfee1)),
        target: None,
        by: Some("carol".into()),
        released_at: Some(at),
        previous: None,
        merges,
    });
    store
        .append_ledger(&entry, at)
        .await
        .expect("append the release");
}

/// What [`seed`] wrote.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// The change blocked now (failing, not merged).
    pub blocked: u64,
    /// The change merged green.
    pub green: u64,
    /// The change merged while failing.
    pub bypassed: u64,
    /// The change merged with its review waived.
    pub waived: u64,
    /// The release shipping the three merges.
    pub tag: &'static str,
}

/// A small history: #7 blocked (evaluated twice), #8 merged green, #9 merged failing (a
/// bypass), #10 merged with the review waived, all three shipped in release `v1.0`.
pub async fn seed(store: &Store, forge: ForgeName, repository: &str, now: DateTime<Utc>) -> Seeded {
    let t = |minutes: i64| now - Duration::minutes(240 - minutes);
    record_evaluation(
        store,
        forge,
        repository,
        7,
        &sha(0x7a),
        Shape::Failing,
        t(0),
    )
    .await;
    record_evaluation(
        store,
        forge,
        repository,
        7,
        &sha(0x7b),
        Shape::Failing,
        t(10),
    )
    .await;
    let green = record_evaluation(
        store,
        forge,
        repository,
        8,
        &sha(0x8a),
        Shape::Passing,
        t(20),
    )
    .await;
    let red = record_evaluation(
        store,
        forge,
        repository,
        9,
        &sha(0x9a),
        Shape::Failing,
        t(30),
    )
    .await;
    record_waiver(store, forge, repository, 10, &sha(0x10a), t(40)).await;
    let waived = record_evaluation(
        store,
        forge,
        repository,
        10,
        &sha(0x10a),
        Shape::Waived,
        t(40),
    )
    .await;
    let mut merges = Vec::new();
    merges.push(record_merge(store, forge, repository, 8, &sha(0x8a), green, t(50)).await);
    merges.push(record_merge(store, forge, repository, 9, &sha(0x9a), red, t(60)).await);
    merges.push(record_merge(store, forge, repository, 10, &sha(0x10a), waived, t(70)).await);
    record_release(store, forge, repository, "v1.0", merges, t(80)).await;
    Seeded {
        blocked: 7,
        green: 8,
        bypassed: 9,
        waived: 10,
        tag: "v1.0",
    }
}
