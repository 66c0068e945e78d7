//! The backstop for hard deadlines: one thread, asleep until the earliest
//! armed deadline, that kills any worker whose tick has outlived its
//! deadline plus slack, even while its supervisor is
//! held up (reading a frame a starved worker writes slowly, say).
//!
//! A supervisor arms its worker's slot with the instant past which the
//! current tick must not run, and disarms it when the tick ends. The slot
//! lives until the supervisor has reaped the process, so a pid is never
//! killed after it could have been reused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Instant;

use rustix::process::{Pid, Signal, kill_process};

/// One worker's deadline.
#[derive(Debug)]
pub(crate) struct KillSlot {
    pid: Option<Pid>,
    due: Mutex<Option<Instant>>,
    fired: AtomicBool,
}

impl KillSlot {
    /// A slot for the worker `pid`, watched from now on.
    pub(crate) fn watch(pid: u32) -> Arc<Self> {
        let slot =
            Arc::new(Self { pid: Pid::from_raw(pid as i32), due: Mutex::new(None), fired: AtomicBool::new(false) });
        watched().slots.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::downgrade(&slot));
        slot
    }

    /// Kill the worker if it still runs a tick at `due`.
    pub(crate) fn arm(&self, due: Instant) {
        *self.due.lock().unwrap_or_else(|p| p.into_inner()) = Some(due);
        // Under the killer's lock: it is scanning (and sees this) or
        // waiting (and is woken to).
        let watched = watched();
        let _scanning = watched.slots.lock().unwrap_or_else(|p| p.into_inner());
        watched.wake.notify_one();
    }

    /// The tick ended.
    pub(crate) fn disarm(&self) {
        *self.due.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Whether this thread killed the worker.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

/// Every worker's slot, and the killer thread's wake-up call.
struct Watched {
    slots: Mutex<Vec<Weak<KillSlot>>>,
    wake: Condvar,
}

fn watched() -> &'static Watched {
    static WATCHED: OnceLock<Watched> = OnceLock::new();
    WATCHED.get_or_init(|| {
        let _ = std::thread::Builder::new().name("vigy-worker-killer".into()).spawn(watch);
        Watched { slots: Mutex::new(Vec::new()), wake: Condvar::new() }
    })
}

/// Sleep until the earliest armed deadline (indefinitely while none is),
/// kill the workers past theirs, and again.
fn watch() {
    let watched = watched();
    let mut slots = watched.slots.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let now = Instant::now();
        let mut earliest: Option<Instant> = None;
        slots.retain(|weak| {
            let Some(slot) = weak.upgrade() else { return false };
            let mut due = slot.due.lock().unwrap_or_else(|p| p.into_inner());
            match *due {
                Some(at) if now >= at => {
                    if let Some(pid) = slot.pid {
                        slot.fired.store(true, Ordering::SeqCst);
                        let _ = kill_process(pid, Signal::KILL);
                    }
                    *due = None;
                }
                Some(at) => earliest = Some(earliest.map_or(at, |e| e.min(at))),
                None => {}
            }
            true
        });
        // Waiting releases the lock; `arm` takes it to wake this thread.
        slots = match earliest {
            Some(at) => {
                let wait = at.saturating_duration_since(now);
                watched.wake.wait_timeout(slots, wait).unwrap_or_else(|p| p.into_inner()).0
            }
            None => watched.wake.wait(slots).unwrap_or_else(|p| p.into_inner()),
        };
    }
}
