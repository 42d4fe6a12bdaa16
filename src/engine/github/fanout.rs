//! Jobs that are not one pull request, turned into pull request jobs: a commit (`status`
//! events name only the sha), a repository (a push to the default branch may have changed
//! the policy; a code-scanning alert was dismissed or reopened by hand, which holds for every
//! pull request; reconciliation of one repository) and an installation (bookkeeping; a new
//! installation or newly added repositories are reconciled).
//!
//! Fan-out **enqueues** the pull requests through [`Store::enqueue_internal`] rather than
//! evaluating them inline: the queue runs at most one job per pull request at a time, and an
//! inline evaluation under the commit's or repository's key could race the pull request's
//! own job and create a second check run or comment. The price is one queue hop (a poll
//! interval at most), and every fan-out is in the audit trail as an `sdl-gate.*` delivery.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::events::github::{FANOUT_INPUTS, fanout_inputs};
use crate::events::{Target, WorkItem, WorkKey};
use crate::forge::github::{GithubForge, OpenPull};
use crate::forge::{ChangeRef, ForgeError};
use crate::forge_name::ForgeName;
use crate::queue::{Job, ProcessError};
use crate::snapshot::Sha;
use crate::store::{InternalWork, Store, StoreError};

use super::GithubProcessor;
use crate::engine::{raw_delivery, to_process_error};

/// Event name of a pull request job caused by a `status` event on its head commit.
pub const STATUS_EVENT: &str = "sdl-gate.status";
/// Event name of a pull request job caused by a Re-run that named only the head commit (a
/// fork's pull request).
pub const RERUN_EVENT: &str = "sdl-gate.rerun";
/// Event name of a pull request job caused by a policy change on the default branch.
pub const POLICY_EVENT: &str = "sdl-gate.policy-changed";
/// Event name of a pull request job caused by a code-scanning alert dismissed or reopened by
/// hand (`code_scanning_alert` closed_by_user / reopened_by_user).
pub const ALERT_EVENT: &str = "sdl-gate.code-scanning-alert";
/// Event name of reconciliation work (a repository to sweep, or a pull request whose head
/// has no completed `sdl-gate` run).
pub const RECONCILE_EVENT: &str = "sdl-gate.reconcile";

/// Bounds and timing of fan-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutSettings {
    /// How long fanned-out jobs wait before they are due (the causing event was debounced
    /// already, so the default is none).
    pub debounce: Duration,
    /// At most this many open pull requests of one repository are re-evaluated per policy
    /// change or reconciliation (`SDL_GATE_FANOUT_MAX_PULLS`); the rest are logged as cut.
    pub max_pulls: usize,
    /// At most this many repositories of one installation event are reconciled.
    pub max_repositories: usize,
}

/// Default of [`FanoutSettings::max_pulls`].
pub const DEFAULT_MAX_PULLS: usize = 500;

impl Default for FanoutSettings {
    fn default() -> Self {
        FanoutSettings {
            debounce: Duration::ZERO,
            max_pulls: DEFAULT_MAX_PULLS,
            max_repositories: 1_000,
        }
    }
}

/// The installation payload internal work carries, so that
/// `GithubProcessor::installation` finds it like in a webhook.
pub fn installation_payload(installation: u64, why: Value) -> Value {
    json!({ "installation": { "id": installation }, "sdl_gate": why })
}

/// Enqueues pull request jobs of `repository` as one internal delivery named `event`.
pub async fn enqueue_pulls(
    store: &Store,
    repository: &str,
    installation: u64,
    numbers: &[u64],
    event: &'static str,
    why: Value,
    debounce: Duration,
) -> Result<(), StoreError> {
    enqueue_pulls_with(
        store,
        repository,
        installation,
        numbers,
        event,
        why,
        None,
        debounce,
    )
    .await
}

/// [`enqueue_pulls`] with `detail` on each pull request's event (a re-run's
/// [`crate::events::RERUN_KEY`]).
#[expect(clippy::too_many_arguments, reason = "enqueue_pulls plus the detail")]
pub async fn enqueue_pulls_with(
    store: &Store,
    repository: &str,
    installation: u64,
    numbers: &[u64],
    event: &'static str,
    why: Value,
    detail: Option<Value>,
    debounce: Duration,
) -> Result<(), StoreError> {
    if numbers.is_empty() {
        return Ok(());
    }
    let items = numbers
        .iter()
        .map(|n| WorkItem {
            key: WorkKey {
                forge: ForgeName::GitHub,
                repository: repository.to_owned(),
                target: Target::Change(*n),
            },
            detail: detail.clone(),
        })
        .collect();
    store
        .enqueue_internal(
            InternalWork {
                forge: ForgeName::GitHub,
                event,
                payload: installation_payload(installation, why),
                items,
            },
            debounce,
        )
        .await
        .map(|_| ())
}

/// Enqueues the reconciliation of `repositories` (repository jobs) for `installation`.
pub async fn enqueue_repositories(
    store: &Store,
    installation: u64,
    repositories: &[String],
    why: Value,
    debounce: Duration,
) -> Result<(), StoreError> {
    if repositories.is_empty() {
        return Ok(());
    }
    let items = repositories
        .iter()
        .map(|r| WorkItem {
            key: WorkKey {
                forge: ForgeName::GitHub,
                repository: r.clone(),
                target: Target::Repository,
            },
            detail: None,
        })
        .collect();
    store
        .enqueue_internal(
            InternalWork {
                forge: ForgeName::GitHub,
                event: RECONCILE_EVENT,
                payload: installation_payload(installation, why),
                items,
            },
            debounce,
        )
        .await
        .map(|_| ())
}

/// Whether the open pull request `pull` still needs an evaluation: its head has neither a
/// stored evaluation here nor a completed `sdl-gate` check run on GitHub (the store is
/// asked first, so a healthy repository costs no request per pull request).
pub async fn needs_evaluation(
    forge: &GithubForge,
    store: &Store,
    installation: u64,
    repository: &str,
    pull: &OpenPull,
) -> Result<bool, ForgeError> {
    match store
        .evaluations(ForgeName::GitHub, repository, pull.number, 1)
        .await
    {
        Ok(evals) if evals.first().is_some_and(|e| e.head_sha == pull.head_sha) => {
            return Ok(false);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(
            repository,
            number = pull.number,
            error = %e,
            "reading stored evaluations failed; asking GitHub"
        ),
    }
    Ok(!forge
        .has_completed_run(installation, repository, &pull.head_sha)
        .await?)
}

impl GithubProcessor {
    /// What each of a job's events says for the fan-out, oldest first: the typed detail the
    /// events layer wrote ([`fanout_inputs`]), or, for an event stored before the detail
    /// carried it, the same read from its raw delivery.
    async fn inputs(
        &self,
        job: &Job,
    ) -> Result<Vec<(String, Option<String>, Value)>, ProcessError> {
        let mut out = Vec::with_capacity(job.events.len());
        for event in &job.events {
            let typed = event
                .detail
                .as_ref()
                .filter(|d| d.get(FANOUT_INPUTS).is_some())
                .cloned();
            let inputs = match typed {
                Some(d) => d,
                None => fanout_inputs(&event.event, &raw_delivery(&self.store, event).await?),
            };
            out.push((event.event.clone(), event.action.clone(), inputs));
        }
        Ok(out)
    }

    /// A `status` event's commit (or a Re-run's, for a fork's pull request) → the open pull
    /// requests it heads, enqueued.
    pub(super) async fn commit_job(&self, job: &Job, sha: &str) -> Result<(), ProcessError> {
        let repository = &job.key.repository;
        let Some(installation) = self.installation(job).await? else {
            return Err(ProcessError::permanent(format!(
                "{}: no GitHub App installation id in its deliveries",
                job.key
            )));
        };
        let sha = Sha::new(sha);
        let pulls = match self
            .forge
            .open_pulls_with_head(installation, repository, &sha)
            .await
        {
            Ok(p) => p,
            Err(ForgeError::NotFound { what }) => {
                tracing::info!(job = %job.key, %what, "repository or commit gone; job ends");
                return Ok(());
            }
            Err(e) => return Err(to_process_error(e)),
        };
        let numbers: Vec<u64> = pulls.iter().map(|p| p.number).collect();
        // A Re-run of a fork's pull request names only its head: the re-run goes along.
        let rerun = job
            .events
            .iter()
            .any(|e| crate::events::is_rerun(e.detail.as_ref()));
        let (event, detail) = if rerun {
            (RERUN_EVENT, Some(json!({ crate::events::RERUN_KEY: true })))
        } else {
            (STATUS_EVENT, None)
        };
        tracing::info!(job = %job.key, pulls = ?numbers, rerun, "commit: re-evaluating the pull requests it heads");
        enqueue_pulls_with(
            &self.store,
            repository,
            installation,
            &numbers,
            event,
            json!({ "sha": sha.as_str() }),
            detail,
            self.fanout.debounce,
        )
        .await
        .map_err(|e| ProcessError::retry_because("enqueueing pull requests", e))
    }

    /// Whether the policy on `branch` (the default branch) judges code-scanning alerts;
    /// `true` when that cannot be told (no branch named, a policy that does not parse), since
    /// a missed re-evaluation could leave a reopened alert unjudged.
    async fn reads_code_scanning(
        &self,
        installation: u64,
        repository: &str,
        branch: Option<&str>,
    ) -> Result<bool, ProcessError> {
        let Some(branch) = branch else {
            return Ok(true);
        };
        let change = ChangeRef::new(repository, 0, Some(installation));
        // Under the organisation's floor, which may turn code scanning on.
        match crate::engine::org_policy::effective_policy(&self.forge, &change, branch).await {
            Ok(crate::engine::org_policy::Effective::Missing) => Ok(false),
            Ok(crate::engine::org_policy::Effective::Ready(e)) => {
                Ok(e.policy.gates.sast.code_scanning)
            }
            Ok(crate::engine::org_policy::Effective::Broken(_)) => Ok(true),
            Err(e) => Err(to_process_error(e)),
        }
    }

    /// Records the default branch's policy as a push that may have changed it left it (the
    /// evidence ledger's `policy_changed`, when it did change).
    async fn record_policy(
        &self,
        job: &Job,
        installation: u64,
        push: &Value,
    ) -> Result<(), ProcessError> {
        let (Some(commit), Some(branch)) = (
            push.get("after").and_then(Value::as_str),
            push.get("branch").and_then(Value::as_str),
        ) else {
            return Ok(()); // stored before pushes carried them
        };
        let push = crate::events::PolicyPush {
            branch: branch.to_owned(),
            commit: commit.to_owned(),
            by: push
                .get("pusher")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        let ledger = super::super::record::LedgerRecorder {
            store: &self.store,
            forge: ForgeName::GitHub,
        };
        let recorded = super::super::record::record_policy(
            &self.forge,
            &ledger,
            &job.key.repository,
            Some(installation),
            &push,
            self.clock.now(),
        )
        .await?;
        if recorded {
            tracing::info!(job = %job.key, commit, "policy change recorded in the ledger");
        }
        Ok(())
    }

    /// A push to the default branch (re-evaluate every open pull request when the policy
    /// may have changed), a code-scanning alert dismissed or reopened by hand (re-evaluate
    /// every open pull request when the default branch's policy reads code scanning) or a
    /// reconciliation of the repository (enqueue the open pull requests whose head has no
    /// completed run).
    pub(super) async fn repository_job(&self, job: &Job) -> Result<(), ProcessError> {
        let repository = &job.key.repository;
        let mut policy_changed = false;
        let mut alerts_changed = false;
        let mut default_branch = None;
        let mut reconcile = false;
        let mut installation = None;
        let mut pushed = Vec::new();
        for (event, _action, inputs) in self.inputs(job).await? {
            if let Some(id) = inputs.get("installation").and_then(Value::as_u64) {
                installation = Some(id);
            }
            if inputs.get(crate::events::RELEASE_KEY).is_some() {
                continue; // recorded in the ledger by the processor
            }
            match event.as_str() {
                "push" => {
                    // Unknown counts as touched: a missed policy change costs correctness.
                    let touched = inputs
                        .get("touches_policy")
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                    policy_changed |= touched;
                    if touched {
                        pushed.push(inputs.clone());
                    }
                }
                "code_scanning_alert" => {
                    alerts_changed = true;
                    default_branch = inputs
                        .get("default_branch")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                }
                RECONCILE_EVENT => reconcile = true,
                other => {
                    tracing::warn!(job = %job.key, event = other, "unexpected event on a repository job")
                }
            }
        }
        if !policy_changed && !alerts_changed && !reconcile {
            tracing::info!(job = %job.key, "push to the default branch left the policy alone; nothing to re-evaluate");
            return Ok(());
        }
        let Some(installation) = installation else {
            return Err(ProcessError::permanent(format!(
                "{}: no GitHub App installation id in its deliveries",
                job.key
            )));
        };
        for push in &pushed {
            self.record_policy(job, installation, push).await?;
        }
        // A policy change re-evaluates every pull request anyway; otherwise a hand-made alert
        // change does only where the policy reads code scanning.
        let alerts_matter = alerts_changed
            && !policy_changed
            && self
                .reads_code_scanning(installation, repository, default_branch.as_deref())
                .await?;
        if alerts_changed && !policy_changed && !alerts_matter {
            tracing::info!(job = %job.key, "a code-scanning alert changed, but the default branch's policy does not read code scanning");
            if !reconcile {
                return Ok(());
            }
        }
        let max = self.fanout.max_pulls;
        let listing = match self.forge.open_pulls(installation, repository, max).await {
            Ok(l) => l,
            Err(ForgeError::NotFound { what }) => {
                tracing::info!(job = %job.key, %what, "repository gone; job ends");
                return Ok(());
            }
            Err(e) => return Err(to_process_error(e)),
        };
        if listing.truncated {
            tracing::warn!(
                job = %job.key,
                max,
                "more than {max} open pull requests: only the {max} newest are re-evaluated (SDL_GATE_FANOUT_MAX_PULLS)"
            );
        }
        let (numbers, event) = if policy_changed || alerts_matter {
            (
                listing.pulls.iter().map(|p| p.number).collect::<Vec<_>>(),
                if policy_changed {
                    POLICY_EVENT
                } else {
                    ALERT_EVENT
                },
            )
        } else {
            let mut due = Vec::new();
            for pull in &listing.pulls {
                match needs_evaluation(&self.forge, &self.store, installation, repository, pull)
                    .await
                {
                    Ok(true) => due.push(pull.number),
                    Ok(false) => {}
                    Err(e) => {
                        // Enqueue what was found so far; the rest comes on the retry.
                        let _ = enqueue_pulls(
                            &self.store,
                            repository,
                            installation,
                            &due,
                            RECONCILE_EVENT,
                            json!({ "repository": repository }),
                            self.fanout.debounce,
                        )
                        .await;
                        return Err(to_process_error(e));
                    }
                }
            }
            (due, RECONCILE_EVENT)
        };
        tracing::info!(job = %job.key, event, pulls = ?numbers, "enqueueing pull requests");
        enqueue_pulls(
            &self.store,
            repository,
            installation,
            &numbers,
            event,
            json!({ "repository": repository, "policy_changed": policy_changed, "alerts_changed": alerts_matter }),
            self.fanout.debounce,
        )
        .await
        .map_err(|e| ProcessError::retry_because("enqueueing pull requests", e))
    }

    /// Installation bookkeeping: logged; a new installation, an unsuspended one or added
    /// repositories are reconciled (their open pull requests were never evaluated).
    pub(super) async fn installation_job(
        &self,
        job: &Job,
        installation: u64,
    ) -> Result<(), ProcessError> {
        let mut repositories: BTreeSet<String> = BTreeSet::new();
        let mut list_all = false;
        for (event, action, inputs) in self.inputs(job).await? {
            let action = action.as_deref().unwrap_or("");
            tracing::info!(installation, event, action, "installation event");
            let names = inputs
                .get("repositories")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                });
            match (event.as_str(), action) {
                ("installation", "created" | "unsuspend" | "new_permissions_accepted") => {
                    match names {
                        Some(names) if !names.is_empty() => repositories.extend(names),
                        _ => list_all = true,
                    }
                }
                ("installation_repositories", "added") => {
                    repositories.extend(names.unwrap_or_default());
                }
                _ => {}
            }
        }
        if list_all {
            match self.forge.installation_repositories(installation).await {
                Ok(names) => repositories.extend(names),
                Err(ForgeError::NotFound { what } | ForgeError::Unauthorized { what }) => {
                    tracing::info!(installation, %what, "installation gone; nothing to reconcile");
                    return Ok(());
                }
                Err(e) => return Err(to_process_error(e)),
            }
        }
        let mut repositories: Vec<String> = repositories.into_iter().collect();
        let max = self.fanout.max_repositories;
        if repositories.len() > max {
            tracing::warn!(
                installation,
                cut = repositories.len() - max,
                "only the first {max} repositories are reconciled now; the periodic reconciliation covers the rest"
            );
            repositories.truncate(max);
        }
        if !repositories.is_empty() {
            tracing::info!(installation, repositories = ?repositories, "reconciling the installation's repositories");
        }
        enqueue_repositories(
            &self.store,
            installation,
            &repositories,
            json!({ "installation_event": true }),
            self.fanout.debounce,
        )
        .await
        .map_err(|e| ProcessError::retry_because("enqueueing repositories", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::github::{PUSH_COMMITS_SHOWN, push_touches_policy, repository_names};

    #[test]
    fn push_touching_the_policy_or_unknown_is_yes() {
        let p = |commits: Value| json!({ "ref": "refs/heads/main", "commits": commits });
        assert!(!push_touches_policy(&p(json!([
            {"added": [], "modified": ["src/lib.rs"], "removed": []}
        ]))));
        assert!(push_touches_policy(&p(json!([
            {"added": [], "modified": ["src/lib.rs"], "removed": []},
            {"added": [], "modified": [".github/sdl-gate.yml"], "removed": []}
        ]))));
        assert!(push_touches_policy(&p(json!([
            {"added": [], "modified": [], "removed": [".sdl-gate.yml"]}
        ]))));
        // Unknown: no file lists, no commit list, an empty list, a force push, a long list.
        assert!(push_touches_policy(&p(json!([{"id": "abc"}]))));
        assert!(push_touches_policy(&json!({ "ref": "refs/heads/main" })));
        assert!(push_touches_policy(&p(json!([]))));
        let mut forced = p(json!([{"added": [], "modified": ["a"], "removed": []}]));
        forced["forced"] = json!(true);
        assert!(push_touches_policy(&forced));
        let many: Vec<Value> = (0..PUSH_COMMITS_SHOWN)
            .map(|_| json!({"added": [], "modified": ["a"], "removed": []}))
            .collect();
        assert!(push_touches_policy(&p(Value::Array(many))));
    }

    #[test]
    fn recorded_push_fixtures_are_read() {
        let dir = format!(
            "{}/../shared/fixtures/github-webhooks/octokit-webhooks/push",
            env!("CARGO_MANIFEST_DIR")
        );
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipped: fixtures {dir} are absent");
            return;
        };
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            // None of the recorded pushes edits a policy file; those with full commit lists
            // must say so.
            let listed = v["commits"]
                .as_array()
                .is_some_and(|c| !c.is_empty() && c.iter().all(|c| c["modified"].is_array()));
            if listed
                && !v["forced"].as_bool().unwrap_or(false)
                && !v["created"].as_bool().unwrap_or(false)
            {
                assert!(!push_touches_policy(&v), "{}", entry.path().display());
            }
        }
    }

    #[test]
    fn added_repositories_are_named() {
        let v = json!({"repositories_added": [{"full_name": "o/a"}, {"full_name": "o/b"}]});
        assert_eq!(
            repository_names(&v, "repositories_added"),
            Some(vec!["o/a".to_owned(), "o/b".to_owned()])
        );
        assert_eq!(repository_names(&v, "repositories"), None);
    }
}
