//! GitHub's merge queue and the Re-run buttons, through the whole service: signed
//! `merge_group`, `check_run` and `check_suite` deliveries (checked against GitHub's webhook
//! descriptions) in over HTTP, the durable queue, the GitHub processor with the real client
//! against the fake GitHub (every request and answer checked against GitHub's REST
//! description), and out come check runs.
//!
//! - A merge group passes when every pull request in it passed at its head and nothing else
//!   it changes is security-relevant; it fails naming the pull request or the path that
//!   blocks, and when it names no pull request at all.
//! - Re-run of the check run, Re-run of the check suite and the check run's "Re-evaluate"
//!   button each evaluate the pull request again into a new check run, a fork's pull request
//!   (which GitHub leaves out of the payload) too.

mod fake_forge;
mod fake_github;
mod github_world;
mod service_support;

use fake_github::{CheckRunRec, FakeGithub, PullBuilder, sha};
use github_world::{POLICY, REPO, SBOM, World, shaped_like, with_repo, world_on};
use sdl_gate::forge_name::ForgeName;
use serde_json::{Value, json};
use service_support::sqlite_db;

async fn world() -> World {
    let w = world_on(sqlite_db()).await;
    w.fake
        .put_file(REPO, "main", ".github/sdl-gate.yml", POLICY.as_bytes());
    w
}

/// Holds `payload` to GitHub's description of webhook `name`, when a recorded delivery gave
/// it its shape.
fn conforms(name: &str, payload: &Value) {
    if payload["repository"].get("id").is_none() {
        eprintln!("note: no recorded delivery to shape {name} on; not checked");
        return;
    }
    let wrong = fake_github::openapi::webhook_violations(name, payload);
    assert!(
        wrong.is_empty(),
        "our {name} delivery is not GitHub's: {wrong:#?}"
    );
}

fn pull_event(number: u64, head: &str) -> Value {
    let mut v = shaped_like("pull_request/opened.payload.json");
    v["action"] = json!("opened");
    v["number"] = json!(number);
    v["pull_request"]["number"] = json!(number);
    v["pull_request"]["head"]["sha"] = json!(head);
    v["pull_request"]["base"]["ref"] = json!("main");
    with_repo(v, REPO)
}

/// A `merge_group` `checks_requested` delivery for a group whose ref names `named`.
fn merge_group_event(named: Option<u64>, base_sha: &str, head_sha: &str) -> Value {
    let recorded = shaped_like("pull_request/opened.payload.json");
    let head_ref = match named {
        Some(n) => format!("refs/heads/gh-readonly-queue/main/pr-{n}-{base_sha}"),
        None => "refs/heads/gh-readonly-queue/main/unnamed".to_owned(),
    };
    let v = with_repo(
        json!({
            "action": "checks_requested",
            "merge_group": {
                "head_sha": head_sha,
                "head_ref": head_ref,
                "base_sha": base_sha,
                "base_ref": "refs/heads/main",
                "head_commit": {
                    "id": head_sha,
                    "tree_id": head_sha,
                    "message": "Merge queue entry",
                    "timestamp": "2026-11-20T10:00:00Z",
                    "author": {"name": "GitHub", "email": "noreply@github.com"},
                    "committer": {"name": "GitHub", "email": "noreply@github.com"}
                }
            },
            "repository": recorded["repository"],
            "sender": recorded["sender"]
        }),
        REPO,
    );
    conforms("merge-group-checks-requested", &v);
    v
}

/// A `check_run` / `check_suite` delivery (`rerequested`, `requested_action`) on our run of
/// pull request `number` at `head`, shaped on the recorded one.
fn rerun_event(event: &str, action: &str, identifier: &str, number: u64, head: &str) -> Value {
    let mut v = shaped_like(&format!("{event}/{action}.payload.json"));
    if v.get(event).is_none() {
        // Fixtures absent: the fields the service reads.
        v = json!({ event: {"pull_requests": [{}]} });
    }
    v["action"] = json!(action);
    // Repository and sender as a current delivery has them.
    let recorded = shaped_like("pull_request/opened.payload.json");
    v["repository"] = recorded["repository"].clone();
    v["sender"] = recorded["sender"].clone();
    let repo_id = v["repository"]["id"].clone();
    let object = &mut v[event];
    object["name"] = json!("sdl-gate");
    object["head_sha"] = json!(head);
    let pr = json!({
        "url": format!("https://api.github.com/repos/{REPO}/pulls/{number}"),
        "id": 1000 + number,
        "number": number,
        "head": {"ref": format!("feature-{number}"), "sha": head,
                 "repo": {"id": repo_id, "url": format!("https://api.github.com/repos/{REPO}"), "name": "plc"}},
        "base": {"ref": "main", "sha": sha(0xba5e),
                 "repo": {"id": repo_id, "url": format!("https://api.github.com/repos/{REPO}"), "name": "plc"}}
    });
    object["pull_requests"] = json!([pr]);
    if action == "requested_action" {
        v["requested_action"] = json!({ "identifier": identifier });
    }
    // The recorded deliveries predate fields GitHub's description now requires.
    if event == "check_run" {
        let run = &mut v["check_run"];
        run["node_id"] = json!("CR_kwDOAbc");
        run["details_url"] = json!("https://sdl.example.com/changes");
        current_app(&mut run["app"]);
        current_app(&mut run["check_suite"]["app"]);
    } else {
        current_app(&mut v["check_suite"]["app"]);
    }
    let v = with_repo(v, REPO);
    conforms(
        &format!("{}-{}", event.replace('_', "-"), action.replace('_', "-")),
        &v,
    );
    v
}

/// An `app` object of a recorded delivery with what GitHub's description now requires.
fn current_app(app: &mut Value) {
    if !app.is_object() {
        return;
    }
    app["permissions"] = json!({"checks": "write", "contents": "read"});
    app["events"] = json!(["check_run", "check_suite"]);
    app["created_at"] = json!("2026-01-01T00:00:00Z");
    app["updated_at"] = json!("2026-01-01T00:00:00Z");
}

impl World {
    fn runs(&self, head: &str) -> Vec<CheckRunRec> {
        let mut runs = self.fake.check_runs(REPO, head, "sdl-gate");
        runs.sort_by_key(|r| r.id);
        runs
    }

    /// The one `sdl-gate` run on `head`.
    fn run(&self, head: &str) -> CheckRunRec {
        let runs = self.runs(head);
        assert_eq!(
            runs.len(),
            1,
            "exactly one sdl-gate run on {head}: {runs:?}"
        );
        runs[0].clone()
    }

    /// Opens pull request `number` (already in the fake) and waits for its evaluation.
    async fn evaluated(&self, number: u64, head: &str) -> CheckRunRec {
        self.send("pull_request", &pull_event(number, head)).await;
        self.drain().await;
        self.run(head)
    }

    async fn evaluations(&self, number: u64) -> usize {
        self.store
            .evaluations(ForgeName::GitHub, REPO, number, 1000)
            .await
            .unwrap_or_else(|e| panic!("evaluations: {e}"))
            .len()
    }

    async fn stop(mut self) {
        self.fake.assert_no_unknown();
        if let Some(svc) = self.svc.take() {
            svc.shutdown().await;
        }
    }
}

/// A pull request that passes every gate of [`POLICY`], installed with its checks.
fn passing(fake: &FakeGithub, number: u64, head: &str, files: &[&str]) {
    let mut b = PullBuilder::new(REPO, number, "bob", head).review("carol", "APPROVED", head);
    for f in files {
        b = b.file(f);
    }
    b.pull.body = Some("Threat-Model: https://tm.example.com/login".into());
    b.install(fake);
    fake.put_file(REPO, head, "sbom/plc.cdx.json", SBOM.as_bytes());
    fake.ci_run(REPO, head, "CodeQL", "completed", Some("success"));
    fake.ci_run(REPO, head, "cargo-audit", "completed", Some("success"));
}

const PR_FILES: [&str; 3] = ["src/auth/login.rs", "Cargo.lock", "sbom/plc.cdx.json"];

/// Two queued pull requests, both passing at their heads: the group's ref names the newer,
/// its commits hold the older's head. Their security changes are theirs, and what else the
/// group changes (a changelog) is not security-relevant, so the group passes. The group's run
/// has no button and no comment is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_merge_group_of_passing_pull_requests_passes() {
    let w = world().await;
    let (h1, h2) = (sha(0x1001), sha(0x1002));
    passing(&w.fake, 1, &h1, &PR_FILES);
    passing(&w.fake, 2, &h2, &["src/auth/session.rs", "README.md"]);
    assert_eq!(
        w.evaluated(1, &h1).await.conclusion.as_deref(),
        Some("success")
    );
    assert_eq!(
        w.evaluated(2, &h2).await.conclusion.as_deref(),
        Some("success")
    );

    let (base, group) = (sha(0xb001), sha(0x6001));
    let mut files: Vec<&str> = PR_FILES.to_vec();
    files.extend(["src/auth/session.rs", "README.md", "CHANGELOG.md"]);
    w.fake
        .merge_group(REPO, &base, &[&h1, &sha(0x6000), &group], &files);
    w.send("merge_group", &merge_group_event(Some(2), &base, &group))
        .await;
    w.drain().await;

    let run = w.run(&group);
    assert_eq!(run.conclusion.as_deref(), Some("success"), "{run:?}");
    assert_eq!(run.title.as_deref(), Some("Merge group passes: #1, #2"));
    assert!(run.actions.is_empty(), "a group's run has no button");
    assert!(w.fake.comments(REPO, 1).is_empty() && w.fake.comments(REPO, 2).is_empty());
    // The same group again changes nothing.
    let mark = w.fake.mark();
    w.send("merge_group", &merge_group_event(Some(2), &base, &group))
        .await;
    w.drain().await;
    assert_eq!(w.runs(&group).len(), 1);
    assert!(
        w.fake
            .calls_since(mark)
            .iter()
            // The GraphQL query is a POST that only reads.
            .all(|c| (c.method != "POST" || c.path == "/graphql") && c.method != "PATCH"),
        "an unchanged verdict writes nothing"
    );
    w.stop().await;
}

/// The group fails, saying why: a pull request evaluated only at an older head, one whose
/// evaluation failed, a security path the group changes beyond its pull requests, and a
/// group that names no pull request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_merge_group_fails_naming_the_pull_request_or_path_that_blocks() {
    let w = world().await;

    // Evaluated, then pushed to without the webhook arriving: not passing at its head.
    let (old, new) = (sha(0x2001), sha(0x2002));
    passing(&w.fake, 3, &old, &PR_FILES);
    assert_eq!(
        w.evaluated(3, &old).await.conclusion.as_deref(),
        Some("success")
    );
    passing(&w.fake, 3, &new, &PR_FILES);
    let (base, group) = (sha(0xb003), sha(0x6003));
    w.fake.merge_group(REPO, &base, &[&group], &PR_FILES);
    w.send("merge_group", &merge_group_event(Some(3), &base, &group))
        .await;
    w.drain().await;
    let run = w.run(&group);
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{run:?}");
    assert_eq!(run.title.as_deref(), Some("Merge group blocked: #3"));
    let summary = run.summary.unwrap_or_default();
    assert!(
        summary.contains("#3 was last evaluated at `0000000`, not at its head `0000000`"),
        "{summary}"
    );

    // A failing pull request.
    let h4 = sha(0x4001);
    passing(&w.fake, 4, &h4, &PR_FILES);
    if let Some(p) = w.fake.state().repo(REPO).pulls.get_mut(&4) {
        p.body = None; // no threat model linked: the threat_model gate fails
    }
    assert_eq!(
        w.evaluated(4, &h4).await.conclusion.as_deref(),
        Some("failure")
    );
    let (base, group) = (sha(0xb004), sha(0x6004));
    w.fake.merge_group(REPO, &base, &[&group], &PR_FILES);
    w.send("merge_group", &merge_group_event(Some(4), &base, &group))
        .await;
    w.drain().await;
    let run = w.run(&group);
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(
        run.summary
            .unwrap_or_default()
            .contains("#4 does not pass sdl-gate at its head"),
    );

    // A passing pull request, but the group also changes a security path none of its pull
    // requests changes (the policy file too).
    let h5 = sha(0x5001);
    passing(&w.fake, 5, &h5, &["README.md"]);
    assert_eq!(
        w.evaluated(5, &h5).await.conclusion.as_deref(),
        Some("success")
    );
    let (base, group) = (sha(0xb005), sha(0x6005));
    w.fake.merge_group(
        REPO,
        &base,
        &[&group],
        &["README.md", "src/auth/backdoor.rs", ".github/sdl-gate.yml"],
    );
    w.send("merge_group", &merge_group_event(Some(5), &base, &group))
        .await;
    w.drain().await;
    let run = w.run(&group);
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{run:?}");
    assert_eq!(
        run.title.as_deref(),
        Some("Merge group blocked: .github/sdl-gate.yml and 1 more")
    );
    let summary = run.summary.unwrap_or_default();
    assert!(
        summary.contains("`src/auth/backdoor.rs` is changed by the merge group but by none of its pull requests, and matches the security path `src/auth/**`"),
        "{summary}"
    );

    // A group whose ref names no pull request and whose commits head none.
    let (base, group) = (sha(0xb006), sha(0x6006));
    w.fake.merge_group(REPO, &base, &[&group], &["README.md"]);
    w.send("merge_group", &merge_group_event(None, &base, &group))
        .await;
    w.drain().await;
    let run = w.run(&group);
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(
        run.title.as_deref(),
        Some("Merge group blocked: no pull request named")
    );
    w.stop().await;
}

/// Re-run of the check run, Re-run of the check suite and the "Re-evaluate" button each
/// evaluate the pull request again, reading GitHub afresh, into a new run (GitHub shows the
/// newest); a button we did not offer, or another App's run, does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn re_run_and_the_re_evaluate_button_evaluate_again() {
    let w = world().await;
    let head = sha(0x7001);
    passing(&w.fake, 7, &head, &PR_FILES);
    let first = w.evaluated(7, &head).await;
    assert_eq!(first.conclusion.as_deref(), Some("success"));
    assert_eq!(
        first.actions,
        vec![
            json!({"label": "Re-evaluate", "description": "Evaluate the pull request again",
                    "identifier": "reevaluate"})
        ],
        "the run offers the button"
    );

    // CodeQL turns red without a webhook reaching us; Re-run finds out.
    w.fake
        .state()
        .repo(REPO)
        .check_runs
        .retain(|r| r.name != "CodeQL");
    w.fake
        .ci_run(REPO, &head, "CodeQL", "completed", Some("failure"));
    w.send(
        "check_run",
        &rerun_event("check_run", "rerequested", "", 7, &head),
    )
    .await;
    w.drain().await;
    let runs = w.runs(&head);
    assert_eq!(runs.len(), 2, "a new run: {runs:?}");
    assert_eq!(runs[1].conclusion.as_deref(), Some("failure"));
    assert_eq!(w.evaluations(7).await, 2);

    // Back to green; the button re-evaluates.
    w.fake
        .state()
        .repo(REPO)
        .check_runs
        .retain(|r| r.name != "CodeQL");
    w.fake
        .ci_run(REPO, &head, "CodeQL", "completed", Some("success"));
    w.send(
        "check_run",
        &rerun_event("check_run", "requested_action", "reevaluate", 7, &head),
    )
    .await;
    w.drain().await;
    let runs = w.runs(&head);
    assert_eq!(runs.len(), 3, "a new run: {runs:?}");
    assert_eq!(runs[2].conclusion.as_deref(), Some("success"));

    // Re-run of the whole suite.
    w.send(
        "check_suite",
        &rerun_event("check_suite", "rerequested", "", 7, &head),
    )
    .await;
    w.drain().await;
    assert_eq!(w.runs(&head).len(), 4);
    assert_eq!(w.evaluations(7).await, 4);

    // Not ours: another button, another App's run.
    let mut other = rerun_event("check_run", "requested_action", "lgtm", 7, &head);
    w.send("check_run", &other).await;
    other = rerun_event("check_run", "rerequested", "", 7, &head);
    other["check_run"]["name"] = json!("CodeQL");
    w.send("check_run", &other).await;
    w.drain().await;
    assert_eq!(w.runs(&head).len(), 4, "nothing more");
    assert_eq!(w.evaluations(7).await, 4);

    // A fork's pull request: GitHub lists no pull request in the payload, so the run's head
    // commit is resolved to the pull request it heads.
    let fork_head = sha(0x7002);
    passing(&w.fake, 8, &fork_head, &PR_FILES);
    if let Some(p) = w.fake.state().repo(REPO).pulls.get_mut(&8) {
        p.head_repo = Some("mallory/plc".into());
    }
    assert_eq!(
        w.evaluated(8, &fork_head).await.conclusion.as_deref(),
        Some("success")
    );
    let mut fork = rerun_event("check_run", "rerequested", "", 8, &fork_head);
    fork["check_run"]["pull_requests"] = json!([]);
    w.send("check_run", &fork).await;
    w.drain().await;
    assert_eq!(w.runs(&fork_head).len(), 2, "a new run on the fork's head");
    assert_eq!(w.evaluations(8).await, 2);
    w.stop().await;
}
