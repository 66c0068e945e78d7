//! What the scheduler knows about each vigy it ticks that a reader may ask
//! for: when it is due next, how many ticks failed in a row, how many due
//! times it missed. Written by the scheduler only, read by `vigy-state`
//! through the service; a vigy ticked by another process is not here.

use std::collections::HashMap;
use std::sync::Mutex;

use vigy_types::{Timestamp, VigyId};

/// One vigy's schedule as it stands in this runtime.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// When its next tick is due (after any backoff); `None` while a tick
    /// runs or its actions are being carried out.
    pub next_due: Option<Timestamp>,
    /// Failed ticks in a row.
    pub failures: u32,
    /// Due times that passed without a tick since this runtime took its lease.
    pub missed: u64,
}

/// The standing of every vigy this runtime schedules.
#[derive(Debug, Default)]
pub(crate) struct Board {
    standings: Mutex<HashMap<VigyId, Standing>>,
}

impl Board {
    /// Change `id`'s standing (creating it).
    pub(crate) fn update(&self, id: VigyId, change: impl FnOnce(&mut Standing)) {
        let mut standings = self.standings.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        change(standings.entry(id).or_default());
    }

    /// `id` is no longer scheduled here.
    pub(crate) fn remove(&self, id: VigyId) {
        self.standings.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&id);
    }

    /// `id`'s standing, if this runtime schedules it.
    pub(crate) fn get(&self, id: VigyId) -> Option<Standing> {
        self.standings.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&id).copied()
    }
}
