//! Actions are carried out: handlers, the outbox, results fed back, and
//! conditions (issue 12).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use vigy_runtime::{ActionCall, ActionError, Handled, HandlerOptions, RetryPolicy, RuntimeBuilder, RuntimeHandle};
use vigy_types::{ActionResult, ConditionFilter, ConditionStatus, LabelSelector, VigyId, VigyRun};

use crate::support::{eventually, vigy};

vigy_store::on_both_backends!(multi_thread;
    a_new_owner_should_carry_out_exactly_the_unfinished_actions_with_their_keys,
);

/// Every call a handler got, in order.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<ActionCall>>>);

impl Calls {
    fn all(&self) -> Vec<ActionCall> {
        self.0.lock().unwrap().clone()
    }
    fn push(&self, call: &ActionCall) {
        self.0.lock().unwrap().push(call.clone());
    }
}

fn quick(max_attempts: u32) -> HandlerOptions {
    HandlerOptions {
        deadline: Duration::from_secs(5),
        concurrency: 16,
        retry: RetryPolicy {
            max_attempts,
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
        },
    }
}

async fn open(path: &std::path::Path, builder: RuntimeBuilder) -> RuntimeHandle {
    builder.path(path).open().await.unwrap()
}

/// The run `run_id` once none of its actions is pending any more.
async fn settled(rt: &RuntimeHandle, id: VigyId, run_id: &str) -> VigyRun {
    let start = Instant::now();
    loop {
        let runs = rt.recent_runs(id, 100).await.unwrap();
        if let Some(run) = runs.into_iter().find(|r| r.id == run_id)
            && run.actions.iter().all(|a| a.result.is_final())
        {
            return run;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the actions of {run_id} were not resolved within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The first run of `id`: a vigy ticks as soon as it is registered (and
/// its lease claimed), so tests take that tick rather than force one that
/// could race the claim.
async fn first_run(rt: &RuntimeHandle, id: VigyId) -> VigyRun {
    let start = Instant::now();
    loop {
        if let Some(run) = rt.recent_runs(id, 100).await.unwrap().into_iter().find(|r| r.tick == 1) {
            return run;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no first tick within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn push_handler(calls: &Calls) -> impl vigy_runtime::ActionHandler {
    let calls = calls.clone();
    move |call: ActionCall| {
        calls.push(&call);
        let n = call.payload.as_i64().unwrap_or(0);
        async move { Ok(Handled::ok().with_message(format!("pushed {n}")).with_output(json!({"n": n}))) }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_of_one_tick_should_be_handled_in_order_and_recorded_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let calls = Calls::default();
    let rt =
        open(&dir.path().join("v.db"), RuntimeHandle::builder().handler("push", push_handler(&calls), quick(1))).await;
    let mut committed = rt.subscribe();
    let v = rt
        .register_or_update(vigy(
            "ordered",
            "(vigy-push 1) (vigy-push 2) (vigy-noop) (vigy-pull 3) (vigy-push 4)",
            60_000,
        ))
        .await
        .unwrap();
    let run = (*futures::StreamExt::next(&mut committed).await.unwrap().unwrap()).clone();
    let results: Vec<_> = run.actions.iter().map(|a| a.result).collect();
    assert_eq!(
        results,
        [ActionResult::Pending, ActionResult::Pending, ActionResult::Ok, ActionResult::Skipped, ActionResult::Pending],
        "committed: handled kinds pending, noop ok, a kind without a handler skipped"
    );
    assert_eq!(run.actions[3].message.as_deref(), Some("no handler for pull"));

    let run = settled(&rt, v.id, &run.id).await;
    let calls = calls.all();
    let order: Vec<i64> = calls.iter().map(|c| c.payload.as_i64().unwrap()).collect();
    assert_eq!(order, [1, 2, 4]);
    let keys: Vec<&str> = calls.iter().map(|c| c.idempotency_key.as_str()).collect();
    assert_eq!(keys, [format!("{}:0", run.id), format!("{}:1", run.id), format!("{}:4", run.id)]);
    assert!(calls.iter().all(|c| c.attempt == 1 && c.vigy_name == "ordered" && c.vigy_id == v.id));
    for index in [0, 1, 4] {
        let action = &run.actions[index];
        assert_eq!(action.result, ActionResult::Ok);
        assert_eq!(action.attempts, 1);
        assert_eq!(action.output, Some(json!({"n": action.payload})));
        let (started, ended) = (action.started_at.unwrap(), action.ended_at.unwrap());
        assert!(started <= ended && run.ended_at <= started, "handled after the commit");
    }
    assert_eq!(run.actions[0].message.as_deref(), Some("pushed 1"));
    let counted = rt.metrics().actions();
    assert!(counted.contains(&("push".into(), ActionResult::Ok, 3)), "{counted:?}");
    assert!(counted.contains(&("pull".into(), ActionResult::Skipped, 1)), "{counted:?}");
    assert_eq!(rt.metrics().actions_pending.load(SeqCst), 0);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retryable_failure_should_be_retried_with_growing_pauses_until_it_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let attempts: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = attempts.clone();
    let handler = move |call: ActionCall| {
        seen.lock().unwrap().push(Instant::now());
        async move { if call.attempt < 3 { Err(ActionError::retryable("busy")) } else { Ok(Handled::ok()) } }
    };
    let rt = open(&dir.path().join("v.db"), RuntimeHandle::builder().handler("push", handler, quick(5))).await;
    let v = rt.register_or_update(vigy("retried", "(vigy-push)", 60_000)).await.unwrap();
    let run = first_run(&rt, v.id).await;
    let run = settled(&rt, v.id, &run.id).await;
    assert_eq!(run.actions[0].result, ActionResult::Ok);
    assert_eq!(run.actions[0].attempts, 3);
    let at = attempts.lock().unwrap().clone();
    assert_eq!(at.len(), 3);
    assert!(at[1] - at[0] >= Duration::from_millis(50), "first pause {:?}", at[1] - at[0]);
    assert!(at[2] - at[1] >= Duration::from_millis(100), "second pause doubles: {:?}", at[2] - at[1]);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_should_stop_at_the_limit_and_a_failure_should_skip_the_rest_of_the_tick() {
    let dir = tempfile::tempdir().unwrap();
    let calls = Calls::default();
    let seen = calls.clone();
    let flaky = move |call: ActionCall| {
        seen.push(&call);
        async move { Err::<Handled, _>(ActionError::retryable("503 Service Unavailable")) }
    };
    let broken = |_call: ActionCall| async { Err::<Handled, _>(ActionError::permanent("404 Not Found")) };
    let rt = open(
        &dir.path().join("v.db"),
        RuntimeHandle::builder().handler("push", flaky, quick(3)).handler("deploy", broken, quick(3)),
    )
    .await;
    let v = rt.register_or_update(vigy("gives-up", "(vigy-push) (vigy-push)", 60_000)).await.unwrap();
    let run = settled(&rt, v.id, &first_run(&rt, v.id).await.id).await;
    assert_eq!(run.actions[0].result, ActionResult::Failed);
    assert_eq!(run.actions[0].attempts, 3);
    assert_eq!(run.actions[0].message.as_deref(), Some("failed after 3 attempts: 503 Service Unavailable"));
    assert_eq!(run.actions[1].result, ActionResult::Skipped);
    assert_eq!(run.actions[1].message.as_deref(), Some("not carried out: action 0 (push) of this tick failed"));
    assert_eq!(calls.all().len(), 3, "the second push was never tried");

    let v = rt.register_or_update(vigy("final", r#"(vigy-emit "deploy") (vigy-noop)"#, 60_000)).await.unwrap();
    let run = settled(&rt, v.id, &first_run(&rt, v.id).await.id).await;
    assert_eq!((run.actions[0].result, run.actions[0].attempts), (ActionResult::Failed, 1), "permanent: no retry");
    assert_eq!(run.actions[0].message.as_deref(), Some("404 Not Found"));
    assert_eq!(run.actions[1].result, ActionResult::Ok, "a noop needs no handler and was resolved at commit");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_past_its_deadline_should_fail_and_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let slow = |_call: ActionCall| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(Handled::ok())
    };
    let options = HandlerOptions { deadline: Duration::from_millis(100), ..quick(2) };
    let rt = open(&dir.path().join("v.db"), RuntimeHandle::builder().handler("push", slow, options)).await;
    let v = rt.register_or_update(vigy("slow", "(vigy-push)", 60_000)).await.unwrap();
    let started = Instant::now();
    let run = settled(&rt, v.id, &first_run(&rt, v.id).await.id).await;
    assert!(started.elapsed() < Duration::from_secs(5), "the deadline cut both attempts short");
    assert_eq!((run.actions[0].result, run.actions[0].attempts), (ActionResult::Failed, 2));
    assert_eq!(run.actions[0].message.as_deref(), Some("failed after 2 attempts: handler deadline of 100 ms exceeded"));
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_that_panics_should_fail_its_action_and_the_vigy_should_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    // The first call panics while making its future, the second inside it.
    let panics = move |_call: ActionCall| {
        let n = seen.fetch_add(1, SeqCst);
        assert!(n != 0, "the handler broke");
        async move {
            assert!(n != 1, "the handler broke later");
            Ok(Handled::ok())
        }
    };
    let rt = open(&dir.path().join("v.db"), RuntimeHandle::builder().handler("push", panics, quick(3))).await;
    let v = rt.register_or_update(vigy("panicky", "(vigy-push)", 60_000)).await.unwrap();
    let run = settled(&rt, v.id, &first_run(&rt, v.id).await.id).await;
    assert_eq!((run.actions[0].result, run.actions[0].attempts), (ActionResult::Failed, 1), "no retry of a panic");
    assert!(
        run.actions[0].message.as_deref().unwrap().starts_with("handler panicked: the handler broke"),
        "{:?}",
        run.actions[0].message
    );
    let second = rt.tick_now(v.id).await.unwrap();
    let second = settled(&rt, v.id, &second.id).await;
    assert!(second.actions[0].message.as_deref().unwrap().starts_with("handler panicked: the handler broke later"));
    let third = rt.tick_now(v.id).await.unwrap();
    assert_eq!(settled(&rt, v.id, &third.id).await.actions[0].result, ActionResult::Ok, "the vigy went on");
    rt.shutdown().await;
    assert_eq!(rt.metrics().actions_pending.load(SeqCst), 0, "whatever was in flight was let go of");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_should_run_at_most_its_concurrency_at_once_across_vigies() {
    let dir = tempfile::tempdir().unwrap();
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, p) = (now.clone(), peak.clone());
    let handler = move |_call: ActionCall| {
        let (n, p) = (n.clone(), p.clone());
        async move {
            let running = n.fetch_add(1, SeqCst) + 1;
            p.fetch_max(running, SeqCst);
            tokio::time::sleep(Duration::from_millis(150)).await;
            n.fetch_sub(1, SeqCst);
            Ok(Handled::ok())
        }
    };
    let options = HandlerOptions { concurrency: 2, ..quick(1) };
    let rt = open(&dir.path().join("v.db"), RuntimeHandle::builder().handler("push", handler, options)).await;
    let mut runs = Vec::new();
    for i in 0..6 {
        let v = rt.register_or_update(vigy(&format!("c{i}"), "(vigy-push)", 60_000)).await.unwrap();
        runs.push((v.id, first_run(&rt, v.id).await.id));
    }
    for (id, run) in &runs {
        settled(&rt, *id, run).await;
    }
    assert_eq!(peak.load(SeqCst), 2, "ticks of different vigies are handled concurrently, up to the limit");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_tick_should_read_the_results_and_wait_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let calls = Calls::default();
    let seen = calls.clone();
    let slow = move |call: ActionCall| {
        seen.push(&call);
        async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok(Handled::ok().with_output(json!({"status": 200})))
        }
    };
    let rt = open(&dir.path().join("v.db"), RuntimeHandle::builder().handler("push", slow, quick(1))).await;
    let program = r#"(vigy-set "seen" (vigy-last-results)) (vigy-push (vigy-tick-count))"#;
    let v = rt.register_or_update(vigy("feedback", program, 100)).await.unwrap();
    eventually(Duration::from_secs(10), "three ticks", || async { rt.recent_runs(v.id, 10).await.unwrap().len() >= 3 })
        .await;
    let mut runs = rt.recent_runs(v.id, 10).await.unwrap();
    runs.reverse();
    for pair in runs.windows(2) {
        let handled = pair[0].actions[0].ended_at.expect("the previous tick's action was resolved first");
        assert!(
            pair[1].started_at >= handled,
            "tick {} started before tick {}'s action ended",
            pair[1].tick,
            pair[0].tick
        );
    }
    let kv = rt.kv(v.id).await.unwrap();
    let seen = &kv["seen"];
    assert_eq!(seen.as_array().unwrap().len(), 1, "{seen}");
    assert_eq!(seen[0]["kind"], "push");
    assert_eq!(seen[0]["result"], "ok", "never pending: {seen}");
    assert_eq!(seen[0]["output"], json!({"status": 200}));
    assert_eq!(seen[0]["attempts"], 1);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conditions_should_keep_their_transition_time_until_the_status_changes_and_filter_lists() {
    let dir = tempfile::tempdir().unwrap();
    let rt = open(&dir.path().join("v.db"), RuntimeHandle::builder()).await;
    let program = r#"
        (define n (vigy-tick-count))
        (vigy-condition "Ready" (> n 2) (if (> n 2) "Converged" "Waiting") (if (= n 1) "tick 1" "tick 2 or later"))
        (vigy-condition "Synced" "unknown")"#;
    let v = rt.register_or_update(vigy("conditioned", program, 60_000)).await.unwrap();
    let other = rt.register_or_update(vigy("silent", "(vigy-noop)", 60_000)).await.unwrap();
    first_run(&rt, other.id).await;
    let first = first_run(&rt, v.id).await;
    let state = rt.state(v.id).await.unwrap();
    let ready = state.conditions.iter().find(|c| c.kind == "Ready").unwrap().clone();
    assert_eq!(
        (ready.status, ready.reason.as_deref(), ready.message.as_deref()),
        (ConditionStatus::False, Some("Waiting"), Some("tick 1"))
    );
    assert_eq!(ready.last_transition_time, first.started_at);
    let kinds: Vec<_> = state.conditions.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, ["Ready", "Synced"], "sorted by type");

    rt.tick_now(v.id).await.unwrap();
    let ready2 = rt.state(v.id).await.unwrap().conditions.into_iter().find(|c| c.kind == "Ready").unwrap();
    assert_eq!(ready2.message.as_deref(), Some("tick 2 or later"));
    assert_eq!(ready2.last_transition_time, ready.last_transition_time, "only the message changed");

    let not_ready: ConditionFilter = "Ready=false".parse().unwrap();
    let everything = LabelSelector::everything();
    let names =
        |vigies: Vec<vigy_types::Vigy>| vigies.into_iter().map(|v| v.name.as_str().to_owned()).collect::<Vec<_>>();
    assert_eq!(names(rt.list_where(&everything, std::slice::from_ref(&not_ready)).await.unwrap()), ["conditioned"]);
    let unknown: ConditionFilter = "Ready=unknown".parse().unwrap();
    assert_eq!(
        names(rt.list_where(&everything, &[unknown]).await.unwrap()),
        ["silent"],
        "no condition reads as unknown"
    );

    let third = rt.tick_now(v.id).await.unwrap();
    let ready3 = rt.state(v.id).await.unwrap().conditions.into_iter().find(|c| c.kind == "Ready").unwrap();
    assert_eq!((ready3.status, ready3.reason.as_deref()), (ConditionStatus::True, Some("Converged")));
    assert_eq!(ready3.last_transition_time, third.started_at, "the status changed");
    assert!(rt.list_where(&everything, &[not_ready]).await.unwrap().is_empty());
    rt.shutdown().await;

    // As stored: a runtime opened again sees them, and keeps the time.
    let again = open(&dir.path().join("v.db"), RuntimeHandle::builder()).await;
    let kept = again.state(v.id).await.unwrap().conditions;
    assert_eq!(kept.iter().find(|c| c.kind == "Ready").unwrap().last_transition_time, third.started_at);
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_condition_should_fail_its_tick_with_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let rt = open(&dir.path().join("v.db"), RuntimeHandle::builder()).await;
    let forty: Vec<String> = (0..40).map(|i| format!("\"C{i}\"")).collect();
    let many = format!("(map (lambda (t) (vigy-condition t true)) (list {}))", forty.join(" "));
    for (name, program, expected) in [
        ("status", r#"(vigy-condition "Ready" "maybe")"#, "status must be true, false or unknown"),
        ("type", r#"(vigy-condition "9lives" true)"#, "must start with a letter"),
        ("reason", r#"(vigy-condition "Ready" true "two words")"#, "one word"),
        ("many", many.as_str(), "at most 32 conditions"),
    ] {
        let v = rt.register_or_update(vigy(name, program, 60_000)).await.unwrap();
        let run = first_run(&rt, v.id).await;
        let error = run.error.unwrap_or_default();
        assert!(error.contains(expected), "{name}: {error}");
        assert!(rt.state(v.id).await.unwrap().conditions.is_empty(), "{name}: a failed tick sets no condition");
    }
    rt.shutdown().await;
}

/// A runtime that stops while a handler hangs leaves the tick's unfinished
/// actions pending; the next owner carries out exactly those, with the
/// keys they had, and none that had finished.
async fn a_new_owner_should_carry_out_exactly_the_unfinished_actions_with_their_keys(path: PathBuf) {
    let first_calls = Calls::default();
    let seen = first_calls.clone();
    let hangs_on_the_second = move |call: ActionCall| {
        seen.push(&call);
        async move {
            if call.index == 1 {
                std::future::pending::<()>().await;
            }
            Ok(Handled::ok())
        }
    };
    let patient = HandlerOptions { deadline: Duration::from_secs(600), ..quick(1) };
    let first =
        RuntimeHandle::builder().path(&path).handler("push", hangs_on_the_second, patient).open().await.unwrap();
    let program = "(if (= (vigy-tick-count) 1) (begin (vigy-push 0) (vigy-push 1) (vigy-push 2)))";
    let v = first.register_or_update(vigy("interrupted", program, 60_000)).await.unwrap();
    let run = first_run(&first, v.id).await;
    eventually(Duration::from_secs(5), "the second action started", || async { first_calls.all().len() == 2 }).await;
    first.shutdown().await;

    let stored = first_calls.all();
    let stored_run = {
        let reader = RuntimeHandle::builder().path(&path).scope(vigy_runtime::Scope::Nothing).open().await.unwrap();
        let runs = reader.recent_runs(v.id, 10).await.unwrap();
        reader.shutdown().await;
        runs.into_iter().find(|r| r.id == run.id).unwrap()
    };
    let results: Vec<_> = stored_run.actions.iter().map(|a| a.result).collect();
    assert_eq!(results, [ActionResult::Ok, ActionResult::Pending, ActionResult::Pending]);
    assert_eq!(stored.len(), 2);

    let second_calls = Calls::default();
    let attempts = Arc::new(AtomicU32::new(0));
    let (seen, count) = (second_calls.clone(), attempts.clone());
    let works = move |call: ActionCall| {
        seen.push(&call);
        count.fetch_add(1, SeqCst);
        async { Ok(Handled::ok()) }
    };
    let second = RuntimeHandle::builder().path(&path).handler("push", works, quick(1)).open().await.unwrap();
    let done = settled(&second, v.id, &run.id).await;
    assert!(done.actions.iter().all(|a| a.result == ActionResult::Ok));
    let keys: Vec<String> = second_calls.all().iter().map(|c| c.idempotency_key.clone()).collect();
    assert_eq!(keys, [format!("{}:1", run.id), format!("{}:2", run.id)], "only the unfinished ones, with their keys");
    assert_eq!(stored[1].idempotency_key, keys[0], "the same key as the interrupted attempt");
    assert_eq!(done.actions[0].attempts, 1, "the finished one was not run again");
    second.shutdown().await;
}
