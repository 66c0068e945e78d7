//! Conditions, as Kubernetes has them: a vigy's own account of one aspect
//! of what it reconciles (`Ready`, `Synced`), set by its program with
//! `vigy-condition` and kept in its state.
//!
//! # Rules
//!
//! - A condition's `last_transition_time` moves only when its status does;
//!   a new reason or message alone keeps it.
//! - Names follow Kubernetes' condition types (a letter, then letters,
//!   digits, `_`, `-`, `.`; at most 63 characters); a reason is one word
//!   (a letter, then letters, digits, `_`, `,`, `:`), so both read well in
//!   `vigy list --condition Ready=false`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Timestamp, VigyError};

/// Longest condition type.
pub const MAX_CONDITION_TYPE: usize = 63;
/// Longest reason.
pub const MAX_CONDITION_REASON: usize = 128;
/// Longest message, in bytes.
pub const MAX_CONDITION_MESSAGE: usize = 1_024;
/// Most conditions one vigy keeps.
pub const MAX_CONDITIONS: usize = 32;

/// Whether a condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConditionStatus {
    /// It holds.
    True,
    /// It does not hold.
    False,
    /// The vigy cannot tell.
    Unknown,
}

impl ConditionStatus {
    /// The lowercase name, as stored and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "true",
            Self::False => "false",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConditionStatus {
    type Err = VigyError;
    /// `true`, `false` or `unknown`, in any case (Kubernetes writes `True`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "true" => Ok(Self::True),
            "false" => Ok(Self::False),
            "unknown" => Ok(Self::Unknown),
            _ => Err(VigyError::InvalidCondition(format!("status must be true, false or unknown, got `{s}`"))),
        }
    }
}

/// What a tick set with `vigy-condition`: a condition without its time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionUpdate {
    /// Its type (`Ready`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// Why, in one word (`Converged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ConditionUpdate {
    /// Check every part against the rules.
    pub fn new(
        kind: &str,
        status: ConditionStatus,
        reason: Option<String>,
        message: Option<String>,
    ) -> Result<Self, VigyError> {
        check_type(kind)?;
        if let Some(reason) = &reason {
            check_reason(reason)?;
        }
        if let Some(message) = &message
            && message.len() > MAX_CONDITION_MESSAGE
        {
            return Err(VigyError::InvalidCondition(format!(
                "a message may have at most {MAX_CONDITION_MESSAGE} bytes, got {}",
                message.len()
            )));
        }
        Ok(Self { kind: kind.to_owned(), status, reason, message })
    }
}

/// One condition of a vigy, as kept in its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// Its type (`Ready`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// Why, in one word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When its status last changed.
    pub last_transition_time: Timestamp,
}

/// Apply a tick's updates to a vigy's conditions at `now`, in order; sorted
/// by type. Returns whether anything changed. Past [`MAX_CONDITIONS`], a new
/// type is refused (the caller checked the count when the tick set it).
pub fn apply_conditions(conditions: &mut Vec<Condition>, updates: &[ConditionUpdate], now: Timestamp) -> bool {
    let mut changed = false;
    for update in updates {
        let count = conditions.len();
        match conditions.iter_mut().find(|c| c.kind == update.kind) {
            Some(condition) => {
                if condition.status != update.status {
                    condition.status = update.status;
                    condition.last_transition_time = now;
                    changed = true;
                }
                if condition.reason != update.reason || condition.message != update.message {
                    condition.reason.clone_from(&update.reason);
                    condition.message.clone_from(&update.message);
                    changed = true;
                }
            }
            None if count < MAX_CONDITIONS => {
                conditions.push(Condition {
                    kind: update.kind.clone(),
                    status: update.status,
                    reason: update.reason.clone(),
                    message: update.message.clone(),
                    last_transition_time: now,
                });
                changed = true;
            }
            None => {}
        }
    }
    conditions.sort_by(|a, b| a.kind.cmp(&b.kind));
    changed
}

/// `Ready=false`: vigies whose condition `Ready` has that status (a vigy
/// without the condition matches `unknown`, as Kubernetes reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionFilter {
    /// The condition's type.
    pub kind: String,
    /// The status it must have.
    pub status: ConditionStatus,
}

impl ConditionFilter {
    /// Whether `conditions` pass.
    pub fn matches(&self, conditions: &[Condition]) -> bool {
        let status = conditions.iter().find(|c| c.kind == self.kind).map_or(ConditionStatus::Unknown, |c| c.status);
        status == self.status
    }
}

impl FromStr for ConditionFilter {
    type Err = VigyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, status) = s
            .split_once('=')
            .ok_or_else(|| VigyError::InvalidCondition(format!("expected TYPE=STATUS (`Ready=false`), got `{s}`")))?;
        check_type(kind)?;
        Ok(Self { kind: kind.to_owned(), status: status.parse()? })
    }
}

impl fmt::Display for ConditionFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.kind, self.status)
    }
}

fn check_type(kind: &str) -> Result<(), VigyError> {
    if is_word(kind, MAX_CONDITION_TYPE, &['_', '-', '.']) {
        return Ok(());
    }
    Err(VigyError::InvalidCondition(format!(
        "type `{kind}` must start with a letter and hold only letters, digits, `_`, `-` and `.` (at most {MAX_CONDITION_TYPE})"
    )))
}

fn check_reason(reason: &str) -> Result<(), VigyError> {
    if is_word(reason, MAX_CONDITION_REASON, &['_', ',', ':']) {
        return Ok(());
    }
    Err(VigyError::InvalidCondition(format!(
        "reason `{reason}` must be one word: a letter, then letters, digits, `_`, `,` or `:` (at most {MAX_CONDITION_REASON})"
    )))
}

/// At most `max` bytes: a letter, then letters, digits or `extra`.
fn is_word(text: &str, max: usize, extra: &[char]) -> bool {
    text.len() <= max
        && text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn update(kind: &str, status: ConditionStatus, message: Option<&str>) -> ConditionUpdate {
        ConditionUpdate::new(kind, status, Some("Because".into()), message.map(Into::into)).unwrap()
    }

    #[test]
    fn a_condition_should_keep_its_transition_time_when_only_the_message_changes() {
        let mut conditions = Vec::new();
        assert!(apply_conditions(&mut conditions, &[update("Ready", ConditionStatus::False, Some("a"))], at(1)));
        assert!(apply_conditions(&mut conditions, &[update("Ready", ConditionStatus::False, Some("b"))], at(2)));
        assert_eq!(conditions[0].last_transition_time, at(1));
        assert_eq!(conditions[0].message.as_deref(), Some("b"));
        assert!(!apply_conditions(&mut conditions, &[update("Ready", ConditionStatus::False, Some("b"))], at(3)));
        assert!(apply_conditions(&mut conditions, &[update("Ready", ConditionStatus::True, Some("b"))], at(4)));
        assert_eq!(conditions[0].last_transition_time, at(4));
    }

    #[test]
    fn conditions_should_be_sorted_by_type_and_capped() {
        let mut conditions = Vec::new();
        let updates: Vec<_> =
            (0..MAX_CONDITIONS + 3).rev().map(|i| update(&format!("C{i:02}"), ConditionStatus::True, None)).collect();
        apply_conditions(&mut conditions, &updates, at(1));
        assert_eq!(conditions.len(), MAX_CONDITIONS);
        assert!(conditions.windows(2).all(|w| w[0].kind < w[1].kind));
    }

    #[test]
    fn bad_conditions_should_be_refused_with_the_rule() {
        for kind in ["", "1Ready", "Re ady", &"R".repeat(64)] {
            let error = ConditionUpdate::new(kind, ConditionStatus::True, None, None).unwrap_err();
            assert!(error.to_string().contains("must start with a letter"), "{kind}: {error}");
        }
        let error = ConditionUpdate::new("Ready", ConditionStatus::True, Some("two words".into()), None).unwrap_err();
        assert!(error.to_string().contains("one word"), "{error}");
        let long = "x".repeat(MAX_CONDITION_MESSAGE + 1);
        assert!(ConditionUpdate::new("Ready", ConditionStatus::True, None, Some(long)).is_err());
        assert!("maybe".parse::<ConditionStatus>().is_err());
        assert_eq!("True".parse::<ConditionStatus>().unwrap(), ConditionStatus::True);
    }

    #[test]
    fn a_filter_should_read_a_missing_condition_as_unknown() {
        let filter: ConditionFilter = "Ready=false".parse().unwrap();
        let mut conditions = Vec::new();
        assert!(!filter.matches(&conditions));
        assert!("Ready=unknown".parse::<ConditionFilter>().unwrap().matches(&conditions));
        apply_conditions(&mut conditions, &[update("Ready", ConditionStatus::False, None)], at(1));
        assert!(filter.matches(&conditions));
        assert!("Ready".parse::<ConditionFilter>().unwrap_err().to_string().contains("TYPE=STATUS"));
        assert_eq!(filter.to_string(), "Ready=false");
    }
}
