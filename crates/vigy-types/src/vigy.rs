use serde::{Deserialize, Serialize};

use crate::{Labels, Program, Schedule, TickInterval, Timestamp, VigyError, VigyId, VigyName};

/// Why and since when a vigy does not tick for now: an operator paused it
/// (`vigy pause NAME --reason …`), or the runtime did after as many
/// failures in a row as the vigy allows. Unlike disabling, pausing says the
/// vigy is meant to run and is held; resuming clears it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// Why, in words (the last error, for an automatic pause).
    pub reason: String,
    /// Since when.
    pub at: Timestamp,
}

/// A registered reconciler: a program and when it ticks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vigy {
    /// Derived from `name`.
    pub id: VigyId,
    /// Unique human name.
    pub name: VigyName,
    /// The tatara-lisp source, checked.
    pub program: Program,
    /// When it ticks.
    pub schedule: Schedule,
    /// Whether it ticks at all.
    pub enabled: bool,
    /// Why the runtime disabled it (it was quarantined after its ticks
    /// repeatedly cost their worker process its life); `None` when it is
    /// enabled or an operator disabled it.
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// Held, and why, while paused.
    #[serde(default)]
    pub paused: Option<Pause>,
    /// Pause it after this many failed ticks in a row (`None`: never).
    #[serde(default)]
    pub pause_after_failures: Option<u32>,
    /// Labels, for selectors and scopes.
    pub labels: Labels,
    /// When it was first registered.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

impl Vigy {
    /// A new, enabled, unlabelled vigy. Refuses a bad name or a program that
    /// does not pass [`Program::parse`].
    pub fn new(
        name: impl Into<String>,
        program: impl Into<String>,
        tick_interval: TickInterval,
    ) -> Result<Self, VigyError> {
        Self::scheduled(name, program, Schedule::every(tick_interval))
    }

    /// A new, enabled, unlabelled vigy on `schedule`.
    pub fn scheduled(
        name: impl Into<String>,
        program: impl Into<String>,
        schedule: Schedule,
    ) -> Result<Self, VigyError> {
        let name = VigyName::new(name)?;
        let program = Program::parse(program)?;
        // The runtime stamps both with its own clock when it registers it.
        let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3);
        Ok(Self {
            id: VigyId::for_name(&name),
            name,
            program,
            schedule,
            enabled: true,
            disabled_reason: None,
            paused: None,
            pause_after_failures: None,
            labels: Labels::new(),
            created_at: now,
            updated_at: now,
        })
    }

    /// The same vigy with `labels`.
    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }

    /// The same vigy on `schedule`.
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// The same vigy, paused after `failures` failed ticks in a row (`None`
    /// or 0: never).
    pub fn with_pause_after_failures(mut self, failures: Option<u32>) -> Self {
        self.pause_after_failures = failures.filter(|n| *n > 0);
        self
    }

    /// Whether it ticks on its own: enabled and not paused.
    pub fn runs(&self) -> bool {
        self.enabled && self.paused.is_none()
    }

    /// The same vigy, enabled or not.
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Whether `other` would tick differently from `self` (program,
    /// schedule, enabled, paused, failure limit or labels changed);
    /// timestamps are ignored.
    pub fn differs_in_behaviour(&self, other: &Vigy) -> bool {
        self.program != other.program
            || self.schedule != other.schedule
            || self.enabled != other.enabled
            || self.paused != other.paused
            || self.pause_after_failures != other.pause_after_failures
            || self.labels != other.labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vigy_new_should_validate_and_derive_the_id() {
        let v = Vigy::new("hello", "(vigy-noop)", TickInterval::from_millis(500).unwrap()).unwrap();
        assert_eq!(v.id, VigyId::for_name(&v.name));
        assert!(v.enabled);
        assert!(matches!(
            Vigy::new("", "(vigy-noop)", TickInterval::from_millis(500).unwrap()),
            Err(VigyError::InvalidName(_))
        ));
        assert!(matches!(
            Vigy::new("x", "(vigy-noop", TickInterval::from_millis(500).unwrap()),
            Err(VigyError::InvalidProgram(_))
        ));
    }
}
