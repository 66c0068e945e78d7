//! The scheduler's two readings of time: the monotonic clock it sleeps on,
//! and the wall clock schedules are written in (cron times, windows). Each
//! due time is planned on the wall clock and slept for on the monotonic
//! one; converting at the moment of use keeps a wall-clock step (NTP) from
//! moving ticks already planned by more than that step.
//!
//! It reads the system's clock, never the deterministic test clock of
//! `vigy_types::now`, whose readings are the scenario's to consume.

use std::time::{Duration, Instant};

use vigy_types::Timestamp;

/// Now, on both clocks.
pub(crate) fn now() -> (Instant, Timestamp) {
    (Instant::now(), chrono::Utc::now())
}

/// The wall-clock time of `at`.
pub(crate) fn wall(at: Instant) -> Timestamp {
    let (now, wall_now) = now();
    match at.checked_duration_since(now) {
        Some(ahead) => wall_now + chrono::Duration::from_std(ahead).unwrap_or_default(),
        None => wall_now - chrono::Duration::from_std(now - at).unwrap_or_default(),
    }
}

/// The monotonic instant of the wall-clock time `at` (now, if it passed).
pub(crate) fn instant(at: Timestamp) -> Instant {
    let (now, wall_now) = now();
    now + (at - wall_now).to_std().unwrap_or(Duration::ZERO)
}
