//! `vigy serve --config` carries actions out through its built-in handlers:
//! a reconciler that converges a remote setting over HTTP, and a `kill -9`
//! while handlers are slow after which exactly the unfinished actions are
//! carried out again, with their original idempotency keys.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use support::{Served, eventually, json, ok};

/// The service the vigies act on: a setting that starts at `v1` and whose
/// first two writes fail with 503, and a slow endpoint that records every
/// request's idempotency key as it arrives.
#[derive(Clone, Default)]
struct Service {
    setting: Arc<Mutex<String>>,
    refused_writes: Arc<AtomicU32>,
    keys: Arc<Mutex<Vec<String>>>,
    slow: Arc<AtomicBool>,
}

async fn start(service: Service) -> String {
    *service.setting.lock().unwrap() = "v1".into();
    let app = axum::Router::new()
        .route("/api/setting", get(read_setting).put(write_setting))
        .route("/api/act/{n}", post(act))
        .with_state(service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn read_setting(State(service): State<Service>) -> String {
    service.setting.lock().unwrap().clone()
}

async fn write_setting(State(service): State<Service>, body: String) -> StatusCode {
    if service.refused_writes.fetch_add(1, SeqCst) < 2 {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    *service.setting.lock().unwrap() = body;
    StatusCode::NO_CONTENT
}

async fn act(State(service): State<Service>, UrlPath(n): UrlPath<u32>, headers: HeaderMap) -> StatusCode {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    service.keys.lock().unwrap().push(key);
    if n >= 2 && service.slow.load(SeqCst) {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    StatusCode::OK
}

fn config(dir: &Path, url: &str) -> String {
    let path = dir.join("handlers.toml");
    let text = format!(
        "[http]\ntimeout = \"60s\"\nretry = {{ max_attempts = 4, first_delay = \"100ms\", max_delay = \"400ms\" }}\n\
         [[http.allow]]\nprefix = \"{url}/api/\"\nmethods = [\"GET\", \"PUT\", \"POST\"]\n"
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_http_example_should_converge_the_setting_through_retries_and_turn_ready() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let service = Service::default();
    let url = start(service.clone()).await;
    let program = std::fs::read_to_string(support::examples().join("converge-http.tatara"))
        .unwrap()
        .replace("http://127.0.0.1:8080", &url);
    let file = support::write(dir.path(), "converge.tatara", &program);
    ok(&db, &["register", &file, "--name", "converge", "--every", "200"]);
    let config = config(dir.path(), &url);
    let server = Served::start(&db, &["--config", &config], &[]);

    let db2 = db.clone();
    eventually(Duration::from_secs(20), "Ready=true", move || {
        json(&db2, &["list", "--condition", "Ready=true"]).as_array().is_some_and(|l| l.len() == 1)
    });
    assert_eq!(*service.setting.lock().unwrap(), "v2");
    assert!(service.refused_writes.load(SeqCst) >= 3, "the 503s were retried");
    let inspected = json(&db, &["inspect", "converge", "--runs", "1000"]);
    assert_eq!(inspected["state"]["observed"]["setting"], "v2");
    let runs = inspected["runs"].as_array().unwrap();
    let put = runs
        .iter()
        .flat_map(|r| r["actions"].as_array().unwrap().iter())
        .find(|a| a["payload"]["method"] == "PUT" && a["result"] == "ok")
        .expect("a PUT that succeeded");
    assert_eq!(put["attempts"], 3, "two 503s, then it went through: {put}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_while_handlers_are_slow_should_carry_out_exactly_the_unfinished_actions_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let service = Service { slow: Arc::new(AtomicBool::new(true)), ..Service::default() };
    let url = start(service.clone()).await;
    let posts: Vec<String> = (0..6)
        .map(|n| format!("(vigy-emit \"http\" (hash-map \"method\" \"POST\" \"url\" \"{url}/api/act/{n}\"))"))
        .collect();
    let program = format!("(if (= (vigy-tick-count) 1) (begin {}))", posts.join(" "));
    let file = support::write(dir.path(), "burst.tatara", &program);
    ok(&db, &["register", &file, "--name", "burst", "--every", "60000"]);
    let config = config(dir.path(), &url);

    let first = Served::start(&db, &["--config", &config, "--lease-ttl", "2s"], &[]);
    let keys = service.keys.clone();
    eventually(Duration::from_secs(15), "the slow third action reached the service", move || {
        keys.lock().unwrap().len() == 3
    });
    let pid = first.pid().to_string();
    assert!(std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    drop(first);

    let runs = json(&db, &["inspect", "burst", "--runs", "10"])["runs"].as_array().unwrap().clone();
    let run = runs.iter().find(|r| r["tick"] == 1).unwrap();
    let run_id = run["id"].as_str().unwrap().to_owned();
    let results: Vec<&str> = run["actions"].as_array().unwrap().iter().map(|a| a["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["ok", "ok", "pending", "pending", "pending", "pending"], "as committed at the kill");
    let before: Vec<String> = service.keys.lock().unwrap().clone();
    assert_eq!(before, (0..3).map(|i| format!("{run_id}:{i}")).collect::<Vec<_>>());

    service.slow.store(false, SeqCst);
    let second = Served::start(&db, &["--config", &config, "--lease-ttl", "2s"], &[]);
    let db2 = db.clone();
    eventually(Duration::from_secs(20), "every action resolved", move || {
        let runs = json(&db2, &["inspect", "burst", "--runs", "10"])["runs"].as_array().unwrap().clone();
        let run = runs.iter().find(|r| r["tick"] == 1).unwrap().clone();
        run["actions"].as_array().unwrap().iter().all(|a| a["result"] == "ok")
    });
    let after: Vec<String> = service.keys.lock().unwrap()[3..].to_vec();
    assert_eq!(
        after,
        (2..6).map(|i| format!("{run_id}:{i}")).collect::<Vec<_>>(),
        "exactly the unfinished ones, in order, with their original keys; none that had finished"
    );
    drop(second);
}
