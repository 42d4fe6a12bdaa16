//! `/sdl` comment commands in the running service, for both forges: the comment events of a
//! job (GitHub `issue_comment`, GitLab `Note Hook`) are read here, before the change is
//! evaluated, and each one is acted on through [`Interact`] (GitLab: award emoji for reactions,
//! notes for replies, access levels for permissions). GitLab sends no hook when a note is
//! deleted, so there only an edit revokes what a note granted.
//!
//! - `created`: comments by bots (the App itself included) are never commands. Every other
//!   comment is parsed; one with commands gets 👀, then each command runs (help and explain
//!   reply; status and recheck ask for the evaluation that follows; waive, unwaive and
//!   threat-model are authorised against the base branch's policy and stored), then one reply
//!   for the comment, 👍 when something was done and 😕 when something was refused or
//!   malformed.
//! - `edited` / `deleted`: never run as commands. If the comment had granted a waiver or
//!   recorded a threat-model reference, that is revoked (the tamper rule), logged as a
//!   warning, replied to and the change re-evaluated.
//!
//! A job can run again after a crash. Each comment is claimed in the store before anything
//! happens and marked done after; a resumed comment re-runs its commands but reuses the
//! waiver or reference it already stored and does not reply if its reply (found by a marker)
//! exists. Reactions are idempotent on the forge.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::commands::{
    Actor, Command, Permission, Refusal, grant_waiver, may_record_threat_model, may_unwaive,
    parse_comment,
};
use crate::forge::{ChangeHead, ChangeRef, Forge, Interact, Reaction};
use crate::forge_name::ForgeName;
use crate::policy::{Policy, parse_policy};
use crate::queue::{Job, JobEvent, ProcessError};
use crate::render::replies;
use crate::snapshot::{Login, Snapshot};
use crate::store::{CommentClaim, Store, ThreatModelRef};

use super::clock::Clock;
use super::record::LedgerRecorder;
use super::to_process_error;
use crate::ledger::entry::RevokedBecause;

/// What the handler needs from the processor.
pub(crate) struct Context<'a, F> {
    /// The forge, for reading the change and policy and for conversing.
    pub forge: &'a F,
    /// Waivers, references and handled comments.
    pub store: &'a Store,
    /// Now.
    pub clock: &'a Clock,
    /// Which forge.
    pub forge_name: ForgeName,
}

/// What a job's comments ask of the evaluation that follows them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct AfterComments {
    /// Evaluate the change: an event that is not a comment, or a command or revocation that
    /// can change the verdict. A job of plain comments only is not evaluated.
    pub evaluate: bool,
    /// `/sdl status`: update (or post) the sticky comment whatever the policy says.
    pub force_comment: bool,
    /// Comments that get 👍 once the evaluation is published (`status`, `recheck`).
    pub ack_after: Vec<u64>,
}

/// A comment event (GitHub `issue_comment`, GitLab `Note Hook`), from the job event's detail,
/// in GitHub's terms: `action` is `created`, `edited` or `deleted`.
#[derive(Debug)]
struct CommentEvent {
    id: u64,
    author: String,
    body: String,
    action: String,
    /// What the delivery said of the author's account: `Some(true)` for a bot; `None` when it
    /// did not say (GitLab; GitHub events stored before the flag was kept).
    bot: Option<bool>,
}

/// Whether a job event is a comment on the change (of either forge).
fn is_comment(event: &JobEvent) -> bool {
    event.event == "issue_comment" || event.event == "Note Hook"
}

/// The comment of a comment event; `None` for a GitLab system note (not a person's words) or
/// a detail without a comment id.
fn comment_of(event: &JobEvent) -> Option<CommentEvent> {
    let d = event.detail.as_ref()?;
    let text = |key: &str| {
        d.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (id, action) = if event.event == "Note Hook" {
        if d.get("system").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        // Older GitLab sends no action on a new note; GitLab sends no hook on a deleted note.
        let action = match d.get("action").and_then(Value::as_str) {
            None | Some("create") => "created",
            Some("update") => "edited",
            Some(other) => other,
        };
        (d.get("note_id").and_then(Value::as_u64)?, action.to_owned())
    } else {
        let action = d
            .get("action")
            .and_then(Value::as_str)
            .or(event.action.as_deref())
            .unwrap_or_default();
        (
            d.get("comment_id").and_then(Value::as_u64)?,
            action.to_owned(),
        )
    };
    Some(CommentEvent {
        id,
        author: text("author"),
        body: text("body"),
        action,
        bot: d.get("bot").and_then(Value::as_bool),
    })
}

/// The base branch's policy, as far as commands are concerned.
enum PolicyState {
    Missing,
    Invalid,
    Valid(std::sync::Arc<Policy>),
}

/// What one command did.
enum Step {
    /// Done now (👍).
    Done,
    /// Done once the evaluation is published (👍 then).
    AfterEvaluation,
    /// Refused or not understood (😕).
    Refused,
}

/// The change and its policy, read once per job and only when a command needs them.
struct Lazy {
    head: Option<ChangeHead>,
    policy: Option<PolicyState>,
}

impl<F: Forge + Interact> Context<'_, F> {
    fn ledger(&self) -> LedgerRecorder<'_> {
        LedgerRecorder {
            store: self.store,
            forge: self.forge_name,
        }
    }

    /// Handles every `issue_comment` event of `job` in order and says what the evaluation
    /// that follows must do.
    pub(crate) async fn handle(
        &self,
        job: &Job,
        change: &ChangeRef,
    ) -> Result<AfterComments, ProcessError> {
        let mut after = AfterComments::default();
        let mut lazy = Lazy {
            head: None,
            policy: None,
        };
        for event in &job.events {
            if crate::events::MergeDetail::of(event.detail.as_ref()).is_some() {
                // Recorded by the engine; a merged change has nothing to evaluate.
                continue;
            }
            if !is_comment(event) {
                after.evaluate = true;
                continue;
            }
            let Some(comment) = comment_of(event) else {
                if event.event == "Note Hook" {
                    // A system note (a push, an approval…): nobody's command, and the event
                    // that caused it arrives on its own.
                    tracing::debug!(job = %job.key, delivery = %event.delivery_id, "system note: not a command");
                } else {
                    tracing::warn!(job = %job.key, delivery = %event.delivery_id, "comment event without a comment id; evaluating");
                    after.evaluate = true;
                }
                continue;
            };
            match comment.action.as_str() {
                "created" => {
                    if self.by_bot(event, &comment).await? {
                        tracing::debug!(job = %job.key, comment = comment.id, author = %comment.author, "comment by a bot: not a command");
                        continue;
                    }
                    self.created(change, &comment, &mut lazy, &mut after)
                        .await?;
                }
                "edited" | "deleted" => {
                    self.changed(change, &comment, &mut after).await?;
                }
                _ => after.evaluate = true,
            }
        }
        Ok(after)
    }

    /// 👍 on the comments whose commands finished with the evaluation.
    pub(crate) async fn acknowledge(
        &self,
        change: &ChangeRef,
        comments: &[u64],
    ) -> Result<(), ProcessError> {
        for id in comments {
            self.react(change, *id, Reaction::PlusOne).await?;
        }
        Ok(())
    }

    /// Whether the comment's author is a bot: a `[bot]` login (or a GitLab token bot), this
    /// service's own account, or `type: Bot` in the delivery (the App's own comments among
    /// them; read back from the stored delivery for events stored before it was kept).
    async fn by_bot(&self, event: &JobEvent, comment: &CommentEvent) -> Result<bool, ProcessError> {
        let login = Login::new(comment.author.as_str());
        if comment.author.is_empty() || login.is_bot() || self.forge.is_self(&login) {
            return Ok(true);
        }
        if let Some(bot) = comment.bot {
            return Ok(bot);
        }
        if event.event != "issue_comment" {
            return Ok(false);
        }
        Ok(super::raw_delivery(self.store, event)
            .await?
            .pointer("/comment/user/type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("bot")))
    }

    async fn react(
        &self,
        change: &ChangeRef,
        comment: u64,
        reaction: Reaction,
    ) -> Result<(), ProcessError> {
        match self.forge.react(change, comment, reaction).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_retryable() => Err(to_process_error(e)),
            // A deleted comment, or an App without the permission: the command still counts.
            Err(e) => {
                tracing::warn!(comment, reaction = reaction.as_github(), error = %e, "could not react to a comment");
                Ok(())
            }
        }
    }

    /// A comment that was created: run its commands (once).
    async fn created(
        &self,
        change: &ChangeRef,
        comment: &CommentEvent,
        lazy: &mut Lazy,
        after: &mut AfterComments,
    ) -> Result<(), ProcessError> {
        let parsed = parse_comment(&comment.body);
        if parsed.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let claim = self
            .store
            .claim_comment(
                self.forge_name,
                &change.repository,
                change.number,
                comment.id,
                now,
            )
            .await
            .map_err(|e| {
                ProcessError::retry_because(format!("claiming comment {}", comment.id), e)
            })?;
        if claim == CommentClaim::Done {
            // Handled by an earlier run; its evaluation may not have happened (a crash right
            // after), so ask for one again when it mattered.
            for (_, cmd) in parsed.iter().flatten() {
                match cmd {
                    Command::Status | Command::Recheck => {
                        after.evaluate = true;
                        after.force_comment |= *cmd == Command::Status;
                        after.ack_after.push(comment.id);
                    }
                    Command::Waive { .. }
                    | Command::Unwaive { .. }
                    | Command::ThreatModel { .. } => after.evaluate = true,
                    _ => {}
                }
            }
            return Ok(());
        }
        self.react(change, comment.id, Reaction::Eyes).await?;
        let actor = Actor {
            login: Login::new(comment.author.as_str()),
            bot: false,
            permission: None,
        };
        let mut parts = Vec::new();
        let (mut done, mut refused) = (false, false);
        for p in parsed {
            let (part, step) = match p {
                Err(e) => (Some(replies::malformed(&e)), Step::Refused),
                Ok((_, cmd)) => {
                    self.run(change, comment, &cmd, &actor, claim, lazy, after, now)
                        .await?
                }
            };
            parts.extend(part);
            match step {
                Step::Done => done = true,
                Step::AfterEvaluation => {
                    if !after.ack_after.contains(&comment.id) {
                        after.ack_after.push(comment.id);
                    }
                }
                Step::Refused => refused = true,
            }
        }
        if !parts.is_empty() {
            self.reply_once(
                change,
                comment.id,
                claim,
                &replies::combined(comment.id, &parts),
            )
            .await?;
        }
        if done {
            self.react(change, comment.id, Reaction::PlusOne).await?;
        }
        if refused {
            self.react(change, comment.id, Reaction::Confused).await?;
        }
        self.store
            .finish_comment(
                self.forge_name,
                &change.repository,
                comment.id,
                self.clock.now(),
            )
            .await
            .map_err(|e| {
                ProcessError::retry_because(
                    format!("recording comment {} as handled", comment.id),
                    e,
                )
            })?;
        Ok(())
    }

    /// Posts the reply to a comment unless a resumed run finds it posted already.
    async fn reply_once(
        &self,
        change: &ChangeRef,
        comment_id: u64,
        claim: CommentClaim,
        body: &str,
    ) -> Result<(), ProcessError> {
        if claim == CommentClaim::Resumed {
            let marker = replies::reply_marker(comment_id);
            match self.forge.find_reply(change, &marker).await {
                Ok(Some(id)) => {
                    tracing::info!(
                        comment = comment_id,
                        reply = id,
                        "reply posted by an earlier run"
                    );
                    return Ok(());
                }
                Ok(None) => {}
                Err(e) => return Err(to_process_error(e)),
            }
        }
        match self.forge.reply(change, body).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_retryable() => Err(to_process_error(e)),
            Err(e) => {
                tracing::warn!(comment = comment_id, error = %e, "could not reply to a command");
                Ok(())
            }
        }
    }

    async fn head<'l>(
        &self,
        change: &ChangeRef,
        lazy: &'l mut Lazy,
    ) -> Result<&'l ChangeHead, ProcessError> {
        if lazy.head.is_none() {
            lazy.head = Some(self.forge.head(change).await.map_err(to_process_error)?);
        }
        lazy.head
            .as_ref()
            .ok_or_else(|| ProcessError::retry("the change head was not read"))
    }

    /// The base branch's policy for a command that needs one, or the reply refusing `text`
    /// because there is none or it does not load.
    async fn valid_policy(
        &self,
        change: &ChangeRef,
        lazy: &mut Lazy,
        text: &str,
    ) -> Result<Result<Policy, String>, ProcessError> {
        Ok(match self.policy(change, lazy).await? {
            PolicyState::Valid(p) => Ok(p.as_ref().clone()),
            PolicyState::Missing => Err(replies::no_policy(text)),
            PolicyState::Invalid => Err(replies::invalid_policy(text)),
        })
    }

    async fn policy<'l>(
        &self,
        change: &ChangeRef,
        lazy: &'l mut Lazy,
    ) -> Result<&'l PolicyState, ProcessError> {
        if lazy.policy.is_none() {
            let base = self.head(change, lazy).await?.base_ref.clone();
            // The policy the evaluation uses: the repository's under the organisation's floor
            // (waiver limits included), or the organisation's.
            let state = match super::org_policy::effective_policy(self.forge, change, &base)
                .await
                .map_err(to_process_error)?
            {
                super::org_policy::Effective::Missing => PolicyState::Missing,
                super::org_policy::Effective::Ready(e) => PolicyState::Valid(e.policy),
                super::org_policy::Effective::Broken(_) => PolicyState::Invalid,
            };
            lazy.policy = Some(state);
        }
        lazy.policy
            .as_ref()
            .ok_or_else(|| ProcessError::retry("the policy was not read"))
    }

    /// The change as the authorisation rules see it: author, head, the store's waivers.
    async fn auth_snapshot(
        &self,
        change: &ChangeRef,
        head: &ChangeHead,
    ) -> Result<Snapshot, ProcessError> {
        let mut snap = Snapshot::new(
            Some(self.forge_name),
            &change.repository,
            change.number,
            head.author.as_str(),
            head.head_sha.as_str(),
        );
        snap.waivers = self
            .store
            .waivers(self.forge_name, &change.repository, change.number)
            .await
            .map_err(|e| ProcessError::retry_because("reading waivers", e))?
            .into_iter()
            .map(|w| w.waiver)
            .collect();
        Ok(snap)
    }

    /// Resolves the policy's waiver teams for `login` into `snap`; a team whose membership
    /// the forge will not tell stays unresolved (the rules then refuse, saying so).
    async fn resolve_teams(
        &self,
        change: &ChangeRef,
        policy: &Policy,
        login: &Login,
        snap: &mut Snapshot,
    ) -> Result<(), ProcessError> {
        for team in &policy.waivers.teams {
            match self.forge.team_member(change, team, login).await {
                Ok(member) => {
                    let members = snap.teams.entry(team.as_str().to_string()).or_default();
                    if member {
                        members.insert(login.clone());
                    }
                }
                Err(e) if e.is_retryable() => return Err(to_process_error(e)),
                Err(e) => {
                    tracing::warn!(team = %team.as_str(), error = %e, "cannot read a team's membership");
                }
            }
        }
        Ok(())
    }

    /// The commenter's permission, when the rules may need it.
    async fn permission(
        &self,
        change: &ChangeRef,
        login: &Login,
    ) -> Result<Option<Permission>, ProcessError> {
        self.forge
            .permission(change, login)
            .await
            .map_err(to_process_error)
    }

    /// Runs `check` against the change; when it is refused and the policy names waiver
    /// teams, resolves the commenter's membership and runs it again (team look-ups cost a
    /// request each, so only when they can change the answer).
    async fn authorise<T>(
        &self,
        change: &ChangeRef,
        policy: &Policy,
        actor: &Actor,
        snap: &mut Snapshot,
        check: impl Fn(&Snapshot) -> Result<T, Refusal>,
    ) -> Result<Result<T, Refusal>, ProcessError> {
        match check(snap) {
            Ok(t) => Ok(Ok(t)),
            Err(r) if policy.waivers.teams.is_empty() => Ok(Err(r)),
            Err(Refusal::OwnChange | Refusal::Bot) => Ok(check(snap)),
            Err(_) => {
                self.resolve_teams(change, policy, &actor.login, snap)
                    .await?;
                Ok(check(snap))
            }
        }
    }

    #[allow(clippy::too_many_arguments, reason = "one command's whole context")]
    async fn run(
        &self,
        change: &ChangeRef,
        comment: &CommentEvent,
        cmd: &Command,
        actor: &Actor,
        claim: CommentClaim,
        lazy: &mut Lazy,
        after: &mut AfterComments,
        now: DateTime<Utc>,
    ) -> Result<(Option<String>, Step), ProcessError> {
        let text = cmd.to_string();
        match cmd {
            Command::Help => {
                let part = match self.policy(change, lazy).await? {
                    PolicyState::Valid(p) => replies::help(p, self.forge.capabilities()),
                    PolicyState::Missing | PolicyState::Invalid => {
                        match parse_policy("defaults", "version: 1\n") {
                            Ok(p) => format!(
                                "{}\n_This repository has no valid sdl-gate policy on its base branch; the table shows the defaults._\n",
                                replies::help(&p, self.forge.capabilities())
                            ),
                            Err(_) => {
                                "This repository has no valid sdl-gate policy on its base branch.\n"
                                    .into()
                            }
                        }
                    }
                };
                Ok((Some(part), Step::Done))
            }
            Command::Explain { topic } => Ok(match crate::practices::explain(topic) {
                Ok(e) => (Some(replies::explain(&e)), Step::Done),
                Err(u) => (Some(replies::unknown_topic(&u)), Step::Refused),
            }),
            Command::Status => {
                after.evaluate = true;
                after.force_comment = true;
                Ok((None, Step::AfterEvaluation))
            }
            Command::Recheck => {
                after.evaluate = true;
                Ok((None, Step::AfterEvaluation))
            }
            Command::Waive { gate, .. } => {
                let policy = match self.valid_policy(change, lazy, &text).await? {
                    Ok(p) => p,
                    Err(reply) => return Ok((Some(reply), Step::Refused)),
                };
                let head = self.head(change, lazy).await?.clone();
                let mut snap = self.auth_snapshot(change, &head).await?;
                let mut actor = actor.clone();
                if policy.waivers.min_permission.is_some() && actor.login != head.author {
                    actor.permission = self.permission(change, &actor.login).await?;
                }
                let granted = self
                    .authorise(change, &policy, &actor, &mut snap, |s| {
                        grant_waiver(&policy, s, &actor, cmd, Some(comment.id), now)
                    })
                    .await?;
                let waiver = match granted {
                    Ok(w) => w,
                    Err(r) => return Ok((Some(replies::refused(&text, &r)), Step::Refused)),
                };
                // A resumed run reuses the waiver the earlier one stored.
                let existing = snap.waivers.iter().find(|w| {
                    w.comment_id == Some(comment.id) && w.gate == *gate && w.revoked.is_none()
                });
                let waiver = match existing {
                    Some(w) if claim == CommentClaim::Resumed => w.clone(),
                    _ => {
                        self.store
                            .insert_waiver(
                                self.forge_name,
                                &change.repository,
                                change.number,
                                &waiver,
                            )
                            .await
                            .map_err(|e| ProcessError::retry_because("storing the waiver", e))?;
                        tracing::info!(
                            repository = %change.repository,
                            number = change.number,
                            gate = %waiver.gate,
                            author = %waiver.author.as_str(),
                            expires_at = %waiver.expires_at,
                            comment = comment.id,
                            "waiver granted"
                        );
                        waiver
                    }
                };
                self.ledger().waiver_granted(change, &waiver, now).await?;
                // The evaluation this asks for reads the waiver back and schedules its expiry.
                after.evaluate = true;
                Ok((Some(replies::waiver_granted(&waiver)), Step::Done))
            }
            Command::Unwaive { gate } => {
                let policy = match self.valid_policy(change, lazy, &text).await? {
                    Ok(p) => p,
                    Err(reply) => return Ok((Some(reply), Step::Refused)),
                };
                let head = self.head(change, lazy).await?.clone();
                let mut snap = self.auth_snapshot(change, &head).await?;
                let mut actor = actor.clone();
                if policy.waivers.min_permission.is_some() && actor.login != head.author {
                    actor.permission = self.permission(change, &actor.login).await?;
                }
                let tag = format!("(comment {})", comment.id);
                let allowed = self
                    .authorise(change, &policy, &actor, &mut snap, |s| {
                        may_unwaive(&policy, s, &actor, *gate, now)
                    })
                    .await?;
                match allowed {
                    Ok(()) => {}
                    // A resumed run whose earlier attempt withdrew it already.
                    Err(Refusal::NothingToUnwaive(_))
                        if claim == CommentClaim::Resumed
                            && snap.waivers.iter().any(|w| {
                                w.gate == *gate
                                    && w.revoked.as_deref().is_some_and(|r| r.contains(&tag))
                            }) =>
                    {
                        for w in snap.waivers.iter().filter(|w| {
                            w.gate == *gate
                                && w.revoked.as_deref().is_some_and(|r| r.contains(&tag))
                        }) {
                            self.ledger()
                                .waiver_revoked(
                                    change,
                                    w,
                                    RevokedBecause::Unwaived,
                                    Some(actor.login.as_str()),
                                    now,
                                )
                                .await?;
                        }
                        after.evaluate = true;
                        return Ok((
                            Some(replies::unwaived(*gate, actor.login.as_str(), 1)),
                            Step::Done,
                        ));
                    }
                    Err(r) => return Ok((Some(replies::refused(&text, &r)), Step::Refused)),
                }
                let reason = format!(
                    "withdrawn by {} with /sdl unwaive {tag}",
                    actor.login.as_str()
                );
                let stored = self
                    .store
                    .waivers(self.forge_name, &change.repository, change.number)
                    .await
                    .map_err(|e| ProcessError::retry_because("reading waivers", e))?;
                let mut count = 0;
                for w in stored.iter().filter(|w| {
                    w.waiver.gate == *gate
                        && w.waiver.revoked.is_none()
                        && w.waiver.expires_at > now
                }) {
                    if self
                        .store
                        .revoke_waiver(w.id, &reason, now)
                        .await
                        .map_err(|e| ProcessError::retry_because("revoking a waiver", e))?
                    {
                        self.ledger()
                            .waiver_revoked(
                                change,
                                &w.waiver,
                                RevokedBecause::Unwaived,
                                Some(actor.login.as_str()),
                                now,
                            )
                            .await?;
                        count += 1;
                    }
                }
                tracing::info!(repository = %change.repository, number = change.number, %gate, by = %actor.login.as_str(), count, "waiver withdrawn");
                after.evaluate = true;
                Ok((
                    Some(replies::unwaived(*gate, actor.login.as_str(), count)),
                    Step::Done,
                ))
            }
            Command::ThreatModel { reference } => {
                let policy = match self.valid_policy(change, lazy, &text).await? {
                    Ok(p) => p,
                    Err(reply) => return Ok((Some(reply), Step::Refused)),
                };
                let head = self.head(change, lazy).await?.clone();
                let mut snap = self.auth_snapshot(change, &head).await?;
                let mut actor = actor.clone();
                if actor.login != head.author {
                    actor.permission = self.permission(change, &actor.login).await?;
                }
                let allowed = self
                    .authorise(change, &policy, &actor, &mut snap, |s| {
                        may_record_threat_model(&policy, s, &actor, reference)
                    })
                    .await?;
                if let Err(r) = allowed {
                    return Ok((Some(replies::refused(&text, &r)), Step::Refused));
                }
                let stored = self
                    .store
                    .threat_model_refs(self.forge_name, &change.repository, change.number)
                    .await
                    .map_err(|e| {
                        ProcessError::retry_because("reading threat-model references", e)
                    })?;
                let again = claim == CommentClaim::Resumed
                    && stored.iter().any(|r| {
                        r.reference.comment_id == Some(comment.id) && r.reference.revoked.is_none()
                    });
                let recorded = ThreatModelRef {
                    reference: reference.clone(),
                    author: actor.login.clone(),
                    created_at: now,
                    sha: head.head_sha.clone(),
                    comment_id: Some(comment.id),
                    revoked: None,
                };
                if !again {
                    self.store
                        .insert_threat_model_ref(
                            self.forge_name,
                            &change.repository,
                            change.number,
                            &recorded,
                        )
                        .await
                        .map_err(|e| {
                            ProcessError::retry_because("storing the threat-model reference", e)
                        })?;
                }
                self.ledger()
                    .threat_model_recorded(change, &recorded, comment.id, now)
                    .await?;
                after.evaluate = true;
                Ok((
                    Some(replies::threat_model_recorded(reference, &head.head_sha)),
                    Step::Done,
                ))
            }
        }
    }

    /// A comment that was edited or deleted: it is never run, but what it granted is revoked.
    async fn changed(
        &self,
        change: &ChangeRef,
        comment: &CommentEvent,
        after: &mut AfterComments,
    ) -> Result<(), ProcessError> {
        let waivers = self
            .store
            .waivers(self.forge_name, &change.repository, change.number)
            .await
            .map_err(|e| ProcessError::retry_because("reading waivers", e))?;
        let refs = self
            .store
            .threat_model_refs(self.forge_name, &change.repository, change.number)
            .await
            .map_err(|e| ProcessError::retry_because("reading threat-model references", e))?;
        let waivers: Vec<_> = waivers
            .into_iter()
            .filter(|w| w.waiver.comment_id == Some(comment.id))
            .collect();
        let refs: Vec<_> = refs
            .into_iter()
            .filter(|r| r.reference.comment_id == Some(comment.id))
            .collect();
        if waivers.is_empty() && refs.is_empty() {
            return Ok(());
        }
        // It carried something: evaluate again even if an earlier run revoked it already.
        after.evaluate = true;
        let action = if comment.action == "deleted" {
            "deleted"
        } else {
            "edited"
        };
        let reason = format!("comment {action}");
        let because = if comment.action == "deleted" {
            RevokedBecause::CommentDeleted
        } else {
            RevokedBecause::CommentEdited
        };
        let now = self.clock.now();
        let mut revoked = Vec::new();
        for w in waivers.iter() {
            let earlier = w.waiver.revoked.as_deref() == Some(reason.as_str());
            if !earlier && w.waiver.revoked.is_some() {
                continue;
            }
            let now_revoked = !earlier
                && self
                    .store
                    .revoke_waiver(w.id, &reason, now)
                    .await
                    .map_err(|e| ProcessError::retry_because("revoking a waiver", e))?;
            if earlier || now_revoked {
                // An earlier run that revoked it may have stopped before the ledger heard.
                self.ledger()
                    .waiver_revoked(change, &w.waiver, because, Some(&comment.author), now)
                    .await?;
            }
            if now_revoked {
                revoked.push(format!(
                    "the waiver of `{}` by {}",
                    w.waiver.gate,
                    w.waiver.author.as_str()
                ));
            }
        }
        for r in refs.iter().filter(|r| r.reference.revoked.is_none()) {
            if self
                .store
                .revoke_threat_model_ref(r.id, &reason, now)
                .await
                .map_err(|e| ProcessError::retry_because("revoking a threat-model reference", e))?
            {
                revoked.push(format!(
                    "the threat-model reference {}",
                    r.reference.reference
                ));
            }
        }
        if revoked.is_empty() {
            return Ok(());
        }
        tracing::warn!(
            repository = %change.repository,
            number = change.number,
            comment = comment.id,
            action,
            editor = %comment.author,
            revoked = %revoked.join("; "),
            "a comment that granted a waiver was {action}: revoked (tamper rule)"
        );
        match self
            .forge
            .reply(
                change,
                &replies::revoked_by_change(comment.id, action, &revoked),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_retryable() => Err(to_process_error(e)),
            Err(e) => {
                tracing::warn!(comment = comment.id, error = %e, "could not reply about a revocation");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail: Value) -> JobEvent {
        JobEvent {
            seq: 1,
            delivery_pk: 1,
            delivery_id: "d".into(),
            event: "issue_comment".into(),
            action: Some("created".into()),
            detail: Some(detail),
            received_at: Utc::now(),
        }
    }

    #[test]
    fn comment_detail_is_read_with_the_event_action_as_fallback() {
        let c = comment_of(&event(serde_json::json!({
            "comment_id": 5, "author": "carol", "body": "/sdl help"
        })))
        .unwrap_or_else(|| panic!("a comment"));
        assert_eq!(
            (c.id, c.author.as_str(), c.body.as_str(), c.action.as_str()),
            (5, "carol", "/sdl help", "created")
        );
        assert!(comment_of(&event(serde_json::json!({"author": "x"}))).is_none());
    }

    #[test]
    fn gitlab_notes_read_as_comments_and_system_notes_do_not() {
        let mut ev = event(serde_json::json!({
            "note_id": 9, "author": "carol", "body": "/sdl recheck", "system": false
        }));
        ev.event = "Note Hook".into();
        ev.action = None;
        let c = comment_of(&ev).unwrap_or_else(|| panic!("a note"));
        assert_eq!((c.id, c.action.as_str(), c.bot), (9, "created", None));
        ev.detail = Some(serde_json::json!({
            "note_id": 9, "author": "carol", "body": "x", "action": "update"
        }));
        assert_eq!(comment_of(&ev).map(|c| c.action), Some("edited".to_owned()));
        ev.detail = Some(serde_json::json!({
            "note_id": 10, "author": "carol", "body": "merged", "system": true
        }));
        assert!(
            comment_of(&ev).is_none(),
            "a system note is nobody's command"
        );
    }
}
