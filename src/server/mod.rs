//! The HTTP side of `sdl-gate serve`: webhook routes, health, readiness and metrics, and the
//! lifecycle that ties the server, the delivery writer and the workers together.
//!
//! A delivery is answered only after it is committed ([`crate::store::Committer`]): `202` when
//! new work was queued, `200` for a duplicate or a ping, `202` (not stored) for an event the
//! product does not act on.

mod app_created;
pub mod conn;
pub mod ingest;
pub mod metrics;
pub mod readiness;
pub mod signature;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::forge_name::ForgeName;
use crate::queue::{Processor, WorkerPool, spawn_workers};
use crate::settings::{QueueSettings, Settings};
use crate::store::{Committer, NewDelivery, Recorded, Store, StoreError};

/// Longest a webhook waits for its delivery to be committed before answering 503.
const STORE_BUDGET: Duration = Duration::from_millis(1_500);

/// What the service needs besides the store and the processor.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Queue tuning.
    pub queue: QueueSettings,
    /// Worker tasks.
    pub workers: usize,
    /// GitHub webhook secrets; `None` disables `/webhooks/github`.
    pub github_secrets: Option<Vec<SecretString>>,
    /// GitLab webhook tokens; `None` disables `/webhooks/gitlab`.
    pub gitlab_secrets: Option<Vec<SecretString>>,
    /// Time in-flight jobs get at shutdown.
    pub shutdown_grace: Duration,
    /// Largest accepted webhook body.
    pub body_limit: usize,
    /// Bytes of webhook bodies read at once before authentication (see `ingest::Limits`).
    pub in_flight_bytes: usize,
    /// How long a webhook body may take to arrive.
    pub body_read_timeout: Duration,
    /// Parts besides the store that `/readyz` reports (e.g. a GitLab connection still being
    /// made); clone it before [`start`] to mark them.
    pub readiness: readiness::Readiness,
    /// Header/idle timeout and connection cap (see [`conn`]).
    pub connections: conn::ConnLimits,
    /// How long deliveries and handled job events are kept; `None`: for ever.
    pub retention: Option<Duration>,
    /// The pages for people (change pages, dashboards, reports, login), state applied;
    /// `None` serves none of them (see [`crate::web::routes`]).
    pub pages: Option<Router>,
}

impl ServiceConfig {
    /// The service part of the settings.
    pub fn from_settings(settings: &Settings) -> ServiceConfig {
        ServiceConfig {
            queue: settings.queue.clone(),
            workers: settings.workers,
            github_secrets: settings.github.as_ref().map(|g| g.webhook_secrets.clone()),
            gitlab_secrets: settings.gitlab.as_ref().map(|g| g.webhook_secrets.clone()),
            shutdown_grace: settings.shutdown_grace,
            body_limit: ingest::MAX_BODY_BYTES,
            in_flight_bytes: ingest::IN_FLIGHT_BYTES,
            body_read_timeout: ingest::BODY_READ_TIMEOUT,
            readiness: readiness::Readiness::new(),
            connections: conn::ConnLimits::for_process()
                .with_settings(settings.header_read_timeout, settings.max_connections),
            retention: settings.retention,
            pages: None,
        }
    }
}

/// The handlers' state: one `Arc`, so the clone axum makes per request is one increment.
#[derive(Clone)]
struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every request reads, behind one `Arc`: axum clones the state for each request, and
/// cloning the store, committer and limits field by field (the SQLite connect options among
/// them) cost about 4% of a delivery's CPU.
struct Shared {
    store: Store,
    committer: Committer,
    github: Option<Arc<[SecretString]>>,
    gitlab: Option<Arc<[SecretString]>>,
    wake: Arc<Notify>,
    /// Whether a stored delivery wakes the workers: only when its job may fall due before an
    /// idle worker looks again by itself (see [`wakes_needed`]).
    wake_on_delivery: bool,
    /// When workers were last woken (ms since start), to wake them at most every
    /// [`WAKE_EVERY_MS`]: each wake costs every idle worker a queue read.
    last_wake: Arc<std::sync::atomic::AtomicU64>,
    started: Instant,
    limits: ingest::Limits,
    readiness: readiness::Readiness,
}

/// Whether workers must be woken when a delivery is stored. An idle worker looks at the queue
/// again within one poll interval and then sleeps until the earliest due job, and a stored
/// delivery's job falls due one debounce after it: with a debounce at least the poll interval
/// (the defaults: 1 s and 500 ms) that look always comes first, and each wake would only cost
/// every idle worker a queue read (on PostgreSQL, ~4% of the database's CPU under load).
fn wakes_needed(queue: &QueueSettings) -> bool {
    queue.debounce < queue.poll_interval
}

/// Shortest interval between two worker wake-ups from the webhook handlers. New jobs are due
/// only after the debounce anyway; workers sleep until the earliest due job.
const WAKE_EVERY_MS: u64 = 20;

/// A running service; [`RunningService::shutdown`] stops it gracefully.
#[derive(Debug)]
pub struct RunningService {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The store it uses.
    pub store: Store,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RunningService {
    /// Stops accepting requests, waits for in-flight requests, gives in-flight jobs the grace
    /// period (then releases them), flushes the delivery writer and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }

    /// Waits until the service stops by itself (it only does on a server error).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }
}

/// Starts the HTTP server on `listener`, the delivery writer and the workers. The store must
/// already be migrated.
pub fn start<P: Processor>(
    listener: TcpListener,
    store: Store,
    processor: Arc<P>,
    config: ServiceConfig,
) -> std::io::Result<RunningService> {
    let addr = listener.local_addr()?;
    let _ = metrics::handle();
    let wake = Arc::new(Notify::new());
    let (committer, writer) = Committer::spawn(store.clone(), config.queue.debounce);
    let owner = format!("{}-{}", host_name(), std::process::id());
    let workers = spawn_workers(
        store.clone(),
        processor,
        config.queue.clone(),
        config.workers,
        Arc::clone(&wake),
        &owner,
    );
    let state = AppState(Arc::new(Shared {
        store: store.clone(),
        committer,
        github: config.github_secrets.map(Arc::from),
        gitlab: config.gitlab_secrets.map(Arc::from),
        wake,
        wake_on_delivery: wakes_needed(&config.queue),
        last_wake: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        started: Instant::now(),
        limits: ingest::Limits {
            read_timeout: config.body_read_timeout,
            ..ingest::Limits::new(config.body_limit, config.in_flight_bytes)
        },
        readiness: config.readiness,
    }));
    let app = match config.pages {
        Some(pages) => router(state).merge(pages),
        None => router(state),
    };
    let checkpoints = tokio::spawn(checkpoint_loop(store.clone()));
    let metrics_upkeep = tokio::spawn(metrics::upkeep_loop());
    let pruner = config
        .retention
        .map(|keep| crate::store::spawn_pruner(store.clone(), keep));
    let (stop, stop_rx) = oneshot::channel::<()>();
    let grace = config.shutdown_grace;
    let connections = config.connections;
    let task = tokio::spawn(async move {
        lifecycle(listener, app, connections, stop_rx, workers, writer, grace).await;
        checkpoints.abort();
        metrics_upkeep.abort();
        if let Some(pruner) = pruner {
            pruner.abort();
        }
    });
    Ok(RunningService {
        addr,
        store,
        stop,
        task,
    })
}

async fn lifecycle(
    listener: TcpListener,
    app: Router,
    connections: conn::ConnLimits,
    stop: oneshot::Receiver<()>,
    workers: WorkerPool,
    writer: JoinHandle<()>,
    grace: Duration,
) {
    tracing::info!(
        max_connections = connections.max_connections,
        header_read_timeout_secs = connections.header_read_timeout.as_secs(),
        "connection bounds"
    );
    conn::serve(listener, app, connections, async {
        let _ = stop.await;
    })
    .await;
    tracing::info!("stopped accepting requests; finishing in-flight jobs");
    workers.shutdown(grace).await;
    // The router (and every Committer clone in it) is gone: the writer drains and stops.
    let _ = writer.await;
    tracing::info!("shutdown complete");
}

/// Keeps the SQLite write-ahead log short, off the acknowledgement path.
async fn checkpoint_loop(store: Store) {
    if store.backend() != crate::store::Backend::Sqlite {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = store.checkpoint().await {
            tracing::warn!(error = %err, "WAL checkpoint failed");
        }
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sdl-gate".to_owned())
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhooks/github", post(github_webhook))
        .route("/webhooks/gitlab", post(gitlab_webhook))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/github/app-created", get(app_created::page))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    if let Err(err) = state.store.check_writable().await {
        tracing::warn!(error = %err, "readiness check failed");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {err}\n"),
        )
            .into_response();
    }
    // The other parts (a forge connection still being made): 503 naming each one.
    match state.readiness.report() {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(report) => (StatusCode::SERVICE_UNAVAILABLE, report).into_response(),
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let depth = state.store.queue_depth().await.ok();
    (
        [("content-type", "text/plain; version=0.0.4")],
        metrics::render(depth),
    )
        .into_response()
}

async fn github_webhook(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let secrets = state.github.clone();
    webhook(state, ForgeName::GitHub, secrets, headers, body).await
}

async fn gitlab_webhook(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let secrets = state.gitlab.clone();
    webhook(state, ForgeName::GitLab, secrets, headers, body).await
}

fn count(forge: ForgeName, event: &str, outcome: &'static str) {
    ::metrics::counter!("sdl_gate_deliveries_total", "forge" => forge.as_str(), "event" => event.to_owned(), "outcome" => outcome)
        .increment(1);
}

async fn webhook(
    state: AppState,
    forge: ForgeName,
    secrets: Option<Arc<[SecretString]>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let response =
        match ingest::ingest(forge, secrets.as_deref(), &headers, body, &state.limits).await {
            Err(err) => {
                // The event header of a refused delivery is not trusted: no label from it.
                count(forge, "-", err.outcome());
                if matches!(err, ingest::IngestError::Unauthorized(_)) {
                    tracing::warn!(%forge, error = %err, "refused unauthenticated delivery");
                } else {
                    tracing::info!(%forge, error = %err, "refused delivery");
                }
                err.into_response()
            }
            Ok(verified) => accept(&state, verified).await,
        };
    ::metrics::histogram!("sdl_gate_webhook_duration_seconds", "forge" => forge.as_str())
        .record(started.elapsed().as_secs_f64());
    response
}

fn wake_workers(state: &AppState) {
    use std::sync::atomic::Ordering;
    if !state.wake_on_delivery {
        return;
    }
    let now = u64::try_from(state.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let last = state.last_wake.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= WAKE_EVERY_MS
        && state
            .last_wake
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        state.wake.notify_waiters();
    }
}

async fn accept(state: &AppState, verified: ingest::Verified) -> Response {
    let forge = verified.forge;
    let Some(domain) = verified.domain else {
        if verified.event == "ping" {
            count(forge, "ping", "ping");
            return (StatusCode::OK, axum::Json(json!({ "status": "pong" }))).into_response();
        }
        count(forge, &verified.event, "ignored");
        tracing::debug!(%forge, event = %verified.event, delivery = %verified.delivery_id, "event not acted on");
        return (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "status": "ignored", "reason": "event not acted on" })),
        )
            .into_response();
    };
    let delivery = NewDelivery {
        forge,
        delivery_id: verified.delivery_id.clone(),
        event: verified.event.clone(),
        action: domain.action.clone(),
        payload: verified.body,
        items: domain.items,
    };
    // Fail fast: a sender gives up after 10 s and may not redeliver, so a store that cannot
    // commit within the budget answers 503 (retry) instead of holding the request. A delivery
    // that commits after the budget is only stored, never acknowledged; its retry is a duplicate.
    let stored = match tokio::time::timeout(STORE_BUDGET, state.committer.submit(delivery)).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Timeout(STORE_BUDGET)),
    };
    match stored {
        Ok(Recorded::New(_)) => {
            count(forge, &verified.event, "queued");
            wake_workers(state);
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({ "status": "queued" })),
            )
                .into_response()
        }
        Ok(Recorded::Duplicate) => {
            count(forge, &verified.event, "duplicate");
            (StatusCode::OK, axum::Json(json!({ "status": "duplicate" }))).into_response()
        }
        Err(err) => {
            count(forge, &verified.event, "error");
            tracing::error!(%forge, delivery = %verified.delivery_id, error = %err, "delivery not stored");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [("retry-after", "5")],
                axum::Json(json!({ "error": "delivery could not be stored; retry" })),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the default settings a delivery's job falls due after the workers' next look by
    /// themselves, so deliveries wake nobody; a debounce shorter than the poll interval (a
    /// recheck due at once) still wakes them.
    #[test]
    fn deliveries_wake_the_workers_only_when_their_job_would_otherwise_wait() {
        let defaults = QueueSettings::default();
        assert!(defaults.debounce >= defaults.poll_interval);
        assert!(!wakes_needed(&defaults));
        let immediate = QueueSettings {
            debounce: Duration::ZERO,
            ..QueueSettings::default()
        };
        assert!(wakes_needed(&immediate));
        let just_under = QueueSettings {
            debounce: defaults.poll_interval - Duration::from_millis(1),
            ..QueueSettings::default()
        };
        assert!(wakes_needed(&just_under));
    }
}
