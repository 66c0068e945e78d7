//! What a dashboard pays to show a page of vigies with their state, kv and
//! newest runs: `cargo bench -p vigy-server --bench dashboard`.
//!
//! Against the full app (`vigy serve`'s surfaces on one address) over a
//! runtime holding 100 vigies ticked 5 times each, one page load is timed
//! two ways, taking turns in the same run:
//! - the baseline, REST as a page without edges must ask: the list, then
//!   each vigy's state, kv and runs (1 + 3N requests), 6 at a time over
//!   kept-alive connections, as a browser does per host;
//! - the target, the one GraphQL query the README shows (nested fields
//!   answered by batched core calls).
//!
//! Both loads are checked once to carry the same ticks and kv. Nothing
//! asserts on timings. `VIGY_BENCH_SECS` sets the measured seconds per
//! figure (default 4).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use vigy_api::{self as api, VigyService};
use vigy_runtime::{RuntimeHandle, Scope};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

const VIGIES: usize = 100;
const TICKS: usize = 5;
const RUNS_SHOWN: usize = 5;
/// A browser's connections per host.
const BROWSER_CONNECTIONS: usize = 6;
const ROUNDS: u32 = 4;

const QUERY: &str = "{ vigies(first: 100) { nodes { name state { tickCount } kv { entries } \
    runs(first: 5) { nodes { tick result } } } pageInfo { hasNextPage } } }";

fn main() -> Result<()> {
    let secs: f64 = std::env::var("VIGY_BENCH_SECS").map_or(Ok(4.0), |s| s.parse())?;
    let window = Duration::try_from_secs_f64(secs)?;
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(bench(window))
}

/// What a page shows of one vigy: its name, tick count, kv and run ticks.
type Shown = (String, u64, Value, Vec<u64>);

async fn bench(window: Duration) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let runtime = RuntimeHandle::builder().path(dir.path().join("vigy.db")).scope(Scope::Nothing).open().await?;
    for i in 0..VIGIES {
        let program = "(vigy-set \"n\" (+ 1 (vigy-get \"n\" 0)))\n(vigy-noop)\n".to_owned();
        let body = api::RegisterVigy {
            name: format!("v{i:03}"),
            program,
            tick_interval_ms: Some(60_000),
            labels: None,
            ..Default::default()
        };
        runtime.register_vigy(api::RegisterVigyRequest { body }).await?;
        for _ in 0..TICKS {
            runtime.tick_vigy(api::TickVigyRequest { id: format!("v{i:03}") }).await?;
        }
    }
    let options = vigy_server::ServeOptions::default();
    let app = vigy_server::app(&runtime, &options, vigy_server::Readiness::default()).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let server = listener.local_addr()?;
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| tcp.set_nodelay(true).expect("TCP_NODELAY"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serving HTTP") });
    let http = reqwest::Client::builder().pool_max_idle_per_host(BROWSER_CONNECTIONS).build()?;

    let (rest, graphql) = (rest_page(&http, server).await?, graphql_page(&http, server).await?);
    assert_eq!(rest, graphql, "both loads show the same page");
    assert_eq!(rest.len(), VIGIES);
    assert_eq!(rest[0].3, (TICKS as u64 - RUNS_SHOWN as u64 + 1..=TICKS as u64).rev().collect::<Vec<_>>());

    let (mut baseline, mut target) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        baseline.extend(time(window / ROUNDS, || rest_page(&http, server)).await?);
        target.extend(time(window / ROUNDS, || graphql_page(&http, server)).await?);
    }
    println!(
        "a page of {VIGIES} vigies with state, kv and {RUNS_SHOWN} runs; {window:?} per figure; {} cores",
        std::thread::available_parallelism()?
    );
    println!("{:<44} {:>7} {:>10} {:>10}", "", "loads", "p50", "p99");
    let (b50, b99) =
        report(&format!("REST, 1 + {} requests, {BROWSER_CONNECTIONS} at a time", 3 * VIGIES), &mut baseline);
    let (t50, t99) = report("GraphQL, one query", &mut target);
    println!(
        "GraphQL / REST: p50 {:.2}x, p99 {:.2}x",
        t50.as_secs_f64() / b50.as_secs_f64(),
        t99.as_secs_f64() / b99.as_secs_f64()
    );
    runtime.shutdown().await;
    Ok(())
}

async fn rest_page(http: &reqwest::Client, server: SocketAddr) -> Result<Vec<Shown>> {
    let get = |path: String| async move {
        let response = http.get(format!("http://{server}{path}")).send().await?.error_for_status()?;
        Ok::<Value, Box<dyn std::error::Error + Send + Sync>>(response.json().await?)
    };
    let list = get(format!("/v1/vigies?limit={VIGIES}")).await?;
    let ids: Vec<String> = list["items"]
        .as_array()
        .ok_or("no items")?
        .iter()
        .map(|v| v["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let paths = ids.iter().flat_map(|id| {
        [
            format!("/v1/vigies/{id}/state"),
            format!("/v1/vigies/{id}/kv"),
            format!("/v1/vigies/{id}/runs?limit={RUNS_SHOWN}"),
        ]
    });
    let answers: Vec<Value> = futures::stream::iter(paths).map(get).buffered(BROWSER_CONNECTIONS).try_collect().await?;
    let shown = list["items"].as_array().ok_or("no items")?.iter().zip(answers.chunks(3)).map(|(vigy, parts)| {
        let ticks = parts[2]["items"]
            .as_array()
            .map(|runs| runs.iter().filter_map(|r| r["tick"].as_u64()).collect())
            .unwrap_or_default();
        (
            vigy["name"].as_str().unwrap_or_default().to_owned(),
            parts[0]["tick_count"].as_u64().unwrap_or_default(),
            parts[1]["entries"].clone(),
            ticks,
        )
    });
    Ok(shown.collect())
}

async fn graphql_page(http: &reqwest::Client, server: SocketAddr) -> Result<Vec<Shown>> {
    let response: Value =
        http.post(format!("http://{server}/graphql")).json(&json!({ "query": QUERY })).send().await?.json().await?;
    if response.get("errors").is_some() {
        return Err(format!("GraphQL refused the query: {response}").into());
    }
    let nodes = response["data"]["vigies"]["nodes"].as_array().ok_or("no nodes")?;
    let shown = nodes.iter().map(|node| {
        let ticks = node["runs"]["nodes"]
            .as_array()
            .map(|runs| runs.iter().filter_map(|r| r["tick"].as_u64()).collect())
            .unwrap_or_default();
        (
            node["name"].as_str().unwrap_or_default().to_owned(),
            node["state"]["tickCount"].as_u64().unwrap_or_default(),
            node["kv"]["entries"].clone(),
            ticks,
        )
    });
    Ok(shown.collect())
}

/// Page loads one after another for `window`: each one's duration.
async fn time<F, Fut>(window: Duration, load: F) -> Result<Vec<Duration>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Shown>>>,
{
    let (start, mut took) = (Instant::now(), Vec::new());
    while start.elapsed() < window {
        let began = Instant::now();
        load().await?;
        took.push(began.elapsed());
    }
    Ok(took)
}

fn report(name: &str, took: &mut [Duration]) -> (Duration, Duration) {
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    let (p50, p99) = (at(0.5), at(0.99));
    println!("{name:<44} {:>7} {:>10.2?} {:>10.2?}", took.len(), p50, p99);
    (p50, p99)
}
