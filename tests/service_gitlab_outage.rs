//! The real `sdl-gate serve` binary with GitLab unreachable at start-up: the service starts, the
//! GitHub App answers webhooks, GitLab webhooks are authenticated and stored, `/readyz` names
//! GitLab as not ready; once a (fake) GitLab comes up on the configured port, the background
//! connection succeeds and `/readyz` turns ready without a restart.

mod fake_forge;
mod fake_gitlab;
mod service_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use service_support::*;

const GITLAB_SECRET: &str = "gitlab-hook-token";

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &std::path::Path, db_url: &str, gitlab_url: &str) -> Server {
    let key = dir.join("app-key.pem");
    std::fs::write(&key, include_str!("data/test-only-github-app-key.pem")).expect("write key");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn,sdl_gate::cli=info,sdl_gate=info")
        .env("SDL_GATE_LISTEN", "127.0.0.1:0")
        .env("SDL_GATE_DATABASE_URL", db_url)
        .env("SDL_GATE_WORKERS", "1")
        .env("SDL_GATE_SHUTDOWN_GRACE_SECS", "1")
        .env("SDL_GATE_GITHUB_APP_ID", "4242")
        .env("SDL_GATE_GITHUB_PRIVATE_KEY_PATH", &key)
        .env("SDL_GATE_GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
        // Nothing listens there either: GitHub jobs retry, the webhooks are what is tested.
        .env("SDL_GATE_GITHUB_API_URL", "http://127.0.0.1:9")
        .env("SDL_GATE_RECONCILE_INTERVAL", "0")
        .env("SDL_GATE_GITLAB_URL", gitlab_url)
        .env("SDL_GATE_GITLAB_TOKEN", fake_gitlab::BOT_TOKEN)
        .env("SDL_GATE_GITLAB_WEBHOOK_SECRET", GITLAB_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sdl-gate serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("sdl-gate: {line}");
            if let Some(pos) = line.find("listening on http://")
                && let Some(tx) = tx.take()
            {
                let addr = line[pos + "listening on http://".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(addr) => addr,
        Err(_) => {
            let status = child.try_wait().ok().flatten();
            panic!("sdl-gate serve did not report its address (exit status: {status:?})");
        }
    };
    Server { child, addr }
}

async fn readyz(c: &reqwest::Client, base: &str) -> (u16, String) {
    let r = c
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("GET /readyz");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn github_serves_on_while_gitlab_is_unreachable_and_gitlab_connects_later() {
    // A loopback port with nothing listening (bound, noted, closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let gitlab_url = format!("http://127.0.0.1:{port}");
    let db = sqlite_db();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start_server(dir.path(), &db.url, &gitlab_url);
    let base = format!("http://{}", server.addr);
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    // GitHub is served.
    let (status, body) = send_github(
        &c,
        &base,
        GITHUB_SECRET,
        "pull_request",
        "d-1",
        &pr_payload("o/r", 1, "opened"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    // GitLab deliveries are authenticated, then stored for later.
    let mr = serde_json::json!({"object_kind": "merge_request",
        "project": {"path_with_namespace": "grp/proj"},
        "object_attributes": {"iid": 4, "action": "update"}})
    .to_string();
    let send_gitlab = |token: &'static str, key: &'static str| {
        c.post(format!("{base}/webhooks/gitlab"))
            .header("x-gitlab-token", token)
            .header("x-gitlab-event", "Merge Request Hook")
            .header("idempotency-key", key)
            .body(mr.clone())
            .send()
    };
    assert_eq!(
        send_gitlab("wrong", "k0").await.expect("send").status(),
        401
    );
    let r = send_gitlab(GITLAB_SECRET, "k1").await.expect("send");
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    // Not ready, and the answer names GitLab.
    let (status, body) = readyz(&c, &base).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("gitlab: not connected"), "{body}");
    assert!(
        server.child.try_wait().expect("try_wait").is_none(),
        "serve must keep running"
    );

    // GitLab comes up on the configured port: ready without a restart.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("rebind the GitLab port");
    let _gitlab = fake_gitlab::FakeGitlab::start_on(listener);
    let up = Instant::now();
    loop {
        let (status, body) = readyz(&c, &base).await;
        if status == 200 {
            assert_eq!(body, "ready\n");
            break;
        }
        assert!(body.contains("gitlab"), "{body}");
        // The backoff is capped at 30 s; a few seconds have passed since start-up.
        assert!(
            up.elapsed() < Duration::from_secs(35),
            "GitLab not connected {:?} after it came up: {body}",
            up.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("GitLab ready {:?} after it came up", up.elapsed());
    assert!(server.child.try_wait().expect("try_wait").is_none());
}
