//! Schedules on the real clock, end to end: cron times, pauses (by an
//! operator and after failures), catch-up after downtime. The rules
//! themselves are tested on virtual time in `vigy_types::schedule`.

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use vigy_api::{self as api, VigyService};
use vigy_runtime::{RuntimeHandle, Scope};
use vigy_types::{CronPattern, RunResult, Schedule, TickInterval, Vigy};

use crate::support::{eventually, open, run_count, vigy};

vigy_store::on_both_backends!(multi_thread;
    a_cron_vigy_should_tick_within_150_ms_after_each_even_second,
    a_paused_vigy_should_hold_its_ticks_and_show_why_until_resumed,
    a_vigy_should_pause_itself_after_as_many_failures_in_a_row_as_it_allows,
    downtime_should_be_caught_up_by_one_tick_within_the_window,
    downtime_should_be_skipped_and_counted_without_a_window,
);

async fn state(rt: &RuntimeHandle, name: &str) -> api::VigyState {
    rt.get_vigy_state(api::GetVigyStateRequest { id: name.into() }).await.unwrap()
}

async fn a_cron_vigy_should_tick_within_150_ms_after_each_even_second(db: PathBuf) {
    let rt = open(&db, Scope::All).await;
    let every_two = Schedule::cron(CronPattern::new("*/2 * * * * *", "UTC").unwrap());
    let mut runs = rt.subscribe();
    let v = rt.register_or_update(Vigy::scheduled("even", "(vigy-noop)", every_two).unwrap()).await.unwrap();
    for _ in 0..3 {
        let run = tokio::time::timeout(Duration::from_secs(3), runs.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(run.vigy_id, v.id);
        let after_even_second = run.started_at.timestamp_millis().rem_euclid(2_000);
        assert!(after_even_second < 150, "tick {} started {after_even_second} ms after an even second", run.tick);
    }
    let next = state(&rt, "even").await.next_ticks;
    assert_eq!(next.len(), 5, "{next:?}");
    assert!(next.iter().all(|t| t.timestamp_millis() % 2_000 == 0), "{next:?}");
    assert!(next.windows(2).all(|w| (w[1] - w[0]).num_milliseconds() == 2_000), "{next:?}");
    assert!(next[0] > chrono::Utc::now() - chrono::Duration::milliseconds(200));
    rt.shutdown().await;
}

async fn a_paused_vigy_should_hold_its_ticks_and_show_why_until_resumed(db: PathBuf) {
    let rt = open(&db, Scope::All).await;
    let v = rt.register_or_update(vigy("held", "(vigy-noop)", 100)).await.unwrap();
    eventually(Duration::from_secs(2), "first ticks", || async { run_count(&rt, v.id).await >= 2 }).await;
    let paused = rt.pause(v.id, "waiting for the database migration").await.unwrap();
    let pause = paused.paused.clone().expect("paused");
    assert_eq!(pause.reason, "waiting for the database migration");
    assert!(paused.enabled, "paused is not disabled");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let frozen = run_count(&rt, v.id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(run_count(&rt, v.id).await, frozen, "a paused vigy ticked");
    let wire = rt.get_vigy(api::GetVigyRequest { id: "held".into() }).await.unwrap();
    assert_eq!(wire.paused_reason.as_deref(), Some("waiting for the database migration"));
    assert_eq!(wire.paused_at, Some(pause.at));
    assert!(state(&rt, "held").await.next_ticks.is_empty(), "a paused vigy has no next tick");
    // Pausing again keeps the first reason; registering again keeps the pause.
    let again = rt.pause(v.id, "another reason").await.unwrap();
    assert_eq!(again.paused, Some(pause.clone()));
    let re_registered = rt.register_or_update(vigy("held", "(vigy-log \"info\" \"v2\")", 100)).await.unwrap();
    assert_eq!(re_registered.paused, Some(pause));

    let resumed = rt.resume(v.id).await.unwrap();
    assert_eq!(resumed.paused, None);
    eventually(Duration::from_secs(3), "ticks again once resumed", || async { run_count(&rt, v.id).await > frozen })
        .await;
    assert_eq!(state(&rt, "held").await.next_ticks.len(), 5);
    rt.shutdown().await;
}

async fn a_vigy_should_pause_itself_after_as_many_failures_in_a_row_as_it_allows(db: PathBuf) {
    let rt = open(&db, Scope::All).await;
    let schedule = Schedule::every(TickInterval::from_millis(100).unwrap()).with_backoff(Some(100), Some(200)).unwrap();
    let failing = Vigy::scheduled("flaky", "(car 1)", schedule).unwrap().with_pause_after_failures(Some(3));
    let v = rt.register_or_update(failing).await.unwrap();
    eventually(Duration::from_secs(5), "paused after three failures", || async {
        rt.get(v.id).await.is_ok_and(|v| v.paused.is_some())
    })
    .await;
    let reason = rt.get(v.id).await.unwrap().paused.unwrap().reason;
    assert!(reason.starts_with("paused after 3 failed ticks in a row: "), "{reason}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let runs = rt.recent_runs(v.id, 100).await.unwrap();
    assert_eq!(runs.len(), 3, "it stopped at the third failure");
    assert!(runs.iter().all(|r| r.result == RunResult::Failed));
    assert!(rt.get(v.id).await.unwrap().enabled, "paused, not disabled");
    assert_eq!(rt.metrics().paused_on_failure.load(std::sync::atomic::Ordering::Relaxed), 1);
    rt.shutdown().await;
}

/// A vigy on a 3 s interval ticks once, its runtime stops for one due time
/// (3.5 s), and a new runtime opens on the database: how soon it ticks.
async fn reopened_after_downtime(db: &std::path::Path, catch_up_ms: Option<u64>) -> (RuntimeHandle, Option<Duration>) {
    let rt = open(db, Scope::All).await;
    let schedule = Schedule::every(TickInterval::from_millis(3_000).unwrap()).with_catch_up(catch_up_ms).unwrap();
    let v = rt.register_or_update(Vigy::scheduled("nightly", "(vigy-noop)", schedule).unwrap()).await.unwrap();
    eventually(Duration::from_secs(2), "the first tick", || async { run_count(&rt, v.id).await == 1 }).await;
    rt.shutdown().await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let rt = open(db, Scope::All).await;
    let opened = std::time::Instant::now();
    let mut waited = None;
    while opened.elapsed() < Duration::from_millis(1_500) {
        if run_count(&rt, v.id).await == 2 {
            waited = Some(opened.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (rt, waited)
}

async fn downtime_should_be_caught_up_by_one_tick_within_the_window(db: PathBuf) {
    let (rt, waited) = reopened_after_downtime(&db, Some(60_000)).await;
    let waited = waited.expect("a catch-up tick within 1.5 s of opening");
    assert!(waited < Duration::from_millis(1_200), "caught up after {waited:?}");
    let state = state(&rt, "nightly").await;
    assert_eq!(state.missed_ticks, Some(0), "the one missed due time was caught up, not skipped");
    assert_eq!(rt.metrics().ticks_caught_up.load(std::sync::atomic::Ordering::Relaxed), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(run_count(&rt, rt.resolve("nightly").await.unwrap().id).await, 2, "one catch-up tick, not a burst");
    rt.shutdown().await;
}

async fn downtime_should_be_skipped_and_counted_without_a_window(db: PathBuf) {
    let (rt, waited) = reopened_after_downtime(&db, None).await;
    assert_eq!(waited, None, "without a catch-up window the missed due time is skipped");
    let state = state(&rt, "nightly").await;
    assert_eq!(state.missed_ticks, Some(1));
    assert_eq!(rt.metrics().ticks_missed.load(std::sync::atomic::Ordering::Relaxed), 1);
    // Its next due time is on the old grid: 6 s after the first tick.
    let first = rt.recent_runs(rt.resolve("nightly").await.unwrap().id, 1).await.unwrap()[0].started_at;
    let gap = (state.next_ticks[0] - first).num_milliseconds();
    assert!((5_950..=6_050).contains(&gap), "next tick {gap} ms after the first");
    rt.shutdown().await;
}
