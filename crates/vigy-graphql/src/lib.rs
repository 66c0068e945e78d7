//! vigy over GraphQL: the generated schema (queries, mutations, the event
//! subscription) over any [`VigyService`](vigy_api::VigyService), served at
//! `/graphql`: POST for queries and mutations; on GET, a WebSocket upgrade
//! for subscriptions (graphql-ws, see [`ws`]) and GraphiQL for a browser
//! (vendored, see [`graphiql`]). Errors carry their code in
//! `extensions.code`; a request the GraphQL layer refuses itself (a
//! malformed query, an unknown field, a wrongly typed argument, a query
//! past the [`Limits`]) says `INVALID_ARGUMENT`. A body that is not a
//! GraphQL request at all gets async-graphql-axum's plain 400.
//!
//! POST takes only a JSON body (`application/json` or
//! `application/graphql-response+json`): `text/plain`, forms and multipart
//! are 415, so a browser must preflight before it can send a mutation
//! across origins (and the server answers no preflight).

pub mod graphiql;
mod shape;
mod ws;

use std::sync::Arc;

use async_graphql::{BatchRequest, BatchResponse, Executor, ServerError};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post_service};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::Semaphore;
use tower_http::limit::RequestBodyLimitLayer;
use vigy_api::ServiceError;
pub use vigy_api_graphql::{Schema, SharedService, code_refusals, graphql_error, schema};

/// The largest request body, and WebSocket message, accepted (a program is
/// at most 256 KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What one GraphQL request or connection may ask for. The defaults let
/// every query vigy's clients send, and GraphiQL's introspection (depth
/// 13, about 150 fields), through with room to spare.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How deep fields nest (a top-level field is depth 1). Default 16.
    pub max_depth: usize,
    /// Fields selected in one operation, fragments counted where spread.
    /// Default 500.
    pub max_fields: usize,
    /// Aliased fields in one operation (each alias of a mutation runs it
    /// again). Default 32.
    pub max_aliases: usize,
    /// Requests in one batched POST. Default 16.
    pub max_batch: usize,
    /// Operations running at once on one WebSocket. Default 8.
    pub max_subscriptions: usize,
    /// WebSockets open at once. Default 64.
    pub max_websockets: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_fields: 500,
            max_aliases: 32,
            max_batch: 16,
            max_subscriptions: 8,
            max_websockets: 64,
        }
    }
}

/// The GraphQL surface over `service` at `/graphql`, with default limits.
pub fn router(service: SharedService) -> axum::Router {
    router_with(service, Limits::default())
}

/// The GraphQL surface over `service` at `/graphql`, with `limits`.
pub fn router_with(service: SharedService, limits: Limits) -> axum::Router {
    let sockets = Arc::new(Semaphore::new(limits.max_websockets));
    let coded = Coded { schema: schema(service), limits: Arc::new(limits) };
    let websocket = coded.clone();
    let endpoint = post_service(async_graphql_axum::GraphQL::new(coded))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::from_fn(json_only))
        .merge(get(move |request: Request| {
            let (coded, sockets) = (websocket.clone(), sockets.clone());
            async move {
                if wants_websocket(&request) { ws::upgrade(coded, sockets, request).await } else { graphiql::page() }
            }
        }));
    axum::Router::new().route("/graphql", endpoint).merge(graphiql::router())
}

fn wants_websocket(request: &Request) -> bool {
    request.headers().get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// Refuse a POST whose body is not declared JSON.
async fn json_only(request: Request, next: Next) -> Response {
    let essence = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json" | "application/graphql-response+json") => next.run(request).await,
        _ => {
            let reason = "a GraphQL POST must have `content-type: application/json`";
            let mut response = refusal(ServiceError::InvalidArgument(reason.into()));
            *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
            response
        }
    }
}

/// `error` as a GraphQL response, with the status REST gives its code.
fn refusal(error: ServiceError) -> Response {
    let status = vigy_rest_status(error.code());
    let error = graphql_error(error).into_server_error(Default::default());
    let body = serde_json::to_string(&async_graphql::Response::from_errors(vec![error]))
        .expect("a GraphQL response serializes");
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn vigy_rest_status(code: vigy_api::ErrorCode) -> StatusCode {
    match code {
        vigy_api::ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        vigy_api::ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The schema with its [`Limits`] in front and the GraphQL layer's own
/// refusals coded (see [`code_refusals`]): queries, batches and
/// subscriptions alike.
#[derive(Clone)]
pub(crate) struct Coded {
    schema: Schema,
    limits: Arc<Limits>,
}

impl Coded {
    /// Parse `request` (kept for the schema, which then does not parse
    /// again) and check its shape.
    fn admit(&self, request: &mut async_graphql::Request) -> Result<(), ServerError> {
        let document = request.parsed_query()?;
        shape::check(document, &self.limits).map_err(|reason| ServerError::new(reason, None))
    }
}

impl Executor for Coded {
    async fn execute(&self, mut request: async_graphql::Request) -> async_graphql::Response {
        match self.admit(&mut request) {
            Ok(()) => coded(self.schema.execute(request).await),
            Err(refused) => coded(async_graphql::Response::from_errors(vec![refused])),
        }
    }

    async fn execute_batch(&self, batch: BatchRequest) -> BatchResponse {
        match batch {
            BatchRequest::Batch(requests) if requests.len() > self.limits.max_batch => {
                let reason = format!("a batch holds at most {} requests", self.limits.max_batch);
                BatchResponse::Single(coded(async_graphql::Response::from_errors(vec![ServerError::new(reason, None)])))
            }
            BatchRequest::Single(request) => BatchResponse::Single(self.execute(request).await),
            BatchRequest::Batch(requests) => {
                BatchResponse::Batch(futures::future::join_all(requests.into_iter().map(|r| self.execute(r))).await)
            }
        }
    }

    fn execute_stream(
        &self,
        mut request: async_graphql::Request,
        session_data: Option<Arc<async_graphql::Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        if let Err(refused) = self.admit(&mut request) {
            return futures::stream::once(async move { coded(async_graphql::Response::from_errors(vec![refused])) })
                .boxed();
        }
        let Ok(permit) = ws::admit(session_data.as_deref()) else {
            return ws::too_many(self.limits.max_subscriptions);
        };
        Executor::execute_stream(&self.schema, request, session_data)
            .map(move |response| {
                let _running = &permit;
                coded(response)
            })
            .boxed()
    }
}

fn coded(mut response: async_graphql::Response) -> async_graphql::Response {
    code_refusals(&mut response.errors);
    response
}
