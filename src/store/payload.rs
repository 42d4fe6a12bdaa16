//! How a delivery's raw body is kept: lz4-compressed, behind a marker, on both databases.
//!
//! A webhook body is 20–30 KB of JSON that compresses to about an eighth with lz4 (the 24 KB
//! octokit `pull_request` delivery: 3.2 KB, in ~17 µs). Stored as text, every delivery took two
//! 16 KiB overflow pages, so SQLite wrote ~32 KB to the WAL, copied it again at the checkpoint,
//! and allocated and faulted in page-cache memory for it: half of the service's CPU per
//! delivery was SQLite's thread. Compressed, a delivery fits inside a leaf page beside its
//! neighbours. PostgreSQL used to receive the text and compress it itself (lz4 TOAST): the full
//! body crossed the connection, encrypted on one end and decrypted on the other, and had its
//! UTF-8 checked, to keep the same 3–4 KB; it now stores this form in `packed` (migration
//! 0009), and older rows keep their text in `payload`.
//!
//! Rows written before this format are text; they read back unchanged. The stored form is
//! [`MARKER`], the body's length (u32, little-endian), then one lz4 block. A JSON text never
//! starts with a NUL byte, so the marker cannot be mistaken for an old row.

use super::StoreError;

/// The first bytes of a compressed payload.
pub const MARKER: &[u8; 4] = b"\0lz4";

/// Larger than any body the service accepts (25 MiB): a stored length above it is corruption,
/// refused before anything is allocated for it.
const LARGEST_BODY: usize = 64 * 1024 * 1024;

/// The stored form of a JSON body. Compression cannot fail into a buffer of the maximum size;
/// should it anyway, the body is kept as plain text, which reads back the same.
///
/// The block is compressed into a per-thread scratch buffer and then copied out at its size:
/// allocating and zeroing a buffer of the worst-case size for every delivery (28 KB, to keep
/// 3 KB) cost more than the copy.
pub fn pack(json: &str) -> Vec<u8> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    /// Scratch larger than this is given back after use (one rare huge push event must not
    /// pin megabytes per thread).
    const KEPT_SCRATCH: usize = 256 * 1024;
    let input = json.as_bytes();
    let Ok(len) = u32::try_from(input.len()) else {
        return input.to_vec();
    };
    let needed = lz4_flex::block::get_maximum_output_size(input.len());
    SCRATCH.with_borrow_mut(|scratch| {
        if scratch.len() < needed {
            scratch.resize(needed, 0);
        }
        let packed = match lz4_flex::block::compress_into(input, &mut scratch[..needed]) {
            Ok(written) => {
                let mut out = Vec::with_capacity(MARKER.len() + 4 + written);
                out.extend_from_slice(MARKER);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(&scratch[..written]);
                out
            }
            Err(_) => input.to_vec(),
        };
        if scratch.len() > KEPT_SCRATCH {
            *scratch = Vec::new();
        }
        packed
    })
}

/// The JSON body of a stored payload, compressed or (older rows) plain. `what` names the row in
/// the error when the bytes are not a payload this store wrote.
pub fn unpack(stored: Vec<u8>, what: &str) -> Result<String, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("{what}: {why}"));
    let bytes = match stored.strip_prefix(MARKER.as_slice()) {
        None => stored,
        Some(rest) => {
            let (len, block) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| corrupt("compressed payload shorter than its header".into()))?;
            let len = u32::from_le_bytes(*len) as usize;
            if len > LARGEST_BODY {
                return Err(corrupt(format!(
                    "compressed payload claims {len} bytes, more than any accepted body"
                )));
            }
            let mut body = vec![0; len];
            let written = lz4_flex::block::decompress_into(block, &mut body)
                .map_err(|e| corrupt(format!("compressed payload does not decompress: {e}")))?;
            if written != len {
                return Err(corrupt(format!(
                    "compressed payload holds {written} bytes, its header says {len}"
                )));
            }
            body
        }
    };
    String::from_utf8(bytes).map_err(|e| corrupt(format!("payload is not UTF-8: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook_like(repeats: usize) -> String {
        let one = r#"{"login":"octocat","id":1,"node_id":"MDQ6VXNlcjE=","avatar_url":"https://github.com/images/error/octocat_happy.gif","type":"User","site_admin":false}"#;
        format!(
            r#"{{"action":"synchronize","number":7,"users":[{}],"zen":"Ünïcödé ✓"}}"#,
            vec![one; repeats].join(",")
        )
    }

    #[test]
    fn a_body_round_trips_and_is_stored_smaller() {
        for body in [
            String::new(),
            "{}".to_owned(),
            webhook_like(1),
            webhook_like(160),
            // Past the scratch buffer kept per thread, then small again after it is dropped.
            webhook_like(3_000),
            webhook_like(2),
        ] {
            let stored = pack(&body);
            assert!(stored.starts_with(MARKER), "{} bytes", body.len());
            assert_eq!(
                unpack(stored.clone(), "delivery 1").expect("reads back"),
                body
            );
            if body.len() > 20_000 {
                assert!(
                    stored.len() * 4 < body.len(),
                    "{} bytes stored for {}",
                    stored.len(),
                    body.len()
                );
            }
        }
    }

    #[test]
    fn rows_written_as_text_before_compression_read_back_unchanged() {
        let body = webhook_like(3);
        assert_eq!(
            unpack(body.clone().into_bytes(), "delivery 1").expect("text"),
            body
        );
    }

    #[test]
    fn damaged_payloads_are_refused_naming_the_row() {
        let good = pack(&webhook_like(40));
        let mut truncated = good.clone();
        truncated.truncate(good.len() / 2);
        let mut huge = good.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut short = good.clone();
        short[4..8].copy_from_slice(&1_u32.to_le_bytes());
        let mut long = good.clone();
        let claimed = webhook_like(40).len() as u32 + 10;
        long[4..8].copy_from_slice(&claimed.to_le_bytes());
        let cases: [(Vec<u8>, &str); 6] = [
            (MARKER.to_vec(), "shorter than its header"),
            (truncated, "does not decompress"),
            (huge, "more than any accepted body"),
            (short, "does not decompress"),
            (long, "its header says"),
            (vec![b'{', 0xff, b'}'], "not UTF-8"),
        ];
        for (stored, why) in cases {
            match unpack(stored, "delivery 42") {
                Err(StoreError::Corrupt(message)) => {
                    assert!(
                        message.starts_with("delivery 42: ") && message.contains(why),
                        "{message}"
                    );
                }
                other => panic!("{why}: {other:?}"),
            }
        }
    }
}
