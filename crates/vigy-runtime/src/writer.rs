//! The one writer: groups the ticks that finished since its last commit
//! into one transaction, with the retention policy's trims, then publishes
//! the committed runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot};
use vigy_store::{Store, TickRecord};
use vigy_types::{VigyId, VigyRun};

use crate::RuntimeError;
use crate::metrics::Metrics;

/// Where a forced tick's run is sent once committed.
pub(crate) type RunReply = oneshot::Sender<Result<VigyRun, RuntimeError>>;

/// Most ticks in one transaction.
const MAX_BATCH: usize = 4_096;
/// How often orphans and old lifecycle events are collected.
const GARBAGE_EVERY: Duration = Duration::from_secs(60);
/// Lifecycle events kept.
const EVENTS_KEPT: usize = 100_000;

/// A finished tick to commit.
#[derive(Debug)]
pub(crate) struct WriteJob {
    pub(crate) record: TickRecord,
    pub(crate) replies: Vec<RunReply>,
}

pub(crate) struct Writer {
    pub(crate) store: Store,
    pub(crate) runs: broadcast::Sender<VigyRun>,
    pub(crate) metrics: Arc<Metrics>,
    /// Runs kept per vigy.
    pub(crate) keep_runs: usize,
}

impl Writer {
    /// Commit until the channel closes and is drained.
    pub(crate) async fn run(self, mut jobs: mpsc::UnboundedReceiver<WriteJob>) {
        // A vigy is trimmed once it has this many runs beyond what it keeps,
        // so trimming costs one statement per `slack` ticks, not per tick.
        let slack = (self.keep_runs / 10).max(10);
        let mut since_trim: HashMap<VigyId, usize> = HashMap::new();
        let mut last_garbage = Instant::now();
        let mut batch = Vec::new();
        while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let (records, replies): (Vec<_>, Vec<_>) = batch.drain(..).map(|j| (j.record, j.replies)).unzip();
            for record in &records {
                *since_trim.entry(record.run.vigy_id).or_default() += 1;
            }
            let trim: Vec<VigyId> = since_trim.iter().filter(|(_, n)| **n >= slack).map(|(id, _)| *id).collect();
            match self.commit(&records, &trim).await {
                Ok(()) => {
                    for id in &trim {
                        since_trim.remove(id);
                    }
                    for (record, replies) in records.into_iter().zip(replies) {
                        for reply in replies {
                            let _ = reply.send(Ok(record.run.clone()));
                        }
                        let _ = self.runs.send(record.run);
                    }
                }
                Err(error) => {
                    self.metrics.runs_lost.fetch_add(records.len() as u64, Relaxed);
                    tracing::error!(%error, ticks = records.len(), "could not record ticks");
                    for reply in replies.into_iter().flatten() {
                        let _ = reply.send(Err(RuntimeError::Unavailable(error.to_string())));
                    }
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

    /// Write a batch, retrying once after a pause (another process may hold
    /// the write lock longer than the busy timeout).
    async fn commit(&self, records: &[TickRecord], trim: &[VigyId]) -> Result<(), vigy_store::StoreError> {
        let result = match self.store.write_ticks(records, trim, self.keep_runs).await {
            Err(first) => {
                tracing::warn!(error = %first, "retrying a write batch");
                tokio::time::sleep(Duration::from_millis(200)).await;
                self.store.write_ticks(records, trim, self.keep_runs).await
            }
            ok => ok,
        };
        if result.is_ok() {
            self.metrics.write_batches.fetch_add(1, Relaxed);
            self.metrics.runs_written.fetch_add(records.len() as u64, Relaxed);
        }
        result
    }
}
