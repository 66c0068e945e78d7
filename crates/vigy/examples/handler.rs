//! An app that carries out its vigy's actions itself: a handler for the
//! custom kind `apply-theme` (which fails once, as a busy UI might, and is
//! retried), and a `Ready` condition the program sets as it converges.
//! `cargo run -p vigy --example handler`; `crates/vigy/tests/examples.rs`
//! runs it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use vigy::{
    ActionCall, ActionError, ConditionStatus, Handled, HandlerOptions, RetryPolicy, RuntimeHandle, TickInterval, Vigy,
    VigyRun, VigyState,
};

/// What the example ends with.
#[derive(Debug)]
pub(crate) struct Converged {
    /// The theme file's content.
    pub(crate) theme: String,
    /// The vigy's state (its Ready condition).
    pub(crate) state: VigyState,
    /// Its runs, newest first.
    pub(crate) runs: Vec<VigyRun>,
}

/// Run the app on the database at `db`, writing its theme into `theme_file`,
/// until the vigy reports `Ready`.
pub(crate) async fn converge(db: &Path, theme_file: PathBuf) -> Result<Converged, Box<dyn std::error::Error>> {
    let busy_once = Arc::new(AtomicU32::new(0));
    let file = theme_file.clone();
    // The handler: apply the theme the action names; the first call finds
    // the UI busy (retryable), the retry succeeds.
    let apply_theme = move |call: ActionCall| {
        let (file, busy_once) = (file.clone(), busy_once.clone());
        async move {
            if busy_once.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(ActionError::retryable("the UI is busy"));
            }
            let theme =
                call.payload.as_str().ok_or_else(|| ActionError::permanent("the payload is not a theme name"))?;
            tokio::fs::write(&file, theme).await.map_err(|e| ActionError::retryable(e.to_string()))?;
            Ok(Handled::ok().with_message(format!("applied {theme}")))
        }
    };
    let options = HandlerOptions {
        deadline: Duration::from_secs(2),
        concurrency: 1,
        retry: RetryPolicy {
            max_attempts: 3,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        },
    };
    let runtime = RuntimeHandle::builder().path(db).handler("apply-theme", apply_theme, options).open().await?;
    let vigy = Vigy::new("apply-theme", include_str!("../vigies/apply-theme.tatara"), TickInterval::from_millis(200)?)?;
    let id = runtime.register_or_update(vigy).await?.id;

    let ready =
        |state: &VigyState| state.conditions.iter().any(|c| c.kind == "Ready" && c.status == ConditionStatus::True);
    let mut state = runtime.state(id).await?;
    for _ in 0..100 {
        if ready(&state) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = runtime.state(id).await?;
    }
    let runs = runtime.recent_runs(id, 20).await?;
    runtime.shutdown().await;
    Ok(Converged { theme: std::fs::read_to_string(&theme_file).unwrap_or_default(), state, runs })
}

#[allow(dead_code)] // the test calls `converge` directly
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let done = converge(&dir.path().join("app.db"), dir.path().join("theme")).await?;
    for run in done.runs.iter().rev() {
        for action in &run.actions {
            println!(
                "tick {}: {} {} after {} attempt(s): {}",
                run.tick,
                action.kind,
                action.result,
                action.attempts,
                action.message.as_deref().unwrap_or("")
            );
        }
    }
    for condition in &done.state.conditions {
        println!("{} = {} ({:?})", condition.kind, condition.status, condition.message);
    }
    println!("theme file: {}", done.theme);
    Ok(())
}
