//! Waiver expiry: an expired waiver stops counting, but nothing on the forge happens at that
//! moment, so the service gives itself work then. This scheduler keeps every known future
//! expiry in memory, sleeps until the next one and enqueues a `sdl-gate.waiver-expired`
//! delivery for its change through the ordinary queue (see [`Store::enqueue_internal`]).
//!
//! It learns expiries at start-up from the store ([`load`]: future ones, and those that
//! passed while the service was down and whose change has not been evaluated since), and
//! while running from the processor ([`ExpiryHandle::schedule`], for every waiver it grants
//! or sees). It never sleeps longer than its `tick`, re-reading the [`Clock`] each time, so
//! a clock that jumps (a test moving time, a suspended host) is noticed within one tick.
//! Several replicas may enqueue the same expiry: jobs coalesce per change, so at most one
//! extra evaluation results.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::events::{Target, WorkItem, WorkKey};
use crate::forge_name::ForgeName;
use crate::store::{InternalWork, Store, StoreError};
use crate::waivers::Waiver;

use super::clock::Clock;

/// The event name of the work an expiry enqueues.
pub const EXPIRY_EVENT: &str = "sdl-gate.waiver-expired";

/// How often the scheduler re-reads the clock at most (and retries a failed enqueue).
pub const DEFAULT_TICK: Duration = Duration::from_secs(60);

/// How far back [`load`] looks for expiries missed while the service was down.
pub const MISSED_LOOKBACK_DAYS: i64 = 30;

/// One change to re-evaluate at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The forge.
    pub forge: ForgeName,
    /// The repository path.
    pub repository: String,
    /// PR / MR number.
    pub number: u64,
    /// When a waiver of it expires.
    pub at: DateTime<Utc>,
    /// The GitHub App installation to evaluate it through, when known (the processor
    /// looks it up otherwise).
    pub installation: Option<u64>,
}

/// Where due expiries go: the store's queue in the service, a recorder in tests.
pub trait ExpirySink: Send + Sync + 'static {
    /// Enqueues the re-evaluation of `due`'s change; an error is retried after a tick.
    fn expired(&self, due: &Due) -> impl Future<Output = Result<(), String>> + Send;
}

impl ExpirySink for Store {
    async fn expired(&self, due: &Due) -> Result<(), String> {
        let at = due.at.to_rfc3339();
        let mut payload = json!({
            "repository": { "full_name": due.repository },
            "number": due.number,
            "expired_at": at,
        });
        if let Some(id) = due.installation {
            payload["installation"] = json!({ "id": id });
        }
        let work = InternalWork {
            forge: due.forge,
            event: EXPIRY_EVENT,
            payload,
            items: vec![WorkItem {
                key: WorkKey {
                    forge: due.forge,
                    repository: due.repository.clone(),
                    target: Target::Change(due.number),
                },
                detail: Some(json!({ "expired_at": at })),
            }],
        };
        self.enqueue_internal(work, Duration::ZERO)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Tells a running scheduler about expiries; cheap to clone.
#[derive(Debug, Clone)]
pub struct ExpiryHandle {
    tx: mpsc::UnboundedSender<Due>,
}

impl ExpiryHandle {
    /// Schedules a re-evaluation of `due`'s change at `due.at` (at once when past). The same
    /// change and time scheduled twice runs once.
    pub fn schedule(&self, due: Due) {
        if self.tx.send(due).is_err() {
            tracing::warn!("the waiver expiry scheduler has stopped; an expiry was not scheduled");
        }
    }

    /// Schedules the expiry of every waiver of `change` in force at `now` (`change.at` is
    /// replaced by each waiver's expiry). The processors call it with the waivers they read
    /// before each evaluation rather than at each grant, so waivers granted through another
    /// replica are scheduled too.
    pub fn schedule_waivers(&self, change: &Due, waivers: &[Waiver], now: DateTime<Utc>) {
        for w in waivers
            .iter()
            .filter(|w| w.revoked.is_none() && w.expires_at > now)
        {
            self.schedule(Due {
                at: w.expires_at,
                ..change.clone()
            });
        }
    }
}

/// The running scheduler; [`ExpiryScheduler::shutdown`] stops it.
#[derive(Debug)]
pub struct ExpiryScheduler {
    task: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

type Key = (i64, &'static str, String, u64);

fn key(d: &Due) -> Key {
    (
        d.at.timestamp_millis(),
        d.forge.as_str(),
        d.repository.clone(),
        d.number,
    )
}

impl ExpiryScheduler {
    /// Starts the scheduler with `initial` expiries (past ones fire at once), reading time
    /// from `clock` at least every `tick`.
    pub fn spawn<S: ExpirySink>(
        sink: S,
        clock: Clock,
        tick: Duration,
        initial: Vec<Due>,
    ) -> (ExpiryScheduler, ExpiryHandle) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let queue = initial.into_iter().map(|d| (key(&d), d)).collect();
        let task = tokio::spawn(run(
            sink,
            clock,
            tick.max(Duration::from_millis(1)),
            queue,
            rx,
            stop_rx,
        ));
        (ExpiryScheduler { task, stop }, ExpiryHandle { tx })
    }

    /// Stops the scheduler (expiries still pending are found again by [`load`] at the next
    /// start).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run<S: ExpirySink>(
    sink: S,
    clock: Clock,
    tick: Duration,
    mut queue: BTreeMap<Key, Due>,
    mut rx: mpsc::UnboundedReceiver<Due>,
    mut stop: watch::Receiver<bool>,
) {
    let mut open = true;
    loop {
        let now = clock.now();
        while let Some(entry) = queue.first_entry() {
            if entry.get().at > now {
                break;
            }
            let mut due = entry.remove();
            match sink.expired(&due).await {
                Ok(()) => tracing::info!(
                    forge = %due.forge,
                    repository = %due.repository,
                    number = due.number,
                    expired_at = %due.at,
                    "a waiver expired: re-evaluation enqueued"
                ),
                Err(error) => {
                    tracing::warn!(
                        repository = %due.repository,
                        number = due.number,
                        %error,
                        "could not enqueue a waiver's expiry; trying again"
                    );
                    due.at = now
                        + chrono::Duration::from_std(tick).unwrap_or(chrono::Duration::seconds(60));
                    queue.insert(key(&due), due);
                }
            }
        }
        let wait = queue
            .first_key_value()
            .map(|(_, d)| (d.at - clock.now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(tick)
            .min(tick);
        tokio::select! {
            _ = stop.changed() => break,
            got = rx.recv(), if open => match got {
                Some(due) => {
                    queue.insert(key(&due), due);
                }
                None => open = false,
            },
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// The expiries to schedule at start-up: every unrevoked waiver that expires after `now`,
/// and those that expired in the last [`MISSED_LOOKBACK_DAYS`] days without an evaluation
/// of their change since (due at once). The installation to act as (GitHub) is looked up once
/// per repository.
pub async fn load(store: &Store, now: DateTime<Utc>) -> Result<Vec<Due>, StoreError> {
    let rows = store
        .waiver_expiries(now, now - chrono::Duration::days(MISSED_LOOKBACK_DAYS))
        .await?;
    let mut installations: HashMap<(ForgeName, String), Option<u64>> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        // Only GitHub changes are reached through an installation; for GitLab none is
        // remembered and this is `None`.
        let installation = match installations.get(&(r.forge, r.repository.clone())) {
            Some(i) => *i,
            None => {
                let i = store.installation_of(r.forge, &r.repository).await?;
                installations.insert((r.forge, r.repository.clone()), i);
                i
            }
        };
        out.push(Due {
            forge: r.forge,
            repository: r.repository,
            number: r.number,
            at: r.expires_at,
            installation,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! Timing under tokio's paused clock: the scheduler's sleeps advance virtual time, and the
    //! [`Clock`] reads that virtual time, so "fires exactly at its expiry" is deterministic.

    use std::sync::{Arc, Mutex};

    use super::*;

    /// (change number, when enqueued).
    type Fired = Arc<Mutex<Vec<(u64, DateTime<Utc>)>>>;

    #[derive(Clone, Default)]
    struct Recorder {
        fired: Fired,
        fail_first: Arc<Mutex<usize>>,
        clock: Option<Clock>,
    }

    impl ExpirySink for Recorder {
        async fn expired(&self, due: &Due) -> Result<(), String> {
            {
                let mut f = self.fail_first.lock().unwrap_or_else(|p| p.into_inner());
                if *f > 0 {
                    *f -= 1;
                    return Err("database unavailable".into());
                }
            }
            let now = self.clock.as_ref().map(Clock::now).unwrap_or_else(Utc::now);
            self.fired
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((due.number, now));
            Ok(())
        }
    }

    /// A clock that follows tokio's (paused) time from a fixed start.
    fn virtual_clock() -> (Clock, DateTime<Utc>) {
        let start = tokio::time::Instant::now();
        let base = DateTime::parse_from_rfc3339("2026-11-28T00:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let clock = Clock::from_fn(move || {
            base + chrono::Duration::from_std(start.elapsed()).unwrap_or_default()
        });
        (clock, base)
    }

    fn due(number: u64, at: DateTime<Utc>) -> Due {
        Due {
            forge: ForgeName::GitHub,
            repository: "acme/plc".into(),
            number,
            at,
            installation: Some(7),
        }
    }

    /// (number, whole seconds after `base`) of each enqueue, in order. Whole seconds: tokio
    /// rounds timer deadlines up to the millisecond.
    fn fired(r: &Recorder, base: DateTime<Utc>) -> Vec<(u64, i64)> {
        r.fired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(n, at)| (*n, (*at - base).num_seconds()))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn fires_each_expiry_at_its_time_in_order_once() {
        let (clock, base) = virtual_clock();
        let rec = Recorder {
            clock: Some(clock.clone()),
            ..Recorder::default()
        };
        let h = chrono::Duration::hours;
        let (sched, handle) = ExpiryScheduler::spawn(
            rec.clone(),
            clock.clone(),
            DEFAULT_TICK,
            vec![due(1, base - h(2)), due(2, base + h(3))],
        );
        handle.schedule(due(3, base + h(1)));
        handle.schedule(due(3, base + h(1))); // the same expiry twice
        handle.schedule(due(4, base + chrono::Duration::days(20)));
        tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
        assert_eq!(
            fired(&rec, base),
            vec![(1, 0), (3, 3600)],
            "the missed expiry fires at start, the 1h one at 1h, nothing else yet"
        );
        tokio::time::sleep(Duration::from_secs(21 * 24 * 3600)).await;
        assert_eq!(
            fired(&rec, base),
            vec![(1, 0), (3, 3600), (2, 3 * 3600), (4, 20 * 24 * 3600)]
        );
        sched.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_enqueue_is_tried_again_after_a_tick() {
        let (clock, base) = virtual_clock();
        let rec = Recorder {
            clock: Some(clock.clone()),
            fail_first: Arc::new(Mutex::new(2)),
            ..Recorder::default()
        };
        let tick = Duration::from_secs(30);
        let (sched, _handle) = ExpiryScheduler::spawn(
            rec.clone(),
            clock,
            tick,
            vec![due(9, base + chrono::Duration::minutes(5))],
        );
        tokio::time::sleep(Duration::from_secs(10 * 60)).await;
        assert_eq!(
            fired(&rec, base),
            vec![(9, 5 * 60 + 60)],
            "two failures, each retried one tick later"
        );
        sched.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_clock_that_jumps_is_noticed_within_a_tick() {
        let offset = Arc::new(Mutex::new(chrono::Duration::zero()));
        let (inner, base) = virtual_clock();
        let o = Arc::clone(&offset);
        let clock =
            Clock::from_fn(move || inner.now() + *o.lock().unwrap_or_else(|p| p.into_inner()));
        let rec = Recorder {
            clock: Some(clock.clone()),
            ..Recorder::default()
        };
        let tick = Duration::from_secs(1);
        let (sched, handle) = ExpiryScheduler::spawn(rec.clone(), clock, tick, Vec::new());
        handle.schedule(due(5, base + chrono::Duration::days(14)));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(fired(&rec, base).is_empty());
        *offset.lock().unwrap_or_else(|p| p.into_inner()) = chrono::Duration::days(15);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            fired(&rec, base).len(),
            1,
            "fired after the jump, within one tick"
        );
        sched.shutdown().await;
    }
}
