//! The scheduler's rules on virtual time: a runtime on a `ManualClock`,
//! real worker processes and a real SQLite file, the clock moved by the
//! test and `run_due` waiting for what became due to be committed. No test
//! here sleeps; a rule that broke would show as a tick at the wrong virtual
//! instant, or one too many or too few.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vigy_api::{self as api, VigyService};
use vigy_runtime::{Extension, Intrinsics, ManualClock, RuntimeBuilder, RuntimeHandle, Scope};
use vigy_types::{CronPattern, RunResult, Schedule, TickInterval, Timestamp, Vigy, VigyId, VigyRun};

struct Virtual {
    rt: RuntimeHandle,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

fn at(s: &str) -> Timestamp {
    vigy_types::parse_timestamp(s).unwrap()
}

fn cron(pattern: &str, zone: &str) -> Schedule {
    Schedule::cron(CronPattern::new(pattern, zone).unwrap())
}

fn every(ms: u64) -> Schedule {
    Schedule::every(TickInterval::from_millis(ms).unwrap())
}

async fn on_virtual_time(start: &str, configure: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder) -> Virtual {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_at(at(start));
    let builder = RuntimeHandle::builder().path(dir.path().join("vigy.db")).scope(Scope::All);
    let rt = configure(builder.clock(std::sync::Arc::new(clock.clone()))).open().await.unwrap();
    Virtual { rt, clock, _dir: dir }
}

impl Virtual {
    async fn register(&self, name: &str, program: &str, schedule: Schedule) -> Vigy {
        let v = self.rt.register_or_update(Vigy::scheduled(name, program, schedule).unwrap()).await.unwrap();
        // Leased and planned: its first due time is known.
        self.rt.run_due().await.unwrap();
        v
    }

    async fn state(&self, name: &str) -> api::VigyState {
        self.rt.get_vigy_state(api::GetVigyStateRequest { id: name.into() }).await.unwrap()
    }

    async fn next_due(&self, name: &str) -> Timestamp {
        *self.state(name).await.next_ticks.first().unwrap_or_else(|| panic!("`{name}` has no next tick"))
    }

    /// Runs of `id`, oldest first.
    async fn runs(&self, id: VigyId) -> Vec<VigyRun> {
        let mut runs = self.rt.recent_runs(id, 1_000).await.unwrap();
        runs.reverse();
        runs
    }

    /// Move the clock to `to` and run what is due.
    async fn at(&self, to: Timestamp) {
        self.clock.set(to);
        self.rt.run_due().await.unwrap();
    }

    /// Move the clock to just before `name`'s next due time (nothing may
    /// run), then to it (its tick must run), and return that tick.
    async fn tick_when_due(&self, name: &str, id: VigyId) -> VigyRun {
        let due = self.next_due(name).await;
        let before = self.runs(id).await.len();
        self.at(due - chrono::Duration::milliseconds(1)).await;
        assert_eq!(self.runs(id).await.len(), before, "`{name}` ticked before {due}");
        self.at(due).await;
        let runs = self.runs(id).await;
        assert_eq!(runs.len(), before + 1, "`{name}` did not tick once at {due}");
        let run = runs.last().unwrap().clone();
        assert_eq!(run.started_at, due, "`{name}` started off its due time");
        run
    }
}

/// A runtime on virtual time from `start` with one vigy on `pattern` in
/// `zone`, and the times of its next `ticks` ticks (each checked not to run
/// early and to start exactly when due).
async fn cron_ticks(start: &str, pattern: &str, zone: &str, ticks: usize) -> (Virtual, VigyId, Vec<String>) {
    let v = on_virtual_time(start, |b| b).await;
    let id = v.register("daily", "(vigy-noop)", cron(pattern, zone)).await.id;
    let mut times = Vec::new();
    for _ in 0..ticks {
        times.push(vigy_types::format_timestamp(&v.tick_when_due("daily", id).await.started_at));
    }
    (v, id, times)
}

#[tokio::test(flavor = "multi_thread")]
async fn cron_should_run_a_skipped_time_once_at_the_gap_end_and_a_repeated_time_once_in_berlin() {
    // Spring forward: 2026-03-29 02:00 CET becomes 03:00 CEST; 02:30 does
    // not exist that day.
    let (v, _, spring) = cron_ticks("2026-03-27T12:00:00Z", "0 30 2 * * *", "Europe/Berlin", 3).await;
    assert_eq!(spring, ["2026-03-28T01:30:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"]);
    v.rt.shutdown().await;

    // Fall back: 2026-10-25 03:00 CEST becomes 02:00 CET; 02:30 comes twice,
    // and runs in its first pass only.
    let (v, id, fall) = cron_ticks("2026-10-23T12:00:00Z", "0 30 2 * * *", "Europe/Berlin", 3).await;
    assert_eq!(fall, ["2026-10-24T00:30:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]);
    // The second 02:30 (01:30 UTC) passed without a tick.
    v.at(at("2026-10-25T01:30:00Z")).await;
    assert_eq!(v.runs(id).await.len(), 3);
    v.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cron_should_follow_daylight_saving_in_new_york() {
    // 2026-03-08 02:00 EST becomes 03:00 EDT; 2026-11-01 02:00 EDT becomes
    // 01:00 EST, so 01:30 comes twice.
    let (v, _, spring) = cron_ticks("2026-03-07T12:00:00Z", "0 30 2 * * *", "America/New_York", 3).await;
    assert_eq!(spring, ["2026-03-08T07:00:00.000Z", "2026-03-09T06:30:00.000Z", "2026-03-10T06:30:00.000Z"]);
    v.rt.shutdown().await;
    let (v, _, fall) = cron_ticks("2026-10-31T12:00:00Z", "0 30 1 * * *", "America/New_York", 2).await;
    assert_eq!(fall, ["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"]);
    v.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn jitter_should_offset_each_vigy_stably_within_its_window() {
    let v = on_virtual_time("2026-05-01T00:00:30Z", |b| b).await;
    let on_the_minute = || cron("0 * * * * *", "UTC").with_jitter(10_000).unwrap();
    let a = v.register("a", "(vigy-noop)", on_the_minute()).await;
    let b = v.register("b", "(vigy-noop)", on_the_minute()).await;
    let offsets = |runs: Vec<VigyRun>| -> Vec<i64> {
        runs.iter().map(|r| r.started_at.timestamp_millis().rem_euclid(60_000)).collect()
    };
    for _ in 0..3 {
        v.tick_when_due("a", a.id).await;
        v.tick_when_due("b", b.id).await;
    }
    let (of_a, of_b) = (offsets(v.runs(a.id).await), offsets(v.runs(b.id).await));
    assert!(of_a.windows(2).all(|w| w[0] == w[1]), "a's offset moved: {of_a:?}");
    assert!(of_b.windows(2).all(|w| w[0] == w[1]), "b's offset moved: {of_b:?}");
    assert!(of_a[0] < 10_000 && of_b[0] < 10_000, "{of_a:?} {of_b:?}");
    assert_ne!(of_a[0], of_b[0], "two vigies on one minute tick apart");
    v.rt.shutdown().await;

    // Another runtime (a restart) plans the same offset.
    let again = on_virtual_time("2026-05-02T00:00:30Z", |b| b).await;
    let a2 = again.register("a", "(vigy-noop)", on_the_minute()).await;
    let run = again.tick_when_due("a", a2.id).await;
    assert_eq!(run.started_at.timestamp_millis().rem_euclid(60_000), of_a[0]);
    again.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missed_due_time_should_be_caught_up_once_within_the_window_and_skipped_outside_it() {
    for (window_ms, caught_up) in [(Some(5_000), true), (Some(300), false), (None, false)] {
        let v = on_virtual_time("2026-05-01T00:00:00Z", |b| b).await;
        let s = every(1_000).with_catch_up(window_ms).unwrap();
        let one = v.register("late", "(vigy-noop)", s).await;
        let first = v.tick_when_due("late", one.id).await; // its second tick
        // The process is stalled for 9.5 s: the tick due 1 s after the
        // first runs late, then due times 2 … 9 s after it have passed.
        v.at(first.started_at + chrono::Duration::milliseconds(10_500)).await;
        let runs = v.runs(one.id).await;
        let expected = if caught_up { 4 } else { 3 };
        assert_eq!(runs.len(), expected, "window {window_ms:?}: never a burst, at most one catch-up: {runs:?}");
        let state = v.state("late").await;
        // Due 3 … 11 s after the first passed while the late one ran; the
        // newest of them, 0.5 s old, is what a window of 5 s catches up
        // (and is not counted missed).
        let missed = if caught_up { 8 } else { 9 };
        assert_eq!(state.missed_ticks, Some(missed), "window {window_ms:?}");
        // Then back on the grid: 11 s after the first.
        assert_eq!(state.next_ticks[0], first.started_at + chrono::Duration::seconds(11));
        v.rt.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_should_back_off_then_pause_and_a_success_should_reset_the_backoff() {
    // A failed tick keeps no kv, so this fails on every tick.
    let flaky = "(define n (+ 1 (vigy-get \"n\" 0)))\n(vigy-set \"n\" n)\n(if (< n 3) (car 1) (vigy-noop))\n";
    let v = on_virtual_time("2026-05-01T00:00:00Z", |b| {
        b.backoff(vigy_runtime::Backoff { jitter_percent: 0, ..Default::default() })
    })
    .await;
    let s = every(1_000).with_backoff(Some(4_000), Some(10_000)).unwrap();
    let one = v.register("flaky", flaky, s).await;
    // Its first tick ran promptly at registration, and failed.
    let t0 = v.runs(one.id).await.remove(0);
    assert_eq!(t0.result, RunResult::Failed);
    // Back off 4 s, 8 s, then the cap of 10 s.
    let mut gaps = Vec::new();
    let mut last = t0.started_at;
    for _ in 0..3 {
        let run = v.tick_when_due("flaky", one.id).await;
        assert_eq!(run.result, RunResult::Failed);
        gaps.push((run.started_at - last).num_milliseconds());
        last = run.started_at;
    }
    assert_eq!(gaps, [4_000, 8_000, 10_000], "base 4 s doubled, capped at 10 s");
    assert_eq!(v.state("flaky").await.consecutive_failures, Some(4));
    v.rt.shutdown().await;

    // A success resets it: the tick after runs on the plain interval.
    let recovers = "(if (= (vigy-tick-count) 2) (car 1) (vigy-noop))";
    let v = on_virtual_time("2026-05-01T00:00:00Z", |b| {
        b.backoff(vigy_runtime::Backoff { jitter_percent: 0, ..Default::default() })
    })
    .await;
    let one = v.register("recovers", recovers, every(1_000).with_backoff(Some(4_000), None).unwrap()).await;
    for _ in 0..4 {
        v.tick_when_due("recovers", one.id).await;
    }
    let runs = v.runs(one.id).await;
    let gaps: Vec<i64> = runs.windows(2).map(|w| (w[1].started_at - w[0].started_at).num_milliseconds()).collect();
    let results: Vec<RunResult> = runs.iter().map(|r| r.result).collect();
    assert_eq!(results, [RunResult::Ok, RunResult::Failed, RunResult::Ok, RunResult::Ok, RunResult::Ok]);
    assert_eq!(gaps, [1_000, 4_000, 1_000, 1_000], "backoff after the failure, the interval after the success");
    v.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vigy_should_pause_after_its_allowed_failures_with_the_last_error() {
    let v = on_virtual_time("2026-05-01T00:00:00Z", |b| b).await;
    let failing = Vigy::scheduled("fails", "(car 1)", every(1_000).with_backoff(Some(1_000), Some(1_000)).unwrap())
        .unwrap()
        .with_pause_after_failures(Some(3));
    let one = v.rt.register_or_update(failing).await.unwrap();
    v.rt.run_due().await.unwrap(); // its first failure
    for _ in 0..2 {
        v.tick_when_due("fails", one.id).await;
    }
    let paused = v.rt.get(one.id).await.unwrap().paused.expect("paused after three failures");
    assert!(paused.reason.starts_with("paused after 3 failed ticks in a row: "), "{}", paused.reason);
    assert_eq!(v.state("fails").await.next_ticks, Vec::<Timestamp>::new());
    // An hour later it still has not ticked again.
    v.at(vigy_types::Clock::now(&v.clock) + chrono::Duration::hours(1)).await;
    assert_eq!(v.runs(one.id).await.len(), 3);
    assert_eq!(v.rt.metrics().paused_on_failure.load(std::sync::atomic::Ordering::Relaxed), 1);
    // Resumed, it ticks from its next due time.
    v.rt.resume(one.id).await.unwrap();
    v.rt.run_due().await.unwrap();
    v.tick_when_due("fails", one.id).await;
    v.rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn label_limits_should_hold_ticks_back_until_a_slot_frees_and_count_them() {
    let github: vigy_types::LabelSelector = "target=github".parse().unwrap();
    let probe = Probe::default();
    let v = on_virtual_time("2026-05-01T00:00:00Z", |b| b.concurrency_limit(github, 1).extension(probe.clone())).await;
    // Each tick spends 30 ms (real time) inside `(probe TARGET)`, which
    // counts how many ticks of that target are inside it at once.
    let labelled = |name: &str, target: &str| {
        Vigy::scheduled(name, format!("(probe \"{target}\")\n(vigy-noop)"), every(1_000))
            .unwrap()
            .with_labels(format!("target={target}").parse().unwrap())
    };
    let mut ids = Vec::new();
    for (name, target) in [("gh-a", "github"), ("gh-b", "github"), ("gh-c", "github"), ("gl", "gitlab")] {
        ids.push(v.rt.register_or_update(labelled(name, target)).await.unwrap().id);
    }
    v.rt.run_due().await.unwrap();
    // Three rounds more: the first ran at registration.
    for _ in 0..3 {
        let due =
            [v.next_due("gh-a").await, v.next_due("gh-b").await, v.next_due("gh-c").await, v.next_due("gl").await];
        v.at(*due.iter().max().unwrap()).await;
    }
    let metrics = v.rt.metrics();
    let waited = metrics.ticks_waited.load(std::sync::atomic::Ordering::Relaxed);
    // Every round, two of the three github ticks had to wait for the one
    // slot (the gitlab one never does).
    assert_eq!(waited, 8, "ticks that waited");
    for id in &ids {
        assert_eq!(v.runs(*id).await.len(), 4, "each vigy ticked once per round");
    }
    assert_eq!(probe.most("github"), 1, "two github ticks overlapped");
    assert_eq!(probe.most("gitlab"), 1);
    assert_eq!(metrics.ticks_waiting.load(std::sync::atomic::Ordering::Relaxed), 0, "nothing left waiting");
    v.rt.shutdown().await;
}

/// `(probe KEY)`: spends 30 ms, and records how many ticks of KEY were
/// inside it at once, at most.
#[derive(Default, Clone)]
struct Probe(Arc<Mutex<HashMap<String, (u32, u32)>>>);

impl Probe {
    fn most(&self, key: &str) -> u32 {
        self.0.lock().unwrap().get(key).map_or(0, |(_, most)| *most)
    }
}

fn enter(inside: &Mutex<HashMap<String, (u32, u32)>>, key: &str, by: i32) {
    let mut inside = inside.lock().unwrap();
    let (now, most) = inside.entry(key.to_owned()).or_default();
    *now = now.saturating_add_signed(by);
    *most = (*most).max(*now);
}

impl Extension for Probe {
    fn name(&self) -> &str {
        "probe"
    }

    fn install(&self, intrinsics: &mut Intrinsics<'_>) {
        let inside = self.0.clone();
        intrinsics.add("probe", vigy_eval::Arity::Exact(1), move |args, _| {
            let vigy_eval::Value::Str(key) = &args[0] else { return Err("a key, as a string".into()) };
            enter(&inside, key, 1);
            // Real time: long enough for another tick to come in if the
            // limit let it.
            std::thread::sleep(Duration::from_millis(30));
            enter(&inside, key, -1);
            Ok(vigy_eval::Value::Nil)
        });
    }
}
