use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use serde_json::Value as Json;
use tokio::sync::{Notify, broadcast, mpsc, oneshot};
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;
use vigy_eval::{EvalLimits, Extension};
use vigy_sandbox::{Pool, SandboxConfig, WorkerProgram};
use vigy_store::{Registered, RuntimeInfo, Store, StoreError, StoreOptions};
use vigy_types::{
    Clock, ConditionFilter, LabelSelector, Pause, Program, ProgramError, Vigy, VigyError, VigyId, VigyName, VigyRun,
    VigyState,
};

use crate::actions::{ActionHandler, Dispatcher, HandlerOptions, Handlers};
use crate::backoff::Backoff;
use crate::board::{Board, Standing};
use crate::catalog::{Catalog, Entry};
use crate::clock::SystemClock;
use crate::concurrency::ConcurrencyLimits;
use crate::feed::{self, Feed};
use crate::health::{Health, Task, Unhealthy};
use crate::lease::{Elector, LeaseTiming, OneOffs};
use crate::metrics::Metrics;
use crate::scheduler::{Command, Hold, OneOff, Quarantine, Scheduler, ToHold};
use crate::simulate::{SIMULATED_SKIP, SimulatedTick, simulate};
use crate::supervise::{self, PanicHook};
use crate::writer::Writer;
use crate::{queue, watcher};

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The input was refused by the domain's rules.
    #[error(transparent)]
    Invalid(#[from] VigyError),
    /// No vigy has this id or name.
    #[error("no vigy `{0}`")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The runtime is shutting down, or a write could not be committed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The vigy's lease is held elsewhere, or moved while its tick ran.
    #[error("lease moved: {0}")]
    LeaseMoved(String),
}

/// Which vigies a runtime ticks. Every runtime can list, inspect and
/// force-tick all of them, whatever its scope.
#[derive(Debug, Clone, Default)]
pub enum Scope {
    /// Every enabled vigy.
    #[default]
    All,
    /// Enabled vigies whose labels match (an app ticks only its own, e.g.
    /// `host=mado`).
    Selector(LabelSelector),
    /// None: a runtime used only to manage vigies (the CLI's local mode).
    Nothing,
}

impl Scope {
    /// The scope as text: fair shares of leases are counted among runtimes
    /// of the same scope.
    fn as_text(&self) -> String {
        match self {
            Self::All => "all".into(),
            Self::Selector(selector) => format!("selector:{selector}"),
            Self::Nothing => "nothing".into(),
        }
    }

    pub(crate) fn includes(&self, vigy: &Vigy) -> bool {
        match self {
            Self::All => true,
            Self::Selector(selector) => selector.matches(&vigy.labels),
            Self::Nothing => false,
        }
    }
}

/// A subscriber fell behind and missed this many runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("missed {0} runs: the subscriber fell behind")]
pub struct RunsMissed(pub u64);

/// Options for opening a runtime.
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    path: Option<PathBuf>,
    scope: Scope,
    sandbox: SandboxConfig,
    backoff: Backoff,
    keep_runs: usize,
    quarantine_after: u32,
    extensions: Vec<Arc<dyn Extension>>,
    max_vigies: usize,
    store: StoreOptions,
    lease: LeaseTiming,
    handlers: Handlers,
    clock: Arc<dyn Clock>,
    concurrency: ConcurrencyLimits,
}

/// Vigies a runtime registers by default: every one is in memory (the
/// catalog) and scheduled, and its kv store is loaded for each of its ticks.
pub const DEFAULT_MAX_VIGIES: usize = 10_000;

impl Default for RuntimeBuilder {
    fn default() -> Self {
        Self {
            path: None,
            scope: Scope::All,
            sandbox: SandboxConfig::default(),
            backoff: Backoff::default(),
            keep_runs: 200,
            quarantine_after: 3,
            extensions: Vec::new(),
            max_vigies: DEFAULT_MAX_VIGIES,
            store: StoreOptions::default(),
            lease: LeaseTiming::default(),
            handlers: Handlers::default(),
            clock: Arc::new(SystemClock),
            concurrency: ConcurrencyLimits::default(),
        }
    }
}

impl RuntimeBuilder {
    /// Read the time from `clock` and schedule by it (default: the
    /// system's). A [`ManualClock`](crate::ManualClock) makes a runtime's
    /// schedules run on virtual time: advance it, then
    /// [`RuntimeHandle::run_due`]. Ticks' deadlines stay real.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// At most `max` ticks run at once in this runtime; more wait, in the
    /// order they became due (counted in `vigy_ticks_waited`). Default: no
    /// limit but the worker pool's size.
    pub fn max_concurrent_ticks(mut self, max: usize) -> Self {
        self.concurrency.total = Some(max.max(1));
        self
    }

    /// At most `max` ticks of the vigies `selector` picks run at once
    /// (`target=github`, 2: a shared API's rate limit). Limits add up: a
    /// tick starts when every limit it falls under has room.
    pub fn concurrency_limit(mut self, selector: LabelSelector, max: usize) -> Self {
        self.concurrency.by_selector.push((selector, max.max(1)));
        self
    }

    /// Store at `path` (default: in memory).
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Which vigies this runtime ticks (default: all).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// Budgets of every tick.
    pub fn limits(mut self, limits: EvalLimits) -> Self {
        self.sandbox.limits = limits;
        self
    }

    /// Memory one tick may use (default 64 MiB): past it the tick fails
    /// with `budget exceeded: memory` and its worker process is replaced.
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.sandbox.memory_bytes = bytes;
        self
    }

    /// How long past its deadline a tick that does not stop is given
    /// before its worker is killed (default 100 ms).
    pub fn deadline_slack(mut self, slack: std::time::Duration) -> Self {
        self.sandbox.slack = slack;
        self
    }

    /// The executable ticks are evaluated in (default: this process's own
    /// binary, whose `main` calls [`run_if_worker`](crate::run_if_worker),
    /// or `$VIGY_WORKER_PROGRAM`): for example the `vigy-worker` binary.
    pub fn worker_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.sandbox.program = WorkerProgram::Path(program.into());
        self
    }

    /// The failure backoff policy.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How many ticks in a row may end their worker process (memory
    /// limit, stack, hard deadline, crash) before the vigy is disabled with
    /// the reason recorded (default 3; 0 never quarantines).
    pub fn quarantine_after(mut self, ticks: u32) -> Self {
        self.quarantine_after = ticks;
        self
    }

    /// Runs kept per vigy (default 200).
    pub fn keep_runs(mut self, keep: usize) -> Self {
        self.keep_runs = keep.max(1);
        self
    }

    /// Most worker processes at once (default: four per core, at least
    /// 8); they start as ticks need them.
    pub fn workers(mut self, workers: usize) -> Self {
        self.sandbox.max_workers = workers.max(1);
        self
    }

    /// Most vigies this runtime lets exist (default
    /// [`DEFAULT_MAX_VIGIES`]): registering one more is refused with
    /// `quota exceeded: vigies …`; updating an existing vigy always passes.
    /// Counted from the catalog, so vigies another process registered a
    /// moment ago may not be counted yet.
    pub fn max_vigies(mut self, max: usize) -> Self {
        self.max_vigies = max;
        self
    }

    /// How long a write waits for another process's write lock before the
    /// commit fails and is retried (default 10 s).
    pub fn busy_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.store.busy_timeout = timeout;
        self
    }

    /// How long a vigy's lease lasts without renewal (default 15 s; renewed
    /// every sixth of it): how soon other runtimes on the database take over
    /// the vigies of one that died without stopping (see `lease.rs`).
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease = LeaseTiming::with_ttl(ttl);
        self
    }

    /// Carry out actions of `kind` (`pull`, `push`, or a custom kind's
    /// name) with `handler`, under `options` (deadline, concurrency,
    /// retries). A later call for the same kind replaces the handler. See
    /// [`crate::actions`] for what becomes of each action.
    pub fn handler(mut self, kind: &str, handler: impl ActionHandler, options: HandlerOptions) -> Self {
        self.handlers.add(kind, Arc::new(handler), options);
        self
    }

    /// Carry out actions of every kind without a handler of its own.
    /// Without one, such actions are recorded `skipped` (`no handler for
    /// push`).
    pub fn fallback_handler(mut self, handler: impl ActionHandler, options: HandlerOptions) -> Self {
        self.handlers.set_fallback(Arc::new(handler), options);
        self
    }

    /// Add intrinsics of the embedding app.
    pub fn extension(mut self, extension: impl Extension) -> Self {
        self.extensions.push(Arc::new(extension));
        self
    }

    /// Open the store and start ticking every enabled vigy in scope.
    ///
    /// In a copy of this binary started as a tick worker, this is where it
    /// becomes one (and never returns), so an app that opens its runtime
    /// first thing in `main` needs no other change.
    pub async fn open(self) -> Result<RuntimeHandle, RuntimeError> {
        vigy_sandbox::run_if_worker();
        let store = match &self.path {
            Some(path) => Store::open_with(path, &self.store).await?,
            None => Store::open_in_memory().await?,
        };
        let me = Arc::new(RuntimeInfo {
            id: uuid::Uuid::now_v7().to_string(),
            host: host_name(),
            pid: std::process::id(),
            scope: self.scope.as_text(),
            // Real time, not the runtime's clock: see `vigy_store::RuntimeInfo`.
            started_at: chrono::Utc::now(),
        });
        let metrics = Arc::new(Metrics::default());
        let board = Arc::new(Board::default());
        let health = Arc::new(Health::default());
        let panic_hook = Arc::new(PanicHook::default());
        let closing = CancellationToken::new();
        let (feed, runs) = Feed::new(feed::MAX_HELD_BYTES);
        let (writes, write_rx) = queue::channel(metrics.clone());
        let (outcomes, work_rx) = mpsc::unbounded_channel();
        let (commands, command_rx) = mpsc::unbounded_channel();
        let writer = Writer {
            store: store.clone(),
            feed,
            metrics: metrics.clone(),
            health: health.clone(),
            closing: closing.clone(),
            panic_hook: panic_hook.clone(),
            keep_runs: self.keep_runs,
            owner: me.id.clone(),
            dispatcher: outcomes.clone(),
        };
        let writer_task = supervise::spawn(Task::Writer, writer.run(write_rx), health.clone(), metrics.clone());

        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let simulator = Simulator {
            sandbox: SandboxConfig { max_workers: 1, ..self.sandbox.clone() },
            extensions: self.extensions.clone().into(),
            running: Arc::new(tokio::sync::Semaphore::new(SIMULATIONS_AT_ONCE)),
        };
        let workers = Pool::new(self.sandbox, self.clock.clone(), &self.extensions, done_tx);
        let (quarantine_tx, quarantine_rx) = mpsc::unbounded_channel();
        let quarantine = Quarantine { after: self.quarantine_after, to: quarantine_tx };
        let scheduler = Scheduler::new(
            (self.scope.clone(), self.backoff, self.clock.clone(), self.concurrency.clone()),
            workers,
            writes,
            (metrics.clone(), board.clone()),
            panic_hook.clone(),
            quarantine,
            (self.handlers.clone(), outcomes),
        );
        let scheduler_task =
            supervise::spawn(Task::Scheduler, scheduler.run(command_rx, done_rx), health.clone(), metrics.clone());

        tokio::spawn(checkpoint(store.clone(), commands.clone()));
        // The cursor first: a change landing while the catalog loads is
        // then applied again by the watcher, never missed.
        let cursor = store.last_event_id().await?;
        let (vigies, unreadable) = store.list_readable().await?;
        for error in unreadable {
            tracing::error!(%error, "a stored vigy does not read back; it is left out until it is registered again");
        }
        let catalog = Arc::new(Catalog::new(vigies));
        let dispatcher = Dispatcher {
            store: store.clone(),
            handlers: self.handlers.clone(),
            catalog: catalog.clone(),
            commands: commands.clone(),
            metrics: metrics.clone(),
            closing: closing.clone(),
            owner: me.id.clone(),
            clock: self.clock.clone(),
        };
        let dispatcher_task = tokio::spawn(dispatcher.run(work_rx));
        let schedules = !matches!(self.scope, Scope::Nothing);
        let nudge = Arc::new(Notify::new());
        let one_offs = OneOffs::default();
        let closed = CancellationToken::new();
        let (rounds, asked) = mpsc::unbounded_channel();
        if schedules {
            let elector = Elector {
                store: store.clone(),
                me: (*me).clone(),
                timing: self.lease,
                scope: self.scope.clone(),
                catalog: catalog.clone(),
                commands: commands.clone(),
                nudge: nudge.clone(),
                asked,
                one_offs: one_offs.clone(),
                metrics: metrics.clone(),
                closing: closing.clone(),
                closed: closed.clone(),
            };
            tokio::spawn(elector.run());
        }
        let follower = watcher::Follower {
            store: store.clone(),
            catalog: catalog.clone(),
            commands: commands.clone(),
            nudge: nudge.clone(),
            owner: me.id.clone(),
        };
        tokio::spawn(follower.follow(cursor, schedules));
        let tasks = Arc::new(tokio::sync::Mutex::new(Some((scheduler_task, writer_task, dispatcher_task))));
        let max_vigies = self.max_vigies;
        let handle = RuntimeHandle {
            store,
            catalog,
            commands,
            runs,
            metrics,
            board,
            health,
            panic_hook,
            tasks,
            closing,
            closed,
            max_vigies,
            me,
            lease: self.lease,
            nudge,
            one_offs,
            schedules,
            simulator,
            clock: self.clock,
            rounds: schedules.then_some(rounds),
        };
        tokio::spawn(handle.clone().quarantine(quarantine_rx));
        Ok(handle)
    }
}

/// How long a forced tick waits for the vigy's owner to carry it out.
const FORCED_TICK_WAIT: Duration = Duration::from_secs(60);
/// How often a forced tick asked of another runtime looks for its answer.
const REQUEST_POLL: Duration = Duration::from_millis(25);

/// This machine's name, for telling runtimes apart in `vigy inspect`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// How often the WAL is copied back into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Checkpoint the WAL in the background for as long as the runtime runs.
async fn checkpoint(store: Store, alive: mpsc::UnboundedSender<Command>) {
    let mut ticker = tokio::time::interval(CHECKPOINT_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !alive.is_closed() {
        ticker.tick().await;
        if let Err(error) = store.checkpoint().await {
            tracing::warn!(%error, "checkpoint failed");
        }
    }
}

type Tasks = (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>);

/// A running vigy runtime. Cheap to clone; every clone drives the same
/// runtime. Call [`RuntimeHandle::shutdown`] to stop it cleanly.
#[derive(Debug, Clone)]
pub struct RuntimeHandle {
    store: Store,
    /// Every vigy, in memory: what reads are served from.
    catalog: Arc<Catalog>,
    commands: mpsc::UnboundedSender<Command>,
    runs: broadcast::Sender<feed::Slot>,
    metrics: Arc<Metrics>,
    /// Where each vigy scheduled here stands (next due, failures, missed).
    board: Arc<Board>,
    health: Arc<Health>,
    panic_hook: Arc<PanicHook>,
    tasks: Arc<tokio::sync::Mutex<Option<Tasks>>>,
    /// Cancelled when shutdown begins: the writer stops retrying failed
    /// commits after a grace period.
    closing: CancellationToken,
    /// Cancelled once shut down: ends every subscription, so a server's
    /// event streams close instead of holding its shutdown open.
    closed: CancellationToken,
    /// See [`RuntimeBuilder::max_vigies`].
    max_vigies: usize,
    /// This runtime, as its peers on the database see it.
    me: Arc<RuntimeInfo>,
    lease: LeaseTiming,
    /// Runs a lease round at once (a vigy became claimable).
    nudge: Arc<Notify>,
    one_offs: OneOffs,
    /// Whether it ticks at all (holds leases).
    schedules: bool,
    /// Runs [`RuntimeHandle::simulate`].
    simulator: Simulator,
    /// What it stamps and schedules by.
    clock: Arc<dyn Clock>,
    /// Asks the elector for a round (`None` if it holds no leases).
    rounds: Option<mpsc::UnboundedSender<oneshot::Sender<()>>>,
}

/// Simulations running at once; more wait their turn. Each has a worker
/// process of its own.
const SIMULATIONS_AT_ONCE: usize = 4;

/// What a simulation runs with: the runtime's budgets and extensions, one
/// worker process, a bounded number at once.
#[derive(Clone)]
struct Simulator {
    sandbox: SandboxConfig,
    extensions: Arc<[Arc<dyn Extension>]>,
    running: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").field("sandbox", &self.sandbox).finish_non_exhaustive()
    }
}

impl RuntimeHandle {
    /// Open the SQLite database at `path` (created if needed) and tick every
    /// enabled vigy in it.
    pub async fn open(path: &Path) -> Result<Self, RuntimeError> {
        Self::builder().path(path).open().await
    }

    /// Check `source` as registering it would: size, nesting, syntax. The
    /// error locates what is wrong.
    pub fn check(&self, source: impl Into<String>) -> Result<Program, ProgramError> {
        Program::parse(source)
    }

    /// Evaluate `program` as the vigy `name` for `ticks` ticks (1 to
    /// [`vigy_types::program::MAX_SIMULATED_TICKS`]) in a worker process of
    /// its own, under this runtime's budgets and with its extensions; nothing
    /// is stored and no action is carried out (see [`crate::simulate`]).
    pub async fn simulate(
        &self,
        program: &Program,
        name: &VigyName,
        ticks: u32,
    ) -> Result<Vec<SimulatedTick>, RuntimeError> {
        let ticks = vigy_types::program::simulated_ticks(ticks)?;
        let _turn = self
            .simulator
            .running
            .acquire()
            .await
            .map_err(|_| RuntimeError::Unavailable("the runtime is shutting down".into()))?;
        let sim = &self.simulator;
        let clock = self.clock.clone();
        Ok(simulate(sim.sandbox.clone(), clock, &sim.extensions, program, name, u64::from(ticks), SIMULATED_SKIP).await)
    }

    /// A runtime on a private in-memory database.
    pub async fn open_in_memory() -> Result<Self, RuntimeError> {
        Self::builder().open().await
    }

    /// Options: scope, budgets, retention, extensions.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Register `vigy`, or update the vigy of the same name. Its program and
    /// interval apply from its next tick; a new vigy ticks promptly. An
    /// existing vigy keeps its enabled flag and creation time. Returns the
    /// vigy as stored.
    pub async fn register_or_update(&self, vigy: Vigy) -> Result<Vigy, RuntimeError> {
        let _writing = self.catalog.write_lock().await;
        self.register_holding_lock(vigy).await
    }

    /// Change the vigy `id` as `change` says, starting from what is stored
    /// now rather than from the catalog (which may lag another process's
    /// changes): a vigy deleted elsewhere is `NotFound`, never registered
    /// anew. Applies from its next tick, as `register_or_update` does.
    pub async fn update(
        &self,
        id: VigyId,
        change: impl FnOnce(&Vigy) -> Result<Vigy, VigyError>,
    ) -> Result<Vigy, RuntimeError> {
        let _writing = self.catalog.write_lock().await;
        let current = self.store.get(id).await?.ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        self.register_holding_lock(change(&current)?).await
    }

    async fn register_holding_lock(&self, mut vigy: Vigy) -> Result<Vigy, RuntimeError> {
        // Stamped on the runtime's clock (the store keeps an existing
        // vigy's creation time).
        vigy.created_at = self.clock.stamp();
        vigy.updated_at = vigy.created_at;
        let count = self.catalog.len();
        if self.catalog.get(vigy.id).is_none() && count >= self.max_vigies {
            let detail = format!("{count} vigies are registered, the limit is {}", self.max_vigies);
            return Err(VigyError::QuotaExceeded { quota: "vigies", detail }.into());
        }
        let (outcome, stored) = self.store.register(&vigy).await?;
        self.catalog.put(stored.clone());
        if outcome != Registered::Unchanged {
            self.schedule(stored.clone())?;
        }
        Ok(stored)
    }

    /// The clock this runtime stamps and schedules by.
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Run every tick due by the clock's now, and return once they are
    /// committed and the actions they left pending are carried out. For a
    /// runtime on a [`ManualClock`](crate::ManualClock), the only one on
    /// its database: advance the clock, `run_due`, then assert on runs, kv
    /// and actions. First a lease round runs, so vigies registered just
    /// before are scheduled; a tick's own time is real, so a due time it
    /// lets pass is run by the next call.
    pub async fn run_due(&self) -> Result<(), RuntimeError> {
        let stopped = || RuntimeError::Unavailable("the runtime has stopped".into());
        if let Some(rounds) = &self.rounds {
            let (reply, round) = oneshot::channel();
            rounds.send(reply).map_err(|_| stopped())?;
            round.await.map_err(|_| stopped())?;
        }
        let (reply, settled) = oneshot::channel();
        self.commands.send(Command::Settle(reply)).map_err(|_| stopped())?;
        settled.await.map_err(|_| stopped())
    }

    /// The vigy with this id.
    ///
    /// Like `resolve` and `list`, it is answered from memory: this
    /// runtime's own changes show at once, another process's within one
    /// poll of the change feed (250 ms).
    pub async fn get(&self, id: VigyId) -> Result<Vigy, RuntimeError> {
        let entry = self.catalog.get(id).ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        Ok(entry.vigy.clone())
    }

    /// The vigy named, or with the id, `id_or_name`.
    pub async fn resolve(&self, id_or_name: &str) -> Result<Vigy, RuntimeError> {
        Ok(self.entry(id_or_name)?.vigy.clone())
    }

    /// Every vigy whose labels match `selector`, by name.
    pub async fn list(&self, selector: &LabelSelector) -> Result<Vec<Vigy>, RuntimeError> {
        Ok(self.catalog.list(selector).iter().map(|entry| entry.vigy.clone()).collect())
    }

    /// Vigies whose labels match `selector` and whose conditions pass every
    /// filter (`Ready=false`; a vigy without the condition reads as
    /// `unknown`), by name. The conditions are read from the store, where
    /// every runtime's ticks write them.
    pub async fn list_where(
        &self,
        selector: &LabelSelector,
        conditions: &[ConditionFilter],
    ) -> Result<Vec<Vigy>, RuntimeError> {
        let vigies = self.list(selector).await?;
        if conditions.is_empty() {
            return Ok(vigies);
        }
        let stored = self.store.all_conditions().await?;
        let none = Vec::new();
        Ok(vigies
            .into_iter()
            .filter(|v| {
                let theirs = stored.get(&v.id).unwrap_or(&none);
                conditions.iter().all(|filter| filter.matches(theirs))
            })
            .collect())
    }

    /// The catalog's entry of the vigy named, or with the id, `id_or_name`.
    pub(crate) fn entry(&self, id_or_name: &str) -> Result<Arc<Entry>, RuntimeError> {
        let by_id = id_or_name.parse::<VigyId>().ok().and_then(|id| self.catalog.get(id));
        let by_name = || VigyName::new(id_or_name).ok().and_then(|name| self.catalog.get(VigyId::for_name(&name)));
        by_id.or_else(by_name).ok_or_else(|| RuntimeError::NotFound(id_or_name.to_owned()))
    }

    /// Start ticking `id` again; it ticks at once.
    pub async fn enable(&self, id: VigyId) -> Result<Vigy, RuntimeError> {
        self.set_enabled(id, true).await
    }

    /// Stop ticking `id` (a tick in flight finishes and is recorded).
    pub async fn disable(&self, id: VigyId) -> Result<Vigy, RuntimeError> {
        self.set_enabled(id, false).await
    }

    async fn set_enabled(&self, id: VigyId, enabled: bool) -> Result<Vigy, RuntimeError> {
        let _writing = self.catalog.write_lock().await;
        let vigy = self
            .store
            .set_enabled(id, enabled, self.clock.stamp())
            .await?
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        self.catalog.put(vigy.clone());
        self.schedule(vigy.clone())?;
        Ok(vigy)
    }

    /// Hold `id`'s ticks, saying why, until [`resume`](Self::resume); a
    /// tick in flight finishes and is recorded. Pausing a paused vigy keeps
    /// its first reason.
    pub async fn pause(&self, id: VigyId, reason: impl Into<String>) -> Result<Vigy, RuntimeError> {
        let pause = Pause { reason: reason.into(), at: self.clock.stamp() };
        self.set_paused(id, Some(pause)).await
    }

    /// Let a paused vigy tick again, from its next due time.
    pub async fn resume(&self, id: VigyId) -> Result<Vigy, RuntimeError> {
        self.set_paused(id, None).await
    }

    async fn set_paused(&self, id: VigyId, pause: Option<Pause>) -> Result<Vigy, RuntimeError> {
        let _writing = self.catalog.write_lock().await;
        let vigy = self
            .store
            .set_paused(id, pause, self.clock.stamp())
            .await?
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        self.catalog.put(vigy.clone());
        self.schedule(vigy.clone())?;
        Ok(vigy)
    }

    /// Where `id`'s schedule stands in this runtime: next due time, failures
    /// in a row, missed due times; `None` unless this runtime schedules it.
    pub fn standing(&self, id: VigyId) -> Option<Standing> {
        self.board.get(id)
    }

    /// Delete `id` with its runs, kv and state.
    pub async fn delete(&self, id: VigyId) -> Result<(), RuntimeError> {
        let _writing = self.catalog.write_lock().await;
        if !self.store.delete(id, self.clock.stamp()).await? {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        self.catalog.remove(id);
        let _ = self.commands.send(Command::Remove(id));
        Ok(())
    }

    /// Run one tick of `id` now, whether or not it is enabled or in this
    /// runtime's scope, and return its run once committed. It runs where
    /// the vigy's lease is: here if this runtime holds it; by the runtime
    /// holding it, asked through the store, if another does; here under a
    /// lease claimed for this tick if nobody does. Never two ticks of one
    /// vigy at once, in any process.
    pub async fn tick_now(&self, id: VigyId) -> Result<VigyRun, RuntimeError> {
        // Read from the store, not the catalog: a vigy another process
        // deleted a moment ago must not tick.
        self.store.get(id).await?.ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        let since = Instant::now();
        loop {
            let lease = self.store.lease(id).await?.filter(|lease| lease.live);
            let moved = match lease {
                // A one-off tick of it is going on here: wait for its turn.
                _ if self.one_offs.contains(id) => match self.tick_one_off(id, None).await? {
                    Some(run) => return Ok(run),
                    None => format!("another runtime claimed `{id}` first"),
                },
                Some(lease) if lease.owner == self.me.id => match self.tick_here(id, None, None).await {
                    Err(RuntimeError::LeaseMoved(why)) => why,
                    other => return other,
                },
                Some(_) => return self.tick_through_owner(id).await,
                None => match self.tick_one_off(id, None).await? {
                    Some(run) => return Ok(run),
                    None => format!("another runtime claimed `{id}` first"),
                },
            };
            // The lease moved between reading it and ticking: look again.
            if since.elapsed() >= FORCED_TICK_WAIT {
                return Err(RuntimeError::LeaseMoved(moved));
            }
            tokio::time::sleep(REQUEST_POLL).await;
        }
    }

    async fn tick_here(
        &self,
        id: VigyId,
        one_off: Option<OneOff>,
        request: Option<String>,
    ) -> Result<VigyRun, RuntimeError> {
        let (reply, run) = oneshot::channel();
        self.send(Command::TickNow { id, one_off, request, reply })?;
        run.await.map_err(|_| RuntimeError::Unavailable("the runtime is shutting down".into()))?
    }

    /// Tick `id` once under a lease claimed for that tick alone, then give
    /// the lease back; `None` if another runtime holds it.
    async fn tick_one_off(&self, id: VigyId, request: Option<String>) -> Result<Option<VigyRun>, RuntimeError> {
        // Marked first, so the elector never takes this lease for its own.
        let turn = self.one_offs.enter(id).await;
        let result = async {
            let Some(token) = self.store.claim_one(&self.me.id, id, self.lease.ttl).await? else {
                return Ok(None);
            };
            let run = async {
                let vigy = self.store.get(id).await?.ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
                let carried = self.store.carried(&[id]).await?.remove(&id).unwrap_or_default();
                self.tick_here(id, Some(OneOff { vigy, carried, token }), request).await
            }
            .await;
            if let Err(error) = self.store.release(&self.me.id, &[id]).await {
                tracing::warn!(%error, vigy = %id, "could not give back a forced tick's lease; it lapses on its own");
            }
            run.map(Some)
        }
        .await;
        drop(turn);
        self.nudge.notify_one();
        result
    }

    /// Ask the runtime holding `id`'s lease for a tick and wait for its
    /// committed run. Should that runtime die first, the request is taken
    /// over here once its lease lapses.
    async fn tick_through_owner(&self, id: VigyId) -> Result<VigyRun, RuntimeError> {
        let request = self.store.request_tick(id).await?;
        let since = Instant::now();
        loop {
            tokio::time::sleep(REQUEST_POLL).await;
            let Some(state) = self.store.tick_request(&request).await? else {
                return Err(RuntimeError::NotFound(id.to_string()));
            };
            if let Some(run_id) = state.run_id {
                return self
                    .store
                    .run(&run_id)
                    .await?
                    .ok_or_else(|| RuntimeError::Unavailable(format!("run `{run_id}` is gone already")));
            }
            if state.error.is_some() {
                return Err(RuntimeError::NotFound(id.to_string()));
            }
            let owner_alive = self.store.lease(id).await?.is_some_and(|l| l.live && l.owner != self.me.id);
            if !owner_alive && self.store.take_tick_request(&self.me.id, &request).await? {
                match self.tick_one_off(id, Some(request.clone())).await? {
                    Some(run) => return Ok(run),
                    None => self.store.unclaim_tick_request(&request).await?,
                }
            }
            if since.elapsed() >= FORCED_TICK_WAIT {
                return Err(RuntimeError::Unavailable(format!(
                    "no runtime carried out the forced tick of `{id}` within {} s",
                    FORCED_TICK_WAIT.as_secs()
                )));
            }
        }
    }

    /// The newest `limit` runs of `id`, newest first.
    pub async fn recent_runs(&self, id: VigyId, limit: u64) -> Result<Vec<VigyRun>, RuntimeError> {
        self.get(id).await?;
        Ok(self.store.recent_runs(id, limit).await?)
    }

    /// Up to `limit` runs of `id`, newest first, older than its run
    /// `after` when given (see [`vigy_store::Store::runs_page`]).
    pub async fn runs_page(
        &self,
        id: VigyId,
        after: Option<&str>,
        limit: u64,
    ) -> Result<vigy_store::RunPage, RuntimeError> {
        self.get(id).await?;
        Ok(self.store.runs_page(id, after, limit).await?)
    }

    /// Up to `take` vigies matching `selector` named after `after`, by name.
    pub(crate) fn entries_page(&self, selector: &LabelSelector, after: Option<&str>, take: usize) -> Vec<Arc<Entry>> {
        self.catalog.page(selector, after, take)
    }

    /// What `id` last reported; empty before its first tick.
    pub async fn state(&self, id: VigyId) -> Result<VigyState, RuntimeError> {
        let vigy = self.get(id).await?;
        Ok(self.store.state(id).await?.unwrap_or_else(|| empty_state(&vigy)))
    }

    /// What each of `vigies` last reported, in a fixed number of queries.
    pub async fn states_of(&self, vigies: &[Vigy]) -> Result<HashMap<VigyId, VigyState>, RuntimeError> {
        let ids: Vec<VigyId> = vigies.iter().map(|v| v.id).collect();
        let mut stored = self.store.states(&ids).await?;
        Ok(vigies
            .iter()
            .map(|vigy| (vigy.id, stored.remove(&vigy.id).flatten().unwrap_or_else(|| empty_state(vigy))))
            .collect())
    }

    /// The live lease of `id`: which runtime ticks it, and until when;
    /// `None` while nobody holds one.
    pub async fn lease(&self, id: VigyId) -> Result<Option<vigy_store::Lease>, RuntimeError> {
        Ok(self.store.lease(id).await?.filter(|lease| lease.live))
    }

    /// The live leases of `ids`, in one query.
    pub async fn leases_of(&self, ids: &[VigyId]) -> Result<HashMap<VigyId, vigy_store::Lease>, RuntimeError> {
        let leases = self.store.leases_of(ids).await?;
        Ok(leases.into_iter().filter(|lease| lease.live).map(|lease| (lease.vigy_id, lease)).collect())
    }

    /// The newest `limit` runs of each of `ids`, in one query.
    pub async fn newest_runs(
        &self,
        ids: &[VigyId],
        limit: u64,
    ) -> Result<HashMap<VigyId, vigy_store::RunPage>, RuntimeError> {
        Ok(self.store.newest_runs(ids, limit).await?)
    }

    /// The committed kv stores of `ids`, in one query.
    pub async fn kv_stores(&self, ids: &[VigyId]) -> Result<HashMap<VigyId, BTreeMap<String, Json>>, RuntimeError> {
        Ok(self.store.kv_stores(ids).await?)
    }

    /// The key/value store of `id`, as committed.
    pub async fn kv(&self, id: VigyId) -> Result<BTreeMap<String, Json>, RuntimeError> {
        self.get(id).await?;
        Ok(self.store.kv(id).await?)
    }

    /// Every run this runtime commits from now on. A subscriber that falls
    /// behind is told how many it missed; it never slows the runtime, and
    /// what is held for laggards is bounded in bytes as well as in count
    /// (32 MiB of the newest runs; see `feed.rs`).
    pub fn subscribe(&self) -> impl Stream<Item = Result<Arc<VigyRun>, RunsMissed>> + Send + Unpin + 'static {
        BroadcastStream::new(self.runs.subscribe())
            .map(|item| match item {
                Ok(slot) => feed::read(&slot).ok_or(RunsMissed(1)),
                Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => Err(RunsMissed(n)),
            })
            .take_until(self.closed.clone().cancelled_owned())
            .boxed()
    }

    /// Whether the runtime is doing its job: `Err` names what stops it
    /// (commits failing, a task stopped by a panic), in words fit for a
    /// readiness probe.
    pub fn health(&self) -> Result<(), Unhealthy> {
        self.health.check()
    }

    /// Make `task` panic at its next turn: how supervision is tested.
    #[doc(hidden)]
    pub fn inject_panic(&self, task: Task) {
        self.panic_hook.arm(task);
    }

    /// Counters and histograms since the runtime opened.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The underlying store (for tools that follow it, like `vigy tail`).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stop dispatching, let in-flight ticks finish, commit everything
    /// pending, then end every subscription. Other clones of this handle
    /// fail with `Unavailable` after.
    pub async fn shutdown(&self) {
        self.drain().await;
        self.closed.cancel();
    }

    async fn drain(&self) {
        self.closing.cancel();
        let (reply, drained) = oneshot::channel();
        if self.commands.send(Command::Drain(reply)).is_ok() {
            let _ = drained.await;
        }
        let Some((scheduler, writer, dispatcher)) = self.tasks.lock().await.take() else { return };
        scheduler.abort();
        let _ = scheduler.await;
        // The scheduler held the writer's only sender: the writer now drains
        // what is queued and stops.
        let _ = writer.await;
        // Then the dispatcher (whose senders were the two): running
        // attempts get their grace, the rest stays pending in the outbox.
        let _ = dispatcher.await;
        // Everything is committed: the leases can go to another runtime now.
        if self.schedules
            && let Err(error) = self.store.leave(&self.me).await
        {
            tracing::warn!(%error, "could not release leases; other runtimes take over once they lapse");
        }
    }

    /// This runtime's id, as its leases name it.
    pub fn runtime_id(&self) -> &str {
        &self.me.id
    }

    /// Disable each vigy the scheduler reports as a repeat offender, or
    /// pause each that failed as often as it allows, with its reason, as an
    /// operator would (so every process sees it through the change feed).
    async fn quarantine(self, mut offenders: mpsc::UnboundedReceiver<ToHold>) {
        use std::sync::atomic::Ordering::Relaxed;
        while let Some(next) = offenders.recv().await {
            let (id, hold) = match next {
                ToHold::Vigy(id, hold) => (id, hold),
                ToHold::Mark(reply) => {
                    let _ = reply.send(());
                    continue;
                }
            };
            let _writing = self.catalog.write_lock().await;
            let held = match &hold {
                Hold::Quarantine(reason) => self.store.quarantine(id, reason, self.clock.stamp()).await,
                Hold::Pause(reason) => {
                    let at = self.clock.stamp();
                    self.store.set_paused(id, Some(Pause { reason: reason.clone(), at }), at).await
                }
            };
            match held {
                Ok(Some(vigy)) => {
                    match &hold {
                        Hold::Quarantine(reason) => {
                            tracing::error!(vigy = %vigy.name, %reason, "vigy quarantined: disabled");
                            self.metrics.quarantined.fetch_add(1, Relaxed);
                        }
                        Hold::Pause(reason) => {
                            tracing::warn!(vigy = %vigy.name, %reason, "vigy paused after repeated failures");
                            self.metrics.paused_on_failure.fetch_add(1, Relaxed);
                        }
                    }
                    self.catalog.put(vigy.clone());
                    let _ = self.schedule(vigy);
                }
                Ok(None) => {}
                Err(error) => tracing::error!(%id, %error, ?hold, "could not hold a failing vigy"),
            }
        }
    }

    /// Tell the scheduler `vigy` changed, and the elector it may have
    /// become (or stopped being) claimable.
    fn schedule(&self, vigy: Vigy) -> Result<(), RuntimeError> {
        self.send(Command::Upsert { vigy })?;
        self.nudge.notify_one();
        Ok(())
    }

    fn send(&self, command: Command) -> Result<(), RuntimeError> {
        self.commands.send(command).map_err(|_| match self.health.check() {
            Err(stopped @ Unhealthy::Stopped(_)) => RuntimeError::Unavailable(stopped.to_string()),
            _ => RuntimeError::Unavailable("the runtime is shutting down".into()),
        })
    }
}

/// The state of a vigy before its first tick.
fn empty_state(vigy: &Vigy) -> VigyState {
    VigyState {
        vigy_id: vigy.id,
        desired: Default::default(),
        observed: Default::default(),
        pending: Vec::new(),
        conditions: Vec::new(),
        tick_count: 0,
        captured_at: vigy.created_at,
    }
}
