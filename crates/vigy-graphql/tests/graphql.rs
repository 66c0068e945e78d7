//! The generated GraphQL schema, in process, against a real runtime.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use vigy_runtime::{RuntimeHandle, Scope};

async fn run(schema: &vigy_graphql::Schema, query: &str) -> (Value, Vec<Value>) {
    let response = schema.execute(query).await;
    let errors = response.errors.iter().map(|e| serde_json::to_value(e).unwrap()).collect();
    (response.data.into_json().unwrap(), errors)
}

/// The schema served is the SDL of the spec: read it back with the
/// generator's own reader and check it against `spec/vigy.graphql`.
#[tokio::test]
async fn the_served_schema_should_match_the_spec() {
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let schema = vigy_graphql::schema(Arc::new(rt.clone()));
    let served = vigy_codegen::parse::graphql::read("served", &schema.sdl()).unwrap();
    let spec_text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/vigy.graphql")).unwrap();
    let spec = vigy_codegen::parse::graphql::read("spec/vigy.graphql", &spec_text).unwrap();
    assert_eq!(vigy_codegen::check::check(&spec, &[&served]), Vec::<String>::new());
    assert_eq!(vigy_codegen::check::check(&served, &[&spec]), Vec::<String>::new());
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_mutations_and_subscriptions_should_reach_the_runtime() {
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let schema = vigy_graphql::schema(Arc::new(rt.clone()));

    let (data, errors) = run(
        &schema,
        r#"mutation { registerVigy(input: { name: "hello", program: "(vigy-pull (hash-map \"a\" 1))", tickIntervalMs: 500, labels: { host: "mado" } }) { id name tickIntervalMs enabled labels } }"#,
    )
    .await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(data["registerVigy"]["tickIntervalMs"], 500);
    assert_eq!(data["registerVigy"]["labels"], json!({ "host": "mado" }));

    // A subscription starts when first polled: wait for its first event in a
    // task, and give it a moment to subscribe before ticking.
    let mut events = schema.execute_stream(
        "subscription { streamEvents(vigyId: \"hello\") { tick result actions { kind payload result message attempts } } }",
    );
    let first = tokio::spawn(async move { events.next().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (data, errors) = run(
        &schema,
        r#"mutation { tickVigy(id: "hello") { tick result actions { kind payload result message attempts } } }"#,
    )
    .await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        data["tickVigy"],
        json!({
            "tick": 1,
            "result": "OK",
            // This runtime has no handler for `pull`.
            "actions": [{ "kind": "pull", "payload": { "a": 1 }, "result": "SKIPPED", "message": "no handler for pull", "attempts": 0 }]
        })
    );
    let event = tokio::time::timeout(Duration::from_secs(2), first).await.unwrap().unwrap().unwrap();
    assert_eq!(event.data.into_json().unwrap()["streamEvents"], data["tickVigy"]);

    let (data, _) = run(&schema, r#"{ vigies(selector: "host=mado", first: 5) { nodes { name } } vigyState(id: "hello") { tickCount pending { kind } conditions { type status } } }"#).await;
    assert_eq!(data["vigies"]["nodes"], json!([{ "name": "hello" }]));
    // Its one action was settled at once (skipped), so nothing is pending.
    assert_eq!(data["vigyState"], json!({ "tickCount": 1, "pending": [], "conditions": [] }));
    let (data, errors) = run(&schema, r#"{ vigies(condition: "Ready=unknown") { nodes { name } } }"#).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(data["vigies"]["nodes"], json!([{ "name": "hello" }]));
    let (_, errors) = run(&schema, r#"{ vigies(condition: "Ready=maybe") { nodes { name } } }"#).await;
    assert_eq!(errors[0]["extensions"]["code"], "INVALID_ARGUMENT");

    let (_, errors) = run(&schema, r#"{ vigy(id: "nope") { id } }"#).await;
    assert_eq!(errors[0]["message"], "no vigy `nope`");
    assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND");
    let (_, errors) = run(
        &schema,
        r#"mutation { registerVigy(input: { name: "x", program: "(vigy-noop)", tickIntervalMs: 10 }) { id } }"#,
    )
    .await;
    assert_eq!(errors[0]["extensions"]["code"], "INVALID_ARGUMENT");
    rt.shutdown().await;
}
