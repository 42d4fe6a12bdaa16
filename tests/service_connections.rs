//! Slow and idle clients against the real service on loopback: a client that sends its request
//! head a byte at a time and a kept-alive connection left idle are both closed within the
//! header read timeout, and with many idle connections beyond the connection cap `/healthz`
//! on a new connection still answers within 100 ms (the oldest connections are shed).

mod service_support;

use std::time::{Duration, Instant};

use sdl_gate::server::conn::ConnLimits;
use service_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(1);

async fn service(max_connections: usize) -> (sdl_gate::server::RunningService, TestDb) {
    let db = sqlite_db();
    let store = open(&db).await;
    let mut cfg = config(fast_queue(), 1);
    cfg.connections = ConnLimits {
        header_read_timeout: TIMEOUT,
        max_connections,
    };
    (spawn(store, Recorder::new(), cfg).await, db)
}

/// Reads until the peer closes (EOF or reset); returns what was read.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn a_header_drip_client_is_closed_within_the_header_timeout() {
    let (svc, _db) = service(100).await;
    let mut stream = TcpStream::connect(svc.addr).await.expect("connect");
    let started = Instant::now();
    stream
        .write_all(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let (mut rd, mut wr) = stream.into_split();
    // One header byte every 100 ms, for far longer than the timeout.
    let drip = tokio::spawn(async move {
        for b in b"X-Slow: ".iter().chain([b'a'; 200].iter()) {
            if wr.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    let held = started.elapsed();
    drip.abort();
    assert!(
        closed.is_ok(),
        "header-drip connection still open after 10 s"
    );
    eprintln!("header-drip connection closed after {held:?}");
    assert!(held >= TIMEOUT - Duration::from_millis(50), "{held:?}");
    assert!(held < TIMEOUT + Duration::from_millis(1500), "{held:?}");
    svc.shutdown().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_within_the_timeout() {
    let (svc, _db) = service(100).await;
    let mut stream = TcpStream::connect(svc.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.expect("read");
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // The connection is kept alive; now it idles.
    let idle = Instant::now();
    let rest = tokio::time::timeout(Duration::from_secs(10), read_to_close(&mut stream)).await;
    let held = idle.elapsed();
    assert!(rest.is_ok(), "idle connection still open after 10 s");
    eprintln!("idle keep-alive connection closed after {held:?}");
    assert!(held >= TIMEOUT - Duration::from_millis(50), "{held:?}");
    assert!(held < TIMEOUT + Duration::from_millis(1500), "{held:?}");
    svc.shutdown().await;
}

#[tokio::test]
async fn healthz_answers_quickly_with_idle_connections_beyond_the_cap() {
    const CAP: usize = 50;
    let (svc, _db) = service(CAP).await;
    // 4× the cap of connections that send nothing (each is shed or times out).
    let mut idle = Vec::new();
    for _ in 0..4 * CAP {
        idle.push(TcpStream::connect(svc.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let mut s = TcpStream::connect(svc.addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let answer = read_to_close(&mut s).await;
        let took = started.elapsed();
        let text = String::from_utf8_lossy(&answer).to_string();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with("ok\n"), "{text}");
        worst = worst.max(took);
    }
    eprintln!(
        "/healthz with {} idle connections (cap {CAP}): worst of 5 {worst:?}",
        idle.len()
    );
    assert!(worst < Duration::from_millis(100), "{worst:?}");
    // The oldest were shed: at most the cap is still open on the service's side.
    let mut closed = 0;
    for s in &mut idle {
        let mut b = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(5), s.read(&mut b)).await
        {
            closed += 1;
        }
    }
    eprintln!("{closed} of {} idle connections were shed", idle.len());
    assert!(closed >= 3 * CAP, "only {closed} shed");
    svc.shutdown().await;
}

/// The case: the real binary under `RLIMIT_NOFILE=1024` (so the cap is derived from the
/// limit at start-up) and 1,100 idle connections; `/healthz` must answer within 100 ms.
#[tokio::test]
async fn the_real_binary_under_a_1024_fd_limit_keeps_healthz_fast() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let db = sqlite_db();
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -n 1024 && exec \"$0\" serve"])
        .arg(env!("CARGO_BIN_EXE_sdl-gate"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .env("SDL_GATE_LISTEN", "127.0.0.1:0")
        .env("SDL_GATE_DATABASE_URL", &db.url)
        .env("SDL_GATE_WORKERS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sdl-gate serve");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stderr = child.stderr.take().expect("stderr");
    let child = Kill(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("max_connections") || line.contains("listening on http://") {
                let _ = tx.send(line);
            }
        }
    });
    let mut cap_line = String::new();
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("serve did not start");
        if line.contains("max_connections") {
            cap_line = line;
        } else if let Some(pos) = line.find("listening on http://") {
            break line[pos + "listening on http://".len()..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_owned();
        }
    };
    // The bounds are logged by the server task, around the "listening" line.
    while cap_line.is_empty() {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the connection bounds are logged");
        if line.contains("max_connections") {
            cap_line = line;
        }
    }
    assert!(cap_line.contains("max_connections=896"), "{cap_line}");
    let mut idle = Vec::new();
    for _ in 0..1_100 {
        idle.push(TcpStream::connect(&addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let answer = tokio::time::timeout(Duration::from_secs(5), read_to_close(&mut s))
            .await
            .expect("/healthz answered within 5 s");
        worst = worst.max(started.elapsed());
        let text = String::from_utf8_lossy(&answer).to_string();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    }
    eprintln!(
        "/healthz under RLIMIT_NOFILE=1024 with 1,100 idle connections: worst of 5 {worst:?}"
    );
    assert!(worst < Duration::from_millis(100), "{worst:?}");
    drop(child);
}
