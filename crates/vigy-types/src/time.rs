use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

/// A point in time, UTC.
pub type Timestamp = DateTime<Utc>;

/// The variable that turns on the deterministic clock.
pub const TEST_CLOCK_VAR: &str = "VIGY_TEST_CLOCK";

/// A deterministic clock, for replaying a scenario: it starts at the
/// instant in `$VIGY_TEST_CLOCK` and each reading is exactly 1 ms after the
/// one before, so the same requests against a fresh runtime give the same
/// timestamps and run ids (what the transport conformance suite compares).
#[derive(Debug)]
struct TestClock {
    start_ms: i64,
    readings: AtomicI64,
}

fn test_clock() -> Option<&'static TestClock> {
    static CLOCK: OnceLock<Option<TestClock>> = OnceLock::new();
    CLOCK
        .get_or_init(|| {
            let start = std::env::var(TEST_CLOCK_VAR).ok()?;
            let start = parse_timestamp(&start)
                .unwrap_or_else(|e| panic!("${TEST_CLOCK_VAR} must be an RFC 3339 instant, not {start:?}: {e}"));
            Some(TestClock { start_ms: start.timestamp_millis(), readings: AtomicI64::new(0) })
        })
        .as_ref()
}

impl TestClock {
    fn read(&self) -> Timestamp {
        let ms = self.start_ms + self.readings.fetch_add(1, Ordering::Relaxed);
        DateTime::from_timestamp_millis(ms).expect("the test clock stays in chrono's range")
    }
}

/// The current time at millisecond precision, the precision the store keeps.
pub fn now() -> Timestamp {
    match test_clock() {
        Some(clock) => clock.read(),
        None => Utc::now().trunc_subsecs(3),
    }
}

/// When a tick that started at `started` and ran for `elapsed` ended.
pub fn ended_at(started: Timestamp, elapsed: Duration) -> Timestamp {
    match test_clock() {
        Some(clock) => clock.read(),
        None => started + chrono::Duration::milliseconds(elapsed.as_millis() as i64),
    }
}

/// A new run id: a UUID v7 (time-ordered); from the test clock and a
/// counter when that clock is on.
pub fn new_run_id() -> String {
    match test_clock() {
        Some(clock) => {
            static RUNS: AtomicU64 = AtomicU64::new(0);
            let ms = clock.read().timestamp_millis() as u64;
            let mut counter = [0u8; 10];
            counter[2..].copy_from_slice(&RUNS.fetch_add(1, Ordering::Relaxed).to_be_bytes());
            uuid::Builder::from_unix_timestamp_millis(ms, &counter).into_uuid().to_string()
        }
        None => uuid::Uuid::now_v7().to_string(),
    }
}

/// ISO-8601 UTC with milliseconds and a `Z`, e.g. `2026-11-25T17:35:04.123Z`.
/// Fixed width, so the text sorts in time order (what `ORDER BY started_at`
/// relies on in the store).
pub fn format_timestamp(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Read back what [`format_timestamp`] wrote (any RFC 3339 is accepted).
pub fn parse_timestamp(s: &str) -> Result<Timestamp, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_should_be_fixed_width_and_sort_as_text() {
        let a = parse_timestamp("2026-11-25T09:05:04.120Z").unwrap();
        let b = a + chrono::Duration::milliseconds(1_000_000);
        let (ta, tb) = (format_timestamp(&a), format_timestamp(&b));
        assert_eq!(ta, "2026-11-25T09:05:04.120Z");
        assert_eq!(ta.len(), tb.len());
        assert!(ta < tb);
        assert_eq!(parse_timestamp(&tb).unwrap(), b);
    }
}
