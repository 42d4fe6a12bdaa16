//! `sdl-gate serve`: the webhook service. Loads settings (file + environment), sets up logging,
//! connects and migrates the database, then serves until SIGTERM/SIGINT and shuts down
//! gracefully (exit 0).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use sdl_gate::engine::github::fanout::FanoutSettings;
use sdl_gate::engine::github::reconcile::{ReconcileSettings, ReconcileTask, Reconciler};
use sdl_gate::engine::{Clock, ForgeProcessor, Wiring, expiry};
use sdl_gate::forge::github::{GithubConfig, GithubForge};
use sdl_gate::forge::gitlab::GitlabConfig;
use sdl_gate::forge_name::ForgeName;
use sdl_gate::ledger::keys;
use sdl_gate::ledger::note::NoteSigner;
use sdl_gate::ledger::tsa::TsaClient;
use sdl_gate::queue::record::RecordProcessor;
use sdl_gate::queue::{Job, ProcessError, Processor, UnconfiguredProcessor};
use sdl_gate::server::{self, ServiceConfig};
use sdl_gate::settings::{LedgerSettings, LogFormat, Settings};
use sdl_gate::store::{CheckpointPolicy, Store, spawn_checkpointer};
use sdl_gate::web::auth::{Auth, AuthConfig};
use secrecy::ExposeSecret;

use super::serve_gitlab::LazyGitlab;
use tracing_subscriber::EnvFilter;

/// Arguments of `sdl-gate serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML settings file (see config/sdl-gate.toml); SDL_GATE_* environment variables override it.
    #[arg(long, value_name = "FILE", env = "SDL_GATE_CONFIG")]
    config: Option<PathBuf>,
}

/// The processor chosen at start-up.
enum ServeProcessor {
    Unconfigured(UnconfiguredProcessor),
    /// GitHub (if configured) in `forges`; GitLab (if configured) connects in the background.
    Forges(Box<ForgeProcessor>, Option<LazyGitlab>),
    Record(RecordProcessor),
}

impl Processor for ServeProcessor {
    async fn process(&self, job: &Job) -> Result<(), ProcessError> {
        match self {
            ServeProcessor::Unconfigured(p) => p.process(job).await,
            ServeProcessor::Forges(_, Some(gitlab)) if job.key.forge == ForgeName::GitLab => {
                gitlab.process(job).await
            }
            ServeProcessor::Forges(p, _) => p.process(job).await,
            ServeProcessor::Record(p) => p.process(job).await,
        }
    }
}

/// Runs the service until a shutdown signal.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(args.config.as_deref())?;
    init_logging(settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(settings))?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    for line in settings.forge_summary() {
        tracing::info!("{line}");
    }
    // One connection per worker and three for readiness, pruning and the pages. On PostgreSQL
    // the delivery writer opens POSTGRES_WRITERS more, in a pool of its own (see
    // `Committer::spawn`).
    let connections = u32::try_from(settings.workers + 3).unwrap_or(u32::MAX);
    let store = Store::connect(settings.database_url.expose_secret(), connections)
        .await
        .context("connecting to SDL_GATE_DATABASE_URL")?;
    store.migrate().await.context("migrating the database")?;
    let signer = ledger_signer(&settings.ledger)?;
    let mut reconciler = None;
    let mut scheduler = None;
    let mut gitlab_connect = None;
    let mut lazy_gitlab = None;
    let mut config = ServiceConfig::from_settings(&settings);
    let auth_config = AuthConfig::from_settings(&settings).context("the pages' sign-in")?;
    config.pages = Some(sdl_gate::web::routes(sdl_gate::web::Web::new(
        store.clone(),
        Auth::new(auth_config, store.clone())?,
        vec![signer.verifier().clone()],
    )));
    let readiness = config.readiness.clone();
    let processor = match settings.test_processor.as_deref() {
        None if settings.github.is_none() && settings.gitlab.is_none() => {
            ServeProcessor::Unconfigured(UnconfiguredProcessor)
        }
        None => {
            let mut forges = ForgeProcessor::default();
            // Waivers expire without any forge event: the scheduler enqueues their changes'
            // re-evaluation, starting with those missed while the service was down.
            let (wiring, sched) = Wiring::start(
                store.clone(),
                Clock::system(),
                settings.public_url.clone(),
                expiry::DEFAULT_TICK,
            )
            .await
            .context("loading the waivers' expiries")?;
            scheduler = Some(sched);
            if let Some(gh) = &settings.github {
                let mut config = GithubConfig::new(gh.app_id, gh.private_key.clone());
                config.api_url = gh.api_url.clone();
                config.graphql = gh.graphql;
                let forge = GithubForge::new(config.clone())
                    .context("SDL_GATE_GITHUB_PRIVATE_KEY_PATH: the GitHub App key")?;
                reconciler = reconciler_for(gh, config, &store)?;
                forges.github = Some(wiring.github(
                    forge,
                    FanoutSettings {
                        max_pulls: gh.fanout_max_pulls,
                        ..FanoutSettings::default()
                    },
                ));
            }
            if let Some(gl) = &settings.gitlab {
                // In the background: an unreachable GitLab must not stop the GitHub App.
                let gitlab = LazyGitlab::default();
                let mut config = GitlabConfig::new(gl.url.clone(), gl.token.clone());
                config.policy_project = gl.policy_project.clone();
                gitlab_connect = Some(gitlab.spawn_connect(
                    config,
                    readiness.clone(),
                    move |forge| wiring.gitlab(forge),
                ));
                lazy_gitlab = Some(gitlab);
            }
            ServeProcessor::Forges(Box::new(forges), lazy_gitlab)
        }
        Some(spec) => {
            tracing::warn!(
                "SDL_GATE_TEST_PROCESSOR is set: TEST-ONLY recording processor, no forge is acted on"
            );
            ServeProcessor::Record(RecordProcessor::from_spec(spec)?)
        }
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding SDL_GATE_LISTEN {}", settings.listen))?;
    let service = server::start(listener, store.clone(), Arc::new(processor), config)?;
    tracing::info!(
        addr = %service.addr,
        backend = ?store.backend(),
        workers = settings.workers,
        "listening on http://{}",
        service.addr
    );
    let reconciling: Option<ReconcileTask> = reconciler.map(|r| Arc::new(r).spawn());
    let tsa = settings
        .ledger
        .tsa_url
        .as_deref()
        .map(TsaClient::new)
        .transpose()
        .context("SDL_GATE_LEDGER_TSA_URL")?;
    let checkpointer = spawn_checkpointer(
        store.clone(),
        signer.clone(),
        tsa.clone(),
        CheckpointPolicy {
            entries: settings.ledger.checkpoint_entries,
            every: settings.ledger.checkpoint_every,
        },
        LEDGER_TICK,
    );
    shutdown_signal().await;
    tracing::info!("shutdown signal received");
    if let Some(task) = reconciling {
        task.stop().await;
    }
    if let Some(task) = gitlab_connect {
        task.abort();
    }
    service.shutdown().await;
    if let Some(s) = scheduler {
        s.shutdown().await;
    }
    // What the last jobs appended is sealed before the process goes.
    checkpointer.abort();
    match store.checkpoint_ledger_stamped(&signer, tsa.as_ref()).await {
        Ok(Some(cp)) => tracing::info!(size = cp.size, "ledger: checkpoint signed at shutdown"),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "ledger: no checkpoint at shutdown"),
    }
    store.close().await;
    Ok(())
}

/// How often the checkpointer looks at the ledger.
const LEDGER_TICK: std::time::Duration = std::time::Duration::from_secs(2);

/// The ledger's signing key, generated (and said so, with the public key to publish) on
/// first start.
fn ledger_signer(ledger: &LedgerSettings) -> anyhow::Result<Arc<NoteSigner>> {
    let (signer, generated) = keys::load_or_generate(&ledger.key_path, &ledger.origin)
        .context("SDL_GATE_LEDGER_KEY_PATH: the evidence ledger's signing key")?;
    if generated {
        tracing::warn!(
            path = %ledger.key_path.display(),
            public_key = %signer.verifier(),
            "ledger: no signing key was found, so a new one was generated; back it up, and \
             publish the public key so auditors can pin it"
        );
    } else {
        tracing::info!(public_key = %signer.verifier(), "ledger: signing key loaded");
    }
    Ok(Arc::new(signer))
}

/// The periodic reconciliation, with its own GitHub client (its own token cache), unless
/// `SDL_GATE_RECONCILE_INTERVAL` is 0.
fn reconciler_for(
    gh: &sdl_gate::settings::GitHubSettings,
    config: GithubConfig,
    store: &Store,
) -> anyhow::Result<Option<Reconciler>> {
    if gh.reconcile_interval.is_zero() {
        tracing::info!("reconciliation off (SDL_GATE_RECONCILE_INTERVAL=0)");
        return Ok(None);
    }
    let forge =
        GithubForge::new(config).context("SDL_GATE_GITHUB_PRIVATE_KEY_PATH: the GitHub App key")?;
    let minutes = gh.reconcile_interval.as_secs() / 60;
    tracing::info!(
        minutes,
        "reconciliation at start-up, then every {minutes} minutes (SDL_GATE_RECONCILE_INTERVAL)"
    );
    Ok(Some(Reconciler::new(
        Arc::new(forge),
        store.clone(),
        ReconcileSettings {
            interval: gh.reconcile_interval,
            max_pulls: gh.fanout_max_pulls,
            ..ReconcileSettings::default()
        },
    )))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
