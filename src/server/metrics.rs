//! Prometheus metrics: one process-wide recorder, rendered at `GET /metrics`, plus the queue
//! depth read from the database at scrape time (the database is the truth shared by replicas).
//!
//! Metric names:
//! - `sdl_gate_deliveries_total{forge,event,outcome}` — webhook deliveries by outcome
//!   (`queued`, `duplicate`, `ignored`, `ping`, `unauthorized`, `bad_request`, `too_large`,
//!   `disabled`, `error`);
//! - `sdl_gate_webhook_duration_seconds{forge}` — time to acknowledge a delivery;
//! - `sdl_gate_queue_depth{state}` — jobs per state (gauge, from the database);
//! - `sdl_gate_job_attempts_total{outcome}` — job runs by outcome (`success`, `retry`,
//!   `parked`, `lost_lease`, `released`); `sdl_gate_jobs_parked_total`;
//! - `sdl_gate_evaluation_duration_seconds` — processing time of one job;
//! - `sdl_gate_forge_requests_total{forge,status}` — forge API calls, recorded by the forge
//!   clients through [`crate::metrics::forge_request`].

use std::fmt::Write;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::store::QueueDepth;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Histogram buckets in seconds: 1 ms … 60 s.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Installs the process-wide recorder on first use and returns its handle.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets(BUCKETS) {
            Ok(b) => b,
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be incomplete");
        }
        describe();
        handle
    })
}

/// How often histogram samples are folded into their buckets when nobody scrapes `/metrics`.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds recorded histogram samples into their buckets every [`UPKEEP_EVERY`]. The recorder
/// keeps each sample until a scrape or an upkeep drains it, so without this loop a service
/// nobody scrapes grew by every webhook and job it timed (the 10-minute soak: RSS 21 → 36 MB,
/// still climbing).
pub async fn upkeep_loop() {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        handle().run_upkeep();
    }
}

fn describe() {
    metrics::describe_counter!(
        "sdl_gate_deliveries_total",
        "Webhook deliveries by forge, event and outcome"
    );
    metrics::describe_histogram!(
        "sdl_gate_webhook_duration_seconds",
        metrics::Unit::Seconds,
        "Time to acknowledge a webhook delivery"
    );
    metrics::describe_counter!("sdl_gate_job_attempts_total", "Job runs by outcome");
    metrics::describe_counter!("sdl_gate_jobs_parked_total", "Jobs parked after failing");
    metrics::describe_histogram!(
        "sdl_gate_evaluation_duration_seconds",
        metrics::Unit::Seconds,
        "Processing time of one job"
    );
    metrics::describe_counter!(
        crate::metrics::FORGE_REQUESTS_TOTAL,
        "Forge API requests by forge and HTTP status"
    );
}

/// The full `/metrics` text: the recorder's metrics plus the queue depth gauge.
pub fn render(depth: Option<QueueDepth>) -> String {
    let mut text = handle().render();
    if let Some(d) = depth {
        text.push_str("# HELP sdl_gate_queue_depth Jobs per state, read from the database\n");
        text.push_str("# TYPE sdl_gate_queue_depth gauge\n");
        for (state, n) in [
            ("pending", d.pending),
            ("running", d.running),
            ("parked", d.parked),
            ("done", d.done),
        ] {
            let _ = writeln!(text, "sdl_gate_queue_depth{{state=\"{state}\"}} {n}");
        }
    }
    text
}
