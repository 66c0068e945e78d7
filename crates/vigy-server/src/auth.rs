//! Bearer tokens, checked in front of every transport, each refusing in
//! its own terms with the one code `unauthenticated`: REST answers 401
//! with the `Error` model, gRPC the status `UNAUTHENTICATED`, GraphQL 401
//! with `extensions.code = "UNAUTHENTICATED"`, MCP 401.
//!
//! Documentation pages (`/swagger`, `/openapi.json`, GraphiQL and its
//! assets) stay open: they show the API's shape, not its data, and a
//! browser cannot send a header to load them. So does gRPC health
//! (`grpc.health.v1.Health`), for probes, like `/healthz`.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use vigy_api::ServiceError;

/// `router` with every request required to carry `Authorization: Bearer
/// <token>`.
pub fn require_bearer(router: axum::Router, token: &str) -> axum::Router {
    // Comparing digests: blake3::Hash's equality is constant-time, so the
    // time taken says nothing about how much of a guess was right.
    let expected = Arc::new(blake3::hash(token.as_bytes()));
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let expected = expected.clone();
        async move {
            let presented = bearer(&request).map(|t| blake3::hash(t.as_bytes()));
            if is_public(&request) || presented.as_ref() == Some(&*expected) {
                next.run(request).await
            } else {
                let reason = if presented.is_some() { "wrong bearer token" } else { "a bearer token is required" };
                refuse(&request, reason)
            }
        }
    }))
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))
}

fn is_public(request: &Request) -> bool {
    let path = request.uri().path();
    let graphiql =
        path == "/graphql" && request.method() == Method::GET && !request.headers().contains_key(header::UPGRADE);
    // gRPC health answers probes as `/healthz` does, without credentials.
    let grpc_health = path.starts_with("/grpc.health.v1.Health/");
    let documentation = path == "/openapi.json" || path == "/swagger" || path.starts_with("/swagger/");
    documentation || graphiql || path.starts_with("/graphql/assets/") || grpc_health
}

fn refuse(request: &Request, reason: &str) -> Response {
    let mut response = refusal(request, ServiceError::Unauthenticated(reason.to_owned()));
    if !is_grpc(request) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn is_grpc(request: &Request) -> bool {
    request.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// `error` in the terms of the transport `request` came by: a gRPC status,
/// a GraphQL response with `extensions.code`, or REST's `Error` model.
pub(crate) fn refusal(request: &Request, error: ServiceError) -> Response {
    if is_grpc(request) {
        vigy_rpc::status(error).into_http::<axum::body::Body>().into_response()
    } else if request.uri().path() == "/graphql" {
        let status = vigy_rest::status_of(error.code());
        let error = vigy_graphql::graphql_error(error).into_server_error(Default::default());
        let body = serde_json::to_string(&async_graphql::Response::from_errors(vec![error]))
            .expect("a GraphQL response serializes");
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    } else {
        vigy_rest::RestError(error).into_response()
    }
}
