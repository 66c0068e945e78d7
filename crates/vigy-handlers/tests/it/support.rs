//! An action to hand a handler, a config from text, and a local HTTP
//! server that records what reached it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;
use vigy_handlers::Config;
use vigy_runtime::{ActionCall, ActionError, ActionHandler, Handled};
use vigy_types::{ActionKind, Labels, VigyId, VigyName};

/// The action a vigy named `hello` emitted first in tick 7 of run `run-1`.
pub(crate) fn call(kind: &str, payload: Json) -> ActionCall {
    ActionCall {
        kind: ActionKind::from(kind),
        payload,
        vigy_id: VigyId::for_name(&VigyName::new("hello").unwrap()),
        vigy_name: "hello".to_owned(),
        labels: Labels::from_pairs(["team=ops"]).unwrap(),
        run_id: "run-1".to_owned(),
        tick: 7,
        index: 0,
        idempotency_key: "run-1:0".to_owned(),
        attempt: 1,
    }
}

pub(crate) fn config(text: &str) -> Config {
    Config::from_toml(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) async fn run(handler: &impl ActionHandler, call: ActionCall) -> Result<Handled, ActionError> {
    handler.handle(call).await
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A server on 127.0.0.1 that records every request and answers by path:
/// `/api/ok` 200 `hello`, `/api/unavailable` 503, `/api/missing` 404,
/// `/api/huge` 50 MiB streamed, `/api/slow` after 5 s, `/api/redirect`
/// 302 to `/private/secret`; anything else 200 `other`.
#[derive(Clone)]
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    /// How many bytes of `/api/huge` were handed to the connection.
    pub(crate) huge_sent: Arc<AtomicU64>,
}

pub(crate) const HUGE: u64 = 50 << 20;

impl Server {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Self { addr: listener.local_addr().unwrap(), seen: Arc::default(), huge_sent: Arc::default() };
        let app = axum::Router::new().fallback(answer).with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        server
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub(crate) fn targets(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.target).collect()
    }
}

async fn answer(State(server): State<Server>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let target = parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
    server.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        target: target.clone(),
        headers: parts.headers,
        body,
    });
    match parts.uri.path() {
        "/api/ok" => "hello".into_response(),
        "/api/unavailable" => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        "/api/missing" => (StatusCode::NOT_FOUND, "no such thing").into_response(),
        "/api/redirect" => (StatusCode::FOUND, [(header::LOCATION, server.url("/private/secret"))], "").into_response(),
        "/api/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late".into_response()
        }
        "/api/huge" => {
            let sent = Arc::clone(&server.huge_sent);
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let stream = futures::stream::unfold(0u64, move |done| {
                let (sent, chunk) = (Arc::clone(&sent), chunk.clone());
                async move {
                    if done >= HUGE {
                        return None;
                    }
                    sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                    Some((Ok::<_, Infallible>(chunk.clone()), done + chunk.len() as u64))
                }
            });
            Body::from_stream(stream).into_response()
        }
        _ => "other".into_response(),
    }
}
