use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ReconcileAction, Timestamp, VigyId};

/// How a tick ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunResult {
    /// The program ran to the end.
    Ok,
    /// The program raised an error or ran out of budget.
    Failed,
    /// The tick did not run the program (e.g. the vigy was deleted meanwhile).
    Skipped,
}

impl RunResult {
    /// The lowercase name, as stored in `vigy_runs.result`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

impl fmt::Display for RunResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunResult {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ok" => Ok(Self::Ok),
            "failed" => Ok(Self::Failed),
            "skipped" => Ok(Self::Skipped),
            other => Err(format!("unknown run result `{other}`")),
        }
    }
}

/// One line a tick logged through `vigy-log` or `display`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// `trace`, `debug`, `info`, `warn`, `error`, or `print` for `display`.
    pub level: String,
    /// The text.
    pub message: String,
}

/// One tick of one vigy, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VigyRun {
    /// Time-ordered unique id (UUID v7).
    pub id: String,
    /// The vigy that ticked.
    pub vigy_id: VigyId,
    /// Which tick of the vigy this was, from 1.
    pub tick: u64,
    /// When evaluation started.
    pub started_at: Timestamp,
    /// When evaluation ended.
    pub ended_at: Timestamp,
    /// How it ended.
    pub result: RunResult,
    /// The error, when the result is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The actions the tick emitted, in order.
    pub actions: Vec<ReconcileAction>,
    /// The lines the tick logged, in order, up to the per-run cap.
    pub logs: Vec<LogLine>,
    /// Whether lines were dropped because the tick logged past the cap.
    #[serde(default)]
    pub logs_truncated: bool,
}
