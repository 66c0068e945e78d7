//! (f) The outbox: what it adds to a tick that emits no actions, and how
//! many actions a trivial handler carries out per second; each figure
//! against a baseline fleet measured in the same run.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use vigy_runtime::{ActionCall, Handled, HandlerOptions, RuntimeBuilder, Scope};
use vigy_types::{ActionResult, TickInterval, Vigy};

const VIGIES: usize = 1_000;
const EVERY_MS: u64 = 200;
const WINDOW: Duration = Duration::from_secs(10);

/// What one fleet did over the window.
struct Figures {
    ticks_per_s: f64,
    cpu_us_per_tick: f64,
    actions_per_s: f64,
}

pub(crate) async fn all() {
    let quiet = "(vigy-observed \"tick\" (vigy-tick-count))";
    let acting = "(vigy-observed \"tick\" (vigy-tick-count)) (vigy-push (vigy-tick-count))";
    let trivial = |_call: ActionCall| async { Ok(Handled::ok()) };
    let options = HandlerOptions { concurrency: 256, ..HandlerOptions::default() };

    let baseline = fleet(quiet, super::builder()).await;
    let with_outbox = fleet(quiet, super::builder().fallback_handler(trivial, options.clone())).await;
    let handled = fleet(acting, super::builder().handler("push", trivial, options)).await;
    println!(
        "(f) {VIGIES} vigies at {EVERY_MS} ms, no actions: {:.0} ticks/s at {:.1} µs CPU/tick without handlers, \
         {:.0} ticks/s at {:.1} µs CPU/tick with a handler registered (outbox on): {:.3}× the cost per tick",
        baseline.ticks_per_s,
        baseline.cpu_us_per_tick,
        with_outbox.ticks_per_s,
        with_outbox.cpu_us_per_tick,
        with_outbox.cpu_us_per_tick / baseline.cpu_us_per_tick,
    );
    println!(
        "(f) each tick emits one push to a trivial handler: {:.0} actions/s carried out and recorded, {:.0} ticks/s \
         ({:.1}% of the no-action fleet's), {:.1} µs CPU/tick ({:.2}× the no-action tick: the result's own write)",
        handled.actions_per_s,
        handled.ticks_per_s,
        100.0 * handled.ticks_per_s / baseline.ticks_per_s,
        handled.cpu_us_per_tick,
        handled.cpu_us_per_tick / baseline.cpu_us_per_tick,
    );
}

async fn fleet(program: &str, builder: RuntimeBuilder) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let setup = super::builder().path(&path).scope(Scope::Nothing).open().await.unwrap();
    for n in 0..VIGIES {
        let v = Vigy::new(format!("v-{n}"), program, TickInterval::from_millis(EVERY_MS).unwrap()).unwrap();
        setup.register_or_update(v).await.unwrap();
    }
    setup.shutdown().await;
    let rt = builder.path(&path).open().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let m = rt.metrics();
    let ok = || m.actions().iter().filter(|(k, r, _)| k == "push" && *r == ActionResult::Ok).map(|a| a.2).sum::<u64>();
    let (ticks0, actions0, cpu0) = (m.ticks.load(Relaxed), ok(), super::cpu_time_with_children());
    let start = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let elapsed = start.elapsed().as_secs_f64();
    let ticks = m.ticks.load(Relaxed) - ticks0;
    let cpu = super::cpu_time_with_children() - cpu0;
    let figures = Figures {
        ticks_per_s: ticks as f64 / elapsed,
        cpu_us_per_tick: cpu * 1e6 / ticks.max(1) as f64,
        actions_per_s: (ok() - actions0) as f64 / elapsed,
    };
    rt.shutdown().await;
    figures
}
