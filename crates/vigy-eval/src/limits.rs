use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Budgets every tick runs under. A tick that exceeds one fails with an
/// error naming it; nothing outside the tick is affected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalLimits {
    /// Evaluation steps per tick (default 10,000,000: a few hundred ms of
    /// tight looping).
    pub fuel: usize,
    /// Nested (non-tail) calls (default 10,000).
    pub max_depth: usize,
    /// Wall-clock time per tick (default 2 s).
    pub deadline: Duration,
    /// Actions per tick (default 1,000).
    pub max_actions: usize,
    /// Log lines kept per tick; later lines are counted and dropped
    /// (default 1,000).
    pub max_log_lines: usize,
    /// Bytes kept of one log line (default 4 KiB).
    pub max_log_line_bytes: usize,
    /// Bytes of one string built by `string-append` (default 1 MiB).
    pub max_string_bytes: usize,
    /// Bytes of one action payload or stored value, as JSON (default 64 KiB).
    pub max_value_bytes: usize,
    /// Keys in one vigy's key/value store (default 10,000).
    pub max_kv_keys: usize,
    /// Bytes of one vigy's key/value store after a tick's writes: keys plus
    /// values as JSON (default 1 MiB). The store is loaded for every tick;
    /// a write that would take it past this fails the tick with
    /// `quota exceeded: kv …`, while writes that shrink it always pass.
    pub max_kv_bytes: usize,
    /// Bytes of one run as JSON: its log lines, actions, and desired and
    /// observed reports (default 1 MiB). Counted as the tick produces them;
    /// the tick fails with `quota exceeded: run …` at the item that would
    /// cross it.
    pub max_run_bytes: usize,
    /// Bytes of source one tick may give `read-string` and `read-all`
    /// (default 256 KiB, the size of the largest program). Bounds what a
    /// tick can parse and intern (`quota exceeded: read …`).
    pub max_read_bytes: usize,
}

impl Default for EvalLimits {
    fn default() -> Self {
        Self {
            fuel: 10_000_000,
            max_depth: 10_000,
            deadline: Duration::from_secs(2),
            max_actions: 1_000,
            max_log_lines: 1_000,
            max_log_line_bytes: 4 * 1024,
            max_string_bytes: 1024 * 1024,
            max_value_bytes: 64 * 1024,
            max_kv_keys: 10_000,
            max_kv_bytes: 1024 * 1024,
            max_run_bytes: 1024 * 1024,
            max_read_bytes: 256 * 1024,
        }
    }
}
