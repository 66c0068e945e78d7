use crate::program::ProgramError;

/// Why a domain value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VigyError {
    /// A vigy name is empty, too long or contains a control character.
    #[error("invalid vigy name: {0}")]
    InvalidName(String),
    /// A tick interval below [`crate::TickInterval::MIN_MILLIS`].
    #[error("tick interval of {millis} ms is below the minimum of {min} ms", min = crate::TickInterval::MIN_MILLIS)]
    IntervalTooShort {
        /// The interval that was asked for.
        millis: u64,
    },
    /// A tick interval above [`crate::TickInterval::MAX_MILLIS`].
    #[error("tick interval of {millis} ms is above the maximum of {max} ms", max = crate::TickInterval::MAX_MILLIS)]
    IntervalTooLong {
        /// The interval that was asked for.
        millis: u64,
    },
    /// A label key or value, or a `k=v` pair, that does not follow the rules.
    #[error("invalid label: {0}")]
    InvalidLabel(String),
    /// A label selector that does not parse.
    #[error("invalid label selector `{selector}`: {reason}")]
    InvalidSelector {
        /// The selector as given.
        selector: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A program that is too large, too deeply nested, or does not parse.
    #[error(transparent)]
    InvalidProgram(#[from] ProgramError),
    /// A quota would be exceeded: `quota` names it, `detail` gives the numbers.
    #[error("quota exceeded: {quota}: {detail}")]
    QuotaExceeded {
        /// Which quota (`vigies`, …).
        quota: &'static str,
        /// What was asked for and what the limit is.
        detail: String,
    },
    /// A condition (type, status, reason or message) that breaks its rules.
    #[error("invalid condition: {0}")]
    InvalidCondition(String),
    /// A simulation asked for no ticks or more than
    /// [`crate::program::MAX_SIMULATED_TICKS`].
    #[error("invalid tick count {0}: a simulation runs 1 to {max} ticks", max = crate::program::MAX_SIMULATED_TICKS)]
    InvalidTickCount(u32),
    /// An id that is not 32 lowercase hex characters.
    #[error("invalid vigy id `{0}`: expected 32 lowercase hex characters")]
    InvalidId(String),
    /// A schedule that cannot run: a bad cron pattern or time zone, a
    /// jitter or catch-up window out of range, a window that ends before
    /// it starts, or neither (or both) of an interval and a cron pattern.
    #[error("invalid schedule: {0}")]
    InvalidSchedule(String),
}
