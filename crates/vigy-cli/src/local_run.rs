//! `vigy check` and `vigy run`: author tools that never touch a database.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value as Json, json};
use vigy::crates::eval::TickInput;
use vigy::crates::sandbox::{Job, Pool, ProgramSource, SandboxConfig};
use vigy::{Program, VigyId, VigyName};

/// Read and check `file`; the error carries the diagnostic.
pub(crate) fn read_program(file: &std::path::Path) -> anyhow::Result<Program> {
    let source = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    Program::parse(source).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

/// Evaluate `program` for `ticks` ticks, kv carrying over, in a worker
/// process under the same budgets as a runtime's ticks; returns a JSON
/// report and whether every tick succeeded.
pub(crate) async fn run(program: &Program, name: &str, ticks: u64) -> (Json, bool) {
    let source = Arc::new(ProgramSource::new(program));
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let pool = Pool::new(SandboxConfig::default(), &[], done_tx);
    let vigy_id = VigyId::for_name(&VigyName::new(name).unwrap_or_else(|_| VigyName::new("local").expect("valid")));
    let mut kv: BTreeMap<String, Json> = BTreeMap::new();
    let mut reports = Vec::new();
    let mut all_ok = true;
    let mut last_results: Arc<[vigy::ReconcileAction]> = Arc::new([]);
    for tick in 1..=ticks.max(1) {
        let kv_now = Arc::new(kv.clone());
        let input = TickInput { vigy_id, name: name.into(), tick, started_at_ms: 0, kv: kv_now, last_results };
        pool.submit(Job { program: source.clone(), input, due: None, suspect: false });
        let Some(finished) = done.recv().await else { break };
        let mut outcome = finished.outcome;
        outcome.apply_kv_changes(&mut kv);
        simulate_results(&mut outcome.actions);
        last_results = outcome.actions.clone().into();
        all_ok &= outcome.result.is_ok();
        reports.push(json!({
            "tick": tick,
            "result": if outcome.result.is_ok() { "ok" } else { "failed" },
            "error": outcome.result.as_ref().err().map(ToString::to_string),
            "elapsed_us": outcome.elapsed.as_micros() as u64,
            "actions": outcome.actions,
            "logs": outcome.logs,
            "logs_truncated": outcome.logs_truncated,
            "desired": outcome.desired,
            "observed": outcome.observed,
            "conditions": outcome.conditions,
            "kv": kv,
        }));
    }
    (json!({ "ticks": reports }), all_ok)
}

/// What a runtime without handlers would record: a `noop` is `ok`, every
/// other action `skipped` (nothing is carried out here); the next tick
/// reads these with `vigy-last-results`.
fn simulate_results(actions: &mut [vigy::ReconcileAction]) {
    for action in actions.iter_mut().filter(|a| a.result == vigy::ActionResult::Pending) {
        if action.kind == vigy::ActionKind::Noop {
            action.settle(vigy::ActionResult::Ok, None);
        } else {
            action.settle(vigy::ActionResult::Skipped, Some("vigy run carries no actions out".into()));
        }
    }
}
