//! The GitLab API client the job uses when it has a token — the one place that names the
//! concrete client; everything else is generic over `Forge`.

use secrecy::SecretString;

use sdl_gate::forge::ForgeError;
use sdl_gate::gitlab_ci::{CiContext, Settings};

use super::Misconfigured;

/// The GitLab API client of this build.
pub(super) type GitlabClient = sdl_gate::forge::gitlab::GitlabForge;

/// Connects to the GitLab API with the job's token. `Ok(None)` when the API cannot be used
/// and the job should evaluate from the checkout (said in `unknowns`); `Err` when the token
/// or URL is wrong (exit 2).
pub(super) async fn connect_forge(
    ctx: &CiContext,
    settings: &Settings,
    token: SecretString,
    unknowns: &mut Vec<String>,
) -> Result<Option<GitlabClient>, Misconfigured> {
    let Some(url) = ctx.server_url.clone() else {
        return Err(Misconfigured(format!(
            "CI_API_V4_URL: not set, and {} is given; the GitLab URL is needed to use the token",
            settings.token_variable
        )));
    };
    let config = sdl_gate::forge::gitlab::GitlabConfig {
        url,
        token,
        timeout: std::time::Duration::from_secs(30),
        policy_project: None,
    };
    match sdl_gate::forge::gitlab::connect(config).await {
        Ok(forge) => Ok(Some(forge)),
        Err(e) => connect_failed(e, &settings.token_variable, unknowns),
    }
}

/// What a failed connection means: a refused token or a bad URL is a misconfiguration; a
/// network or server failure leaves the job to evaluate from the checkout.
pub(super) fn connect_failed(
    e: ForgeError,
    token_variable: &str,
    unknowns: &mut Vec<String>,
) -> Result<Option<GitlabClient>, Misconfigured> {
    match e {
        ForgeError::Unauthorized { .. } | ForgeError::Forbidden { .. } => {
            Err(Misconfigured(format!(
                "{token_variable}: GitLab refused the token ({e}); it needs the `api` scope (or `read_api` with SDL_GATE_STATUS=false and SDL_GATE_COMMENT=never)"
            )))
        }
        ForgeError::Config { .. } | ForgeError::NotFound { .. } => Err(Misconfigured(format!(
            "CI_API_V4_URL: cannot use the GitLab API ({e})"
        ))),
        other => {
            unknowns.push(format!(
                "could not reach the GitLab API ({other}): evaluated from the checkout"
            ));
            Ok(None)
        }
    }
}
