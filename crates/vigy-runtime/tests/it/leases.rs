//! Several runtimes on one SQLite file: each vigy is ticked by exactly one,
//! nothing is lost, and vigies move when a runtime stops.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use serde_json::json;
use vigy_runtime::{RuntimeHandle, Scope};
use vigy_types::{RunResult, VigyId, VigyRun};

use crate::support::{eventually, vigy};

// Each test on a fresh SQLite file and on a fresh PostgreSQL database.
vigy_store::on_both_backends!(
    two_runtimes_on_one_file_should_tick_each_vigy_once_and_lose_no_update,
    a_clean_stop_should_hand_every_vigy_over_within_about_a_second,
    a_forced_tick_from_another_runtime_should_run_at_the_owner_exactly_once,
    a_forced_tick_nobody_holds_should_run_under_a_lease_of_its_own,
    a_vigy_deleted_and_registered_again_elsewhere_should_start_from_nothing,
    ownership_should_show_which_runtime_holds_each_vigy,
);

const COUNTER: &str = r#"(vigy-incr "n") (vigy-noop)"#;

async fn runtime(path: &Path, scope: Scope) -> RuntimeHandle {
    RuntimeHandle::builder().path(path).scope(scope).lease_ttl(Duration::from_secs(2)).open().await.unwrap()
}

/// Every committed run of `id`, oldest first.
async fn runs(rt: &RuntimeHandle, id: VigyId) -> Vec<VigyRun> {
    let mut runs = rt.store().recent_runs(id, 10_000).await.unwrap();
    runs.sort_by_key(|run| run.tick);
    runs
}

/// The guarantees of one vigy's history: tick numbers 1..=n with no
/// repeat, runs that never overlap, and a counter that saw every run.
async fn assert_history(rt: &RuntimeHandle, id: VigyId) -> usize {
    let runs = runs(rt, id).await;
    let ticks: Vec<u64> = runs.iter().map(|run| run.tick).collect();
    assert_eq!(ticks, (1..=runs.len() as u64).collect::<Vec<_>>(), "each tick number once, none skipped");
    for pair in runs.windows(2) {
        assert!(pair[1].started_at >= pair[0].ended_at, "tick {} overlaps tick {}", pair[1].tick, pair[0].tick);
    }
    let ok = runs.iter().filter(|run| run.result == RunResult::Ok).count();
    let counted = rt.store().kv(id).await.unwrap().get("n").cloned().unwrap_or(json!(0));
    assert_eq!(counted, json!(ok), "the counter equals the successful runs: no lost update");
    runs.len()
}

async fn two_runtimes_on_one_file_should_tick_each_vigy_once_and_lose_no_update(path: PathBuf) {
    let a = runtime(&path, Scope::All).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(a.register_or_update(vigy(&format!("v{i:02}"), COUNTER, 200)).await.unwrap().id);
    }
    let b = runtime(&path, Scope::All).await;
    eventually(Duration::from_secs(6), "both runtimes hold a fair share", || async {
        let (held_a, held_b) = (a.metrics().leases_held.load(Relaxed), b.metrics().leases_held.load(Relaxed));
        held_a + held_b == 20 && (8..=12).contains(&held_a)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.shutdown().await;
    b.shutdown().await;

    let reader = RuntimeHandle::builder().path(&path).scope(Scope::Nothing).open().await.unwrap();
    let mut total = 0;
    for id in &ids {
        total += assert_history(&reader, *id).await;
    }
    assert!(total >= 20 * 10, "every vigy kept ticking: {total} runs");
    reader.shutdown().await;
}

async fn a_clean_stop_should_hand_every_vigy_over_within_about_a_second(path: PathBuf) {
    let a = runtime(&path, Scope::All).await;
    let ids: Vec<VigyId> = {
        let mut ids = Vec::new();
        for i in 0..10 {
            ids.push(a.register_or_update(vigy(&format!("h{i}"), COUNTER, 200)).await.unwrap().id);
        }
        ids
    };
    eventually(Duration::from_secs(3), "a holds all", || async { a.metrics().leases_held.load(Relaxed) == 10 }).await;
    let b = runtime(&path, Scope::All).await;
    eventually(Duration::from_secs(6), "b has its share", || async { b.metrics().leases_held.load(Relaxed) == 5 })
        .await;
    let stopped = std::time::Instant::now();
    a.shutdown().await;
    eventually(Duration::from_millis(1500), "b holds everything", || async {
        b.metrics().leases_held.load(Relaxed) == 10
    })
    .await;
    eprintln!("handover took {:?}", stopped.elapsed());
    assert_eq!(b.metrics().leases_taken_over.load(Relaxed), 0, "released, not taken over");
    tokio::time::sleep(Duration::from_millis(600)).await;
    b.shutdown().await;
    for id in ids {
        assert_history(&b, id).await;
    }
}

async fn a_forced_tick_from_another_runtime_should_run_at_the_owner_exactly_once(path: PathBuf) {
    let owner = runtime(&path, Scope::All).await;
    let id = owner.register_or_update(vigy("forced", COUNTER, 3_600_000)).await.unwrap().id;
    eventually(Duration::from_secs(3), "its first tick", || async { owner.metrics().runs_written.load(Relaxed) == 1 })
        .await;
    let manager = runtime(&path, Scope::Nothing).await;
    let run = manager.tick_now(id).await.unwrap();
    assert_eq!(run.tick, 2);
    assert_eq!(owner.metrics().ticks.load(Relaxed), 2, "the owner ran it");
    assert_eq!(manager.metrics().ticks.load(Relaxed), 0, "the caller did not");
    assert_eq!(owner.kv(id).await.unwrap()["n"], json!(2));
    // Several at once from both sides: each one run, one after another.
    let mut calls = Vec::new();
    for rt in [&owner, &manager, &owner, &manager] {
        let rt = rt.clone();
        calls.push(tokio::spawn(async move { rt.tick_now(id).await.unwrap().tick }));
    }
    let mut ticks: Vec<u64> = Vec::new();
    for call in calls {
        ticks.push(call.await.unwrap());
    }
    ticks.sort_unstable();
    ticks.dedup();
    let last = *ticks.last().unwrap();
    assert!(last <= 6, "no more runs than forced ticks: {ticks:?}");
    owner.shutdown().await;
    manager.shutdown().await;
    assert_eq!(assert_history(&manager, id).await as u64, last);
}

async fn a_forced_tick_nobody_holds_should_run_under_a_lease_of_its_own(path: PathBuf) {
    let manager = runtime(&path, Scope::Nothing).await;
    let id = manager.register_or_update(vigy("manual", COUNTER, 200)).await.unwrap().id;
    let mut calls = Vec::new();
    for _ in 0..3 {
        let rt = manager.clone();
        calls.push(tokio::spawn(async move { rt.tick_now(id).await.unwrap().tick }));
    }
    let mut ticks = Vec::new();
    for call in calls {
        ticks.push(call.await.unwrap());
    }
    ticks.sort_unstable();
    assert_eq!(ticks, [1, 2, 3], "one after another, none fenced");
    assert!(manager.store().lease(id).await.unwrap().is_none(), "the lease is given back");
    manager.shutdown().await;
    assert_history(&manager, id).await;
}

async fn a_vigy_deleted_and_registered_again_elsewhere_should_start_from_nothing(path: PathBuf) {
    let owner = runtime(&path, Scope::All).await;
    let id = owner.register_or_update(vigy("phoenix", COUNTER, 100)).await.unwrap().id;
    eventually(Duration::from_secs(3), "it ticks", || async { owner.store().kv(id).await.unwrap().len() == 1 }).await;
    let other = runtime(&path, Scope::Nothing).await;
    other.delete(id).await.unwrap();
    other.register_or_update(vigy("phoenix", COUNTER, 100)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    owner.shutdown().await;
    other.shutdown().await;
    // The new vigy's history starts at tick 1 and its counter at 0: nothing
    // of the first life's ticks was written onto it.
    assert!(assert_history(&other, id).await >= 3);
}

async fn ownership_should_show_which_runtime_holds_each_vigy(path: PathBuf) {
    let a = runtime(&path, Scope::All).await;
    let id = a.register_or_update(vigy("seen", COUNTER, 200)).await.unwrap().id;
    eventually(Duration::from_secs(3), "leased", || async { a.metrics().leases_held.load(Relaxed) == 1 }).await;
    let lease = a.store().lease(id).await.unwrap().unwrap();
    assert_eq!(lease.owner, a.runtime_id());
    assert!(lease.live);
    assert_eq!(lease.owner_host.map(|(_, pid)| pid), Some(std::process::id()));
    let by_owner: HashMap<String, usize> =
        a.store().leases().await.unwrap().into_iter().fold(HashMap::new(), |mut m, l| {
            *m.entry(l.owner).or_default() += 1;
            m
        });
    assert_eq!(by_owner.get(a.runtime_id()), Some(&1));
    a.shutdown().await;
    assert!(a.store().lease(id).await.unwrap().is_none(), "released at shutdown");
}

/// A drain that outlasts the lease TTL must still record its last ticks:
/// a closing runtime keeps renewing until it has committed and left.
#[tokio::test(flavor = "multi_thread")]
async fn a_drain_longer_than_the_lease_should_still_record_the_last_tick() {
    const SPIN: &str = "(define (spin n) (if (= n 0) 0 (spin (- n 1)))) (spin 1000000000)";
    let dir = tempfile::tempdir().unwrap();
    let rt = RuntimeHandle::builder()
        .path(dir.path().join("drain.db"))
        .lease_ttl(Duration::from_millis(300))
        .open()
        .await
        .unwrap();
    let id = rt.register_or_update(vigy("spinner", SPIN, 3_600_000)).await.unwrap().id;
    eventually(Duration::from_secs(10), "its first tick", || async { rt.metrics().runs_written.load(Relaxed) == 1 })
        .await;
    let forced = {
        let rt = rt.clone();
        tokio::spawn(async move { rt.tick_now(id).await })
    };
    // Well inside the forced tick, which spins until its budget ends it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    rt.shutdown().await;
    let drained = started.elapsed();
    assert!(drained > Duration::from_millis(300), "the tick outlasted the TTL while draining ({drained:?})");
    let run = forced.await.unwrap().expect("recorded, not fenced");
    assert_eq!(run.tick, 2);
    assert_eq!(rt.metrics().runs_fenced.load(Relaxed), 0);
}
