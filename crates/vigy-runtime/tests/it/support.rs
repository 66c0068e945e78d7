#![allow(dead_code)] // shared by the `it` and `hostile` test binaries, each using a part
use std::time::{Duration, Instant};

use vigy_runtime::{RuntimeHandle, Scope};
use vigy_types::{Labels, TickInterval, Vigy, VigyId};

pub(crate) fn vigy(name: &str, program: &str, every_ms: u64) -> Vigy {
    Vigy::new(name, program, TickInterval::from_millis(every_ms).unwrap()).unwrap()
}

pub(crate) fn labelled(v: Vigy, labels: &str) -> Vigy {
    v.with_labels(labels.parse::<Labels>().unwrap())
}

pub(crate) async fn open(path: &std::path::Path, scope: Scope) -> RuntimeHandle {
    RuntimeHandle::builder().path(path).scope(scope).open().await.unwrap()
}

/// Poll `check` until it holds or `within` passes.
pub(crate) async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < within {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not within {within:?}: {what}");
}

pub(crate) async fn run_count(rt: &RuntimeHandle, id: VigyId) -> usize {
    rt.recent_runs(id, 10_000).await.map(|r| r.len()).unwrap_or(0)
}
