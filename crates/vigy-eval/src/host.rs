use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map as JsonMap, Value as Json};
use vigy_types::condition::MAX_CONDITIONS;
use vigy_types::{ActionKind, ConditionUpdate, LogLine, ReconcileAction, VigyId};

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
    /// `vigy-condition` calls, the last per type kept.
    pub(crate) conditions: Vec<ConditionUpdate>,
    quota: Quota,
}

/// What a tick has used of the quotas that bound its size, and the first
/// quota it broke. A broken quota fails the tick: every intrinsic checks
/// it on return ([`TickHost::quota_exceeded`]) and raises an error no
/// `try` catches.
#[derive(Debug, Default)]
struct Quota {
    /// Bytes of the run so far, as JSON: log lines, actions, and the
    /// desired and observed reports.
    run_bytes: usize,
    /// Bytes of the kv store with this tick's changes (keys plus values as
    /// JSON); measured on the tick's first write.
    kv_bytes: Option<usize>,
    /// Bytes of source `read-string` and `read-all` were given.
    read_bytes: usize,
    /// The first quota this tick exceeded.
    exceeded: Option<String>,
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
    /// Conditions set.
    #[serde(default)]
    pub conditions: Vec<ConditionUpdate>,
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
            conditions: self.conditions,
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
        for condition in effects.conditions {
            self.set_condition(condition)?;
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
            conditions: Vec::new(),
            quota: Quota::default(),
        }
        .forgetting_old_symbols()
    }

    /// Symbols interned by earlier ticks on this thread (by `read-string`,
    /// `read-all`, `eval`, or keywords and quoted symbols being evaluated)
    /// stay in tatara-lisp's thread-local table, which only grows: one tick
    /// could leave megabytes of names there for good. So the table is
    /// emptied before every tick. Values keep their text and symbols compare
    /// by text, so nothing changes but the sharing of equal names, which
    /// each tick rebuilds for the names it uses (a few microseconds for a
    /// few dozen names).
    fn forgetting_old_symbols(self) -> Self {
        if tatara_lisp_eval::interner::size() > 0 {
            tatara_lisp_eval::interner::clear();
        }
        self
    }

    /// The quota this tick broke, if any: the tick fails with it.
    pub fn quota_exceeded(&self) -> Option<&str> {
        self.quota.exceeded.as_deref()
    }

    /// Record that `quota` was exceeded and return the refusal.
    fn exceed(&mut self, quota: &str, detail: String) -> String {
        let message = format!("{quota}: {detail}");
        self.quota.exceeded.get_or_insert_with(|| message.clone());
        message
    }

    /// Count `bytes` more of this tick's run, refusing them past the quota.
    fn charge_run(&mut self, what: &str, bytes: usize) -> Result<(), String> {
        let total = self.quota.run_bytes.saturating_add(bytes);
        let max = self.limits.max_run_bytes;
        if total > max {
            let detail =
                format!("{what} of {bytes} bytes would make this run {total} bytes as JSON, the limit is {max}");
            return Err(self.exceed("run", detail));
        }
        self.quota.run_bytes = total;
        Ok(())
    }

    /// Count `bytes` more of source read by `read-string`/`read-all`.
    pub(crate) fn charge_read(&mut self, bytes: usize) -> Result<(), String> {
        let total = self.quota.read_bytes.saturating_add(bytes);
        let max = self.limits.max_read_bytes;
        if total > max {
            let detail =
                format!("reading {bytes} more bytes would make {total} bytes read this tick, the limit is {max}");
            return Err(self.exceed("read", detail));
        }
        self.quota.read_bytes = total;
        Ok(())
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
        let action = ReconcileAction::emitted(kind, payload);
        self.charge_run("an action", json_len(&action))?;
        self.actions.push(action);
        Ok(())
    }

    /// The actions of the vigy's previous tick, with what became of each
    /// (`vigy-last-results`).
    pub fn last_results(&self) -> &[ReconcileAction] {
        &self.input.last_results
    }

    /// Set a condition of the vigy (`vigy-condition`); a later call for the
    /// same type in the same tick replaces it.
    pub fn set_condition(&mut self, condition: ConditionUpdate) -> Result<(), String> {
        let count = self.conditions.len();
        match self.conditions.iter_mut().find(|c| c.kind == condition.kind) {
            Some(existing) => *existing = condition,
            None if count >= MAX_CONDITIONS => {
                return Err(format!("a vigy may set at most {MAX_CONDITIONS} conditions"));
            }
            None => {
                self.charge_run("a condition", json_len(&condition))?;
                self.conditions.push(condition);
            }
        }
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
        let line = LogLine { level: level.to_owned(), message };
        if self.charge_run("a log line", json_len(&line)).is_err() {
            return;
        }
        self.logs.push(line);
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
        // Checked as it grows, so a line still open when the tick ends
        // cannot take the run past its quota.
        let pending = json_len(&LogLine { level: "print".into(), message: self.print_line.clone() });
        if self.quota.run_bytes.saturating_add(pending) > self.limits.max_run_bytes {
            let _ = self.charge_run("a printed line", pending);
        }
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
        let size = self.check_size("value", &value)?;
        if self.kv_get(key).is_none() && self.kv_len() >= self.limits.max_kv_keys {
            return Err(format!("a vigy may store at most {} keys", self.limits.max_kv_keys));
        }
        let before = self.kv_bytes();
        let after = before - self.kv_entry_bytes(key) + key.len() + size;
        let max = self.limits.max_kv_bytes;
        if after > max && after > before {
            let detail = format!(
                "storing {size} bytes under `{key}` would make this vigy's store {after} bytes (keys plus values as JSON), the limit is {max}"
            );
            return Err(self.exceed("kv", detail));
        }
        self.quota.kv_bytes = Some(after);
        self.kv_changes.insert(key.to_owned(), Some(value));
        Ok(())
    }

    /// Remove `key`; returns whether it was set.
    pub fn kv_delete(&mut self, key: &str) -> bool {
        let existed = self.kv_get(key).is_some();
        if existed {
            if let Some(bytes) = self.quota.kv_bytes {
                self.quota.kv_bytes = Some(bytes - self.kv_entry_bytes(key));
            }
            self.kv_changes.insert(key.to_owned(), None);
        }
        existed
    }

    /// Record what the vigy wants `key` to be.
    pub fn set_desired(&mut self, key: &str, value: Json) -> Result<(), String> {
        let size = self.check_size("desired value", &value)?;
        let replaced = self.desired.get(key).map_or(0, |old| report_entry_bytes(key, json_len(old)));
        self.charge_run("a desired value", report_entry_bytes(key, size).saturating_sub(replaced))?;
        self.desired.insert(key.to_owned(), value);
        Ok(())
    }

    /// Record what the vigy saw `key` to be.
    pub fn set_observed(&mut self, key: &str, value: Json) -> Result<(), String> {
        let size = self.check_size("observed value", &value)?;
        let replaced = self.observed.get(key).map_or(0, |old| report_entry_bytes(key, json_len(old)));
        self.charge_run("an observed value", report_entry_bytes(key, size).saturating_sub(replaced))?;
        self.observed.insert(key.to_owned(), value);
        Ok(())
    }

    fn kv_len(&self) -> usize {
        let added = self.kv_changes.iter().filter(|(k, v)| v.is_some() && !self.input.kv.contains_key(*k)).count();
        let removed = self.kv_changes.iter().filter(|(k, v)| v.is_none() && self.input.kv.contains_key(*k)).count();
        self.input.kv.len() + added - removed
    }

    /// The size of `value` as JSON, refused past the per-value limit.
    fn check_size(&self, what: &str, value: &Json) -> Result<usize, String> {
        let size = json_len(value);
        if size > self.limits.max_value_bytes {
            return Err(format!("{what} is {size} bytes as JSON, the limit is {}", self.limits.max_value_bytes));
        }
        Ok(size)
    }

    /// Bytes of the kv store as this tick sees it, measured once.
    fn kv_bytes(&mut self) -> usize {
        if let Some(bytes) = self.quota.kv_bytes {
            return bytes;
        }
        let unchanged = self.input.kv.iter().filter(|(k, _)| !self.kv_changes.contains_key(*k));
        let changed = self.kv_changes.iter().filter_map(|(k, v)| v.as_ref().map(|v| (k, v)));
        let bytes = unchanged.chain(changed).map(|(k, v)| k.len() + json_len(v)).sum();
        self.quota.kv_bytes = Some(bytes);
        bytes
    }

    /// Bytes `key` holds in the kv store as this tick sees it.
    fn kv_entry_bytes(&self, key: &str) -> usize {
        self.kv_get(key).map_or(0, |v| key.len() + json_len(v))
    }
}

/// Bytes of one `"key":value,` entry of a report.
fn report_entry_bytes(key: &str, value_bytes: usize) -> usize {
    json_len(key) + value_bytes + 2
}

/// The length of `value` serialised as JSON, without building the text.
fn json_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_or(usize::MAX, |()| count.0)
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
