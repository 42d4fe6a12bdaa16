//! Service settings: defaults, then the TOML file given with `--config`, then `SDL_GATE_*`
//! environment variables (the environment wins).
//!
//! A forge with none of its settings is disabled (the service still serves health and
//! metrics); a forge with only some of them is a start-up error naming what is missing, so a
//! half-configured deployment never silently drops deliveries. Secrets are held in
//! [`SecretString`], whose `Debug` prints `[REDACTED]`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Everything `sdl-gate serve` needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address the HTTP server binds (`SDL_GATE_LISTEN`).
    pub listen: SocketAddr,
    /// `sqlite://path` or `postgres://…` (`SDL_GATE_DATABASE_URL`).
    pub database_url: SecretString,
    /// The externally reachable URL of this service, used in links (`SDL_GATE_PUBLIC_URL`).
    pub public_url: Option<String>,
    /// Worker tasks per process (`SDL_GATE_WORKERS`).
    pub workers: usize,
    /// Log format (`SDL_GATE_LOG_FORMAT`: `text` or `json`).
    pub log_format: LogFormat,
    /// Queue tuning.
    pub queue: QueueSettings,
    /// Seconds in-flight jobs get to finish on SIGTERM before they are released.
    pub shutdown_grace: Duration,
    /// Time a request head (or the next one on an idle kept-alive connection) may take to
    /// arrive (`SDL_GATE_HEADER_READ_TIMEOUT_SECS`).
    pub header_read_timeout: Duration,
    /// Open client connections before the oldest is shed (`SDL_GATE_MAX_CONNECTIONS`); `None`:
    /// derived from the file-descriptor limit at start-up (`server::conn`).
    pub max_connections: Option<usize>,
    /// How long deliveries and processed job events are kept (`SDL_GATE_RETENTION_DAYS`);
    /// `None` keeps them for ever (0). Evaluations and waivers are never pruned.
    pub retention: Option<Duration>,
    /// The evidence ledger's signing key and checkpoint cadence.
    pub ledger: LedgerSettings,
    /// GitHub App settings, `None` when GitHub is disabled.
    pub github: Option<GitHubSettings>,
    /// GitLab bot settings, `None` when GitLab is disabled.
    pub gitlab: Option<GitLabSettings>,
    /// Login to the service's pages: the forges' OAuth clients and the session key.
    pub web: WebSettings,
    /// Test-only processor selection (`SDL_GATE_TEST_PROCESSOR`), see `queue::record`.
    pub test_processor: Option<String>,
}

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Tuning of the durable job queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// How long a job waits after its first event so a burst coalesces into one run.
    pub debounce: Duration,
    /// How long a claimed job stays owned by its worker without a renewal.
    pub lease: Duration,
    /// Attempts before a failing job is parked.
    pub max_attempts: u32,
    /// First retry delay; doubles on each attempt (with jitter).
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_cap: Duration,
    /// How often idle workers look for due jobs (wake-ups from local deliveries are immediate).
    pub poll_interval: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            debounce: Duration::from_millis(DEFAULT_DEBOUNCE_MS),
            lease: Duration::from_secs(DEFAULT_LEASE_SECS),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff_base: Duration::from_millis(DEFAULT_BACKOFF_BASE_MS),
            backoff_cap: Duration::from_secs(DEFAULT_BACKOFF_CAP_SECS),
            poll_interval: Duration::from_millis(DEFAULT_POLL_INTERVAL_MS),
        }
    }
}

/// The evidence ledger: where its signing key is and how often checkpoints are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSettings {
    /// The Ed25519 key file (`SDL_GATE_LEDGER_KEY_PATH`), generated on first start if absent.
    pub key_path: PathBuf,
    /// The ledger's name in checkpoints and the key's name (`SDL_GATE_LEDGER_ORIGIN`).
    pub origin: String,
    /// Sign a checkpoint after this many new entries (`SDL_GATE_LEDGER_CHECKPOINT_ENTRIES`)…
    pub checkpoint_entries: u64,
    /// …or this long after the last one when any entry is new (`SDL_GATE_LEDGER_CHECKPOINT_SECS`).
    pub checkpoint_every: Duration,
    /// An RFC 3161 time-stamping authority every checkpoint is also stamped by
    /// (`SDL_GATE_LEDGER_TSA_URL`).
    pub tsa_url: Option<String>,
}

/// Default ledger key file, beside the default database.
pub const DEFAULT_LEDGER_KEY_PATH: &str = "sdl-gate-ledger.pem";
/// Default entries between checkpoints.
pub const DEFAULT_LEDGER_CHECKPOINT_ENTRIES: u64 = 256;
/// Default seconds between checkpoints (when there is anything new).
pub const DEFAULT_LEDGER_CHECKPOINT_SECS: u64 = 300;

/// The default ledger name: the public URL's host and path with `/ledger`, or
/// `sdl-gate.invalid/ledger` when there is no public URL.
pub fn default_ledger_origin(public_url: Option<&str>) -> String {
    let host = public_url
        .map(|u| u.split_once("://").map_or(u, |(_, rest)| rest))
        .map(|h| h.trim_end_matches('/'))
        .filter(|h| !h.is_empty() && !h.contains([' ', '+']));
    format!("{}/ledger", host.unwrap_or("sdl-gate.invalid"))
}

/// GitHub App settings (all three are needed to enable GitHub).
#[derive(Debug, Clone)]
pub struct GitHubSettings {
    /// The App's numeric id.
    pub app_id: u64,
    /// Path of the App's PEM private key (checked readable at start-up).
    pub private_key_path: PathBuf,
    /// The PEM private key, read at start-up.
    pub private_key: SecretString,
    /// Webhook secrets; several are accepted during a rotation.
    pub webhook_secrets: Vec<SecretString>,
    /// REST API base (`https://api.github.com`, or GHES `https://host/api/v3`).
    pub api_url: String,
    /// Time between reconciliation sweeps (`SDL_GATE_RECONCILE_INTERVAL`, in minutes); zero
    /// turns reconciliation off.
    pub reconcile_interval: Duration,
    /// Open pull requests re-evaluated at most per policy change, and looked at per
    /// reconciliation sweep (`SDL_GATE_FANOUT_MAX_PULLS`).
    pub fanout_max_pulls: usize,
    /// Whether an evaluation's reads go through one GraphQL query (`SDL_GATE_GITHUB_GRAPHQL`,
    /// `on` by default; `off` keeps them REST).
    pub graphql: bool,
}

/// GitLab bot settings (all three are needed to enable GitLab).
#[derive(Debug, Clone)]
pub struct GitLabSettings {
    /// Base URL of the GitLab instance.
    pub url: String,
    /// Access token of the bot user.
    pub token: SecretString,
    /// Webhook secret tokens; several are accepted during a rotation.
    pub webhook_secrets: Vec<SecretString>,
    /// The project holding the organisation's policy (`SDL_GATE_GITLAB_POLICY_PROJECT`,
    /// `group/policies`): its `sdl-gate.yml` at the default branch is the default and the
    /// floor of every project. `None`: projects have only their own policies.
    pub policy_project: Option<String>,
}

/// Login to the service's pages (`crate::web::auth`). Without a provider and without auditor
/// tokens nobody can sign in, and the pages stay closed.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// GitHub sign-in through the App's OAuth user flow, when its client id and secret are set.
    pub github: Option<GitHubLogin>,
    /// GitLab sign-in through an OAuth application, when its client id and secret are set.
    pub gitlab: Option<GitLabLogin>,
    /// The file holding the 32-byte key that signs session cookies
    /// (`SDL_GATE_SESSION_KEY_PATH`), generated on first start if absent.
    pub session_key_path: PathBuf,
}

/// The GitHub App's OAuth client, for signing people in.
#[derive(Debug, Clone)]
pub struct GitHubLogin {
    /// `SDL_GATE_GITHUB_CLIENT_ID`.
    pub client_id: String,
    /// `SDL_GATE_GITHUB_CLIENT_SECRET`.
    pub client_secret: SecretString,
    /// Where `/login/oauth/*` lives (`SDL_GATE_GITHUB_OAUTH_URL`: `https://github.com`, or
    /// the GitHub Enterprise Server host).
    pub oauth_url: String,
    /// The REST API base the user's token is used against (`SDL_GATE_GITHUB_API_URL`).
    pub api_url: String,
}

/// A GitLab OAuth application, for signing people in.
#[derive(Debug, Clone)]
pub struct GitLabLogin {
    /// `SDL_GATE_GITLAB_CLIENT_ID`.
    pub client_id: String,
    /// `SDL_GATE_GITLAB_CLIENT_SECRET`.
    pub client_secret: SecretString,
    /// The GitLab instance (`SDL_GATE_GITLAB_URL`).
    pub url: String,
}

/// Default GitHub host of the OAuth user flow.
pub const DEFAULT_GITHUB_OAUTH_URL: &str = "https://github.com";
/// Default session key file, beside the default database.
pub const DEFAULT_SESSION_KEY_PATH: &str = "sdl-gate-session.key";

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default database: a SQLite file in the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://sdl-gate.db";
/// Default GitHub API base.
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
/// Default workers per process.
pub const DEFAULT_WORKERS: usize = 4;
/// Default debounce: long enough to fold a push + label + review burst, short enough to feel live.
pub const DEFAULT_DEBOUNCE_MS: u64 = 1_000;
/// Default lease: longer than any sane evaluation; renewed while a job runs.
pub const DEFAULT_LEASE_SECS: u64 = 60;
/// Default attempts before parking.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// Default first retry delay.
pub const DEFAULT_BACKOFF_BASE_MS: u64 = 2_000;
/// Default longest retry delay.
pub const DEFAULT_BACKOFF_CAP_SECS: u64 = 600;
/// Default idle poll interval.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 500;
/// Default shutdown grace.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 20;
/// Default header (and idle keep-alive) read timeout.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// Default days deliveries and processed job events are kept.
pub const DEFAULT_RETENTION_DAYS: u64 = 30;
/// Default minutes between reconciliation sweeps.
pub const DEFAULT_RECONCILE_INTERVAL_MINUTES: u64 = 15;
/// Default bound of pull requests per fan-out and per reconciliation sweep.
pub const DEFAULT_FANOUT_MAX_PULLS: usize = 500;

/// A settings problem, naming the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("config file {path}: {message}")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// The TOML error, with line and column.
        message: String,
    },
    /// A value is malformed.
    #[error("setting {name}: {message}")]
    Invalid {
        /// The environment variable / key name.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A forge has some but not all of its settings.
    #[error(
        "{forge} is partly configured: {missing} must also be set (or unset {present} to disable {forge})"
    )]
    PartialForge {
        /// "GitHub" or "GitLab".
        forge: &'static str,
        /// The missing settings.
        missing: String,
        /// The settings that are present.
        present: String,
    },
    /// The GitHub private key file cannot be used.
    #[error("SDL_GATE_GITHUB_PRIVATE_KEY_PATH: {path}: {message}")]
    PrivateKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The TOML file's shape. Every key is optional; see `config/sdl-gate.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    database_url: Option<String>,
    public_url: Option<String>,
    workers: Option<usize>,
    log_format: Option<LogFormat>,
    shutdown_grace_secs: Option<u64>,
    header_read_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    retention_days: Option<f64>,
    #[serde(default)]
    queue: FileQueue,
    #[serde(default)]
    github: FileGitHub,
    #[serde(default)]
    gitlab: FileGitLab,
    #[serde(default)]
    ledger: FileLedger,
    #[serde(default)]
    web: FileWeb,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLedger {
    key_path: Option<PathBuf>,
    origin: Option<String>,
    checkpoint_entries: Option<u64>,
    checkpoint_secs: Option<u64>,
    tsa_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileQueue {
    debounce_ms: Option<u64>,
    lease_secs: Option<u64>,
    max_attempts: Option<u32>,
    backoff_base_ms: Option<u64>,
    backoff_cap_secs: Option<u64>,
    poll_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGitHub {
    app_id: Option<u64>,
    private_key_path: Option<PathBuf>,
    webhook_secret: Option<StringOrList>,
    api_url: Option<String>,
    reconcile_interval_minutes: Option<u64>,
    fanout_max_pulls: Option<usize>,
    client_id: Option<String>,
    client_secret: Option<String>,
    oauth_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGitLab {
    url: Option<String>,
    token: Option<String>,
    webhook_secret: Option<StringOrList>,
    client_id: Option<String>,
    client_secret: Option<String>,
    policy_project: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWeb {
    session_key_path: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn into_list(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => split_list(&s),
            StringOrList::Many(v) => v.into_iter().filter(|s| !s.trim().is_empty()).collect(),
        }
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Settings {
    /// Loads settings from the optional TOML file and the process environment.
    pub fn load(config: Option<&Path>) -> Result<Settings, SettingsError> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("SDL_GATE_"))
            .collect();
        Self::from_sources(config, &env)
    }

    /// Loads settings from an optional TOML file and a given environment (testable).
    pub fn from_sources(
        config: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Settings, SettingsError> {
        let file = match config {
            None => FileSettings::default(),
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| SettingsError::ReadFile {
                        path: path.to_owned(),
                        source,
                    })?;
                toml::from_str(&text).map_err(|e| SettingsError::ParseFile {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?
            }
        };
        let var = |name: &str| env.get(name).filter(|v| !v.trim().is_empty()).cloned();

        let listen_text = var("SDL_GATE_LISTEN")
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse().map_err(|e| SettingsError::Invalid {
            name: "SDL_GATE_LISTEN",
            message: format!("`{listen_text}` is not an address:port ({e})"),
        })?;
        let database_url = var("SDL_GATE_DATABASE_URL")
            .or(file.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(SettingsError::Invalid {
                name: "SDL_GATE_DATABASE_URL",
                message: "must start with sqlite: or postgres://".to_owned(),
            });
        }
        let workers = num(var("SDL_GATE_WORKERS"), file.workers, "SDL_GATE_WORKERS")?
            .unwrap_or(DEFAULT_WORKERS);
        if workers == 0 {
            return Err(SettingsError::Invalid {
                name: "SDL_GATE_WORKERS",
                message: "must be at least 1".to_owned(),
            });
        }
        let log_format = match var("SDL_GATE_LOG_FORMAT").as_deref() {
            None => file.log_format.unwrap_or(LogFormat::Text),
            Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    name: "SDL_GATE_LOG_FORMAT",
                    message: format!("`{other}` is not `text` or `json`"),
                });
            }
        };
        let q = file.queue;
        let ms = |v: Option<u64>, d: u64| Duration::from_millis(v.unwrap_or(d));
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d));
        let queue = QueueSettings {
            debounce: ms(
                num(
                    var("SDL_GATE_DEBOUNCE_MS"),
                    q.debounce_ms,
                    "SDL_GATE_DEBOUNCE_MS",
                )?,
                DEFAULT_DEBOUNCE_MS,
            ),
            lease: secs(
                num(
                    var("SDL_GATE_LEASE_SECS"),
                    q.lease_secs,
                    "SDL_GATE_LEASE_SECS",
                )?,
                DEFAULT_LEASE_SECS,
            ),
            max_attempts: num(
                var("SDL_GATE_MAX_ATTEMPTS"),
                q.max_attempts,
                "SDL_GATE_MAX_ATTEMPTS",
            )?
            .unwrap_or(DEFAULT_MAX_ATTEMPTS)
            .max(1),
            backoff_base: ms(
                num(
                    var("SDL_GATE_BACKOFF_BASE_MS"),
                    q.backoff_base_ms,
                    "SDL_GATE_BACKOFF_BASE_MS",
                )?,
                DEFAULT_BACKOFF_BASE_MS,
            ),
            backoff_cap: secs(
                num(
                    var("SDL_GATE_BACKOFF_CAP_SECS"),
                    q.backoff_cap_secs,
                    "SDL_GATE_BACKOFF_CAP_SECS",
                )?,
                DEFAULT_BACKOFF_CAP_SECS,
            ),
            poll_interval: ms(
                num(
                    var("SDL_GATE_POLL_INTERVAL_MS"),
                    q.poll_interval_ms,
                    "SDL_GATE_POLL_INTERVAL_MS",
                )?,
                DEFAULT_POLL_INTERVAL_MS,
            ),
        };
        if queue.lease < Duration::from_secs(1) {
            return Err(SettingsError::Invalid {
                name: "SDL_GATE_LEASE_SECS",
                message: "must be at least 1".to_owned(),
            });
        }
        let shutdown_grace = secs(
            num(
                var("SDL_GATE_SHUTDOWN_GRACE_SECS"),
                file.shutdown_grace_secs,
                "SDL_GATE_SHUTDOWN_GRACE_SECS",
            )?,
            DEFAULT_SHUTDOWN_GRACE_SECS,
        );
        let header_read_timeout = secs(
            num(
                var("SDL_GATE_HEADER_READ_TIMEOUT_SECS"),
                file.header_read_timeout_secs,
                "SDL_GATE_HEADER_READ_TIMEOUT_SECS",
            )?,
            DEFAULT_HEADER_READ_TIMEOUT_SECS,
        );
        if header_read_timeout < Duration::from_secs(1) {
            return Err(SettingsError::Invalid {
                name: "SDL_GATE_HEADER_READ_TIMEOUT_SECS",
                message: "must be at least 1".to_owned(),
            });
        }
        let max_connections = num(
            var("SDL_GATE_MAX_CONNECTIONS"),
            file.max_connections,
            "SDL_GATE_MAX_CONNECTIONS",
        )?;
        if max_connections == Some(0) {
            return Err(SettingsError::Invalid {
                name: "SDL_GATE_MAX_CONNECTIONS",
                message: "must be at least 1".to_owned(),
            });
        }
        let retention = retention(num(
            var("SDL_GATE_RETENTION_DAYS"),
            file.retention_days,
            "SDL_GATE_RETENTION_DAYS",
        )?)?;

        let reconcile_minutes = num(
            var("SDL_GATE_RECONCILE_INTERVAL"),
            file.github.reconcile_interval_minutes,
            "SDL_GATE_RECONCILE_INTERVAL",
        )?
        .unwrap_or(DEFAULT_RECONCILE_INTERVAL_MINUTES);
        let fanout_max_pulls = num(
            var("SDL_GATE_FANOUT_MAX_PULLS"),
            file.github.fanout_max_pulls,
            "SDL_GATE_FANOUT_MAX_PULLS",
        )?
        .unwrap_or(DEFAULT_FANOUT_MAX_PULLS);
        if fanout_max_pulls == 0 {
            return Err(SettingsError::Invalid {
                name: "SDL_GATE_FANOUT_MAX_PULLS",
                message: "must be at least 1".to_owned(),
            });
        }
        let sign_in = SignIn {
            github_id: var("SDL_GATE_GITHUB_CLIENT_ID").or(file.github.client_id),
            github_secret: var("SDL_GATE_GITHUB_CLIENT_SECRET").or(file.github.client_secret),
            github_oauth_url: var("SDL_GATE_GITHUB_OAUTH_URL").or(file.github.oauth_url),
            gitlab_id: var("SDL_GATE_GITLAB_CLIENT_ID").or(file.gitlab.client_id),
            gitlab_secret: var("SDL_GATE_GITLAB_CLIENT_SECRET").or(file.gitlab.client_secret),
            session_key_path: var("SDL_GATE_SESSION_KEY_PATH")
                .map(PathBuf::from)
                .or(file.web.session_key_path),
        };
        let github_api_url = var("SDL_GATE_GITHUB_API_URL")
            .or(file.github.api_url)
            .unwrap_or_else(|| DEFAULT_GITHUB_API_URL.to_owned());
        let mut github = github_settings(
            num(
                var("SDL_GATE_GITHUB_APP_ID"),
                file.github.app_id,
                "SDL_GATE_GITHUB_APP_ID",
            )?,
            var("SDL_GATE_GITHUB_PRIVATE_KEY_PATH")
                .map(PathBuf::from)
                .or(file.github.private_key_path),
            var("SDL_GATE_GITHUB_WEBHOOK_SECRET")
                .map(|s| split_list(&s))
                .or(file.github.webhook_secret.map(StringOrList::into_list))
                .filter(|l| !l.is_empty()),
            github_api_url.clone(),
        )?;
        if let Some(g) = github.as_mut() {
            g.reconcile_interval = Duration::from_secs(reconcile_minutes.saturating_mul(60));
            g.fanout_max_pulls = fanout_max_pulls;
            g.graphql = match var("SDL_GATE_GITHUB_GRAPHQL")
                .map(|v| v.trim().to_ascii_lowercase())
                .as_deref()
            {
                None | Some("on") | Some("true") | Some("1") => true,
                Some("off") | Some("false") | Some("0") => false,
                Some(other) => {
                    return Err(SettingsError::Invalid {
                        name: "SDL_GATE_GITHUB_GRAPHQL",
                        message: format!("`{other}` is not `on` or `off`"),
                    });
                }
            };
        }
        let gitlab_url = var("SDL_GATE_GITLAB_URL").or(file.gitlab.url);
        let web = web_settings(sign_in, &github_api_url, gitlab_url.as_deref())?;
        let gitlab = gitlab_settings(
            gitlab_url,
            var("SDL_GATE_GITLAB_TOKEN").or(file.gitlab.token),
            var("SDL_GATE_GITLAB_WEBHOOK_SECRET")
                .map(|s| split_list(&s))
                .or(file.gitlab.webhook_secret.map(StringOrList::into_list))
                .filter(|l| !l.is_empty()),
            var("SDL_GATE_GITLAB_POLICY_PROJECT")
                .or(file.gitlab.policy_project)
                .filter(|p| !p.trim().is_empty()),
        )?;

        let public_url = var("SDL_GATE_PUBLIC_URL").or(file.public_url);
        let origin = var("SDL_GATE_LEDGER_ORIGIN")
            .or(file.ledger.origin)
            .unwrap_or_else(|| default_ledger_origin(public_url.as_deref()));
        if origin.is_empty() || origin.contains([' ', '+', '\n']) {
            return Err(SettingsError::Invalid {
                name: "SDL_GATE_LEDGER_ORIGIN",
                message: format!(
                    "`{origin}` must be non-empty without spaces or `+` (a schema-less URL such as sdl-gate.example.com/ledger)"
                ),
            });
        }
        let checkpoint_entries = num(
            var("SDL_GATE_LEDGER_CHECKPOINT_ENTRIES"),
            file.ledger.checkpoint_entries,
            "SDL_GATE_LEDGER_CHECKPOINT_ENTRIES",
        )?
        .unwrap_or(DEFAULT_LEDGER_CHECKPOINT_ENTRIES);
        let checkpoint_secs = num(
            var("SDL_GATE_LEDGER_CHECKPOINT_SECS"),
            file.ledger.checkpoint_secs,
            "SDL_GATE_LEDGER_CHECKPOINT_SECS",
        )?
        .unwrap_or(DEFAULT_LEDGER_CHECKPOINT_SECS);
        for (value, name) in [
            (checkpoint_entries, "SDL_GATE_LEDGER_CHECKPOINT_ENTRIES"),
            (checkpoint_secs, "SDL_GATE_LEDGER_CHECKPOINT_SECS"),
        ] {
            if value == 0 {
                return Err(SettingsError::Invalid {
                    name,
                    message: "must be at least 1".to_owned(),
                });
            }
        }
        let ledger = LedgerSettings {
            key_path: var("SDL_GATE_LEDGER_KEY_PATH")
                .map(PathBuf::from)
                .or(file.ledger.key_path)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_LEDGER_KEY_PATH)),
            origin,
            checkpoint_entries,
            checkpoint_every: Duration::from_secs(checkpoint_secs),
            tsa_url: var("SDL_GATE_LEDGER_TSA_URL").or(file.ledger.tsa_url),
        };

        Ok(Settings {
            listen,
            database_url: SecretString::from(database_url),
            public_url,
            workers,
            log_format,
            queue,
            shutdown_grace,
            header_read_timeout,
            max_connections,
            retention,
            ledger,
            github,
            gitlab,
            web,
            test_processor: var("SDL_GATE_TEST_PROCESSOR"),
        })
    }

    /// One line per forge for the start-up log: enabled, or which settings enable it.
    pub fn forge_summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match &self.github {
            Some(g) => lines.push(format!(
                "GitHub enabled: app {} at {}, {} webhook secret(s)",
                g.app_id,
                g.api_url,
                g.webhook_secrets.len()
            )),
            None => lines.push(
                "GitHub disabled: set SDL_GATE_GITHUB_APP_ID, SDL_GATE_GITHUB_PRIVATE_KEY_PATH and SDL_GATE_GITHUB_WEBHOOK_SECRET to enable it"
                    .to_owned(),
            ),
        }
        match &self.gitlab {
            Some(g) => lines.push(format!(
                "GitLab enabled: {} , {} webhook secret(s)",
                g.url,
                g.webhook_secrets.len()
            )),
            None => lines.push(
                "GitLab disabled: set SDL_GATE_GITLAB_URL, SDL_GATE_GITLAB_TOKEN and SDL_GATE_GITLAB_WEBHOOK_SECRET to enable it"
                    .to_owned(),
            ),
        }
        lines
    }

    /// Whether the database URL selects PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.database_url.expose_secret().starts_with("postgres")
    }
}

fn num<T: std::str::FromStr>(
    env: Option<String>,
    file: Option<T>,
    name: &'static str,
) -> Result<Option<T>, SettingsError>
where
    T::Err: std::fmt::Display,
{
    match env {
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| SettingsError::Invalid {
                name,
                message: format!("`{text}` is not a number ({e})"),
            }),
        None => Ok(file),
    }
}

/// `SDL_GATE_RETENTION_DAYS` (a fraction of a day is allowed, for trials) as a duration;
/// 0 keeps everything.
fn retention(days: Option<f64>) -> Result<Option<Duration>, SettingsError> {
    let days = days.unwrap_or(DEFAULT_RETENTION_DAYS as f64);
    if !(0.0..=36_500.0).contains(&days) {
        return Err(SettingsError::Invalid {
            name: "SDL_GATE_RETENTION_DAYS",
            message: format!("`{days}` is not a number of days from 0 (keep for ever) to 36500"),
        });
    }
    if days == 0.0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_secs_f64(days * 86_400.0)))
}

fn partial(forge: &'static str, settings: &[(&'static str, bool)]) -> Result<bool, SettingsError> {
    let present: Vec<&str> = settings.iter().filter(|s| s.1).map(|s| s.0).collect();
    let missing: Vec<&str> = settings.iter().filter(|s| !s.1).map(|s| s.0).collect();
    if present.is_empty() {
        Ok(false)
    } else if missing.is_empty() {
        Ok(true)
    } else {
        Err(SettingsError::PartialForge {
            forge,
            missing: missing.join(", "),
            present: present.join(", "),
        })
    }
}

fn github_settings(
    app_id: Option<u64>,
    key_path: Option<PathBuf>,
    secrets: Option<Vec<String>>,
    api_url: String,
) -> Result<Option<GitHubSettings>, SettingsError> {
    let enabled = partial(
        "GitHub",
        &[
            ("SDL_GATE_GITHUB_APP_ID", app_id.is_some()),
            ("SDL_GATE_GITHUB_PRIVATE_KEY_PATH", key_path.is_some()),
            ("SDL_GATE_GITHUB_WEBHOOK_SECRET", secrets.is_some()),
        ],
    )?;
    let (true, Some(app_id), Some(path), Some(secrets)) = (enabled, app_id, key_path, secrets)
    else {
        return Ok(None);
    };
    let pem = std::fs::read_to_string(&path).map_err(|e| SettingsError::PrivateKey {
        path: path.clone(),
        message: format!("cannot read: {e}"),
    })?;
    if !(pem.contains("-----BEGIN") && pem.contains("PRIVATE KEY-----")) {
        return Err(SettingsError::PrivateKey {
            path,
            message: "not a PEM private key (no `-----BEGIN … PRIVATE KEY-----` block)".to_owned(),
        });
    }
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        return Err(SettingsError::Invalid {
            name: "SDL_GATE_GITHUB_API_URL",
            message: "must be an http(s) URL".to_owned(),
        });
    }
    Ok(Some(GitHubSettings {
        app_id,
        private_key_path: path,
        private_key: SecretString::from(pem),
        webhook_secrets: secrets.into_iter().map(SecretString::from).collect(),
        api_url: api_url.trim_end_matches('/').to_owned(),
        reconcile_interval: Duration::from_secs(DEFAULT_RECONCILE_INTERVAL_MINUTES * 60),
        fanout_max_pulls: DEFAULT_FANOUT_MAX_PULLS,
        graphql: true,
    }))
}

fn http_url(name: &'static str, url: String) -> Result<String, SettingsError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(SettingsError::Invalid {
            name,
            message: "must be an http(s) URL".to_owned(),
        });
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The sign-in settings as read (environment over file), before they are checked.
struct SignIn {
    github_id: Option<String>,
    github_secret: Option<String>,
    github_oauth_url: Option<String>,
    gitlab_id: Option<String>,
    gitlab_secret: Option<String>,
    session_key_path: Option<PathBuf>,
}

fn web_settings(
    read: SignIn,
    github_api_url: &str,
    gitlab_url: Option<&str>,
) -> Result<WebSettings, SettingsError> {
    partial(
        "GitHub sign-in",
        &[
            ("SDL_GATE_GITHUB_CLIENT_ID", read.github_id.is_some()),
            (
                "SDL_GATE_GITHUB_CLIENT_SECRET",
                read.github_secret.is_some(),
            ),
        ],
    )?;
    let github = match (read.github_id, read.github_secret) {
        (Some(client_id), Some(secret)) => Some(GitHubLogin {
            client_id,
            client_secret: SecretString::from(secret),
            oauth_url: http_url(
                "SDL_GATE_GITHUB_OAUTH_URL",
                read.github_oauth_url
                    .unwrap_or_else(|| DEFAULT_GITHUB_OAUTH_URL.to_owned()),
            )?,
            api_url: http_url("SDL_GATE_GITHUB_API_URL", github_api_url.to_owned())?,
        }),
        _ => None,
    };
    partial(
        "GitLab sign-in",
        &[
            ("SDL_GATE_GITLAB_CLIENT_ID", read.gitlab_id.is_some()),
            (
                "SDL_GATE_GITLAB_CLIENT_SECRET",
                read.gitlab_secret.is_some(),
            ),
        ],
    )?;
    if read.gitlab_id.is_some() && gitlab_url.is_none() {
        return Err(SettingsError::Invalid {
            name: "SDL_GATE_GITLAB_URL",
            message: "GitLab sign-in (SDL_GATE_GITLAB_CLIENT_ID) needs the GitLab instance's URL"
                .to_owned(),
        });
    }
    let gitlab = match (read.gitlab_id, read.gitlab_secret, gitlab_url) {
        (Some(client_id), Some(secret), Some(url)) => Some(GitLabLogin {
            client_id,
            client_secret: SecretString::from(secret),
            url: http_url("SDL_GATE_GITLAB_URL", url.to_owned())?,
        }),
        _ => None,
    };
    Ok(WebSettings {
        github,
        gitlab,
        session_key_path: read
            .session_key_path
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SESSION_KEY_PATH)),
    })
}

fn gitlab_settings(
    url: Option<String>,
    token: Option<String>,
    secrets: Option<Vec<String>>,
    policy_project: Option<String>,
) -> Result<Option<GitLabSettings>, SettingsError> {
    let enabled = partial(
        "GitLab",
        &[
            ("SDL_GATE_GITLAB_URL", url.is_some()),
            ("SDL_GATE_GITLAB_TOKEN", token.is_some()),
            ("SDL_GATE_GITLAB_WEBHOOK_SECRET", secrets.is_some()),
        ],
    )?;
    let (true, Some(url), Some(token), Some(secrets)) = (enabled, url, token, secrets) else {
        return Ok(None);
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(SettingsError::Invalid {
            name: "SDL_GATE_GITLAB_URL",
            message: "must be an http(s) URL".to_owned(),
        });
    }
    Ok(Some(GitLabSettings {
        url: url.trim_end_matches('/').to_owned(),
        token: SecretString::from(token),
        webhook_secrets: secrets.into_iter().map(SecretString::from).collect(),
        policy_project: match policy_project {
            None => None,
            Some(p) => {
                let p = p.trim().trim_matches('/').to_owned();
                if !p.contains('/') || p.chars().any(char::is_whitespace) {
                    return Err(SettingsError::Invalid {
                        name: "SDL_GATE_GITLAB_POLICY_PROJECT",
                        message: format!("`{p}` is not a project path like `group/policies`"),
                    });
                }
                Some(p)
            }
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn fresh_machine_defaults_disable_both_forges() {
        let s = Settings::from_sources(None, &env(&[])).unwrap();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.database_url.expose_secret(), DEFAULT_DATABASE_URL);
        assert!(s.github.is_none() && s.gitlab.is_none());
        assert!(s.forge_summary()[0].contains("SDL_GATE_GITHUB_APP_ID"));
    }

    #[test]
    fn retention_defaults_to_30_days_0_keeps_for_ever_and_nonsense_is_named() {
        let s = Settings::from_sources(None, &env(&[])).unwrap();
        assert_eq!(s.retention, Some(Duration::from_secs(30 * 86_400)));
        let s = Settings::from_sources(None, &env(&[("SDL_GATE_RETENTION_DAYS", "0")])).unwrap();
        assert_eq!(s.retention, None);
        let s = Settings::from_sources(None, &env(&[("SDL_GATE_RETENTION_DAYS", "0.5")])).unwrap();
        assert_eq!(s.retention, Some(Duration::from_secs(43_200)));
        for bad in ["-1", "forever", "NaN"] {
            let err = Settings::from_sources(None, &env(&[("SDL_GATE_RETENTION_DAYS", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("SDL_GATE_RETENTION_DAYS"), "{bad}: {err}");
        }
    }

    #[test]
    fn partial_gitlab_names_the_missing_settings() {
        let err = Settings::from_sources(None, &env(&[("SDL_GATE_GITLAB_URL", "https://gl")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SDL_GATE_GITLAB_TOKEN, SDL_GATE_GITLAB_WEBHOOK_SECRET"),
            "{err}"
        );
    }

    #[test]
    fn unreadable_key_file_names_the_setting() {
        let err = Settings::from_sources(
            None,
            &env(&[
                ("SDL_GATE_GITHUB_APP_ID", "1"),
                ("SDL_GATE_GITHUB_PRIVATE_KEY_PATH", "/nonexistent/key.pem"),
                ("SDL_GATE_GITHUB_WEBHOOK_SECRET", "a,b"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("SDL_GATE_GITHUB_PRIVATE_KEY_PATH: /nonexistent/key.pem"),
            "{err}"
        );
    }

    #[test]
    fn environment_overrides_file_and_secrets_do_not_leak_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "workers = 9\n[queue]\ndebounce_ms = 5\n[gitlab]\nurl = \"https://gl.example\"\ntoken = \"tok-SECRET\"\nwebhook_secret = [\"s1-SECRET\", \"s2-SECRET\"]\n",
        )
        .unwrap();
        let s = Settings::from_sources(Some(&path), &env(&[("SDL_GATE_WORKERS", "3")])).unwrap();
        assert_eq!(s.workers, 3);
        assert_eq!(s.queue.debounce, Duration::from_millis(5));
        assert_eq!(s.gitlab.as_ref().unwrap().webhook_secrets.len(), 2);
        let debug = format!("{s:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
    }

    #[test]
    fn the_gitlab_policy_project_is_read_and_checked() {
        let base = [
            ("SDL_GATE_GITLAB_URL", "https://gl.example"),
            ("SDL_GATE_GITLAB_TOKEN", "t"),
            ("SDL_GATE_GITLAB_WEBHOOK_SECRET", "s"),
        ];
        let s = Settings::from_sources(None, &env(&base)).unwrap();
        assert_eq!(s.gitlab.unwrap().policy_project, None);
        let mut more = base.to_vec();
        more.push(("SDL_GATE_GITLAB_POLICY_PROJECT", "/acme/policies/"));
        let s = Settings::from_sources(None, &env(&more)).unwrap();
        assert_eq!(
            s.gitlab.unwrap().policy_project.as_deref(),
            Some("acme/policies")
        );
        let mut bad = base.to_vec();
        bad.push(("SDL_GATE_GITLAB_POLICY_PROJECT", "policies"));
        let err = Settings::from_sources(None, &env(&bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SDL_GATE_GITLAB_POLICY_PROJECT"), "{err}");
    }

    #[test]
    fn reconcile_interval_and_fanout_bound_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let key = key.display().to_string();
        let base = [
            ("SDL_GATE_GITHUB_APP_ID", "1"),
            ("SDL_GATE_GITHUB_PRIVATE_KEY_PATH", key.as_str()),
            ("SDL_GATE_GITHUB_WEBHOOK_SECRET", "s"),
        ];
        let s = Settings::from_sources(None, &env(&base)).unwrap();
        let g = s.github.unwrap();
        assert_eq!(g.reconcile_interval, Duration::from_secs(15 * 60));
        assert_eq!(g.fanout_max_pulls, DEFAULT_FANOUT_MAX_PULLS);
        let mut more = base.to_vec();
        more.push(("SDL_GATE_RECONCILE_INTERVAL", "0"));
        more.push(("SDL_GATE_FANOUT_MAX_PULLS", "40"));
        let g = Settings::from_sources(None, &env(&more))
            .unwrap()
            .github
            .unwrap();
        assert!(g.reconcile_interval.is_zero());
        assert_eq!(g.fanout_max_pulls, 40);
        let mut bad = base.to_vec();
        bad.push(("SDL_GATE_RECONCILE_INTERVAL", "soon"));
        let err = Settings::from_sources(None, &env(&bad))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("setting SDL_GATE_RECONCILE_INTERVAL"),
            "{err}"
        );
    }

    #[test]
    fn sign_in_settings_are_read_and_half_of_a_client_is_an_error() {
        let s = Settings::from_sources(None, &env(&[])).unwrap();
        assert!(s.web.github.is_none() && s.web.gitlab.is_none());
        assert_eq!(
            s.web.session_key_path,
            PathBuf::from(DEFAULT_SESSION_KEY_PATH)
        );
        let s = Settings::from_sources(
            None,
            &env(&[
                ("SDL_GATE_GITHUB_CLIENT_ID", "Iv1.abc"),
                ("SDL_GATE_GITHUB_CLIENT_SECRET", "gh-SECRET"),
                ("SDL_GATE_GITHUB_OAUTH_URL", "https://ghe.example/"),
                ("SDL_GATE_GITLAB_CLIENT_ID", "gl-app"),
                ("SDL_GATE_GITLAB_CLIENT_SECRET", "gl-SECRET"),
                ("SDL_GATE_GITLAB_URL", "https://gitlab.example"),
                ("SDL_GATE_GITLAB_TOKEN", "bot-SECRET"),
                ("SDL_GATE_GITLAB_WEBHOOK_SECRET", "hook-SECRET"),
                ("SDL_GATE_SESSION_KEY_PATH", "/k/session.key"),
            ]),
        )
        .unwrap();
        let gh = s.web.github.as_ref().unwrap();
        assert_eq!(gh.oauth_url, "https://ghe.example");
        assert_eq!(gh.api_url, DEFAULT_GITHUB_API_URL);
        assert_eq!(s.web.gitlab.as_ref().unwrap().url, "https://gitlab.example");
        assert_eq!(s.web.session_key_path, PathBuf::from("/k/session.key"));
        assert!(!format!("{s:?}").contains("SECRET"));
        let err = Settings::from_sources(None, &env(&[("SDL_GATE_GITHUB_CLIENT_ID", "x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SDL_GATE_GITHUB_CLIENT_SECRET"), "{err}");
        let err = Settings::from_sources(
            None,
            &env(&[
                ("SDL_GATE_GITLAB_CLIENT_ID", "x"),
                ("SDL_GATE_GITLAB_CLIENT_SECRET", "y"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("SDL_GATE_GITLAB_URL"), "{err}");
    }

    #[test]
    fn unknown_key_in_file_is_rejected_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "wokers = 2\n").unwrap();
        let err = Settings::from_sources(Some(&path), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("wokers"), "{err}");
    }

    #[test]
    fn example_config_parses_and_names_only_real_keys() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sdl-gate.toml");
        Settings::from_sources(Some(&path), &env(&[])).expect("example config as shipped");
        // Uncomment every `# key = value` line: every documented key must be a real one.
        let text = std::fs::read_to_string(&path).unwrap();
        let uncommented: String = text
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") && !rest.starts_with("Test-only") => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let parsed: FileSettings = toml::from_str(&uncommented).expect("every documented key");
        assert_eq!(parsed.workers, Some(DEFAULT_WORKERS));
        assert_eq!(parsed.queue.lease_secs, Some(DEFAULT_LEASE_SECS));
        assert_eq!(parsed.queue.debounce_ms, Some(DEFAULT_DEBOUNCE_MS));
        assert_eq!(
            parsed.github.reconcile_interval_minutes,
            Some(DEFAULT_RECONCILE_INTERVAL_MINUTES)
        );
        assert_eq!(
            parsed.github.fanout_max_pulls,
            Some(DEFAULT_FANOUT_MAX_PULLS)
        );
        assert_eq!(
            parsed.github.api_url.as_deref(),
            Some(DEFAULT_GITHUB_API_URL)
        );
        assert!(parsed.gitlab.webhook_secret.is_some());
        assert_eq!(
            parsed.github.oauth_url.as_deref(),
            Some(DEFAULT_GITHUB_OAUTH_URL)
        );
        assert_eq!(
            parsed.web.session_key_path,
            Some(PathBuf::from(DEFAULT_SESSION_KEY_PATH))
        );
        assert!(parsed.gitlab.client_id.is_some() && parsed.github.client_secret.is_some());
    }
}
