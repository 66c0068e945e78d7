//! Human tables and JSON for the commands' results.

use serde::Serialize;
use vigy::api;
use vigy::format_timestamp;

/// The longest excerpt of a message or an output shown in a table cell.
const EXCERPT: usize = 60;

/// Print rows as a table with a header, columns padded to their widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    indented_table("", header, rows);
}

/// [`table`], each line after `indent`.
fn indented_table(indent: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{indent}{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// The first line of `text`, cut to `max` characters (`…` where cut).
fn excerpt(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > max || line.len() < text.trim_end().len() {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    }
}

/// One line of `vigy tail`: a run as the API has it (each action with its
/// result, message, attempts and output), with its vigy's name.
pub(crate) fn tail_event(run: &api::VigyRun, vigy_name: Option<&str>) -> serde_json::Value {
    let run = serde_json::to_value(run).expect("serializable");
    serde_json::json!({
        "run_id": run["id"],
        "vigy_id": run["vigy_id"],
        "vigy": vigy_name,
        "tick": run["tick"],
        "started_at": run["started_at"],
        "ended_at": run["ended_at"],
        "result": run["result"],
        "error": run["error"],
        "actions": run["actions"],
        "logs_truncated": run["logs_truncated"],
    })
}

pub(crate) fn json(value: &impl Serialize) {
    println!("{}", serde_json::to_string_pretty(value).expect("serializable"));
}

fn labels(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

pub(crate) fn vigies(list: &[api::Vigy]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|v| {
            let enabled = if v.enabled { "yes" } else { "no" };
            vec![v.id.clone(), v.name.clone(), enabled.to_owned(), cadence(v), labels(&v.labels)]
        })
        .collect();
    table(&["ID", "NAME", "ENABLED", "SCHEDULE", "LABELS"], &rows);
}

/// When it ticks, in a few words: `1000 ms`, `cron */2 * * * * * (UTC)`,
/// and `paused` while it is.
fn cadence(v: &api::Vigy) -> String {
    let cadence = match (&v.cron, v.tick_interval_ms) {
        (Some(cron), _) => format!("cron {cron} ({})", v.tz.as_deref().unwrap_or("UTC")),
        (None, Some(ms)) => format!("{ms} ms"),
        (None, None) => String::new(),
    };
    if v.paused_reason.is_some() { format!("{cadence}, paused") } else { cadence }
}

pub(crate) fn runs(list: &[api::VigyRun]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            let actions: Vec<String> = r.actions.iter().map(|a| format!("{}:{}", a.kind, a.result.as_str())).collect();
            vec![
                r.tick.to_string(),
                format_timestamp(&r.started_at),
                serde_json::json!(r.result).as_str().unwrap_or_default().to_owned(),
                format!("{} ms", (r.ended_at - r.started_at).num_milliseconds()),
                actions.join(","),
                r.error.as_deref().and_then(|e| e.lines().next()).unwrap_or("").to_owned(),
            ]
        })
        .collect();
    table(&["TICK", "STARTED", "RESULT", "TOOK", "ACTIONS", "ERROR"], &rows);
}

/// The runtime ticking a vigy, and until when its lease runs.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Owner {
    pub(crate) runtime: String,
    pub(crate) host: Option<String>,
    pub(crate) pid: Option<u32>,
    pub(crate) lease_expires_at: String,
}

impl From<vigy::Lease> for Owner {
    fn from(lease: vigy::Lease) -> Self {
        let expires = chrono::DateTime::from_timestamp_millis(lease.expires_ms).unwrap_or_default();
        Self {
            runtime: lease.owner,
            host: lease.owner_host.as_ref().map(|(host, _)| host.clone()),
            pid: lease.owner_host.map(|(_, pid)| pid),
            lease_expires_at: format_timestamp(&expires),
        }
    }
}

/// A vigy in full; `kv` and its owner where the database is at hand.
pub(crate) fn inspect(
    v: &api::Vigy,
    state: &api::VigyState,
    kv: Option<&serde_json::Value>,
    owner: Option<&Owner>,
    recent: &[api::VigyRun],
) {
    println!("id:        {}", v.id);
    println!("name:      {}", v.name);
    println!("enabled:   {}", v.enabled);
    if let Some(reason) = &v.disabled_reason {
        println!("disabled:  {reason}");
    }
    println!("schedule:  {}", cadence(v));
    if v.jitter_ms > 0 {
        println!("jitter:    {} ms", v.jitter_ms);
    }
    if v.starts_at.is_some() || v.ends_at.is_some() {
        let edge = |t: &Option<chrono::DateTime<chrono::Utc>>| t.as_ref().map_or("-".to_owned(), format_timestamp);
        println!("window:    {} to {}", edge(&v.starts_at), edge(&v.ends_at));
    }
    if let Some(window) = v.catch_up_window_ms {
        println!("catch-up:  within {window} ms");
    }
    if let (Some(reason), Some(at)) = (&v.paused_reason, &v.paused_at) {
        println!("paused:    since {}: {reason}", format_timestamp(at));
    }
    let next: Vec<String> = state.next_ticks.iter().map(format_timestamp).collect();
    println!("next:      {}", if next.is_empty() { "-".to_owned() } else { next.join(", ") });
    if let Some(missed) = state.missed_ticks {
        println!("missed:    {missed}");
    }
    if let Some(failures) = state.consecutive_failures.filter(|n| *n > 0) {
        println!("failing:   {failures} in a row");
    }
    println!("labels:    {}", labels(&v.labels));
    println!("created:   {}", format_timestamp(&v.created_at));
    println!("updated:   {}", format_timestamp(&v.updated_at));
    println!("ticks:     {}", state.tick_count);
    if let Some(owner) = owner {
        let at = match (&owner.host, owner.pid) {
            (Some(host), Some(pid)) => format!(" on {host} (pid {pid})"),
            _ => String::new(),
        };
        println!("owner:     runtime {}{at}, lease until {}", owner.runtime, owner.lease_expires_at);
    }
    println!("desired:   {}", serde_json::Value::Object(state.desired.clone()));
    println!("observed:  {}", serde_json::Value::Object(state.observed.clone()));
    if let Some(kv) = kv {
        println!("kv:        {kv}");
    }
    conditions(&state.conditions);
    println!("program:");
    for line in v.program.lines() {
        println!("  {line}");
    }
    println!();
    runs(recent);
    actions(recent);
}

/// A vigy's conditions, one row each, under `conditions:`.
fn conditions(list: &[api::Condition]) {
    if list.is_empty() {
        println!("conditions: none");
        return;
    }
    println!("conditions:");
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                c.r#type.clone(),
                c.status.as_str().to_owned(),
                c.reason.clone().unwrap_or_default(),
                c.message.as_deref().map(|m| excerpt(m, EXCERPT)).unwrap_or_default(),
                format_timestamp(&c.last_transition_time),
            ]
        })
        .collect();
    indented_table("  ", &["TYPE", "STATUS", "REASON", "MESSAGE", "SINCE"], &rows);
}

/// What became of each action of `runs`: result, attempts, the handler's
/// message and an excerpt of its output.
fn actions(runs: &[api::VigyRun]) {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .flat_map(|r| {
            r.actions.iter().enumerate().map(|(i, a)| {
                vec![
                    r.tick.to_string(),
                    (i + 1).to_string(),
                    a.kind.clone(),
                    a.result.as_str().to_owned(),
                    a.attempts.to_string(),
                    a.message.as_deref().map(|m| excerpt(m, EXCERPT)).unwrap_or_default(),
                    a.output.as_ref().map(|o| excerpt(&o.to_string(), EXCERPT)).unwrap_or_default(),
                ]
            })
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    println!();
    println!("actions:");
    indented_table("  ", &["TICK", "#", "KIND", "RESULT", "ATTEMPTS", "MESSAGE", "OUTPUT"], &rows);
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn an_excerpt_should_be_one_bounded_line() {
        assert_eq!(excerpt("pushed", 60), "pushed");
        assert_eq!(excerpt("first\nsecond", 60), "first…");
        assert_eq!(excerpt("trailing newline\n", 60), "trailing newline");
        let long = excerpt(&"é".repeat(100), 60);
        assert_eq!(long.chars().count(), 60);
        assert!(long.ends_with('…'));
    }
}
