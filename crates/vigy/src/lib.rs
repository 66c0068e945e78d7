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
pub use vigy_runtime::{Backoff, Metrics, RunsMissed, RuntimeBuilder, RuntimeError, RuntimeHandle, Scope};
pub use vigy_store::default_db_path;
pub use vigy_types::{
    ActionKind, ActionResult, LabelSelector, Labels, LogLine, Program, ProgramError, ReconcileAction, RunResult,
    TickInterval, Timestamp, Vigy, VigyError, VigyId, VigyName, VigyRun, VigyState, format_timestamp, now,
};

/// The crates behind the facade, for what it does not re-export.
pub mod crates {
    pub use vigy_eval as eval;
    pub use vigy_runtime as runtime;
    pub use vigy_store as store;
    pub use vigy_types as types;
}
