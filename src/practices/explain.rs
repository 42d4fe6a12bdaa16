//! "What does SR-2 mean, and which gate is evidence for it?" — one function that answers for
//! any id a user may type, as data. `sdl-gate practices <id>` prints it; `/sdl explain <id>`
//! renders it into a comment.
//!
//! Accepted ids (case-insensitive, hyphen optional): a requirement (`SR-2`, `svv3`), a practice
//! (`SM`), a foundational requirement (`FR3`, or its abbreviation `IAC` unless that is also a
//! practice id, as `SI` is), a CWE (`CWE-79`), a gate (`sast`,
//! `threat-model`) and a CRA reference (`I.2(1)`, `Art. 13(5)`, `VII(2)`).

use serde::Serialize;

use super::{
    Catalog, CraRef, CweEntry, EDITION, Foundational, GateMapping, Practice, Requirement, catalog,
};
use crate::policy::did_you_mean;

/// How strongly a gate's result is evidence for a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceRole {
    /// The gate produces direct evidence for the requirement.
    Primary,
    /// The gate contributes but does not satisfy the requirement alone.
    Supporting,
}

/// One gate that gives evidence for a requirement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateEvidence {
    /// Gate key.
    pub gate: String,
    /// Display title.
    pub title: String,
    /// Whether this version of sdl-gate produces this evidence.
    pub implemented: bool,
    /// Primary or supporting.
    pub role: EvidenceRole,
    /// The CRA references this gate's evidence serves.
    pub cra: Vec<CraRef>,
}

/// A requirement explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequirementExplanation {
    /// The requirement.
    pub requirement: Requirement,
    /// Its practice.
    pub practice: Option<Practice>,
    /// The edition its id refers to.
    pub edition: String,
    /// Gates that are evidence for it, primary first.
    pub evidence: Vec<GateEvidence>,
}

/// A practice explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PracticeExplanation {
    /// The practice.
    pub practice: Practice,
    /// Its requirements, each with the gates that are evidence for it.
    pub requirements: Vec<RequirementExplanation>,
    /// The edition.
    pub edition: String,
}

/// A CWE's FR with its rationale and the FR's name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrReasonExplained {
    /// The foundational requirement.
    pub fr: Foundational,
    /// Why the weakness threatens it.
    pub why: String,
}

/// A foundational requirement explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoundationalExplanation {
    /// The FR.
    pub fr: Foundational,
    /// CWEs mapped to it, in id order, with the rationale for this FR.
    pub cwes: Vec<FrCwe>,
}

/// A CWE that threatens a given FR.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrCwe {
    /// CWE number.
    pub id: u32,
    /// CWE name.
    pub name: String,
    /// Why it threatens the FR.
    pub why: String,
}

/// A CWE explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CweExplanation {
    /// CWE number.
    pub id: u32,
    /// Name, when the catalog maps the CWE.
    pub name: Option<String>,
    /// Rank in the 2024 CWE Top 25.
    pub top25_2024: Option<u32>,
    /// The FRs it threatens (empty when not mapped).
    pub frs: Vec<FrReasonExplained>,
}

/// A gate explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateExplanation {
    /// The gate's catalog entry (what it checks, what satisfies it, why).
    pub gate: GateMapping,
    /// Requirements it is primary evidence for.
    pub primary: Vec<Requirement>,
    /// Requirements it supports.
    pub supporting: Vec<Requirement>,
    /// CRA references it serves.
    pub cra: Vec<CraRef>,
    /// The edition the requirement ids refer to.
    pub edition: String,
}

/// A CRA reference explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CraExplanation {
    /// The reference.
    pub cra: CraRef,
    /// Gates whose evidence serves it.
    pub gates: Vec<String>,
}

/// The answer for one id.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Explanation {
    /// A 62443-4-1 requirement (`SR-2`).
    Requirement(RequirementExplanation),
    /// A 62443-4-1 practice (`SR`).
    Practice(PracticeExplanation),
    /// A 62443-4-2 foundational requirement (`FR3`).
    Foundational(FoundationalExplanation),
    /// A CWE (`CWE-79`).
    Cwe(CweExplanation),
    /// An sdl-gate gate (`sast`).
    Gate(GateExplanation),
    /// A CRA reference (`I.2(1)`).
    Cra(CraExplanation),
}

/// An id that is none of the known kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown id `{id}`: not a 62443-4-1 requirement or practice, an FR, a CWE, a gate or a CRA reference{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
pub struct UnknownId {
    /// The id as given.
    pub id: String,
    /// The closest known id.
    pub suggestion: Option<String>,
}

/// Explains any id; see the module documentation for the accepted forms.
pub fn explain(id: &str) -> Result<Explanation, UnknownId> {
    explain_in(catalog(), id)
}

/// [`explain`] against a given catalog.
pub fn explain_in(cat: &Catalog, id: &str) -> Result<Explanation, UnknownId> {
    let trimmed = id.trim();
    let compact: String = trimmed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .collect::<String>()
        .to_ascii_uppercase();

    if let Some(r) = cat
        .requirements
        .iter()
        .find(|r| r.id.replace('-', "").eq_ignore_ascii_case(&compact))
    {
        return Ok(Explanation::Requirement(requirement(cat, r)));
    }
    if let Some(p) = cat.practice(&compact) {
        return Ok(Explanation::Practice(PracticeExplanation {
            practice: p.clone(),
            requirements: cat
                .requirements_of(&p.id)
                .map(|r| requirement(cat, r))
                .collect(),
            edition: EDITION.to_string(),
        }));
    }
    let fr = cat.foundational(&compact).or_else(|| {
        cat.foundational
            .iter()
            .find(|f| f.abbrev.eq_ignore_ascii_case(&compact))
    });
    if let Some(fr) = fr {
        let cwes = cat
            .cwe
            .values()
            .filter_map(|c| {
                c.rationale.iter().find(|r| r.fr == fr.id).map(|r| FrCwe {
                    id: c.id,
                    name: c.name.clone(),
                    why: r.why.clone(),
                })
            })
            .collect();
        return Ok(Explanation::Foundational(FoundationalExplanation {
            fr: fr.clone(),
            cwes,
        }));
    }
    if let Some(num) = compact
        .strip_prefix("CWE")
        .and_then(|n| n.parse::<u32>().ok())
    {
        return Ok(Explanation::Cwe(cwe(cat, num, cat.cwe.get(&num))));
    }
    let gate_key = trimmed.to_ascii_lowercase().replace('-', "_");
    if let Some(g) = cat.gate(&gate_key) {
        return Ok(Explanation::Gate(gate(cat, g)));
    }
    if let Some(c) = cat.cra_ref(trimmed) {
        let gates = cat
            .gates
            .iter()
            .filter(|g| g.cra.iter().any(|r| r == &c.reference))
            .map(|g| g.gate.clone())
            .collect();
        return Ok(Explanation::Cra(CraExplanation {
            cra: c.clone(),
            gates,
        }));
    }

    let mut candidates: Vec<String> = Vec::new();
    candidates.extend(cat.requirements.iter().map(|r| r.id.clone()));
    candidates.extend(cat.practices.iter().map(|p| p.id.clone()));
    candidates.extend(cat.foundational.iter().map(|f| f.id.clone()));
    candidates.extend(cat.gates.iter().map(|g| g.gate.clone()));
    candidates.extend(cat.cra.iter().map(|c| c.reference.clone()));
    let suggestion =
        did_you_mean(trimmed, candidates.iter().map(String::as_str)).map(str::to_string);
    Err(UnknownId {
        id: trimmed.to_string(),
        suggestion,
    })
}

fn requirement(cat: &Catalog, r: &Requirement) -> RequirementExplanation {
    let mut evidence: Vec<GateEvidence> = cat
        .gates_for(&r.id)
        .into_iter()
        .map(|(g, role)| GateEvidence {
            gate: g.gate.clone(),
            title: g.title.clone(),
            implemented: g.implemented,
            role,
            cra: g
                .cra
                .iter()
                .filter_map(|c| cat.cra_ref(c).cloned())
                .collect(),
        })
        .collect();
    evidence.sort_by_key(|e| e.role != EvidenceRole::Primary);
    RequirementExplanation {
        requirement: r.clone(),
        practice: cat.practice(&r.practice).cloned(),
        edition: EDITION.to_string(),
        evidence,
    }
}

fn cwe(cat: &Catalog, id: u32, entry: Option<&CweEntry>) -> CweExplanation {
    CweExplanation {
        id,
        name: entry.map(|e| e.name.clone()),
        top25_2024: entry.and_then(|e| e.top25_2024),
        frs: entry
            .map(|e| {
                e.rationale
                    .iter()
                    .filter_map(|r| {
                        cat.foundational(&r.fr).map(|fr| FrReasonExplained {
                            fr: fr.clone(),
                            why: r.why.clone(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn gate(cat: &Catalog, g: &GateMapping) -> GateExplanation {
    let reqs = |ids: &[String]| -> Vec<Requirement> {
        ids.iter()
            .filter_map(|id| cat.requirement(id).cloned())
            .collect()
    };
    GateExplanation {
        gate: g.clone(),
        primary: reqs(&g.practices),
        supporting: reqs(&g.practices_supporting),
        cra: g
            .cra
            .iter()
            .filter_map(|c| cat.cra_ref(c).cloned())
            .collect(),
        edition: EDITION.to_string(),
    }
}
