//! `sdl-gate ledger`: check the evidence ledger (in the database or an exported bundle),
//! export one repository's evidence for an auditor, show one change's entries, and sign a
//! checkpoint now. Exit codes: 0 intact (or done), 1 tampered (naming the first bad entry or
//! checkpoint and what is wrong), 2 usage errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use sdl_gate::forge_name::ForgeName;
use sdl_gate::ledger::Sealed;
use sdl_gate::ledger::bundle::Bundle;
use sdl_gate::ledger::keys;
use sdl_gate::ledger::note::{NoteSigner, SignedNote, VerifierKey};
use sdl_gate::ledger::verify::{ChainVerifier, StoredCheckpoint, Tamper};
use sdl_gate::settings::Settings;
use sdl_gate::store::{BundleSelection, Store};
use secrecy::ExposeSecret;

/// Arguments of `sdl-gate ledger`.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// TOML settings file; SDL_GATE_DATABASE_URL and SDL_GATE_LEDGER_KEY_PATH override it.
    #[arg(long, value_name = "FILE", env = "SDL_GATE_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: LedgerCommand,
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Recompute every hash, the Merkle roots and the checkpoint signatures. Exit 0 when
    /// intact, 1 naming the first bad entry or checkpoint, 2 on usage errors.
    Verify {
        /// The database to check (default: the service's, SDL_GATE_DATABASE_URL).
        #[arg(long, value_name = "URL", conflicts_with = "bundle")]
        database: Option<String>,
        /// An exported bundle folder to check offline instead.
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
        /// A public key to trust (`name+id+key`, as the service logs it); repeat for keys
        /// used before a rotation. Default: the key of SDL_GATE_LEDGER_KEY_PATH (database)
        /// or the bundle's keys.txt (bundle).
        #[arg(long = "key", value_name = "VKEY")]
        keys: Vec<String>,
        /// A checkpoint seen before (the `checkpoint` file of an earlier export): the ledger
        /// must still extend it. Repeatable.
        #[arg(long = "known", value_name = "FILE")]
        known: Vec<PathBuf>,
        /// The time-stamping authority's CA certificates (PEM): every checkpoint must then
        /// carry an RFC 3161 time-stamp of its note that `openssl ts -verify` accepts.
        #[arg(long, value_name = "FILE")]
        tsa_ca: Option<PathBuf>,
    },
    /// Write a self-contained bundle of one repository's entries that `ledger verify
    /// --bundle` checks offline. A checkpoint is signed first when the key file is here.
    Export {
        /// `owner/name` (GitHub) or the project path (GitLab).
        #[arg(long)]
        repo: String,
        /// Only this forge's entries.
        #[arg(long, value_parser = ["github", "gitlab"])]
        forge: Option<String>,
        /// Entries appended on or after this day or time (YYYY-MM-DD or RFC 3339).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Entries appended before this day or time (YYYY-MM-DD or RFC 3339).
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// The folder to create (must not exist, or be empty).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Public keys of earlier signing keys (after a rotation), carried in the bundle.
        #[arg(long = "key", value_name = "VKEY")]
        keys: Vec<String>,
    },
    /// The entries of one change (or of the whole repository, releases included), oldest
    /// first.
    Show {
        /// `owner/name` or the project path.
        #[arg(long)]
        repo: String,
        /// The PR / MR number; without it, every entry of the repository.
        #[arg(long)]
        change: Option<u64>,
        /// Only this forge's entries.
        #[arg(long, value_parser = ["github", "gitlab"])]
        forge: Option<String>,
        /// Print each entry's full JSON (one per line) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Sign a checkpoint over every entry now (the service does it every N entries or M
    /// minutes), and print it.
    Checkpoint,
    /// Print the public key that verifies this service's checkpoints (to publish).
    PublicKey,
}

/// Runs `sdl-gate ledger …`.
pub fn run(args: LedgerArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(args.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match args.command {
            LedgerCommand::Verify {
                database,
                bundle,
                keys,
                known,
                tsa_ca,
            } => {
                let trusted = match parse_keys(&keys) {
                    Ok(k) => k,
                    Err(code) => return Ok(code),
                };
                let known = match read_known(&known) {
                    Ok(k) => k,
                    Err(code) => return Ok(code),
                };
                match bundle {
                    Some(dir) => Ok(verify_bundle(&dir, trusted, &known, tsa_ca.as_deref())),
                    None => {
                        let url = database
                            .unwrap_or_else(|| settings.database_url.expose_secret().to_owned());
                        let trusted = if trusted.is_empty() {
                            match signer(&settings) {
                                Ok(s) => vec![s.verifier().clone()],
                                Err(code) => return Ok(code),
                            }
                        } else {
                            trusted
                        };
                        let Some(store) = open(&url).await? else {
                            return Ok(ExitCode::from(2));
                        };
                        let code =
                            verify_database(&store, &trusted, &known, tsa_ca.as_deref()).await?;
                        store.close().await;
                        Ok(code)
                    }
                }
            }
            LedgerCommand::Export {
                repo,
                forge,
                since,
                until,
                out,
                keys,
            } => {
                let mut extra = match parse_keys(&keys) {
                    Ok(k) => k,
                    Err(code) => return Ok(code),
                };
                let (Some(since_at), Some(until_at)) = (
                    parse_date("--since", since.as_deref()),
                    parse_date("--until", until.as_deref()),
                ) else {
                    return Ok(ExitCode::from(2));
                };
                let Some(store) = open(settings.database_url.expose_secret()).await? else {
                    return Ok(ExitCode::from(2));
                };
                let signer = signer(&settings).ok();
                if let Some(s) = &signer {
                    store
                        .checkpoint_ledger_stamped(s, tsa(&settings)?.as_ref())
                        .await
                        .context("signing a checkpoint before the export")?;
                    extra.insert(0, s.verifier().clone());
                }
                let selection = BundleSelection {
                    repository: repo.clone(),
                    forge: forge.as_deref().and_then(ForgeName::parse),
                    since: since_at,
                    until: until_at,
                    since_text: since,
                    until_text: until,
                };
                let checkpoints = store.ledger_checkpoints().await?;
                if let Some(code) = unknown_signers(&checkpoints, &extra) {
                    return Ok(code);
                }
                let Some(mut bundle) = store.ledger_bundle(&selection, extra).await? else {
                    eprintln!(
                        "sdl-gate: the ledger has no checkpoint yet, and no signing key is here \
                         to sign one ({}): run `sdl-gate ledger checkpoint` where the key is",
                        settings.ledger.key_path.display()
                    );
                    return Ok(ExitCode::from(1));
                };
                match &signer {
                    Some(s) => bundle.attestations = attestations(&store, &bundle, &settings, s).await?,
                    None => eprintln!(
                        "note: no signing key here ({}): the bundle holds no attestations",
                        settings.ledger.key_path.display()
                    ),
                }
                bundle
                    .write(&out)
                    .with_context(|| format!("writing the bundle to {}", out.display()))?;
                println!(
                    "exported {} entries of {repo} and {} attestations to {} (checkpoint of {} entries{})",
                    bundle.manifest.entries,
                    bundle.attestations.len(),
                    out.display(),
                    bundle.manifest.tree_size,
                    match bundle.manifest.unsealed_left_out {
                        0 => String::new(),
                        n => format!("; {n} newer entries are not sealed yet and were left out"),
                    }
                );
                store.close().await;
                Ok(ExitCode::SUCCESS)
            }
            LedgerCommand::Show {
                repo,
                change,
                forge,
                json,
            } => {
                let Some(store) = open(settings.database_url.expose_secret()).await? else {
                    return Ok(ExitCode::from(2));
                };
                let entries = store
                    .ledger_entries_of(
                        forge.as_deref().and_then(ForgeName::parse),
                        &repo,
                        change,
                    )
                    .await?;
                if entries.is_empty() {
                    let which = change.map(|n| format!(" #{n}")).unwrap_or_default();
                    eprintln!("sdl-gate: the ledger holds no entry of {repo}{which}");
                    store.close().await;
                    return Ok(ExitCode::from(1));
                }
                if !json {
                    println!(
                        "{:>7}  {:<24}  {:<22}  {:<16}  WHAT",
                        "SEQ", "AT", "KIND", "HASH"
                    );
                }
                for e in &entries {
                    if json {
                        println!("{}", e.body);
                        continue;
                    }
                    match serde_json::from_str::<Sealed>(&e.body) {
                        Ok(s) => println!(
                            "{:>7}  {:<24}  {:<22}  {:<16}  {}",
                            s.seq,
                            s.at.format("%Y-%m-%d %H:%M:%S UTC"),
                            s.entry.kind(),
                            e.hash.chars().take(16).collect::<String>(),
                            what(&s)
                        ),
                        Err(err) => println!("{:>7}  (does not read: {err})", e.seq),
                    }
                }
                store.close().await;
                Ok(ExitCode::SUCCESS)
            }
            LedgerCommand::Checkpoint => {
                let signer = match signer(&settings) {
                    Ok(s) => s,
                    Err(code) => return Ok(code),
                };
                let Some(store) = open(settings.database_url.expose_secret()).await? else {
                    return Ok(ExitCode::from(2));
                };
                match store
                    .checkpoint_ledger_stamped(&signer, tsa(&settings)?.as_ref())
                    .await?
                {
                    Some(cp) => print!("{}", signer.sign_note(&cp.body())),
                    None => println!("the latest checkpoint already covers every entry"),
                }
                store.close().await;
                Ok(ExitCode::SUCCESS)
            }
            LedgerCommand::PublicKey => match signer(&settings) {
                Ok(s) => {
                    println!("{}", s.verifier());
                    Ok(ExitCode::SUCCESS)
                }
                Err(code) => Ok(code),
            },
        }
    })
}

/// The DSSE-signed verification summary of every merge in `bundle`.
async fn attestations(
    store: &Store,
    bundle: &Bundle,
    settings: &Settings,
    signer: &NoteSigner,
) -> anyhow::Result<Vec<(String, String)>> {
    use sdl_gate::ledger::attest;
    let merges = attest::merges_in(&bundle.entries);
    let mut evaluations = std::collections::HashMap::new();
    for seq in merges.iter().filter_map(|(_, m)| m.evaluation_seq) {
        let found = store.ledger_entries(seq, 1).await?;
        if let Some(Ok(Sealed {
            entry: sdl_gate::ledger::Entry::Evaluation(e),
            ..
        })) = found
            .first()
            .map(|e| serde_json::from_str::<Sealed>(&e.body))
        {
            evaluations.insert(seq, *e);
        }
    }
    let github_web = settings
        .github
        .as_ref()
        .map(|g| web_of_api(&g.api_url))
        .unwrap_or_else(|| "https://github.com".to_owned());
    let ctx = attest::AttestContext {
        verifier_id: format!("https://{}", settings.ledger.origin),
        github_web,
        gitlab_web: settings
            .gitlab
            .as_ref()
            .map(|g| g.url.clone())
            .unwrap_or_else(|| "https://gitlab.com".to_owned()),
    };
    Ok(attest::attestations(
        &merges,
        |seq| evaluations.get(&seq).cloned(),
        &ctx,
        signer,
    ))
}

/// GitHub's web address from its API base (`https://api.github.com`, GHES
/// `https://HOST/api/v3`).
fn web_of_api(api: &str) -> String {
    let api = api.trim_end_matches('/');
    if api == "https://api.github.com" {
        return "https://github.com".to_owned();
    }
    api.strip_suffix("/api/v3").unwrap_or(api).to_owned()
}

/// One line saying what an entry records.
fn what(s: &Sealed) -> String {
    use sdl_gate::ledger::Entry;
    match &s.entry {
        Entry::Evaluation(e) => format!(
            "{} at {} ({})",
            e.verdict.as_str(),
            e.head_sha.chars().take(12).collect::<String>(),
            e.gates
                .iter()
                .map(|g| format!("{} {}", g.gate, g.verdict.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Entry::WaiverGranted(w) | Entry::WaiverExpired(w) => format!(
            "{} by {} until {}: {}",
            w.waiver.gate, w.waiver.by, w.waiver.until, w.waiver.reason
        ),
        Entry::WaiverRevoked(w) => format!("{} ({:?})", w.waiver.gate, w.reason),
        Entry::ThreatModelRecorded(t) => format!("{} by {}", t.reference, t.by),
        Entry::PolicyChanged(p) => match &p.policy {
            Some(policy) => format!(
                "{} at {} by {}: sha256 {}",
                policy.path,
                p.commit.chars().take(12).collect::<String>(),
                p.by.as_deref().unwrap_or("?"),
                policy.sha256.chars().take(16).collect::<String>()
            ),
            None => format!("the policy file was removed at {}", p.commit),
        },
        Entry::Release(r) => format!(
            "{} at {} by {} ({} merges since {}{})",
            r.tag,
            r.commit.as_deref().or(r.target.as_deref()).unwrap_or("?"),
            r.by.as_deref().unwrap_or("?"),
            r.merges.len(),
            r.previous.as_ref().map_or("the start", |p| p.tag.as_str()),
            match r.merges.iter().filter(|m| m.bypassed).count() {
                0 => String::new(),
                n => format!(", {n} BYPASSED the gate"),
            }
        ),
        Entry::Merge(m) => format!(
            "by {} as {}{}",
            m.merged_by.as_deref().unwrap_or("?"),
            m.merge_commit.as_deref().unwrap_or("?"),
            if m.bypassed {
                " — BYPASSED the gate"
            } else {
                ""
            }
        ),
    }
}

/// The time-stamping authority of SDL_GATE_LEDGER_TSA_URL, if one is set.
fn tsa(settings: &Settings) -> anyhow::Result<Option<sdl_gate::ledger::tsa::TsaClient>> {
    settings
        .ledger
        .tsa_url
        .as_deref()
        .map(sdl_gate::ledger::tsa::TsaClient::new)
        .transpose()
        .context("SDL_GATE_LEDGER_TSA_URL")
}

/// Checks an RFC 3161 reply for `note` with `openssl ts -verify` against the CA file.
fn verify_time_stamp(note: &str, reply: &[u8], ca: &Path) -> Result<(), String> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sdl-gate-ts-{}-{n}", std::process::id()));
    std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = openssl_ts_verify(&dir, note, reply, ca);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn openssl_ts_verify(dir: &Path, note: &str, reply: &[u8], ca: &Path) -> Result<(), String> {
    let (data, tsr) = (dir.join("note"), dir.join("reply.tsr"));
    std::fs::write(&data, note).map_err(|e| e.to_string())?;
    std::fs::write(&tsr, reply).map_err(|e| e.to_string())?;
    let out = std::process::Command::new("openssl")
        .args(["ts", "-verify", "-data"])
        .arg(&data)
        .arg("-in")
        .arg(&tsr)
        .arg("-CAfile")
        .arg(ca)
        .output()
        .map_err(|e| format!("running openssl ts -verify: {e}"))?;
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() && said.contains("Verification: OK") {
        Ok(())
    } else {
        let first = said
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        Err(format!(
            "its time-stamp does not verify (openssl ts -verify: {})",
            first.trim()
        ))
    }
}

/// The time-stamp of every checkpoint, when a CA was given: each must verify.
fn check_time_stamps(
    stamps: &[(sdl_gate::ledger::Place, String, Option<Vec<u8>>)],
    ca: Option<&Path>,
) -> Result<usize, Tamper> {
    let Some(ca) = ca else {
        return Ok(0);
    };
    for (place, note, reply) in stamps {
        let Some(reply) = reply else {
            return Err(Tamper {
                place: place.clone(),
                what: "it carries no time-stamp".into(),
            });
        };
        verify_time_stamp(note, reply, ca).map_err(|what| Tamper {
            place: place.clone(),
            what,
        })?;
    }
    Ok(stamps.len())
}

/// The signer of the key file; a usage error (exit 2) when there is none.
pub(super) fn signer(settings: &Settings) -> Result<NoteSigner, ExitCode> {
    keys::load(&settings.ledger.key_path, &settings.ledger.origin).map_err(|e| {
        eprintln!(
            "sdl-gate: the ledger's signing key (SDL_GATE_LEDGER_KEY_PATH): {e}; give the public \
             key with --key instead, or run where the service's key is"
        );
        ExitCode::from(2)
    })
}

pub(super) fn parse_keys(texts: &[String]) -> Result<Vec<VerifierKey>, ExitCode> {
    texts
        .iter()
        .map(|t| {
            VerifierKey::parse(t).map_err(|e| {
                eprintln!("sdl-gate: --key: {e}");
                ExitCode::from(2)
            })
        })
        .collect()
}

fn read_known(files: &[PathBuf]) -> Result<Vec<String>, ExitCode> {
    files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f).map_err(|e| {
                eprintln!("sdl-gate: --known {}: {e}", f.display());
                ExitCode::from(2)
            })
        })
        .collect()
}

/// A day (`YYYY-MM-DD`, its start in UTC) or an RFC 3339 time; `Some(None)` when not given,
/// `None` (after saying why) when it does not read.
fn parse_date(flag: &str, text: Option<&str>) -> Option<Option<DateTime<Utc>>> {
    let Some(text) = text else {
        return Some(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(Some(t.to_utc()));
    }
    if let Some(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Some(Some(day.and_utc()));
    }
    eprintln!(
        "sdl-gate: {flag} {text}: expected a day (2026-12-01) or an RFC 3339 time \
         (2026-12-01T12:00:00Z); release tags are not recorded in the ledger yet"
    );
    None
}

/// A checkpoint whose signer is not among `keys` (it could not be verified from the bundle).
fn unknown_signers(checkpoints: &[StoredCheckpoint], keys: &[VerifierKey]) -> Option<ExitCode> {
    for c in checkpoints {
        let Ok(note) = SignedNote::parse(&c.note) else {
            continue;
        };
        if note.verify(keys).is_err() {
            let by: Vec<String> = note
                .signatures
                .iter()
                .map(|s| format!("{}+{}", s.name, hex::encode(s.key_id)))
                .collect();
            eprintln!(
                "sdl-gate: the checkpoint of {} entries is signed by {}, which is not the key \
                 here: give its public key with --key so the bundle carries it",
                c.size,
                by.join(", ")
            );
            return Some(ExitCode::from(2));
        }
    }
    None
}

/// Connects to `url` without creating a database (`None` after saying why).
pub(super) async fn open(url: &str) -> anyhow::Result<Option<Store>> {
    if let Some(missing) = super::jobs::missing_sqlite_file(url) {
        eprintln!(
            "sdl-gate: no database: {url} names {}, which does not exist; point at the \
             service's database with --database or SDL_GATE_DATABASE_URL",
            missing.display()
        );
        return Ok(None);
    }
    let store = Store::connect(url, 2)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("migrating the database")?;
    Ok(Some(store))
}

fn report(result: Result<String, Tamper>) -> ExitCode {
    match result {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(t) => {
            println!("ledger TAMPERED: {t}");
            ExitCode::from(1)
        }
    }
}

async fn verify_database(
    store: &Store,
    trusted: &[VerifierKey],
    known: &[String],
    tsa_ca: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let checkpoints = store.ledger_checkpoints().await?;
    let known: Vec<StoredCheckpoint> = known
        .iter()
        .map(|note| StoredCheckpoint {
            size: SignedNote::parse(note)
                .ok()
                .and_then(|n| sdl_gate::ledger::note::Checkpoint::parse(&n.body).ok())
                .map_or(0, |c| c.size),
            note: note.clone(),
            tsa_reply: None,
        })
        .collect();
    let verifier = match ChainVerifier::new(&checkpoints, &known, trusted) {
        Ok(v) => v,
        Err(t) => return Ok(report(Err(t))),
    };
    let verified = match store.verify_ledger(verifier).await? {
        Ok(v) => v,
        Err(t) => return Ok(report(Err(t))),
    };
    let stamps: Vec<_> = checkpoints
        .iter()
        .map(|c| {
            (
                sdl_gate::ledger::Place::Checkpoint(c.size),
                c.note.clone(),
                c.tsa_reply.clone(),
            )
        })
        .collect();
    Ok(report(check_time_stamps(&stamps, tsa_ca).map(|n| {
        let mut text = verified.summary();
        if tsa_ca.is_some() {
            text.push_str(&format!("; {n} time-stamps verified by openssl ts -verify"));
        }
        text
    })))
}

fn verify_bundle(
    dir: &Path,
    trusted: Vec<VerifierKey>,
    known: &[String],
    tsa_ca: Option<&Path>,
) -> ExitCode {
    let bundle = match Bundle::read(dir) {
        Ok(b) => b,
        Err(t) => return report(Err(t)),
    };
    let (trusted, from_bundle) = if trusted.is_empty() {
        (bundle.keys.clone(), true)
    } else {
        (trusted, false)
    };
    if from_bundle {
        eprintln!(
            "note: trusting the keys in the bundle's keys.txt; compare them with the key the \
             service published, or pin it with --key"
        );
    }
    let stamped = match bundle
        .verify(&trusted, known)
        .and_then(|v| check_time_stamps(&bundle.time_stamps(), tsa_ca).map(|n| (v, n)))
    {
        Ok(ok) => ok,
        Err(t) => return report(Err(t)),
    };
    report(Ok(stamped).map(|(v, stamps)| {
        format!(
            "bundle intact: {} entries of {} proven in the checkpoint of {} entries (origin {}), \
             {} earlier checkpoints consistent with it, {} attestations signed and matching",
            v.entries,
            bundle.manifest.repository,
            v.checkpoint.size,
            v.checkpoint.origin,
            v.earlier,
            v.attestations
        ) + &if tsa_ca.is_some() {
            format!(", {stamps} time-stamps verified by openssl ts -verify")
        } else {
            String::new()
        }
    }))
}
