//! `vigy serve` and `vigy mcp`: the runtime behind every transport.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use vigy::{LabelSelector, RuntimeHandle, Scope, VigyService};
use vigy_server::{Readiness, ServeOptions};

/// What `vigy serve` was asked for.
#[derive(Debug)]
pub(crate) struct Serve {
    pub(crate) db: PathBuf,
    pub(crate) bind: SocketAddr,
    pub(crate) selector: String,
    pub(crate) grpc_socket: Option<PathBuf>,
    pub(crate) options: ServeOptions,
    pub(crate) lease_ttl: std::time::Duration,
    /// The built-in handlers' config file (`--config`).
    pub(crate) config: Option<PathBuf>,
    /// `--max-concurrent-ticks`, `--concurrency`.
    pub(crate) concurrency: vigy::ConcurrencyLimits,
}

pub(crate) async fn serve(args: Serve) -> anyhow::Result<ExitCode> {
    // A bad handlers file stops the server before anything is opened.
    let handlers = args.config.as_deref().map(vigy_handlers::Config::load).transpose()?;
    let mut options = args.options;
    // The bind address is a name the server is reached by.
    if !args.bind.ip().is_loopback() && !args.bind.ip().is_unspecified() {
        let ip = args.bind.ip();
        options.public_hosts.push(if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() });
    }
    vigy_server::check_bind(args.bind, &options)?;
    let tls = options.tls.as_ref().map(vigy_server::TlsFiles::server_config).transpose()?;
    let scope = if args.selector.trim().is_empty() { Scope::All } else { Scope::Selector(args.selector.parse()?) };
    let db = &args.db;
    let mut builder = RuntimeHandle::builder().path(db).scope(scope).lease_ttl(args.lease_ttl);
    if let Some(max) = args.concurrency.total {
        builder = builder.max_concurrent_ticks(max);
    }
    for (selector, max) in args.concurrency.by_selector {
        builder = builder.concurrency_limit(selector, max);
    }
    if let (Some(handlers), Some(path)) = (&handlers, &args.config) {
        builder = vigy_handlers::install(builder, handlers);
        tracing::info!(config = %path.display(), "built-in action handlers installed");
    }
    let rt = builder.open().await.context(vigy::location_name(db))?;
    let readiness = Readiness::default();
    let app = vigy_server::app(&rt, &options, readiness.clone()).await?;
    let listener =
        tokio::net::TcpListener::bind(args.bind).await.with_context(|| format!("cannot bind {}", args.bind))?;
    let addr = listener.local_addr()?;
    let count = rt.list(&LabelSelector::everything()).await?.len();
    tracing::info!(db = %vigy::location_name(db), vigies = count, %addr, "vigy runtime started");

    // On SIGINT/SIGTERM: stop answering ready, finish and record the ticks
    // in flight (which also ends every event stream), then let the
    // listeners drain their connections.
    let (stopped_tx, stopped) = tokio::sync::watch::channel(false);
    let stop = {
        let rt = rt.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing ticks in flight");
            readiness.draining();
            rt.shutdown().await;
            let _ = stopped_tx.send(true);
        }
    };
    let unix = match &args.grpc_socket {
        Some(path) => Some(serve_grpc_socket(rt.clone(), path, stopped.clone()).await?),
        None => None,
    };
    // One line on stdout says where to connect (the port may be ephemeral).
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{addr}");
    vigy_server::serve(listener, app, tls, &options.limits, stop).await?;
    if let Some(unix) = unix {
        unix.await.context("the gRPC socket task")??;
    }
    rt.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// gRPC on a Unix socket until `stopped` turns true; the socket file is
/// removed after.
async fn serve_grpc_socket(
    rt: RuntimeHandle,
    path: &Path,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    // Bound before the address is printed, so clients may connect at once.
    let listener = vigy_rpc::bind_unix(path).with_context(|| format!("cannot bind {}", path.display()))?;
    let service: Arc<dyn VigyService> = Arc::new(rt);
    let path = path.to_owned();
    Ok(tokio::spawn(async move {
        let until = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let served = vigy_rpc::serve_unix(service, listener, until).await;
        let _ = std::fs::remove_file(&path);
        served.context("gRPC on the Unix socket")
    }))
}

/// `vigy mcp`: MCP over stdio, on the database (vigies are managed, not
/// ticked: a `vigy serve` ticks them) or on a remote server.
pub(crate) async fn mcp(service: Arc<dyn VigyService>) -> anyhow::Result<ExitCode> {
    vigy::mcp::serve_stdio(service).await.context("MCP over stdio")?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
