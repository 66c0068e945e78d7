use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value as Json;
use vigy_eval::{CompiledProgram, EvalLimits, Evaluator, TickInput, TickOutcome};
use vigy_types::{Program, VigyId, VigyName};

pub(crate) fn evaluator() -> Evaluator {
    Evaluator::new(EvalLimits::default(), &[])
}

pub(crate) fn compile(source: &str) -> CompiledProgram {
    CompiledProgram::new(&Program::parse(source).unwrap_or_else(|e| panic!("{e}")))
}

pub(crate) fn input(tick: u64, kv: BTreeMap<String, Json>) -> TickInput {
    TickInput {
        vigy_id: VigyId::for_name(&VigyName::new("test").unwrap()),
        name: "test".into(),
        tick,
        started_at_ms: 1_764_000_000_000,
        kv: Arc::new(kv),
        last_results: Arc::new([]),
    }
}

/// Run `source` once with an empty kv store.
pub(crate) fn run(source: &str) -> TickOutcome {
    evaluator().run(&compile(source), input(1, BTreeMap::new()))
}

/// Run `source` and demand success.
pub(crate) fn run_ok(source: &str) -> TickOutcome {
    let outcome = run(source);
    if let Err(e) = &outcome.result {
        panic!("{source}: {e}");
    }
    outcome
}

/// Run `source` and return its error text.
pub(crate) fn run_err(source: &str) -> String {
    match run(source).result {
        Ok(()) => panic!("{source}: expected the tick to fail"),
        Err(e) => e.to_string(),
    }
}

/// Apply a tick's kv changes to `kv`, as the runtime does.
pub(crate) fn apply(kv: &mut BTreeMap<String, Json>, outcome: &TickOutcome) {
    outcome.apply_kv_changes(kv);
}
