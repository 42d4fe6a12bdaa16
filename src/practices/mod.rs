//! The catalog of IEC 62443-4-1 requirements, IEC 62443-4-2 foundational requirements, EU CRA
//! references, the gate → requirement mapping and the CWE → FR mapping.
//!
//! Embedded in the binary from `config/practices.yaml` and `config/cwe-fr.yaml`, so every
//! finding and every evidence record can name the requirement ids it is evidence for, with the
//! standard's edition beside them (an amendment will renumber requirements).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

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
}

/// Which requirements a gate is evidence for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateMapping {
    /// Gate key (`threat_model`).
    pub gate: String,
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
    /// `FR1`…`FR7`.
    pub frs: Vec<String>,
}

/// The whole catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// "IEC 62443-4-1".
    pub standard: String,
    /// "1.0".
    pub edition: String,
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
}

/// The embedded catalog.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog {
        standard: "IEC 62443-4-1".into(),
        edition: "1.0".into(),
        requirements: Vec::new(),
        foundational: Vec::new(),
        cra: Vec::new(),
        gates: Vec::new(),
        cwe: BTreeMap::new(),
    })
}
