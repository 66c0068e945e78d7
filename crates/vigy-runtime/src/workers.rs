//! The evaluation pool: OS threads, each owning an [`Evaluator`], with
//! stacks large enough for the interpreter's recursion.
//!
//! Ticks run here, never on the async runtime: a tick is CPU work that can
//! last up to its deadline, and must not hold up I/O or the scheduler.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use vigy_eval::{CompiledProgram, EvalLimits, Evaluator, Extension, TickInput, TickOutcome};
use vigy_types::VigyId;

/// Stack of an evaluation thread: the interpreter recurses per nesting
/// level of the program and per non-tail call.
const STACK_BYTES: usize = 256 * 1024 * 1024;

/// One tick to run.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) program: Arc<CompiledProgram>,
    pub(crate) input: TickInput,
    /// When the tick was due; `None` for a forced tick.
    pub(crate) due: Option<Instant>,
}

/// A job's outcome.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) vigy_id: VigyId,
    pub(crate) input: TickInput,
    pub(crate) due: Option<Instant>,
    pub(crate) started: Instant,
    pub(crate) outcome: TickOutcome,
}

/// Handle to the pool; dropping it lets the threads finish and exit.
#[derive(Debug, Clone)]
pub(crate) struct Workers {
    jobs: crossbeam_channel::Sender<Job>,
}

impl Workers {
    pub(crate) fn start(
        threads: usize,
        limits: EvalLimits,
        extensions: Arc<[Arc<dyn Extension>]>,
        done: mpsc::UnboundedSender<Done>,
    ) -> Self {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for n in 0..threads.max(1) {
            let (queue, done, limits, extensions) = (queue.clone(), done.clone(), limits.clone(), extensions.clone());
            std::thread::Builder::new()
                .name(format!("vigy-eval-{n}"))
                .stack_size(STACK_BYTES)
                .spawn(move || {
                    let mut evaluator = Evaluator::new(limits, &extensions);
                    for mut job in queue {
                        let started = Instant::now();
                        job.input.started_at_ms = vigy_types::now().timestamp_millis();
                        let outcome = evaluator.run(&job.program, job.input.clone());
                        let result =
                            Done { vigy_id: job.input.vigy_id, input: job.input, due: job.due, started, outcome };
                        if done.send(result).is_err() {
                            break;
                        }
                    }
                })
                .expect("spawn an evaluation thread");
        }
        Self { jobs }
    }

    /// Queue a job; false if the pool has shut down.
    pub(crate) fn submit(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }
}
