//! `vigy serve` as a library: every transport over one
//! [`RuntimeHandle`](vigy_runtime::RuntimeHandle) on one address.
//!
//! | path | what |
//! |---|---|
//! | `/v1/...`, `/openapi.json`, `/swagger` | REST, its OpenAPI document, Swagger UI |
//! | `/graphql` | GraphQL (POST), subscriptions (WebSocket), GraphiQL (GET) |
//! | `/pleme.vigy.v1.VigyService/*` | gRPC, with reflection and health |
//! | `/mcp` | MCP over streamable HTTP |
//! | `/healthz`, `/readyz`, `/metrics` | liveness, readiness, Prometheus |
//!
//! A server on a non-loopback address must have a bearer token, which
//! every transport then requires (see [`auth`]).

pub mod auth;
mod health;
mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;

use vigy_runtime::RuntimeHandle;

pub use health::Readiness;

/// How the one address is served.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The bearer token every request must carry; required off loopback.
    pub token: Option<String>,
    /// `Host` names accepted by MCP besides loopback ones (the public name
    /// of a server bound to a non-loopback address).
    pub public_hosts: Vec<String>,
}

/// Why a server would not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Off loopback without a token.
    #[error(
        "refusing to serve on {0} without a bearer token: anyone who can reach it could change vigies; pass --token or set $VIGY_TOKEN"
    )]
    TokenRequired(SocketAddr),
    /// An empty token.
    #[error("the bearer token is empty")]
    EmptyToken,
}

/// Check that `bind` may be served with `options`.
pub fn check_bind(bind: SocketAddr, options: &ServeOptions) -> Result<(), ServeError> {
    match options.token.as_deref() {
        Some("") => Err(ServeError::EmptyToken),
        None if !bind.ip().is_loopback() => Err(ServeError::TokenRequired(bind)),
        _ => Ok(()),
    }
}

/// Every surface over `runtime`, as one router to serve or to mount in an
/// app's own server. `readiness` is what `/readyz` reports.
pub async fn app(runtime: &RuntimeHandle, options: &ServeOptions, readiness: Readiness) -> axum::Router {
    let service: Arc<dyn vigy_api::VigyService> = Arc::new(runtime.clone());
    let api = vigy_rest::router(service.clone())
        .merge(vigy_graphql::router(service.clone()))
        .merge(vigy_rpc::router(service.clone()).await)
        .merge(vigy_mcp::router(service, &options.public_hosts, readiness.shutdown()))
        .merge(metrics::router(runtime.clone()));
    let api = match &options.token {
        Some(token) => auth::require_bearer(api, token),
        None => api,
    };
    // Probes stay open: an orchestrator checks them without credentials.
    api.merge(health::router(runtime.clone(), readiness))
}
