//! The one writer: groups the ticks that finished since its last commit
//! into one transaction, with the retention policy's trims, then publishes
//! the committed runs.
//!
//! # Rules
//!
//! - **A batch is retried until it commits.** A failed transaction changed
//!   nothing, but the scheduler has already moved each vigy's kv and tick
//!   count past these ticks: memory and database agree again only once the
//!   batch commits. So it is retried, with backoff (50 ms doubling to 5 s),
//!   as long as it takes; meanwhile later ticks wait in the bounded queue
//!   (`queue.rs`) and, once it is full, the scheduler holds back new ones.
//!   A lock held by another process, a full disk or a failing device all
//!   clear up without losing a run; `/readyz` says commits are failing.
//! - **Only shutdown gives up.** Once the runtime is closing, a batch that
//!   still fails after [`SHUTDOWN_GRACE`] is dropped: counted in
//!   `runs_lost`, logged, and its forced ticks answered `Unavailable`. The
//!   memory it would disagree with ends with the runtime; the next open
//!   starts from what was committed.
//! - **Runs are published only once committed**, to forced-tick callers and
//!   the run feed alike.
//! - **Fenced ticks are dropped.** A tick whose lease this runtime no
//!   longer holds with the tick's token is refused inside the transaction
//!   (`Store::write_ticks`); the rest of its batch commits. It is counted
//!   in `runs_fenced`, and a forced tick's caller is told the lease moved.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use vigy_store::{Store, TickRecord};
use vigy_types::{VigyId, VigyRun};

use crate::RuntimeError;
use crate::actions::{Outcomes, Work};
use crate::backoff::Backoff;
use crate::feed::Feed;
use crate::health::{Health, Task};
use crate::metrics::Metrics;
use crate::queue::{Pending, Place, WriteJob};
use crate::supervise::PanicHook;

/// Where a forced tick's run is sent once committed.
pub(crate) type RunReply = oneshot::Sender<Result<VigyRun, RuntimeError>>;

/// Most ticks in one transaction.
const MAX_BATCH: usize = 4_096;
/// How often orphans and old lifecycle events are collected.
const GARBAGE_EVERY: Duration = Duration::from_secs(60);
/// Lifecycle events kept.
const EVENTS_KEPT: usize = 100_000;
/// The first pause after a failed commit; it doubles up to `RETRY_CAP`.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_CAP: Duration = Duration::from_secs(5);
/// How long a closing runtime keeps retrying a failing batch.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub(crate) struct Writer {
    pub(crate) store: Store,
    pub(crate) feed: Feed,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) health: Arc<Health>,
    /// Cancelled when the runtime starts shutting down.
    pub(crate) closing: CancellationToken,
    pub(crate) panic_hook: Arc<PanicHook>,
    /// Runs kept per vigy.
    pub(crate) keep_runs: usize,
    /// This runtime's id: the owner its ticks' leases must name.
    pub(crate) owner: String,
    /// Where committed ticks with pending actions go to be carried out.
    pub(crate) dispatcher: Outcomes,
}

impl Writer {
    /// Commit until the channel closes and is drained.
    pub(crate) async fn run(mut self, mut jobs: mpsc::UnboundedReceiver<WriteJob>) {
        // A vigy is trimmed once it has this many runs beyond what it keeps,
        // so trimming costs one statement per `slack` ticks, not per tick.
        let slack = (self.keep_runs / 10).max(10);
        let mut since_trim: HashMap<VigyId, usize> = HashMap::new();
        let mut last_garbage = Instant::now();
        let mut batch = Vec::new();
        while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
            self.panic_hook.check(Task::Writer);
            let mut records = Vec::with_capacity(batch.len());
            // Each tick keeps its place in the queue until it is resolved.
            let mut waiting: Vec<(Vec<RunReply>, Pending, Place)> = Vec::with_capacity(batch.len());
            for WriteJob { record, replies, pending, place } in batch.drain(..) {
                *since_trim.entry(record.run.vigy_id).or_default() += 1;
                records.push(record);
                waiting.push((replies, pending, place));
            }
            let trim: Vec<VigyId> = since_trim.iter().filter(|(_, n)| **n >= slack).map(|(id, _)| *id).collect();
            if let Some(fenced) = self.commit(&records, &trim).await {
                for id in &trim {
                    since_trim.remove(id);
                }
                self.metrics.runs_fenced.fetch_add(fenced.len() as u64, Relaxed);
                if !fenced.is_empty() {
                    tracing::warn!(ticks = fenced.len(), "ticks fenced out: their leases moved before they committed");
                }
                for (index, (record, (replies, pending, _place))) in records.into_iter().zip(waiting).enumerate() {
                    pending.committed();
                    let acts = record.run.actions.iter().any(|a| !a.result.is_final());
                    let (id, token) = (record.run.vigy_id, record.token);
                    if fenced.contains(&index) {
                        if acts {
                            let _ = self.dispatcher.send(Work::Fenced { id, token });
                        }
                        for reply in replies {
                            let _ = reply.send(Err(RuntimeError::LeaseMoved(format!(
                                "the tick of `{}` was not recorded: this runtime lost its lease before the commit",
                                record.run.vigy_id
                            ))));
                        }
                        continue;
                    }
                    for reply in replies {
                        let _ = reply.send(Ok(record.run.clone()));
                    }
                    if acts {
                        let _ = self.dispatcher.send(Work::Run { id, token, runs: vec![record.run.clone()] });
                    }
                    self.feed.publish(record.run);
                }
            } else {
                // Each tick's `Pending` counts it lost as it drops.
                tracing::error!(
                    ticks = records.len(),
                    "shutting down while commits still fail: these ticks are lost (the store keeps what was committed)"
                );
                for reply in waiting.into_iter().flat_map(|(replies, ..)| replies) {
                    let _ = reply.send(Err(RuntimeError::Unavailable("the store could not commit this tick".into())));
                }
            }
            if last_garbage.elapsed() >= GARBAGE_EVERY {
                last_garbage = Instant::now();
                if let Err(error) = self.store.collect_garbage(EVENTS_KEPT).await {
                    tracing::warn!(%error, "garbage collection failed");
                }
            }
        }
    }

    /// Write a batch, retrying as long as it fails (see the rules): the
    /// indexes of the ticks fenced out, or `None` only if the runtime is
    /// closing and the batch still fails after the grace period.
    async fn commit(&self, records: &[TickRecord], trim: &[VigyId]) -> Option<Vec<usize>> {
        let backoff = Backoff { cap: RETRY_CAP, jitter_percent: 0 };
        let mut closing_since: Option<Instant> = None;
        for attempt in 1u32.. {
            let error = match self.store.write_ticks(records, trim, self.keep_runs, &self.owner).await {
                Ok(fenced) => {
                    if let Some(since) = self.health.commit_succeeded() {
                        tracing::warn!(attempts = attempt, failing_since = %since, "commits succeed again");
                    }
                    self.metrics.write_batches.fetch_add(1, Relaxed);
                    self.metrics.runs_written.fetch_add((records.len() - fenced.len()) as u64, Relaxed);
                    return Some(fenced);
                }
                Err(error) => error,
            };
            self.metrics.commit_failures.fetch_add(1, Relaxed);
            let since = self.health.commit_failed();
            // Loud at first, then at every doubling of the attempts.
            if attempt.is_power_of_two() {
                tracing::error!(%error, attempt, ticks = records.len(), failing_since = %since, "could not commit ticks; retrying");
            }
            if self.closing.is_cancelled() {
                let since = *closing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= SHUTDOWN_GRACE {
                    return None;
                }
            }
            let pause = backoff.delay(RETRY_FIRST, attempt - 1).min(RETRY_CAP);
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                // Shutting down: start the grace period now, not after a 5 s pause.
                () = self.closing.cancelled(), if closing_since.is_none() => {}
            }
        }
        None
    }
}
