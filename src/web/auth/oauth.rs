//! The forges' OAuth authorization-code flows, as a client: the address the browser is sent
//! to, the exchange of the returned code for the user's token, and who that token belongs to.
//!
//! - GitHub (the App's user flow): `{oauth}/login/oauth/authorize?client_id&redirect_uri&state`,
//!   then `POST {oauth}/login/oauth/access_token` (`Accept: application/json`), then
//!   `GET {api}/user`.
//! - GitLab: `{gitlab}/oauth/authorize?client_id&redirect_uri&response_type=code&state&scope=read_api`,
//!   then `POST {gitlab}/oauth/token` (`grant_type=authorization_code`), then
//!   `GET {gitlab}/api/v4/user`.
//!
//! Secrets (the client secret, the code, the user's token) are sent in request bodies and
//! headers only, and never appear in an error message.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::forge_name::ForgeName;
/// The one percent-encoding (`crate::percent`), where this module's callers look for it.
pub(crate) use crate::percent::encode;
use crate::settings::{GitHubLogin, GitLabLogin};

/// The largest answer read from a forge's OAuth or user endpoint.
const MAX_ANSWER: usize = 256 * 1024;

/// Why a sign-in with a forge failed (no secret in any message).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The forge could not be reached or did not answer in time.
    #[error("{forge} did not answer: {why}")]
    Unreachable {
        /// Which forge.
        forge: ForgeName,
        /// The transport error.
        why: String,
    },
    /// The forge refused the code (expired, used, wrong client) or answered something else.
    #[error("{forge} refused the sign-in: {why}")]
    Refused {
        /// Which forge.
        forge: ForgeName,
        /// The OAuth `error` code or the HTTP status.
        why: String,
    },
}

/// One configured sign-in provider.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Provider<'a> {
    GitHub(&'a GitHubLogin),
    GitLab(&'a GitLabLogin),
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    /// Seconds the token lives (GitHub App user tokens: 8 h; GitLab: 2 h by default).
    expires_in: Option<u64>,
}

/// A user's token and how long the forge says it lives.
pub(crate) struct UserToken {
    pub(crate) token: SecretString,
    pub(crate) expires_in: Option<std::time::Duration>,
}

#[derive(Deserialize)]
struct GitHubUser {
    login: String,
}

#[derive(Deserialize)]
struct GitLabUser {
    username: String,
}

impl Provider<'_> {
    /// Which forge.
    pub(crate) fn forge(self) -> ForgeName {
        match self {
            Provider::GitHub(_) => ForgeName::GitHub,
            Provider::GitLab(_) => ForgeName::GitLab,
        }
    }

    /// Where the browser is sent to approve.
    pub(crate) fn authorize_url(self, redirect_uri: &str, state: &str) -> String {
        match self {
            Provider::GitHub(g) => format!(
                "{}/login/oauth/authorize?{}",
                g.oauth_url,
                form(&[
                    ("client_id", &g.client_id),
                    ("redirect_uri", redirect_uri),
                    ("state", state),
                ])
            ),
            Provider::GitLab(g) => format!(
                "{}/oauth/authorize?{}",
                g.url,
                form(&[
                    ("client_id", &g.client_id),
                    ("redirect_uri", redirect_uri),
                    ("response_type", "code"),
                    ("state", state),
                    ("scope", "read_api"),
                ])
            ),
        }
    }

    /// The user's token for an authorization `code`.
    pub(crate) async fn exchange(
        self,
        http: &reqwest::Client,
        code: &str,
        redirect_uri: &str,
    ) -> Result<UserToken, OAuthError> {
        let (url, body) = match self {
            Provider::GitHub(g) => (
                format!("{}/login/oauth/access_token", g.oauth_url),
                form(&[
                    ("client_id", &g.client_id),
                    ("client_secret", g.client_secret.expose_secret()),
                    ("code", code),
                    ("redirect_uri", redirect_uri),
                ]),
            ),
            Provider::GitLab(g) => (
                format!("{}/oauth/token", g.url),
                form(&[
                    ("client_id", &g.client_id),
                    ("client_secret", g.client_secret.expose_secret()),
                    ("code", code),
                    ("grant_type", "authorization_code"),
                    ("redirect_uri", redirect_uri),
                ]),
            ),
        };
        let request = http
            .post(url)
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let (status, bytes) = self.send(request).await?;
        let answer: Option<TokenAnswer> = serde_json::from_slice(&bytes).ok();
        match answer {
            Some(TokenAnswer {
                access_token: Some(token),
                expires_in,
                ..
            }) if status.is_success() && !token.is_empty() => Ok(UserToken {
                token: SecretString::from(token),
                expires_in: expires_in.map(std::time::Duration::from_secs),
            }),
            Some(TokenAnswer {
                error: Some(error), ..
            }) => Err(self.refused(short(&error))),
            _ => Err(self.refused(format!("HTTP {status} without a token"))),
        }
    }

    /// The login (GitHub) or username (GitLab) the token belongs to.
    pub(crate) async fn login(
        self,
        http: &reqwest::Client,
        token: &SecretString,
    ) -> Result<String, OAuthError> {
        let url = match self {
            Provider::GitHub(g) => format!("{}/user", g.api_url),
            Provider::GitLab(g) => format!("{}/api/v4/user", g.url),
        };
        let request = forge_get(http, self.forge(), &url, token);
        let (status, bytes) = self.send(request).await?;
        if !status.is_success() {
            return Err(self.refused(format!("the user lookup answered HTTP {status}")));
        }
        let login = match self {
            Provider::GitHub(_) => serde_json::from_slice::<GitHubUser>(&bytes).map(|u| u.login),
            Provider::GitLab(_) => serde_json::from_slice::<GitLabUser>(&bytes).map(|u| u.username),
        }
        .map_err(|_| self.refused("the user lookup answered no login".to_owned()))?;
        if login.is_empty() || login.len() > 255 || login.chars().any(char::is_control) {
            return Err(self.refused("the user lookup answered an unusable login".to_owned()));
        }
        Ok(login)
    }

    async fn send(
        self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), OAuthError> {
        let unreachable = |e: reqwest::Error| OAuthError::Unreachable {
            forge: self.forge(),
            // Without the URL: it may hold the code.
            why: e.without_url().to_string(),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if bytes.len() > MAX_ANSWER {
            return Err(self.refused("the answer is too large".to_owned()));
        }
        Ok((status, bytes.to_vec()))
    }

    fn refused(self, why: String) -> OAuthError {
        OAuthError::Refused {
            forge: self.forge(),
            why,
        }
    }
}

/// A GET against a forge's API with the user's token.
pub(crate) fn forge_get(
    http: &reqwest::Client,
    forge: ForgeName,
    url: &str,
    token: &SecretString,
) -> reqwest::RequestBuilder {
    let request = http
        .get(url)
        .header("authorization", format!("Bearer {}", token.expose_secret()));
    match forge {
        ForgeName::GitHub => request
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28"),
        ForgeName::GitLab => request.header("accept", "application/json"),
    }
}

/// An OAuth error code, shortened and limited to harmless characters for the log.
fn short(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_urls_carry_the_client_state_and_encoded_redirect() {
        let gh = GitHubLogin {
            client_id: "Iv1.x".into(),
            client_secret: SecretString::from("s"),
            oauth_url: "https://github.com".into(),
            api_url: "https://api.github.com".into(),
        };
        let url =
            Provider::GitHub(&gh).authorize_url("https://gate.example/oauth/github/callback", "st");
        assert_eq!(
            url,
            "https://github.com/login/oauth/authorize?client_id=Iv1.x&redirect_uri=https%3A%2F%2Fgate.example%2Foauth%2Fgithub%2Fcallback&state=st"
        );
        let gl = GitLabLogin {
            client_id: "app".into(),
            client_secret: SecretString::from("s"),
            url: "https://gitlab.example".into(),
        };
        let url = Provider::GitLab(&gl).authorize_url("https://g/cb", "st");
        assert!(url.starts_with("https://gitlab.example/oauth/authorize?client_id=app&"));
        assert!(url.ends_with("&response_type=code&state=st&scope=read_api"));
        assert_eq!(
            short("bad_verification_code<script>"),
            "bad_verification_codescript"
        );
    }
}
