//! Leases and fencing, on a real SQLite file and a real PostgreSQL database.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use vigy_store::{LeaseRequest, RuntimeInfo, Store, TickRecord};
use vigy_types::{RunResult, TickInterval, Vigy, VigyId, VigyRun};

vigy_store::on_both_backends!(
    a_tick_whose_lease_was_taken_over_should_write_nothing,
    a_fenced_tick_should_not_keep_the_rest_of_its_batch_out,
    a_vigy_deleted_and_registered_again_should_fence_ticks_of_its_first_life,
    rounds_should_split_vigies_fairly_and_then_stay_put,
    a_runtime_that_leaves_should_free_its_vigies_at_once,
    a_runtime_killed_hard_should_have_its_vigies_taken_over_once_they_lapse,
    a_forced_tick_request_should_be_answered_in_the_runs_transaction,
    a_request_claimed_by_a_runtime_that_lost_the_lease_should_be_taken_by_the_caller,
);

fn runtime(id: &str) -> RuntimeInfo {
    RuntimeInfo { id: id.into(), host: "test".into(), pid: 1, scope: "all".into(), started_at: now() }
}

async fn registered(store: &Store, n: usize) -> Vec<VigyId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let v = Vigy::new(format!("v{i:03}"), "(vigy-noop)", TickInterval::from_millis(500).unwrap()).unwrap();
        store.register(&v).await.unwrap();
        ids.push(v.id);
    }
    ids
}

fn tick(id: VigyId, n: u64, token: u64) -> TickRecord {
    let at = now();
    TickRecord {
        run: VigyRun {
            id: format!("run-{id}-{n}"),
            vigy_id: id,
            tick: n,
            started_at: at,
            ended_at: at,
            result: RunResult::Ok,
            error: None,
            actions: vec![],
            logs: vec![],
            logs_truncated: false,
        },
        kv_changes: [("n".to_string(), Some(json!(n)))].into(),
        reported: None,
        token,
        requests: Vec::new(),
        conditions: None,
    }
}

async fn round(store: &Store, me: &RuntimeInfo, ttl: Duration, candidates: &[VigyId]) -> vigy_store::LeaseRound {
    let untouched = HashSet::new();
    store.lease_round(&LeaseRequest { me, ttl, candidates, untouched: &untouched }).await.unwrap()
}

async fn a_tick_whose_lease_was_taken_over_should_write_nothing(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let id = registered(&store, 1).await[0];
    let old = store.claim_one("a", id, Duration::from_millis(200)).await.unwrap().expect("free");
    assert!(store.claim_one("b", id, Duration::from_secs(60)).await.unwrap().is_none(), "a holds it");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let new = store.claim_one("b", id, Duration::from_secs(60)).await.unwrap().expect("a's lease lapsed");
    assert!(new > old, "every tenure draws a larger token");

    let fenced = store.write_ticks(&[tick(id, 1, old)], &[], 100, "a").await.unwrap();
    assert_eq!(fenced, [0], "a's tick is refused");
    assert!(store.recent_runs(id, 10).await.unwrap().is_empty());
    assert!(store.kv(id).await.unwrap().is_empty(), "nothing of a fenced tick is written");

    // b's own tick goes in, and a stale token of b's is refused too.
    assert!(store.write_ticks(&[tick(id, 1, new)], &[], 100, "b").await.unwrap().is_empty());
    assert_eq!(store.write_ticks(&[tick(id, 2, old)], &[], 100, "b").await.unwrap(), [0]);
    assert_eq!(store.kv(id).await.unwrap()["n"], json!(1));
}

async fn a_fenced_tick_should_not_keep_the_rest_of_its_batch_out(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let ids = registered(&store, 2).await;
    let held = store.claim_one("a", ids[0], Duration::from_secs(60)).await.unwrap().unwrap();
    let fenced = store.write_ticks(&[tick(ids[0], 1, held), tick(ids[1], 1, held)], &[], 100, "a").await.unwrap();
    assert_eq!(fenced, [1], "a never held the second vigy");
    assert_eq!(store.recent_runs(ids[0], 10).await.unwrap().len(), 1);
    assert!(store.recent_runs(ids[1], 10).await.unwrap().is_empty());
}

async fn a_vigy_deleted_and_registered_again_should_fence_ticks_of_its_first_life(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let id = registered(&store, 1).await[0];
    let first = store.claim_one("a", id, Duration::from_secs(60)).await.unwrap().unwrap();
    assert!(store.delete(id, now()).await.unwrap());
    registered(&store, 1).await;
    let second =
        store.claim_one("a", id, Duration::from_secs(60)).await.unwrap().expect("the lease went with the vigy");
    assert_ne!(first, second);
    assert_eq!(store.write_ticks(&[tick(id, 7, first)], &[], 100, "a").await.unwrap(), [0]);
    assert!(store.kv(id).await.unwrap().is_empty(), "the new vigy starts empty");
}

async fn rounds_should_split_vigies_fairly_and_then_stay_put(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let ids = registered(&store, 30).await;
    let ttl = Duration::from_secs(60);
    let (a, b, c) = (runtime("a"), runtime("b"), runtime("c"));

    assert_eq!(round(&store, &a, ttl, &ids).await.held.len(), 30, "alone, a takes everything");
    let joined = round(&store, &b, ttl, &ids).await;
    assert_eq!((joined.peers, joined.held.len()), (2, 0), "b finds everything held");
    let shed = round(&store, &a, ttl, &ids).await;
    assert_eq!((shed.held.len(), shed.released.len()), (15, 15), "a gives up what is above its share");
    assert_eq!(round(&store, &b, ttl, &ids).await.held.len(), 15);
    round(&store, &c, ttl, &ids).await;
    for me in [&a, &b, &c, &a, &b, &c] {
        round(&store, me, ttl, &ids).await;
    }
    let leases = store.leases().await.unwrap();
    let count = |owner: &str| leases.iter().filter(|l| l.live && l.owner == owner).count();
    assert_eq!((count("a"), count("b"), count("c")), (10, 10, 10));
    // Settled: another pass moves nothing.
    let tokens: Vec<u64> = leases.iter().map(|l| l.token).collect();
    for me in [&a, &b, &c] {
        let settled = round(&store, me, ttl, &ids).await;
        assert!(settled.claimed.is_empty() && settled.released.is_empty());
    }
    let again: Vec<u64> = store.leases().await.unwrap().iter().map(|l| l.token).collect();
    assert_eq!(tokens, again, "no lease changed hands");
}

async fn a_runtime_that_leaves_should_free_its_vigies_at_once(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let ids = registered(&store, 4).await;
    let ttl = Duration::from_secs(60);
    let (a, b) = (runtime("a"), runtime("b"));
    round(&store, &a, ttl, &ids).await;
    store.leave(&a).await.unwrap();
    let took = round(&store, &b, ttl, &ids).await;
    assert_eq!(took.held.len(), 4);
    assert!(took.claimed.iter().all(|(_, previous)| previous.is_none()), "released, not taken over");
}

async fn a_runtime_killed_hard_should_have_its_vigies_taken_over_once_they_lapse(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let ids = registered(&store, 4).await;
    let (a, b) = (runtime("a"), runtime("b"));
    round(&store, &a, Duration::from_millis(300), &ids).await;
    assert!(round(&store, &b, Duration::from_secs(60), &ids).await.held.is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let took = round(&store, &b, Duration::from_secs(60), &ids).await;
    assert_eq!(took.held.len(), 4);
    assert!(took.claimed.iter().all(|(_, previous)| previous.as_deref() == Some("a")), "taken over from a");
}

async fn a_forced_tick_request_should_be_answered_in_the_runs_transaction(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let id = registered(&store, 1).await[0];
    let owner = runtime("owner");
    let token = round(&store, &owner, Duration::from_secs(60), &[id]).await.held[&id];
    let request = store.request_tick(id).await.unwrap();
    assert!(store.open_tick_requests().await.unwrap());
    assert!(store.claim_tick_requests("someone-else").await.unwrap().is_empty(), "only the owner takes it");
    let taken = store.claim_tick_requests("owner").await.unwrap();
    assert_eq!(taken.len(), 1);
    assert!(!store.take_tick_request("caller", &request).await.unwrap(), "the live owner has it");
    let mut record = tick(id, 1, token);
    record.requests = vec![request.clone()];
    store.write_ticks(&[record], &[], 100, "owner").await.unwrap();
    let answered = store.tick_request(&request).await.unwrap().unwrap();
    assert_eq!(answered.run_id.as_deref(), Some(format!("run-{id}-1").as_str()));
}

async fn a_request_claimed_by_a_runtime_that_lost_the_lease_should_be_taken_by_the_caller(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let id = registered(&store, 1).await[0];
    round(&store, &runtime("owner"), Duration::from_millis(200), &[id]).await;
    let request = store.request_tick(id).await.unwrap();
    assert_eq!(store.claim_tick_requests("owner").await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(store.take_tick_request("caller", &request).await.unwrap(), "its owner can no longer commit it");
}

/// Now at the precision the store keeps.
fn now() -> vigy_types::Timestamp {
    chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3)
}
