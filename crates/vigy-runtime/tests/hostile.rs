//! Hostile programs against a live runtime. A binary of its own: cargo runs
//! test binaries one after another, so the CPU these programs burn cannot
//! slow down the timing-sensitive tests of `it`, nor theirs this one.

use std::time::Duration;

use vigy_runtime::{RuntimeHandle, Scope};
use vigy_types::{RunResult, TickInterval, Vigy, VigyError};

#[path = "it/support.rs"]
mod support;

use support::{open, run_count, vigy};

#[tokio::test(flavor = "multi_thread")]
async fn hostile_programs_should_fail_their_own_ticks_while_others_keep_time() {
    let dir = tempfile::tempdir().unwrap();
    let rt = open(&dir.path().join("h.db"), Scope::All).await;
    let hostile = [
        ("loop", "(define (spin n) (spin (+ n 1))) (spin 0)", "budget exceeded"),
        ("recursion", "(define (down n) (+ 1 (down n))) (down 0)", "depth"),
        ("huge-string", r#"(define (grow s) (grow (string-append s s))) (grow "xx")"#, "string-append"),
        ("slow-loop", "(define (spin n) (spin (+ n 1))) (spin 0)", "budget exceeded"),
    ];
    let mut ids = Vec::new();
    for (name, program, _) in &hostile {
        ids.push(rt.register_or_update(vigy(name, program, 100)).await.unwrap().id);
    }
    let spam = rt
        .register_or_update(vigy(
            "log-spam",
            r#"(define (spam n) (if (> n 0) (begin (vigy-log "info" "x") (spam (- n 1))) '())) (spam 3000)"#,
            100,
        ))
        .await
        .unwrap();
    let healthy = rt.register_or_update(vigy("healthy", "(vigy-noop)", 100)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let ticks = run_count(&rt, healthy.id).await;
    assert!(ticks >= 24, "the healthy vigy ticked {ticks} times in 3 s at 100 ms");
    for ((name, _, expected), id) in hostile.iter().zip(&ids) {
        let runs = rt.recent_runs(*id, 100).await.unwrap();
        assert!(!runs.is_empty(), "{name} never ran");
        for run in &runs {
            assert_eq!(run.result, RunResult::Failed, "{name}");
            let error = run.error.as_deref().unwrap();
            assert!(error.contains(expected) || error.contains("deadline exceeded"), "{name}: {error}");
        }
    }
    let spam_run = &rt.recent_runs(spam.id, 1).await.unwrap()[0];
    assert_eq!(spam_run.result, RunResult::Ok, "{:?}", spam_run.error);
    assert!(spam_run.logs_truncated);
    assert_eq!(spam_run.logs.len(), 1_001);
    rt.shutdown().await;
}

#[tokio::test]
async fn deeply_nested_source_should_be_refused_at_registration() {
    let deep = format!("{}{}", "(".repeat(100_000), ")".repeat(100_000));
    let err = Vigy::new("deep", deep, TickInterval::from_millis(100).unwrap()).unwrap_err();
    assert!(matches!(err, VigyError::InvalidProgram(ref e) if e.message.contains("nests deeper")), "{err}");
    let rt = RuntimeHandle::open_in_memory().await.unwrap();
    assert!(rt.list(&Default::default()).await.unwrap().is_empty());
    rt.shutdown().await;
}

/// Issue 10: a vigy whose ticks keep ending their worker is disabled with
/// the reason recorded, and a runtime reopened on the database stays up.
#[tokio::test(flavor = "multi_thread")]
async fn a_vigy_that_keeps_killing_its_worker_should_be_quarantined_not_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let rt = open(&path, Scope::All).await;
    let bomb = "(define (grow xs n) (if (= n 0) xs (grow (append xs xs) (- n 1)))) (reverse (grow (list 1) 40))";
    let v = rt.register_or_update(vigy("bomb", bomb, 100)).await.unwrap();
    let healthy = rt.register_or_update(vigy("healthy", "(vigy-noop)", 100)).await.unwrap();
    support::eventually(Duration::from_secs(20), "the bomb is quarantined", || async {
        !rt.get(v.id).await.unwrap().enabled
    })
    .await;
    let quarantined = rt.get(v.id).await.unwrap();
    let reason = quarantined.disabled_reason.expect("a reason is recorded");
    assert!(reason.contains("quarantined after 3 ticks") && reason.contains("memory"), "{reason}");
    assert_eq!(rt.metrics().quarantined.load(std::sync::atomic::Ordering::Relaxed), 1);
    // The third loss's run commits after the quarantine is decided.
    support::eventually(Duration::from_secs(5), "the third run committed", || async {
        rt.recent_runs(v.id, 100).await.unwrap().len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rt.recent_runs(v.id, 100).await.unwrap().len(), 3, "no tick after the third loss");
    rt.shutdown().await;

    // Reopened, the database still holds it disabled, and nothing ticks it.
    let rt = open(&path, Scope::All).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rt.recent_runs(v.id, 100).await.unwrap().len(), 3);
    assert!(run_count(&rt, healthy.id).await > 0, "the healthy vigy resumed");
    // Enabling is an operator's decision: it clears the reason.
    let enabled = rt.enable(v.id).await.unwrap();
    assert!(enabled.enabled && enabled.disabled_reason.is_none());
    rt.shutdown().await;
}

/// The hostile corpus (`tests/hostile/`, issue 10) through the embedding
/// API: every program forced at once; each fails its own tick within the
/// deadline and the slack while a healthy vigy keeps ticking.
#[tokio::test(flavor = "multi_thread")]
async fn every_hostile_program_should_fail_its_own_tick_through_the_embedding_api() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/hostile");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let rt = RuntimeHandle::open_in_memory().await.unwrap();
    let healthy = rt.register_or_update(vigy("healthy", "(vigy-noop)", 100)).await.unwrap();
    let mut ticks = Vec::new();
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        let Ok(hostile) = Vigy::new(name.as_str(), source, TickInterval::from_millis(60_000).unwrap()) else {
            assert!(name.contains("quotes"), "{name} was refused at registration");
            continue;
        };
        // Registered disabled: only the forced tick runs it.
        let id = rt.register_or_update(hostile.with_enabled(false)).await.unwrap().id;
        let rt = rt.clone();
        ticks.push(tokio::spawn(async move { (name, rt.tick_now(id).await) }));
    }
    assert!(ticks.len() >= 25);
    for tick in ticks {
        let (name, run) = tick.await.unwrap();
        let run = run.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(run.result, RunResult::Failed, "{name}");
        let took = (run.ended_at - run.started_at).num_milliseconds();
        assert!(took <= 2_000 + 100 + 250, "{name} ran {took} ms");
    }
    assert!(run_count(&rt, healthy.id).await >= 10, "the healthy vigy kept ticking");
    rt.shutdown().await;
}
