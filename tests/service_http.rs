//! The service over real HTTP on loopback, with a fresh database per test: authentication,
//! limits and errors, dedupe, secret rotation, coalescing, lease expiry, retries, parking,
//! metrics and the `jobs list` CLI.

mod service_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use sdl_gate::store::NewDelivery;
use service_support::*;

fn client() -> reqwest::Client {
    reqwest::Client::builder().build().expect("client")
}

#[tokio::test]
async fn github_authentication_limits_and_errors() {
    let db = sqlite_db();
    let store = open(&db).await;
    let rec = Recorder::new();
    let svc = spawn(store.clone(), rec.clone(), config(fast_queue(), 2)).await;
    let base = format!("http://{}", svc.addr);
    let c = client();
    let body = pr_payload("octo/repo", 1, "opened");

    // Missing signature, wrong signature, signature over another body, secret not configured.
    let r = c
        .post(format!("{base}/webhooks/github"))
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "a1")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        send_github(&c, &base, "wrong-secret", "pull_request", "a2", &body)
            .await
            .0,
        401
    );
    let sig = sdl_gate::server::signature::github_signature(GITHUB_SECRET, b"{}");
    let r = c
        .post(format!("{base}/webhooks/github"))
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", "a3")
        .header("x-hub-signature-256", sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        store.delivery_count().await.unwrap(),
        0,
        "nothing stored for unsigned deliveries"
    );

    // Signed but missing headers: 400 naming the header.
    let sig = sdl_gate::server::signature::github_signature(GITHUB_SECRET, body.as_bytes());
    let r = c
        .post(format!("{base}/webhooks/github"))
        .header("x-github-delivery", "a4")
        .header("x-hub-signature-256", &sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("X-GitHub-Event"));
    let r = c
        .post(format!("{base}/webhooks/github"))
        .header("x-github-event", "pull_request")
        .header("x-hub-signature-256", &sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("X-GitHub-Delivery"));

    // Malformed JSON: 400 with the position.
    let (status, text) = send_github(
        &c,
        &base,
        GITHUB_SECRET,
        "pull_request",
        "a5",
        "{\"action\": \"opened\",\n  oops}",
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("line 2 column 3"), "{text}");

    // An acted-on event without the fields to key it: 400 naming the field.
    let (status, text) = send_github(
        &c,
        &base,
        GITHUB_SECRET,
        "pull_request",
        "a6",
        r#"{"action":"opened","number":3}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("repository.full_name"), "{text}");

    // Oversize: 413, with and without a truthful Content-Length.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(25 * 1024 * 1024));
    let (status, _) = send_github(&c, &base, GITHUB_SECRET, "pull_request", "a7", &big).await;
    assert_eq!(status, 413);
    assert_eq!(send_chunked(svc.addr, 26 * 1024 * 1024).await, 413);

    // Ping: 200. Unknown / not acted on: 202, counted, not stored.
    let (status, _) = send_github(
        &c,
        &base,
        GITHUB_SECRET,
        "ping",
        "p1",
        r#"{"zen":"Keep it logically awesome."}"#,
    )
    .await;
    assert_eq!(status, 200);
    let (status, text) = send_github(
        &c,
        &base,
        GITHUB_SECRET,
        "deployment",
        "u1",
        r#"{"action":"created"}"#,
    )
    .await;
    assert_eq!(status, 202);
    assert!(text.contains("ignored"));
    let (status, _) = send_github(
        &c,
        &base,
        GITHUB_SECRET,
        "pull_request",
        "u2",
        &pr_payload("octo/repo", 1, "closed"),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(store.delivery_count().await.unwrap(), 0);

    // Accepted, then the same delivery id again: 200 and no new work.
    let (status, _) = send_github(&c, &base, GITHUB_SECRET, "pull_request", "ok-1", &body).await;
    assert_eq!(status, 202);
    let (status, text) = send_github(&c, &base, GITHUB_SECRET, "pull_request", "ok-1", &body).await;
    assert_eq!(status, 200);
    assert!(text.contains("duplicate"));
    // Secret rotation: the previous secret is still accepted.
    let (status, _) = send_github(
        &c,
        &base,
        GITHUB_OLD_SECRET,
        "pull_request",
        "ok-2",
        &pr_payload("octo/repo", 2, "opened"),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(store.delivery_count().await.unwrap(), 2);
    wait_drained(&store, Duration::from_secs(10)).await;
    let runs = rec.jobs();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        rec.runs_for("github:octo/repo#1")[0].events.len(),
        1,
        "the duplicate added nothing"
    );

    let metrics = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        r#"outcome="unauthorized""#,
        r#"outcome="too_large""#,
        r#"event="deployment",outcome="ignored""#,
        r#"outcome="duplicate""#,
        "sdl_gate_queue_depth{state=\"done\"} 2",
        "sdl_gate_evaluation_duration_seconds_bucket",
    ] {
        assert!(
            metrics.contains(needle),
            "metrics lack {needle}:\n{metrics}"
        );
    }
    assert_eq!(
        c.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    svc.shutdown().await;
}

/// Sends `total` bytes chunked (no Content-Length) over a raw connection, so the limit is
/// enforced while reading; returns the status code of the answer.
async fn send_chunked(addr: std::net::SocketAddr, total: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = "POST /webhooks/github HTTP/1.1\r\nhost: x\r\nx-github-event: pull_request\r\nx-github-delivery: a8\r\nx-hub-signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000\r\ntransfer-encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 1024 * 1024];
    let mut sent = 0;
    while sent < total {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        if s.write_all(&frame).await.is_err() {
            break; // the server answered and closed early
        }
        sent += chunk.len();
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut buf = vec![0u8; 256];
    let n = s.read(&mut buf).await.unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn gitlab_token_dedupe_and_disabled_forge() {
    let db = sqlite_db();
    let store = open(&db).await;
    let rec = Recorder::new();
    let svc = spawn(store.clone(), rec.clone(), config(fast_queue(), 2)).await;
    let base = format!("http://{}", svc.addr);
    let c = client();
    let body = serde_json::json!({"object_kind": "merge_request",
        "project": {"path_with_namespace": "grp/proj"},
        "object_attributes": {"iid": 4, "action": "update"}})
    .to_string();
    let send = |token: &'static str, key: Option<&'static str>, event: Option<&'static str>| {
        let mut req = c
            .post(format!("{base}/webhooks/gitlab"))
            .header("x-gitlab-token", token)
            .body(body.clone());
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        if let Some(e) = event {
            req = req.header("x-gitlab-event", e);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(
        send("nope", Some("k1"), Some("Merge Request Hook")).await.0,
        401
    );
    let (status, text) = send(GITLAB_TOKEN, None, Some("Merge Request Hook")).await;
    assert_eq!(status, 400);
    assert!(text.contains("Idempotency-Key"), "{text}");
    let (status, text) = send(GITLAB_TOKEN, Some("k1"), None).await;
    assert_eq!(status, 400);
    assert!(text.contains("X-Gitlab-Event"), "{text}");
    assert_eq!(
        send(GITLAB_TOKEN, Some("k1"), Some("Merge Request Hook"))
            .await
            .0,
        202
    );
    assert_eq!(
        send(GITLAB_TOKEN, Some("k1"), Some("Merge Request Hook"))
            .await
            .0,
        200
    );
    assert_eq!(
        send(GITLAB_TOKEN, Some("k2"), Some("Job Hook")).await.0,
        202
    );
    wait_drained(&store, Duration::from_secs(10)).await;
    assert_eq!(rec.runs_for("gitlab:grp/proj#4").len(), 1);
    assert_eq!(store.delivery_count().await.unwrap(), 1);
    svc.shutdown().await;

    // A service with GitLab disabled answers 404 and stores nothing.
    let mut cfg = config(fast_queue(), 1);
    cfg.gitlab_secrets = None;
    let svc = spawn(store.clone(), rec.clone(), cfg).await;
    let r = c
        .post(format!("http://{}/webhooks/gitlab", svc.addr))
        .header("x-gitlab-token", GITLAB_TOKEN)
        .header("x-gitlab-event", "Merge Request Hook")
        .header("idempotency-key", "k3")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    svc.shutdown().await;
}

#[tokio::test]
async fn fixture_deliveries_are_accepted_over_http() {
    let Some(body) = fixture("github-webhooks/kodiak/pull_request/synchronize.json") else {
        return;
    };
    let Some(comment) = fixture(
        "github-webhooks/triagebot/payloads/ready__00-webhook-issue105_comment_created.payload.json",
    ) else {
        return;
    };
    let db = sqlite_db();
    let store = open(&db).await;
    let rec = Recorder::new();
    let svc = spawn(store.clone(), rec.clone(), config(fast_queue(), 2)).await;
    let base = format!("http://{}", svc.addr);
    let c = client();
    assert_eq!(
        send_github(&c, &base, GITHUB_SECRET, "pull_request", "f1", &body)
            .await
            .0,
        202
    );
    assert_eq!(
        send_github(&c, &base, GITHUB_SECRET, "issue_comment", "f2", &comment)
            .await
            .0,
        202
    );
    wait_drained(&store, Duration::from_secs(10)).await;
    let jobs = rec.jobs();
    assert_eq!(jobs.len(), 2);
    let comment_job = jobs
        .iter()
        .find(|j| j.events[0].event == "issue_comment")
        .expect("comment job");
    let detail = comment_job.events[0]
        .detail
        .as_ref()
        .expect("comment stored with the job");
    assert!(detail["body"].as_str().is_some_and(|b| !b.is_empty()));
    // The raw payload is kept and reachable from the job.
    let raw = store
        .delivery_payload(comment_job.events[0].delivery_pk)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw, comment);
    svc.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_twenty_events_runs_the_job_once() {
    for db in all_dbs("a_burst_of_twenty_events").await {
        let store = open(&db).await;
        let rec = Recorder::new();
        let mut queue = fast_queue();
        queue.debounce = Duration::from_millis(400);
        let svc = spawn(store.clone(), rec.clone(), config(queue, 4)).await;
        let base = format!("http://{}", svc.addr);
        let c = client();
        let mut sends = Vec::new();
        for i in 0..20 {
            let (c, base) = (c.clone(), base.clone());
            sends.push(tokio::spawn(async move {
                let action = if i % 2 == 0 { "synchronize" } else { "labeled" };
                send_github(
                    &c,
                    &base,
                    GITHUB_SECRET,
                    "pull_request",
                    &format!("burst-{i}"),
                    &pr_payload("octo/repo", 9, action),
                )
                .await
                .0
            }));
        }
        for s in sends {
            assert_eq!(s.await.unwrap(), 202);
        }
        wait_drained(&store, Duration::from_secs(10)).await;
        let runs = rec.runs_for("github:octo/repo#9");
        assert_eq!(runs.len(), 1, "{}: 20 events, one run", db.label);
        assert_eq!(runs[0].events.len(), 20);
        svc.shutdown().await;
    }
}

#[tokio::test]
async fn a_crashed_workers_job_is_picked_up_after_its_lease() {
    for db in all_dbs("a_crashed_workers_job").await {
        let store = open(&db).await;
        let d = NewDelivery {
            forge: sdl_gate::forge_name::ForgeName::GitHub,
            delivery_id: "c1".into(),
            event: "pull_request".into(),
            action: Some("opened".into()),
            payload: pr_payload("octo/repo", 3, "opened"),
            items: sdl_gate::events::github::extract(
                "pull_request",
                &serde_json::from_str(&pr_payload("octo/repo", 3, "opened")).unwrap(),
            )
            .unwrap()
            .unwrap()
            .items,
        };
        store.record_deliveries(&[d], Duration::ZERO).await.unwrap();
        // A worker claims it with a 1 s lease and dies (never completes, never renews).
        let crashed = store
            .claim("crashed-worker", Duration::from_secs(1))
            .await
            .unwrap()
            .expect("claimed");
        let rec = Recorder::new();
        let started = std::time::Instant::now();
        let svc = spawn(store.clone(), rec.clone(), config(fast_queue(), 2)).await;
        wait_drained(&store, Duration::from_secs(10)).await;
        let runs = rec.runs_for("github:octo/repo#3");
        assert_eq!(runs.len(), 1, "{}", db.label);
        assert_eq!(runs[0].attempt, 2);
        assert!(
            started.elapsed() >= Duration::from_millis(800),
            "{}: not before the lease ended",
            db.label
        );
        assert!(
            !store
                .renew_lease(&crashed, Duration::from_secs(1))
                .await
                .unwrap()
        );
        svc.shutdown().await;
    }
}

#[tokio::test]
async fn retries_back_off_honour_retry_after_and_park() {
    let db = sqlite_db();
    let store = open(&db).await;
    let rec = Recorder::new();
    rec.script(
        "github:octo/repo#1",
        vec![
            Behaviour::Retry(None),
            Behaviour::Retry(Some(Duration::from_millis(600))),
        ],
    );
    rec.script(
        "github:octo/repo#2",
        vec![
            Behaviour::Retry(None),
            Behaviour::Retry(None),
            Behaviour::Retry(None),
        ],
    );
    rec.script("github:octo/repo#3", vec![Behaviour::Permanent]);
    let svc = spawn(store.clone(), rec.clone(), config(fast_queue(), 3)).await;
    let base = format!("http://{}", svc.addr);
    let c = client();
    for n in 1..=3 {
        assert_eq!(
            send_github(
                &c,
                &base,
                GITHUB_SECRET,
                "pull_request",
                &format!("r{n}"),
                &pr_payload("octo/repo", n, "opened")
            )
            .await
            .0,
            202
        );
    }
    let depth = wait_drained(&store, Duration::from_secs(15)).await;
    assert_eq!(depth.parked, 2);
    assert_eq!(depth.done, 1);

    // #1: failed twice, succeeded third; the second wait honoured the reported 600 ms.
    let times: Vec<_> = rec
        .runs
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.0.key.to_key_string() == "github:octo/repo#1")
        .map(|r| r.1)
        .collect();
    assert_eq!(times.len(), 3);
    let first_gap = times[1] - times[0];
    let second_gap = times[2] - times[1];
    assert!(
        first_gap >= Duration::from_millis(10) && first_gap < Duration::from_millis(500),
        "backoff {first_gap:?}"
    );
    assert!(
        second_gap >= Duration::from_millis(600),
        "retry-after honoured: {second_gap:?}"
    );
    let attempts: Vec<_> = rec
        .runs_for("github:octo/repo#1")
        .iter()
        .map(|j| j.attempt)
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    // #2: three transient failures with max_attempts 3 → parked; #3: permanent → parked at once.
    assert_eq!(rec.runs_for("github:octo/repo#2").len(), 3);
    assert_eq!(rec.runs_for("github:octo/repo#3").len(), 1);

    let metrics = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sdl_gate_queue_depth{state=\"parked\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("sdl_gate_jobs_parked_total"), "{metrics}");
    svc.shutdown().await;

    // `sdl-gate jobs list` reads the same database.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
        .args(["jobs", "list", "--state", "parked"])
        .env("SDL_GATE_DATABASE_URL", &db.url)
        .output()
        .expect("run sdl-gate jobs list");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("github:octo/repo#2") && text.contains("github:octo/repo#3"),
        "{text}"
    );
    assert!(text.contains("scripted permanent failure"), "{text}");
    assert!(!text.contains("github:octo/repo#1"), "{text}");
}

#[tokio::test]
async fn shutdown_releases_a_hung_job_and_another_worker_finishes_it() {
    let db = sqlite_db();
    let store = open(&db).await;
    let rec = Recorder::new();
    rec.script("github:octo/repo#1", vec![Behaviour::Hang]);
    let mut cfg = config(fast_queue(), 1);
    cfg.shutdown_grace = Duration::from_millis(300);
    let svc = spawn(store.clone(), rec.clone(), cfg.clone()).await;
    let base = format!("http://{}", svc.addr);
    assert_eq!(
        send_github(
            &client(),
            &base,
            GITHUB_SECRET,
            "pull_request",
            "h1",
            &pr_payload("octo/repo", 1, "opened")
        )
        .await
        .0,
        202
    );
    while rec.jobs().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t = std::time::Instant::now();
    svc.shutdown().await;
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "bounded shutdown: {:?}",
        t.elapsed()
    );
    let depth = store.queue_depth().await.unwrap();
    assert_eq!(depth.pending, 1, "released, not left running: {depth:?}");
    // A new process finishes it at once (no lease wait), attempt not counted.
    let svc = spawn(store.clone(), rec.clone(), cfg).await;
    wait_drained(&store, Duration::from_secs(5)).await;
    let runs = rec.runs_for("github:octo/repo#1");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].attempt, 1);
    assert_eq!(rec.overlaps.load(Ordering::SeqCst), 0);
    svc.shutdown().await;
}
