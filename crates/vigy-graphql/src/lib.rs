//! vigy over GraphQL: the generated schema (queries, mutations, the event
//! subscription) over any [`VigyService`](vigy_api::VigyService), served at
//! `/graphql`: POST for queries and mutations, a WebSocket upgrade on GET
//! for subscriptions (graphql-ws). Errors carry their code in
//! `extensions.code`.

use axum::routing::post_service;
pub use vigy_api_graphql::{SharedService, graphql_error, schema};

/// The GraphQL surface over `service` at `/graphql`.
pub fn router(service: SharedService) -> Result<axum::Router, async_graphql::dynamic::SchemaError> {
    let schema = schema(service)?;
    let endpoint = post_service(async_graphql_axum::GraphQL::new(schema.clone()))
        .get_service(async_graphql_axum::GraphQLSubscription::new(schema));
    Ok(axum::Router::new().route("/graphql", endpoint))
}
