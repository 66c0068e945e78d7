//! `vigy check` and `vigy run`: author tools that never touch a database.

use serde_json::{Value as Json, json};
use vigy::crates::runtime::simulate::simulate;
use vigy::crates::sandbox::SandboxConfig;
use vigy::{Program, VigyName};

/// Read and check `file`; the error carries the diagnostic.
pub(crate) fn read_program(file: &std::path::Path) -> anyhow::Result<Program> {
    let source = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    Program::parse(source).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

/// Evaluate `program` for `ticks` ticks, kv carrying over, in a worker
/// process under the same budgets as a runtime's ticks (the simulation
/// `simulateProgram` runs, unbounded in ticks here); returns a JSON report
/// and whether every tick succeeded.
pub(crate) async fn run(program: &Program, name: &str, ticks: u64) -> (Json, bool) {
    let name = VigyName::new(name).unwrap_or_else(|_| VigyName::new("local").expect("valid"));
    let clock = std::sync::Arc::new(vigy::SystemClock);
    let skipped = "vigy run carries no actions out";
    let ticks = simulate(SandboxConfig::default(), clock, &[], program, &name, ticks, skipped).await;
    let all_ok = ticks.iter().all(|t| t.outcome.result.is_ok());
    let reports: Vec<Json> = ticks
        .iter()
        .map(|t| {
            let outcome = &t.outcome;
            json!({
                "tick": t.tick,
                "result": if outcome.result.is_ok() { "ok" } else { "failed" },
                "error": outcome.result.as_ref().err().map(ToString::to_string),
                "elapsed_us": outcome.elapsed.as_micros() as u64,
                "actions": outcome.actions,
                "logs": outcome.logs,
                "logs_truncated": outcome.logs_truncated,
                "desired": outcome.desired,
                "observed": outcome.observed,
                "conditions": outcome.conditions,
                "kv": t.kv,
            })
        })
        .collect();
    (json!({ "ticks": reports }), all_ok)
}
