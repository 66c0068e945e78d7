//! The tick scheduler: one task that owns every scheduled vigy.
//!
//! # Rules
//!
//! - **Only under a lease.** A vigy is scheduled only while this runtime
//!   holds its lease (`lease.rs`): `Acquired` brings it with its state as
//!   stored and its token, `Lost` drops it and whatever it held in memory.
//!   A tick that ran under an older tenure than its entry's is not
//!   recorded (the store would fence it anyway).
//! - **One slot per vigy.** A vigy has at most one pending due time and at
//!   most one tick in flight; a tick never overlaps the previous tick of the
//!   same vigy. A forced tick of a vigy that is running waits for that tick
//!   to end, then runs at once.
//! - **On its schedule, missed ticks skipped or one caught up.** Due times
//!   are the vigy's [`Schedule`]'s: `first + k × interval`, or its cron
//!   times in its zone, shifted by its jitter, inside its window (the rules
//!   are in `vigy_types::schedule`). A tick that ends after the next due
//!   time (or a process that was busy, or down) does not cause a burst:
//!   the schedule jumps to the first due time still in the future, or,
//!   with a catch-up window the latest missed one lies in, runs one tick
//!   at once. Every due time passed over is counted (`missed`).
//!
//!   ```text
//!   interval 1 s    due:  0    1    2    3    4
//!   tick 0 takes 2.5 s    [=========]
//!   next tick runs at                    3         (1 and 2 are skipped)
//!   with catch-up         ·         2.5            (1 skipped, 2 caught up)
//!   ```
//! - **A tick waits for its previous tick's actions.** A tick that leaves
//!   actions `pending` holds its vigy's slot until the dispatcher reports
//!   them resolved (`ActionsSettled`); then the vigy resumes on its grid
//!   (missed due times skipped) and its next tick reads the results with
//!   `vigy-last-results`. Forced ticks wait the same way.
//! - **Failures back off.** After `n` consecutive failures the next tick
//!   waits `Backoff::delay_for(id, schedule, n)` from the end of the failed
//!   one (the vigy's own base and cap where it sets them, less its stable
//!   jitter), at its first due time after that; a success returns to the
//!   schedule.
//! - **Concurrency limits hold.** A tick starts only when the runtime-wide
//!   limit and every label limit its vigy falls under have room
//!   (`concurrency.rs`); until then it waits, holding its vigy's slot, and
//!   starts late (counted in `ticks_waited`, its wait in its lateness).
//! - **Failing vigies pause if they ask to.** A vigy with
//!   `pause_after_failures = n` is paused after its `n`th failed tick in a
//!   row, the error as the reason; resuming starts from its next due time.
//!   Paused, like disabled, it holds no lease and does not tick.
//! - **Changes apply from the next tick.** A new program or interval
//!   replaces the entry; a tick in flight finishes with the program it
//!   started with. Disabling or deleting stops further ticks at once.
//! - **Repeat offenders are quarantined.** A vigy whose ticks end their
//!   worker process (memory limit, stack, killed at the hard deadline,
//!   crash) `quarantine_after` times in a row (default 3) is disabled with
//!   the last error as its reason, instead of being resumed into a crash
//!   loop; a successful tick resets the count, enabling clears the reason.
//! - **A full write queue holds ticks back.** A finished tick waits in the
//!   scheduler until the write queue (`queue.rs`) has room for it; while
//!   any waits, no scheduled tick is dispatched (they start late, counted
//!   in `ticks_held_back`), so ticks stop piling up while commits fail.
//!   The loop keeps serving commands meanwhile; forced ticks still run.
//! - **The first tick is prompt.** A newly registered interval vigy is due
//!   now (after its jitter offset, if it has one; a cron vigy at its first
//!   time). A vigy taken over, or resumed at start-up, continues from its
//!   last tick: its next due time on the same grid, so a runtime holding
//!   thousands ticks them as spread as they were.
//!
//! All of it runs on the runtime's [`Clock`]: due times are its readings and
//! the loop sleeps with it, so on a `ManualClock` every rule above runs on
//! virtual time.
//!
//! The scheduler owns each vigy's kv store and tick count in memory (loaded
//! from the store when its lease is claimed), hands ticks to the worker
//! pool, and passes finished ticks to the writer.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use serde_json::Value as Json;
use tokio::sync::{mpsc, oneshot};
use vigy_eval::TickInput;
use vigy_sandbox::{Done, Job, Pool, ProgramSource};
use vigy_store::{Carried, TickRecord};
use vigy_types::condition::apply_conditions;
use vigy_types::{Clock, Condition, Plan, ReconcileAction, RunResult, Schedule, Timestamp, Vigy, VigyId, VigyRun};

use crate::actions::{Handlers, Outcomes, Work, settle_at_commit};
use crate::backoff::Backoff;
use crate::board::Board;
use crate::concurrency::{ConcurrencyLimits, Slots};
use crate::health::Task;
use crate::metrics::Metrics;
use crate::queue::{Pending, Place, Queue, WriteJob};
use crate::size::record_bytes;
use crate::supervise::PanicHook;
use crate::writer::RunReply;
use crate::{RuntimeError, Scope};

/// What the scheduler is asked to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// `vigy` changed: a leased one is scheduled as it now is (or stops
    /// being scheduled, if it is disabled or out of scope).
    Upsert { vigy: Vigy },
    /// This runtime now holds `vigy`'s lease with `token`; `carried` is
    /// what it left in the store.
    Acquired { vigy: Vigy, carried: Carried, token: u64, first: FirstTick },
    /// The pending actions of `id`'s last tick under `token` are resolved
    /// (`actions` are its last tick's, `None` if its tick was fenced out).
    ActionsSettled { id: VigyId, token: u64, actions: Option<Arc<[ReconcileAction]>> },
    /// These leases are gone: forget the vigies and what they held.
    Lost(Vec<VigyId>),
    /// Forget `id` (deleted); a tick in flight is not recorded.
    Remove(VigyId),
    /// Run one tick of `id` now, whatever the schedule, and reply with the
    /// run once it is committed: under its lease if it is scheduled here,
    /// else under `one_off`'s; `LeaseMoved` if neither.
    TickNow { id: VigyId, one_off: Option<OneOff>, request: Option<String>, reply: RunReply },
    /// Stop dispatching; reply when no tick is in flight.
    Drain(oneshot::Sender<()>),
    /// Reply once nothing is due by the clock's now, no tick is in flight,
    /// no actions are outstanding and every finished tick is committed
    /// (`RuntimeHandle::run_due`).
    Settle(oneshot::Sender<()>),
}

/// A vigy ticked once under a lease claimed for that tick alone.
#[derive(Debug)]
pub(crate) struct OneOff {
    pub(crate) vigy: Vigy,
    pub(crate) carried: Carried,
    pub(crate) token: u64,
}

/// A forced tick's caller: a reply, and the stored request it carries out
/// when it came from another process.
#[derive(Debug)]
pub(crate) struct Forced {
    reply: RunReply,
    request: Option<String>,
}

/// When a newly scheduled vigy first ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstTick {
    /// At its schedule's first due time: it has never ticked.
    Now,
    /// At its next due time after the last tick (started then): it is
    /// resuming, here or after another runtime.
    After(Timestamp),
}

fn lease_moved(id: VigyId) -> RuntimeError {
    RuntimeError::LeaseMoved(format!("this runtime does not hold the lease of `{id}`"))
}

/// What a tick reported with `vigy-desired` and `vigy-observed`.
type Report = (serde_json::Map<String, Json>, serde_json::Map<String, Json>);

/// A finished tick waiting for room in the write queue.
struct Finished {
    record: TickRecord,
    replies: Vec<RunReply>,
    pending: Pending,
    bytes: usize,
}

/// One vigy the scheduler knows.
struct Entry {
    vigy: Vigy,
    program: Arc<ProgramSource>,
    /// Bumped whenever the entry is replaced, so stale heap slots and stale
    /// completions are recognised.
    generation: u64,
    /// Whether it ticks on its own: leased, enabled and in scope.
    scheduled: bool,
    /// Whether the elector holds its lease (false for a one-off).
    leased: bool,
    /// The token of the tenure its state belongs to.
    token: u64,
    /// The token the tick in flight started under.
    running_token: u64,
    kv: Arc<BTreeMap<String, Json>>,
    /// The last `desired`/`observed` sent to the writer, so an unchanged
    /// report is not rewritten every tick (`None` until the first report).
    last_report: Option<Report>,
    tick_count: u64,
    failures: u32,
    /// Consecutive ticks that ended their worker.
    worker_losses: u32,
    /// When the next scheduled tick is due; `None` while running or idle.
    due: Option<Timestamp>,
    /// The last due time set, kept while its tick runs and its actions are
    /// carried out: the grid its schedule goes on from (`None` after a
    /// forced tick).
    planned: Option<Timestamp>,
    running: bool,
    /// Its tick (counted as running) waits for a concurrency slot.
    waiting: bool,
    /// Waiting for the dispatcher to resolve its last tick's actions; the
    /// due time of that tick (or of the first tick, after a takeover) is
    /// where its schedule resumes.
    acting: Option<Timestamp>,
    /// The last tick's actions, with their results (`vigy-last-results`).
    last_results: Arc<[ReconcileAction]>,
    /// Its conditions, as stored.
    conditions: Vec<Condition>,
    /// Forced ticks waiting for the one in flight to end.
    forced: Vec<Forced>,
}

pub(crate) struct Scheduler {
    scope: Scope,
    backoff: Backoff,
    entries: HashMap<VigyId, Entry>,
    /// Due times, earliest first; an element is live only if its entry still
    /// has that `due` and `generation`.
    queue: BinaryHeap<Reverse<(Timestamp, u64, VigyId)>>,
    next_generation: u64,
    /// Forced ticks in flight, by vigy.
    replies: HashMap<VigyId, Vec<Forced>>,
    /// Concurrency slots in use (`concurrency.rs`).
    slots: Slots,
    /// Ticks waiting for a slot, oldest first, with their due times.
    waiting: VecDeque<(VigyId, Option<Timestamp>)>,
    workers: Pool,
    writes: Queue,
    /// Finished ticks, oldest first, that did not fit in the write queue yet.
    backlog: VecDeque<Finished>,
    /// A due tick waited for room in the write queue.
    held_back: bool,
    metrics: Arc<Metrics>,
    board: Arc<Board>,
    panic_hook: Arc<PanicHook>,
    draining: Option<oneshot::Sender<()>>,
    /// Callers of `run_due` waiting for the scheduler to be quiet.
    settling: Vec<oneshot::Sender<()>>,
    clock: Arc<dyn Clock>,
    quarantine: Quarantine,
    handlers: Handlers,
    /// Where unfinished actions of vigies taken over are sent, and the work
    /// of lost ones is stopped.
    dispatcher: Outcomes,
}

/// Where repeat offenders are sent to be disabled (and vigies that fail as
/// often as they allow, to be paused), and after how many worker losses.
pub(crate) struct Quarantine {
    /// Consecutive worker losses that quarantine a vigy; 0 never does.
    pub(crate) after: u32,
    pub(crate) to: mpsc::UnboundedSender<ToHold>,
}

/// What the runtime's holding task is sent, in order.
#[derive(Debug)]
pub(crate) enum ToHold {
    /// Hold this vigy.
    Vigy(VigyId, Hold),
    /// Reply once every hold sent before is applied (`run_due`).
    Mark(oneshot::Sender<()>),
}

/// What the runtime is asked to do to a vigy that keeps failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hold {
    /// Disable it: its ticks keep ending their worker.
    Quarantine(String),
    /// Pause it: it failed as many ticks in a row as it allows.
    Pause(String),
}

impl Scheduler {
    #[allow(clippy::too_many_arguments)] // wiring only: each is a distinct channel or policy
    pub(crate) fn new(
        (scope, backoff, clock, limits): (Scope, Backoff, Arc<dyn Clock>, ConcurrencyLimits),
        workers: Pool,
        writes: Queue,
        (metrics, board): (Arc<Metrics>, Arc<Board>),
        panic_hook: Arc<PanicHook>,
        quarantine: Quarantine,
        (handlers, dispatcher): (Handlers, Outcomes),
    ) -> Self {
        Self {
            handlers,
            dispatcher,
            scope,
            backoff,
            entries: HashMap::new(),
            queue: BinaryHeap::new(),
            next_generation: 0,
            replies: HashMap::new(),
            slots: Slots::new(limits),
            waiting: VecDeque::new(),
            workers,
            writes,
            backlog: VecDeque::new(),
            held_back: false,
            metrics,
            board,
            panic_hook,
            draining: None,
            settling: Vec::new(),
            clock,
            quarantine,
        }
    }

    /// Run until every command sender is gone, then until in-flight ticks
    /// are handed to the writer.
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut done: mpsc::UnboundedReceiver<Done>,
    ) {
        let mut open = true;
        loop {
            self.panic_hook.check(Task::Scheduler);
            self.hand_over();
            // Checked before waiting: handing over the last finished tick
            // may be what settles a drain, and nothing may wake us after.
            let settled = self.in_flight() == 0 && self.backlog.is_empty();
            if self.draining.is_some() && settled {
                let _ = self.draining.take().map(|reply| reply.send(()));
            }
            if !open && settled {
                return;
            }
            if !self.settling.is_empty() && settled && self.quiet() {
                for reply in self.settling.drain(..) {
                    // Its commits, and the pauses and quarantines it caused.
                    let drained = self.writes.drained();
                    let (marked, held) = oneshot::channel();
                    let _ = self.quarantine.to.send(ToHold::Mark(marked));
                    tokio::spawn(async move {
                        drained.await;
                        let _ = held.await;
                        let _ = reply.send(());
                    });
                }
            }
            let next_due = self.queue.peek().map(|Reverse((at, ..))| *at);
            let waiting = self.backlog.front().map(|f| f.bytes);
            let wake = next_due.map(|at| self.clock.sleep_until(at));
            tokio::select! {
                biased;
                Some(finished) = done.recv() => {
                    self.on_done(finished);
                    self.admit_waiting();
                }
                place = self.writes.reserve(waiting.unwrap_or(0)), if waiting.is_some() => {
                    self.held_back |= next_due.is_some_and(|due| due <= self.clock.now());
                    if let Some(finished) = self.backlog.pop_front() {
                        self.send(finished, place);
                    }
                }
                command = commands.recv(), if open => match command {
                    Some(command) => self.on_command(command),
                    None => open = false,
                },
                () = sleep(wake), if next_due.is_some() && self.draining.is_none() && open && waiting.is_none() && !self.writes.is_closed() => {
                    self.dispatch_due(self.clock.now());
                }
            }
        }
    }

    fn in_flight(&self) -> usize {
        self.entries.values().filter(|e| e.running).count()
    }

    /// Nothing is due by now and no vigy waits for its actions.
    fn quiet(&self) -> bool {
        let now = self.clock.now();
        let due = self.queue.iter().any(|Reverse((at, generation, id))| {
            *at <= now && self.entries.get(id).is_some_and(|e| e.generation == *generation && e.due == Some(*at))
        });
        !due && self.entries.values().all(|e| e.acting.is_none())
    }

    /// Move finished ticks into the write queue while they fit, in order.
    fn hand_over(&mut self) {
        while let Some(place) = self.backlog.front().and_then(|f| self.writes.try_reserve(f.bytes)) {
            if let Some(finished) = self.backlog.pop_front() {
                self.send(finished, place);
            }
        }
    }

    fn send(&mut self, finished: Finished, place: Place) {
        let Finished { record, replies, pending, .. } = finished;
        if let Err(job) = self.writes.send(WriteJob { record, replies, pending, place }) {
            // The writer stopped (it panicked): the runtime is broken and
            // says so; this tick cannot be recorded (its `Pending` counts it).
            tracing::error!(vigy = %job.record.run.vigy_id, tick = job.record.run.tick, "the writer stopped: a tick is lost");
            for reply in job.replies {
                let _ = reply.send(Err(RuntimeError::Unavailable("the writer stopped".into())));
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Upsert { vigy } => self.upsert(vigy),
            Command::Acquired { vigy, carried, token, first } => self.acquired(vigy, carried, token, first),
            Command::ActionsSettled { id, token, actions } => self.settled(id, token, actions),
            Command::Lost(ids) => {
                for id in ids {
                    self.forget(id, || lease_moved(id));
                }
            }
            Command::Remove(id) => {
                // Its series go here, where ticks are counted: a tick ending
                // after this finds no entry and counts nothing.
                self.forget(id, || RuntimeError::NotFound(id.to_string()));
                self.metrics.forget(id);
            }
            Command::TickNow { id, one_off, request, reply } => self.tick_now(id, one_off, Forced { reply, request }),
            Command::Drain(reply) => self.draining = Some(reply),
            Command::Settle(reply) => self.settling.push(reply),
        }
    }

    fn upsert(&mut self, vigy: Vigy) {
        let id = vigy.id;
        let generation = self.bump();
        let Some(entry) = self.entries.get_mut(&id) else { return };
        let wanted = entry.leased && vigy.runs() && self.scope.includes(&vigy);
        if !entry.vigy.differs_in_behaviour(&vigy) && entry.scheduled == wanted {
            return;
        }
        let was_scheduled = entry.scheduled;
        entry.program = Arc::new(ProgramSource::new(&vigy.program));
        entry.vigy = vigy;
        entry.generation = generation;
        entry.scheduled = wanted;
        entry.failures = 0;
        entry.due = None;
        // A running tick reschedules itself when it ends. Otherwise a vigy
        // that was ticking goes on from now on its new schedule; one that
        // was not (just enabled or resumed) is due at its first due time.
        if !wanted {
            self.board.remove(id);
        } else if !entry.running && entry.acting.is_none() {
            let now = self.clock.now();
            let schedule = &entry.vigy.schedule;
            let due = if was_scheduled { schedule.next_due(id, now) } else { schedule.first_due(id, now) };
            self.set_due_at(id, due);
        }
    }

    fn acquired(&mut self, vigy: Vigy, mut carried: Carried, token: u64, first: FirstTick) {
        let id = vigy.id;
        let generation = self.bump();
        let wanted = vigy.runs() && self.scope.includes(&vigy);
        let now = self.clock.now();
        let (due, grid) = match first {
            FirstTick::Now => (vigy.schedule.first_due(id, now), None),
            FirstTick::After(last) => self.plan(id, &vigy.schedule, last, now).unzip(),
        };
        let unfinished = std::mem::take(&mut carried.unfinished);
        let mut entry = Entry::new(vigy, carried, generation, wanted);
        entry.leased = true;
        entry.token = token;
        // What the last owner committed but did not finish is carried out
        // before the first tick here.
        if !unfinished.is_empty() {
            entry.acting = Some(due.unwrap_or(now));
            entry.planned = grid.or(due);
            let _ = self.dispatcher.send(Work::Run { id, token, runs: unfinished });
        }
        let acting = entry.acting.is_some();
        // A tick still in flight from before keeps the slot (it will not
        // be recorded) and schedules the next one when it ends.
        let running = match self.entries.remove(&id) {
            Some(old) if old.running => {
                entry.running = true;
                entry.waiting = old.waiting;
                entry.running_token = old.running_token;
                entry.forced = old.forced;
                true
            }
            _ => false,
        };
        self.entries.insert(id, entry);
        if wanted && !running && !acting {
            self.set_due_at(id, due);
            self.set_grid(id, grid);
        }
    }

    /// The dispatcher resolved the actions `id`'s last tick left pending:
    /// resume its schedule where that tick's due time puts it.
    fn settled(&mut self, id: VigyId, token: u64, actions: Option<Arc<[ReconcileAction]>>) {
        let Some(entry) = self.entries.get_mut(&id) else { return };
        if entry.token != token {
            return;
        }
        let Some(anchor) = entry.acting.take() else { return };
        if let Some(actions) = actions {
            entry.last_results = actions;
        }
        // A tick of an older tenure still running resumes the vigy when it
        // ends (it finds nothing to wait for any more).
        if !entry.running {
            self.resume(id, Some(anchor), anchor);
        }
    }

    /// Drop `id` and what it held; its waiting forced ticks get `error`.
    fn forget(&mut self, id: VigyId, error: impl Fn() -> RuntimeError) {
        let _ = self.dispatcher.send(Work::Stop(id));
        self.board.remove(id);
        let forced = self.entries.remove(&id).map(|e| e.forced).unwrap_or_default();
        for waiting in self.replies.remove(&id).unwrap_or_default().into_iter().chain(forced) {
            let _ = waiting.reply.send(Err(error()));
        }
    }

    fn tick_now(&mut self, id: VigyId, one_off: Option<OneOff>, forced: Forced) {
        if !self.entries.contains_key(&id) {
            let Some(OneOff { vigy, carried, token }) = one_off else {
                let _ = forced.reply.send(Err(lease_moved(id)));
                return;
            };
            let generation = self.bump();
            let mut entry = Entry::new(vigy, carried, generation, false);
            entry.token = token;
            self.entries.insert(id, entry);
        }
        let Some(entry) = self.entries.get_mut(&id) else { return };
        if entry.running || entry.acting.is_some() {
            entry.forced.push(forced);
            return;
        }
        self.replies.entry(id).or_default().push(forced);
        self.dispatch(id, None);
    }

    fn bump(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    /// Set the due time planned on the wall clock; `None` (its window
    /// closed) leaves it unscheduled until its schedule changes.
    fn set_due_at(&mut self, id: VigyId, due: Option<Timestamp>) {
        let Some(entry) = self.entries.get_mut(&id) else { return };
        entry.planned = due;
        match due {
            Some(at) => {
                entry.due = Some(at);
                self.queue.push(Reverse((at, entry.generation, id)));
                self.board.update(id, |standing| standing.next_due = Some(at));
            }
            None => self.board.update(id, |standing| standing.next_due = None),
        }
    }

    /// Where `schedule` goes after the tick due (or started) at `last`, as
    /// of `now`: when it is next due, and the due time its grid goes on
    /// from (the missed one, for a catch-up tick run now). What it passed
    /// over is counted.
    fn plan(&self, id: VigyId, schedule: &Schedule, last: Timestamp, now: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let Plan { at, missed, catch_up } = schedule.plan(id, last, now)?;
        if missed > 0 || catch_up.is_some() {
            self.metrics.ticks_missed.fetch_add(missed, Relaxed);
            self.metrics.ticks_caught_up.fetch_add(u64::from(catch_up.is_some()), Relaxed);
            self.board.update(id, |standing| standing.missed += missed);
        }
        Some((at, catch_up.unwrap_or(at)))
    }

    /// The grid `id`'s schedule goes on from after its next tick.
    fn set_grid(&mut self, id: VigyId, grid: Option<Timestamp>) {
        if let (Some(entry), Some(grid)) = (self.entries.get_mut(&id), grid) {
            entry.planned = Some(grid);
        }
    }

    fn dispatch_due(&mut self, now: Timestamp) {
        let held_back = std::mem::take(&mut self.held_back);
        while let Some(Reverse((due, generation, id))) = self.queue.peek().copied() {
            if due > now {
                break;
            }
            self.queue.pop();
            let live = self.entries.get(&id).is_some_and(|e| {
                e.generation == generation && e.due == Some(due) && !e.running && e.scheduled && e.acting.is_none()
            });
            if live {
                self.metrics.ticks_held_back.fetch_add(u64::from(held_back), Relaxed);
                self.dispatch(id, Some(due));
            }
        }
    }

    /// Take `id`'s slot for a tick due at `due` (`None`: forced) and start
    /// it, or queue it until the concurrency limits let it start.
    fn dispatch(&mut self, id: VigyId, due: Option<Timestamp>) {
        let Some(entry) = self.entries.get_mut(&id) else { return };
        entry.running = true;
        entry.due = None;
        if due.is_none() {
            entry.planned = None;
        }
        self.board.update(id, |standing| standing.next_due = None);
        if self.slots.limited() && !self.slots.try_take(&entry.vigy) {
            entry.waiting = true;
            self.waiting.push_back((id, due));
            self.metrics.ticks_waited.fetch_add(1, Relaxed);
            self.metrics.ticks_waiting.store(self.waiting.len() as u64, Relaxed);
            return;
        }
        self.start(id, due);
    }

    /// Start the ticks waiting for a slot that now fit, oldest first; drop
    /// those whose vigy is gone or stopped being scheduled meanwhile.
    fn admit_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let mut still = VecDeque::with_capacity(self.waiting.len());
        for (id, due) in std::mem::take(&mut self.waiting) {
            let Some(entry) = self.entries.get_mut(&id).filter(|e| e.waiting) else { continue };
            let wanted = entry.scheduled || !entry.forced.is_empty() || self.replies.contains_key(&id);
            if !wanted {
                entry.waiting = false;
                entry.running = false;
                let now = self.clock.now();
                self.resume(id, due, now);
            } else if self.slots.try_take(&entry.vigy) {
                entry.waiting = false;
                self.start(id, due);
            } else {
                still.push_back((id, due));
            }
        }
        self.waiting = still;
        self.metrics.ticks_waiting.store(self.waiting.len() as u64, Relaxed);
    }

    /// Hand `id`'s tick to the worker pool.
    fn start(&mut self, id: VigyId, due: Option<Timestamp>) {
        let Some(entry) = self.entries.get_mut(&id) else { return };
        entry.running_token = entry.token;
        entry.tick_count += 1;
        let job = Job {
            program: entry.program.clone(),
            input: TickInput {
                vigy_id: id,
                name: entry.vigy.name.as_str().into(),
                tick: entry.tick_count,
                started_at_ms: 0,
                kv: entry.kv.clone(),
                last_results: entry.last_results.clone(),
            },
            due,
            // A vigy in backoff may run long again: its tick waits in the
            // suspects' lane, away from the healthy ones.
            suspect: entry.failures > 0,
        };
        if !self.workers.submit(job) {
            entry.running = false;
            self.slots.give_back(id);
        }
    }

    fn on_done(&mut self, done: Done) {
        let Done { vigy_id, input, due, started, outcome, .. } = done;
        self.slots.give_back(vigy_id);
        let mut forced_now = self.replies.remove(&vigy_id).unwrap_or_default();
        let Some(entry) = self.entries.get_mut(&vigy_id) else {
            // Deleted while it ran: nothing to record.
            for waiting in forced_now {
                let _ = waiting.reply.send(Err(RuntimeError::NotFound(vigy_id.to_string())));
            }
            return;
        };
        entry.running = false;
        // Ran under a tenure that has ended since: its state is not the
        // entry's, and the store would refuse it.
        let stale = entry.running_token != entry.token;
        self.metrics.tick_duration.record(outcome.elapsed);
        if let Some(due) = due {
            let late = (started - due).to_std().unwrap_or_default();
            self.metrics.lateness.record(late);
            tracing::debug!(vigy = %entry.vigy.name, late_ms = late.as_millis() as u64, "tick finished");
        }
        let failed = outcome.result.is_err();
        self.metrics.count_tick(vigy_id, entry.vigy.name.as_str(), failed);
        if let Err(error) = &outcome.result
            && error.ended_its_worker()
            && !stale
        {
            entry.worker_losses += 1;
            if entry.worker_losses == self.quarantine.after && entry.scheduled {
                let reason =
                    format!("quarantined after {} ticks in a row ended their worker: {error}", entry.worker_losses);
                let _ = self.quarantine.to.send(ToHold::Vigy(vigy_id, Hold::Quarantine(reason)));
            }
        }
        if stale {
            for waiting in std::mem::take(&mut forced_now) {
                let _ = waiting.reply.send(Err(lease_moved(vigy_id)));
            }
        } else if failed {
            entry.failures = entry.failures.saturating_add(1);
            if entry.scheduled
                && entry.vigy.pause_after_failures == Some(entry.failures)
                && let Err(error) = &outcome.result
            {
                let reason = format!("paused after {} failed ticks in a row: {error}", entry.failures);
                let _ = self.quarantine.to.send(ToHold::Vigy(vigy_id, Hold::Pause(reason)));
            }
        } else {
            entry.failures = 0;
            entry.worker_losses = 0;
            if !outcome.kv_changes.is_empty() {
                outcome.apply_kv_changes(Arc::make_mut(&mut entry.kv));
            }
        }
        let failures = entry.failures;
        self.board.update(vigy_id, |standing| standing.failures = failures);
        if !stale {
            let mut run = to_run(&*self.clock, &input, &outcome);
            if let Err(error) = &outcome.result {
                tracing::warn!(vigy = %entry.vigy.name, tick = run.tick, failures = entry.failures, %error, "tick failed");
            } else {
                tracing::debug!(vigy = %entry.vigy.name, tick = run.tick, elapsed_us = outcome.elapsed.as_micros() as u64, "tick");
            }
            let pending = settle_at_commit(&mut run.actions, failed, &self.handlers);
            for action in run.actions.iter().filter(|a| a.result.is_final()) {
                let handled = self.handlers.for_kind(action.kind.as_str()).is_some();
                self.metrics.count_action(action.kind.as_str(), action.result, handled);
            }
            if pending > 0 {
                entry.acting = Some(due.unwrap_or(started));
            } else {
                entry.last_results = run.actions.clone().into();
            }
            let conditions = (!outcome.conditions.is_empty())
                .then(|| {
                    let mut conditions = entry.conditions.clone();
                    apply_conditions(&mut conditions, &outcome.conditions, run.started_at).then(|| {
                        entry.conditions.clone_from(&conditions);
                        conditions
                    })
                })
                .flatten();
            let report = (outcome.desired, outcome.observed);
            let reported = (!failed && entry.last_report.as_ref() != Some(&report)).then(|| {
                entry.last_report = Some(report.clone());
                report
            });
            let (replies, requests): (Vec<_>, Vec<_>) = forced_now.into_iter().map(|f| (f.reply, f.request)).unzip();
            let record = TickRecord {
                run,
                kv_changes: outcome.kv_changes,
                reported,
                token: entry.running_token,
                requests: requests.into_iter().flatten().collect(),
                conditions,
            };
            let bytes = record_bytes(&record);
            let pending = Pending::new(self.metrics.clone());
            self.backlog.push_back(Finished { record, replies, pending, bytes });
        }
        if entry.acting.is_some() {
            // Resumed when the dispatcher reports the actions resolved.
            return;
        }
        self.resume(vigy_id, due, started);
    }

    /// After a tick (and its actions): run the forced ticks waiting, or set
    /// the next due time on the grid of `due` (else `started`), or let go
    /// of an entry that is no longer scheduled.
    fn resume(&mut self, id: VigyId, due: Option<Timestamp>, started: Timestamp) {
        let Some(entry) = self.entries.get_mut(&id) else { return };
        let forced = std::mem::take(&mut entry.forced);
        if !entry.scheduled {
            if forced.is_empty() {
                self.entries.remove(&id);
                self.board.remove(id);
            } else {
                self.replies.insert(id, forced);
                self.dispatch(id, None);
            }
            return;
        }
        if !forced.is_empty() {
            self.replies.insert(id, forced);
            self.dispatch(id, None);
            return;
        }
        let schedule = entry.vigy.schedule.clone();
        let failures = entry.failures;
        let now = self.clock.now();
        // A forced tick (no due time) cleared `planned` when it was dispatched.
        let last = entry.planned.or(due).unwrap_or(started);
        let planned = self.plan(id, &schedule, last, now);
        let mut next = planned.map(|(at, _)| at);
        if failures > 0 {
            // Backing off: the first due time once the wait is over.
            let wait = self.backoff.delay_for(id, &schedule, failures);
            let wait = chrono::Duration::from_std(wait).unwrap_or_default();
            let earliest = now + wait;
            next = match next {
                Some(at) if at >= earliest => Some(at),
                Some(_) if schedule.interval().is_some() => Some(earliest),
                Some(_) => schedule.next_due(id, earliest - chrono::Duration::milliseconds(1)),
                None => None,
            };
        }
        self.set_due_at(id, next);
        if let Some((_, grid)) = planned.filter(|(at, _)| Some(*at) == next) {
            self.set_grid(id, Some(grid));
        }
    }
}

impl Entry {
    fn new(vigy: Vigy, carried: Carried, generation: u64, scheduled: bool) -> Self {
        let Carried { kv, newest, conditions, .. } = carried;
        let (tick_count, last_results) = newest.map_or((0, Arc::from([])), |run| (run.tick, run.actions.into()));
        Self {
            acting: None,
            last_results,
            conditions,
            program: Arc::new(ProgramSource::new(&vigy.program)),
            vigy,
            generation,
            scheduled,
            leased: false,
            token: 0,
            running_token: 0,
            kv: Arc::new(kv),
            last_report: None,
            tick_count,
            failures: 0,
            worker_losses: 0,
            due: None,
            planned: None,
            running: false,
            waiting: false,
            forced: Vec::new(),
        }
    }
}

fn to_run(clock: &dyn Clock, input: &TickInput, outcome: &vigy_eval::TickOutcome) -> VigyRun {
    let started_at = chrono::DateTime::from_timestamp_millis(input.started_at_ms).unwrap_or_else(|| clock.stamp());
    let ended_at = clock.ended_at(started_at, outcome.elapsed);
    VigyRun {
        id: clock.run_id(),
        vigy_id: input.vigy_id,
        tick: input.tick,
        started_at,
        ended_at,
        result: if outcome.result.is_ok() { RunResult::Ok } else { RunResult::Failed },
        error: outcome.result.as_ref().err().map(ToString::to_string),
        actions: outcome.actions.clone(),
        logs: outcome.logs.clone(),
        logs_truncated: outcome.logs_truncated,
    }
}

async fn sleep(wake: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>) {
    match wake {
        Some(wake) => wake.await,
        None => std::future::pending().await,
    }
}
