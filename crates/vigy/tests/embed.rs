//! The seed's embedding API, through the facade, against a real file.

use std::time::Duration;

use vigy::{ActionKind, RuntimeHandle, TickInterval, Vigy};

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_snippet_should_register_a_vigy_that_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("your-app.db");
    let runtime = RuntimeHandle::open(path.as_ref()).await.unwrap();
    let v = Vigy::new(
        "sync-to-system-tear",
        include_str!("../vigies/sync-to-system-tear.tatara"),
        TickInterval::from_millis(500).unwrap(),
    )
    .unwrap();
    let id = runtime.register_or_update(v).await.unwrap().id;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let runs = runtime.recent_runs(id, 10).await.unwrap();
    // First tick pushes generation 1; the next sees it converged.
    let kinds: Vec<_> = runs.iter().rev().map(|r| r.actions[0].kind.clone()).collect();
    assert!(kinds.len() >= 2, "{kinds:?}");
    assert_eq!(kinds[0], ActionKind::Push);
    assert!(kinds[1..].iter().all(|k| *k == ActionKind::Noop), "{kinds:?}");
    let state = runtime.state(id).await.unwrap();
    assert_eq!(state.desired["generation"], state.observed["generation"]);
    runtime.shutdown().await;
}

/// What an embedder's own test does: a runtime on a manual clock, moved by
/// the test, the due ticks run, then kv and actions asserted. No sleeping.
#[tokio::test(flavor = "multi_thread")]
async fn an_embedders_test_should_drive_the_runtime_on_a_manual_clock() {
    let clock = vigy::ManualClock::starting_at(vigy::parse_timestamp("2026-06-01T00:00:00Z").unwrap());
    let runtime = RuntimeHandle::builder().clock(std::sync::Arc::new(clock.clone())).open().await.unwrap();
    let counter = "(define n (+ 1 (vigy-get \"n\" 0)))\n(vigy-set \"n\" n)\n(vigy-push (hash-map \"n\" n))\n";
    let v = Vigy::new("counter", counter, TickInterval::from_millis(1_000).unwrap()).unwrap();
    let id = runtime.register_or_update(v).await.unwrap().id;
    runtime.run_due().await.unwrap(); // the first tick is due at once
    assert_eq!(runtime.kv(id).await.unwrap()["n"], 1);
    clock.advance(Duration::from_millis(999));
    runtime.run_due().await.unwrap();
    assert_eq!(runtime.kv(id).await.unwrap()["n"], 1, "ticked before its interval");
    clock.advance(Duration::from_millis(1));
    runtime.run_due().await.unwrap();
    assert_eq!(runtime.kv(id).await.unwrap()["n"], 2);
    let newest = runtime.recent_runs(id, 1).await.unwrap().remove(0);
    assert_eq!(newest.started_at, vigy::parse_timestamp("2026-06-01T00:00:01Z").unwrap());
    assert_eq!(newest.actions[0].kind, ActionKind::Push);
    assert_eq!(newest.actions[0].payload["n"], 2);
    // No handler for `push`: recorded as skipped, with the reason.
    assert_eq!(newest.actions[0].result, vigy::ActionResult::Skipped);
    runtime.shutdown().await;
}
