//! Replies to `/sdl` commands: the help text (with who may run what under this repository's
//! policy), malformed-command replies that quote the line and suggest a fix, refusals with
//! their reason, and waiver confirmations.

use std::fmt::Write as _;

use crate::capabilities::Capabilities;
use crate::commands::{CommandError, Refusal, who_may_waive};
use crate::policy::Policy;
use crate::waivers::Waiver;

use super::escape;

/// The `/sdl help` reply, for a forge that can do what `capabilities` says.
pub fn help(policy: &Policy, capabilities: Capabilities) -> String {
    let waivers = escape::line(&who_may_waive(policy), 400);
    let gates = match &policy.waivers.gates {
        Some(g) => g
            .iter()
            .map(|g| format!("`{g}`"))
            .collect::<Vec<_>>()
            .join(", "),
        None => "any gate".into(),
    };
    let mut out = String::from(
        "#### sdl-gate commands\n\n| Command | What it does | Who may run it |\n|---|---|---|\n",
    );
    let rows = [
        (
            "/sdl help",
            "this list".to_string(),
            "anyone who can comment".to_string(),
        ),
        (
            "/sdl status",
            "re-post the current evaluation".into(),
            "anyone who can comment".into(),
        ),
        (
            "/sdl recheck",
            "evaluate the change again now".into(),
            "anyone who can comment".into(),
        ),
        (
            "/sdl explain GATE|REQUIREMENT",
            "what a gate checks, or what a 62443-4-1 requirement (e.g. SR-2) asks".into(),
            "anyone who can comment".into(),
        ),
        (
            "/sdl waive GATE [--for 14d | --until YYYY-MM-DD] REASON",
            format!(
                "waive {gates} on this change, at most {} days, with a reason of at least {} characters",
                policy.waivers.max_days, policy.waivers.min_reason_length
            ),
            format!("{waivers}; never the change's author, never a bot"),
        ),
        (
            "/sdl unwaive GATE",
            "withdraw a waiver".into(),
            format!("the waiver's author, or {waivers}"),
        ),
        (
            "/sdl threat-model URL|#ISSUE",
            "record the threat-model record this change is covered by".into(),
            "the author, or anyone with write permission".into(),
        ),
    ];
    for (cmd, what, who) in rows {
        let _ = writeln!(out, "| `{cmd}` | {what} | {who} |");
    }
    out.push_str(
        "\nCommands are lines that start with `/sdl`; lines in code blocks or quotes are ignored. ",
    );
    out.push_str(if capabilities.deleted_comment_hooks {
        "Editing or deleting a comment that granted a waiver revokes the waiver.\n"
    } else {
        // GitLab sends no hook for a deleted note: promising it would be false.
        "Editing a comment that granted a waiver revokes the waiver; deleting it does not (this forge does not report deletions): use `/sdl unwaive GATE`.\n"
    });
    out
}

/// The reply to a command line that does not parse: the line quoted as code, what is wrong
/// and where, and the closest valid command.
pub fn malformed(err: &CommandError) -> String {
    let mut out = format!(
        "⚠️ I could not run {}: {} (line {}, column {}).",
        escape::code(&shorten(&err.text, 200)),
        escape::line(&err.kind.to_string(), 300),
        err.line,
        err.column
    );
    if let Some(s) = &err.suggestion {
        let _ = write!(out, " Did you mean {}?", escape::code(&shorten(s, 200)));
    }
    out.push_str(" `/sdl help` lists the commands.\n");
    out
}

/// The reply to a refused command.
pub fn refused(command_text: &str, why: &Refusal) -> String {
    format!(
        "🚫 Refused {}: {}.\n",
        escape::code(&shorten(command_text, 200)),
        escape::line(&why.to_string(), 400)
    )
}

/// The confirmation of a granted waiver.
pub fn waiver_granted(w: &Waiver) -> String {
    format!(
        "✅ `{}` waived by {} until {} (given on {}). Reason: {}\n",
        w.gate,
        escape::line(w.author.as_str(), 100),
        w.expires_at.format("%Y-%m-%d %H:%M UTC"),
        escape::code(w.sha.short()),
        escape::line(&w.reason, 1000)
    )
}

fn ids(reqs: &[crate::practices::Requirement]) -> String {
    reqs.iter()
        .map(|r| format!("**{}** {}", r.id, escape::line(&r.title, 120)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `/sdl explain` reply: what a gate checks and is evidence for, or what a requirement,
/// practice, FR, CWE or CRA reference means and which gates give evidence for it.
pub fn explain(e: &crate::practices::Explanation) -> String {
    use crate::practices::{EvidenceRole, Explanation};
    let mut out = String::new();
    match e {
        Explanation::Requirement(r) => {
            let q = &r.requirement;
            let _ = writeln!(
                out,
                "#### IEC 62443-4-1 {} — {}\n",
                q.id,
                escape::line(&q.title, 200)
            );
            let _ = writeln!(out, "{}\n", escape::line(&q.summary, 2000));
            let _ = writeln!(
                out,
                "Practice {} ({}). Edition: {}.\n",
                q.practice,
                escape::line(&q.practice_name, 200),
                escape::line(&r.edition, 100)
            );
            if r.evidence.is_empty() {
                out.push_str("No sdl-gate gate produces evidence for this requirement; it needs process-level evidence.\n");
            } else {
                out.push_str("**Evidence from sdl-gate:**\n\n");
                for g in &r.evidence {
                    let role = match g.role {
                        EvidenceRole::Primary => "primary evidence",
                        EvidenceRole::Supporting => "supporting evidence",
                    };
                    let cra = g
                        .cra
                        .iter()
                        .map(|c| c.reference.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    let _ = writeln!(
                        out,
                        "- `{}` ({}){}{}",
                        g.gate,
                        role,
                        if g.implemented {
                            ""
                        } else {
                            " — not implemented yet"
                        },
                        if cra.is_empty() {
                            String::new()
                        } else {
                            format!("; CRA {}", escape::line(&cra, 300))
                        }
                    );
                }
            }
        }
        Explanation::Gate(g) => {
            let m = &g.gate;
            let _ = writeln!(
                out,
                "#### Gate `{}` — {}\n",
                m.gate,
                escape::line(&m.title, 200)
            );
            let _ = writeln!(out, "**Checks:** {}\n", escape::line(&m.checks, 2000));
            let _ = writeln!(
                out,
                "**Satisfied when:** {}\n",
                escape::line(&m.satisfied_by, 2000)
            );
            let _ = writeln!(
                out,
                "**Evidence for IEC 62443-4-1** ({}): {}\n",
                escape::line(&g.edition, 100),
                ids(&g.primary)
            );
            if !g.supporting.is_empty() {
                let _ = writeln!(out, "**Supports:** {}\n", ids(&g.supporting));
            }
            if !g.cra.is_empty() {
                let _ = writeln!(
                    out,
                    "**CRA:** {}\n",
                    g.cra
                        .iter()
                        .map(|c| escape::line(&c.reference, 40))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let _ = writeln!(out, "_Why:_ {}", escape::line(&m.why, 2000));
        }
        Explanation::Practice(p) => {
            let _ = writeln!(
                out,
                "#### IEC 62443-4-1 practice {} — {}\n",
                p.practice.id,
                escape::line(&p.practice.name, 200)
            );
            let _ = writeln!(out, "{}\n", escape::line(&p.practice.summary, 2000));
            for r in &p.requirements {
                let gates = r
                    .evidence
                    .iter()
                    .map(|g| format!("`{}`", g.gate))
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = writeln!(
                    out,
                    "- **{}** {}{}",
                    r.requirement.id,
                    escape::line(&r.requirement.title, 200),
                    if gates.is_empty() {
                        String::new()
                    } else {
                        format!(" — evidence: {gates}")
                    }
                );
            }
        }
        Explanation::Foundational(f) => {
            let _ = writeln!(
                out,
                "#### IEC 62443-4-2 {} ({}) — {}\n",
                f.fr.id,
                f.fr.abbrev,
                escape::line(&f.fr.name, 200)
            );
            let _ = writeln!(out, "{}\n", escape::line(&f.fr.summary, 2000));
            let _ = writeln!(
                out,
                "{} CWE(s) in sdl-gate's catalog threaten it.",
                f.cwes.len()
            );
        }
        Explanation::Cwe(c) => {
            let _ = writeln!(
                out,
                "#### CWE-{} — {}\n",
                c.id,
                escape::line(
                    c.name.as_deref().unwrap_or("not in sdl-gate's catalog"),
                    200
                )
            );
            if let Some(rank) = c.top25_2024 {
                let _ = writeln!(out, "Rank {rank} of the 2024 CWE Top 25.\n");
            }
            for fr in &c.frs {
                let _ = writeln!(
                    out,
                    "- threatens **{}** {}: {}",
                    fr.fr.id,
                    escape::line(&fr.fr.name, 200),
                    escape::line(&fr.why, 600)
                );
            }
        }
        Explanation::Cra(c) => {
            let _ = writeln!(out, "#### CRA {}\n", escape::line(&c.cra.reference, 60));
            let _ = writeln!(out, "{}\n", escape::line(&c.cra.summary, 2000));
            if !c.gates.is_empty() {
                let _ = writeln!(
                    out,
                    "Evidence from: {}",
                    c.gates
                        .iter()
                        .map(|g| format!("`{g}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
    out
}

/// The hidden first line of the reply to comment `comment_id`: a job re-run after a crash
/// finds it and does not reply twice.
pub fn reply_marker(comment_id: u64) -> String {
    format!("<!-- sdl-gate:reply:{comment_id} -->")
}

/// The one reply to a comment: the marker, then each command's part.
pub fn combined(comment_id: u64, parts: &[String]) -> String {
    let mut out = reply_marker(comment_id);
    out.push('\n');
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str("\n---\n\n");
        }
        out.push_str(p);
        if !p.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// At most `max` characters of a command as written, for quoting.
pub fn shorten(command: &str, max: usize) -> String {
    if command.chars().count() > max {
        let mut t: String = command.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        command.to_string()
    }
}

/// The reply to `/sdl explain X` when X is no gate, requirement, practice, FR, CWE or CRA
/// reference sdl-gate knows.
pub fn unknown_topic(unknown: &crate::practices::UnknownId) -> String {
    let mut out = format!(
        "⚠️ I do not know {}: name a gate (`threat_model`, `security_review`, `sast`, `dependencies`, `sbom`), a 62443-4-1 requirement such as `SR-2`, a practice such as `SM`, an FR, a CWE or a CRA reference.",
        escape::code(&shorten(&unknown.id, 100))
    );
    if let Some(s) = &unknown.suggestion {
        let _ = write!(
            out,
            " Did you mean {}?",
            escape::code(&format!("/sdl explain {}", shorten(s, 100)))
        );
    }
    out.push('\n');
    out
}

/// The reply to a command that needs the repository's policy when the base branch has none.
pub fn no_policy(command_text: &str) -> String {
    format!(
        "🚫 Refused {}: this repository has no sdl-gate policy on the base branch, so nobody may waive or record anything yet.\n",
        escape::code(&shorten(command_text, 200))
    )
}

/// The reply to a command that needs the repository's policy when it does not parse.
pub fn invalid_policy(command_text: &str) -> String {
    format!(
        "🚫 Refused {}: the sdl-gate policy on the base branch does not parse (the check run says why), so no waiver can be checked against it.\n",
        escape::code(&shorten(command_text, 200))
    )
}

/// The confirmation of `/sdl unwaive`.
pub fn unwaived(gate: crate::gates::GateKind, by: &str, count: usize) -> String {
    format!(
        "✅ The waiver of `{gate}` was withdrawn by {}{}; the change is evaluated again.\n",
        escape::line(by, 100),
        if count > 1 {
            format!(" ({count} waivers)")
        } else {
            String::new()
        }
    )
}

/// The confirmation of `/sdl threat-model REF`.
pub fn threat_model_recorded(reference: &str, sha: &crate::snapshot::Sha) -> String {
    format!(
        "✅ Threat-model reference {} recorded for this change (on {}); the `threat_model` gate counts it from now on.\n",
        escape::code(&shorten(reference, 300)),
        escape::code(sha.short())
    )
}

/// The notice that editing or deleting a comment revoked what it granted (the tamper rule).
pub fn revoked_by_change(comment_id: u64, action: &str, what: &[String]) -> String {
    format!(
        "⚠️ Comment {comment_id} was {action}, so what it granted is revoked: {}. Post a new comment to grant it again.\n",
        what.iter()
            .map(|w| escape::line(w, 200))
            .collect::<Vec<_>>()
            .join("; ")
    )
}

/// The sticky comment of a change merged while its gate was not green: `sticky` (the last
/// evaluation's comment, or just the marker) with a notice after the marker line saying so,
/// once however often the merge is seen.
#[cfg(feature = "service")]
pub fn merged_bypassing(sticky: &str, merge: &crate::ledger::entry::MergeEntry) -> String {
    const NOTICE_START: &str = "<!-- sdl-gate:bypass -->";
    let (marker, rest) = sticky.split_once('\n').unwrap_or((sticky, ""));
    if rest.contains(NOTICE_START) {
        return sticky.to_owned();
    }
    let by = merge
        .merged_by
        .as_deref()
        .map_or_else(|| "someone".to_owned(), |b| escape::line(b, 100));
    let commit = merge
        .merge_commit
        .as_deref()
        .map(|c| {
            format!(
                " as {}",
                escape::code(&c.chars().take(12).collect::<String>())
            )
        })
        .unwrap_or_default();
    let why = match merge.verdict {
        None => "it was never evaluated on the merged commit".to_owned(),
        Some(v) => format!(
            "its last verdict on the merged commit was **{}**",
            v.as_str()
        ),
    };
    format!(
        "{marker}\n{NOTICE_START}\n> [!CAUTION]\n> **Merged bypassing sdl-gate.** {by} merged this change{commit} although {why}. \
         The evidence ledger records this merge as a bypass.\n\n{rest}"
    )
}
