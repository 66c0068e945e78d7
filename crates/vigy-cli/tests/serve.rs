//! `vigy serve` puts every transport on one address (and gRPC on a Unix
//! socket); the generated clients, `vigy --server` and `vigy mcp` reach the
//! same runtime through them.

mod support;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use support::Served;
use vigy::VigyService;
use vigy::api::{self, ErrorCode};
use vigy::clients::{GrpcClient, RestClient};

#[tokio::test(flavor = "multi_thread")]
async fn serve_should_answer_rest_and_grpc_on_one_port() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigy.db");
    let mut server = Command::new(env!("CARGO_BIN_EXE_vigy"))
        .arg("--db")
        .arg(&db)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").expect("the address line").to_owned();

    let rest = RestClient::new(&url);
    let body = api::RegisterVigy {
        name: "hello".into(),
        program: "(vigy-noop)".into(),
        tick_interval_ms: Some(100),
        labels: None,
        ..Default::default()
    };
    let vigy = rest.register_vigy(api::RegisterVigyRequest { body }).await.unwrap();
    let grpc = GrpcClient::connect(url.clone()).await.unwrap();
    assert_eq!(grpc.get_vigy(api::GetVigyRequest { id: "hello".into() }).await.unwrap(), vigy);
    let run = grpc.tick_vigy(api::TickVigyRequest { id: vigy.id.clone() }).await.unwrap();
    assert_eq!(run.result, api::RunResult::Ok);
    let err = rest.get_vigy(api::GetVigyRequest { id: "nope".into() }).await.unwrap_err();
    let grpc_err = grpc.get_vigy(api::GetVigyRequest { id: "nope".into() }).await.unwrap_err();
    assert_eq!((err.code(), grpc_err.code()), (ErrorCode::NotFound, ErrorCode::NotFound));

    assert!(Command::new("kill").arg("-TERM").arg(server.id().to_string()).status().unwrap().success());
    assert!(server.wait().unwrap().success(), "graceful shutdown");
}

#[test]
fn serve_should_refuse_a_non_loopback_address_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigy"))
        .arg("--db")
        .arg(dir.path().join("vigy.db"))
        .args(["serve", "--bind", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("without a bearer token"));
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vigy")).args(args).output().unwrap()
}

#[test]
fn the_cli_should_manage_a_remote_server_with_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = "t0ken";
    // The server reads its token from a file (not argv); off loopback it
    // needs TLS or an explicit --insecure-http (behind a TLS proxy).
    let token_file = support::write(dir.path(), "token", token);
    let served = Served::start(
        &dir.path().join("vigy.db"),
        &["--bind", "0.0.0.0:0", "--token-file", &token_file, "--insecure-http"],
        &[],
    );
    let url = served.url.replace("0.0.0.0", "127.0.0.1");
    let program = support::write(dir.path(), "hello.tatara", "(vigy-noop)");
    let remote = |args: &[&str]| {
        let mut all = vec!["--server", url.as_str(), "--token", token];
        all.extend_from_slice(args);
        cli(&all)
    };
    let out = remote(&["register", &program, "--name", "hello", "--every", "60000"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = remote(&["--json", "tick", "hello"]);
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["result"], "ok");
    let out = remote(&["list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello"));
    let out = remote(&["inspect", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found: no vigy `nope`"));

    let out = cli(&["--server", url.as_str(), "list"]);
    assert!(!out.status.success(), "no token");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unauthenticated"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The environment works as well as the flags.
    let out = Command::new(env!("CARGO_BIN_EXE_vigy"))
        .args(["--json", "list"])
        .env("VIGY_SERVER", &url)
        .env("VIGY_TOKEN", token)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(served.stop().success());
}

#[test]
fn tail_should_follow_a_remote_server() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&dir.path().join("vigy.db"), &[], &[]);
    let program = support::write(dir.path(), "hello.tatara", "(vigy-noop)");
    assert!(
        cli(&["--server", &served.url, "register", &program, "--name", "hello", "--every", "60000"]).status.success()
    );
    let mut tail = Command::new(env!("CARGO_BIN_EXE_vigy"))
        .args(["--server", &served.url, "tail", "--vigy", "hello"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(tail.stdout.take().unwrap()).lines();
    std::thread::sleep(Duration::from_millis(500));
    let out = cli(&["--server", &served.url, "--json", "tick", "hello"]);
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The registration's own first tick may land after the tail started
    // (its worker process starts with it): the forced run is among the
    // first two lines.
    let mut seen = Vec::new();
    for line in lines.by_ref().take(2) {
        let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert_eq!(event["vigy"], "hello");
        seen.push(event["run_id"].clone());
        if event["run_id"] == run["id"] {
            break;
        }
    }
    assert_eq!(seen.last(), Some(&run["id"]), "the forced run was not tailed: {seen:?}");
    // The server going away ends the tail cleanly.
    assert!(served.stop().success());
    assert!(tail.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_should_close_open_event_streams_and_exit_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&dir.path().join("vigy.db"), &[], &[]);
    let rest = RestClient::new(&served.url);
    let grpc = GrpcClient::connect(served.url.clone()).await.unwrap();
    let mut sse = rest.stream_events(api::StreamEventsRequest { vigy_id: None }).await.unwrap();
    let mut stream = grpc.stream_events(api::StreamEventsRequest { vigy_id: None }).await.unwrap();
    let status = tokio::task::spawn_blocking(move || served.stop()).await.unwrap();
    assert!(status.success());
    let ended = tokio::time::timeout(Duration::from_secs(5), async { (sse.next().await, stream.next().await) });
    let (sse, stream) = ended.await.expect("the streams end with the server");
    assert!(sse.is_none_or(|e| e.is_err()) && stream.is_none_or(|e| e.is_err()));
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_should_be_served_on_a_unix_socket_too() {
    use hyper_util::rt::TokioIo;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("vigy.sock");
    let served = Served::start(&dir.path().join("vigy.db"), &["--grpc-socket", socket.to_str().unwrap()], &[]);
    let path = socket.clone();
    let channel = tonic::transport::Endpoint::from_static("http://vigy.local")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
        }))
        .await
        .unwrap();
    let client = GrpcClient::new(channel);
    let body = api::RegisterVigy {
        name: "local".into(),
        program: "(vigy-noop)".into(),
        tick_interval_ms: Some(1000),
        labels: None,
        ..Default::default()
    };
    let registered = client.register_vigy(api::RegisterVigyRequest { body }).await.unwrap();
    // The same runtime as the TCP address.
    let rest = RestClient::new(&served.url);
    assert_eq!(rest.get_vigy(api::GetVigyRequest { id: "local".into() }).await.unwrap(), registered);
    drop(client);
    assert!(tokio::task::spawn_blocking(move || served.stop()).await.unwrap().success());
    assert!(!socket.exists(), "the socket file is removed on the way out");
}

#[tokio::test(flavor = "multi_thread")]
async fn vigy_mcp_should_serve_the_tools_over_stdio() {
    use rmcp::ServiceExt;
    let dir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigy"));
    command.arg("--db").arg(dir.path().join("vigy.db")).arg("mcp");
    let transport = rmcp::transport::TokioChildProcess::new(command).unwrap();
    let running = ().serve(transport).await.unwrap();
    let info = running.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().map(|i| i.name.as_str()), Some("vigy"));
    let tools = running.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), vigy::mcp::tool_catalog().len());
    let client = vigy::mcp::McpClient::new(vigy::mcp::RmcpCaller::new(running));
    let body = api::RegisterVigy {
        name: "hello".into(),
        program: "(vigy-noop)".into(),
        tick_interval_ms: Some(1000),
        labels: None,
        ..Default::default()
    };
    let registered = client.register_vigy(api::RegisterVigyRequest { body }).await.unwrap();
    assert_eq!(client.tick_vigy(api::TickVigyRequest { id: "hello".into() }).await.unwrap().result, api::RunResult::Ok);
    let missing = client.get_vigy(api::GetVigyRequest { id: "nope".into() }).await.unwrap_err();
    assert_eq!(missing.code(), ErrorCode::NotFound);
    // It worked on the database: the CLI sees the vigy.
    let out = cli(&["--db", dir.path().join("vigy.db").to_str().unwrap(), "--json", "list"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["id"], registered.id.as_str());
}
