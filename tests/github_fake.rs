//! The fake GitHub answers in GitHub's shapes: each answer of the fake is compared with a
//! recorded answer of the real API for the same endpoint (`../shared/fixtures/github-api`):
//! every field the real answer has, the fake has too, with the same JSON type (recursively,
//! nulls excepted). Skipped, with a message, when the fixtures are not there.

mod fake_forge;
mod fake_github;

use std::path::{Path, PathBuf};

use serde_json::Value;

use fake_github::{FakeGithub, INSTALLATION, PullBuilder, sha};

fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/github-api"
    ));
    dir.is_dir().then_some(dir)
}

/// A recorded body: the plain body files, or `response_body` of triagebot recordings.
fn recorded(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    if name.starts_with("triagebot/") {
        v["response_body"].clone()
    } else {
        v
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Fields recorded from the real API that the fake leaves out on purpose.
const NOT_MODELLED: &[&str] = &[
    // Newer optional fields, or ones sdl-gate never reads and GitHub marks optional.
    "reactions",
    "user_view_type",
    "starred_at",
    "email",
    "body_html",
    "body_text",
    "repositories",
    "topics",
];

fn compare(real: &Value, fake: &Value, at: &str, errors: &mut Vec<String>) {
    match (real, fake) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(r), Value::Object(f)) => {
            // `permissions` is a map of whichever permissions an App holds.
            if at.ends_with(".permissions") {
                return;
            }
            for (k, rv) in r {
                let here = format!("{at}.{k}");
                match f.get(k) {
                    Some(fv) => compare(rv, fv, &here, errors),
                    None if NOT_MODELLED.contains(&k.as_str()) => {}
                    // The repository object has ~80 URL template fields; the fake keeps
                    // the ones a client reads.
                    None if at.ends_with(".repo") || at.ends_with(".repository") => {}
                    None => errors.push(format!("{here} missing")),
                }
            }
        }
        (Value::Array(r), Value::Array(f)) => {
            if let (Some(r0), Some(f0)) = (r.first(), f.first()) {
                compare(r0, f0, &format!("{at}[0]"), errors);
            }
        }
        (r, f) if kind(r) != kind(f) => {
            errors.push(format!("{at}: real is {}, fake is {}", kind(r), kind(f)))
        }
        _ => {}
    }
}

async fn get(
    fake: &FakeGithub,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let client = TestClient::new();
    client.send(&fake.url, token, method, path, body).await
}

/// A minimal HTTP/1.1 client over a TCP stream, so this test depends on nothing the
/// product code uses.
struct TestClient;

impl TestClient {
    fn new() -> Self {
        TestClient
    }

    async fn send(
        &self,
        base: &str,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        );
        stream.write_all(req.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("http response");
        assert!(head.starts_with("HTTP/1.1 2"), "{method} {path}: {head}");
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"))
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

#[tokio::test]
async fn fake_answers_have_the_fields_and_types_of_recorded_github_answers() {
    let Some(dir) = fixtures() else {
        eprintln!("skipped: ../shared/fixtures/github-api is absent");
        return;
    };
    let fake = FakeGithub::start().await;
    let repo = "acme/widget";
    let head = sha(0xfeed);
    let mut pr = PullBuilder::new(repo, 1, "alice", &head)
        .file("README.md")
        .review("carol", "APPROVED", &head);
    pr.pull.labels = vec!["security".into()];
    pr.install(&fake);
    fake.ci_run(repo, &head, "CodeQL", "completed", Some("success"));
    fake.status(repo, &head, "ci/jenkins", "success");
    fake.team("acme", "security", &["carol"]);
    fake.human_comment(repo, 1, "bob", "hello");

    // A token the way the client gets one.
    let creds = sdl_gate::forge::github::auth::AppCredentials::from_pem(
        fake_github::APP_ID,
        secrecy::SecretString::from(fake_github::TEST_KEY_PEM),
    )
    .expect("key");
    let jwt = creds.jwt(chrono::Utc::now()).expect("jwt");
    let token_answer = get(
        &fake,
        secrecy::ExposeSecret::expose_secret(&jwt),
        "POST",
        &format!("/app/installations/{INSTALLATION}/access_tokens"),
        None,
    )
    .await;
    let token = token_answer["token"].as_str().expect("token").to_string();

    let run = get(&fake, &token, "POST", "/repos/acme/widget/check-runs", Some(serde_json::json!({
        "name": "sdl-gate", "head_sha": head, "status": "completed", "conclusion": "success",
        "external_id": "x", "details_url": "https://example.com",
        "output": {"title": "t", "summary": "s", "text": "x", "annotations": [
            {"path": "README.md", "start_line": 1, "end_line": 1, "annotation_level": "warning", "message": "m", "title": "t"}]}
    }))).await;
    let comment = get(
        &fake,
        &token,
        "POST",
        "/repos/acme/widget/issues/1/comments",
        Some(serde_json::json!({"body": "hi"})),
    )
    .await;
    let comment_id = comment["id"].as_u64().expect("id");

    let cases: Vec<(&str, Value)> = vec![
        (
            "hub4j-wiremock/GHCheckRunBuilderTest.createCheckRun.3-a_i_13064215_access_tokens.json",
            token_answer.clone(),
        ),
        (
            "triagebot/files__01-GET-repos_ehuss_triagebot-test_pulls_115.json",
            get(&fake, &token, "GET", "/repos/acme/widget/pulls/1", None).await,
        ),
        (
            "pygithub-replay/PullRequest.setUp.1.GET.json",
            get(&fake, &token, "GET", "/repos/acme/widget/pulls/1", None).await,
        ),
        (
            "triagebot/files__02-GET-repos_ehuss_triagebot-test_pulls_115_files.json",
            get(
                &fake,
                &token,
                "GET",
                "/repos/acme/widget/pulls/1/files",
                None,
            )
            .await,
        ),
        (
            "pygithub-replay/PullRequest.testGetFiles.0.GET.json",
            get(
                &fake,
                &token,
                "GET",
                "/repos/acme/widget/pulls/1/files",
                None,
            )
            .await,
        ),
        (
            "hub4j-wiremock/GHPullRequestTest.pullRequestReviews.7-r_h_g_pulls_482_reviews.json",
            get(
                &fake,
                &token,
                "GET",
                "/repos/acme/widget/pulls/1/reviews",
                None,
            )
            .await,
        ),
        (
            "pygithub-replay/PullRequestReview.testAttributes.0.GET.json",
            get(
                &fake,
                &token,
                "GET",
                "/repos/acme/widget/pulls/1/reviews",
                None,
            )
            .await,
        ),
        (
            "hub4j-wiremock/GHRepositoryTest.getCheckRuns.3-r_h_g_commits_78b9ff49_check-runs.json",
            get(
                &fake,
                &token,
                "GET",
                &format!("/repos/acme/widget/commits/{head}/check-runs"),
                None,
            )
            .await,
        ),
        (
            "octocrab/commit_check_runs.json",
            get(
                &fake,
                &token,
                "GET",
                &format!("/repos/acme/widget/commits/{head}/check-runs"),
                None,
            )
            .await,
        ),
        (
            "pygithub-replay/CommitCombinedStatus.setUp.0.GET.json",
            get(
                &fake,
                &token,
                "GET",
                &format!("/repos/acme/widget/commits/{head}/status"),
                None,
            )
            .await,
        ),
        (
            "hub4j-wiremock/AppTest.testMyTeamsShouldIncludeMyself.11-organizations_43133889_team_3522544_memberships_gsmet.json",
            get(
                &fake,
                &token,
                "GET",
                "/orgs/acme/teams/security/memberships/carol",
                None,
            )
            .await,
        ),
        (
            "triagebot/get_comments__02-GET-repos_ehuss_triagebot-test_issues_115_comments.json",
            get(
                &fake,
                &token,
                "GET",
                "/repos/acme/widget/issues/1/comments",
                None,
            )
            .await,
        ),
        (
            "triagebot/post_comment__02-POST-repos_ehuss_triagebot-test_issues_115_comments.json",
            comment.clone(),
        ),
        (
            "triagebot/edit_comment__03-PATCH-repos_ehuss_triagebot-test_issues_comments_1581325459.json",
            get(
                &fake,
                &token,
                "PATCH",
                &format!("/repos/acme/widget/issues/comments/{comment_id}"),
                Some(serde_json::json!({"body": "edited"})),
            )
            .await,
        ),
        (
            "hub4j-wiremock/GHCheckRunBuilderTest.createCheckRun.5-r_h_t_check-runs.json",
            run.clone(),
        ),
    ];
    let mut all = Vec::new();
    for (name, fake_answer) in &cases {
        let real = recorded(&dir, name);
        let mut errors = Vec::new();
        compare(&real, fake_answer, "$", &mut errors);
        for e in errors {
            all.push(format!("{name}: {e}"));
        }
    }
    assert!(
        all.is_empty(),
        "the fake differs from GitHub:\n{}",
        all.join("\n")
    );
    fake.assert_no_unknown();
}

#[tokio::test]
async fn unknown_routes_are_answered_599_and_recorded() {
    let fake = FakeGithub::start().await;
    let addr = fake.url.trim_start_matches("http://").to_string();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let req = format!(
        "GET /repos/acme/widget/pulls/1/commits HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 599"));
    let unknown = fake.state().unknown.clone();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].path, "/repos/acme/widget/pulls/1/commits");
    let panicked =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fake.assert_no_unknown()));
    assert!(panicked.is_err(), "assert_no_unknown must fail the test");
}
