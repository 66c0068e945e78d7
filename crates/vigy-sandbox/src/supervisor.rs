//! One worker process, supervised by one thread of the runtime.
//!
//! The supervisor takes ticks from the pool's queue (all that are waiting,
//! up to a batch, so a busy fleet pays one wake-up per batch rather than
//! per tick), sends them, and reads answers with the current tick's hard
//! deadline as the timeout:
//!
//! - a tick still running at its deadline plus the slack is the worker's
//!   end: it is killed (SIGKILL) and the tick fails `Killed`;
//! - a worker that dies (memory limit, stack overflow, crash) fails the
//!   tick it was running with what its exit says;
//! - a tick running longer than [`RECLAIM_AFTER`] has the ticks queued
//!   behind it taken back and handed to other workers, and stops counting
//!   against the pool's worker limit (a few runaways must not occupy every
//!   worker), so one slow vigy never holds up the rest.
//!
//! Ticks the worker never started go back to the queue; every tick sent
//! ends in exactly one `Done`.

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader, BufWriter, Read};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use vigy_eval::{TickError, TickHost, TickOutcome};
use vigy_types::Clock;

use crate::killer::KillSlot;
use crate::pool::{Job, Shared};
use crate::protocol::{FromWorker, PROTOCOL, ProgramKey, ToWorker, WORKER_VAR, monotonic_ns, read_frame, write_frame};
use crate::worker::MAX_CACHED_SOURCE_BYTES;

/// Most ticks sent to a worker at once.
pub(crate) const BATCH: usize = 32;
/// A tick running this long has the ticks queued behind it taken back.
const RECLAIM_AFTER: Duration = Duration::from_millis(10);
/// How long a new worker has to build its evaluator and say so.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long after the hard deadline the backstop kills a worker whose
/// supervisor did not (it normally does, at the deadline itself).
const KILL_BACKSTOP_AFTER: Duration = Duration::from_millis(20);
/// How much of a dead worker's stderr is kept to say why it died.
const STDERR_KEPT: usize = 4096;

/// Run one worker slot until the pool closes or it has been idle long
/// enough to retire.
///
/// The worker is started (or restarted, after a kill or a death) before the
/// slot takes a tick, never after: a start costs 20 ms on an idle machine
/// and ten times that while runaways load it, and a tick taken by a slot
/// whose worker is still starting would wait that long although another
/// slot may be free sooner.
pub(crate) fn supervise(shared: Arc<Shared>) {
    let mut worker: Option<Worker> = None;
    loop {
        let ready = match worker.take() {
            Some(live) => Ok(live),
            None if shared.is_closed() => break,
            None => Worker::start(&shared),
        };
        let Some(first) = shared.next_job() else { break };
        // This supervisor's share of what waits, so a long queue spreads
        // over the workers instead of landing on one; a suspect runs alone.
        let suspect = first.suspect;
        let share =
            if suspect { 0 } else { (shared.queue.len() / shared.live.load(Ordering::SeqCst).max(1)).min(BATCH - 1) };
        let mut batch = vec![first];
        while batch.len() <= share {
            match shared.queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match ready {
            Ok(live) => worker = live.run(batch, &shared),
            Err(reason) => {
                tracing::error!(%reason, "could not start a vigy worker");
                for job in batch {
                    let error = TickError::WorkerCrashed(format!("no worker could be started: {reason}"));
                    shared.finish(job, Instant::now(), TickOutcome::lost(error, Duration::ZERO));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        if suspect {
            shared.suspect_done();
        }
    }
    shared.live.fetch_sub(1, Ordering::SeqCst);
}

struct Worker {
    child: Child,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    /// The backstop that kills it at a tick's hard deadline.
    kill: Arc<KillSlot>,
    /// Programs this worker has parsed, and their total source bytes.
    programs: HashSet<ProgramKey>,
    program_bytes: usize,
    next_job: u64,
}

/// A tick sent to the worker.
struct Sent {
    id: u64,
    job: Job,
}

impl Worker {
    fn start(shared: &Shared) -> Result<Self, String> {
        let begun = Instant::now();
        let program = shared.config.program.resolve();
        let mut child = Command::new(&program)
            .env(WORKER_VAR, PROTOCOL)
            // mimalloc reserves 1 GiB of address space up front, which the
            // memory limit would count; keep its reservations small.
            .env("MIMALLOC_ARENA_RESERVE", "16MiB")
            // Short last words: a panic message, not a backtrace.
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        let child_pid = child.id();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stderr.take().ok_or("no stderr")?;
        let kept = stderr.clone();
        let stderr_reader = std::thread::Builder::new()
            .name("vigy-worker-stderr".into())
            .spawn(move || keep_tail(pipe, &kept))
            .map_err(|e| e.to_string())?;
        let input = BufWriter::new(child.stdin.take().ok_or("no stdin")?);
        let output = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut worker = Self {
            child,
            input,
            output,
            stderr,
            stderr_reader: Some(stderr_reader),
            kill: KillSlot::watch(child_pid),
            programs: HashSet::new(),
            program_bytes: 0,
            next_job: 0,
        };
        let hello = ToWorker::Hello {
            limits: shared.config.limits.clone(),
            memory_bytes: shared.config.memory_bytes,
            extensions: shared.extensions.signatures(),
        };
        let started = worker
            .send(&hello)
            .and_then(|()| worker.wait_readable(Instant::now() + START_TIMEOUT))
            .and_then(|ready| if ready { worker.receive() } else { Err("timed out".into()) });
        match started {
            Ok(FromWorker::Ready) => {
                shared.metrics.started.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(took_ms = begun.elapsed().as_millis() as u64, "vigy worker ready");
                Ok(worker)
            }
            Ok(other) => Err(format!("the worker answered {other:?} to Hello")),
            Err(reason) => {
                let _ = worker.child.kill();
                let status = worker.child.wait().ok();
                Err(format!(
                    "{} did not start as a vigy worker ({reason}{}); a binary that embeds vigy must call \
                     `vigy::run_if_worker()` first in main, or the runtime must be given a worker program \
                     (`RuntimeBuilder::worker_program`, `$VIGY_WORKER_PROGRAM`)",
                    program.display(),
                    status.map(|s| format!(", {s}")).unwrap_or_default()
                ))
            }
        }
    }

    /// Run `batch` (and any extension calls it makes); the worker back if
    /// it is still alive and fit.
    fn run(mut self, batch: Vec<Job>, shared: &Arc<Shared>) -> Option<Self> {
        let mut sent: VecDeque<Sent> = VecDeque::new();
        // The first tick may start while later ones are still being
        // written (a busy worker drains its pipe slowly): count from here.
        let mut started = Instant::now();
        for mut job in batch {
            let id = self.next_job;
            self.next_job += 1;
            if let Err(reason) = self.send_tick(id, &mut job, &*shared.clock) {
                sent.push_back(Sent { id, job });
                return self.lost(sent, Instant::now(), shared, Some(reason));
            }
            sent.push_back(Sent { id, job });
        }
        let deadline = shared.config.limits.deadline + shared.config.slack;
        let mut slow = SlowMark { shared, set: false };
        let mut reclaimed = false;
        let mut retiring = false;
        while !sent.is_empty() {
            let kill_at = started + deadline;
            // Past this the backstop kills the worker, even if this thread
            // is held up in a read or a write below.
            self.kill.arm(kill_at + KILL_BACKSTOP_AFTER);
            let wake_at = if slow.set { kill_at } else { kill_at.min(started + RECLAIM_AFTER) };
            match self.wait_readable(wake_at) {
                Err(reason) => return self.lost(sent, started, shared, Some(reason)),
                Ok(false) if Instant::now() >= kill_at => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let error = TickError::Killed { deadline: shared.config.limits.deadline };
                    if let Some(front) = sent.pop_front() {
                        shared.metrics.killed.fetch_add(1, Ordering::Relaxed);
                        shared.finish(front.job, started, TickOutcome::lost(error, started.elapsed()));
                    }
                    requeue(sent, shared);
                    return None;
                }
                Ok(false) => {
                    slow.mark();
                    shared.grow_if_busy();
                    if !reclaimed && sent.len() > 1 {
                        reclaimed = true;
                        if let Err(reason) = self.send(&ToWorker::Reclaim) {
                            return self.lost(sent, started, shared, Some(reason));
                        }
                    }
                }
                Ok(true) => match self.receive() {
                    Err(_) => return self.lost(sent, started, shared, None),
                    Ok(FromWorker::Done { job, outcome, ended_ns }) => {
                        let Some(front) = sent.pop_front().filter(|front| front.id == job) else {
                            return self.lost(sent, started, shared, Some("answers came out of order".into()));
                        };
                        self.kill.disarm();
                        shared.finish(front.job, started, outcome);
                        slow.clear();
                        // The next tick began when this one ended in the
                        // worker, however late this thread read it.
                        let since = Duration::from_nanos(monotonic_ns().saturating_sub(ended_ns));
                        started = Instant::now().checked_sub(since).unwrap_or_else(Instant::now);
                    }
                    Ok(FromWorker::Call { name, args }) => {
                        let Some(front) = sent.front() else { continue };
                        let reply = call_extension(shared, &front.job, &name, &args);
                        if let Err(reason) = self.send(&reply) {
                            return self.lost(sent, started, shared, Some(reason));
                        }
                    }
                    Ok(FromWorker::Reclaimed { jobs }) => {
                        let (back, kept): (VecDeque<_>, VecDeque<_>) =
                            sent.into_iter().partition(|s| jobs.contains(&s.id));
                        sent = kept;
                        // A program's source travels with its first tick: if
                        // that tick came back, the worker never parsed it.
                        for Sent { job, .. } in &back {
                            if self.programs.remove(&job.program.key) {
                                self.program_bytes = self.program_bytes.saturating_sub(job.program.source.len());
                            }
                        }
                        requeue(back, shared);
                    }
                    Ok(FromWorker::Retiring) => retiring = true,
                    Ok(FromWorker::Ready) => {}
                },
            }
        }
        self.kill.disarm();
        if retiring {
            let _ = self.child.wait();
            return None;
        }
        Some(self)
    }

    fn send_tick(&mut self, id: u64, job: &mut Job, clock: &dyn Clock) -> Result<(), String> {
        let key = job.program.key;
        let source = if self.programs.contains(&key) {
            None
        } else {
            if self.program_bytes + job.program.source.len() > MAX_CACHED_SOURCE_BYTES {
                self.send(&ToWorker::Forget)?;
                self.programs.clear();
                self.program_bytes = 0;
            }
            self.programs.insert(key);
            self.program_bytes += job.program.source.len();
            Some(job.program.source.to_string())
        };
        // Stamped as it is sent: the runtime's clock, not the worker's, so
        // one process's readings of a stepping clock stay in one sequence.
        job.input.started_at_ms = clock.stamp().timestamp_millis();
        self.send(&ToWorker::Tick { job: id, key, source, input: job.input.clone() })
    }

    fn send(&mut self, message: &ToWorker) -> Result<(), String> {
        write_frame(&mut self.input, message).map_err(|e| format!("cannot write to the worker: {e}"))
    }

    fn receive(&mut self) -> Result<FromWorker, String> {
        read_frame(&mut self.output).map_err(|e| e.to_string())
    }

    /// Whether an answer can be read before `until`.
    fn wait_readable(&mut self, until: Instant) -> Result<bool, String> {
        if !self.output.buffer().is_empty() {
            return Ok(true);
        }
        let left = until.saturating_duration_since(Instant::now());
        let timeout = Timespec { tv_sec: left.as_secs() as i64, tv_nsec: left.subsec_nanos() as i64 };
        let mut fds = [PollFd::new(self.output.get_ref(), PollFlags::IN)];
        loop {
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => return Ok(false),
                Ok(_) => return Ok(true),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(format!("cannot wait for the worker: {e}")),
            }
        }
    }

    /// The worker died or stopped answering: fail the tick it was running
    /// with the reason its death gives, put the others back.
    fn lost(
        mut self,
        mut sent: VecDeque<Sent>,
        started: Instant,
        shared: &Arc<Shared>,
        reason: Option<String>,
    ) -> Option<Self> {
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        // The pipe closes with the process: its last words are all read.
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        let stderr = String::from_utf8_lossy(&self.stderr.lock().map(|s| s.clone()).unwrap_or_default()).into_owned();
        let error = if self.kill.fired() {
            TickError::Killed { deadline: shared.config.limits.deadline }
        } else {
            classify(status, &stderr, reason, shared.config.memory_bytes)
        };
        tracing::warn!(%error, "a vigy worker died");
        shared.metrics.died.fetch_add(1, Ordering::Relaxed);
        if let Some(front) = sent.pop_front() {
            shared.finish(front.job, started, TickOutcome::lost(error, started.elapsed()));
        }
        requeue(sent, shared);
        None
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill.disarm();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts this supervisor among the slow ones while its current tick has
/// run past [`RECLAIM_AFTER`].
struct SlowMark<'a> {
    shared: &'a Shared,
    set: bool,
}

impl SlowMark<'_> {
    fn mark(&mut self) {
        if !self.set {
            self.set = true;
            self.shared.slow.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn clear(&mut self) {
        if self.set {
            self.set = false;
            self.shared.slow.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for SlowMark<'_> {
    fn drop(&mut self) {
        self.clear();
    }
}

fn requeue(sent: impl IntoIterator<Item = Sent>, shared: &Arc<Shared>) {
    for Sent { job, .. } in sent {
        shared.requeue(job);
    }
}

/// Why a worker died, from its exit and its last words.
fn classify(status: Option<ExitStatus>, stderr: &str, reason: Option<String>, memory_bytes: u64) -> TickError {
    use std::os::unix::process::ExitStatusExt;
    if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
        return TickError::Memory { limit_bytes: memory_bytes };
    }
    if stderr.contains("overflowed its stack") || status.and_then(|s| s.signal()) == Some(11) {
        return TickError::Stack;
    }
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_owned();
    let exit = match status {
        Some(s) => match s.signal() {
            Some(signal) => format!("killed by signal {signal}"),
            None => format!("exited with {}", s.code().unwrap_or(-1)),
        },
        None => "vanished".into(),
    };
    let mut text = exit;
    if let Some(reason) = reason {
        text.push_str(&format!(" ({reason})"));
    }
    if !last.is_empty() {
        let mut last = last;
        last.truncate(300);
        text.push_str(&format!(": {last}"));
    }
    TickError::WorkerCrashed(text)
}

/// Run an extension function here, in the embedding process, for the tick
/// `job` is running in the worker.
fn call_extension(shared: &Shared, job: &Job, name: &str, args: &[serde_json::Value]) -> ToWorker {
    let mut host = TickHost::for_call(job.input.clone(), shared.config.limits.clone());
    let args: Vec<_> = args.iter().map(vigy_eval::json_to_value).collect();
    let called =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.extensions.call(name, &args, &mut host)))
            .unwrap_or_else(|_| Err(format!("{name} panicked")));
    let result = called.and_then(|value| vigy_eval::value_to_json(&value));
    ToWorker::Reply { result, effects: host.into_effects() }
}

fn keep_tail(pipe: impl Read, kept: &Mutex<Vec<u8>>) {
    let mut reader = BufReader::new(pipe);
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) | Err(_) => return,
            Ok(chunk) => chunk.to_vec(),
        };
        reader.consume(chunk.len());
        if let Ok(mut kept) = kept.lock() {
            kept.extend_from_slice(&chunk);
            let excess = kept.len().saturating_sub(STDERR_KEPT);
            kept.drain(..excess);
        }
    }
}
