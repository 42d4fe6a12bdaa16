//! The GitLab API client the job uses when it has a token — the one place that names the
//! concrete client; everything else is generic over `Forge`.

use secrecy::SecretString;

use sdl_gate::forge::ForgeError;
use sdl_gate::gitlab_ci::{CiContext, Settings};

use super::Misconfigured;
use super::no_client::NoGitlabClient;

/// The GitLab API client of this build.
///
/// COORDINATOR: when `sdl_gate::forge::gitlab` lands, (1) replace this alias with
/// `sdl_gate::forge::gitlab::GitlabForge`, (2) replace the end of [`connect_forge`] with the
/// code in its comment, (3) delete `no_client.rs`, its `mod` line and the `use` of it above,
/// and (4) delete the `cfg_attr(not(test), expect(dead_code))` on [`connect_failed`]. Nothing else changes: the
/// job is generic over `F: Forge`.
pub(super) type GitlabClient = NoGitlabClient;

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
    // COORDINATOR: replace from here to the end of the function with:
    //
    //     let config = sdl_gate::forge::gitlab::GitlabConfig {
    //         url,
    //         token,
    //         timeout: std::time::Duration::from_secs(30),
    //     };
    //     match sdl_gate::forge::gitlab::GitlabForge::connect(config).await {
    //         Ok(forge) => Ok(Some(forge)),
    //         Err(e) => connect_failed(e, &settings.token_variable, unknowns),
    //     }
    let _ = (url, token);
    unknowns.push(format!(
        "{} is set, but this build of sdl-gate has no GitLab API client yet: evaluated from the checkout, and no note or status was written",
        settings.token_variable
    ));
    Ok(None)
}

/// What a failed connection means: a refused token or a bad URL is a misconfiguration; a
/// network or server failure leaves the job to evaluate from the checkout.
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "used once the GitLab client is built in; see connect_forge"
    )
)]
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
