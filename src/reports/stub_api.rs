//! Temporary entry points until the parsers land.
use super::{Report, ReportFormat};

/// Parse error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReportError(pub String);

/// Threat model formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreatModelKind {
    /// md
    Markdown,
}

/// Parses a report.
pub fn parse_report(source: &str, _bytes: &[u8]) -> Result<Report, ReportError> {
    Ok(Report {
        source: source.into(),
        format: ReportFormat::Sarif,
        tools: vec![],
        findings: vec![],
    })
}

/// Parses a threat model.
pub fn parse_threat_model(_path: &str, bytes: &[u8]) -> Result<ThreatModelKind, ReportError> {
    if bytes.is_empty() {
        return Err(ReportError("empty".into()));
    }
    Ok(ThreatModelKind::Markdown)
}
