//! The store against a real SQLite file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use serde_json::json;
use vigy_store::{Registered, Store, TickRecord};
use vigy_types::{ActionKind, ActionResult, ReconcileAction, RunResult, TickInterval, Vigy, VigyRun};

vigy_store::on_both_backends!(
    register_should_create_then_update_then_leave_unchanged,
    re_registering_should_keep_an_operators_disable,
    ticks_should_commit_runs_kv_and_state_together,
    retention_should_keep_the_newest_runs_per_vigy,
    delete_should_remove_runs_kv_and_state,
    recent_runs_should_stop_at_the_listing_byte_cap_keeping_the_newest,
    pending_actions_should_wait_in_the_outbox_until_recorded_final_under_the_lease,
    conditions_should_be_replaced_by_the_newest_tick_and_go_with_the_vigy,
    runs_should_page_newest_first_by_the_run_before,
    batch_reads_should_answer_each_vigy_as_its_single_read_does,
);

async fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("nested/dir/vigy.db")).await.unwrap();
    (dir, store)
}

fn vigy(name: &str, program: &str) -> Vigy {
    Vigy::new(name, program, TickInterval::from_millis(500).unwrap()).unwrap()
}

fn tick(v: &Vigy, n: u64, kv: &[(&str, Option<serde_json::Value>)]) -> TickRecord {
    let started_at = now() + Duration::milliseconds(n as i64);
    TickRecord {
        run: VigyRun {
            id: format!("run-{}-{n:04}", v.name),
            vigy_id: v.id,
            tick: n,
            started_at,
            ended_at: started_at,
            result: RunResult::Ok,
            error: None,
            actions: vec![{
                let mut noop = ReconcileAction::emitted(ActionKind::Noop, json!(null));
                noop.settle(ActionResult::Ok, None);
                noop
            }],
            logs: vec![],
            logs_truncated: false,
        },
        kv_changes: kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        reported: Some((json!({"n": n}).as_object().unwrap().clone(), serde_json::Map::new())),
        token: 0,
        requests: Vec::new(),
        conditions: None,
    }
}

/// The runtime these tests write as.
const OWNER: &str = "test-runtime";

/// Write `batch` as [`OWNER`], under a lease of each vigy in it (claimed
/// here unless already held).
async fn write(store: &Store, batch: &[TickRecord], keep: usize) {
    let mut batch = batch.to_vec();
    for tick in &mut batch {
        let held = store.lease(tick.run.vigy_id).await.unwrap().filter(|l| l.live && l.owner == OWNER);
        tick.token = match held {
            Some(lease) => lease.token,
            None => store.claim_one(OWNER, tick.run.vigy_id, StdDuration::from_secs(60)).await.unwrap().unwrap(),
        };
    }
    let fenced = store.write_ticks(&batch, &[], keep, OWNER).await.unwrap();
    assert!(fenced.is_empty(), "ticks under a held lease are never fenced");
}

async fn register_should_create_then_update_then_leave_unchanged(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let v = vigy("hello", "(vigy-noop)");
    assert_eq!(store.register(&v).await.unwrap().0, Registered::Created);
    assert_eq!(store.register(&v).await.unwrap().0, Registered::Unchanged);
    let changed = vigy("hello", "(vigy-pull 1)");
    let (outcome, stored) = store.register(&changed).await.unwrap();
    assert_eq!(outcome, Registered::Updated);
    assert_eq!(stored.created_at.timestamp_millis(), v.created_at.timestamp_millis());
    assert_eq!(store.list().await.unwrap().len(), 1);
    assert_eq!(store.get(v.id).await.unwrap().unwrap().program.source(), "(vigy-pull 1)");
    let kinds: Vec<_> = store.events_after(0).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["registered", "updated"]);
}

async fn re_registering_should_keep_an_operators_disable(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let v = vigy("hello", "(vigy-noop)");
    store.register(&v).await.unwrap();
    store.set_enabled(v.id, false, Utc::now()).await.unwrap().unwrap();
    let (_, stored) = store.register(&vigy("hello", "(vigy-pull 2)")).await.unwrap();
    assert!(!stored.enabled);
    assert!(!store.get(v.id).await.unwrap().unwrap().enabled);
}

async fn ticks_should_commit_runs_kv_and_state_together(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let v = vigy("hello", "(vigy-noop)");
    store.register(&v).await.unwrap();
    let batch = vec![
        tick(&v, 1, &[("a", Some(json!(1))), ("b", Some(json!("x")))]),
        tick(&v, 2, &[("a", Some(json!(2))), ("b", None)]),
    ];
    write(&store, &batch, 100).await;
    let kv = store.kv(v.id).await.unwrap();
    assert_eq!(kv, BTreeMap::from([("a".to_owned(), json!(2))]));
    let runs = store.recent_runs(v.id, 10).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.tick).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(runs[0], batch[1].run);
    let state = store.state(v.id).await.unwrap().unwrap();
    assert_eq!(state.tick_count, 2);
    assert_eq!(state.desired["n"], json!(2));
    assert!(state.pending.is_empty(), "the noop was resolved at commit: nothing pending");
    assert_eq!(state.captured_at, batch[1].run.started_at);
    assert_eq!(store.tick_counts().await.unwrap()[&v.id], 2);
    // A tick without a report keeps the last one.
    let mut quiet = tick(&v, 3, &[]);
    quiet.reported = None;
    write(&store, &[quiet], 100).await;
    let state = store.state(v.id).await.unwrap().unwrap();
    assert_eq!((state.tick_count, state.desired["n"].clone()), (3, json!(2)));
    let followed = store.runs_after(0, 10).await.unwrap();
    assert_eq!(followed.iter().map(|(_, r)| r.tick).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(store.runs_after(followed[1].0, 10).await.unwrap().len(), 1);
    assert_eq!(store.runs_after(followed[2].0, 10).await.unwrap().len(), 0);
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
}

async fn retention_should_keep_the_newest_runs_per_vigy(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let (a, b) = (vigy("a", "(vigy-noop)"), vigy("b", "(vigy-noop)"));
    for v in [&a, &b] {
        store.register(v).await.unwrap();
        let batch: Vec<_> = (1..=30).map(|n| tick(v, n, &[])).collect();
        write(&store, &batch, 100).await;
    }
    assert_eq!(store.trim_runs(a.id, 10).await.unwrap(), 20);
    let kept = store.recent_runs(a.id, 100).await.unwrap();
    assert_eq!(kept.iter().map(|r| r.tick).collect::<Vec<_>>(), (21..=30).rev().collect::<Vec<_>>());
    assert_eq!(store.recent_runs(b.id, 100).await.unwrap().len(), 30);
}

async fn delete_should_remove_runs_kv_and_state(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let v = vigy("hello", "(vigy-noop)");
    store.register(&v).await.unwrap();
    write(&store, &[tick(&v, 1, &[("k", Some(json!(1)))])], 100).await;
    assert!(store.delete(v.id, Utc::now()).await.unwrap());
    assert!(!store.delete(v.id, Utc::now()).await.unwrap());
    assert!(store.get(v.id).await.unwrap().is_none());
    assert!(store.recent_runs(v.id, 10).await.unwrap().is_empty());
    assert!(store.kv(v.id).await.unwrap().is_empty());
    assert!(store.state(v.id).await.unwrap().is_none());
}

#[tokio::test]
async fn the_seeds_operator_queries_should_work_verbatim() {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let (dir, store) = temp_store().await;
    let v = vigy("hello", "(vigy-noop)");
    store.register(&v).await.unwrap();
    write(&store, &[tick(&v, 1, &[])], 100).await;
    let path = dir.path().join("nested/dir/vigy.db");
    let db = Database::connect(format!("sqlite://{}", path.display())).await.unwrap();
    let backend = db.get_database_backend();
    let rows =
        db.query_all_raw(Statement::from_string(backend, "SELECT id, name, enabled FROM vigies;")).await.unwrap();
    assert_eq!(rows[0].try_get::<String>("", "name").unwrap(), "hello");
    assert_eq!(rows[0].try_get::<String>("", "id").unwrap(), v.id.to_string());
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT vigy_id, result, started_at FROM vigy_runs ORDER BY started_at DESC LIMIT 10;",
        ))
        .await
        .unwrap();
    assert_eq!(rows[0].try_get::<String>("", "result").unwrap(), "ok");
    let started: String = rows[0].try_get("", "started_at").unwrap();
    assert!(started.ends_with('Z') && started.len() == 24, "{started}");
}

#[tokio::test]
async fn an_in_memory_store_should_work_like_a_file() {
    let store = Store::open_in_memory().await.unwrap();
    let v = vigy("mem", "(vigy-noop)");
    store.register(&v).await.unwrap();
    write(&store, &[tick(&v, 1, &[("k", Some(json!(true)))])], 100).await;
    assert_eq!(store.kv(v.id).await.unwrap()["k"], json!(true));
    assert_eq!(store.list().await.unwrap().len(), 1);
}

async fn recent_runs_should_stop_at_the_listing_byte_cap_keeping_the_newest(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let v = vigy("big", "(vigy-noop)");
    store.register(&v).await.unwrap();
    // 20 runs of ~1 MiB of logs each: 20 MiB if listed whole.
    let line = vigy_types::LogLine { level: "info".into(), message: "x".repeat(1024 * 1024) };
    let ticks: Vec<_> = (1..=20)
        .map(|n| {
            let mut t = tick(&v, n, &[]);
            t.run.logs = vec![line.clone()];
            t
        })
        .collect();
    write(&store, &ticks, 1_000).await;
    let runs = store.recent_runs(v.id, 1_000).await.unwrap();
    let bytes: usize = runs.iter().map(|r| r.logs[0].message.len()).sum();
    assert!(bytes <= vigy_store::MAX_LISTING_BYTES, "{bytes} bytes listed");
    assert_eq!(runs.len(), vigy_store::MAX_LISTING_BYTES / (1024 * 1024) - 1, "cut at the cap, not before");
    let ticks: Vec<u64> = runs.iter().map(|r| r.tick).collect();
    assert_eq!(ticks, (14..=20).rev().collect::<Vec<_>>(), "the newest, newest first");
    // Small runs are not cut: the count limit still rules them.
    assert_eq!(store.recent_runs(v.id, 3).await.unwrap().len(), 3);
}

#[tokio::test]
async fn the_seeds_operator_queries_should_work_in_psql() {
    let db = vigy_store::testing::TempPostgres::create().await;
    let store = Store::open(std::path::Path::new(&db.url)).await.unwrap();
    let v = vigy("hello", "(vigy-noop)");
    store.register(&v).await.unwrap();
    write(&store, &[tick(&v, 1, &[])], 100).await;
    let psql = |sql: &str| {
        let out = std::process::Command::new("psql").args([&db.url, "-At", "-c", sql]).output().expect("psql runs");
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(psql("SELECT id, name, enabled FROM vigies;").trim(), format!("{}|hello|t", v.id));
    let runs = psql("SELECT vigy_id, result, started_at FROM vigy_runs ORDER BY started_at DESC LIMIT 10;");
    assert!(runs.starts_with(&format!("{}|ok|", v.id)), "{runs}");
}

/// A tick's pending actions get outbox rows in its commit; the next owner
/// finds them with the vigy (`carried`); a result written under the lease
/// updates the run and takes final ones out; one written without it is
/// refused.
async fn pending_actions_should_wait_in_the_outbox_until_recorded_final_under_the_lease(path: PathBuf) {
    let store = Store::open(&path).await.unwrap();
    let v = vigy("acting", "(vigy-push)");
    store.register(&v).await.unwrap();
    let mut t = tick(&v, 1, &[]);
    t.run.actions = vec![
        ReconcileAction::emitted(ActionKind::Push, json!(1)),
        ReconcileAction::emitted(ActionKind::Push, json!(2)),
    ];
    write(&store, std::slice::from_ref(&t), 100).await;
    assert_eq!(store.outbox_depth().await.unwrap(), 2);
    let carried = store.carried(&[v.id]).await.unwrap().remove(&v.id).unwrap();
    assert_eq!(carried.unfinished.len(), 1);
    assert_eq!(carried.unfinished[0].id, t.run.id);
    assert_eq!(carried.newest.as_ref().unwrap().tick, 1);

    let token = store.lease(v.id).await.unwrap().unwrap().token;
    let mut actions = t.run.actions.clone();
    actions[0].settle(ActionResult::Ok, Some("done".into()));
    actions[0].attempts = 1;
    let update = vigy_store::ActionUpdate { vigy_id: v.id, token, run_id: t.run.id.clone(), actions: actions.clone() };
    assert!(store.record_actions(std::slice::from_ref(&update), OWNER).await.unwrap().is_empty());
    assert_eq!(store.outbox_depth().await.unwrap(), 1, "only the final one left the outbox");
    let run = store.run(&t.run.id).await.unwrap().unwrap();
    assert_eq!((run.actions[0].result, run.actions[0].attempts), (ActionResult::Ok, 1));
    assert_eq!(run.actions[1].result, ActionResult::Pending);

    let stale = vigy_store::ActionUpdate { token: token + 1_000, ..update.clone() };
    assert_eq!(store.record_actions(&[stale], OWNER).await.unwrap(), [0], "fenced: not this tenure");
    let elsewhere = store.record_actions(std::slice::from_ref(&update), "another-runtime").await.unwrap();
    assert_eq!(elsewhere, [0], "fenced: not this owner");

    store.delete(v.id, now()).await.unwrap();
    assert_eq!(store.outbox_depth().await.unwrap(), 0, "a deleted vigy's outbox goes with it");
}

async fn conditions_should_be_replaced_by_the_newest_tick_and_go_with_the_vigy(path: PathBuf) {
    use vigy_types::{ConditionStatus, ConditionUpdate, condition::apply_conditions};
    let store = Store::open(&path).await.unwrap();
    let v = vigy("conditioned", "(vigy-noop)");
    store.register(&v).await.unwrap();
    let mut conditions = Vec::new();
    let at = now();
    let ready = ConditionUpdate::new("Ready", ConditionStatus::False, Some("Waiting".into()), None).unwrap();
    let synced = ConditionUpdate::new("Synced", ConditionStatus::True, None, Some("in sync".into())).unwrap();
    apply_conditions(&mut conditions, &[ready, synced], at);
    let (mut first, mut second) = (tick(&v, 1, &[]), tick(&v, 2, &[]));
    first.conditions = Some(conditions.clone());
    conditions.truncate(1);
    second.conditions = Some(conditions.clone());
    write(&store, &[first, second], 100).await;
    assert_eq!(store.conditions(v.id).await.unwrap(), conditions, "the newest set in the batch wins");
    assert_eq!(store.state(v.id).await.unwrap().unwrap().conditions, conditions);
    assert_eq!(store.all_conditions().await.unwrap()[&v.id], conditions);
    let third = tick(&v, 3, &[]);
    write(&store, &[third], 100).await;
    assert_eq!(store.conditions(v.id).await.unwrap(), conditions, "a tick that sets none keeps them");
    store.delete(v.id, now()).await.unwrap();
    assert!(store.all_conditions().await.unwrap().is_empty());
}

async fn runs_should_page_newest_first_by_the_run_before(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let v = vigy("hello", "(vigy-noop)");
    store.register(&v).await.unwrap();
    let batch: Vec<_> = (1..=5).map(|n| tick(&v, n, &[])).collect();
    write(&store, &batch, 100).await;
    let ticks = |page: &vigy_store::RunPage| page.runs.iter().map(|r| r.tick).collect::<Vec<_>>();
    let first = store.runs_page(v.id, None, 2).await.unwrap();
    assert_eq!((ticks(&first), first.more), (vec![5, 4], true));
    let second = store.runs_page(v.id, Some(&first.runs[1].id), 2).await.unwrap();
    assert_eq!((ticks(&second), second.more), (vec![3, 2], true));
    let last = store.runs_page(v.id, Some(&second.runs[1].id), 2).await.unwrap();
    assert_eq!((ticks(&last), last.more), (vec![1], false));
    // A run of another vigy, or one retention trimmed, ends the listing.
    let other = vigy("other", "(vigy-noop)");
    store.register(&other).await.unwrap();
    write(&store, &[tick(&other, 1, &[])], 100).await;
    let foreign = store.runs_page(v.id, Some("run-other-0001"), 2).await.unwrap();
    assert_eq!((ticks(&foreign), foreign.more), (vec![], false));
    store.trim_runs(v.id, 2).await.unwrap();
    let trimmed = store.runs_page(v.id, Some(&second.runs[1].id), 2).await.unwrap();
    assert_eq!((ticks(&trimmed), trimmed.more), (vec![], false));
}

async fn batch_reads_should_answer_each_vigy_as_its_single_read_does(db: PathBuf) {
    let store = Store::open(&db).await.unwrap();
    let vigies: Vec<_> = (0..4).map(|i| vigy(&format!("v{i}"), "(vigy-noop)")).collect();
    for v in &vigies {
        store.register(v).await.unwrap();
    }
    // v0 ticked three times, v1 once, v2 and v3 never.
    let mut batch: Vec<_> = (1..=3).map(|n| tick(&vigies[0], n, &[("n", Some(json!(n)))])).collect();
    batch.push(tick(&vigies[1], 1, &[("k", Some(json!("x")))]));
    write(&store, &batch, 100).await;
    let ids: Vec<_> = vigies.iter().map(|v| v.id).collect();

    let newest = store.newest_runs(&ids, 2).await.unwrap();
    let states = store.states(&ids).await.unwrap();
    let kv = store.kv_stores(&ids).await.unwrap();
    assert_eq!((newest.len(), states.len(), kv.len()), (4, 4, 4));
    for v in &vigies {
        let single = store.runs_page(v.id, None, 2).await.unwrap();
        assert_eq!(newest[&v.id], single, "{}", v.name);
        assert_eq!(states[&v.id], store.state(v.id).await.unwrap(), "{}", v.name);
        assert_eq!(kv[&v.id], store.kv(v.id).await.unwrap(), "{}", v.name);
    }
    assert_eq!(newest[&ids[0]].runs.iter().map(|r| r.tick).collect::<Vec<_>>(), [3, 2]);
    assert!(newest[&ids[0]].more && !newest[&ids[1]].more);
    assert_eq!(states[&ids[0]].as_ref().unwrap().tick_count, 3);
    assert!(states[&ids[2]].is_none(), "never ticked: no state");
    assert_eq!(kv[&ids[1]], BTreeMap::from([("k".to_owned(), json!("x"))]));
    // An empty batch asks nothing.
    assert!(store.newest_runs(&[], 2).await.unwrap().is_empty());
    assert!(store.states(&[]).await.unwrap().is_empty());
    assert!(store.kv_stores(&[]).await.unwrap().is_empty());
}

/// Now at the precision the store keeps.
fn now() -> vigy_types::Timestamp {
    chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3)
}
