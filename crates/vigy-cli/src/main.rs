//! `vigy`: register, inspect, tick and serve vigies.

mod args;
mod commands;
mod local_run;
mod manage;
mod output;
mod remote;
mod serve;
mod tail;

use clap::Parser;

// Serving answers is allocation-heavy (every response is built and encoded
// fresh); mimalloc takes a REST list of 100 vigies from 1.3-1.5x to 1.0x of
// a bare axum server at 64 connections (`cargo bench -p vigy-server`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Ticks are evaluated in copies of this binary: be one if asked.
    vigy::run_if_worker();
    let args = args::Cli::parse();
    // Logs go to stderr so stdout stays clean for tables and JSON.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,vigy=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match commands::run(args).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
