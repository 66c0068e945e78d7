//! Rows to domain values and back. A row that does not convert is reported
//! as corrupt, naming the table and the row.

use std::str::FromStr;

use vigy_types::{
    Labels, Pause, Program, Schedule, ScheduleSpec, Timestamp, Vigy, VigyError, VigyId, VigyName, VigyRun, VigyState,
    format_timestamp, parse_timestamp,
};

use crate::StoreError;
use crate::entity::{run, state, vigy};

fn corrupt(table: &'static str, id: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { table, id: id.to_owned(), reason: reason.to_string() }
}

fn time(table: &'static str, id: &str, text: &str) -> Result<Timestamp, StoreError> {
    parse_timestamp(text).map_err(|e| corrupt(table, id, e))
}

fn json<T: serde::de::DeserializeOwned>(table: &'static str, id: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(table, id, e))
}

/// What `tick_interval_ms` holds for a cron vigy (see the entity).
const CRON_INTERVAL_MS: u64 = 1000;

pub(crate) fn vigy_from_row(row: vigy::Model) -> Result<Vigy, StoreError> {
    const T: &str = "vigies";
    let id = &row.id;
    Ok(Vigy {
        id: VigyId::from_str(id).map_err(|e| corrupt(T, id, e))?,
        name: VigyName::new(row.name.clone()).map_err(|e| corrupt(T, id, e))?,
        program: Program::parse(row.program.clone()).map_err(|e| corrupt(T, id, e))?,
        schedule: schedule_from_row(&row).map_err(|e| corrupt(T, id, e))?,
        enabled: row.enabled,
        disabled_reason: row.disabled_reason.clone(),
        paused: match (&row.paused_reason, &row.paused_at) {
            (Some(reason), Some(at)) => Some(Pause { reason: reason.clone(), at: time(T, id, at)? }),
            _ => None,
        },
        pause_after_failures: row.pause_after_failures.map(|n| n.clamp(0, i64::from(u32::MAX)) as u32),
        labels: json::<Labels>(T, id, &row.labels)?,
        created_at: time(T, id, &row.created_at)?,
        updated_at: time(T, id, &row.updated_at)?,
    })
}

fn schedule_from_row(row: &vigy::Model) -> Result<Schedule, VigyError> {
    let millis = |ms: Option<i64>| ms.map(|ms| ms.max(0) as u64);
    let time = |text: &Option<String>| text.as_deref().map(parse_timestamp).transpose();
    let spec = ScheduleSpec {
        every_ms: row.cron.is_none().then_some(row.tick_interval_ms.max(0) as u64),
        cron: row.cron.clone(),
        tz: row.tz.clone(),
        jitter_ms: row.jitter_ms.max(0) as u64,
        starts_at: time(&row.starts_at).map_err(|e| VigyError::InvalidSchedule(e.to_string()))?,
        ends_at: time(&row.ends_at).map_err(|e| VigyError::InvalidSchedule(e.to_string()))?,
        catch_up_window_ms: millis(row.catch_up_window_ms),
        backoff_base_ms: millis(row.backoff_base_ms),
        backoff_cap_ms: millis(row.backoff_cap_ms),
    };
    spec.build()
}

pub(crate) fn vigy_to_row(v: &Vigy) -> vigy::Model {
    let spec = ScheduleSpec::from(&v.schedule);
    let millis = |ms: Option<u64>| ms.map(|ms| ms as i64);
    let time = |t: Option<Timestamp>| t.as_ref().map(format_timestamp);
    vigy::Model {
        id: v.id.to_string(),
        name: v.name.to_string(),
        program: v.program.source().to_owned(),
        tick_interval_ms: spec.every_ms.unwrap_or(CRON_INTERVAL_MS) as i64,
        enabled: v.enabled,
        disabled_reason: v.disabled_reason.clone(),
        cron: spec.cron,
        tz: spec.tz,
        jitter_ms: spec.jitter_ms as i64,
        starts_at: time(spec.starts_at),
        ends_at: time(spec.ends_at),
        catch_up_window_ms: millis(spec.catch_up_window_ms),
        pause_after_failures: v.pause_after_failures.map(i64::from),
        backoff_base_ms: millis(spec.backoff_base_ms),
        backoff_cap_ms: millis(spec.backoff_cap_ms),
        paused_reason: v.paused.as_ref().map(|p| p.reason.clone()),
        paused_at: v.paused.as_ref().map(|p| format_timestamp(&p.at)),
        labels: serde_json::to_string(&v.labels).expect("labels serialize"),
        created_at: format_timestamp(&v.created_at),
        updated_at: format_timestamp(&v.updated_at),
    }
}

pub(crate) fn run_from_row(row: run::Model) -> Result<VigyRun, StoreError> {
    const T: &str = "vigy_runs";
    let id = &row.id;
    Ok(VigyRun {
        id: row.id.clone(),
        vigy_id: VigyId::from_str(&row.vigy_id).map_err(|e| corrupt(T, id, e))?,
        tick: row.tick.max(0) as u64,
        started_at: time(T, id, &row.started_at)?,
        ended_at: time(T, id, &row.ended_at)?,
        result: row.result.parse().map_err(|e: String| corrupt(T, id, e))?,
        error: row.error,
        actions: json(T, id, &row.actions)?,
        logs: json(T, id, &row.logs)?,
        logs_truncated: row.logs_truncated,
    })
}

/// The row of `r`, committed at position `seq`.
pub(crate) fn run_to_row(r: &VigyRun, seq: i64) -> run::Model {
    run::Model {
        id: r.id.clone(),
        vigy_id: r.vigy_id.to_string(),
        tick: r.tick as i64,
        started_at: format_timestamp(&r.started_at),
        ended_at: format_timestamp(&r.ended_at),
        result: r.result.as_str().to_owned(),
        error: r.error.clone(),
        actions: serde_json::to_string(&r.actions).expect("actions serialize"),
        logs: serde_json::to_string(&r.logs).expect("logs serialize"),
        logs_truncated: r.logs_truncated,
        seq,
    }
}

/// A vigy's state: its last report (if any) and its newest run (if any).
pub(crate) fn state_from_rows(
    id: VigyId,
    report: Option<state::Model>,
    newest: Option<VigyRun>,
    conditions: Vec<vigy_types::Condition>,
) -> Result<Option<VigyState>, StoreError> {
    const T: &str = "vigy_state";
    if report.is_none() && newest.is_none() {
        return Ok(None);
    }
    let key = id.to_string();
    let (desired, observed, reported_at) = match report {
        Some(row) => {
            (json(T, &key, &row.desired)?, json(T, &key, &row.observed)?, Some(time(T, &key, &row.reported_at)?))
        }
        None => (Default::default(), Default::default(), None),
    };
    // One of the two is there (checked above).
    let Some(captured_at) = newest.as_ref().map(|r| r.started_at).or(reported_at) else { return Ok(None) };
    Ok(Some(VigyState {
        vigy_id: id,
        desired,
        observed,
        pending: newest
            .as_ref()
            .map(|r| r.actions.iter().filter(|a| !a.result.is_final()).cloned().collect())
            .unwrap_or_default(),
        conditions,
        tick_count: newest.as_ref().map_or(0, |r| r.tick),
        captured_at,
    }))
}
