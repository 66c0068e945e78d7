//! Several `vigy serve` processes on one SQLite file: each vigy is ticked
//! by exactly one of them, through a `kill -9`, a restart, a `SIGSTOP`
//! and forced ticks from the CLI.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Served, eventually, ok};
use vigy::{RunResult, RuntimeHandle, Scope, TickInterval, Vigy, VigyId, VigyRun};

const COUNTER: &str = r#"(vigy-incr "n") (vigy-noop)"#;
const TTL: Duration = Duration::from_secs(2);
const INTERVAL_MS: u64 = 200;

fn serve(db: &Path) -> Served {
    Served::start(db, &["--lease-ttl", "2s"], &[])
}

/// A runtime in this process that only reads and manages (it ticks nothing).
async fn observer(db: &Path) -> RuntimeHandle {
    RuntimeHandle::builder().path(db).scope(Scope::Nothing).open().await.unwrap()
}

/// Live leases by owner.
async fn owners(rt: &RuntimeHandle) -> HashMap<String, usize> {
    let mut owners = HashMap::new();
    for lease in rt.store().leases().await.unwrap().into_iter().filter(|l| l.live) {
        *owners.entry(lease.owner).or_default() += 1;
    }
    owners
}

fn signal(pid: u32, signal: &str) {
    assert!(Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap().success());
}

/// Every run of `id`, oldest first, after checking what must hold of them:
/// each tick number once, none skipped, no two runs overlapping, the
/// counter equal to the successful runs, and no silence longer than a
/// lease TTL plus an interval (plus a second for a loaded machine).
async fn checked_history(rt: &RuntimeHandle, id: VigyId) -> Vec<VigyRun> {
    let mut runs = rt.store().recent_runs(id, 10_000).await.unwrap();
    runs.sort_by_key(|run| run.tick);
    let ticks: Vec<u64> = runs.iter().map(|run| run.tick).collect();
    assert_eq!(ticks, (1..=runs.len() as u64).collect::<Vec<_>>(), "each tick number once");
    let longest = TTL + Duration::from_millis(INTERVAL_MS) + Duration::from_secs(1);
    for pair in runs.windows(2) {
        assert!(pair[1].started_at >= pair[0].ended_at, "tick {} overlaps the one before", pair[1].tick);
        let gap = (pair[1].started_at - pair[0].ended_at).to_std().unwrap();
        assert!(gap <= longest, "{gap:?} without a tick of {id} before tick {}", pair[1].tick);
    }
    let ok = runs.iter().filter(|run| run.result == RunResult::Ok).count();
    let counter = rt.store().kv(id).await.unwrap().get("n").cloned().unwrap_or(json!(0));
    assert_eq!(counter, json!(ok), "the counter saw every successful run and no other");
    runs
}

fn spread_within(owners: &HashMap<String, usize>, runtimes: usize, vigies: usize, tolerance: f64) -> bool {
    let fair = vigies as f64 / runtimes as f64;
    owners.len() == runtimes
        && owners.values().sum::<usize>() == vigies
        && owners.values().all(|n| (*n as f64 - fair).abs() <= fair * tolerance)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_on_one_sqlite_file_should_tick_each_vigy_once_through_a_kill_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    three_servers_should_tick_each_vigy_once_through_a_kill_and_a_restart(&dir.path().join("shared.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_on_one_postgres_database_should_tick_each_vigy_once_through_a_kill_and_a_restart() {
    let db = vigy_store::testing::TempPostgres::create().await;
    three_servers_should_tick_each_vigy_once_through_a_kill_and_a_restart(Path::new(&db.url)).await;
}

async fn three_servers_should_tick_each_vigy_once_through_a_kill_and_a_restart(db: &Path) {
    const VIGIES: usize = 30;
    let db = db.to_owned();
    let rt = observer(&db).await;
    let mut ids = Vec::new();
    for i in 0..VIGIES {
        let v = Vigy::new(format!("c{i:02}"), COUNTER, TickInterval::from_millis(INTERVAL_MS).unwrap()).unwrap();
        ids.push(rt.register_or_update(v).await.unwrap().id);
    }
    let mut servers: Vec<Served> = (0..3).map(|_| serve(&db)).collect();
    let settled = Instant::now();
    let mut spread = HashMap::new();
    for _ in 0..200 {
        spread = owners(&rt).await;
        if spread_within(&spread, 3, VIGIES, 0.2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(spread_within(&spread, 3, VIGIES, 0.2), "shares within ±20 %: {spread:?}");
    eprintln!("three servers shared the vigies after {:?}: {spread:?}", settled.elapsed());

    // A forced tick from the CLI, while the servers tick.
    let forced: serde_json::Value = serde_json::from_str(&ok(&db, &["--json", "tick", "c00"])).unwrap();

    // kill -9 one server: the others take its vigies over within the TTL.
    drop(servers.remove(0));
    let killed = Instant::now();
    let mut after_kill = HashMap::new();
    for _ in 0..200 {
        after_kill = owners(&rt).await;
        if after_kill.len() == 2 && after_kill.values().sum::<usize>() == VIGIES {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let takeover = killed.elapsed();
    assert!(after_kill.len() == 2 && after_kill.values().sum::<usize>() == VIGIES, "taken over: {after_kill:?}");
    assert!(takeover <= TTL + Duration::from_secs(1), "takeover took {takeover:?}");
    eprintln!("after kill -9 the others held every vigy within {takeover:?}");

    // Restarted, it gets its share back.
    servers.push(serve(&db));
    eventually(Duration::from_secs(10), "shares within ±20 % again", || {
        futures::executor::block_on(async { spread_within(&owners(&rt).await, 3, VIGIES, 0.2) })
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    for server in servers {
        assert!(server.stop().success());
    }

    let mut total = 0;
    for id in &ids {
        total += checked_history(&rt, *id).await.len();
    }
    assert!(total >= VIGIES * 20, "every vigy kept ticking: {total} runs");
    let history = checked_history(&rt, ids[0]).await;
    let forced_id = forced["id"].as_str().unwrap();
    assert_eq!(
        history.iter().filter(|run| run.id == forced_id).count(),
        1,
        "the forced tick is one run of the history"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_past_its_lease_on_sqlite_should_write_nothing_when_it_resumes() {
    let dir = tempfile::tempdir().unwrap();
    a_server_stopped_past_its_lease_should_write_nothing_when_it_resumes(&dir.path().join("paused.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_past_its_lease_on_postgres_should_write_nothing_when_it_resumes() {
    let db = vigy_store::testing::TempPostgres::create().await;
    a_server_stopped_past_its_lease_should_write_nothing_when_it_resumes(Path::new(&db.url)).await;
}

async fn a_server_stopped_past_its_lease_should_write_nothing_when_it_resumes(db: &Path) {
    let db = db.to_owned();
    let rt = observer(&db).await;
    let v = Vigy::new("paused", COUNTER, TickInterval::from_millis(100).unwrap()).unwrap();
    let id = rt.register_or_update(v).await.unwrap().id;
    let first = serve(&db);
    eventually(Duration::from_secs(5), "the first server ticks", || {
        futures::executor::block_on(async { rt.store().recent_runs(id, 10).await.unwrap().len() >= 5 })
    });
    signal(first.pid(), "STOP");
    let second = serve(&db);
    eventually(TTL + Duration::from_secs(3), "the second server took over", || {
        futures::executor::block_on(async {
            rt.store()
                .lease(id)
                .await
                .unwrap()
                .is_some_and(|l| l.live && l.owner_host.is_some_and(|(_, pid)| pid != first.pid()))
        })
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(first.pid(), "CONT");
    // Resumed, the first server still holds ticks it ran before the pause
    // and its stale view of the lease: none of it may reach the store.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(second.stop().success());
    assert!(first.stop().success());
    checked_history(&rt, id).await;
    rt.shutdown().await;
}

#[test]
fn a_postgres_url_should_drive_every_command() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(vigy_store::testing::TempPostgres::create());
    let url = Path::new(&db.url);
    let dir = tempfile::tempdir().unwrap();
    let program = support::write(dir.path(), "count.tatara", COUNTER);
    ok(url, &["register", &program, "--name", "pg-counter", "--every", "500"]);
    assert!(ok(url, &["list"]).contains("pg-counter"));
    let run: serde_json::Value = serde_json::from_str(&ok(url, &["--json", "tick", "pg-counter"])).unwrap();
    assert_eq!(run["tick"], 1);
    let inspected = support::json(url, &["inspect", "pg-counter"]);
    assert_eq!(inspected["kv"]["n"], 1);
    assert_eq!(inspected["runs"].as_array().unwrap().len(), 1);
    ok(url, &["delete", "pg-counter"]);
    assert!(!ok(url, &["list"]).contains("pg-counter"));
    assert!(!Path::new("postgres:").exists(), "no folder named after the URL");
}

#[test]
fn a_malformed_or_unreachable_postgres_url_should_fail_in_one_line() {
    for (url, says) in [
        ("postgres://postgres@127.0.0.1:notaport/x", "not a PostgreSQL URL"),
        (
            "postgres://postgres@127.0.0.1:1/x",
            "postgres://postgres@127.0.0.1:1/x: cannot reach the PostgreSQL server: ",
        ),
    ] {
        let stderr = support::fails(Path::new(url), &["list"]);
        assert!(stderr.contains(says), "{url}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    let hidden = support::fails(Path::new("postgres://postgres:secret@127.0.0.1:1/x"), &["list"]);
    assert!(!hidden.contains("secret") && hidden.contains("***"), "{hidden}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_should_name_the_runtime_ticking_a_vigy_and_until_when() {
    use vigy::VigyService;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("owned.db");
    let rt = observer(&db).await;
    let v = Vigy::new("owned", COUNTER, TickInterval::from_millis(500).unwrap()).unwrap();
    rt.register_or_update(v).await.unwrap();
    let server = serve(&db);
    let client = vigy::clients::RestClient::new(&server.url);
    let pid = format!("(pid {})", server.pid());
    let mut state = None;
    for _ in 0..100 {
        let read = client.get_vigy_state(vigy::api::GetVigyStateRequest { id: "owned".into() }).await.unwrap();
        if read.owner.is_some() {
            state = Some(read);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = state.expect("the server claims the vigy's lease");
    assert!(state.owner.as_deref().unwrap().ends_with(&pid), "{:?}", state.owner);
    let expires = state.lease_expires_at.expect("with its expiry");
    let ahead = (expires - chrono::Utc::now()).to_std().unwrap_or_default();
    assert!(ahead <= TTL + Duration::from_secs(1), "within one TTL of now: {ahead:?}");
    let inspected: serde_json::Value = serde_json::from_str(&ok(&db, &["--json", "inspect", "owned"])).unwrap();
    assert_eq!(inspected["owner"]["pid"], server.pid());
    assert!(server.stop().success());
    let released = lease_released(&rt, "owned").await;
    assert!(released, "a stopped server releases its lease");
    rt.shutdown().await;
}

/// Whether nobody holds a live lease of the vigy `name`.
async fn lease_released(rt: &RuntimeHandle, name: &str) -> bool {
    let id = rt.resolve(name).await.unwrap().id;
    rt.lease(id).await.unwrap().is_none()
}
