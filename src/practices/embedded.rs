//! The on-disk shape of `config/practices.yaml` and `config/cwe-fr.yaml`, and their conversion
//! into a checked [`Catalog`].
//!
//! The files are written for people (grouped by practice, CRA references split by annex); the
//! [`Catalog`] is shaped for lookups. Conversion also cross-checks the two files: every
//! requirement a gate maps to exists, every CRA reference exists, every FR a CWE maps to
//! exists, so a typo in the catalog fails the build's tests instead of producing evidence that
//! names a requirement that does not exist.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use super::{
    Catalog, CraRef, CweEntry, Foundational, FrReason, GateMapping, Practice, Requirement,
};

/// The embedded catalog is inconsistent or does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// One of the YAML files does not parse into its expected shape.
    #[error("{file}: {message}")]
    Parse {
        /// `practices.yaml` or `cwe-fr.yaml`.
        file: &'static str,
        /// The parser's message, with its location.
        message: String,
    },
    /// An entry names something that is not in the catalog.
    #[error("{file}: {what} `{id}` referenced by {by} does not exist")]
    Dangling {
        /// Which file holds the reference.
        file: &'static str,
        /// Kind of the missing thing ("requirement", "CRA reference", "FR").
        what: &'static str,
        /// The id as written.
        id: String,
        /// Who refers to it.
        by: String,
    },
    /// The same id is defined twice.
    #[error("{file}: `{id}` is defined twice")]
    Duplicate {
        /// Which file.
        file: &'static str,
        /// The id.
        id: String,
    },
}

#[derive(Deserialize)]
struct PracticesFile {
    catalog: CatalogHeader,
    practices: Vec<PracticeEntry>,
    foundational_requirements: Vec<FoundationalEntry>,
    cra: CraSection,
    gate_mapping: Vec<GateEntry>,
}

#[derive(Deserialize)]
struct CatalogHeader {
    standard: String,
    edition: String,
}

#[derive(Deserialize)]
struct PracticeEntry {
    id: String,
    number: u32,
    clause: u32,
    name: String,
    summary: String,
    requirements: Vec<RequirementEntry>,
}

#[derive(Deserialize)]
struct RequirementEntry {
    id: String,
    title: String,
    summary: String,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Deserialize)]
struct FoundationalEntry {
    id: String,
    abbrev: String,
    name: String,
    summary: String,
}

#[derive(Deserialize)]
struct CraSection {
    annex_i_part_i: Vec<CraEntry>,
    annex_i_part_ii: Vec<CraEntry>,
    articles: Vec<CraEntry>,
    annex_vii: Vec<CraEntry>,
}

#[derive(Deserialize)]
struct CraEntry {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    label: Option<String>,
    summary: String,
}

#[derive(Deserialize)]
struct GateEntry {
    gate: String,
    title: String,
    implemented: bool,
    checks: String,
    satisfied_by: String,
    practices: Vec<String>,
    practices_supporting: Vec<String>,
    cra: Vec<String>,
    why: String,
}

#[derive(Deserialize)]
struct CweFile {
    top25_2024: Vec<u32>,
    cwes: Vec<CweFileEntry>,
}

#[derive(Deserialize)]
struct CweFileEntry {
    id: u32,
    name: String,
    frs: Vec<FrReason>,
}

/// Parses and cross-checks the two catalog files.
pub fn parse_catalog(practices_yaml: &str, cwe_yaml: &str) -> Result<Catalog, CatalogError> {
    let file: PracticesFile =
        serde_saphyr::from_str(practices_yaml).map_err(|e| CatalogError::Parse {
            file: "practices.yaml",
            message: e.to_string(),
        })?;
    let cwe_file: CweFile = serde_saphyr::from_str(cwe_yaml).map_err(|e| CatalogError::Parse {
        file: "cwe-fr.yaml",
        message: e.to_string(),
    })?;

    let mut practices = Vec::new();
    let mut requirements = Vec::new();
    for p in file.practices {
        for r in p.requirements {
            requirements.push(Requirement {
                id: r.id,
                title: r.title,
                summary: r.summary,
                practice: p.id.clone(),
                practice_name: p.name.clone(),
                note: r.note,
            });
        }
        practices.push(Practice {
            id: p.id,
            number: p.number,
            clause: p.clause,
            name: p.name,
            summary: p.summary,
        });
    }
    unique("practices.yaml", requirements.iter().map(|r| r.id.as_str()))?;
    unique("practices.yaml", practices.iter().map(|p| p.id.as_str()))?;

    let foundational: Vec<Foundational> = file
        .foundational_requirements
        .into_iter()
        .map(|f| Foundational {
            id: f.id,
            abbrev: f.abbrev,
            name: f.name,
            summary: f.summary,
        })
        .collect();
    unique("practices.yaml", foundational.iter().map(|f| f.id.as_str()))?;

    let mut cra = Vec::new();
    for (group, entries) in [
        ("annex_i_part_i", file.cra.annex_i_part_i),
        ("annex_i_part_ii", file.cra.annex_i_part_ii),
        ("article", file.cra.articles),
        ("annex_vii", file.cra.annex_vii),
    ] {
        cra.extend(entries.into_iter().map(|e| CraRef {
            reference: e.reference,
            summary: e.summary,
            label: e.label,
            group: group.to_string(),
        }));
    }
    unique("practices.yaml", cra.iter().map(|c| c.reference.as_str()))?;

    let req_ids: HashSet<&str> = requirements.iter().map(|r| r.id.as_str()).collect();
    let cra_ids: HashSet<&str> = cra.iter().map(|c| c.reference.as_str()).collect();
    let mut gates = Vec::new();
    for g in file.gate_mapping {
        for id in g.practices.iter().chain(&g.practices_supporting) {
            if !req_ids.contains(id.as_str()) {
                return Err(CatalogError::Dangling {
                    file: "practices.yaml",
                    what: "requirement",
                    id: id.clone(),
                    by: format!("gate `{}`", g.gate),
                });
            }
        }
        for id in &g.cra {
            if !cra_ids.contains(id.as_str()) {
                return Err(CatalogError::Dangling {
                    file: "practices.yaml",
                    what: "CRA reference",
                    id: id.clone(),
                    by: format!("gate `{}`", g.gate),
                });
            }
        }
        gates.push(GateMapping {
            gate: g.gate,
            title: g.title,
            implemented: g.implemented,
            checks: g.checks,
            satisfied_by: g.satisfied_by,
            practices: g.practices,
            practices_supporting: g.practices_supporting,
            cra: g.cra,
            why: g.why,
        });
    }
    unique("practices.yaml", gates.iter().map(|g| g.gate.as_str()))?;

    let fr_ids: HashSet<&str> = foundational.iter().map(|f| f.id.as_str()).collect();
    let mut cwe = BTreeMap::new();
    for entry in cwe_file.cwes {
        for r in &entry.frs {
            if !fr_ids.contains(r.fr.as_str()) {
                return Err(CatalogError::Dangling {
                    file: "cwe-fr.yaml",
                    what: "FR",
                    id: r.fr.clone(),
                    by: format!("CWE-{}", entry.id),
                });
            }
        }
        let rank = cwe_file
            .top25_2024
            .iter()
            .position(|&c| c == entry.id)
            .and_then(|i| u32::try_from(i + 1).ok());
        let e = CweEntry {
            id: entry.id,
            name: entry.name,
            frs: entry.frs.iter().map(|r| r.fr.clone()).collect(),
            rationale: entry.frs,
            top25_2024: rank,
        };
        if cwe.insert(e.id, e).is_some() {
            return Err(CatalogError::Duplicate {
                file: "cwe-fr.yaml",
                id: format!("CWE-{}", entry.id),
            });
        }
    }
    for id in &cwe_file.top25_2024 {
        if !cwe.contains_key(id) {
            return Err(CatalogError::Dangling {
                file: "cwe-fr.yaml",
                what: "CWE mapping",
                id: format!("CWE-{id}"),
                by: "top25_2024".to_string(),
            });
        }
    }

    Ok(Catalog {
        standard: file.catalog.standard,
        edition: file.catalog.edition,
        practices,
        requirements,
        foundational,
        cra,
        gates,
        cwe,
        cwe_top25_2024: cwe_file.top25_2024,
    })
}

fn unique<'a>(file: &'static str, ids: impl Iterator<Item = &'a str>) -> Result<(), CatalogError> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(CatalogError::Duplicate {
                file,
                id: id.to_string(),
            });
        }
    }
    Ok(())
}
