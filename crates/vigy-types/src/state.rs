use serde::{Deserialize, Serialize};

use crate::{Condition, ReconcileAction, Timestamp, VigyId};

/// What a vigy last reported about the state it reconciles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VigyState {
    /// The vigy.
    pub vigy_id: VigyId,
    /// Keys set with `vigy-desired` during the last successful tick.
    pub desired: serde_json::Map<String, serde_json::Value>,
    /// Keys set with `vigy-observed` during the last successful tick.
    pub observed: serde_json::Map<String, serde_json::Value>,
    /// The actions of the last tick still waiting for their handlers
    /// (result `pending`), in order.
    pub pending: Vec<ReconcileAction>,
    /// The conditions its program set with `vigy-condition`, by type.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Ticks run so far.
    pub tick_count: u64,
    /// When the last tick that reported this started.
    pub captured_at: Timestamp,
}
