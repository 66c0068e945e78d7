use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// What a reconcile action asks the host to do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ActionKind {
    /// Bring outside state in.
    Pull,
    /// Push state out.
    Push,
    /// Nothing to do: the state has converged.
    Noop,
    /// A host-defined kind, keeping its own name.
    Custom(String),
}

impl ActionKind {
    /// The kind's name, as stored and sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pull => "pull",
            Self::Push => "push",
            Self::Noop => "noop",
            Self::Custom(name) => name,
        }
    }
}

impl From<String> for ActionKind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "pull" => Self::Pull,
            "push" => Self::Push,
            "noop" => Self::Noop,
            _ => Self::Custom(s),
        }
    }
}

impl From<&str> for ActionKind {
    fn from(s: &str) -> Self {
        Self::from(s.to_owned())
    }
}

impl From<ActionKind> for String {
    fn from(k: ActionKind) -> Self {
        match k {
            ActionKind::Custom(name) => name,
            other => other.as_str().to_owned(),
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionResult {
    /// Committed with its tick, waiting in the outbox for its handler (or
    /// for a retry).
    Pending,
    /// Its handler carried it out; a `noop` is `ok` without one.
    Ok,
    /// Its handler failed, for good: the error was final, or the retries
    /// ran out.
    Failed,
    /// Not acted on: the tick failed, no handler takes the kind, the
    /// handler refused it, or an earlier action of the tick failed.
    Skipped,
}

impl ActionResult {
    /// The lowercase name, as stored and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    /// Whether nothing more will happen to the action.
    pub fn is_final(self) -> bool {
        self != Self::Pending
    }
}

impl fmt::Display for ActionResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One action a tick emitted, and what its handler made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileAction {
    /// What to do.
    pub kind: ActionKind,
    /// The program's payload, as JSON (`null` when none was given).
    pub payload: serde_json::Value,
    /// What became of it.
    pub result: ActionResult,
    /// What the handler said (why, when it failed or was skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the handler returned for the program to read next tick
    /// (`vigy-last-results`), bounded in size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    /// How many times a handler was called with it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// When its first attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When its last attempt ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
}

impl ReconcileAction {
    /// An action just emitted: nothing has happened to it yet.
    pub fn emitted(kind: ActionKind, payload: serde_json::Value) -> Self {
        Self {
            kind,
            payload,
            result: ActionResult::Pending,
            message: None,
            output: None,
            attempts: 0,
            started_at: None,
            ended_at: None,
        }
    }

    /// Resolved without a handler being called.
    pub fn settle(&mut self, result: ActionResult, message: Option<String>) {
        self.result = result;
        self.message = message;
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_kind_should_keep_custom_names_and_map_the_known_ones() {
        assert_eq!(ActionKind::from("pull"), ActionKind::Pull);
        assert_eq!(ActionKind::from("mado-tear-sync"), ActionKind::Custom("mado-tear-sync".into()));
        let json = serde_json::to_string(&ActionKind::Custom("restack".into())).unwrap();
        assert_eq!(json, "\"restack\"");
        assert_eq!(serde_json::from_str::<ActionKind>("\"noop\"").unwrap(), ActionKind::Noop);
        assert_eq!(serde_json::to_string(&ActionResult::Skipped).unwrap(), "\"skipped\"");
        assert_eq!(serde_json::to_string(&ActionResult::Pending).unwrap(), "\"pending\"");
    }
}
