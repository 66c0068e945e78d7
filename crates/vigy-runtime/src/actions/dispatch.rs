//! The dispatcher: carries committed `pending` actions out, vigy by vigy,
//! and records each result (the rules are in `actions/mod.rs`).
//!
//! ```text
//!  writer ──Work::Run (committed)──► dispatcher ──one task per vigy──► handler
//!  scheduler ──Work::Run (taken over) / Stop──┘        │  each result ──► recorder ──► Store::record_actions
//!  scheduler ◄──Command::ActionsSettled (last results)─┘
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::Value as Json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use vigy_store::{ActionUpdate, Store};
use vigy_types::{ActionResult, Clock, ReconcileAction, VigyId, VigyRun};

use super::handler::{ActionCall, Handled};
use super::{Handlers, Registered};
use crate::backoff::Backoff;
use crate::catalog::Catalog;
use crate::metrics::Metrics;
use crate::scheduler::Command;
use crate::supervise::panic_text;

/// The most bytes of a handler's output (as JSON) kept on its action;
/// past it the output is kept as a string excerpt.
const MAX_OUTPUT_BYTES: usize = 16 * 1024;
/// The most bytes of a handler's message kept.
const MAX_MESSAGE_BYTES: usize = 4 * 1024;
/// How long a closing runtime lets running attempts finish before it
/// abandons them (they stay `pending` for the vigy's next owner).
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the dispatcher is asked to do.
#[derive(Debug)]
pub(crate) enum Work {
    /// Carry out the `pending` actions of `runs` (oldest first) of vigy
    /// `id`, under the lease `token`.
    Run { id: VigyId, token: u64, runs: Vec<VigyRun> },
    /// The tick of `id` with pending actions was fenced out: nothing to do,
    /// but the scheduler must stop waiting for it.
    Fenced { id: VigyId, token: u64 },
    /// The lease of `id` is gone, or it was deleted: stop its work (what is
    /// unfinished stays `pending` for whoever holds it next).
    Stop(VigyId),
}

/// Where the writer and the scheduler send work.
pub(crate) type Outcomes = mpsc::UnboundedSender<Work>;

/// Settle at commit what needs no handler (see the rules): returns how
/// many actions stay `pending`.
pub(crate) fn settle_at_commit(actions: &mut [ReconcileAction], tick_failed: bool, handlers: &Handlers) -> usize {
    let mut pending = 0;
    for action in actions.iter_mut().filter(|a| a.result == ActionResult::Pending) {
        if tick_failed {
            action.settle(ActionResult::Skipped, Some("the tick failed after emitting it".into()));
        } else if action.kind == vigy_types::ActionKind::Noop {
            action.settle(ActionResult::Ok, None);
        } else if handlers.for_kind(action.kind.as_str()).is_none() {
            action.settle(ActionResult::Skipped, Some(format!("no handler for {}", action.kind)));
        } else {
            pending += 1;
        }
    }
    pending
}

pub(crate) struct Dispatcher {
    pub(crate) store: Store,
    pub(crate) handlers: Handlers,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) closing: CancellationToken,
    /// This runtime's id: the owner the actions' leases must name.
    pub(crate) owner: String,
    /// Stamps each attempt's start and end.
    pub(crate) clock: Arc<dyn Clock>,
}

/// What every vigy's task shares.
struct Shared {
    handlers: Handlers,
    catalog: Arc<Catalog>,
    commands: mpsc::UnboundedSender<Command>,
    metrics: Arc<Metrics>,
    closing: CancellationToken,
    recorder: mpsc::UnboundedSender<(ActionUpdate, oneshot::Sender<bool>)>,
    clock: Arc<dyn Clock>,
}

impl Dispatcher {
    /// Run until every sender of work is gone, then give running attempts
    /// [`SHUTDOWN_GRACE`] and stop.
    pub(crate) async fn run(self, mut work: mpsc::UnboundedReceiver<Work>) {
        let (recorder, updates) = mpsc::unbounded_channel();
        let recording =
            tokio::spawn(record(self.store, self.owner, updates, self.metrics.clone(), self.closing.clone()));
        let shared = Arc::new(Shared {
            handlers: self.handlers,
            catalog: self.catalog,
            commands: self.commands,
            metrics: self.metrics,
            closing: self.closing,
            recorder,
            clock: self.clock,
        });
        let mut tasks: JoinSet<(VigyId, u64)> = JoinSet::new();
        let mut running: HashMap<VigyId, (u64, AbortHandle)> = HashMap::new();
        loop {
            tokio::select! {
                next = work.recv() => match next {
                    Some(Work::Run { id, token, runs }) => {
                        if let Some((_, old)) = running.remove(&id) {
                            old.abort();
                        }
                        let handle = tasks.spawn(carry_out(shared.clone(), id, token, runs));
                        running.insert(id, (token, handle));
                    }
                    Some(Work::Fenced { id, token }) => {
                        let _ = shared.commands.send(Command::ActionsSettled { id, token, actions: None });
                    }
                    Some(Work::Stop(id)) => {
                        if let Some((_, task)) = running.remove(&id) {
                            task.abort();
                        }
                    }
                    None => break,
                },
                Some(Ok((id, token))) = tasks.join_next(), if !tasks.is_empty() => {
                    if running.get(&id).is_some_and(|(t, _)| *t == token) {
                        running.remove(&id);
                    }
                }
            }
        }
        let drained = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
            tracing::warn!(
                vigies = tasks.len(),
                "actions still running at shutdown are left pending for the next owner"
            );
            tasks.shutdown().await;
        }
        drop(shared);
        let _ = recording.await;
    }
}

/// Carry out the pending actions of `runs`; tell the scheduler once they
/// are all resolved (not if the work stops first: closing, lease lost).
async fn carry_out(shared: Arc<Shared>, id: VigyId, token: u64, runs: Vec<VigyRun>) -> (VigyId, u64) {
    let pending: usize = runs.iter().map(|r| r.actions.iter().filter(|a| !a.result.is_final()).count()).sum();
    let mut left = Left::new(shared.metrics.clone(), pending);
    let mut last = None;
    for mut run in runs {
        match carry_out_run(&shared, id, token, &mut run, &mut left).await {
            Some(()) => last = Some(run.actions),
            None => break,
        }
    }
    if let Some(actions) = last
        && left.0 == 0
    {
        let _ = shared.commands.send(Command::ActionsSettled { id, token, actions: Some(actions.into()) });
    }
    (id, token)
}

/// The actions of a vigy's work not yet resolved, counted in the
/// `actions_pending` gauge until they are, or until the work stops (an
/// aborted task drops it too).
struct Left(usize, Arc<Metrics>);

impl Left {
    fn new(metrics: Arc<Metrics>, pending: usize) -> Self {
        metrics.actions_pending.fetch_add(pending as u64, Relaxed);
        Self(pending, metrics)
    }
}

impl Drop for Left {
    fn drop(&mut self) {
        self.1.actions_pending.fetch_sub(self.0 as u64, Relaxed);
    }
}

/// One run's actions, in order; `None` if the work had to stop.
async fn carry_out_run(shared: &Shared, id: VigyId, token: u64, run: &mut VigyRun, left: &mut Left) -> Option<()> {
    let mut failed: Option<String> = None;
    for index in 0..run.actions.len() {
        if run.actions[index].result.is_final() {
            continue;
        }
        if let Some(earlier) = &failed {
            run.actions[index].settle(ActionResult::Skipped, Some(earlier.clone()));
            resolved(shared, &run.actions[index], left);
            continue;
        }
        if shared.closing.is_cancelled() {
            return None;
        }
        let kind = run.actions[index].kind.clone();
        let Some(registered) = shared.handlers.for_kind(kind.as_str()).cloned() else {
            // The handlers changed since the commit (another runtime's, or a restart).
            run.actions[index].settle(ActionResult::Skipped, Some(format!("no handler for {kind}")));
            record_run(shared, id, token, run).await?;
            resolved(shared, &run.actions[index], left);
            continue;
        };
        loop {
            let retry = attempt(shared, id, &registered, run, index).await;
            record_run(shared, id, token, run).await?;
            let Some(pause) = retry else { break };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = shared.closing.cancelled() => return None,
            }
        }
        resolved(shared, &run.actions[index], left);
        if run.actions[index].result == ActionResult::Failed {
            failed = Some(format!("not carried out: action {index} ({kind}) of this tick failed"));
        }
    }
    if failed.is_some() {
        record_run(shared, id, token, run).await?;
    }
    Some(())
}

/// One attempt at action `index` of `run`; returns the pause before the
/// next attempt when it is to be retried.
async fn attempt(
    shared: &Shared,
    id: VigyId,
    registered: &Registered,
    run: &mut VigyRun,
    index: usize,
) -> Option<Duration> {
    let options = &registered.options;
    let action = &run.actions[index];
    let attempt = action.attempts + 1;
    let (vigy_name, labels) = match shared.catalog.get(id) {
        Some(entry) => (entry.vigy.name.as_str().to_owned(), entry.vigy.labels.clone()),
        None => (String::new(), Default::default()),
    };
    let call = ActionCall {
        kind: action.kind.clone(),
        payload: action.payload.clone(),
        vigy_id: id,
        vigy_name,
        labels,
        run_id: run.id.clone(),
        tick: run.tick,
        index: index as u32,
        idempotency_key: format!("{}:{index}", run.id),
        attempt,
    };
    let permit = registered.permits.clone().acquire_owned().await.ok();
    let started_at = shared.clock.stamp();
    let clock = Instant::now();
    // A handler that panics fails its action (for good: it would panic
    // again) instead of taking the vigy's work down with it.
    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| registered.handler.handle(call)));
    let handled = async move {
        match started {
            Ok(future) => std::panic::AssertUnwindSafe(future).catch_unwind().await,
            Err(panic) => Err(panic),
        }
    };
    let result = tokio::time::timeout(options.deadline, handled).await.map(|caught| {
        caught.unwrap_or_else(|panic| {
            Err(super::ActionError::permanent(format!("handler panicked: {}", panic_text(&*panic))))
        })
    });
    drop(permit);
    shared.metrics.handler_latency.record(clock.elapsed());
    let action = &mut run.actions[index];
    action.attempts = attempt;
    action.started_at.get_or_insert(started_at);
    action.ended_at = Some(shared.clock.stamp());
    let error = match result {
        Ok(Ok(Handled { skipped, message, output })) => {
            action.result = if skipped { ActionResult::Skipped } else { ActionResult::Ok };
            action.message = message.map(bounded_message);
            action.output = output.map(bounded_output);
            return None;
        }
        Ok(Err(error)) => {
            action.output = error.output.clone().map(bounded_output);
            error
        }
        Err(_elapsed) => {
            super::ActionError::retryable(format!("handler deadline of {} ms exceeded", options.deadline.as_millis()))
        }
    };
    let retry = &options.retry;
    if error.retryable && attempt < retry.max_attempts {
        let pause = retry.delay_after(attempt);
        action.message = Some(bounded_message(format!(
            "attempt {attempt} of {} failed: {error}; retrying in {} ms",
            retry.max_attempts,
            pause.as_millis()
        )));
        return Some(pause);
    }
    action.result = ActionResult::Failed;
    action.message = Some(bounded_message(if error.retryable {
        format!("failed after {attempt} attempts: {error}")
    } else {
        error.message
    }));
    None
}

fn resolved(shared: &Shared, action: &ReconcileAction, left: &mut Left) {
    left.0 -= 1;
    shared.metrics.actions_pending.fetch_sub(1, Relaxed);
    shared.metrics.count_action(
        action.kind.as_str(),
        action.result,
        shared.handlers.for_kind(action.kind.as_str()).is_some(),
    );
}

/// Record the run's actions as they stand; `None` if the result was
/// refused (the lease moved) or could not be committed before shutdown.
async fn record_run(shared: &Shared, id: VigyId, token: u64, run: &VigyRun) -> Option<()> {
    let (reply, kept) = oneshot::channel();
    let update = ActionUpdate { vigy_id: id, token, run_id: run.id.clone(), actions: run.actions.clone() };
    shared.recorder.send((update, reply)).ok()?;
    kept.await.ok()?.then_some(())
}

/// Commit results as they come, many in one transaction; a failed commit
/// is retried (50 ms doubling to 5 s) until it succeeds or, once the
/// runtime is closing, for [`SHUTDOWN_GRACE`].
async fn record(
    store: Store,
    owner: String,
    mut updates: mpsc::UnboundedReceiver<(ActionUpdate, oneshot::Sender<bool>)>,
    metrics: Arc<Metrics>,
    closing: CancellationToken,
) {
    let mut batch = Vec::new();
    while updates.recv_many(&mut batch, 1_024).await > 0 {
        let (rows, replies): (Vec<ActionUpdate>, Vec<_>) = batch.drain(..).unzip();
        let backoff = Backoff { cap: Duration::from_secs(5), jitter_percent: 0 };
        let mut closing_since: Option<Instant> = None;
        let mut outcome = None;
        for attempt in 0u32.. {
            match store.record_actions(&rows, &owner).await {
                Ok(fenced) => {
                    outcome = Some(fenced);
                    break;
                }
                Err(error) => {
                    metrics.commit_failures.fetch_add(1, Relaxed);
                    if (attempt + 1).is_power_of_two() {
                        tracing::error!(%error, attempt, "could not record action results; retrying");
                    }
                }
            }
            if closing.is_cancelled() && closing_since.get_or_insert_with(Instant::now).elapsed() >= SHUTDOWN_GRACE {
                break;
            }
            tokio::time::sleep(backoff.delay(Duration::from_millis(50), attempt).min(Duration::from_secs(5))).await;
        }
        for (index, reply) in replies.into_iter().enumerate() {
            let kept = outcome.as_ref().is_some_and(|fenced| !fenced.contains(&index));
            if outcome.as_ref().is_some_and(|fenced| fenced.contains(&index)) {
                metrics.action_results_fenced.fetch_add(1, Relaxed);
            }
            let _ = reply.send(kept);
        }
    }
}

/// `message` cut to [`MAX_MESSAGE_BYTES`] at a character boundary.
fn bounded_message(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}

/// `output`, or past [`MAX_OUTPUT_BYTES`] as JSON, an excerpt of its text.
fn bounded_output(output: Json) -> Json {
    let text = output.to_string();
    if text.len() <= MAX_OUTPUT_BYTES {
        return output;
    }
    let mut cut = MAX_OUTPUT_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    serde_json::json!({ "truncated": true, "excerpt": &text[..cut] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::HandlerOptions;

    fn actions(kinds: &[&str]) -> Vec<ReconcileAction> {
        kinds.iter().map(|k| ReconcileAction::emitted((*k).into(), Json::Null)).collect()
    }

    #[test]
    fn commit_should_settle_noop_and_unhandled_kinds_and_keep_handled_ones_pending() {
        let mut handlers = Handlers::default();
        handlers.add("push", Arc::new(|_| async { Ok(Handled::ok()) }), HandlerOptions::default());
        let mut emitted = actions(&["noop", "push", "pull", "restack"]);
        assert_eq!(settle_at_commit(&mut emitted, false, &handlers), 1);
        let results: Vec<_> = emitted.iter().map(|a| (a.result, a.message.as_deref())).collect();
        assert_eq!(
            results,
            [
                (ActionResult::Ok, None),
                (ActionResult::Pending, None),
                (ActionResult::Skipped, Some("no handler for pull")),
                (ActionResult::Skipped, Some("no handler for restack")),
            ]
        );
    }

    #[test]
    fn commit_should_skip_every_action_of_a_failed_tick() {
        let mut handlers = Handlers::default();
        handlers.set_fallback(Arc::new(|_| async { Ok(Handled::ok()) }), HandlerOptions::default());
        let mut emitted = actions(&["noop", "push"]);
        assert_eq!(settle_at_commit(&mut emitted, true, &handlers), 0);
        assert!(emitted.iter().all(|a| a.result == ActionResult::Skipped));
    }

    #[test]
    fn a_fallback_should_take_every_kind_without_its_own_handler() {
        let mut handlers = Handlers::default();
        handlers.set_fallback(Arc::new(|_| async { Ok(Handled::ok()) }), HandlerOptions::default());
        let mut emitted = actions(&["pull", "restack"]);
        assert_eq!(settle_at_commit(&mut emitted, false, &handlers), 2);
    }

    #[test]
    fn outputs_and_messages_should_be_bounded() {
        let big = Json::String("x".repeat(100_000));
        let kept = bounded_output(big);
        assert_eq!(kept["truncated"], true);
        assert!(kept.to_string().len() < MAX_OUTPUT_BYTES + 100);
        let small = serde_json::json!({"status": 200});
        assert_eq!(bounded_output(small.clone()), small);
        assert!(bounded_message("é".repeat(10_000)).len() <= MAX_MESSAGE_BYTES + '…'.len_utf8());
    }
}
