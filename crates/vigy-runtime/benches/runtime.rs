//! vigy's runtime benchmark: `cargo bench -p vigy-runtime`.
//!
//! Prints, in one run, figures measured against a baseline from the same
//! run (no timed assertions anywhere):
//!   (a) per-tick cost of hello-vigy on the runtime's path (the sandbox:
//!       worker processes, batched) against the in-process evaluator the
//!       runtime used before the sandbox and a fresh interpreter with the
//!       full stdlib per tick; and one tick's round trip when idle;
//!   (b) 10,000 vigies at 1 s with every run persisted: ticks/s achieved
//!       against scheduled, start lateness p50/p99, CPU, peak RSS;
//!   (c) sustained tick rate with persistence at higher offered loads;
//!   (d), (e) several runtimes on one database, and takeover (`leases.rs`);
//!   (f) the outbox's cost per tick and actions carried out per second
//!       (`actions.rs`);
//!   (g) 10,000 vigies on mixed schedules (half every 1 s, half on the cron
//!       pattern `* * * * * *`, all with 1 s of jitter): the share of
//!       scheduled ticks run and p99 lateness, against (b'), the same fleet
//!       on intervals only;
//!   (h) what an embedded runtime costs when it mostly waits: CPU per tick
//!       with 10 vigies at 500 ms (against the evaluation itself, from (a)),
//!       and resident memory idle, with 0 and with 10 vigies (against this
//!       bench process before it opened a runtime).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use vigy_eval::{CompiledProgram, EvalLimits, Evaluator, TickInput};
use vigy_runtime::{RuntimeBuilder, RuntimeHandle, Scope};
use vigy_sandbox::{Job, Pool, ProgramSource, SandboxConfig, WorkerProgram};
use vigy_types::{CronPattern, Program, Schedule, TickInterval, Vigy, VigyId, VigyName};

#[path = "parts/actions.rs"]
mod actions;
#[path = "parts/leases.rs"]
mod leases;

const HELLO: &str = include_str!("../../../examples/hello-vigy.tatara");

fn main() {
    // This binary is its own tick worker, as an embedding app's is.
    vigy_runtime::run_if_worker();
    leases::run_if_child();
    tracing_subscriber_init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // `VIGY_BENCH=c cargo bench -p vigy-runtime` runs one part (a, b, c, f,
    // g (which runs b as its baseline), h, or d, which also runs e).
    let only = std::env::var("VIGY_BENCH").unwrap_or_default();
    let part = |p: &str| only.is_empty() || only == p;
    if part("a") {
        rt.block_on(per_tick_cost());
    }
    let interval_fleet = |every_ms: u64| {
        move |n: usize| Vigy::new(format!("hello-{n}"), HELLO, TickInterval::from_millis(every_ms).unwrap()).unwrap()
    };
    // Spread over the second by their jitter, as a fleet registered at
    // once is told to be (without it every first tick is due at once, and
    // so the whole grid).
    let spread = |n: usize| {
        let every = Schedule::every(TickInterval::from_millis(1_000).unwrap()).with_jitter(1_000).unwrap();
        Vigy::scheduled(format!("hello-{n}"), HELLO, every).unwrap()
    };
    if part("b") {
        let label = "(b) 10,000 vigies at 1 s, all registered at once (their grids aligned)";
        rt.block_on(fleet(label, 10_000, 1_000, Duration::from_secs(10), interval_fleet(1_000)));
    }
    let mut baseline = None;
    if part("b") || part("g") {
        let label = "(b') 10,000 vigies at 1 s with 1 s of jitter";
        baseline = Some(rt.block_on(fleet(label, 10_000, 1_000, Duration::from_secs(10), spread)));
    }
    if part("g") {
        let on_cron = |n: usize| {
            let every_second = CronPattern::new("* * * * * *", "Europe/Berlin").unwrap();
            let schedule = Schedule::cron(every_second).with_jitter(1_000).unwrap();
            Vigy::scheduled(format!("hello-{n}"), HELLO, schedule).unwrap()
        };
        let mixed = |n: usize| if n.is_multiple_of(2) { spread(n) } else { on_cron(n) };
        let label = "(g) 10,000 vigies, half every 1 s, half on cron every second with jitter";
        let mixed = rt.block_on(fleet(label, 10_000, 1_000, Duration::from_secs(10), mixed));
        if let Some(base) = baseline {
            println!(
                "(g) against (b') in this run: {:.3}x the share of scheduled ticks run (target >= 0.99 absolute: {:.1}%), p99 lateness {:?} vs {:?} ({:.2}x; target < 20 ms)",
                mixed.share / base.share,
                100.0 * mixed.share,
                mixed.p99,
                base.p99,
                mixed.p99.as_secs_f64() / base.p99.as_secs_f64().max(1e-9),
            );
        }
    }
    if part("h") {
        rt.block_on(idle_cost());
    }
    if part("d") {
        rt.block_on(leases::all());
    }
    if part("f") {
        rt.block_on(actions::all());
    }
    if !part("c") {
        return;
    }
    for vigies in [2_000usize, 2_500, 3_000] {
        let label = format!("(c) {vigies} vigies at 100 ms = {} ticks/s offered", vigies * 10);
        rt.block_on(fleet(&label, vigies, 100, Duration::from_secs(15), interval_fleet(100)));
    }
}

fn input(tick: u64) -> TickInput {
    TickInput {
        vigy_id: VigyId::for_name(&VigyName::new("hello").unwrap()),
        name: "hello".into(),
        tick,
        started_at_ms: 0,
        kv: Arc::new(BTreeMap::new()),
        last_results: Arc::new([]),
    }
}

/// The workers are this bench binary (not the debug `vigy-worker` that
/// `.cargo/config.toml` names for tests).
fn sandbox() -> SandboxConfig {
    SandboxConfig { program: WorkerProgram::Path(std::env::current_exe().unwrap()), ..SandboxConfig::default() }
}

fn builder() -> RuntimeBuilder {
    RuntimeHandle::builder().worker_program(std::env::current_exe().unwrap())
}

async fn per_tick_cost() {
    let parsed = Program::parse(HELLO).unwrap();
    let program = CompiledProgram::new(&parsed);
    // The sandboxed path: ticks sent to worker processes in batches, as a
    // busy runtime's are; CPU of this process and the workers alike.
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let pool = Pool::new(sandbox(), Arc::new(vigy_runtime::SystemClock), &[], done_tx);
    let source = Arc::new(ProgramSource::new(&parsed));
    let submit =
        |t: u64| assert!(pool.submit(Job { program: source.clone(), input: input(t), due: None, suspect: false }));
    for t in 0..2_000 {
        submit(t);
    }
    for _ in 0..2_000 {
        done.recv().await.unwrap();
    }
    let sandbox_n = 100_000u64;
    let (start, cpu0) = (Instant::now(), cpu_time_with_children());
    for t in 0..sandbox_n {
        submit(t);
    }
    for _ in 0..sandbox_n {
        assert!(done.recv().await.unwrap().outcome.result.is_ok());
    }
    let sandboxed = start.elapsed() / sandbox_n as u32;
    let sandboxed_cpu = Duration::from_secs_f64((cpu_time_with_children() - cpu0) / sandbox_n as f64);
    // One tick at a time: the latency of a lone tick's round trip.
    let lone_n = 2_000u32;
    let start = Instant::now();
    for t in 0..lone_n {
        submit(t as u64);
        done.recv().await.unwrap();
    }
    let lone = start.elapsed() / lone_n;
    drop(pool);

    // The path before the sandbox: one in-process evaluator, reused.
    let mut evaluator = Evaluator::new(EvalLimits::default(), &[]);
    let n = 50_000u64;
    for t in 0..1_000 {
        evaluator.run(&program, input(t));
    }
    let start = Instant::now();
    for t in 0..n {
        assert!(evaluator.run(&program, input(t)).result.is_ok());
    }
    let in_process = start.elapsed() / n as u32;
    // Naive path: a new interpreter with the full stdlib (and vigy's
    // intrinsics) for every tick.
    let naive_n = 300u32;
    let start = Instant::now();
    for t in 0..naive_n {
        let mut fresh = Evaluator::new(EvalLimits::default(), &[]);
        assert!(fresh.run(&program, input(t as u64)).result.is_ok());
    }
    let naive = start.elapsed() / naive_n;
    let ratio = |path: Duration| naive.as_secs_f64() / path.as_secs_f64();
    println!(
        "(a) hello-vigy per tick: sandboxed {sandboxed:?} wall, {sandboxed_cpu:?} CPU (both processes), {:.0}x cheaper than \
         a fresh interpreter (target >= 100x); in-process evaluator (before the sandbox) {in_process:?}, {:.0}x; fresh \
         interpreter {naive:?}; a lone tick's round trip {lone:?}",
        ratio(sandboxed.max(sandboxed_cpu)),
        ratio(in_process),
    );
}

/// What a fleet run achieved.
#[derive(Debug, Clone, Copy)]
struct Fleet {
    /// Ticks persisted per tick scheduled.
    share: f64,
    p99: Duration,
}

/// `vigies` vigies made by `make`, each due every `every_ms` on average.
async fn fleet(label: &str, vigies: usize, every_ms: u64, window: Duration, make: impl Fn(usize) -> Vigy) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let setup = builder().path(&path).scope(Scope::Nothing).max_vigies(vigies.max(10_000)).open().await.unwrap();
    for n in 0..vigies {
        setup.register_or_update(make(n)).await.unwrap();
    }
    setup.shutdown().await;

    let rt = builder().path(&path).scope(Scope::All).max_vigies(vigies.max(10_000)).open().await.unwrap();
    // Warm up: every vigy resumes within its first interval.
    tokio::time::sleep(Duration::from_millis(every_ms.max(1_000) * 2)).await;
    let m = rt.metrics();
    m.lateness.reset();
    let (runs0, ticks0, batches0, cpu0) =
        (m.runs_written.load(Relaxed), m.ticks.load(Relaxed), m.write_batches.load(Relaxed), cpu_time_with_children());
    let start = Instant::now();
    tokio::time::sleep(window).await;
    let elapsed = start.elapsed().as_secs_f64();
    let runs = m.runs_written.load(Relaxed) - runs0;
    let ticks = m.ticks.load(Relaxed) - ticks0;
    // Ticks evaluated but not yet committed: if this grows over the window
    // the writer is not keeping up and the rate is not sustained.
    let backlog_growth = ticks as i64 - runs as i64 - m.runs_lost.load(Relaxed) as i64;
    let batches = m.write_batches.load(Relaxed) - batches0;
    let cpu = cpu_time_with_children() - cpu0;
    let offered = vigies as f64 * 1000.0 / every_ms as f64;
    let achieved = runs as f64 / elapsed;
    println!(
        "{label}: {achieved:.0} ticks/s persisted ({:.1}% of {offered:.0} scheduled; {:.0} ticks/s evaluated), start lateness p50 {:?} p99 {:?}, \
         {:.0} runs/transaction, write backlog grew by {backlog_growth} runs, CPU {:.0}% of one core (with the workers), peak RSS {} MiB, failed ticks {}, runs lost {}",
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
    let p99 = m.lateness.quantile(0.99);
    rt.shutdown().await;
    Fleet { share: achieved / offered, p99 }
}

/// (h): an embedded runtime that mostly waits.
async fn idle_cost() {
    let before = rss_mib_with_workers();
    // Evaluation alone, the baseline: the in-process evaluator per tick.
    let parsed = Program::parse(HELLO).unwrap();
    let program = CompiledProgram::new(&parsed);
    let mut evaluator = Evaluator::new(EvalLimits::default(), &[]);
    let n = 20_000u64;
    let start = Instant::now();
    for t in 0..n {
        assert!(evaluator.run(&program, input(t)).result.is_ok());
    }
    let evaluation = start.elapsed() / n as u32;
    drop(evaluator);

    let dir = tempfile::tempdir().unwrap();
    let rt = builder().path(dir.path().join("idle.db")).open().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (idle_cpu0, idle_start) = (cpu_time_with_children(), Instant::now());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_cpu = (cpu_time_with_children() - idle_cpu0) / idle_start.elapsed().as_secs_f64();
    let empty = rss_mib_with_workers();
    for n in 0..10 {
        let v = Vigy::new(format!("low-{n}"), HELLO, TickInterval::from_millis(500).unwrap()).unwrap();
        rt.register_or_update(v).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let m = rt.metrics();
    let (ticks0, cpu0, own0, start) = (m.ticks.load(Relaxed), cpu_time_with_children(), cpu_time(), Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let ticks = (m.ticks.load(Relaxed) - ticks0).max(1);
    let (cpu, own) = (cpu_time_with_children() - cpu0, cpu_time() - own0);
    let per_tick = Duration::from_secs_f64(cpu / ticks as f64);
    let busy = rss_mib_with_workers();
    println!(
        "(h) 10 vigies at 500 ms: {ticks} ticks in {:.1} s, {per_tick:?} CPU per tick (target 100 µs; {:?} of it in \
         this process, {:?} in the workers), {:.0}x the evaluation itself ({evaluation:?}); idle with no vigy: {:.2}% \
         of a core; resident memory (this process and its workers): {before} MiB before the runtime, {empty} MiB idle \
         with none (+{} MiB), {busy} MiB with 10 (+{} MiB; target 30 MiB) in {} worker processes",
        start.elapsed().as_secs_f64(),
        Duration::from_secs_f64(own / ticks as f64),
        Duration::from_secs_f64((cpu - own) / ticks as f64),
        per_tick.as_secs_f64() / evaluation.as_secs_f64(),
        100.0 * idle_cpu,
        empty.saturating_sub(before),
        busy.saturating_sub(before),
        worker_count(),
    );
    rt.shutdown().await;
}

/// How many worker processes this process has.
fn worker_count() -> usize {
    workers().len()
}

/// Resident memory of this process and its worker processes, now.
fn rss_mib_with_workers() -> u64 {
    let rss_kib = |pid: &str| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        (status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (rss_kib("self") + workers().iter().map(|pid| rss_kib(pid)).sum::<u64>()) / 1024
}

/// User + system CPU seconds of this process and its worker processes.
fn cpu_time_with_children() -> f64 {
    cpu_time() + workers().iter().map(|pid| cpu_seconds(pid)).sum::<f64>()
}

/// User + system CPU seconds of this process.
fn cpu_time() -> f64 {
    cpu_seconds("self")
}

/// User + system CPU seconds of process `pid` (or `self`).
fn cpu_seconds(pid: &str) -> f64 {
    let fields = stat_fields(pid);
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The pids of this process's children: its worker processes.
fn workers() -> Vec<String> {
    let me = std::process::id().to_string();
    (std::fs::read_dir("/proc").into_iter().flatten().flatten())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|pid| stat_fields(pid).get(1) == Some(&me))
        .collect()
}

/// The fields of `/proc/PID/stat` after the command name (state first,
/// then the parent's pid).
fn stat_fields(pid: &str) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')').next().unwrap_or("").split_whitespace().map(str::to_owned).collect()
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
