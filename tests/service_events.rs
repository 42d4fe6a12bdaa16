//! Conformance: every published webhook fixture parses to work items or is ignored as "not
//! acted on" — never an error — and the keys of known fixtures are the right ones.

mod service_support;

use std::path::{Path, PathBuf};

use sdl_gate::events::{DomainEvent, Target, github, gitlab};
use serde_json::Value;
use service_support::fixtures_dir;

/// GitHub event names, longest first so `installation_repositories` wins over `installation`.
const GITHUB_EVENTS: &[&str] = &[
    "installation_repositories",
    "pull_request_review",
    "pull_request",
    "installation",
    "issue_comment",
    "check_suite",
    "check_run",
    "status",
    "push",
    "ping",
];

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// The event name and payload of a GitHub fixture, or `None` for non-delivery files
/// (SOURCES.md, JSON Schemas), with the reason.
fn github_delivery(root: &Path, path: &Path) -> Result<(String, Value), &'static str> {
    let rel = path.strip_prefix(root).expect("under root");
    let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
    if path.extension().and_then(|e| e.to_str()) != Some("json") {
        return Err("not a JSON file");
    }
    match parts.as_slice() {
        ["octokit-webhooks-schemas", ..] => Err("JSON Schema, not a delivery"),
        ["octokit-webhooks", event, _] | ["kodiak", event, _] => {
            Ok(((*event).to_owned(), read_json(path)))
        }
        ["octocrab", file] => {
            let event = GITHUB_EVENTS
                .iter()
                .find(|e| file.starts_with(&format!("{e}_")))
                .unwrap_or_else(|| panic!("octocrab fixture with unknown event: {file}"));
            Ok(((*event).to_owned(), read_json(path)))
        }
        ["triagebot", "recordings", _] => {
            let wrapper = read_json(path);
            let event = wrapper["webhook_event"]
                .as_str()
                .expect("webhook_event")
                .to_owned();
            Ok((event, wrapper["payload"].clone()))
        }
        ["triagebot", "payloads", file] => {
            // The event name is in the recording this payload was extracted from.
            let stem = file.trim_end_matches(".payload.json");
            let recording = root
                .join("triagebot/recordings")
                .join(format!("{stem}.json"));
            let event = read_json(&recording)["webhook_event"]
                .as_str()
                .expect("webhook_event")
                .to_owned();
            Ok((event, read_json(path)))
        }
        other => panic!("unexpected fixture location {other:?}: extend the conformance walk"),
    }
}

fn gitlab_event_name(path: &Path, payload: &Value) -> String {
    let file = path
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or_default();
    if file.starts_with("systemhook_") {
        return "System Hook".to_owned();
    }
    match payload["object_kind"].as_str().unwrap_or_default() {
        "merge_request" => "Merge Request Hook",
        "note" => "Note Hook",
        "pipeline" => "Pipeline Hook",
        "build" | "job" => "Job Hook",
        "push" => "Push Hook",
        "tag_push" => "Tag Push Hook",
        other => panic!("{}: unknown object_kind {other}", path.display()),
    }
    .to_owned()
}

#[test]
fn every_github_fixture_is_a_work_item_or_not_acted_on() {
    let Some(root) = fixtures_dir("github-webhooks") else {
        return;
    };
    let mut files = Vec::new();
    walk(&root, &mut files);
    let (mut acted, mut ignored, mut skipped) = (0, 0, 0);
    for path in &files {
        let (event, payload) = match github_delivery(&root, path) {
            Ok(d) => d,
            Err(_) => {
                skipped += 1;
                continue;
            }
        };
        match github::extract(&event, &payload) {
            Ok(Some(ev)) => {
                acted += 1;
                assert!(!ev.items.is_empty(), "{}", path.display());
                for item in &ev.items {
                    assert!(
                        item.key.repository.contains('/')
                            || matches!(item.key.target, Target::Installation(_)),
                        "{}: repository {:?}",
                        path.display(),
                        item.key.repository
                    );
                }
            }
            Ok(None) => ignored += 1,
            Err(e) => panic!("{} ({event}): {e}", path.display()),
        }
    }
    eprintln!(
        "github fixtures: {acted} acted on, {ignored} not acted on, {skipped} non-delivery files"
    );
    assert!(acted >= 60, "only {acted} acted-on fixtures");
    assert!(ignored >= 20, "only {ignored} ignored fixtures");
}

fn gh(rel: &str, event: &str) -> Option<Option<DomainEvent>> {
    let root = fixtures_dir("github-webhooks")?;
    let payload = read_json(&root.join(rel));
    Some(github::extract(event, &payload).expect("extract"))
}

fn keys(ev: &Option<DomainEvent>) -> Vec<String> {
    ev.iter()
        .flat_map(|e| e.items.iter().map(|i| i.key.to_key_string()))
        .collect()
}

#[test]
fn known_github_fixtures_map_to_the_right_keys() {
    let Some(ev) = gh("kodiak/pull_request/synchronize.json", "pull_request") else {
        return;
    };
    assert_eq!(ev.as_ref().unwrap().action.as_deref(), Some("synchronize"));
    assert_eq!(keys(&ev).len(), 1);
    assert!(keys(&ev)[0].starts_with("github:"), "{:?}", keys(&ev));

    let ev = gh(
        "octokit-webhooks/check_run/completed.payload.json",
        "check_run",
    )
    .unwrap();
    assert_eq!(keys(&ev), ["github:Codertocat/Hello-World#2"]);
    let ev = gh(
        "octokit-webhooks/check_suite/completed.payload.json",
        "check_suite",
    )
    .unwrap();
    assert_eq!(keys(&ev), ["github:Codertocat/Hello-World#2"]);
    let ev = gh("kodiak/check_run/check_run_completed.json", "check_run").unwrap();
    assert_eq!(keys(&ev), ["github:chdsbd/test_repo#8"]);
    // check_run created is not acted on (only completed).
    assert_eq!(
        gh(
            "octokit-webhooks/check_run/created.payload.json",
            "check_run"
        )
        .unwrap(),
        None
    );

    let ev = gh("octokit-webhooks/status/payload.json", "status").unwrap();
    assert_eq!(
        keys(&ev),
        ["github:Codertocat/Hello-World@6113728f27ae82c7b1a177c8d03f9e96e0adf246"]
    );

    // A push to the default branch is a repository job; a deleted tag is not acted on; a
    // pushed tag is a repository job carrying the release for the evidence ledger (the
    // commit is the head commit: an annotated tag's `after` is the tag object).
    let ev = gh("kodiak/push/master.json", "push").unwrap();
    assert_eq!(keys(&ev), ["github:chdsbd/test_repo"]);
    assert_eq!(
        gh("octokit-webhooks/push/payload.json", "push").unwrap(),
        None
    );
    let ev = gh("octocrab/push_webhook_event.json", "push").unwrap();
    let release =
        sdl_gate::events::ReleaseDetail::of(ev.as_ref().and_then(|e| e.items[0].detail.as_ref()))
            .expect("a tag push carries its release");
    assert_eq!(release.tag, "v0.2.1");
    assert_eq!(
        release.commit.as_deref(),
        Some("bd7a63727468ca899e6a43e40fe9d76b3501f3f4")
    );
    assert_eq!(
        ev.as_ref().map(|e| e.items[0].key.target.clone()),
        Some(Target::Repository)
    );

    // Comments: on a plain issue ignored; on a PR the comment travels with the job.
    assert_eq!(
        gh(
            "octokit-webhooks/issue_comment/created.payload.json",
            "issue_comment"
        )
        .unwrap(),
        None
    );
    let ev = gh(
        "triagebot/payloads/ready__00-webhook-issue105_comment_created.payload.json",
        "issue_comment",
    )
    .unwrap();
    let ev = ev.expect("comment on a PR is acted on");
    let detail = ev.items[0].detail.as_ref().expect("comment detail");
    assert!(detail["comment_id"].as_u64().is_some());
    assert!(detail["body"].as_str().is_some());
    assert!(
        keys(&Some(ev.clone()))[0].ends_with("#105"),
        "{:?}",
        keys(&Some(ev))
    );

    let ev = gh(
        "octocrab/installation_created_webhook_event.json",
        "installation",
    )
    .unwrap();
    assert!(
        keys(&ev)[0].starts_with("github:installation/"),
        "{:?}",
        keys(&ev)
    );
    assert_eq!(
        gh(
            "octokit-webhooks/pull_request/closed.payload.json",
            "pull_request"
        )
        .unwrap(),
        None
    );
}

/// A merged pull request and a merged MR, as the forges sent them, carry the merge the
/// evidence ledger records (a closed one that was not merged is not acted on, above).
#[test]
fn real_merge_events_carry_the_merge() {
    let Some(root) = fixtures_dir("gitlab-webhooks/webhooks") else {
        return;
    };
    let Some(Some(ev)) = gh("kodiak/pull_request/closed.json", "pull_request") else {
        panic!("kodiak's merged pull request is acted on");
    };
    let merge = sdl_gate::events::MergeDetail::of(ev.items[0].detail.as_ref()).expect("merge");
    assert_eq!(
        merge.merge_commit.as_deref(),
        Some("8ab1cfa67364e0cdd1f2d4ceafe6e0a96c3dfc7e")
    );
    assert_eq!(merge.merged_by.as_deref(), Some("kodiakhq[bot]"));
    assert_eq!(merge.merged_at.as_deref(), Some("2019-05-01T03:13:30Z"));
    assert_eq!(
        merge.head_sha.as_deref(),
        Some("61e583350f834739f02c8411a9b6f190a1d02724")
    );

    let payload = read_json(&root.join("jenkins-gitlab-plugin/MergeRequestEvent_merged.json"));
    let ev = gitlab::extract("Merge Request Hook", &payload)
        .expect("extract")
        .expect("a merged MR is acted on");
    let merge = sdl_gate::events::MergeDetail::of(ev.items[0].detail.as_ref()).expect("merge");
    assert_eq!(merge.merged_by.as_deref(), Some("root"));
    assert_eq!(merge.merged_at.as_deref(), Some("2013-12-03T17:23:34.123Z"));
}

#[test]
fn every_gitlab_webhook_fixture_is_a_work_item_or_not_acted_on() {
    let Some(root) = fixtures_dir("gitlab-webhooks/webhooks") else {
        return;
    };
    let mut files = Vec::new();
    walk(&root, &mut files);
    let (mut acted, mut ignored, mut refused) = (0, 0, 0);
    for path in &files {
        let payload = read_json(path);
        let event = gitlab_event_name(path, &payload);
        // go-gitlab's group merge-request fixture spells its keys with trailing spaces
        // ("iid "): a merge that names no MR cannot be recorded in the ledger, and the
        // delivery is refused naming the field rather than silently dropped.
        let unkeyable = path.ends_with("go-gitlab/group_merge_request.json");
        match gitlab::extract(&event, &payload) {
            Ok(Some(_)) if !unkeyable => acted += 1,
            Ok(None) if !unkeyable => ignored += 1,
            Err(e) if unkeyable => {
                assert!(e.to_string().contains("object_attributes.iid"), "{e}");
                refused += 1;
            }
            other => panic!("{} ({event}): {other:?}", path.display()),
        }
    }
    assert_eq!(refused, 1, "the one unkeyable merge fixture is refused");
    eprintln!("gitlab fixtures: {acted} acted on, {ignored} not acted on, {refused} refused");
    assert!(
        acted >= 10 && ignored >= 5,
        "acted {acted}, ignored {ignored}"
    );
}

#[test]
fn known_gitlab_fixtures_map_to_the_right_keys() {
    let Some(root) = fixtures_dir("gitlab-webhooks/webhooks") else {
        return;
    };
    let run =
        |rel: &str, event: &str| gitlab::extract(event, &read_json(&root.join(rel))).expect(rel);
    assert_eq!(
        keys(&run("go-gitlab/merge_request.json", "Merge Request Hook")),
        ["gitlab:gitlabhq/gitlab-test#1"]
    );
    assert_eq!(
        keys(&run(
            "go-gitlab/service_merge_request.json",
            "Merge Request Hook"
        )),
        ["gitlab:test/woodpecker#2"]
    );
    // No `project` in the Jenkins sample: the MR's target project keys it.
    assert_eq!(
        keys(&run(
            "jenkins-gitlab-plugin/MergeRequestEvent_approvedMR.json",
            "Merge Request Hook"
        )),
        ["gitlab:awesome_space/awesome_project#1"]
    );
    // A merge is acted on (for the evidence ledger): this one names no MR (its keys end in
    // spaces), so it is refused naming the field.
    let unkeyable = gitlab::extract(
        "Merge Request Hook",
        &read_json(&root.join("go-gitlab/group_merge_request.json")),
    )
    .expect_err("a merge without an iid is refused");
    assert!(
        unkeyable.to_string().contains("object_attributes.iid"),
        "{unkeyable}"
    );
    assert_eq!(
        keys(&run(
            "jenkins-gitlab-plugin/MergeRequestEvent_merged.json",
            "Merge Request Hook"
        ))
        .len(),
        1,
        "a merge with its iid is acted on"
    );
    let note = run("go-gitlab/note_merge_request.json", "Note Hook").expect("note on MR");
    assert_eq!(
        keys(&Some(note.clone())),
        ["gitlab:gitlab-org/gitlab-test#1"]
    );
    assert_eq!(note.items[0].detail.as_ref().unwrap()["note_id"], 1244);
    assert_eq!(
        keys(&run("go-gitlab/pipeline.json", "Pipeline Hook")),
        ["gitlab:gitlab-org/gitlab-test#1"]
    );
    assert_eq!(
        run("jenkins-gitlab-plugin/PipelineEvent.json", "Pipeline Hook"),
        None,
        "pipeline without MR"
    );
    assert_eq!(run("go-gitlab/push.json", "Push Hook"), None);
    assert_eq!(run("go-gitlab/job.json", "Job Hook"), None);
}
