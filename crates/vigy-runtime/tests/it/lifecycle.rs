use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use vigy_runtime::{RuntimeHandle, Scope};
use vigy_types::{LabelSelector, RunResult};

use crate::support::{eventually, labelled, open, run_count, vigy};

// Each on a fresh SQLite file and on a fresh PostgreSQL database.
vigy_store::on_both_backends!(multi_thread;
    a_vigy_should_tick_promptly_then_at_its_interval_and_keep_its_kv,
    disable_enable_and_delete_should_control_ticking,
    a_changed_program_should_apply_from_the_next_tick,
    a_scoped_runtime_should_tick_only_its_own_vigies_but_see_all,
    failing_ticks_should_be_recorded_and_back_off,
);

const COUNTER: &str = r#"(vigy-incr "n") (vigy-desired "n" (vigy-get "n")) (vigy-noop)"#;

async fn a_vigy_should_tick_promptly_then_at_its_interval_and_keep_its_kv(db: PathBuf) {
    let rt = open(&db, Scope::All).await;
    let v = rt.register_or_update(vigy("counter", COUNTER, 100)).await.unwrap();
    let mut runs = rt.subscribe();
    let first = tokio::time::timeout(Duration::from_millis(500), runs.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.tick, 1);
    assert_eq!(first.result, RunResult::Ok);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let n = run_count(&rt, v.id).await;
    // At most the fixed rate allows (no bursts), and clearly repeating.
    assert!((6..=13).contains(&n), "{n} runs in ~1.1 s at 100 ms");
    let kv = rt.kv(v.id).await.unwrap();
    let state = rt.state(v.id).await.unwrap();
    assert_eq!(kv["n"], json!(state.tick_count));
    assert_eq!(state.desired["n"], json!(state.tick_count));
    rt.shutdown().await;

    // Reopened, it resumes where it stopped: kv and tick count carry on.
    let rt = open(&db, Scope::All).await;
    let before = rt.state(v.id).await.unwrap().tick_count;
    eventually(Duration::from_secs(3), "resumes ticking", || async {
        rt.state(v.id).await.unwrap().tick_count > before
    })
    .await;
    let state = rt.state(v.id).await.unwrap();
    assert_eq!(rt.kv(v.id).await.unwrap()["n"], json!(state.tick_count));
    rt.shutdown().await;
}

async fn disable_enable_and_delete_should_control_ticking(db: PathBuf) {
    let rt = RuntimeHandle::builder().path(&db).open().await.unwrap();
    let v = rt.register_or_update(vigy("lc", COUNTER, 100)).await.unwrap();
    eventually(Duration::from_secs(2), "first ticks", || async { run_count(&rt, v.id).await >= 2 }).await;
    rt.disable(v.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let frozen = run_count(&rt, v.id).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(run_count(&rt, v.id).await, frozen, "a disabled vigy ticked");
    // A forced tick still works on a disabled vigy.
    let forced = rt.tick_now(v.id).await.unwrap();
    assert_eq!(forced.result, RunResult::Ok);
    assert_eq!(run_count(&rt, v.id).await, frozen + 1);
    rt.enable(v.id).await.unwrap();
    eventually(Duration::from_secs(2), "ticks again", || async { run_count(&rt, v.id).await > frozen + 2 }).await;
    assert!(rt.metrics().per_vigy().iter().any(|(name, counts)| name == "lc" && counts.ticks > 0));
    rt.delete(v.id).await.unwrap();
    assert!(matches!(rt.get(v.id).await, Err(vigy_runtime::RuntimeError::NotFound(_))));
    tokio::time::sleep(Duration::from_millis(200)).await; // a tick in flight ends
    assert!(rt.metrics().per_vigy().is_empty(), "a deleted vigy's series goes with it");
    assert!(rt.store().kv(v.id).await.unwrap().is_empty());
    assert!(rt.store().recent_runs(v.id, 10).await.unwrap().is_empty());
    assert!(matches!(rt.delete(v.id).await, Err(vigy_runtime::RuntimeError::NotFound(_))));
    rt.shutdown().await;
}

async fn a_changed_program_should_apply_from_the_next_tick(db: PathBuf) {
    let rt = RuntimeHandle::builder().path(&db).open().await.unwrap();
    let v = rt.register_or_update(vigy("change", "(vigy-pull 1)", 100)).await.unwrap();
    eventually(Duration::from_secs(2), "ticks", || async { run_count(&rt, v.id).await >= 1 }).await;
    rt.register_or_update(vigy("change", "(vigy-push 2)", 100)).await.unwrap();
    eventually(Duration::from_secs(2), "new program runs", || async {
        let runs = rt.recent_runs(v.id, 1).await.unwrap();
        runs[0].actions[0].kind == vigy_types::ActionKind::Push
    })
    .await;
    assert_eq!(rt.list(&LabelSelector::everything()).await.unwrap().len(), 1);
    rt.shutdown().await;
}

async fn a_scoped_runtime_should_tick_only_its_own_vigies_but_see_all(db: PathBuf) {
    let rt =
        RuntimeHandle::builder().path(&db).scope(Scope::Selector("host=mado".parse().unwrap())).open().await.unwrap();
    let mine = rt.register_or_update(labelled(vigy("mine", COUNTER, 100), "host=mado")).await.unwrap();
    let theirs = rt.register_or_update(labelled(vigy("theirs", COUNTER, 100), "host=local")).await.unwrap();
    eventually(Duration::from_secs(2), "mine ticks", || async { run_count(&rt, mine.id).await >= 3 }).await;
    assert_eq!(run_count(&rt, theirs.id).await, 0);
    assert_eq!(rt.list(&"host=local".parse().unwrap()).await.unwrap()[0].name.as_str(), "theirs");
    assert_eq!(rt.tick_now(theirs.id).await.unwrap().tick, 1);
    rt.shutdown().await;
}

async fn failing_ticks_should_be_recorded_and_back_off(db: PathBuf) {
    let rt = RuntimeHandle::builder().path(&db).open().await.unwrap();
    let v = rt.register_or_update(vigy("broken", "(vigy-noop) (car 1)", 100)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    let runs = rt.recent_runs(v.id, 100).await.unwrap();
    // Without backoff 17 ticks; with it, ticks at 0, 0.2, 0.6, 1.4 s.
    assert!((3..=5).contains(&runs.len()), "{} runs", runs.len());
    let last = &runs[0];
    assert_eq!(last.result, RunResult::Failed);
    assert!(last.error.as_deref().unwrap().contains("car"), "{:?}", last.error);
    assert_eq!(last.actions[0].result, vigy_types::ActionResult::Skipped);
    let gaps: Vec<i64> = runs.windows(2).map(|w| (w[0].started_at - w[1].started_at).num_milliseconds()).collect();
    assert!(gaps.windows(2).all(|g| g[0] > g[1]), "gaps should grow: {gaps:?}");
    rt.shutdown().await;
}
