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
