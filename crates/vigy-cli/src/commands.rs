use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use vigy::{RuntimeHandle, Scope, default_db_path};

use crate::args::{Cli, Command, ScheduleArgs};
use crate::manage::{Target, manage};
use crate::{local_run, output, remote, serve};

pub(crate) async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let db = cli.db.clone().unwrap_or_else(default_db_path);
    let json = cli.json;
    let token = token(&cli)?;
    match cli.command {
        Command::Check { file, schedule } => check(&file, schedule, json),
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

fn check(file: &std::path::Path, schedule: Option<ScheduleArgs>, json: bool) -> anyhow::Result<ExitCode> {
    let checked = local_run::read_program(file).and_then(|program| {
        let next = schedule.map(|s| next_ticks(file, s)).transpose()?;
        Ok((program, next))
    });
    match checked {
        Ok((program, next)) => {
            let forms = program.forms().len();
            let next: Option<Vec<String>> = next.map(|n| n.iter().map(vigy::format_timestamp).collect());
            if json {
                output::json(&json!({ "ok": true, "forms": forms, "next_ticks": next }));
            } else {
                println!("{}: ok ({forms} forms)", file.display());
                if let Some(next) = next {
                    println!("next ticks: {}", next.join(", "));
                }
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

/// The next five due times of `schedule` from now, for the vigy named
/// after `file` (its jitter offset depends on the name); the domain's own
/// errors for a bad pattern, zone or window.
fn next_ticks(file: &std::path::Path, schedule: ScheduleArgs) -> anyhow::Result<Vec<vigy::Timestamp>> {
    let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("local");
    let id = vigy::VigyId::for_name(&vigy::VigyName::new(name)?);
    let built = vigy::crates::types::ScheduleSpec {
        every_ms: schedule.every,
        cron: schedule.cron,
        tz: schedule.tz,
        jitter_ms: schedule.jitter.unwrap_or(0),
        starts_at: schedule.starts_at,
        ends_at: schedule.ends_at,
        catch_up_window_ms: schedule.catch_up,
        backoff_base_ms: schedule.backoff_base,
        backoff_cap_ms: schedule.backoff_cap,
    }
    .build()?;
    Ok(built.upcoming(id, None, chrono::Utc::now(), 5))
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
