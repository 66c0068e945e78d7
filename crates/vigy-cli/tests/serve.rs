//! `vigy serve` puts REST, GraphQL and gRPC on one address; the generated
//! clients reach the same runtime through it.

use std::io::BufRead;
use std::process::{Command, Stdio};

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
    let body =
        api::RegisterVigy { name: "hello".into(), program: "(vigy-noop)".into(), tick_interval_ms: 100, labels: None };
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
