use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use vigy::{RuntimeHandle, Scope, default_db_path};

use crate::args::{Cli, Command};
use crate::manage::{Target, manage};
use crate::{local_run, output, remote, serve};

pub(crate) async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let db = cli.db.clone().unwrap_or_else(default_db_path);
    let json = cli.json;
    match cli.command {
        Command::Check { file } => check(&file, json),
        Command::Run { file, ticks } => {
            let program = local_run::read_program(&file)?;
            let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("local").to_owned();
            let (report, ok) = local_run::run(&program, &name, ticks).await;
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
            manage(Target::Remote(&server), command, json).await.with_context(|| format!("server {url}"))?;
            Ok(ExitCode::SUCCESS)
        }
        command => {
            let rt = open_for_management(&db).await?;
            let result = manage(Target::Local(&rt), command, json).await;
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
