//! The evidence ledger in the store, on SQLite and (when `SDL_GATE_TEST_DATABASE_URL` is set,
//! always in CI) PostgreSQL: an untouched ledger verifies after a restart and with unsealed
//! entries; the service itself cannot change history; each kind of tampering an administrator
//! can do with SQL is found and named; two handles appending at once (as two replicas do)
//! make one chain.

mod service_support;

use chrono::{TimeZone, Utc};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::ledger::entry::{MergeEntry, Subject, ThreatModelEntry};
use sdl_gate::ledger::note::{NoteSigner, SignedNote};
use sdl_gate::ledger::verify::{Place, StoredCheckpoint, Tamper, Verified, verify_all};
use sdl_gate::ledger::{Entry, Sealed};
use sdl_gate::store::Store;
use service_support::{TestDb, all_dbs, open};

const ORIGIN: &str = "sdl.example.com/ledger";

fn subject(number: u64) -> Subject {
    Subject {
        forge: ForgeName::GitHub,
        repository: "acme/plc".into(),
        number,
    }
}

fn entry(i: u64) -> Entry {
    if i % 5 == 4 {
        Entry::Merge(MergeEntry {
            subject: subject(i),
            head_sha: format!("{i:040x}"),
            merge_commit: Some(format!("{:040x}", i + 1)),
            merged_by: Some("carol".into()),
            merged_at: Some(Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()),
            verdict: None,
            evaluation_seq: None,
            bypassed: true,
            title: None,
        })
    } else {
        Entry::ThreatModelRecorded(ThreatModelEntry {
            subject: subject(i),
            reference: format!("docs/threat-model/{i}.json"),
            by: "alice".into(),
            sha: format!("{i:040x}"),
        })
    }
}

async fn append(store: &Store, from: u64, count: u64) {
    for i in from..from + count {
        let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()
            + chrono::Duration::seconds(i as i64);
        store
            .append_ledger(&entry(i), at)
            .await
            .unwrap_or_else(|e| panic!("append {i}: {e}"));
    }
}

async fn verify(
    store: &Store,
    signer: &NoteSigner,
    known: &[StoredCheckpoint],
) -> Result<Verified, Tamper> {
    let entries = store.ledger_entries(0, 1_000_000).await.expect("entries");
    let checkpoints = store.ledger_checkpoints().await.expect("checkpoints");
    verify_all(
        &entries,
        &checkpoints,
        known,
        std::slice::from_ref(signer.verifier()),
    )
}

/// Runs `sql` on the test database as an administrator would, with the append-only
/// triggers dropped first (they stop the service, not someone with the database's keys).
async fn tamper(db: &TestDb, sql: &str) {
    if db.label == "postgres" {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
        for s in [
            "ALTER TABLE ledger_entries DISABLE TRIGGER USER",
            "ALTER TABLE ledger_checkpoints DISABLE TRIGGER USER",
            sql,
        ] {
            sqlx::query(sqlx::AssertSqlSafe(s.to_owned()))
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("connect");
        for s in [
            "DROP TRIGGER IF EXISTS ledger_entries_no_update",
            "DROP TRIGGER IF EXISTS ledger_entries_no_delete",
            "DROP TRIGGER IF EXISTS ledger_checkpoints_no_update",
            "DROP TRIGGER IF EXISTS ledger_checkpoints_no_delete",
            sql,
        ] {
            sqlx::query(sqlx::AssertSqlSafe(s.to_owned()))
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        pool.close().await;
    }
}

/// A ledger of 13 entries with a checkpoint over the first 10.
async fn ledger(db: &TestDb, signer: &NoteSigner) -> Store {
    let store = open(db).await;
    append(&store, 0, 10).await;
    let cp = store.checkpoint_ledger(signer).await.expect("checkpoint");
    assert_eq!(cp.map(|c| c.size), Some(10));
    append(&store, 10, 3).await;
    store
}

fn body_of(entries: &[sdl_gate::ledger::verify::StoredEntry], seq: u64) -> (String, String) {
    let e = &entries[seq as usize];
    (e.body.clone(), e.hash.clone())
}

fn sql_text(s: &str) -> String {
    s.replace('\'', "''")
}

#[tokio::test]
async fn an_untouched_ledger_verifies_after_a_restart_with_unsealed_entries() {
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    for db in all_dbs("an_untouched_ledger_verifies").await {
        let store = ledger(&db, &signer).await;
        store.close().await;
        // A restart: a new connection reads what the old one committed.
        let store = open(&db).await;
        let v = verify(&store, &signer, &[])
            .await
            .unwrap_or_else(|t| panic!("{}: {t}", db.label));
        assert_eq!(
            (v.entries, v.checkpoints, v.unsealed),
            (13, 1, 3),
            "{}",
            db.label
        );
        assert_eq!(v.latest.map(|c| c.size), Some(10));
        // Signing again covers the rest; signing with nothing new writes nothing.
        assert_eq!(
            store
                .checkpoint_ledger(&signer)
                .await
                .unwrap()
                .map(|c| c.size),
            Some(13)
        );
        assert_eq!(store.checkpoint_ledger(&signer).await.unwrap(), None);
        let v = verify(&store, &signer, &[]).await.unwrap();
        assert_eq!((v.checkpoints, v.unsealed), (2, 0));
        // Each stored text is canonical, numbered and chained.
        let entries = store.ledger_entries(0, 100).await.unwrap();
        let second: Sealed = serde_json::from_str(&entries[1].body).unwrap();
        assert_eq!(second.prev, entries[0].hash);
        assert_eq!(second.seq, 1);
    }
}

#[tokio::test]
async fn the_service_cannot_rewrite_or_delete_history() {
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    for db in all_dbs("the_service_cannot_rewrite_history").await {
        let _store = ledger(&db, &signer).await;
        let refused = if db.label == "postgres" {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let u = sqlx::query("UPDATE ledger_entries SET body = 'x' WHERE seq = 1")
                .execute(&pool)
                .await;
            let d = sqlx::query("DELETE FROM ledger_checkpoints")
                .execute(&pool)
                .await;
            vec![u.map(|_| ()), d.map(|_| ())]
        } else {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let u = sqlx::query("UPDATE ledger_entries SET body = 'x' WHERE seq = 1")
                .execute(&pool)
                .await;
            let d = sqlx::query("DELETE FROM ledger_entries")
                .execute(&pool)
                .await;
            vec![u.map(|_| ()), d.map(|_| ())]
        };
        for r in refused {
            let err = r.expect_err("refused").to_string();
            assert!(err.contains("append-only"), "{}: {err}", db.label);
        }
    }
}

/// Each tampering, on a fresh ledger of 13 entries (checkpoint over 10), and the fault
/// `verify` must name.
#[tokio::test]
async fn every_kind_of_tampering_is_found_and_named() {
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    let other = NoteSigner::generate(ORIGIN).unwrap();
    type Case = (
        &'static str,
        fn(&[sdl_gate::ledger::verify::StoredEntry], &NoteSigner) -> Vec<String>,
        Place,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "an entry's text edited",
            |e, _| {
                let (body, _) = body_of(e, 4);
                vec![format!(
                    "UPDATE ledger_entries SET body = '{}' WHERE seq = 4",
                    sql_text(&body.replace("carol", "mallory"))
                )]
            },
            Place::Entry(4),
            "its stored hash is not the hash of its text",
        ),
        (
            "an entry rewritten with its hash",
            |e, _| {
                let (body, _) = body_of(e, 3);
                let forged = body.replace("3.json", "9.json");
                vec![format!(
                    "UPDATE ledger_entries SET body = '{}', hash = '{}' WHERE seq = 3",
                    sql_text(&forged),
                    sdl_gate::ledger::entry::entry_hash(&forged)
                )]
            },
            Place::Entry(4),
            "previous-entry hash",
        ),
        (
            "the last sealed entries rewritten with a consistent chain",
            |e, _| {
                // Entry 9 is the last one the checkpoint covers; 10.. are rewritten to chain on.
                let mut sql = Vec::new();
                let mut prev = e[8].hash.clone();
                for seq in 9..13u64 {
                    let mut sealed: Sealed = serde_json::from_str(&e[seq as usize].body).unwrap();
                    sealed.prev = prev.clone();
                    if seq == 9
                        && let Entry::Merge(m) = &mut sealed.entry
                    {
                        m.bypassed = false;
                    }
                    let body = sealed.canonical().unwrap();
                    let hash = sdl_gate::ledger::entry::entry_hash(&body);
                    sql.push(format!(
                        "UPDATE ledger_entries SET body = '{}', hash = '{hash}' WHERE seq = {seq}",
                        sql_text(&body)
                    ));
                    prev = hash;
                }
                sql
            },
            Place::Checkpoint(10),
            "do not have its root",
        ),
        (
            "an entry deleted",
            |_, _| vec!["DELETE FROM ledger_entries WHERE seq = 6".into()],
            Place::Entry(6),
            "missing",
        ),
        (
            "the newest sealed entries deleted",
            |_, _| vec!["DELETE FROM ledger_entries WHERE seq >= 8".into()],
            Place::Checkpoint(10),
            "only 8 are stored",
        ),
        (
            "an entry inserted at the end",
            |e, _| {
                let mut sealed: Sealed = serde_json::from_str(&e[12].body).unwrap();
                sealed.seq = 13;
                let body = sealed.canonical().unwrap();
                vec![format!(
                    "INSERT INTO ledger_entries (seq, hash, body, kind, forge, repository, number, recorded_at) \
                 VALUES (13, '{}', '{}', 'merge', 'github', 'acme/plc', 13, 0)",
                    sdl_gate::ledger::entry::entry_hash(&body),
                    sql_text(&body)
                )]
            },
            Place::Entry(13),
            "previous-entry hash",
        ),
        (
            "a checkpoint signed by another key",
            |e, other| {
                let mut frontier = sdl_gate::ledger::merkle::Frontier::default();
                for x in &e[..13] {
                    frontier.push(sdl_gate::ledger::merkle::leaf_hash(x.body.as_bytes()));
                }
                let cp = sdl_gate::ledger::note::Checkpoint {
                    origin: ORIGIN.into(),
                    size: 13,
                    root: frontier.root(),
                };
                vec![format!(
                    "INSERT INTO ledger_checkpoints (size, note, frontier, created_at) VALUES (13, '{}', '{}', 0)",
                    sql_text(&other.sign_note(&cp.body())),
                    frontier.to_text()
                )]
            },
            Place::Checkpoint(13),
            "signed by no known key",
        ),
        (
            "a text that is not canonical",
            |e, _| {
                let (body, _) = body_of(e, 2);
                let spaced = body.replacen(',', ", ", 1);
                vec![format!(
                    "UPDATE ledger_entries SET body = '{}', hash = '{}' WHERE seq = 2",
                    sql_text(&spaced),
                    sdl_gate::ledger::entry::entry_hash(&spaced)
                )]
            },
            Place::Entry(2),
            "not in canonical form",
        ),
    ];
    for (name, make, place, what) in cases {
        for db in all_dbs("every_kind_of_tampering").await {
            let store = ledger(&db, &signer).await;
            assert!(
                verify(&store, &signer, &[]).await.is_ok(),
                "{name}: intact before"
            );
            let entries = store.ledger_entries(0, 100).await.unwrap();
            for sql in make(&entries, &other) {
                tamper(&db, &sql).await;
            }
            let t = verify(&store, &signer, &[])
                .await
                .expect_err(&format!("{} / {name}: found", db.label));
            assert_eq!(t.place, place, "{} / {name}: {t}", db.label);
            assert!(t.what.contains(what), "{} / {name}: {t}", db.label);
        }
    }
}

/// A checkpoint seen before (an earlier export) catches a database rolled back to an older
/// state and a history rewritten behind it; the same checkpoint on the untouched ledger does
/// not raise a false alarm.
#[tokio::test]
async fn a_checkpoint_seen_before_catches_a_rolled_back_ledger() {
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    for db in all_dbs("a_checkpoint_seen_before").await {
        let store = ledger(&db, &signer).await;
        let cp = store
            .checkpoint_ledger(&signer)
            .await
            .unwrap()
            .expect("a new checkpoint");
        let known = StoredCheckpoint {
            size: cp.size,
            note: signer.sign_note(&cp.body()),
            tsa_reply: None,
        };
        assert!(SignedNote::parse(&known.note).is_ok());
        let v = verify(&store, &signer, std::slice::from_ref(&known))
            .await
            .expect("no false alarm");
        assert_eq!(v.entries, 13);
        // Rolled back to the state of the first checkpoint: newer entries and the newer
        // checkpoint are gone, and the old one is served as the latest.
        tamper(&db, "DELETE FROM ledger_checkpoints WHERE size = 13").await;
        tamper(&db, "DELETE FROM ledger_entries WHERE seq >= 10").await;
        assert!(
            verify(&store, &signer, &[]).await.is_ok(),
            "{}: consistent on its own",
            db.label
        );
        let t = verify(&store, &signer, std::slice::from_ref(&known))
            .await
            .expect_err("rolled back");
        assert_eq!(t.place, Place::Checkpoint(13), "{t}");
        assert!(t.what.contains("rolled back"), "{t}");
    }
}

/// Two store handles on one database (what two `serve` replicas are) appending at once make
/// one chain: no fork, no gap, no duplicate, and it verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_appending_at_once_make_one_chain() {
    const EACH: u64 = 1_000;
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    for db in all_dbs("two_replicas_appending").await {
        let a = open(&db).await;
        let b = open(&db).await;
        let mut tasks = Vec::new();
        for (replica, store) in [a.clone(), b.clone()].into_iter().enumerate() {
            for lane in 0..4u64 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let from = (replica as u64 * 4 + lane) * EACH;
                    append(&store, from, EACH / 4).await;
                }));
            }
        }
        let checkpointer = {
            let (a, signer) = (a.clone(), NoteSigner::generate(ORIGIN).unwrap());
            tokio::spawn(async move {
                // Checkpoints signed while appends run, by a replica with its own key…
                for _ in 0..5 {
                    let _ = a.checkpoint_ledger(&signer).await;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                signer
            })
        };
        for t in tasks {
            t.await.expect("appender");
        }
        let mid_signer = checkpointer.await.expect("checkpointer");
        b.checkpoint_ledger(&signer).await.unwrap();
        let entries = a.ledger_entries(0, 1_000_000).await.unwrap();
        assert_eq!(entries.len() as u64, 2 * EACH, "{}", db.label);
        let checkpoints = a.ledger_checkpoints().await.unwrap();
        // …so verify trusts both keys (the key rotation case too).
        let keys = [signer.verifier().clone(), mid_signer.verifier().clone()];
        let v = verify_all(&entries, &checkpoints, &[], &keys)
            .unwrap_or_else(|t| panic!("{}: {t}", db.label));
        assert_eq!((v.entries, v.unsealed), (2 * EACH, 0), "{}", db.label);
        assert!(v.checkpoints >= 2, "{}: {}", db.label, v.checkpoints);
        // Every append is there once.
        let mut refs: Vec<String> = entries
            .iter()
            .map(|e| {
                let s: Sealed = serde_json::from_str(&e.body).unwrap();
                format!("{}:{:?}", s.entry.kind(), s.entry.scope().number)
            })
            .collect();
        refs.sort();
        refs.dedup();
        assert_eq!(refs.len() as u64, 2 * EACH, "{}", db.label);
    }
}

/// The environment variables that turn [`appends_until_killed`] into the child of
/// [`a_kill_9_during_appends_leaves_a_ledger_that_verifies`]: the database, and the key file
/// the child signs with (made by the parent, so it can verify what the child signed).
const APPENDER: &str = "SDL_GATE_TEST_LEDGER_APPENDER";
const APPENDER_KEY: &str = "SDL_GATE_TEST_LEDGER_APPENDER_KEY";

/// In the child process (with [`APPENDER`] naming a database): appends for ever, signing a
/// checkpoint every 25 entries, until the parent kills it with SIGKILL. Run on its own (no
/// variable), the same loop runs three rounds in process and must verify.
#[tokio::test]
async fn appends_until_killed() {
    let db = service_support::sqlite_db();
    let child = std::env::var(APPENDER).ok();
    let url = child.clone().unwrap_or_else(|| db.url.clone());
    let signer = match std::env::var(APPENDER_KEY) {
        Ok(path) => sdl_gate::ledger::keys::load(std::path::Path::new(&path), ORIGIN).expect("key"),
        Err(_) => NoteSigner::generate(ORIGIN).unwrap(),
    };
    let store = Store::connect(&url, 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    let rounds = if child.is_some() { u64::MAX } else { 3 };
    let mut i = store.ledger_size().await.expect("size");
    for _ in 0..rounds {
        append(&store, i, 25).await;
        i += 25;
        store.checkpoint_ledger(&signer).await.expect("checkpoint");
    }
    let v = verify(&store, &signer, &[]).await.expect("intact");
    assert_eq!((v.entries, v.checkpoints, v.unsealed), (75, 3, 0));
}

/// A process killed with SIGKILL in the middle of appending and signing checkpoints leaves
/// a ledger that verifies — every committed entry whole and chained, no torn entry or
/// checkpoint — and appending goes on from where it stopped, with no false alarm.
#[cfg(unix)]
#[tokio::test]
async fn a_kill_9_during_appends_leaves_a_ledger_that_verifies() {
    for db in all_dbs("a_kill_9_during_appends").await {
        let keydir = tempfile::tempdir().unwrap();
        let key = keydir.path().join("ledger.pem");
        let (signer, _) = sdl_gate::ledger::keys::load_or_generate(&key, ORIGIN).unwrap();
        let store = open(&db).await;
        let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "appends_until_killed",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(APPENDER, &db.url)
            .env(APPENDER_KEY, &key)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the appender");
        let started = std::time::Instant::now();
        while store.ledger_size().await.unwrap_or(0) < 300 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "{}: the appender makes progress",
                db.label
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let pid = i32::try_from(child.id()).expect("pid");
        // SAFETY: kill(2) with our own child's pid and a valid signal.
        let killed = unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(killed, 0);
        let status = child.wait().expect("reaped");
        assert!(!status.success(), "{}: it was killed", db.label);
        let store = open(&db).await;
        let entries = store.ledger_entries(0, 1_000_000).await.unwrap();
        let checkpoints = store.ledger_checkpoints().await.unwrap();
        assert!(
            entries.len() >= 300 && checkpoints.len() >= 10,
            "{}",
            db.label
        );
        let keys = [signer.verifier().clone()];
        let v = verify_all(&entries, &checkpoints, &[], &keys)
            .unwrap_or_else(|t| panic!("{}: after kill -9: {t}", db.label));
        assert_eq!(v.entries, entries.len() as u64);
        // Appending goes on, chained to the last entry the dead process committed.
        let before = entries.len() as u64;
        append(&store, before, 5).await;
        store.checkpoint_ledger(&signer).await.unwrap();
        let entries = store.ledger_entries(0, 1_000_000).await.unwrap();
        let checkpoints = store.ledger_checkpoints().await.unwrap();
        let v = verify_all(&entries, &checkpoints, &[], &keys)
            .unwrap_or_else(|t| panic!("{}: after more appends: {t}", db.label));
        assert_eq!((v.entries, v.unsealed), (before + 5, 0), "{}", db.label);
    }
}
