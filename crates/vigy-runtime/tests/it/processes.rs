use std::time::Duration;

use vigy_runtime::Scope;

use crate::support::{eventually, open, run_count, vigy};

/// Two runtimes on one file behave as two processes would: they share
/// nothing but the database.
#[tokio::test(flavor = "multi_thread")]
async fn a_vigy_registered_elsewhere_should_start_ticking_here_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let server = open(&path, Scope::All).await;
    let cli = open(&path, Scope::Nothing).await;

    let v = cli.register_or_update(vigy("remote", "(vigy-pull 1)", 100)).await.unwrap();
    eventually(Duration::from_millis(1_500), "picked up", || async { run_count(&server, v.id).await >= 1 }).await;

    cli.register_or_update(vigy("remote", "(vigy-push 1)", 100)).await.unwrap();
    eventually(Duration::from_millis(1_500), "change picked up", || async {
        let runs = server.recent_runs(v.id, 1).await.unwrap();
        runs[0].actions[0].kind == vigy_types::ActionKind::Push
    })
    .await;

    cli.disable(v.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let frozen = run_count(&server, v.id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(run_count(&server, v.id).await, frozen, "still ticking after a disable elsewhere");

    cli.enable(v.id).await.unwrap();
    eventually(Duration::from_millis(1_500), "re-enabled", || async { run_count(&server, v.id).await > frozen }).await;
    cli.delete(v.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(server.get(v.id).await.is_err());
    assert_eq!(cli.store().integrity_check().await.unwrap(), "ok");
    cli.shutdown().await;
    server.shutdown().await;
}
