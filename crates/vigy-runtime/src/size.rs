//! About how many bytes a run or a tick's record holds: what the writer's
//! queue and the run feed are bounded by. Counts the text and JSON a value
//! carries, not allocator overhead.

use serde_json::Value as Json;
use vigy_store::TickRecord;
use vigy_types::VigyRun;

/// Fixed cost of a run beside its text: ids, timestamps, vectors.
const RUN_OVERHEAD: usize = 256;

pub(crate) fn run_bytes(run: &VigyRun) -> usize {
    let logs: usize = run.logs.iter().map(|l| l.level.len() + l.message.len() + 48).sum();
    let actions: usize =
        run.actions.iter().map(|a| 64 + json_bytes(&a.payload) + a.message.as_ref().map_or(0, String::len)).sum();
    RUN_OVERHEAD + run.id.len() + run.error.as_ref().map_or(0, String::len) + logs + actions
}

pub(crate) fn record_bytes(record: &TickRecord) -> usize {
    let kv: usize = record.kv_changes.iter().map(|(k, v)| k.len() + 16 + v.as_ref().map_or(0, json_bytes)).sum();
    let reported = record.reported.as_ref().map_or(0, |(desired, observed)| {
        desired.iter().chain(observed).map(|(k, v)| k.len() + 16 + json_bytes(v)).sum()
    });
    run_bytes(&record.run) + kv + reported
}

/// Walked with an explicit stack: a program can build deeply nested values,
/// and this runs on the async runtime's small stacks.
pub(crate) fn json_bytes(value: &Json) -> usize {
    let mut total = 0;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        total += 16;
        match value {
            Json::String(s) => total += s.len(),
            Json::Array(items) => stack.extend(items),
            Json::Object(map) => {
                for (key, item) in map {
                    total += key.len();
                    stack.push(item);
                }
            }
            Json::Null | Json::Bool(_) | Json::Number(_) => {}
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bytes_should_count_text_and_survive_deep_nesting() {
        let flat = serde_json::json!({"key": "x".repeat(1000), "list": [1, 2, 3]});
        let n = json_bytes(&flat);
        assert!((1_007..1_200).contains(&n), "{n}");
        let mut deep = Json::Null;
        for _ in 0..200_000 {
            deep = Json::Array(vec![deep]);
        }
        assert_eq!(json_bytes(&deep), 16 * 200_001);
        // serde_json's own Drop recurses: leak it rather than overflow here.
        std::mem::forget(deep);
    }
}
