//! `POST /graphql` on the fake GitHub: sdl-gate's one query (`SdlGateEvaluation`) answered
//! from the fake's state, and every query document validated against GitHub's published
//! GraphQL schema (`@octokit/graphql-schema`) by graphql-core, the Python port of the
//! reference implementation (`tests/real-tools/graphql_validate.py`).
//!
//! - `SDL_GATE_GITHUB_GRAPHQL_SCHEMA`: the schema's SDL (`bash .ci/graphql-schema.sh`);
//! - `SDL_GATE_GRAPHQL_PYTHON`: a python with graphql-core (`bash tests/real-tools/graphql.sh`;
//!   default `python3`).
//!
//! Outside CI, a missing schema or graphql-core skips the check with a printed reason; under
//! `CI=true` it is a violation. The verdict per query text is kept for the test process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Answer, State, bad_credentials};

/// The schema's path, from `SDL_GATE_GITHUB_GRAPHQL_SCHEMA` or the CI cache.
fn schema_path() -> std::path::PathBuf {
    match std::env::var_os("SDL_GATE_GITHUB_GRAPHQL_SCHEMA") {
        Some(p) if !p.is_empty() => p.into(),
        _ => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
            ".ci/cache/octokit-graphql-schema/node_modules/@octokit/graphql-schema/schema.graphql",
        ),
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

static VERDICTS: OnceLock<Mutex<HashMap<String, Result<(), String>>>> = OnceLock::new();

/// Whether `query` is valid against GitHub's schema: `Err` lists graphql-core's errors (or,
/// under CI, why it could not be checked). Run once per query text per process; blocking.
pub fn validate(query: &str) -> Result<(), String> {
    let cache = VERDICTS.get_or_init(Default::default);
    if let Some(v) = cache.lock().ok().and_then(|c| c.get(query).cloned()) {
        return v;
    }
    let verdict = run_validator(query);
    if let Ok(mut c) = cache.lock() {
        c.insert(query.to_string(), verdict.clone());
    }
    verdict
}

fn run_validator(query: &str) -> Result<(), String> {
    use std::io::Write as _;
    let schema = schema_path();
    let skip = |why: String| {
        if in_ci() {
            Err(format!(
                "GitHub's GraphQL schema check is required under CI=true: {why}"
            ))
        } else {
            eprintln!("note: the GraphQL query is not checked against GitHub's schema: {why}");
            Ok(())
        }
    };
    if !schema.is_file() {
        return skip(format!(
            "{} is missing (run `bash .ci/graphql-schema.sh`)",
            schema.display()
        ));
    }
    let python = std::env::var("SDL_GATE_GRAPHQL_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/real-tools/graphql_validate.py");
    let child = std::process::Command::new(&python)
        .arg(&script)
        .arg(&schema)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return skip(format!("cannot run {python}: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(query.as_bytes());
    }
    let out = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => return skip(format!("{python} failed: {e}")),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            eprintln!(
                "GraphQL query checked against GitHub's schema ({}): valid",
                schema.display()
            );
            Ok(())
        }
        Some(1) if stderr.trim().is_empty() => Err(format!(
            "the query breaks GitHub's GraphQL schema: {}",
            String::from_utf8_lossy(&out.stdout).trim()
        )),
        _ if stderr.contains("ModuleNotFoundError") => skip(format!(
            "graphql-core is not installed for {python} (run `bash tests/real-tools/graphql.sh`)"
        )),
        _ => Err(format!("the schema check failed: {}", stderr.trim())),
    }
}

/// GraphQL's name for a login: a bot is `name`, not REST's `name[bot]`.
fn actor(login: &str) -> Value {
    match login.strip_suffix("[bot]") {
        Some(bot) => json!({"__typename": "Bot", "login": bot}),
        None => json!({"__typename": "User", "login": login}),
    }
}

/// The answer to `POST /graphql`; `None` (unknown) for any other operation.
pub(super) fn route(st: &mut State, auth: &str, body: &Option<Value>) -> Option<Answer> {
    let token = auth.strip_prefix("Bearer ").unwrap_or("");
    if !st.tokens.contains(token) {
        return Some(bad_credentials());
    }
    if st.graphql_rate_limited > 0 {
        st.graphql_rate_limited -= 1;
        let reset = chrono::Utc::now().timestamp() + 90;
        return Some(Answer {
            status: StatusCode::OK,
            body: json!({"errors": [{"type": "RATE_LIMITED",
                "message": "API rate limit exceeded for installation ID 777."}]}),
            headers: vec![
                ("x-ratelimit-limit".into(), "5000".into()),
                ("x-ratelimit-remaining".into(), "0".into()),
                ("x-ratelimit-used".into(), "5000".into()),
                ("x-ratelimit-resource".into(), "graphql".into()),
                ("x-ratelimit-reset".into(), reset.to_string()),
            ],
        });
    }
    let body = body.as_ref()?;
    if body.get("operationName").and_then(Value::as_str) != Some("SdlGateEvaluation") {
        return None;
    }
    let vars = body.get("variables")?;
    let var = |k: &str| {
        vars.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let full = format!("{}/{}", var("owner"), var("name"));
    let number = vars.get("number").and_then(Value::as_u64).unwrap_or(0);
    let paths = [var("policy0"), var("policy1"), var("policy2")];
    let rate = json!({"cost": 1, "remaining": 4999, "resetAt": "2026-12-31T00:00:00Z"});
    // The organisation's policy: `orgPolicy: repository(owner: $owner, name: $orgRepo)`, its
    // default branch (`main` in the fake, as its REST contents read) and `file(path:
    // $orgPolicy)`. A repository the fake does not have is `null` with a `NOT_FOUND` error at
    // `orgPolicy`, as GitHub answers for one that does not exist or is outside the installation.
    let org_full = format!("{}/{}", var("owner"), var("orgRepo"));
    let (org_policy, org_errors) = match st.repos.get(&org_full) {
        None => (
            Value::Null,
            vec![json!({"type": "NOT_FOUND", "path": ["orgPolicy"],
                "locations": [{"line": 3, "column": 3}],
                "message": format!("Could not resolve to a Repository with the name '{org_full}'.")})],
        ),
        Some(org) => {
            let file = match org
                .contents
                .get("main")
                .and_then(|files| files.get(&var("orgPolicy")))
            {
                Some(bytes) => {
                    let text = String::from_utf8(bytes.clone()).ok();
                    json!({"type": "blob", "mode": 0o100644, "object": {
                        "__typename": "Blob", "isBinary": text.is_none(),
                        "isTruncated": bytes.len() > 512 * 1024,
                        "byteSize": bytes.len(),
                        "text": text
                    }})
                }
                None => Value::Null,
            };
            (
                json!({"defaultBranchRef": {"target": {"__typename": "Commit", "file": file}}}),
                Vec::new(),
            )
        }
    };
    let not_found = |what: &str, path: Value| -> Answer {
        (
            StatusCode::OK,
            json!({"data": {"rateLimit": rate, "orgPolicy": null, "repository": null},
                   "errors": [{"type": "NOT_FOUND", "path": path, "locations": [{"line": 3, "column": 3}],
                               "message": format!("Could not resolve to a {what}.")}]}),
        )
            .into()
    };
    let Some(repo) = st.repos.get(&full) else {
        return Some(not_found("Repository", json!(["repository"])));
    };
    let Some(p) = repo.pulls.get(&number) else {
        return Some(not_found(
            "PullRequest",
            json!(["repository", "pullRequest"]),
        ));
    };
    let comments = repo.comments.iter().filter(|c| c.issue == number).count();
    let policy = |i: usize| -> Value {
        match repo
            .contents
            .get(&p.base_ref)
            .and_then(|files| files.get(&paths[i]))
        {
            Some(bytes) => {
                let text = String::from_utf8(bytes.clone()).ok();
                json!({"type": "blob", "object": {
                    "__typename": "Blob", "isBinary": text.is_none(),
                    // GitHub truncates blob text at 512 KB.
                    "isTruncated": bytes.len() > 512 * 1024,
                    "text": text
                }})
            }
            None => Value::Null,
        }
    };
    let base_ref = json!({"target": {"__typename": "Commit", "policy0": policy(0), "policy1": policy(1), "policy2": policy(2)}});
    let reviews: Vec<Value> = p
        .reviews
        .iter()
        .take(100)
        .map(|r| {
            json!({"author": actor(&r.user), "state": r.state, "commit": {"oid": r.commit_id},
                   "submittedAt": super::ts(r.submitted_at)})
        })
        .collect();
    // The head's latest run per (app, name), grouped in one suite per app.
    let mut latest: BTreeMap<(u64, String), &super::CheckRunRec> = BTreeMap::new();
    for r in repo.check_runs.iter().filter(|r| r.head_sha == p.head_sha) {
        let e = latest.entry((r.app_id, r.name.clone())).or_insert(r);
        if r.id > e.id {
            *e = r;
        }
    }
    let mut suites: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    for r in latest.values() {
        suites.entry(r.app_id).or_default().push(json!({
            "databaseId": r.id, "name": r.name, "status": r.status.to_ascii_uppercase(),
            "conclusion": r.conclusion.as_ref().map(|c| c.to_ascii_uppercase()),
            "externalId": r.external_id, "title": r.title, "summary": r.summary,
            "text": r.text, "detailsUrl": r.details_url
        }));
    }
    let suites: Vec<Value> = suites
        .into_iter()
        .map(|(app, runs)| {
            let n = runs.len();
            json!({"app": {"databaseId": app}, "checkRuns": {"totalCount": n, "nodes": runs.into_iter().take(100).collect::<Vec<_>>()}})
        })
        .collect();
    let head_repository = match &p.head_repo {
        Some(fork) => json!({"nameWithOwner": fork}),
        None => json!({"nameWithOwner": full}),
    };
    let merged = p.state == "merged";
    let pr = json!({
        "title": p.title, "body": p.body.clone().unwrap_or_default(), "isDraft": p.draft,
        "state": if p.state == "open" { "OPEN" } else if merged { "MERGED" } else { "CLOSED" },
        "author": actor(&p.author),
        "labels": {"totalCount": p.labels.len(), "nodes": p.labels.iter().take(100).map(|l| json!({"name": l})).collect::<Vec<_>>()},
        "headRefOid": p.head_sha, "headRefName": p.head_ref, "baseRefName": p.base_ref,
        "headRepository": head_repository,
        "changedFiles": p.files.len(),
        "comments": {"totalCount": comments},
        "mergeCommit": null,
        "potentialMergeCommit": {"oid": super::test_merge_sha(&p.base_sha, &p.head_sha)},
        "baseRef": base_ref,
        "reviews": {"totalCount": p.reviews.len(), "nodes": reviews},
        "commits": {"nodes": [{"commit": {"oid": p.head_sha, "checkSuites": {"totalCount": suites.len(), "nodes": suites}}}]}
    });
    Some(
        (
            StatusCode::OK,
            if org_errors.is_empty() {
                json!({"data": {"rateLimit": rate, "orgPolicy": org_policy, "repository": {"pullRequest": pr}}})
            } else {
                json!({"data": {"rateLimit": rate, "orgPolicy": org_policy, "repository": {"pullRequest": pr}},
                       "errors": org_errors})
            },
        )
            .into(),
    )
}
