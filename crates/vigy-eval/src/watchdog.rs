//! Wall-clock deadlines for ticks.
//!
//! One process-wide thread wakes every [`RESOLUTION`] and raises the
//! interrupt flag of every evaluator whose armed deadline has passed; the
//! interpreter then stops at its next step with `Halted`. Arming and
//! disarming cost a lock each; a tick pays nothing else.
//!
//! The flag is raised only under the slot's lock and only while the slot
//! is armed, so a deadline that fires as a tick ends can never halt the
//! next tick.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

const RESOLUTION: Duration = Duration::from_millis(5);

/// One evaluator's deadline.
#[derive(Debug)]
pub(crate) struct Deadline {
    slot: Arc<Slot>,
}

#[derive(Debug)]
struct Slot {
    due: Mutex<Option<Instant>>,
    flag: Arc<AtomicBool>,
}

impl Deadline {
    /// Watch `flag`: it will be raised when an armed deadline passes.
    pub(crate) fn watching(flag: Arc<AtomicBool>) -> Self {
        let slot = Arc::new(Slot { due: Mutex::new(None), flag });
        watched().lock().expect("watchdog lock").push(Arc::downgrade(&slot));
        Self { slot }
    }

    /// Clear the flag and start counting `within` from now.
    pub(crate) fn arm(&self, within: Duration) {
        let mut due = self.slot.due.lock().expect("deadline lock");
        self.slot.flag.store(false, Ordering::SeqCst);
        *due = Some(Instant::now() + within);
    }

    /// Stop counting; the flag can no longer be raised.
    pub(crate) fn disarm(&self) {
        *self.slot.due.lock().expect("deadline lock") = None;
    }
}

fn watched() -> &'static Mutex<Vec<Weak<Slot>>> {
    static WATCHED: OnceLock<Mutex<Vec<Weak<Slot>>>> = OnceLock::new();
    WATCHED.get_or_init(|| {
        std::thread::Builder::new().name("vigy-watchdog".into()).spawn(watch).expect("spawn the watchdog thread");
        Mutex::new(Vec::new())
    })
}

fn watch() {
    loop {
        std::thread::sleep(RESOLUTION);
        let now = Instant::now();
        let mut slots = watched().lock().expect("watchdog lock");
        slots.retain(|weak| {
            let Some(slot) = weak.upgrade() else { return false };
            let due = slot.due.lock().expect("deadline lock");
            if due.is_some_and(|due| now >= due) {
                slot.flag.store(true, Ordering::SeqCst);
            }
            true
        });
    }
}
