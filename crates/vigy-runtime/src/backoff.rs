use std::time::Duration;

/// How long a vigy waits after consecutive failed ticks: its base (by
/// default its interval) doubled per failure, capped (by the vigy's own cap,
/// else the runtime's). One success resets it.
///
/// ```text
/// interval 1 s, cap 60 s:  fail → 2 s, fail → 4 s, … → 60 s, 60 s; ok → 1 s
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The longest wait.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { cap: Duration::from_secs(300) }
    }
}

impl Backoff {
    /// The wait before the next tick after `failures` consecutive failures
    /// (0 means the last tick succeeded: the plain interval).
    pub fn delay(&self, interval: Duration, failures: u32) -> Duration {
        if failures == 0 {
            return interval;
        }
        // Never shorter than the interval itself, even past the cap.
        doubled(interval.saturating_mul(2), failures, self.cap.max(interval))
    }

    /// The wait after `failures` for `schedule`: its own base and cap where
    /// it sets them.
    pub fn delay_for(&self, schedule: &vigy_types::Schedule, failures: u32) -> Duration {
        let base = schedule.backoff_base();
        let cap = schedule.backoff_cap().unwrap_or(self.cap);
        // Never shorter than the base itself, even past the cap.
        doubled(base, failures.max(1), cap.max(base))
    }
}

/// `first` after one failure, doubled per further one, at most `limit`.
fn doubled(first: Duration, failures: u32, limit: Duration) -> Duration {
    let factor = 1u32.checked_shl(failures.saturating_sub(1).min(31)).unwrap_or(u32::MAX);
    first.saturating_mul(factor).min(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_should_double_per_failure_up_to_the_cap_and_reset() {
        let b = Backoff { cap: Duration::from_secs(10) };
        let s = Duration::from_secs;
        let delays: Vec<_> = (0..6).map(|f| b.delay(s(1), f)).collect();
        assert_eq!(delays, [s(1), s(2), s(4), s(8), s(10), s(10)]);
        assert_eq!(b.delay(s(1), 1000), s(10));
        // An interval longer than the cap is never shortened.
        assert_eq!(b.delay(s(30), 3), s(30));
    }

    #[test]
    fn backoff_should_take_a_vigys_own_base_and_cap() {
        let b = Backoff { cap: Duration::from_secs(300) };
        let s = Duration::from_secs;
        let every = |ms| vigy_types::Schedule::every(vigy_types::TickInterval::from_millis(ms).unwrap());
        let own = every(10_000).with_backoff(Some(500), Some(3_000)).unwrap();
        let delays: Vec<_> = (1..5).map(|f| b.delay_for(&own, f)).collect();
        assert_eq!(delays, [Duration::from_millis(500), s(1), s(2), s(3)]);
        // Unset: the interval and the runtime's cap.
        assert_eq!(b.delay_for(&every(10_000), 6), s(300));
        // A cron schedule doubles a second.
        let cron = vigy_types::Schedule::cron(vigy_types::CronPattern::new("0 * * * * *", "UTC").unwrap());
        assert_eq!(b.delay_for(&cron, 2), s(4));
    }
}
