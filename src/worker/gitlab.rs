//! The GitLab side of the worker: one queued job for a merge request becomes its `/sdl`
//! commands (from Note Hooks) handled, then one evaluation — head, target-branch policy,
//! snapshot, the store's waivers, evaluate, publish — recorded for `/sdl status` and the
//! evidence ledger.
//!
//! Commands use the same parser and authorisation as on GitHub: GitLab access levels
//! (`/projects/:id/members/all/:user_id`) stand for repository permissions and groups for
//! teams. Each command note gets 👀 when seen, then 👍 when done or 😕 when refused or not
//! understood, and a reply note when there is something to say. A retried job inserts no
//! second waiver (waivers are matched by note id and gate) and posts no second reply.
//!
//! Only new notes (`action: create`, or no action from older GitLab) run commands. Editing a
//! note that granted a waiver revokes the waiver (as on GitHub); an edited note's commands
//! are not run again.
//!
//! Time comes from a [`Clock`], and every waiver seen before an evaluation is handed to the
//! [`ExpiryHandle`], so a merge request turns red again when its waiver expires, as on GitHub.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::commands::{
    Actor, Command, grant_waiver, is_open_to_all, may_record_threat_model, may_unwaive,
    parse_comment,
};
use crate::events::{Forge as ForgeName, Target};
use crate::forge::gitlab::{Emoji, GitlabForge};
use crate::forge::{ChangeRef, Forge, ForgeError, Outcome, Records, evaluate_change};
use crate::policy::{Policy, parse_policy_cached};
use crate::queue::{Job, JobEvent, ProcessError, Processor};
use crate::render::replies;
use crate::snapshot::{Login, Snapshot, TeamSlug};
use crate::store::{NewEvaluation, Store};

use super::{Clock, Due, ExpiryHandle, retry, to_process_error};

/// Evaluates GitLab merge request jobs and runs their `/sdl` commands with the bot's client.
#[derive(Debug)]
pub struct GitlabProcessor {
    forge: GitlabForge,
    store: Store,
    public_url: Option<String>,
    clock: Clock,
    expiry: Option<ExpiryHandle>,
}

/// A command note from a Note Hook's detail.
struct CommandNote {
    id: u64,
    author: Login,
    body: String,
}

impl CommandNote {
    /// The note of a Note Hook event, when it is a new, human note with a body.
    fn from_event(ev: &JobEvent, bot: &Login) -> Option<CommandNote> {
        if ev.event != "Note Hook" {
            return None;
        }
        let d = ev.detail.as_ref()?;
        if d.get("system").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        if let Some(action) = d.get("action").and_then(Value::as_str)
            && action != "create"
        {
            return None;
        }
        let author = Login::new(d.get("author")?.as_str()?);
        if author == *bot {
            return None;
        }
        Some(CommandNote {
            id: d.get("note_id")?.as_u64()?,
            author,
            body: d.get("body")?.as_str()?.to_string(),
        })
    }
}

impl GitlabProcessor {
    /// A processor acting through `forge` and recording in `store`; `public_url` is the
    /// service's address for links (`SDL_GATE_PUBLIC_URL`).
    pub fn new(forge: GitlabForge, store: Store, public_url: Option<String>) -> Self {
        GitlabProcessor {
            forge,
            store,
            public_url,
            clock: Clock::system(),
            expiry: None,
        }
    }

    /// Reads time from `clock` (waiver grants and expiry, evaluation stamps) instead of the
    /// system clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Tells `expiry` of every waiver granted or seen, so the merge request is evaluated
    /// again when it expires.
    pub fn with_expiry(mut self, expiry: ExpiryHandle) -> Self {
        self.expiry = Some(expiry);
        self
    }

    /// The forge client (for tests and metrics).
    pub fn forge(&self) -> &GitlabForge {
        &self.forge
    }

    /// What the store holds for the merge request, read before each evaluation at `now`; its
    /// future waivers are scheduled for expiry on the way.
    async fn records(
        &self,
        repository: &str,
        iid: u64,
        now: DateTime<Utc>,
    ) -> Result<Records, ProcessError> {
        let waivers: Vec<_> = self
            .store
            .waivers(ForgeName::GitLab, repository, iid)
            .await
            .map_err(|e| retry(format!("reading waivers: {e}")))?
            .into_iter()
            .map(|w| w.waiver)
            .collect();
        if let Some(expiry) = &self.expiry {
            let change = Due {
                forge: ForgeName::GitLab,
                repository: repository.to_string(),
                number: iid,
                at: now,
                installation: None,
            };
            expiry.schedule_waivers(&change, &waivers, now);
        }
        Ok(Records {
            details_url: self.public_url.as_ref().map(|u| {
                format!(
                    "{}/changes/gitlab/{repository}/{iid}",
                    u.trim_end_matches('/')
                )
            }),
            waivers,
            // Stored references (none yet on GitLab, where `/sdl threat-model` points to the
            // description's `Threat-Model:` line); read so the two forges stay alike.
            threat_model_refs: self
                .store
                .threat_model_refs(ForgeName::GitLab, repository, iid)
                .await
                .map_err(|e| retry(format!("reading threat-model references: {e}")))?
                .into_iter()
                .filter(|r| r.reference.revoked.is_none())
                .map(|r| r.reference.reference)
                .collect(),
            comment_mode: None,
        })
    }

    /// Evaluates one merge request, publishes and records the result; one that is gone ends
    /// the job.
    async fn evaluate(&self, job: &Job, change: &ChangeRef) -> Result<(), ProcessError> {
        let now = self.clock.now();
        let records = self.records(&change.repository, change.number, now).await?;
        let outcome = match evaluate_change(&self.forge, change, &records, now).await {
            Ok(o) => o,
            Err(ForgeError::NotFound { what }) => {
                tracing::info!(job = %job.key, %what, "merge request gone; job ends");
                return Ok(());
            }
            Err(e) => return Err(to_process_error(e)),
        };
        if let Outcome::Evaluated { evaluation, .. } = outcome {
            let result = crate::render::json(&evaluation);
            let head = crate::snapshot::Sha::new(evaluation.head_sha.as_str());
            self.store
                .insert_evaluation(&NewEvaluation {
                    forge: ForgeName::GitLab,
                    repository: &change.repository,
                    number: change.number,
                    head_sha: &head,
                    verdict: evaluation.verdict,
                    evaluated_at: evaluation.evaluated_at,
                    result: &result,
                })
                .await
                .map_err(|e| retry(format!("recording the evaluation: {e}")))?;
        }
        Ok(())
    }

    /// Runs the commands of one note. Returns whether the change must be evaluated again.
    async fn handle_note(
        &self,
        change: &ChangeRef,
        note: &CommandNote,
    ) -> Result<bool, ForgeError> {
        let parsed = parse_comment(&note.body);
        if parsed.is_empty() {
            return Ok(false);
        }
        self.forge.award(change, note.id, Emoji::Eyes).await?;
        let head = self.forge.head(change).await?;
        let policy = match self.forge.policy(change, &head.base_ref).await? {
            Some(file) => match parse_policy_cached(&file.path, &file.text) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::info!(error = %e, "policy does not parse; commands refused");
                    None
                }
            },
            None => None,
        };
        let Some(policy) = policy else {
            self.forge
                .reply(
                    change,
                    note.id,
                    "no-policy",
                    "🚫 sdl-gate has no valid policy on the target branch of this merge request, so it runs no commands here.\n",
                )
                .await?;
            self.forge.award(change, note.id, Emoji::Confused).await?;
            return Ok(false);
        };
        let actor = Actor {
            login: note.author.clone(),
            bot: note.author.is_bot(),
            permission: self.forge.permission(change, &note.author).await?,
        };
        let mut reevaluate = false;
        let mut all_ok = true;
        for (i, item) in parsed.iter().enumerate() {
            let key = i.to_string();
            let command = match item {
                Ok((_, c)) => c,
                Err(e) => {
                    all_ok = false;
                    self.forge
                        .reply(change, note.id, &key, &replies::malformed(e))
                        .await?;
                    continue;
                }
            };
            match self
                .run(change, note, &policy, &head, &actor, command)
                .await?
            {
                Ran::Done { reply, evaluate } => {
                    reevaluate |= evaluate;
                    if let Some(text) = reply {
                        self.forge.reply(change, note.id, &key, &text).await?;
                    }
                }
                Ran::Refused(text) => {
                    all_ok = false;
                    self.forge.reply(change, note.id, &key, &text).await?;
                }
            }
        }
        let emoji = if all_ok {
            Emoji::ThumbsUp
        } else {
            Emoji::Confused
        };
        self.forge.award(change, note.id, emoji).await?;
        Ok(reevaluate)
    }

    /// Runs one parsed command.
    async fn run(
        &self,
        change: &ChangeRef,
        note: &CommandNote,
        policy: &Policy,
        head: &crate::forge::ChangeHead,
        actor: &Actor,
        command: &Command,
    ) -> Result<Ran, ForgeError> {
        let text = command.to_string();
        if !is_open_to_all(command) && (actor.bot || actor.login.is_bot()) {
            return Ok(Ran::Refused(replies::refused(
                &text,
                &crate::commands::Refusal::Bot,
            )));
        }
        let now = self.clock.now();
        match command {
            Command::Help => Ok(Ran::Done {
                reply: Some(replies::help(policy)),
                evaluate: false,
            }),
            Command::Status | Command::Recheck => Ok(Ran::Done {
                reply: None,
                evaluate: true,
            }),
            Command::Explain { topic } => Ok(match crate::practices::explain(topic) {
                Ok(e) => Ran::Done {
                    reply: Some(replies::explain(&e)),
                    evaluate: false,
                },
                Err(e) => Ran::Refused(format!(
                    "⚠️ I know no gate or requirement {}{}.\n",
                    crate::render::escape::code(&e.id),
                    e.suggestion
                        .map(|s| format!("; did you mean {}?", crate::render::escape::code(&s)))
                        .unwrap_or_default()
                )),
            }),
            Command::Waive { gate, .. } => {
                let snap = self.auth_snapshot(change, head, policy, actor).await?;
                match grant_waiver(policy, &snap, actor, command, Some(note.id), now) {
                    Ok(waiver) => {
                        let already = snap
                            .waivers
                            .iter()
                            .any(|w| w.comment_id == Some(note.id) && w.gate == *gate);
                        if !already {
                            self.store
                                .insert_waiver(
                                    ForgeName::GitLab,
                                    &change.repository,
                                    change.number,
                                    &waiver,
                                )
                                .await
                                .map_err(|e| ForgeError::Transient {
                                    what: format!("storing the waiver: {e}"),
                                })?;
                        }
                        Ok(Ran::Done {
                            reply: Some(replies::waiver_granted(&waiver)),
                            evaluate: true,
                        })
                    }
                    Err(why) => Ok(Ran::Refused(replies::refused(&text, &why))),
                }
            }
            Command::Unwaive { gate } => {
                let snap = self.auth_snapshot(change, head, policy, actor).await?;
                if let Err(why) = may_unwaive(policy, &snap, actor, *gate, now) {
                    return Ok(Ran::Refused(replies::refused(&text, &why)));
                }
                let stored = self
                    .store
                    .waivers(ForgeName::GitLab, &change.repository, change.number)
                    .await
                    .map_err(|e| ForgeError::Transient {
                        what: format!("reading waivers: {e}"),
                    })?;
                for w in stored.iter().filter(|w| {
                    w.waiver.gate == *gate
                        && w.waiver.revoked.is_none()
                        && w.waiver.expires_at > now
                }) {
                    self.store
                        .revoke_waiver(
                            w.id,
                            &format!("withdrawn by {} in note {}", actor.login, note.id),
                            now,
                        )
                        .await
                        .map_err(|e| ForgeError::Transient {
                            what: format!("revoking a waiver: {e}"),
                        })?;
                }
                Ok(Ran::Done {
                    reply: Some(format!("✅ The waiver of `{gate}` is withdrawn.\n")),
                    evaluate: true,
                })
            }
            Command::ThreatModel { reference } => {
                let snap = self.auth_snapshot(change, head, policy, actor).await?;
                match may_record_threat_model(policy, &snap, actor, reference) {
                    Ok(()) => Ok(Ran::Refused(format!(
                        "⚠️ Recording {} with `/sdl threat-model` is not available on GitLab yet; link it in the merge request description as `Threat-Model: <link>` instead.\n",
                        crate::render::escape::code(reference)
                    ))),
                    Err(why) => Ok(Ran::Refused(replies::refused(&text, &why))),
                }
            }
        }
    }

    /// The little the authorisation rules read: the change's author and head, its stored
    /// waivers, and the actor's membership of the policy's waiver groups.
    async fn auth_snapshot(
        &self,
        change: &ChangeRef,
        head: &crate::forge::ChangeHead,
        policy: &Policy,
        actor: &Actor,
    ) -> Result<Snapshot, ForgeError> {
        let mut snap = Snapshot::new(
            crate::snapshot::ForgeKind::Gitlab,
            &change.repository,
            change.number,
            head.author.as_str(),
            head.head_sha.as_str(),
        );
        snap.waivers = self
            .store
            .waivers(ForgeName::GitLab, &change.repository, change.number)
            .await
            .map_err(|e| ForgeError::Transient {
                what: format!("reading waivers: {e}"),
            })?
            .into_iter()
            .map(|w| w.waiver)
            .collect();
        for team in &policy.waivers.teams {
            let slug = TeamSlug::new(team.as_str());
            match self.forge.team_member(change, &slug, &actor.login).await {
                Ok(member) => {
                    let members = snap.teams.entry(team.as_str().to_string()).or_default();
                    if member {
                        members.insert(actor.login.clone());
                    }
                }
                // Left unresolved: the rules then refuse with "could not verify".
                Err(ForgeError::Forbidden { .. } | ForgeError::Rejected { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(snap)
    }
}

/// The id of the note an `update` Note Hook is about.
fn edited_note(ev: &JobEvent) -> Option<u64> {
    let d = ev.detail.as_ref()?;
    (d.get("action").and_then(Value::as_str) == Some("update"))
        .then(|| d.get("note_id").and_then(Value::as_u64))
        .flatten()
}

impl GitlabProcessor {
    /// Revokes the waivers a now-edited note granted; whether any was revoked.
    async fn revoke_for_edited(
        &self,
        change: &ChangeRef,
        note_id: u64,
    ) -> Result<bool, ProcessError> {
        let now = self.clock.now();
        let stored = self
            .store
            .waivers(ForgeName::GitLab, &change.repository, change.number)
            .await
            .map_err(|e| retry(format!("reading waivers: {e}")))?;
        let mut revoked = false;
        for w in stored
            .iter()
            .filter(|w| w.waiver.comment_id == Some(note_id) && w.waiver.revoked.is_none())
        {
            revoked |= self
                .store
                .revoke_waiver(
                    w.id,
                    &format!("note {note_id} that granted it was edited"),
                    now,
                )
                .await
                .map_err(|e| retry(format!("revoking a waiver: {e}")))?;
        }
        Ok(revoked)
    }
}

/// What running one command came to.
enum Ran {
    /// Done; an optional reply, and whether the change must be evaluated again.
    Done {
        reply: Option<String>,
        evaluate: bool,
    },
    /// Refused or not possible, with the reply saying why.
    Refused(String),
}

impl Processor for GitlabProcessor {
    async fn process(&self, job: &Job) -> Result<(), ProcessError> {
        if job.key.forge != ForgeName::GitLab {
            tracing::warn!(job = %job.key, "not a GitLab job; completed without action");
            return Ok(());
        }
        let Target::Change(iid) = job.key.target else {
            tracing::info!(job = %job.key, "not a merge request job; nothing to evaluate");
            return Ok(());
        };
        let change = ChangeRef::new(job.key.repository.clone(), iid, None);
        let mut evaluate = false;
        for ev in &job.events {
            if ev.event != "Note Hook" {
                evaluate = true;
                continue;
            }
            if let Some(note_id) = edited_note(ev) {
                evaluate |= self.revoke_for_edited(&change, note_id).await?;
                continue;
            }
            let Some(note) = CommandNote::from_event(ev, self.forge.bot()) else {
                continue;
            };
            match self.handle_note(&change, &note).await {
                Ok(again) => evaluate |= again,
                Err(ForgeError::NotFound { what }) => {
                    tracing::info!(job = %job.key, %what, "merge request or note gone");
                    return Ok(());
                }
                Err(e) => return Err(to_process_error(e)),
            }
        }
        if evaluate {
            self.evaluate(job, &change).await
        } else {
            Ok(())
        }
    }
}
