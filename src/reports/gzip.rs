//! gzip'd reports: GitHub accepts gzip'd SARIF for upload, so workflows leave `*.sarif.gz`
//! behind. A report is recognised as gzip by its magic bytes (never by its name) and
//! inflated in memory with the same size limit as plain input, plus a limit on the
//! decompression ratio, so that a small "zip bomb" is refused before it fills the memory.

use std::io::Read as _;

use flate2::read::MultiGzDecoder;

use super::error::{MAX_REPORT_BYTES, ReportError};

/// The largest accepted ratio of inflated to compressed size. Real SARIF compresses 10–30×;
/// repetitive logs reach 100×; a bomb is thousands.
pub const MAX_GZIP_RATIO: usize = 200;

/// True when `bytes` start with the gzip magic number (RFC 1952).
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Inflates a gzip'd report. The inflated size may not exceed [`MAX_REPORT_BYTES`] nor
/// [`MAX_GZIP_RATIO`] times the compressed size; a corrupt stream is an error naming `source`.
pub(crate) fn inflate(source: &str, bytes: &[u8]) -> Result<Vec<u8>, ReportError> {
    let limit = MAX_REPORT_BYTES.min(bytes.len().saturating_mul(MAX_GZIP_RATIO).max(64 * 1024));
    let mut out = Vec::new();
    // Read one byte past the limit: reaching it means the input is too large.
    let read = MultiGzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ReportError::Unsupported {
            source_name: source.to_owned(),
            what: "gzip data".to_owned(),
            reason: format!("it does not inflate ({e}); compress the report with `gzip`"),
        })?;
    if read > limit {
        return Err(ReportError::Unsupported {
            source_name: source.to_owned(),
            what: "gzip data that inflates past the limit".to_owned(),
            reason: format!(
                "{} compressed bytes inflate to more than {limit} bytes (limits: {MAX_REPORT_BYTES} bytes, {MAX_GZIP_RATIO}× the compressed size); refused as a possible zip bomb",
                bytes.len()
            ),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::best());
        e.write_all(data).expect("write to memory");
        e.finish().expect("finish in memory")
    }

    #[test]
    fn inflates_and_refuses_bombs_and_garbage() {
        let text = br#"{"version":"2.1.0","runs":[]}"#;
        assert_eq!(inflate("a.gz", &gz(text)).expect("inflates"), text);
        let bomb = gz(&vec![b' '; 50 * 1024 * 1024]);
        let err = inflate("bomb.sarif.gz", &bomb).expect_err("a bomb is refused");
        assert!(err.to_string().contains("bomb.sarif.gz"), "{err}");
        assert!(err.to_string().contains("zip bomb"), "{err}");
        let err = inflate("cut.gz", &gz(text)[..12]).expect_err("a cut stream is refused");
        assert!(err.to_string().starts_with("cut.gz: "), "{err}");
    }
}
