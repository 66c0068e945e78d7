//! vigy over GraphQL: the generated schema (queries, mutations, the event
//! subscription) over any [`VigyService`](vigy_api::VigyService), served at
//! `/graphql`: POST for queries and mutations; on GET, a WebSocket upgrade
//! for subscriptions (graphql-ws) and GraphiQL for a browser. Errors carry
//! their code in `extensions.code`; a request the GraphQL layer refuses
//! itself (a malformed query, an unknown field, a wrongly typed argument)
//! says `INVALID_ARGUMENT`. A body that is not a GraphQL request at all
//! gets async-graphql-axum's plain 400.

use std::sync::Arc;

use async_graphql::Executor;
use async_graphql::http::GraphiQLSource;
use axum::extract::Request;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post_service};
use futures::StreamExt;
use futures::stream::BoxStream;
use tower::ServiceExt;
use tower_http::limit::RequestBodyLimitLayer;
pub use vigy_api_graphql::{Schema, SharedService, code_refusals, graphql_error, schema};

/// The largest request body accepted (a program is at most 256 KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The GraphQL surface over `service` at `/graphql`.
pub fn router(service: SharedService) -> axum::Router {
    let coded = Coded(schema(service));
    let subscriptions = async_graphql_axum::GraphQLSubscription::new(coded.clone());
    let endpoint = post_service(async_graphql_axum::GraphQL::new(coded))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .merge(get(move |request: Request| upgrade_or_graphiql(subscriptions.clone(), request)));
    axum::Router::new().route("/graphql", endpoint)
}

/// The schema with the GraphQL layer's own refusals coded (see
/// [`code_refusals`]): queries, batches and subscriptions alike.
#[derive(Clone)]
struct Coded(Schema);

impl Executor for Coded {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        coded(self.0.execute(request).await)
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<async_graphql::Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        Executor::execute_stream(&self.0, request, session_data).map(coded).boxed()
    }
}

fn coded(mut response: async_graphql::Response) -> async_graphql::Response {
    code_refusals(&mut response.errors);
    response
}

/// A GET on `/graphql`: a graphql-ws client asks for a WebSocket, a
/// browser gets GraphiQL.
async fn upgrade_or_graphiql(
    subscriptions: async_graphql_axum::GraphQLSubscription<Coded>,
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
