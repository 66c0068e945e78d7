//! The feed of committed runs that `subscribe()` reads, bounded in bytes as
//! well as in count.
//!
//! A tokio broadcast keeps each value until every subscriber has read it or
//! `capacity` newer ones pushed it out: with runs of up to ~1 MiB, one
//! stalled subscriber would pin gigabytes. So the ring carries only small
//! slots, and the runs in them are held for subscribers up to
//! [`MAX_HELD_BYTES`], newest kept: a slot whose run was let go reads as one
//! missed run, as an overrun of the ring does. A run every subscriber has
//! read is let go at once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use vigy_types::VigyRun;

use crate::size::run_bytes;

/// Runs the ring holds for a subscriber that falls behind.
pub(crate) const CAPACITY: usize = 4_096;
/// The most bytes of runs held for subscribers that fall behind.
pub(crate) const MAX_HELD_BYTES: usize = 32 * 1024 * 1024;

/// One published run; `None` once let go.
pub(crate) type Slot = Arc<Mutex<Option<Arc<VigyRun>>>>;

/// The publishing side, owned by the writer.
#[derive(Debug)]
pub(crate) struct Feed {
    tx: broadcast::Sender<Slot>,
    /// Slots whose run is still held, oldest first, with its size.
    held: VecDeque<(Slot, usize)>,
    held_bytes: usize,
    max_bytes: usize,
}

impl Feed {
    /// A feed holding at most `max_bytes` of runs; subscribe through the
    /// returned sender.
    pub(crate) fn new(max_bytes: usize) -> (Self, broadcast::Sender<Slot>) {
        let (tx, _) = broadcast::channel(CAPACITY);
        (Self { tx: tx.clone(), held: VecDeque::new(), held_bytes: 0, max_bytes }, tx)
    }

    pub(crate) fn publish(&mut self, run: VigyRun) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let bytes = run_bytes(&run);
        let slot: Slot = Arc::new(Mutex::new(Some(Arc::new(run))));
        self.held.push_back((slot.clone(), bytes));
        self.held_bytes += bytes;
        let _ = self.tx.send(slot);
        // Let go of runs read by everyone (only we still hold the slot) and,
        // past the budget, of the oldest; never of the one just published.
        while let Some((front, _)) = self.held.front() {
            let read_by_all = Arc::strong_count(front) == 1;
            let over_budget = self.held_bytes > self.max_bytes && self.held.len() > 1;
            if !(read_by_all || over_budget) {
                break;
            }
            let (front, bytes) = self.held.pop_front().expect("a front");
            *lock(&front) = None;
            self.held_bytes -= bytes;
        }
    }

    /// Bytes of runs held for subscribers now.
    #[cfg(test)]
    pub(crate) fn held_bytes(&self) -> usize {
        self.held_bytes
    }
}

/// The run a slot still holds.
pub(crate) fn read(slot: &Slot) -> Option<Arc<VigyRun>> {
    lock(slot).clone()
}

// Holding the lock never panics, so a poisoned one is still sound.
fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, Option<Arc<VigyRun>>> {
    slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tick: u64, log_bytes: usize) -> VigyRun {
        let now = chrono::Utc::now();
        VigyRun {
            id: format!("run-{tick}"),
            vigy_id: vigy_types::VigyId::for_name(&vigy_types::VigyName::new("feed").unwrap()),
            tick,
            started_at: now,
            ended_at: now,
            result: vigy_types::RunResult::Ok,
            error: None,
            actions: Vec::new(),
            logs: vec![vigy_types::LogLine { level: "info".into(), message: "x".repeat(log_bytes) }],
            logs_truncated: false,
        }
    }

    #[test]
    fn a_stalled_subscriber_should_pin_no_more_than_the_byte_cap() {
        let mib = 1024 * 1024;
        let (mut feed, tx) = Feed::new(8 * mib);
        let mut stalled = tx.subscribe();
        for tick in 1..=100 {
            feed.publish(run(tick, mib));
            assert!(feed.held_bytes() <= 8 * mib + mib, "{} bytes held", feed.held_bytes());
        }
        // Every slot is still in the ring, but only the newest runs are in them.
        let ticks: Vec<Option<u64>> = (0..100).map(|_| read(&stalled.try_recv().unwrap()).map(|r| r.tick)).collect();
        let kept: Vec<u64> = ticks.iter().flatten().copied().collect();
        assert_eq!(kept, (94..=100).collect::<Vec<_>>(), "the newest 7 runs of ~1 MiB fit in 8 MiB");
        assert_eq!(ticks.iter().filter(|t| t.is_none()).count(), 93, "the others read as missed");
    }

    #[test]
    fn runs_every_subscriber_read_should_be_let_go_at_once() {
        let (mut feed, tx) = Feed::new(8 * 1024 * 1024);
        let mut prompt = tx.subscribe();
        for tick in 1..=10 {
            feed.publish(run(tick, 1000));
            let slot = prompt.try_recv().unwrap();
            assert_eq!(read(&slot).unwrap().tick, tick);
        }
        assert!(feed.held_bytes() < 2 * 1300, "only the newest may still be held: {}", feed.held_bytes());
    }
}
