//! What an embedder writes to carry actions out: an [`ActionHandler`] per
//! kind, registered on the builder with [`HandlerOptions`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value as Json;
use vigy_types::{ActionKind, Labels, VigyId};

/// One action handed to its handler.
#[derive(Debug, Clone)]
pub struct ActionCall {
    /// The action's kind.
    pub kind: ActionKind,
    /// The program's payload (`null` when none was given).
    pub payload: Json,
    /// The vigy that emitted it.
    pub vigy_id: VigyId,
    /// Its name.
    pub vigy_name: String,
    /// Its labels.
    pub labels: Labels,
    /// The run (tick) that emitted it.
    pub run_id: String,
    /// Which tick of the vigy that was.
    pub tick: u64,
    /// Its position among the tick's actions, from 0.
    pub index: u32,
    /// `RUN_ID:INDEX`: the same on every attempt and after a crash, so a
    /// handler (or what it calls) can do the action at most once.
    pub idempotency_key: String,
    /// Which attempt this is, from 1.
    pub attempt: u32,
}

/// What a handler made of an action it was given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Handled {
    pub(crate) skipped: bool,
    pub(crate) message: Option<String>,
    pub(crate) output: Option<Json>,
}

impl Handled {
    /// Done.
    pub fn ok() -> Self {
        Self::default()
    }

    /// Not done, on purpose (not allowed, nothing to do): recorded
    /// `skipped` with `reason`, never retried.
    pub fn skipped(reason: impl Into<String>) -> Self {
        Self { skipped: true, message: Some(reason.into()), output: None }
    }

    /// Say something about it, recorded as the action's message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Give the program something to read next tick through
    /// `vigy-last-results` (a status, a body, what was observed).
    pub fn with_output(mut self, output: Json) -> Self {
        self.output = Some(output);
        self
    }

    /// Whether the action was refused on purpose (recorded `skipped`).
    pub fn is_skipped(&self) -> bool {
        self.skipped
    }

    /// What the handler said.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// What the program reads next tick.
    pub fn output(&self) -> Option<&Json> {
        self.output.as_ref()
    }
}

/// Why a handler could not carry an action out.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionError {
    pub(crate) message: String,
    pub(crate) retryable: bool,
    pub(crate) output: Option<Json>,
}

impl ActionError {
    /// A failure that may pass (a timeout, a 503, a busy lock): the action
    /// is tried again after a backoff, up to [`RetryPolicy::max_attempts`].
    pub fn retryable(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: true, output: None }
    }

    /// A failure that trying again cannot fix (a 404, a bad payload): the
    /// action is `failed` at once.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: false, output: None }
    }

    /// Give the program something to read next tick (an exit code, a body).
    pub fn with_output(mut self, output: Json) -> Self {
        self.output = Some(output);
        self
    }

    /// Whether it will be tried again.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What the program reads next tick.
    pub fn output(&self) -> Option<&Json> {
        self.output.as_ref()
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ActionError {}

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Handled, ActionError>> + Send + 'static>>;

/// Carries out actions of one kind (or, as the fallback, of every kind
/// without its own handler). Any `Fn(ActionCall) -> impl Future` is one.
///
/// A handler may be called more than once for one action (a retry, or a
/// runtime that died before recording the result): use
/// [`ActionCall::idempotency_key`] where doing it twice would hurt.
pub trait ActionHandler: Send + Sync + 'static {
    /// Carry `call` out.
    fn handle(&self, call: ActionCall) -> HandlerFuture;
}

impl<F, Fut> ActionHandler for F
where
    F: Fn(ActionCall) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Handled, ActionError>> + Send + 'static,
{
    fn handle(&self, call: ActionCall) -> HandlerFuture {
        Box::pin(self(call))
    }
}

/// How a handler is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerOptions {
    /// How long one attempt may take; past it the attempt fails (retryably)
    /// with `handler deadline of N ms exceeded`. Default 30 s.
    pub deadline: Duration,
    /// Most attempts of this handler running at once, across vigies.
    /// Default 16.
    pub concurrency: usize,
    /// When a retryable failure is tried again.
    pub retry: RetryPolicy,
}

impl Default for HandlerOptions {
    fn default() -> Self {
        Self { deadline: Duration::from_secs(30), concurrency: 16, retry: RetryPolicy::default() }
    }
}

/// Capped exponential backoff for retryable failures.
///
/// ```text
/// first 1 s, cap 60 s, 5 attempts:  try, 1 s, try, 2 s, try, 4 s, try, 8 s, try → failed
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most attempts in all (1 = never retry). Default 5.
    pub max_attempts: u32,
    /// The pause after the first failed attempt; it doubles after each.
    /// Default 1 s.
    pub first_delay: Duration,
    /// The longest pause. Default 60 s.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, first_delay: Duration::from_secs(1), max_delay: Duration::from_secs(60) }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (from 1).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1).min(31)).unwrap_or(u32::MAX);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_should_double_their_pause_up_to_the_cap() {
        let policy =
            RetryPolicy { max_attempts: 10, first_delay: Duration::from_secs(1), max_delay: Duration::from_secs(5) };
        let pauses: Vec<u64> = (1..=5).map(|a| policy.delay_after(a).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 5, 5]);
        assert_eq!(policy.delay_after(1_000), Duration::from_secs(5));
    }
}
