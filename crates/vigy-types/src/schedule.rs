//! When a vigy ticks: a fixed interval or a cron pattern read in a time
//! zone, shifted by a stable jitter, inside an optional window, with a
//! policy for due times it missed.
//!
//! # Rules
//!
//! - **Six cron fields, seconds first**: `sec min hour day-of-month month
//!   day-of-week`, with ranges, lists, steps and names (`MON`, `JAN`), as
//!   croner reads them; a year field, or a value out of range (second 61),
//!   is refused. When both day fields are restricted, either may match.
//! - **Wall-clock times in the zone** (an IANA name, default `UTC`), and
//!   each wall-clock time runs at most once:
//!   - a time that does not exist (the hour a daylight-saving change skips)
//!     runs once, at the first instant after the gap (02:30 on the night
//!     Berlin springs forward runs at 03:00 CEST; several skipped times
//!     run as one);
//!   - a time that occurs twice (the hour repeated when clocks go back)
//!     runs once, in its first pass; the second pass is skipped.
//!
//!   A cron schedule is a calendar; a vigy that must keep a real-time
//!   rhythm through the night of a change uses an interval.
//! - **Jitter is a stable offset**: every cron time is shifted by the same
//!   amount in `[0, jitter)`, chosen by the vigy's id, so a fleet on one
//!   pattern does not tick in the same instant, and each vigy's times stay
//!   predictable. An interval vigy's first tick waits its offset, which
//!   spreads the grids of a fleet registered at once.
//! - **A window bounds it**: no tick before `starts_at`, none after
//!   `ends_at`.
//! - **Missed due times are skipped, or one is caught up.** By default a
//!   due time that passed while the vigy could not tick (downtime, a long
//!   tick, a held slot) is skipped. With a catch-up window, if the latest
//!   missed due time lies within the window, one tick runs at once, never
//!   a burst; either way the skipped ones are counted ([`Plan::missed`]).

use std::fmt;
use std::time::Duration;

use chrono::{LocalResult, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::{TickInterval, Timestamp, VigyError, VigyId};

/// The longest jitter: an hour.
pub const MAX_JITTER_MS: u64 = 3_600_000;
/// The longest catch-up window: seven days.
pub const MAX_CATCH_UP_MS: u64 = 7 * 24 * 3_600_000;
/// Due times counted one by one before a long absence is counted as this
/// many (a per-second pattern down for a day would otherwise cost a
/// search per second missed).
const MAX_COUNTED: u64 = 10_000;
/// The zone a cron pattern is read in when none is given.
pub const DEFAULT_ZONE: &str = "UTC";

fn invalid(why: impl fmt::Display) -> VigyError {
    VigyError::InvalidSchedule(why.to_string())
}

/// A cron pattern and the zone its times are read in.
#[derive(Clone)]
pub struct CronPattern {
    source: String,
    zone: Tz,
    cron: Cron,
}

impl fmt::Debug for CronPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronPattern({:?} in {})", self.source, self.zone.name())
    }
}

impl PartialEq for CronPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.zone == other.zone
    }
}

impl CronPattern {
    /// `pattern` (six fields, seconds first) read in `zone` (an IANA name).
    pub fn new(pattern: &str, zone: &str) -> Result<Self, VigyError> {
        let zone: Tz = zone.parse().map_err(|_| invalid(format!("unknown time zone `{zone}`")))?;
        let fields = pattern.split_whitespace().count();
        if fields != 6 {
            return Err(invalid(format!(
                "cron pattern `{pattern}` has {fields} fields; it takes six, seconds first (`sec min hour day month weekday`)"
            )));
        }
        let parser = CronParser::builder().seconds(Seconds::Required).year(Year::Disallowed).build();
        let cron = parser.parse(pattern).map_err(|e| invalid(format!("cron pattern `{pattern}`: {e}")))?;
        let parsed = Self { source: pattern.to_owned(), zone, cron };
        // A pattern that names no real date (`0 0 0 30 2 *`) never runs.
        if parsed.next_after(chrono::Utc::now()).is_none() {
            return Err(invalid(format!("cron pattern `{pattern}` matches no date")));
        }
        Ok(parsed)
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.source
    }

    /// The zone's IANA name.
    pub fn zone(&self) -> &str {
        self.zone.name()
    }

    /// The first instant after `after` when one of the pattern's wall-clock
    /// times occurs, under the daylight-saving rules above; `None` if there
    /// is none (within croner's range).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let mut local = after.with_timezone(&self.zone).naive_local();
        // Bounded: only a pass through a repeated hour loops, once per
        // wall-clock time it matches there.
        for _ in 0..100_000 {
            let wall = self.cron.find_next_occurrence(&local, false).ok()?;
            let at = match self.zone.from_local_datetime(&wall) {
                LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at.to_utc(),
                LocalResult::None => self.end_of_gap(wall)?,
            };
            if at > after {
                return Some(at);
            }
            local = wall;
        }
        None
    }

    /// The first instant whose wall-clock time exists after `wall`, which
    /// falls in a daylight-saving gap (zones change on whole minutes).
    fn end_of_gap(&self, wall: NaiveDateTime) -> Option<Timestamp> {
        let mut minute = wall.with_second(0)?.with_nanosecond(0)?;
        for _ in 0..24 * 60 {
            minute += chrono::Duration::minutes(1);
            if let Some(at) = self.zone.from_local_datetime(&minute).earliest() {
                return Some(at.to_utc());
            }
        }
        None
    }
}

/// How often a vigy ticks.
#[derive(Debug, Clone, PartialEq)]
pub enum Cadence {
    /// On a fixed grid, `interval` apart.
    Every(TickInterval),
    /// At the times of a cron pattern (boxed: croner's parsed pattern is
    /// ten times an interval's size).
    Cron(Box<CronPattern>),
}

/// When a vigy ticks.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "ScheduleSpec", into = "ScheduleSpec")]
pub struct Schedule {
    cadence: Cadence,
    jitter: Duration,
    starts_at: Option<Timestamp>,
    ends_at: Option<Timestamp>,
    catch_up: Option<Duration>,
    backoff_base: Option<Duration>,
    backoff_cap: Option<Duration>,
}

/// Where a vigy's schedule goes next, as of some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// When the next tick is due (now, for a catch-up tick).
    pub at: Timestamp,
    /// Due times that passed without a tick and will not get one.
    pub missed: u64,
    /// The missed due time `at` catches up, if it is a catch-up tick: the
    /// schedule goes on from it, not from `at`.
    pub catch_up: Option<Timestamp>,
}

impl Schedule {
    /// Every `interval`, no jitter, no window, missed ticks skipped.
    pub fn every(interval: TickInterval) -> Self {
        Self::of(Cadence::Every(interval))
    }

    /// At the times of `pattern`.
    pub fn cron(pattern: CronPattern) -> Self {
        Self::of(Cadence::Cron(Box::new(pattern)))
    }

    fn of(cadence: Cadence) -> Self {
        Self {
            cadence,
            jitter: Duration::ZERO,
            starts_at: None,
            ends_at: None,
            catch_up: None,
            backoff_base: None,
            backoff_cap: None,
        }
    }

    /// The same schedule with a jitter of `ms` (at most [`MAX_JITTER_MS`]).
    pub fn with_jitter(mut self, ms: u64) -> Result<Self, VigyError> {
        if ms > MAX_JITTER_MS {
            return Err(invalid(format!("jitter of {ms} ms is above the maximum of {MAX_JITTER_MS} ms")));
        }
        self.jitter = Duration::from_millis(ms);
        Ok(self)
    }

    /// The same schedule, ticking only from `starts_at` until `ends_at`.
    pub fn with_window(mut self, starts_at: Option<Timestamp>, ends_at: Option<Timestamp>) -> Result<Self, VigyError> {
        if let (Some(start), Some(end)) = (starts_at, ends_at)
            && end <= start
        {
            return Err(invalid(format!("the window ends ({end}) before it starts ({start})")));
        }
        self.starts_at = starts_at;
        self.ends_at = ends_at;
        Ok(self)
    }

    /// The same schedule, catching up one missed due time no older than
    /// `ms` (1 ms to [`MAX_CATCH_UP_MS`]); `None` skips them all.
    pub fn with_catch_up(mut self, ms: Option<u64>) -> Result<Self, VigyError> {
        match ms {
            Some(0) => return Err(invalid("a catch-up window of 0 ms catches nothing up; leave it out to skip")),
            Some(ms) if ms > MAX_CATCH_UP_MS => {
                return Err(invalid(format!(
                    "catch-up window of {ms} ms is above the maximum of {MAX_CATCH_UP_MS} ms"
                )));
            }
            _ => {}
        }
        self.catch_up = ms.map(Duration::from_millis);
        Ok(self)
    }

    /// The same schedule, backing off from `base` after a failed tick
    /// (doubled per further failure) up to `cap`; `None` keeps the default
    /// (the interval, or a second; the runtime's cap). Each is 100 ms to 7
    /// days, and the base no longer than the cap.
    pub fn with_backoff(mut self, base_ms: Option<u64>, cap_ms: Option<u64>) -> Result<Self, VigyError> {
        for (what, ms) in [("base", base_ms), ("cap", cap_ms)] {
            if let Some(ms) = ms
                && !(TickInterval::MIN_MILLIS..=TickInterval::MAX_MILLIS).contains(&ms)
            {
                return Err(invalid(format!("a backoff {what} of {ms} ms is outside 100 ms to 7 days")));
            }
        }
        if let (Some(base), Some(cap)) = (base_ms, cap_ms)
            && base > cap
        {
            return Err(invalid(format!("the backoff base ({base} ms) is above its cap ({cap} ms)")));
        }
        self.backoff_base = base_ms.map(Duration::from_millis);
        self.backoff_cap = cap_ms.map(Duration::from_millis);
        Ok(self)
    }

    /// How often it ticks.
    pub fn cadence(&self) -> &Cadence {
        &self.cadence
    }

    /// The interval, for an interval schedule.
    pub fn interval(&self) -> Option<TickInterval> {
        match &self.cadence {
            Cadence::Every(interval) => Some(*interval),
            Cadence::Cron(_) => None,
        }
    }

    /// The cron pattern, for a cron schedule.
    pub fn cron_pattern(&self) -> Option<&CronPattern> {
        match &self.cadence {
            Cadence::Cron(pattern) => Some(pattern),
            Cadence::Every(_) => None,
        }
    }

    /// The jitter window.
    pub fn jitter(&self) -> Duration {
        self.jitter
    }

    /// No tick before this.
    pub fn starts_at(&self) -> Option<Timestamp> {
        self.starts_at
    }

    /// No tick after this.
    pub fn ends_at(&self) -> Option<Timestamp> {
        self.ends_at
    }

    /// How old a missed due time may be and still be caught up.
    pub fn catch_up(&self) -> Option<Duration> {
        self.catch_up
    }

    /// The wait after a first failed tick, which further failures double:
    /// as configured, else twice the interval (two seconds, twice cron's
    /// resolution, for a cron schedule).
    pub fn backoff_base(&self) -> Duration {
        self.backoff_base.unwrap_or_else(|| {
            self.interval().map_or(Duration::from_secs(1), TickInterval::as_duration).saturating_mul(2)
        })
    }

    /// The longest wait after failures, if this vigy sets its own.
    pub fn backoff_cap(&self) -> Option<Duration> {
        self.backoff_cap
    }

    /// The backoff base as configured (`None`: the default).
    pub fn configured_backoff_base(&self) -> Option<Duration> {
        self.backoff_base
    }

    /// `id`'s offset in `[0, jitter)`: the same every time.
    pub fn offset(&self, id: VigyId) -> Duration {
        let window = self.jitter.as_millis() as u64;
        if window == 0 { Duration::ZERO } else { Duration::from_millis(id.spread() % window) }
    }

    /// The due time that follows the one at `after` (for an interval, `after`
    /// is on its grid): the next cron time with `id`'s offset, or one
    /// interval on; moved to the window's start, `None` past its end.
    pub fn next_due(&self, id: VigyId, after: Timestamp) -> Option<Timestamp> {
        let offset = chrono::Duration::from_std(self.offset(id)).ok()?;
        let next = match &self.cadence {
            Cadence::Every(interval) => {
                let next = after + chrono::Duration::milliseconds(interval.as_millis() as i64);
                self.starts_at.map_or(next, |start| next.max(start))
            }
            Cadence::Cron(pattern) => {
                let from = match self.starts_at {
                    Some(start) if start > after => start - chrono::Duration::milliseconds(1),
                    _ => after,
                };
                pattern.next_after(from - offset)? + offset
            }
        };
        self.ends_at.is_none_or(|end| next <= end).then_some(next)
    }

    /// The first due time of a vigy that has not ticked yet (or whose last
    /// due time is unknown), after `now`. An interval vigy is due at once
    /// (or when its window opens), after its jitter offset.
    pub fn first_due(&self, id: VigyId, now: Timestamp) -> Option<Timestamp> {
        let first = match &self.cadence {
            Cadence::Every(_) => {
                let offset = chrono::Duration::from_std(self.offset(id)).unwrap_or_default();
                self.starts_at.map_or(now, |start| start.max(now)) + offset
            }
            Cadence::Cron(_) => return self.next_due(id, now),
        };
        self.ends_at.is_none_or(|end| first <= end).then_some(first)
    }

    /// Where the schedule goes after the tick due at `last`, as of `now`:
    /// the next due time if it is still ahead; else, the missed ones
    /// counted, a catch-up tick now if the latest lies in the catch-up
    /// window, or the first due time ahead. `None` once the window closed.
    pub fn plan(&self, id: VigyId, last: Timestamp, now: Timestamp) -> Option<Plan> {
        let next = self.next_due(id, last)?;
        if next > now {
            return Some(Plan { at: next, missed: 0, catch_up: None });
        }
        let (latest_missed, mut missed) = self.last_due_by(id, next, now);
        let ahead = self.next_due(id, latest_missed);
        let in_window =
            self.catch_up.is_some_and(|window| (now - latest_missed).to_std().is_ok_and(|age| age <= window));
        if in_window {
            missed -= 1;
            return Some(Plan { at: now, missed, catch_up: Some(latest_missed) });
        }
        ahead.map(|at| Plan { at, missed, catch_up: None })
    }

    /// The latest due time at or before `now`, starting from `first` (which
    /// is), and how many there are from `first` to it.
    fn last_due_by(&self, id: VigyId, first: Timestamp, now: Timestamp) -> (Timestamp, u64) {
        if let Cadence::Every(interval) = &self.cadence {
            let step = interval.as_millis() as i64;
            let steps = (now - first).num_milliseconds() / step;
            let mut latest = first + chrono::Duration::milliseconds(steps * step);
            if let Some(end) = self.ends_at {
                while latest > end {
                    latest -= chrono::Duration::milliseconds(step);
                }
            }
            let count = ((latest - first).num_milliseconds() / step) as u64 + 1;
            return (latest, count);
        }
        let (mut latest, mut count) = (first, 1);
        while let Some(next) = self.next_due(id, latest).filter(|next| *next <= now) {
            latest = next;
            count += 1;
            if count == MAX_COUNTED {
                // Count no further: jump to the last due time before now.
                let offset = chrono::Duration::from_std(self.offset(id)).unwrap_or_default();
                let back = self.cron_pattern().and_then(|p| previous(p, now - offset)).map(|t| t + offset);
                return (back.filter(|b| *b > latest).unwrap_or(latest), count);
            }
        }
        (latest, count)
    }

    /// The next `n` due times after `now` for a vigy last due at `last`
    /// (`None`: it has not ticked).
    pub fn upcoming(&self, id: VigyId, last: Option<Timestamp>, now: Timestamp, n: usize) -> Vec<Timestamp> {
        let first = match last {
            Some(last) => self.plan(id, last, now).map(|plan| plan.at),
            None => self.first_due(id, now),
        };
        std::iter::successors(first, |at| self.next_due(id, *at)).take(n).collect()
    }
}

/// A schedule as its fields are written on the wire, in the store and on
/// the command line; [`ScheduleSpec::build`] checks it whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScheduleSpec {
    /// A fixed interval, in milliseconds.
    pub every_ms: Option<u64>,
    /// A cron pattern, six fields, seconds first.
    pub cron: Option<String>,
    /// The cron pattern's IANA time zone (default `UTC`).
    pub tz: Option<String>,
    /// The jitter window, in milliseconds (0: none).
    #[serde(default)]
    pub jitter_ms: u64,
    /// No tick before this.
    pub starts_at: Option<Timestamp>,
    /// No tick after this.
    pub ends_at: Option<Timestamp>,
    /// Catch up one missed due time no older than this (absent: skip them).
    pub catch_up_window_ms: Option<u64>,
    /// The wait after a first failed tick (absent: twice the interval, or 2 s).
    pub backoff_base_ms: Option<u64>,
    /// The longest wait after failures (absent: the runtime's).
    pub backoff_cap_ms: Option<u64>,
}

impl ScheduleSpec {
    /// The schedule these fields describe: exactly one of an interval and a
    /// cron pattern, a zone only with a pattern.
    pub fn build(self) -> Result<Schedule, VigyError> {
        let schedule = match (self.every_ms, self.cron) {
            (Some(ms), None) => {
                if let Some(tz) = &self.tz {
                    return Err(invalid(format!("a time zone (`{tz}`) is for a cron pattern, not an interval")));
                }
                Schedule::every(TickInterval::from_millis(ms)?)
            }
            (None, Some(pattern)) => {
                Schedule::cron(CronPattern::new(&pattern, self.tz.as_deref().unwrap_or(DEFAULT_ZONE))?)
            }
            (Some(_), Some(_)) => return Err(invalid("give an interval or a cron pattern, not both")),
            (None, None) => return Err(invalid("give an interval or a cron pattern")),
        };
        schedule
            .with_jitter(self.jitter_ms)?
            .with_window(self.starts_at, self.ends_at)?
            .with_catch_up(self.catch_up_window_ms)?
            .with_backoff(self.backoff_base_ms, self.backoff_cap_ms)
    }
}

impl TryFrom<ScheduleSpec> for Schedule {
    type Error = VigyError;
    fn try_from(spec: ScheduleSpec) -> Result<Self, VigyError> {
        spec.build()
    }
}

impl From<Schedule> for ScheduleSpec {
    fn from(schedule: Schedule) -> Self {
        Self::from(&schedule)
    }
}

impl From<&Schedule> for ScheduleSpec {
    fn from(schedule: &Schedule) -> Self {
        Self {
            every_ms: schedule.interval().map(TickInterval::as_millis),
            cron: schedule.cron_pattern().map(|p| p.pattern().to_owned()),
            tz: schedule.cron_pattern().map(|p| p.zone().to_owned()),
            jitter_ms: schedule.jitter.as_millis() as u64,
            starts_at: schedule.starts_at,
            ends_at: schedule.ends_at,
            catch_up_window_ms: schedule.catch_up.map(|w| w.as_millis() as u64),
            backoff_base_ms: schedule.backoff_base.map(|d| d.as_millis() as u64),
            backoff_cap_ms: schedule.backoff_cap.map(|d| d.as_millis() as u64),
        }
    }
}

/// The last time of `pattern` at or before `at`.
fn previous(pattern: &CronPattern, at: Timestamp) -> Option<Timestamp> {
    let local = at.with_timezone(&pattern.zone).naive_local();
    let wall = pattern.cron.find_previous_occurrence(&local, true).ok()?;
    pattern.zone.from_local_datetime(&wall).earliest().map(|t| t.to_utc())
}

#[cfg(test)]
mod tests;
