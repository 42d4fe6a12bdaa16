//! Table-driven tests of every gate and of the engine that combines them, through the public
//! API only: a policy from YAML, a snapshot, a fixed clock, and the verdicts that come out.

mod common;

use common::*;
use sdl_gate::gates::commits_to_compare;
use sdl_gate::gates::{FindingStatus, GateKind, OverallVerdict, Verdict, WaiverNoteState};
use sdl_gate::reports::{ReportFormat, Severity};
use sdl_gate::snapshot::{CheckState, FileStatus, PatchIdentity, ReviewState, Sha, Snapshot};

const TM_MD: &[u8] =
    b"# Auth threat model\n\n- Spoofing of the login endpoint: mitigated by mTLS.\n";

struct Case {
    name: &'static str,
    setup: fn(&mut Snapshot),
    expect: Verdict,
}

fn run(kind: GateKind, cases: &[Case]) {
    let policy = base_policy();
    let mut failures = Vec::new();
    for case in cases {
        let mut s = change(&["src/auth/login.rs"]);
        (case.setup)(&mut s);
        let g = gate(&eval(&policy, &s), kind);
        if g.verdict != case.expect {
            failures.push(format!(
                "{}: expected {:?}, got {:?} ({})",
                case.name, case.expect, g.verdict, g.explanation
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn threat_model_gate() {
    run(
        GateKind::ThreatModel,
        &[
            Case {
                name: "security path, no threat model update",
                setup: |_| {},
                expect: Verdict::Fail,
            },
            Case {
                name: "not security relevant",
                setup: |s| s.files = vec![sdl_gate::snapshot::ChangedFile::modified("README.md")],
                expect: Verdict::NotApplicable,
            },
            Case {
                name: "label makes it relevant",
                setup: |s| {
                    s.files = vec![sdl_gate::snapshot::ChangedFile::modified("README.md")];
                    s.labels.push("Security".into());
                },
                expect: Verdict::Fail,
            },
            Case {
                name: "threat model updated and readable",
                setup: |s| {
                    file(s, "docs/threat-model/auth.md", FileStatus::Modified, None);
                    content(s, "docs/threat-model/auth.md", Some(TM_MD));
                },
                expect: Verdict::Pass,
            },
            Case {
                name: "threat model renamed inside the threat-model paths",
                setup: |s| {
                    file(
                        s,
                        "docs/threat-model/login.md",
                        FileStatus::Renamed,
                        Some("docs/threat-model/auth.md"),
                    );
                    content(s, "docs/threat-model/login.md", Some(TM_MD));
                },
                expect: Verdict::Pass,
            },
            Case {
                name: "threat model moved out of the threat-model paths",
                setup: |s| {
                    file(
                        s,
                        "attic/auth.md",
                        FileStatus::Renamed,
                        Some("docs/threat-model/auth.md"),
                    );
                    content(s, "attic/auth.md", Some(TM_MD));
                },
                expect: Verdict::Fail,
            },
            Case {
                name: "threat model deleted",
                setup: |s| file(s, "docs/threat-model/auth.md", FileStatus::Removed, None),
                expect: Verdict::Fail,
            },
            Case {
                name: "threat model emptied (no longer parses)",
                setup: |s| {
                    file(s, "docs/threat-model/auth.md", FileStatus::Modified, None);
                    content(s, "docs/threat-model/auth.md", Some(b""));
                },
                expect: Verdict::Fail,
            },
            Case {
                name: "threat model unreadable, fail closed",
                setup: |s| {
                    file(s, "docs/threat-model/auth.md", FileStatus::Modified, None);
                    content(s, "docs/threat-model/auth.md", None);
                },
                expect: Verdict::Fail,
            },
            Case {
                name: "accepted link in the description",
                setup: |s| s.body = "Adds MFA.\n\nthreat-model: https://tm.example.com/42\n".into(),
                expect: Verdict::Pass,
            },
            Case {
                name: "issue reference",
                setup: |s| s.body = "Threat-Model: #314".into(),
                expect: Verdict::Pass,
            },
            Case {
                name: "link to a host that is not allowed",
                setup: |s| s.body = "Threat-Model: https://evil.example.org/42".into(),
                expect: Verdict::Fail,
            },
            Case {
                name: "reference recorded by /sdl threat-model",
                setup: |s| s.threat_model_refs.push("https://tm.example.com/7".into()),
                expect: Verdict::Pass,
            },
            Case {
                name: "trailer inside prose does not count",
                setup: |s| {
                    s.body = "We did not add a Threat-Model: https://tm.example.com/1 line".into()
                },
                expect: Verdict::Fail,
            },
        ],
    );
}

#[test]
fn threat_model_fail_open_counts_unreadable_file_with_warning() {
    let mut p = base_policy();
    p.gates.threat_model.common.fail_mode = sdl_gate::policy::FailMode::Open;
    let mut s = change(&["src/auth/login.rs"]);
    file(
        &mut s,
        "docs/threat-model/auth.md",
        FileStatus::Modified,
        None,
    );
    content(&mut s, "docs/threat-model/auth.md", None);
    let g = gate(&eval(&p, &s), GateKind::ThreatModel);
    assert_eq!(g.verdict, Verdict::Pass);
    assert_eq!(g.warnings.len(), 1, "{:?}", g.warnings);
    assert!(g.warnings[0].contains("auth.md"));
}

#[test]
fn security_review_gate() {
    run(
        GateKind::SecurityReview,
        &[
            Case {
                name: "no reviews",
                setup: |_| {},
                expect: Verdict::Pending,
            },
            Case {
                name: "team member approves head",
                setup: |s| review(s, "carol", ReviewState::Approved, HEAD),
                expect: Verdict::Pass,
            },
            Case {
                name: "listed user approves head (case-insensitive login)",
                setup: |s| review(s, "Alice", ReviewState::Approved, HEAD),
                expect: Verdict::Pass,
            },
            Case {
                name: "author approves own change, though in the team",
                setup: |s| review(s, "bob", ReviewState::Approved, HEAD),
                expect: Verdict::Pending,
            },
            Case {
                name: "approval on an older commit",
                setup: |s| review(s, "carol", ReviewState::Approved, OLD),
                expect: Verdict::Pending,
            },
            Case {
                name: "approval on an older commit with the head's patch (a rebase)",
                setup: |s| {
                    review(s, "carol", ReviewState::Approved, OLD);
                    patch_ids(s, Some("9f8e"), Some("9f8e"));
                },
                expect: Verdict::Pass,
            },
            Case {
                name: "approval on an older commit whose patch differs",
                setup: |s| {
                    review(s, "carol", ReviewState::Approved, OLD);
                    patch_ids(s, Some("9f8e"), Some("0a1b"));
                },
                expect: Verdict::Pending,
            },
            Case {
                name: "approval on an older commit, the head's patch unknown",
                setup: |s| {
                    review(s, "carol", ReviewState::Approved, OLD);
                    patch_ids(s, None, Some("9f8e"));
                },
                expect: Verdict::Pending,
            },
            Case {
                name: "approval on an older commit whose patch is unknown",
                setup: |s| {
                    review(s, "carol", ReviewState::Approved, OLD);
                    patch_ids(s, Some("9f8e"), None);
                },
                expect: Verdict::Pending,
            },
            Case {
                name: "approval by someone outside the reviewers",
                setup: |s| review(s, "mallory", ReviewState::Approved, HEAD),
                expect: Verdict::Pending,
            },
            Case {
                name: "security reviewer requests changes",
                setup: |s| {
                    review(s, "alice", ReviewState::Approved, HEAD);
                    review(s, "carol", ReviewState::ChangesRequested, HEAD);
                },
                expect: Verdict::Fail,
            },
            Case {
                name: "changes requested, then approved by the same reviewer",
                setup: |s| {
                    review(s, "carol", ReviewState::ChangesRequested, OLD);
                    review(s, "carol", ReviewState::Approved, HEAD);
                },
                expect: Verdict::Pass,
            },
            Case {
                name: "a comment after an approval keeps the approval",
                setup: |s| {
                    review(s, "carol", ReviewState::Approved, HEAD);
                    review(s, "carol", ReviewState::Commented, HEAD);
                },
                expect: Verdict::Pass,
            },
            Case {
                name: "dismissed approval",
                setup: |s| {
                    review(s, "carol", ReviewState::Approved, HEAD);
                    review(s, "carol", ReviewState::Dismissed, HEAD);
                },
                expect: Verdict::Pending,
            },
            Case {
                name: "outsider requesting changes does not block",
                setup: |s| {
                    review(s, "carol", ReviewState::Approved, HEAD);
                    review(s, "mallory", ReviewState::ChangesRequested, HEAD);
                },
                expect: Verdict::Pass,
            },
            Case {
                name: "bot approval does not count",
                setup: |s| {
                    s.teams
                        .get_mut("acme/security")
                        .map(|t| t.insert(sdl_gate::snapshot::Login::new("renovate[bot]")));
                    review(s, "renovate[bot]", ReviewState::Approved, HEAD);
                },
                expect: Verdict::Pending,
            },
            Case {
                name: "team membership unknown fails closed",
                setup: |s| {
                    s.teams.clear();
                    review(s, "carol", ReviewState::Approved, HEAD);
                },
                expect: Verdict::Fail,
            },
            Case {
                name: "policy file edited in the change triggers review",
                setup: |s| {
                    s.files = vec![sdl_gate::snapshot::ChangedFile::modified(
                        ".github/sdl-gate.yml",
                    )]
                },
                expect: Verdict::Pending,
            },
        ],
    );
}

/// Puts the head's and OLD's patch into the snapshot (`None`: unknown).
fn patch_ids(s: &mut Snapshot, head: Option<&str>, old: Option<&str>) {
    for (commit, id) in [(HEAD, head), (OLD, old)] {
        let identity = match id {
            Some(id) => PatchIdentity::Known { id: id.repeat(10) },
            None => PatchIdentity::Unknown {
                reason: "the forge gives no patch for logo.png".into(),
            },
        };
        s.patch_ids.insert(Sha::new(commit), identity);
    }
}

fn texts(nodes: &[sdl_gate::gates::Node], out: &mut Vec<String>) {
    for n in nodes {
        out.push(n.description.clone());
        texts(&n.children, out);
    }
}

fn review_texts(p: &sdl_gate::policy::Policy, s: &Snapshot) -> (Verdict, String) {
    let g = gate(&eval(p, s), GateKind::SecurityReview);
    let mut out = vec![g.explanation.clone()];
    texts(&g.details, &mut out);
    (g.verdict, out.join("\n"))
}

#[test]
fn approvals_survive_a_rebase_and_the_explanation_names_the_rule() {
    let p = base_policy();
    let mut s = change(&["src/auth/login.rs"]);
    review(&mut s, "carol", ReviewState::Approved, OLD);
    // The head's patch is known, OLD's was not looked at: OLD is worth comparing.
    s.patch_ids.insert(
        Sha::new(HEAD),
        PatchIdentity::Known {
            id: "9f8e".repeat(10),
        },
    );
    assert_eq!(
        commits_to_compare(&p, &s, now()),
        vec![Sha::new(OLD)],
        "the approval of OLD could decide the review"
    );
    let (v, text) = review_texts(&p, &s);
    assert_eq!(v, Verdict::Pending);
    assert!(
        text.contains("approved 2222222, not the head commit 1111111: approve again"),
        "{text}"
    );

    patch_ids(&mut s, Some("9f8e"), Some("9f8e"));
    let (v, text) = review_texts(&p, &s);
    assert_eq!(v, Verdict::Pass, "{text}");
    assert!(
        text.contains("carol (member of acme/security) approved 2222222, a commit with the same patch as the head 1111111 (patch-id 9f8e9f8e9f8e…): counts"),
        "{text}"
    );
    assert!(text.contains("or a commit with the same patch"), "{text}");
    assert!(
        commits_to_compare(&p, &s, now()).is_empty(),
        "already known"
    );

    patch_ids(&mut s, Some("9f8e"), Some("0a1b"));
    let (v, text) = review_texts(&p, &s);
    assert_eq!(v, Verdict::Pending);
    assert!(
        text.contains("approved 2222222, not the head commit 1111111, and its patch differs from the head's: approve again"),
        "{text}"
    );

    patch_ids(&mut s, Some("9f8e"), None);
    let (_, text) = review_texts(&p, &s);
    assert!(
        text.contains("whether its patch is the head's is unknown (at 2222222: the forge gives no patch for logo.png): approve again"),
        "{text}"
    );
    // The head's patch unknown: said so even though OLD was never looked at.
    patch_ids(&mut s, None, None);
    s.patch_ids.remove(&Sha::new(OLD));
    let (v, text) = review_texts(&p, &s);
    assert_eq!(v, Verdict::Pending);
    assert!(
        text.contains("whether its patch is the head's is unknown (at the head: the forge gives no patch for logo.png): approve again"),
        "{text}"
    );

    // Off by policy: the same patch does not count.
    let off = policy(
        "version: 1\nsecurity_paths: [\"src/auth/**\"]\ngates:\n  security_review:\n    reviewers: { teams: [\"acme/security\"] }\n    approvals_survive_rebase: false\n",
    );
    patch_ids(&mut s, Some("9f8e"), Some("9f8e"));
    let (v, text) = review_texts(&off, &s);
    assert_eq!(v, Verdict::Pending, "{text}");
    assert!(
        text.contains("not the head commit 1111111: approve again"),
        "{text}"
    );
    s.patch_ids.remove(&Sha::new(OLD));
    assert!(commits_to_compare(&off, &s, now()).is_empty());
}

#[test]
fn only_approvals_that_could_decide_the_review_are_compared() {
    let p = base_policy();
    let base = {
        let mut s = change(&["src/auth/login.rs"]);
        review(&mut s, "carol", ReviewState::Approved, OLD);
        s.patch_ids.insert(
            Sha::new(HEAD),
            PatchIdentity::Known {
                id: "9f8e".repeat(10),
            },
        );
        s
    };
    // The head already approved by someone who counts.
    let mut s = base.clone();
    review(&mut s, "alice", ReviewState::Approved, HEAD);
    assert!(commits_to_compare(&p, &s, now()).is_empty());
    // The head's own patch unknown: nothing can carry over.
    let mut s = base.clone();
    patch_ids(&mut s, None, None);
    s.patch_ids.remove(&Sha::new(OLD));
    assert!(commits_to_compare(&p, &s, now()).is_empty());
    // A reviewer who does not count, and a change the gate does not apply to.
    let mut s = change(&["src/auth/login.rs"]);
    review(&mut s, "mallory", ReviewState::Approved, OLD);
    s.patch_ids = base.patch_ids.clone();
    assert!(commits_to_compare(&p, &s, now()).is_empty());
    let mut s = base.clone();
    s.files = vec![sdl_gate::snapshot::ChangedFile::modified("README.md")];
    assert!(commits_to_compare(&p, &s, now()).is_empty());
    // Changes requested by a security reviewer: the review fails whatever the patch.
    let mut s = base.clone();
    review(&mut s, "alice", ReviewState::ChangesRequested, HEAD);
    assert!(commits_to_compare(&p, &s, now()).is_empty());
}

#[test]
fn security_review_needs_path_reviewers_and_counts_approvals() {
    let p = policy(
        r#"
version: 1
security_paths: ["src/**"]
gates:
  security_review:
    approvals: 2
    reviewers: { teams: ["acme/security"] }
    path_reviewers:
      - name: crypto
        paths: ["src/crypto/**"]
        reviewers: { users: ["erin"] }
"#,
    );
    let mut s = change(&["src/crypto/aes.rs"]);
    review(&mut s, "carol", ReviewState::Approved, HEAD);
    let g = gate(&eval(&p, &s), GateKind::SecurityReview);
    assert_eq!(g.verdict, Verdict::Pending, "one of two approvals");
    review(&mut s, "dave", ReviewState::Approved, HEAD);
    let g = gate(&eval(&p, &s), GateKind::SecurityReview);
    assert_eq!(
        g.verdict,
        Verdict::Pending,
        "crypto reviewers still missing"
    );
    assert!(
        g.unblock.iter().any(|u| u.contains("erin")),
        "{:?}",
        g.unblock
    );
    review(&mut s, "erin", ReviewState::Approved, HEAD);
    let g = gate(&eval(&p, &s), GateKind::SecurityReview);
    assert_eq!(g.verdict, Verdict::Pass, "{}", g.explanation);
}

#[test]
fn sast_gate() {
    run(
        GateKind::Sast,
        &[
            Case {
                name: "required check missing",
                setup: |_| {},
                expect: Verdict::Pending,
            },
            Case {
                name: "required check running",
                setup: |s| check(s, "CodeQL", CheckState::Pending),
                expect: Verdict::Pending,
            },
            Case {
                name: "required check failed",
                setup: |s| check(s, "CodeQL", CheckState::Failure),
                expect: Verdict::Fail,
            },
            Case {
                name: "required check skipped is no evidence",
                setup: |s| check(s, "codeql", CheckState::Neutral),
                expect: Verdict::Fail,
            },
            Case {
                name: "failed then re-run successfully",
                setup: |s| {
                    check(s, "CodeQL", CheckState::Failure);
                    check(s, "CodeQL", CheckState::Success);
                },
                expect: Verdict::Pass,
            },
            Case {
                name: "check passed, high finding in SARIF",
                setup: |s| {
                    check(s, "CodeQL", CheckState::Success);
                    s.reports.push(report(
                        ReportFormat::Sarif,
                        "CodeQL",
                        vec![code_finding(
                            "js/sql-injection",
                            Severity::High,
                            "src/auth/login.rs",
                            10,
                        )],
                    ));
                },
                expect: Verdict::Fail,
            },
            Case {
                name: "check passed, only a medium finding",
                setup: |s| {
                    check(s, "CodeQL", CheckState::Success);
                    s.reports.push(report(
                        ReportFormat::Sarif,
                        "CodeQL",
                        vec![code_finding(
                            "js/weak",
                            Severity::Medium,
                            "src/auth/login.rs",
                            10,
                        )],
                    ));
                },
                expect: Verdict::Pass,
            },
            Case {
                name: "a report that could not be read fails closed",
                setup: |s| {
                    check(s, "CodeQL", CheckState::Success);
                    s.report_errors
                        .push("codeql.sarif: line 3, column 1: expected value".into());
                },
                expect: Verdict::Fail,
            },
            Case {
                name: "dependency findings do not count for sast",
                setup: |s| {
                    check(s, "CodeQL", CheckState::Success);
                    s.reports.push(report(
                        ReportFormat::OsvScanner,
                        "osv-scanner",
                        vec![vuln("openssl", Severity::Critical, &["CVE-2026-9"])],
                    ));
                },
                expect: Verdict::Pass,
            },
        ],
    );
}

#[test]
fn sast_without_any_evidence_is_pending_not_pass() {
    let p = policy("version: 1\n");
    let s = change(&["src/main.rs"]);
    let g = gate(&eval(&p, &s), GateKind::Sast);
    assert_eq!(g.verdict, Verdict::Pending);
    assert!(g.explanation.contains("no static-analysis evidence"));
    let mut s = s;
    s.reports
        .push(report(ReportFormat::Sarif, "Semgrep", vec![]));
    assert_eq!(
        gate(&eval(&p, &s), GateKind::Sast).verdict,
        Verdict::Pass,
        "an empty SARIF log is evidence"
    );
}

/// `code_scanning: true`: with no analysis yet the gate waits even when its checks passed;
/// a high alert blocks; read alerts without a required check carry a warning that they may
/// predate the head; where no code-scanning API exists (GitLab, the Action, `check`) the
/// setting is named as not read and the reports decide.
#[test]
fn sast_code_scanning_waits_for_an_analysis_and_judges_its_alerts() {
    use sdl_gate::gates::NodeStatus;
    use sdl_gate::snapshot::CodeScanning;
    let with_check =
        policy("version: 1\ngates:\n  sast:\n    checks: [CodeQL]\n    code_scanning: true\n");
    let merge = "refs/pull/7/merge".to_string();
    let mut s = change(&["src/main.rs"]);
    check(&mut s, "CodeQL", CheckState::Success);
    s.code_scanning = CodeScanning::NoAnalysis {
        git_ref: merge.clone(),
    };
    let g = gate(&eval(&with_check, &s), GateKind::Sast);
    assert_eq!(g.verdict, Verdict::Pending, "{}", g.explanation);
    assert!(
        g.explanation.contains("refs/pull/7/merge"),
        "{}",
        g.explanation
    );
    assert!(!g.unblock.is_empty());

    s.code_scanning = CodeScanning::Read {
        git_ref: merge.clone(),
    };
    s.reports.push(report(
        ReportFormat::GithubCodeScanning,
        "CodeQL",
        vec![code_finding(
            "rust/sql-injection",
            Severity::High,
            "src/main.rs",
            3,
        )],
    ));
    let g = gate(&eval(&with_check, &s), GateKind::Sast);
    assert_eq!(g.verdict, Verdict::Fail, "{}", g.explanation);
    assert_eq!(g.findings[0].finding.rule, "rust/sql-injection");
    let of_the_head = |g: &sdl_gate::gates::GateResult| {
        g.details
            .iter()
            .any(|n| n.status == NodeStatus::Info && n.description.contains("is of the head"))
    };
    assert!(of_the_head(&g), "{:?}", g.details);

    let without_check = policy("version: 1\ngates:\n  sast:\n    code_scanning: true\n");
    s.reports[0].findings.clear();
    let g = gate(&eval(&without_check, &s), GateKind::Sast);
    assert_eq!(g.verdict, Verdict::Pass, "{}", g.explanation);
    assert!(of_the_head(&g), "{:?}", g.details);

    // After a push, the newest analysis is of an older commit: its alerts (none read) say
    // nothing about the head, so the gate waits, with or without a required check, and
    // names the tool and both commits.
    s.reports.clear();
    s.code_scanning = CodeScanning::Stale {
        git_ref: merge.clone(),
        tool: "CodeQL (/language:rust)".into(),
        analysed: "abcdef0123456789abcdef0123456789abcdef01".into(),
    };
    for p in [&with_check, &without_check] {
        let g = gate(&eval(p, &s), GateKind::Sast);
        assert_eq!(g.verdict, Verdict::Pending, "{}", g.explanation);
        assert!(
            g.explanation.contains("CodeQL (/language:rust)")
                && g.explanation.contains(s.head_sha.short()),
            "{}",
            g.explanation
        );
        assert!(
            g.details
                .iter()
                .any(|n| n.status == NodeStatus::Pending && n.description.contains("abcdef0")),
            "{:?}",
            g.details
        );
        assert!(
            g.unblock.iter().any(|u| u.contains("DELETE")),
            "{:?}",
            g.unblock
        );
    }
    // A failing required check still fails the gate while it waits for the scan.
    s.checks.retain(|c| c.name != "CodeQL");
    check(&mut s, "CodeQL", CheckState::Failure);
    let g = gate(&eval(&with_check, &s), GateKind::Sast);
    assert_eq!(g.verdict, Verdict::Fail, "{}", g.explanation);
    s.checks.retain(|c| c.name != "CodeQL");
    check(&mut s, "CodeQL", CheckState::Success);
    s.code_scanning = CodeScanning::Read {
        git_ref: merge.clone(),
    };
    s.reports
        .push(report(ReportFormat::GithubCodeScanning, "CodeQL", vec![]));

    s.code_scanning = CodeScanning::NotRead;
    s.reports[0].format = ReportFormat::Sarif;
    let g = gate(&eval(&without_check, &s), GateKind::Sast);
    assert_eq!(g.verdict, Verdict::Pass, "the SARIF report is the evidence");
    assert!(
        g.details
            .iter()
            .any(|n| n.description.starts_with("code scanning alerts not read")),
        "{:?}",
        g.details
    );
}

#[test]
fn sast_new_only_counts_findings_on_changed_lines() {
    let p = policy("version: 1\ngates:\n  sast:\n    new_only: true\n    threshold: medium\n");
    let mut s = change(&[]);
    s.files.push(sdl_gate::snapshot::ChangedFile {
        path: "src/a.rs".into(),
        previous_path: None,
        status: FileStatus::Modified,
        changed_lines: Some(vec![(10, 20)]),
    });
    let outside = code_finding("r1", Severity::High, "src/a.rs", 30);
    let other_file = code_finding("r2", Severity::Critical, "src/untouched.rs", 1);
    s.reports.push(report(
        ReportFormat::Sarif,
        "Semgrep",
        vec![outside, other_file],
    ));
    let g = gate(&eval(&p, &s), GateKind::Sast);
    assert_eq!(g.verdict, Verdict::Pass, "{}", g.explanation);
    assert_eq!(g.findings_not_blocking, 2);
    s.reports[0]
        .findings
        .push(code_finding("r3", Severity::Medium, "src/a.rs", 15));
    let g = gate(&eval(&p, &s), GateKind::Sast);
    assert_eq!(g.verdict, Verdict::Fail);
    assert_eq!(g.findings.len(), 1);
    assert_eq!(g.findings[0].finding.rule, "r3");
}

#[test]
fn findings_are_deduplicated_across_reports_and_mapped_to_requirements() {
    let p = base_policy();
    let mut s = change(&["src/auth/login.rs"]);
    check(&mut s, "CodeQL", CheckState::Success);
    let f = code_finding(
        "js/sql-injection",
        Severity::Critical,
        "src/auth/login.rs",
        3,
    );
    s.reports
        .push(report(ReportFormat::Sarif, "CodeQL", vec![f.clone()]));
    s.reports
        .push(report(ReportFormat::Sarif, "CodeQL", vec![f]));
    let g = gate(&eval(&p, &s), GateKind::Sast);
    assert_eq!(g.findings.len(), 1);
    assert_eq!(&g.findings[0].requirements[..], &g.requirements[..]);
}

#[test]
fn dependencies_gate() {
    let policy = base_policy();
    let lock = |extra: fn(&mut Snapshot)| {
        let mut s = change(&["Cargo.lock"]);
        extra(&mut s);
        s
    };
    let cases: Vec<(&str, Snapshot, Verdict)> = vec![
        (
            "no manifest changed",
            change(&["src/main.rs"]),
            Verdict::NotApplicable,
        ),
        (
            "manifest changed, no evidence",
            lock(|_| {}),
            Verdict::Pending,
        ),
        (
            "clean scan",
            lock(|s| {
                s.reports
                    .push(report(ReportFormat::OsvScanner, "osv-scanner", vec![]))
            }),
            Verdict::Pass,
        ),
        (
            "high vulnerability",
            lock(|s| {
                s.reports.push(report(
                    ReportFormat::OsvScanner,
                    "osv-scanner",
                    vec![vuln(
                        "time",
                        Severity::High,
                        &["RUSTSEC-2020-0071", "CVE-2020-26235"],
                    )],
                ))
            }),
            Verdict::Fail,
        ),
        (
            "low vulnerability under a high threshold",
            lock(|s| {
                s.reports.push(report(
                    ReportFormat::CargoAudit,
                    "cargo-audit",
                    vec![vuln("time", Severity::Low, &["RUSTSEC-2020-0071"])],
                ))
            }),
            Verdict::Pass,
        ),
        (
            "ignored by its CVE alias, ignore in force",
            lock(|s| {
                s.reports.push(report(
                    ReportFormat::Grype,
                    "grype",
                    vec![vuln(
                        "libxml2",
                        Severity::Critical,
                        &["GHSA-1111-2222-3333", "CVE-2026-0001"],
                    )],
                ))
            }),
            Verdict::Pass,
        ),
        (
            "ignore expired",
            lock(|s| {
                s.reports.push(report(
                    ReportFormat::Trivy,
                    "trivy",
                    vec![vuln("lodash", Severity::High, &["GHSA-aaaa-bbbb-cccc"])],
                ))
            }),
            Verdict::Fail,
        ),
    ];
    let mut failures = Vec::new();
    for (name, s, expect) in cases {
        let g = gate(&eval(&policy, &s), GateKind::Dependencies);
        if g.verdict != expect {
            failures.push(format!(
                "{name}: expected {expect:?}, got {:?} ({})",
                g.verdict, g.explanation
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn expired_ignore_is_reported_as_expired() {
    let mut s = change(&["web/package-lock.json"]);
    s.reports.push(report(
        ReportFormat::NpmAuditV7,
        "npm audit",
        vec![
            vuln("lodash", Severity::High, &["GHSA-aaaa-bbbb-cccc"]),
            vuln("libxml2", Severity::High, &["CVE-2026-0001"]),
        ],
    ));
    let g = gate(&eval(&base_policy(), &s), GateKind::Dependencies);
    assert_eq!(g.verdict, Verdict::Fail);
    let expired: Vec<_> = g
        .findings
        .iter()
        .filter(|f| f.status == FindingStatus::IgnoreExpired)
        .collect();
    let ignored: Vec<_> = g
        .findings
        .iter()
        .filter(|f| f.status == FindingStatus::Ignored)
        .collect();
    assert_eq!(expired.len(), 1);
    assert!(
        expired[0]
            .ignore_note
            .as_deref()
            .unwrap_or("")
            .contains("2026-01-31")
    );
    assert_eq!(ignored.len(), 1);
    assert!(g.details.iter().any(
        |n| n.description.contains("GHSA-aaaa-bbbb-cccc") && n.description.contains("expired")
    ));
    assert!(g.unblock.iter().any(|u| u.contains("expired")));
}

#[test]
fn sbom_gate_requires_an_sbom_when_manifests_change() {
    let p = policy(
        "version: 1\ngates:\n  sbom: { enabled: true, paths: [\"sbom/**\"] }\n  dependencies: { enabled: false }\n",
    );
    let s = change(&["Cargo.lock"]);
    assert_eq!(gate(&eval(&p, &s), GateKind::Sbom).verdict, Verdict::Fail);
    let s2 = change(&["src/lib.rs"]);
    assert_eq!(
        gate(&eval(&p, &s2), GateKind::Sbom).verdict,
        Verdict::NotApplicable
    );
    let mut s3 = change(&["Cargo.lock"]);
    s3.reports
        .push(report(ReportFormat::CycloneDx, "cyclonedx", vec![]));
    assert_eq!(gate(&eval(&p, &s3), GateKind::Sbom).verdict, Verdict::Pass);
}

#[test]
fn disabled_gate_is_not_applicable() {
    let p = policy(
        "version: 1\nsecurity_paths: [\"src/**\"]\ngates:\n  threat_model: { enabled: false }\n  security_review: { enabled: false }\n  sast: { enabled: false }\n",
    );
    let e = eval(&p, &change(&["src/auth/login.rs"]));
    for kind in [
        GateKind::ThreatModel,
        GateKind::SecurityReview,
        GateKind::Sast,
        GateKind::Dependencies,
        GateKind::Sbom,
    ] {
        assert_eq!(gate(&e, kind).verdict, Verdict::NotApplicable, "{kind}");
    }
    assert_eq!(e.verdict, OverallVerdict::Pass);
}

#[test]
fn waivers_turn_a_failing_gate_into_waived_until_they_expire() {
    let p = base_policy();
    let mut s = change(&["src/auth/login.rs"]);
    // Everything else passes.
    file(
        &mut s,
        "docs/threat-model/auth.md",
        FileStatus::Modified,
        None,
    );
    content(&mut s, "docs/threat-model/auth.md", Some(TM_MD));
    review(&mut s, "carol", ReviewState::Approved, HEAD);
    check(&mut s, "CodeQL", CheckState::Failure);
    assert_eq!(eval(&p, &s).verdict, OverallVerdict::Fail);

    s.waivers.push(waiver(GateKind::Sast, 1, 14, HEAD));
    let e = eval(&p, &s);
    let g = gate(&e, GateKind::Sast);
    assert_eq!(g.verdict, Verdict::Waived);
    assert_eq!(e.verdict, OverallVerdict::Pass);
    assert_eq!(
        g.waiver.as_ref().map(|w| w.state),
        Some(WaiverNoteState::Active)
    );
    assert!(g.unblock.is_empty());

    // Expired.
    s.waivers = vec![waiver(GateKind::Sast, 20, 14, HEAD)];
    let g = gate(&eval(&p, &s), GateKind::Sast);
    assert_eq!(g.verdict, Verdict::Fail);
    assert_eq!(
        g.waiver.as_ref().map(|w| w.state),
        Some(WaiverNoteState::Expired)
    );

    // Revoked.
    let mut w = waiver(GateKind::Sast, 1, 14, HEAD);
    w.revoked = Some("comment 99 was edited".into());
    s.waivers = vec![w];
    assert_eq!(gate(&eval(&p, &s), GateKind::Sast).verdict, Verdict::Fail);

    // Given on an older commit: survives by default…
    s.waivers = vec![waiver(GateKind::Sast, 1, 14, OLD)];
    assert_eq!(gate(&eval(&p, &s), GateKind::Sast).verdict, Verdict::Waived);
    // …but not when the policy says waivers end with a push.
    let mut strict = p.clone();
    strict.waivers.survive_push = false;
    assert_eq!(
        gate(&eval(&strict, &s), GateKind::Sast).verdict,
        Verdict::Fail
    );

    // A waiver of another gate does nothing here.
    s.waivers = vec![waiver(GateKind::ThreatModel, 1, 14, HEAD)];
    assert_eq!(gate(&eval(&p, &s), GateKind::Sast).verdict, Verdict::Fail);

    // A gate the policy does not let anyone waive.
    let mut locked = p.clone();
    locked.waivers.gates = Some(vec![GateKind::ThreatModel]);
    s.waivers = vec![waiver(GateKind::Sast, 1, 14, HEAD)];
    assert_eq!(
        gate(&eval(&locked, &s), GateKind::Sast).verdict,
        Verdict::Fail
    );
}

#[test]
fn overall_verdict_is_fail_over_pending_over_pass() {
    let p = base_policy();
    // Threat model fails, review pending, sast pending.
    let e = eval(&p, &change(&["src/auth/login.rs"]));
    assert_eq!(e.verdict, OverallVerdict::Fail);
    // Threat model passes; review and sast pending.
    let mut s = change(&["src/auth/login.rs"]);
    s.body = "Threat-Model: #1".into();
    assert_eq!(eval(&p, &s).verdict, OverallVerdict::Pending);
    review(&mut s, "carol", ReviewState::Approved, HEAD);
    check(&mut s, "CodeQL", CheckState::Success);
    assert_eq!(eval(&p, &s).verdict, OverallVerdict::Pass);
}

#[test]
fn every_gate_result_names_its_requirements() {
    let e = eval(
        &base_policy(),
        &change(&["src/auth/login.rs", "Cargo.lock"]),
    );
    let expect = [
        (GateKind::ThreatModel, "SR-2"),
        (GateKind::SecurityReview, "SI-1"),
        (GateKind::Sast, "SI-2"),
        (GateKind::Dependencies, "SVV-3"),
        (GateKind::Sbom, "SM-9"),
    ];
    for (kind, id) in expect {
        let g = gate(&e, kind);
        assert!(
            g.requirements.iter().any(|r| r == id),
            "{kind} should name {id}: {:?}",
            g.requirements
        );
    }
}

#[test]
fn code_findings_name_cwe_and_foundational_requirement() {
    let p = base_policy();
    let mut s = change(&["src/auth/login.rs"]);
    check(&mut s, "CodeQL", CheckState::Success);
    s.reports.push(report(
        ReportFormat::Sarif,
        "CodeQL",
        vec![code_finding(
            "js/sql-injection",
            Severity::High,
            "src/auth/login.rs",
            3,
        )],
    ));
    let g = gate(&eval(&p, &s), GateKind::Sast);
    let f = &g.findings[0];
    assert_eq!(f.finding.cwe, vec![89]);
    assert!(
        f.foundational_requirements.iter().any(|fr| fr == "FR3"),
        "CWE-89 threatens system integrity: {:?}",
        f.foundational_requirements
    );
    assert!(f.requirements.iter().any(|r| r == "SI-1"));
}
