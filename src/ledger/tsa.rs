//! RFC 3161 time-stamps of checkpoints (`SDL_GATE_LEDGER_TSA_URL`): each signed checkpoint is
//! also sent, as its SHA-256, to a time-stamping authority, and the authority's signed reply
//! is stored with it. With it a database administrator who holds the signing key still cannot
//! back-date a rewritten history: the authority's signature fixes when each checkpoint
//! existed. The reply is checked here for what a client must check (granted, our digest, our
//! nonce); its CMS signature is checked by `openssl ts -verify`, which `ledger verify
//! --tsa-ca` runs.

use std::time::Duration;

use sha2::{Digest, Sha256};

/// How long the authority gets to answer.
pub const TSA_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a time-stamp was not obtained.
#[derive(Debug, thiserror::Error)]
pub enum TsaError {
    /// The request did not get an answer.
    #[error("time-stamping authority {url}: {why}")]
    Unreachable {
        /// The authority.
        url: String,
        /// What failed.
        why: String,
    },
    /// The answer is not a granted time-stamp of what was asked.
    #[error("time-stamping authority {url}: {why}")]
    Refused {
        /// The authority.
        url: String,
        /// What is wrong with the answer.
        why: String,
    },
}

/// DER of the SHA-256 AlgorithmIdentifier (with NULL parameters).
const SHA256_ALGORITHM: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
];

/// The DER `TimeStampReq` (RFC 3161 §2.4.1) for `digest` with `nonce`, asking for the
/// authority's certificate in the reply.
pub fn request(digest: &[u8; 32], nonce: u64) -> Vec<u8> {
    let mut imprint = vec![0x30, 0x31];
    imprint.extend_from_slice(&SHA256_ALGORITHM);
    imprint.extend_from_slice(&[0x04, 0x20]);
    imprint.extend_from_slice(digest);
    let mut body = vec![0x02, 0x01, 0x01];
    body.extend_from_slice(&imprint);
    body.extend_from_slice(&nonce_integer(nonce));
    body.extend_from_slice(&[0x01, 0x01, 0xff]);
    let mut out = vec![0x30, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

/// The DER INTEGER of `nonce` kept to 63 bits (so it is positive), in its shortest form.
/// DER allows no leading zero byte unless the next byte's high bit is set, and OpenSSL refuses
/// a request that has one (`ILLEGAL_PADDING`, PKIStatus 2): a fixed eight-byte encoding was
/// refused for one nonce in 256, those whose first byte is zero.
fn nonce_integer(nonce: u64) -> Vec<u8> {
    let bytes = (nonce & 0x7fff_ffff_ffff_ffff).to_be_bytes();
    let skip = bytes.iter().take(7).take_while(|b| **b == 0).count();
    let skip = if skip > 0 && bytes[skip] & 0x80 != 0 {
        skip - 1
    } else {
        skip
    };
    let mut out = vec![0x02, (8 - skip) as u8];
    out.extend_from_slice(&bytes[skip..]);
    out
}

/// One DER element: tag, contents, and the rest after it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// Checks a `TimeStampResp`: status granted (0) or granted with modifications (1), and a token
/// that carries `digest` and `nonce`. (The byte search for the imprint and nonce is no
/// signature check: that is `openssl ts -verify`'s.)
pub fn check_response(der: &[u8], digest: &[u8; 32], nonce: u64) -> Result<(), String> {
    let (tag, resp, _) = element(der).ok_or("the reply is not DER")?;
    if tag != 0x30 {
        return Err("the reply is not a TimeStampResp".into());
    }
    let (tag, status_info, token) = element(resp).ok_or("no PKIStatusInfo")?;
    let (itag, status, _) = element(status_info).ok_or("no PKIStatus")?;
    if tag != 0x30 || itag != 0x02 {
        return Err("no PKIStatus".into());
    }
    let status = status
        .iter()
        .fold(0i64, |acc, b| (acc << 8) | i64::from(*b));
    if status > 1 {
        return Err(format!("the authority refused (PKIStatus {status})"));
    }
    if token.is_empty() {
        return Err("granted but no time-stamp token".into());
    }
    let mut imprint = vec![0x04, 0x20];
    imprint.extend_from_slice(digest);
    if !token
        .windows(imprint.len())
        .any(|w| w == imprint.as_slice())
    {
        return Err("the token is not for this checkpoint (another message imprint)".into());
    }
    let n = nonce_integer(nonce);
    if !token.windows(n.len()).any(|w| w == n.as_slice()) {
        return Err("the token does not echo our nonce".into());
    }
    Ok(())
}

/// A client of one time-stamping authority.
#[derive(Debug, Clone)]
pub struct TsaClient {
    url: String,
    http: reqwest::Client,
}

impl TsaClient {
    /// A client of the authority at `url`.
    pub fn new(url: &str) -> Result<TsaClient, TsaError> {
        let http = reqwest::Client::builder()
            .timeout(TSA_TIMEOUT)
            .build()
            .map_err(|e| TsaError::Unreachable {
                url: url.to_owned(),
                why: e.to_string(),
            })?;
        Ok(TsaClient {
            url: url.to_owned(),
            http,
        })
    }

    /// The authority's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A granted time-stamp reply (DER `TimeStampResp`) for `data`.
    pub async fn stamp(&self, data: &[u8]) -> Result<Vec<u8>, TsaError> {
        let digest: [u8; 32] = Sha256::digest(data).into();
        let nonce = rand::random::<u64>();
        let unreachable = |why: String| TsaError::Unreachable {
            url: self.url.clone(),
            why,
        };
        let reply = self
            .http
            .post(&self.url)
            .header("content-type", "application/timestamp-query")
            .body(request(&digest, nonce))
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = reply.status();
        let body = reply
            .bytes()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        if !status.is_success() {
            return Err(TsaError::Refused {
                url: self.url.clone(),
                why: format!("HTTP {status}"),
            });
        }
        check_response(&body, &digest, nonce).map_err(|why| TsaError::Refused {
            url: self.url.clone(),
            why,
        })?;
        Ok(body.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_well_formed_der() {
        let der = request(&[7; 32], u64::MAX);
        let (tag, body, rest) = element(&der).unwrap();
        assert_eq!((tag, rest.len(), body.len()), (0x30, 0, 67));
        let (tag, version, body) = element(body).unwrap();
        assert_eq!((tag, version), (0x02, &[1u8][..]));
        let (tag, imprint, body) = element(body).unwrap();
        assert_eq!(tag, 0x30);
        assert!(imprint.ends_with(&[7; 32]));
        let (tag, nonce, body) = element(body).unwrap();
        assert_eq!((tag, nonce[0] & 0x80), (0x02, 0), "a positive nonce");
        assert_eq!(body, [0x01, 0x01, 0xff], "certReq TRUE");
    }

    #[test]
    fn nonces_are_shortest_positive_der_integers() {
        for (nonce, der) in [
            (0u64, vec![0x02, 0x01, 0x00]),
            (1, vec![0x02, 0x01, 0x01]),
            (0x7f, vec![0x02, 0x01, 0x7f]),
            (0x80, vec![0x02, 0x02, 0x00, 0x80]),
            (
                0x0012_3456_789a_bcde,
                vec![0x02, 0x07, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde],
            ),
            (
                0x0092_3456_789a_bcde,
                vec![0x02, 0x08, 0x00, 0x92, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde],
            ),
            (
                u64::MAX,
                vec![0x02, 0x08, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
        ] {
            assert_eq!(nonce_integer(nonce), der, "nonce {nonce:#x}");
            let request = request(&[7; 32], nonce);
            let (_, body, _) = element(&request).unwrap();
            assert_eq!(usize::from(request[1]), body.len(), "nonce {nonce:#x}");
            assert!(
                request.windows(der.len()).any(|w| w == der),
                "nonce {nonce:#x}"
            );
        }
    }

    #[test]
    fn a_refusal_or_another_imprint_is_not_a_time_stamp() {
        // PKIStatusInfo { status 2 (rejection) }, no token.
        let rejected = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02];
        assert!(
            check_response(&rejected, &[1; 32], 5)
                .unwrap_err()
                .contains("refused")
        );
        let mut granted = vec![0x30, 0x29, 0x30, 0x03, 0x02, 0x01, 0x00, 0x04, 0x20];
        granted.extend_from_slice(&[9; 32]);
        granted.extend_from_slice(&[0x02, 0x01]);
        assert!(
            check_response(&granted, &[1; 32], 5)
                .unwrap_err()
                .contains("another message imprint")
        );
        assert!(check_response(b"nonsense", &[1; 32], 5).is_err());
    }
}
