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
    let token = token(&cli)?;
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
        Command::Serve {
            bind,
            selector,
            grpc_socket,
            public_hosts,
            tls_cert,
            tls_key,
            insecure_http,
            allow_origins,
            lease_ttl,
            config,
            max_concurrent_ticks,
            concurrency,
        } => {
            let tls = tls_cert.zip(tls_key).map(|(cert, key)| vigy_server::TlsFiles { cert, key });
            let options = vigy_server::ServeOptions {
                token,
                public_hosts,
                allow_origins,
                tls,
                insecure_http,
                ..Default::default()
            };
            let concurrency =
                vigy::ConcurrencyLimits { total: max_concurrent_ticks.map(|n| n as usize), by_selector: concurrency };
            serve::serve(serve::Serve { db, bind, selector, grpc_socket, options, lease_ttl, config, concurrency })
                .await
        }
        Command::Mcp => match &cli.server {
            Some(url) => {
                serve::mcp(Arc::new(remote::client(url, token.as_ref().map(vigy_server::Token::expose))?)).await
            }
            None => {
                let rt = open_for_management(&db).await?;
                let result = serve::mcp(Arc::new(rt.clone())).await;
                rt.shutdown().await;
                result
            }
        },
        command if cli.server.is_some() => {
            let url = cli.server.as_deref().unwrap_or_default();
            let server = remote::client(url, token.as_ref().map(vigy_server::Token::expose))?;
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
    RuntimeHandle::builder().path(db).scope(Scope::Nothing).open().await.context(vigy::location_name(db))
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

/// The token from --token-file, or --token / $VIGY_TOKEN; one on the
/// command line works but is warned about (any user can read it in `ps`).
fn token(cli: &Cli) -> anyhow::Result<Option<vigy_server::Token>> {
    if let Some(path) = &cli.token_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("--token-file {}", path.display()))?;
        let token = text.lines().next().unwrap_or_default().trim();
        anyhow::ensure!(!token.is_empty(), "--token-file {}: the file holds no token", path.display());
        return Ok(Some(token.into()));
    }
    if std::env::args().any(|a| a == "--token" || a.starts_with("--token=")) {
        tracing::warn!("a token given with --token is visible to other users (ps); prefer $VIGY_TOKEN or --token-file");
    }
    Ok(cli.token.clone())
}
