//! What each transport of `vigy serve` costs over the framework it runs on:
//! `cargo bench -p vigy-server --bench transports`.
//!
//! The full vigy app (every surface on one address, as `vigy serve` runs
//! it) is served over a runtime holding 100 vigies, and two reads are
//! timed through REST, GraphQL and gRPC: `get` (one vigy by id) and `list`
//! (all 100), at 1 and at 64 concurrent connections.
//!
//! Each figure is set against a bare server on the same framework that
//! answers the same read with a fixed value kept in memory, encoded per
//! request as any server encodes its answer:
//! - REST against a plain axum handler returning the fixed JSON value (the
//!   API model the real REST surface returned, through `axum::Json`);
//! - GraphQL against a plain async-graphql schema (derived objects with
//!   the same fields) returning the fixed vigies, served through
//!   async-graphql-axum;
//! - gRPC against a plain tonic server returning clones of the messages the
//!   real gRPC surface returned.
//!
//! Baseline and target share the framework, the client, the connection
//! handling (TCP_NODELAY on every accepted socket, as `vigy serve` sets it)
//! and the size of the response, so their ratio is what vigy adds on top:
//! its routing and middleware, decoding the request, the runtime read and
//! the copy and conversion of the answer before it is encoded. Targets: p50 and p99 within 1.3x of
//! the baseline, throughput at least 70% of it.
//!
//! Nothing asserts on timings (a slow run still reports); the real and the
//! bare servers' answers are checked once before measuring. Clients and
//! servers share one multi-threaded tokio runtime in this process, so
//! client-side work is in every figure, the baseline's included.
//! `VIGY_BENCH_SECS` sets the measured seconds per figure (default 3);
//! `VIGY_BENCH_ONLY` keeps the rows whose name contains it (e.g.
//! `graphql list`), for profiling one of them.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tonic::{Response, Status};
use vigy_rpc::pb;
use vigy_rpc::pb::vigy_service_client::VigyServiceClient;
use vigy_rpc::pb::vigy_service_server::{VigyService, VigyServiceServer};
use vigy_runtime::{RuntimeHandle, Scope};

// The allocator `vigy serve` runs with, for the real and the bare servers.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

const VIGIES: usize = 100;
const CONCURRENCY: [usize; 2] = [1, 64];
/// Warm-up before each measured slice.
const WARM_UP: Duration = Duration::from_millis(300);
/// Slices each figure's window is measured in, alternating with the
/// baseline's.
const ROUNDS: u32 = 3;
/// Target p50 and p99 over the baseline's, at most.
const LATENCY_TARGET: f64 = 1.3;
/// Target requests/s over the baseline's, at least.
const THROUGHPUT_TARGET: f64 = 0.7;

/// The same fields the REST and gRPC answers carry.
const FIELDS: &str = "id name program tickIntervalMs enabled labels createdAt updatedAt";

fn main() -> Result<()> {
    let window = window()?;
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    tokio.block_on(bench(window))
}

/// How long each figure is measured for, after its warm-up.
fn window() -> Result<Duration> {
    match std::env::var("VIGY_BENCH_SECS") {
        Ok(secs) => Ok(Duration::try_from_secs_f64(secs.parse()?)?),
        Err(_) => Ok(Duration::from_secs(3)),
    }
}

async fn bench(window: Duration) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let runtime = open_runtime(&dir.path().join("vigy.db")).await?;
    // The vigy every `get` reads.
    let id = runtime.list(&vigy_types::LabelSelector::everything()).await?[0].id.to_string();

    let options = vigy_server::ServeOptions::default();
    let app = vigy_server::app(&runtime, &options, vigy_server::Readiness::default()).await.unwrap();
    let real = serve_http(app).await?;
    let answers = Answers::fetch(real, &id).await?;
    answers.check(&id);
    let bare_http = serve_http(bare_router(&answers)).await?;
    let bare_grpc = serve_bare_grpc(&answers).await?;
    check_graphql(real, bare_http, &id).await?;

    println!(
        "{VIGIES} vigies; {:?} measured per figure, in {ROUNDS} slices taking turns with the baseline's, \
         each after {WARM_UP:?} of warm-up; {} cores",
        window,
        std::thread::available_parallelism()?,
    );
    println!(
        "targets: latency <= {LATENCY_TARGET}x the bare server's, throughput >= {:.0}% of it\n",
        THROUGHPUT_TARGET * 100.0
    );
    println!("{}", Row::HEADER);
    let only = std::env::var("VIGY_BENCH_ONLY").unwrap_or_default().to_lowercase();
    for (transport, op) in ROWS {
        if !format!("{transport:?} {op:?}").to_lowercase().contains(&only) {
            continue;
        }
        for concurrency in CONCURRENCY {
            let target = transport.call(real, op, &id);
            let baseline = transport.baseline(bare_http, bare_grpc, op, &id);
            // Target and baseline take turns, a slice of the window each:
            // whatever else loads the machine meanwhile weighs on both alike.
            let (mut target_sample, mut baseline_sample) = (Sample::default(), Sample::default());
            for _ in 0..ROUNDS {
                target_sample.add(measure(&target, concurrency, window / ROUNDS).await?);
                baseline_sample.add(measure(&baseline, concurrency, window / ROUNDS).await?);
            }
            let (target, baseline) = (target_sample.sorted(), baseline_sample.sorted());
            println!("{}", Row { transport, op, concurrency, target, baseline });
        }
    }
    runtime.shutdown().await;
    Ok(())
}

/// A runtime that ticks nothing (ticks would compete with the servers for
/// the CPU) holding `VIGIES` vigies.
async fn open_runtime(path: &Path) -> Result<RuntimeHandle> {
    let runtime = RuntimeHandle::builder().path(path).scope(Scope::Nothing).open().await?;
    for i in 0..VIGIES {
        let interval = vigy_types::TickInterval::from_millis(1000)?;
        let vigy = vigy_types::Vigy::new(format!("bench-{i:03}"), "(vigy-noop)", interval)?;
        runtime.register_or_update(vigy).await?;
    }
    Ok(runtime)
}

/// Serve `app` on a port of its own, as `vigy serve` does: with
/// TCP_NODELAY, else the last segment of a multi-segment answer waits for
/// the client's delayed ACK (about 40 ms).
async fn serve_http(app: axum::Router) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| tcp.set_nodelay(true).expect("TCP_NODELAY"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serving HTTP") });
    Ok(addr)
}

/// The real server's answers to both reads, once over REST and once over
/// gRPC: what the bare servers repeat.
#[derive(Debug)]
struct Answers {
    vigy: vigy_api::Vigy,
    list: vigy_api::VigyList,
    vigy_pb: pb::Vigy,
    list_pb: pb::VigyList,
}

impl Answers {
    async fn fetch(server: SocketAddr, id: &str) -> Result<Self> {
        let http = reqwest::Client::new();
        let get = |path: String| {
            let request = http.get(format!("http://{server}{path}"));
            async move { request.send().await?.error_for_status()?.bytes().await }
        };
        let mut grpc = VigyServiceClient::connect(format!("http://{server}")).await?;
        Ok(Self {
            vigy: serde_json::from_slice(&get(format!("/v1/vigies/{id}")).await?)?,
            list: serde_json::from_slice(&get("/v1/vigies".into()).await?)?,
            vigy_pb: grpc.get_vigy(pb::GetVigyRequest { id: id.into() }).await?.into_inner(),
            list_pb: grpc.list_vigies(pb::ListVigiesRequest::default()).await?.into_inner(),
        })
    }

    /// The real server read what was asked: a faster wrong answer would
    /// make the figures meaningless.
    fn check(&self, id: &str) {
        assert_eq!(self.vigy.id, id, "REST get");
        assert_eq!(self.list.items.len(), VIGIES, "REST list");
        assert_eq!(self.vigy_pb.id, id, "gRPC GetVigy");
        assert_eq!(self.list_pb.items.len(), VIGIES, "gRPC ListVigies");
    }
}

/// Both GraphQL reads answer data, not errors, and the bare schema answers
/// exactly what the real one does.
async fn check_graphql(real: SocketAddr, bare: SocketAddr, id: &str) -> Result<()> {
    let client = reqwest::Client::new();
    for op in [Op::Get, Op::List] {
        let mut bodies = Vec::new();
        for server in [real, bare] {
            let response = client.post(format!("http://{server}/graphql")).json(&graphql_query(op, id)).send().await?;
            assert_eq!(response.status(), 200, "GraphQL {op:?}");
            let body: Value = response.json().await?;
            assert!(body.get("errors").is_none(), "GraphQL {op:?}: {body}");
            bodies.push(body);
        }
        match op {
            Op::Get => assert_eq!(bodies[0]["data"]["vigy"]["id"], id, "GraphQL get"),
            Op::List => assert_eq!(bodies[0]["data"]["vigies"]["nodes"].as_array().map(Vec::len), Some(VIGIES)),
        }
        assert_eq!(bodies[0], bodies[1], "the bare GraphQL schema answers {op:?} as the real one does");
    }
    Ok(())
}

fn graphql_query(op: Op, id: &str) -> Value {
    match op {
        Op::Get => json!({
            "query": format!("query($id: String!) {{ vigy(id: $id) {{ {FIELDS} }} }}"),
            "variables": { "id": id },
        }),
        Op::List => json!({ "query": format!("query {{ vigies {{ nodes {{ {FIELDS} }} }} }}") }),
    }
}

/// The bare HTTP baselines: REST routes shaped like the real ones and a
/// plain GraphQL schema, answering the real server's values from memory.
fn bare_router(answers: &Answers) -> axum::Router {
    use axum::extract::Path;
    use axum::response::IntoResponse;
    use axum::routing::get;
    let (vigy, list) = (Arc::new(answers.vigy.clone()), Arc::new(answers.list.clone()));
    let graphql = bare_graphql::schema(&answers.list);
    axum::Router::new()
        .route("/v1/vigies/{id}", get(move |Path(_id): Path<String>| async move { Json(&*vigy).into_response() }))
        .route("/v1/vigies", get(move || async move { Json(&*list).into_response() }))
        .route("/graphql", axum::routing::post_service(async_graphql_axum::GraphQL::new(graphql)))
}

/// A plain async-graphql schema with the fields of vigy's, answering from
/// memory. Like the REST baseline, it holds the API model's values and
/// encodes them per request (timestamps included).
mod bare_graphql {
    use std::collections::{BTreeMap, HashMap};

    use async_graphql::{
        EmptyMutation, EmptySubscription, InputValueError, InputValueResult, Json, Object, Scalar, ScalarType, Schema,
        SimpleObject, Value,
    };

    /// A timestamp, encoded as the API model's serde encodes it.
    #[derive(Debug, Clone)]
    struct DateTime(chrono::DateTime<chrono::Utc>);

    #[Scalar]
    impl ScalarType for DateTime {
        fn parse(_: Value) -> InputValueResult<Self> {
            Err(InputValueError::custom("only ever an output"))
        }

        fn to_value(&self) -> Value {
            async_graphql::to_value(self.0).expect("a timestamp encodes")
        }
    }

    #[derive(Debug, Clone, SimpleObject)]
    struct Vigy {
        id: String,
        name: String,
        program: String,
        tick_interval_ms: Option<u64>,
        enabled: bool,
        labels: Json<BTreeMap<String, String>>,
        created_at: DateTime,
        updated_at: DateTime,
        disabled_reason: Option<String>,
    }

    #[derive(Debug, SimpleObject)]
    struct VigyList {
        nodes: Vec<Vigy>,
    }

    pub(super) struct Query {
        by_id: HashMap<String, Vigy>,
        list: VigyList,
    }

    #[Object]
    impl Query {
        async fn vigy(&self, id: String) -> Option<&Vigy> {
            self.by_id.get(&id)
        }

        async fn vigies(&self) -> &VigyList {
            &self.list
        }
    }

    pub(super) type Bare = Schema<Query, EmptyMutation, EmptySubscription>;

    pub(super) fn schema(list: &vigy_api::VigyList) -> Bare {
        let items: Vec<Vigy> = list.items.iter().map(from_api).collect();
        let by_id = items.iter().map(|v| (v.id.clone(), v.clone())).collect();
        Schema::new(Query { by_id, list: VigyList { nodes: items } }, EmptyMutation, EmptySubscription)
    }

    fn from_api(v: &vigy_api::Vigy) -> Vigy {
        Vigy {
            id: v.id.clone(),
            name: v.name.clone(),
            program: v.program.clone(),
            tick_interval_ms: v.tick_interval_ms,
            enabled: v.enabled,
            labels: Json(v.labels.clone()),
            created_at: DateTime(v.created_at),
            updated_at: DateTime(v.updated_at),
            disabled_reason: v.disabled_reason.clone(),
        }
    }
}

/// The bare gRPC baseline: the generated service, answering the real
/// server's messages from memory.
#[derive(Debug)]
struct FixedVigies {
    vigy: pb::Vigy,
    list: pb::VigyList,
}

async fn serve_bare_grpc(answers: &Answers) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let service = VigyServiceServer::new(FixedVigies { vigy: answers.vigy_pb.clone(), list: answers.list_pb.clone() });
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let serve = tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming);
    tokio::spawn(async move { serve.await.expect("serving gRPC") });
    Ok(addr)
}

type Reply<T> = Result<Response<T>, Status>;

fn not_measured<T>() -> Reply<T> {
    Err(Status::unimplemented("not part of the baseline"))
}

#[tonic::async_trait]
impl VigyService for FixedVigies {
    type StreamEventsStream = tokio_stream::Empty<Result<pb::VigyRun, Status>>;

    async fn get_vigy(&self, _: tonic::Request<pb::GetVigyRequest>) -> Reply<pb::Vigy> {
        Ok(Response::new(self.vigy.clone()))
    }
    async fn list_vigies(&self, _: tonic::Request<pb::ListVigiesRequest>) -> Reply<pb::VigyList> {
        Ok(Response::new(self.list.clone()))
    }
    async fn register_vigy(&self, _: tonic::Request<pb::RegisterVigyRequest>) -> Reply<pb::Vigy> {
        not_measured()
    }
    async fn update_vigy(&self, _: tonic::Request<pb::UpdateVigyRequest>) -> Reply<pb::Vigy> {
        not_measured()
    }
    async fn delete_vigy(&self, _: tonic::Request<pb::DeleteVigyRequest>) -> Reply<pb::Vigy> {
        not_measured()
    }
    async fn enable_vigy(&self, _: tonic::Request<pb::EnableVigyRequest>) -> Reply<pb::Vigy> {
        not_measured()
    }
    async fn pause_vigy(&self, _: tonic::Request<pb::PauseVigyRequest>) -> Reply<pb::Vigy> {
        not_measured()
    }
    async fn resume_vigy(&self, _: tonic::Request<pb::ResumeVigyRequest>) -> Reply<pb::Vigy> {
        not_measured()
    }
    async fn disable_vigy(&self, _: tonic::Request<pb::DisableVigyRequest>) -> Reply<pb::Vigy> {
        not_measured()
    }
    async fn get_vigy_state(&self, _: tonic::Request<pb::GetVigyStateRequest>) -> Reply<pb::VigyState> {
        not_measured()
    }
    async fn tick_vigy(&self, _: tonic::Request<pb::TickVigyRequest>) -> Reply<pb::VigyRun> {
        not_measured()
    }
    async fn list_vigy_runs(&self, _: tonic::Request<pb::ListVigyRunsRequest>) -> Reply<pb::VigyRunList> {
        not_measured()
    }
    async fn get_vigy_kv(&self, _: tonic::Request<pb::GetVigyKvRequest>) -> Reply<pb::VigyKv> {
        not_measured()
    }
    async fn check_program(&self, _: tonic::Request<pb::CheckProgramRequest>) -> Reply<pb::ProgramCheck> {
        not_measured()
    }
    async fn simulate_program(&self, _: tonic::Request<pb::SimulateProgramRequest>) -> Reply<pb::Simulation> {
        not_measured()
    }
    async fn stream_events(&self, _: tonic::Request<pb::StreamEventsRequest>) -> Reply<Self::StreamEventsStream> {
        not_measured()
    }
}

#[derive(Debug, Clone, Copy)]
enum Transport {
    Rest,
    Graphql,
    Grpc,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Get,
    List,
}

const ROWS: [(Transport, Op); 6] = [
    (Transport::Rest, Op::Get),
    (Transport::Rest, Op::List),
    (Transport::Graphql, Op::Get),
    (Transport::Graphql, Op::List),
    (Transport::Grpc, Op::Get),
    (Transport::Grpc, Op::List),
];

impl Transport {
    /// `op` against the real server at `server`.
    fn call(self, server: SocketAddr, op: Op, id: &str) -> Call {
        let url = format!("http://{server}");
        match self {
            Self::Rest => Call::Get { url: rest_url(server, op, id) },
            Self::Graphql => {
                Call::Post { url: format!("{url}/graphql"), body: Bytes::from(graphql_query(op, id).to_string()) }
            }
            Self::Grpc => Call::Grpc { url, op, id: id.into() },
        }
    }

    /// `op` against the bare server on the same framework.
    fn baseline(self, bare_http: SocketAddr, bare_grpc: SocketAddr, op: Op, id: &str) -> Call {
        match self {
            Self::Rest => Call::Get { url: rest_url(bare_http, op, id) },
            Self::Graphql => Self::Graphql.call(bare_http, op, id),
            Self::Grpc => Call::Grpc { url: format!("http://{bare_grpc}"), op, id: id.into() },
        }
    }
}

fn rest_url(server: SocketAddr, op: Op, id: &str) -> String {
    match op {
        Op::Get => format!("http://{server}/v1/vigies/{id}"),
        Op::List => format!("http://{server}/v1/vigies"),
    }
}

/// One request to repeat: enough for each worker to open a connection of
/// its own and send it again and again.
#[derive(Debug, Clone)]
enum Call {
    /// `GET url` (REST, and the bare HTTP server).
    Get { url: String },
    /// `POST url` with a JSON body (GraphQL).
    Post { url: String, body: Bytes },
    /// A unary gRPC call to the server at `url`.
    Grpc { url: String, op: Op, id: String },
}

impl Call {
    async fn connect(&self) -> Result<Caller> {
        // One idle connection per client: each worker reuses its own
        // connection, as one client of a server would.
        let http = || reqwest::Client::builder().pool_max_idle_per_host(1).build();
        Ok(match self {
            Self::Get { url } => {
                let client = http()?;
                Caller::Http { request: client.get(url).build()?, client }
            }
            Self::Post { url, body } => {
                let client = http()?;
                let request = client.post(url).header(CONTENT_TYPE, "application/json").body(body.clone()).build()?;
                Caller::Http { client, request }
            }
            Self::Grpc { url, op, id } => {
                let channel = Channel::from_shared(url.clone())?.connect().await?;
                Caller::Grpc { client: VigyServiceClient::new(channel), op: *op, id: id.clone() }
            }
        })
    }
}

/// A [`Call`] on its own connection.
enum Caller {
    Http { client: reqwest::Client, request: reqwest::Request },
    Grpc { client: VigyServiceClient<Channel>, op: Op, id: String },
}

impl Caller {
    async fn call(&mut self) -> Result<()> {
        match self {
            Self::Http { client, request } => {
                let request = request.try_clone().expect("a request with an in-memory body clones");
                // Read the whole body: the answer has not arrived before.
                client.execute(request).await?.error_for_status()?.bytes().await?;
            }
            Self::Grpc { client, op: Op::Get, id } => {
                client.get_vigy(pb::GetVigyRequest { id: id.clone() }).await?;
            }
            Self::Grpc { client, op: Op::List, .. } => {
                client.list_vigies(pb::ListVigiesRequest::default()).await?;
            }
        }
        Ok(())
    }
}

/// The latencies of the requests begun in the measured window, and how
/// long the window lasted until the last of them ended.
#[derive(Debug, Default)]
struct Sample {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Sample {
    /// Pool another slice's requests into this sample.
    fn add(&mut self, slice: Sample) {
        self.latencies.extend(slice.latencies);
        self.elapsed += slice.elapsed;
    }

    /// Ready for percentiles.
    fn sorted(mut self) -> Self {
        self.latencies.sort_unstable();
        self
    }

    /// Nearest-rank percentile.
    fn percentile(&self, p: f64) -> Duration {
        let rank = (p * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// `call` from `concurrency` workers, each on its own connection, for
/// `window` after a warm-up.
async fn measure(call: &Call, concurrency: usize, window: Duration) -> Result<Sample> {
    // Connect first: setting up connections is not what is measured.
    let mut callers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        callers.push(call.connect().await?);
    }
    let from = Instant::now() + WARM_UP;
    let until = from + window;
    let workers: Vec<_> = callers.into_iter().map(|caller| tokio::spawn(work(caller, from, until))).collect();
    let mut latencies = Vec::new();
    let mut last_end = from;
    for worker in workers {
        let (own, ended) = worker.await??;
        latencies.extend(own);
        last_end = last_end.max(ended);
    }
    assert!(!latencies.is_empty(), "no request completed in {window:?}");
    Ok(Sample { latencies, elapsed: last_end - from })
}

/// Repeat the call until `until`, keeping the latencies of calls begun at
/// or after `from`; returns them with when the last call ended.
async fn work(mut caller: Caller, from: Instant, until: Instant) -> Result<(Vec<Duration>, Instant)> {
    let mut latencies = Vec::new();
    let mut now = Instant::now();
    while now < until {
        let began = now;
        caller.call().await?;
        now = Instant::now();
        if began >= from {
            latencies.push(now - began);
        }
    }
    Ok((latencies, now))
}

/// One line of the table: a transport's figures beside its baseline's.
struct Row {
    transport: Transport,
    op: Op,
    concurrency: usize,
    target: Sample,
    baseline: Sample,
}

impl Row {
    const HEADER: &'static str =
        "transport op   conc |  p50 µs   base  ratio |  p99 µs   base  ratio |    req/s     base  ratio | verdict";

    fn misses(&self) -> Vec<&'static str> {
        let latency = |p| ratio(self.target.percentile(p), self.baseline.percentile(p));
        let mut misses = Vec::new();
        if latency(0.50) > LATENCY_TARGET {
            misses.push("p50");
        }
        if latency(0.99) > LATENCY_TARGET {
            misses.push("p99");
        }
        if self.target.per_second() / self.baseline.per_second() < THROUGHPUT_TARGET {
            misses.push("req/s");
        }
        misses
    }
}

fn ratio(target: Duration, baseline: Duration) -> f64 {
    target.as_secs_f64() / baseline.as_secs_f64()
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (t, b) = (&self.target, &self.baseline);
        let transport = format!("{:?}", self.transport);
        let op = format!("{:?}", self.op).to_lowercase();
        write!(f, "{transport:<9} {op:<4} {:>4} |", self.concurrency)?;
        for p in [0.50, 0.99] {
            let (tp, bp) = (t.percentile(p), b.percentile(p));
            write!(f, " {:>7} {:>6} {:>5.2}x |", tp.as_micros(), bp.as_micros(), ratio(tp, bp))?;
        }
        let (tr, br) = (t.per_second(), b.per_second());
        write!(f, " {tr:>8.0} {br:>8.0} {:>5.0}% |", 100.0 * tr / br)?;
        match self.misses().as_slice() {
            [] => write!(f, " meets"),
            misses => write!(f, " MISSES {}", misses.join(", ")),
        }
    }
}
