//! The sandbox against real worker processes (the `vigy-worker` binary):
//! hostile programs fail their own tick within deadline + slack and the
//! memory budget, and the pool goes on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use vigy_eval::{Arity, EvalLimits, Extension, Intrinsics, TickError, TickInput, Value};
use vigy_sandbox::{Done, Job, Pool, ProgramSource, SandboxConfig, WorkerProgram};

// The worker binary is this package's own, so `cargo test -p vigy-runtime`
// always builds it fresh.
use vigy_types::{Program, VigyId, VigyName};

const DEADLINE: Duration = Duration::from_millis(1_000);
const SLACK: Duration = Duration::from_millis(100);

fn config() -> SandboxConfig {
    SandboxConfig {
        program: WorkerProgram::Path(env!("CARGO_BIN_EXE_vigy-worker").into()),
        limits: EvalLimits { deadline: DEADLINE, ..EvalLimits::default() },
        slack: SLACK,
        max_workers: 4,
        ..SandboxConfig::default()
    }
}

struct Harness {
    pool: Pool,
    done: mpsc::UnboundedReceiver<Done>,
}

impl Harness {
    fn new(config: SandboxConfig, extensions: &[Arc<dyn Extension>]) -> Self {
        let (tx, done) = mpsc::unbounded_channel();
        Self { pool: Pool::new(config, Arc::new(vigy_runtime::SystemClock), extensions, tx), done }
    }

    fn submit(&self, name: &str, source: &str) {
        let program = Arc::new(ProgramSource::new(&Program::parse(source).expect("the program parses")));
        let name = VigyName::new(name).unwrap();
        let input = TickInput {
            vigy_id: VigyId::for_name(&name),
            name: name.as_str().into(),
            tick: 1,
            started_at_ms: 0,
            kv: Arc::new(BTreeMap::new()),
            last_results: Arc::new([]),
        };
        assert!(self.pool.submit(Job { program, input, due: None, suspect: false }));
    }

    async fn next(&mut self) -> Done {
        tokio::time::timeout(Duration::from_secs(30), self.done.recv())
            .await
            .expect("a tick ends")
            .expect("the pool runs")
    }

    async fn run(&mut self, source: &str) -> (Done, Duration) {
        let started = Instant::now();
        self.submit("solo", source);
        let done = self.next().await;
        (done, started.elapsed())
    }
}

#[tokio::test]
async fn sandbox_should_run_a_tick_in_a_worker_process() {
    let mut h = Harness::new(config(), &[]);
    let (done, _) = h.run(r#"(vigy-log "info" "hello") (vigy-set "n" 1) (vigy-noop)"#).await;
    assert!(done.outcome.result.is_ok(), "{:?}", done.outcome.result);
    assert_eq!(done.outcome.logs[0].message, "hello");
    assert_eq!(done.outcome.actions.len(), 1);
    assert_eq!(done.outcome.kv_changes["n"], Some(serde_json::json!(1)));
}

#[tokio::test]
async fn a_list_doubled_forty_times_should_fail_on_memory_and_the_next_tick_should_run() {
    let mut h = Harness::new(config(), &[]);
    let program = "(define xs (list 1)) (define (grow xs n) (if (= n 0) xs (grow (append xs xs) (- n 1)))) (reverse (grow xs 40))";
    let (done, took) = h.run(program).await;
    let error = done.outcome.result.unwrap_err();
    assert!(matches!(error, TickError::Memory { .. } | TickError::Killed { .. }), "{error}");
    assert!(took < DEADLINE + SLACK + Duration::from_millis(900), "took {took:?}");
    let (next, _) = h.run("(vigy-noop)").await;
    assert!(next.outcome.result.is_ok(), "{:?}", next.outcome.result);
}

/// A tick taken by a slot whose worker is still starting would wait for
/// the start (ten times longer while runaways load the machine) although
/// another slot may be free sooner: a dead worker is replaced first.
#[tokio::test]
async fn a_dead_worker_should_be_replaced_before_the_next_tick_arrives() {
    use std::sync::atomic::Ordering;
    let mut h = Harness::new(config(), &[]);
    let program = "(define (grow xs n) (if (= n 0) xs (grow (append xs xs) (- n 1)))) (reverse (grow (list 1) 40))";
    let (done, _) = h.run(program).await;
    assert!(done.outcome.result.is_err());
    let pool = h.pool.clone();
    let metrics = pool.metrics();
    assert_eq!(metrics.died.load(Ordering::SeqCst) + metrics.killed.load(Ordering::SeqCst), 1);
    let waited = Instant::now();
    while metrics.started.load(Ordering::SeqCst) < 2 {
        assert!(waited.elapsed() < Duration::from_secs(30), "no worker was started in place of the dead one");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (next, _) = h.run("(vigy-noop)").await;
    assert!(next.outcome.result.is_ok(), "{:?}", next.outcome.result);
    assert_eq!(metrics.started.load(Ordering::SeqCst), 2, "the next tick ran on the replacement");
}

#[tokio::test]
async fn comparing_a_shared_dag_should_end_at_the_deadline() {
    let mut h = Harness::new(config(), &[]);
    let program =
        "(define (dag x n) (if (= n 0) x (dag (list x x) (- n 1)))) (define d (dag 1 60)) (equal? d (dag 1 60))";
    let (done, took) = h.run(program).await;
    let error = done.outcome.result.unwrap_err();
    assert!(error.ended_its_worker() || matches!(error, TickError::Deadline(_)), "{error}");
    assert!(took < DEADLINE + SLACK + Duration::from_millis(900), "took {took:?}");
}

#[tokio::test]
async fn a_huge_allocation_in_one_call_should_fail_its_tick_only() {
    let mut h = Harness::new(config(), &[]);
    let (done, _) = h.run("(repeatedly (lambda () 1) 1000000000000)").await;
    let error = done.outcome.result.unwrap_err();
    assert!(matches!(error, TickError::Memory { .. } | TickError::Panicked(_)), "{error}");
    let (next, _) = h.run("(vigy-noop)").await;
    assert!(next.outcome.result.is_ok(), "{:?}", next.outcome.result);
}

#[tokio::test]
async fn a_value_nested_millions_deep_should_fail_its_tick_only() {
    let mut h = Harness::new(config(), &[]);
    let (done, took) = h.run("(define v (iterate list 0 20000000)) (pr-str v)").await;
    let error = done.outcome.result.unwrap_err();
    assert!(error.ended_its_worker() || matches!(error, TickError::Budget(_) | TickError::Deadline(_)), "{error}");
    assert!(took < DEADLINE + SLACK + Duration::from_millis(900), "took {took:?}");
    let (next, _) = h.run("(vigy-noop)").await;
    assert!(next.outcome.result.is_ok(), "{:?}", next.outcome.result);
}

#[tokio::test]
async fn healthy_ticks_queued_behind_a_runaway_should_not_wait_for_it() {
    let mut h = Harness::new(config(), &[]);
    let runaway = "(define (dag x n) (if (= n 0) x (dag (list x x) (- n 1)))) (equal? (dag 1 60) (dag 1 60))";
    // Warm one worker so the whole batch goes to it.
    let _ = h.run("(vigy-noop)").await;
    let sent = Instant::now();
    h.submit("runaway", runaway);
    for n in 0..5 {
        h.submit(&format!("healthy-{n}"), "(vigy-noop)");
    }
    let mut healthy_done = Vec::new();
    for _ in 0..6 {
        let done = h.next().await;
        if done.input.name.starts_with("healthy") {
            assert!(done.outcome.result.is_ok(), "{:?}", done.outcome.result);
            healthy_done.push(sent.elapsed());
        }
    }
    assert_eq!(healthy_done.len(), 5);
    let slowest = healthy_done.iter().max().unwrap();
    assert!(*slowest < Duration::from_millis(500), "healthy ticks waited {slowest:?} behind the runaway");
}

struct Mado;

impl Extension for Mado {
    fn name(&self) -> &str {
        "mado"
    }

    fn install(&self, intrinsics: &mut Intrinsics<'_>) {
        // The pid proves the function runs in this process, not the worker.
        intrinsics.add("mado-pid", Arity::Exact(0), |_, _| Ok(Value::Int(i64::from(std::process::id()))));
        intrinsics.add("mado-tear-resync", Arity::Exact(1), |args, host| {
            let Value::Int(pane) = &args[0] else { return Err("pane must be an integer".into()) };
            host.emit("mado-tear-resync".into(), serde_json::json!({ "pane": pane }))?;
            host.log("info", format!("resync {pane}"));
            Ok(Value::Int(pane * 10))
        });
    }
}

#[tokio::test]
async fn extensions_should_run_in_the_embedding_process_and_act_on_the_tick() {
    let mut h = Harness::new(config(), &[Arc::new(Mado)]);
    let (done, _) = h.run("(vigy-set \"pid\" (mado-pid)) (vigy-set \"r\" (mado-tear-resync 4))").await;
    assert!(done.outcome.result.is_ok(), "{:?}", done.outcome.result);
    assert_eq!(done.outcome.kv_changes["pid"], Some(serde_json::json!(std::process::id())));
    assert_eq!(done.outcome.kv_changes["r"], Some(serde_json::json!(40)));
    assert_eq!(done.outcome.actions[0].payload, serde_json::json!({ "pane": 4 }));
    assert_eq!(done.outcome.logs[0].message, "resync 4");
    let (failed, _) = h.run("(mado-tear-resync \"x\")").await;
    assert!(failed.outcome.result.unwrap_err().to_string().contains("pane must be an integer"));
}

#[tokio::test]
async fn a_program_that_is_not_a_worker_should_fail_ticks_with_a_clear_error() {
    let mut h = Harness::new(SandboxConfig { program: WorkerProgram::Path("/bin/true".into()), ..config() }, &[]);
    let (done, _) = h.run("(vigy-noop)").await;
    let error = done.outcome.result.unwrap_err().to_string();
    assert!(error.contains("did not start as a vigy worker") && error.contains("run_if_worker"), "{error}");
}
