//! The generated REST adapter in process, against a real runtime.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use vigy_runtime::{RuntimeHandle, Scope};

async fn runtime() -> RuntimeHandle {
    RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap()
}

async fn call(app: &axum::Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let request = Request::builder().method(method).uri(uri).header("content-type", "application/json");
    let request = request.body(body.map_or(Body::empty(), |b| Body::from(b.to_string()))).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_should_map_operations_and_errors_onto_http() {
    let rt = runtime().await;
    let app = vigy_rest::router(Arc::new(rt.clone()));
    let register =
        json!({ "name": "hello", "program": "(vigy-noop)", "tick_interval_ms": 1000, "labels": { "host": "mado" } });
    let (status, vigy) = call(&app, "POST", "/v1/vigies", Some(register)).await;
    assert_eq!(status, StatusCode::OK, "{vigy}");
    assert_eq!(vigy["labels"]["host"], "mado");
    let (status, run) = call(&app, "POST", "/v1/vigies/hello/tick", None).await;
    assert_eq!((status, run["result"].clone()), (StatusCode::OK, json!("ok")));
    let (status, list) = call(&app, "GET", "/v1/vigies?selector=host%3Dmado&limit=5", None).await;
    assert_eq!((status, list["items"][0]["name"].clone()), (StatusCode::OK, json!("hello")));
    let (status, runs) = call(&app, "GET", "/v1/vigies/hello/runs?limit=1", None).await;
    assert_eq!((status, runs["items"].as_array().unwrap().len()), (StatusCode::OK, 1));

    let (status, error) = call(&app, "GET", "/v1/vigies/nope", None).await;
    assert_eq!((status, error), (StatusCode::NOT_FOUND, json!({ "code": "not_found", "message": "no vigy `nope`" })));
    let fast = json!({ "name": "x", "program": "(vigy-noop)", "tick_interval_ms": 10 });
    let (status, error) = call(&app, "POST", "/v1/vigies", Some(fast)).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_argument")));
    let (status, error) = call(&app, "POST", "/v1/vigies", Some(json!({ "name": 3 }))).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_argument")), "{error}");
    let (status, error) = call(&app, "GET", "/v1/vigies?limit=lots", None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_argument")), "{error}");
    let (status, _) = call(&app, "DELETE", "/v1/vigies/hello", None).await;
    assert_eq!(status, StatusCode::OK);
    rt.shutdown().await;
}

/// The document served at `/openapi.json` is derived from the handlers;
/// it must describe the same API as `spec/vigy.openapi.yaml`.
#[tokio::test]
async fn the_served_openapi_document_should_match_the_spec() {
    let rt = runtime().await;
    let app = vigy_rest::router(Arc::new(rt.clone()));
    let (status, served) = call(&app, "GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let spec_text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/vigy.openapi.yaml")).unwrap();
    let spec: Value = serde_yaml_ng::from_str(&spec_text).unwrap();
    assert_eq!(operations(&served), operations(&spec));
    assert_eq!(schemas(&served), schemas(&spec));
    rt.shutdown().await;
}

/// Per operation: method, path, id, parameters (name, place, required),
/// request body and 200 response schema names.
fn operations(doc: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let shared = item.get("parameters").cloned().unwrap_or(json!([]));
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let mut params: Vec<String> = shared
                .as_array()
                .unwrap()
                .iter()
                .chain(op["parameters"].as_array().into_iter().flatten())
                .map(|p| resolve(doc, p))
                .map(|p| format!("{}:{}:{}", p["name"], p["in"], p["required"].as_bool().unwrap_or(false)))
                .collect();
            params.sort();
            let body = ref_name(&op["requestBody"]["content"]["application/json"]["schema"]);
            let content = &op["responses"]["200"]["content"];
            let output =
                ref_name(&content["application/json"]["schema"]) + &ref_name(&content["text/event-stream"]["schema"]);
            out.insert(format!("{method} {path} {} params={params:?} body={body} output={output}", op["operationId"]));
        }
    }
    out
}

/// Per model: its properties and required ones, or its enum values.
fn schemas(doc: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if let Some(values) = schema.get("enum") {
            out.insert(format!("{name} enum {values}"));
            continue;
        }
        let props: BTreeSet<&String> = schema["properties"].as_object().map(|p| p.keys().collect()).unwrap_or_default();
        let mut required: Vec<String> =
            schema["required"].as_array().into_iter().flatten().map(|r| r.to_string()).collect();
        required.sort();
        out.insert(format!("{name} props={props:?} required={required:?}"));
    }
    out
}

fn resolve<'a>(doc: &'a Value, param: &'a Value) -> &'a Value {
    match param.get("$ref").and_then(Value::as_str) {
        Some(r) => &doc["components"]["parameters"][r.rsplit('/').next().unwrap()],
        None => param,
    }
}

fn ref_name(schema: &Value) -> String {
    schema.get("$ref").and_then(Value::as_str).map(|r| r.rsplit('/').next().unwrap().to_owned()).unwrap_or_default()
}
