//! vigy: small tatara-lisp reconcilers — vigies — that tick forever inside
//! your app, observe state and emit reconcile actions.
//!
//! Embedding, as the README shows it:
//!
//! ```no_run
//! use vigy::{RuntimeHandle, Vigy, TickInterval};
//!
//! # async fn app() -> Result<(), Box<dyn std::error::Error>> {
//! // In your app's main:
//! let runtime = RuntimeHandle::open("/path/to/your-app.db".as_ref()).await?;
//!
//! // Register reconcilers your app needs always-on:
//! let v = Vigy::new(
//!     "sync-to-system-tear",
//!     include_str!("../vigies/sync-to-system-tear.tatara"),
//!     TickInterval::from_millis(500)?,
//! )?;
//! runtime.register_or_update(v).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Add your own intrinsics with an [`Extension`] given to
//! [`RuntimeHandle::builder`], and tick only your app's vigies with
//! [`Scope::Selector`].

pub use vigy_eval::{Arity, EvalLimits, Extension, Intrinsics, TickHost, Value};
pub use vigy_runtime::{
    ActionCall, ActionError, ActionHandler, Backoff, Clock, ConcurrencyLimits, Handled, HandlerOptions, ManualClock,
    Metrics, RetryPolicy, RunsMissed, RuntimeBuilder, RuntimeError, RuntimeHandle, SandboxConfig, Scope, SteppingClock,
    SystemClock, WorkerProgram, run_if_worker,
};
pub use vigy_store::{Lease, default_db_path, location_name};
pub use vigy_types::{
    ActionKind, ActionResult, Condition, ConditionFilter, ConditionStatus, LabelSelector, Labels, LogLine, Program,
    ProgramError, ReconcileAction, RunResult, TickInterval, Timestamp, Vigy, VigyError, VigyId, VigyName, VigyRun,
    VigyState, format_timestamp, parse_timestamp,
};

/// The core service every transport speaks: the runtime implements it, and
/// so does each client, so an app switches between the embedded runtime and
/// a remote `vigy serve` without changing code.
pub use vigy_api as api;
pub use vigy_api::{ServiceError, VigyService};

/// MCP over any [`VigyService`]: the tool catalog, dispatch, and the rmcp
/// server (stdio, streamable HTTP).
pub use vigy_mcp as mcp;

/// `vigy serve` as a library (feature `server`): every transport over one
/// runtime as one axum router, to serve or to mount in an app's own server.
#[cfg(feature = "server")]
pub use vigy_server as server;

/// Typed clients of a remote `vigy serve` (features `rest-client`,
/// `grpc-client`, `graphql-client`, `mcp-client`, or all with `clients`).
pub mod clients {
    #[cfg(feature = "graphql-client")]
    pub use vigy_api_graphql_client::GraphqlClient;
    #[cfg(feature = "grpc-client")]
    pub use vigy_api_grpc::GrpcClient;
    #[cfg(feature = "rest-client")]
    pub use vigy_api_rest_client::RestClient;
    #[cfg(feature = "mcp-client")]
    pub use vigy_mcp::{McpClient, RmcpCaller, connect as connect_mcp};
}

/// The crates behind the facade, for what it does not re-export.
pub mod crates {
    pub use vigy_eval as eval;
    pub use vigy_runtime as runtime;
    pub use vigy_sandbox as sandbox;
    pub use vigy_store as store;
    pub use vigy_types as types;
}
