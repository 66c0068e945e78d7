use serde::{Deserialize, Serialize};

use crate::{Labels, Program, TickInterval, Timestamp, VigyError, VigyId, VigyName};

/// A registered reconciler: a program and how often it ticks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vigy {
    /// Derived from `name`.
    pub id: VigyId,
    /// Unique human name.
    pub name: VigyName,
    /// The tatara-lisp source, checked.
    pub program: Program,
    /// How often it ticks.
    pub tick_interval: TickInterval,
    /// Whether it ticks at all.
    pub enabled: bool,
    /// Why the runtime disabled it (it was quarantined after its ticks
    /// repeatedly cost their worker process its life); `None` when it is
    /// enabled or an operator disabled it.
    #[serde(default)]
    pub disabled_reason: Option<String>,
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
        let name = VigyName::new(name)?;
        let program = Program::parse(program)?;
        let now = crate::now();
        Ok(Self {
            id: VigyId::for_name(&name),
            name,
            program,
            tick_interval,
            enabled: true,
            disabled_reason: None,
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

    /// The same vigy, enabled or not.
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Whether `other` would tick differently from `self` (program, interval,
    /// enabled or labels changed); timestamps are ignored.
    pub fn differs_in_behaviour(&self, other: &Vigy) -> bool {
        self.program != other.program
            || self.tick_interval != other.tick_interval
            || self.enabled != other.enabled
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
