//! Sign-in and access for the pages, over real HTTP on loopback: the service's own routes,
//! the fake GitHub's and fake GitLab's OAuth flows (a test-chosen user approves), a cookie
//! jar kept by hand so every `Set-Cookie` flag is seen, redirects followed one by one.
//! Everything that is not a clean sign-in must leave the visitor signed out.

mod fake_forge;
mod fake_github;
mod fake_gitlab;
mod service_support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method};
use fake_github::{FakeGithub, FaultKind};
use fake_gitlab::FakeGitlab;
use sdl_gate::forge_name::ForgeName;
use sdl_gate::server::RunningService;
use sdl_gate::settings::{GitHubLogin, GitLabLogin};
use sdl_gate::web::auth::{Auth, AuthConfig, SessionKey, ViewerKind};
use secrecy::SecretString;
use service_support::*;
use sha2::Digest;

const GH_CLIENT: &str = "Iv1.fake-client";
const GH_SECRET: &str = "gh-client-secret";
const GL_CLIENT: &str = "gl-app-id";
const GL_SECRET: &str = "gl-app-secret";

/// The cookies a browser would keep, by name.
#[derive(Default, Clone)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    /// Takes the response's `Set-Cookie` headers (`Max-Age=0` deletes); returns them raw.
    fn take(&mut self, r: &reqwest::Response) -> Vec<String> {
        let mut raw = Vec::new();
        for v in r.headers().get_all("set-cookie") {
            let line = v.to_str().expect("ascii cookie").to_owned();
            let pair = line.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').expect("name=value");
            if line.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
            raw.push(line);
        }
        raw
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if !self.0.is_empty() {
            h.insert(
                "cookie",
                HeaderValue::from_str(&self.header()).expect("header"),
            );
        }
        h
    }
}

struct Harness {
    base: String,
    auth: Auth,

    github: FakeGithub,
    gitlab: FakeGitlab,
    http: reqwest::Client,
    svc: Option<RunningService>,
    db: TestDb,
}

impl Harness {
    async fn start() -> Harness {
        Harness::start_with(sqlite_db(), None).await
    }

    /// The service on a fresh port with both sign-ins against the fakes; `public` overrides
    /// the public URL (the address it listens on by default).
    async fn start_with(db: TestDb, public: Option<&str>) -> Harness {
        let github = FakeGithub::start().await;
        let gitlab = FakeGitlab::start().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let public = public.map_or_else(|| base.clone(), str::to_owned);
        github.oauth_app(
            GH_CLIENT,
            GH_SECRET,
            &format!("{public}/oauth/github/callback"),
        );
        gitlab.oauth_app(
            GL_CLIENT,
            GL_SECRET,
            &format!("{public}/oauth/gitlab/callback"),
        );
        let store = open(&db).await;
        let mut auth_config = AuthConfig::new(Some(public), SessionKey::generate());
        auth_config.github = Some(GitHubLogin {
            client_id: GH_CLIENT.into(),
            client_secret: SecretString::from(GH_SECRET),
            oauth_url: github.url.clone(),
            api_url: github.url.clone(),
        });
        auth_config.gitlab = Some(GitLabLogin {
            client_id: GL_CLIENT.into(),
            client_secret: SecretString::from(GL_SECRET),
            url: gitlab.url.clone(),
        });
        let auth = Auth::new(auth_config, store.clone()).expect("auth");
        let mut config = config(fast_queue(), 1);
        config.pages = Some(auth.routes());
        let svc = sdl_gate::server::start(listener, store.clone(), Recorder::new(), config)
            .expect("start");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Harness {
            base,
            auth,

            github,
            gitlab,
            http,
            svc: Some(svc),
            db,
        }
    }

    async fn get(&self, url: &str, jar: &Jar) -> reqwest::Response {
        let url = if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_owned()
        };
        let mut req = self.http.get(url);
        if !jar.0.is_empty() {
            req = req.header("cookie", jar.header());
        }
        req.send().await.expect("request")
    }

    async fn post_form(
        &self,
        path: &str,
        jar: &Jar,
        origin: Option<&str>,
        body: &str,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if !jar.0.is_empty() {
            req = req.header("cookie", jar.header());
        }
        req.send().await.expect("request")
    }

    /// Starts a sign-in and lets the fake forge approve it: the jar holds the pre-login
    /// cookie, and the callback address the forge sent the browser back to is returned.
    async fn approve(&self, forge: &str, next: &str, jar: &mut Jar) -> String {
        let r = self
            .get(&format!("/login/{forge}?next={}", enc(next)), jar)
            .await;
        assert_eq!(r.status(), 303, "start of the {forge} sign-in");
        jar.take(&r);
        let authorize = location(&r);
        let r = self.get(&authorize, jar).await;
        assert_eq!(r.status(), 302, "the fake {forge} approves: {authorize}");
        let callback = location(&r);
        assert!(
            callback.starts_with(&format!("{}/oauth/{forge}/callback?", self.base)),
            "{callback}"
        );
        callback
    }

    /// A whole sign-in; returns the jar with the session and the callback's answer.
    async fn sign_in(&self, forge: &str, next: &str) -> (Jar, reqwest::Response, Vec<String>) {
        let mut jar = Jar::default();
        let callback = self.approve(forge, next, &mut jar).await;
        let r = self.get(&callback, &jar).await;
        let set = jar.take(&r);
        (jar, r, set)
    }

    async fn stop(mut self) {
        if let Some(svc) = self.svc.take() {
            svc.shutdown().await;
        }
        self.github.assert_no_unknown();
        self.gitlab.assert_no_unknown();
        let _ = &self.db;
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .expect("ascii")
        .to_owned()
}

fn session_cookie(set: &[String]) -> Option<&String> {
    set.iter()
        .find(|c| c.starts_with("sdl_gate_session=") && !c.contains("Max-Age=0"))
}

fn repo_reads(calls: &[fake_forge::Call], path: &str) -> usize {
    calls.iter().filter(|c| c.path == path).count()
}

#[tokio::test]
async fn github_sign_in_end_to_end_gives_a_flagged_session_and_access_follows_the_forge() {
    let h = Harness::start().await;
    h.github.collaborator("acme/app", "carol", "read");
    h.github.collaborator("acme/other", "carol", "write");
    h.github.collaborator("acme/secret", "dave", "admin");
    h.github.set_oauth_user("carol");

    // The sign-in page lists both forges and the auditor form, under a strict CSP.
    let r = h.get("/login?next=/github/acme/app", &Jar::default()).await;
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    assert!(
        html.contains("/login/github?next=%2Fgithub%2Facme%2Fapp"),
        "{html}"
    );
    assert!(html.contains("/login/gitlab?next=") && html.contains("action=\"/login/auditor\""));
    assert!(!html.contains("<script") && !html.contains("style="));

    let (jar, r, set) = h.sign_in("github", "/github/acme/app").await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    assert_eq!(location(&r), "/github/acme/app");
    let cookie = session_cookie(&set).expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "http public URL: {cookie}");
    assert!(
        set.iter()
            .any(|c| c.starts_with("sdl_gate_login=;") && c.contains("Max-Age=0")),
        "the pre-login cookie is cleared: {set:?}"
    );
    // The forge token stays on the server.
    let token_like = |s: &str| s.contains("ghu_");
    assert!(!set.iter().any(|c| token_like(c)), "{set:?}");

    let viewer = h.auth.viewer(&jar.headers()).await.expect("signed in");
    assert_eq!(viewer.login, "carol");
    // Kept server-side, and encrypted there: the database alone holds no usable token.
    let pool = sqlx::SqlitePool::connect(&h.db.url).await.expect("db");
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT id_hash, forge_token FROM web_sessions")
            .fetch_all(&pool)
            .await
            .expect("select");
    pool.close().await;
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].1.contains("ghu_") && stored[0].1.starts_with("v1."),
        "{stored:?}"
    );
    assert!(
        !jar.header().contains(&stored[0].0),
        "the cookie carries the id, not its hash"
    );
    assert_eq!(viewer.kind, ViewerKind::Forge(ForgeName::GitHub));
    assert!(!format!("{viewer:?}").contains("ghu_"));

    let mark = h.github.mark();
    assert!(
        h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/app")
            .await
    );
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/secret")
            .await,
        "not a collaborator"
    );
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/nothing")
            .await,
        "no such repository"
    );
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitLab, "acme/app")
            .await,
        "another forge"
    );
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/../x")
            .await,
        "not a name"
    );
    // Within the cache's time, a second check asks nothing.
    let asked = h.github.calls_since(mark);
    assert_eq!(repo_reads(&asked, "/repos/acme/app"), 1);
    let mark = h.github.mark();
    assert!(
        h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/app")
            .await
    );
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/secret")
            .await
    );
    assert!(
        h.github.calls_since(mark).is_empty(),
        "{:?}",
        h.github.calls_since(mark)
    );

    // A forge that fails is a no, and the no is not remembered.
    h.github.fault(
        Some(Method::GET),
        "/repos/acme/other",
        1,
        FaultKind::Status(500),
    );
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/other")
            .await,
        "fail closed"
    );
    assert!(
        h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/other")
            .await
    );

    // A visitor without the cookie is nobody.
    assert!(h.auth.viewer(&HeaderMap::new()).await.is_none());

    // Answers are per session: carol's cached yes is not dave's.
    h.github.set_oauth_user("dave");
    let (dave_jar, _, _) = h.sign_in("github", "/").await;
    let dave = h
        .auth
        .viewer(&dave_jar.headers())
        .await
        .expect("dave signed in");
    assert_eq!(dave.login, "dave");
    assert!(!h.auth.may_read(&dave, ForgeName::GitHub, "acme/app").await);
    assert!(
        h.auth
            .may_read(&dave, ForgeName::GitHub, "acme/secret")
            .await
    );

    // The user revoked the App's authorization: the next check ends the session.
    h.github.revoke_user_tokens();
    assert!(
        h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/app")
            .await,
        "a cached yes lasts its minute"
    );
    h.github.collaborator("acme/fresh", "carol", "read");
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/fresh")
            .await
    );
    assert!(h.auth.viewer(&jar.headers()).await.is_none(), "signed out");
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/app")
            .await,
        "the session's cached answers went with it"
    );
    h.stop().await;
}

#[tokio::test]
async fn gitlab_sign_in_end_to_end_and_members_only() {
    let h = Harness::start().await;
    h.gitlab.member("grp/app", "erin", 30);
    h.gitlab.member("grp/closed", "frank", 40);
    h.gitlab.set_oauth_user("erin");
    let (jar, r, set) = h.sign_in("gitlab", "/gitlab/grp/app").await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    assert_eq!(location(&r), "/gitlab/grp/app");
    let cookie = session_cookie(&set).expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let viewer = h.auth.viewer(&jar.headers()).await.expect("signed in");
    assert_eq!(viewer.login, "erin");
    assert_eq!(viewer.kind, ViewerKind::Forge(ForgeName::GitLab));
    assert!(h.auth.may_read(&viewer, ForgeName::GitLab, "grp/app").await);
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitLab, "grp/closed")
            .await
    );
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitLab, "grp/none")
            .await
    );
    assert!(!h.auth.may_read(&viewer, ForgeName::GitHub, "grp/app").await);
    h.gitlab.member("grp/flaky", "erin", 30);
    h.gitlab.fault(
        Some(Method::GET),
        "/api/v4/projects/grp%2Fflaky",
        1,
        FaultKind::Status(502),
    );
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitLab, "grp/flaky")
            .await,
        "fail closed"
    );
    assert!(
        h.auth
            .may_read(&viewer, ForgeName::GitLab, "grp/flaky")
            .await
    );
    let reads = h
        .gitlab
        .journal()
        .iter()
        .filter(|c| c.path == "/api/v4/projects/grp%2Fapp")
        .count();
    assert!(h.auth.may_read(&viewer, ForgeName::GitLab, "grp/app").await);
    let again = h
        .gitlab
        .journal()
        .iter()
        .filter(|c| c.path == "/api/v4/projects/grp%2Fapp")
        .count();
    assert_eq!((reads, again), (1, 1), "the second check is cached");

    // GitLab's token lives 2 h, so the session does not outlive it.
    let pool = sqlx::SqlitePool::connect(&h.db.url).await.expect("db");
    let (created, expires): (i64, i64) =
        sqlx::query_as("SELECT created_at, expires_at FROM web_sessions")
            .fetch_one(&pool)
            .await
            .expect("select");
    pool.close().await;
    assert!(expires - created <= 7_200_000, "{}", expires - created);

    // A token the forge no longer takes (401) ends the session.
    h.gitlab.member("grp/later", "erin", 30);
    h.gitlab.revoke_user_tokens();
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitLab, "grp/later")
            .await
    );
    assert!(h.auth.viewer(&jar.headers()).await.is_none(), "signed out");
    h.stop().await;
}

#[tokio::test]
async fn a_wrong_missing_or_replayed_state_is_refused_without_a_session() {
    let h = Harness::start().await;
    h.github.set_oauth_user("carol");

    // Wrong state.
    let mut jar = Jar::default();
    let callback = h.approve("github", "/", &mut jar).await;
    let (head, _) = callback
        .split_once("&state=")
        .expect("state in the callback");
    let r = h.get(&format!("{head}&state=forged"), &jar).await;
    assert_eq!(r.status(), 400);
    assert!(session_cookie(&jar.clone().take(&r)).is_none());

    // Missing state.
    let mut jar = Jar::default();
    let callback = h.approve("github", "/", &mut jar).await;
    let (head, _) = callback.split_once("&state=").expect("state");
    let r = h.get(head, &jar).await;
    assert_eq!(r.status(), 400);
    assert!(session_cookie(&jar.clone().take(&r)).is_none());

    // The right state from another browser (no pre-login cookie).
    let mut jar = Jar::default();
    let callback = h.approve("github", "/", &mut jar).await;
    let r = h.get(&callback, &Jar::default()).await;
    assert_eq!(r.status(), 400);
    assert!(session_cookie(&Jar::default().take(&r)).is_none());

    // Replayed: the first use signs in, the second (same cookie, same URL) does not.
    let mut jar = Jar::default();
    let callback = h.approve("github", "/", &mut jar).await;
    let before = jar.clone();
    let r = h.get(&callback, &before).await;
    assert_eq!(r.status(), 303);
    let r = h.get(&callback, &before).await;
    assert_eq!(r.status(), 400, "a state works once");
    assert!(session_cookie(&before.clone().take(&r)).is_none());

    // A sign-in for one forge cannot finish at the other's callback.
    let mut jar = Jar::default();
    let callback = h.approve("github", "/", &mut jar).await;
    let r = h
        .get(&callback.replace("/oauth/github/", "/oauth/gitlab/"), &jar)
        .await;
    assert_eq!(r.status(), 400);

    // The user declined at the forge.
    let r = h
        .get("/oauth/github/callback?error=access_denied&state=x", &jar)
        .await;
    assert_eq!(r.status(), 400);
    h.stop().await;
}

#[tokio::test]
async fn forged_expired_and_unknown_session_cookies_are_signed_out() {
    let h = Harness::start().await;
    h.github.set_oauth_user("carol");
    let (jar, _, _) = h.sign_in("github", "/").await;
    assert!(h.auth.viewer(&jar.headers()).await.is_some());
    let value = jar.0["sdl_gate_session"].clone();

    // A changed MAC, a changed id, no MAC, garbage.
    let (id, mac) = value.rsplit_once('.').expect("id.mac");
    let flip = |s: &str| {
        let mut chars: Vec<char> = s.chars().collect();
        chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    for forged in [
        format!("{id}.{}", flip(mac)),
        format!("{}.{mac}", flip(id)),
        id.to_owned(),
        "x".repeat(500),
    ] {
        let mut bad = Jar::default();
        bad.0.insert("sdl_gate_session".into(), forged.clone());
        assert!(h.auth.viewer(&bad.headers()).await.is_none(), "{forged}");
    }

    // Past its expiry on the server (the cookie itself is untouched).
    let (jar2, _, _) = h.sign_in("github", "/").await;
    assert!(h.auth.viewer(&jar2.headers()).await.is_some());
    let pool = sqlx::SqlitePool::connect(&h.db.url).await.expect("db");
    sqlx::query("UPDATE web_sessions SET expires_at = 1")
        .execute(&pool)
        .await
        .expect("expire");
    assert!(h.auth.viewer(&jar2.headers()).await.is_none(), "expired");
    assert!(h.auth.viewer(&jar.headers()).await.is_none(), "expired");

    // Signed out: the same cookie (a valid MAC) names no session any more.
    let (jar3, _, _) = h.sign_in("github", "/").await;
    assert!(h.auth.viewer(&jar3.headers()).await.is_some());
    let r = h.post_form("/logout", &jar3, None, "").await;
    assert_eq!(r.status(), 403, "a POST from nowhere is refused");
    assert!(h.auth.viewer(&jar3.headers()).await.is_some());
    let r = h
        .post_form("/logout", &jar3, Some("https://evil.example"), "")
        .await;
    assert_eq!(r.status(), 403, "a POST from another site is refused");
    let r = h
        .http
        .post(format!("{}/logout", h.base))
        .header("cookie", jar3.header())
        .header("origin", "null")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("post");
    assert_eq!(
        r.status(),
        403,
        "an opaque origin from another site is refused"
    );
    assert!(h.auth.viewer(&jar3.headers()).await.is_some());
    // A page under `Referrer-Policy: no-referrer` posts with `Origin: null`; the browser's
    // fetch metadata still says it is this site.
    let r = h
        .http
        .post(format!("{}/logout", h.base))
        .header("cookie", jar3.header())
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login");
    let mut after = jar3.clone();
    after.take(&r);
    assert!(
        !after.0.contains_key("sdl_gate_session"),
        "the cookie is cleared"
    );
    assert!(h.auth.viewer(&jar3.headers()).await.is_none(), "unknown id");
    pool.close().await;
    h.stop().await;
}

#[tokio::test]
async fn next_only_leads_to_a_path_on_this_site() {
    let h = Harness::start().await;
    h.github.set_oauth_user("carol");
    for (next, lands) in [
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("/github/acme/app?tab=2", "/github/acme/app?tab=2"),
    ] {
        let (_, r, _) = h.sign_in("github", next).await;
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), lands, "next={next}");
    }
    let r = h.get("/login?next=//evil.example", &Jar::default()).await;
    let html = r.text().await.unwrap();
    assert!(!html.contains("evil.example"), "{html}");
    h.stop().await;
}

#[tokio::test]
async fn an_https_public_url_makes_cookies_secure_and_host_only() {
    let h = Harness::start_with(sqlite_db(), Some("https://gate.example")).await;
    let r = h.get("/login/github?next=/", &Jar::default()).await;
    assert_eq!(r.status(), 303);
    let set: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let login = set
        .iter()
        .find(|c| c.starts_with("__Host-sdl_gate_login="))
        .expect("{set:?}");
    assert!(
        login.contains("; Secure") && login.contains("HttpOnly") && login.contains("SameSite=Lax")
    );
    assert!(
        location(&r)
            .contains("redirect_uri=https%3A%2F%2Fgate.example%2Foauth%2Fgithub%2Fcallback")
    );
    h.stop().await;
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
        .args(args)
        .env_remove("SDL_GATE_DATABASE_URL")
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn auditor_tokens_are_scoped_hashed_expire_and_revoke() {
    let h = Harness::start().await;
    let url = h.db.url.clone();
    let (code, token, err) = cli(&[
        "auditor-token",
        "create",
        "--database",
        &url,
        "--repo",
        "github:acme/app",
        "--repo",
        "gitlab:grp/app",
        "--expires",
        "2099-12-31",
        "--note",
        "ISASecure audit",
    ]);
    assert_eq!(code, 0, "{err}");
    let token = token.trim().to_owned();
    assert!(token.starts_with("sga_") && token.len() == 47, "{token}");
    assert!(err.contains("github:acme/app, gitlab:grp/app"), "{err}");

    // Stored as a hash only.
    let pool = sqlx::SqlitePool::connect(&url).await.expect("db");
    let rows: Vec<(i64, String, String, String)> =
        sqlx::query_as("SELECT id, token_hash, repos, note FROM auditor_tokens")
            .fetch_all(&pool)
            .await
            .expect("select");
    assert_eq!(rows.len(), 1);
    let (id, hash, repos, note) = &rows[0];
    assert_eq!(hash, &hex::encode(sha2::Sha256::digest(token.as_bytes())));
    for text in [hash, repos, note] {
        assert!(!text.contains(&token[4..]), "plaintext stored: {text}");
    }

    // The token posted from another site, or a wrong token, opens nothing.
    let form = format!("token={}&next=%2Fgithub%2Facme%2Fapp", enc(&token));
    let r = h
        .post_form("/login/auditor", &Jar::default(), None, &form)
        .await;
    assert_eq!(r.status(), 403);
    let r = h
        .post_form(
            "/login/auditor",
            &Jar::default(),
            Some(&h.base),
            "token=sga_nope&next=%2F",
        )
        .await;
    assert_eq!(r.status(), 401);
    assert!(session_cookie(&Jar::default().take(&r)).is_none());
    assert!(r.text().await.unwrap().contains("not valid"));

    let r = h
        .post_form("/login/auditor", &Jar::default(), Some(&h.base), &form)
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/github/acme/app");
    let mut jar = Jar::default();
    let set = jar.take(&r);
    assert!(
        session_cookie(&set).is_some_and(|c| c.contains("HttpOnly")),
        "{set:?}"
    );
    let viewer = h
        .auth
        .viewer(&jar.headers())
        .await
        .expect("auditor signed in");
    assert_eq!(viewer.kind, ViewerKind::Auditor { token_id: *id });
    let mark = h.github.mark();
    assert!(
        h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/app")
            .await
    );
    assert!(h.auth.may_read(&viewer, ForgeName::GitLab, "grp/app").await);
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/other")
            .await
    );
    assert!(!h.auth.may_read(&viewer, ForgeName::GitHub, "grp/app").await);
    assert!(
        h.github.calls_since(mark).is_empty(),
        "the token decides, not the forge"
    );

    let (code, listed, _) = cli(&["auditor-token", "list", "--database", &url]);
    assert_eq!(code, 0);
    assert!(
        listed.contains("active") && listed.contains("ISASecure audit"),
        "{listed}"
    );
    assert!(!listed.contains(&token), "{listed}");

    // Revoked: the session ends at once and the token no longer signs in.
    let (code, _, err) = cli(&[
        "auditor-token",
        "revoke",
        "--database",
        &url,
        &id.to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(h.auth.viewer(&jar.headers()).await.is_none(), "revoked");
    let r = h
        .post_form("/login/auditor", &Jar::default(), Some(&h.base), &form)
        .await;
    assert_eq!(r.status(), 401);
    let (code, _, _) = cli(&[
        "auditor-token",
        "revoke",
        "--database",
        &url,
        &id.to_string(),
    ]);
    assert_eq!(code, 1, "nothing left to revoke");

    // Expired: refused at sign-in, and an open session ends with it.
    let (_, token2, _) = cli(&[
        "auditor-token",
        "create",
        "--database",
        &url,
        "--repo",
        "github:acme/app",
        "--expires",
        "2099-12-31",
    ]);
    let form2 = format!("token={}", enc(token2.trim()));
    let r = h
        .post_form("/login/auditor", &Jar::default(), Some(&h.base), &form2)
        .await;
    assert_eq!(r.status(), 303);
    let mut jar2 = Jar::default();
    jar2.take(&r);
    assert!(h.auth.viewer(&jar2.headers()).await.is_some());
    sqlx::query("UPDATE auditor_tokens SET expires_at = 1")
        .execute(&pool)
        .await
        .expect("expire");
    assert!(
        h.auth.viewer(&jar2.headers()).await.is_none(),
        "expired token"
    );
    let r = h
        .post_form("/login/auditor", &Jar::default(), Some(&h.base), &form2)
        .await;
    assert_eq!(r.status(), 401);
    let (code, _, err) = cli(&[
        "auditor-token",
        "create",
        "--database",
        &url,
        "--repo",
        "github:acme/app",
        "--expires",
        "2001-01-01",
    ]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = cli(&[
        "auditor-token",
        "create",
        "--database",
        &url,
        "--repo",
        "github:acme/app",
        "--expires",
        "2099-01-01",
        "--note",
        "two\nlines",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("one line"), "{err}");
    let (code, _, err) = cli(&[
        "auditor-token",
        "create",
        "--database",
        &url,
        "--repo",
        "acme/app",
        "--expires",
        "2099-01-01",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("github:OWNER/NAME"), "{err}");
    pool.close().await;
    h.stop().await;
}

#[tokio::test]
async fn the_store_keeps_sessions_states_and_tokens_on_both_databases() {
    for db in all_dbs("web_auth store").await {
        let store = open(&db).await;
        let label = db.label;
        // States work once.
        let far = sdl_gate::store::now_ms() + 60_000;
        store.put_oauth_state("h1", far).await.expect("put");
        assert!(store.take_oauth_state("h1").await.expect("take"), "{label}");
        assert!(
            !store.take_oauth_state("h1").await.expect("take"),
            "{label}"
        );
        store.put_oauth_state("h2", 1).await.expect("put");
        assert!(
            !store.take_oauth_state("h2").await.expect("take"),
            "{label}: expired"
        );
        // Tokens: hash only, usable until revoked.
        let id = store
            .create_auditor_token("hash-a", &["github:acme/app".to_owned()], "n", far)
            .await
            .expect("create");
        let t = store
            .usable_auditor_token("hash-a")
            .await
            .expect("read")
            .expect("usable");
        assert_eq!(t.repos, vec!["github:acme/app".to_owned()], "{label}");
        store
            .create_web_session(&sdl_gate::store::NewWebSession {
                id_hash: "s1",
                kind: "auditor",
                login: "auditor #1",
                forge_token: None,
                auditor_token_id: Some(id),
                expires_at: far,
            })
            .await
            .expect("session");
        assert!(
            store.web_session("s1").await.expect("read").is_some(),
            "{label}"
        );
        assert!(
            store.revoke_auditor_token(id).await.expect("revoke"),
            "{label}"
        );
        assert!(
            store.web_session("s1").await.expect("read").is_none(),
            "{label}"
        );
        assert!(
            store
                .usable_auditor_token("hash-a")
                .await
                .expect("read")
                .is_none()
        );
        // A forge session, its expiry and logout.
        store
            .create_web_session(&sdl_gate::store::NewWebSession {
                id_hash: "s2",
                kind: "github",
                login: "carol",
                forge_token: Some("ghu_x"),
                auditor_token_id: None,
                expires_at: far,
            })
            .await
            .expect("session");
        let s = store.web_session("s2").await.expect("read").expect("live");
        assert_eq!(
            (s.login.as_str(), s.forge_token.as_deref()),
            ("carol", Some("ghu_x"))
        );
        assert!(
            store.delete_web_session("s2").await.expect("delete"),
            "{label}"
        );
        assert!(
            store.web_session("s2").await.expect("read").is_none(),
            "{label}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn without_providers_the_login_page_says_so_and_sign_in_routes_are_closed() {
    let db = sqlite_db();
    let store = open(&db).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let auth = Auth::new(
        AuthConfig::new(Some(base.clone()), SessionKey::generate()),
        store.clone(),
    )
    .expect("auth");
    let mut config = config(fast_queue(), 1);
    config.pages = Some(auth.routes());
    let svc = sdl_gate::server::start(listener, store, Recorder::new(), config).expect("start");
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let html = c
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(html.contains("No forge sign-in is configured"), "{html}");
    let r = c
        .get(format!("{base}/login/github"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    let r = c
        .get(format!("{base}/oauth/gitlab/callback?code=a&state=b"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    tokio::time::sleep(Duration::from_millis(1)).await;
    svc.shutdown().await;
}

/// Everything the service logs in this test binary, at every level of sdl-gate's own code.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

fn captured_logs() -> &'static Logs {
    static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,sdl_gate=trace"))
            .with_writer(logs.clone())
            .with_ansi(false)
            .try_init();
        logs
    })
}

#[tokio::test]
async fn secrets_and_tokens_never_reach_the_log() {
    let logs = captured_logs();
    let h = Harness::start().await;
    h.github.collaborator("acme/app", "carol", "read");
    h.gitlab.member("grp/app", "erin", 30);

    h.github.set_oauth_user("carol");
    let mut jar = Jar::default();
    let callback = h.approve("github", "/", &mut jar).await;
    let code = callback
        .split("code=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .expect("a code")
        .to_owned();
    let r = h.get(&callback, &jar).await;
    assert_eq!(r.status(), 303);
    jar.take(&r);
    let r = h.get(&callback, &jar).await;
    assert_eq!(r.status(), 400, "replay refused (and logged)");
    let viewer = h.auth.viewer(&jar.headers()).await.expect("carol");
    h.github.fault(
        Some(Method::GET),
        "/repos/acme/app",
        1,
        FaultKind::Status(500),
    );
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/app")
            .await
    );
    h.github.revoke_user_tokens();
    assert!(
        !h.auth
            .may_read(&viewer, ForgeName::GitHub, "acme/app")
            .await
    );

    h.gitlab.set_oauth_user("erin");
    let (gl_jar, r, _) = h.sign_in("gitlab", "/").await;
    assert_eq!(r.status(), 303);

    let made = sdl_gate::web::auth::auditor::create(
        &open(&h.db).await,
        &[sdl_gate::web::auth::RepoScope::parse("github:acme/app").expect("scope")],
        chrono::Utc::now() + chrono::Duration::days(1),
        "log test",
    )
    .await
    .expect("token");
    let form = format!("token={}", enc(&made.token));
    let r = h
        .post_form("/login/auditor", &Jar::default(), Some(&h.base), &form)
        .await;
    assert_eq!(r.status(), 303);
    let mut auditor_jar = Jar::default();
    auditor_jar.take(&r);
    let r = h
        .post_form(
            "/login/auditor",
            &Jar::default(),
            Some(&h.base),
            "token=sga_wrong",
        )
        .await;
    assert_eq!(r.status(), 401);

    let text =
        String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    assert!(
        text.contains("signed in") && text.contains("refusing"),
        "the log is captured: {text}"
    );
    let mut secrets = vec![
        GH_SECRET.to_owned(),
        GL_SECRET.to_owned(),
        "ghu_".to_owned(),
        "gloas-".to_owned(),
        made.token.clone(),
        code,
    ];
    secrets.extend(jar.0.values().cloned());
    secrets.extend(gl_jar.0.values().cloned());
    secrets.extend(auditor_jar.0.values().cloned());
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(
            !text.contains(secret.as_str()),
            "`{secret}` is in the log:\n{text}"
        );
    }
    h.stop().await;
}
