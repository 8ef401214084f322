//! Accepting and serving connections within the `[limits]` the operator set. `axum::serve`
//! gives hyper no timer, so a client that sends its headers a byte at a time, or opens a
//! connection and sends nothing, holds it for good; and it takes every connection it is
//! offered. Here each connection has a slot (past `max_connections` it is closed at once), a
//! deadline for each request's head (which also bounds how long it may idle between requests),
//! a bound on the head's size, and a bound on how long a write may wait for a client that
//! reads nothing. Bodies are bounded by the request and transfer timeouts of the router.

use crate::config::LimitsConfig;
use axum::{body::Body, extract::ConnectInfo, Router};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tower::ServiceExt;

/// File descriptors kept for the stores, logs and accept retries beside the connections.
const SPARE_FDS: u64 = 256;

/// The limits as served, after the open-file limit had its say.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub write_stall_timeout: Duration,
    pub max_header_bytes: usize,
}

impl Limits {
    /// Raises the process's open-file limit to its hard limit, and lowers `max_connections`
    /// to what that limit allows.
    pub fn of(config: &LimitsConfig) -> Self {
        let mut max_connections = config.max_connections.max(1);
        if let Some(fds) = raise_open_file_limit() {
            let room = fds.saturating_sub(SPARE_FDS).max(1) as usize;
            if room < max_connections {
                tracing::warn!(
                    max_connections,
                    open_file_limit = fds,
                    "lowering [limits] max_connections to {room}: the open-file limit allows no more"
                );
                max_connections = room;
            }
        }
        Self {
            max_connections,
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs.max(1)),
            write_stall_timeout: Duration::from_secs(config.write_stall_timeout_secs.max(1)),
            // hyper refuses a read buffer under 8 KiB.
            max_header_bytes: config.max_header_bytes.max(8192),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets the connections in flight
/// finish (each within the limits above).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut last_refusal: Option<Instant> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // wait a moment rather than spin.
                    tracing::debug!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if last_refusal.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection from {peer} closed: [limits] max_connections are all in use"
                );
                last_refusal = Some(Instant::now());
            }
            drop(tcp);
            continue;
        };
        // No Nagle: responses are written in few large writes, and a small final write (the
        // tail of a download, a short JSON answer) must not wait for a delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        let mut io = TimeoutStream::new(tcp);
        io.set_write_timeout(Some(limits.write_stall_timeout));
        let io = TokioIo::new(Box::pin(io));
        let service = app
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(Body::new)
            });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes);
        let conn = builder.serve_connection(io, TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection from {peer} ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The address a request came from (set for every connection served here).
pub fn peer(req: &axum::extract::Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Sets the soft open-file limit to the hard one; returns the limit in force.
#[cfg(unix)]
fn raise_open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    // `rlim_t` is not `u64` on every Unix.
    #[allow(clippy::unnecessary_cast)]
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
fn raise_open_file_limit() -> Option<u64> {
    None
}
