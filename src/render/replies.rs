//! Replies to `/sdl` commands: the help text (with who may run what under this repository's
//! policy), malformed-command replies that quote the line and suggest a fix, refusals with
//! their reason, and waiver confirmations.

use std::fmt::Write as _;

use crate::commands::{CommandError, Refusal, who_may_waive};
use crate::policy::Policy;
use crate::waivers::Waiver;

use super::escape;

/// The `/sdl help` reply.
pub fn help(policy: &Policy) -> String {
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
    out.push_str("\nCommands are lines that start with `/sdl`; lines in code blocks or quotes are ignored. Editing or deleting a comment that granted a waiver revokes the waiver.\n");
    out
}

/// The reply to a command line that does not parse: the line quoted as code, what is wrong
/// and where, and the closest valid command.
pub fn malformed(err: &CommandError) -> String {
    let mut out = format!(
        "⚠️ I could not run {}: {} (line {}, column {}).",
        escape::code(&err.text),
        escape::line(&err.kind.to_string(), 300),
        err.line,
        err.column
    );
    if let Some(s) = &err.suggestion {
        let _ = write!(out, " Did you mean {}?", escape::code(s));
    }
    out.push_str(" `/sdl help` lists the commands.\n");
    out
}

/// The reply to a refused command.
pub fn refused(command_text: &str, why: &Refusal) -> String {
    format!(
        "🚫 Refused {}: {}.\n",
        escape::code(command_text),
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
