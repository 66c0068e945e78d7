//! The pool: a queue of ticks and as many supervised workers as the load
//! needs, up to a maximum.
//!
//! Workers start on demand (a runtime that never ticks starts none) and a
//! worker idle for [`IDLE_RETIRE`] exits, down to one.
//!
//! Ticks of vigies whose last tick failed are *suspects*: they wait in a
//! lane of their own, run one per worker, never batched, and hold at most
//! `max_workers` workers together, so a fleet of runaways cannot keep the
//! healthy vigies' ticks waiting for a worker.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::mpsc;
use vigy_eval::{EvalLimits, Extension, ExtensionTable, TickInput, TickOutcome};
use vigy_types::{Clock, Timestamp, VigyId};

use crate::protocol::{ProgramKey, program_key};
use crate::supervisor::{BATCH, supervise};

/// A worker idle this long exits (while another one stays).
const IDLE_RETIRE: Duration = Duration::from_secs(30);

/// Which executable the workers run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WorkerProgram {
    /// `$VIGY_WORKER_PROGRAM` if set and not empty, else this process's own binary
    /// (whose `main` calls [`run_if_worker`](crate::run_if_worker)).
    #[default]
    CurrentExe,
    /// This executable: a `vigy-worker`, or any binary whose `main` calls
    /// [`run_if_worker`](crate::run_if_worker).
    Path(PathBuf),
}

/// The variable that names a worker program when none is configured.
pub const WORKER_PROGRAM_VAR: &str = "VIGY_WORKER_PROGRAM";

impl WorkerProgram {
    pub(crate) fn resolve(&self) -> PathBuf {
        match self {
            Self::Path(path) => path.clone(),
            Self::CurrentExe => std::env::var_os(WORKER_PROGRAM_VAR)
                .filter(|program| !program.is_empty())
                .map(PathBuf::from)
                // Not `current_exe()`: /proc/self/exe still runs when the
                // binary was replaced on disk by an upgrade.
                .unwrap_or_else(|| PathBuf::from("/proc/self/exe")),
        }
    }
}

/// How the pool runs ticks.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The executable workers run.
    pub program: WorkerProgram,
    /// Budgets every tick runs under.
    pub limits: EvalLimits,
    /// Memory a tick may take beyond what its worker holds at rest
    /// (default 64 MiB).
    pub memory_bytes: u64,
    /// How long past its deadline a tick that does not stop (a native
    /// function running on) is given before its worker is killed
    /// (default 100 ms).
    pub slack: Duration,
    /// Most workers running ticks that are not slow (default: four per
    /// core, at least 8); workers held by ticks running past 10 ms do not
    /// count, up to twice this many workers in all, so runaways burning
    /// their deadline cannot starve the rest.
    pub max_workers: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            program: WorkerProgram::default(),
            limits: EvalLimits::default(),
            memory_bytes: 64 * 1024 * 1024,
            slack: Duration::from_millis(100),
            max_workers: std::thread::available_parallelism().map_or(2, |n| n.get()).max(2) * 4,
        }
    }
}

/// A program as the pool ships it: its source and the key workers cache
/// its parsed form under. Build it once per program, not per tick.
#[derive(Debug)]
pub struct ProgramSource {
    pub(crate) key: ProgramKey,
    pub(crate) source: Arc<str>,
}

impl ProgramSource {
    /// `program`, ready to ship.
    pub fn new(program: &vigy_types::Program) -> Self {
        Self { key: program_key(program.source()), source: program.source().into() }
    }
}

/// One tick to run.
#[derive(Debug)]
pub struct Job {
    /// The program.
    pub program: Arc<ProgramSource>,
    /// Its input; `started_at_ms` is set when the tick is sent.
    pub input: TickInput,
    /// When the tick was due, on the runtime's clock; `None` for a forced
    /// tick.
    pub due: Option<Timestamp>,
    /// Whether the vigy's last tick failed, so this one may run long.
    pub suspect: bool,
}

/// A job's outcome.
#[derive(Debug)]
pub struct Done {
    /// The vigy.
    pub vigy_id: VigyId,
    /// The input it ran with.
    pub input: TickInput,
    /// When it was due.
    pub due: Option<Timestamp>,
    /// When it started, on the runtime's clock.
    pub started: Timestamp,
    /// What it did.
    pub outcome: TickOutcome,
}

/// What the pool has seen, since it started.
#[derive(Debug, Default)]
pub struct SandboxMetrics {
    /// Worker processes started.
    pub started: AtomicU64,
    /// Workers killed at a tick's hard deadline.
    pub killed: AtomicU64,
    /// Workers that died (memory limit, stack, crash).
    pub died: AtomicU64,
}

pub(crate) struct Shared {
    pub(crate) config: SandboxConfig,
    pub(crate) extensions: ExtensionTable,
    pub(crate) queue: Receiver<Job>,
    sender: Sender<Job>,
    suspects: Receiver<Job>,
    suspect_sender: Sender<Job>,
    /// Supervisors running a suspect's tick.
    suspects_running: AtomicUsize,
    done: mpsc::UnboundedSender<Done>,
    /// Supervisors running, and how many of them wait for work.
    pub(crate) live: AtomicUsize,
    idle: AtomicUsize,
    /// Supervisors whose current tick has run long (a runaway, most
    /// likely): they do not count against `max_workers`.
    pub(crate) slow: AtomicUsize,
    /// Disconnected when the last [`Pool`] handle goes: supervisors end.
    closed: Receiver<()>,
    pub(crate) metrics: Arc<SandboxMetrics>,
    /// The runtime's clock: ticks are stamped with it.
    pub(crate) clock: Arc<dyn Clock>,
}

impl Shared {
    /// The next tick, waiting for one; `None` when this supervisor should
    /// end (the pool closed, or it idled while another stays).
    pub(crate) fn next_job(&self) -> Option<Job> {
        self.idle.fetch_add(1, Ordering::SeqCst);
        let job = loop {
            if let Ok(job) = self.queue.try_recv() {
                break Some(job);
            }
            if self.suspects_running.load(Ordering::SeqCst) >= self.config.max_workers.max(1) {
                // The suspects have their share: wait for healthy ticks only,
                // looking again now and then.
                crossbeam_channel::select! {
                    recv(self.queue) -> job => break job.ok(),
                    recv(self.closed) -> _ => break None,
                    default(Duration::from_millis(10)) => continue,
                }
            }
            crossbeam_channel::select! {
                recv(self.queue) -> job => break job.ok(),
                recv(self.suspects) -> job => break job.ok(),
                recv(self.closed) -> _ => break None,
                default(IDLE_RETIRE) => if self.live.load(Ordering::SeqCst) > 1 { break None },
            }
        };
        self.idle.fetch_sub(1, Ordering::SeqCst);
        if job.as_ref().is_some_and(|job| job.suspect) {
            self.suspects_running.fetch_add(1, Ordering::SeqCst);
        }
        job
    }

    /// Whether every [`Pool`] handle is gone.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.closed.try_recv(), Err(crossbeam_channel::TryRecvError::Disconnected))
    }

    /// A supervisor is done with the suspect's tick it took.
    pub(crate) fn suspect_done(&self) {
        self.suspects_running.fetch_sub(1, Ordering::SeqCst);
    }

    /// Queue `job` in its lane; false if the pool has closed.
    fn enqueue(&self, job: Job) -> bool {
        if job.suspect { self.suspect_sender.send(job).is_ok() } else { self.sender.send(job).is_ok() }
    }

    pub(crate) fn finish(&self, job: Job, started: Instant, outcome: TickOutcome) {
        let Job { input, due, .. } = job;
        let started = self.clock.now() - chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        let _ = self.done.send(Done { vigy_id: input.vigy_id, input, due, started, outcome });
    }

    /// Queue `job` again: its worker never started it.
    pub(crate) fn requeue(self: &Arc<Self>, job: Job) {
        if self.enqueue(job) {
            self.grow_if_busy();
        }
    }

    /// Start one more supervisor when the ones running cannot take the
    /// queued ticks and the limits allow: at most `max_workers` running
    /// ticks that are not slow, and twice that in all.
    ///
    /// Healthy ticks are batched, so a supervisor not held up by a slow
    /// tick takes up to [`BATCH`] of them at once: more processes help only
    /// when more than that is queued per such supervisor (a slow tick calls
    /// this again once it is marked slow). A burst of ten due ticks thus
    /// keeps one worker busy for a millisecond instead of waking eight.
    /// Suspects run one per worker, so each needs a waiting supervisor.
    pub(crate) fn grow_if_busy(self: &Arc<Self>) {
        let idle = self.idle.load(Ordering::SeqCst);
        let (queued, suspects) = (self.queue.len(), self.suspects.len());
        let (live, slow, max) =
            (self.live.load(Ordering::SeqCst), self.slow.load(Ordering::SeqCst), self.config.max_workers.max(1));
        let working = live.saturating_sub(slow);
        let enough =
            if suspects > 0 { idle > 0 && queued + suspects <= idle } else { working > 0 && queued <= working * BATCH };
        if enough {
            return;
        }
        if live.saturating_sub(slow) >= max || live >= 2 * max {
            return;
        }
        if self.live.compare_exchange(live, live + 1, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            tracing::debug!(live, slow, idle, queued, suspects, "adding a vigy worker");
            let supervised = Arc::clone(self);
            let spawned =
                std::thread::Builder::new().name("vigy-supervisor".into()).spawn(move || supervise(supervised));
            if spawned.is_err() {
                self.live.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

/// Handle to the pool; dropping every clone lets the workers finish and
/// exit.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
    _open: Arc<Sender<()>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool running ticks under `config`, stamped by `clock`, with the
    /// embedder's `extensions` answered in this process; outcomes go to
    /// `done`.
    pub fn new(
        config: SandboxConfig,
        clock: Arc<dyn Clock>,
        extensions: &[Arc<dyn Extension>],
        done: mpsc::UnboundedSender<Done>,
    ) -> Self {
        let (sender, queue) = crossbeam_channel::unbounded();
        let (suspect_sender, suspects) = crossbeam_channel::unbounded();
        let (open, closed) = crossbeam_channel::bounded(0);
        let shared = Shared {
            config,
            extensions: ExtensionTable::new(extensions),
            queue,
            sender,
            suspects,
            suspect_sender,
            suspects_running: AtomicUsize::new(0),
            done,
            live: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            slow: AtomicUsize::new(0),
            closed,
            metrics: Arc::default(),
            clock,
        };
        Self { shared: Arc::new(shared), _open: Arc::new(open) }
    }

    /// Queue a tick; false if the pool has shut down.
    pub fn submit(&self, job: Job) -> bool {
        if !self.shared.enqueue(job) {
            return false;
        }
        self.shared.grow_if_busy();
        true
    }

    /// What the pool has seen.
    pub fn metrics(&self) -> &SandboxMetrics {
        &self.shared.metrics
    }
}
