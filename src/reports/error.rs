//! Why a report or threat model could not be read.
//!
//! Every error names the source (file or artifact name) and the place at fault — line and
//! column for syntax errors, a JSON path for structural errors — and says what the user can do,
//! because these messages end up in a pull-request comment in front of a developer.

use thiserror::Error;

/// The largest report sdl-gate reads: 256 MiB. Real scanner output is far below this (a
/// 500-result CodeQL log is under 1 MiB); anything larger is more likely a mistake (a build
/// artefact uploaded as a report) or an attempt to exhaust memory.
pub const MAX_REPORT_BYTES: usize = 256 * 1024 * 1024;

/// The formats [`crate::reports::parse_report`] reads, for error messages.
pub const SUPPORTED_REPORT_FORMATS: &str = "SARIF 2.1.0, OSV-Scanner JSON, Trivy JSON, Grype JSON, \
npm audit JSON (npm 6 `advisories`, pnpm, yarn berry `yarn npm audit`, npm 7+ `vulnerabilities`), \
yarn classic `yarn audit --json`, cargo-audit JSON, pip-audit JSON, GitLab security reports \
(sast, dependency_scanning, secret_detection, container_scanning), CycloneDX SBOM/VEX (JSON, XML), \
SPDX SBOM (JSON 2.x, JSON-LD 3.0, tag-value), GitHub code-scanning alerts JSON";

/// The threat-model formats [`crate::reports::parse_threat_model`] recognises.
pub const SUPPORTED_THREAT_MODEL_FORMATS: &str = "OWASP Threat Dragon v1/v2 JSON, Threagile YAML, \
Open Threat Model (OTM) JSON/YAML, pytm JSON, Microsoft Threat Modeling Tool .tm7, \
AWS Threat Composer JSON, CycloneDX threat-model BOM, Markdown";

/// A report or threat model that could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ReportError {
    /// The input is larger than [`MAX_REPORT_BYTES`].
    #[error(
        "{source_name}: report is {size} bytes, more than the limit of {limit} bytes; split the scan or upload only the report file"
    )]
    TooLarge {
        /// Where the input came from.
        source_name: String,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The input is empty or only white space.
    #[error(
        "{source_name}: the file is empty; the scanner produced no output (check the scan step's log)"
    )]
    Empty {
        /// Where the input came from.
        source_name: String,
    },
    /// The input is not valid JSON (or JSON lines); `line` and `column` are 1-based.
    #[error("{source_name}: invalid JSON at line {line}, column {column}: {message}")]
    Json {
        /// Where the input came from.
        source_name: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the JSON parser reported.
        message: String,
    },
    /// The input nests arrays/objects deeper than the parser allows (128 levels of JSON, 256
    /// XML elements). No real report does; this guards the stack against hostile input.
    #[error(
        "{source_name}: nesting too deep at line {line}, column {column}; this is not scanner output"
    )]
    TooDeep {
        /// Where the input came from.
        source_name: String,
        /// 1-based line where the limit was hit.
        line: usize,
        /// 1-based column where the limit was hit.
        column: usize,
    },
    /// The input is not valid YAML.
    #[error("{source_name}: invalid YAML: {message}")]
    Yaml {
        /// Where the input came from.
        source_name: String,
        /// What the YAML parser reported, with its location.
        message: String,
    },
    /// The input is not well-formed XML; `line` and `column` are 1-based.
    #[error("{source_name}: invalid XML at line {line}, column {column}: {message}")]
    Xml {
        /// Where the input came from.
        source_name: String,
        /// 1-based line of the error.
        line: u32,
        /// 1-based column of the error.
        column: u32,
        /// What the XML parser reported.
        message: String,
    },
    /// The input is not valid UTF-8 where text is required.
    #[error("{source_name}: not valid UTF-8 text (first invalid byte at offset {offset})")]
    NotUtf8 {
        /// Where the input came from.
        source_name: String,
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// The format was recognised, but a field has the wrong shape.
    #[error("{source_name}: {format}: field `{path}` {message}")]
    Structure {
        /// Where the input came from.
        source_name: String,
        /// The detected format (human name).
        format: &'static str,
        /// JSON path of the field at fault, e.g. `runs[0].results[3].locations`.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The content matches no supported format.
    #[error("{source_name}: not a recognised report ({seen}); supported formats: {supported}")]
    UnknownFormat {
        /// Where the input came from.
        source_name: String,
        /// What was seen: top-level keys or the first bytes.
        seen: String,
        /// The supported formats.
        supported: &'static str,
    },
    /// The format was recognised but is deliberately not read (a licence report, an old SARIF
    /// version, a JSON Schema…); `reason` says what to upload instead.
    #[error("{source_name}: {what}: {reason}")]
    Unsupported {
        /// Where the input came from.
        source_name: String,
        /// What the content was recognised as.
        what: String,
        /// Why it is not read and what to do.
        reason: String,
    },
    /// The content is not a threat model (threat-model paths only).
    #[error("{source_name}: not a threat model: {reason}; recognised formats: {supported}")]
    NotAThreatModel {
        /// Where the input came from.
        source_name: String,
        /// Why, and what was seen.
        reason: String,
        /// The recognised threat-model formats.
        supported: &'static str,
    },
}

impl ReportError {
    /// Turns a serde_json error into [`ReportError::Json`] or [`ReportError::TooDeep`], or,
    /// for a data error in a recognised format, [`ReportError::Structure`] at `path`.
    pub(crate) fn from_json(
        source_name: &str,
        format: Option<&'static str>,
        path: Option<String>,
        err: &serde_json::Error,
    ) -> ReportError {
        let message = strip_position(&err.to_string());
        if message.contains("recursion limit exceeded") {
            return ReportError::TooDeep {
                source_name: source_name.to_owned(),
                line: err.line(),
                column: err.column(),
            };
        }
        match (format, err.classify()) {
            (Some(format), serde_json::error::Category::Data) => ReportError::Structure {
                source_name: source_name.to_owned(),
                format,
                path: path.unwrap_or_else(|| "(document)".to_owned()),
                message: format!("{message} (line {}, column {})", err.line(), err.column()),
            },
            _ => ReportError::Json {
                source_name: source_name.to_owned(),
                line: err.line(),
                column: err.column(),
                message,
            },
        }
    }
}

/// serde_json appends " at line X column Y" to its messages; we report them in fields.
pub(crate) fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}
