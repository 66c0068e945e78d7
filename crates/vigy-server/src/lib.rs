//! `vigy serve` as a library: every transport over one
//! [`RuntimeHandle`](vigy_runtime::RuntimeHandle) on one address.
//!
//! | path | what |
//! |---|---|
//! | `/v1/...`, `/openapi.json`, `/swagger` | REST, its OpenAPI document, Swagger UI |
//! | `/graphql`, `/graphql/assets/*` | GraphQL (POST), subscriptions (WebSocket), GraphiQL (GET) |
//! | `/pleme.vigy.v1.VigyService/*` | gRPC, with reflection and health |
//! | `/mcp` | MCP over streamable HTTP |
//! | `/healthz`, `/readyz`, `/metrics` | liveness, readiness, Prometheus |
//! | `/`, `/dashboard/*` | the dashboard ([`dashboard`]) |
//!
//! In front of every route, outermost first: the Host and Origin rules
//! ([`guard`]), a panic turned into `internal error (id …)` ([`internal`]),
//! the cap on event streams ([`Limits`]), bearer tokens ([`auth`]). A
//! server on a non-loopback address must have a token and TLS (or say
//! `insecure_http`); [`serve()`] adds the connection limits.

pub mod auth;
mod dashboard;
pub mod guard;
mod health;
pub mod internal;
mod limits;
mod metrics;
mod serve;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use vigy_runtime::RuntimeHandle;

pub use guard::{Allowed, AllowedError};
pub use health::Readiness;
pub use limits::Limits;
pub use serve::serve;
pub use tls::{TlsError, TlsFiles};

/// A bearer token; its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The token's text, to compare or to send.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl From<String> for Token {
    fn from(token: String) -> Self {
        Self(token)
    }
}

impl From<&str> for Token {
    fn from(token: &str) -> Self {
        Self(token.to_owned())
    }
}

/// How the one address is served.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The bearer token every request must carry; required off loopback.
    pub token: Option<Token>,
    /// `Host` names accepted besides loopback ones (`name` for any port,
    /// `name:port`): the bind address and the public names of the server.
    pub public_hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`) whose pages may call the server,
    /// besides its own.
    pub allow_origins: Vec<String>,
    /// Serve TLS with this certificate and key.
    pub tls: Option<TlsFiles>,
    /// Allow plain HTTP on a non-loopback address.
    pub insecure_http: bool,
    /// Totals: connections, header timeout, event streams, GraphQL limits.
    pub limits: Limits,
}

/// Why a server would not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Off loopback without a token.
    #[error(
        "refusing to serve on {0} without a bearer token: anyone who can reach it could change vigies; set $VIGY_TOKEN or pass --token-file"
    )]
    TokenRequired(SocketAddr),
    /// Off loopback in plain HTTP, not asked for.
    #[error(
        "refusing to serve on {0} without TLS: the token would cross the network in clear; pass --tls-cert and --tls-key (or --insecure-http behind a TLS proxy)"
    )]
    TlsRequired(SocketAddr),
    /// An empty token.
    #[error("the bearer token is empty")]
    EmptyToken,
    /// A `--public-host` or `--allow-origin` that is not one.
    #[error(transparent)]
    Allowed(#[from] AllowedError),
    /// The certificate or key.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
}

/// Check that `bind` may be served with `options`.
pub fn check_bind(bind: SocketAddr, options: &ServeOptions) -> Result<(), ServeError> {
    Allowed::new(&options.public_hosts, &options.allow_origins)?;
    let loopback = bind.ip().is_loopback();
    match options.token.as_ref().map(Token::expose) {
        Some("") => return Err(ServeError::EmptyToken),
        None if !loopback => return Err(ServeError::TokenRequired(bind)),
        _ => {}
    }
    if !loopback && options.tls.is_none() && !options.insecure_http {
        return Err(ServeError::TlsRequired(bind));
    }
    Ok(())
}

/// Every surface over `runtime`, as one router to serve (with [`serve()`])
/// or to mount in an app's own server. `readiness` is what `/readyz`
/// reports.
pub async fn app(
    runtime: &RuntimeHandle,
    options: &ServeOptions,
    readiness: Readiness,
) -> Result<axum::Router, ServeError> {
    let allowed = Arc::new(Allowed::new(&options.public_hosts, &options.allow_origins)?);
    let service: Arc<dyn vigy_api::VigyService> = Arc::new(runtime.clone());
    let api = vigy_rest::router(service.clone())
        .merge(vigy_graphql::router_with(service.clone(), options.limits.graphql.clone()))
        .merge(vigy_rpc::router(service.clone()).await)
        .merge(vigy_mcp::router(service, &allowed.host_names(), readiness.shutdown()))
        .merge(metrics::router(runtime.clone()));
    let api = match &options.token {
        Some(token) => auth::require_bearer(api, token.expose()),
        None => api,
    };
    let api = limits::cap_event_streams(api, options.limits.max_event_streams);
    // Probes stay open: an orchestrator checks them without credentials;
    // so does the dashboard's page, which asks for the token its API calls
    // need.
    let app = api.merge(health::router(runtime.clone(), readiness)).merge(dashboard::router());
    Ok(guard::layer(internal::layer(app), allowed))
}
