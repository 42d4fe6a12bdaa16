//! The webhook edge before authentication, over real HTTP on loopback: form-encoded deliveries
//! are refused naming the content type; a GitLab request with a wrong token is refused before
//! its body is read; a body that does not arrive in time is dropped (408); and bodies being
//! read at once share a byte budget, so unauthenticated uploads cannot pile up (503, retry).
//! Nothing refused is stored.

mod service_support;

use std::time::{Duration, Instant};

use service_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes `head` (and `body`) on a raw connection and returns the status of the answer, and how
/// long it took from the write.
async fn raw(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, Duration, TcpStream) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let started = Instant::now();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut buf))
        .await
        .expect("an answer within 15 s")
        .expect("read");
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    (status, started.elapsed(), stream)
}

#[tokio::test]
async fn a_form_encoded_delivery_is_refused_naming_the_content_type() {
    let db = sqlite_db();
    let store = open(&db).await;
    let svc = spawn(store.clone(), Recorder::new(), config(fast_queue(), 1)).await;
    let body = format!("payload={}", pr_payload("octo/repo", 1, "opened"));
    let sig = sdl_gate::server::signature::github_signature(GITHUB_SECRET, body.as_bytes());
    let r = reqwest::Client::new()
        .post(format!("http://{}/webhooks/github", svc.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "form-1")
        .header("x-hub-signature-256", sig)
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 415);
    let text = r.text().await.expect("body");
    assert!(
        text.contains("application/x-www-form-urlencoded") && text.contains("application/json"),
        "{text}"
    );
    assert_eq!(store.delivery_count().await.expect("count"), 0);
    svc.shutdown().await;
}

#[tokio::test]
async fn a_wrong_gitlab_token_is_refused_before_the_body_is_read() {
    let db = sqlite_db();
    let store = open(&db).await;
    let svc = spawn(store.clone(), Recorder::new(), config(fast_queue(), 1)).await;
    // Announce 20 MiB and send 1 KiB: the answer must not wait for the rest.
    let head = "POST /webhooks/gitlab HTTP/1.1\r\nhost: x\r\nx-gitlab-event: Merge Request Hook\r\nidempotency-key: k1\r\nx-gitlab-token: wrong\r\ncontent-type: application/json\r\ncontent-length: 20971520\r\n\r\n";
    let (status, took, _conn) = raw(svc.addr, head, &[b' '; 1024]).await;
    assert_eq!(status, 401);
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    assert_eq!(store.delivery_count().await.expect("count"), 0);
    svc.shutdown().await;
}

#[tokio::test]
async fn a_body_that_stalls_is_dropped_after_the_read_timeout() {
    let db = sqlite_db();
    let store = open(&db).await;
    let mut cfg = config(fast_queue(), 1);
    cfg.body_read_timeout = Duration::from_millis(500);
    let svc = spawn(store.clone(), Recorder::new(), cfg).await;
    let head = "POST /webhooks/github HTTP/1.1\r\nhost: x\r\nx-github-event: pull_request\r\nx-github-delivery: slow-1\r\nx-hub-signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
    let (status, took, _conn) = raw(svc.addr, head, b"{\"zen\":").await;
    assert_eq!(status, 408);
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(5),
        "answered after {took:?}"
    );
    assert_eq!(store.delivery_count().await.expect("count"), 0);
    svc.shutdown().await;
}

#[tokio::test]
async fn bodies_read_at_once_share_one_budget_and_a_signed_delivery_gets_through_after() {
    let db = sqlite_db();
    let store = open(&db).await;
    let mut cfg = config(fast_queue(), 1);
    cfg.body_limit = 1024 * 1024;
    cfg.in_flight_bytes = 2 * 1024 * 1024;
    cfg.body_read_timeout = Duration::from_secs(3);
    let svc = spawn(store.clone(), Recorder::new(), cfg).await;
    // Two unsigned uploads that announce the limit and stall hold the whole budget.
    let head = "POST /webhooks/github HTTP/1.1\r\nhost: x\r\nx-github-event: pull_request\r\nx-github-delivery: big\r\nx-hub-signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000\r\ncontent-type: application/json\r\ncontent-length: 1048576\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(svc.addr).await.expect("connect");
        s.write_all(head.as_bytes()).await.expect("head");
        s.write_all(b"{").await.expect("body");
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A third is told to retry once the budget wait runs out, not queued without bound.
    let c = reqwest::Client::new();
    let base = format!("http://{}", svc.addr);
    let body = pr_payload("octo/repo", 7, "opened");
    let started = Instant::now();
    let (status, text) =
        send_github(&c, &base, GITHUB_SECRET, "pull_request", "d-busy", &body).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("retry"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // When the stalled uploads time out, the budget is back and the same delivery is stored.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, text) =
        send_github(&c, &base, GITHUB_SECRET, "pull_request", "d-busy", &body).await;
    assert_eq!(status, 202, "{text}");
    assert_eq!(store.delivery_count().await.expect("count"), 1);
    drop(held);
    svc.shutdown().await;
}
