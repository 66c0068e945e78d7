//! vigy's runtime benchmark: `cargo bench -p vigy-runtime`.
//!
//! Prints, in one run, figures measured against a baseline from the same
//! run (no timed assertions anywhere):
//!   (a) per-tick cost of hello-vigy on the runtime's evaluation path
//!       against a fresh interpreter with the full stdlib per tick;
//!   (b) 10,000 vigies at 1 s with every run persisted: ticks/s achieved
//!       against scheduled, start lateness p50/p99, CPU, peak RSS;
//!   (c) sustained tick rate with persistence at higher offered loads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use vigy_eval::{CompiledProgram, EvalLimits, Evaluator, TickInput};
use vigy_runtime::{RuntimeHandle, Scope};
use vigy_types::{Program, TickInterval, Vigy, VigyId, VigyName};

const HELLO: &str = include_str!("../../../examples/hello-vigy.tatara");

fn main() {
    tracing_subscriber_init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // `VIGY_BENCH=c cargo bench -p vigy-runtime` runs one part (a, b or c).
    let only = std::env::var("VIGY_BENCH").unwrap_or_default();
    let part = |p: &str| only.is_empty() || only == p;
    if part("a") {
        per_tick_cost();
    }
    if part("b") {
        rt.block_on(fleet("(b) 10,000 vigies at 1 s", 10_000, 1_000, Duration::from_secs(10)));
    }
    if !part("c") {
        return;
    }
    for vigies in [2_000usize, 2_500, 3_000] {
        let label = format!("(c) {vigies} vigies at 100 ms = {} ticks/s offered", vigies * 10);
        rt.block_on(fleet(&label, vigies, 100, Duration::from_secs(15)));
    }
}

fn input(tick: u64) -> TickInput {
    TickInput {
        vigy_id: VigyId::for_name(&VigyName::new("hello").unwrap()),
        name: "hello".into(),
        tick,
        started_at_ms: 0,
        kv: Arc::new(BTreeMap::new()),
    }
}

fn per_tick_cost() {
    let program = CompiledProgram::new(&Program::parse(HELLO).unwrap());
    // Runtime path: one evaluator per worker thread, reused for every tick.
    let mut evaluator = Evaluator::new(EvalLimits::default(), &[]);
    let n = 50_000u64;
    for t in 0..1_000 {
        evaluator.run(&program, input(t));
    }
    let start = Instant::now();
    for t in 0..n {
        assert!(evaluator.run(&program, input(t)).result.is_ok());
    }
    let runtime_path = start.elapsed() / n as u32;
    // Naive path: a new interpreter with the full stdlib (and vigy's
    // intrinsics) for every tick.
    let naive_n = 300u32;
    let start = Instant::now();
    for t in 0..naive_n {
        let mut fresh = Evaluator::new(EvalLimits::default(), &[]);
        assert!(fresh.run(&program, input(t as u64)).result.is_ok());
    }
    let naive = start.elapsed() / naive_n;
    println!(
        "(a) hello-vigy per tick: runtime path {runtime_path:?}, fresh interpreter {naive:?}, ratio {:.0}x cheaper (target >= 100x)",
        naive.as_secs_f64() / runtime_path.as_secs_f64()
    );
}

async fn fleet(label: &str, vigies: usize, every_ms: u64, window: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let setup = RuntimeHandle::builder().path(&path).scope(Scope::Nothing).open().await.unwrap();
    for n in 0..vigies {
        let v = Vigy::new(format!("hello-{n}"), HELLO, TickInterval::from_millis(every_ms).unwrap()).unwrap();
        setup.register_or_update(v).await.unwrap();
    }
    setup.shutdown().await;

    let rt = RuntimeHandle::builder().path(&path).scope(Scope::All).open().await.unwrap();
    // Warm up: every vigy resumes within its first interval.
    tokio::time::sleep(Duration::from_millis(every_ms.max(1_000) * 2)).await;
    let m = rt.metrics();
    m.lateness.reset();
    let (runs0, ticks0, batches0, cpu0) =
        (m.runs_written.load(Relaxed), m.ticks.load(Relaxed), m.write_batches.load(Relaxed), cpu_time());
    let start = Instant::now();
    tokio::time::sleep(window).await;
    let elapsed = start.elapsed().as_secs_f64();
    let runs = m.runs_written.load(Relaxed) - runs0;
    let ticks = m.ticks.load(Relaxed) - ticks0;
    // Ticks evaluated but not yet committed: if this grows over the window
    // the writer is not keeping up and the rate is not sustained.
    let backlog_growth = ticks as i64 - runs as i64 - m.runs_lost.load(Relaxed) as i64;
    let batches = m.write_batches.load(Relaxed) - batches0;
    let cpu = cpu_time() - cpu0;
    let offered = vigies as f64 * 1000.0 / every_ms as f64;
    let achieved = runs as f64 / elapsed;
    println!(
        "{label}: {achieved:.0} ticks/s persisted ({:.1}% of {offered:.0} scheduled; {:.0} ticks/s evaluated), start lateness p50 {:?} p99 {:?}, \
         {:.0} runs/transaction, write backlog grew by {backlog_growth} runs, CPU {:.0}% of one core, peak RSS {} MiB, failed ticks {}, runs lost {}",
        100.0 * achieved / offered,
        ticks as f64 / elapsed,
        m.lateness.quantile(0.50),
        m.lateness.quantile(0.99),
        runs as f64 / batches.max(1) as f64,
        100.0 * cpu / elapsed,
        peak_rss_mib(),
        m.failures.load(Relaxed),
        m.runs_lost.load(Relaxed),
    );
    rt.shutdown().await;
}

/// User + system CPU seconds of this process.
fn cpu_time() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// Errors from the runtime (a failed write batch) go to stderr.
fn tracing_subscriber_init() {
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).with_writer(std::io::stderr).finish(),
    );
}
