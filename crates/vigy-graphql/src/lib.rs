//! vigy over GraphQL: the generated schema (queries, mutations, the event
//! subscription) over any [`VigyService`](vigy_api::VigyService). Errors
//! carry their code in `extensions.code`.

pub use vigy_api_graphql::{SharedService, graphql_error, schema};
