//! The README's embedding snippet, verbatim, run against a temporary
//! database: `cargo run -p vigy --example embed`.

use std::time::Duration;

use vigy::{RuntimeHandle, TickInterval, Vigy};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("your-app.db");

    // In your app's main:
    let runtime = RuntimeHandle::open(path.as_ref()).await?;

    // Register reconcilers your app needs always-on:
    let v = Vigy::new(
        "sync-to-system-tear",
        include_str!("../vigies/sync-to-system-tear.tatara"),
        TickInterval::from_millis(500)?,
    )?;
    let id = runtime.register_or_update(v).await?.id;

    tokio::time::sleep(Duration::from_millis(1_200)).await;
    for run in runtime.recent_runs(id, 10).await? {
        println!(
            "tick {} {} {:?}",
            run.tick,
            run.result,
            run.actions.iter().map(|a| a.kind.to_string()).collect::<Vec<_>>()
        );
    }
    runtime.shutdown().await;
    Ok(())
}
