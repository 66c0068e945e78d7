//! A dashboard's query (vigies with their state, kv and newest runs) is
//! answered by a few batch calls, however many vigies it shows: nested
//! fields load through the batch methods (`*_many`), never one call per
//! vigy. Counted at the `VigyService` boundary, in front of a
//! real runtime.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use vigy_api::{self as api, EventStream, ServiceError, VigyService};
use vigy_runtime::{RuntimeHandle, Scope};

/// The runtime, with every call counted by operation.
struct Counting {
    inner: RuntimeHandle,
    calls: Mutex<BTreeMap<&'static str, Vec<usize>>>,
}

impl Counting {
    fn count(&self, op: &'static str) {
        self.batch(op, 1);
    }

    /// A call answering `size` requests.
    fn batch(&self, op: &'static str, size: usize) {
        self.calls.lock().unwrap().entry(op).or_default().push(size);
    }

    /// The calls since the last look, by operation: each call's size.
    fn calls(&self) -> BTreeMap<&'static str, Vec<usize>> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

type Answer<T> = Result<T, ServiceError>;

#[async_trait::async_trait]
impl VigyService for Counting {
    async fn check_program(&self, r: api::CheckProgramRequest) -> Answer<api::ProgramCheck> {
        self.count("check_program");
        self.inner.check_program(r).await
    }
    async fn delete_vigy(&self, r: api::DeleteVigyRequest) -> Answer<api::Vigy> {
        self.count("delete_vigy");
        self.inner.delete_vigy(r).await
    }
    async fn disable_vigy(&self, r: api::DisableVigyRequest) -> Answer<api::Vigy> {
        self.count("disable_vigy");
        self.inner.disable_vigy(r).await
    }
    async fn pause_vigy(&self, r: api::PauseVigyRequest) -> Answer<api::Vigy> {
        self.count("pause_vigy");
        self.inner.pause_vigy(r).await
    }
    async fn resume_vigy(&self, r: api::ResumeVigyRequest) -> Answer<api::Vigy> {
        self.count("resume_vigy");
        self.inner.resume_vigy(r).await
    }
    async fn enable_vigy(&self, r: api::EnableVigyRequest) -> Answer<api::Vigy> {
        self.count("enable_vigy");
        self.inner.enable_vigy(r).await
    }
    async fn get_vigy(&self, r: api::GetVigyRequest) -> Answer<api::Vigy> {
        self.count("get_vigy");
        self.inner.get_vigy(r).await
    }
    async fn get_vigy_kv(&self, r: api::GetVigyKvRequest) -> Answer<api::VigyKv> {
        self.count("get_vigy_kv");
        self.inner.get_vigy_kv(r).await
    }
    async fn get_vigy_kv_many(&self, r: Vec<api::GetVigyKvRequest>) -> Vec<Answer<api::VigyKv>> {
        self.batch("get_vigy_kv_many", r.len());
        self.inner.get_vigy_kv_many(r).await
    }
    async fn get_vigy_state(&self, r: api::GetVigyStateRequest) -> Answer<api::VigyState> {
        self.count("get_vigy_state");
        self.inner.get_vigy_state(r).await
    }
    async fn get_vigy_state_many(&self, r: Vec<api::GetVigyStateRequest>) -> Vec<Answer<api::VigyState>> {
        self.batch("get_vigy_state_many", r.len());
        self.inner.get_vigy_state_many(r).await
    }
    async fn list_vigies(&self, r: api::ListVigiesRequest) -> Answer<api::VigyList> {
        self.count("list_vigies");
        self.inner.list_vigies(r).await
    }
    async fn list_vigy_runs(&self, r: api::ListVigyRunsRequest) -> Answer<api::VigyRunList> {
        self.count("list_vigy_runs");
        self.inner.list_vigy_runs(r).await
    }
    async fn list_vigy_runs_many(&self, r: Vec<api::ListVigyRunsRequest>) -> Vec<Answer<api::VigyRunList>> {
        self.batch("list_vigy_runs_many", r.len());
        self.inner.list_vigy_runs_many(r).await
    }
    async fn register_vigy(&self, r: api::RegisterVigyRequest) -> Answer<api::Vigy> {
        self.count("register_vigy");
        self.inner.register_vigy(r).await
    }
    async fn simulate_program(&self, r: api::SimulateProgramRequest) -> Answer<api::Simulation> {
        self.count("simulate_program");
        self.inner.simulate_program(r).await
    }
    async fn stream_events(&self, r: api::StreamEventsRequest) -> Answer<EventStream<api::VigyRun>> {
        self.count("stream_events");
        self.inner.stream_events(r).await
    }
    async fn tick_vigy(&self, r: api::TickVigyRequest) -> Answer<api::VigyRun> {
        self.count("tick_vigy");
        self.inner.tick_vigy(r).await
    }
    async fn update_vigy(&self, r: api::UpdateVigyRequest) -> Answer<api::Vigy> {
        self.count("update_vigy");
        self.inner.update_vigy(r).await
    }
}

const VIGIES: usize = 60;
const TICKED: usize = 5;
const COUNTER: &str = "(vigy-set \"n\" (+ 1 (vigy-get \"n\" 0)))\n(vigy-noop)\n";

const DASHBOARD: &str = r#"{
  vigies(first: 1000) {
    nodes { name state { tickCount } kv { entries } runs(first: 2) { nodes { tick } pageInfo { hasNextPage } } }
    pageInfo { hasNextPage endCursor }
  }
}"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_dashboard_query_should_cost_a_fixed_number_of_core_calls() {
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let counting = Arc::new(Counting { inner: rt.clone(), calls: Mutex::default() });
    let names: Vec<String> = (0..VIGIES).map(|i| format!("v{i:03}")).collect();
    for name in &names {
        let body = api::RegisterVigy {
            name: name.clone(),
            program: COUNTER.into(),
            tick_interval_ms: Some(60_000),
            labels: None,
            ..Default::default()
        };
        counting.register_vigy(api::RegisterVigyRequest { body }).await.unwrap();
    }
    // A few vigies ticked three times; the others never.
    for name in &names[..TICKED] {
        for _ in 0..3 {
            counting.tick_vigy(api::TickVigyRequest { id: name.clone() }).await.unwrap();
        }
    }
    counting.calls();

    let schema = vigy_graphql::schema(counting.clone());
    let response = schema.execute(DASHBOARD).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().unwrap();

    // Every nested field was answered by a batch call, none by a call of
    // its own. The loader gathers a window of 5 ms: on a busy machine it may
    // close before a page's last parents asked, so a page can take a second
    // batch, never one per vigy.
    let calls = counting.calls();
    assert_eq!(
        calls.keys().copied().collect::<Vec<_>>(),
        ["get_vigy_kv_many", "get_vigy_state_many", "list_vigies", "list_vigy_runs_many"]
    );
    assert_eq!(calls["list_vigies"], [1]);
    for op in ["get_vigy_kv_many", "get_vigy_state_many", "list_vigy_runs_many"] {
        let sizes = &calls[op];
        assert_eq!(sizes.iter().sum::<usize>(), VIGIES, "{op}: each vigy asked once: {sizes:?}");
        assert!(sizes.len() <= 3, "{op}: {VIGIES} vigies in a few batches, not {sizes:?}");
    }

    // And the batched answers are each vigy's own.
    let nodes = data["vigies"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), VIGIES);
    assert_eq!(
        data["vigies"]["pageInfo"],
        json!({ "hasNextPage": false, "endCursor": data["vigies"]["pageInfo"]["endCursor"] })
    );
    for (i, node) in nodes.iter().enumerate() {
        let ticked = i < TICKED;
        let want = if ticked {
            json!({
                "name": names[i],
                "state": { "tickCount": 3 },
                "kv": { "entries": { "n": 3 } },
                "runs": { "nodes": [{ "tick": 3 }, { "tick": 2 }], "pageInfo": { "hasNextPage": true } },
            })
        } else {
            json!({
                "name": names[i],
                "state": { "tickCount": 0 },
                "kv": { "entries": {} },
                "runs": { "nodes": [], "pageInfo": { "hasNextPage": false } },
            })
        };
        assert_eq!(node, &want, "vigy {i}");
    }
    rt.shutdown().await;
}

/// Paging a connection follows `endCursor` to the end, each vigy once.
#[tokio::test(flavor = "multi_thread")]
async fn a_connection_should_page_by_its_end_cursor() {
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    for i in 0..7 {
        let body = api::RegisterVigy {
            name: format!("p{i}"),
            program: COUNTER.into(),
            tick_interval_ms: Some(60_000),
            labels: None,
            ..Default::default()
        };
        rt.register_vigy(api::RegisterVigyRequest { body }).await.unwrap();
    }
    let schema = vigy_graphql::schema(Arc::new(rt.clone()));
    let (mut seen, mut after) = (Vec::new(), Value::Null);
    loop {
        let query = format!(
            "{{ vigies(first: 3, after: {after}) {{ edges {{ cursor node {{ name }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
        );
        let response = schema.execute(query.as_str()).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let page = response.data.into_json().unwrap()["vigies"].take();
        let edges = page["edges"].as_array().unwrap();
        assert!(edges.len() <= 3);
        // The page's end cursor is its last edge's.
        assert_eq!(page["pageInfo"]["endCursor"], edges.last().map_or(Value::Null, |e| e["cursor"].clone()));
        seen.extend(edges.iter().map(|e| e["node"]["name"].as_str().unwrap().to_owned()));
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
    rt.shutdown().await;
}

/// The dashboard query the README shows runs as written.
#[tokio::test(flavor = "multi_thread")]
async fn the_readmes_query_should_run() {
    let readme = include_str!("../../../README.md");
    let query = readme.split("```graphql\n").nth(1).and_then(|rest| rest.split("```").next()).unwrap();
    let rt = RuntimeHandle::builder().scope(Scope::Nothing).open().await.unwrap();
    let labels = Some([("tier".to_owned(), "edge".to_owned())].into());
    let body = api::RegisterVigy {
        name: "edge".into(),
        program: COUNTER.into(),
        tick_interval_ms: Some(60_000),
        labels,
        ..Default::default()
    };
    rt.register_vigy(api::RegisterVigyRequest { body }).await.unwrap();
    rt.tick_vigy(api::TickVigyRequest { id: "edge".into() }).await.unwrap();
    let response = vigy_graphql::schema(Arc::new(rt.clone())).execute(query).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().unwrap();
    assert_eq!(data["vigies"]["nodes"][0]["runs"]["nodes"], json!([{ "tick": 1, "result": "OK", "error": null }]));
    rt.shutdown().await;
}
