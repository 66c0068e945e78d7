//! The lease parts of the runtime benchmark (included by `runtime.rs`):
//!   (d) aggregate persisted ticks/s with 1, 2 and 4 runtimes sharing one
//!       SQLite file and one PostgreSQL database, against the offered rate,
//!       with each runtime's lease rounds per second;
//!   (e) takeover after `kill -9`: a second process holding half the
//!       vigies is killed; how long until the survivor holds them all, as a
//!       share of the lease TTL (p50 and max over 5 trials).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use super::*;

/// Statements in one lease round: the clock, heartbeat, renewal, the lease
/// table, the peer count, the tokens held, and (when claiming) the fence
/// counter bump and read and the claim. Counted from `vigy-store`'s
/// `lease_round`; commit not counted.
const STATEMENTS_PER_ROUND: (u32, u32) = (6, 9);
const CHILD_ENV: &str = "VIGY_BENCH_CHILD";
const TAKEOVER_TTL: Duration = Duration::from_secs(5);

/// In a child started by (e): one runtime on the database named, until killed.
pub(crate) fn run_if_child() {
    let Ok(db) = std::env::var(CHILD_ENV) else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let _runtime = builder().path(&db).lease_ttl(TAKEOVER_TTL).open().await.unwrap();
        std::future::pending::<()>().await
    });
}

async fn register(db: &Path, vigies: usize, every_ms: u64) {
    let setup = builder().path(db).scope(Scope::Nothing).open().await.unwrap();
    for n in 0..vigies {
        let v = Vigy::new(format!("hello-{n}"), HELLO, TickInterval::from_millis(every_ms).unwrap()).unwrap();
        setup.register_or_update(v).await.unwrap();
    }
    setup.shutdown().await;
}

/// (d) on `db`, for `runtimes` runtimes in this process.
async fn shared(backend: &str, db: &Path, runtimes: usize, vigies: usize, every_ms: u64) {
    let handles: Vec<RuntimeHandle> = {
        let mut handles = Vec::new();
        for _ in 0..runtimes {
            handles.push(builder().path(db).workers(4).open().await.unwrap());
        }
        handles
    };
    // Shares settle within a few rounds; then every vigy ticks.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let total = |f: fn(&vigy_runtime::Metrics) -> u64| handles.iter().map(|h| f(h.metrics())).sum::<u64>();
    let (runs0, rounds0, fenced0) = (
        total(|m| m.runs_written.load(Relaxed)),
        total(|m| m.lease_rounds.load(Relaxed)),
        total(|m| m.runs_fenced.load(Relaxed)),
    );
    let window = Duration::from_secs(10);
    tokio::time::sleep(window).await;
    let secs = window.as_secs_f64();
    let runs = total(|m| m.runs_written.load(Relaxed)) - runs0;
    let rounds = total(|m| m.lease_rounds.load(Relaxed)) - rounds0;
    let fenced = total(|m| m.runs_fenced.load(Relaxed)) - fenced0;
    let held: Vec<u64> = handles.iter().map(|h| h.metrics().leases_held.load(Relaxed)).collect();
    let offered = vigies as f64 * 1000.0 / every_ms as f64;
    let per_runtime = rounds as f64 / secs / runtimes as f64;
    println!(
        "(d) {backend}, {runtimes} runtime(s), {vigies} vigies at {every_ms} ms: {:.0} ticks/s persisted ({:.1}% of {offered:.0} offered), \
         leases held {held:?}, {per_runtime:.2} lease rounds/s per runtime ({:.1}-{:.1} statements/s), {fenced} ticks fenced",
        runs as f64 / secs,
        100.0 * runs as f64 / secs / offered,
        per_runtime * f64::from(STATEMENTS_PER_ROUND.0),
        per_runtime * f64::from(STATEMENTS_PER_ROUND.1),
    );
    for handle in handles {
        handle.shutdown().await;
    }
}

/// (e) on `db`: 5 trials of kill -9.
async fn takeover(backend: &str, db: &Path, vigies: usize) {
    let survivor = builder().path(db).lease_ttl(TAKEOVER_TTL).open().await.unwrap();
    let mut times = Vec::new();
    for _ in 0..5 {
        let mut child: Child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, db.as_os_str())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let held = || survivor.metrics().leases_held.load(Relaxed) as usize;
        let settle = Instant::now();
        while held() > vigies / 2 + vigies / 10 && settle.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        child.kill().unwrap();
        let killed = Instant::now();
        child.wait().unwrap();
        while held() < vigies && killed.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        times.push(killed.elapsed());
    }
    times.sort();
    let ttl = TAKEOVER_TTL.as_secs_f64();
    println!(
        "(e) {backend}, takeover after kill -9 ({vigies} vigies, TTL {ttl} s): p50 {:?} ({:.2} TTL), max {:?} ({:.2} TTL)",
        times[2],
        times[2].as_secs_f64() / ttl,
        times[4],
        times[4].as_secs_f64() / ttl,
    );
    survivor.shutdown().await;
}

/// A database for one part: a fresh SQLite file in `dir`, or a fresh
/// PostgreSQL database (dropped with the guard).
async fn database(backend: &str, dir: &Path, name: &str) -> (PathBuf, Option<vigy_store::testing::TempPostgres>) {
    match backend {
        "sqlite" => (dir.join(format!("{name}.db")), None),
        _ => {
            let db = vigy_store::testing::TempPostgres::create().await;
            (PathBuf::from(db.url.clone()), Some(db))
        }
    }
}

pub(crate) async fn all() {
    let dir = tempfile::tempdir().unwrap();
    for backend in ["sqlite", "postgres"] {
        for runtimes in [1, 2, 4] {
            let (db, _guard) = database(backend, dir.path(), &format!("shared-{runtimes}")).await;
            register(&db, 2_000, 200).await;
            shared(backend, &db, runtimes, 2_000, 200).await;
        }
        let (db, _guard) = database(backend, dir.path(), "takeover").await;
        register(&db, 300, 200).await;
        takeover(backend, &db, 300).await;
    }
}
