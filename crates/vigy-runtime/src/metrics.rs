//! Counters and a lateness histogram, cheap enough to update on every tick
//! from any thread.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Buckets per doubling of the histogram: bucket bounds grow by 2^(1/4),
/// so a percentile read from it is within 19% of the true value.
const PER_OCTAVE: f64 = 4.0;
const BUCKETS: usize = 128;

/// A log-scale histogram of durations, in microseconds.
#[derive(Debug)]
pub struct Histogram {
    counts: Box<[AtomicU64; BUCKETS]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Self { counts: Box::new(std::array::from_fn(|_| AtomicU64::new(0))) }
    }
}

impl Histogram {
    /// Count one sample.
    pub fn record(&self, value: Duration) {
        let micros = value.as_micros().max(1) as f64;
        let bucket = ((micros.log2() * PER_OCTAVE).ceil() as usize).min(BUCKETS - 1);
        self.counts[bucket].fetch_add(1, Relaxed);
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
    /// Runs that could not be committed (each one logged).
    pub runs_lost: AtomicU64,
    /// How late scheduled ticks started, against their due time.
    pub lateness: Histogram,
    /// How long evaluation took.
    pub tick_duration: Histogram,
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
    }
}
