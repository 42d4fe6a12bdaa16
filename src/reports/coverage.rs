//! What a report says beyond its findings: the dependencies the scanner could not audit, the
//! vulnerabilities the report itself sets aside (VEX analysis), and how many components an
//! SBOM lists.
//!
//! None of these are findings, but a gate needs them before it takes a report as evidence: a
//! pip-audit run that skipped every dependency audited nothing, a VEX statement is a decision an
//! auditor asks to see, and an SBOM that lists no component describes no product.

use serde::{Deserialize, Serialize};

/// The coverage facts of one report; empty for formats that state none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// How many dependencies the scanner audited, when the format lists the dependencies it
    /// looked at (pip-audit); `None` when the format does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audited: Option<usize>,
    /// Dependencies the scanner listed but could not audit, in report order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// Vulnerabilities the report lists but sets aside (CycloneDX VEX `analysis.state`
    /// `not_affected`, `false_positive`, `resolved`, `resolved_with_pedigree`), in report order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<SetAside>,
    /// True when a CycloneDX document carries a non-empty `vulnerabilities` list: it is the
    /// result of a vulnerability analysis (VEX or a scanner's output), not only an inventory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vulnerability_analysis: bool,
    /// For an SBOM, how many components (CycloneDX, nested ones included) or packages (SPDX)
    /// it lists; `None` for other reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<usize>,
}

impl Coverage {
    /// True when the report states no coverage fact (the common case; kept out of JSON).
    pub fn is_empty(&self) -> bool {
        self == &Coverage::default()
    }

    /// True when the scanner listed dependencies but audited none of them: such a report is
    /// no evidence that anything was checked.
    pub fn audited_nothing(&self) -> bool {
        self.audited == Some(0) && !self.skipped.is_empty()
    }
}

/// A dependency the scanner did not audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Package name as the report spells it.
    pub name: String,
    /// Its version, when the report gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The scanner's reason, verbatim (plain text; escaped when rendered).
    pub reason: String,
}

impl Skipped {
    /// `name@version` (or the name alone), for messages.
    pub fn label(&self) -> String {
        match &self.version {
            Some(v) => format!("{}@{v}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A vulnerability that the report itself states does not affect the product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAside {
    /// The vulnerability id (`CVE-…`, `GHSA-…`, `PYSEC-…`).
    pub id: String,
    /// The affected components as `name@version` (or their `bom-ref` when not listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// The VEX analysis state, as written (`not_affected`, `false_positive`, `resolved`…).
    pub state: String,
    /// The VEX `analysis.justification` (`code_not_reachable`…), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// The VEX `analysis.detail` free text, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl SetAside {
    /// "`state` — justification: detail", or "`state` — no justification given".
    pub fn why(&self) -> String {
        let mut why = self.state.clone();
        match (&self.justification, &self.detail) {
            (Some(j), Some(d)) => why.push_str(&format!(" — {j}: {d}")),
            (Some(j), None) => why.push_str(&format!(" — {j}")),
            (None, Some(d)) => why.push_str(&format!(" — {d}")),
            (None, None) => why.push_str(" — no justification given"),
        }
        why
    }
}
