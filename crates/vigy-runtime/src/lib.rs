//! vigy's runtime: every enabled vigy in scope ticks at its own interval,
//! its runs are persisted, and [`RuntimeHandle`] drives it all.
//!
//! ```text
//!  RuntimeHandle ──commands──► scheduler ──jobs──► sandbox pool (worker processes)
//!        ▲                        ▲  │                     │
//!        │   change feed (other   │  └──────◄── done ──────┘
//!        │   processes) watcher ──┘  │
//!        │                           ▼
//!   subscribe() ◄── committed runs ── writer ──► Store (SQLite)
//! ```
//!
//! Reads of vigies (`get`, `list`, `resolve`) are answered from memory by
//! the catalog, which the handle's own writes and the watcher keep current
//! (its rules are in `catalog.rs`). The scheduler rules are in
//! `scheduler.rs`; the writer's batching, retries and retention in
//! `writer.rs`; what a panic in either does in `supervise.rs`.

pub mod actions;
mod backoff;
mod board;
mod catalog;
mod clock;
mod concurrency;
mod feed;
mod handle;
mod health;
mod lease;
mod metrics;
mod queue;
mod scheduler;
mod service;
pub mod simulate;
mod size;
mod supervise;
mod watcher;
mod writer;

pub use actions::{ActionCall, ActionError, ActionHandler, Handled, HandlerOptions, RetryPolicy};
pub use backoff::Backoff;
pub use board::Standing;
pub use clock::{ManualClock, SteppingClock, SystemClock};
pub use concurrency::ConcurrencyLimits;
pub use handle::{DEFAULT_MAX_VIGIES, RunsMissed, RuntimeBuilder, RuntimeError, RuntimeHandle, Scope};
pub use health::{Task, Unhealthy};
pub use lease::LeaseTiming;
pub use metrics::{Histogram, Metrics, VigyTicks};
pub use service::{to_api_run, to_api_vigy};
pub use simulate::SimulatedTick;
pub use vigy_eval::{EvalLimits, Extension, Intrinsics};
pub use vigy_sandbox::{SandboxConfig, WorkerProgram, run_if_worker};
pub use vigy_types::Clock;
