//! Checking a ledger without trusting whoever stored it: every entry's text is canonical,
//! numbered without gaps and chained to the one before, and every checkpoint is signed by a
//! trusted key and has the Merkle root of the entries it covers. The first fault found is
//! named — which entry or checkpoint, and what is wrong — and nothing else is reported as a
//! fault (entries after the last checkpoint are counted as not yet sealed, not as bad).

use serde_json::Value;

use super::entry::{GENESIS, entry_hash};
use super::merkle::{Frontier, Hash, leaf_hash};
use super::note::{Checkpoint, SignedNote, VerifierKey};

/// An entry as stored: its number, its chain hash and its canonical text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Its sequence number.
    pub seq: u64,
    /// The chain hash recorded with it (hex).
    pub hash: String,
    /// Its canonical JSON text.
    pub body: String,
}

/// A checkpoint as stored: the signed note text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The tree size recorded with it.
    pub size: u64,
    /// The signed note.
    pub note: String,
    /// The RFC 3161 time-stamp reply (DER) for the note, when one was obtained.
    pub tsa_reply: Option<Vec<u8>>,
}

/// Where a fault is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The entry with this sequence number.
    Entry(u64),
    /// The checkpoint of this many entries.
    Checkpoint(u64),
    /// A file of an exported bundle.
    File(String),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Entry(seq) => write!(f, "entry {seq}"),
            Place::Checkpoint(size) => write!(f, "checkpoint of {size} entries"),
            Place::File(name) => write!(f, "{name}"),
        }
    }
}

/// The first fault found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {what}")]
pub struct Tamper {
    /// Where.
    pub place: Place,
    /// What is wrong.
    pub what: String,
}

fn tamper(place: Place, what: impl Into<String>) -> Tamper {
    Tamper {
        place,
        what: what.into(),
    }
}

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries checked.
    pub entries: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// The largest checkpoint (the state an auditor can pin).
    pub latest: Option<Checkpoint>,
    /// Entries after the latest checkpoint: chained, but not yet covered by a signature.
    pub unsealed: u64,
    /// The root of every entry checked.
    pub root: Hash,
}

impl Verified {
    /// One line on what was verified, as `ledger verify` prints it and the auditor report
    /// states it.
    pub fn summary(&self) -> String {
        let latest = match &self.latest {
            Some(cp) => format!(
                "the latest checkpoint covers {} entries (origin {})",
                cp.size, cp.origin
            ),
            None => "no checkpoint yet".to_owned(),
        };
        format!(
            "ledger intact: {} entries, {} checkpoints, {latest}; {} newer entries are chained but not yet signed",
            self.entries, self.checkpoints, self.unsealed
        )
    }
}

/// A checkpoint whose signature has been verified, waiting for its size to be reached.
#[derive(Debug, Clone)]
struct Pending {
    checkpoint: Checkpoint,
}

/// Checks entries one by one (so a database can be streamed) against checkpoints verified
/// up front.
#[derive(Debug)]
pub struct ChainVerifier {
    next_seq: u64,
    prev: String,
    frontier: Frontier,
    /// Verified checkpoints, largest last; popped from the front as they are reached.
    pending: std::collections::VecDeque<Pending>,
    checked: u64,
    latest: Option<Checkpoint>,
    last_good: u64,
    checkpoints: u64,
}

impl ChainVerifier {
    /// Verifies the signature of every checkpoint with `keys` (and that its origin is the
    /// signing key's name) and prepares to check entries from the first. `known` are
    /// checkpoints seen before (an earlier export): the ledger must still extend them.
    pub fn new(
        checkpoints: &[StoredCheckpoint],
        known: &[StoredCheckpoint],
        keys: &[VerifierKey],
    ) -> Result<ChainVerifier, Tamper> {
        let mut pending = Vec::with_capacity(checkpoints.len() + known.len());
        let mut latest: Option<Checkpoint> = None;
        for (stored, is_known) in checkpoints
            .iter()
            .map(|c| (c, false))
            .chain(known.iter().map(|c| (c, true)))
        {
            let place = Place::Checkpoint(stored.size);
            let checkpoint = signed_checkpoint(&stored.note, keys, &place)?;
            if checkpoint.size != stored.size {
                return Err(tamper(
                    place,
                    format!(
                        "it is stored as covering {} entries but signs {}",
                        stored.size, checkpoint.size
                    ),
                ));
            }
            if !is_known && latest.as_ref().is_none_or(|l| checkpoint.size > l.size) {
                latest = Some(checkpoint.clone());
            }
            if is_known {
                let newest = latest.as_ref().map_or(0, |l| l.size);
                if checkpoint.size > newest {
                    return Err(tamper(
                        place,
                        format!(
                            "a checkpoint of {} entries was seen before, but the newest this \
                             ledger holds covers {newest}: it was rolled back",
                            checkpoint.size
                        ),
                    ));
                }
            }
            pending.push(Pending { checkpoint });
        }
        pending.sort_by_key(|p| p.checkpoint.size);
        Ok(ChainVerifier {
            next_seq: 0,
            prev: GENESIS.to_owned(),
            frontier: Frontier::default(),
            pending: pending.into(),
            checked: 0,
            latest,
            last_good: 0,
            checkpoints: checkpoints.len() as u64,
        })
    }

    /// Checks the next entry.
    pub fn push(&mut self, row: &StoredEntry) -> Result<(), Tamper> {
        let checked = examine(row);
        self.chain(row, checked)
    }

    /// Checks the next entries, in order. What each entry's own text must satisfy (JSON,
    /// canonical, a ledger entry, its hashes) is checked on every core at once; the chain and
    /// the roots after, in order. The first fault found is the one in the lowest entry.
    pub fn push_all(&mut self, rows: &[StoredEntry]) -> Result<(), Tamper> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let examined: Vec<Examined> = if threads < 2 || rows.len() < 256 {
            rows.iter().map(examine).collect()
        } else {
            let chunk = rows.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let parts: Vec<_> = rows
                    .chunks(chunk)
                    .map(|part| scope.spawn(move || part.iter().map(examine).collect::<Vec<_>>()))
                    .collect();
                parts
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_default())
                    .collect()
            })
        };
        if examined.len() != rows.len() {
            return Err(tamper(
                Place::Entry(self.next_seq),
                "an entry could not be checked (a checking thread failed)",
            ));
        }
        for (row, checked) in rows.iter().zip(examined) {
            self.chain(row, checked)?;
        }
        Ok(())
    }

    fn chain(&mut self, row: &StoredEntry, checked: Examined) -> Result<(), Tamper> {
        let expected = self.next_seq;
        if row.seq != expected {
            return Err(if row.seq > expected {
                tamper(
                    Place::Entry(expected),
                    format!("it is missing (the next stored entry is {})", row.seq),
                )
            } else {
                tamper(Place::Entry(row.seq), "it is stored twice")
            });
        }
        let place = Place::Entry(row.seq);
        let Facts {
            seq,
            prev,
            hash,
            leaf,
        } = checked.map_err(|what| tamper(place.clone(), what))?;
        if seq != row.seq {
            return Err(tamper(
                place,
                format!("it is stored as entry {} but says it is {seq}", row.seq),
            ));
        }
        if prev != self.prev {
            return Err(tamper(
                place,
                "its previous-entry hash is not the hash of the entry before it",
            ));
        }
        if hash != row.hash {
            return Err(tamper(place, "its stored hash is not the hash of its text"));
        }
        self.frontier.push(leaf);
        self.prev = hash;
        self.next_seq += 1;
        self.checked += 1;
        while let Some(p) = self.pending.front() {
            if p.checkpoint.size > self.frontier.size() {
                break;
            }
            if p.checkpoint.root != self.frontier.root() {
                let (from, to) = (self.last_good, p.checkpoint.size.saturating_sub(1));
                return Err(tamper(
                    Place::Checkpoint(p.checkpoint.size),
                    format!(
                        "the entries it covers do not have its root: one of entries {from}..={to} \
                         was rewritten"
                    ),
                ));
            }
            self.last_good = p.checkpoint.size;
            self.pending.pop_front();
        }
        Ok(())
    }

    /// Ends the check: a checkpoint covering more entries than were stored means entries
    /// were deleted from the end.
    pub fn finish(self) -> Result<Verified, Tamper> {
        if let Some(p) = self.pending.back() {
            return Err(tamper(
                Place::Checkpoint(p.checkpoint.size),
                format!(
                    "it covers {} entries but only {} are stored: entries from {} on were deleted",
                    p.checkpoint.size, self.checked, self.checked
                ),
            ));
        }
        let sealed = self.latest.as_ref().map_or(0, |l| l.size);
        Ok(Verified {
            entries: self.checked,
            checkpoints: self.checkpoints,
            unsealed: self.checked - sealed.min(self.checked),
            latest: self.latest,
            root: self.frontier.root(),
        })
    }
}

/// The checkpoint of a signed `note`: signed by one of `keys`, and named for the key that
/// signed it (the ledger's origin is its key's name). Faults are placed at `place`.
pub fn signed_checkpoint(
    note: &str,
    keys: &[VerifierKey],
    place: &Place,
) -> Result<Checkpoint, Tamper> {
    let fault = |e: super::note::NoteError| tamper(place.clone(), e.to_string());
    let note = SignedNote::parse(note).map_err(fault)?;
    let signer = note.verify(keys).map_err(fault)?;
    let checkpoint = Checkpoint::parse(&note.body).map_err(fault)?;
    if checkpoint.origin != signer.name {
        return Err(tamper(
            place.clone(),
            format!(
                "its origin {:?} is not its key's name {:?}",
                checkpoint.origin, signer.name
            ),
        ));
    }
    Ok(checkpoint)
}

/// What an entry's own text says, once checked on its own; the error says what is wrong.
type Examined = Result<Facts, String>;

/// The facts the chain needs from one entry.
#[derive(Debug)]
pub(crate) struct Facts {
    /// Its sequence number, as its text says.
    pub seq: u64,
    /// The previous entry's hash, as its text says.
    pub prev: String,
    /// Its chain hash.
    pub hash: String,
    /// Its leaf hash.
    pub leaf: Hash,
}

/// The kinds of entry this version writes.
const KINDS: [&str; 8] = [
    "evaluation",
    "waiver_granted",
    "waiver_revoked",
    "waiver_expired",
    "threat_model_recorded",
    "merge",
    "release",
    "policy_changed",
];

/// The envelope of a sealed entry, read without copying (the entry itself only for its kind).
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    v: u32,
    seq: u64,
    #[serde(borrow)]
    prev: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    at: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    entry: KindOnly<'a>,
}

#[derive(serde::Deserialize)]
struct KindOnly<'a> {
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
}

/// Checks one entry's text by itself: canonical JSON (RFC 8785, in one pass over the text), a
/// sealed entry of this version and a known kind; and computes its chain hash and leaf hash.
fn examine(row: &StoredEntry) -> Examined {
    examine_text(&row.body)
}

/// [`examine`] for an entry's text alone (a bundle's entries come without a stored hash).
pub(crate) fn examine_text(body: &str) -> Examined {
    if !super::canonical::check_canonical(body) {
        return Err(match serde_json::from_str::<Value>(body) {
            Err(e) => format!("its text is not JSON: {e}"),
            Ok(_) => "its text is not in canonical form (RFC 8785)".to_owned(),
        });
    }
    let not_entry = |why: String| format!("it is not a ledger entry: {why}");
    let envelope: Envelope<'_> =
        serde_json::from_str(body).map_err(|e| not_entry(e.to_string()))?;
    if envelope.v != super::entry::ENTRY_VERSION {
        return Err(not_entry(format!(
            "version {} is not {}",
            envelope.v,
            super::entry::ENTRY_VERSION
        )));
    }
    if chrono::DateTime::parse_from_rfc3339(&envelope.at).is_err() {
        return Err(not_entry(format!(
            "`at` {:?} is not an RFC 3339 time",
            envelope.at
        )));
    }
    if !KINDS.contains(&envelope.entry.kind.as_ref()) {
        return Err(not_entry(format!("unknown kind `{}`", envelope.entry.kind)));
    }
    Ok(Facts {
        seq: envelope.seq,
        prev: envelope.prev.into_owned(),
        hash: entry_hash(body),
        leaf: leaf_hash(body.as_bytes()),
    })
}

/// Verifies a whole ledger held in memory.
pub fn verify_all(
    entries: &[StoredEntry],
    checkpoints: &[StoredCheckpoint],
    known: &[StoredCheckpoint],
    keys: &[VerifierKey],
) -> Result<Verified, Tamper> {
    let mut verifier = ChainVerifier::new(checkpoints, known, keys)?;
    verifier.push_all(entries)?;
    verifier.finish()
}
