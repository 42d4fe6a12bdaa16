//! Scanner reports → normalised findings.
//!
//! sdl-gate reads what the scanners a team already runs produce: SARIF 2.1.0 from any tool,
//! OSV-Scanner, Trivy, Grype, npm audit, cargo-audit and pip-audit JSON, GitLab security
//! reports, and it recognises SBOMs (CycloneDX, SPDX). The format is detected from the content,
//! never from the file name. Everything is turned into [`Finding`]s on one severity scale.
//! Pure: callers hand in bytes, nothing here touches the file system or the network.
//!
//! Entry points: [`parse_report`] (any supported report → [`Report`]), [`sniff`] (format only)
//! and [`parse_threat_model`] (is this file a threat model, and which kind). Decisions that
//! change what counts, each documented in its module:
//! - SARIF results that are `pass`/`notApplicable`, accepted suppressions and
//!   `baselineState: absent` are not findings (see the `sarif` module).
//! - A known vulnerability whose severity the report does not state (pip-audit, OSV records
//!   without CVSS, Trivy `UNKNOWN`, CycloneDX VEX without ratings) is rated high: fail closed.
//! - OSV-Scanner groups of aliases count once; npm 7 `via` strings (transitive) are not counted
//!   again; Trivy `not_affected` and CycloneDX VEX `not_affected`/`false_positive`/`resolved`
//!   are not findings (VEX ones are kept in [`Report::coverage`] with their justification);
//!   cargo-audit `warnings` (unmaintained, yanked) are not findings.
//! - What a report did not audit (pip-audit `skip_reason`) and how many components an SBOM
//!   lists are kept in [`Report::coverage`], for the gates to judge whether it is evidence.

mod cargo_audit;
mod code_scanning;
mod coverage;
mod cvss;
mod detect;
mod error;
mod finding;
mod gitlab;
mod grype;
mod gzip;
mod json;
mod lenient;
mod normalise;
mod npm;
mod osv;
mod pip_audit;
mod sarif;
mod sbom;
mod threat_model;
mod trivy;

pub use coverage::{Coverage, SetAside, Skipped};
pub use cvss::base_score as cvss_base_score;
pub use error::{
    MAX_REPORT_BYTES, ReportError, SUPPORTED_REPORT_FORMATS, SUPPORTED_THREAT_MODEL_FORMATS,
};
pub use finding::{Finding, FindingKind, Package, Severity};
pub use gzip::MAX_GZIP_RATIO;
pub use threat_model::{
    THREAT_MODEL_EXTENSIONS, ThreatModelKind, is_threat_model_attachment, parse_threat_model,
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use detect::{Detected, Probe, detect_json};
use json::Ctx;

/// The formats sdl-gate understands, as detected from content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// SARIF 2.1.0 (CodeQL, Semgrep, Trivy, Grype, gitleaks, ESLint…).
    Sarif,
    /// OSV-Scanner JSON (`results[].packages[].vulnerabilities`).
    OsvScanner,
    /// Trivy JSON (`Results[]`).
    Trivy,
    /// Grype JSON (`matches[]`).
    Grype,
    /// npm audit JSON, lockfile v1 era (`advisories`).
    NpmAuditV6,
    /// npm audit JSON, npm 7 and later (`vulnerabilities`, `auditReportVersion: 2`).
    NpmAuditV7,
    /// cargo-audit JSON.
    CargoAudit,
    /// pip-audit JSON.
    PipAudit,
    /// GitLab SAST report.
    GitlabSast,
    /// GitLab dependency scanning report.
    GitlabDependencyScanning,
    /// GitLab secret detection report.
    GitlabSecretDetection,
    /// GitLab container scanning report.
    GitlabContainerScanning,
    /// CycloneDX SBOM (JSON or XML); may carry VEX vulnerabilities.
    CycloneDx,
    /// SPDX SBOM (JSON or tag-value).
    Spdx,
    /// GitHub code-scanning alerts (the JSON array the alerts API answers).
    GithubCodeScanning,
}

/// One parsed report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Where it came from (file name or artifact name), for messages.
    pub source: String,
    /// The detected format.
    pub format: ReportFormat,
    /// Tools named in the report (a SARIF log may hold several runs).
    pub tools: Vec<String>,
    /// The findings, in report order.
    pub findings: Vec<Finding>,
    /// Results the tool reported as suppressed (SARIF `suppressions`): not findings, but
    /// counted and listed with their justification, since auditors ask for them.
    #[serde(default)]
    pub suppressed: Vec<Suppressed>,
    /// Failures the tool reported about its own run (SARIF `invocations`): the scan is
    /// incomplete, so the gate reading it cannot pass on it.
    #[serde(default)]
    pub failures: Vec<ToolFailure>,
    /// What the report says it did not audit or set aside, and how much an SBOM lists.
    #[serde(default, skip_serializing_if = "Coverage::is_empty")]
    pub coverage: Coverage,
    /// SHA-256 (hex) of the bytes as read, before any gzip was inflated: what the evidence
    /// ledger records, so an auditor can match the very file the gate read. Empty for a
    /// report that was not read from bytes (GitHub code-scanning alerts).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// `name version` of each tool that says its version (SARIF `tool.driver.version` or
    /// `semanticVersion`), for the ledger.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_versions: Vec<String>,
}

/// A result its tool marked as suppressed (`# nosec`, `// eslint-disable…`, `nosemgrep`, an
/// external triage), with the justification when the tool gives one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppressed {
    /// The tool.
    pub tool: String,
    /// The rule id.
    pub rule: String,
    /// Repository-relative file, when located.
    pub file: Option<String>,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// How it was suppressed (`inSource`, `external`).
    pub kind: String,
    /// Why, as written by whoever suppressed it.
    pub justification: Option<String>,
}

/// A failure a tool reported about its own run: `executionSuccessful: false`, or an
/// error-level tool execution or configuration notification (a rule that did not parse, a
/// file that was skipped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolFailure {
    /// The tool.
    pub tool: String,
    /// What the tool said.
    pub message: String,
    /// The file concerned, when the tool names one.
    pub file: Option<String>,
}

impl ToolFailure {
    /// One line for messages: tool, file and what went wrong.
    pub fn describe(&self) -> String {
        let first = self.message.lines().next().unwrap_or("").trim();
        match &self.file {
            Some(f) => format!("{} reported a failure on {f}: {first}", self.tool),
            None => format!("{} reported a failure: {first}", self.tool),
        }
    }
}

impl Report {
    /// Makes absolute file paths under one of `roots` (the repository checkout: `--repo`,
    /// `GITHUB_WORKSPACE`, `CI_PROJECT_DIR`) repository-relative, so that they match the
    /// change. Paths outside every root stay absolute ([`Finding::is_outside_repository`]).
    /// Pure: the caller resolves the roots.
    pub fn relative_to(&mut self, roots: &[String]) {
        let rebase = |file: &mut Option<String>| {
            if let Some(f) = file.as_mut()
                && let Some(rel) = roots.iter().find_map(|r| normalise::under_root(f, r))
            {
                *f = rel;
            }
        };
        for f in &mut self.findings {
            rebase(&mut f.file);
        }
        for s in &mut self.suppressed {
            rebase(&mut s.file);
        }
        for t in &mut self.failures {
            rebase(&mut t.file);
        }
    }

    /// True for SBOM formats.
    pub fn is_sbom(&self) -> bool {
        matches!(self.format, ReportFormat::CycloneDx | ReportFormat::Spdx)
    }
}

impl std::fmt::Display for ReportFormat {
    /// The user-facing name ("pip-audit JSON"), never the Rust variant name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl ReportFormat {
    /// Human name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Sarif => "SARIF",
            ReportFormat::OsvScanner => "OSV-Scanner JSON",
            ReportFormat::Trivy => "Trivy JSON",
            ReportFormat::Grype => "Grype JSON",
            ReportFormat::NpmAuditV6 => "npm audit JSON (npm 6 format)",
            ReportFormat::NpmAuditV7 => "npm audit JSON (npm 7+ format)",
            ReportFormat::CargoAudit => "cargo-audit JSON",
            ReportFormat::PipAudit => "pip-audit JSON",
            ReportFormat::GitlabSast => "GitLab SAST report",
            ReportFormat::GitlabDependencyScanning => "GitLab dependency scanning report",
            ReportFormat::GitlabSecretDetection => "GitLab secret detection report",
            ReportFormat::GitlabContainerScanning => "GitLab container scanning report",
            ReportFormat::CycloneDx => "CycloneDX",
            ReportFormat::Spdx => "SPDX",
            ReportFormat::GithubCodeScanning => "GitHub code-scanning alerts JSON",
        }
    }
}

/// What the first bytes say the document is.
enum Syntax<'a> {
    Json(&'a [u8]),
    Xml(&'a str),
    Text(&'a str),
}

fn prepare<'a>(source: &str, bytes: &'a [u8]) -> Result<Syntax<'a>, ReportError> {
    if bytes.len() > MAX_REPORT_BYTES {
        return Err(ReportError::TooLarge {
            source_name: source.to_owned(),
            size: bytes.len(),
            limit: MAX_REPORT_BYTES,
        });
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(ReportError::Unsupported {
            source_name: source.to_owned(),
            what: "UTF-16 text".to_owned(),
            reason: "reports must be UTF-8; PowerShell's `>` writes UTF-16 — use `Out-File -Encoding utf8`".to_owned(),
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err(ReportError::Empty {
            source_name: source.to_owned(),
        });
    };
    match bytes[start] {
        b'{' | b'[' => Ok(Syntax::Json(bytes)),
        first => {
            let text = std::str::from_utf8(bytes).map_err(|e| ReportError::NotUtf8 {
                source_name: source.to_owned(),
                offset: e.valid_up_to(),
            })?;
            if first == b'<' {
                Ok(Syntax::Xml(text))
            } else {
                Ok(Syntax::Text(text))
            }
        }
    }
}

fn unknown(source: &str, seen: String) -> ReportError {
    ReportError::UnknownFormat {
        source_name: source.to_owned(),
        seen,
        supported: SUPPORTED_REPORT_FORMATS,
    }
}

/// The start of a text document, safe to show: first line, control characters removed.
fn first_line(text: &str) -> String {
    let line = text.trim_start().lines().next().unwrap_or("");
    let clean: String = line
        .chars()
        .filter(|c| !c.is_control() && *c != '`')
        .take(60)
        .collect();
    format!("text starting with `{clean}`")
}

/// Detects the format of a report from its content without reading it fully into findings;
/// `None` when it is no supported report (use [`parse_report`] for the reason).
pub fn sniff(bytes: &[u8]) -> Option<ReportFormat> {
    let inflated = if gzip::is_gzip(bytes) {
        Some(gzip::inflate("", bytes).ok()?)
    } else {
        None
    };
    let bytes = inflated.as_deref().unwrap_or(bytes);
    match prepare("", bytes).ok()? {
        Syntax::Json(json) => match detect_json(&serde_json::from_slice::<Probe>(json).ok()?) {
            Detected::Format(f) => Some(f),
            _ => None,
        },
        Syntax::Xml(text) => {
            guard_xml("", text).ok()?;
            let doc = roxmltree::Document::parse(text).ok()?;
            let root = doc.root_element();
            let ns = root
                .tag_name()
                .namespace()
                .unwrap_or("")
                .to_ascii_lowercase();
            match root.tag_name().name() {
                "bom" if ns.contains("cyclonedx") => Some(ReportFormat::CycloneDx),
                "RDF" if text.contains("spdx.org") => Some(ReportFormat::Spdx),
                _ => None,
            }
        }
        Syntax::Text(text) => sbom::is_spdx_tag_value(text).then_some(ReportFormat::Spdx),
    }
}

/// Parses a scanner report or SBOM, detecting its format from the content (never the name).
///
/// `source` names the input in messages (file or artifact name). Errors name the source and
/// the place at fault; this function never panics, whatever the bytes.
///
/// gzip'd input (recognised by its magic bytes) is inflated first, within the same size
/// limit and [`MAX_GZIP_RATIO`].
pub fn parse_report(source: &str, bytes: &[u8]) -> Result<Report, ReportError> {
    use sha2::Digest;
    let mut report = parse_inflated(source, bytes)?;
    report.sha256 = hex::encode(sha2::Sha256::digest(bytes));
    Ok(report)
}

fn parse_inflated(source: &str, bytes: &[u8]) -> Result<Report, ReportError> {
    let inflated = if gzip::is_gzip(bytes) {
        Some(gzip::inflate(source, bytes)?)
    } else {
        None
    };
    let bytes = inflated.as_deref().unwrap_or(bytes);
    match prepare(source, bytes)? {
        Syntax::Json(json) => parse_json(source, json),
        Syntax::Xml(text) => parse_xml(source, text),
        Syntax::Text(text) => {
            if sbom::is_spdx_tag_value(text) {
                return Ok(Report {
                    source: source.to_owned(),
                    format: ReportFormat::Spdx,
                    tools: sbom::spdx_tag_value_tools(text),
                    findings: Vec::new(),
                    suppressed: Vec::new(),
                    failures: Vec::new(),
                    coverage: Coverage {
                        components: Some(sbom::spdx_tag_value_packages(text)),
                        ..Coverage::default()
                    },
                    sha256: String::new(),
                    tool_versions: Vec::new(),
                });
            }
            Err(unknown(source, first_line(text)))
        }
    }
}

fn parse_json(source: &str, json: &[u8]) -> Result<Report, ReportError> {
    // Large SARIF logs skip the general detector's extra scan; anything unusual falls through.
    if sarif::might_be_sarif(json)
        && let Some(report) = sarif::parse_fast(source, json)
    {
        return Ok(report);
    }
    let probe: Probe = match serde_json::from_slice(json) {
        Ok(p) => p,
        Err(err) => {
            // yarn classic writes one JSON document per line.
            if let Ok(text) = std::str::from_utf8(json)
                && npm::looks_like_yarn_lines(text)
            {
                let root = npm::yarn_lines_to_v6(source, text)?;
                let ctx = Ctx {
                    source,
                    format: "yarn audit JSON lines",
                };
                return finish(
                    source,
                    ReportFormat::NpmAuditV6,
                    vec!["yarn audit".to_owned()],
                    npm::parse_v6(ctx, &root)?,
                    Coverage::default(),
                );
            }
            return Err(ReportError::from_json(source, None, None, &err));
        }
    };
    let format = match detect_json(&probe) {
        Detected::Format(f) => f,
        Detected::Unsupported { what, reason } => {
            return Err(ReportError::Unsupported {
                source_name: source.to_owned(),
                what,
                reason,
            });
        }
        Detected::Unknown => return Err(unknown(source, probe.describe())),
    };
    if format == ReportFormat::Sarif {
        return sarif::parse(source, json);
    }
    let root: Value = serde_json::from_slice(json)
        .map_err(|e| ReportError::from_json(source, Some(format.name()), None, &e))?;
    let ctx = Ctx {
        source,
        format: format.name(),
    };
    let one = |t: &str| vec![t.to_owned()];
    let mut coverage = Coverage::default();
    let (tools, findings) = match format {
        ReportFormat::Sarif => return sarif::parse(source, json),
        ReportFormat::OsvScanner => (one(osv::TOOL), osv::parse(ctx, &root)?),
        ReportFormat::Trivy => (one(trivy::TOOL), trivy::parse(ctx, &root)?),
        ReportFormat::Grype => (one(grype::TOOL), grype::parse(ctx, &root)?),
        ReportFormat::NpmAuditV6 => (one(npm::TOOL), npm::parse_v6(ctx, &root)?),
        ReportFormat::NpmAuditV7 => (one(npm::TOOL), npm::parse_v7(ctx, &root)?),
        ReportFormat::CargoAudit => (one(cargo_audit::TOOL), cargo_audit::parse(ctx, &root)?),
        ReportFormat::PipAudit => (
            one(pip_audit::TOOL),
            pip_audit::parse(ctx, &root, &mut coverage)?,
        ),
        ReportFormat::GitlabSast
        | ReportFormat::GitlabDependencyScanning
        | ReportFormat::GitlabSecretDetection
        | ReportFormat::GitlabContainerScanning => {
            let mut tools = Vec::new();
            let findings = gitlab::parse(ctx, &root, format, &mut tools)?;
            if tools.is_empty() {
                tools.push(format.name().to_owned());
            }
            (tools, findings)
        }
        ReportFormat::CycloneDx => (
            sbom::cyclonedx_tools(&root),
            sbom::cyclonedx_json(ctx, &root, &mut coverage)?,
        ),
        ReportFormat::Spdx => {
            coverage.components = Some(sbom::spdx_json_packages(&root));
            (sbom::spdx_tools(&root), Vec::new())
        }
        ReportFormat::GithubCodeScanning => {
            let mut tools = Vec::new();
            let findings = code_scanning::parse(ctx, &root, &mut tools)?;
            (tools, findings)
        }
    };
    finish(source, format, tools, findings, coverage)
}

/// Reads the open alerts of a GitHub code-scanning alert list (`GET …/code-scanning/alerts`,
/// all pages joined into one array) as one report named `source`. An empty array is a report
/// with no findings: the analysis ran and found nothing open.
pub fn parse_code_scanning_alerts(source: &str, alerts: &Value) -> Result<Report, ReportError> {
    let ctx = Ctx {
        source,
        format: ReportFormat::GithubCodeScanning.name(),
    };
    let mut tools = Vec::new();
    let findings = code_scanning::parse(ctx, alerts, &mut tools)?;
    if tools.is_empty() {
        tools.push(code_scanning::TOOL.to_owned());
    }
    finish(
        source,
        ReportFormat::GithubCodeScanning,
        tools,
        findings,
        Coverage::default(),
    )
}

fn finish(
    source: &str,
    format: ReportFormat,
    tools: Vec<String>,
    mut findings: Vec<Finding>,
    coverage: Coverage,
) -> Result<Report, ReportError> {
    normalise::dedupe_fingerprints(&mut findings);
    Ok(Report {
        source: source.to_owned(),
        format,
        tools,
        findings,
        suppressed: Vec::new(),
        failures: Vec::new(),
        coverage,
        sha256: String::new(),
        tool_versions: Vec::new(),
    })
}

/// Checks nesting before handing XML to roxmltree (see [`normalise::xml_too_deep`]).
pub(crate) fn guard_xml(source: &str, text: &str) -> Result<(), ReportError> {
    match normalise::xml_too_deep(text) {
        Some((line, column)) => Err(ReportError::TooDeep {
            source_name: source.to_owned(),
            line,
            column,
        }),
        None => Ok(()),
    }
}

fn parse_xml(source: &str, text: &str) -> Result<Report, ReportError> {
    guard_xml(source, text)?;
    let doc = roxmltree::Document::parse(text).map_err(|e| {
        let pos = e.pos();
        ReportError::Xml {
            source_name: source.to_owned(),
            line: pos.row,
            column: pos.col,
            message: e.to_string(),
        }
    })?;
    let root = doc.root_element();
    let ns = root
        .tag_name()
        .namespace()
        .unwrap_or("")
        .to_ascii_lowercase();
    match root.tag_name().name() {
        "bom" if ns.contains("cyclonedx") => {
            let mut coverage = Coverage::default();
            let (tools, findings) = sbom::cyclonedx_xml(&doc, &mut coverage);
            finish(source, ReportFormat::CycloneDx, tools, findings, coverage)
        }
        "RDF" if text.contains("spdx.org") => {
            let coverage = Coverage {
                components: Some(sbom::spdx_rdf_packages(&doc)),
                ..Coverage::default()
            };
            finish(source, ReportFormat::Spdx, vec!["SPDX".to_owned()], Vec::new(), coverage)
        }
        "ThreatModel" => Err(ReportError::Unsupported {
            source_name: source.to_owned(),
            what: "a Microsoft Threat Modeling Tool model".to_owned(),
            reason: "threat models are read by the threat_model gate from the configured threat-model paths, not as scanner reports".to_owned(),
        }),
        other => Err(unknown(source, format!("an XML document with root element <{other}>"))),
    }
}

#[cfg(test)]
mod tests;
