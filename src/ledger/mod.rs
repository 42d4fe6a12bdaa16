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
//!
//! The entry format, its canonical form and the Merkle tree also build without the `service`
//! feature, so the pure auditor report ([`crate::audit`]) can read entries there; signing,
//! verifying signatures, time-stamps and bundles need the service's crypto and HTTP crates.

#[cfg(feature = "service")]
pub mod attest;
#[cfg(feature = "service")]
pub mod bundle;
pub mod canonical;
pub mod entry;
#[cfg(feature = "service")]
pub mod evidence;
#[cfg(feature = "service")]
pub mod keys;
pub mod merkle;
#[cfg(feature = "service")]
pub mod note;
#[cfg(feature = "service")]
pub mod tsa;
#[cfg(feature = "service")]
pub mod verify;

pub use entry::{Entry, Sealed};
#[cfg(feature = "service")]
pub use verify::{Place, Tamper, Verified};
