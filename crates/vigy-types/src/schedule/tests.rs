use super::*;

fn at(text: &str) -> Timestamp {
    crate::parse_timestamp(text).unwrap()
}

fn cron(pattern: &str, zone: &str) -> Schedule {
    Schedule::cron(CronPattern::new(pattern, zone).unwrap())
}

fn id(name: &str) -> VigyId {
    VigyId::for_name(&crate::VigyName::new(name).unwrap())
}

fn upcoming(schedule: &Schedule, after: &str, n: usize) -> Vec<String> {
    let after = at(after);
    let times = std::iter::successors(schedule.next_due(id("a"), after), |t| schedule.next_due(id("a"), *t));
    times.take(n).map(|t| crate::format_timestamp(&t)).collect()
}

#[test]
fn cron_should_read_ranges_lists_steps_and_names_with_seconds_first() {
    let s = cron("*/20 0 9-10 * JAN,FEB MON-FRI", "UTC");
    // Friday 2027-01-01, then the following Monday.
    assert_eq!(
        upcoming(&s, "2027-01-01T09:00:30Z", 4),
        [
            "2027-01-01T09:00:40.000Z",
            "2027-01-01T10:00:00.000Z",
            "2027-01-01T10:00:20.000Z",
            "2027-01-01T10:00:40.000Z"
        ]
    );
    assert_eq!(upcoming(&s, "2027-01-01T10:00:50Z", 1), ["2027-01-04T09:00:00.000Z"]);
}

#[test]
fn cron_should_refuse_bad_fields_zones_and_impossible_dates_clearly() {
    let refusal = |pattern: &str, zone: &str| CronPattern::new(pattern, zone).unwrap_err().to_string();
    assert!(refusal("61 * * * * *", "UTC").starts_with("invalid schedule: cron pattern `61 * * * * *`"));
    assert_eq!(
        refusal("* * * * *", "UTC"),
        "invalid schedule: cron pattern `* * * * *` has 5 fields; it takes six, seconds first (`sec min hour day month weekday`)"
    );
    assert!(refusal("0 0 0 1 1 * 2030", "UTC").contains("has 7 fields"));
    assert_eq!(refusal("0 * * * * *", "Mars/Olympus"), "invalid schedule: unknown time zone `Mars/Olympus`");
    assert_eq!(refusal("0 0 0 30 2 *", "UTC"), "invalid schedule: cron pattern `0 0 0 30 2 *` matches no date");
}

#[test]
fn cron_should_run_a_time_skipped_by_spring_forward_once_when_the_gap_ends_in_berlin() {
    // 2027-03-28: at 02:00 CET clocks jump to 03:00 CEST.
    let s = cron("0 30 2 * * *", "Europe/Berlin");
    assert_eq!(
        upcoming(&s, "2027-03-27T12:00:00Z", 3),
        // 02:30 CET on the 27th, 03:00 CEST (the gap's end) on the 28th, 02:30 CEST on the 29th.
        ["2027-03-28T01:00:00.000Z", "2027-03-29T00:30:00.000Z", "2027-03-30T00:30:00.000Z"]
    );
}

#[test]
fn cron_should_run_a_repeated_time_once_when_clocks_go_back_in_berlin() {
    // 2027-10-31: at 03:00 CEST clocks go back to 02:00 CET; 02:30 happens twice.
    let s = cron("0 30 2 * * *", "Europe/Berlin");
    assert_eq!(
        upcoming(&s, "2027-10-30T12:00:00Z", 2),
        ["2027-10-31T00:30:00.000Z", "2027-11-01T01:30:00.000Z"],
        "02:30 CEST runs, 02:30 CET (01:30Z on the 31st) does not"
    );
}

#[test]
fn cron_should_keep_each_wall_clock_time_once_through_new_york_changes() {
    let s = cron("0 */15 * * * *", "America/New_York");
    // 2027-03-14 spring forward at 02:00 EST: 02:00–02:45 do not exist and run once, at 03:00 EDT.
    assert_eq!(
        upcoming(&s, "2027-03-14T06:40:00Z", 3),
        ["2027-03-14T06:45:00.000Z", "2027-03-14T07:00:00.000Z", "2027-03-14T07:15:00.000Z"]
    );
    // 2027-11-07 fall back at 02:00 EDT: 01:00–01:45 EST repeat wall times already run.
    assert_eq!(
        upcoming(&s, "2027-11-07T05:40:00Z", 3),
        ["2027-11-07T05:45:00.000Z", "2027-11-07T07:00:00.000Z", "2027-11-07T07:15:00.000Z"]
    );
    // Started inside the repeated hour, it waits for its end.
    assert_eq!(upcoming(&s, "2027-11-07T06:20:00Z", 1), ["2027-11-07T07:00:00.000Z"]);
}

#[test]
fn jitter_should_be_a_stable_offset_per_vigy_below_the_window() {
    let s = cron("0 0 * * * *", "UTC").with_jitter(60_000).unwrap();
    let offsets: Vec<Duration> = (0..50).map(|i| s.offset(id(&format!("v{i}")))).collect();
    assert!(offsets.iter().all(|o| *o < Duration::from_secs(60)));
    assert!(offsets.iter().collect::<std::collections::BTreeSet<_>>().len() > 40, "spread, not bunched: {offsets:?}");
    assert_eq!(s.offset(id("v7")), s.offset(id("v7")));
    let offset = chrono::Duration::from_std(s.offset(id("a"))).unwrap();
    let hour = at("2027-01-01T10:00:00Z");
    assert_eq!(s.next_due(id("a"), hour - chrono::Duration::minutes(30)), Some(hour + offset));
    // The next due time after a jittered one is the next hour's, jittered alike.
    assert_eq!(s.next_due(id("a"), hour + offset), Some(hour + chrono::Duration::hours(1) + offset));
    assert!(cron("0 0 * * * *", "UTC").with_jitter(MAX_JITTER_MS + 1).is_err());
}

#[test]
fn window_should_hold_ticks_until_it_opens_and_stop_them_when_it_closes() {
    let start = at("2027-01-01T00:00:10Z");
    let end = at("2027-01-01T00:00:40Z");
    let s = cron("*/10 * * * * *", "UTC").with_window(Some(start), Some(end)).unwrap();
    assert_eq!(
        upcoming(&s, "2026-12-31T23:00:00Z", 10),
        [
            "2027-01-01T00:00:10.000Z",
            "2027-01-01T00:00:20.000Z",
            "2027-01-01T00:00:30.000Z",
            "2027-01-01T00:00:40.000Z"
        ]
    );
    let every = Schedule::every(TickInterval::from_millis(1000).unwrap()).with_window(Some(start), Some(end)).unwrap();
    assert_eq!(every.first_due(id("a"), at("2027-01-01T00:00:00Z")), Some(start));
    assert_eq!(every.first_due(id("a"), at("2027-01-01T00:00:50Z")), None);
    assert!(Schedule::every(TickInterval::from_millis(1000).unwrap()).with_window(Some(end), Some(start)).is_err());
}

#[test]
fn plan_should_skip_missed_due_times_and_count_them() {
    let s = Schedule::every(TickInterval::from_millis(1000).unwrap());
    let t0 = at("2027-01-01T00:00:00Z");
    let ms = chrono::Duration::milliseconds;
    assert_eq!(s.plan(id("a"), t0, t0 + ms(300)), Some(Plan { at: t0 + ms(1000), missed: 0, catch_up: None }));
    // A tick that ran 2.5 s: due times 1 s and 2 s passed.
    assert_eq!(s.plan(id("a"), t0, t0 + ms(2500)), Some(Plan { at: t0 + ms(3000), missed: 2, catch_up: None }));
    let hourly = cron("0 0 * * * *", "UTC");
    assert_eq!(
        hourly.plan(id("a"), t0, t0 + chrono::Duration::minutes(5 * 60 + 1)),
        Some(Plan { at: t0 + chrono::Duration::hours(6), missed: 5, catch_up: None })
    );
}

#[test]
fn plan_should_catch_up_once_within_the_window_and_skip_outside_it() {
    let t0 = at("2027-01-01T00:00:00Z");
    let minute = chrono::Duration::minutes(1);
    let hourly = cron("0 0 * * * *", "UTC").with_catch_up(Some(10 * 60_000)).unwrap();
    // Down from 00:00 until 03:05: 03:00 is 5 minutes old, within 10: one tick now, 01:00 and 02:00 skipped.
    let now = t0 + chrono::Duration::hours(3) + minute * 5;
    assert_eq!(
        hourly.plan(id("a"), t0, now),
        Some(Plan { at: now, missed: 2, catch_up: Some(t0 + chrono::Duration::hours(3)) })
    );
    // Until 03:20: 03:00 is 20 minutes old, outside the window: all three skipped, next 04:00.
    let now = t0 + chrono::Duration::hours(3) + minute * 20;
    assert_eq!(
        hourly.plan(id("a"), t0, now),
        Some(Plan { at: t0 + chrono::Duration::hours(4), missed: 3, catch_up: None })
    );
    // After the catch-up tick, the schedule is back on its times.
    let caught_up = t0 + chrono::Duration::hours(3) + minute * 5;
    assert_eq!(
        hourly.plan(id("a"), caught_up, caught_up + minute),
        Some(Plan { at: t0 + chrono::Duration::hours(4), missed: 0, catch_up: None })
    );
    assert!(hourly.clone().with_catch_up(Some(0)).is_err());
}

#[test]
fn plan_should_count_a_long_absence_without_walking_every_due_time() {
    let s = cron("* * * * * *", "UTC");
    let t0 = at("2027-01-01T00:00:00Z");
    let plan = s.plan(id("a"), t0, t0 + chrono::Duration::days(2)).unwrap();
    assert_eq!(plan.at, t0 + chrono::Duration::days(2) + chrono::Duration::seconds(1));
    assert_eq!(plan.missed, MAX_COUNTED);
}

#[test]
fn upcoming_should_give_the_next_times_from_the_last_tick() {
    let s = Schedule::every(TickInterval::from_millis(500).unwrap());
    let t0 = at("2027-01-01T00:00:00Z");
    let ms = chrono::Duration::milliseconds;
    assert_eq!(s.upcoming(id("a"), Some(t0), t0 + ms(700), 3), [t0 + ms(1000), t0 + ms(1500), t0 + ms(2000)]);
    assert_eq!(s.upcoming(id("a"), None, t0, 2), [t0, t0 + ms(500)]);
    let ended = s.clone().with_window(None, Some(t0 + ms(1200))).unwrap();
    assert_eq!(ended.upcoming(id("a"), Some(t0), t0 + ms(100), 5), [t0 + ms(500), t0 + ms(1000)]);
}
