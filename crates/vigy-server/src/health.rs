//! Liveness and readiness probes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use vigy_runtime::RuntimeHandle;

/// Whether the server takes work: cleared when it starts shutting down, so
/// a load balancer stops sending requests while in-flight ones finish, and
/// long-lived sessions (MCP) are told to end.
#[derive(Debug, Clone)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
    shutdown: CancellationToken,
}

impl Default for Readiness {
    fn default() -> Self {
        Self { ready: Arc::new(AtomicBool::new(true)), shutdown: CancellationToken::new() }
    }
}

impl Readiness {
    /// From now on, `/readyz` says the server is going away, and MCP
    /// sessions end.
    pub fn draining(&self) {
        self.ready.store(false, Ordering::Relaxed);
        self.shutdown.cancel();
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Cancelled once draining.
    pub(crate) fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// `/healthz`: the process answers. `/readyz`: it is not shutting down, the
/// runtime is healthy (its tasks run, its commits succeed) and its store
/// answers a read within a second. A 503 says why in a short phrase; the
/// errors behind it are in the server's log, never in the response.
pub(crate) fn router(runtime: RuntimeHandle, readiness: Readiness) -> axum::Router {
    let readyz = move || {
        let (runtime, readiness) = (runtime.clone(), readiness.clone());
        async move {
            if !readiness.is_ready() {
                return (StatusCode::SERVICE_UNAVAILABLE, "shutting down".to_owned());
            }
            if let Err(unhealthy) = runtime.health() {
                return (StatusCode::SERVICE_UNAVAILABLE, unhealthy.to_string());
            }
            match tokio::time::timeout(Duration::from_secs(1), runtime.store().last_event_id()).await {
                Ok(Ok(_)) => (StatusCode::OK, "ready".to_owned()),
                // The store's words stay in the log, under the incident id.
                Ok(Err(error)) => (StatusCode::SERVICE_UNAVAILABLE, crate::internal::incident(&error)),
                Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store: no answer within 1 s".to_owned()),
            }
        }
    };
    axum::Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(readyz))
}
