//! An exported slice of the ledger that an auditor checks offline with nothing else: the
//! entries of one repository (canonical JSON Lines), an inclusion proof of each in the latest
//! checkpoint, every earlier checkpoint with its consistency proof to the latest, and the
//! public keys that signed them.
//!
//! Layout of a bundle folder:
//!
//! | file | holds |
//! | --- | --- |
//! | `entries.jsonl` | the exported entries, one canonical JSON text per line, in order |
//! | `proofs.jsonl` | per entry: `seq`, `tree_size`, `path` (base64 hashes, RFC 6962 audit path) |
//! | `checkpoint` | the latest signed checkpoint (C2SP signed note) the proofs lead to |
//! | `checkpoints.jsonl` | every earlier checkpoint: `note` and `consistency` (base64 hashes) |
//! | `keys.txt` | the note verifier keys (`name+id+key`) that signed any of the checkpoints |
//! | `manifest.json` | what was exported (repository, range, counts, sdl-gate version) |
//! | `attestations/` | DSSE envelopes of the merges, when there are any |

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::merkle::{Hash, verify_consistency, verify_inclusion};
use super::note::{Checkpoint, VerifierKey};
use super::verify::{Place, Tamper};

/// The inclusion proof of one exported entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryProof {
    /// The entry's sequence number (its leaf index).
    pub seq: u64,
    /// The size of the tree the proof is for (the latest checkpoint's).
    pub tree_size: u64,
    /// The audit path, base64.
    pub path: Vec<String>,
}

/// An earlier checkpoint and the proof that the latest extends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlierCheckpoint {
    /// The signed note.
    pub note: String,
    /// The consistency proof to the latest checkpoint, base64.
    pub consistency: Vec<String>,
    /// Its RFC 3161 time-stamp reply (DER, base64), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsa: Option<String>,
}

/// What a bundle says it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The bundle format.
    pub format: String,
    /// The repository exported.
    pub repository: String,
    /// The forge, when only one was exported.
    pub forge: Option<String>,
    /// The range asked for, as given.
    pub since: Option<String>,
    /// The range asked for, as given.
    pub until: Option<String>,
    /// Entries exported.
    pub entries: u64,
    /// The size of the latest checkpoint.
    pub tree_size: u64,
    /// Entries of the repository appended after the checkpoint, not exported (unsealed).
    pub unsealed_left_out: u64,
    /// The sdl-gate version that exported.
    pub sdl_gate: String,
    /// When.
    pub exported_at: chrono::DateTime<chrono::Utc>,
}

/// The bundle format name.
pub const BUNDLE_FORMAT: &str = "sdl-gate-ledger-bundle/1";

/// A bundle in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// `manifest.json`.
    pub manifest: Manifest,
    /// `entries.jsonl`, one canonical text each.
    pub entries: Vec<String>,
    /// `proofs.jsonl`, one per entry.
    pub proofs: Vec<EntryProof>,
    /// `checkpoint`.
    pub checkpoint: String,
    /// `checkpoint.tsr`.
    pub checkpoint_tsa: Option<Vec<u8>>,
    /// `checkpoints.jsonl`.
    pub earlier: Vec<EarlierCheckpoint>,
    /// `keys.txt`.
    pub keys: Vec<VerifierKey>,
    /// `attestations/NAME` → contents.
    pub attestations: Vec<(String, String)>,
}

/// Why a bundle cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The output folder exists and is not empty.
    #[error("{0}: exists and is not empty; export into a new folder")]
    NotEmpty(PathBuf),
}

/// What a verified bundle covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleVerified {
    /// Entries whose inclusion was proven.
    pub entries: u64,
    /// The checkpoint they were proven in.
    pub checkpoint: Checkpoint,
    /// Earlier checkpoints proven to be extended by it.
    pub earlier: u64,
    /// Attestations whose payload and signature were checked.
    pub attestations: u64,
}

fn b64_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| B64.encode(h)).collect()
}

fn hashes_of(place: &Place, encoded: &[String]) -> Result<Vec<Hash>, Tamper> {
    encoded
        .iter()
        .map(|s| {
            B64.decode(s)
                .ok()
                .and_then(|b| <Hash>::try_from(b.as_slice()).ok())
                .ok_or_else(|| Tamper {
                    place: place.clone(),
                    what: format!("`{s}` is not a base64 SHA-256 hash"),
                })
        })
        .collect()
}

/// Encodes hashes for a proof file.
pub fn encode_path(hashes: &[Hash]) -> Vec<String> {
    b64_hashes(hashes)
}

fn file_tamper(name: &str, what: impl Into<String>) -> Tamper {
    Tamper {
        place: Place::File(name.to_owned()),
        what: what.into(),
    }
}

impl Bundle {
    /// Writes the bundle into `dir`, which must not exist or be empty: into a temporary
    /// folder beside it first, renamed into place when complete, so a failed export leaves
    /// no half bundle.
    pub fn write(&self, dir: &Path) -> Result<(), BundleError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| BundleError::Io { path, source }
        };
        if dir.exists() {
            let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
            if entries.next().is_some() {
                return Err(BundleError::NotEmpty(dir.to_owned()));
            }
            std::fs::remove_dir(dir).map_err(io(dir))?;
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bundle".to_owned());
        let tmp = dir.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(tmp.join("attestations")).map_err(io(&tmp))?;
        let write = |file: &str, text: String| {
            let path = tmp.join(file);
            std::fs::write(&path, text).map_err(io(&path))
        };
        let lines = |items: Vec<String>| {
            let mut out = items.join("\n");
            if !out.is_empty() {
                out.push('\n');
            }
            out
        };
        let result = (|| {
            write(
                "manifest.json",
                serde_json::to_string_pretty(&self.manifest).unwrap_or_default() + "\n",
            )?;
            write("entries.jsonl", lines(self.entries.clone()))?;
            write(
                "proofs.jsonl",
                lines(
                    self.proofs
                        .iter()
                        .map(|p| serde_json::to_string(p).unwrap_or_default())
                        .collect(),
                ),
            )?;
            write("checkpoint", self.checkpoint.clone())?;
            if let Some(reply) = &self.checkpoint_tsa {
                let path = tmp.join("checkpoint.tsr");
                std::fs::write(&path, reply).map_err(io(&path))?;
            }
            write(
                "checkpoints.jsonl",
                lines(
                    self.earlier
                        .iter()
                        .map(|c| serde_json::to_string(c).unwrap_or_default())
                        .collect(),
                ),
            )?;
            write(
                "keys.txt",
                lines(self.keys.iter().map(ToString::to_string).collect()),
            )?;
            for (file, text) in &self.attestations {
                write(&format!("attestations/{file}"), text.clone())?;
            }
            std::fs::rename(&tmp, dir).map_err(io(dir))
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Reads a bundle folder. A file that is missing or does not parse is a [`Tamper`] naming
    /// it (a bundle is evidence: what cannot be read cannot be trusted).
    pub fn read(dir: &Path) -> Result<Bundle, Tamper> {
        let read = |file: &str| {
            std::fs::read_to_string(dir.join(file))
                .map_err(|e| file_tamper(file, format!("cannot be read: {e}")))
        };
        let manifest: Manifest = serde_json::from_str(&read("manifest.json")?)
            .map_err(|e| file_tamper("manifest.json", format!("does not parse: {e}")))?;
        if manifest.format != BUNDLE_FORMAT {
            return Err(file_tamper(
                "manifest.json",
                format!("format `{}` is not {BUNDLE_FORMAT}", manifest.format),
            ));
        }
        let entries: Vec<String> = read("entries.jsonl")?.lines().map(str::to_owned).collect();
        let mut proofs = Vec::new();
        for (i, line) in read("proofs.jsonl")?.lines().enumerate() {
            proofs.push(
                serde_json::from_str(line)
                    .map_err(|e| file_tamper("proofs.jsonl", format!("line {}: {e}", i + 1)))?,
            );
        }
        let mut earlier = Vec::new();
        for (i, line) in read("checkpoints.jsonl")?.lines().enumerate() {
            earlier.push(
                serde_json::from_str(line).map_err(|e| {
                    file_tamper("checkpoints.jsonl", format!("line {}: {e}", i + 1))
                })?,
            );
        }
        let mut keys = Vec::new();
        for (i, line) in read("keys.txt")?.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            keys.push(
                VerifierKey::parse(line)
                    .map_err(|e| file_tamper("keys.txt", format!("line {}: {e}", i + 1)))?,
            );
        }
        let mut attestations = Vec::new();
        if let Ok(listing) = std::fs::read_dir(dir.join("attestations")) {
            let mut names: Vec<String> = listing
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for name in names {
                let file = format!("attestations/{name}");
                attestations.push((name, read(&file)?));
            }
        }
        Ok(Bundle {
            manifest,
            entries,
            proofs,
            checkpoint: read("checkpoint")?,
            checkpoint_tsa: std::fs::read(dir.join("checkpoint.tsr")).ok(),
            earlier,
            keys,
            attestations,
        })
    }

    /// Checks every entry's form and inclusion in the checkpoint, the checkpoint's and every
    /// earlier checkpoint's signature by one of `trusted` and their consistency, and `known`
    /// checkpoints (seen before) against this one.
    pub fn verify(
        &self,
        trusted: &[VerifierKey],
        known: &[String],
    ) -> Result<BundleVerified, Tamper> {
        let checkpoint = super::verify::signed_checkpoint(
            &self.checkpoint,
            trusted,
            &Place::File("checkpoint".into()),
        )?;
        if self.entries.len() != self.proofs.len() {
            return Err(file_tamper(
                "proofs.jsonl",
                format!(
                    "{} proofs for {} entries",
                    self.proofs.len(),
                    self.entries.len()
                ),
            ));
        }
        if self.manifest.entries != self.entries.len() as u64 {
            return Err(file_tamper(
                "manifest.json",
                format!(
                    "it lists {} entries, entries.jsonl holds {}",
                    self.manifest.entries,
                    self.entries.len()
                ),
            ));
        }
        let mut previous: Option<(u64, String)> = None;
        for (i, (text, proof)) in self.entries.iter().zip(&self.proofs).enumerate() {
            let line = format!("entries.jsonl line {}", i + 1);
            let bad = |what: String| Tamper {
                place: Place::File(line.clone()),
                what,
            };
            let sealed = super::verify::examine_text(text).map_err(bad)?;
            let place = Place::Entry(sealed.seq);
            if proof.seq != sealed.seq || proof.tree_size != checkpoint.size {
                return Err(Tamper {
                    place,
                    what: format!(
                        "its proof is for entry {} in a tree of {}, not entry {} in the checkpoint's {}",
                        proof.seq, proof.tree_size, sealed.seq, checkpoint.size
                    ),
                });
            }
            if let Some((prev_seq, prev_hash)) = &previous {
                if sealed.seq <= *prev_seq {
                    return Err(Tamper {
                        place,
                        what: "entries are out of order or repeated".into(),
                    });
                }
                if sealed.seq == prev_seq + 1 && &sealed.prev != prev_hash {
                    return Err(Tamper {
                        place,
                        what: "its previous-entry hash is not the hash of the entry before it"
                            .into(),
                    });
                }
            }
            let path = hashes_of(&Place::File("proofs.jsonl".into()), &proof.path)?;
            if !verify_inclusion(
                sealed.seq,
                checkpoint.size,
                &sealed.leaf,
                &path,
                &checkpoint.root,
            ) {
                return Err(Tamper {
                    place,
                    what: "it is not in the checkpoint (its inclusion proof fails): the entry or its proof was changed"
                        .into(),
                });
            }
            previous = Some((sealed.seq, sealed.hash));
        }
        let mut seen: Vec<Checkpoint> = vec![checkpoint.clone()];
        for (i, earlier) in self.earlier.iter().enumerate() {
            let place = Place::File(format!("checkpoints.jsonl line {}", i + 1));
            let cp = super::verify::signed_checkpoint(&earlier.note, trusted, &place)?;
            let proof = hashes_of(&place, &earlier.consistency)?;
            if !verify_consistency(cp.size, checkpoint.size, &cp.root, &checkpoint.root, &proof) {
                return Err(Tamper {
                    place: Place::Checkpoint(cp.size),
                    what: format!(
                        "the latest checkpoint ({} entries) does not extend it: history before it was rewritten",
                        checkpoint.size
                    ),
                });
            }
            seen.push(cp);
        }
        for (i, note) in known.iter().enumerate() {
            let place = Place::File(format!("known checkpoint {}", i + 1));
            let cp = super::verify::signed_checkpoint(note, trusted, &place)?;
            if cp.size > checkpoint.size {
                return Err(Tamper {
                    place: Place::Checkpoint(cp.size),
                    what: format!(
                        "it was seen before, but this bundle's checkpoint covers only {} entries: an older state is being served",
                        checkpoint.size
                    ),
                });
            }
            match seen.iter().find(|s| s.size == cp.size) {
                Some(s) if s.root == cp.root => {}
                Some(_) => {
                    return Err(Tamper {
                        place: Place::Checkpoint(cp.size),
                        what: "it was seen before with another root: history was rewritten".into(),
                    });
                }
                None => {
                    return Err(Tamper {
                        place: Place::Checkpoint(cp.size),
                        what: "this bundle holds no checkpoint of that size, so it cannot show it extends it".into(),
                    });
                }
            }
        }
        let merges = super::attest::merges_in(&self.entries);
        for (name, text) in &self.attestations {
            let place = Place::File(format!("attestations/{name}"));
            let bad = |what: String| Tamper {
                place: place.clone(),
                what,
            };
            let envelope: super::attest::Envelope =
                serde_json::from_str(text).map_err(|e| bad(format!("not a DSSE envelope: {e}")))?;
            let statement = super::attest::open(&envelope, trusted).map_err(bad)?;
            let seq = statement
                .pointer("/predicate/sdlGate/ledger/merge")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("it names no ledger merge entry".into()))?;
            let Some((_, merge)) = merges.iter().find(|(s, _)| *s == seq) else {
                return Err(bad(format!(
                    "ledger entry {seq} is not a merge in this bundle"
                )));
            };
            let result = statement
                .pointer("/predicate/verificationResult")
                .and_then(Value::as_str);
            let expected = if merge.bypassed { "FAILED" } else { "PASSED" };
            let commit = merge.merge_commit.as_deref().unwrap_or(&merge.head_sha);
            let subject = statement
                .pointer("/subject/0/digest/gitCommit")
                .and_then(Value::as_str);
            if result != Some(expected) || subject != Some(commit) {
                return Err(bad(format!(
                    "it says {result:?} for commit {subject:?}, the ledger's merge {seq} says {expected} for {commit}"
                )));
            }
        }
        Ok(BundleVerified {
            entries: self.entries.len() as u64,
            checkpoint,
            earlier: self.earlier.len() as u64,
            attestations: self.attestations.len() as u64,
        })
    }

    /// Every checkpoint note of the bundle with its time-stamp reply, latest first.
    pub fn time_stamps(&self) -> Vec<(Place, String, Option<Vec<u8>>)> {
        let mut out = vec![(
            Place::File("checkpoint".into()),
            self.checkpoint.clone(),
            self.checkpoint_tsa.clone(),
        )];
        for (i, e) in self.earlier.iter().enumerate() {
            out.push((
                Place::File(format!("checkpoints.jsonl line {}", i + 1)),
                e.note.clone(),
                e.tsa.as_deref().and_then(|t| B64.decode(t).ok()),
            ));
        }
        out
    }
}
