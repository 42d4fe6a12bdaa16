//! The worker pool: each worker claims a due job with a lease, keeps the lease alive while the
//! processor runs, and records the outcome (done, run again, retry with backoff, parked).
//!
//! Shutdown is two-staged: first workers stop claiming and in-flight jobs get `grace` to
//! finish; then the remaining runs are abandoned and their jobs released (due immediately,
//! attempt not counted) so another replica — or this one after a restart — picks them up.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::settings::QueueSettings;
use crate::store::{Completion, Store, StoreError};

use super::{Job, ProcessError, Processor, backoff_delay};

/// A lease renewal in flight (see [`Worker::run_job`]).
type Renewal<'a> = Pin<Box<dyn Future<Output = Result<bool, StoreError>> + Send + 'a>>;

/// Running workers; [`WorkerPool::shutdown`] stops them.
#[derive(Debug)]
pub struct WorkerPool {
    tasks: JoinSet<()>,
    stop_claiming: watch::Sender<bool>,
    abandon: watch::Sender<bool>,
}

/// Starts `count` workers for `processor`. `wake` is notified by ingestion when new work is
/// stored, so idle workers do not wait for their poll interval; `owner` names this process in
/// leases (e.g. host name + pid).
pub fn spawn_workers<P: Processor>(
    store: Store,
    processor: Arc<P>,
    settings: QueueSettings,
    count: usize,
    wake: Arc<Notify>,
    owner: &str,
) -> WorkerPool {
    let (stop_claiming, stop_rx) = watch::channel(false);
    let (abandon, abandon_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let worker = Worker {
            store: store.clone(),
            processor: Arc::clone(&processor),
            settings: settings.clone(),
            wake: Arc::clone(&wake),
            owner: format!("{owner}/{i}"),
            stop: stop_rx.clone(),
            abandon: abandon_rx.clone(),
        };
        tasks.spawn(worker.run());
    }
    WorkerPool {
        tasks,
        stop_claiming,
        abandon,
    }
}

impl WorkerPool {
    /// Stops claiming, lets in-flight jobs finish for up to `grace`, then releases the rest.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.stop_claiming.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(
                        workers = self.tasks.len(),
                        "shutdown grace over: releasing in-flight jobs"
                    );
                    let _ = self.abandon.send(true);
                    while self.tasks.join_next().await.is_some() {}
                }
            }
        }
    }
}

struct Worker<P> {
    store: Store,
    processor: Arc<P>,
    settings: QueueSettings,
    wake: Arc<Notify>,
    owner: String,
    stop: watch::Receiver<bool>,
    abandon: watch::Receiver<bool>,
}

impl<P: Processor> Worker<P> {
    async fn run(mut self) {
        let poll = self.settings.poll_interval;
        let mut last_claim: Option<Instant> = None;
        while !*self.stop.borrow() {
            // Register interest before looking, so a wake-up between the look and the wait is
            // not lost.
            let wake = Arc::clone(&self.wake);
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Looking is a read; claiming is a write. Claim only when a pending job is due, or
            // once per poll interval (to find leases that expired elsewhere), so a stream of
            // deliveries waking the workers does not turn into a stream of writes.
            let due = match self.store.next_due().await {
                Ok(due) => due,
                Err(err) => {
                    tracing::error!(error = %err, "reading the queue failed");
                    None
                }
            };
            let due_now = due.is_some_and(|d| d <= chrono::Utc::now());
            if due_now || last_claim.is_none_or(|t| t.elapsed() >= poll) {
                last_claim = Some(Instant::now());
                match self.store.claim(&self.owner, self.settings.lease).await {
                    Ok(Some(job)) => {
                        self.run_job(job).await;
                        continue;
                    }
                    Ok(None) => {}
                    Err(err) => tracing::error!(error = %err, "claiming a job failed"),
                }
            }
            let until_poll =
                poll.saturating_sub(last_claim.map_or(Duration::ZERO, |t| t.elapsed()));
            let until_due =
                due.map(|d| (d - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO));
            let sleep = until_due
                .map_or(until_poll, |d| d.min(until_poll))
                .max(Duration::from_millis(1));
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(sleep) => {}
                _ = self.stop.changed() => {}
            }
        }
    }

    async fn run_job(&mut self, job: Job) {
        let started = Instant::now();
        if job.attempt > self.settings.max_attempts {
            // Claimed again after its lease expired more often than it may be attempted: a job
            // that keeps killing its worker. Park it instead of crashing the fleet.
            let reason = format!(
                "lease expired {} times without a result (worker crashed or hung)",
                job.attempt - 1
            );
            self.record_failure(&job, &reason, true, Duration::ZERO)
                .await;
            return;
        }
        tracing::debug!(job = %job.key, attempt = job.attempt, events = job.events.len(), "running job");
        let outcome = {
            let process = self.processor.process(&job);
            tokio::pin!(process);
            let renew_every = (self.settings.lease / 3).max(Duration::from_millis(100));
            let mut renew =
                tokio::time::interval_at(tokio::time::Instant::now() + renew_every, renew_every);
            // After a slow renewal, renew once, not once per missed tick.
            renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The renewal in flight is a branch of its own, polled beside the job, never awaited
            // in a branch's body: the job may hold (or be first in line for) a connection the
            // renewal needs — SQLite has one writer — and a job that is not polled never gives
            // it back, so awaiting the renewal there stalled both until the pool timed out,
            // again on every tick.
            let mut renewal: Option<Renewal<'_>> = None;
            loop {
                tokio::select! {
                    result = &mut process => break Some(result),
                    _ = renew.tick(), if renewal.is_none() => {
                        renewal = Some(Box::pin(self.store.renew_lease(&job, self.settings.lease)));
                    }
                    renewed = async {
                        match renewal.as_mut() {
                            Some(r) => r.await,
                            None => std::future::pending().await,
                        }
                    }, if renewal.is_some() => {
                        renewal = None;
                        match renewed {
                            Ok(true) => {}
                            Ok(false) => {
                                tracing::warn!(job = %job.key, "lease lost while running; abandoning this run");
                                metrics::counter!("sdl_gate_job_attempts_total", "outcome" => "lost_lease").increment(1);
                                return;
                            }
                            Err(err) => tracing::warn!(job = %job.key, error = %err, "renewing lease failed"),
                        }
                    }
                    _ = self.abandon.changed() => break None,
                }
            }
        };
        metrics::histogram!("sdl_gate_evaluation_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        match outcome {
            None => match self.store.release(&job).await {
                Ok(_) => {
                    metrics::counter!("sdl_gate_job_attempts_total", "outcome" => "released")
                        .increment(1);
                    tracing::info!(job = %job.key, "released in-flight job at shutdown");
                }
                Err(err) => {
                    tracing::error!(job = %job.key, error = %err, "releasing job failed; its lease will expire")
                }
            },
            Some(Ok(())) => match self
                .store
                .complete_success(&job, self.settings.debounce)
                .await
            {
                Ok(Completion::LostLease) => {
                    metrics::counter!("sdl_gate_job_attempts_total", "outcome" => "lost_lease")
                        .increment(1);
                    tracing::warn!(job = %job.key, "job finished after its lease was lost; result not recorded");
                }
                Ok(state) => {
                    metrics::counter!("sdl_gate_job_attempts_total", "outcome" => "success")
                        .increment(1);
                    tracing::info!(job = %job.key, events = job.events.len(), again = (state == Completion::Pending), "job done");
                }
                Err(err) => {
                    tracing::error!(job = %job.key, error = %err, "recording job success failed; it will run again")
                }
            },
            Some(Err(err)) => {
                let (permanent, delay) = match &err {
                    ProcessError::Retry { after, .. } => (
                        false,
                        after.unwrap_or_else(|| {
                            backoff_delay(
                                job.attempt,
                                self.settings.backoff_base,
                                self.settings.backoff_cap,
                                &mut rand::rng(),
                            )
                        }),
                    ),
                    ProcessError::Permanent { .. } => (true, Duration::ZERO),
                };
                self.record_failure(&job, &err.describe(), permanent, delay)
                    .await;
            }
        }
    }

    async fn record_failure(&self, job: &Job, reason: &str, permanent: bool, delay: Duration) {
        match self
            .store
            .complete_failure(job, reason, permanent, delay, self.settings.max_attempts)
            .await
        {
            Ok(Completion::Parked) => {
                metrics::counter!("sdl_gate_job_attempts_total", "outcome" => "parked")
                    .increment(1);
                metrics::counter!("sdl_gate_jobs_parked_total").increment(1);
                tracing::error!(job = %job.key, attempt = job.attempt, reason, "job parked; see `sdl-gate jobs list --state parked`");
            }
            Ok(Completion::LostLease) => {
                metrics::counter!("sdl_gate_job_attempts_total", "outcome" => "lost_lease")
                    .increment(1);
            }
            Ok(_) => {
                metrics::counter!("sdl_gate_job_attempts_total", "outcome" => "retry").increment(1);
                tracing::warn!(job = %job.key, attempt = job.attempt, reason, retry_in_ms = delay.as_millis() as u64, "job failed; will retry");
            }
            Err(err) => {
                tracing::error!(job = %job.key, error = %err, "recording job failure failed; its lease will expire")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Target, WorkItem, WorkKey};
    use crate::forge_name::ForgeName;
    use crate::store::{Db, NewDelivery};

    /// Holds SQLite's one write connection across a lease renewal and then finishes, as the
    /// engine does while it appends to the ledger.
    struct HoldsTheWriter {
        store: Store,
        hold: Duration,
    }

    impl Processor for HoldsTheWriter {
        async fn process(&self, _job: &Job) -> Result<(), ProcessError> {
            let Db::Sqlite(pool) = &self.store.db else {
                return Err(ProcessError::permanent("the test needs SQLite"));
            };
            let conn = pool
                .acquire()
                .await
                .map_err(|e| ProcessError::retry(e.to_string()))?;
            tokio::time::sleep(self.hold).await;
            drop(conn);
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_holding_the_writer_finishes_while_its_lease_is_renewed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("q.db").display());
        let store = Store::connect(&url, 4).await.expect("connect");
        store.migrate().await.expect("migrate");
        let delivery = NewDelivery {
            forge: ForgeName::GitHub,
            delivery_id: "d-1".into(),
            event: "pull_request".into(),
            action: Some("opened".into()),
            payload: "{}".into(),
            items: vec![WorkItem {
                key: WorkKey {
                    forge: ForgeName::GitHub,
                    repository: "acme/plc".into(),
                    target: Target::Change(1),
                },
                detail: None,
            }],
        };
        store
            .record_deliveries(&[delivery], Duration::ZERO)
            .await
            .expect("record");
        // Renewals every 200 ms; the job holds the writer for 700 ms, across three of them.
        let settings = QueueSettings {
            debounce: Duration::ZERO,
            lease: Duration::from_millis(600),
            poll_interval: Duration::from_millis(10),
            ..QueueSettings::default()
        };
        let processor = Arc::new(HoldsTheWriter {
            store: store.clone(),
            hold: Duration::from_millis(700),
        });
        let pool = spawn_workers(
            store.clone(),
            processor,
            settings,
            1,
            Arc::new(Notify::new()),
            "test",
        );
        // The pool's acquire timeout is 30 s: a renewal that waits for the writer while the
        // job is not polled stalls well past this deadline.
        let deadline = Instant::now() + Duration::from_secs(10);
        let depth = loop {
            let depth = store.queue_depth().await.expect("depth");
            if depth.done == 1 || Instant::now() > deadline {
                break depth;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        pool.shutdown(Duration::from_secs(1)).await;
        assert_eq!(depth.done, 1, "the job finished: {depth:?}");
        assert_eq!(depth.running, 0, "{depth:?}");
    }
}
