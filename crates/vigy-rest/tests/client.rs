//! A real axum server on 127.0.0.1 and the generated progenitor client.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use vigy_api::{self as api, ErrorCode, VigyService};
use vigy_api_rest_client::RestClient;
use vigy_runtime::{RuntimeHandle, Scope};

async fn serve(rt: &RuntimeHandle) -> RestClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = vigy_rest::router(Arc::new(rt.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    RestClient::new(&format!("http://{addr}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rest_client_should_speak_vigy_service_to_a_real_server() {
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let client = serve(&rt).await;
    let service: &dyn VigyService = &client;

    let body = api::RegisterVigy {
        name: "hello".into(),
        program: r#"(vigy-push (hash-map "n" 1)) (vigy-observed "n" 1)"#.into(),
        tick_interval_ms: Some(500),
        labels: Some([("host".to_owned(), "local".to_owned())].into()),
        ..Default::default()
    };
    let vigy = service.register_vigy(api::RegisterVigyRequest { body }).await.unwrap();
    assert_eq!(vigy, rt.get_vigy(api::GetVigyRequest { id: "hello".into() }).await.unwrap());

    let mut events = service.stream_events(api::StreamEventsRequest { vigy_id: Some("hello".into()) }).await.unwrap();
    let run = service.tick_vigy(api::TickVigyRequest { id: "hello".into() }).await.unwrap();
    assert_eq!(run.actions[0].payload, Some(json!({ "n": 1 })));
    let event = tokio::time::timeout(Duration::from_secs(2), events.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(event, run, "server-sent events carry the committed run");

    let list = service.list_vigies(api::ListVigiesRequest {
        selector: Some("host=local".into()),
        limit: Some(10),
        condition: None,
        cursor: None,
    });
    assert_eq!(list.await.unwrap().items.len(), 1);
    let runs = service
        .list_vigy_runs(api::ListVigyRunsRequest { id: "hello".into(), limit: None, cursor: None })
        .await
        .unwrap();
    assert_eq!(runs.items, [run]);
    let state = service.get_vigy_state(api::GetVigyStateRequest { id: "hello".into() }).await.unwrap();
    assert_eq!(state.observed["n"], json!(1));

    let err = service.get_vigy(api::GetVigyRequest { id: "nope".into() }).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (ErrorCode::NotFound, "no vigy `nope`"));
    let bad = api::RegisterVigy {
        name: "x".into(),
        program: "(vigy-noop)".into(),
        tick_interval_ms: Some(99),
        labels: None,
        ..Default::default()
    };
    let err = service.register_vigy(api::RegisterVigyRequest { body: bad }).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    let err = service
        .list_vigy_runs(api::ListVigyRunsRequest { id: "hello".into(), limit: Some(0), cursor: None })
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert_eq!(service.delete_vigy(api::DeleteVigyRequest { id: "hello".into() }).await.unwrap().id, vigy.id);
    rt.shutdown().await;
}
