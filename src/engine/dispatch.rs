//! One processor for a service that serves GitHub, GitLab or both: each job goes to the
//! processor of its forge; a job of a forge that is not configured completes with a warning
//! (its webhook endpoint is off, so only stale rows can get here).

use crate::forge_name::ForgeName;
use crate::queue::{Job, ProcessError, Processor};

use super::github::GithubProcessor;
use super::gitlab::GitlabProcessor;

/// Dispatches jobs by `job.key.forge`.
#[derive(Debug, Default)]
pub struct ForgeProcessor {
    /// The GitHub App's processor, when GitHub is configured.
    pub github: Option<GithubProcessor>,
    /// The GitLab bot's processor, when GitLab is configured.
    pub gitlab: Option<GitlabProcessor>,
}

impl Processor for ForgeProcessor {
    async fn process(&self, job: &Job) -> Result<(), ProcessError> {
        match (job.key.forge, &self.github, &self.gitlab) {
            (ForgeName::GitHub, Some(p), _) => p.process(job).await,
            (ForgeName::GitLab, _, Some(p)) => p.process(job).await,
            (forge, _, _) => {
                tracing::warn!(job = %job.key, forge = forge.as_str(), "no processor for this forge is configured; job completed without action");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Target, WorkKey};

    #[tokio::test]
    async fn jobs_of_an_unconfigured_forge_complete() {
        let job = Job {
            id: 1,
            key: WorkKey {
                forge: ForgeName::GitLab,
                repository: "grp/proj".into(),
                target: Target::Change(3),
            },
            attempt: 1,
            events: Vec::new(),
            lease_token: 1,
            claimed_upto: None,
            coalesced_upto: None,
            more: false,
        };
        assert_eq!(ForgeProcessor::default().process(&job).await, Ok(()));
    }
}
