//! The evidence ledger's tables: appending an entry (one at a time across replicas, so the
//! chain never forks), reading entries back in order, and the signed checkpoints with the
//! background task that writes them every N entries or M minutes.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::records::{enum_from_str, number};
use super::{Db, Store, StoreError, now_ms, on_pool};
use crate::forge_name::ForgeName;
use crate::gates::OverallVerdict;
use crate::ledger::entry::{ENTRY_VERSION, Entry, GENESIS, Sealed, entry_hash};
use crate::ledger::merkle::{Frontier, leaf_hash};
use crate::ledger::note::{Checkpoint, NoteSigner, SignedNote};
use crate::ledger::verify::{StoredCheckpoint, StoredEntry};

/// The PostgreSQL advisory lock appends take (one writer at a time across replicas).
const APPEND_LOCK: i64 = 0x5d1_9a7e_1ed9;

/// Entries read per query when streaming the ledger.
pub const LEDGER_PAGE: i64 = 5_000;

/// Where an entry landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Its sequence number.
    pub seq: u64,
    /// Its chain hash (hex).
    pub hash: String,
    /// False when a once-only entry was found instead of appended.
    pub new: bool,
}

/// The last evaluation entry of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastEvaluation {
    /// Its sequence number.
    pub seq: u64,
    /// The head it evaluated.
    pub head_sha: String,
    /// Its verdict.
    pub verdict: OverallVerdict,
}

/// When the checkpointer signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// After this many new entries…
    pub entries: u64,
    /// …or this long after the last checkpoint when any entry is new.
    pub every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy {
            entries: 256,
            every: Duration::from_secs(300),
        }
    }
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    seq: i64,
    hash: String,
    body: String,
}

impl From<EntryRow> for StoredEntry {
    fn from(r: EntryRow) -> StoredEntry {
        StoredEntry {
            seq: u64::try_from(r.seq).unwrap_or(u64::MAX),
            hash: r.hash,
            body: r.body,
        }
    }
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    size: i64,
    note: String,
    frontier: String,
    tsa_reply: Option<String>,
}

fn seq_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq)
        .map_err(|_| StoreError::Corrupt(format!("ledger sequence {seq} out of range")))
}

/// The columns an entry is found by.
struct Index<'a> {
    kind: &'static str,
    forge: &'static str,
    repository: &'a str,
    number: i64,
    head_sha: Option<&'a str>,
    verdict: Option<&'static str>,
}

fn index(entry: &Entry) -> Result<Index<'_>, StoreError> {
    let scope = entry.scope();
    let (head_sha, verdict) = match entry {
        Entry::Evaluation(e) => (Some(e.head_sha.as_str()), Some(e.verdict.as_str())),
        Entry::Merge(m) => (Some(m.head_sha.as_str()), m.verdict.map(|v| v.as_str())),
        _ => (None, None),
    };
    Ok(Index {
        kind: entry.kind(),
        forge: scope.forge.as_str(),
        repository: scope.repository,
        // 0: about the repository, not one change (PR and MR numbers start at 1).
        number: number(scope.number.unwrap_or(0))?,
        head_sha,
        verdict,
    })
}

/// Appends inside an open transaction: reads the head of the chain, seals, inserts.
macro_rules! append_in {
    ($tx:expr, $entry:expr, $at:expr, $once:expr) => {{
        let found: Option<(i64, String)> = match $once {
            None => None,
            Some(key) => {
                sqlx::query_as("SELECT seq, hash FROM ledger_entries WHERE once = $1")
                    .bind(key)
                    .fetch_optional(&mut *$tx)
                    .await?
            }
        };
        if let Some((seq, hash)) = found {
            Appended {
                seq: u64::try_from(seq).unwrap_or(0),
                hash,
                new: false,
            }
        } else {
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM ledger_entries ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *$tx)
                .await?;
        let (seq, prev) = match head {
            Some((seq, hash)) => (u64::try_from(seq).unwrap_or(0) + 1, hash),
            None => (0, GENESIS.to_owned()),
        };
        let sealed = Sealed {
            v: ENTRY_VERSION,
            seq,
            prev,
            at: $at,
            entry: $entry.clone(),
        };
        let body = sealed
            .canonical()
            .map_err(|e| StoreError::Corrupt(format!("ledger entry: {e}")))?;
        let hash = entry_hash(&body);
        let ix = index($entry)?;
        sqlx::query(
            "INSERT INTO ledger_entries (seq, hash, body, kind, forge, repository, number, head_sha, verdict, once, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(seq_i64(seq)?)
        .bind(&hash)
        .bind(&body)
        .bind(ix.kind)
        .bind(ix.forge)
        .bind(ix.repository)
        .bind(ix.number)
        .bind(ix.head_sha)
        .bind(ix.verdict)
        .bind($once)
        .bind($at.timestamp_millis())
        .execute(&mut *$tx)
        .await?;
        Appended { seq, hash, new: true }
        }
    }};
}

impl Store {
    /// Appends `entry`, recorded at `at`, as the next entry of the chain, durably: it returns
    /// once the entry is committed. Appends from several replicas are serialised (SQLite:
    /// the write lock; PostgreSQL: an advisory transaction lock), so the chain has one head.
    pub async fn append_ledger(
        &self,
        entry: &Entry,
        at: DateTime<Utc>,
    ) -> Result<Appended, StoreError> {
        self.append(entry, at, None).await
    }

    /// Appends `entry` unless an entry was appended with the same `once` key, which is then
    /// returned instead: for what happens once (a waiver granted, a merge), so a job that runs
    /// again after a crash, or a redelivered webhook, records it once.
    pub async fn append_ledger_once(
        &self,
        entry: &Entry,
        at: DateTime<Utc>,
        once: &str,
    ) -> Result<Appended, StoreError> {
        let found: Option<(i64, String)> = on_pool!(&self.read, pool => sqlx::query_as(
            "SELECT seq, hash FROM ledger_entries WHERE once = $1")
            .bind(once)
            .fetch_optional(pool)
            .await)?;
        if let Some((seq, hash)) = found {
            return Ok(Appended {
                seq: u64::try_from(seq).unwrap_or(0),
                hash,
                new: false,
            });
        }
        self.append(entry, at, Some(once)).await
    }

    async fn append(
        &self,
        entry: &Entry,
        at: DateTime<Utc>,
        once: Option<&str>,
    ) -> Result<Appended, StoreError> {
        match &self.db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let appended = append_in!(tx, entry, at, once);
                tx.commit().await?;
                Ok(appended)
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(APPEND_LOCK)
                    .execute(&mut *tx)
                    .await?;
                let appended = append_in!(tx, entry, at, once);
                tx.commit().await?;
                Ok(appended)
            }
        }
    }

    /// How many entries the ledger holds (one more than the last sequence number).
    pub async fn ledger_size(&self) -> Result<u64, StoreError> {
        let max: Option<i64> = on_pool!(&self.read, pool => sqlx::query_scalar("SELECT MAX(seq) FROM ledger_entries")
            .fetch_one(pool)
            .await)?;
        Ok(max.map_or(0, |m| u64::try_from(m).unwrap_or(0) + 1))
    }

    /// Up to `limit` entries from sequence number `from` on, in order.
    pub async fn ledger_entries(
        &self,
        from: u64,
        limit: i64,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let from = seq_i64(from)?;
        let rows: Vec<EntryRow> = on_pool!(&self.read, pool => sqlx::query_as(
            "SELECT seq, hash, body FROM ledger_entries WHERE seq >= $1 ORDER BY seq LIMIT $2")
            .bind(from)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(StoredEntry::from).collect())
    }

    /// The entries of one repository (of one change when `number` is given), in order.
    pub async fn ledger_entries_of(
        &self,
        forge: Option<ForgeName>,
        repository: &str,
        number: Option<u64>,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let number = number.map(super::records::number).transpose()?;
        let rows: Vec<EntryRow> = on_pool!(&self.read, pool => sqlx::query_as(
            "SELECT seq, hash, body FROM ledger_entries \
             WHERE repository = $1 AND ($2 IS NULL OR forge = $2) AND ($3 IS NULL OR number = $3) \
             ORDER BY seq")
            .bind(repository)
            .bind(forge.map(|f| f.as_str()))
            .bind(number)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(StoredEntry::from).collect())
    }

    /// The entries of one kind (`merge`, `release`…) of a repository after sequence number
    /// `after` (all when `None`), in order.
    pub async fn ledger_entries_of_kind(
        &self,
        forge: ForgeName,
        repository: &str,
        kind: &str,
        after: Option<u64>,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let after = after.map(seq_i64).transpose()?.unwrap_or(-1);
        let rows: Vec<EntryRow> = on_pool!(&self.db, pool => sqlx::query_as(
            "SELECT seq, hash, body FROM ledger_entries \
             WHERE forge = $1 AND repository = $2 AND kind = $3 AND seq > $4 ORDER BY seq")
            .bind(forge.as_str())
            .bind(repository)
            .bind(kind)
            .bind(after)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(StoredEntry::from).collect())
    }

    /// The last `evaluation` entry of a change, if any.
    pub async fn last_evaluation_entry(
        &self,
        forge: ForgeName,
        repository: &str,
        number_: u64,
    ) -> Result<Option<LastEvaluation>, StoreError> {
        let n = number(number_)?;
        let row: Option<(i64, Option<String>, Option<String>)> = on_pool!(&self.db, pool => sqlx::query_as(
            "SELECT seq, head_sha, verdict FROM ledger_entries \
             WHERE forge = $1 AND repository = $2 AND number = $3 AND kind = 'evaluation' \
             ORDER BY seq DESC LIMIT 1")
            .bind(forge.as_str())
            .bind(repository)
            .bind(n)
            .fetch_optional(pool)
            .await)?;
        let Some((seq, Some(head_sha), Some(verdict))) = row else {
            return Ok(None);
        };
        let verdict: OverallVerdict = enum_from_str("verdict", &verdict)?;
        Ok(Some(LastEvaluation {
            seq: u64::try_from(seq).unwrap_or(0),
            head_sha,
            verdict,
        }))
    }

    /// Every checkpoint, smallest first.
    pub async fn ledger_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows: Vec<CheckpointRow> = on_pool!(&self.read, pool => sqlx::query_as(
            "SELECT size, note, frontier, tsa_reply FROM ledger_checkpoints ORDER BY size")
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|r| StoredCheckpoint {
                size: u64::try_from(r.size).unwrap_or(u64::MAX),
                note: r.note,
                tsa_reply: r.tsa_reply.and_then(|t| {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD.decode(t).ok()
                }),
            })
            .collect())
    }

    /// Signs a checkpoint over every entry stored now, unless the latest one already covers
    /// them; returns it. The new entries are hashed onto the latest checkpoint's frontier,
    /// after checking that frontier against the latest signed root (a store whose cache was
    /// edited is refused, never signed over).
    pub async fn checkpoint_ledger(
        &self,
        signer: &NoteSigner,
    ) -> Result<Option<Checkpoint>, StoreError> {
        self.checkpoint_ledger_stamped(signer, None).await
    }

    /// [`Store::checkpoint_ledger`], with the note time-stamped by `tsa` first: when the
    /// authority gives no time-stamp, no checkpoint is written (the entries wait, unsigned,
    /// for the next try) — a checkpoint without its time-stamp would be one an administrator
    /// with the key could have made at any time.
    pub async fn checkpoint_ledger_stamped(
        &self,
        signer: &NoteSigner,
        tsa: Option<&crate::ledger::tsa::TsaClient>,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let latest: Option<CheckpointRow> = on_pool!(&self.db, pool => sqlx::query_as(
            "SELECT size, note, frontier, tsa_reply FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(pool)
            .await)?;
        let mut frontier = match &latest {
            None => Frontier::default(),
            Some(row) => {
                let corrupt = |why: &str| {
                    StoreError::Corrupt(format!("ledger checkpoint of {} entries: {why}", row.size))
                };
                let note = SignedNote::parse(&row.note).map_err(|e| corrupt(&e.to_string()))?;
                let signed = Checkpoint::parse(&note.body).map_err(|e| corrupt(&e.to_string()))?;
                let frontier = Frontier::from_text(&row.frontier)
                    .ok_or_else(|| corrupt("its stored frontier does not read"))?;
                if frontier.size() != signed.size || frontier.root() != signed.root {
                    return Err(corrupt("its stored frontier is not the signed tree"));
                }
                frontier
            }
        };
        let mut from = frontier.size();
        loop {
            let page = self.ledger_entries(from, LEDGER_PAGE).await?;
            let Some(last) = page.last() else { break };
            for e in &page {
                if e.seq != frontier.size() {
                    return Err(StoreError::Corrupt(format!(
                        "ledger entry {} is missing: not signing over a gap",
                        frontier.size()
                    )));
                }
                frontier.push(leaf_hash(e.body.as_bytes()));
            }
            from = last.seq + 1;
        }
        if latest
            .as_ref()
            .is_some_and(|r| u64::try_from(r.size).ok() == Some(frontier.size()))
            || frontier.size() == 0
        {
            return Ok(None);
        }
        let checkpoint = Checkpoint {
            origin: signer.verifier().name.clone(),
            size: frontier.size(),
            root: frontier.root(),
        };
        let note = signer.sign_note(&checkpoint.body());
        let tsa_reply = match tsa {
            None => None,
            Some(tsa) => {
                use base64::Engine;
                let reply = tsa
                    .stamp(note.as_bytes())
                    .await
                    .map_err(|e| StoreError::TimeStamp(e.to_string()))?;
                Some(base64::engine::general_purpose::STANDARD.encode(reply))
            }
        };
        // Replicas may race to sign the same size: the signature is deterministic, so the
        // loser's row would be the same, and it is dropped.
        on_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO ledger_checkpoints (size, note, frontier, tsa_reply, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (size) DO NOTHING")
            .bind(seq_i64(checkpoint.size)?)
            .bind(&note)
            .bind(frontier.to_text())
            .bind(tsa_reply)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(Some(checkpoint))
    }

    /// Entries appended since the latest checkpoint, and how long ago it was written.
    async fn since_checkpoint(&self) -> Result<(u64, Option<Duration>), StoreError> {
        let latest: Option<(i64, i64)> = on_pool!(&self.read, pool => sqlx::query_as(
            "SELECT size, created_at FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(pool)
            .await)?;
        let size = self.ledger_size().await?;
        Ok(match latest {
            None => (size, None),
            Some((covered, at)) => (
                size.saturating_sub(u64::try_from(covered).unwrap_or(0)),
                Some(Duration::from_millis(
                    u64::try_from(now_ms() - at).unwrap_or(0),
                )),
            ),
        })
    }
}

impl Store {
    /// Streams every entry through `verifier`, reading the next page while the current one
    /// is checked (on every core), and ends it: `Ok(Err(tamper))` names the first fault.
    pub async fn verify_ledger(
        &self,
        mut verifier: crate::ledger::verify::ChainVerifier,
    ) -> Result<Result<crate::ledger::Verified, crate::ledger::Tamper>, StoreError> {
        let fetch = |from: u64| {
            let store = self.clone();
            tokio::spawn(async move { store.ledger_entries(from, LEDGER_PAGE).await })
        };
        let joined = |e: tokio::task::JoinError| StoreError::Corrupt(format!("verifying: {e}"));
        // Two pages in flight (the read pool has connections to spare), by sequence number:
        // a page that comes back short ends the ledger.
        let page = u64::try_from(LEDGER_PAGE).unwrap_or(1);
        let mut from = 0;
        let mut ahead = std::collections::VecDeque::from([fetch(0), fetch(page)]);
        while let Some(next) = ahead.pop_front() {
            let rows = next.await.map_err(joined)??;
            from += page;
            let full = rows.len() as u64 == page;
            if full {
                ahead.push_back(fetch(from + page));
            } else {
                ahead.clear();
            }
            let page = rows;
            if page.is_empty() {
                break;
            }
            let checked =
                tokio::task::spawn_blocking(move || verifier.push_all(&page).map(|()| verifier))
                    .await
                    .map_err(joined)?;
            verifier = match checked {
                Ok(v) => v,
                Err(t) => return Ok(Err(t)),
            };
        }
        Ok(verifier.finish())
    }
}

/// Which entries an export takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleSelection {
    /// `owner/name` or the project path.
    pub repository: String,
    /// Only this forge's.
    pub forge: Option<ForgeName>,
    /// Appended at or after.
    pub since: Option<DateTime<Utc>>,
    /// Appended before.
    pub until: Option<DateTime<Utc>>,
    /// The range as the user wrote it, for the manifest.
    pub since_text: Option<String>,
    /// The range as the user wrote it, for the manifest.
    pub until_text: Option<String>,
}

impl Store {
    /// Builds the bundle of `sel` against the latest checkpoint: the selected entries it
    /// covers with their inclusion proofs, every earlier checkpoint with its consistency
    /// proof, and the keys that signed. `Ok(None)` when no checkpoint exists yet.
    pub async fn ledger_bundle(
        &self,
        sel: &BundleSelection,
        keys: Vec<crate::ledger::note::VerifierKey>,
    ) -> Result<Option<crate::ledger::bundle::Bundle>, StoreError> {
        use crate::ledger::bundle::{
            BUNDLE_FORMAT, Bundle, EarlierCheckpoint, EntryProof, Manifest, encode_path,
        };
        let checkpoints = self.ledger_checkpoints().await?;
        let Some(latest) = checkpoints.last().cloned() else {
            return Ok(None);
        };
        let size = latest.size;
        let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut from = 0;
        while from < size {
            let page = self.ledger_entries(from, LEDGER_PAGE).await?;
            let Some(last) = page.last() else { break };
            for e in page.iter().take_while(|e| e.seq < size) {
                leaves.push(leaf_hash(e.body.as_bytes()));
            }
            from = last.seq + 1;
        }
        let tree = crate::ledger::merkle::Tree::new(leaves);
        let since = sel.since.map(|t| t.timestamp_millis());
        let until = sel.until.map(|t| t.timestamp_millis());
        let rows: Vec<EntryRow> = on_pool!(&self.read, pool => sqlx::query_as(
            "SELECT seq, hash, body FROM ledger_entries \
             WHERE repository = $1 AND ($2 IS NULL OR forge = $2) \
             AND ($3 IS NULL OR recorded_at >= $3) AND ($4 IS NULL OR recorded_at < $4) \
             ORDER BY seq")
            .bind(&sel.repository)
            .bind(sel.forge.map(|f| f.as_str()))
            .bind(since)
            .bind(until)
            .fetch_all(pool)
            .await)?;
        let (sealed, unsealed): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .map(StoredEntry::from)
            .partition(|e| e.seq < size);
        let proofs = sealed
            .iter()
            .map(|e| EntryProof {
                seq: e.seq,
                tree_size: size,
                path: encode_path(
                    &tree.inclusion_proof(usize::try_from(e.seq).unwrap_or(usize::MAX)),
                ),
            })
            .collect();
        let earlier = checkpoints[..checkpoints.len() - 1]
            .iter()
            .map(|c| EarlierCheckpoint {
                tsa: c.tsa_reply.as_deref().map(|r| {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD.encode(r)
                }),
                note: c.note.clone(),
                consistency: encode_path(
                    &tree.consistency_proof(usize::try_from(c.size).unwrap_or(usize::MAX)),
                ),
            })
            .collect();
        Ok(Some(Bundle {
            manifest: Manifest {
                format: BUNDLE_FORMAT.to_owned(),
                repository: sel.repository.clone(),
                forge: sel.forge.map(|f| f.as_str().to_owned()),
                since: sel.since_text.clone(),
                until: sel.until_text.clone(),
                entries: sealed.len() as u64,
                tree_size: size,
                unsealed_left_out: unsealed.len() as u64,
                sdl_gate: crate::ledger::evidence::SDL_GATE_VERSION.to_owned(),
                exported_at: Utc::now(),
            },
            entries: sealed.into_iter().map(|e| e.body).collect(),
            proofs,
            checkpoint: latest.note,
            checkpoint_tsa: latest.tsa_reply,
            earlier,
            keys,
            attestations: Vec::new(),
        }))
    }
}

/// Writes checkpoints in the background: every `tick` it signs when `policy.entries` new
/// entries are waiting or `policy.every` has passed since the last checkpoint with any new
/// entry. Failures are logged and tried again next tick (entries wait, unsigned, meanwhile).
pub fn spawn_checkpointer(
    store: Store,
    signer: Arc<NoteSigner>,
    tsa: Option<crate::ledger::tsa::TsaClient>,
    policy: CheckpointPolicy,
    tick: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let due = match store.since_checkpoint().await {
                Ok((0, _)) => false,
                Ok((new, age)) => new >= policy.entries || age.is_none_or(|a| a >= policy.every),
                Err(e) => {
                    tracing::warn!(error = %e, "ledger: cannot read the checkpoint state");
                    false
                }
            };
            if !due {
                continue;
            }
            match store.checkpoint_ledger_stamped(&signer, tsa.as_ref()).await {
                Ok(Some(cp)) => tracing::info!(size = cp.size, "ledger: checkpoint signed"),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "ledger: checkpoint not written"),
            }
        }
    })
}
