//! Loading a report from the service's store: the repository's entries, and `ledger verify`
//! over the whole ledger (read at the same time), handed to the pure [`super::build`]. The
//! CLI (`sdl-gate report`) and the service's report page both call [`load_report`], so the
//! file an auditor is sent and the page they browse say the same.

use chrono::{DateTime, Utc};

use super::build::{BuildError, RangeSpec, ReportInput, Verification, build_report};
use super::model::{AuditReport, CheckpointRef};
use crate::forge_name::ForgeName;
use crate::ledger::Sealed;
use crate::ledger::note::{Checkpoint, SignedNote, VerifierKey};
use crate::ledger::verify::{ChainVerifier, StoredCheckpoint};
use crate::store::{Store, StoreError};

/// Which report to load.
#[derive(Debug, Clone)]
pub struct ReportQuery {
    /// Which forge.
    pub forge: ForgeName,
    /// `owner/name` or the GitLab project path.
    pub repository: String,
    /// Which merges.
    pub range: RangeSpec,
    /// The keys whose checkpoint signatures are trusted (the service's public key, and those
    /// used before a rotation). With none, a ledger with checkpoints does not verify.
    pub keys: Vec<VerifierKey>,
    /// The report's clock (`None`: now).
    pub now: Option<DateTime<Utc>>,
}

/// Why a report could not be loaded; a ledger that fails verification is not an error (the
/// report says so), this is.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The range names a release or bound that is not there.
    #[error(transparent)]
    Range(#[from] BuildError),
    /// The ledger holds nothing of the repository (a misspelt name, or the wrong forge).
    #[error("the ledger holds no entry of {forge} {repository}")]
    NoEntries {
        /// The forge asked for.
        forge: ForgeName,
        /// The repository asked for.
        repository: String,
    },
    /// An entry of the repository does not read as a ledger entry.
    #[error("ledger entry {seq} of {repository} does not read: {why}")]
    Unreadable {
        /// Its sequence number.
        seq: u64,
        /// The repository.
        repository: String,
        /// The parse error.
        why: String,
    },
    /// The database failed.
    #[error("reading the ledger: {0}")]
    Store(#[from] StoreError),
}

fn checkpoint_ref(c: &Checkpoint) -> CheckpointRef {
    CheckpointRef {
        origin: c.origin.clone(),
        size: c.size,
        root: hex::encode(c.root),
    }
}

/// The newest stored checkpoint as it claims to be (for a ledger that failed verification,
/// which then says it is unverified).
fn claimed_latest(checkpoints: &[StoredCheckpoint]) -> Option<CheckpointRef> {
    let last = checkpoints.last()?;
    let note = SignedNote::parse(&last.note).ok()?;
    Checkpoint::parse(&note.body)
        .ok()
        .map(|c| checkpoint_ref(&c))
}

/// Runs `ledger verify` over the whole ledger with `keys`.
pub async fn verify(store: &Store, keys: &[VerifierKey]) -> Result<Verification, StoreError> {
    let checkpoints = store.ledger_checkpoints().await?;
    let failed = |what: String| Verification {
        verified: false,
        text: format!("ledger TAMPERED or unverifiable: {what}"),
        checkpoint: claimed_latest(&checkpoints),
        entries_checked: 0,
    };
    let verifier = match ChainVerifier::new(&checkpoints, &[], keys) {
        Ok(v) => v,
        Err(t) => return Ok(failed(t.to_string())),
    };
    Ok(match store.verify_ledger(verifier).await? {
        Ok(v) => Verification {
            verified: true,
            text: v.summary(),
            checkpoint: v.latest.as_ref().map(checkpoint_ref),
            entries_checked: v.entries,
        },
        Err(t) => failed(t.to_string()),
    })
}

/// Loads the report `query` asks for: verifies the ledger, reads the repository's entries and
/// builds the report. A ledger that fails verification still gives a report, which says so
/// in every form (`report.ledger.verified` is false).
pub async fn load_report(store: &Store, query: &ReportQuery) -> Result<AuditReport, AuditError> {
    let (verification, entries) = tokio::join!(verify(store, &query.keys), entries(store, query));
    build(query, &entries?, verification?)
}

/// [`load_report`] with a verification the caller already has (the service's report page
/// reuses one for a short while instead of verifying the whole ledger on every request).
pub async fn load_report_with(
    store: &Store,
    query: &ReportQuery,
    verification: Verification,
) -> Result<AuditReport, AuditError> {
    build(query, &entries(store, query).await?, verification)
}

/// What the report is built from: the repository's merges, releases and waivers, and only the
/// evaluations its merges name (not every push's).
async fn entries(store: &Store, query: &ReportQuery) -> Result<Vec<Sealed>, AuditError> {
    let stored = store
        .ledger_entries_for_merges(query.forge, &query.repository)
        .await?;
    if stored.is_empty()
        && !store
            .repository_known(query.forge, &query.repository)
            .await?
    {
        return Err(AuditError::NoEntries {
            forge: query.forge,
            repository: query.repository.clone(),
        });
    }
    stored
        .iter()
        .map(|e| {
            serde_json::from_str::<Sealed>(&e.body).map_err(|err| AuditError::Unreadable {
                seq: e.seq,
                repository: query.repository.clone(),
                why: err.to_string(),
            })
        })
        .collect()
}

fn build(
    query: &ReportQuery,
    entries: &[Sealed],
    verification: Verification,
) -> Result<AuditReport, AuditError> {
    let input = ReportInput {
        forge: query.forge,
        repository: &query.repository,
        entries,
        range: &query.range,
        catalog: crate::practices::catalog(),
        verification,
        now: query.now.unwrap_or_else(Utc::now),
    };
    Ok(build_report(&input)?)
}
