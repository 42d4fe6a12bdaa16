//! `sdl-gate ledger` as an auditor or operator runs it, on a real SQLite file written by the
//! service's store: verify (0 intact, 1 tampered naming the entry, 2 usage), checkpoint,
//! export to a bundle that verifies offline and fails when any file of it is edited, show,
//! public-key.

mod service_support;

use std::path::Path;
use std::process::{Command, Output};

use chrono::{TimeZone, Utc};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::ledger::Entry;
use sdl_gate::ledger::entry::{Subject, ThreatModelEntry};
use sdl_gate::ledger::keys;
use sdl_gate::store::Store;

const ORIGIN: &str = "sdl.example.com/ledger";

struct Setup {
    dir: tempfile::TempDir,
    url: String,
    key: std::path::PathBuf,
    vkey: String,
}

/// Appends threat-model entries `range`: two of three of acme/plc (changes 1 to 4), the third
/// of acme/other, appended on 1, 2 and 3 December in turn.
async fn append(store: &Store, range: std::ops::Range<u64>) {
    for i in range {
        let repo = if i % 3 == 2 { "acme/other" } else { "acme/plc" };
        let entry = Entry::ThreatModelRecorded(ThreatModelEntry {
            subject: Subject {
                forge: ForgeName::GitHub,
                repository: repo.into(),
                number: 1 + i % 4,
            },
            reference: format!("docs/threat-model/{i}.json"),
            by: "alice".into(),
            sha: format!("{i:040x}"),
        });
        let at = Utc
            .with_ymd_and_hms(2026, 12, 1 + (i % 3) as u32, 9, 0, 0)
            .unwrap();
        store.append_ledger(&entry, at).await.unwrap();
    }
}

async fn setup(entries: u64) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sdl-gate.db").display());
    let key = dir.path().join("ledger.pem");
    let (signer, generated) = keys::load_or_generate(&key, ORIGIN).unwrap();
    assert!(generated);
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    append(&store, 0..entries).await;
    store.checkpoint_ledger(&signer).await.unwrap();
    store.close().await;
    Setup {
        vkey: signer.verifier().to_string(),
        dir,
        url,
        key,
    }
}

impl Setup {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sdl-gate"))
            .arg("ledger")
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SDL_GATE_DATABASE_URL", &self.url)
            .env("SDL_GATE_LEDGER_KEY_PATH", &self.key)
            .env("SDL_GATE_LEDGER_ORIGIN", ORIGIN)
            .output()
            .expect("the binary runs")
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn edit(path: &Path, from: &str, to: &str) {
    let s = std::fs::read_to_string(path).unwrap();
    assert!(s.contains(from), "{}: no {from:?}", path.display());
    std::fs::write(path, s.replacen(from, to, 1)).unwrap();
}

#[tokio::test]
async fn verify_checkpoint_show_and_the_public_key() {
    let s = setup(12).await;
    let out = s.run(&["verify"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("ledger intact: 12 entries, 1 checkpoints"),
        "{}",
        text(&out)
    );
    let out = s.run(&["public-key"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), s.vkey);
    // Pinning the published key works the same; another key is refused with exit 1.
    let out = s.run(&["verify", "--key", &s.vkey]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let other = sdl_gate::ledger::note::NoteSigner::generate(ORIGIN).unwrap();
    let out = s.run(&["verify", "--key", &other.verifier().to_string()]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("signed by no known key"),
        "{}",
        text(&out)
    );

    let out = s.run(&["checkpoint"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("already covers every entry"),
        "{}",
        text(&out)
    );

    let out = s.run(&["show", "--repo", "acme/plc", "--change", "2"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("threat_model_recorded"), "{shown}");
    assert!(
        shown.contains("docs/threat-model/1.json by alice"),
        "{shown}"
    );
    assert!(
        !shown.contains("docs/threat-model/5.json"),
        "another repository's: {shown}"
    );
    let out = s.run(&["show", "--repo", "acme/plc", "--change", "99"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
}

#[tokio::test]
async fn usage_errors_exit_2_and_say_what_is_wrong() {
    let s = setup(3).await;
    let out = s.run(&["verify", "--key", "not-a-key"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("--key"), "{}", text(&out));
    let missing = format!("sqlite://{}", s.path("nowhere.db").display());
    let out = s.run(&["verify", "--database", &missing]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
    assert!(
        !s.path("nowhere.db").exists(),
        "verify never creates a database"
    );
    let out = s.run(&[
        "export",
        "--repo",
        "acme/plc",
        "--since",
        "last tuesday",
        "--out",
        "b",
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        text(&out).contains("--since last tuesday"),
        "{}",
        text(&out)
    );
    std::fs::remove_file(&s.key).unwrap();
    let out = s.run(&["verify"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        text(&out).contains("SDL_GATE_LEDGER_KEY_PATH"),
        "{}",
        text(&out)
    );
}

impl Setup {
    /// Runs `sql` on the database as an administrator would, then `ledger verify`, which
    /// must exit 1 saying `fault`.
    async fn tampered(&self, sql: &[&str], fault: &str) {
        let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
        for statement in sql {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
        let out = self.run(&["verify"]);
        assert_eq!(code(&out), 1, "{}", text(&out));
        assert!(text(&out).contains(fault), "{}", text(&out));
    }
}

#[tokio::test]
async fn a_tampered_database_exits_1_naming_the_entry() {
    setup(9)
        .await
        .tampered(
            &[
                "DROP TRIGGER ledger_entries_no_update",
                "UPDATE ledger_entries SET body = replace(body, 'alice', 'mallory') WHERE seq = 4",
            ],
            "ledger TAMPERED: entry 4: its stored hash is not the hash of its text",
        )
        .await;
    // Across the pages `verify` reads ahead: a deleted entry is named as missing.
    setup(12_000)
        .await
        .tampered(
            &[
                "DROP TRIGGER ledger_entries_no_delete",
                "DELETE FROM ledger_entries WHERE seq = 7001",
            ],
            "ledger TAMPERED: entry 7001: it is missing (the next stored entry is 7002)",
        )
        .await;
}

#[tokio::test]
async fn an_exported_bundle_verifies_offline_and_any_edit_is_found() {
    let s = setup(30).await;
    let out = s.run(&[
        "export",
        "--repo",
        "acme/plc",
        "--since",
        "2026-12-02",
        "--out",
        "bundle",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    // Entries of acme/plc (i % 3 != 2) appended on Dec 2 or 3 (i % 3 == 1; Dec 3 is i%3==2).
    assert!(
        text(&out).contains("exported 10 entries of acme/plc"),
        "{}",
        text(&out)
    );
    let bundle = s.path("bundle");
    for f in [
        "entries.jsonl",
        "proofs.jsonl",
        "checkpoint",
        "checkpoints.jsonl",
        "keys.txt",
        "manifest.json",
    ] {
        assert!(bundle.join(f).is_file(), "{f}");
    }
    assert!(!s.path(".bundle.partial").exists());
    let out = s.run(&["verify", "--bundle", "bundle"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("bundle intact: 10 entries of acme/plc"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("trusting the keys in the bundle"),
        "{}",
        text(&out)
    );
    // Offline: with the database gone, pinned to the published key.
    std::fs::remove_file(s.path("sdl-gate.db")).unwrap();
    let out = s.run(&[
        "verify",
        "--bundle",
        "bundle",
        "--key",
        &s.vkey,
        "--known",
        "bundle/checkpoint",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    // Exporting into a folder that holds something is refused, and nothing is written.
    let out = s.run(&["export", "--repo", "acme/plc", "--out", "bundle"]);
    assert_ne!(code(&out), 0);

    let copy = |name: &str| {
        let to = s.path(name);
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(&bundle).unwrap().flatten() {
            if f.path().is_file() {
                std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
            }
        }
        to
    };
    let b = copy("edited-entry");
    edit(&b.join("entries.jsonl"), "alice", "mallory");
    let out = s.run(&["verify", "--bundle", "edited-entry", "--key", &s.vkey]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("ledger TAMPERED: entry 1: it is not in the checkpoint"),
        "{}",
        text(&out)
    );

    let b = copy("edited-checkpoint");
    let cp = std::fs::read_to_string(b.join("checkpoint")).unwrap();
    let size_line = cp.lines().nth(1).unwrap().to_owned();
    edit(&b.join("checkpoint"), &format!("\n{size_line}\n"), "\n31\n");
    let out = s.run(&["verify", "--bundle", "edited-checkpoint", "--key", &s.vkey]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("checkpoint: the signature of key"),
        "{}",
        text(&out)
    );

    let b = copy("other-key");
    let other = sdl_gate::ledger::note::NoteSigner::generate(ORIGIN).unwrap();
    let body = cp.split("\n\n").next().unwrap().to_owned() + "\n";
    std::fs::write(b.join("checkpoint"), other.sign_note(&body)).unwrap();
    std::fs::write(b.join("keys.txt"), format!("{}\n", other.verifier())).unwrap();
    let out = s.run(&["verify", "--bundle", "other-key", "--key", &s.vkey]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("signed by no known key"),
        "{}",
        text(&out)
    );

    let b = copy("dropped-entry");
    let entries = std::fs::read_to_string(b.join("entries.jsonl")).unwrap();
    let kept: Vec<&str> = entries.lines().skip(1).collect();
    std::fs::write(b.join("entries.jsonl"), kept.join("\n") + "\n").unwrap();
    let out = s.run(&["verify", "--bundle", "dropped-entry", "--key", &s.vkey]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("proofs for"), "{}", text(&out));
}

/// A bundle exported later proves that it extends an earlier one (consistency proof of the
/// earlier checkpoint), and an earlier bundle served after a later one was seen is caught.
#[tokio::test]
async fn a_later_bundle_extends_an_earlier_one_and_an_old_one_is_caught() {
    let s = setup(20).await;
    let out = s.run(&["export", "--repo", "acme/plc", "--out", "early"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    // More entries, another checkpoint (the export signs one), a later bundle.
    let store = Store::connect(&s.url, 2).await.unwrap();
    append(&store, 20..27).await;
    store.close().await;
    let out = s.run(&["export", "--repo", "acme/plc", "--out", "late"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = s.run(&[
        "verify",
        "--bundle",
        "late",
        "--key",
        &s.vkey,
        "--known",
        "early/checkpoint",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("1 earlier checkpoints consistent with it"),
        "{}",
        text(&out)
    );
    let out = s.run(&[
        "verify",
        "--bundle",
        "early",
        "--key",
        &s.vkey,
        "--known",
        "late/checkpoint",
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("checkpoint of 27 entries: it was seen before, but this bundle's checkpoint covers only 20 entries"),
        "{}",
        text(&out)
    );
    // A later bundle whose earlier checkpoint does not lead to its latest one is caught.
    let lines = std::fs::read_to_string(s.path("late/checkpoints.jsonl")).unwrap();
    let mut earlier: serde_json::Value =
        serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    earlier["consistency"][0] = serde_json::Value::String(base64::engine::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        [0u8; 32],
    ));
    std::fs::write(s.path("late/checkpoints.jsonl"), format!("{earlier}\n")).unwrap();
    let out = s.run(&["verify", "--bundle", "late", "--key", &s.vkey]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains(
            "checkpoint of 20 entries: the latest checkpoint (27 entries) does not extend it"
        ),
        "{}",
        text(&out)
    );
}

/// The key rotation the README describes: checkpoints signed before stay valid under the old
/// key, `verify` trusts both when given both (no false alarm), names the old checkpoint when
/// given only the new key, and `export` carries every key that signed — refusing, naming the
/// checkpoint, when one is missing.
#[tokio::test]
async fn a_rotated_key_keeps_old_checkpoints_verifiable() {
    let s = setup(10).await;
    let old = s.vkey.clone();
    // Rotate: a new key file in place, more entries, a checkpoint by the new key.
    std::fs::remove_file(&s.key).unwrap();
    let (new, generated) = keys::load_or_generate(&s.key, ORIGIN).unwrap();
    assert!(generated);
    let new = new.verifier().to_string();
    assert_ne!(new, old);
    let store = Store::connect(&s.url, 2).await.unwrap();
    append(&store, 10..14).await;
    store.close().await;
    let out = s.run(&["checkpoint"]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    let out = s.run(&["verify", "--key", &old, "--key", &new]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("14 entries, 2 checkpoints"),
        "{}",
        text(&out)
    );
    let out = s.run(&["verify"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("ledger TAMPERED: checkpoint of 10 entries: signed by no known key"),
        "{}",
        text(&out)
    );

    let out = s.run(&["export", "--repo", "acme/plc", "--out", "without-old"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        text(&out).contains("checkpoint of 10 entries is signed by"),
        "{}",
        text(&out)
    );
    assert!(!s.path("without-old").exists(), "nothing written");
    let out = s.run(&[
        "export", "--repo", "acme/plc", "--key", &old, "--out", "rotated",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let keys_txt = std::fs::read_to_string(s.path("rotated/keys.txt")).unwrap();
    assert!(
        keys_txt.contains(&old) && keys_txt.contains(&new),
        "{keys_txt}"
    );
    let out = s.run(&[
        "verify", "--bundle", "rotated", "--key", &old, "--key", &new,
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
}
