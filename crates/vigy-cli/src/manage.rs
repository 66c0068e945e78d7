//! The commands that manage vigies, over any `VigyService`: the local
//! runtime on the database, or a running `vigy serve` through the
//! generated REST client. One code path, so both print and fail alike.

use anyhow::Context;
use serde_json::json;
use vigy::RuntimeHandle;
use vigy::api::{self, VigyService};

use crate::args::Command;
use crate::{local_run, output, tail};

/// How many vigies `vigy list` asks for at a time (the most a page holds).
const LIST_PAGE: u32 = 1000;

/// Where the commands run. The database offers two things the API does
/// not: a vigy's kv store (shown by `inspect`) and the runs already stored
/// (`tail --all`).
pub(crate) enum Target<'a> {
    Local(&'a RuntimeHandle),
    Remote(&'a dyn VigyService),
}

impl Target<'_> {
    fn service(&self) -> &dyn VigyService {
        match self {
            Self::Local(rt) => *rt,
            Self::Remote(server) => *server,
        }
    }
}

/// Run a managing command against `target`.
pub(crate) async fn manage(target: Target<'_>, command: Command, json: bool) -> anyhow::Result<()> {
    let service = target.service();
    match command {
        Command::Register { file, name, labels, schedule } => {
            let program = local_run::read_program(&file)?;
            // The domain's own check, so a bad pair is named before anything is sent.
            let labels = vigy::Labels::from_pairs(labels.iter().map(String::as_str))?;
            let body = api::RegisterVigy {
                name,
                program: program.source().to_owned(),
                tick_interval_ms: schedule.every,
                labels: Some(labels.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()),
                cron: schedule.cron,
                tz: schedule.tz,
                jitter_ms: schedule.jitter,
                starts_at: schedule.starts_at,
                ends_at: schedule.ends_at,
                catch_up_window_ms: schedule.catch_up,
                pause_after_failures: schedule.pause_after_failures,
                backoff_base_ms: schedule.backoff_base,
                backoff_cap_ms: schedule.backoff_cap,
            };
            let stored = service.register_vigy(api::RegisterVigyRequest { body }).await?;
            if json { output::json(&stored) } else { println!("{}", stored.id) }
        }
        Command::List { selector, conditions } => {
            let selector = (!selector.trim().is_empty()).then_some(selector);
            // One comma-separated list, as every transport takes it; the
            // service reads (and refuses) each part, on both paths alike.
            let condition = (!conditions.is_empty()).then(|| conditions.join(","));
            // Every page, following the cursors to the last.
            let (mut items, mut cursor) = (Vec::new(), None);
            loop {
                let request = api::ListVigiesRequest {
                    selector: selector.clone(),
                    limit: Some(LIST_PAGE),
                    condition: condition.clone(),
                    cursor: cursor.take(),
                };
                let page = service.list_vigies(request).await?;
                items.extend(page.items);
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            if json { output::json(&items) } else { output::vigies(&items) }
        }
        Command::Inspect { vigy, runs: limit } => {
            let v = service.get_vigy(api::GetVigyRequest { id: vigy }).await?;
            let state = service.get_vigy_state(api::GetVigyStateRequest { id: v.id.clone() }).await?;
            let recent =
                service.list_vigy_runs(api::ListVigyRunsRequest { id: v.id.clone(), limit: Some(limit), cursor: None });
            let recent = recent.await?.items;
            let kv = service.get_vigy_kv(api::GetVigyKvRequest { id: v.id.clone() }).await?;
            let kv = Some(serde_json::Value::Object(kv.entries));
            let lease = match target {
                Target::Local(rt) => rt.store().lease(v.id.parse()?).await?,
                Target::Remote(_) => None,
            };
            let lease = lease.filter(|lease| lease.live).map(output::Owner::from);
            if json {
                let mut report = json!({ "vigy": v, "state": state, "runs": recent });
                if let Some(kv) = kv {
                    report["kv"] = kv;
                }
                if let Some(owner) = &lease {
                    report["owner"] = serde_json::to_value(owner)?;
                }
                output::json(&report);
            } else {
                output::inspect(&v, &state, kv.as_ref(), lease.as_ref(), &recent);
            }
        }
        Command::Tick { vigy } => {
            let run = service.tick_vigy(api::TickVigyRequest { id: vigy }).await?;
            if json { output::json(&run) } else { output::runs(std::slice::from_ref(&run)) }
        }
        Command::Disable { vigy } => {
            let v = service.disable_vigy(api::DisableVigyRequest { id: vigy }).await?;
            if json { output::json(&v) } else { println!("disabled {} ({})", v.name, v.id) }
        }
        Command::Enable { vigy } => {
            let v = service.enable_vigy(api::EnableVigyRequest { id: vigy }).await?;
            if json { output::json(&v) } else { println!("enabled {} ({})", v.name, v.id) }
        }
        Command::Pause { vigy, reason } => {
            let body = api::PauseVigy { reason };
            let v = service.pause_vigy(api::PauseVigyRequest { id: vigy, body }).await?;
            if json { output::json(&v) } else { println!("paused {} ({})", v.name, v.id) }
        }
        Command::Resume { vigy } => {
            let v = service.resume_vigy(api::ResumeVigyRequest { id: vigy }).await?;
            if json { output::json(&v) } else { println!("resumed {} ({})", v.name, v.id) }
        }
        Command::Delete { vigy } => {
            let v = service.delete_vigy(api::DeleteVigyRequest { id: vigy }).await?;
            if json { output::json(&json!({ "deleted": v.id })) } else { println!("deleted {} ({})", v.name, v.id) }
        }
        Command::Tail { vigy, all } => match target {
            Target::Local(rt) => tail::follow_database(rt, vigy, all).await?,
            Target::Remote(server) => {
                anyhow::ensure!(!all, "--all reads the database; a server streams only new runs");
                tail::follow_stream(server, vigy).await.context("following the server's events")?;
            }
        },
        Command::Check { .. } | Command::Run { .. } | Command::Serve { .. } | Command::Mcp => {
            unreachable!("handled in run")
        }
    }
    Ok(())
}
