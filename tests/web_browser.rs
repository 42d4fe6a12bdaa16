//! The pages as people use them, in a real browser (Debian's headless Chromium driven by
//! chromedriver): sign in through the fake GitHub's and the fake GitLab's OAuth pages, open a
//! change and a dashboard and check what they show, follow a release to its auditor report
//! and print it to a PDF whose text (`pdftotext`) carries the merged changes. A viewer without
//! access, a signed-out visitor, a forged cookie and an expired session see nothing.
//! Screenshots land in `target/screenshots/`.
//!
//! The service is the real router (`web::routes` beside the webhook routes) on loopback, its
//! store a real SQLite file holding a history written as the engine writes it.

mod browser;
mod fake_forge;
mod fake_github;
mod fake_gitlab;
mod pages_data;
mod service_support;

use std::path::Path;

use chrono::Utc;
use secrecy::SecretString;

use browser::{Browser, available, pdf_text};
use fake_github::FakeGithub;
use fake_gitlab::FakeGitlab;
use sdl_gate::forge_name::ForgeName;
use sdl_gate::server::{self, RunningService};
use sdl_gate::settings::{GitHubLogin, GitLabLogin};
use sdl_gate::store::Store;
use sdl_gate::web::auth::{Auth, AuthConfig, SessionKey};
use sdl_gate::web::{Web, routes};
use service_support::{Recorder, TestDb, config, fast_queue, open, sqlite_db};

const GH_REPO: &str = "acme/plant";
const GL_REPO: &str = "group/sub/app";

struct Site {
    base: String,
    svc: RunningService,
    store: Store,
    db: TestDb,
    _github: FakeGithub,
    _gitlab: FakeGitlab,
}

impl Site {
    async fn start() -> Site {
        let db = sqlite_db();
        let store = open(&db).await;
        let now = Utc::now();
        pages_data::seed(&store, ForgeName::GitHub, GH_REPO, now).await;
        pages_data::seed(&store, ForgeName::GitLab, GL_REPO, now).await;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let github = FakeGithub::start().await;
        github.oauth_app(
            "gh-client",
            "gh-secret",
            &format!("{base}/oauth/github/callback"),
        );
        github.collaborator(GH_REPO, "alice", "read");
        let gitlab = FakeGitlab::start().await;
        gitlab.oauth_app(
            "gl-client",
            "gl-secret",
            &format!("{base}/oauth/gitlab/callback"),
        );
        gitlab.member(GL_REPO, "gwen", 20);

        let mut auth = AuthConfig::new(Some(base.clone()), SessionKey::generate());
        auth.github = Some(GitHubLogin {
            client_id: "gh-client".into(),
            client_secret: SecretString::from("gh-secret"),
            oauth_url: github.url.clone(),
            api_url: github.url.clone(),
        });
        auth.gitlab = Some(GitLabLogin {
            client_id: "gl-client".into(),
            client_secret: SecretString::from("gl-secret"),
            url: gitlab.url.clone(),
        });
        let auth = Auth::new(auth, store.clone()).expect("auth");
        let mut cfg = config(fast_queue(), 1);
        cfg.pages = Some(routes(Web::new(store.clone(), auth, Vec::new())));
        let svc = server::start(listener, store.clone(), Recorder::new(), cfg).expect("start");
        Site {
            base,
            svc,
            store,
            db,
            _github: github,
            _gitlab: gitlab,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Signs in through a forge's OAuth page from a page that needs it; ends on that page.
async fn sign_in(b: &Browser, site: &Site, path: &str, provider: &str) {
    b.goto(&site.url(path)).await;
    assert!(
        b.url().await.starts_with(&site.url("/login")),
        "a signed-out visitor is sent to sign in, not shown {path}: {}",
        b.url().await
    );
    b.click_to_navigate(&format!("#login-{provider}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_and_see_the_evidence_of_their_repositories() {
    if let Err(why) = available() {
        eprintln!("skipping the browser tests: {why}");
        return;
    }
    let site = Site::start().await;
    site._github.set_oauth_user("alice");
    let b = Browser::start().await;

    // GitHub: the change page, through the OAuth flow.
    let change = "/changes/github/acme/plant/7";
    sign_in(&b, &site, change, "github").await;
    assert_eq!(
        b.url().await,
        site.url(change),
        "back on the page asked for"
    );
    let text = b.text().await;
    assert!(text.contains("signed in as alice"), "{text}");
    assert!(text.contains("Current verdict"), "{text}");
    assert!(text.contains("What unblocks it"), "{text}");
    assert!(
        text.contains("threat_model") && text.contains("SR-2"),
        "{text}"
    );
    assert!(text.contains("src/auth/login.rs:42"), "{text}");
    assert!(
        text.contains("<script>alert('x')</script>"),
        "the scanner's hostile message is shown as text: {text}"
    );
    assert_eq!(b.count("script").await, 0, "and runs nothing");
    assert_eq!(b.count("main img").await, 0, "and draws nothing");
    assert_eq!(
        b.count("#ledger tbody tr").await,
        2,
        "two ledger entries of #7"
    );
    let cookies = b.cookies().await;
    let session = cookies
        .iter()
        .find(|c| c["name"] == "sdl_gate_session")
        .unwrap_or_else(|| panic!("a session cookie: {cookies:?}"));
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Lax");
    b.screenshot("change-page").await;

    // The dashboard, its charts, and the release's report printed to PDF.
    b.goto(&site.url("/repos/github/acme/plant")).await;
    let text = b.text().await;
    assert!(text.contains("Blocked now"), "{text}");
    assert_eq!(b.count("#blocked tbody tr").await, 1, "only #7 is blocked");
    assert_eq!(b.count("#bypassed tbody tr").await, 1, "only #9 bypassed");
    assert!(
        b.count("#verdict-chart rect").await >= 2,
        "verdicts are drawn"
    );
    assert!(
        b.count("#coverage-chart rect.covered").await >= 1,
        "coverage is drawn"
    );
    assert_eq!(
        b.count("#expiring tbody tr").await,
        1,
        "#10's waiver ends this week"
    );
    b.screenshot("dashboard").await;
    b.click_to_navigate("#releases tbody tr a").await;
    assert!(
        b.url()
            .await
            .ends_with("/repos/github/acme/plant/-/releases/v1.0"),
        "{}",
        b.url().await
    );
    let report = b.text().await;
    assert!(report.contains("v1.0"), "{report}");
    b.screenshot("release-report").await;
    let pdf = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots/release-report.pdf");
    b.print_pdf(&pdf).await;
    let printed = pdf_text(&pdf);
    for n in ["Change 8:", "Change 9:", "Change 10:"] {
        assert!(printed.contains(n), "the PDF carries merge {n}:\n{printed}");
    }
    assert!(
        printed.contains("BYPASSED"),
        "and says the bypass:\n{printed}"
    );
    let bypass_at = printed.find("Change 9:").unwrap_or(usize::MAX);
    let green_at = printed.find("Change 8:").unwrap_or(0);
    assert!(
        bypass_at < green_at,
        "bypassed merges come first:\n{printed}"
    );

    // A repository alice may not read answers exactly like one that does not exist.
    b.goto(&site.url("/repos/gitlab/group/sub/app")).await;
    let hidden = b.source().await;
    b.goto(&site.url("/repos/github/acme/nothing-here")).await;
    let missing = b.source().await;
    assert!(hidden.contains("Not found"), "{hidden}");
    assert_eq!(
        hidden, missing,
        "no difference between forbidden and absent"
    );

    // A forged cookie and an expired session are nobody.
    b.set_cookie(
        "sdl_gate_session",
        "forged.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .await;
    b.goto(&site.url(change)).await;
    assert!(
        b.url().await.starts_with(&site.url("/login")),
        "forged → sign in"
    );
    assert!(!b.text().await.contains("threat_model"));
    sign_in(&b, &site, change, "github").await;
    assert_eq!(b.url().await, site.url(change));
    expire_sessions(&site).await;
    b.goto(&site.url(change)).await;
    assert!(
        b.url().await.starts_with(&site.url("/login")),
        "expired → sign in"
    );

    // Signed out: nothing.
    b.clear_cookies().await;
    b.goto(&site.url("/repos/github/acme/plant")).await;
    assert!(b.url().await.starts_with(&site.url("/login")));
    assert!(!b.source().await.contains("Blocked now"));
    b.quit().await;
    site.svc.shutdown().await;
}

/// Ends every session now, as time would.
async fn expire_sessions(site: &Site) {
    let pool = sqlx::SqlitePool::connect(&site.db.url).await.expect("db");
    sqlx::query("UPDATE web_sessions SET expires_at = 0")
        .execute(&pool)
        .await
        .expect("expire");
    pool.close().await;
    let _ = &site.store;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_members_sign_in_and_others_see_nothing() {
    if let Err(why) = available() {
        eprintln!("skipping the browser tests: {why}");
        return;
    }
    let site = Site::start().await;
    let b = Browser::start().await;

    site._gitlab.set_oauth_user("gwen");
    let change = "/changes/gitlab/group/sub/app/9";
    sign_in(&b, &site, change, "gitlab").await;
    assert_eq!(b.url().await, site.url(change));
    let text = b.text().await;
    assert!(text.contains("signed in as gwen"), "{text}");
    assert!(text.contains("BYPASSED"), "#9 was merged failing: {text}");
    b.screenshot("gitlab-change-page").await;
    b.goto(&site.url("/repos/gitlab/group/sub/app")).await;
    assert_eq!(b.count("#blocked tbody tr").await, 1);
    b.quit().await;

    // mallory signs in to GitLab but is no member: the project is not found.
    let b = Browser::start().await;
    site._gitlab.set_oauth_user("mallory");
    sign_in(&b, &site, change, "gitlab").await;
    let text = b.text().await;
    assert!(text.contains("Not found"), "{text}");
    assert!(!text.contains("BYPASSED"), "{text}");
    assert!(text.contains("signed in as mallory"), "{text}");
    b.screenshot("gitlab-no-access").await;
    b.quit().await;
    site.svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_auditor_signs_in_with_a_token_and_reads_only_its_repository() {
    if let Err(why) = available() {
        eprintln!("skipping the browser tests: {why}");
        return;
    }
    let site = Site::start().await;
    let scope = sdl_gate::web::auth::RepoScope::parse("github:acme/plant").expect("scope");
    let made = sdl_gate::web::auth::auditor::create(
        &site.store,
        &[scope],
        Utc::now() + chrono::Duration::days(30),
        "ISASecure SDLA audit 2027",
    )
    .await
    .expect("token");
    let b = Browser::start().await;
    let report = "/repos/github/acme/plant/-/releases/v1.0";
    b.goto(&site.url(report)).await;
    assert!(b.url().await.starts_with(&site.url("/login")));
    b.fill("#auditor-token", &made.token).await;
    b.click_to_navigate("form.login button[type=submit]").await;
    assert_eq!(
        b.url().await,
        site.url(report),
        "the form returns to the report"
    );
    let text = b.text().await;
    assert!(text.contains("BYPASSED"), "{text}");
    assert!(!text.contains(&made.token), "the token is never shown back");
    b.screenshot("auditor-report").await;

    b.goto(&site.url("/repos/gitlab/group/sub/app")).await;
    assert!(
        b.text().await.contains("Not found"),
        "a repository outside the token is not found"
    );

    assert!(
        site.store
            .revoke_auditor_token(made.id)
            .await
            .expect("revoke"),
        "revoked"
    );
    b.goto(&site.url(report)).await;
    assert!(
        b.url().await.starts_with(&site.url("/login")),
        "a revoked token's session ends: {}",
        b.url().await
    );
    b.quit().await;
    site.svc.shutdown().await;
}
