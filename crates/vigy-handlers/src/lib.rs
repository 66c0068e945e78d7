//! Built-in action handlers for a standalone `vigy serve`: `http`, `exec`
//! and `webhook`. All are off until a config file turns them on, and each
//! does only what its allow-list names; anything else is recorded
//! `skipped` with the reason, never tried.
//!
//! ```no_run
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! let config = vigy_handlers::Config::load("handlers.toml".as_ref())?;
//! let builder = vigy_handlers::install(vigy_runtime::RuntimeHandle::builder(), &config);
//! let runtime = builder.path("vigy.db").open().await?;
//! # drop(runtime); Ok(())
//! # }
//! ```
//!
//! # Rules
//!
//! - **Only what the config allows.** An `http` action must name a URL
//!   under an allowed prefix with one of its methods; an `exec` action a
//!   listed program with arguments matching its patterns. The check is on
//!   the parsed, normalised URL and on the exact program path.
//! - **Refusals are `skipped`, bad payloads `failed`.** An action that is
//!   not allowed is `skipped` with the reason (never retried); one whose
//!   payload cannot be read fails permanently.
//! - **No shell, no redirects, nothing unbounded.** Programs are started
//!   directly with a cleared environment; redirects are reported, not
//!   followed; bodies and output are read up to an excerpt of
//!   [`EXCERPT_BYTES`] and no further into memory.
//! - **One attempt per call.** The runtime retries what a handler calls
//!   retryable, within the handler's deadline and concurrency.
//! - **No more rights than the server's user.** There is no sandbox
//!   beyond the allow-lists: allow narrowly.

mod client;
mod config;
mod excerpt;
mod exec;
mod http;
mod webhook;

pub use config::{Config, ConfigError};
pub use excerpt::EXCERPT_BYTES;
pub use exec::ExecHandler;
pub use http::HttpHandler;
pub use webhook::WebhookHandler;

use vigy_runtime::RuntimeBuilder;

/// Register every handler `config` turns on: `http` for kind `http`,
/// `exec` for kind `exec`, the webhook for each of its kinds (or as the
/// fallback with `kinds = ["*"]`). An empty config installs nothing.
pub fn install(mut builder: RuntimeBuilder, config: &Config) -> RuntimeBuilder {
    if let Some(http) = &config.http {
        builder = builder.handler(http::KIND, http.clone(), http.options().clone());
    }
    if let Some(exec) = &config.exec {
        builder = builder.handler(exec::KIND, exec.clone(), exec.options().clone());
    }
    if let Some(webhook) = &config.webhook {
        match webhook.kinds() {
            None => builder = builder.fallback_handler(webhook.clone(), webhook.options().clone()),
            Some(kinds) => {
                for kind in kinds {
                    builder = builder.handler(kind, webhook.clone(), webhook.options().clone());
                }
            }
        }
    }
    builder
}
