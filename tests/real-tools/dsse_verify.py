"""Verify sdl-gate's DSSE envelopes with an implementation we did not write.

Usage: dsse_verify.py PUBLIC_KEY_HEX KEYID ENVELOPE.json...

Each envelope must carry a signature by the Ed25519 key (securesystemslib's own DSSE and
signer code checks it) and an in-toto Statement v1 with a SLSA verification summary
predicate. Prints one line per envelope; exits 1 at the first that fails.
"""

import json
import sys

from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey


def main() -> int:
    public, keyid, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    key = SSlibKey(keyid, "ed25519", "ed25519", {"public": public})
    for path in paths:
        with open(path, encoding="utf-8") as f:
            envelope = Envelope.from_dict(json.load(f))
        try:
            envelope.verify([key], 1)
        except Exception as e:  # securesystemslib raises VerificationError subclasses
            print(f"{path}: FAILED: {e}")
            return 1
        statement = json.loads(envelope.payload)
        assert statement["_type"] == "https://in-toto.io/Statement/v1", statement["_type"]
        assert statement["predicateType"] == "https://slsa.dev/verification_summary/v1"
        predicate = statement["predicate"]
        print(
            f"{path}: verified {envelope.payload_type} "
            f"{predicate['verificationResult']} {statement['subject'][0]['digest']['gitCommit']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
