//! The evidence ledger: a tamper-evident record of every evaluation, waiver, threat-model
//! reference and merge, kept for the ten years the Cyber Resilience Act asks for and
//! checkable by an auditor who trusts neither sdl-gate nor its database.
//!
//! One ledger per database (every forge, installation and repository in one chain): one
//! sequence to verify and one checkpoint series to pin, appends serialised in one place
//! (they take microseconds), and an auditor who should see one repository gets a bundle of
//! its entries with inclusion proofs rather than a chain of their own.
//!
//! Each entry ([`entry::Sealed`]) is stored as its canonical JSON ([`canonical`], RFC 8785),
//! carries the hash of the entry before it, and is a leaf of an RFC 6962 Merkle tree
//! ([`merkle`]); signed checkpoints ([`note`], C2SP signed notes with Ed25519) fix the root of
//! the first N entries. [`verify`] checks all of it; [`evidence`] builds entries from what the
//! engine holds; [`keys`] reads or creates the signing key file. Everything here but [`keys`]
//! is pure.

pub mod attest;
pub mod bundle;
pub mod canonical;
pub mod entry;
pub mod evidence;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod tsa;
pub mod verify;

pub use entry::{Entry, Sealed};
pub use verify::{Place, Tamper, Verified};
