//! The server serves only its own clients, and bounds what each may hold:
//! real servers on loopback ports, real clients, state checked afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigy_api::{GetVigyRequest, ListVigyRunsRequest, RegisterVigy, RegisterVigyRequest, VigyService};
use vigy_runtime::{RuntimeHandle, Scope};
use vigy_server::{Limits, Readiness, ServeOptions, TlsFiles};

struct Running {
    url: String,
    port: u16,
    runtime: RuntimeHandle,
}

async fn runtime() -> RuntimeHandle {
    RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap()
}

async fn start_with(runtime: RuntimeHandle, options: ServeOptions) -> Running {
    let body = RegisterVigy {
        name: "hello".into(),
        program: "(vigy-noop)".into(),
        tick_interval_ms: Some(60_000),
        labels: None,
        ..Default::default()
    };
    runtime.register_vigy(RegisterVigyRequest { body }).await.unwrap();
    let app = vigy_server::app(&runtime, &options, Readiness::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls = options.tls.as_ref().map(|t| t.server_config().unwrap());
    let limits = options.limits.clone();
    tokio::spawn(async move { vigy_server::serve(listener, app, tls, &limits, std::future::pending()).await });
    Running { url: format!("http://127.0.0.1:{port}"), port, runtime }
}

async fn start(options: ServeOptions) -> Running {
    start_with(runtime().await, options).await
}

async fn enabled(runtime: &RuntimeHandle) -> bool {
    runtime.get_vigy(GetVigyRequest { id: "hello".into() }).await.unwrap().enabled
}

async fn runs(runtime: &RuntimeHandle) -> usize {
    let request = ListVigyRunsRequest { id: "hello".into(), limit: None, cursor: None };
    runtime.list_vigy_runs(request).await.unwrap().items.len()
}

const REGISTER: &str = r#"{"query":"mutation { registerVigy(input: {name: \"evil\", program: \"(vigy-noop)\", tickIntervalMs: 1000}) { id } }"}"#;

#[tokio::test(flavor = "multi_thread")]
async fn server_should_refuse_a_foreign_host_on_every_transport() {
    let server = start(ServeOptions { public_hosts: vec!["vigy.example".into()], ..Default::default() }).await;
    let client = reqwest::Client::new();
    let evil = format!("rebound.example:{}", server.port);
    let attempts = [
        client.get(format!("{}/v1/vigies", server.url)),
        client.post(format!("{}/v1/vigies/hello/disable", server.url)),
        client.post(format!("{}/graphql", server.url)).header("content-type", "application/json").body(REGISTER),
        client.post(format!("{}/mcp", server.url)).header("accept", "application/json, text/event-stream"),
        client.get(format!("{}/healthz", server.url)),
        client.get(format!("{}/graphql", server.url)),
    ];
    for attempt in attempts {
        let response = attempt.header("host", &evil).send().await.unwrap();
        assert_eq!(response.status(), 421);
        assert!(response.text().await.unwrap().contains("not served as `rebound.example"));
    }
    assert!(enabled(&server.runtime).await, "the disable was not carried out");

    // gRPC names its host in :authority.
    let channel = tonic::transport::Endpoint::from_shared(server.url.clone())
        .unwrap()
        .origin(format!("http://{evil}").parse().unwrap())
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let refused = health.check(tonic_health::pb::HealthCheckRequest::default()).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");

    // Loopback names on any port and the listed public host pass.
    for host in [format!("localhost:{}", server.port), format!("vigy.example:{}", server.port), "[::1]:1".into()] {
        let response = client.get(format!("{}/healthz", server.url)).header("host", host.as_str()).send().await;
        assert_eq!(response.unwrap().status(), 200, "{host}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_should_refuse_foreign_origins_but_not_its_own() {
    let server = start(ServeOptions { allow_origins: vec!["https://ui.example".into()], ..Default::default() }).await;
    let client = reqwest::Client::new();
    let disable = format!("{}/v1/vigies/hello/disable", server.url);
    for foreign in ["http://127.0.0.1:1", "null", "http://localhost:9", "https://evil.example"] {
        let response = client.post(&disable).header("origin", foreign).send().await.unwrap();
        assert_eq!(response.status(), 403, "{foreign}");
        assert!(response.headers().get("access-control-allow-origin").is_none());
    }
    let response = client
        .post(format!("{}/graphql", server.url))
        .header("origin", "http://127.0.0.1:1")
        .header("content-type", "application/json")
        .body(REGISTER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let mcp = client
        .post(format!("{}/mcp", server.url))
        .header("origin", "http://127.0.0.1:1")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(mcp.status(), 403, "MCP validates Origin");
    // A WebSocket handshake from another origin.
    let mut ws = format!("ws://127.0.0.1:{}/graphql", server.port).into_client_request().unwrap();
    ws.headers_mut().insert("origin", "http://127.0.0.1:1".parse().unwrap());
    ws.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let refused = async_tungstenite::tokio::connect_async(ws).await.unwrap_err();
    assert!(refused.to_string().contains("403"), "{refused}");
    assert!(enabled(&server.runtime).await);
    assert!(server.runtime.get_vigy(GetVigyRequest { id: "evil".into() }).await.is_err(), "not registered");

    // Its own origin and a listed one are let through.
    let own = client.post(&disable).header("origin", server.url.as_str()).send().await.unwrap();
    assert_eq!(own.status(), 200);
    assert!(!enabled(&server.runtime).await);
    let enable = format!("{}/v1/vigies/hello/enable", server.url);
    let listed = client.post(&enable).header("origin", "https://ui.example").send().await.unwrap();
    assert_eq!(listed.status(), 200);
}

use async_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test(flavor = "multi_thread")]
async fn graphql_should_refuse_a_post_that_is_not_json() {
    let server = start(ServeOptions::default()).await;
    let client = reqwest::Client::new();
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let response = client
            .post(format!("{}/graphql", server.url))
            .header("content-type", content_type)
            .body(REGISTER)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{content_type}");
    }
    let bare = client.post(format!("{}/graphql", server.url)).body(REGISTER).send().await.unwrap();
    assert_eq!(bare.status(), 415);
    assert!(server.runtime.get_vigy(GetVigyRequest { id: "evil".into() }).await.is_err(), "not registered");
    let json = client
        .post(format!("{}/graphql", server.url))
        .header("content-type", "application/json; charset=utf-8")
        .body(REGISTER)
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 200);
    assert!(server.runtime.get_vigy(GetVigyRequest { id: "evil".into() }).await.is_ok());
}

/// graphql-js's introspection query, as GraphiQL sends it.
const INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name } types { ...FullType } directives { name description locations args { ...InputValue } } } }
fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason } inputFields { ...InputValue } interfaces { ...TypeRef } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } }
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";

async fn graphql(url: &str, body: serde_json::Value) -> serde_json::Value {
    let response = reqwest::Client::new().post(format!("{url}/graphql")).json(&body).send().await.unwrap();
    response.json().await.unwrap()
}

fn first_error(answer: &serde_json::Value) -> (String, String) {
    let error = &answer["errors"][0];
    (
        error["extensions"]["code"].as_str().unwrap_or_default().into(),
        error["message"].as_str().unwrap_or_default().into(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn graphql_should_refuse_queries_past_its_limits_as_invalid_argument() {
    let server = start(ServeOptions::default()).await;
    let answer = graphql(&server.url, serde_json::json!({ "query": INTROSPECTION })).await;
    assert!(answer["errors"].is_null(), "GraphiQL's introspection passes: {answer}");

    let deep = format!("{{ __schema {{ types {} }} }}", "{ ofType ".repeat(20) + "{ name" + &" }".repeat(21));
    let (code, message) = first_error(&graphql(&server.url, serde_json::json!({ "query": deep })).await);
    assert_eq!((code.as_str(), message.contains("deeper than 16")), ("INVALID_ARGUMENT", true), "{message}");

    let aliases: String = (0..40).map(|i| format!("a{i}: tickVigy(id: \"hello\") {{ id }} ")).collect();
    let answer = graphql(&server.url, serde_json::json!({ "query": format!("mutation {{ {aliases} }}") })).await;
    let (code, message) = first_error(&answer);
    assert_eq!((code.as_str(), message.contains("more than 32 aliases")), ("INVALID_ARGUMENT", true), "{message}");
    assert_eq!(runs(&server.runtime).await, 0, "no tick ran");

    let batch: Vec<_> = (0..20).map(|_| serde_json::json!({ "query": "{ __typename }" })).collect();
    let (code, message) = first_error(&graphql(&server.url, serde_json::Value::Array(batch)).await);
    assert_eq!((code.as_str(), message.contains("at most 16")), ("INVALID_ARGUMENT", true), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_should_close_a_connection_that_sends_its_head_too_slowly() {
    let limits = Limits { header_timeout: Duration::from_millis(800), ..Limits::default() };
    let server = start(ServeOptions { limits, ..Default::default() }).await;
    let address = format!("127.0.0.1:{}", server.port);

    // Silent after connecting: nothing tells HTTP/1 from HTTP/2 yet.
    let mut silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buffer)).await;
    let silent_closed = started.elapsed();
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed, not answered: {read:?}");

    // A head trickled one byte every 100 ms never completes in time.
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut closed = None;
    for byte in head {
        if slow.write_all(&[*byte]).await.is_err() {
            closed = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let closed = match closed {
        Some(at) => at,
        None => {
            let read = slow.read(&mut buffer).await;
            assert!(!matches!(read, Ok(n) if n > 0 && buffer.starts_with(b"HTTP/1.1 200")), "answered");
            started.elapsed()
        }
    };
    eprintln!("silent connection closed after {silent_closed:?}, trickling one after {closed:?}");
    assert!(silent_closed < Duration::from_secs(2), "{silent_closed:?}");
    assert!(closed < Duration::from_secs(3), "{closed:?}");

    // A prompt client is served as usual.
    assert_eq!(reqwest::get(format!("{}/healthz", server.url)).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_cap_should_be_refused_with_503() {
    let limits = Limits { max_connections: 2, ..Limits::default() };
    let server = start(ServeOptions { limits, ..Default::default() }).await;
    let address = format!("127.0.0.1:{}", server.port);
    let _held = [
        tokio::net::TcpStream::connect(&address).await.unwrap(),
        tokio::net::TcpStream::connect(&address).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), third.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    drop(_held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(reqwest::get(format!("{}/healthz", server.url)).await.unwrap().status(), 200);
}

async fn graphql_ws(port: u16) -> async_tungstenite::WebSocketStream<async_tungstenite::tokio::ConnectStream> {
    let mut request = format!("ws://127.0.0.1:{port}/graphql").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = async_tungstenite::tokio::connect_async(request).await.unwrap();
    socket.send(r#"{"type":"connection_init"}"#.into()).await.unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack:?}");
    socket
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_message_over_1_mib_should_close_the_socket() {
    let server = start(ServeOptions::default()).await;
    let mut socket = graphql_ws(server.port).await;
    let padding = "x".repeat(1024 * 1024 + 1);
    let big = format!(
        r#"{{"type":"subscribe","id":"1","payload":{{"query":"{{ __typename }}","extensions":{{"p":"{padding}"}}}}}}"#
    );
    let _ = socket.send(big.into()).await;
    let next = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap();
    let closed = match next {
        None | Some(Err(_)) => true,
        Some(Ok(ref message)) => message.is_close(),
    };
    assert!(closed, "{next:?}");
    // A message under the cap is answered on a new socket.
    let mut socket = graphql_ws(server.port).await;
    let small = r#"{"type":"subscribe","id":"1","payload":{"query":"{ __typename }"}}"#;
    socket.send(small.into()).await.unwrap();
    let answer = socket.next().await.unwrap().unwrap();
    assert!(answer.to_text().unwrap().contains("Query"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_on_one_websocket_should_be_capped() {
    let server = start(ServeOptions::default()).await;
    let mut socket = graphql_ws(server.port).await;
    for id in 1..=9 {
        let subscribe = format!(
            r#"{{"type":"subscribe","id":"{id}","payload":{{"query":"subscription {{ streamEvents {{ id }} }}"}}}}"#
        );
        socket.send(subscribe.into()).await.unwrap();
    }
    let answer = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
    let text = answer.to_text().unwrap();
    assert!(text.contains(r#""id":"9""#) && text.contains("UNAVAILABLE"), "{text}");
    assert!(text.contains("at most 8"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn event_streams_over_the_cap_should_be_refused_as_unavailable() {
    let limits = Limits { max_event_streams: 2, ..Limits::default() };
    let server = start(ServeOptions { limits, ..Default::default() }).await;
    let client = reqwest::Client::new();
    let open = || client.get(format!("{}/v1/events", server.url)).send();
    let (first, second) = (open().await.unwrap(), open().await.unwrap());
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));
    let third = open().await.unwrap();
    assert_eq!(third.status(), 503);
    assert!(third.text().await.unwrap().contains("too many event streams"));
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(open().await.unwrap().status(), 200, "a closed stream gives its place back");
}

#[tokio::test(flavor = "multi_thread")]
async fn internal_errors_should_reach_clients_only_as_an_incident_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigy.db");
    let runtime = RuntimeHandle::builder().path(&db).scope(Scope::Nothing).open().await.unwrap();
    let server = start_with(runtime, ServeOptions::default()).await;
    // Break the store under the running server.
    let status = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("DROP TABLE vigy_runs; DROP TABLE vigy_events;")
        .status()
        .unwrap();
    assert!(status.success());
    for path in ["/v1/vigies/hello/runs", "/readyz"] {
        let response = reqwest::get(format!("{}{path}", server.url)).await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert!(status == 500 || status == 503, "{path}: {status}");
        assert!(body.contains("internal error (id "), "{path}: {body}");
        assert!(!body.contains("no such table") && !body.contains("vigy_"), "{path} leaks: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_health_should_answer_without_a_token() {
    let server = start(ServeOptions { token: Some("s3cret".into()), ..Default::default() }).await;
    let channel = tonic::transport::Endpoint::from_shared(server.url.clone()).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let request = tonic_health::pb::HealthCheckRequest { service: "pleme.vigy.v1.VigyService".into() };
    let answer = health.check(request).await.unwrap().into_inner();
    assert_eq!(answer.status(), tonic_health::pb::health_check_response::ServingStatus::Serving);
    // The service itself still wants the token.
    let grpc = vigy_rpc::GrpcClient::connect(server.url.clone()).await.unwrap();
    let refused = grpc.get_vigy(GetVigyRequest { id: "hello".into() }).await.unwrap_err();
    assert_eq!(refused.code(), vigy_api::ErrorCode::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_should_serve_a_real_client_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let tls = TlsFiles { cert, key };
    let server = start(ServeOptions { tls: Some(tls), ..Default::default() }).await;

    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get("/v1/vigies/hello")
        .header("host", format!("localhost:{}", server.port))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let answer = sender.send_request(request).await.unwrap();
    assert_eq!(answer.status(), 200);
    let body = http_body_util::BodyExt::collect(answer.into_body()).await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("\"hello\""));
    // Plain HTTP on the TLS port gets no answer.
    assert!(reqwest::get(format!("http://127.0.0.1:{}/healthz", server.port)).await.is_err());
}

#[test]
fn off_loopback_a_server_should_need_a_token_and_tls_unless_told_otherwise() {
    let public = "0.0.0.0:38821".parse().unwrap();
    let token = ServeOptions { token: Some("t".into()), ..Default::default() };
    let refused = vigy_server::check_bind(public, &token).unwrap_err();
    assert!(refused.to_string().contains("without TLS"), "{refused}");
    let insecure = ServeOptions { insecure_http: true, ..token.clone() };
    vigy_server::check_bind(public, &insecure).unwrap();
    let tls = TlsFiles { cert: "c.pem".into(), key: "k.pem".into() };
    vigy_server::check_bind(public, &ServeOptions { tls: Some(tls), ..token.clone() }).unwrap();
    let bad_origin = ServeOptions { allow_origins: vec!["null".into()], ..Default::default() };
    assert!(vigy_server::check_bind("127.0.0.1:0".parse().unwrap(), &bad_origin).is_err());
    // The token never shows in Debug output.
    assert!(!format!("{token:?}").contains("Token(\"t\")") && format!("{token:?}").contains("redacted"));
}
