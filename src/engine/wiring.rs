//! How the processors of `serve` are put together — the waiver-expiry scheduler loaded from
//! the store, the clock, the details link — in one place that `serve` and the tests both call,
//! so that a test runs the service the way it is wired in production.

use std::time::Duration;

use crate::forge::github::GithubForge;
use crate::forge::gitlab::GitlabForge;
use crate::store::{Store, StoreError};

use super::github::fanout::FanoutSettings;
use super::{Clock, ExpiryHandle, ExpiryScheduler, GithubProcessor, GitlabProcessor, expiry};

/// What every forge's processor shares.
#[derive(Debug, Clone)]
pub struct Wiring {
    /// Records and the queue.
    pub store: Store,
    /// Now.
    pub clock: Clock,
    /// Where waivers in force are scheduled for expiry.
    pub expiry: ExpiryHandle,
    /// The service's address for the details link (`SDL_GATE_PUBLIC_URL`).
    pub public_url: Option<String>,
}

impl Wiring {
    /// Loads the waivers' expiries (those missed while the service was down are due at once),
    /// starts their scheduler ticking every `tick`, and returns the wiring with the scheduler,
    /// which the caller shuts down last.
    pub async fn start(
        store: Store,
        clock: Clock,
        public_url: Option<String>,
        tick: Duration,
    ) -> Result<(Wiring, ExpiryScheduler), StoreError> {
        let dues = expiry::load(&store, clock.now()).await?;
        tracing::info!(waivers = dues.len(), "waiver expiries scheduled");
        let (scheduler, handle) = ExpiryScheduler::spawn(store.clone(), clock.clone(), tick, dues);
        let wiring = Wiring {
            store,
            clock,
            expiry: handle,
            public_url,
        };
        Ok((wiring, scheduler))
    }

    /// The GitHub App's processor.
    pub fn github(&self, forge: GithubForge, fanout: FanoutSettings) -> GithubProcessor {
        GithubProcessor::new(forge, self.store.clone(), self.public_url.clone())
            .with_fanout(fanout)
            .with_clock(self.clock.clone())
            .with_expiry(self.expiry.clone())
    }

    /// The GitLab bot's processor.
    pub fn gitlab(&self, forge: GitlabForge) -> GitlabProcessor {
        GitlabProcessor::new(forge, self.store.clone(), self.public_url.clone())
            .with_clock(self.clock.clone())
            .with_expiry(self.expiry.clone())
    }
}
