//! RFC 3161 time-stamps of checkpoints against a real time-stamping authority run here:
//! `openssl ts -reply` behind a small loopback HTTP server, with its own CA and a TSA
//! certificate (extended key usage timeStamping). The stored replies are accepted by
//! `openssl ts -verify`, directly and through `ledger verify --tsa-ca`; a reply moved to
//! another checkpoint is not; and while the authority is down no checkpoint is written.

mod service_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::ledger::Entry;
use sdl_gate::ledger::entry::{Subject, ThreatModelEntry};
use sdl_gate::ledger::keys;
use sdl_gate::ledger::tsa::TsaClient;
use sdl_gate::store::{Store, StoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ORIGIN: &str = "sdl.example.com/ledger";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a TSA certificate it issued and the `openssl ts` configuration, in `dir`.
fn authority(dir: &Path) -> PathBuf {
    openssl(
        dir,
        &[
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-noout",
            "-out",
            "ca.key",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "30",
            "-subj",
            "/CN=sdl-gate test TSA root",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        dir,
        &[
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-noout",
            "-out",
            "tsa.key",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            "/CN=sdl-gate test TSA",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "extendedKeyUsage=critical,timeStamping\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "tsa.crt",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
        ],
    );
    std::fs::write(dir.join("tsaserial"), "01\n").unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("tsa.cnf"),
        format!(
            "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\ndir = {d}\nserial = {d}/tsaserial\n\
             crypto_device = builtin\nsigner_cert = {d}/tsa.crt\ncerts = {d}/ca.crt\nsigner_key = {d}/tsa.key\n\
             signer_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1\n\
             ordering = yes\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n"
        ),
    )
    .unwrap();
    dir.join("ca.crt")
}

/// Serves `openssl ts -reply` over HTTP on loopback; returns its URL.
async fn serve_tsa(dir: PathBuf) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/tsr", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            n += 1;
            let dir = dir.clone();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then Content-Length bytes of body.
            let body = loop {
                let Ok(read) = conn.read(&mut chunk).await else {
                    break None;
                };
                if read == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..read]);
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break Some(buf[end + 4..end + 4 + len].to_vec());
                }
            };
            let Some(body) = body else { continue };
            let (q, r) = (dir.join(format!("q{n}.tsq")), dir.join(format!("r{n}.tsr")));
            std::fs::write(&q, body).unwrap();
            let ok = Command::new("openssl")
                .args(["ts", "-reply", "-config"])
                .arg(dir.join("tsa.cnf"))
                .arg("-queryfile")
                .arg(&q)
                .arg("-out")
                .arg(&r)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            let reply = if ok {
                std::fs::read(&r).unwrap_or_default()
            } else {
                Vec::new()
            };
            let head = format!(
                "HTTP/1.1 {}\r\ncontent-type: application/timestamp-reply\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                if ok {
                    "200 OK"
                } else {
                    "500 Internal Server Error"
                },
                reply.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(&reply).await;
        }
    });
    url
}

async fn append(store: &Store, from: u64, count: u64) {
    for i in from..from + count {
        let entry = Entry::ThreatModelRecorded(ThreatModelEntry {
            subject: Subject {
                forge: ForgeName::GitHub,
                repository: "acme/plc".into(),
                number: 1,
            },
            reference: format!("docs/threat-model/{i}.json"),
            by: "alice".into(),
            sha: format!("{i:040x}"),
        });
        store
            .append_ledger(&entry, Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap())
            .await
            .unwrap();
    }
}

/// Nonces whose shortest DER form is shorter than eight bytes, or needs a leading zero, are
/// granted by `openssl ts -reply` (one nonce in 256 has a zero first byte; a padded encoding
/// was refused as ILLEGAL_PADDING and failed that checkpoint).
#[test]
fn openssl_grants_requests_whatever_the_nonce() {
    let dir = tempfile::tempdir().unwrap();
    authority(dir.path());
    let digest = [0x5a; 32];
    for nonce in [
        0u64,
        1,
        0x80,
        0x0012_3456_789a_bcde,
        0x0092_3456_789a_bcde,
        u64::MAX,
    ] {
        let (q, r) = (dir.path().join("q.tsq"), dir.path().join("r.tsr"));
        std::fs::write(&q, sdl_gate::ledger::tsa::request(&digest, nonce)).unwrap();
        let q = q.display().to_string();
        let r_arg = r.display().to_string();
        openssl(
            dir.path(),
            &[
                "ts",
                "-reply",
                "-config",
                "tsa.cnf",
                "-queryfile",
                &q,
                "-out",
                &r_arg,
            ],
        );
        let reply = std::fs::read(&r).unwrap();
        sdl_gate::ledger::tsa::check_response(&reply, &digest, nonce)
            .unwrap_or_else(|why| panic!("nonce {nonce:#x}: {why}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_time_stamped_and_openssl_accepts_the_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let tsa_dir = dir.path().join("tsa");
    std::fs::create_dir(&tsa_dir).unwrap();
    let ca = authority(&tsa_dir);
    let url = serve_tsa(tsa_dir.clone()).await;
    let db = format!("sqlite://{}", dir.path().join("sdl-gate.db").display());
    let key = dir.path().join("ledger.pem");
    let (signer, _) = keys::load_or_generate(&key, ORIGIN).unwrap();
    let store = Store::connect(&db, 2).await.unwrap();
    store.migrate().await.unwrap();
    let tsa = TsaClient::new(&url).unwrap();
    append(&store, 0, 5).await;
    store
        .checkpoint_ledger_stamped(&signer, Some(&tsa))
        .await
        .unwrap()
        .expect("signed");
    append(&store, 5, 3).await;
    store
        .checkpoint_ledger_stamped(&signer, Some(&tsa))
        .await
        .unwrap()
        .expect("signed");
    let checkpoints = store.ledger_checkpoints().await.unwrap();
    assert_eq!(checkpoints.len(), 2);

    // openssl accepts each stored reply for its own note.
    for (i, c) in checkpoints.iter().enumerate() {
        let reply = c.tsa_reply.as_ref().expect("time-stamped");
        let (note, tsr) = (
            dir.path().join(format!("note{i}")),
            dir.path().join(format!("reply{i}.tsr")),
        );
        std::fs::write(&note, &c.note).unwrap();
        std::fs::write(&tsr, reply).unwrap();
        let out = Command::new("openssl")
            .args(["ts", "-verify", "-data"])
            .arg(&note)
            .arg("-in")
            .arg(&tsr)
            .arg("-CAfile")
            .arg(&ca)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Verification: OK"),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // While the authority is down, no checkpoint is written: the entries wait.
    append(&store, 8, 2).await;
    let down = TsaClient::new("http://127.0.0.1:9/tsr").unwrap();
    let err = store
        .checkpoint_ledger_stamped(&signer, Some(&down))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::TimeStamp(_)), "{err}");
    assert_eq!(store.ledger_checkpoints().await.unwrap().len(), 2);
    store.close().await;

    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
            .arg("ledger")
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SDL_GATE_DATABASE_URL", &db)
            .env("SDL_GATE_LEDGER_KEY_PATH", &key)
            .env("SDL_GATE_LEDGER_ORIGIN", ORIGIN)
            .env("SDL_GATE_LEDGER_TSA_URL", &url)
            .output()
            .unwrap()
    };
    let ca_arg = ca.display().to_string();
    let out = run(&["verify", "--tsa-ca", &ca_arg]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("2 time-stamps verified by openssl ts -verify"),
        "{said}"
    );
    // The CLI's checkpoint is stamped too, and an export carries the replies.
    let out = run(&["export", "--repo", "acme/plc", "--out", "bundle"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("bundle/checkpoint.tsr").is_file());
    let out = run(&["verify", "--bundle", "bundle", "--tsa-ca", &ca_arg]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(said.contains("3 time-stamps verified"), "{said}");

    // A reply moved to another checkpoint (a back-dated note) is refused by openssl.
    let tsr = dir.path().join("bundle/checkpoint.tsr");
    let first = checkpoints[0].tsa_reply.clone().unwrap();
    std::fs::write(&tsr, first).unwrap();
    let out = run(&["verify", "--bundle", "bundle", "--tsa-ca", &ca_arg]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("ledger TAMPERED: checkpoint: its time-stamp does not verify"),
        "{said}"
    );
    // And a database whose checkpoints lost their replies fails under --tsa-ca.
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    for sql in [
        "DROP TRIGGER ledger_checkpoints_no_update",
        "UPDATE ledger_checkpoints SET tsa_reply = NULL WHERE size = 5",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let out = run(&["verify", "--tsa-ca", &ca_arg]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("checkpoint of 5 entries: it carries no time-stamp"),
        "{said}"
    );
}
