use std::path::PathBuf;
use std::time::Duration;

use vigy_runtime::Scope;

use crate::support::{eventually, open, run_count, vigy};

// Each on a fresh SQLite file and on a fresh PostgreSQL database.
vigy_store::on_both_backends!(multi_thread;
    a_vigy_registered_elsewhere_should_start_ticking_here_within_a_second,
    reads_should_follow_changes_made_elsewhere_and_show_own_writes_at_once,
    a_follower_behind_collected_events_should_still_pick_up_every_change,
);

/// Two runtimes on one file behave as two processes would: they share
/// nothing but the database.
async fn a_vigy_registered_elsewhere_should_start_ticking_here_within_a_second(path: PathBuf) {
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
    assert!(server.metrics().per_vigy().is_empty(), "a vigy deleted elsewhere takes its series along");
    assert_eq!(cli.store().integrity_check().await.unwrap(), "ok");
    cli.shutdown().await;
    server.shutdown().await;
}

/// Reads come from each runtime's in-memory catalog: it must show what
/// another process registered, changed and deleted within a poll, even in a
/// runtime that ticks nothing, and this runtime's own writes at once.
async fn reads_should_follow_changes_made_elsewhere_and_show_own_writes_at_once(path: PathBuf) {
    let reader = open(&path, Scope::Nothing).await;
    let writer = open(&path, Scope::Nothing).await;
    let everything = vigy_types::LabelSelector::everything();

    let own = reader.register_or_update(vigy("own", "(vigy-noop)", 1_000)).await.unwrap();
    assert_eq!(reader.get(own.id).await.unwrap(), own, "own write visible at once");

    let v = writer.register_or_update(vigy("elsewhere", "(vigy-noop)", 1_000)).await.unwrap();
    eventually(Duration::from_millis(1_500), "registration seen", || async {
        reader.resolve("elsewhere").await.is_ok()
    })
    .await;
    let names: Vec<_> = reader.list(&everything).await.unwrap().into_iter().map(|v| v.name.to_string()).collect();
    assert_eq!(names, ["elsewhere", "own"], "listed by name");

    writer.disable(v.id).await.unwrap();
    eventually(Duration::from_millis(1_500), "disable seen", || async { !reader.get(v.id).await.unwrap().enabled })
        .await;
    writer.register_or_update(vigy("elsewhere", "(vigy-pull 1)", 2_000)).await.unwrap();
    eventually(Duration::from_millis(1_500), "update seen", || async {
        reader.get(v.id).await.unwrap().schedule.interval().map(|i| i.as_millis()) == Some(2_000)
    })
    .await;
    assert_eq!(reader.get(v.id).await.unwrap(), writer.get(v.id).await.unwrap(), "same vigy in both");

    writer.delete(v.id).await.unwrap();
    // An update sent here before the delete is seen must not bring it back.
    let change =
        vigy_api::UpdateVigy { program: None, tick_interval_ms: Some(3_000), labels: None, ..Default::default() };
    let update = vigy_api::UpdateVigyRequest { id: "elsewhere".into(), body: change };
    let refused = vigy_api::VigyService::update_vigy(&reader, update).await.unwrap_err();
    assert_eq!(refused.code(), vigy_api::ErrorCode::NotFound, "{refused}");
    assert!(writer.store().get(v.id).await.unwrap().is_none(), "not registered anew");
    eventually(Duration::from_millis(1_500), "delete seen", || async { reader.get(v.id).await.is_err() }).await;
    assert_eq!(reader.list(&everything).await.unwrap(), [own]);
    reader.shutdown().await;
    writer.shutdown().await;
}

/// A follower that fell behind while the events it needed were collected
/// (a process paused for long) must still pick up every change.
async fn a_follower_behind_collected_events_should_still_pick_up_every_change(path: PathBuf) {
    let server = open(&path, Scope::All).await;
    let cli = open(&path, Scope::Nothing).await;
    // Within a few ms, between two of the server's polls: the first
    // registration's event is gone before the server reads the feed.
    let first = cli.register_or_update(vigy("first", "(vigy-noop)", 100)).await.unwrap();
    cli.register_or_update(vigy("second", "(vigy-noop)", 100)).await.unwrap();
    cli.store().collect_garbage(1).await.unwrap();
    eventually(Duration::from_secs(3), "the vigy whose event was collected ticks", || async {
        run_count(&server, first.id).await >= 1
    })
    .await;
    assert!(server.get(first.id).await.is_ok(), "and is in the catalog");
    cli.shutdown().await;
    server.shutdown().await;
}
