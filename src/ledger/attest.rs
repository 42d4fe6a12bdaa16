//! Attestations for the supply-chain ecosystem: for every merge, an in-toto Statement v1 with
//! a SLSA Verification Summary Attestation predicate (`https://slsa.dev/verification_summary/v1`)
//! — sdl-gate as the verifier, the repository at the merged commit as the resource, the policy
//! file's URI and digests, PASSED when the merge went through a green gate and FAILED when it
//! bypassed it — wrapped in a DSSE envelope signed with the ledger key, so any in-toto
//! verifier (Chainloop, `securesystemslib`, …) can consume it.
//!
//! The 62443-4-1 requirement ids the change was gated on are carried twice, in documented
//! places: as custom `verifiedLevels` (`IEC_62443_4_1_SR-2`, … — the VSA allows values that
//! do not start with `SLSA_`) for the gates that passed or were waived, and in full in the
//! predicate's `sdlGate` object (standard, each gate with its verdict and requirement ids, the
//! ledger sequence numbers of the merge and of its evaluation, and whether it bypassed).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::entry::{EvaluationEntry, MergeEntry};
use super::note::{NoteSigner, VerifierKey};
use crate::forge_name::ForgeName;
use crate::gates::Verdict;

/// The DSSE payload type of in-toto statements.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto Statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The SLSA VSA predicate type.
pub const VSA_TYPE: &str = "https://slsa.dev/verification_summary/v1";

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// The signing key's id: the hex of its note key id.
    pub keyid: String,
    /// base64 Ed25519 signature over the PAE of the payload.
    pub sig: String,
}

/// A DSSE envelope (`payloadType`, base64 `payload`, `signatures`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`PAYLOAD_TYPE`].
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The statement, base64.
    pub payload: String,
    /// The signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// DSSE's pre-authentication encoding: `DSSEv1 len(type) type len(body) body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Where the attestation's URIs point: each forge's web address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestContext {
    /// The verifier's id (a URI naming this sdl-gate service).
    pub verifier_id: String,
    /// GitHub's web address (`https://github.com`, or the GHES host).
    pub github_web: String,
    /// GitLab's web address.
    pub gitlab_web: String,
}

impl AttestContext {
    fn web(&self, forge: ForgeName) -> &str {
        match forge {
            ForgeName::GitHub => self.github_web.trim_end_matches('/'),
            ForgeName::GitLab => self.gitlab_web.trim_end_matches('/'),
        }
    }
}

/// The in-toto statement of a merge recorded as ledger entry `merge_seq`, with the
/// evaluation it was judged by (`None`: never evaluated on the merged head).
pub fn merge_statement(
    merge: &MergeEntry,
    merge_seq: u64,
    evaluation: Option<&EvaluationEntry>,
    ctx: &AttestContext,
) -> Value {
    let web = ctx.web(merge.subject.forge);
    let repo = &merge.subject.repository;
    let commit = merge.merge_commit.as_deref().unwrap_or(&merge.head_sha);
    let gates: Vec<Value> = evaluation
        .map(|e| {
            e.gates
                .iter()
                .map(|g| json!({"gate": g.gate, "verdict": g.verdict, "requirements": g.requirements}))
                .collect()
        })
        .unwrap_or_default();
    let mut levels: Vec<String> = evaluation
        .map(|e| {
            e.gates
                .iter()
                .filter(|g| matches!(g.verdict, Verdict::Pass | Verdict::Waived))
                .flat_map(|g| g.requirements.iter())
                .map(|r| format!("IEC_62443_4_1_{r}"))
                .collect()
        })
        .unwrap_or_default();
    levels.sort();
    levels.dedup();
    let policy = evaluation.map(|e| {
        json!({
            "uri": format!("{web}/{repo}/blob/{}/{}", e.base_ref, e.policy.path),
            "digest": {"sha256": e.policy.sha256, "gitBlob": e.policy.blob_sha},
        })
    });
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": format!("{web}/{repo}"),
            "uri": format!("git+{web}/{repo}@{commit}"),
            "digest": {"gitCommit": commit},
        }],
        "predicateType": VSA_TYPE,
        "predicate": {
            "verifier": {
                "id": ctx.verifier_id,
                "version": {"sdl-gate": super::evidence::SDL_GATE_VERSION},
            },
            "timeVerified": evaluation.map(|e| e.evaluated_at).or(merge.merged_at),
            "resourceUri": format!("git+{web}/{repo}@{commit}"),
            "policy": policy.unwrap_or_else(|| json!({})),
            "verificationResult": if merge.bypassed { "FAILED" } else { "PASSED" },
            "verifiedLevels": if merge.bypassed { Vec::new() } else { levels },
            "sdlGate": {
                "standard": evaluation.map(|e| e.standard.clone()),
                "forge": merge.subject.forge,
                "repository": repo,
                "change": merge.subject.number,
                "headSha": merge.head_sha,
                "mergedBy": merge.merged_by,
                "bypassed": merge.bypassed,
                "verdict": merge.verdict,
                "gates": gates,
                "ledger": {"merge": merge_seq, "evaluation": merge.evaluation_seq},
            },
        },
    })
}

/// `statement` in a DSSE envelope signed by `signer`.
pub fn sign(statement: &Value, signer: &NoteSigner) -> Envelope {
    let payload = serde_json::to_vec(statement).unwrap_or_default();
    let sig = signer.sign_bytes(&pae(PAYLOAD_TYPE, &payload));
    Envelope {
        payload_type: PAYLOAD_TYPE.to_owned(),
        payload: B64.encode(payload),
        signatures: vec![EnvelopeSignature {
            keyid: hex::encode(signer.verifier().id),
            sig: B64.encode(sig),
        }],
    }
}

/// The statement of `envelope` after checking a signature by one of `keys`.
pub fn open(envelope: &Envelope, keys: &[VerifierKey]) -> Result<Value, String> {
    use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(format!(
            "payload type `{}` is not {PAYLOAD_TYPE}",
            envelope.payload_type
        ));
    }
    let payload = B64
        .decode(&envelope.payload)
        .map_err(|_| "the payload is not base64".to_owned())?;
    let message = pae(&envelope.payload_type, &payload);
    let good = envelope.signatures.iter().any(|s| {
        let Some(key) = keys.iter().find(|k| hex::encode(k.id) == s.keyid) else {
            return false;
        };
        B64.decode(&s.sig).is_ok_and(|sig| {
            UnparsedPublicKey::new(&ED25519, &key.public)
                .verify(&message, &sig)
                .is_ok()
        })
    });
    if !good {
        return Err("no signature by a trusted key verifies".into());
    }
    serde_json::from_slice(&payload).map_err(|e| format!("the statement is not JSON: {e}"))
}

/// The merges among `entries` (canonical texts) with the evaluation each names, as sequence
/// numbers, so a caller can fetch those evaluations first.
pub fn merges_in(entries: &[String]) -> Vec<(u64, MergeEntry)> {
    entries
        .iter()
        .filter_map(|t| serde_json::from_str::<super::Sealed>(t).ok())
        .filter_map(|s| match s.entry {
            super::Entry::Merge(m) => Some((s.seq, m)),
            _ => None,
        })
        .collect()
}

/// One signed attestation per merge, named `FORGE-OWNER_NAME-N.dsse.json`.
pub fn attestations(
    merges: &[(u64, MergeEntry)],
    evaluation_of: impl Fn(u64) -> Option<EvaluationEntry>,
    ctx: &AttestContext,
    signer: &NoteSigner,
) -> Vec<(String, String)> {
    merges
        .iter()
        .map(|(seq, m)| {
            let evaluation = m.evaluation_seq.and_then(&evaluation_of);
            let statement = merge_statement(m, *seq, evaluation.as_ref(), ctx);
            let name = format!(
                "{}-{}-{}.dsse.json",
                m.subject.forge.as_str(),
                m.subject.repository.replace(['/', '\\'], "_"),
                m.subject.number
            );
            let text = serde_json::to_string_pretty(&sign(&statement, signer)).unwrap_or_default();
            (name, text + "\n")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_dsse_encoding() {
        // The example of the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
