use std::time::Duration;

use vigy_types::VigyId;

/// How long a vigy waits after consecutive failed ticks: its base (by
/// default its interval) doubled per failure, capped (by the vigy's own cap,
/// else the runtime's), then shortened by up to `jitter_percent` — a stable
/// share per vigy and attempt, so a fleet failing on one outage does not
/// retry in the same instant, and a test sees the same waits every run.
/// One success resets it.
///
/// ```text
/// interval 1 s, cap 60 s, no jitter:  fail → 2 s, fail → 4 s, … → 60 s, 60 s; ok → 1 s
/// jitter 10 %:                        fail → 1.8–2 s, fail → 3.6–4 s, …
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The longest wait.
    pub cap: Duration,
    /// How much shorter than the doubled wait a vigy's wait may be, in
    /// percent (at most 100; default 10).
    pub jitter_percent: u8,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { cap: Duration::from_secs(300), jitter_percent: 10 }
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

    /// The wait of vigy `id` after `failures` for `schedule`: its own base
    /// and cap where it sets them, less its jitter.
    pub fn delay_for(&self, id: VigyId, schedule: &vigy_types::Schedule, failures: u32) -> Duration {
        let base = schedule.backoff_base();
        let cap = schedule.backoff_cap().unwrap_or(self.cap);
        // Never shorter than the base itself, even past the cap.
        let wait = doubled(base, failures.max(1), cap.max(base));
        wait - self.jitter(id, failures, wait)
    }

    /// A stable share of `wait`, below `jitter_percent` of it, for this
    /// vigy and attempt.
    fn jitter(&self, id: VigyId, failures: u32, wait: Duration) -> Duration {
        let percent = u64::from(self.jitter_percent.min(100));
        if percent == 0 {
            return Duration::ZERO;
        }
        let share = mix(id.spread() ^ u64::from(failures)) % (percent * 1_000);
        wait.mul_f64(share as f64 / 100_000.0)
    }
}

/// SplitMix64's finaliser: neighbouring inputs give unrelated outputs.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// `first` after one failure, doubled per further one, at most `limit`.
fn doubled(first: Duration, failures: u32, limit: Duration) -> Duration {
    let factor = 1u32.checked_shl(failures.saturating_sub(1).min(31)).unwrap_or(u32::MAX);
    first.saturating_mul(factor).min(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> VigyId {
        VigyId::for_name(&vigy_types::VigyName::new(name).unwrap())
    }

    #[test]
    fn backoff_should_double_per_failure_up_to_the_cap_and_reset() {
        let b = Backoff { cap: Duration::from_secs(10), jitter_percent: 0 };
        let s = Duration::from_secs;
        let delays: Vec<_> = (0..6).map(|f| b.delay(s(1), f)).collect();
        assert_eq!(delays, [s(1), s(2), s(4), s(8), s(10), s(10)]);
        assert_eq!(b.delay(s(1), 1000), s(10));
        // An interval longer than the cap is never shortened.
        assert_eq!(b.delay(s(30), 3), s(30));
    }

    #[test]
    fn backoff_should_take_a_vigys_own_base_and_cap() {
        let b = Backoff { cap: Duration::from_secs(300), jitter_percent: 0 };
        let s = Duration::from_secs;
        let every = |ms| vigy_types::Schedule::every(vigy_types::TickInterval::from_millis(ms).unwrap());
        let own = every(10_000).with_backoff(Some(500), Some(3_000)).unwrap();
        let delays: Vec<_> = (1..5).map(|f| b.delay_for(id("a"), &own, f)).collect();
        assert_eq!(delays, [Duration::from_millis(500), s(1), s(2), s(3)]);
        // Unset: the interval and the runtime's cap.
        assert_eq!(b.delay_for(id("a"), &every(10_000), 6), s(300));
        // A cron schedule doubles a second.
        let cron = vigy_types::Schedule::cron(vigy_types::CronPattern::new("0 * * * * *", "UTC").unwrap());
        assert_eq!(b.delay_for(id("a"), &cron, 2), s(4));
    }

    #[test]
    fn backoff_jitter_should_spread_a_fleet_below_the_wait_and_stay_stable() {
        let b = Backoff::default();
        let every = vigy_types::Schedule::every(vigy_types::TickInterval::from_millis(1_000).unwrap());
        let waits: Vec<Duration> = (0..100).map(|n| b.delay_for(id(&format!("v{n}")), &every, 3)).collect();
        // Within 10 % below the wait of 8 s (the base, twice the interval, doubled twice) …
        assert!(waits.iter().all(|w| *w > Duration::from_millis(7_200) && *w <= Duration::from_secs(8)), "{waits:?}");
        // … spread, not one instant …
        let mut distinct = waits.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 90, "only {} distinct waits", distinct.len());
        // … and the same for the same vigy and attempt.
        assert_eq!(b.delay_for(id("v7"), &every, 3), waits[7]);
        assert_ne!(b.delay_for(id("v7"), &every, 4), waits[7] * 2, "attempts differ in jitter too");
    }
}
