//! The MCP catalog and dispatch against a real runtime.

use serde_json::{Value, json};
use vigy_api::ErrorCode;
use vigy_mcp::{DispatchError, dispatch, tool_catalog};
use vigy_runtime::{RuntimeHandle, Scope};

#[test]
fn the_catalog_should_list_every_request_response_operation_with_its_schema() {
    let catalog: Vec<Value> = tool_catalog()
        .into_iter()
        .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.input_schema }))
        .collect();
    insta::assert_json_snapshot!(catalog);
}

#[tokio::test(flavor = "multi_thread")]
async fn dispatch_should_call_the_runtime_and_keep_error_codes() {
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let registered = dispatch(
        &rt,
        "register_vigy",
        json!({ "body": { "name": "hello", "program": "(vigy-noop)", "tick_interval_ms": 1000 } }),
    )
    .await
    .unwrap();
    assert_eq!(registered["name"], "hello");
    let run = dispatch(&rt, "tick_vigy", json!({ "id": "hello" })).await.unwrap();
    assert_eq!(run["result"], "ok");
    assert_eq!(run["actions"][0]["kind"], "noop");

    let code = |r: Result<Value, DispatchError>| match r {
        Err(DispatchError::Service(e)) => e.code(),
        other => panic!("expected a service error, got {other:?}"),
    };
    assert_eq!(code(dispatch(&rt, "get_vigy", json!({ "id": "nope" })).await), ErrorCode::NotFound);
    assert_eq!(code(dispatch(&rt, "get_vigy", json!({ "wrong": 1 })).await), ErrorCode::InvalidArgument);
    let fast = json!({ "body": { "name": "x", "program": "(vigy-noop)", "tick_interval_ms": 10 } });
    assert_eq!(code(dispatch(&rt, "register_vigy", fast).await), ErrorCode::InvalidArgument);
    assert_eq!(
        dispatch(&rt, "stream_events", json!({})).await,
        Err(DispatchError::UnknownTool("stream_events".into()))
    );
    rt.shutdown().await;
}
