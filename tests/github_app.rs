//! The GitHub App client (real `octocrab` over real HTTP) against the in-process fake GitHub:
//! snapshot, policy from the base branch, idempotent publishing, faults, rate limits, token
//! refresh, and the request budget of one evaluation.

mod common;
mod fake_forge;
mod fake_github;

use std::time::Duration;

use chrono::Utc;
use http::Method;
use secrecy::SecretString;

use fake_github::{APP_ID, FakeGithub, FaultKind, INSTALLATION, PullBuilder, TEST_KEY_PEM, sha};
use sdl_gate::engine::{Outcome, Records, evaluate_change};
use sdl_gate::forge::github::{GithubConfig, GithubForge};
use sdl_gate::forge::{
    ChangeRef, CommentAction, Conclusion, Forge, ForgeError, Needs, Publication, PublishOptions,
};
use sdl_gate::gates::{GateKind, OverallVerdict, Verdict, evaluate};
use sdl_gate::policy::{CommentMode, parse_policy};
use sdl_gate::render::COMMENT_MARKER;
use sdl_gate::snapshot::{CheckState, FileStatus, ReviewState};

const REPO: &str = "acme/widget";

/// The policy on the base branch: security paths, threat model, a reviewer team and a
/// required SAST check.
const BASE_POLICY: &str = r#"version: 1
security_paths: ["src/auth/**"]
gates:
  threat_model:
    paths: ["docs/threat-model/**"]
  security_review:
    approvals: 1
    reviewers: { teams: ["acme/security"] }
  sast:
    checks: ["CodeQL"]
report:
  comment: on_failure
"#;

/// What the pull request's head tries to commit instead: no gates at all.
const WEAK_POLICY: &str = "version: 1\ngates:\n  threat_model: { enabled: false }\n  security_review: { enabled: false }\n  sast: { enabled: false }\n  dependencies: { enabled: false }\n";

fn forge(fake: &FakeGithub) -> GithubForge {
    let mut cfg = GithubConfig::new(APP_ID, SecretString::from(TEST_KEY_PEM));
    cfg.api_url = fake.url.clone();
    cfg.timeout = fake_github::CLIENT_TIMEOUT;
    GithubForge::new(cfg).expect("forge builds")
}

fn change(n: u64) -> ChangeRef {
    ChangeRef::new(REPO, n, Some(INSTALLATION))
}

/// A PR touching `files` files (one under src/auth), approved on head by a security team
/// member, with CodeQL green.
fn arrange_pr(fake: &FakeGithub, n: u64, files: usize) -> String {
    let head = sha(0xbeef + n);
    let mut pr = PullBuilder::new(REPO, n, "alice", &head).file("src/auth/login.rs");
    for i in 1..files {
        pr = pr.file(&format!("src/lib/module_{i:04}.rs"));
    }
    pr = pr.review("carol", "APPROVED", &head);
    pr.install(fake);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", BASE_POLICY.as_bytes());
    fake.ci_run(REPO, &head, "CodeQL", "completed", Some("success"));
    fake.team("acme", "security", &["carol"]);
    head
}

#[tokio::test]
async fn snapshot_reads_paginated_files_reviews_checks_statuses_and_the_base_policy() {
    let fake = FakeGithub::start().await;
    let head = sha(0xabc);
    let old = sha(0x01d);
    let mut pr = PullBuilder::new(REPO, 7, "alice", &head).file("src/auth/login.rs");
    for i in 0..149 {
        pr = pr.file(&format!("src/gen/f{i:03}.rs"));
    }
    pr.pull.files.push(fake_github::FileRec {
        filename: "docs/threat-model/model.md".into(),
        status: "renamed".into(),
        previous_filename: Some("docs/tm.md".into()),
        patch: None,
    });
    pr.pull.files.push(fake_github::FileRec {
        filename: ".github/sdl-gate.yml".into(),
        status: "modified".into(),
        previous_filename: None,
        patch: Some("@@ -1,3 +1,2 @@\n version: 1\n-x\n-y\n+z".into()),
    });
    pr.pull.labels = vec!["security".into()];
    pr = pr
        .review("carol", "APPROVED", &old)
        .review("dave", "CHANGES_REQUESTED", &head)
        .review("carol", "APPROVED", &head)
        .review("erin", "COMMENTED", &head);
    pr.install(&fake);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", BASE_POLICY.as_bytes());
    fake.put_file(REPO, &head, ".github/sdl-gate.yml", WEAK_POLICY.as_bytes());
    fake.put_file(
        REPO,
        &head,
        "docs/threat-model/model.md",
        b"# Threat model\n\nSTRIDE table...\n",
    );
    fake.ci_run(REPO, &head, "CodeQL", "completed", Some("success"));
    fake.ci_run(REPO, &head, "build", "in_progress", None);
    fake.ci_run(REPO, &sha(0xdead), "CodeQL", "completed", Some("failure"));
    fake.status(REPO, &head, "ci/jenkins", "failure");
    fake.team("acme", "security", &["carol"]);

    let gh = forge(&fake);
    let c = change(7);
    let h = gh.head(&c).await.expect("head");
    assert_eq!(h.head_sha.as_str(), head);
    assert_eq!(h.base_ref, "main");
    assert_eq!(h.labels, vec!["security".to_string()]);

    let file = gh
        .policy(&c, &h.base_ref, &sdl_gate::policy::POLICY_PATHS)
        .await
        .expect("policy")
        .expect("a policy exists");
    assert_eq!(file.path, ".github/sdl-gate.yml");
    assert_eq!(file.git_ref, "main");
    assert_eq!(
        file.text, BASE_POLICY,
        "the BASE policy, not the head's weaker one"
    );
    let policy = parse_policy(&file.path, &file.text).expect("parses");

    let mut needs = Needs::from_policy(&policy);
    needs.checks.push("ci/jenkins".into());
    let snap = gh.snapshot(&c, &h, &needs).await.expect("snapshot");
    assert_eq!(snap.files.len(), 152, "two pages of files were read");
    let login = snap
        .files
        .iter()
        .find(|f| f.path == "src/auth/login.rs")
        .expect("file");
    assert_eq!(
        login.changed_lines,
        Some(vec![(2, 3)]),
        "patch hunks became ranges"
    );
    let tm = snap
        .files
        .iter()
        .find(|f| f.path == "docs/threat-model/model.md")
        .expect("tm");
    assert_eq!(tm.status, FileStatus::Renamed);
    assert_eq!(tm.previous_path.as_deref(), Some("docs/tm.md"));
    assert_eq!(tm.changed_lines, None, "no patch: unknown lines");
    assert_eq!(
        snap.content("docs/threat-model/model.md"),
        Some(&b"# Threat model\n\nSTRIDE table...\n"[..]),
        "touched threat model read at the head commit"
    );
    assert_eq!(snap.reviews.len(), 4);
    assert_eq!(
        snap.reviews[0].commit.as_ref().map(|s| s.as_str()),
        Some(old.as_str())
    );
    assert_eq!(snap.reviews[1].state, ReviewState::ChangesRequested);
    let checks: Vec<(String, CheckState)> = snap
        .checks
        .iter()
        .map(|c| (c.name.clone(), c.state))
        .collect();
    assert!(
        checks.contains(&("CodeQL".into(), CheckState::Success)),
        "{checks:?}"
    );
    assert!(
        checks.contains(&("build".into(), CheckState::Pending)),
        "{checks:?}"
    );
    assert!(
        checks.contains(&("ci/jenkins".into(), CheckState::Failure)),
        "status read: {checks:?}"
    );
    assert!(
        !checks
            .iter()
            .any(|(n, s)| n == "CodeQL" && *s == CheckState::Failure),
        "other commit's runs excluded"
    );
    assert_eq!(
        snap.is_member("acme/security", &sdl_gate::snapshot::Login::new("carol")),
        Some(true)
    );
    assert_eq!(
        snap.is_member("acme/security", &sdl_gate::snapshot::Login::new("dave")),
        Some(false)
    );

    let file_pages = fake
        .journal()
        .iter()
        .filter(|c| c.path.ends_with("/pulls/7/files"))
        .count();
    assert_eq!(file_pages, 2, "150+ files at per_page=100");

    // Judged by the base policy: the review gate applies (and passes on carol's approval
    // of the head; dave is not a security reviewer, so his request does not block).
    let eval = evaluate(&policy, &snap, Utc::now());
    assert_eq!(
        eval.gate(GateKind::SecurityReview).map(|g| g.verdict),
        Some(Verdict::Pass)
    );
    assert_eq!(
        eval.gate(GateKind::ThreatModel).map(|g| g.verdict),
        Some(Verdict::Pass)
    );
    fake.assert_no_unknown();
}

#[tokio::test]
async fn publish_creates_one_check_run_and_one_comment_then_edits_them() {
    let fake = FakeGithub::start().await;
    let head = sha(0x51);
    // Touches src/auth without a threat model update: the threat_model gate fails.
    PullBuilder::new(REPO, 8, "alice", &head)
        .file("src/auth/token.rs")
        .install(&fake);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", BASE_POLICY.as_bytes());
    fake.human_comment(
        REPO,
        8,
        "bob",
        &format!("{COMMENT_MARKER} I am not the bot"),
    );
    let gh = forge(&fake);

    let out = evaluate_change(
        &gh,
        &change(8),
        &Records {
            details_url: Some("https://sdl.example.com/r/1".into()),
            ..Records::default()
        },
        Utc::now(),
    )
    .await
    .expect("evaluates");
    let Outcome::Evaluated {
        evaluation,
        published,
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(evaluation.verdict, OverallVerdict::Fail);
    assert!(published.check_created);
    assert_eq!(published.conclusion, Conclusion::Failure);
    assert_eq!(
        published.comment,
        CommentAction::Created,
        "a human's marker is not ours"
    );

    let runs = fake.check_runs(REPO, &head, "sdl-gate");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].conclusion.as_deref(), Some("failure"));
    assert_eq!(runs[0].status, "completed");
    assert_eq!(
        runs[0].details_url.as_deref(),
        Some("https://sdl.example.com/r/1")
    );
    assert!(
        runs[0]
            .title
            .as_deref()
            .unwrap_or("")
            .contains("threat_model"),
        "{:?}",
        runs[0].title
    );
    assert!(
        runs[0]
            .summary
            .as_deref()
            .unwrap_or("")
            .contains("Threat model")
    );
    let ours: Vec<_> = fake
        .comments(REPO, 8)
        .into_iter()
        .filter(|c| c.user == "sdl-gate-test[bot]")
        .collect();
    assert_eq!(ours.len(), 1);
    assert!(ours[0].body.starts_with(COMMENT_MARKER));

    // The threat model is updated: a second evaluation on a new head edits the comment
    // (it showed a failure, now the gate passes) and creates the run of the new head.
    let head2 = sha(0x52);
    {
        let mut st = fake.state();
        let pr = st.repo(REPO).pulls.get_mut(&8).expect("pr");
        pr.head_sha = head2.clone();
        pr.files.push(fake_github::FileRec {
            filename: "docs/threat-model/auth.md".into(),
            status: "added".into(),
            previous_filename: None,
            patch: Some("@@ -0,0 +1,1 @@\n+tokens".into()),
        });
    }
    fake.put_file(REPO, &head2, "docs/threat-model/auth.md", b"# tokens\n");
    fake.ci_run(REPO, &head2, "CodeQL", "completed", Some("success"));
    fake.state()
        .repo(REPO)
        .pulls
        .get_mut(&8)
        .expect("pr")
        .reviews
        .push(fake_github::ReviewRec {
            id: 1,
            user: "carol".into(),
            state: "APPROVED".into(),
            commit_id: head2.clone(),
            submitted_at: Utc::now(),
        });
    fake.team("acme", "security", &["carol"]);
    let out = evaluate_change(&gh, &change(8), &Records::default(), Utc::now())
        .await
        .expect("evaluates");
    let Outcome::Evaluated {
        evaluation,
        published,
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        evaluation.verdict,
        OverallVerdict::Pass,
        "{:#?}",
        evaluation.gates
    );
    assert_eq!(published.conclusion, Conclusion::Success);
    assert_eq!(published.comment, CommentAction::Updated);
    let ours: Vec<_> = fake
        .comments(REPO, 8)
        .into_iter()
        .filter(|c| c.user == "sdl-gate-test[bot]")
        .collect();
    assert_eq!(ours.len(), 1, "edited, not a second comment");
    assert!(ours[0].body.contains("pass"), "{}", ours[0].body);
    assert_eq!(fake.check_runs(REPO, &head2, "sdl-gate").len(), 1);

    // Same head again (e.g. a `/sdl recheck`): the run is updated in place, no new run.
    let gh2 = forge(&fake); // a fresh process: no hints
    let out = evaluate_change(&gh2, &change(8), &Records::default(), Utc::now())
        .await
        .expect("evaluates");
    let Outcome::Evaluated { published, .. } = out else {
        panic!("{out:?}")
    };
    assert!(!published.check_created);
    assert_eq!(fake.check_runs(REPO, &head2, "sdl-gate").len(), 1);
    assert_eq!(
        fake.comments(REPO, 8)
            .iter()
            .filter(|c| c.user == "sdl-gate-test[bot]")
            .count(),
        1
    );
    fake.assert_no_unknown();
}

#[tokio::test]
async fn injected_5xx_then_retries_converge_without_duplicates() {
    let fake = FakeGithub::start().await;
    let head = sha(0x61);
    PullBuilder::new(REPO, 9, "alice", &head)
        .file("src/auth/a.rs")
        .install(&fake);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", BASE_POLICY.as_bytes());
    // 30% of every request fails, and the first create of each kind is applied but its
    // answer is lost (the worst case for duplicates).
    fake.fault(
        Some(Method::POST),
        "/check-runs",
        1,
        FaultKind::StatusAfterApply(502),
    );
    fake.fault(
        Some(Method::POST),
        "/issues/9/comments",
        1,
        FaultKind::StatusAfterApply(502),
    );
    fake.fault(
        None,
        "/repos/",
        usize::MAX,
        FaultKind::Random {
            percent: 30,
            status: 503,
        },
    );
    let gh = forge(&fake);

    let mut attempts = 0;
    let mut transient = 0;
    loop {
        attempts += 1;
        assert!(attempts < 60, "never converged");
        match evaluate_change(&gh, &change(9), &Records::default(), Utc::now()).await {
            Ok(Outcome::Evaluated { published, .. }) => {
                assert_eq!(published.conclusion, Conclusion::Failure);
                break;
            }
            Ok(other) => panic!("{other:?}"),
            Err(e) => {
                assert!(e.is_retryable(), "{e}");
                assert!(matches!(e, ForgeError::Transient { .. }), "{e}");
                transient += 1;
            }
        }
    }
    eprintln!("converged after {attempts} attempts ({transient} transient failures)");
    assert!(transient >= 2, "the faults fired");
    let journal = fake.journal();
    let lost = |path: &str| {
        journal
            .iter()
            .any(|c| c.method == "POST" && c.path.ends_with(path) && c.status == 502)
    };
    assert!(
        lost("/check-runs"),
        "a check-run create was applied but its answer lost"
    );
    assert!(
        lost("/issues/9/comments"),
        "a comment create was applied but its answer lost"
    );
    assert_eq!(
        fake.check_runs(REPO, &head, "sdl-gate").len(),
        1,
        "one check run"
    );
    assert_eq!(fake.comments(REPO, 9).len(), 1, "one comment");
    fake.assert_no_unknown();
}

#[tokio::test]
async fn rate_limits_become_rate_limited_with_the_wait() {
    let fake = FakeGithub::start().await;
    PullBuilder::new(REPO, 10, "alice", &sha(0x71))
        .file("a.rs")
        .install(&fake);
    let gh = forge(&fake);
    // The GraphQL query's rate limits are handled as REST's: no REST fallback, the wait.

    fake.fault(
        None,
        "/graphql",
        1,
        FaultKind::TooManyRequests { retry_after: 7 },
    );
    match gh.head(&change(10)).await {
        Err(ForgeError::RateLimited { retry_after }) => {
            assert_eq!(retry_after, Duration::from_secs(7))
        }
        other => panic!("{other:?}"),
    }
    fake.fault(
        None,
        "/graphql",
        1,
        FaultKind::PrimaryRateLimit { reset_in: 120 },
    );
    match gh.head(&change(10)).await {
        Err(ForgeError::RateLimited { retry_after }) => {
            assert!(
                (115..=121).contains(&retry_after.as_secs()),
                "{retry_after:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    fake.fault(
        None,
        "/graphql",
        1,
        FaultKind::SecondaryRateLimit { retry_after: 30 },
    );
    match gh.head(&change(10)).await {
        Err(ForgeError::RateLimited { retry_after }) => assert_eq!(retry_after.as_secs(), 30),
        other => panic!("{other:?}"),
    }
    // GraphQL's own points budget spent: a `200` whose `errors` say `RATE_LIMITED`, with
    // the reset in the headers; no REST fallback (it would spend the other budget).
    fake.state().graphql_rate_limited = 1;
    let mark = fake.mark();
    match gh.head(&change(10)).await {
        Err(ForgeError::RateLimited { retry_after }) => {
            assert!(
                (85..=91).contains(&retry_after.as_secs()),
                "{retry_after:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.calls_since(mark).len(), 1, "no REST fallback");
    assert_eq!(gh.graphql_fallbacks(), 0);
    assert!(
        gh.head(&change(10)).await.is_ok(),
        "answers again after the limit"
    );
    fake.assert_no_unknown();
}

#[tokio::test]
async fn a_401_refreshes_the_token_once() {
    let fake = FakeGithub::start().await;
    PullBuilder::new(REPO, 11, "alice", &sha(0x81))
        .file("a.rs")
        .install(&fake);
    // The REST read of the pull request (the GraphQL query shares the token handling).
    let gh = forge(&fake).with_graphql(false);
    gh.head(&change(11)).await.expect("first call");
    assert_eq!(fake.state().tokens_issued, 1);
    gh.head(&change(11)).await.expect("cached token");
    assert_eq!(fake.state().tokens_issued, 1, "token reused while fresh");

    fake.revoke_tokens();
    gh.head(&change(11)).await.expect("refreshed and retried");
    assert_eq!(fake.state().tokens_issued, 2, "exactly one refresh");

    // A 401 that persists: one refresh, then Unauthorized (no loop).
    fake.fault(None, "/pulls/11", 2, FaultKind::Unauthorized);
    match gh.head(&change(11)).await {
        Err(ForgeError::Unauthorized { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.state().tokens_issued, 3);
    fake.assert_no_unknown();
}

#[tokio::test]
async fn a_deleted_pr_is_not_found_and_a_bad_body_is_a_bad_response() {
    let fake = FakeGithub::start().await;
    PullBuilder::new(REPO, 12, "alice", &sha(0x91))
        .file("a.rs")
        .install(&fake);
    // The REST reads (a failed GraphQL query falls back to them: see below).
    let gh = forge(&fake).with_graphql(false);
    match gh.head(&change(404)).await {
        Err(e @ ForgeError::NotFound { .. }) => assert!(!e.is_retryable()),
        other => panic!("{other:?}"),
    }
    fake.fault(None, "/pulls/12", 1, FaultKind::BadBody);
    match gh.head(&change(12)).await {
        Err(ForgeError::BadResponse { what }) => assert!(what.contains("/pulls/12"), "{what}"),
        other => panic!("{other:?}"),
    }
    // An unknown installation: its token request is refused.
    match gh.head(&ChangeRef::new(REPO, 12, Some(1))).await {
        Err(ForgeError::NotFound { what }) => assert!(what.contains("access_tokens"), "{what}"),
        other => panic!("{other:?}"),
    }
    fake.assert_no_unknown();
}

/// The GraphQL query reads the policy at the paths the engine asks for (else `policy` reads
/// through REST: correct, but one request per path more).
#[test]
fn the_graphql_query_reads_the_policy_paths() {
    assert_eq!(
        sdl_gate::forge::github::GRAPHQL_POLICY_PATHS,
        sdl_gate::policy::POLICY_PATHS
    );
    assert_eq!(
        sdl_gate::forge::github::GRAPHQL_ORG_POLICY_PATH,
        sdl_gate::policy::ORG_POLICY_PATH
    );
}

/// The fake's GraphQL check is real: a field GitHub's schema does not have is reported (when
/// the schema and graphql-core are there; outside CI the check is skipped without them).
#[test]
fn the_fake_rejects_a_query_github_s_schema_does_not_allow() {
    let bad =
        "query { repository(owner: \"a\", name: \"b\") { pullRequest(number: 1) { isDrafty } } }";
    match fake_github::graphql::validate(bad) {
        Err(e) => assert!(e.contains("isDrafty"), "{e}"),
        Ok(()) => assert!(
            std::env::var("CI").is_err(),
            "under CI the schema check must run"
        ),
    }
    let good =
        "query { repository(owner: \"a\", name: \"b\") { pullRequest(number: 1) { isDraft } } }";
    assert_eq!(fake_github::graphql::validate(good), Ok(()));
}

/// A GraphQL query that fails for another reason than a rate limit (here an answer that is
/// not JSON) is replaced by the REST reads, and the evaluation is the same.
#[tokio::test]
async fn a_failed_graphql_query_falls_back_to_the_rest_reads() {
    let fake = FakeGithub::start().await;
    let head = arrange_pr(&fake, 24, 3);
    let gh = forge(&fake);
    fake.fault(Some(Method::POST), "/graphql", 1, FaultKind::BadBody);
    let mark = fake.mark();
    let out = evaluate_change(&gh, &change(24), &Records::default(), Utc::now())
        .await
        .expect("evaluated through REST");
    let calls = fake.calls_since(mark);
    assert_eq!(gh.graphql_fallbacks(), 1);
    assert_eq!(gh.graphql_queries(), 0);
    for read in [
        "/pulls/24",
        "/contents/.github/sdl-gate.yml",
        "/pulls/24/reviews",
        "/check-runs",
    ] {
        assert!(
            calls
                .iter()
                .any(|c| c.method == "GET" && c.path.ends_with(read) && c.status == 200),
            "{read} read through REST:{}",
            lines(&calls)
        );
    }
    let Outcome::Evaluated { evaluation, .. } = out else {
        panic!("{out:?}")
    };

    // The same pull request through the query: the same verdict, none of those REST reads.
    let gh2 = forge(&fake);
    let mark = fake.mark();
    let out = evaluate_change(&gh2, &change(24), &Records::default(), Utc::now())
        .await
        .expect("evaluated");
    let Outcome::Evaluated {
        evaluation: again, ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(again.verdict, evaluation.verdict);
    assert_eq!(gh2.graphql_queries(), 1);
    assert_eq!(gh2.graphql_fallbacks(), 0);
    let calls = fake.calls_since(mark);
    assert!(
        !calls.iter().any(|c| c.path.ends_with("/pulls/24")
            // (the organisation's policy, in another repository, is read through REST)
            || (c.path.contains("/contents/") && !c.path.contains("/.github/contents/"))
            || c.path.ends_with("/reviews")
            || (c.method == "GET" && c.path.ends_with("/check-runs"))),
        "{}",
        lines(&calls)
    );
    assert_eq!(fake.check_runs(REPO, &head, "sdl-gate").len(), 1);
    fake.assert_no_unknown();
}

#[tokio::test]
async fn no_policy_gives_a_neutral_check_run_with_how_to() {
    let fake = FakeGithub::start().await;
    let head = sha(0xa1);
    PullBuilder::new(REPO, 13, "alice", &head)
        .file("src/auth/a.rs")
        .install(&fake);
    // A policy only on the head branch does not count.
    fake.put_file(REPO, &head, ".sdl-gate.yml", WEAK_POLICY.as_bytes());
    let gh = forge(&fake);
    let out = evaluate_change(&gh, &change(13), &Records::default(), Utc::now())
        .await
        .expect("ok");
    assert!(matches!(out, Outcome::NoPolicy(_)), "{out:?}");
    let runs = fake.check_runs(REPO, &head, "sdl-gate");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].conclusion.as_deref(), Some("neutral"));
    let summary = runs[0].summary.clone().unwrap_or_default();
    assert!(
        summary.contains(".github/sdl-gate.yml") && summary.contains("version: 1"),
        "{summary}"
    );
    assert!(
        fake.comments(REPO, 13).is_empty(),
        "no comment for a notice"
    );
    // All three policy paths were tried on the base branch, in the GraphQL query (the
    // organisation's policy, in another repository, is one REST read).
    let journal = fake.journal();
    assert!(
        !journal
            .iter()
            .any(|c| c.path.contains("/contents/") && !c.path.contains("/.github/contents/")),
        "{}",
        lines(&journal)
    );
    let query = journal
        .iter()
        .find(|c| c.path == "/graphql")
        .and_then(|c| c.body.clone())
        .expect("the GraphQL query");
    for (i, path) in [
        ".github/sdl-gate.yml",
        ".gitlab/sdl-gate.yml",
        ".sdl-gate.yml",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(query["variables"][format!("policy{i}")], *path);
    }
    assert!(
        query["query"]
            .as_str()
            .is_some_and(|q| q.contains("baseRef")),
        "read on the base branch"
    );

    // Twice: the notice run is found and left alone.
    let out = evaluate_change(&gh, &change(13), &Records::default(), Utc::now())
        .await
        .expect("ok");
    let Outcome::NoPolicy(p) = out else { panic!() };
    assert!(!p.check_created);
    assert_eq!(fake.check_runs(REPO, &head, "sdl-gate").len(), 1);
    fake.assert_no_unknown();
}

#[tokio::test]
async fn an_invalid_base_policy_fails_closed() {
    let fake = FakeGithub::start().await;
    let head = sha(0xa2);
    PullBuilder::new(REPO, 14, "alice", &head)
        .file("src/a.rs")
        .install(&fake);
    fake.put_file(
        REPO,
        "main",
        ".sdl-gate.yml",
        b"version: 1
gatez: {}
",
    );
    let gh = forge(&fake);
    let out = evaluate_change(&gh, &change(14), &Records::default(), Utc::now())
        .await
        .expect("ok");
    assert!(matches!(out, Outcome::InvalidPolicy(_)), "{out:?}");
    let runs = fake.check_runs(REPO, &head, "sdl-gate");
    assert_eq!(runs[0].conclusion.as_deref(), Some("failure"));
    assert!(
        runs[0]
            .summary
            .as_deref()
            .unwrap_or("")
            .contains(".sdl-gate.yml")
    );
}

#[tokio::test]
async fn drafts_are_neutral_and_get_no_new_comment() {
    let fake = FakeGithub::start().await;
    let head = sha(0xa3);
    let mut pr = PullBuilder::new(REPO, 15, "alice", &head).file("src/auth/a.rs");
    pr.pull.draft = true;
    pr.install(&fake);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", BASE_POLICY.as_bytes());
    let gh = forge(&fake);
    let out = evaluate_change(&gh, &change(15), &Records::default(), Utc::now())
        .await
        .expect("ok");
    let Outcome::Evaluated {
        evaluation,
        published,
    } = out
    else {
        panic!()
    };
    assert_eq!(evaluation.verdict, OverallVerdict::Fail);
    assert_eq!(published.conclusion, Conclusion::Neutral);
    assert_eq!(published.comment, CommentAction::Skipped);
    assert!(fake.comments(REPO, 15).is_empty());
}

fn lines(calls: &[fake_github::Call]) -> String {
    calls
        .iter()
        .map(|c| format!("\n  {}", c.line()))
        .collect::<String>()
}

#[tokio::test]
async fn request_budget_of_one_evaluation_of_a_50_file_pr() {
    let fake = FakeGithub::start().await;
    let head = arrange_pr(&fake, 20, 50);
    let gh = forge(&fake);
    let mark = fake.mark();
    let out = evaluate_change(&gh, &change(20), &Records::default(), Utc::now())
        .await
        .expect("ok");
    let Outcome::Evaluated {
        evaluation,
        published,
    } = out
    else {
        panic!()
    };
    let first = fake.calls_since(mark);
    let token_calls = first
        .iter()
        .filter(|c| c.path.ends_with("/access_tokens"))
        .count();
    let rest = fake.rest_counted_since(mark).len();
    let queries = fake.graphql_since(mark).len();
    let points = gh.graphql_points();
    eprintln!(
        "fresh 50-file PR ({}; comment {:?}): {rest} REST requests counted against the rate limit + {queries} GraphQL quer{} ({points} GraphQL point{}) = {}; + {token_calls} token request{}",
        evaluation.verdict.as_str(),
        published.comment,
        if queries == 1 { "y" } else { "ies" },
        if points == 1 { "" } else { "s" },
        rest + queries,
        lines(&first)
    );
    // One query carries the pull request, its policy, reviews and check runs, and the
    // organisation's policy (`acme/.github`, here none); the files (their patches) and the
    // team membership stay REST; then the check run and the comment.
    assert!(rest + queries <= 5, "over budget: {rest} + {queries}");
    assert!(
        !first.iter().any(|c| c.path.contains("/.github/contents/")),
        "the organisation's policy is read by the query:{}",
        lines(&first)
    );
    assert_eq!(queries, 1);
    assert_eq!(gh.graphql_fallbacks(), 0);
    assert_eq!(token_calls, 1);

    // A re-evaluation of the unchanged pull request, as a policy push's fan-out or `/sdl
    // recheck` does it, in the same process: every REST read is conditional; the GraphQL
    // query (a POST) is not, and costs its point each time.
    let mark = fake.mark();
    let points_before = gh.graphql_points();
    evaluate_change(&gh, &change(20), &Records::default(), Utc::now())
        .await
        .expect("ok");
    let again = fake.calls_since(mark);
    let rest_again = fake.rest_counted_since(mark).len();
    let queries_again = fake.graphql_since(mark).len();
    let points_again = gh.graphql_points() - points_before;
    eprintln!(
        "re-evaluation of the unchanged PR: {} requests, {rest_again} REST counted against the rate limit + {queries_again} GraphQL query ({points_again} GraphQL point) = {}, {} answered 304{}",
        again.len(),
        rest_again + queries_again,
        fake.not_modified_since(mark),
        lines(&again)
    );
    assert!(
        rest_again + queries_again <= 3,
        "over budget: {rest_again} + {queries_again}"
    );
    assert!(
        again
            .iter()
            .all(|c| c.method == "GET" || c.path == "/graphql"),
        "no writes"
    );

    // Once more: nothing changed since the last reads, so no REST read is counted at all;
    // the query costs its point.
    let mark = fake.mark();
    evaluate_change(&gh, &change(20), &Records::default(), Utc::now())
        .await
        .expect("ok");
    let steady = fake.rest_counted_since(mark);
    eprintln!(
        "third evaluation of the unchanged PR: {} requests, {} REST counted + {} GraphQL query{}",
        fake.calls_since(mark).len(),
        steady.len(),
        fake.graphql_since(mark).len(),
        lines(&fake.calls_since(mark))
    );
    assert_eq!(steady.len(), 0, "{}", lines(&steady));
    assert_eq!(fake.graphql_since(mark).len(), 1);
    // The client saw each 304 the fake answered, and used its kept answer for it.
    assert_eq!(
        gh.requests_not_modified() as usize,
        fake.not_modified_since(0)
    );
    assert_eq!(fake.check_runs(REPO, &head, "sdl-gate").len(), 1);
    fake.assert_no_unknown();
}

/// A policy change on the default branch re-evaluates every open pull request (the fan-out
/// lists them, then evaluates each). With conditional reads, what an unchanged pull request
/// costs is what changed: the policy once per repository, and the writes a new verdict needs.
/// `SDL_GATE_FANOUT_PRS` sets the number of pull requests (default 500).
#[tokio::test]
async fn a_policy_change_fan_out_over_500_prs_fits_an_hours_budget() {
    let n: u64 = std::env::var("SDL_GATE_FANOUT_PRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let fake = FakeGithub::start().await;
    for i in 0..n {
        arrange_pr(&fake, 1000 + i, 50);
    }
    let gh = forge(&fake);
    let mark = fake.mark();
    for i in 0..n {
        evaluate_change(&gh, &change(1000 + i), &Records::default(), Utc::now())
            .await
            .expect("ok");
    }
    let fresh = fake.counted_since(mark).len();

    // The policy changes on main (a new reviewer team; the same verdicts for these pull
    // requests, whose approver is in both).
    fake.team("acme", "appsec", &["carol"]);
    fake.put_file(
        REPO,
        "main",
        ".github/sdl-gate.yml",
        BASE_POLICY
            .replace(
                r#"teams: ["acme/security"]"#,
                r#"teams: ["acme/security", "acme/appsec"]"#,
            )
            .as_bytes(),
    );
    let mark = fake.mark();
    let listing = gh
        .open_pulls(INSTALLATION, REPO, 500)
        .await
        .expect("listing");
    assert_eq!(listing.pulls.len() as u64, n.min(500));
    let listed = fake.counted_since(mark).len();
    let mut most = 0;
    let mut last = Vec::new();
    for pull in &listing.pulls {
        let m = fake.mark();
        evaluate_change(&gh, &change(pull.number), &Records::default(), Utc::now())
            .await
            .expect("ok");
        most = most.max(fake.counted_since(m).len());
        last = fake.calls_since(m);
    }
    let counted = fake.counted_since(mark);
    let rest = fake.rest_counted_since(mark).len();
    let queries = fake.graphql_since(mark).len();
    let all = fake.calls_since(mark).len();
    eprintln!(
        "{n} fresh 50-file PRs: {fresh} requests counted ({:.1} per PR)\n\
         policy change fan-out over {n} PRs: {all} requests, {} counted against the rate limits \
         = {rest} REST + {queries} GraphQL queries (1 point each) ({listed} for the listing, \
         {:.2} per PR, at most {most} for one PR), {} answered 304; {:.0}% of an \
         installation's 5,000 REST requests/hour and {:.0}% of its 5,000 GraphQL points/hour; \
         the last PR's:{}",
        fresh as f64 / n as f64,
        counted.len(),
        (counted.len() - listed) as f64 / n as f64,
        fake.not_modified_since(mark),
        rest as f64 / 50.0,
        queries as f64 / 50.0,
        lines(&last)
    );
    // The first pull request also reads the new policy and the new team's membership.
    assert!(most <= 5, "over budget for one PR: {most}");
    assert!(
        counted.len() as u64 <= 3 * n + 10 && counted.len() <= 2_500,
        "the fan-out spends {} of 5,000",
        counted.len()
    );
    fake.assert_no_unknown();
}

#[tokio::test]
async fn a_changed_answer_is_read_in_full_after_a_304() {
    let fake = FakeGithub::start().await;
    let head = arrange_pr(&fake, 23, 3);
    let gh = forge(&fake).with_graphql(false);
    evaluate_change(&gh, &change(23), &Records::default(), Utc::now())
        .await
        .expect("ok");
    evaluate_change(&gh, &change(23), &Records::default(), Utc::now())
        .await
        .expect("ok");
    // A new approval lands: the reviews list is read in full (200), the kept answer is not
    // used, and the verdict follows it.
    let mark = fake.mark();
    {
        let mut st = fake.state();
        let pull = st
            .repos
            .get_mut(REPO)
            .and_then(|r| r.pulls.get_mut(&23))
            .expect("pull");
        pull.reviews.push(fake_github::ReviewRec {
            id: 99_001,
            user: "carol".into(),
            state: "CHANGES_REQUESTED".into(),
            commit_id: head.clone(),
            submitted_at: Utc::now(),
        });
    }
    let out = evaluate_change(&gh, &change(23), &Records::default(), Utc::now())
        .await
        .expect("ok");
    let calls = fake.calls_since(mark);
    let reviews = calls
        .iter()
        .find(|c| c.path.ends_with("/pulls/23/reviews"))
        .expect("reviews read");
    assert_eq!(reviews.status, 200, "{}", lines(&calls));
    assert!(
        calls
            .iter()
            .any(|c| c.path.ends_with("/pulls/23/files") && c.status == 304),
        "{}",
        lines(&calls)
    );
    let Outcome::Evaluated { evaluation, .. } = out else {
        panic!()
    };
    assert_ne!(
        evaluation.gate(GateKind::SecurityReview).map(|g| g.verdict),
        Some(Verdict::Pass)
    );
    fake.assert_no_unknown();
}

#[tokio::test]
async fn failing_change_end_to_end_gives_failure_and_a_marked_comment() {
    let fake = FakeGithub::start().await;
    let head = sha(0xb1);
    // Touches src/auth, no threat model, CodeQL failed, approved only by the author.
    PullBuilder::new(REPO, 21, "alice", &head)
        .file("src/auth/session.rs")
        .review("alice", "APPROVED", &head)
        .install(&fake);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", BASE_POLICY.as_bytes());
    fake.ci_run(REPO, &head, "CodeQL", "completed", Some("failure"));
    let gh = forge(&fake);
    let out = evaluate_change(&gh, &change(21), &Records::default(), Utc::now())
        .await
        .expect("ok");
    let Outcome::Evaluated { evaluation, .. } = out else {
        panic!()
    };
    for gate in [GateKind::ThreatModel, GateKind::Sast] {
        assert_eq!(
            evaluation.gate(gate).map(|g| g.verdict),
            Some(Verdict::Fail),
            "{gate}"
        );
    }
    assert_ne!(
        evaluation.gate(GateKind::SecurityReview).map(|g| g.verdict),
        Some(Verdict::Pass)
    );
    let runs = fake.check_runs(REPO, &head, "sdl-gate");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].conclusion.as_deref(), Some("failure"));
    assert!(runs[0].text.as_deref().unwrap_or("").contains("CodeQL"));
    let comments = fake.comments(REPO, 21);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.starts_with(COMMENT_MARKER));
    assert!(comments[0].body.contains("threat"), "{}", comments[0].body);
    // The author's self-approval was never looked up as a team membership.
    assert!(
        !fake
            .journal()
            .iter()
            .any(|c| c.path.contains("/memberships/alice"))
    );
    fake.assert_no_unknown();
}

#[tokio::test]
async fn comment_mode_never_and_always() {
    let fake = FakeGithub::start().await;
    let head = arrange_pr(&fake, 22, 3);
    fake.put_file(REPO, &head, "docs/threat-model/x.md", b"x");
    let gh = forge(&fake);
    let h = gh.head(&change(22)).await.expect("head");
    let policy = parse_policy("p", BASE_POLICY).expect("policy");
    let snap = gh
        .snapshot(&change(22), &h, &Needs::from_policy(&policy))
        .await
        .expect("snap");
    let eval = evaluate(&policy, &snap, Utc::now());
    assert_eq!(
        eval.verdict,
        OverallVerdict::Fail,
        "threat model not updated"
    );
    let never = PublishOptions {
        comment: CommentMode::Never,
        ..PublishOptions::default()
    };
    let p = gh
        .publish(&change(22), &Publication::of(&eval, &never))
        .await
        .expect("publish");
    assert_eq!(p.comment, CommentAction::Skipped);
    assert!(fake.comments(REPO, 22).is_empty());
    let always = PublishOptions {
        comment: CommentMode::Always,
        ..PublishOptions::default()
    };
    let p = gh
        .publish(&change(22), &Publication::of(&eval, &always))
        .await
        .expect("publish");
    assert_eq!(p.comment, CommentAction::Created);
    let p = gh
        .publish(&change(22), &Publication::of(&eval, &always))
        .await
        .expect("publish");
    assert_eq!(p.comment, CommentAction::Unchanged, "same body: no edit");
    assert_eq!(fake.comments(REPO, 22).len(), 1);
    // A deleted sticky comment is noticed and re-created.
    fake.state().repo(REPO).comments.clear();
    let mut eval2 = eval.clone();
    eval2.gates[0].explanation.push_str(" (changed)");
    let p = gh
        .publish(&change(22), &Publication::of(&eval2, &always))
        .await
        .expect("publish");
    assert_eq!(p.comment, CommentAction::Created);
    assert_eq!(fake.comments(REPO, 22).len(), 1);
    assert_eq!(fake.check_runs(REPO, &head, "sdl-gate").len(), 1);
    fake.assert_no_unknown();
}

#[tokio::test]
async fn annotations_go_in_batches_of_50_and_are_not_sent_twice() {
    let fake = FakeGithub::start().await;
    let head = sha(0xc1);
    PullBuilder::new(REPO, 30, "alice", &head)
        .file("src/app.rs")
        .install(&fake);
    let gh = forge(&fake);
    let policy = parse_policy("p", "version: 1\nreport: { comment: never }\n").expect("policy");
    let h = gh.head(&change(30)).await.expect("head");
    let mut snap = gh
        .snapshot(&change(30), &h, &Needs::from_policy(&policy))
        .await
        .expect("snap");
    let findings: Vec<_> = (1..=120)
        .map(|i| {
            common::code_finding(
                &format!("rule-{i}"),
                sdl_gate::reports::Severity::High,
                "src/app.rs",
                i,
            )
        })
        .collect();
    snap.reports.push(common::report(
        sdl_gate::reports::ReportFormat::Sarif,
        "CodeQL",
        findings,
    ));
    let eval = evaluate(&policy, &snap, Utc::now());
    assert_eq!(
        eval.gate(GateKind::Sast).map(|g| g.verdict),
        Some(Verdict::Fail)
    );
    let opts = PublishOptions {
        comment: CommentMode::Never,
        ..PublishOptions::default()
    };

    // The second batch's PATCH fails once: the retry must still deliver every annotation.
    fake.fault(
        Some(Method::PATCH),
        "/check-runs/",
        1,
        FaultKind::Status(502),
    );
    let err = gh
        .publish(&change(30), &Publication::of(&eval, &opts))
        .await
        .expect_err("502");
    assert!(matches!(err, ForgeError::Transient { .. }), "{err}");
    let mark = fake.mark();
    gh.publish(&change(30), &Publication::of(&eval, &opts))
        .await
        .expect("retry");
    let writes: Vec<_> = fake.calls_since(mark);
    assert_eq!(
        writes.len(),
        3,
        "three PATCHes carry 120 annotations: {writes:?}"
    );
    for w in &writes {
        let n = w
            .body
            .as_ref()
            .and_then(|b| b["output"]["annotations"].as_array())
            .map_or(0, Vec::len);
        assert!(n <= 50, "at most 50 per request");
    }
    let runs = fake.check_runs(REPO, &head, "sdl-gate");
    assert_eq!(runs.len(), 1);
    let messages: std::collections::BTreeSet<String> = runs[0]
        .annotations
        .iter()
        .filter_map(|a| a["title"].as_str().map(str::to_string))
        .collect();
    assert_eq!(messages.len(), 120, "every finding annotated");
    let total = runs[0].annotations.len();

    // Publishing the same evaluation again sends nothing (GitHub would append duplicates).
    let mark = fake.mark();
    gh.publish(&change(30), &Publication::of(&eval, &opts))
        .await
        .expect("again");
    assert!(
        fake.calls_since(mark).is_empty(),
        "{:?}",
        fake.calls_since(mark)
    );
    // A fresh process re-lists and still does not re-send them.
    let gh2 = forge(&fake);
    gh2.publish(&change(30), &Publication::of(&eval, &opts))
        .await
        .expect("again");
    assert_eq!(
        fake.check_runs(REPO, &head, "sdl-gate")[0]
            .annotations
            .len(),
        total
    );
    fake.assert_no_unknown();
}

#[tokio::test]
async fn a_threat_model_over_1_mb_is_unreadable_and_the_gate_fails_closed() {
    let fake = FakeGithub::start().await;
    let head = arrange_pr(&fake, 31, 2);
    fake.state()
        .repo(REPO)
        .pulls
        .get_mut(&31)
        .expect("pr")
        .files
        .push(fake_github::FileRec {
            filename: "docs/threat-model/huge.md".into(),
            status: "modified".into(),
            previous_filename: None,
            patch: None,
        });
    fake.put_file(
        REPO,
        &head,
        "docs/threat-model/huge.md",
        &vec![b'x'; 1024 * 1024 + 1],
    );
    let gh = forge(&fake);
    let out = evaluate_change(&gh, &change(31), &Records::default(), Utc::now())
        .await
        .expect("ok");
    let Outcome::Evaluated { evaluation, .. } = out else {
        panic!("{out:?}")
    };
    let tm = evaluation.gate(GateKind::ThreatModel).expect("gate");
    assert_eq!(tm.verdict, Verdict::Fail, "{tm:#?}");
    assert!(
        tm.details
            .iter()
            .any(|n| n.description.contains("could not read")),
        "{:#?}",
        tm.details
    );
    fake.assert_no_unknown();
}

#[test]
fn config_debug_does_not_show_the_private_key() {
    let cfg = GithubConfig::new(APP_ID, SecretString::from(TEST_KEY_PEM));
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("BEGIN RSA"), "{shown}");
    assert!(shown.contains("api.github.com"));
}

#[tokio::test]
async fn github_enterprise_server_api_prefix_is_kept_on_every_request_and_page() {
    let fake = FakeGithub::start_at("/api/v3").await;
    let head = arrange_pr(&fake, 40, 130);
    let gh = forge(&fake);
    let out = evaluate_change(&gh, &change(40), &Records::default(), Utc::now())
        .await
        .expect("ok");
    assert!(matches!(out, Outcome::Evaluated { .. }), "{out:?}");
    fake.assert_no_unknown();
    let pages = fake
        .journal()
        .iter()
        .filter(|c| c.path.ends_with("/pulls/40/files"))
        .count();
    assert_eq!(pages, 2, "the second page followed the Link under /api/v3");
    assert_eq!(fake.check_runs(REPO, &head, "sdl-gate").len(), 1);
}

#[tokio::test]
async fn the_largest_pr_github_lists_is_read_whole_and_beyond_is_an_unknown() {
    let fake = FakeGithub::start().await;
    arrange_pr(&fake, 41, 3001);
    let gh = forge(&fake);
    let c = change(41);
    let started = std::time::Instant::now();
    let h = gh.head(&c).await.expect("head");
    let policy = parse_policy("p", BASE_POLICY).expect("policy");
    let mark = fake.mark();
    let snap = gh
        .snapshot(&c, &h, &Needs::from_policy(&policy))
        .await
        .expect("snapshot");
    eprintln!(
        "snapshot of a {}-file PR: {} files in {} requests, {:?} (debug build, loopback)",
        h.changed_files.unwrap_or(0),
        snap.files.len(),
        fake.calls_since(mark).len(),
        started.elapsed()
    );
    assert_eq!(snap.files.len(), 3000, "GitHub lists at most 3,000 files");
    assert!(
        snap.unknowns.iter().any(|u| u.contains("3001")),
        "{:?}",
        snap.unknowns
    );
    fake.assert_no_unknown();
}

#[tokio::test]
async fn waivers_from_the_store_count_and_the_worker_future_is_send() {
    let fake = FakeGithub::start().await;
    let head = sha(0xd1);
    PullBuilder::new(REPO, 42, "alice", &head)
        .file("src/auth/x.rs")
        .review("carol", "APPROVED", &head)
        .install(&fake);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", BASE_POLICY.as_bytes());
    fake.ci_run(REPO, &head, "CodeQL", "completed", Some("success"));
    fake.team("acme", "security", &["carol"]);
    let gh = forge(&fake);
    let records = Records {
        waivers: vec![sdl_gate::waivers::Waiver {
            gate: GateKind::ThreatModel,
            reason: "threat model review scheduled for the next sprint".into(),
            author: sdl_gate::snapshot::Login::new("carol"),
            created_at: Utc::now() - chrono::Duration::hours(1),
            expires_at: Utc::now() + chrono::Duration::days(3),
            sha: sdl_gate::snapshot::Sha::new(&head),
            comment_id: None,
            revoked: None,
        }],
        ..Records::default()
    };
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    // The worker spawns this future on a multi-threaded runtime.
    let out = assert_send(evaluate_change(&gh, &change(42), &records, Utc::now()))
        .await
        .expect("ok");
    let Outcome::Evaluated {
        evaluation,
        published,
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        evaluation.gate(GateKind::ThreatModel).map(|g| g.verdict),
        Some(Verdict::Waived)
    );
    assert_eq!(published.conclusion, Conclusion::Success);
    assert_eq!(
        published.comment,
        CommentAction::Skipped,
        "on_failure: nothing failed, no comment yet"
    );
}

#[tokio::test]
async fn team_membership_for_waiver_authorisation_is_cached_briefly() {
    let fake = FakeGithub::start().await;
    PullBuilder::new(REPO, 43, "alice", &sha(0xe1))
        .file("a.rs")
        .install(&fake);
    fake.team("acme", "security", &["carol"]);
    let gh = forge(&fake);
    let team = sdl_gate::snapshot::TeamSlug::new("security");
    let carol = sdl_gate::snapshot::Login::new("Carol");
    let mallory = sdl_gate::snapshot::Login::new("mallory");
    assert!(
        gh.team_member(&change(43), &team, &carol)
            .await
            .expect("lookup")
    );
    assert!(
        !gh.team_member(&change(43), &team, &mallory)
            .await
            .expect("404 = not a member")
    );
    let mark = fake.mark();
    assert!(
        gh.team_member(&change(43), &team, &carol)
            .await
            .expect("cached")
    );
    assert!(
        fake.calls_since(mark).is_empty(),
        "answered from the 60 s cache"
    );
    fake.fault(None, "/memberships/", 1, FaultKind::Status(403));
    let err = gh
        .team_member(
            &change(43),
            &sdl_gate::snapshot::TeamSlug::new("acme/other"),
            &carol,
        )
        .await
        .expect_err("403");
    assert!(matches!(err, ForgeError::Forbidden { .. }), "{err}");
    fake.assert_no_unknown();
}

#[tokio::test]
async fn an_evaluation_that_differs_only_in_its_time_writes_nothing() {
    let fake = FakeGithub::start().await;
    let head = arrange_pr(&fake, 44, 2);
    let gh = forge(&fake);
    let h = gh.head(&change(44)).await.expect("head");
    let policy = parse_policy("p", BASE_POLICY).expect("policy");
    let snap = gh
        .snapshot(&change(44), &h, &Needs::from_policy(&policy))
        .await
        .expect("snap");
    let t0 = Utc::now();
    let always = PublishOptions {
        comment: CommentMode::Always,
        ..PublishOptions::default()
    };
    gh.publish(
        &change(44),
        &Publication::of(&evaluate(&policy, &snap, t0), &always),
    )
    .await
    .expect("publish");
    let later = evaluate(&policy, &snap, t0 + chrono::Duration::minutes(7));
    let gh2 = forge(&fake); // no hints: re-lists
    gh2.head(&change(44)).await.expect("head");
    let mark = fake.mark();
    let p = gh2
        .publish(&change(44), &Publication::of(&later, &always))
        .await
        .expect("publish");
    let writes: Vec<_> = fake
        .calls_since(mark)
        .into_iter()
        .filter(|c| c.method != "GET")
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert!(!p.check_created);
    assert_eq!(p.comment, CommentAction::Unchanged);
    assert_eq!(fake.check_runs(REPO, &head, "sdl-gate").len(), 1);
}

/// The organisation's policy that may not be read (403) fails the check closed and names it;
/// a passing outage there (5xx) is an error the queue retries, never "no organisation policy".
/// (Through REST, as without GraphQL or when the query left it to REST.)
#[tokio::test]
async fn an_unreadable_org_policy_fails_closed_and_an_outage_is_retried() {
    let fake = FakeGithub::start().await;
    let head = sha(0x0e01);
    PullBuilder::new(REPO, 31, "alice", &head)
        .file("src/main.rs")
        .install(&fake);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", WEAK_POLICY.as_bytes());
    let gh = forge(&fake).with_graphql(false);

    fake.fault(
        Some(Method::GET),
        "/repos/acme/.github/contents/sdl-gate.yml",
        1,
        FaultKind::Status(502),
    );
    let err = evaluate_change(&gh, &change(31), &Records::default(), Utc::now())
        .await
        .expect_err("an outage is an error to retry");
    assert!(err.is_retryable(), "{err}");
    assert!(fake.check_runs(REPO, &head, "sdl-gate").is_empty());

    fake.fault(
        Some(Method::GET),
        "/repos/acme/.github/contents/sdl-gate.yml",
        1,
        FaultKind::Status(403),
    );
    let out = evaluate_change(&gh, &change(31), &Records::default(), Utc::now())
        .await
        .expect("a notice");
    assert!(matches!(out, Outcome::InvalidPolicy(_)), "{out:?}");
    let runs = fake.check_runs(REPO, &head, "sdl-gate");
    assert_eq!(runs[0].conclusion.as_deref(), Some("failure"));
    let summary = runs[0].summary.clone().unwrap_or_default();
    assert!(
        summary.contains("acme/.github/sdl-gate.yml") && summary.contains("403"),
        "{summary}"
    );

    // Readable again and absent: the repository's own policy alone.
    let out = evaluate_change(&gh, &change(31), &Records::default(), Utc::now())
        .await
        .expect("ok");
    let Outcome::Evaluated { evaluation, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(evaluation.org_policy, None);
    assert_eq!(evaluation.verdict, OverallVerdict::Pass);
}

/// The GraphQL query carries the organisation's policy: no REST read of `acme/.github` when
/// it is there, absent, or its repository is not (a `NOT_FOUND` as for a repository outside
/// the installation); a blob the query calls binary is read through REST and fails closed.
#[tokio::test]
async fn the_graphql_query_carries_the_org_policy_and_leaves_a_binary_one_to_rest() {
    let fake = FakeGithub::start().await;
    let head = sha(0x0e11);
    PullBuilder::new(REPO, 32, "alice", &head)
        .file("src/main.rs")
        .install(&fake);
    fake.put_file(REPO, "main", ".github/sdl-gate.yml", WEAK_POLICY.as_bytes());
    let gh = forge(&fake);
    let org_reads = |mark| {
        fake.calls_since(mark)
            .iter()
            .filter(|c| c.path.contains("/.github/contents/"))
            .count()
    };

    // No `acme/.github` repository at all.
    let mark = fake.mark();
    let out = evaluate_change(&gh, &change(32), &Records::default(), Utc::now())
        .await
        .expect("ok");
    let Outcome::Evaluated { evaluation, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(evaluation.org_policy, None);
    assert_eq!(org_reads(mark), 0);
    assert_eq!(gh.graphql_fallbacks(), 0);

    // The repository, no file; then the file (read at once: the query is not cached).
    fake.put_file("acme/.github", "main", "README.md", b"community files\n");
    let mark = fake.mark();
    evaluate_change(&gh, &change(32), &Records::default(), Utc::now())
        .await
        .expect("ok");
    assert_eq!(org_reads(mark), 0);
    fake.put_file(
        "acme/.github",
        "main",
        "sdl-gate.yml",
        WEAK_POLICY.as_bytes(),
    );
    let mark = fake.mark();
    let out = evaluate_change(&gh, &change(32), &Records::default(), Utc::now())
        .await
        .expect("ok");
    let Outcome::Evaluated { evaluation, .. } = out else {
        panic!("{out:?}")
    };
    let org = evaluation.org_policy.expect("the organisation's policy");
    assert_eq!(org.location, "acme/.github/sdl-gate.yml");
    assert_eq!(org_reads(mark), 0, "{}", lines(&fake.calls_since(mark)));

    // A binary blob: REST reads it, and it fails closed.
    fake.put_file(
        "acme/.github",
        "main",
        "sdl-gate.yml",
        &[0xff, 0xfe, 0x00, 0x01],
    );
    let mark = fake.mark();
    let out = evaluate_change(&gh, &change(32), &Records::default(), Utc::now())
        .await
        .expect("a notice");
    assert!(matches!(out, Outcome::InvalidPolicy(_)), "{out:?}");
    assert_eq!(org_reads(mark), 1);
    let runs = fake.check_runs(REPO, &head, "sdl-gate");
    assert_eq!(runs[0].conclusion.as_deref(), Some("failure"));
    assert_eq!(gh.graphql_fallbacks(), 0);
    fake.assert_no_unknown();
}
