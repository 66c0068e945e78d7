use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

/// A point in time, UTC.
pub type Timestamp = DateTime<Utc>;

/// The current time at millisecond precision, the precision the store keeps.
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(3)
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
