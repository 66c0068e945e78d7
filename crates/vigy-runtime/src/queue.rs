//! The write queue from the scheduler to the writer, bounded in bytes (so
//! also in count: every tick takes at least one unit). A finished tick
//! holds its place until it is committed or given up; the scheduler holds
//! back new ticks while the next one does not fit (`scheduler.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use vigy_store::TickRecord;

use crate::metrics::Metrics;
use crate::writer::RunReply;

/// The most bytes of finished ticks waiting for a commit.
pub(crate) const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;
/// Bytes per unit of room.
const UNIT: usize = 1024;
const UNITS: usize = MAX_QUEUED_BYTES / UNIT;

/// A finished tick to commit.
#[derive(Debug)]
pub(crate) struct WriteJob {
    pub(crate) record: TickRecord,
    pub(crate) replies: Vec<RunReply>,
    pub(crate) pending: Pending,
    pub(crate) place: Place,
}

/// A finished tick not yet committed. Dropped without [`Pending::committed`]
/// (given up at shutdown, or dropped by a task that panicked, wherever it
/// was), it counts in `runs_lost`: no tick leaves unaccounted for.
#[derive(Debug)]
pub(crate) struct Pending {
    metrics: Arc<Metrics>,
    committed: bool,
}

impl Pending {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics, committed: false }
    }

    /// Resolved: committed, or refused by the store's fencing (counted
    /// there), not lost.
    pub(crate) fn committed(mut self) {
        self.committed = true;
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.committed {
            self.metrics.runs_lost.fetch_add(1, Relaxed);
        }
    }
}

/// A tick's room in the queue, given back (and the gauges lowered) when
/// dropped, whichever way the tick leaves the queue.
#[derive(Debug)]
pub(crate) struct Place {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
    bytes: u64,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.metrics.write_queue_depth.fetch_sub(1, Relaxed);
        self.metrics.write_queue_bytes.fetch_sub(self.bytes, Relaxed);
    }
}

/// The scheduler's end.
#[derive(Debug)]
pub(crate) struct Queue {
    jobs: mpsc::UnboundedSender<WriteJob>,
    room: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

pub(crate) fn channel(metrics: Arc<Metrics>) -> (Queue, mpsc::UnboundedReceiver<WriteJob>) {
    let (jobs, rx) = mpsc::unbounded_channel();
    (Queue { jobs, room: Arc::new(Semaphore::new(UNITS)), metrics }, rx)
}

impl Queue {
    /// Room for a tick of `bytes`, if there is some now.
    pub(crate) fn try_reserve(&self, bytes: usize) -> Option<Place> {
        let permit = self.room.clone().try_acquire_many_owned(units(bytes)).ok()?;
        Some(self.place(permit, bytes))
    }

    /// Room for a tick of `bytes`, once there is.
    pub(crate) async fn reserve(&self, bytes: usize) -> Place {
        // The semaphore is never closed.
        let Ok(permit) = self.room.clone().acquire_many_owned(units(bytes)).await else {
            return std::future::pending().await;
        };
        self.place(permit, bytes)
    }

    /// Queue a tick; gives it back if the writer has stopped.
    pub(crate) fn send(&self, job: WriteJob) -> Result<(), Box<WriteJob>> {
        self.jobs.send(job).map_err(|e| Box::new(e.0))
    }

    /// Resolves once every tick queued so far has left the queue
    /// (committed, fenced or given up).
    pub(crate) fn drained(&self) -> impl Future<Output = ()> + Send + 'static {
        let room = self.room.clone();
        async move {
            let _all = room.acquire_many_owned(UNITS as u32).await;
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.jobs.is_closed()
    }

    fn place(&self, permit: OwnedSemaphorePermit, bytes: usize) -> Place {
        self.metrics.write_queue_depth.fetch_add(1, Relaxed);
        self.metrics.write_queue_bytes.fetch_add(bytes as u64, Relaxed);
        Place { _permit: permit, metrics: self.metrics.clone(), bytes: bytes as u64 }
    }
}

/// A tick larger than the whole queue needs the queue to itself.
fn units(bytes: usize) -> u32 {
    (bytes / UNIT + 1).min(UNITS) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_should_refuse_room_until_a_tick_leaves_it() {
        let metrics = Arc::new(Metrics::default());
        let (queue, _rx) = channel(metrics.clone());
        let half = MAX_QUEUED_BYTES / 2;
        let first = queue.try_reserve(half).expect("room for half");
        assert!(queue.try_reserve(half).is_none(), "half plus a unit does not fit twice");
        assert_eq!(metrics.write_queue_depth.load(Relaxed), 1);
        assert_eq!(metrics.write_queue_bytes.load(Relaxed), half as u64);
        drop(first);
        assert_eq!(metrics.write_queue_depth.load(Relaxed), 0);
        let whole = queue.try_reserve(10 * MAX_QUEUED_BYTES).expect("an oversized tick gets the queue to itself");
        assert!(queue.try_reserve(0).is_none());
        drop(whole);
        assert!(queue.try_reserve(0).is_some());
    }
}
