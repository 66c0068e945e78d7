//! The runtime through the generated `VigyService` trait, as every
//! transport adapter drives it.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use vigy_api::{self as api, ErrorCode, ServiceError, VigyService};
use vigy_runtime::{RuntimeHandle, Scope};

fn register(name: &str, program: &str, ms: u64, labels: &[(&str, &str)]) -> api::RegisterVigyRequest {
    api::RegisterVigyRequest {
        body: api::RegisterVigy {
            name: name.into(),
            program: program.into(),
            tick_interval_ms: Some(ms),
            labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        },
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, ServiceError>) -> (ErrorCode, String) {
    let err = result.unwrap_err();
    (err.code(), err.message().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_should_map_onto_the_runtime_with_the_right_error_codes() {
    // Nothing ticks on its own, so every run below is a forced one.
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let service: &dyn VigyService = &rt;

    let hello = service.register_vigy(register("hello", "(vigy-noop)", 500, &[("host", "mado")])).await.unwrap();
    assert_eq!((hello.name.as_str(), hello.tick_interval_ms, hello.enabled), ("hello", Some(500), true));
    assert_eq!(hello.labels, BTreeMap::from([("host".to_owned(), "mado".to_owned())]));
    service.register_vigy(register("other", "(vigy-pull 1)", 1000, &[("host", "local")])).await.unwrap();

    let (c, m) = code(service.register_vigy(register("bad", "(vigy-noop", 500, &[])).await);
    assert_eq!(c, ErrorCode::InvalidArgument);
    assert!(m.contains("does not parse") && m.contains("at 1:"), "{m}");
    let (c, m) = code(service.register_vigy(register("fast", "(vigy-noop)", 50, &[])).await);
    assert_eq!((c, m.as_str()), (ErrorCode::InvalidArgument, "tick_interval_ms must be at least 100, got 50"));
    let (c, _) = code(service.register_vigy(register("x", "(vigy-noop)", 500, &[("bad key", "v")])).await);
    assert_eq!(c, ErrorCode::InvalidArgument);

    let (c, m) = code(service.get_vigy(api::GetVigyRequest { id: "nope".into() }).await);
    assert_eq!((c, m.as_str()), (ErrorCode::NotFound, "no vigy `nope`"));
    assert_eq!(service.get_vigy(api::GetVigyRequest { id: hello.id.clone() }).await.unwrap(), hello);
    assert_eq!(service.get_vigy(api::GetVigyRequest { id: "hello".into() }).await.unwrap().id, hello.id);

    let mado = service
        .list_vigies(api::ListVigiesRequest {
            selector: Some("host=mado".into()),
            limit: None,
            condition: None,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(mado.items.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["hello"]);
    let one = service
        .list_vigies(api::ListVigiesRequest { selector: None, limit: Some(1), condition: None, cursor: None })
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    let (c, m) = code(
        service
            .list_vigies(api::ListVigiesRequest {
                selector: Some("host in (".into()),
                limit: None,
                condition: None,
                cursor: None,
            })
            .await,
    );
    assert_eq!(c, ErrorCode::InvalidArgument);
    assert!(m.starts_with("invalid label selector"), "{m}");

    let updated = service
        .update_vigy(api::UpdateVigyRequest {
            id: "hello".into(),
            body: api::UpdateVigy {
                program: Some("(vigy-push 7)".into()),
                tick_interval_ms: None,
                labels: None,
                ..Default::default()
            },
        })
        .await
        .unwrap();
    assert_eq!((updated.program.as_str(), updated.tick_interval_ms), ("(vigy-push 7)", Some(500)));
    assert_eq!(updated.labels, hello.labels, "absent labels are kept");
    let (c, _) = code(
        service
            .update_vigy(api::UpdateVigyRequest {
                id: "hello".into(),
                body: api::UpdateVigy { program: None, tick_interval_ms: Some(10), labels: None, ..Default::default() },
            })
            .await,
    );
    assert_eq!(c, ErrorCode::InvalidArgument);

    assert!(!service.disable_vigy(api::DisableVigyRequest { id: "hello".into() }).await.unwrap().enabled);
    assert!(service.enable_vigy(api::EnableVigyRequest { id: "hello".into() }).await.unwrap().enabled);

    let mut events = service.stream_events(api::StreamEventsRequest { vigy_id: Some("hello".into()) }).await.unwrap();
    let run = service.tick_vigy(api::TickVigyRequest { id: "hello".into() }).await.unwrap();
    assert_eq!(run.result, api::RunResult::Ok);
    assert_eq!(run.actions[0].kind, "push");
    assert_eq!(run.actions[0].payload, Some(serde_json::json!(7)));
    service.tick_vigy(api::TickVigyRequest { id: "other".into() }).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(2), events.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(event, run, "the stream carries the committed run, filtered to its vigy");

    let state = service.get_vigy_state(api::GetVigyStateRequest { id: "hello".into() }).await.unwrap();
    // No handler takes `push` here: skipped at commit, so nothing is pending.
    assert_eq!(run.actions[0].result, api::ActionResult::Skipped);
    assert_eq!((state.tick_count, state.pending.len()), (1, 0));
    let runs = service
        .list_vigy_runs(api::ListVigyRunsRequest { id: "hello".into(), limit: Some(5), cursor: None })
        .await
        .unwrap();
    assert_eq!(runs.items, [run]);
    let (c, _) = code(
        service.list_vigy_runs(api::ListVigyRunsRequest { id: "hello".into(), limit: Some(0), cursor: None }).await,
    );
    assert_eq!(c, ErrorCode::InvalidArgument);

    let deleted = service.delete_vigy(api::DeleteVigyRequest { id: "hello".into() }).await.unwrap();
    assert_eq!(deleted.id, hello.id);
    let (c, _) = code(service.delete_vigy(api::DeleteVigyRequest { id: "hello".into() }).await);
    assert_eq!(c, ErrorCode::NotFound);
    let stream = service.stream_events(api::StreamEventsRequest { vigy_id: Some("hello".into()) }).await;
    assert_eq!(stream.err().map(|e| e.code()), Some(ErrorCode::NotFound));
    rt.shutdown().await;
}
