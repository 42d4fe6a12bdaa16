//! The GitHub App manifest (`config/github-app-manifest.json`, for GitHub's manifest
//! creation flow) asks for exactly what the code needs: every REST operation the App calls
//! is covered by a permission it requests at the level the operation needs, nothing more is
//! requested, and its events are exactly the ones the webhook handler acts on (checked with
//! the product's own event extractor on GitHub's example payloads when they are present).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

fn manifest() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/github-app-manifest.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The REST operations the App calls (src/forge/github: snapshot, publish, auth) and the
/// App permission each needs, per GitHub's "Permissions required for GitHub Apps".
const OPERATIONS: &[(&str, &str, &str)] = &[
    ("GET /repos/{o}/{r}/pulls/{n}", "pull_requests", "read"),
    (
        "GET /repos/{o}/{r}/pulls/{n}/files",
        "pull_requests",
        "read",
    ),
    (
        "GET /repos/{o}/{r}/pulls/{n}/reviews",
        "pull_requests",
        "read",
    ),
    (
        "GET /repos/{o}/{r}/pulls?state=open (reconciliation)",
        "pull_requests",
        "read",
    ),
    (
        "GET /repos/{o}/{r}/contents/{path}?ref=",
        "contents",
        "read",
    ),
    (
        "GET /repos/{o}/{r}/commits/{sha}/check-runs",
        "checks",
        "read",
    ),
    ("POST /repos/{o}/{r}/check-runs", "checks", "write"),
    ("PATCH /repos/{o}/{r}/check-runs/{id}", "checks", "write"),
    (
        "GET /repos/{o}/{r}/commits/{sha}/status",
        "statuses",
        "read",
    ),
    ("GET /repos/{o}/{r}/issues/{n}/comments", "issues", "read"),
    ("POST /repos/{o}/{r}/issues/{n}/comments", "issues", "write"),
    (
        "PATCH /repos/{o}/{r}/issues/comments/{id}",
        "issues",
        "write",
    ),
    (
        "GET /orgs/{org}/teams/{team}/memberships/{user}",
        "members",
        "read",
    ),
    (
        "GET /repos/{o}/{r}/code-scanning/alerts?ref= (gates.sast.code_scanning)",
        "security_events",
        "read",
    ),
    (
        "GET /repos/{o}/{r}/code-scanning/analyses?ref= (is code scanning's newest analysis of the head?)",
        "security_events",
        "read",
    ),
    (
        "GET /repos/{o}/{r}/git/commits/{sha} (does an analysed merge commit contain the head?)",
        "contents",
        "read",
    ),
    (
        "GET /repos/{o}/{r}/git/ref/tags/{tag} (the commit a release made from a branch names)",
        "contents",
        "read",
    ),
    (
        "GET /repos/{o}/{r}/git/tags/{sha} (an annotated tag's commit)",
        "contents",
        "read",
    ),
    (
        "GET /installation/repositories (reconciliation)",
        "metadata",
        "read",
    ),
    (
        "GET /repos/{o}/{r}/commits/{sha}/pulls (status fan-out)",
        "pull_requests",
        "read",
    ),
    (
        "GET /repos/{o}/{r}/collaborators/{user}/permission (who may waive)",
        "metadata",
        "read",
    ),
    (
        "POST /repos/{o}/{r}/issues/comments/{id}/reactions (command acknowledgements)",
        "issues",
        "write",
    ),
    (
        "GET /repos/{o}/{r}/compare/{base}...{head} (a merge group's commits and files; an approved commit's patch)",
        "contents",
        "read",
    ),
];

/// Events an App receives only with a permission, beside the calls: GitHub delivers
/// `merge_group` to an App with at least read access to "Merge queues".
const EVENT_PERMISSIONS: &[(&str, &str, &str)] = &[("merge_group", "merge_queues", "read")];

/// Calls made with the App's own JWT, which need no installation permission.
const APP_JWT_OPERATIONS: &[&str] = &[
    "GET /app",
    "GET /app/installations",
    "POST /app/installations/{installation}/access_tokens",
];

/// `GET /repos/{o}/{r}/pulls?state=open (note)` → `/repos/{}/{}/pulls`: the path alone, with
/// every placeholder written `{}`, so the table and the code's format strings compare.
fn path_shape(text: &str) -> String {
    let path = text.split(' ').find(|w| w.starts_with('/')).unwrap_or(text);
    let path = path.split('?').next().unwrap_or(path);
    let mut out = String::new();
    let mut in_placeholder = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_placeholder = true;
                out.push_str("{}");
            }
            '}' => in_placeholder = false,
            _ if !in_placeholder => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn every_path_the_github_client_formats_is_in_the_operation_table() {
    // The table above is only as good as its coverage: read the GitHub client's sources for
    // the REST paths they call (string literals under `/repos/`, `/orgs/`, `/app` and
    // `/installation/`) and require each one to be listed, so a new call cannot slip past
    // the permission check.
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src/forge/github"));
    let listed: BTreeSet<String> = OPERATIONS
        .iter()
        .map(|(op, _, _)| *op)
        .chain(APP_JWT_OPERATIONS.iter().copied())
        .map(path_shape)
        .collect();
    let mut found = BTreeSet::new();
    let mut unlisted = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .path();
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (n, line) in text.lines().enumerate() {
            for literal in line.split('"').skip(1).step_by(2) {
                // Repository and organisation paths are formatted with placeholders; ones
                // without are the sources' own test values.
                let templated = ["/repos/", "/orgs/"].iter().any(|r| literal.starts_with(r))
                    && literal.contains('{');
                let app = ["/app", "/installation/"]
                    .iter()
                    .any(|r| literal.starts_with(r));
                if !templated && !app {
                    continue;
                }
                let shape = path_shape(literal);
                if !listed.contains(&shape) {
                    unlisted.push(format!("{}:{}: {literal}", path.display(), n + 1));
                }
                found.insert(shape);
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "REST paths the GitHub client calls that the operation table lacks (add each with the \
         permission it needs): {unlisted:#?}"
    );
    // And the table lists nothing the code no longer calls.
    let stale: Vec<&String> = listed.difference(&found).collect();
    assert!(stale.is_empty(), "operations no code calls: {stale:?}");
}

fn level(l: &str) -> u8 {
    match l {
        "read" => 1,
        "write" => 2,
        "admin" => 3,
        other => panic!("unknown permission level {other}"),
    }
}

#[test]
fn the_manifest_requests_what_the_operations_need_and_nothing_more() {
    let m = manifest();
    let granted: BTreeMap<String, String> = m["default_permissions"]
        .as_object()
        .unwrap_or_else(|| panic!("default_permissions is not an object"))
        .iter()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .unwrap_or_else(|| panic!("default_permissions.{k} is not a string"));
            (k.clone(), v.to_string())
        })
        .collect();
    let mut needed: BTreeMap<&str, &str> = BTreeMap::new();
    for (op, perm, lvl) in OPERATIONS {
        let have = granted
            .get(*perm)
            .unwrap_or_else(|| panic!("{op} needs {perm}: {lvl}, which the manifest lacks"));
        assert!(
            level(have) >= level(lvl),
            "{op} needs {perm}: {lvl}, the manifest grants {have}"
        );
        let e = needed.entry(perm).or_insert(lvl);
        if level(lvl) > level(e) {
            *e = lvl;
        }
    }
    let events = m["default_events"].as_array().cloned().unwrap_or_default();
    for (event, perm, lvl) in EVENT_PERMISSIONS {
        if events.iter().any(|e| e == event) {
            let have = granted.get(*perm).unwrap_or_else(|| {
                panic!("the {event} event needs {perm}: {lvl}, which the manifest lacks")
            });
            assert!(level(have) >= level(lvl), "{event} needs {perm}: {lvl}");
            let e = needed.entry(perm).or_insert(lvl);
            if level(lvl) > level(e) {
                *e = lvl;
            }
        }
    }
    let needed: BTreeMap<String, String> = needed
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        granted, needed,
        "least privilege: exactly what the calls need"
    );
    assert_eq!(m["public"], Value::Bool(false), "a private App");
    for field in ["name", "url", "redirect_url"] {
        assert!(m[field].is_string(), "{field} missing");
    }
    assert!(
        m["hook_attributes"]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/webhooks/github")),
        "hook_attributes.url must point at the service's GitHub webhook route"
    );
    assert!(
        m["callback_urls"].as_array().is_some_and(|urls| urls
            .iter()
            .filter_map(Value::as_str)
            .any(|u| u.ends_with("/oauth/github/callback"))),
        "callback_urls must hold the pages' sign-in callback (the route web::auth serves)"
    );
}

/// Subscribed events the fixtures hold no example of, with a minimal delivery of each.
fn without_recorded_example() -> Vec<(&'static str, Value)> {
    vec![
        (
            "code_scanning_alert",
            serde_json::json!({"action": "closed_by_user", "ref": "", "commit_oid": "",
                               "alert": {"number": 1, "state": "dismissed"},
                               "repository": {"full_name": "o/r", "default_branch": "main"}}),
        ),
        (
            "merge_group",
            serde_json::json!({"action": "checks_requested",
                               "merge_group": {"head_sha": "a".repeat(40), "base_sha": "b".repeat(40),
                                               "head_ref": "refs/heads/gh-readonly-queue/main/pr-1-x",
                                               "base_ref": "refs/heads/main"},
                               "repository": {"full_name": "o/r", "default_branch": "main"}}),
        ),
        (
            "release",
            serde_json::json!({"action": "published",
                               "release": {"tag_name": "v1.0.0", "target_commitish": "main"},
                               "repository": {"full_name": "o/r", "default_branch": "main"}}),
        ),
    ]
}

/// Events GitHub delivers to every App without a subscription (and rejects in
/// `default_events`).
const ALWAYS_SENT: &[&str] = &["installation", "installation_repositories"];

#[test]
fn the_manifest_subscribes_to_the_events_the_service_acts_on() {
    let m = manifest();
    let listed: BTreeSet<String> = m["default_events"]
        .as_array()
        .unwrap_or_else(|| panic!("default_events is not a list"))
        .iter()
        .map(|e| {
            e.as_str()
                .unwrap_or_else(|| panic!("default_events holds a non-string"))
                .to_string()
        })
        .collect();
    for e in ALWAYS_SENT {
        assert!(
            !listed.contains(*e),
            "{e} is always sent; GitHub rejects it in a manifest"
        );
    }
    let expected: BTreeSet<String> = [
        "pull_request",
        "pull_request_review",
        "issue_comment",
        "check_run",
        "check_suite",
        "status",
        "push",
        "code_scanning_alert",
        "release",
        "merge_group",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(listed, expected);

    // Each listed event is one the product acts on, by its own extractor, on GitHub's
    // example payloads; and every event it acts on is listed (or always sent).
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/github-webhooks/octokit-webhooks"
    ));
    if !dir.is_dir() {
        eprintln!("skipped the payload half: {} is absent", dir.display());
        return;
    }
    let mut acted: BTreeSet<String> = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let event = entry.file_name().to_string_lossy().into_owned();
        if !entry.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(entry.path()).unwrap_or_else(|e| panic!("{event}: {e}")) {
            let path = file.unwrap_or_else(|e| panic!("{event}: {e}")).path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut payload: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if let Ok(Some(_)) = sdl_gate::events::github::extract(&event, &payload) {
                acted.insert(event.clone());
            }
            // The examples comment on issues; a comment on a pull request is the same
            // payload with `issue.pull_request` set.
            if event == "issue_comment"
                && let Some(issue) = payload.get_mut("issue").and_then(Value::as_object_mut)
            {
                issue.insert(
                    "pull_request".into(),
                    serde_json::json!({"url": "https://api.github.com/repos/o/r/pulls/1"}),
                );
                if let Ok(Some(_)) = sdl_gate::events::github::extract(&event, &payload) {
                    acted.insert(event.clone());
                }
            }
        }
    }
    // Events with no recorded example: a minimal delivery of each (the full ones are built in
    // tests/github_scenarios.rs and checked against GitHub's webhook schema there).
    for (event, payload) in without_recorded_example() {
        assert!(
            !dir.join(event).exists(),
            "{event} now has recorded examples: drop it from without_recorded_example()"
        );
        if let Ok(Some(_)) = sdl_gate::events::github::extract(event, &payload) {
            acted.insert(event.to_string());
        }
    }
    for e in &listed {
        assert!(
            acted.contains(e),
            "{e} is subscribed but no example payload is acted on"
        );
    }
    for e in &acted {
        assert!(
            listed.contains(e) || ALWAYS_SENT.contains(&e.as_str()),
            "the service acts on {e} but the manifest does not subscribe to it"
        );
    }
}
