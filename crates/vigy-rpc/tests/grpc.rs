//! A real tonic server on 127.0.0.1 and the generated client.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use vigy_api::{self as api, ErrorCode, VigyService};
use vigy_rpc::{GrpcClient, GrpcService};
use vigy_runtime::{RuntimeHandle, Scope};

async fn serve(rt: &RuntimeHandle) -> GrpcClient {
    GrpcClient::connect(format!("http://{}", serve_at(rt).await)).await.unwrap()
}

/// Serve `rt` over gRPC on a port of its own.
async fn serve_at(rt: &RuntimeHandle) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = GrpcService::new(Arc::new(rt.clone())).into_server();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn the_grpc_client_should_speak_vigy_service_to_a_real_server() {
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let client = serve(&rt).await;
    let service: &dyn VigyService = &client;

    let body = api::RegisterVigy {
        name: "mado-sync".into(),
        program: r#"(vigy-emit "mado-tear-resync" (hash-map "pane" 3 "tags" (list "a" "b"))) (vigy-desired "panes" 4)"#
            .into(),
        tick_interval_ms: Some(500),
        labels: Some([("host".to_owned(), "mado".to_owned())].into()),
        ..Default::default()
    };
    let vigy = service.register_vigy(api::RegisterVigyRequest { body }).await.unwrap();
    assert_eq!(vigy.labels["host"], "mado");
    assert_eq!(vigy, rt.get_vigy(api::GetVigyRequest { id: vigy.id.clone() }).await.unwrap(), "same answer in process");

    let mut events = service.stream_events(api::StreamEventsRequest { vigy_id: None }).await.unwrap();
    let run = service.tick_vigy(api::TickVigyRequest { id: "mado-sync".into() }).await.unwrap();
    assert_eq!(run.actions[0].kind, "mado-tear-resync");
    assert_eq!(run.actions[0].payload, Some(json!({ "pane": 3, "tags": ["a", "b"] })));
    let event = tokio::time::timeout(Duration::from_secs(2), events.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(event, run);
    let state = service.get_vigy_state(api::GetVigyStateRequest { id: "mado-sync".into() }).await.unwrap();
    assert_eq!(state.desired["panes"], json!(4));

    let updated = service
        .update_vigy(api::UpdateVigyRequest {
            id: "mado-sync".into(),
            body: api::UpdateVigy {
                program: None,
                tick_interval_ms: Some(250),
                labels: Some(Default::default()),
                ..Default::default()
            },
        })
        .await
        .unwrap();
    assert_eq!(
        (updated.tick_interval_ms, updated.labels.len()),
        (Some(250), 0),
        "an empty label map is not an absent one"
    );

    let err = service.get_vigy(api::GetVigyRequest { id: "nope".into() }).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (ErrorCode::NotFound, "no vigy `nope`"));
    let bad = api::RegisterVigy {
        name: "x".into(),
        program: "(".into(),
        tick_interval_ms: Some(500),
        labels: None,
        ..Default::default()
    };
    let err = service.register_vigy(api::RegisterVigyRequest { body: bad }).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    let list = service
        .list_vigies(api::ListVigiesRequest {
            selector: Some("host".into()),
            limit: None,
            condition: None,
            cursor: None,
        })
        .await
        .unwrap();
    assert!(list.items.is_empty(), "labels were cleared");
    rt.shutdown().await;
}

/// A plain tonic client sees vigy's code twice: as the gRPC code, and as
/// `google.rpc.ErrorInfo` in the status details (reason, domain, `code`).
#[tokio::test(flavor = "multi_thread")]
async fn errors_should_carry_error_info_for_any_grpc_client() {
    use tonic_types::StatusExt;
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let addr = serve_at(&rt).await;
    let mut raw =
        vigy_rpc::pb::vigy_service_client::VigyServiceClient::connect(format!("http://{addr}")).await.unwrap();
    let status = raw.get_vigy(vigy_rpc::pb::GetVigyRequest { id: "nope".into() }).await.unwrap_err();
    assert_eq!((status.code(), status.message()), (tonic::Code::NotFound, "no vigy `nope`"));
    let info = status.get_details_error_info().expect("an ErrorInfo detail");
    assert_eq!((info.reason.as_str(), info.domain.as_str()), ("NOT_FOUND", "pleme.vigy.v1"));
    assert_eq!(info.metadata.get("code").map(String::as_str), Some("not_found"));
    rt.shutdown().await;
}

/// Every code survives the trip through a status, `conflict` included
/// (sent as `ALREADY_EXISTS`); a status from elsewhere, without vigy's
/// `ErrorInfo`, is read by its gRPC code.
#[test]
fn every_code_should_survive_a_status() {
    use vigy_api::ServiceError;
    for error in [
        ServiceError::InvalidArgument("a".into()),
        ServiceError::NotFound("b".into()),
        ServiceError::Conflict("c".into()),
        ServiceError::FailedPrecondition("d".into()),
        ServiceError::Unavailable("e".into()),
        ServiceError::Internal("f".into()),
        ServiceError::Unauthenticated("g".into()),
    ] {
        assert_eq!(vigy_rpc::service_error(vigy_rpc::status(error.clone())), error);
    }
    let foreign = tonic::Status::aborted("retry");
    assert_eq!(vigy_rpc::service_error(foreign), ServiceError::Conflict("retry".into()));
    let foreign = tonic::Status::resource_exhausted("slow down");
    assert_eq!(vigy_rpc::service_error(foreign).code(), ErrorCode::Internal);
}
