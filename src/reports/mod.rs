//! Scanner reports → normalised findings.
//!
//! sdl-gate reads what the scanners a team already runs produce: SARIF 2.1.0 from any tool,
//! OSV-Scanner, Trivy, Grype, npm audit, cargo-audit and pip-audit JSON, GitLab security
//! reports, and it recognises SBOMs (CycloneDX, SPDX). The format is detected from the content,
//! never from the file name. Everything is turned into [`Finding`]s on one severity scale.
//! Pure: callers hand in bytes, nothing here touches the file system or the network.

mod finding;

pub use finding::{Finding, FindingKind, Package, Severity};

use serde::{Deserialize, Serialize};

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
}

impl Report {
    /// True for SBOM formats.
    pub fn is_sbom(&self) -> bool {
        matches!(self.format, ReportFormat::CycloneDx | ReportFormat::Spdx)
    }
}

mod stub_api;
pub use stub_api::{ReportError, ThreatModelKind, parse_report, parse_threat_model};
