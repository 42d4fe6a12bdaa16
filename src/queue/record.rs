//! TEST-ONLY processor that appends one JSON line per processed job to a file, so tests can
//! drive the real `sdl-gate` binary and check what it processed (crash and multi-replica
//! tests). Selected with `SDL_GATE_TEST_PROCESSOR=record:<path>[;delay_ms=<n>]`; never use it
//! in production — it does nothing but record.
//!
//! Each line: `{"pid", "key", "deliveries": [...], "attempt", "start_us", "end_us"}` written
//! with one `write` on a file opened for appending, so lines from concurrent workers (and
//! processes) never interleave.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::{Job, ProcessError, Processor};

/// Appends a line per job; optionally sleeps first to widen race windows.
#[derive(Debug, Clone)]
pub struct RecordProcessor {
    path: PathBuf,
    delay: Duration,
}

/// A malformed `SDL_GATE_TEST_PROCESSOR` value.
#[derive(Debug, thiserror::Error)]
#[error("SDL_GATE_TEST_PROCESSOR: {0} (expected `record:<path>[;delay_ms=<n>]`)")]
pub struct RecordSpecError(String);

impl RecordProcessor {
    /// Parses `record:<path>[;delay_ms=<n>]`.
    pub fn from_spec(spec: &str) -> Result<RecordProcessor, RecordSpecError> {
        let rest = spec
            .strip_prefix("record:")
            .ok_or_else(|| RecordSpecError(format!("unknown processor `{spec}`")))?;
        let mut parts = rest.split(';');
        let path = parts.next().filter(|p| !p.is_empty());
        let path = PathBuf::from(path.ok_or_else(|| RecordSpecError("no path".to_owned()))?);
        let mut delay = Duration::ZERO;
        for part in parts {
            match part.split_once('=') {
                Some(("delay_ms", v)) => {
                    let ms = v
                        .parse()
                        .map_err(|_| RecordSpecError(format!("delay_ms `{v}` is not a number")))?;
                    delay = Duration::from_millis(ms);
                }
                _ => return Err(RecordSpecError(format!("unknown option `{part}`"))),
            }
        }
        Ok(RecordProcessor { path, delay })
    }
}

fn micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

impl Processor for RecordProcessor {
    async fn process(&self, job: &Job) -> Result<(), ProcessError> {
        let start = micros();
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let line = json!({
            "pid": std::process::id(),
            "key": job.key.to_key_string(),
            "deliveries": job.events.iter().map(|e| e.delivery_id.as_str()).collect::<Vec<_>>(),
            "attempt": job.attempt,
            "start_us": start.to_string(),
            "end_us": micros().to_string(),
        });
        let mut text = line.to_string();
        text.push('\n');
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            file.write_all(text.as_bytes())?;
            file.sync_data()
        })
        .await
        .map_err(|e| ProcessError::retry_because("record task failed", e))?
        .map_err(|e| ProcessError::retry_because("cannot append to record file", e))
    }
}
