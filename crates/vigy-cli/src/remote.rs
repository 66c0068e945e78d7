//! The commands against a running `vigy serve` (`--server URL`), through
//! the generated REST client: the same commands, the same output, over the
//! API instead of the database.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Context;
use futures::StreamExt;
use serde_json::json;
use vigy::api::{self, VigyService};
use vigy::clients::RestClient;

use crate::args::Command;
use crate::{local_run, output};

/// A client of the server at `url`, sending `token` if given.
pub(crate) fn client(url: &str, token: Option<&str>) -> anyhow::Result<RestClient> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().context("the token is not a valid header value")?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    // No total timeout: `tail` follows an event stream for as long as it runs.
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .default_headers(headers)
        .build()
        .context("an HTTP client")?;
    Ok(RestClient::with_client(url.trim_end_matches('/'), http))
}

/// Run a managing command against `server`.
pub(crate) async fn manage(server: &dyn VigyService, command: Command, json: bool) -> anyhow::Result<()> {
    match command {
        Command::Register { file, name, every, labels } => {
            let program = local_run::read_program(&file)?;
            let labels = labels
                .iter()
                .map(|pair| pair.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect::<Option<_>>()
                .context("a label is key=value")?;
            let body = api::RegisterVigy {
                name,
                program: program.source().to_owned(),
                tick_interval_ms: every,
                labels: Some(labels),
            };
            let stored = server.register_vigy(api::RegisterVigyRequest { body }).await?;
            if json { output::json(&stored) } else { println!("{}", stored.id) }
        }
        Command::List { selector } => {
            let selector = (!selector.trim().is_empty()).then_some(selector);
            let list = server.list_vigies(api::ListVigiesRequest { selector, limit: None }).await?;
            if json { output::json(&list.items) } else { vigies(&list.items) }
        }
        Command::Inspect { vigy, runs: limit } => {
            let v = server.get_vigy(api::GetVigyRequest { id: vigy }).await?;
            let state = server.get_vigy_state(api::GetVigyStateRequest { id: v.id.clone() }).await?;
            let limit = u32::try_from(limit).unwrap_or(u32::MAX).max(1);
            let recent =
                server.list_vigy_runs(api::ListVigyRunsRequest { id: v.id.clone(), limit: Some(limit) }).await?;
            if json {
                output::json(&json!({ "vigy": v, "state": state, "runs": recent.items }));
            } else {
                inspect(&v, &state, &recent.items);
            }
        }
        Command::Tick { vigy } => {
            let run = server.tick_vigy(api::TickVigyRequest { id: vigy }).await?;
            if json { output::json(&run) } else { runs(std::slice::from_ref(&run)) }
        }
        Command::Disable { vigy } => {
            let v = server.disable_vigy(api::DisableVigyRequest { id: vigy }).await?;
            if json { output::json(&v) } else { println!("disabled {} ({})", v.name, v.id) }
        }
        Command::Enable { vigy } => {
            let v = server.enable_vigy(api::EnableVigyRequest { id: vigy }).await?;
            if json { output::json(&v) } else { println!("enabled {} ({})", v.name, v.id) }
        }
        Command::Delete { vigy } => {
            let v = server.delete_vigy(api::DeleteVigyRequest { id: vigy }).await?;
            if json { output::json(&json!({ "deleted": v.id })) } else { println!("deleted {} ({})", v.name, v.id) }
        }
        Command::Tail { vigy, all } => {
            anyhow::ensure!(!all, "--all reads the database; a server streams only new runs");
            tail(server, vigy).await?;
        }
        Command::Check { .. } | Command::Run { .. } | Command::Serve { .. } | Command::Mcp => {
            unreachable!("handled in run")
        }
    }
    Ok(())
}

/// Follow the server's event stream, one JSON line a run, until the
/// stream ends (the server stops) or SIGINT.
async fn tail(server: &dyn VigyService, vigy: Option<String>) -> anyhow::Result<()> {
    let vigy_id = match vigy {
        Some(v) => Some(server.get_vigy(api::GetVigyRequest { id: v }).await?.id),
        None => None,
    };
    let mut events = server.stream_events(api::StreamEventsRequest { vigy_id }).await?;
    let mut names: HashMap<String, String> = HashMap::new();
    let mut stdout = std::io::stdout().lock();
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let line = match event {
            None => return Ok(()),
            // A missed-events notice: say so on the stream and go on.
            Some(Err(error)) => json!({ "error": error.to_string(), "code": error.code() }),
            Some(Ok(run)) => {
                if !names.contains_key(&run.vigy_id) {
                    let all = server.list_vigies(api::ListVigiesRequest { selector: None, limit: None }).await?;
                    names.extend(all.items.into_iter().map(|v| (v.id, v.name)));
                }
                output::tail_event(&run, names.get(&run.vigy_id).map(String::as_str))
            }
        };
        if writeln!(stdout, "{line}").and_then(|()| stdout.flush()).is_err() {
            return Ok(()); // the reader went away (e.g. `| head`)
        }
    }
}

fn labels(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn vigies(list: &[api::Vigy]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|v| {
            let enabled = if v.enabled { "yes" } else { "no" };
            vec![
                v.id.clone(),
                v.name.clone(),
                enabled.to_owned(),
                format!("{} ms", v.tick_interval_ms),
                labels(&v.labels),
            ]
        })
        .collect();
    output::table(&["ID", "NAME", "ENABLED", "EVERY", "LABELS"], &rows);
}

fn runs(list: &[api::VigyRun]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            let actions: Vec<&str> = r.actions.iter().map(|a| a.kind.as_str()).collect();
            vec![
                r.tick.to_string(),
                vigy::format_timestamp(&r.started_at),
                json!(r.result).as_str().unwrap_or_default().to_owned(),
                format!("{} ms", (r.ended_at - r.started_at).num_milliseconds()),
                actions.join(","),
                r.error.as_deref().and_then(|e| e.lines().next()).unwrap_or("").to_owned(),
            ]
        })
        .collect();
    output::table(&["TICK", "STARTED", "RESULT", "TOOK", "ACTIONS", "ERROR"], &rows);
}

fn inspect(v: &api::Vigy, state: &api::VigyState, recent: &[api::VigyRun]) {
    println!("id:        {}", v.id);
    println!("name:      {}", v.name);
    println!("enabled:   {}", v.enabled);
    println!("every:     {} ms", v.tick_interval_ms);
    println!("labels:    {}", labels(&v.labels));
    println!("created:   {}", vigy::format_timestamp(&v.created_at));
    println!("updated:   {}", vigy::format_timestamp(&v.updated_at));
    println!("ticks:     {}", state.tick_count);
    println!("desired:   {}", serde_json::Value::Object(state.desired.clone()));
    println!("observed:  {}", serde_json::Value::Object(state.observed.clone()));
    println!("program:");
    for line in v.program.lines() {
        println!("  {line}");
    }
    println!();
    runs(recent);
}
