//! Carrying actions out: the handlers an embedder registers, the outbox
//! they are run from, and what becomes of each action.
//!
//! # Rules
//!
//! - **Decide, then do.** A tick's actions commit with its run, `pending`
//!   (the outbox is the run's own `actions`, plus a `vigy_outbox` row per
//!   pending action); handlers are called only after the commit.
//! - **Honest results at commit.** A `noop` is `ok` without a handler; an
//!   action of a kind nobody handles is `skipped` (`no handler for push`);
//!   every action of a failed tick is `skipped`. Only actions a handler
//!   takes stay `pending`.
//! - **In order, one tick at a time.** The actions of one tick are handled
//!   in order, each after the one before it is resolved; a vigy's next tick
//!   waits until its previous tick's actions are, so the program always
//!   reads final results with `vigy-last-results` and never emits the same
//!   action twice over an unfinished one. Different vigies are handled
//!   concurrently, up to each handler's `concurrency`.
//! - **A failure stops the tick's remaining actions.** Once an action is
//!   `failed`, the ones after it in the same tick are `skipped` ("an
//!   earlier action of this tick failed"), as a reconcile stops at its first
//!   error; the next tick decides again.
//! - **Retries back off.** A retryable failure (and an attempt past its
//!   handler's deadline) is tried again after [`RetryPolicy::delay_after`],
//!   up to `max_attempts`; a permanent one is `failed` at once.
//! - **At least once, with one key.** Each result is committed before the
//!   next action starts. A runtime that dies (or loses the lease) before
//!   recording a result leaves the action `pending`; the vigy's next owner
//!   runs it again, with the same idempotency key (`RUN_ID:INDEX`) and its
//!   attempt count carried on. A result written under a lease this runtime
//!   no longer holds is refused, like a tick's.
//! - **Shutdown leaves, never loses.** A closing runtime stops starting
//!   actions, gives the running ones their grace, and leaves the rest
//!   `pending` for whoever holds the vigy next.

mod dispatch;
mod handler;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;

pub(crate) use dispatch::{Dispatcher, Outcomes, Work, settle_at_commit};
pub use handler::{ActionCall, ActionError, ActionHandler, Handled, HandlerFuture, HandlerOptions, RetryPolicy};

/// A registered handler with its options and its concurrency permits.
#[derive(Clone)]
pub(crate) struct Registered {
    pub(crate) handler: Arc<dyn ActionHandler>,
    pub(crate) options: HandlerOptions,
    pub(crate) permits: Arc<Semaphore>,
}

impl Registered {
    fn new(handler: Arc<dyn ActionHandler>, options: HandlerOptions) -> Self {
        let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
        Self { handler, options, permits }
    }
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered").field("options", &self.options).finish_non_exhaustive()
    }
}

/// Every handler of a runtime, by kind, and the fallback.
#[derive(Debug, Clone, Default)]
pub(crate) struct Handlers {
    by_kind: HashMap<String, Registered>,
    fallback: Option<Registered>,
}

impl Handlers {
    pub(crate) fn add(&mut self, kind: &str, handler: Arc<dyn ActionHandler>, options: HandlerOptions) {
        self.by_kind.insert(kind.to_owned(), Registered::new(handler, options));
    }

    pub(crate) fn set_fallback(&mut self, handler: Arc<dyn ActionHandler>, options: HandlerOptions) {
        self.fallback = Some(Registered::new(handler, options));
    }

    /// The handler that takes `kind`, if any.
    pub(crate) fn for_kind(&self, kind: &str) -> Option<&Registered> {
        self.by_kind.get(kind).or(self.fallback.as_ref())
    }
}
