//! The accept loop: HTTP/1.1 connections served by hyper with the bounds `axum::serve` does not
//! set, so slow or idle clients cannot hold the service's file descriptors.
//!
//! - A request head (the first, or the next one on a kept-alive connection) must arrive within
//!   [`ConnLimits::header_read_timeout`]; hyper starts that timer whenever it waits for a head,
//!   so it is also the idle keep-alive timeout. Header-drip and idle clients are closed then.
//! - At most [`ConnLimits::max_connections`] connections are open, a number kept below the
//!   process's file-descriptor limit ([`fd_limit`]) so the database and the log always get one.
//!   A connection beyond the cap is still accepted (so `/healthz` is never starved) and the
//!   oldest open connection is asked to close: at once when idle or still sending its head,
//!   after its response when a request is in flight. Above the cap by more than the margin
//!   (while shed connections close) a new connection is closed at once.
//! - `accept` errors (e.g. `EMFILE`) are logged and retried after a short pause instead of
//!   spinning.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

/// Default for [`ConnLimits::header_read_timeout`].
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// File descriptors kept free for everything but client connections (database, log, files):
/// at least this many, or an eighth of the limit when that is more.
const FD_MARGIN: usize = 64;

/// Used when the limit cannot be read (no `/proc`): the common soft default.
const FD_LIMIT_UNKNOWN: usize = 1024;

/// How long a connection asked to close (shed or shutdown) may take to finish its response.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Bounds on client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Time allowed for a request head to arrive, and for an idle kept-alive connection.
    pub header_read_timeout: Duration,
    /// Open connections before the oldest is shed.
    pub max_connections: usize,
}

impl ConnLimits {
    /// The defaults for this process: [`HEADER_READ_TIMEOUT`] and [`default_max_connections`].
    pub fn for_process() -> ConnLimits {
        ConnLimits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connections: default_max_connections(),
        }
    }

    /// These limits with the configured timeout and, when set, connection cap. A cap above
    /// what the fd limit allows is lowered to it (with a warning): beyond it `accept` fails.
    pub fn with_settings(self, header_read_timeout: Duration, max: Option<usize>) -> ConnLimits {
        let max_connections = match max {
            None => self.max_connections,
            Some(wanted) if wanted > self.max_connections => {
                tracing::warn!(
                    wanted,
                    allowed = self.max_connections,
                    "SDL_GATE_MAX_CONNECTIONS is above what RLIMIT_NOFILE allows; using the lower figure"
                );
                self.max_connections
            }
            Some(wanted) => wanted,
        };
        ConnLimits {
            header_read_timeout,
            max_connections,
        }
    }
}

/// The soft `RLIMIT_NOFILE` of this process, read from `/proc/self/limits` (Linux); `None`
/// when it cannot be read or is unlimited.
pub fn fd_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_fd_limit(&text)
}

fn parse_fd_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The connection cap below an fd limit of `limit`: the limit minus the margin, at least 16.
pub fn cap_for_fd_limit(limit: usize) -> usize {
    let margin = FD_MARGIN.max(limit / 8);
    limit.saturating_sub(margin).max(16)
}

/// [`cap_for_fd_limit`] of this process's limit.
pub fn default_max_connections() -> usize {
    cap_for_fd_limit(fd_limit().unwrap_or(FD_LIMIT_UNKNOWN))
}

/// The open connections, oldest first, each with the signal that asks it to close.
#[derive(Default)]
struct Registry {
    next: u64,
    live: BTreeMap<u64, Arc<Notify>>,
}

/// Serves `app` on `listener` until `stop` resolves, then stops accepting, asks every
/// connection to close after its response and waits for them (at most `CLOSE_GRACE` each).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(());
    tokio::spawn(async move {
        stop.await;
        drop(stop_rx);
    });
    // Every connection task holds a receiver; the loop ends when all are dropped.
    let (done_tx, done_rx) = watch::channel(());
    let registry = Arc::new(Mutex::new(Registry::default()));
    let open = Arc::new(AtomicUsize::new(0));
    let hard_cap = limits
        .max_connections
        .saturating_add(FD_MARGIN.max(limits.max_connections / 16) / 2);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut accept_errors: u64 = 0;
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    accept_errors += 1;
                    if accept_errors.is_power_of_two() {
                        tracing::warn!(error = %err, count = accept_errors, open = open.load(Ordering::Relaxed), "accept failed; retrying");
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = stop_tx.closed() => break,
        };
        if open.load(Ordering::Relaxed) >= hard_cap {
            ::metrics::counter!("sdl_gate_connections_refused_total").increment(1);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        open.fetch_add(1, Ordering::Relaxed);
        let shed = Arc::new(Notify::new());
        let id = {
            let mut reg = registry
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let id = reg.next;
            reg.next += 1;
            reg.live.insert(id, Arc::clone(&shed));
            while reg.live.len() > limits.max_connections {
                if let Some((_, oldest)) = reg.live.pop_first() {
                    ::metrics::counter!("sdl_gate_connections_shed_total").increment(1);
                    oldest.notify_one();
                }
            }
            id
        };
        let conn =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let (registry, open, stop_tx, done_rx) = (
            Arc::clone(&registry),
            Arc::clone(&open),
            stop_tx.clone(),
            done_rx.clone(),
        );
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let closing = tokio::select! {
                result = conn.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "connection ended");
                    }
                    false
                }
                () = shed.notified() => true,
                () = stop_tx.closed() => true,
            };
            if closing {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await;
            }
            registry
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .live
                .remove(&id);
            open.fetch_sub(1, Ordering::Relaxed);
            drop(done_rx);
        });
    }
    drop(listener);
    drop(done_rx);
    done_tx.closed().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fd_limit_is_read_from_proc_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(parse_fd_limit(text), Some(1024));
        assert_eq!(
            parse_fd_limit("Max open files  unlimited  unlimited  files"),
            None
        );
        assert_eq!(parse_fd_limit(""), None);
    }

    #[test]
    fn the_cap_keeps_a_margin_below_the_fd_limit() {
        assert_eq!(cap_for_fd_limit(1024), 1024 - 128);
        assert_eq!(cap_for_fd_limit(256), 256 - 64);
        assert_eq!(cap_for_fd_limit(20_000), 20_000 - 2_500);
        assert_eq!(cap_for_fd_limit(10), 16);
    }
}
