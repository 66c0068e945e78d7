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
    let problem = json!({
        "type": "about:blank", "title": "Not Found", "status": 404, "detail": "no vigy `nope`", "code": "not_found"
    });
    assert_eq!((status, error), (StatusCode::NOT_FOUND, problem));
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

/// The document served at `/openapi.json` is OpenAPI 3.0.3 and says what
/// `spec/vigy.openapi.yaml` says, constraints included: compared value by
/// value (paths, operations, parameters and their schemas, request and
/// response schemas with properties, required, nullable, enums, formats,
/// bounds, lengths, defaults, descriptions), each difference one line.
#[tokio::test]
async fn the_served_openapi_document_should_be_the_spec_with_its_constraints() {
    let rt = runtime().await;
    let app = vigy_rest::router(Arc::new(rt.clone()));
    let (status, served) = call(&app, "GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let spec_text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/vigy.openapi.yaml")).unwrap();
    let spec: Value = serde_yaml_ng::from_str(&spec_text).unwrap();
    assert_eq!(served["openapi"], "3.0.3");
    let mut differences = Vec::new();
    diff("", &spec, &served, &mut differences);
    assert!(differences.is_empty(), "the served document differs from the spec:\n{}", differences.join("\n"));
    // The constraints the fuzzer found missing are there.
    let runs_limit = &served["paths"]["/v1/vigies/{id}/runs"]["get"]["parameters"][0]["schema"];
    assert_eq!((runs_limit["minimum"].clone(), runs_limit["maximum"].clone()), (json!(1), json!(1000)));
    let interval = &served["components"]["schemas"]["RegisterVigy"]["properties"]["tick_interval_ms"];
    assert_eq!((interval["minimum"].clone(), interval["maximum"].clone()), (json!(100), json!(604_800_000)));
    rt.shutdown().await;
}

/// Every operation the document names is served by a handler (a made-up
/// id gets the handler's `not_found` problem, not the router's bare 404 or
/// 405), and every error is `application/problem+json`.
#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_should_have_a_handler_answering_with_problems() {
    let rt = runtime().await;
    let app = vigy_rest::router(Arc::new(rt.clone()));
    let doc = vigy_rest::openapi();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap().iter().filter(|(m, _)| *m != "parameters") {
            if op["responses"]["200"]["content"].get("text/event-stream").is_some() && !path.contains("{id}") {
                continue; // an endless stream; its refusal is tested below
            }
            let uri = path.replace("{id}", "no-such-vigy").replace("{", "").replace("}", "");
            // A valid body of the operation's own schema.
            let body = op.get("requestBody").map(|body| {
                let schema = body["content"]["application/json"]["schema"]["$ref"].as_str().unwrap_or_default();
                match schema.rsplit('/').next() {
                    Some("PauseVigy") => json!({ "reason": "x" }),
                    _ => json!({ "name": "x", "program": "(vigy-noop)", "tick_interval_ms": 1000 }),
                }
            });
            let request = Request::builder().method(method.to_uppercase().as_str()).uri(&uri);
            let request = request.header("content-type", "application/json");
            let request = request.body(body.map_or(Body::empty(), |b| Body::from(b.to_string()))).unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            if !status.is_success() {
                assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{method} {path}: {status}");
            }
            if path.contains("{id}") {
                assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
            }
        }
    }
    let (status, problem) = call(&app, "GET", "/v1/events?vigy_id=no-such-vigy", None).await;
    assert_eq!((status, problem["code"].clone()), (StatusCode::NOT_FOUND, json!("not_found")));
    rt.shutdown().await;
}

/// Refusals of the document's own rules, by axum's extractors or by the
/// generated validation, are all problems with `invalid_argument`.
#[tokio::test(flavor = "multi_thread")]
async fn requests_the_document_forbids_should_be_refused_as_invalid_argument_problems() {
    let rt = runtime().await;
    let app = vigy_rest::router(Arc::new(rt.clone()));
    let register = json!({ "name": "hello", "program": "(vigy-noop)", "tick_interval_ms": 1000 });
    assert_eq!(call(&app, "POST", "/v1/vigies", Some(register)).await.0, StatusCode::OK);
    let refused: &[(&str, &str, Option<Value>)] = &[
        ("GET", "/v1/vigies?limit=0", None),
        ("GET", "/v1/vigies?limit=abc", None),
        ("GET", "/v1/vigies?limit=4359.0", None),
        ("GET", "/v1/vigies?limit=4294967296", None),
        ("GET", "/v1/vigies/hello/runs?limit=0", None),
        ("GET", "/v1/vigies/hello/runs?limit=1001", None),
        ("GET", "/v1/vigies/hello/runs?limit=2147483646", None),
        ("POST", "/v1/vigies", Some(json!({ "name": "x", "program": "", "tick_interval_ms": 604_800_001 }))),
        ("POST", "/v1/vigies", Some(json!({ "name": "x", "program": "", "tick_interval_ms": 4359.0 }))),
        ("POST", "/v1/vigies", Some(json!([]))),
        ("PATCH", "/v1/vigies/hello", Some(json!([]))),
        ("PATCH", "/v1/vigies/hello", Some(json!({ "tick_interval_ms": 99 }))),
    ];
    for (method, uri, body) in refused {
        let (status, problem) = call(&app, method, uri, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri} {body:?}: {problem}");
        assert_eq!(
            (problem["type"].clone(), problem["title"].clone(), problem["status"].clone(), problem["code"].clone()),
            (json!("about:blank"), json!("Bad Request"), json!(400), json!("invalid_argument")),
            "{method} {uri} {body:?}: {problem}"
        );
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{problem}");
    }
    rt.shutdown().await;
}

/// Each difference between `want` (the spec) and `got` (the served
/// document), one line each, named by its JSON pointer.
fn diff(at: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (key, wv) in w {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match g.get(key) {
                    Some(gv) => diff(&here, wv, gv, out),
                    None => out.push(format!("{here}: missing (the spec has {wv})")),
                }
            }
            for key in g.keys().filter(|k| !w.contains_key(*k)) {
                out.push(format!("{at}/{key}: not in the spec (served {})", g[key]));
            }
        }
        // `required` is a set.
        (Value::Array(w), Value::Array(g)) if at.ends_with("/required") => {
            let (w, g): (BTreeSet<String>, BTreeSet<String>) =
                (w.iter().map(Value::to_string).collect(), g.iter().map(Value::to_string).collect());
            if w != g {
                out.push(format!("{at}: served {g:?}, the spec says {w:?}"));
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                diff(&format!("{at}/{i}"), wv, gv, out);
            }
        }
        (Value::Number(w), Value::Number(g)) if w.as_f64() == g.as_f64() => {}
        (w, g) if w == g => {}
        (w, g) => out.push(format!("{at}: served {g}, the spec says {w}")),
    }
}
