//! The clocks a runtime can run on (`RuntimeBuilder::clock`).
//!
//! - [`SystemClock`], the default: the wall clock. Due times are planned
//!   on it and each wait is converted to the monotonic clock as it starts,
//!   so a wall-clock step (NTP) moves a planned tick by at most that step.
//! - [`ManualClock`]: time moves only when a test says so
//!   (`advance`, `set`). Every due time, backoff, window and catch-up rule
//!   then runs on virtual time; `RuntimeHandle::run_due` waits until what
//!   is due has run and been committed.
//! - [`SteppingClock`]: each reading 1 ms after the last, for replaying a
//!   scenario whose timestamps and run ids must come out the same every
//!   time (the transport conformance suite).
//!
//! Whatever the clock, a tick's deadline and memory budget are real: they
//! protect the host, which lives in real time.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use vigy_types::{Clock, Timestamp};

type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let wait = (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that stands still until it is moved: for tests, the runtime's
/// own and an embedder's. Clones share one time.
///
/// ```no_run
/// # async fn demo() -> Result<(), vigy_runtime::RuntimeError> {
/// use std::sync::Arc;
/// use vigy_runtime::{ManualClock, RuntimeHandle};
/// let clock = ManualClock::starting_at("2026-03-29T00:00:00Z".parse().unwrap());
/// let rt = RuntimeHandle::builder().clock(Arc::new(clock.clone())).open().await?;
/// // … register vigies …
/// clock.advance(std::time::Duration::from_secs(1));
/// rt.run_due().await?; // every tick due by now has run and been committed
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: watch::Sender<Timestamp>,
}

impl ManualClock {
    /// A clock reading `start` until it is moved.
    pub fn starting_at(start: Timestamp) -> Self {
        Self { now: watch::Sender::new(start) }
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        self.now.send_modify(|now| *now = now.checked_add_signed(by).unwrap_or(*now));
    }

    /// Set the clock to `at` (backwards too, as a wall clock can step).
    pub fn set(&self, at: Timestamp) {
        self.now.send_replace(at);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let mut readings = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as the clock; if it is gone, time
            // never moves again.
            if readings.wait_for(|now| *now >= at).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// A clock for replaying a scenario: it starts at a given instant and each
/// reading is exactly 1 ms after the one before, so the same requests
/// against a fresh runtime give the same timestamps and run ids. Waits
/// last as many real milliseconds as readings they span.
#[derive(Debug)]
pub struct SteppingClock {
    start_ms: i64,
    readings: AtomicI64,
    runs: AtomicU64,
}

impl SteppingClock {
    /// A clock whose first reading is `start`.
    pub fn starting_at(start: Timestamp) -> Self {
        Self { start_ms: start.timestamp_millis(), readings: AtomicI64::new(0), runs: AtomicU64::new(0) }
    }

    fn read(&self) -> Timestamp {
        let ms = self.start_ms + self.readings.fetch_add(1, Ordering::Relaxed);
        chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
    }
}

impl Clock for SteppingClock {
    fn now(&self) -> Timestamp {
        self.read()
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let ahead = at.timestamp_millis() - (self.start_ms + self.readings.load(Ordering::Relaxed));
        Box::pin(tokio::time::sleep(Duration::from_millis(ahead.max(0) as u64)))
    }

    fn ended_at(&self, _started: Timestamp, _elapsed: Duration) -> Timestamp {
        self.read()
    }

    fn run_id(&self) -> String {
        let ms = self.read().timestamp_millis() as u64;
        let mut counter = [0u8; 10];
        counter[2..].copy_from_slice(&self.runs.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(ms, &counter).into_uuid().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        vigy_types::parse_timestamp(s).unwrap()
    }

    #[tokio::test]
    async fn a_manual_clock_should_wake_sleepers_only_when_moved_past_their_time() {
        let clock = ManualClock::starting_at(at("2026-01-01T00:00:00Z"));
        let sleeper = tokio::spawn(clock.sleep_until(at("2026-01-01T00:00:02Z")));
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(1));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke a second early");
        clock.advance(Duration::from_secs(1));
        sleeper.await.unwrap();
        assert_eq!(clock.now(), at("2026-01-01T00:00:02Z"));
        // A time already passed does not wait.
        clock.sleep_until(at("2025-01-01T00:00:00Z")).await;
    }

    #[test]
    fn a_stepping_clock_should_read_one_millisecond_apart_and_order_its_run_ids() {
        let clock = SteppingClock::starting_at(at("2026-01-01T00:00:00Z"));
        assert_eq!(clock.now(), at("2026-01-01T00:00:00Z"));
        assert_eq!(clock.stamp(), at("2026-01-01T00:00:00.001Z"));
        let (a, b) = (clock.run_id(), clock.run_id());
        assert!(a < b, "{a} !< {b}");
    }
}
