//! Real SQLite failures under a ticking runtime: the write lock held by
//! another connection past the busy timeout, and a full database. However
//! long they last, every tick the scheduler ran is committed once they
//! clear, memory and database agree, and the failure shows meanwhile.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use serde_json::json;
use vigy_runtime::{RuntimeHandle, Scope, Task, Unhealthy};
use vigy_store::faults::WriteLock;
use vigy_types::{RunResult, VigyId};

use crate::support::{eventually, run_count, vigy};

const COUNTER: &str = r#"(vigy-incr "n") (vigy-desired "n" (vigy-get "n")) (vigy-noop)"#;

async fn ticking(path: &std::path::Path) -> (RuntimeHandle, Vec<VigyId>) {
    let rt = RuntimeHandle::builder()
        .path(path)
        .busy_timeout(Duration::from_millis(200))
        .keep_runs(100_000)
        .open()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(rt.register_or_update(vigy(name, COUNTER, 100)).await.unwrap().id);
    }
    for id in &ids {
        eventually(Duration::from_secs(3), "first commits", || async { run_count(&rt, *id).await >= 2 }).await;
    }
    (rt, ids)
}

/// While the store refuses commits: it says so, nothing new is committed,
/// ticks still run and wait in the write queue.
async fn assert_commits_held(rt: &RuntimeHandle, ids: &[VigyId]) -> Vec<usize> {
    eventually(Duration::from_secs(5), "commits reported failing", || async {
        matches!(rt.health(), Err(Unhealthy::CommitsFailing { .. }))
    })
    .await;
    let frozen: Vec<usize> = futures::future::join_all(ids.iter().map(|id| run_count(rt, *id))).await;
    let ticked = rt.metrics().ticks.load(Relaxed);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let now: Vec<usize> = futures::future::join_all(ids.iter().map(|id| run_count(rt, *id))).await;
    assert_eq!(now, frozen, "nothing commits while the store fails");
    assert!(rt.metrics().ticks.load(Relaxed) > ticked, "ticks go on, into the write queue");
    assert!(rt.metrics().write_queue_depth.load(Relaxed) > 0);
    assert!(rt.metrics().commit_failures.load(Relaxed) > 0);
    let reason = rt.health().unwrap_err().to_string();
    assert!(reason.starts_with("store: commits failing since 20"), "{reason}");
    frozen
}

/// Once the store takes commits again: every tick the scheduler ran is
/// committed, in order, with the kv it computed, and the tick count in
/// memory goes on from the stored one, in this runtime and a reopened one.
async fn assert_nothing_lost(rt: RuntimeHandle, ids: &[VigyId], frozen: &[usize], path: &std::path::Path) {
    eventually(Duration::from_secs(10), "healthy again", || async { rt.health().is_ok() }).await;
    for (id, frozen) in ids.iter().zip(frozen) {
        eventually(Duration::from_secs(5), "commits resume", || async { run_count(&rt, *id).await > *frozen }).await;
    }
    rt.shutdown().await;
    let m = rt.metrics();
    assert_eq!(m.runs_lost.load(Relaxed), 0);
    assert_eq!(m.ticks.load(Relaxed), m.runs_written.load(Relaxed), "every tick run was committed");
    assert_eq!(m.write_queue_depth.load(Relaxed), 0);
    let store = rt.store();
    for id in ids {
        let runs = store.recent_runs(*id, 100_000).await.unwrap();
        let n = runs.len() as u64;
        let ticks: Vec<u64> = runs.iter().map(|r| r.tick).collect();
        assert_eq!(ticks, (1..=n).rev().collect::<Vec<_>>(), "no tick missing or repeated");
        assert!(runs.iter().all(|r| r.result == RunResult::Ok));
        assert_eq!(store.kv(*id).await.unwrap()["n"], json!(n), "kv counts the committed runs");
        assert_eq!(store.state(*id).await.unwrap().unwrap().desired["n"], json!(n));
    }
    // Reopened ticking nothing on its own, so only the forced tick moves it.
    let reopened = RuntimeHandle::builder().path(path).scope(Scope::Nothing).open().await.unwrap();
    let before = reopened.store().tick_count(ids[0]).await.unwrap();
    let next = reopened.tick_now(ids[0]).await.unwrap();
    assert_eq!(next.tick, before + 1);
    assert_eq!(reopened.kv(ids[0]).await.unwrap()["n"], json!(next.tick));
    reopened.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn writer_should_retry_a_batch_while_another_connection_holds_the_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let (rt, ids) = ticking(&path).await;
    let lock = WriteLock::take(&path).await.unwrap();
    let frozen = assert_commits_held(&rt, &ids).await;
    // A forced tick waits for its commit rather than failing or vanishing.
    let forced = tokio::spawn({
        let rt = rt.clone();
        let id = ids[0];
        async move { rt.tick_now(id).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!forced.is_finished(), "a forced tick answered before it was committed");
    lock.release().await.unwrap();
    let forced = tokio::time::timeout(Duration::from_secs(10), forced).await.unwrap().unwrap().unwrap();
    assert!(rt.store().kv(ids[0]).await.unwrap()["n"].as_u64().unwrap() >= forced.tick);
    assert_nothing_lost(rt, &ids, &frozen, &path).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn writer_should_retry_a_batch_while_the_database_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    let (rt, ids) = ticking(&path).await;
    rt.store().simulate_full_disk(true).await.unwrap();
    let frozen = assert_commits_held(&rt, &ids).await;
    rt.store().simulate_full_disk(false).await.unwrap();
    assert_nothing_lost(rt, &ids, &frozen, &path).await;
}

/// Ticks evaluated, against ticks committed plus ticks counted lost.
fn accounted(rt: &RuntimeHandle) -> (u64, u64) {
    let m = rt.metrics();
    (m.ticks.load(Relaxed), m.runs_written.load(Relaxed) + m.runs_lost.load(Relaxed))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_in_the_scheduler_should_stop_the_runtime_and_say_so() {
    let rt = RuntimeHandle::open_in_memory().await.unwrap();
    let id = rt.register_or_update(vigy("victim", COUNTER, 100)).await.unwrap().id;
    eventually(Duration::from_secs(3), "ticks", || async { run_count(&rt, id).await >= 2 }).await;
    rt.inject_panic(Task::Scheduler);
    eventually(Duration::from_secs(3), "reported", || async {
        rt.health() == Err(Unhealthy::Stopped(Task::Scheduler))
    })
    .await;
    assert_eq!(rt.health().unwrap_err().to_string(), "scheduler: stopped after a panic; restart the process");
    assert_eq!(rt.metrics().task_panics.load(Relaxed), 1);
    // It refuses work instead of taking it silently.
    let refused = rt.tick_now(id).await.unwrap_err();
    assert!(refused.to_string().contains("scheduler: stopped after a panic"), "{refused}");
    // Ticks stopped; what was committed agrees with itself.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let n = run_count(&rt, id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(run_count(&rt, id).await, n, "still ticking after the scheduler stopped");
    assert_eq!(rt.kv(id).await.unwrap()["n"], json!(n));
    rt.shutdown().await;
    let (ticked, accounted) = accounted(&rt);
    assert_eq!(ticked, accounted, "every tick committed or counted lost");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_in_the_writer_should_stop_ticking_count_the_lost_batch_and_say_so() {
    let rt = RuntimeHandle::open_in_memory().await.unwrap();
    let id = rt.register_or_update(vigy("victim", COUNTER, 100)).await.unwrap().id;
    eventually(Duration::from_secs(3), "ticks", || async { run_count(&rt, id).await >= 2 }).await;
    rt.inject_panic(Task::Writer);
    eventually(Duration::from_secs(3), "reported", || async { rt.health() == Err(Unhealthy::Stopped(Task::Writer)) })
        .await;
    assert_eq!(rt.metrics().task_panics.load(Relaxed), 1);
    let refused = rt.tick_now(id).await.unwrap_err();
    assert!(refused.to_string().contains("writer stopped"), "{refused}");
    let n = run_count(&rt, id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(run_count(&rt, id).await, n, "still committing after the writer stopped");
    assert_eq!(rt.kv(id).await.unwrap()["n"], json!(n));
    rt.shutdown().await;
    let (ticked, accounted) = accounted(&rt);
    assert_eq!(ticked, accounted, "every tick committed or counted lost");
    assert!(rt.metrics().runs_lost.load(Relaxed) >= 2, "the batch the writer dropped, and the forced tick");
}

/// A vigy this runtime does not schedule is read from the store at each
/// forced tick; while its last tick is still uncommitted the store is
/// behind, and the next forced tick must carry on from memory instead.
#[tokio::test(flavor = "multi_thread")]
async fn forced_ticks_while_commits_fail_should_each_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forced.db");
    // A forced tick needs the vigy's lease, and claiming one is a write:
    // so the vigy is leased here (it ticks once on registration, then
    // hourly), and its forced ticks run under that lease while commits fail.
    let rt = RuntimeHandle::builder().path(&path).busy_timeout(Duration::from_millis(200)).open().await.unwrap();
    let id = rt.register_or_update(vigy("manual", COUNTER, 3_600_000)).await.unwrap().id;
    eventually(Duration::from_secs(5), "the first tick committed", || async {
        rt.metrics().runs_written.load(Relaxed) == 1
    })
    .await;
    let lock = WriteLock::take(&path).await.unwrap();
    let mut forced = Vec::new();
    for n in 2..=3u64 {
        let rt2 = rt.clone();
        forced.push(tokio::spawn(async move { rt2.tick_now(id).await }));
        eventually(Duration::from_secs(5), "the tick ran", || async { rt.metrics().ticks.load(Relaxed) == n }).await;
    }
    lock.release().await.unwrap();
    let mut ticks = Vec::new();
    for handle in forced {
        ticks.push(tokio::time::timeout(Duration::from_secs(10), handle).await.unwrap().unwrap().unwrap().tick);
    }
    assert_eq!(ticks, [2, 3], "the second forced tick must follow the first, not repeat it");
    assert_eq!(rt.kv(id).await.unwrap()["n"], json!(3));
    rt.shutdown().await;
}
