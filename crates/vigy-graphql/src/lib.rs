//! vigy over GraphQL: the generated schema (queries, mutations, the event
//! subscription) over any [`VigyService`](vigy_api::VigyService), served at
//! `/graphql`: POST for queries and mutations; on GET, a WebSocket upgrade
//! for subscriptions (graphql-ws) and GraphiQL for a browser. Errors carry
//! their code in `extensions.code`; a request the GraphQL layer refuses
//! itself (malformed, unknown field, wrongly typed argument) says
//! `INVALID_ARGUMENT`.

use async_graphql::BatchResponse;
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::Request;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tower::ServiceExt;
use tower_http::limit::RequestBodyLimitLayer;
pub use vigy_api_graphql::{Schema, SharedService, code_refusals, graphql_error, schema};

/// The largest request body accepted (a program is at most 256 KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The GraphQL surface over `service` at `/graphql`.
pub fn router(service: SharedService) -> axum::Router {
    let schema = schema(service);
    let subscriptions = async_graphql_axum::GraphQLSubscription::new(schema.clone());
    let endpoint = post(execute)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .merge(get(move |request: Request| upgrade_or_graphiql(subscriptions.clone(), request)));
    axum::Router::new().route("/graphql", endpoint).with_state(schema)
}

/// A POST on `/graphql`: one query or mutation, or a batch of them.
async fn execute(State(schema): State<Schema>, request: GraphQLBatchRequest) -> GraphQLResponse {
    let mut answer = schema.execute_batch(request.into_inner()).await;
    match &mut answer {
        BatchResponse::Single(response) => code_refusals(&mut response.errors),
        BatchResponse::Batch(responses) => responses.iter_mut().for_each(|r| code_refusals(&mut r.errors)),
    }
    answer.into()
}

/// A GET on `/graphql`: a graphql-ws client asks for a WebSocket, a
/// browser gets GraphiQL.
async fn upgrade_or_graphiql(
    subscriptions: async_graphql_axum::GraphQLSubscription<Schema>,
    request: Request,
) -> Response {
    let wants_websocket =
        request.headers().get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if wants_websocket {
        match subscriptions.oneshot(request).await {
            Ok(response) => response.into_response(),
            Err(never) => match never {},
        }
    } else {
        Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql").finish()).into_response()
    }
}
