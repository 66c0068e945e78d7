//! Simulation: a program evaluated for a few ticks in worker processes of
//! its own, under the budgets of real ticks, with nothing stored and no
//! action carried out. What `vigy run` prints and `simulateProgram`
//! answers.
//!
//! Rules:
//! - kv carries over from tick to tick as the runtime would carry it (a
//!   failed tick changes none), starting empty;
//! - no handler runs: a `noop` is `ok`, every other action `skipped` with
//!   the caller's reason, and the next tick reads that with
//!   `vigy-last-results`;
//! - the pool is the simulation's own and ends with it, so a runaway
//!   program costs the runtime's ticks nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value as Json;
use vigy_eval::{Extension, TickInput, TickOutcome};
use vigy_sandbox::{Job, Pool, ProgramSource, SandboxConfig};
use vigy_types::{ActionKind, ActionResult, Program, ReconcileAction, VigyId, VigyName};

/// Why a simulated action was skipped, as `simulateProgram` says it.
pub const SIMULATED_SKIP: &str = "a simulation carries no actions out";

/// One simulated tick: its outcome (actions settled as the rules say) and
/// the kv store after it.
#[derive(Debug)]
pub struct SimulatedTick {
    /// Its number, from 1.
    pub tick: u64,
    /// What the program did.
    pub outcome: TickOutcome,
    /// The kv store after it, which the next tick starts from.
    pub kv: BTreeMap<String, Json>,
}

/// Evaluate `program` as the vigy `name` for `ticks` ticks (at least one)
/// in a pool of its own under `config`, stamped by `clock`, with
/// `extensions` answered here;
/// actions other than `noop` are skipped with `skipped_because`.
pub async fn simulate(
    config: SandboxConfig,
    clock: Arc<dyn vigy_types::Clock>,
    extensions: &[Arc<dyn Extension>],
    program: &Program,
    name: &VigyName,
    ticks: u64,
    skipped_because: &str,
) -> Vec<SimulatedTick> {
    let source = Arc::new(ProgramSource::new(program));
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let pool = Pool::new(config, clock, extensions, done_tx);
    let vigy_id = VigyId::for_name(name);
    let mut kv: BTreeMap<String, Json> = BTreeMap::new();
    let mut reports = Vec::new();
    let mut last_results: Arc<[ReconcileAction]> = Arc::new([]);
    for tick in 1..=ticks.max(1) {
        let input = TickInput {
            vigy_id,
            name: name.as_str().into(),
            tick,
            started_at_ms: 0,
            kv: Arc::new(kv.clone()),
            last_results,
        };
        pool.submit(Job { program: source.clone(), input, due: None, suspect: false });
        let Some(finished) = done.recv().await else { break };
        let mut outcome = finished.outcome;
        outcome.apply_kv_changes(&mut kv);
        settle(&mut outcome.actions, skipped_because);
        last_results = outcome.actions.clone().into();
        reports.push(SimulatedTick { tick, outcome, kv: kv.clone() });
    }
    reports
}

/// What a runtime without handlers would record.
fn settle(actions: &mut [ReconcileAction], skipped_because: &str) {
    for action in actions.iter_mut().filter(|a| a.result == ActionResult::Pending) {
        if action.kind == ActionKind::Noop {
            action.settle(ActionResult::Ok, None);
        } else {
            action.settle(ActionResult::Skipped, Some(skipped_because.to_owned()));
        }
    }
}
