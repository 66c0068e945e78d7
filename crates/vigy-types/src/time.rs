use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

/// A point in time, UTC.
pub type Timestamp = DateTime<Utc>;

/// Where the runtime reads the time and waits for it: the system's clock
/// in production, a manual one in tests (`vigy_runtime::ManualClock`), a
/// stepping one to replay a scenario. Given to `RuntimeBuilder::clock`;
/// nothing in vigy reads the time any other way, except the budgets a tick
/// runs under, which are real time whatever the clock says.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Now, at full precision.
    fn now(&self) -> Timestamp;

    /// Resolves once [`now`](Clock::now) has reached `at` (at once if it
    /// has).
    fn sleep_until(&self, at: Timestamp) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

    /// Now at the precision the store keeps (milliseconds), so what is
    /// written reads back equal.
    fn stamp(&self) -> Timestamp {
        self.now().trunc_subsecs(3)
    }

    /// When a tick that started at `started` and ran for `elapsed` ended.
    fn ended_at(&self, started: Timestamp, elapsed: Duration) -> Timestamp {
        started + chrono::Duration::milliseconds(elapsed.as_millis() as i64)
    }

    /// A new run id: a UUID v7, time-ordered.
    fn run_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
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
