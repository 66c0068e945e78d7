//! Runs the scheduler and the writer so that a panic in either is never
//! silent: it is logged with its message, counted, and marks the runtime
//! unhealthy, naming the task (see [`Unhealthy::Stopped`] for why the task
//! is not restarted).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use futures::FutureExt;

use crate::health::{Health, Task};
use crate::metrics::Metrics;

/// Spawn `task` on the async runtime, supervised.
pub(crate) fn spawn(
    task: Task,
    future: impl Future<Output = ()> + Send + 'static,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Unwind safety: after a panic nothing of the task's state is used
        // again; it is dropped with the future.
        if let Err(panic) = AssertUnwindSafe(future).catch_unwind().await {
            let message = panic_text(&*panic);
            metrics.task_panics.fetch_add(1, Relaxed);
            health.stopped(task);
            tracing::error!(task = task.as_str(), panic = %message, "runtime task panicked; the runtime stops ticking");
        }
    })
}

/// What a caught panic said.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".into())
}

/// Test hook: makes a task panic at its next turn (`RuntimeHandle::inject_panic`).
#[derive(Debug, Default)]
pub(crate) struct PanicHook {
    scheduler: std::sync::atomic::AtomicBool,
    writer: std::sync::atomic::AtomicBool,
}

impl PanicHook {
    pub(crate) fn arm(&self, task: Task) {
        self.flag(task).store(true, Relaxed);
    }

    /// Panic if armed for `task`.
    pub(crate) fn check(&self, task: Task) {
        if self.flag(task).swap(false, Relaxed) {
            panic!("panic injected into the {}", task.as_str());
        }
    }

    fn flag(&self, task: Task) -> &std::sync::atomic::AtomicBool {
        match task {
            Task::Scheduler => &self.scheduler,
            Task::Writer => &self.writer,
        }
    }
}
