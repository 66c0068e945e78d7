//! Liveness and readiness probes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use vigy_runtime::RuntimeHandle;

/// Whether the server takes work: cleared when it starts shutting down, so
/// a load balancer stops sending requests while in-flight ones finish.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<AtomicBool>);

impl Default for Readiness {
    fn default() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }
}

impl Readiness {
    /// From now on, `/readyz` says the server is going away.
    pub fn draining(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// `/healthz`: the process answers. `/readyz`: it is not shutting down and
/// its store answers a read within a second.
pub(crate) fn router(runtime: RuntimeHandle, readiness: Readiness) -> axum::Router {
    let readyz = move || {
        let (runtime, readiness) = (runtime.clone(), readiness.clone());
        async move {
            if !readiness.is_ready() {
                return (StatusCode::SERVICE_UNAVAILABLE, "shutting down".to_owned());
            }
            match tokio::time::timeout(Duration::from_secs(1), runtime.store().last_event_id()).await {
                Ok(Ok(_)) => (StatusCode::OK, "ready".to_owned()),
                Ok(Err(error)) => (StatusCode::SERVICE_UNAVAILABLE, format!("store: {error}")),
                Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store: no answer within 1 s".to_owned()),
            }
        }
    };
    axum::Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(readyz))
}
