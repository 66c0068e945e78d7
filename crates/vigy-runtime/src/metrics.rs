//! Counters and a lateness histogram, cheap enough to update on every tick
//! from any thread.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use vigy_types::{ActionResult, VigyId};

/// Buckets per doubling of the histogram: bucket bounds grow by 2^(1/4),
/// so a percentile read from it is within 19% of the true value.
const PER_OCTAVE: f64 = 4.0;
const BUCKETS: usize = 128;

/// A log-scale histogram of durations, in microseconds.
#[derive(Debug)]
pub struct Histogram {
    counts: Box<[AtomicU64; BUCKETS]>,
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self { counts: Box::new(std::array::from_fn(|_| AtomicU64::new(0))), sum_micros: AtomicU64::new(0) }
    }
}

impl Histogram {
    /// Count one sample.
    pub fn record(&self, value: Duration) {
        let micros = value.as_micros().max(1) as f64;
        let bucket = ((micros.log2() * PER_OCTAVE).ceil() as usize).min(BUCKETS - 1);
        self.counts[bucket].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(micros as u64, Relaxed);
    }

    /// The sum of every sample.
    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_micros.load(Relaxed))
    }

    /// Samples per doubling, as (upper bound, count) pairs: bounds 1 µs,
    /// 2 µs, 4 µs, ..., so an exporter is not flooded with 128 series.
    pub fn doubling_buckets(&self) -> Vec<(Duration, u64)> {
        let per_octave = PER_OCTAVE as usize;
        let mut doublings = Vec::with_capacity(BUCKETS / per_octave + 1);
        let mut first = 0;
        // Bucket b ends at 2^(b/4) µs, so bucket 4k ends the doubling at 2^k µs.
        for octave in 0u32.. {
            if first >= BUCKETS {
                break;
            }
            let last = (octave as usize * per_octave).min(BUCKETS - 1);
            let count = self.counts[first..=last].iter().map(|c| c.load(Relaxed)).sum();
            doublings.push((Duration::from_micros(1u64 << octave), count));
            first = last + 1;
        }
        doublings
    }

    /// Samples counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// The upper bound of the bucket holding quantile `q` (0..=1).
    pub fn quantile(&self, q: f64) -> Duration {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_micros(2f64.powf(bucket as f64 / PER_OCTAVE) as u64);
            }
        }
        Duration::MAX
    }

    /// Forget every sample.
    pub fn reset(&self) {
        for c in self.counts.iter() {
            c.store(0, Relaxed);
        }
        self.sum_micros.store(0, Relaxed);
    }
}

/// What a runtime has done since it opened.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Ticks evaluated.
    pub ticks: AtomicU64,
    /// Ticks that failed.
    pub failures: AtomicU64,
    /// Runs committed to the store.
    pub runs_written: AtomicU64,
    /// Write transactions committed.
    pub write_batches: AtomicU64,
    /// Runs that could not be committed: only ever those still failing when
    /// the runtime shut down (each batch logged).
    pub runs_lost: AtomicU64,
    /// Vigies disabled because their ticks kept ending their worker.
    pub quarantined: AtomicU64,
    /// Write transactions that failed (each is retried).
    pub commit_failures: AtomicU64,
    /// Finished ticks waiting in the write queue for a commit (a gauge).
    pub write_queue_depth: AtomicU64,
    /// About how many bytes those ticks hold (a gauge).
    pub write_queue_bytes: AtomicU64,
    /// Scheduled ticks that started late because the write queue was full.
    pub ticks_held_back: AtomicU64,
    /// Due times that passed without a tick (skipped, or folded into a
    /// catch-up tick).
    pub ticks_missed: AtomicU64,
    /// Catch-up ticks run for a missed due time.
    pub ticks_caught_up: AtomicU64,
    /// Ticks that waited for a concurrency slot before they started.
    pub ticks_waited: AtomicU64,
    /// Ticks waiting for a concurrency slot now (a gauge).
    pub ticks_waiting: AtomicU64,
    /// Vigies paused after failing as many ticks in a row as they allow.
    pub paused_on_failure: AtomicU64,
    /// Runtime tasks (scheduler, writer) stopped by a panic.
    pub task_panics: AtomicU64,
    /// Ticks refused by the store because their lease had moved (fencing).
    pub runs_fenced: AtomicU64,
    /// Leases this runtime holds (a gauge).
    pub leases_held: AtomicU64,
    /// Leases claimed.
    pub leases_acquired: AtomicU64,
    /// Leases lost to expiry or another runtime (not released).
    pub leases_lost: AtomicU64,
    /// Leases claimed after another runtime's had expired.
    pub leases_taken_over: AtomicU64,
    /// Lease rounds committed.
    pub lease_rounds: AtomicU64,
    /// Actions waiting for, or being carried out by, a handler of this
    /// runtime (a gauge: its share of the outbox).
    pub actions_pending: AtomicU64,
    /// Action results refused because the vigy's lease had moved.
    pub action_results_fenced: AtomicU64,
    /// How long handler attempts took.
    pub handler_latency: Histogram,
    /// How late scheduled ticks started, against their due time.
    pub lateness: Histogram,
    /// How long evaluation took.
    pub tick_duration: Histogram,
    /// Ticks and failures of each vigy (with its name), for as long as the
    /// vigy exists: a deleted vigy's series goes with it, so a runtime that
    /// sees many short-lived vigies does not keep a counter for each forever.
    per_vigy: Mutex<HashMap<VigyId, (String, VigyTicks)>>,
    /// Final action results by kind and result.
    actions: Mutex<BTreeMap<(String, ActionResult), u64>>,
}

/// What one vigy has done since the runtime opened.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct VigyTicks {
    /// Ticks evaluated.
    pub ticks: u64,
    /// Ticks that failed.
    pub failures: u64,
}

impl Metrics {
    /// Count one tick of the vigy `id`, named `name`.
    pub(crate) fn count_tick(&self, id: VigyId, name: &str, failed: bool) {
        self.ticks.fetch_add(1, Relaxed);
        if failed {
            self.failures.fetch_add(1, Relaxed);
        }
        let mut per_vigy = self.per_vigy.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (_, counts) = per_vigy.entry(id).or_insert_with(|| (name.to_owned(), VigyTicks::default()));
        counts.ticks += 1;
        counts.failures += u64::from(failed);
    }

    /// Count one action that reached its final `result`. Its kind is its
    /// own label only if a handler takes it or it is one of the built-in
    /// kinds; any other is counted as `other`, so programs cannot grow the
    /// metric's series without bound.
    pub(crate) fn count_action(&self, kind: &str, result: ActionResult, handled: bool) {
        let label = if handled || matches!(kind, "pull" | "push" | "noop") { kind } else { "other" };
        let mut actions = self.actions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *actions.entry((label.to_owned(), result)).or_default() += 1;
    }

    /// Final action results so far, as (kind, result, count), sorted.
    pub fn actions(&self) -> Vec<(String, ActionResult, u64)> {
        let actions = self.actions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        actions.iter().map(|((kind, result), n)| (kind.clone(), *result, *n)).collect()
    }

    /// Drop the counters of the vigy `id` (deleted).
    pub(crate) fn forget(&self, id: VigyId) {
        self.per_vigy.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&id);
    }

    /// Ticks and failures of every vigy that ticked, sorted by name.
    pub fn per_vigy(&self) -> Vec<(String, VigyTicks)> {
        let per_vigy = self.per_vigy.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut all: Vec<_> = per_vigy.values().cloned().collect();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_should_read_quantiles_within_a_bucket() {
        let h = Histogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile(0.5).as_millis();
        let p99 = h.quantile(0.99).as_millis();
        assert!((50..=60).contains(&p50), "{p50}");
        assert!((99..=118).contains(&p99), "{p99}");
        assert_eq!(h.count(), 100);
        assert_eq!(h.sum(), Duration::from_millis(5050));
        let buckets = h.doubling_buckets();
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 100);
        // 1 ms = 1000 µs falls in the doubling ending at 2^10 µs.
        assert_eq!(buckets[10], (Duration::from_micros(1024), 1));
        assert_eq!(buckets[0].0, Duration::from_micros(1));
    }

    #[test]
    fn per_vigy_counts_should_follow_ticks() {
        let m = Metrics::default();
        let id = |name: &str| VigyId::for_name(&vigy_types::VigyName::new(name).unwrap());
        m.count_tick(id("b"), "b", false);
        m.count_tick(id("a"), "a", true);
        m.count_tick(id("b"), "b", true);
        assert_eq!(
            m.per_vigy(),
            [
                ("a".to_owned(), VigyTicks { ticks: 1, failures: 1 }),
                ("b".to_owned(), VigyTicks { ticks: 2, failures: 1 }),
            ]
        );
        assert_eq!((m.ticks.load(Relaxed), m.failures.load(Relaxed)), (3, 2));
        m.forget(id("a"));
        assert_eq!(m.per_vigy(), [("b".to_owned(), VigyTicks { ticks: 2, failures: 1 })]);
        assert_eq!(m.ticks.load(Relaxed), 3, "the runtime's totals keep counting what was");
    }
}
