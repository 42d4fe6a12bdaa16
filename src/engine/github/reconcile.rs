//! Reconciliation: GitHub does not redeliver failed webhooks, so on start-up and every
//! `SDL_GATE_RECONCILE_INTERVAL` minutes the service lists the App's installations, their
//! repositories and open pull requests, and enqueues each pull request whose head commit has
//! no completed `sdl-gate` check run (nor a stored evaluation here).
//!
//! A sweep is bounded: at most `max_pulls` pull requests are looked at, and a sweep cut by
//! that bound or by a rate limit remembers where it stopped; the next sweep starts there, so
//! every repository is reached in turn. A rate limit also delays the next sweep until the
//! limit resets. Work goes through [`Store::enqueue_internal`] as `sdl-gate.reconcile`
//! deliveries, like every fan-out.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::forge::ForgeError;
use crate::forge::github::GithubForge;
use crate::store::Store;

use super::fanout::{RECONCILE_EVENT, enqueue_pulls, needs_evaluation};

/// How often and how much to reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// Time between sweeps; zero turns the periodic sweep off.
    pub interval: Duration,
    /// At most this many open pull requests are looked at per sweep.
    pub max_pulls: usize,
    /// Debounce of the enqueued pull request jobs.
    pub debounce: Duration,
}

/// Default interval: 15 minutes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);

impl Default for ReconcileSettings {
    fn default() -> Self {
        ReconcileSettings {
            interval: DEFAULT_INTERVAL,
            max_pulls: 500,
            debounce: Duration::ZERO,
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Installations listed (suspended ones included).
    pub installations: usize,
    /// Repositories visited.
    pub repositories: usize,
    /// Open pull requests looked at.
    pub pulls_checked: usize,
    /// Pull requests enqueued, as `owner/name#n`.
    pub enqueued: Vec<String>,
    /// Whether the `max_pulls` bound cut the sweep (the next one continues).
    pub cut: bool,
    /// Why the sweep stopped early (a rate limit, GitHub unreachable), when it did.
    pub stopped: Option<String>,
}

/// Where an unfinished sweep stopped: (installation, repository, continue with the pull
/// requests numbered below this one).
type Cursor = (u64, String, Option<u64>);

/// Open pull requests listed per repository at most (listing is cheap: one request per
/// 100; the per-pull-request checks are what `max_pulls` bounds).
const LIST_MAX: usize = 5_000;

/// The reconciler: one per process (replicas each sweep; the queue coalesces duplicates).
#[derive(Debug)]
pub struct Reconciler {
    forge: Arc<GithubForge>,
    store: Store,
    settings: ReconcileSettings,
    cursor: Mutex<Option<Cursor>>,
    not_before: Mutex<Option<tokio::time::Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A running periodic reconciliation; [`ReconcileTask::stop`] ends it.
#[derive(Debug)]
pub struct ReconcileTask {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ReconcileTask {
    /// Stops the loop (an ongoing sweep is abandoned; what it enqueued stays enqueued).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl Reconciler {
    /// A reconciler reading GitHub through `forge` and enqueueing into `store`.
    pub fn new(forge: Arc<GithubForge>, store: Store, settings: ReconcileSettings) -> Self {
        Reconciler {
            forge,
            store,
            settings,
            cursor: Mutex::new(None),
            not_before: Mutex::new(None),
        }
    }

    /// One sweep over every installation, repository and open pull request, within the
    /// bounds. Never fails: what stopped it is in the report (and logged).
    pub async fn sweep(&self) -> SweepReport {
        let mut report = SweepReport::default();
        let installations = match self.forge.installations().await {
            Ok(i) => i,
            Err(e) => {
                self.stop_on(&mut report, None, e);
                return report;
            }
        };
        report.installations = installations.len();
        let mut targets: Vec<(u64, String)> = Vec::new();
        for inst in installations.iter().filter(|i| !i.suspended) {
            match self.forge.installation_repositories(inst.id).await {
                Ok(repos) => targets.extend(repos.into_iter().map(|r| (inst.id, r))),
                Err(e @ ForgeError::RateLimited { .. }) => {
                    self.stop_on(&mut report, None, e);
                    return report;
                }
                Err(e) => tracing::warn!(
                    installation = inst.id,
                    account = %inst.account,
                    error = %e,
                    "reconciliation: cannot list the installation's repositories; skipped"
                ),
            }
        }
        // Start where the last unfinished sweep stopped.
        let cursor = lock(&self.cursor).take();
        let mut below = None;
        if let Some((inst, repo, b)) = cursor
            && let Some(start) = targets.iter().position(|t| t.0 == inst && t.1 == repo)
        {
            targets.rotate_left(start);
            below = b;
        }

        for (installation, repository) in targets {
            report.repositories += 1;
            let budget = self.settings.max_pulls.saturating_sub(report.pulls_checked);
            if budget == 0 {
                report.cut = true;
                *lock(&self.cursor) = Some((installation, repository, None));
                break;
            }
            match self
                .repository(installation, &repository, budget, below.take(), &mut report)
                .await
            {
                Ok(None) => {}
                Ok(Some(last)) => {
                    report.cut = true;
                    *lock(&self.cursor) = Some((installation, repository, Some(last)));
                    break;
                }
                Err(e @ (ForgeError::RateLimited { .. } | ForgeError::Transient { .. })) => {
                    self.stop_on(&mut report, Some((installation, repository, None)), e);
                    break;
                }
                Err(e) => tracing::warn!(
                    installation,
                    %repository,
                    error = %e,
                    "reconciliation: repository skipped"
                ),
            }
        }
        if report.cut {
            tracing::warn!(
                max_pulls = self.settings.max_pulls,
                "reconciliation looked at {} pull requests, its bound; the next sweep continues from there",
                report.pulls_checked
            );
        }
        tracing::info!(
            installations = report.installations,
            repositories = report.repositories,
            pulls_checked = report.pulls_checked,
            enqueued = report.enqueued.len(),
            cut = report.cut,
            stopped = report.stopped.as_deref().unwrap_or(""),
            "reconciliation sweep done"
        );
        report
    }

    /// Reconciles the open pull requests of one repository (those numbered below `below`,
    /// when given), newest first; `Ok(Some(n))` when the budget ran out after pull request
    /// `n`.
    async fn repository(
        &self,
        installation: u64,
        repository: &str,
        budget: usize,
        below: Option<u64>,
        report: &mut SweepReport,
    ) -> Result<Option<u64>, ForgeError> {
        let listing = self
            .forge
            .open_pulls(installation, repository, LIST_MAX)
            .await?;
        if listing.truncated {
            tracing::warn!(
                %repository,
                "more than {LIST_MAX} open pull requests: reconciliation covers the newest {LIST_MAX}"
            );
        }
        let mut due = Vec::new();
        let mut result = Ok(None);
        let candidates = listing
            .pulls
            .iter()
            .filter(|p| below.is_none_or(|b| p.number < b));
        for (checked, pull) in candidates.enumerate() {
            if checked == budget {
                result = Ok(Some(pull.number + 1));
                break;
            }
            report.pulls_checked += 1;
            match needs_evaluation(&self.forge, &self.store, installation, repository, pull).await {
                Ok(true) => due.push(pull.number),
                Ok(false) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // What was found is enqueued even when the repository was not finished.
        if let Err(e) = enqueue_pulls(
            &self.store,
            repository,
            installation,
            &due,
            RECONCILE_EVENT,
            json!({ "sweep": true }),
            self.settings.debounce,
        )
        .await
        {
            tracing::error!(%repository, error = %e, "reconciliation: enqueueing failed");
            return Err(ForgeError::Transient {
                what: format!("enqueueing: {e}"),
            });
        }
        report
            .enqueued
            .extend(due.iter().map(|n| format!("{repository}#{n}")));
        result
    }

    fn stop_on(&self, report: &mut SweepReport, at: Option<Cursor>, e: ForgeError) {
        if let ForgeError::RateLimited { retry_after } = &e {
            *lock(&self.not_before) = Some(tokio::time::Instant::now() + *retry_after);
        }
        if at.is_some() {
            *lock(&self.cursor) = at;
        }
        tracing::warn!(error = %e, "reconciliation sweep stopped; the next sweep continues");
        report.stopped = Some(e.to_string());
    }

    /// Sweeps now and then every `interval` (a rate limit pushes the next sweep to its
    /// reset), until stopped. With a zero interval only the start-up sweep runs.
    pub fn spawn(self: Arc<Self>) -> ReconcileTask {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = self.sweep() => {}
                    _ = stopped.changed() => return,
                }
                if self.settings.interval.is_zero() {
                    return;
                }
                let mut next = tokio::time::Instant::now() + self.settings.interval;
                if let Some(reset) = lock(&self.not_before).take() {
                    next = next.max(reset);
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = stopped.changed() => return,
                }
            }
        });
        ReconcileTask { stop, task }
    }
}
