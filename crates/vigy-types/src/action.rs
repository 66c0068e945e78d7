use std::fmt;

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionResult {
    /// Emitted by a tick that succeeded.
    Ok,
    /// The host tried it and it failed.
    Failed,
    /// Emitted by a tick that failed afterwards, so not acted on.
    Skipped,
}

impl ActionResult {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// One action a tick emitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileAction {
    /// What to do.
    pub kind: ActionKind,
    /// The program's payload, as JSON (`null` when none was given).
    pub payload: serde_json::Value,
    /// What became of it.
    pub result: ActionResult,
    /// Why, when the result is not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
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
    }
}
