use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use vigy::{LabelSelector, Labels, RuntimeHandle, Scope, TickInterval, Vigy, VigyId, default_db_path};

use crate::args::{Cli, Command};
use crate::{local_run, output, remote, serve};

/// How often `vigy tail` reads new runs.
const TAIL_POLL: Duration = Duration::from_millis(200);

pub(crate) async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let db = cli.db.clone().unwrap_or_else(default_db_path);
    let json = cli.json;
    match cli.command {
        Command::Check { file } => check(&file, json),
        Command::Run { file, ticks } => {
            let program = local_run::read_program(&file)?;
            let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("local").to_owned();
            let (report, ok) = local_run::run(&program, &name, ticks);
            output::json(&report);
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Serve { .. } if cli.server.is_some() => {
            anyhow::bail!("`serve` runs a runtime of its own; drop --server / $VIGY_SERVER")
        }
        Command::Serve { bind, selector, grpc_socket, public_hosts } => {
            let token = cli.token;
            serve::serve(serve::Serve { db, bind, selector, token, grpc_socket, public_hosts }).await
        }
        Command::Mcp => match &cli.server {
            Some(url) => serve::mcp(Arc::new(remote::client(url, cli.token.as_deref())?)).await,
            None => {
                let rt = open_for_management(&db).await?;
                let result = serve::mcp(Arc::new(rt.clone())).await;
                rt.shutdown().await;
                result
            }
        },
        command if cli.server.is_some() => {
            let url = cli.server.as_deref().unwrap_or_default();
            let server = remote::client(url, cli.token.as_deref())?;
            remote::manage(&server, command, json).await.with_context(|| format!("server {url}"))?;
            Ok(ExitCode::SUCCESS)
        }
        command => {
            let rt = open_for_management(&db).await?;
            let result = manage(&rt, command, json).await;
            rt.shutdown().await;
            result.map(|()| ExitCode::SUCCESS)
        }
    }
}

/// The runtime over `db` without ticking anything: a `vigy serve` ticks.
async fn open_for_management(db: &std::path::Path) -> anyhow::Result<RuntimeHandle> {
    RuntimeHandle::builder().path(db).scope(Scope::Nothing).open().await.context(db.display().to_string())
}

fn check(file: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    match local_run::read_program(file) {
        Ok(program) => {
            let forms = program.forms().len();
            if json {
                output::json(&json!({ "ok": true, "forms": forms }));
            } else {
                println!("{}: ok ({forms} forms)", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) if json => {
            output::json(&json!({ "ok": false, "error": error.to_string() }));
            Ok(ExitCode::FAILURE)
        }
        Err(error) => Err(error),
    }
}

/// Commands that manage vigies in the database.
async fn manage(rt: &RuntimeHandle, command: Command, json: bool) -> anyhow::Result<()> {
    match command {
        Command::Register { file, name, every, labels } => {
            let program = local_run::read_program(&file)?;
            let labels = Labels::from_pairs(labels.iter().map(String::as_str))?;
            let vigy = Vigy::new(name, program.source(), TickInterval::from_millis(every)?)?.with_labels(labels);
            let stored = rt.register_or_update(vigy).await?;
            if json {
                output::json(&stored);
            } else {
                println!("{}", stored.id);
            }
        }
        Command::List { selector } => {
            let selector: LabelSelector = selector.parse()?;
            let list = rt.list(&selector).await?;
            if json { output::json(&list) } else { output::vigies(&list) }
        }
        Command::Inspect { vigy, runs } => {
            let v = rt.resolve(&vigy).await?;
            let state = rt.state(v.id).await?;
            let kv = serde_json::to_value(rt.kv(v.id).await?)?;
            let recent = rt.recent_runs(v.id, runs).await?;
            if json {
                output::json(&json!({ "vigy": v, "state": state, "kv": kv, "runs": recent }));
            } else {
                output::inspect(&v, &state, &kv, &recent);
            }
        }
        Command::Tick { vigy } => {
            let v = rt.resolve(&vigy).await?;
            let run = rt.tick_now(v.id).await?;
            if json { output::json(&run) } else { output::runs(std::slice::from_ref(&run)) }
        }
        Command::Disable { vigy } => {
            let v = rt.disable(rt.resolve(&vigy).await?.id).await?;
            if json { output::json(&v) } else { println!("disabled {} ({})", v.name, v.id) }
        }
        Command::Enable { vigy } => {
            let v = rt.enable(rt.resolve(&vigy).await?.id).await?;
            if json { output::json(&v) } else { println!("enabled {} ({})", v.name, v.id) }
        }
        Command::Delete { vigy } => {
            let v = rt.resolve(&vigy).await?;
            rt.delete(v.id).await?;
            if json { output::json(&json!({ "deleted": v.id })) } else { println!("deleted {} ({})", v.name, v.id) }
        }
        Command::Tail { vigy, all } => tail(rt, vigy, all).await?,
        Command::Check { .. } | Command::Run { .. } | Command::Serve { .. } | Command::Mcp => {
            unreachable!("handled in run")
        }
    }
    Ok(())
}

/// Print every run committed from now on (or from the oldest kept) as one
/// JSON line, following the database until interrupted.
async fn tail(rt: &RuntimeHandle, vigy: Option<String>, all: bool) -> anyhow::Result<()> {
    use std::io::Write;
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
                for v in rt.list(&LabelSelector::everything()).await? {
                    names.insert(v.id, v.name.to_string());
                }
            }
            let event = output::tail_event(run, names.get(&run.vigy_id).map(String::as_str));
            if writeln!(stdout, "{event}").and_then(|()| stdout.flush()).is_err() {
                return Ok(()); // the reader went away (e.g. `| head`)
            }
        }
        if batch.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(TAIL_POLL) => {}
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
        }
    }
}
