//! The worker process: evaluates ticks sent by its runtime, under a memory
//! limit the kernel enforces.
//!
//! Three threads: the main thread reads messages, an evaluation thread
//! (with a large stack) runs ticks one at a time, and both write answers
//! through one locked pipe. The reader keeps working while a tick runs,
//! so the runtime can take back queued ticks from a worker stuck in a long
//! one, and extension calls get their replies.
//!
//! # The memory limit
//!
//! Once the evaluator is built, the worker sets `RLIMIT_DATA` to what it
//! has mapped so far plus the tick memory budget. An allocation past it
//! fails, and the process aborts: the runtime sees that death, fails the
//! tick with `budget exceeded: memory` and starts another worker. Memory
//! that stays behind between ticks (allocator caches, interned symbols)
//! is watched: past half the budget the worker retires cleanly, so the
//! limit never falls on a later, innocent tick.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use vigy_eval::{CompiledProgram, Evaluator, Extension, Intrinsics, Signature, TickHost};
use vigy_types::Program;

use crate::memory;
use crate::protocol::{FromWorker, PROTOCOL, ProgramKey, ToWorker, WORKER_VAR, monotonic_ns, read_frame, write_frame};

/// Stack of the evaluation thread: room for the depth budget's 10,000
/// nested calls. Reserved address space, counted in the baseline the
/// memory limit starts from, so it takes nothing from a tick's budget;
/// deeper recursion (values nested millions deep, built at run time)
/// overflows into a `budget exceeded: stack` failure of the tick.
const STACK_BYTES: usize = 256 * 1024 * 1024;
/// How often the evaluation thread looks at the memory it keeps.
const MEMORY_CHECK_EVERY: Duration = Duration::from_millis(100);
/// Most bytes of program source a worker keeps parsed.
pub(crate) const MAX_CACHED_SOURCE_BYTES: usize = 32 * 1024 * 1024;

/// If this process was started as a vigy worker, serve as one and exit;
/// otherwise return `false` at once.
///
/// Call it first in `main` of any binary that embeds a vigy runtime: the
/// runtime re-executes its own binary to evaluate ticks, and this is where
/// that copy becomes a worker instead of a second instance of the app.
/// (`RuntimeBuilder::open` calls it too, so an app whose `main` opens the
/// runtime before doing anything else works without it.)
pub fn run_if_worker() -> bool {
    match std::env::var(WORKER_VAR) {
        Ok(protocol) if protocol == PROTOCOL => {
            let code = match serve() {
                Ok(()) => 0,
                Err(error) => {
                    eprintln!("vigy worker: {error}");
                    1
                }
            };
            std::process::exit(code)
        }
        Ok(other) => {
            eprintln!("vigy worker: this binary speaks {PROTOCOL}, its runtime asked for {other}");
            std::process::exit(3)
        }
        Err(_) => false,
    }
}

type Out = Arc<Mutex<BufWriter<File>>>;

enum Work {
    Tick { job: u64, key: ProgramKey, source: Option<String>, input: vigy_eval::TickInput },
    Forget,
}

fn serve() -> std::io::Result<()> {
    // The protocol gets its own copy of stdout; fd 1 then points at stderr,
    // so nothing a library prints can corrupt a frame.
    let protocol_out: OwnedFd = rustix::io::dup(rustix::stdio::stdout())?;
    rustix::stdio::dup2_stdout(rustix::stdio::stderr())?;
    let out: Out = Arc::new(Mutex::new(BufWriter::new(File::from(protocol_out))));
    let mut input = BufReader::new(std::io::stdin().lock());

    let ToWorker::Hello { limits, memory_bytes, extensions } = read_frame(&mut input)? else {
        return Err(std::io::Error::other("the first message was not Hello"));
    };
    let (work_tx, work_rx) = crossbeam_channel::unbounded::<Work>();
    let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
    let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
    let evaluation_out = out.clone();
    let queue = work_rx.clone();
    std::thread::Builder::new().name("vigy-eval".into()).stack_size(STACK_BYTES).spawn(move || {
        let remote = Remote { signatures: extensions, out: evaluation_out.clone(), replies: reply_rx };
        let evaluator = Evaluator::new(limits.clone(), &[Arc::new(remote) as Arc<dyn Extension>]);
        let _ = ready_tx.send(());
        evaluate(evaluator, queue, evaluation_out, memory_bytes);
    })?;
    ready_rx.recv().map_err(|_| std::io::Error::other("the evaluator could not be built"))?;
    let baseline = memory::set_data_limit(memory_bytes)?;
    tracing_note(baseline, memory_bytes);
    send(&out, &FromWorker::Ready)?;

    loop {
        let message = match read_frame::<ToWorker>(&mut input) {
            Ok(message) => message,
            // The runtime closed the pipe (it stopped, or died): so do we.
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(error) => return Err(error),
        };
        match message {
            ToWorker::Tick { job, key, source, input } => {
                let _ = work_tx.send(Work::Tick { job, key, source, input });
            }
            ToWorker::Forget => {
                let _ = work_tx.send(Work::Forget);
            }
            ToWorker::Reclaim => send(&out, &FromWorker::Reclaimed { jobs: reclaim(&work_rx, Some(&work_tx)) })?,
            ToWorker::Reply { result, effects } => {
                let _ = reply_tx.send((result, effects));
            }
            ToWorker::Hello { .. } => return Err(std::io::Error::other("a second Hello")),
        }
    }
}

fn tracing_note(baseline: u64, budget: u64) {
    if std::env::var_os("VIGY_WORKER_DEBUG").is_some() {
        eprintln!("vigy worker: {} MiB mapped at start, limit +{} MiB", baseline >> 20, budget >> 20);
    }
}

/// Take every tick still queued; a `Forget` taken with them is queued
/// again (through `requeue`, when the worker goes on).
fn reclaim(queue: &Receiver<Work>, requeue: Option<&Sender<Work>>) -> Vec<u64> {
    let mut jobs = Vec::new();
    let mut forget = false;
    while let Ok(work) = queue.try_recv() {
        match work {
            Work::Tick { job, .. } => jobs.push(job),
            Work::Forget => forget = true,
        }
    }
    if let (true, Some(requeue)) = (forget, requeue) {
        let _ = requeue.send(Work::Forget);
    }
    jobs
}

fn evaluate(mut evaluator: Evaluator, queue: Receiver<Work>, out: Out, memory_bytes: u64) {
    let mut programs: HashMap<ProgramKey, Arc<CompiledProgram>> = HashMap::new();
    let baseline = memory::mapped_bytes().unwrap_or(0);
    let mut last_check = Instant::now();
    for work in queue.iter() {
        let (job, key, source, input) = match work {
            Work::Forget => {
                programs.clear();
                continue;
            }
            Work::Tick { job, key, source, input } => (job, key, source, input),
        };
        if let Some(source) = source {
            match Program::parse(source) {
                Ok(program) => {
                    programs.insert(key, Arc::new(CompiledProgram::new(&program)));
                }
                Err(error) => {
                    let outcome =
                        vigy_eval::TickOutcome::lost(vigy_eval::TickError::Program(error.to_string()), Duration::ZERO);
                    if send(&out, &FromWorker::Done { job, outcome, ended_ns: monotonic_ns() }).is_err() {
                        return;
                    }
                    continue;
                }
            }
        }
        let Some(program) = programs.get(&key).cloned() else {
            let lost =
                // A bookkeeping slip of the runtime's, not the program's
                // doing: it must not count towards quarantine.
                vigy_eval::TickError::Panicked("the worker was sent a tick of a program it never got".into());
            let _ = send(
                &out,
                &FromWorker::Done {
                    job,
                    outcome: vigy_eval::TickOutcome::lost(lost, Duration::ZERO),
                    ended_ns: monotonic_ns(),
                },
            );
            continue;
        };
        let mut outcome = evaluator.run(&program, input);
        if let Err(vigy_eval::TickError::Panicked(message)) = &outcome.result
            && message.contains("Cannot allocate memory")
        {
            // The interpreter grows its stack in segments; one it could not
            // map is the memory limit speaking.
            outcome.result = Err(vigy_eval::TickError::Memory { limit_bytes: memory_bytes });
        }
        if send(&out, &FromWorker::Done { job, outcome, ended_ns: monotonic_ns() }).is_err() {
            return;
        }
        if last_check.elapsed() >= MEMORY_CHECK_EVERY {
            last_check = Instant::now();
            let kept = memory::mapped_bytes().unwrap_or(0).saturating_sub(baseline);
            if kept > memory_bytes / 2 {
                let jobs = reclaim(&queue, None);
                let _ = send(&out, &FromWorker::Reclaimed { jobs });
                let _ = send(&out, &FromWorker::Retiring);
                std::process::exit(0);
            }
        }
    }
}

fn send(out: &Out, message: &FromWorker) -> std::io::Result<()> {
    let mut out = out.lock().map_err(|_| std::io::Error::other("the output lock is poisoned"))?;
    write_frame(&mut *out, message)
}

/// The embedding app's extension functions, as forwarders: each call goes
/// to the runtime, which runs the real function and sends back its value
/// and what it did to the tick.
struct Remote {
    signatures: Vec<Signature>,
    out: Out,
    replies: Receiver<(Result<serde_json::Value, String>, vigy_eval::Effects)>,
}

impl Extension for Remote {
    fn name(&self) -> &str {
        "host"
    }

    fn install(&self, intrinsics: &mut Intrinsics<'_>) {
        for signature in &self.signatures {
            let (name, out, replies) = (signature.name.clone(), self.out.clone(), self.replies.clone());
            intrinsics.add(&signature.name, signature.arity.into(), move |args, host: &mut TickHost| {
                let args = args.iter().map(vigy_eval::value_to_json).collect::<Result<Vec<_>, _>>()?;
                send(&out, &FromWorker::Call { name: name.clone(), args })
                    .map_err(|e| format!("the runtime is gone: {e}"))?;
                let (result, effects) = replies.recv().map_err(|_| "the runtime is gone".to_owned())?;
                host.apply(effects)?;
                result.map(|value| vigy_eval::json_to_value(&value))
            });
        }
    }
}
