//! The transports are one API: one scenario, covering every operation in
//! success and failure, runs through each generated client (REST, gRPC,
//! GraphQL, MCP) against its own fresh server on a stepping clock, and
//! every transcript must equal the same insta snapshot. Any divergence in a
//! result or an error code between transports fails here.
//!
//! Each server is `vigy serve`'s own app (`vigy_server::app` and `serve`)
//! in this process, over a runtime built with a [`SteppingClock`]: each
//! reading 1 ms after the last, so timestamps and run ids come out the same
//! on every run. The scenario's vigies are outside the runtime's scope, so
//! nothing ticks but what the scenario asks for.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use vigy::api::{self, ErrorCode, ServiceError, VigyService};
use vigy::clients::{GraphqlClient, GrpcClient, RestClient, connect_mcp};
use vigy::{RuntimeHandle, Scope, SteppingClock};
use vigy_server::{Readiness, ServeOptions};

const CLOCK: &str = "2026-01-01T00:00:00Z";

/// A server of its own for one transport's run.
struct Replay {
    url: String,
    runtime: RuntimeHandle,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// A server that ticks only vigies labelled `conformance=scheduled` (none
/// of the scenario's), on the stepping clock.
async fn server(dir: &tempfile::TempDir, transport: &str) -> Replay {
    let clock = SteppingClock::starting_at(vigy::parse_timestamp(CLOCK).unwrap());
    let runtime = RuntimeHandle::builder()
        .path(dir.path().join(format!("{transport}.db")))
        .scope(Scope::Selector("conformance=scheduled".parse().unwrap()))
        .clock(Arc::new(clock))
        .worker_program(env!("CARGO_BIN_EXE_vigy"))
        .open()
        .await
        .unwrap();
    let options = ServeOptions::default();
    let app = vigy_server::app(&runtime, &options, Readiness::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let limits = options.limits.clone();
    let served = tokio::spawn(async move {
        vigy_server::serve(listener, app, None, &limits, async {
            let _ = stopped.await;
        })
        .await
    });
    Replay { url, runtime, stop, served }
}

impl Replay {
    /// Finish the runtime's work, then the server's connections.
    async fn stop(self) {
        self.runtime.shutdown().await;
        let _ = self.stop.send(());
        self.served.await.unwrap().unwrap();
    }
}

/// One step's outcome as JSON: the result, or the error's code and message.
fn outcome<T: serde::Serialize>(result: Result<T, ServiceError>) -> Value {
    match result {
        Ok(value) => json!({ "ok": value }),
        Err(e) => json!({ "error": { "code": e.code(), "message": e.message() } }),
    }
}

fn register(name: &str, program: &str, every_ms: u64, labels: &[(&str, &str)]) -> api::RegisterVigyRequest {
    let labels = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    api::RegisterVigyRequest {
        body: api::RegisterVigy {
            name: name.into(),
            program: program.into(),
            tick_interval_ms: Some(every_ms),
            labels: Some(labels),
            ..Default::default()
        },
    }
}

const HELLO: &str = "(vigy-log \"info\" \"hello\")\n(vigy-noop)\n";
const COUNTER: &str = "(define n (+ 1 (vigy-get \"n\" 0)))\n(vigy-set \"n\" n)\n\
    (vigy-desired \"n\" n)\n(vigy-observed \"seen\" (vigy-tick))\n(vigy-push (hash-map \"n\" n))\n";

/// Every request/response operation, in success and failure.
async fn scenario(client: &dyn VigyService) -> Vec<(&'static str, Value)> {
    let id = |s: &str| s.to_owned();
    let mut steps = Vec::new();
    let mut step = |name: &'static str, outcome: Value| steps.push((name, outcome));

    step("register", outcome(client.register_vigy(register("hello", HELLO, 1000, &[("tier", "edge")])).await));
    step("register_other", outcome(client.register_vigy(register("other", HELLO, 5000, &[("tier", "core")])).await));
    let unbalanced = register("broken", "(vigy-noop", 1000, &[]);
    step("register_invalid_program", outcome(client.register_vigy(unbalanced).await));
    step("register_interval_under_100ms", outcome(client.register_vigy(register("fast", HELLO, 50, &[])).await));
    let huge = format!("(vigy-log \"info\" \"{}\")", "x".repeat(300 * 1024));
    step("register_program_too_large", outcome(client.register_vigy(register("huge", &huge, 1000, &[])).await));
    step("register_bad_name", outcome(client.register_vigy(register("", HELLO, 1000, &[])).await));
    step("get", outcome(client.get_vigy(api::GetVigyRequest { id: id("hello") }).await));
    step("get_unknown", outcome(client.get_vigy(api::GetVigyRequest { id: id("nope") }).await));
    let select = |selector: &str| api::ListVigiesRequest {
        selector: Some(selector.into()),
        limit: None,
        condition: None,
        cursor: None,
    };
    let all = api::ListVigiesRequest { selector: None, limit: None, condition: None, cursor: None };
    step("list_all", outcome(client.list_vigies(all).await));
    // Paging by name: a page of one, then the page its cursor names, the
    // last (no `next_cursor`).
    let page =
        |limit, cursor: Option<String>| api::ListVigiesRequest { selector: None, limit, condition: None, cursor };
    let first = client.list_vigies(page(Some(1), None)).await;
    let next = first.as_ref().ok().and_then(|p| p.next_cursor.clone());
    step("list_page_1", outcome(first));
    step("list_page_2", outcome(client.list_vigies(page(Some(1), next)).await));
    step("list_bad_cursor", outcome(client.list_vigies(page(None, Some("not a cursor".into()))).await));
    step("list_selector", outcome(client.list_vigies(select("tier=edge")).await));
    step("list_selector_notin", outcome(client.list_vigies(select("tier notin (edge)")).await));
    step("list_malformed_selector", outcome(client.list_vigies(select("tier in (")).await));
    // Neither vigy has ticked, so neither has a condition: each reads as
    // `unknown`. A bad filter is `invalid_argument`, in the same words.
    for (name, selector, condition) in [
        ("list_condition_missing_reads_unknown", None, "Ready=unknown"),
        ("list_condition_false", None, "Ready=false"),
        ("list_condition_all_must_hold", Some("tier=edge"), "Ready=Unknown, Synced=unknown"),
        ("list_condition_bad_status", None, "Ready=maybe"),
        ("list_condition_no_status", None, "Ready"),
        ("list_condition_bad_type", None, "1Ready=true"),
        ("list_condition_empty_part", None, "Ready=unknown,"),
    ] {
        let filter = api::ListVigiesRequest {
            selector: selector.map(Into::into),
            limit: None,
            condition: Some(condition.into()),
            cursor: None,
        };
        step(name, outcome(client.list_vigies(filter).await));
    }
    let update = api::UpdateVigyRequest {
        id: id("hello"),
        body: api::UpdateVigy {
            program: Some(COUNTER.into()),
            tick_interval_ms: Some(2000),
            labels: Some([("tier".to_owned(), "edge".to_owned()), ("team".to_owned(), "a".to_owned())].into()),
            ..Default::default()
        },
    };
    step("update", outcome(client.update_vigy(update).await));
    let bad_update = api::UpdateVigyRequest {
        id: id("hello"),
        body: api::UpdateVigy { program: None, tick_interval_ms: Some(10), labels: None, ..Default::default() },
    };
    step("update_interval_under_100ms", outcome(client.update_vigy(bad_update).await));
    step("disable", outcome(client.disable_vigy(api::DisableVigyRequest { id: id("hello") }).await));
    step("tick_disabled", outcome(client.tick_vigy(api::TickVigyRequest { id: id("hello") }).await));
    step("enable", outcome(client.enable_vigy(api::EnableVigyRequest { id: id("hello") }).await));
    step("tick", outcome(client.tick_vigy(api::TickVigyRequest { id: id("hello") }).await));
    step("tick_unknown", outcome(client.tick_vigy(api::TickVigyRequest { id: id("nope") }).await));
    // Outside the server's scope: nobody holds its lease, and the state
    // says so (`owner` and `lease_expires_at` null); its program sets no
    // condition (`conditions` empty).
    step("state", outcome(client.get_vigy_state(api::GetVigyStateRequest { id: id("hello") }).await));
    step("state_unknown", outcome(client.get_vigy_state(api::GetVigyStateRequest { id: id("nope") }).await));
    let runs = |limit| api::ListVigyRunsRequest { id: id("hello"), limit, cursor: None };
    step("runs", outcome(client.list_vigy_runs(runs(None)).await));
    step("runs_limit_1", outcome(client.list_vigy_runs(runs(Some(1))).await));
    step("runs_limit_0", outcome(client.list_vigy_runs(runs(Some(0))).await));
    step("runs_limit_over_1000", outcome(client.list_vigy_runs(runs(Some(5000))).await));
    // Paging by run: `other` ticked twice, a page of one, then the next.
    for _ in 0..2 {
        client.tick_vigy(api::TickVigyRequest { id: id("other") }).await.unwrap();
    }
    let other_runs = |cursor: Option<String>| api::ListVigyRunsRequest { id: id("other"), limit: Some(1), cursor };
    let first = client.list_vigy_runs(other_runs(None)).await;
    let next = first.as_ref().ok().and_then(|p| p.next_cursor.clone());
    step("runs_page_1", outcome(first));
    step("runs_page_2", outcome(client.list_vigy_runs(other_runs(next)).await));
    // A vigy list's cursor does not page runs.
    let name_cursor = client.list_vigies(page(Some(1), None)).await.unwrap().next_cursor;
    step("runs_cursor_of_a_vigy_list", outcome(client.list_vigy_runs(other_runs(name_cursor)).await));
    let kv = |vigy: &str| api::GetVigyKvRequest { id: id(vigy) };
    step("kv", outcome(client.get_vigy_kv(kv("hello")).await));
    step("kv_unknown", outcome(client.get_vigy_kv(kv("nope")).await));
    let none = api::ListVigiesRequest { selector: None, limit: Some(0), condition: None, cursor: None };
    step("list_limit_0", outcome(client.list_vigies(none).await));
    // Schedules: a cron pattern in a zone, and what is refused; pause and
    // resume, both idempotent (a second pause keeps the first reason).
    let cron = |name: &str, cron: &str, tz: Option<&str>, every_ms: Option<u64>| api::RegisterVigyRequest {
        body: api::RegisterVigy {
            name: name.into(),
            program: HELLO.into(),
            tick_interval_ms: every_ms,
            cron: Some(cron.into()),
            tz: tz.map(Into::into),
            jitter_ms: Some(250),
            catch_up_window_ms: Some(60_000),
            pause_after_failures: Some(3),
            ..Default::default()
        },
    };
    step(
        "register_cron",
        outcome(client.register_vigy(cron("nightly", "0 30 2 * * *", Some("Europe/Berlin"), None)).await),
    );
    step(
        "register_cron_and_interval",
        outcome(client.register_vigy(cron("both", "0 * * * * *", None, Some(1000))).await),
    );
    step(
        "register_cron_unknown_zone",
        outcome(client.register_vigy(cron("zone", "0 * * * * *", Some("Mars/Olympus"), None)).await),
    );
    step("register_cron_second_61", outcome(client.register_vigy(cron("sixty", "61 * * * * *", None, None)).await));
    step("register_cron_five_fields", outcome(client.register_vigy(cron("five", "*/5 * * * *", None, None)).await));
    let pause = |name: &str, reason: &str| api::PauseVigyRequest {
        id: id(name),
        body: api::PauseVigy { reason: reason.into() },
    };
    step("pause", outcome(client.pause_vigy(pause("nightly", "waiting for the migration")).await));
    step("pause_again_keeps_the_first_reason", outcome(client.pause_vigy(pause("nightly", "another")).await));
    step("pause_empty_reason", outcome(client.pause_vigy(pause("nightly", "")).await));
    step("pause_unknown", outcome(client.pause_vigy(pause("nope", "why")).await));
    step("state_paused", outcome(client.get_vigy_state(api::GetVigyStateRequest { id: id("nightly") }).await));
    step("resume", outcome(client.resume_vigy(api::ResumeVigyRequest { id: id("nightly") }).await));
    step("resume_again", outcome(client.resume_vigy(api::ResumeVigyRequest { id: id("nightly") }).await));
    step("resume_unknown", outcome(client.resume_vigy(api::ResumeVigyRequest { id: id("nope") }).await));
    step("delete_cron", outcome(client.delete_vigy(api::DeleteVigyRequest { id: id("nightly") }).await));
    step("delete", outcome(client.delete_vigy(api::DeleteVigyRequest { id: id("other") }).await));
    step("get_deleted", outcome(client.get_vigy(api::GetVigyRequest { id: id("other") }).await));
    step("delete_unknown", outcome(client.delete_vigy(api::DeleteVigyRequest { id: id("other") }).await));
    // Programs checked and simulated before anything is registered: a
    // diagnostic is a result, bad input (a program that does not parse, a
    // tick count out of bounds, a bad name) `invalid_argument`.
    for (name, program) in [("check_ok", COUNTER), ("check_unbalanced", "(vigy-noop"), ("check_too_large", &huge)] {
        let request = api::CheckProgramRequest { body: api::CheckProgram { program: program.into() } };
        step(name, outcome(client.check_program(request).await));
    }
    let failing = "(vigy-set \"k\" 1)\n(vigy-push 1)\n(no-such-function)\n";
    let retrying = "(define last (vigy-last-results))\n\
        (vigy-log \"info\" (map (lambda (r) (hash-map-get r \"result\")) last))\n\
        (vigy-condition \"Ready\" false \"Waiting\")\n(vigy-pull (vigy-incr \"tries\"))\n(vigy-noop)\n";
    for (name, program, ticks, vigy) in [
        ("simulate_counter_3_ticks", COUNTER, Some(3), None),
        ("simulate_one_tick_by_default_named", "(vigy-log \"info\" (vigy-name))", None, Some("sim")),
        ("simulate_reads_last_results", retrying, Some(2), None),
        ("simulate_failing_tick_keeps_no_kv", failing, Some(2), None),
        ("simulate_unparseable", "(vigy-noop", Some(1), None),
        ("simulate_0_ticks", HELLO, Some(0), None),
        ("simulate_101_ticks", HELLO, Some(101), None),
        ("simulate_bad_name", HELLO, Some(1), Some("")),
    ] {
        let body = api::SimulateProgram { program: program.into(), ticks, name: vigy.map(Into::into) };
        step(name, outcome(client.simulate_program(api::SimulateProgramRequest { body }).await));
    }
    steps
}

/// The event stream: subscribe to `hello`'s runs, force a tick, and the
/// stream carries exactly that run.
async fn events(client: &dyn VigyService) -> Value {
    // A stream of an unknown vigy fails with `not_found`: at the call, or
    // (GraphQL, whose subscription starts when polled) as its only item.
    let unknown: Result<(), ServiceError> = match client
        .stream_events(api::StreamEventsRequest { vigy_id: Some("nope".into()) })
        .await
    {
        Err(e) => Err(e),
        Ok(mut stream) => match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(Err(e))) => Err(e),
            other => panic!("an unknown vigy's stream should fail, got {:?}", other.map(|o| o.map(|r| r.map(|_| ())))),
        },
    };
    let unknown = outcome(unknown);
    let mut stream = client.stream_events(api::StreamEventsRequest { vigy_id: Some("hello".into()) }).await.unwrap();
    // The GraphQL subscription starts when polled: poll it in the
    // background, and give every transport time to be subscribed.
    let first = tokio::spawn(async move { stream.next().await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let ticked = client.tick_vigy(api::TickVigyRequest { id: "hello".into() }).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), first).await.expect("an event within 10 s").unwrap();
    let event = event.expect("the stream is open").expect("an event, not an error");
    assert_eq!(event, ticked, "the stream carries the forced tick's run");
    json!({ "unknown_vigy": unknown, "event": event })
}

fn check(transport: &str, transcript: &[(&'static str, Value)]) {
    let transcript: Vec<Value> =
        transcript.iter().map(|(step, outcome)| json!({ "step": step, "outcome": outcome })).collect();
    insta::with_settings!({ description => format!("the scenario over {transport}"), omit_expression => true }, {
        insta::assert_json_snapshot!("scenario", transcript);
    });
}

fn check_events(transport: &str, events: &Value) {
    insta::with_settings!({ description => format!("the event stream over {transport}"), omit_expression => true }, {
        insta::assert_json_snapshot!("events", events);
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_should_match_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let served = server(&dir, "rest").await;
    let client = RestClient::new(&served.url);
    check("REST", &scenario(&client).await);
    check_events("REST (SSE)", &events(&client).await);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_should_match_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let served = server(&dir, "grpc").await;
    let client = GrpcClient::connect(served.url.clone()).await.unwrap();
    check("gRPC", &scenario(&client).await);
    check_events("gRPC (server stream)", &events(&client).await);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn graphql_should_match_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let served = server(&dir, "graphql").await;
    let client = GraphqlClient::new(format!("{}/graphql", served.url));
    check("GraphQL", &scenario(&client).await);
    check_events("GraphQL (subscription)", &events(&client).await);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_should_match_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let served = server(&dir, "mcp").await;
    let client = connect_mcp(&format!("{}/mcp", served.url), None).await.unwrap();
    check("MCP", &scenario(&client).await);
    // MCP tools are request/response: the stream is refused, clearly.
    let refused = client.stream_events(api::StreamEventsRequest { vigy_id: None }).await.map(|_| ()).unwrap_err();
    assert_eq!(refused.code(), ErrorCode::FailedPrecondition);
    assert!(refused.message().contains("REST, gRPC or GraphQL"), "{refused}");
    drop(client);
    served.stop().await;
}
