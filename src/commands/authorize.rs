//! Who may run which `/sdl` command, and turning an allowed `waive` into a [`Waiver`].
//!
//! Pure rules over the policy, the change and what the forge said about the commenter. A
//! waiver is a risk decision an auditor will read (62443-4-1 DM-4): the author of a change may
//! never waive its gates, bots may not waive, and only the people the policy names may.

use std::fmt;

use chrono::{DateTime, Duration, NaiveTime, Utc};

use crate::gates::GateKind;
use crate::policy::Policy;
use crate::snapshot::{Login, Sha, Snapshot};
use crate::waivers::Waiver;

use super::parser::{Command, Expiry};

/// A repository permission, on one scale for both forges (lowest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// GitHub `read` / `none`; GitLab guest.
    Read,
    /// GitHub `triage`; GitLab reporter.
    Triage,
    /// GitHub `write`; GitLab developer.
    Write,
    /// GitHub `maintain`; GitLab maintainer.
    Maintain,
    /// GitHub `admin`; GitLab owner.
    Admin,
}

impl Permission {
    /// Parses GitHub's permission names and GitLab's role names.
    pub fn parse(s: &str) -> Option<Permission> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "read" | "guest" | "minimal_access" => Some(Permission::Read),
            "triage" | "reporter" => Some(Permission::Triage),
            "write" | "developer" | "push" => Some(Permission::Write),
            "maintain" | "maintainer" => Some(Permission::Maintain),
            "admin" | "owner" => Some(Permission::Admin),
            _ => None,
        }
    }

    /// GitLab's numeric access level (10 guest … 50 owner).
    pub fn from_gitlab_level(level: u64) -> Permission {
        match level {
            0..=19 => Permission::Read,
            20..=29 => Permission::Triage,
            30..=39 => Permission::Write,
            40..=49 => Permission::Maintain,
            _ => Permission::Admin,
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Permission::Read => "read",
            Permission::Triage => "triage",
            Permission::Write => "write",
            Permission::Maintain => "maintain",
            Permission::Admin => "admin",
        })
    }
}

/// What the forge told us about the person who commented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Their login.
    pub login: Login,
    /// Whether the account is a bot (GitHub `type: Bot`, GitLab bot users).
    pub bot: bool,
    /// Their permission on the repository, when it was looked up.
    pub permission: Option<Permission>,
}

/// Why a command was refused; the message is shown to the commenter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The author tried to waive a gate on their own change.
    #[error("the author of a change may not waive its gates; ask a security reviewer")]
    OwnChange,
    /// A bot tried to waive.
    #[error("bots may not waive gates")]
    Bot,
    /// The commenter is not among those the policy lets waive.
    #[error("only {allowed} may waive gates in this repository")]
    NotAllowed {
        /// Who may, in words.
        allowed: String,
    },
    /// Membership of a team that would allow it could not be checked.
    #[error("could not verify membership of {0}, so the waiver is refused; try again later")]
    MembershipUnknown(String),
    /// The policy does not let anyone waive this gate.
    #[error("the policy does not allow waiving `{0}`")]
    GateNotWaivable(GateKind),
    /// The reason is shorter than the policy asks.
    #[error(
        "a waiver needs a reason of at least {min} characters (this one has {got}): say why the risk is acceptable and how it is tracked"
    )]
    ReasonTooShort {
        /// Policy minimum.
        min: u32,
        /// Length given.
        got: usize,
    },
    /// The waiver would last longer than the policy allows.
    #[error("a waiver may last at most {max_days} days; this one asks for {asked_days}")]
    TooLong {
        /// Policy maximum.
        max_days: u32,
        /// Asked for (rounded up).
        asked_days: i64,
    },
    /// `--until` lies in the past.
    #[error("`--until` must be a future date")]
    InPast,
    /// Recording a threat-model reference needs the author or write permission.
    #[error("only the author or someone with write permission may record a threat-model reference")]
    ThreatModelNotAllowed,
    /// The reference does not match the policy's allowed patterns.
    #[error("`{0}` does not match the accepted threat-model references of this repository")]
    ReferenceNotAccepted(String),
    /// There is no waiver of that gate to withdraw.
    #[error("there is no active waiver of `{0}` on this change")]
    NothingToUnwaive(GateKind),
}

/// A sentence naming who may waive under `policy`.
pub fn who_may_waive(policy: &Policy) -> String {
    let w = &policy.waivers;
    let mut parts: Vec<String> = w.teams.iter().map(|t| format!("members of {t}")).collect();
    parts.extend(w.users.iter().cloned());
    if let Some(p) = &w.min_permission {
        parts.push(format!("people with {p} permission"));
    }
    if parts.is_empty() {
        "nobody (the policy names no one under `waivers`)".into()
    } else {
        parts.join(", ")
    }
}

/// Checks that `actor` may waive on `snapshot` under `policy`. Team membership is read from
/// `snapshot.teams`, which the caller resolves for the policy's waiver teams.
pub fn may_waive(policy: &Policy, snapshot: &Snapshot, actor: &Actor) -> Result<(), Refusal> {
    if actor.login == snapshot.author {
        return Err(Refusal::OwnChange);
    }
    if actor.bot || actor.login.is_bot() {
        return Err(Refusal::Bot);
    }
    let w = &policy.waivers;
    if w.users
        .iter()
        .any(|u| Login::new(u.as_str()) == actor.login)
    {
        return Ok(());
    }
    if let (Some(min), Some(have)) = (
        w.min_permission.as_deref().and_then(Permission::parse),
        actor.permission,
    ) && have >= min
    {
        return Ok(());
    }
    let mut unknown = Vec::new();
    for team in &w.teams {
        match snapshot.is_member(team.as_str(), &actor.login) {
            Some(true) => return Ok(()),
            Some(false) => {}
            None => unknown.push(team.to_string()),
        }
    }
    if !unknown.is_empty() {
        return Err(Refusal::MembershipUnknown(unknown.join(", ")));
    }
    Err(Refusal::NotAllowed {
        allowed: who_may_waive(policy),
    })
}

/// Checks a `waive` command and builds the waiver it grants: who, why, until when, on which
/// commit, from which comment.
pub fn grant_waiver(
    policy: &Policy,
    snapshot: &Snapshot,
    actor: &Actor,
    command: &Command,
    comment_id: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Waiver, Refusal> {
    let Command::Waive {
        gate,
        expiry,
        reason,
    } = command
    else {
        return Err(Refusal::NotAllowed {
            allowed: "the waive command".into(),
        });
    };
    may_waive(policy, snapshot, actor)?;
    if policy
        .waivers
        .gates
        .as_ref()
        .is_some_and(|g| !g.contains(gate))
    {
        return Err(Refusal::GateNotWaivable(*gate));
    }
    let got = reason.trim().chars().count();
    if got < policy.waivers.min_reason_length as usize {
        return Err(Refusal::ReasonTooShort {
            min: policy.waivers.min_reason_length,
            got,
        });
    }
    let max = Duration::days(i64::from(policy.waivers.max_days));
    let expires_at = match expiry {
        Expiry::Default => now + max,
        Expiry::For { hours } => now + Duration::hours(i64::from(*hours)),
        Expiry::Until(date) => {
            let end = date.and_time(NaiveTime::MIN).and_utc() + Duration::days(1);
            if end <= now {
                return Err(Refusal::InPast);
            }
            end
        }
    };
    if expires_at - now > max {
        let secs = (expires_at - now).num_seconds();
        return Err(Refusal::TooLong {
            max_days: policy.waivers.max_days,
            asked_days: (secs + 86_399) / 86_400,
        });
    }
    Ok(Waiver {
        gate: *gate,
        reason: reason.trim().to_string(),
        author: actor.login.clone(),
        created_at: now,
        expires_at,
        sha: Sha::new(snapshot.head_sha.as_str()),
        comment_id,
        revoked: None,
    })
}

/// Checks an `unwaive`: the same people who may waive, or the waiver's own author.
pub fn may_unwaive(
    policy: &Policy,
    snapshot: &Snapshot,
    actor: &Actor,
    gate: GateKind,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let active = snapshot
        .waivers
        .iter()
        .filter(|w| w.gate == gate && w.revoked.is_none() && w.expires_at > now)
        .collect::<Vec<_>>();
    if active.is_empty() {
        return Err(Refusal::NothingToUnwaive(gate));
    }
    if active.iter().any(|w| w.author == actor.login) {
        return Ok(());
    }
    // The author may not withdraw others' waivers either: that needs a waiver-giver.
    may_waive(policy, snapshot, actor)
}

/// Checks a `/sdl threat-model REF` command: the author or someone with write permission, and
/// a reference the policy accepts.
pub fn may_record_threat_model(
    policy: &Policy,
    snapshot: &Snapshot,
    actor: &Actor,
    reference: &str,
) -> Result<(), Refusal> {
    let allowed = actor.login == snapshot.author
        || actor.permission.is_some_and(|p| p >= Permission::Write)
        || may_waive(policy, snapshot, actor).is_ok();
    if !allowed || actor.bot {
        return Err(Refusal::ThreatModelNotAllowed);
    }
    let patterns = &policy.gates.threat_model.link_patterns;
    if patterns.is_empty() || crate::policy::check_link(patterns, reference).is_err() {
        return Err(Refusal::ReferenceNotAccepted(reference.to_string()));
    }
    Ok(())
}

/// Whether anyone who can comment may run the command (help, status, recheck, explain).
pub fn is_open_to_all(command: &Command) -> bool {
    matches!(
        command,
        Command::Help | Command::Status | Command::Recheck | Command::Explain { .. }
    )
}
