//! `sdl-gate demo`: the product working in a minute, with no forge account and no network.
//!
//! It starts a local GitHub on loopback (see [`forge`]) holding a sample repository and pull
//! request, generates an App key for it, and runs this same binary's `sdl-gate serve` against
//! it as a child process — configured only through the `SDL_GATE_*` variables a real
//! deployment sets, so what the demo shows is what `serve` does. It then sends signed
//! `pull_request` webhooks, waits for the check run and the sticky comment the service writes,
//! and prints them, with the API requests the service made.

mod forge;
mod scenario;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use clap::Args;

use forge::{INSTALLATION, LocalForge};

/// Arguments of `sdl-gate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the service's SQLite database, its log and the demo App key in this folder
    /// (default: a temporary folder, removed at the end).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// How long to wait for each evaluation, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
}

/// Runs the walk-through; exit 0 when both evaluations came out as the scenario expects.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let (dir, temporary) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("sdl-gate-demo-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(walk_through(&dir, Duration::from_secs(args.timeout)));
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    outcome.map(|()| ExitCode::SUCCESS)
}

/// The child `sdl-gate serve`; killed when dropped, on every path out of the demo.
struct Service {
    child: Child,
    log: PathBuf,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// The last lines of the service's log, for an error message.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

async fn walk_through(dir: &Path, timeout: Duration) -> anyhow::Result<()> {
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|_| anyhow::anyhow!("generating the demo App's RSA key"))?;
    let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key)
        .map_err(|_| anyhow::anyhow!("encoding the demo App's RSA key"))?;
    let key_path = dir.join("demo-app-key.pem");
    write_private(&key_path, &pem("PRIVATE KEY", pkcs8.as_ref()))?;
    let jwt_key = jsonwebtoken::DecodingKey::from_rsa_der(key.public_key().as_ref());

    let forge = LocalForge::start(scenario::initial(), jwt_key)
        .await
        .context("starting the local GitHub on 127.0.0.1")?;
    let secret = hex::encode(rand::random::<[u8; 16]>());
    let service = spawn_service(dir, &key_path, &forge.url, &secret)?;
    wait_healthy(&service, timeout).await?;

    println!("sdl-gate demo — no network, nothing leaves this machine.\n");
    println!(
        "  local GitHub   {}  (repository {})",
        forge.url,
        scenario::REPO
    );
    println!(
        "  sdl-gate serve {}  (SQLite, log in {})",
        service.url,
        service.log.display()
    );
    println!("  policy on main: examples/offline/sdl-gate.yml\n");

    let client = reqwest::Client::new();
    println!(
        "1. dana opens pull request #{} \"Badge login for the operator HMI\": it changes src/auth/login.rs (a security path), CodeQL passed, no threat model, no review.",
        scenario::NUMBER
    );
    let body = scenario::pull_request_event("opened", scenario::HEAD_1, INSTALLATION);
    send(&client, &service, &secret, "demo-1", &body).await?;
    let first = wait_completed(&forge, &service, scenario::HEAD_1, timeout).await?;
    show(&forge, &first, 0);

    println!(
        "2. dana pushes docs/threat-model/badge-login.md, CodeQL passes again, and carol (acme/security) approves the new head."
    );
    let seen = {
        let mut st = forge.state();
        scenario::second_commit(&mut st.repo);
        st.log.len()
    };
    let body = scenario::pull_request_event("synchronize", scenario::HEAD_2, INSTALLATION);
    send(&client, &service, &secret, "demo-2", &body).await?;
    let second = wait_completed(&forge, &service, scenario::HEAD_2, timeout).await?;
    show(&forge, &second, seen);

    let st = forge.state();
    if !st.unknown.is_empty() {
        bail!(
            "the service asked the local GitHub for what it does not serve: {}",
            st.unknown.join(", ")
        );
    }
    let verdicts = (first.conclusion.as_deref(), second.conclusion.as_deref());
    if verdicts != (Some("failure"), Some("success")) {
        bail!("expected failure, then success; the check runs said {verdicts:?}");
    }
    println!(
        "\nNext: docs/github-app.md installs it as a GitHub App (the README covers the GitLab bot); `sdl-gate check --help` runs the same gates offline."
    );
    Ok(())
}

/// Starts `sdl-gate serve` (this executable) configured for the local forge and nothing else.
fn spawn_service(dir: &Path, key: &Path, api: &str, secret: &str) -> anyhow::Result<Service> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free loopback port")?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let db = dir.join("sdl-gate.db");
    let _ = std::fs::remove_file(&db);
    let log = dir.join("serve.log");
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let exe = std::env::current_exe().context("finding the sdl-gate executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("serve");
    // Only what is set here: none of the caller's SDL_GATE_* settings leak in.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SDL_GATE_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("SDL_GATE_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "SDL_GATE_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("SDL_GATE_PUBLIC_URL", &url)
        // The demo's ledger key lives and dies with its folder, not in the caller's.
        .env("SDL_GATE_LEDGER_KEY_PATH", dir.join("ledger.pem"))
        .env("SDL_GATE_SESSION_KEY_PATH", dir.join("session.key"))
        .env("SDL_GATE_GITHUB_APP_ID", forge::APP_ID.to_string())
        .env("SDL_GATE_GITHUB_PRIVATE_KEY_PATH", key)
        .env("SDL_GATE_GITHUB_WEBHOOK_SECRET", secret)
        .env("SDL_GATE_GITHUB_API_URL", api)
        // The local GitHub answers REST only.
        .env("SDL_GATE_GITHUB_GRAPHQL", "off")
        .env("SDL_GATE_RECONCILE_INTERVAL", "0")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    let child = cmd.spawn().context("starting `sdl-gate serve`")?;
    Ok(Service { child, log, url })
}

async fn wait_healthy(service: &Service, timeout: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let start = Instant::now();
    while start.elapsed() < timeout {
        let url = format!("{}/healthz", service.url);
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "`sdl-gate serve` did not answer /healthz within {timeout:?}; its log ends:\n{}",
        service.log_tail()
    )
}

/// Sends one signed `pull_request` delivery, as GitHub does.
async fn send(
    client: &reqwest::Client,
    service: &Service,
    secret: &str,
    delivery: &str,
    body: &str,
) -> anyhow::Result<()> {
    let signature = sdl_gate::server::signature::github_signature(secret, body.as_bytes());
    let resp = client
        .post(format!("{}/webhooks/github", service.url))
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", signature)
        .body(body.to_owned())
        .send()
        .await
        .context("sending the webhook to sdl-gate serve")?;
    let status = resp.status();
    println!("   webhook pull_request → {}", status.as_u16());
    if !status.is_success() {
        bail!(
            "the service refused the webhook: {status} {}",
            resp.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// Waits until the service's `sdl-gate` check run on `head` is completed and the sticky comment
/// shows `head` (the service writes the check run first, then the comment).
async fn wait_completed(
    forge: &LocalForge,
    service: &Service,
    head: &str,
    timeout: Duration,
) -> anyhow::Result<forge::CheckRun> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let done = {
            let st = forge.state();
            let short = head.get(..12).unwrap_or(head);
            let commented = st.repo.comments.iter().any(|c| c.body.contains(short));
            st.repo
                .check_runs
                .iter()
                .find(|r| r.name == "sdl-gate" && r.head_sha == head && r.status == "completed")
                .filter(|_| commented)
                .cloned()
        };
        if let Some(run) = done {
            return Ok(run);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "no completed sdl-gate check run and comment for {head} within {timeout:?}; the service's log ends:\n{}",
        service.log_tail()
    )
}

/// Prints a check run and the sticky comment as the pull request page would show them, and
/// the API requests the service made for them (those after the first `from` of the log).
fn show(forge: &LocalForge, run: &forge::CheckRun, from: usize) {
    println!(
        "   check run sdl-gate: {} — {}",
        run.conclusion.as_deref().unwrap_or("(none)"),
        run.title.as_deref().unwrap_or("")
    );
    if let Some(url) = &run.details_url {
        println!("   details link: {url}");
    }
    println!("   annotations: {}", run.annotations);
    let st = forge.state();
    match st.repo.comments.iter().find(|c| c.user.ends_with("[bot]")) {
        Some(c) => {
            println!(
                "   sticky comment by {} (one per pull request, edited in place):",
                c.user
            );
            print_indented(&c.body);
        }
        None => println!("   no comment"),
    }
    let requests = st.log.get(from..).unwrap_or_default();
    println!(
        "   the service's {} requests to the local GitHub for this evaluation:",
        requests.len()
    );
    for line in requests {
        println!("     {line}");
    }
    println!();
}

fn print_indented(text: &str) {
    for line in text.lines() {
        println!("   │ {line}");
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Writes the key readable by this user only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
