//! The assembled server on a real loopback port, driven by the real
//! generated clients: tokens on every transport, the pages and probes that
//! stay open, metrics, readiness, gRPC reflection and health.

use std::time::Duration;

use futures::StreamExt;
use vigy_api::{ErrorCode, GetVigyRequest, RegisterVigy, RegisterVigyRequest, TickVigyRequest, VigyService};
use vigy_runtime::{RuntimeHandle, Scope};
use vigy_server::{Readiness, ServeOptions};

const TOKEN: &str = "s3cret-t0ken";

struct Running {
    url: String,
    runtime: RuntimeHandle,
    readiness: Readiness,
}

async fn start(token: Option<&str>) -> Running {
    let runtime = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let options = ServeOptions { token: token.map(Into::into), ..Default::default() };
    let readiness = Readiness::default();
    let app = vigy_server::app(&runtime, &options, readiness.clone()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Running { url, runtime, readiness }
}

fn hello() -> RegisterVigyRequest {
    RegisterVigyRequest {
        body: RegisterVigy {
            name: "hello".into(),
            program: "(vigy-noop)".into(),
            tick_interval_ms: Some(1000),
            labels: None,
            ..Default::default()
        },
    }
}

fn rest(url: &str, token: Option<&str>) -> vigy_api_rest_client::RestClient {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    }
    vigy_api_rest_client::RestClient::with_client(
        url,
        reqwest::Client::builder().default_headers(headers).build().unwrap(),
    )
}

async fn status(url: &str, token: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_transport_should_require_the_token_and_say_unauthenticated() {
    let server = start(Some(TOKEN)).await;
    let url = &server.url;

    let refused = rest(url, None).get_vigy(GetVigyRequest { id: "hello".into() }).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Unauthenticated, "REST: {refused}");
    let wrong = rest(url, Some("guess")).get_vigy(GetVigyRequest { id: "hello".into() }).await.unwrap_err();
    assert_eq!((wrong.code(), wrong.message()), (ErrorCode::Unauthenticated, "wrong bearer token"));
    let registered = rest(url, Some(TOKEN)).register_vigy(hello()).await.unwrap();

    let grpc = vigy_rpc::GrpcClient::connect(url.clone()).await.unwrap();
    let refused = grpc.get_vigy(GetVigyRequest { id: "hello".into() }).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Unauthenticated, "gRPC: {refused}");
    let grpc = grpc.with_token(TOKEN).unwrap();
    assert_eq!(grpc.get_vigy(GetVigyRequest { id: "hello".into() }).await.unwrap(), registered);

    let graphql = vigy_api_graphql_client::GraphqlClient::new(format!("{url}/graphql"));
    let refused = graphql.get_vigy(GetVigyRequest { id: "hello".into() }).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Unauthenticated, "GraphQL: {refused}");
    let graphql = graphql.with_token(TOKEN);
    assert_eq!(graphql.get_vigy(GetVigyRequest { id: "hello".into() }).await.unwrap(), registered);
    // The subscription's WebSocket handshake carries the token too.
    let mut events = graphql.stream_events(vigy_api::StreamEventsRequest { vigy_id: None }).await.unwrap();
    let first = tokio::spawn(async move { events.next().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let run = grpc.tick_vigy(TickVigyRequest { id: "hello".into() }).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), first).await.unwrap().unwrap().unwrap().unwrap();
    assert_eq!(event, run);

    assert!(vigy_mcp::connect(&format!("{url}/mcp"), None).await.is_err(), "MCP without a token");
    let mcp = vigy_mcp::connect(&format!("{url}/mcp"), Some(TOKEN)).await.unwrap();
    assert_eq!(mcp.get_vigy(GetVigyRequest { id: "hello".into() }).await.unwrap(), registered);

    assert_eq!(status(&format!("{url}/metrics"), None).await, 401);
    assert_eq!(status(&format!("{url}/metrics"), Some(TOKEN)).await, 200);
    // Documentation and probes stay open.
    for open in ["/healthz", "/readyz", "/openapi.json", "/swagger/", "/graphql"] {
        assert_eq!(status(&format!("{url}{open}"), None).await, 200, "{open}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_a_token_should_only_be_allowed_on_loopback() {
    let off_loopback = "0.0.0.0:38821".parse().unwrap();
    let refused = vigy_server::check_bind(off_loopback, &ServeOptions::default()).unwrap_err();
    assert!(refused.to_string().contains("without a bearer token"), "{refused}");
    let with_token = ServeOptions { token: Some(TOKEN.into()), insecure_http: true, ..Default::default() };
    vigy_server::check_bind(off_loopback, &with_token).unwrap();
    vigy_server::check_bind("127.0.0.1:0".parse().unwrap(), &ServeOptions::default()).unwrap();
    let empty = ServeOptions { token: Some(String::new().into()), ..Default::default() };
    assert!(vigy_server::check_bind("127.0.0.1:0".parse().unwrap(), &empty).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_should_count_ticks_per_vigy_in_prometheus_text() {
    let server = start(None).await;
    server.runtime.register_vigy(hello()).await.unwrap();
    let broken = RegisterVigy {
        name: "broken".into(),
        program: "(car 1)".into(),
        tick_interval_ms: Some(1000),
        labels: None,
        ..Default::default()
    };
    server.runtime.register_vigy(RegisterVigyRequest { body: broken }).await.unwrap();
    for id in ["hello", "hello", "broken"] {
        server.runtime.tick_vigy(TickVigyRequest { id: id.into() }).await.unwrap();
    }
    let response = reqwest::get(format!("{}/metrics", server.url)).await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    for line in [
        "vigy_ticks_total{vigy=\"hello\"} 2",
        "vigy_ticks_total{vigy=\"broken\"} 1",
        "vigy_tick_failures_total{vigy=\"broken\"} 1",
        "vigy_tick_failures_total{vigy=\"hello\"} 0",
        "vigy_tick_duration_seconds_count 3",
        "# TYPE vigy_tick_lateness_seconds histogram",
        "# TYPE vigy_store_write_batches counter",
        "vigy_actions_total{kind=\"noop\",result=\"ok\"} 2",
        "# TYPE vigy_action_handler_duration_seconds histogram",
        "vigy_outbox_depth 0",
        "vigy_ticks_missed_total 0",
        "vigy_paused_on_failure_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_should_turn_unavailable_when_draining() {
    let server = start(None).await;
    assert_eq!(status(&format!("{}/readyz", server.url), None).await, 200);
    server.readiness.draining();
    assert_eq!(status(&format!("{}/readyz", server.url), None).await, 503);
    assert_eq!(status(&format!("{}/healthz", server.url), None).await, 200);
}

async fn body(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn serve(runtime: &RuntimeHandle) -> String {
    let app = vigy_server::app(runtime, &ServeOptions::default(), Readiness::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_should_say_while_commits_fail_without_the_stores_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let runtime = RuntimeHandle::builder().path(&path).busy_timeout(Duration::from_millis(100)).open().await.unwrap();
    let url = serve(&runtime).await;
    let ticking = RegisterVigy {
        name: "ticking".into(),
        program: "(vigy-noop)".into(),
        tick_interval_ms: Some(100),
        labels: None,
        ..Default::default()
    };
    runtime.register_vigy(RegisterVigyRequest { body: ticking }).await.unwrap();
    assert_eq!(body(&format!("{url}/readyz")).await, (200, "ready".to_owned()));
    let lock = vigy_store::faults::WriteLock::take(&path).await.unwrap();
    let mut answer = (0, String::new());
    for _ in 0..100 {
        answer = body(&format!("{url}/readyz")).await;
        if answer.0 == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answer.0, 503, "{answer:?}");
    assert!(answer.1.starts_with("store: commits failing since 20"), "{}", answer.1);
    assert!(!answer.1.contains("locked"), "the store's own error stays in the log: {}", answer.1);
    let metrics = body(&format!("{url}/metrics")).await.1;
    let failures = metrics.lines().find(|l| l.starts_with("vigy_store_commit_failures_total ")).unwrap();
    assert_ne!(failures, "vigy_store_commit_failures_total 0", "{metrics}");
    assert!(metrics.lines().any(|l| l.starts_with("vigy_store_write_queue_depth ")), "{metrics}");
    lock.release().await.unwrap();
    for _ in 0..100 {
        answer = body(&format!("{url}/readyz")).await;
        if answer.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answer, (200, "ready".to_owned()));
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_should_name_a_runtime_task_stopped_by_a_panic() {
    let runtime = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let url = serve(&runtime).await;
    runtime.inject_panic(vigy_runtime::Task::Scheduler);
    // The scheduler takes its next turn on a command.
    runtime.register_vigy(hello()).await.unwrap();
    let mut answer = (0, String::new());
    for _ in 0..100 {
        answer = body(&format!("{url}/readyz")).await;
        if answer.0 == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(answer, (503, "scheduler: stopped after a panic; restart the process".to_owned()));
    let metrics = body(&format!("{url}/metrics")).await.1;
    assert!(metrics.lines().any(|l| l == "vigy_runtime_task_panics_total 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn graphiql_should_answer_a_browser_and_swagger_should_list_the_document() {
    let server = start(None).await;
    let page = reqwest::get(format!("{}/graphql", server.url)).await.unwrap().text().await.unwrap();
    assert!(page.to_lowercase().contains("graphiql"), "{page}");
    let swagger = reqwest::get(format!("{}/swagger/", server.url)).await.unwrap().text().await.unwrap();
    assert!(swagger.contains("swagger-ui"), "{swagger}");
    let config = reqwest::get(format!("{}/swagger/swagger-initializer.js", server.url)).await.unwrap();
    assert!(config.text().await.unwrap().contains("/openapi.json"));
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_should_offer_reflection_and_health() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = start(None).await;
    let channel = tonic::transport::Endpoint::from_shared(server.url.clone()).unwrap().connect().await.unwrap();
    let mut health = HealthClient::new(channel.clone());
    let service = "pleme.vigy.v1.VigyService".to_owned();
    let answer = health.check(HealthCheckRequest { service: service.clone() }).await.unwrap().into_inner();
    assert_eq!(answer.status(), ServingStatus::Serving);

    let mut reflection = ServerReflectionClient::new(channel);
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection.server_reflection_info(futures::stream::iter([ask])).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = answers.next().await.unwrap().unwrap().message_response
    else {
        panic!("a list of services")
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&service), "{names:?}");
    assert!(names.iter().any(|n| n == "grpc.health.v1.Health"), "{names:?}");
}
