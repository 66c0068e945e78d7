//! The backstop for hard deadlines: one thread that kills any worker whose
//! tick has outlived its deadline plus slack, even while its supervisor is
//! held up (reading a frame a starved worker writes slowly, say).
//!
//! A supervisor arms its worker's slot with the instant past which the
//! current tick must not run, and disarms it when the tick ends. The slot
//! lives until the supervisor has reaped the process, so a pid is never
//! killed after it could have been reused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

const RESOLUTION: Duration = Duration::from_millis(5);

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
        watched().lock().unwrap_or_else(|p| p.into_inner()).push(Arc::downgrade(&slot));
        slot
    }

    /// Kill the worker if it still runs a tick at `due`.
    pub(crate) fn arm(&self, due: Instant) {
        *self.due.lock().unwrap_or_else(|p| p.into_inner()) = Some(due);
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

fn watched() -> &'static Mutex<Vec<Weak<KillSlot>>> {
    static WATCHED: OnceLock<Mutex<Vec<Weak<KillSlot>>>> = OnceLock::new();
    WATCHED.get_or_init(|| {
        let _ = std::thread::Builder::new().name("vigy-worker-killer".into()).spawn(watch);
        Mutex::new(Vec::new())
    })
}

fn watch() {
    loop {
        std::thread::sleep(RESOLUTION);
        let now = Instant::now();
        let mut slots = watched().lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|weak| {
            let Some(slot) = weak.upgrade() else { return false };
            let mut due = slot.due.lock().unwrap_or_else(|p| p.into_inner());
            if due.is_some_and(|due| now >= due)
                && let Some(pid) = slot.pid
            {
                slot.fired.store(true, Ordering::SeqCst);
                let _ = kill_process(pid, Signal::KILL);
                *due = None;
            }
            true
        });
    }
}
