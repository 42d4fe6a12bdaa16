//! Checkpoints as C2SP signed notes (`c2sp.org/signed-note`, `c2sp.org/tlog-checkpoint`): the
//! text `origin\nsize\nbase64(root)\n`, a blank line, and one `— name base64(key id ‖
//! signature)` line per Ed25519 signature. The format transparency logs use, so existing
//! note verifiers read our checkpoints, and a key is named by the same `name+id+key` string.

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// The signature algorithm byte of Ed25519 in signed notes.
const ED25519_ALG: u8 = 0x01;

/// Why a note, a checkpoint or a key does not read or verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The text is not a signed note (names the line).
    #[error("not a signed note: {0}")]
    Malformed(String),
    /// The note's body is not a checkpoint (names the line).
    #[error("not a checkpoint: {0}")]
    NotACheckpoint(String),
    /// A verifier key string is not `name+hex id+base64 key`.
    #[error("not a note verifier key: {0}")]
    BadKey(String),
    /// A signature by a known key does not verify.
    #[error("the signature of key {0} does not verify")]
    BadSignature(String),
    /// No signature is by a key the verifier knows.
    #[error("signed by no known key (signatures by: {0})")]
    UnknownSigner(String),
}

/// The signed statement "the first `size` entries have root `root`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The ledger's name (a schema-less URL, also the key's name).
    pub origin: String,
    /// How many entries the tree holds.
    pub size: u64,
    /// The Merkle root of those entries.
    pub root: Hash,
}

impl Checkpoint {
    /// The note body: `origin\nsize\nbase64(root)\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Reads a note body (extension lines after the root are allowed and ignored).
    pub fn parse(body: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| NoteError::NotACheckpoint("line 1: no origin".into()))?;
        let size = lines
            .next()
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or_else(|| NoteError::NotACheckpoint("line 2: no tree size".into()))?;
        let root = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|b| <Hash>::try_from(b.as_slice()).ok())
            .ok_or_else(|| {
                NoteError::NotACheckpoint("line 3: no base64 SHA-256 root hash".into())
            })?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key's name.
    pub name: String,
    /// The key's 4-byte id.
    pub key_id: [u8; 4],
    /// The signature bytes.
    pub signature: Vec<u8>,
}

/// A signed note split into its body and its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    /// The text that was signed (ends with a newline).
    pub body: String,
    /// The signatures, in order.
    pub signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Splits `text` into body and signature lines.
    pub fn parse(text: &str) -> Result<SignedNote, NoteError> {
        let split = text
            .find("\n\n")
            .ok_or_else(|| NoteError::Malformed("no blank line before the signatures".into()))?;
        let body = &text[..=split];
        let mut signatures = Vec::new();
        for (i, line) in text[split + 2..].split_terminator('\n').enumerate() {
            let at = || format!("signature line {}", i + 1);
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or_else(|| NoteError::Malformed(format!("{}: does not start with —", at())))?;
            let (name, sig) = rest
                .split_once(' ')
                .ok_or_else(|| NoteError::Malformed(format!("{}: no signature", at())))?;
            let bytes = B64
                .decode(sig)
                .map_err(|_| NoteError::Malformed(format!("{}: not base64", at())))?;
            if bytes.len() < 5 {
                return Err(NoteError::Malformed(format!("{}: too short", at())));
            }
            let mut key_id = [0; 4];
            key_id.copy_from_slice(&bytes[..4]);
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id,
                signature: bytes[4..].to_vec(),
            });
        }
        if signatures.is_empty() {
            return Err(NoteError::Malformed("no signature lines".into()));
        }
        Ok(SignedNote {
            body: body.to_owned(),
            signatures,
        })
    }

    /// The key among `keys` that signed this note, after checking its signature. A
    /// signature by a known key that does not verify is an error even when another does.
    pub fn verify<'k>(&self, keys: &'k [VerifierKey]) -> Result<&'k VerifierKey, NoteError> {
        let mut good = None;
        for sig in &self.signatures {
            let Some(key) = keys
                .iter()
                .find(|k| k.name == sig.name && k.id == sig.key_id)
            else {
                continue;
            };
            UnparsedPublicKey::new(&ED25519, &key.public)
                .verify(self.body.as_bytes(), &sig.signature)
                .map_err(|_| NoteError::BadSignature(key.to_string()))?;
            good.get_or_insert(key);
        }
        good.ok_or_else(|| {
            let names: Vec<String> = self
                .signatures
                .iter()
                .map(|s| format!("{}+{}", s.name, hex::encode(s.key_id)))
                .collect();
            NoteError::UnknownSigner(names.join(", "))
        })
    }
}

/// A public key as note verifiers name it: `name+hex(key id)+base64(0x01 ‖ key)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// The key's name (the ledger's origin).
    pub name: String,
    /// `SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[..4]`.
    pub id: [u8; 4],
    /// The Ed25519 public key.
    pub public: [u8; 32],
}

impl VerifierKey {
    /// The verifier key of `public` under `name`.
    pub fn new(name: &str, public: [u8; 32]) -> VerifierKey {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update([ED25519_ALG]);
        h.update(public);
        let digest = h.finalize();
        let mut id = [0; 4];
        id.copy_from_slice(&digest[..4]);
        VerifierKey {
            name: name.to_owned(),
            id,
            public,
        }
    }

    /// Reads `name+id+key`, checking that the id belongs to the key.
    pub fn parse(text: &str) -> Result<VerifierKey, NoteError> {
        let bad = |why: &str| NoteError::BadKey(format!("{}: {why}", text.trim()));
        // The name has no `+` and the id is hex; the base64 key may hold `+`.
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected name+id+key"));
        };
        let key = B64.decode(key).map_err(|_| bad("the key is not base64"))?;
        let public: [u8; 32] = match key.split_first() {
            Some((&ED25519_ALG, rest)) => rest.try_into().map_err(|_| bad("not 32 bytes"))?,
            _ => return Err(bad("not an Ed25519 key")),
        };
        let parsed = VerifierKey::new(name, public);
        if hex::encode(parsed.id) != id {
            return Err(bad("the id does not match the key"));
        }
        Ok(parsed)
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut key = vec![ED25519_ALG];
        key.extend_from_slice(&self.public);
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            B64.encode(key)
        )
    }
}

/// The ledger's Ed25519 signing key with the name its signatures carry.
pub struct NoteSigner {
    pair: Ed25519KeyPair,
    verifier: VerifierKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        write!(f, "NoteSigner({})", self.verifier)
    }
}

impl NoteSigner {
    /// A signer named `name` over `pair`.
    pub fn new(name: &str, pair: Ed25519KeyPair) -> Result<NoteSigner, NoteError> {
        if name.is_empty() || name.contains([' ', '+', '\n']) {
            return Err(NoteError::BadKey(format!(
                "{name:?}: a key name is not empty and has no space, + or newline"
            )));
        }
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| NoteError::BadKey("the public key is not 32 bytes".into()))?;
        Ok(NoteSigner {
            verifier: VerifierKey::new(name, public),
            pair,
        })
    }

    /// A signer over a fresh key (kept in memory only; `keys` writes one to a file).
    pub fn generate(name: &str) -> Result<NoteSigner, NoteError> {
        let pair = Ed25519KeyPair::generate()
            .map_err(|_| NoteError::BadKey("generating a key failed".into()))?;
        NoteSigner::new(name, pair)
    }

    /// The key verifiers need.
    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    /// Raw Ed25519 signature of `message` (DSSE envelopes sign their own encoding).
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }

    /// `body` as a signed note (body, blank line, this key's signature line).
    pub fn sign_note(&self, body: &str) -> String {
        let mut sig = self.verifier.id.to_vec();
        sig.extend_from_slice(self.pair.sign(body.as_bytes()).as_ref());
        format!(
            "{body}\n\u{2014} {} {}\n",
            self.verifier.name,
            B64.encode(sig)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(name: &str) -> NoteSigner {
        NoteSigner::new(name, Ed25519KeyPair::generate().unwrap()).unwrap()
    }

    #[test]
    fn a_signed_checkpoint_reads_back_and_verifies_with_its_key_only() {
        let s = signer("sdl-gate.example/ledger");
        let cp = Checkpoint {
            origin: "sdl-gate.example/ledger".into(),
            size: 42,
            root: [7; 32],
        };
        let text = s.sign_note(&cp.body());
        assert!(text.starts_with("sdl-gate.example/ledger\n42\nBwcH"));
        let note = SignedNote::parse(&text).unwrap();
        assert_eq!(Checkpoint::parse(&note.body).unwrap(), cp);
        let key = VerifierKey::parse(&s.verifier().to_string()).unwrap();
        assert_eq!(note.verify(std::slice::from_ref(&key)).unwrap(), &key);

        let other = signer("sdl-gate.example/ledger");
        let err = note.verify(&[other.verifier().clone()]).unwrap_err();
        assert!(matches!(err, NoteError::UnknownSigner(_)), "{err}");

        let forged = text.replace("\n42\n", "\n43\n");
        let err = SignedNote::parse(&forged)
            .unwrap()
            .verify(&[key])
            .unwrap_err();
        assert!(matches!(err, NoteError::BadSignature(_)), "{err}");
    }

    #[test]
    fn a_key_string_with_a_wrong_id_or_no_parts_is_refused() {
        let s = signer("a.example/log");
        let text = s.verifier().to_string();
        let mut parts = text.splitn(3, '+');
        let (name, _, key) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());
        let wrong = format!("{name}+00000000+{key}");
        assert!(
            VerifierKey::parse(&wrong)
                .unwrap_err()
                .to_string()
                .contains("id does not match")
        );
        assert!(VerifierKey::parse("nothing").is_err());
        assert!(NoteSigner::new("has space", Ed25519KeyPair::generate().unwrap()).is_err());
    }
}
