//! `vigy`: register, inspect, tick and serve vigies.

mod args;
mod commands;
mod local_run;
mod output;
mod remote;
mod serve;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
