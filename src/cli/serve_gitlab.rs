//! The GitLab bot's connection, made in the background so that a GitLab that is unreachable at
//! start-up does not stop the service (and the GitHub App with it).
//!
//! Until connected, GitLab webhooks are still authenticated (the token is local) and stored, so
//! GitLab sees deliveries succeed and does not disable the hook; their jobs are retried later
//! ([`ProcessError::Retry`]) and nothing is posted to GitLab — the merge request stays without
//! a passing status (fail closed). `/readyz` names GitLab as not ready until connected. A job
//! that runs out of attempts during a long outage is parked; the next event of its merge request
//! revives it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sdl_gate::engine::GitlabProcessor;
use sdl_gate::forge::gitlab::{GitlabConfig, GitlabForge, connect as connect_gitlab};
use sdl_gate::queue::{Job, ProcessError, Processor};
use sdl_gate::server::readiness::Readiness;
use tokio::task::JoinHandle;

/// The readiness part this module marks.
pub const PART: &str = "gitlab";

/// First wait between two connection attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a GitLab job waits before its next attempt while GitLab is not connected.
const JOB_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The GitLab processor once connected; cheap to clone.
#[derive(Clone, Default)]
pub struct LazyGitlab {
    cell: Arc<OnceLock<GitlabProcessor>>,
}

impl LazyGitlab {
    /// Runs `job` on the connected processor, or asks for a retry while not connected.
    pub async fn process(&self, job: &Job) -> Result<(), ProcessError> {
        match self.cell.get() {
            Some(p) => p.process(job).await,
            None => Err(ProcessError::Retry {
                after: Some(JOB_RETRY_AFTER),
                reason: "GitLab is not connected yet (see /readyz); retrying later".to_owned(),
                source: None,
            }),
        }
    }

    /// Connects in the background, retrying with exponential backoff, and installs the
    /// processor `make` builds from the connection. `readiness` names GitLab until then.
    pub fn spawn_connect(
        &self,
        config: GitlabConfig,
        readiness: Readiness,
        make: impl FnOnce(GitlabForge) -> GitlabProcessor + Send + 'static,
    ) -> JoinHandle<()> {
        readiness.not_ready(PART, "not connected yet");
        let cell = Arc::clone(&self.cell);
        tokio::spawn(async move {
            let mut wait = FIRST_BACKOFF;
            let mut attempt: u32 = 0;
            loop {
                attempt = attempt.saturating_add(1);
                match connect_gitlab(config.clone()).await {
                    Ok(forge) => {
                        tracing::info!(bot = %forge.bot(), attempt, "GitLab bot connected");
                        let _ = cell.set(make(forge));
                        readiness.ready(PART);
                        return;
                    }
                    Err(err) => {
                        tracing::error!(
                            url = %config.url,
                            attempt,
                            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                            error = %err,
                            "SDL_GATE_GITLAB_URL / SDL_GATE_GITLAB_TOKEN: connecting to GitLab failed; GitLab webhooks are stored and processed once connected"
                        );
                        readiness.not_ready(
                            PART,
                            format!("not connected (attempt {attempt} failed; see the log)"),
                        );
                    }
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        })
    }
}
