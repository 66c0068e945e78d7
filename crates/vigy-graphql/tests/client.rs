//! A real axum server on 127.0.0.1 and the generated cynic client.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use vigy_api::{self as api, ErrorCode, VigyService};
use vigy_api_graphql_client::GraphqlClient;
use vigy_runtime::{RuntimeHandle, Scope};

async fn serve(rt: &RuntimeHandle) -> GraphqlClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = vigy_graphql::router(Arc::new(rt.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    GraphqlClient::new(format!("http://{addr}/graphql"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_graphql_client_should_speak_vigy_service_to_a_real_server() {
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let client = serve(&rt).await;
    let service: &dyn VigyService = &client;

    let body = api::RegisterVigy {
        name: "dash".into(),
        program: r#"(vigy-pull (list 1 2)) (vigy-desired "x" "y")"#.into(),
        tick_interval_ms: Some(500),
        labels: Some([("host".to_owned(), "vitrine".to_owned())].into()),
        ..Default::default()
    };
    let vigy = service.register_vigy(api::RegisterVigyRequest { body }).await.unwrap();
    assert_eq!(vigy, rt.get_vigy(api::GetVigyRequest { id: "dash".into() }).await.unwrap(), "same answer in process");

    let mut events = service.stream_events(api::StreamEventsRequest { vigy_id: Some("dash".into()) }).await.unwrap();
    // The stream drives its connection: keep it polled while the server
    // starts the subscription and the tick happens.
    let first = tokio::spawn(async move { events.next().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let run = service.tick_vigy(api::TickVigyRequest { id: "dash".into() }).await.unwrap();
    assert_eq!(run.actions[0].payload, Some(json!([1, 2])));
    let event = tokio::time::timeout(Duration::from_secs(3), first).await.unwrap().unwrap().unwrap().unwrap();
    assert_eq!(event, run);

    let state = service.get_vigy_state(api::GetVigyStateRequest { id: "dash".into() }).await.unwrap();
    assert_eq!(state.desired["x"], json!("y"));
    let list = service.list_vigies(api::ListVigiesRequest {
        selector: Some("host=vitrine".into()),
        limit: Some(3),
        condition: None,
        cursor: None,
    });
    assert_eq!(list.await.unwrap().items, std::slice::from_ref(&vigy));
    let runs = service
        .list_vigy_runs(api::ListVigyRunsRequest { id: "dash".into(), limit: Some(5), cursor: None })
        .await
        .unwrap();
    assert_eq!(runs.items, [run]);

    let err = service.get_vigy(api::GetVigyRequest { id: "nope".into() }).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (ErrorCode::NotFound, "no vigy `nope`"));
    let update =
        api::UpdateVigy { program: Some("(".into()), tick_interval_ms: None, labels: None, ..Default::default() };
    let err = service.update_vigy(api::UpdateVigyRequest { id: "dash".into(), body: update }).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(!service.disable_vigy(api::DisableVigyRequest { id: "dash".into() }).await.unwrap().enabled);
    assert_eq!(service.delete_vigy(api::DeleteVigyRequest { id: "dash".into() }).await.unwrap().id, vigy.id);
    rt.shutdown().await;
}

/// A request the GraphQL layer refuses before any resolver runs is bad
/// input all the same: over HTTP it says `INVALID_ARGUMENT`, as REST and
/// gRPC say of theirs, in a batch too, and stores nothing.
#[tokio::test(flavor = "multi_thread")]
async fn refused_requests_should_say_invalid_argument() {
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/graphql", listener.local_addr().unwrap());
    let app = vigy_graphql::router(Arc::new(rt.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        let request = http.post(&url).json(&body);
        async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };

    for bad in [
        r#"{ vigies( { nodes { id } } }"#,
        r#"{ vigies(first: -1) { nodes { id } } }"#,
        r#"{ vigies(after: "not a cursor") { nodes { id } } }"#,
        r#"{ vigies { nodes { nope } } }"#,
        r#"mutation { registerVigy(input: { name: "x", program: "(vigy-noop)", tickIntervalMs: -5 }) { id } }"#,
        r#"mutation { registerVigy(input: { name: "x", program: "(vigy-noop)", tickIntervalMs: 500, labels: [1] }) { id } }"#,
    ] {
        let answer = post(json!({ "query": bad })).await;
        assert_eq!(answer["errors"].as_array().map(Vec::len), Some(1), "{bad}: {answer}");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "INVALID_ARGUMENT", "{bad}: {answer}");
    }
    let batch = post(json!([{ "query": "{ vigy(id: \"nope\") { id } }" }, { "query": "{ nope }" }])).await;
    assert_eq!(batch[0]["errors"][0]["extensions"]["code"], "NOT_FOUND", "a resolver's code is kept: {batch}");
    assert_eq!(batch[1]["errors"][0]["extensions"]["code"], "INVALID_ARGUMENT", "{batch}");
    assert!(rt.list(&Default::default()).await.unwrap().is_empty(), "nothing stored");
    rt.shutdown().await;
}

/// A subscription the GraphQL layer refuses says `INVALID_ARGUMENT` over
/// the WebSocket too (graphql-transport-ws, spoken by hand).
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_subscription_should_say_invalid_argument() {
    use async_tungstenite::tungstenite::Message;
    use async_tungstenite::tungstenite::client::IntoClientRequest;

    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut request = format!("ws://{}/graphql", listener.local_addr().unwrap()).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let app = vigy_graphql::router(Arc::new(rt.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (ws, _) = async_tungstenite::tokio::connect_async(request).await.unwrap();
    let (mut to_server, mut from_server) = ws.split();
    let mut next_text = async || -> serde_json::Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), from_server.next()).await.unwrap().unwrap();
            if let Message::Text(text) = message.unwrap() {
                return serde_json::from_str(&text).unwrap();
            }
        }
    };
    let text = |value: serde_json::Value| Message::Text(value.to_string().into());

    to_server.send(text(json!({ "type": "connection_init" }))).await.unwrap();
    assert_eq!(next_text().await["type"], "connection_ack");
    let bad = "subscription { streamEvents(vigyId: 5) { id } }";
    to_server.send(text(json!({ "id": "1", "type": "subscribe", "payload": { "query": bad } }))).await.unwrap();
    let answer = next_text().await;
    // async-graphql answers a refused subscription with one `next` carrying
    // the errors (and then `complete`).
    assert_eq!(answer["type"], "next", "{answer}");
    assert_eq!(answer["payload"]["errors"][0]["extensions"]["code"], "INVALID_ARGUMENT", "{answer}");
    rt.shutdown().await;
}
