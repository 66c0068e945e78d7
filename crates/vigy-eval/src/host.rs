use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map as JsonMap, Value as Json};
use vigy_types::{ActionKind, ActionResult, LogLine, ReconcileAction, VigyId};

use crate::EvalLimits;
use crate::evaluator::TickInput;

/// The world of one tick, as its intrinsics see it: what came in
/// ([`TickInput`]) and what the tick has produced so far.
///
/// Extensions receive it as the host of their native functions, so its
/// public methods are the vocabulary an embedder's intrinsics speak.
#[derive(Debug)]
pub struct TickHost {
    input: TickInput,
    limits: Arc<EvalLimits>,
    pub(crate) actions: Vec<ReconcileAction>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) dropped_logs: usize,
    print_line: String,
    pub(crate) kv_changes: BTreeMap<String, Option<Json>>,
    pub(crate) desired: JsonMap<String, Json>,
    pub(crate) observed: JsonMap<String, Json>,
}

/// What an extension call did to its tick, carried from the process that
/// ran the call back to the tick's own host ([`TickHost::apply`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Effects {
    /// Actions emitted.
    pub actions: Vec<ReconcileAction>,
    /// Lines logged.
    pub logs: Vec<LogLine>,
    /// Key/value writes (`None` = deleted).
    pub kv_changes: BTreeMap<String, Option<Json>>,
    /// `desired` reports.
    pub desired: JsonMap<String, Json>,
    /// `observed` reports.
    pub observed: JsonMap<String, Json>,
}

impl TickHost {
    /// A host for one extension call made from a tick that runs elsewhere:
    /// it sees the tick's input, and what the call does is taken back with
    /// [`TickHost::into_effects`].
    pub fn for_call(input: TickInput, limits: EvalLimits) -> Self {
        Self::new(input, Arc::new(limits))
    }

    /// What was done through this host.
    pub fn into_effects(self) -> Effects {
        Effects {
            actions: self.actions,
            logs: self.logs,
            kv_changes: self.kv_changes,
            desired: self.desired,
            observed: self.observed,
        }
    }

    /// Do `effects` here, under this tick's limits.
    pub fn apply(&mut self, effects: Effects) -> Result<(), String> {
        for action in effects.actions {
            self.emit(action.kind, action.payload)?;
        }
        for line in effects.logs {
            self.log(&line.level, line.message);
        }
        for (key, change) in effects.kv_changes {
            match change {
                Some(value) => self.kv_set(&key, value)?,
                None => drop(self.kv_delete(&key)),
            }
        }
        for (key, value) in effects.desired {
            self.set_desired(&key, value)?;
        }
        for (key, value) in effects.observed {
            self.set_observed(&key, value)?;
        }
        Ok(())
    }

    pub(crate) fn new(input: TickInput, limits: Arc<EvalLimits>) -> Self {
        Self {
            input,
            limits,
            actions: Vec::new(),
            logs: Vec::new(),
            dropped_logs: 0,
            print_line: String::new(),
            kv_changes: BTreeMap::new(),
            desired: JsonMap::new(),
            observed: JsonMap::new(),
        }
    }

    /// The vigy that is ticking.
    pub fn vigy_id(&self) -> VigyId {
        self.input.vigy_id
    }

    /// Its name.
    pub fn vigy_name(&self) -> &str {
        &self.input.name
    }

    /// Which tick this is, from 1.
    pub fn tick(&self) -> u64 {
        self.input.tick
    }

    /// Unix epoch milliseconds of the tick's start.
    pub fn started_at_ms(&self) -> i64 {
        self.input.started_at_ms
    }

    /// Queue a reconcile action.
    pub fn emit(&mut self, kind: ActionKind, payload: Json) -> Result<(), String> {
        if self.actions.len() >= self.limits.max_actions {
            return Err(format!("a tick may emit at most {} actions", self.limits.max_actions));
        }
        self.check_size("payload", &payload)?;
        self.actions.push(ReconcileAction { kind, payload, result: ActionResult::Ok, message: None });
        Ok(())
    }

    /// Keep a log line, unless the tick already logged its cap; lines past
    /// the cap are counted so the run can say how many were cut.
    pub fn log(&mut self, level: &str, message: impl Into<String>) {
        if self.logs.len() >= self.limits.max_log_lines {
            self.dropped_logs += 1;
            return;
        }
        let mut message = message.into();
        truncate_at_char_boundary(&mut message, self.limits.max_log_line_bytes);
        self.logs.push(LogLine { level: level.to_owned(), message });
    }

    /// Append `display` output to the current print line (bounded like a
    /// log line).
    pub(crate) fn print(&mut self, text: &str) {
        let room = self.limits.max_log_line_bytes.saturating_sub(self.print_line.len());
        let mut cut = text.len().min(room);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        self.print_line.push_str(&text[..cut]);
    }

    /// End the current print line: it becomes a log line of level `print`.
    pub(crate) fn end_print_line(&mut self) {
        let line = std::mem::take(&mut self.print_line);
        self.log("print", line);
    }

    /// Flush a print line left open by a `display` without `newline`.
    pub(crate) fn finish_printing(&mut self) {
        if !self.print_line.is_empty() {
            self.end_print_line();
        }
    }

    /// The stored value of `key`, as this tick sees it (its own writes
    /// included).
    pub fn kv_get(&self, key: &str) -> Option<&Json> {
        match self.kv_changes.get(key) {
            Some(change) => change.as_ref(),
            None => self.input.kv.get(key),
        }
    }

    /// Store `value` under `key`; committed only if the tick succeeds.
    pub fn kv_set(&mut self, key: &str, value: Json) -> Result<(), String> {
        if key.is_empty() || key.len() > 256 {
            return Err("a key must be 1 to 256 bytes".into());
        }
        self.check_size("value", &value)?;
        if self.kv_get(key).is_none() && self.kv_len() >= self.limits.max_kv_keys {
            return Err(format!("a vigy may store at most {} keys", self.limits.max_kv_keys));
        }
        self.kv_changes.insert(key.to_owned(), Some(value));
        Ok(())
    }

    /// Remove `key`; returns whether it was set.
    pub fn kv_delete(&mut self, key: &str) -> bool {
        let existed = self.kv_get(key).is_some();
        if existed {
            self.kv_changes.insert(key.to_owned(), None);
        }
        existed
    }

    /// Record what the vigy wants `key` to be.
    pub fn set_desired(&mut self, key: &str, value: Json) -> Result<(), String> {
        self.check_size("desired value", &value)?;
        self.desired.insert(key.to_owned(), value);
        Ok(())
    }

    /// Record what the vigy saw `key` to be.
    pub fn set_observed(&mut self, key: &str, value: Json) -> Result<(), String> {
        self.check_size("observed value", &value)?;
        self.observed.insert(key.to_owned(), value);
        Ok(())
    }

    fn kv_len(&self) -> usize {
        let added = self.kv_changes.iter().filter(|(k, v)| v.is_some() && !self.input.kv.contains_key(*k)).count();
        let removed = self.kv_changes.iter().filter(|(k, v)| v.is_none() && self.input.kv.contains_key(*k)).count();
        self.input.kv.len() + added - removed
    }

    fn check_size(&self, what: &str, value: &Json) -> Result<(), String> {
        let size = serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len());
        if size > self.limits.max_value_bytes {
            return Err(format!("{what} is {size} bytes as JSON, the limit is {}", self.limits.max_value_bytes));
        }
        Ok(())
    }
}

fn truncate_at_char_boundary(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
}
