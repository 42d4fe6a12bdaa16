//! The catalog of IEC 62443-4-1 requirements, IEC 62443-4-2 foundational requirements, EU CRA
//! references, the gate → requirement mapping and the CWE → FR mapping.
//!
//! Embedded in the binary from `config/practices.yaml` and `config/cwe-fr.yaml`, so every
//! finding and every evidence record can name the requirement ids it is evidence for, with the
//! standard's edition beside them (an amendment will renumber requirements).
//!
//! [`explain`] turns any id a user may type (`SR-2`, `SM`, `FR3`, `CWE-79`, `sast`, `I.2(1)`)
//! into structured data that the CLI (`sdl-gate practices`) and the `/sdl explain` command
//! render.

mod embedded;
mod explain;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

pub use embedded::{CatalogError, parse_catalog};
pub use explain::{
    CraExplanation, CweExplanation, EvidenceRole, Explanation, FoundationalExplanation, FrCwe,
    FrReasonExplained, GateEvidence, GateExplanation, PracticeExplanation, RequirementExplanation,
    UnknownId, explain, explain_in,
};

/// The practice catalog as shipped (`config/practices.yaml`).
pub const PRACTICES_YAML: &str = include_str!("../../config/practices.yaml");

/// The CWE → FR mapping as shipped (`config/cwe-fr.yaml`).
pub const CWE_FR_YAML: &str = include_str!("../../config/cwe-fr.yaml");

/// The edition every requirement id refers to; stored beside ids in evidence.
pub const EDITION: &str = "IEC 62443-4-1:2018 (edition 1.0)";

/// One requirement of 62443-4-1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requirement {
    /// `SR-2`.
    pub id: String,
    /// Short title.
    pub title: String,
    /// Our own paraphrase.
    pub summary: String,
    /// The practice id (`SR`).
    pub practice: String,
    /// The practice name ("Specification of security requirements").
    pub practice_name: String,
    /// A remark on the id or title (e.g. a source that names it differently).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One of the eight practices of 62443-4-1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Practice {
    /// `SR`.
    pub id: String,
    /// Practice number (1–8).
    pub number: u32,
    /// Clause of the standard (5–12).
    pub clause: u32,
    /// "Specification of security requirements".
    pub name: String,
    /// Our own paraphrase.
    pub summary: String,
}

/// A 62443-4-2 foundational requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Foundational {
    /// `FR1`.
    pub id: String,
    /// `IAC`.
    pub abbrev: String,
    /// Name.
    pub name: String,
    /// Our own paraphrase.
    pub summary: String,
}

/// A reference into the Cyber Resilience Act.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CraRef {
    /// `I.2(1)`, `Art. 13(5)`.
    pub reference: String,
    /// Our own paraphrase.
    pub summary: String,
    /// Long form ("Annex I, Part II, point (1)"), where the catalog gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Where in the regulation: `annex_i_part_i`, `annex_i_part_ii`, `article`, `annex_vii`.
    pub group: String,
}

/// Which requirements a gate is evidence for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateMapping {
    /// Gate key (`threat_model`).
    pub gate: String,
    /// Display title ("Threat model").
    pub title: String,
    /// Whether this version of sdl-gate produces this evidence (false for gates the catalog
    /// maps but sdl-gate has not built yet, e.g. `secrets`).
    pub implemented: bool,
    /// What the gate looks at.
    pub checks: String,
    /// What makes it pass.
    pub satisfied_by: String,
    /// Requirements the gate produces primary evidence for.
    pub practices: Vec<String>,
    /// Requirements it supports.
    pub practices_supporting: Vec<String>,
    /// CRA references.
    pub cra: Vec<String>,
    /// Why.
    pub why: String,
}

/// A CWE and the foundational requirements its exploitation threatens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CweEntry {
    /// CWE number.
    pub id: u32,
    /// Name.
    pub name: String,
    /// `FR1`…`FR7`, most direct first.
    pub frs: Vec<String>,
    /// Why each FR is threatened, in the order of `frs`.
    pub rationale: Vec<FrReason>,
    /// Rank in the 2024 CWE Top 25, when listed there.
    pub top25_2024: Option<u32>,
}

/// Why a CWE threatens one foundational requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrReason {
    /// `FR3`.
    pub fr: String,
    /// Short rationale.
    pub why: String,
}

/// The whole catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// "IEC 62443-4-1".
    pub standard: String,
    /// "1.0".
    pub edition: String,
    /// The eight practices, in standard order.
    pub practices: Vec<Practice>,
    /// All requirements, in standard order.
    pub requirements: Vec<Requirement>,
    /// FR1…FR7.
    pub foundational: Vec<Foundational>,
    /// CRA references.
    pub cra: Vec<CraRef>,
    /// Gate mappings.
    pub gates: Vec<GateMapping>,
    /// CWE → FR.
    pub cwe: BTreeMap<u32, CweEntry>,
    /// The 2024 CWE Top 25, in rank order.
    pub cwe_top25_2024: Vec<u32>,
}

impl Catalog {
    /// A requirement by id (case-insensitive).
    pub fn requirement(&self, id: &str) -> Option<&Requirement> {
        self.requirements
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(id))
    }

    /// The mapping of a gate key.
    pub fn gate(&self, gate: &str) -> Option<&GateMapping> {
        self.gates.iter().find(|g| g.gate == gate)
    }

    /// The FRs a CWE threatens; empty when the CWE is not mapped.
    pub fn frs_for_cwe(&self, cwe: u32) -> &[String] {
        self.cwe.get(&cwe).map(|e| e.frs.as_slice()).unwrap_or(&[])
    }

    /// A practice by id (`SR`, case-insensitive).
    pub fn practice(&self, id: &str) -> Option<&Practice> {
        self.practices
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(id))
    }

    /// The requirements of a practice, in standard order.
    pub fn requirements_of<'a>(
        &'a self,
        practice: &'a str,
    ) -> impl Iterator<Item = &'a Requirement> + 'a {
        self.requirements
            .iter()
            .filter(move |r| r.practice.eq_ignore_ascii_case(practice))
    }

    /// A foundational requirement by id (`FR3`, case-insensitive).
    pub fn foundational(&self, id: &str) -> Option<&Foundational> {
        self.foundational
            .iter()
            .find(|f| f.id.eq_ignore_ascii_case(id))
    }

    /// A CRA reference by its short form (`I.2(1)`, `Art. 13(5)`); spaces and case ignored.
    pub fn cra_ref(&self, reference: &str) -> Option<&CraRef> {
        let key = cra_key(reference);
        self.cra.iter().find(|c| cra_key(&c.reference) == key)
    }

    /// The gates that give evidence for a requirement: (mapping, primary?) in catalog order.
    pub fn gates_for(&self, requirement: &str) -> Vec<(&GateMapping, EvidenceRole)> {
        let mut out = Vec::new();
        for g in &self.gates {
            if g.practices
                .iter()
                .any(|p| p.eq_ignore_ascii_case(requirement))
            {
                out.push((g, EvidenceRole::Primary));
            } else if g
                .practices_supporting
                .iter()
                .any(|p| p.eq_ignore_ascii_case(requirement))
            {
                out.push((g, EvidenceRole::Supporting));
            }
        }
        out
    }
}

/// A CRA reference normalised for comparison.
fn cra_key(reference: &str) -> String {
    reference
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The embedded catalog, parsed once.
///
/// # Panics
///
/// When the catalog compiled into the binary does not parse or is inconsistent — a defect of
/// the build, caught by this module's tests, never caused by user input.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| match parse_catalog(PRACTICES_YAML, CWE_FR_YAML) {
        Ok(c) => c,
        Err(e) => panic!("embedded practice catalog is invalid: {e}"),
    })
}
