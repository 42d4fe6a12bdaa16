//! The names of the gates, in a leaf module that imports nothing from the crate: waivers,
//! snapshots, commands and the store name gates without depending on the gate logic, which
//! keeps the module graph free of cycles (`snapshot` -> `waivers` -> `gates` -> `snapshot`).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The gates sdl-gate knows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    /// The threat model is kept current with security-relevant changes.
    ThreatModel,
    /// Designated reviewers approved the head commit.
    SecurityReview,
    /// Static analysis passed.
    Sast,
    /// Dependency scans passed.
    Dependencies,
    /// An SBOM accompanies manifest changes.
    Sbom,
}

impl GateKind {
    /// Every gate, in report order.
    pub const ALL: [GateKind; 5] = [
        GateKind::ThreatModel,
        GateKind::SecurityReview,
        GateKind::Sast,
        GateKind::Dependencies,
        GateKind::Sbom,
    ];

    /// The policy key and display name (`threat_model`).
    pub fn as_str(self) -> &'static str {
        match self {
            GateKind::ThreatModel => "threat_model",
            GateKind::SecurityReview => "security_review",
            GateKind::Sast => "sast",
            GateKind::Dependencies => "dependencies",
            GateKind::Sbom => "sbom",
        }
    }

    /// A human title ("Threat model").
    pub fn title(self) -> &'static str {
        match self {
            GateKind::ThreatModel => "Threat model",
            GateKind::SecurityReview => "Security review",
            GateKind::Sast => "Static analysis",
            GateKind::Dependencies => "Dependencies",
            GateKind::Sbom => "SBOM",
        }
    }
}

impl fmt::Display for GateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A gate name that is not one of [`GateKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown gate `{0}`; gates are threat_model, security_review, sast, dependencies, sbom")]
pub struct UnknownGate(pub String);

impl FromStr for GateKind {
    type Err = UnknownGate;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        GateKind::ALL
            .into_iter()
            .find(|g| g.as_str() == norm)
            .ok_or_else(|| UnknownGate(s.to_string()))
    }
}
