//! What the ledger records: one [`Entry`] per evaluation, waiver event, threat-model reference
//! and merge, each self-contained (nothing in it points into raw deliveries, which retention
//! prunes), and the [`Sealed`] form that chains it to the entry before it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::canonical::{CanonicalError, canonical};
use crate::forge_name::ForgeName;
use crate::gate_kind::GateKind;
use crate::gates::{OverallVerdict, Verdict};

/// The format version of sealed entries.
pub const ENTRY_VERSION: u32 = 1;

/// The `prev` of the first entry: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The change an entry is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Which forge.
    pub forge: ForgeName,
    /// `owner/name` or the GitLab project path.
    pub repository: String,
    /// PR / MR number.
    pub number: u64,
}

/// One record of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A change was evaluated (written before its verdict is published).
    Evaluation(Box<EvaluationEntry>),
    /// `/sdl waive` took effect.
    WaiverGranted(WaiverEntry),
    /// A waiver stopped counting before its expiry.
    WaiverRevoked(WaiverRevokedEntry),
    /// A waiver reached its expiry.
    WaiverExpired(WaiverEntry),
    /// `/sdl threat-model` recorded a reference.
    ThreatModelRecorded(ThreatModelEntry),
    /// The change was merged.
    Merge(MergeEntry),
    /// A release was published or a tag pushed.
    Release(ReleaseEntry),
    /// The default branch's policy file changed.
    PolicyChanged(PolicyChangedEntry),
}

/// What an entry is about: a repository, and the change within it when there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    /// Which forge.
    pub forge: ForgeName,
    /// The repository or project path.
    pub repository: &'a str,
    /// The change, for entries about one.
    pub number: Option<u64>,
}

impl Entry {
    /// What the entry is about.
    pub fn scope(&self) -> Scope<'_> {
        fn of(s: &Subject) -> Scope<'_> {
            Scope {
                forge: s.forge,
                repository: &s.repository,
                number: Some(s.number),
            }
        }
        match self {
            Entry::Evaluation(e) => of(&e.subject),
            Entry::WaiverGranted(e) | Entry::WaiverExpired(e) => of(&e.subject),
            Entry::WaiverRevoked(e) => of(&e.subject),
            Entry::ThreatModelRecorded(e) => of(&e.subject),
            Entry::Merge(e) => of(&e.subject),
            Entry::Release(r) => Scope {
                forge: r.forge,
                repository: &r.repository,
                number: None,
            },
            Entry::PolicyChanged(p) => Scope {
                forge: p.forge,
                repository: &p.repository,
                number: None,
            },
        }
    }

    /// The kind as stored (`evaluation`, `waiver_granted`…).
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Evaluation(_) => "evaluation",
            Entry::WaiverGranted(_) => "waiver_granted",
            Entry::WaiverRevoked(_) => "waiver_revoked",
            Entry::WaiverExpired(_) => "waiver_expired",
            Entry::ThreatModelRecorded(_) => "threat_model_recorded",
            Entry::Merge(_) => "merge",
            Entry::Release(_) => "release",
            Entry::PolicyChanged(_) => "policy_changed",
        }
    }
}

/// The policy file an evaluation read, identified three ways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyEvidence {
    /// Its path in the repository.
    pub path: String,
    /// The branch it was read from (the base branch).
    pub git_ref: String,
    /// Its git blob id (SHA-1 of `blob <len>\0<bytes>`), as the forge names it.
    pub blob_sha: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
}

/// Findings of one gate, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingCounts {
    /// Listed findings by severity (`critical`, `high`…), blocking or ignored.
    pub by_severity: std::collections::BTreeMap<String, u64>,
    /// Findings below the threshold or outside the change (not listed).
    pub not_blocking: u64,
    /// Fingerprints of the listed findings, in the gate's order.
    pub fingerprints: Vec<String>,
    /// Listed findings set aside by a dependency ignore: fingerprint and the ignore's note.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<IgnoredFinding>,
}

/// A finding a policy ignore set aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredFinding {
    /// The finding's fingerprint.
    pub fingerprint: String,
    /// The ignore's reason and last day, as the gate explained it.
    pub note: String,
    /// Whether the ignore has expired (the finding blocks again).
    pub expired: bool,
}

/// One gate's part of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateEvidence {
    /// Which gate.
    pub gate: GateKind,
    /// Its verdict.
    pub verdict: Verdict,
    /// The 62443-4-1 requirements it is evidence for.
    pub requirements: Vec<String>,
    /// The CRA references it supports.
    pub cra: Vec<String>,
    /// Its findings.
    pub findings: FindingCounts,
}

/// An approval that counted or could count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Who approved.
    pub by: String,
    /// On which commit (`None` where the forge does not say: GitLab resets approvals on push).
    pub commit: Option<String>,
    /// When.
    pub at: Option<DateTime<Utc>>,
}

/// A waiver in force or given, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverEvidence {
    /// The gate waived.
    pub gate: GateKind,
    /// Who waived it.
    pub by: String,
    /// Why.
    pub reason: String,
    /// When it was given.
    pub granted_at: DateTime<Utc>,
    /// Its last moment.
    pub until: DateTime<Utc>,
    /// The head commit it was given on.
    pub sha: String,
}

/// A report or artifact an evaluation read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactEvidence {
    /// File or artifact name.
    pub source: String,
    /// The detected format.
    pub format: String,
    /// Tools it names, with versions where it gives them.
    pub tools: Vec<String>,
    /// SHA-256 of its bytes (empty for alerts read from an API, not a file).
    pub sha256: String,
}

/// Everything one evaluation decided, and on what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationEntry {
    /// The change.
    #[serde(flatten)]
    pub subject: Subject,
    /// The head commit evaluated.
    pub head_sha: String,
    /// The target branch.
    pub base_ref: String,
    /// The policy read from it.
    pub policy: PolicyEvidence,
    /// The organisation's policy the evaluation also read (its floor, or its default when
    /// `policy` is that file itself), when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_policy: Option<PolicyEvidence>,
    /// The overall verdict.
    pub verdict: OverallVerdict,
    /// The 62443-4-1 edition the requirement ids refer to.
    pub standard: String,
    /// Each gate.
    pub gates: Vec<GateEvidence>,
    /// Approving reviews.
    pub approvals: Vec<Approval>,
    /// Threat-model references (from the description and `/sdl threat-model`).
    pub threat_model_refs: Vec<String>,
    /// Waivers in force.
    pub waivers: Vec<WaiverEvidence>,
    /// Reports and artifacts read.
    pub artifacts: Vec<ArtifactEvidence>,
    /// What could not be checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknowns: Vec<String>,
    /// The evaluation's clock.
    pub evaluated_at: DateTime<Utc>,
    /// The sdl-gate version that evaluated.
    pub sdl_gate: String,
}

/// A waiver granted or expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverEntry {
    /// The change.
    #[serde(flatten)]
    pub subject: Subject,
    /// The waiver.
    pub waiver: WaiverEvidence,
}

/// Why a waiver stopped counting early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokedBecause {
    /// `/sdl unwaive`.
    Unwaived,
    /// The comment that gave it was edited.
    CommentEdited,
    /// The comment that gave it was deleted.
    CommentDeleted,
}

/// A waiver revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverRevokedEntry {
    /// The change.
    #[serde(flatten)]
    pub subject: Subject,
    /// The waiver.
    pub waiver: WaiverEvidence,
    /// Why.
    pub reason: RevokedBecause,
    /// Who revoked it (the unwaiving user or the comment's editor), when known.
    pub by: Option<String>,
}

/// A threat-model reference recorded by command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreatModelEntry {
    /// The change.
    #[serde(flatten)]
    pub subject: Subject,
    /// The reference (path or URL).
    pub reference: String,
    /// Who recorded it.
    pub by: String,
    /// The head commit it was recorded on.
    pub sha: String,
}

/// A merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeEntry {
    /// The change.
    #[serde(flatten)]
    pub subject: Subject,
    /// The head commit merged.
    pub head_sha: String,
    /// The merge commit, when the forge names one.
    pub merge_commit: Option<String>,
    /// Who merged.
    pub merged_by: Option<String>,
    /// When.
    pub merged_at: Option<DateTime<Utc>>,
    /// The verdict of the last evaluation of the merged head; `None` when it was never
    /// evaluated.
    pub verdict: Option<OverallVerdict>,
    /// The ledger sequence number of that evaluation.
    pub evaluation_seq: Option<u64>,
    /// Merged while the last verdict was not `pass` (or there was none).
    pub bypassed: bool,
    /// The change's title at the merge, as the webhook gave it (for the auditor report).
    /// Absent in entries recorded before titles were kept; left out of the canonical text
    /// when absent, so those entries' stored texts and hashes are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A release: the tag, its commit, the release before it and the merges since that one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseEntry {
    /// Which forge.
    pub forge: ForgeName,
    /// The repository or project path.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The commit it names, when the forge said.
    pub commit: Option<String>,
    /// What it was made from when no commit was named (a branch).
    pub target: Option<String>,
    /// Who released or pushed the tag.
    pub by: Option<String>,
    /// When.
    pub released_at: Option<DateTime<Utc>>,
    /// The release recorded before this one, if any.
    pub previous: Option<PreviousRelease>,
    /// The merges recorded since the previous release (all merges, for the first), oldest
    /// first.
    pub merges: Vec<ReleasedMerge>,
}

/// The default branch's policy after a push that changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyChangedEntry {
    /// Which forge.
    pub forge: ForgeName,
    /// The repository or project path.
    pub repository: String,
    /// The default branch.
    pub branch: String,
    /// The commit the push left it at.
    pub commit: String,
    /// Who pushed.
    pub by: Option<String>,
    /// The policy file now (`None`: there is none any more).
    pub policy: Option<PolicyEvidence>,
    /// The SHA-256 of the policy the ledger recorded before, if any.
    pub previous_sha256: Option<String>,
}

/// The release before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousRelease {
    /// Its tag.
    pub tag: String,
    /// Its commit.
    pub commit: Option<String>,
    /// Its ledger entry.
    pub seq: u64,
}

/// A merge that a release ships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedMerge {
    /// The PR / MR number.
    pub number: u64,
    /// Its merge commit.
    pub merge_commit: Option<String>,
    /// Whether it bypassed the gate.
    pub bypassed: bool,
    /// Its ledger entry.
    pub seq: u64,
}

/// An entry as appended: its place in the chain and the time it was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sealed {
    /// [`ENTRY_VERSION`].
    pub v: u32,
    /// Its position, from 0, without gaps.
    pub seq: u64,
    /// The hash of the entry before (hex), [`GENESIS`] for the first.
    pub prev: String,
    /// When it was appended.
    pub at: DateTime<Utc>,
    /// What it records.
    pub entry: Entry,
}

impl Sealed {
    /// The canonical JSON text (RFC 8785) that is stored and hashed.
    pub fn canonical(&self) -> Result<String, CanonicalError> {
        let value = serde_json::to_value(self).map_err(|e| CanonicalError::NotAnInteger {
            pointer: String::new(),
            number: e.to_string(),
        })?;
        canonical(&value)
    }
}

/// The chain hash of an entry's canonical text (hex SHA-256); it covers `prev`, so it covers
/// every entry before.
pub fn entry_hash(canonical_text: &str) -> String {
    hex::encode(Sha256::digest(canonical_text.as_bytes()))
}

/// The git blob id of `bytes` (what a forge calls the file's sha).
#[cfg(feature = "service")]
pub fn git_blob_sha(bytes: &[u8]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(format!("blob {}\0", bytes.len()).as_bytes());
    ctx.update(bytes);
    hex::encode(ctx.finish().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "service")]
    fn a_git_blob_id_is_the_one_git_computes() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            git_blob_sha(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }

    #[test]
    fn a_merge_without_a_title_keeps_the_canonical_text_it_had_before_titles() {
        // A merge entry as recorded before `title` existed: no such key.
        let old = "{\"at\":\"2026-12-04T10:00:00Z\",\"entry\":{\"bypassed\":true,\"evaluation_seq\":null,\
                   \"forge\":\"github\",\"head_sha\":\"abc\",\"kind\":\"merge\",\"merge_commit\":null,\
                   \"merged_at\":null,\"merged_by\":null,\"number\":7,\"repository\":\"acme/app\",\
                   \"verdict\":null},\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\
                   \"seq\":0,\"v\":1}";
        let sealed: Sealed = serde_json::from_str(old).unwrap();
        let Entry::Merge(m) = &sealed.entry else {
            panic!("not a merge: {sealed:?}")
        };
        assert_eq!(m.title, None);
        assert_eq!(
            sealed.canonical().unwrap(),
            old,
            "the old text, so the old hash"
        );
        let mut titled = sealed.clone();
        if let Entry::Merge(m) = &mut titled.entry {
            m.title = Some("Harden login".into());
        }
        assert!(
            titled
                .canonical()
                .unwrap()
                .contains("\"title\":\"Harden login\"")
        );
    }

    #[test]
    fn a_sealed_entry_is_canonical_and_its_hash_covers_prev() {
        let entry = Entry::ThreatModelRecorded(ThreatModelEntry {
            subject: Subject {
                forge: ForgeName::GitLab,
                repository: "group/app".into(),
                number: 7,
            },
            reference: "docs/tm.json".into(),
            by: "alice".into(),
            sha: "abc".into(),
        });
        let at = DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z")
            .unwrap()
            .to_utc();
        let sealed = Sealed {
            v: 1,
            seq: 0,
            prev: GENESIS.into(),
            at,
            entry,
        };
        let text = sealed.canonical().unwrap();
        assert_eq!(
            text,
            "{\"at\":\"2026-12-04T10:00:00Z\",\"entry\":{\"by\":\"alice\",\"forge\":\"gitlab\",\
             \"kind\":\"threat_model_recorded\",\"number\":7,\"reference\":\"docs/tm.json\",\
             \"repository\":\"group/app\",\"sha\":\"abc\"},\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\
             \"seq\":0,\"v\":1}"
        );
        let back: Sealed = serde_json::from_str(&text).unwrap();
        assert_eq!(back, sealed);
        let mut next = sealed.clone();
        next.prev = entry_hash(&text);
        assert_ne!(entry_hash(&next.canonical().unwrap()), entry_hash(&text));
    }
}
