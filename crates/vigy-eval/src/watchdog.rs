//! Wall-clock deadlines for ticks.
//!
//! One process-wide thread sleeps until the earliest armed deadline and
//! raises the interrupt flag of every evaluator whose deadline has passed;
//! the interpreter then stops at its next step with `Halted`. Arming costs
//! two locks and a wake-up, disarming a lock; with nothing armed the thread
//! sleeps, so an idle worker process costs no CPU.
//!
//! The flag is raised only under the slot's lock and only while the slot
//! is armed, so a deadline that fires as a tick ends can never halt the
//! next tick.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

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
        watched().slots.lock().expect("watchdog lock").push(Arc::downgrade(&slot));
        Self { slot }
    }

    /// Clear the flag and start counting `within` from now.
    pub(crate) fn arm(&self, within: Duration) {
        {
            let mut due = self.slot.due.lock().expect("deadline lock");
            self.slot.flag.store(false, Ordering::SeqCst);
            *due = Some(Instant::now() + within);
        }
        // Under the watchdog's lock, so it is either scanning (and sees
        // this deadline) or waiting (and is woken to).
        let watched = watched();
        let _scanning = watched.slots.lock().expect("watchdog lock");
        watched.wake.notify_one();
    }

    /// Stop counting; the flag can no longer be raised.
    pub(crate) fn disarm(&self) {
        *self.slot.due.lock().expect("deadline lock") = None;
    }
}

/// Every evaluator's slot, and the watchdog's wake-up call.
struct Watched {
    slots: Mutex<Vec<Weak<Slot>>>,
    wake: Condvar,
}

fn watched() -> &'static Watched {
    static WATCHED: OnceLock<Watched> = OnceLock::new();
    WATCHED.get_or_init(|| {
        std::thread::Builder::new().name("vigy-watchdog".into()).spawn(watch).expect("spawn the watchdog thread");
        Watched { slots: Mutex::new(Vec::new()), wake: Condvar::new() }
    })
}

/// Sleep until the earliest armed deadline (indefinitely while none is),
/// raise the flags of those that passed, and again. An idle process pays
/// no wake-ups for it.
fn watch() {
    let watched = watched();
    let mut slots = watched.slots.lock().expect("watchdog lock");
    loop {
        let now = Instant::now();
        let mut earliest: Option<Instant> = None;
        slots.retain(|weak| {
            let Some(slot) = weak.upgrade() else { return false };
            let due = slot.due.lock().expect("deadline lock");
            match *due {
                Some(due) if now >= due => slot.flag.store(true, Ordering::SeqCst),
                Some(due) => earliest = Some(earliest.map_or(due, |e| e.min(due))),
                None => {}
            }
            true
        });
        // Waiting releases the lock: an `arm` after the scan above takes it
        // and wakes this thread, so no deadline is missed.
        slots = match earliest {
            Some(at) => watched.wake.wait_timeout(slots, at.saturating_duration_since(now)).expect("watchdog lock").0,
            None => watched.wake.wait(slots).expect("watchdog lock"),
        };
    }
}
