//! `vigy tail`: one JSON line per finished run (as the API has it, each
//! action with its result and message), following either the
//! database (every process's runs, `--all` from the oldest kept) or a
//! server's event stream.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use vigy::api::{self, VigyService};
use vigy::crates::runtime::to_api_run;
use vigy::{RuntimeHandle, VigyId};

use crate::output;

/// How often the database is read for new runs.
const POLL: Duration = Duration::from_millis(200);

/// Follow the runs committed to the database from now on (or from the
/// oldest kept), until interrupted.
pub(crate) async fn follow_database(rt: &RuntimeHandle, vigy: Option<String>, all: bool) -> anyhow::Result<()> {
    let only = match vigy {
        Some(v) => Some(rt.resolve(&v).await?.id),
        None => None,
    };
    let store = rt.store();
    let mut cursor = if all { 0 } else { store.last_run_position().await? };
    let mut names: HashMap<VigyId, String> = HashMap::new();
    let mut stdout = std::io::stdout().lock();
    loop {
        let batch = store.runs_after(cursor, 1_000).await?;
        for (position, run) in &batch {
            cursor = *position;
            if only.is_some_and(|id| id != run.vigy_id) {
                continue;
            }
            if !names.contains_key(&run.vigy_id) {
                // From the store, as a vigy another process registered a
                // moment ago may not be in this runtime's catalog yet; a row
                // that does not read back leaves the name out.
                if let Ok(Some(v)) = store.get(run.vigy_id).await {
                    names.insert(v.id, v.name.to_string());
                }
            }
            let event = output::tail_event(&to_api_run(run), names.get(&run.vigy_id).map(String::as_str));
            if !print_line(&mut stdout, &event) {
                return Ok(());
            }
        }
        if batch.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
        }
    }
}

/// Follow the server's event stream until it ends (the server stops) or
/// SIGINT.
pub(crate) async fn follow_stream(server: &dyn VigyService, vigy: Option<String>) -> anyhow::Result<()> {
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
                    let all = server
                        .list_vigies(api::ListVigiesRequest {
                            selector: None,
                            limit: None,
                            condition: None,
                            cursor: None,
                        })
                        .await?;
                    names.extend(all.items.into_iter().map(|v| (v.id, v.name)));
                }
                output::tail_event(&run, names.get(&run.vigy_id).map(String::as_str))
            }
        };
        if !print_line(&mut stdout, &line) {
            return Ok(());
        }
    }
}

/// Write one line and flush it; false once the reader went away (e.g.
/// `| head`), which ends the tail quietly.
fn print_line(out: &mut impl Write, line: &serde_json::Value) -> bool {
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}
