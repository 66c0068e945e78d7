//! The MCP catalog and dispatch against a real runtime.

use serde_json::{Value, json};
use vigy_api::ErrorCode;
use vigy_mcp::{DispatchError, dispatch, tool_catalog};
use vigy_runtime::{RuntimeHandle, Scope};

#[test]
fn the_catalog_should_list_every_request_response_operation_with_its_schema() {
    let catalog: Vec<Value> = tool_catalog()
        .into_iter()
        .map(|t| {
            let a = t.annotations;
            json!({
                "name": t.name,
                "description": t.description,
                "annotations": {
                    "read_only": a.read_only, "destructive": a.destructive,
                    "idempotent": a.idempotent, "open_world": a.open_world,
                },
                "input_schema": t.input_schema,
                "output_schema_of": t.output_schema["title"],
            })
        })
        .collect();
    insta::assert_json_snapshot!(catalog);
}

#[test]
fn every_tool_should_take_flat_described_arguments_and_declare_an_object_output() {
    for tool in tool_catalog() {
        let input = &tool.input_schema;
        assert_eq!(input["type"], "object", "{}", tool.name);
        let properties = input["properties"].as_object().unwrap();
        assert!(!properties.contains_key("body"), "{} wraps its body", tool.name);
        for (name, property) in properties {
            assert!(property["description"].is_string(), "{}.{name} has no description", tool.name);
        }
        assert_eq!(tool.output_schema["type"], "object", "{}", tool.name);
        assert!(tool.output_schema["properties"].is_object(), "{}", tool.name);
    }
    let register = tool_catalog().into_iter().find(|t| t.name == "register_vigy").unwrap();
    let interval = &register.input_schema["properties"]["tick_interval_ms"];
    assert_eq!((interval["minimum"].as_u64(), interval["maximum"].as_u64()), (Some(100), Some(604_800_000)));
}

#[tokio::test(flavor = "multi_thread")]
async fn dispatch_should_call_the_runtime_and_keep_error_codes() {
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let registered =
        dispatch(&rt, "register_vigy", json!({ "name": "hello", "program": "(vigy-noop)", "tick_interval_ms": 1000 }))
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
    let fast = json!({ "name": "x", "program": "(vigy-noop)", "tick_interval_ms": 10 });
    assert_eq!(code(dispatch(&rt, "register_vigy", fast).await), ErrorCode::InvalidArgument);
    let wrapped = json!({ "body": { "name": "x", "program": "(vigy-noop)", "tick_interval_ms": 1000 } });
    match dispatch(&rt, "register_vigy", wrapped).await {
        Err(DispatchError::Service(e)) => assert!(e.to_string().contains("no argument `body`"), "{e}"),
        other => panic!("a wrapped body should be refused, got {other:?}"),
    }
    let changed = dispatch(&rt, "update_vigy", json!({ "id": "hello", "tick_interval_ms": 2000 })).await.unwrap();
    assert_eq!(changed["tick_interval_ms"], 2000);

    let checked = dispatch(&rt, "check_program", json!({ "program": "(vigy-log \"info\"" })).await.unwrap();
    assert_eq!((checked["ok"].clone(), checked["line"].clone()), (json!(false), json!(1)));
    let program = "(vigy-incr \"n\") (vigy-push (vigy-get \"n\"))";
    let simulated = dispatch(&rt, "simulate_program", json!({ "program": program, "ticks": 2 })).await.unwrap();
    assert_eq!(simulated["ticks"][1]["kv"]["n"], 2);
    assert_eq!(simulated["ticks"][1]["actions"][0]["result"], "skipped");
    let many = json!({ "program": program, "ticks": 101 });
    assert_eq!(code(dispatch(&rt, "simulate_program", many).await), ErrorCode::InvalidArgument);
    assert_eq!(
        dispatch(&rt, "stream_events", json!({})).await,
        Err(DispatchError::UnknownTool("stream_events".into()))
    );
    rt.shutdown().await;
}
