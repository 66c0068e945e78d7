use std::time::Duration;

/// How long a vigy waits after consecutive failed ticks: its interval
/// doubled per failure, capped. One success resets it.
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
        let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
        interval.saturating_mul(factor).min(self.cap.max(interval))
    }
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
}
