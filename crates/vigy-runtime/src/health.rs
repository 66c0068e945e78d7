//! What keeps the runtime from doing its job right now, for readiness
//! probes: commits failing, or a task stopped by a panic. Reasons are
//! typed and worded for clients; the errors behind them stay in the log.

use std::sync::Mutex;

use vigy_types::Timestamp;

/// A runtime task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Dispatches ticks and keeps each vigy's kv and tick count.
    Scheduler,
    /// Commits finished ticks.
    Writer,
}

impl Task {
    /// Its name, as logs and probes say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduler => "scheduler",
            Self::Writer => "writer",
        }
    }
}

/// Why the runtime is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unhealthy {
    /// `task` panicked and stopped. The runtime does not restart it: the
    /// state it held in memory cannot be trusted to agree with the store,
    /// so the runtime stops ticking and refuses work until the process is
    /// restarted, which reloads everything from the store.
    Stopped(Task),
    /// Every commit since `since` failed; finished ticks wait in the write
    /// queue and are retried, and new ticks are held back once it is full.
    CommitsFailing {
        /// When the first failing commit was tried.
        since: Timestamp,
    },
}

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stopped(task) => write!(f, "{}: stopped after a panic; restart the process", task.as_str()),
            Self::CommitsFailing { since } => {
                write!(f, "store: commits failing since {}", vigy_types::format_timestamp(since))
            }
        }
    }
}

/// Shared by the tasks that report and the handle that reads.
#[derive(Debug, Default)]
pub(crate) struct Health {
    stopped: Mutex<Option<Task>>,
    failing_since: Mutex<Option<Timestamp>>,
}

impl Health {
    pub(crate) fn stopped(&self, task: Task) {
        lock(&self.stopped).get_or_insert(task);
    }

    /// A commit failed; returns since when commits have been failing.
    pub(crate) fn commit_failed(&self) -> Timestamp {
        *lock(&self.failing_since).get_or_insert_with(chrono::Utc::now)
    }

    /// A commit succeeded; returns since when commits had been failing.
    pub(crate) fn commit_succeeded(&self) -> Option<Timestamp> {
        lock(&self.failing_since).take()
    }

    /// The most serious problem now, if any.
    pub(crate) fn check(&self) -> Result<(), Unhealthy> {
        if let Some(task) = *lock(&self.stopped) {
            return Err(Unhealthy::Stopped(task));
        }
        match *lock(&self.failing_since) {
            Some(since) => Err(Unhealthy::CommitsFailing { since }),
            None => Ok(()),
        }
    }
}

// Nothing panics while holding these locks, so a poisoned one is sound.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
