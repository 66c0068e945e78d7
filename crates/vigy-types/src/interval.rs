use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::VigyError;

/// How often a vigy ticks: at least [`TickInterval::MIN_MILLIS`], at most
/// [`TickInterval::MAX_MILLIS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct TickInterval(u64);

impl TickInterval {
    /// The shortest interval: a reconciler is not a busy loop.
    pub const MIN_MILLIS: u64 = 100;
    /// The longest interval: one week.
    pub const MAX_MILLIS: u64 = 7 * 24 * 3600 * 1000;

    /// An interval of `millis` milliseconds.
    pub fn from_millis(millis: u64) -> Result<Self, VigyError> {
        if millis < Self::MIN_MILLIS {
            return Err(VigyError::IntervalTooShort { millis });
        }
        if millis > Self::MAX_MILLIS {
            return Err(VigyError::IntervalTooLong { millis });
        }
        Ok(Self(millis))
    }

    /// The interval in milliseconds.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// The interval as a [`Duration`].
    pub fn as_duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

impl TryFrom<u64> for TickInterval {
    type Error = VigyError;
    fn try_from(ms: u64) -> Result<Self, Self::Error> {
        Self::from_millis(ms)
    }
}

impl From<TickInterval> for u64 {
    fn from(i: TickInterval) -> Self {
        i.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_should_refuse_anything_under_100_ms() {
        assert_eq!(TickInterval::from_millis(99), Err(VigyError::IntervalTooShort { millis: 99 }));
        assert_eq!(TickInterval::from_millis(0), Err(VigyError::IntervalTooShort { millis: 0 }));
        assert_eq!(TickInterval::from_millis(100).unwrap().as_millis(), 100);
        assert_eq!(TickInterval::from_millis(500).unwrap().as_duration(), Duration::from_millis(500));
        assert!(TickInterval::from_millis(TickInterval::MAX_MILLIS + 1).is_err());
        assert!(serde_json::from_str::<TickInterval>("50").is_err());
    }
}
