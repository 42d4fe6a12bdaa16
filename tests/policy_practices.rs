//! The embedded 62443-4-1 / 62443-4-2 / CRA catalog and the CWE → FR mapping.

use std::collections::BTreeSet;

use sdl_gate::practices::{
    CWE_FR_YAML, CatalogError, EDITION, EvidenceRole, Explanation, PRACTICES_YAML, catalog,
    explain, parse_catalog,
};

/// The 2024 CWE Top 25 as published by MITRE, in rank order (kept here independently of the
/// catalog file so a dropped entry there is caught).
const TOP25_2024: [u32; 25] = [
    79, 787, 89, 352, 22, 125, 78, 416, 862, 434, 94, 20, 77, 287, 269, 502, 200, 863, 918, 119,
    476, 798, 190, 400, 306,
];

#[test]
fn catalog_has_47_requirements_in_8_practices_and_7_frs() {
    let c = catalog();
    assert_eq!(c.standard, "IEC 62443-4-1");
    assert_eq!(c.edition, "1.0");
    assert!(EDITION.contains("2018") && EDITION.contains("1.0"));
    assert_eq!(c.requirements.len(), 47);
    let practices: Vec<&str> = c.practices.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        practices,
        ["SM", "SR", "SD", "SI", "SVV", "DM", "SUM", "SG"]
    );
    let per_practice: Vec<usize> = c
        .practices
        .iter()
        .map(|p| c.requirements_of(&p.id).count())
        .collect();
    assert_eq!(per_practice, [13, 5, 4, 2, 5, 6, 5, 7]);
    let frs: Vec<&str> = c.foundational.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(frs, ["FR1", "FR2", "FR3", "FR4", "FR5", "FR6", "FR7"]);
    let sr2 = c
        .requirement("sr-2")
        .map(|r| (r.title.as_str(), r.practice.as_str()));
    assert_eq!(sr2, Some(("Threat model", "SR")));
}

#[test]
fn every_id_in_gate_mapping_exists() {
    let c = catalog();
    let mut gates = BTreeSet::new();
    for g in &c.gates {
        gates.insert(g.gate.as_str());
        for id in g.practices.iter().chain(&g.practices_supporting) {
            assert!(c.requirement(id).is_some(), "{}: {id}", g.gate);
        }
        for r in &g.cra {
            assert!(c.cra_ref(r).is_some(), "{}: {r}", g.gate);
        }
        assert!(!g.checks.is_empty() && !g.satisfied_by.is_empty() && !g.why.is_empty());
    }
    for g in sdl_gate::gates::GateKind::ALL {
        let m = c.gate(g.as_str());
        assert!(
            m.is_some_and(|m| m.implemented),
            "gate {g} must be mapped and implemented"
        );
    }
    // Gates sdl-gate does not have yet are in the mapping too, marked as such.
    for g in ["secrets", "issue_tracking", "signed_commits"] {
        assert!(c.gate(g).is_some_and(|m| !m.implemented), "{g}");
    }
    assert!(gates.contains("waiver"));
}

#[test]
fn every_cwe_of_the_2024_top_25_is_mapped_with_a_reason() {
    let c = catalog();
    assert_eq!(c.cwe_top25_2024, TOP25_2024);
    for (rank, id) in TOP25_2024.iter().enumerate() {
        let e = c.cwe.get(id);
        assert!(e.is_some(), "CWE-{id} not mapped");
        let e = e.map(|e| (e.top25_2024, e.frs.len(), e.rationale.len()));
        assert_eq!(
            e.map(|e| e.0),
            Some(u32::try_from(rank + 1).ok()),
            "CWE-{id}"
        );
        assert!(e.is_some_and(|e| e.1 >= 1 && e.1 == e.2), "CWE-{id}");
    }
    for extra in [
        22, 78, 79, 89, 94, 200, 259, 287, 295, 311, 327, 352, 400, 434, 502, 611, 798, 862, 863,
        918, 1321,
    ] {
        assert!(!c.frs_for_cwe(extra).is_empty(), "CWE-{extra}");
    }
    assert!(c.cwe.len() >= 60, "only {} CWEs mapped", c.cwe.len());
    assert_eq!(c.frs_for_cwe(918).first().map(String::as_str), Some("FR5"));
    assert_eq!(c.frs_for_cwe(400), ["FR7"]);
    assert!(c.frs_for_cwe(4_000_000).is_empty());
}

#[test]
fn every_fr_referenced_exists() {
    let c = catalog();
    for e in c.cwe.values() {
        assert!(!e.name.is_empty());
        for r in &e.rationale {
            assert!(c.foundational(&r.fr).is_some(), "CWE-{}: {}", e.id, r.fr);
            assert!(r.why.len() > 10, "CWE-{}: rationale too short", e.id);
        }
    }
    // Every FR is threatened by at least one mapped CWE.
    for fr in &c.foundational {
        assert!(
            c.cwe.values().any(|e| e.frs.contains(&fr.id)),
            "no CWE maps to {}",
            fr.id
        );
    }
}

#[test]
fn a_dangling_reference_is_rejected() {
    let broken = PRACTICES_YAML.replacen("practices: [SR-2, SD-1", "practices: [SR-9, SD-1", 1);
    assert_ne!(broken, PRACTICES_YAML, "fixture edit did not apply");
    match parse_catalog(&broken, CWE_FR_YAML) {
        Err(CatalogError::Dangling { id, .. }) => assert_eq!(id, "SR-9"),
        other => panic!("expected a dangling reference, got {other:?}"),
    }
    let broken = CWE_FR_YAML.replacen("fr: FR3", "fr: FR9", 1);
    match parse_catalog(PRACTICES_YAML, &broken) {
        Err(CatalogError::Dangling { id, .. }) => assert_eq!(id, "FR9"),
        other => panic!("expected a dangling FR, got {other:?}"),
    }
}

#[test]
fn explain_a_requirement_names_gates_cra_and_edition() {
    let Ok(Explanation::Requirement(r)) = explain("SR-2") else {
        panic!("SR-2 must be a requirement");
    };
    assert_eq!(r.requirement.title, "Threat model");
    assert_eq!(
        r.practice.map(|p| p.name),
        Some("Specification of security requirements".to_string())
    );
    assert_eq!(r.edition, EDITION);
    let tm = r.evidence.iter().find(|e| e.gate == "threat_model");
    assert_eq!(tm.map(|e| e.role), Some(EvidenceRole::Primary));
    assert!(tm.is_some_and(|e| e.cra.iter().any(|c| c.reference == "Art. 13(3)")));
    let sbom = r.evidence.iter().find(|e| e.gate == "sbom");
    assert_eq!(sbom.map(|e| e.role), Some(EvidenceRole::Supporting));
    // Primary evidence is listed first.
    assert_eq!(
        r.evidence.first().map(|e| e.role),
        Some(EvidenceRole::Primary)
    );
}

#[test]
fn explain_accepts_loose_spellings() {
    assert!(
        matches!(explain("sr2"), Ok(Explanation::Requirement(r)) if r.requirement.id == "SR-2")
    );
    assert!(
        matches!(explain("svv-3"), Ok(Explanation::Requirement(r)) if r.requirement.id == "SVV-3")
    );
    assert!(matches!(explain("sm"), Ok(Explanation::Practice(p)) if p.requirements.len() == 13));
    assert!(
        matches!(explain("fr3"), Ok(Explanation::Foundational(f)) if f.fr.abbrev == "SI" && f.cwes.iter().any(|c| c.id == 89))
    );
    assert!(
        matches!(explain("CWE-79"), Ok(Explanation::Cwe(c)) if c.top25_2024 == Some(1) && !c.frs.is_empty())
    );
    assert!(
        matches!(explain("threat-model"), Ok(Explanation::Gate(g)) if g.gate.gate == "threat_model")
    );
    assert!(
        matches!(explain("I.2(1)"), Ok(Explanation::Cra(c)) if c.gates.contains(&"sbom".to_string()))
    );
    assert!(matches!(explain("art. 13(5)"), Ok(Explanation::Cra(c)) if c.cra.group == "article"));
}

#[test]
fn explain_a_gate() {
    let Ok(Explanation::Gate(g)) = explain("sast") else {
        panic!("sast must be a gate");
    };
    let primary: Vec<&str> = g.primary.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(primary, ["SI-1", "SI-2"]);
    assert!(g.supporting.iter().any(|r| r.id == "SVV-3"));
    assert!(g.cra.iter().any(|c| c.reference == "I.1(2)(a)"));
    assert!(g.gate.satisfied_by.contains("threshold"));
}

#[test]
fn an_unmapped_cwe_is_explained_as_unmapped() {
    let Ok(Explanation::Cwe(c)) = explain("CWE-1") else {
        panic!("CWE-1 is a CWE id");
    };
    assert_eq!((c.name, c.frs.len(), c.top25_2024), (None, 0, None));
}

#[test]
fn unknown_ids_suggest_the_closest() {
    let e = explain("SR-22").err();
    assert!(e.as_ref().is_some_and(|e| e.suggestion.is_some()), "{e:?}");
    let e = explain("sats").err();
    assert_eq!(e.and_then(|e| e.suggestion), Some("sast".to_string()));
    let e = explain("nonsense-word-here").err();
    assert!(e.is_some_and(|e| e.to_string().starts_with("unknown id `nonsense-word-here`")));
}

#[test]
fn explanation_serialises_with_a_kind_tag() {
    let json = explain("FR7").map(|e| serde_json::to_value(e).unwrap_or_default());
    assert_eq!(
        json.map(|v| v["kind"].clone()),
        Ok(serde_json::json!("foundational"))
    );
}
