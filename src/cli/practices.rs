//! `sdl-gate practices [ID]`: the catalog on the command line. Without an id, every
//! 62443-4-1 requirement grouped by practice with the gates that give evidence for it; with
//! one, what it means and how sdl-gate evidences it. `--format json` prints the same data for
//! scripts.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;

use sdl_gate::practices::{
    Catalog, CraRef, EDITION, EvidenceRole, Explanation, GateEvidence, RequirementExplanation,
    catalog, explain,
};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// JSON.
    Json,
}

/// `sdl-gate practices [ID] [--format text|json]`.
#[derive(Debug, Args)]
pub struct PracticesArgs {
    /// A requirement (SR-2), practice (SM), foundational requirement (FR3), CWE (CWE-79), gate
    /// (sast) or CRA reference (I.2(1)). Absent: list every requirement.
    id: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Text width for wrapped paragraphs.
const WIDTH: usize = 92;

/// Runs `practices`.
pub fn run(args: &PracticesArgs) -> anyhow::Result<ExitCode> {
    let Some(id) = &args.id else {
        let out = match args.format {
            Format::Text => list_text(catalog()),
            Format::Json => json(&list_json(catalog()))?,
        };
        print!("{out}");
        return Ok(ExitCode::SUCCESS);
    };
    match explain(id) {
        Ok(e) => {
            let out = match args.format {
                Format::Text => explain_text(&e),
                Format::Json => json(&e)?,
            };
            print!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("sdl-gate: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

fn json<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(value).context("rendering JSON")?;
    s.push('\n');
    Ok(s)
}

/// Wraps `text` at [`WIDTH`], every line prefixed with `indent`.
fn wrap(out: &mut String, text: &str, indent: &str) {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > WIDTH {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
}

/// `threat_model, sbom (supporting), secrets* (supporting)`.
fn gate_list(evidence: &[(String, EvidenceRole, bool)]) -> String {
    let mut parts = Vec::new();
    for (gate, role, implemented) in evidence {
        let star = if *implemented { "" } else { "*" };
        match role {
            EvidenceRole::Primary => parts.push(format!("{gate}{star}")),
            EvidenceRole::Supporting => parts.push(format!("{gate}{star} (supporting)")),
        }
    }
    parts.join(", ")
}

fn evidence_of(cat: &Catalog, id: &str) -> Vec<(String, EvidenceRole, bool)> {
    let mut v: Vec<_> = cat
        .gates_for(id)
        .into_iter()
        .map(|(g, role)| (g.gate.clone(), role, g.implemented))
        .collect();
    v.sort_by_key(|(_, role, _)| *role != EvidenceRole::Primary);
    v
}

fn list_text(cat: &Catalog) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{EDITION}: {} requirements in {} practices\n",
        cat.requirements.len(),
        cat.practices.len()
    );
    for p in &cat.practices {
        let _ = writeln!(
            out,
            "{} — {} (practice {}, clause {})",
            p.id, p.name, p.number, p.clause
        );
        for r in cat.requirements_of(&p.id) {
            let ev = evidence_of(cat, &r.id);
            let gates = if ev.is_empty() {
                "no gate; process evidence only".to_string()
            } else {
                gate_list(&ev)
            };
            let _ = writeln!(out, "  {:<7} {:<58} {gates}", r.id, r.title);
        }
        out.push('\n');
    }
    out.push_str("* a gate the catalog maps but this version of sdl-gate does not have yet\n");
    out.push_str("Explain one: sdl-gate practices SR-2 | SM | FR3 | CWE-79 | sast | I.2(1)\n");
    out
}

#[derive(Serialize)]
struct ListJson<'a> {
    standard: &'a str,
    edition: &'static str,
    practices: Vec<PracticeJson<'a>>,
}

#[derive(Serialize)]
struct PracticeJson<'a> {
    id: &'a str,
    name: &'a str,
    requirements: Vec<RequirementJson<'a>>,
}

#[derive(Serialize)]
struct RequirementJson<'a> {
    id: &'a str,
    title: &'a str,
    gates: Vec<GateRoleJson>,
}

#[derive(Serialize)]
struct GateRoleJson {
    gate: String,
    role: EvidenceRole,
    implemented: bool,
}

fn list_json(cat: &Catalog) -> ListJson<'_> {
    ListJson {
        standard: &cat.standard,
        edition: EDITION,
        practices: cat
            .practices
            .iter()
            .map(|p| PracticeJson {
                id: &p.id,
                name: &p.name,
                requirements: cat
                    .requirements_of(&p.id)
                    .map(|r| RequirementJson {
                        id: &r.id,
                        title: &r.title,
                        gates: evidence_of(cat, &r.id)
                            .into_iter()
                            .map(|(gate, role, implemented)| GateRoleJson {
                                gate,
                                role,
                                implemented,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn cra_lines(out: &mut String, cra: &[CraRef], indent: &str) {
    for c in cra {
        let head = format!("{indent}{:<12} ", c.reference);
        let pad = " ".repeat(head.chars().count());
        let mut body = String::new();
        wrap(&mut body, &c.summary, &pad);
        for (i, l) in body.lines().enumerate() {
            if i == 0 {
                let _ = writeln!(out, "{head}{}", l.trim_start());
            } else {
                let _ = writeln!(out, "{l}");
            }
        }
    }
}

fn requirement_text(out: &mut String, r: &RequirementExplanation) {
    let _ = writeln!(out, "{} — {}", r.requirement.id, r.requirement.title);
    if let Some(p) = &r.practice {
        let _ = writeln!(
            out,
            "Practice: {} {} (practice {}, clause {})",
            p.id, p.name, p.number, p.clause
        );
    }
    let _ = writeln!(out, "Edition:  {}\n", r.edition);
    wrap(out, &r.requirement.summary, "");
    if let Some(note) = &r.requirement.note {
        out.push('\n');
        wrap(out, &format!("Note: {note}"), "");
    }
    out.push('\n');
    if r.evidence.is_empty() {
        out.push_str(
            "No sdl-gate gate is evidence for this requirement; it needs process-level evidence.\n",
        );
        return;
    }
    out.push_str("Evidence from sdl-gate gates:\n");
    let mut all_cra: Vec<&CraRef> = Vec::new();
    for GateEvidence {
        gate,
        title,
        implemented,
        role,
        cra,
    } in &r.evidence
    {
        let role = match role {
            EvidenceRole::Primary => "primary",
            EvidenceRole::Supporting => "supporting",
        };
        let missing = if *implemented {
            ""
        } else {
            " (not in this version of sdl-gate)"
        };
        let _ = writeln!(out, "  {role:<11} {gate} — {title}{missing}");
        if !cra.is_empty() {
            let refs: Vec<&str> = cra.iter().map(|c| c.reference.as_str()).collect();
            wrap(out, &format!("CRA: {}", refs.join(", ")), "              ");
        }
        for c in cra {
            if !all_cra.iter().any(|x| x.reference == c.reference) {
                all_cra.push(c);
            }
        }
    }
    if !all_cra.is_empty() {
        out.push_str("\nCRA references (Regulation (EU) 2024/2847):\n");
        let owned: Vec<CraRef> = all_cra.into_iter().cloned().collect();
        cra_lines(out, &owned, "  ");
    }
}

fn explain_text(e: &Explanation) -> String {
    let mut out = String::new();
    match e {
        Explanation::Requirement(r) => requirement_text(&mut out, r),
        Explanation::Practice(p) => {
            let _ = writeln!(
                out,
                "{} — {} (practice {}, clause {})",
                p.practice.id, p.practice.name, p.practice.number, p.practice.clause
            );
            let _ = writeln!(out, "Edition: {}\n", p.edition);
            wrap(&mut out, &p.practice.summary, "");
            out.push('\n');
            for r in &p.requirements {
                let ev: Vec<_> = r
                    .evidence
                    .iter()
                    .map(|g| (g.gate.clone(), g.role, g.implemented))
                    .collect();
                let gates = if ev.is_empty() {
                    "no gate; process evidence only".to_string()
                } else {
                    gate_list(&ev)
                };
                let _ = writeln!(
                    out,
                    "  {:<7} {:<58} {gates}",
                    r.requirement.id, r.requirement.title
                );
            }
        }
        Explanation::Foundational(f) => {
            let _ = writeln!(
                out,
                "{} ({}) — {}  [IEC 62443-4-2 foundational requirement]\n",
                f.fr.id, f.fr.abbrev, f.fr.name
            );
            wrap(&mut out, &f.fr.summary, "");
            let _ = writeln!(out, "\nWeaknesses that threaten it ({}):", f.cwes.len());
            for c in &f.cwes {
                let _ = writeln!(out, "  CWE-{:<5} {}", c.id, c.name);
                wrap(&mut out, &c.why, "             ");
            }
        }
        Explanation::Cwe(c) => match &c.name {
            Some(name) => {
                let _ = writeln!(out, "CWE-{} — {name}", c.id);
                if let Some(rank) = c.top25_2024 {
                    let _ = writeln!(out, "Rank {rank} in the 2024 CWE Top 25.");
                }
                out.push_str("\nIEC 62443-4-2 foundational requirements it threatens:\n");
                for r in &c.frs {
                    let _ = writeln!(out, "  {} ({}) {}", r.fr.id, r.fr.abbrev, r.fr.name);
                    wrap(&mut out, &r.why, "      ");
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "CWE-{} is not in sdl-gate's CWE → FR mapping; findings with it are reported without an FR.",
                    c.id
                );
            }
        },
        Explanation::Gate(g) => {
            let m = &g.gate;
            let _ = writeln!(out, "{} — gate `{}`", m.title, m.gate);
            if !m.implemented {
                out.push_str("Not a gate in this version of sdl-gate.\n");
            }
            out.push_str("\nWhat it checks:\n");
            wrap(&mut out, &m.checks, "  ");
            out.push_str("\nWhat satisfies it:\n");
            wrap(&mut out, &m.satisfied_by, "  ");
            let _ = writeln!(out, "\nIEC 62443-4-1 requirements ({}):", g.edition);
            for r in &g.primary {
                let _ = writeln!(out, "  primary     {:<7} {}", r.id, r.title);
            }
            for r in &g.supporting {
                let _ = writeln!(out, "  supporting  {:<7} {}", r.id, r.title);
            }
            out.push_str("\nCRA references:\n");
            cra_lines(&mut out, &g.cra, "  ");
            out.push_str("\nWhy:\n");
            wrap(&mut out, &m.why, "  ");
        }
        Explanation::Cra(c) => {
            let label = c.cra.label.as_deref().unwrap_or("");
            let _ = writeln!(
                out,
                "{} {}— Regulation (EU) 2024/2847 (Cyber Resilience Act)\n",
                c.cra.reference,
                if label.is_empty() {
                    String::new()
                } else {
                    format!("({label}) ")
                }
            );
            wrap(&mut out, &c.cra.summary, "");
            if c.gates.is_empty() {
                out.push_str("\nNo sdl-gate gate gives evidence for it.\n");
            } else {
                let _ = writeln!(
                    out,
                    "\nGates whose evidence serves it: {}",
                    c.gates.join(", ")
                );
            }
        }
    }
    out
}
