//! What the runtime and a worker process say to each other: one JSON
//! message per frame, each frame a little-endian `u32` length then the
//! bytes.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use vigy_eval::{Effects, EvalLimits, Signature, TickInput, TickOutcome};

/// Set in a worker's environment; its value names the protocol, so a
/// worker program from another vigy version refuses rather than misreads.
pub(crate) const WORKER_VAR: &str = "VIGY_WORKER";
pub(crate) const PROTOCOL: &str = "vigy-worker-1";

/// Largest frame the runtime reads from a worker. Everything a tick can
/// produce is capped far below this; a larger frame is treated as a broken
/// worker rather than allocated.
pub(crate) const MAX_FRAME_BYTES: u32 = 64 * 1024 * 1024;

/// Identifies a program by its source, so a worker parses each program once.
pub(crate) type ProgramKey = [u8; 16];

/// Runtime → worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// The first message: how to build the evaluator.
    Hello { limits: EvalLimits, memory_bytes: u64, extensions: Vec<Signature> },
    /// Run a tick. `source` is sent the first time this worker sees `key`.
    Tick { job: u64, key: ProgramKey, source: Option<String>, input: TickInput },
    /// Give back every tick queued but not started.
    Reclaim,
    /// Drop every parsed program (the runtime tracks what each worker has).
    Forget,
    /// The answer to an extension call.
    Reply { result: Result<Json, String>, effects: Effects },
}

/// Worker → runtime.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// The evaluator is built and the memory limit set.
    Ready,
    /// A tick ended, at `ended_ns` on the machine's monotonic clock (the
    /// next queued tick starts then, which the supervisor's deadline counts
    /// from even when it reads this late).
    Done { job: u64, outcome: TickOutcome, ended_ns: u64 },
    /// A tick called an extension function: run it in the runtime.
    Call { name: String, args: Vec<Json> },
    /// These ticks were queued and never started.
    Reclaimed { jobs: Vec<u64> },
    /// The worker's memory grew past what it lets itself keep: it exits
    /// after this message, and its queued ticks were reclaimed first.
    Retiring,
}

pub(crate) fn write_frame<T: Serialize>(out: &mut impl Write, message: &T) -> io::Result<()> {
    let body = serde_json::to_vec(message).map_err(io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(|_| io::Error::other("frame too large"))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&body);
    out.write_all(&frame)?;
    out.flush()
}

pub(crate) fn read_frame<T: for<'de> Deserialize<'de>>(input: &mut impl Read) -> io::Result<T> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME_BYTES {
        return Err(io::Error::other(format!("a frame of {len} bytes is over the limit")));
    }
    let mut body = vec![0u8; len as usize];
    input.read_exact(&mut body)?;
    serde_json::from_slice(&body).map_err(io::Error::other)
}

/// Now on the machine's monotonic clock, shared by every process.
pub(crate) fn monotonic_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (now.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(now.tv_nsec as u64)
}

pub(crate) fn program_key(source: &str) -> ProgramKey {
    let hash = blake3::hash(source.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&hash.as_bytes()[..16]);
    key
}
